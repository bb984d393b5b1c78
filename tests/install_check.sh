#!/bin/sh
# install_check.sh - `make install` and `make uninstall` into a temporary
# DESTDIR (with a space in it, so quoting is tested too):
#   1. ./llmproxy is installed with the man page and the example config, at
#      the right paths, modes and contents; the note that the target needs
#      libbearssl is printed exactly when the binary links it; the
#      installed binary runs; uninstall leaves no file behind;
#   2. a static binary newer than the sources is installed instead, and
#      then no note is printed;
#   3. a static binary older than a source is not installed, and the
#      output says why;
#   4. INSTALL_BIN overrides the choice.
# Runs from the top of the tree; MAKE names make (default: make).
set -eu
make=${MAKE:-make}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest="$tmp/dest dir"
prefix=/opt/llm
fail=0
bad() { echo "install check: $*" >&2; fail=1; }

mode() { ls -ln "$1" | cut -c1-10; }

# run_install LOG STATIC [MAKEVAR=VALUE...]: make install into $dest, with
# STATIC_BIN=STATIC in the environment
run_install() {
	log=$1; static=$2; shift 2
	STATIC_BIN=$static $make --no-print-directory install "DESTDIR=$dest" PREFIX=$prefix "$@" \
	    > "$log" 2>&1 || { bad "make install failed:"; cat "$log" >&2; return 1; }
}

bin="$dest$prefix/bin/llmproxy"
man="$dest$prefix/share/man/man1/llmproxy.1"
doc="$dest$prefix/share/doc/llmproxy/llmproxy.example.json"

# 1. the dynamic binary
run_install "$tmp/log1" "$tmp/absent"
for f in "$bin" "$man" "$doc"; do
	[ -f "$f" ] || bad "missing $f"
done
cmp -s llmproxy "$bin" || bad "$bin is not ./llmproxy"
cmp -s llmproxy.1 "$man" || bad "$man is not llmproxy.1"
cmp -s llmproxy.example.json "$doc" || bad "$doc is not llmproxy.example.json"
[ "$(mode "$bin")" = -rwxr-xr-x ] || bad "$bin has mode $(mode "$bin")"
[ "$(mode "$man")" = -rw-r--r-- ] || bad "$man has mode $(mode "$man")"
[ "$(mode "$doc")" = -rw-r--r-- ] || bad "$doc has mode $(mode "$doc")"
"$bin" --version | grep -q '^llmproxy ' || bad "the installed binary does not run"
links=no
if command -v ldd >/dev/null 2>&1; then
	ldd ./llmproxy 2>/dev/null | grep -q libbearssl && links=yes
else
	LC_ALL=C grep -q 'libbearssl\.so' llmproxy && links=yes
fi
if [ $links = yes ]; then
	grep -q '^NOTE: .*linked with the BearSSL shared' "$tmp/log1" &&
	    grep -q 'libbearssl0' "$tmp/log1" ||
	    { bad "no note that the target needs libbearssl:"; cat "$tmp/log1" >&2; }
else
	grep -q 'NOTE' "$tmp/log1" && bad "a libbearssl note for a binary that does not link it"
fi
$make --no-print-directory uninstall "DESTDIR=$dest" PREFIX=$prefix > "$tmp/log" 2>&1 ||
    { bad "make uninstall failed:"; cat "$tmp/log" >&2; }
left=$(find "$dest" -type f | head -n 5)
[ -z "$left" ] || bad "left after uninstall: $left"
[ -d "$dest$prefix/share/doc/llmproxy" ] && bad "uninstall left the doc directory"

# 2. a fresh static binary (a stand-in that links nothing) wins
fake="$tmp/llmproxy-static"
printf '#!/bin/sh\necho "llmproxy static stand-in"\n' > "$fake"
chmod 755 "$fake"
if LC_ALL=C grep -q 'libbearssl\.so' "$fake"; then
	bad "the stand-in $fake mentions libbearssl"
fi
run_install "$tmp/log2" "$fake"
cmp -s "$fake" "$bin" || { bad "a fresh static binary was not installed:"; cat "$tmp/log2" >&2; }
grep -q 'NOTE' "$tmp/log2" && bad "a libbearssl note for a static binary"
grep -q 'needs no BearSSL library' "$tmp/log2" || bad "no word that the static binary needs no library"

# 3. a stale one does not
touch -t 200001010000 "$fake"
run_install "$tmp/log3" "$fake"
cmp -s llmproxy "$bin" || bad "a stale static binary was installed"
grep -q "is older than" "$tmp/log3" || { bad "no word about the stale static binary:"; cat "$tmp/log3" >&2; }

# 4. INSTALL_BIN decides
run_install "$tmp/log4" "$tmp/absent" "INSTALL_BIN=$fake"
cmp -s "$fake" "$bin" || bad "INSTALL_BIN was not installed"
$make --no-print-directory uninstall "DESTDIR=$dest" PREFIX=$prefix > "$tmp/log" 2>&1
[ -z "$(find "$dest" -type f)" ] || bad "files left after the last uninstall"

[ $fail = 0 ] || exit 1
echo "install check: install (dynamic, fresh static, stale static, INSTALL_BIN) and uninstall under DESTDIR with PREFIX=$prefix"
