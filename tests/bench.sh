#!/bin/sh
# bench.sh - `make bench`. Measures, in one run and on loopback only:
#   1. requests/s and latency: direct to the C mock upstream, through nginx
#      proxy_pass (reference), through llmproxy passthrough (chat -> chat)
#      and through llmproxy converting (chat client -> anthropic upstream);
#   2. added latency at one connection (p50/p99 against direct);
#   3. per-event stream forwarding delay (llmproxy vs direct, same clock);
#   4. proxy CPU time per request;
#   5. RSS with 1,000 concurrent idle streams (plain) and per concurrent TLS
#      upstream connection;
#   6. JSON parse and write speed against cJSON (build/bench_json).
# Figures are ratios against baselines measured in this same run.
set -eu
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true
B=build
T=$(mktemp -d)
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNS:-32}
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT INT TERM

freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null ||
	awk 'BEGIN{srand(); print 20000+int(rand()*20000)}'; }

$B/mock_upstream -l 127.0.0.1:0 --fixtures tests/fixtures > "$T/mock.out" 2>"$T/mock.err" &
pids="$pids $!"
sleep 0.3
MP=$(awk '/listening/{print $2; exit}' "$T/mock.out")

PP=$(freeport)
cat > "$T/proxy.json" <<EOJ
{"listen":"127.0.0.1:$PP","providers":[
 {"name":"oai","type":"openai","base_url":"http://127.0.0.1:$MP/v1","api_key":"x"},
 {"name":"ant","type":"anthropic","base_url":"http://127.0.0.1:$MP","api_key":"x"}],
 "models":{"gpt-*":"oai","conv-*":"ant"}}
EOJ
./llmproxy -c "$T/proxy.json" 2>"$T/proxy.log" &
PPID_=$!
pids="$pids $PPID_"

NP=$(freeport)
cat > "$T/nginx.conf" <<EON
worker_processes 1;
daemon off;
pid $T/nginx.pid;
error_log $T/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $T;
  proxy_temp_path $T;
  upstream mock { server 127.0.0.1:$MP; keepalive 64; }
  server {
    listen 127.0.0.1:$NP;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EON
nginx -c "$T/nginx.conf" &
pids="$pids $!"
sleep 0.5

printf '{"model":"gpt-text","messages":[{"role":"user","content":"hi"}]}' > "$T/chat.json"
printf '{"model":"conv-text","messages":[{"role":"user","content":"hi"}]}' > "$T/conv.json"

run() { $B/loadgen rps "127.0.0.1:$1" /v1/chat/completions "$2" "$3" "$SECS"; }
val() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1==k{print $2}'; }
cpu() { awk '{print $14+$15}' /proc/"$PPID_"/stat; }

echo "== throughput ($CONNS connections, ${SECS}s each)"
D=$(run "$MP" "$T/chat.json" "$CONNS");   echo "direct       $D"
N=$(run "$NP" "$T/chat.json" "$CONNS");   echo "nginx        $N"
c0=$(cpu)
P=$(run "$PP" "$T/chat.json" "$CONNS");   echo "passthrough  $P"
c1=$(cpu)
C=$(run "$PP" "$T/conv.json" "$CONNS");   echo "conversion   $C"
c2=$(cpu)
hz=$(getconf CLK_TCK)
awk -v p="$(val "$P" rps)" -v n="$(val "$N" rps)" -v c="$(val "$C" rps)" \
    -v pn="$(val "$P" n)" -v cn="$(val "$C" n)" -v c0="$c0" -v c1="$c1" -v c2="$c2" -v hz="$hz" 'BEGIN{
	printf "passthrough / nginx      = %.2fx (target >= 0.9)\n", p/n;
	printf "conversion / passthrough = %.2fx (target >= 0.9)\n", c/p;
	printf "proxy CPU per request: passthrough %.1f us, conversion %.1f us\n", (c1-c0)/hz*1e6/pn, (c2-c1)/hz*1e6/cn; }'

echo "== added latency at one connection"
D1=$(run "$MP" "$T/chat.json" 1); echo "direct       $D1"
P1=$(run "$PP" "$T/chat.json" 1); echo "passthrough  $P1"
C1=$(run "$PP" "$T/conv.json" 1); echo "conversion   $C1"
awk -v d50="$(val "$D1" p50_us)" -v d99="$(val "$D1" p99_us)" \
    -v p50="$(val "$P1" p50_us)" -v p99="$(val "$P1" p99_us)" \
    -v c50="$(val "$C1" p50_us)" -v c99="$(val "$C1" p99_us)" 'BEGIN{
	printf "added p50/p99: passthrough %d/%d us, conversion %d/%d us (target p99 <= 100 us)\n", p50-d50, p99-d99, c50-d50, c99-d99; }'

echo "== stream event forwarding (llmproxy plays no part in the baseline)"
UP=$(freeport)
PP2=$(freeport)
cat > "$T/stream.json" <<EOJ
{"listen":"127.0.0.1:$PP2","providers":[{"name":"lg","type":"openai","base_url":"http://127.0.0.1:$UP/v1"},
 {"name":"lga","type":"anthropic","base_url":"http://127.0.0.1:$UP"}],"models":{"bench-*":"lg"}}
EOJ
./llmproxy -c "$T/stream.json" 2>"$T/proxy2.log" &
P2=$!
pids="$pids $P2"
sleep 0.3
SD=$($B/loadgen streamlat "$UP" "$UP" 500); echo "direct       $SD"
UP2=$(freeport)
sed -i "s/:$UP/:$UP2/g" "$T/stream.json"
kill "$P2"; sleep 0.2
./llmproxy -c "$T/stream.json" 2>"$T/proxy2.log" &
P2=$!
pids="$pids $P2"
sleep 0.3
SP=$($B/loadgen streamlat "$PP2" "$UP2" 500); echo "via llmproxy $SP"
awk -v d="$(val "$SD" ev_p50_us)" -v p="$(val "$SP" ev_p50_us)" -v d9="$(val "$SD" ev_p99_us)" -v p9="$(val "$SP" ev_p99_us)" 'BEGIN{
	printf "added per-event delay p50/p99: %d/%d us (target <= 50 us)\n", p-d, p9-d9; }'

echo "== memory: 1000 concurrent idle streams"
kill "$P2"; sleep 0.2
UP3=$(freeport)
sed -i "s/:$UP2/:$UP3/g" "$T/stream.json"
./llmproxy -c "$T/stream.json" 2>"$T/proxy3.log" &
P3=$!
pids="$pids $P3"
sleep 0.3
rss0=$(awk '/VmRSS/{print $2}' /proc/$P3/status)
$B/loadgen idle "$PP2" "$UP3" 1000 > "$T/idle.out" &
L=$!
pids="$pids $L"
i=0; while ! grep -q ready "$T/idle.out" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
rss1=$(awk '/VmRSS/{print $2}' /proc/$P3/status)
kill "$L" 2>/dev/null || true
awk -v a="$rss0" -v b="$rss1" 'BEGIN{ printf "RSS idle %d KB, with 1000 streams %d KB: %.1f KB per stream (plain TCP upstream)\n", a, b, (b-a)/1000; }'

echo "== memory: concurrent TLS upstream connections"
$B/mock_upstream -l 127.0.0.1:0 --tls tests/certs/server.pem tests/certs/server.key --fixtures tests/fixtures > "$T/mockt.out" 2>/dev/null &
pids="$pids $!"
sleep 0.3
TP=$(awk '/listening/{print $2; exit}' "$T/mockt.out")
PP4=$(freeport)
cat > "$T/tls.json" <<EOJ
{"listen":"127.0.0.1:$PP4","ca_file":"tests/certs/ca.pem","providers":[{"name":"t","type":"openai","base_url":"https://localhost:$TP/v1"}],"models":{"*":"t"}}
EOJ
./llmproxy -c "$T/tls.json" 2>"$T/proxy4.log" &
P4=$!
pids="$pids $P4"
sleep 0.3
rss0=$(awk '/VmRSS/{print $2}' /proc/$P4/status)

python3 - "$PP4" 200 > "$T/tls.out" 2>&1 <<'EOPY' &
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
body = b'{"model":"slow-text","stream":true,"messages":[{"role":"user","content":"hi"}]}'
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    socks.append(s)
for s in socks:
    s.recv(100)
print("ready", flush=True)
time.sleep(3)
EOPY
i=0; while ! grep -q ready "$T/tls.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
rss1=$(awk '/VmRSS/{print $2}' /proc/$P4/status)
awk -v a="$rss0" -v b="$rss1" 'BEGIN{ printf "RSS with 200 concurrent TLS streams: %.1f KB per stream (target <= 64 KB)\n", (b-a)/200; }'

# ---- JSON parser and writer against cJSON (tests/bench_json.c; runs alone
# as `make bench-json`). In-process, CPU time: the servers above stay idle.
echo "== JSON: json_parse and the writer against cJSON"
$B/bench_json
