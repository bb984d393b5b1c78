#!/bin/sh
# image_check.sh DIR - the Dockerfile and the tree `sh scripts/image.sh DIR`
# built agree, and that tree runs as the image would. No Docker engine is
# needed; CI runs this after scripts/image.sh.
#   1. The build stage is Debian and its RUN lines run scripts/image.sh
#      (what CI ran); every package its apt-get install names exists in
#      this host's apt cache (when the host runs the same Debian release).
#   2. The last stage is FROM scratch; every COPY --from=build source is in
#      DIR; ENTRYPOINT is an executable of the tree; USER is numeric.
#   3. As root, in a chroot of the tree with the state directory owned by
#      USER, as USER and with only the image's ENV: the binary runs; the
#      image's defaults refuse to serve 0.0.0.0 without client keys; the
#      shipped example config validates; the server starts with an https
#      provider (so it loads the image's CA bundle; the provider is a
#      closed loopback port and is never asked anything), answers GET
#      /health, exits 0 on SIGTERM, and writes nothing outside the state
#      directory. Skipped (with a message) when not root.
set -eu
dir=$(cd "${1:?usage: image_check.sh DIR}" && pwd)
df=Dockerfile
fail=0
bad() { echo "image check: $*" >&2; fail=1; }
tmp=$(mktemp -d)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	umount "$tmp/root/dev/null" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# instructions, continuation lines joined, comments dropped, numbered by stage
awk '/^[[:space:]]*#/ { next }
	{ if (sub(/\\$/, "")) { buf = buf $0 " "; next } line = buf $0; buf = "" }
	line ~ /^[[:space:]]*$/ { next }
	toupper(line) ~ /^FROM / { n++ }
	{ print n "\t" line }' "$df" > "$tmp/ins"
last=$(tail -n 1 "$tmp/ins" | cut -f1)
[ "$last" -ge 2 ] || bad "$df is not multi-stage"
stage() { awk -F '\t' -v s="$1" '$1 == s { print $2 }' "$tmp/ins"; }

# 1. the build stage
stage 1 > "$tmp/build"
grep -qE '^FROM debian:[a-z]+(-slim)? AS build$' "$tmp/build" || bad "the first stage is not 'FROM debian:... AS build'"
suite=$(sed -n 's/^FROM debian:\([a-z]*\).*/\1/p' "$tmp/build")
root=$(sed -n 's/^RUN .*sh scripts\/image\.sh \([^ ]*\).*/\1/p' "$tmp/build")
[ -n "$root" ] || bad "the build stage does not RUN sh scripts/image.sh DIR"
grep -q '^RUN .*LLMPROXY_ADD_DEB_SRC=1 sh scripts/image\.sh' "$tmp/build" ||
    bad "the build stage does not opt in to fetching the BearSSL source"
pkgs=$(sed -n 's/^RUN .*apt-get install \(.*\)/\1/p' "$tmp/build" | sed 's/&&.*//' |
    tr ' ' '\n' | grep -v '^-' | grep . || true)
[ -n "$pkgs" ] || bad "the build stage installs no package"
host=$( (. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || true)
if [ "$host" = "$suite" ] && command -v apt-cache >/dev/null 2>&1; then
	# shellcheck disable=SC2086
	found=$(apt-cache show --no-all-versions $pkgs 2>/dev/null | sed -n 's/^Package: //p')
	for p in $pkgs; do
		echo "$found" | grep -qx "$p" ||
		    bad "the build stage installs $p, which $suite does not have"
	done
else
	echo "image check: package names not checked (host '$host', image '$suite')"
fi

# 2. the final stage
stage "$last" > "$tmp/final"
[ "$(head -n 1 "$tmp/final")" = "FROM scratch" ] || bad "the last stage is not FROM scratch"
n=0
while read -r ins rest; do
	case $ins in
	COPY)
		set -- $rest
		[ "${1#--from=build}" != "$1" ] || { bad "COPY not from the build stage: $rest"; continue; }
		while [ "${1#--}" != "$1" ]; do shift; done
		src=$1
		case $src in
		"$root"/*) [ -e "$dir${src#"$root"}" ] || bad "COPY source $src is not in $dir" ;;
		*) bad "COPY source $src is outside $root" ;;
		esac
		n=$((n + 1))
		;;
	esac
done < "$tmp/final"
[ $n -gt 0 ] || bad "the last stage copies nothing"
entry=$(sed -n 's/^ENTRYPOINT \["\([^"]*\)".*/\1/p' "$tmp/final")
[ -n "$entry" ] && [ -x "$dir/rootfs$entry" ] || bad "ENTRYPOINT '$entry' is not an executable of the tree"
user=$(sed -n 's/^USER \([0-9]*:[0-9]*\)$/\1/p' "$tmp/final")
[ -n "$user" ] || bad "USER is not uid:gid"
state=$(sed -n 's/^COPY --from=build --chown=[0-9:]* [^ ]*state\/ \([^ ]*\)$/\1/p' "$tmp/final")
state=${state%/}
[ -n "$state" ] || bad "no COPY of the state directory with --chown"
imgenv=$(sed -n 's/^ENV //p' "$tmp/final" | tr '\n' ' ')
for kv in $imgenv; do
	case $kv in *=*) ;; *) bad "ENV '$kv' is not NAME=VALUE" ;; esac
done
echo "$imgenv" | grep -q "LLMPROXY_STATE_DIR=$state" || bad "LLMPROXY_STATE_DIR is not $state"
[ $fail = 0 ] || exit 1

# 3. run the tree
if [ "$(id -u)" != 0 ] || ! command -v chroot > /dev/null 2>&1; then
	echo "image check: $df agrees with $dir; not run in a chroot (needs root)"
	exit 0
fi
chroot=$(command -v chroot)
r="$tmp/root"
mkdir -p "$r"
cp -a "$dir/rootfs/." "$r/"
mkdir -p "$r$(dirname "$state")" "$r/dev"
cp -a "$dir/state" "$r$state"
chown "$user" "$r$state"
# what the container runtime provides: /dev/null
mknod -m 666 "$r/dev/null" c 1 3 2>/dev/null ||
    { touch "$r/dev/null" && mount --bind /dev/null "$r/dev/null"; } ||
    bad "cannot make /dev/null in the chroot"
# run [VAR=VALUE...] -- ARGS: the entry point in the chroot, as USER, with
# the image's ENV and the given variables only
run() {
	vars=""
	while [ "$1" != -- ]; do vars="$vars $1"; shift; done
	shift
	# shellcheck disable=SC2086
	env -i $imgenv $vars "$chroot" --userspec="$user" "$r" "$entry" "$@"
}
touch "$tmp/marker"
sleep 1

run -- --version > "$tmp/out" 2>&1 || bad "$entry --version fails in the chroot: $(cat "$tmp/out")"
if run OPENAI_API_KEY=x -- check-config > "$tmp/out" 2>&1; then
	bad "the image's defaults serve 0.0.0.0 without client keys"
elif ! grep -q LLMPROXY_API_KEYS "$tmp/out"; then
	bad "the refusal does not name LLMPROXY_API_KEYS: $(cat "$tmp/out")"
fi
vars=$(sed 's|^[[:space:]]*//.*||' "$dir/rootfs/etc/llmproxy/llmproxy.example.json" |
    grep -oE '"env:[A-Za-z_][A-Za-z0-9_]*"' | tr -d '"' | cut -c5- | sort -u |
    sed 's/.*/&=example-&/' | tr '\n' ' ')
# shellcheck disable=SC2086
run $vars -- check-config -c /etc/llmproxy/llmproxy.example.json > "$tmp/out" 2>&1 ||
    bad "the image's example config fails check-config: $(cat "$tmp/out")"

started=""
for try in 1 2 3 4 5; do
	port=$((20000 + ($$ * 7 + try * 7919) % 40000))
	: > "$tmp/log"
	# not through run(): $! must be the server itself (env and chroot exec)
	# shellcheck disable=SC2086
	env -i $imgenv LLMPROXY_LISTEN=127.0.0.1:$port LLMPROXY_API_KEYS=sk-image-check \
	    OPENAI_API_KEY=x OPENAI_BASE_URL=https://127.0.0.1:9/v1 \
	    "$chroot" --userspec="$user" "$r" "$entry" > "$tmp/log" 2>&1 &
	pid=$!
	i=0
	while [ $i -lt 50 ] && kill -0 "$pid" 2>/dev/null && ! grep -q 'listening on' "$tmp/log"; do
		sleep 0.1; i=$((i + 1))
	done
	if grep -q 'listening on' "$tmp/log"; then
		started=$port
		break
	fi
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=""
	grep -qi 'in use' "$tmp/log" || break
done
if [ -z "$started" ]; then
	bad "the server did not start in the chroot:"; cat "$tmp/log" >&2
	exit 1
fi
grep -q 'trust anchors from /etc/ssl/certs/ca-certificates.crt' "$tmp/log" ||
    bad "the server did not load the image's CA bundle"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$started/health" || true)
[ "$code" = 200 ] || bad "GET /health answered '$code'"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
[ $rc = 0 ] || bad "the server exited with $rc on SIGTERM:"
[ $rc = 0 ] || cat "$tmp/log" >&2
written=$(find "$r" -newer "$tmp/marker" ! -path "$r$state" ! -path "$r$state/*" ! -path "$r/dev*" | head -n 5)
[ -z "$written" ] || bad "written outside $state: $written"
[ $fail = 0 ] || exit 1
echo "image check: $df agrees with $dir; the tree runs FROM scratch-like as $user (--version, check-config, serve, /health, SIGTERM)"
