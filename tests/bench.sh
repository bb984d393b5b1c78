#!/bin/sh
# bench.sh - `make bench`: the speed figures, each beside its target and
# the baselines measured in the same run, on loopback only.
#
#   throughput  requests/s (wrk, BENCH_CONNS keep-alive connections, one
#               wrk thread) through nginx proxy_pass (nginx-light, one
#               worker, the same mock upstream process), through llmproxy
#               passthrough, converting (chat client -> anthropic upstream,
#               and anthropic, gemini and responses clients -> chat
#               upstream), and through llmproxy writing usage records;
#               non-streamed answers and 64-delta streams (the mock's
#               "deltas64"). Also the CPU time per request of nginx and
#               llmproxy (schedstat).
#   ttfd        added time to first delta, every client format from every
#               upstream format, on a stream paced BENCH_PACE_MS apart:
#               loadgen plays the upstream and the client in one process
#               (one clock); "direct" = the client reading that upstream.
#   streams     CPU per forwarded event with each of BENCH_STREAMS
#               (100, 1,000 and 10,000) streams held open (the mock's
#               "hold"), one proxy per level side by side, events driven
#               one at a time through 4 other streams; memory per open
#               stream (RSS), plain and TLS upstream.
#   json        json_parse and the writer against cJSON (build/bench_json;
#               also `make bench-json`).
# Then a table: figure, measured, target, pass/fail, baselines.
#
# Method: every ratio is taken within one round between arms run one after
# the other, the rounds (BENCH_ROUNDS, at least 3) run the arms in turn
# (A B A B ..., the order reversed every other round), and the figure is
# the median over the rounds. Each arm is warmed up first. The throughput
# ratios are judged by requests per CPU-second of the server under test
# (its CPU time from schedstat over the requests wrk completed): on a
# machine shared with other work the wall-clock requests/s of adjacent
# 1-second arms differ by 2x and more, the CPU time per request does not.
# Both are printed; BENCH_JUDGE=wall judges by wall-clock requests/s.
#
# Everything listens on 127.0.0.1 only; LLMPROXY_STATE_DIR and every file
# the run writes are in one temporary directory, removed at the end with
# every process the run started. Without nginx (scripts/deps.sh bench
# installs Debian's nginx-light) the rows measured against it say so and
# the rest runs; without cJSON the JSON part is skipped the same way.
#
# Knobs: BENCH_QUICK=1 (a smoke run of about two minutes: 3 rounds, 100 and
# 1,000 streams, fewer events; figures only indicative),
# BENCH_SECONDS (per arm and round, default 1), BENCH_ROUNDS (7),
# BENCH_CONNS (16), BENCH_PARTS ("throughput ttfd streams json"),
# BENCH_DRIVER (wrk, or loadgen: tests/loadgen.c's rps mode),
# BENCH_PIN (0: the scheduler places everything, best on a machine others
# use too; 1: the proxy or nginx on CPU 1, load and mock on CPU 0),
# BENCH_STREAMS ("100 1000 10000"; each at most as many as the descriptor
# limit allows: the proxy holds two per stream), BENCH_MEM_STREAMS (1000,
# the TLS arm), BENCH_EVENTS (5000),
# BENCH_PACE_MS (50), BENCH_TTFD_SAMPLES (2 per arm and round).
set -eu
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
B=build
LG=$B/loadgen
MOCK=${MOCK_BIN:-$B/mock_upstream}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	: "${BENCH_ROUNDS:=3}" "${BENCH_STREAMS:=100 1000}" "${BENCH_EVENTS:=1000}"
	: "${BENCH_MEM_STREAMS:=300}" "${BENCH_TTFD_SAMPLES:=1}"
fi
SECS=${BENCH_SECONDS:-1}
ROUNDS=${BENCH_ROUNDS:-7}
[ "$ROUNDS" -ge 3 ] || ROUNDS=3
CONNS=${BENCH_CONNS:-16}
PARTS=${BENCH_PARTS:-throughput ttfd streams json}
DRIVER=${BENCH_DRIVER:-wrk}
JUDGE=${BENCH_JUDGE:-cpu}
PACE=${BENCH_PACE_MS:-50}
TTFD_SAMPLES=${BENCH_TTFD_SAMPLES:-2}
EVENTS=${BENCH_EVENTS:-5000}
LEVELS=${BENCH_STREAMS:-100 1000 10000}
S_MEM=${BENCH_MEM_STREAMS:-1000}
WARM=50                           # streams opened before the RSS baseline
NCPU=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
PIN=${BENCH_PIN:-0}
[ "$NCPU" -ge 2 ] || PIN=0
T=$(mktemp -d "${TMPDIR:-/tmp}/llmproxy-bench.XXXXXX")
R=$T/results
mkdir -m 700 "$T/state"
LLMPROXY_STATE_DIR=$T/state
export LLMPROXY_STATE_DIR
: > "$R"
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The proxy holds two descriptors per stream, plus a few.
hard=$(ulimit -Hn)
lv=""
for n in $LEVELS; do
	if [ "$hard" != unlimited ] && [ $(( (hard - 100) / 2 )) -lt "$n" ]; then
		n=$(( (hard - 100) / 2 / 100 * 100 ))
	fi
	lv="$lv $n"
done
LEVELS=${lv# }
S_TOP=$(echo "$LEVELS" | awk '{print $NF}')

if [ "$PIN" = 1 ]; then
	SUT="taskset -c 1"            # the server under test
	LOAD="taskset -c 0"           # wrk, loadgen, the mock
else
	SUT=""
	LOAD=""
fi

has() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
put() { echo "$1 $2" >> "$R"; }
get() { awk -v k="$1" '$1==k{v=$2} END{print v==""?"-":v}' "$R"; }
# median of the whitespace- or comma-separated numbers on stdin
median() { tr ', ' '\n\n' | awk 'NF{v[n++]=$1} END{if(!n){print "-";exit}
	for(i=0;i<n;i++)for(j=i+1;j<n;j++)if(v[j]<v[i]){t=v[i];v[i]=v[j];v[j]=t}
	print (n%2)?v[(n-1)/2]:(v[n/2-1]+v[n/2])/2}'; }
# values of keys PREFIX.1 .. PREFIX.ROUNDS
rounds_of() { awk -v p="$1." 'index($1,p)==1{print $2}' "$R"; }
# CPU time of a process and its threads, ns (schedstat; else clock ticks)
cpu_ns() {
	if [ -r "/proc/$1/schedstat" ]; then
		cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s+=$1} END{printf "%.0f\n", s}'
	else
		awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /,""); printf "%.0f\n", ($12+$13)*1e9/hz}' /proc/"$1"/stat
	fi
}
rss_kb() { awk '/^VmRSS/{print $2}' /proc/"$1"/status; }

# start_proxy NAME CONFIG: llmproxy on a port it picks; $T/NAME.port, .pid
start_proxy() {
	$SUT ./llmproxy -c "$2" 2> "$T/$1.log" &
	echo $! > "$T/$1.pid"
	pids="$pids $!"
	i=0
	while ! grep -q 'listening on' "$T/$1.log" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$(cat "$T/$1.pid")" 2>/dev/null; then
			echo "bench: llmproxy ($1) did not start:" >&2
			cat "$T/$1.log" >&2
			exit 1
		fi
		sleep 0.05
	done
	sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\) .*/\1/p' "$T/$1.log" | head -1 > "$T/$1.port"
	[ -s "$T/loop" ] || sed -n 's/.*listening on .*; \([a-z]*\) loop).*/\1/p' "$T/$1.log" > "$T/loop"
}
# start_mock NAME ARGS...: $T/NAME.port, .pid
start_mock() {
	n=$1
	shift
	$LOAD "$MOCK" -q -l 127.0.0.1:0 --fixtures tests/fixtures "$@" > "$T/$n.out" 2> "$T/$n.err" &
	echo $! > "$T/$n.pid"
	pids="$pids $!"
	i=0
	while ! grep -q listening "$T/$n.out" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "bench: mock ($n) did not start" >&2; exit 1; }
		sleep 0.05
	done
	awk '/listening/{print $2; exit}' "$T/$n.out" > "$T/$n.port"
}
port() { cat "$T/$1.port"; }
pid() { cat "$T/$1.pid"; }
# hold NAME PORT N: N streams held open through PORT; waits until they are
hold() {
	$LOAD $LG hold "$2" "$3" hold-bench > "$T/$1.out" 2>&1 &
	echo $! > "$T/$1.pid"
	pids="$pids $!"
	while ! grep -q ready "$T/$1.out" 2>/dev/null; do
		if ! kill -0 "$(pid "$1")" 2>/dev/null; then
			echo "bench: could not hold $3 streams:" >&2
			cat "$T/$1.out" >&2
			exit 1
		fi
		sleep 0.1
	done
}
stop() { kill "$(pid "$1")" 2>/dev/null || true; }

if [ "$DRIVER" = wrk ] && ! command -v wrk >/dev/null 2>&1; then
	echo "bench: wrk is missing (scripts/deps.sh bench); using loadgen" >&2
	DRIVER=loadgen
fi
case $DRIVER in
wrk) DRIVER_NAME="wrk $(wrk -v 2>&1 | awk 'NR==1{print $2}') (one thread)" ;;
*) DRIVER_NAME="loadgen rps (tests/loadgen.c)" ;;
esac
if [ -x "$NGINX" ]; then
	NGINX_NAME=$("$NGINX" -v 2>&1 | sed 's/.*version: //')
else
	NGINX=""
	NGINX_NAME="no nginx"
	echo "bench: nginx is not installed (scripts/deps.sh bench installs Debian's nginx-light); the rows against nginx are skipped" >&2
fi
if has json && [ ! -x $B/bench_json ]; then
	echo "bench: $B/bench_json is missing (it needs cJSON: scripts/deps.sh bench-json); the JSON part is skipped" >&2
	PARTS=$(echo " $PARTS " | sed 's/ json / /')
fi
START=$(date +%s)
lap() { echo "($(( $(date +%s) - LAP )) s)"; LAP=$(date +%s); }
LAP=$START
echo "llmproxy benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $NCPU CPU(s), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "client: $DRIVER_NAME, $CONNS connections, ${SECS}s per arm and round, $ROUNDS rounds; reference: $NGINX_NAME; pinned: $([ "$PIN" = 1 ] && echo 'proxy/nginx on CPU 1, load and mock on CPU 0' || echo no)"

# ---------------------------------------------------------------- servers
start_mock mock
MP=$(port mock)

# The "usage" arms run a second proxy, identical but for this function's
# additions, so that the table shows what writing usage records costs
# against the plain arm, which turns them off. (The other proxies keep the
# default: records on, in $LLMPROXY_STATE_DIR.)
usage_config() {
	mkdir -p -m 700 "$T/state/usage"
	printf ',\n "state_dir":"%s","usage":{"enabled":true}' "$T/state/usage"
}
proxy_config() {   # proxy_config [usage]
	cat <<EOJ
{"listen":"127.0.0.1:0","providers":[
 {"name":"oai","type":"openai","base_url":"http://127.0.0.1:$MP/v1","api_key":"x"},
 {"name":"ant","type":"anthropic","base_url":"http://127.0.0.1:$MP","api_key":"x"}],
 "models":{"gpt-*":"oai","conv-*":"ant"}$([ "${1:-}" = usage ] && usage_config || printf ',"usage":{"enabled":false}')}
EOJ
}

if has throughput; then
	proxy_config > "$T/plain.json"
	proxy_config usage > "$T/usage.json"
	start_proxy plain "$T/plain.json"
	start_proxy usage "$T/usage.json"
fi
if has throughput && [ -n "$NGINX" ]; then
	NP=$($LG freeport)
	# nginx as the reference: one worker, keep-alive both sides, no
	# buffering, and an access log buffered the way llmproxy's is meant to
	# be (llmproxy logs every request).
	mkdir -p "$T/nginx"
	cat > "$T/nginx.conf" <<EON
worker_processes 1;
master_process off;
daemon off;
pid $T/nginx.pid.file;
error_log $T/nginx.err;
worker_rlimit_nofile 65536;
events { worker_connections 8192; }
http {
  access_log $T/nginx.access combined buffer=64k flush=100ms;
  client_body_temp_path $T/nginx/body;
  proxy_temp_path $T/nginx/proxy;
  fastcgi_temp_path $T/nginx/fastcgi;
  scgi_temp_path $T/nginx/scgi;
  uwsgi_temp_path $T/nginx/uwsgi;
  keepalive_requests 1000000;
  upstream mock { server 127.0.0.1:$MP; keepalive 64; keepalive_requests 1000000; }
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
	$SUT "$NGINX" -c "$T/nginx.conf" -e "$T/nginx.err" 2>"$T/nginx.stderr" &
	echo $! > "$T/nginx.pid"
	pids="$pids $!"
	echo "$NP" > "$T/nginx.port"
	i=0
	while ! $LG rps "127.0.0.1:$NP" / /dev/null 1 0 >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 50 ] || { echo "bench: nginx did not start" >&2; cat "$T/nginx.stderr" "$T/nginx.err" >&2; exit 1; }
		sleep 0.1
	done
fi

# ---------------------------------------------------------------- throughput
# An arm: server, client format, model. Bodies and paths per format.
req_path() {   # req_path FORMAT MODEL
	case $1 in
	chat) echo /v1/chat/completions ;;
	responses) echo /v1/responses ;;
	anthropic) echo /v1/messages ;;
	gemini) echo "/v1beta/models/$2:$3" ;;
	esac
}
req_body() {   # req_body FORMAT MODEL STREAM
	case $1 in
	chat) printf '{"model":"%s","stream":%s,"messages":[{"role":"user","content":"hi"}]}' "$2" "$3" ;;
	responses) printf '{"model":"%s","stream":%s,"input":"hi"}' "$2" "$3" ;;
	anthropic) printf '{"model":"%s","max_tokens":64,"stream":%s,"messages":[{"role":"user","content":"hi"}]}' "$2" "$3" ;;
	gemini) printf '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}' ;;
	esac
}
# arm NAME -> "SERVER FORMAT MODEL STREAM"
arm() {
	case $1 in
	ns_nginx) echo nginx chat gpt-text false ;;
	ns_pt)    echo plain chat gpt-text false ;;
	ns_conv)  echo plain chat conv-text false ;;
	ns_usage) echo usage chat gpt-text false ;;
	st_nginx) echo nginx chat gpt-deltas64 true ;;
	st_pt)    echo plain chat gpt-deltas64 true ;;
	st_conv)  echo plain chat conv-deltas64 true ;;
	st_ant)   echo plain anthropic gpt-deltas64 true ;;
	st_gem)   echo plain gemini gpt-deltas64 true ;;
	st_resp)  echo plain responses gpt-deltas64 true ;;
	st_usage) echo usage chat gpt-deltas64 true ;;
	esac
}
# in this order each ratio's two arms run close together
ARMS="ns_usage ns_nginx ns_pt ns_conv st_resp st_gem st_nginx st_pt st_conv st_ant st_usage"
[ -n "$NGINX" ] || ARMS=$(echo "$ARMS" | tr ' ' '\n' | grep -v _nginx | tr '\n' ' ')

# drive ARM SECONDS: one run; prints "rps N errors"
drive() {
	set -- "$1" "$2" $(arm "$1")
	srv=$3 fmt=$4 model=$5 stream=$6
	gm=generateContent
	[ "$stream" = true ] && gm="streamGenerateContent?alt=sse"
	path=$(req_path "$fmt" "$model" "$gm")
	req_body "$fmt" "$model" "$stream" > "$T/$1.body"
	if [ "$DRIVER" = loadgen ]; then
		out=$($LOAD $LG rps "127.0.0.1:$(port "$srv")" "$path" "$T/$1.body" "$CONNS" "$2")
		echo "$out" | tr ' ' '\n' | awk -F= '{v[$1]=$2} END{print v["rps"], v["n"], v["errors"]}'
		return
	fi
	{
		echo 'wrk.method = "POST"'
		echo 'wrk.headers["Content-Type"] = "application/json"'
		echo 'wrk.headers["Authorization"] = "Bearer bench"'
		echo 'wrk.headers["x-api-key"] = "bench"'
		echo 'wrk.headers["anthropic-version"] = "2023-06-01"'
		printf 'wrk.body = [[%s]]\n' "$(cat "$T/$1.body")"
	} > "$T/$1.lua"
	$LOAD wrk -t1 -c"$CONNS" -d"$2"s -s "$T/$1.lua" "http://127.0.0.1:$(port "$srv")$path" > "$T/wrk.out" 2>&1 || true
	awk '/requests in/{n=$1} /Requests\/sec/{r=$2}
	     /Non-2xx/{e+=$NF} /Socket errors/{gsub(/,/,""); e+=$4+$6+$8+$10}
	     END{print (r==""?0:r), (n==""?0:n), e+0}' "$T/wrk.out"
}

if has throughput; then
	echo
	echo "== throughput: requests/s and CPU per request ($DRIVER, $CONNS connections)"
	for a in $ARMS; do drive "$a" 1 > /dev/null; done     # warm-up
	r=1
	while [ $r -le "$ROUNDS" ]; do
		order=$ARMS
		[ $((r % 2)) = 0 ] && order=$(echo "$ARMS" | tr ' ' '\n' | awk '{l[n++]=$0} END{for(i=n-1;i>=0;i--)printf "%s ", l[i]}')
		line="round $r:"
		for a in $order; do
			srv=$(arm "$a" | cut -d' ' -f1)
			c0=$(cpu_ns "$(pid "$srv")")
			set -- $(drive "$a" "$SECS")
			c1=$(cpu_ns "$(pid "$srv")")
			put "rps.$a.$r" "$1"
			put "err.$a.$r" "$3"
			[ "$2" -gt 0 ] && put "cpureq.$a.$r" "$(awk -v a="$c0" -v b="$c1" -v n="$2" 'BEGIN{printf "%.1f", (b-a)/1e3/n}')"
			line="$line $a=$1"
			[ "$3" = 0 ] || line="$line(${3}err)"
		done
		echo "$line"
		r=$((r + 1))
	done
	lap
fi

# ratio_median A B [rps|cpureq] [spread]: over the rounds, the median (or
# the range) of A's requests/s over B's, or of A's requests per CPU-second
# over B's
ratio_median() {
	k=${3:-rps}
	r=1
	while [ $r -le "$ROUNDS" ]; do
		if [ "$k" = rps ]; then
			awk -v a="$(get "rps.$1.$r")" -v b="$(get "rps.$2.$r")" 'BEGIN{if(a!="-"&&b!="-"&&b>0)printf "%.3f\n", a/b}'
		else    # requests per CPU second: the inverse ratio of CPU per request
			awk -v a="$(get "cpureq.$1.$r")" -v b="$(get "cpureq.$2.$r")" 'BEGIN{if(a!="-"&&b!="-"&&a>0)printf "%.3f\n", b/a}'
		fi
		r=$((r + 1))
	done | if [ "${4:-}" = spread ]; then
		awk 'NF{if(n==0||$1<lo)lo=$1; if(n==0||$1>hi)hi=$1; n++} END{if(n)printf "%.2f-%.2fx\n", lo, hi; else print "-"}'
	else
		median
	fi
}
errs() { rounds_of "err.$1" | awk '{s+=$1} END{print s+0}'; }

# ---------------------------------------------------------------- ttfd
FMTS="chat responses anthropic gemini"
if has ttfd; then
	echo
	echo "== time to first delta: paced stream (${PACE} ms apart), $TTFD_SAMPLES samples per arm and round"
	UP=$($LG freeport)
	cat > "$T/ttfd.json" <<EOJ
{"listen":"127.0.0.1:0","providers":[
 {"name":"c","type":"openai","base_url":"http://127.0.0.1:$UP/v1","api_key":"x"},
 {"name":"r","type":"openai-responses","base_url":"http://127.0.0.1:$UP/v1","api_key":"x"},
 {"name":"a","type":"anthropic","base_url":"http://127.0.0.1:$UP","api_key":"x"},
 {"name":"g","type":"gemini","base_url":"http://127.0.0.1:$UP/v1beta","api_key":"x"}],
 "models":{"ttfd-chat":"c","ttfd-responses":"r","ttfd-anthropic":"a","ttfd-gemini":"g"}}
EOJ
	start_proxy ttfd "$T/ttfd.json"
	TP=$(port ttfd)
	ttfd_arm() {   # ttfd_arm CLIENT UPSTREAM|direct-UPSTREAM
		case $2 in
		direct-*) u=${2#direct-}; p=$UP; c=$u; key="ttfd.direct.$u" ;;
		*) u=$2; p=$TP; c=$1; key="ttfd.$1.$u" ;;
		esac
		out=$($LOAD $LG ttfd "$p" "$UP" "$c" "$u" "ttfd-$u" "$TTFD_SAMPLES" "$PACE" 2>>"$T/ttfd.err")
		echo "$out" | sed -n 's/.*samples_us=\([0-9,]*\).*/\1/p' | tr ',' '\n' | awk 'NF' | while read -r v; do put "$key" "$v"; done
		e=$(echo "$out" | sed -n 's/.*errors=\([0-9]*\).*/\1/p')
		put "ttfderr.$key" "${e:-$TTFD_SAMPLES}"
	}
	for u in $FMTS; do ttfd_arm x "direct-$u"; done      # warm-up
	: > "$R.tmp"; grep -v '^ttfd' "$R" > "$R.tmp" || true; mv "$R.tmp" "$R"
	r=1
	while [ $r -le "$ROUNDS" ]; do
		for u in $FMTS; do
			ttfd_arm x "direct-$u"
			for c in $FMTS; do ttfd_arm "$c" "$u"; done
		done
		r=$((r + 1))
	done
	p50() { awk -v k="$1" '$1==k{print $2}' "$R" | median | awk '$1=="-"{print;next}{printf "%.0f\n", $1}'; }
	printf '%-26s' "p50 us (added over direct)"
	for u in $FMTS; do printf '  %-18s' "from $u"; done
	echo
	printf '%-26s' "direct"
	for u in $FMTS; do
		d=$(p50 "ttfd.direct.$u")
		put "ttfd50.direct.$u" "$d"
		printf '  %-18s' "$d"
	done
	echo
	for c in $FMTS; do
		printf '%-26s' "$c client"
		worst=-1 wfrom=-
		for u in $FMTS; do
			v=$(p50 "ttfd.$c.$u")
			d=$(get "ttfd50.direct.$u")
			add=$(awk -v v="$v" -v d="$d" 'BEGIN{if(v=="-"||d=="-")print "-"; else printf "%.0f", v-d}')
			e=$(awk -v k="ttfderr.ttfd.$c.$u" '$1==k{s+=$2} END{print s+0}' "$R")
			[ "$e" = 0 ] && e="" || e=" ${e}err"
			printf '  %-18s' "$v (+$add)$e"
			if [ "$add" = - ]; then
				worst=999999999 wfrom="$u (failed)"
			elif [ "$add" -gt "$worst" ]; then
				worst=$add wfrom=$u
			fi
		done
		echo
		put "ttfdworst.$c" "$worst"
		put "ttfdworstfrom.$c" "$wfrom"
	done
	[ -s "$T/ttfd.err" ] && { echo "ttfd errors:"; sort "$T/ttfd.err" | uniq -c | head -5; }
	stop ttfd
	lap
fi

# ---------------------------------------------------------------- streams
if has streams; then
	echo
	echo "== open streams: CPU per forwarded event at $(echo "$LEVELS" | sed 's/ / \/ /g') open streams; memory per stream"
	stream_config() {   # stream_config ACTIVE_UPSTREAM_PORT
		cat <<EOJ
{"listen":"127.0.0.1:0","providers":[
 {"name":"mock","type":"openai","base_url":"http://127.0.0.1:$MP/v1","api_key":"x"},
 {"name":"act","type":"openai","base_url":"http://127.0.0.1:$1/v1","api_key":"x"}],
 "models":{"hold-*":"mock","act-*":"act"},
 "limits":{"connections":25000},
 "timeouts":{"heartbeat_ms":0,"stream_idle_ms":3600000}}
EOJ
	}
	# heartbeats off: a comment every 15 s on each of 10,000 quiet streams
	# would be counted as the events' CPU. One proxy per level, all
	# running at once, so that the rounds can take turns between them.
	t0=$(date +%s)
	for n in $LEVELS; do
		echo "$($LG freeport)" > "$T/act$n.port"
		stream_config "$(port "act$n")" > "$T/s$n.json"
		start_proxy "s$n" "$T/s$n.json"
		w=$WARM
		[ "$n" -gt $((2 * WARM)) ] || w=$((n / 2))
		hold "hold${n}a" "$(port "s$n")" "$w"
		r0=$(rss_kb "$(pid "s$n")")
		hold "hold${n}b" "$(port "s$n")" $((n - w))
		r1=$(rss_kb "$(pid "s$n")")
		put "mem.plain.$n" "$(awk -v a="$r0" -v b="$r1" -v n=$((n - w)) 'BEGIN{printf "%.1f", (b-a)/n}')"
	done
	put mem.plain "$(get "mem.plain.$S_TOP")"
	printf 'opened %s streams in %s s; RSS per stream (plain upstream):' "$(echo "$LEVELS" | sed 's/ / + /g')" $(( $(date +%s) - t0 ))
	for n in $LEVELS; do printf ' %s KB at %s;' "$(get "mem.plain.$n")" "$n"; done
	echo
	evcpu() {   # evcpu LEVEL EVENTS
		$LOAD $LG evcpu "$(port "s$1")" "$(port "act$1")" "$(pid "s$1")" 4 "$2" "$SECS"
	}
	for n in $LEVELS; do evcpu "$n" 500 > /dev/null; done
	r=1
	while [ $r -le "$ROUNDS" ]; do
		line="round $r:"
		order=$LEVELS
		[ $((r % 2)) = 0 ] && order=$(echo "$LEVELS" | tr ' ' '\n' | sort -rn | tr '\n' ' ')
		for n in $order; do
			out=$(evcpu "$n" "$EVENTS")
			v=$(echo "$out" | sed -n 's/.*cpu_us_per_event=\([0-9.]*\).*/\1/p')
			put "ev.$n.$r" "$v"
			put evsrc "$(echo "$out" | sed -n 's/.*cpu=\([a-z]*\).*/\1/p')"
			line="$line $n: $(echo "$out" | sed 's/.*cpu_us_per_event=\([0-9.]*\).*wall_us_per_event=\([0-9.]*\).*/\1 us CPU, \2 us wall/');"
		done
		echo "$line"
		r=$((r + 1))
	done
	for n in $LEVELS; do
		stop "hold${n}b"
		stop "hold${n}a"
		stop "s$n"
	done

	# TLS upstream: the mock with tests/certs, the proxy trusting its CA
	start_mock mockt --tls tests/certs/server.pem tests/certs/server.key
	cat > "$T/tls.json" <<EOJ
{"listen":"127.0.0.1:0","ca_file":"tests/certs/ca.pem","providers":[
 {"name":"t","type":"openai","base_url":"https://localhost:$(port mockt)/v1","api_key":"x"}],
 "models":{"*":"t"},"limits":{"connections":25000},
 "timeouts":{"heartbeat_ms":0,"stream_idle_ms":3600000}}
EOJ
	start_proxy tls "$T/tls.json"
	t0=$(date +%s)
	hold holdt0 "$(port tls)" "$WARM"
	rt0=$(rss_kb "$(pid tls)")
	hold holdt "$(port tls)" $((S_MEM - WARM))
	rt1=$(rss_kb "$(pid tls)")
	put mem.tls "$(awk -v a="$rt0" -v b="$rt1" -v n=$((S_MEM - WARM)) 'BEGIN{printf "%.1f", (b-a)/n}')"
	echo "RSS per stream (TLS upstream): $(get mem.tls) KB at $S_MEM streams (opened in $(( $(date +%s) - t0 )) s)"
	stop holdt
	stop holdt0
	stop tls
	stop mockt
	lap
fi

# ---- JSON parser and writer against cJSON (tests/bench_json.c; runs alone
# as `make bench-json`). In-process, CPU time: the servers above stay idle.
if has json; then
	echo
	echo "== JSON: json_parse and the writer against cJSON"
	$B/bench_json | tee "$T/json.out"
	lap
fi

# ---------------------------------------------------------------- table
echo
echo "== targets (issue 8): llmproxy $(git describe --always --dirty 2>/dev/null || echo '?') ($(cat "$T/loop" 2>/dev/null) loop), $DRIVER_NAME, $NGINX_NAME; ratios are medians over $ROUNDS interleaved rounds of this run; $(( $(date +%s) - START )) s in all"
row() {   # row FIGURE MEASURED TARGET OP LIMIT BASELINES
	verdict=-
	if [ "$2" != - ] && [ -n "$2" ]; then
		verdict=$(awk -v m="${2%%[!0-9.]*}" -v op="$4" -v l="$5" 'BEGIN{
			if (op == ">=") print (m >= l) ? "PASS" : "FAIL";
			else if (op == "<=") print (m <= l) ? "PASS" : "FAIL";
			else print "info" }')
	fi
	printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$verdict" "$6"
}
x() { [ "$1" = - ] && echo - || echo "${1}x"; }
evrow() {   # evrow HI LO: CPU per forwarded event at HI open streams over LO
	row "CPU per forwarded event, $1 vs $2 open streams" "$(x "$(r=1; while [ $r -le "$ROUNDS" ]; do
		awk -v a="$(get "ev.$1.$r")" -v b="$(get "ev.$2.$r")" 'BEGIN{if(a!=""&&b>0)printf "%.2f\n", a/b}'; r=$((r + 1)); done | median)")" "<= 1.5x" "<=" 1.5 \
	    "$(med "ev.$2") us per event at $2, $(med "ev.$1") us at $1 ($(get evsrc))"
}
med() { rounds_of "$1" | median; }
if has throughput; then
	if [ "$JUDGE" = wall ]; then
		echo "throughput ratios: wall-clock requests/s (BENCH_JUDGE=wall), the ratio of requests per CPU-second of the server in brackets"
	else
		echo "throughput ratios: requests per CPU-second of the server (nginx or llmproxy, schedstat), i.e. its throughput when it is the bottleneck; wall-clock requests/s in brackets (BENCH_JUDGE=wall judges by those)"
	fi
fi
echo "| figure | measured | target | result | baselines (same run) |"
echo "| --- | --- | --- | --- | --- |"
label() {
	case $1 in
	*_nginx) echo nginx ;;
	*_pt) echo passthrough ;;
	*_conv) echo "chat<-anthropic" ;;
	*_ant) echo "anthropic<-chat" ;;
	*_gem) echo "gemini<-chat" ;;
	*_resp) echo "responses<-chat" ;;
	*_usage) echo "with usage" ;;
	esac
}
# trow FIGURE ARM BASE-ARM OP LIMIT: requests/s ratio, and the baselines
# (the figure is the one BENCH_JUDGE names; the other one in brackets)
trow() {
	case $3 in
	*_nginx) if [ -z "$NGINX" ]; then
		printf '| %s | skipped | %s | - | nginx is not installed (scripts/deps.sh bench) |\n' "$1" "$4 ${5}x"
		return
	fi ;;
	esac
	u=req
	case $2 in st_*) u=stream ;; esac
	t=$([ "$4" = info ] && echo "(none)" || echo "$4 ${5}x")
	cpu=$(x "$(ratio_median "$2" "$3" cpureq)")
	wall=$(x "$(ratio_median "$2" "$3")")
	if [ "$JUDGE" = wall ]; then
		m="$wall (per CPU-s $cpu)"
	else
		m="$cpu (req/s $wall)"
	fi
	row "$1" "$m" "$t" "$4" "$5" \
	    "CPU per $u $(med "cpureq.$3") us $(label "$3"), $(med "cpureq.$2") us $(label "$2"); $(med "rps.$3" | cut -d. -f1) vs $(med "rps.$2" | cut -d. -f1) ${u}s/s, rounds $(ratio_median "$2" "$3" rps spread)"
}
if has throughput; then
	e=""
	for a in $ARMS; do [ "$(errs "$a")" = 0 ] || e="$e $a:$(errs "$a")"; done
	trow "passthrough requests/s vs nginx proxy_pass" ns_pt ns_nginx ">=" 0.95
	trow "passthrough 64-delta streams/s vs nginx" st_pt st_nginx ">=" 0.9
	trow "converted vs passthrough, non-streamed (chat client, anthropic upstream)" ns_conv ns_pt ">=" 0.9
	trow "converted vs passthrough, streamed (chat client, anthropic upstream)" st_conv st_pt ">=" 0.8
	trow "converted vs passthrough, streamed (anthropic client, chat upstream)" st_ant st_pt ">=" 0.8
	trow "converted vs passthrough, streamed (gemini client, chat upstream)" st_gem st_pt ">=" 0.8
	trow "converted vs passthrough, streamed (responses client, chat upstream)" st_resp st_pt ">=" 0.8
fi
if has streams; then
	# each level against the one below it, and the top against the bottom
	set -- $LEVELS
	lo=$1
	while [ $# -ge 2 ]; do
		evrow "$2" "$1"
		shift
	done
	[ "$lo" = "$S_TOP" ] || [ "$(echo "$LEVELS" | wc -w)" -le 2 ] || evrow "$S_TOP" "$lo"
fi
if has ttfd; then
	for c in $FMTS; do
		w=$(get "ttfdworst.$c")
		m=$(awk -v w="$w" 'BEGIN{if(w=="-"||w>=999999999)print "-"; else printf "%.2f ms", w/1000}')
		row "added time to first delta, $c client (worst upstream format)" "$m" "<= 1 ms" "<=" 1 \
		    "worst from $(get "ttfdworstfrom.$c"); direct p50 $(for u in $FMTS; do printf '%s %s us, ' "$u" "$(get "ttfd50.direct.$u")"; done | sed 's/, $//'); paced ${PACE} ms"
	done
fi
if has streams; then
	row "memory per open stream, plain upstream" "$(get mem.plain) KB" "<= 32 KB" "<=" 32 \
	    "RSS growth per stream at $S_TOP streams;$(for n in $LEVELS; do [ "$n" = "$S_TOP" ] || printf ' %s KB at %s;' "$(get "mem.plain.$n")" "$n"; done | sed 's/;$//')"
	row "memory per open stream, TLS upstream" "$(get mem.tls) KB" "<= 48 KB" "<=" 48 \
	    "RSS delta over $((S_MEM - WARM)) streams"
fi
if has json; then
	awk '/^parse/{printf "| JSON parse vs cJSON, %s | %s | >= 2x | %s | llmproxy %s MB/s, cJSON %s MB/s |\n",
	    $2, $10, ($10+0 >= 2) ? "PASS" : "FAIL", $4, $7}' "$T/json.out"
fi
if has throughput; then
	trow "with usage records vs without, non-streamed" ns_usage ns_pt info 0
	trow "with usage records vs without, streamed" st_usage st_pt info 0
	[ -z "$e" ] || echo "errors (non-2xx or socket) in arms:$e"
fi
