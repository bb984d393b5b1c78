#!/bin/sh
# service_check.sh BIN - contrib/llmproxy.service is a valid, hardened unit:
#   1. it has the hardening this project promises (DynamicUser, the state
#      directory, ProtectSystem=strict, the system call filter, ...) and
#      reloads with SIGHUP; ExecStart runs `make install`'s default path;
#   2. `systemd-analyze verify` passes with nothing to say. Verify wants an
#      executable at ExecStart's path, so a copy of the unit names BIN
#      there instead; the man page of Documentation= is found through
#      MANPATH in a temporary tree holding llmproxy.1. The rest is verified
#      as written;
#   3. `systemd-analyze security --offline` rates its exposure at most 1.5
#      (on the 0-10 scale; "OK" ends at 4.9), when this systemd can tell.
# Without systemd-analyze the check is skipped (exit 0, with a message)
# unless LLMPROXY_REQUIRE_SYSTEMD=1.
set -eu
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
unit=contrib/llmproxy.service
fail=0
bad() { echo "service check: $*" >&2; fail=1; }

for want in 'DynamicUser=yes' 'StateDirectory=llmproxy' 'ProtectSystem=strict' \
    'ProtectHome=yes' 'PrivateTmp=yes' 'NoNewPrivileges=yes' \
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
    'SystemCallFilter=@system-service' 'CapabilityBoundingSet=' \
    'ExecReload=/bin/kill -HUP $MAINPID' \
    'ExecStart=/usr/local/bin/llmproxy -c /etc/llmproxy/llmproxy.json'; do
	grep -qxF "$want" "$unit" || bad "$unit lacks the line: $want"
done

if ! command -v systemd-analyze >/dev/null 2>&1; then
	if [ "${LLMPROXY_REQUIRE_SYSTEMD:-0}" = 1 ]; then
		bad "systemd-analyze is not installed"
		exit 1
	fi
	echo "service check: skipped systemd-analyze (not installed; scripts/deps.sh service)"
	exit $fail
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/unit" "$tmp/man/man1"
cp llmproxy.1 "$tmp/man/man1/"
sed "s|^ExecStart=/usr/local/bin/llmproxy |ExecStart=$bin |" "$unit" > "$tmp/unit/llmproxy.service"
grep -q "^ExecStart=$bin " "$tmp/unit/llmproxy.service" || bad "could not point ExecStart at $bin"
man=--man=yes
command -v man >/dev/null 2>&1 || man=--man=no
if ! MANPATH="$tmp/man" systemd-analyze verify "$man" "$tmp/unit/llmproxy.service" \
    > "$tmp/out" 2>&1 || [ -s "$tmp/out" ]; then
	bad "systemd-analyze verify $unit:"
	cat "$tmp/out" >&2
fi
score=""
if systemd-analyze security --offline=true "$tmp/unit/llmproxy.service" > "$tmp/sec" 2>&1; then
	score=$(sed -n 's/.*Overall exposure level for llmproxy.service: \([0-9.]*\).*/\1/p' "$tmp/sec")
	[ -n "$score" ] || { bad "no exposure level in:"; cat "$tmp/sec" >&2; }
	if [ -n "$score" ] && ! awk -v s="$score" 'BEGIN { exit !(s <= 1.5) }'; then
		bad "exposure level $score is above 1.5:"
		grep '✗' "$tmp/sec" >&2 || true
	fi
fi
[ $fail = 0 ] || exit 1
echo "service check: $unit verifies clean${score:+; exposure level $score}"
