#!/bin/sh
# install.sh install|uninstall [SOURCE...] - what `make install` and
# `make uninstall` do. The Makefile passes DESTDIR, BINDIR, MANDIR, DOCDIR
# and INSTALL_BIN in the environment, and its sources as arguments;
# STATIC_BIN (default llmproxy-static) names the static binary to look for.
#
# install puts
#   the binary                  in DESTDIR BINDIR/llmproxy         (0755)
#   llmproxy.1                  in DESTDIR MANDIR/man1/llmproxy.1  (0644)
#   llmproxy.example.json       in DESTDIR DOCDIR/                 (0644)
# The binary is INSTALL_BIN when it is set; else STATIC_BIN when it
# exists and no SOURCE is newer than it (it needs no library on the
# target); else ./llmproxy, which is linked with the BearSSL shared library:
# the script then says so, and what the target needs. uninstall removes the
# three files (and DOCDIR when that leaves it empty).
set -eu
cd "$(dirname "$0")/.."
op=${1:-}
[ $# -gt 0 ] && shift
DESTDIR=${DESTDIR:-}
: "${BINDIR:?BINDIR is not set}" "${MANDIR:?MANDIR is not set}" "${DOCDIR:?DOCDIR is not set}"
bin=$DESTDIR$BINDIR/llmproxy
man=$DESTDIR$MANDIR/man1/llmproxy.1
doc=$DESTDIR$DOCDIR/llmproxy.example.json

# put SRC DST MODE: copy next to DST, then rename over it (a running binary
# cannot be written in place, but it can be replaced)
put() {
	cp "$1" "$2.tmp.$$"
	chmod "$3" "$2.tmp.$$"
	mv -f "$2.tmp.$$" "$2"
	echo "installed $2"
}

case $op in
install)
	src=${INSTALL_BIN:-}
	if [ -z "$src" ]; then
		src=llmproxy
		static=${STATIC_BIN:-llmproxy-static}
		if [ -f "$static" ]; then
			newer=$(find "$@" -newer "$static" 2>/dev/null | head -n 1)
			if [ -z "$newer" ]; then
				src=$static
			else
				echo "install: $static is older than $newer;" \
				    "installing ./llmproxy ('make static' rebuilds it)"
			fi
		fi
	fi
	[ -f "$src" ] || { echo "install: $src does not exist" >&2; exit 1; }
	mkdir -p "$DESTDIR$BINDIR" "$DESTDIR$MANDIR/man1" "$DESTDIR$DOCDIR"
	put "$src" "$bin" 0755
	put llmproxy.1 "$man" 0644
	put llmproxy.example.json "$doc" 0644
	if LC_ALL=C grep -q 'libbearssl\.so' "$src"; then
		cat <<EOS

NOTE: $BINDIR/llmproxy (from $src) is linked with the BearSSL shared
      library: the machine that runs it needs libbearssl.so.0 (Debian and
      Ubuntu: apt-get install libbearssl0). For a binary that needs no
      library at all, run 'make static' and then 'make install' again.
EOS
	else
		echo "$BINDIR/llmproxy (from $src) needs no BearSSL library on the target"
	fi
	;;
uninstall)
	for f in "$bin" "$man" "$doc"; do
		if [ -e "$f" ]; then
			rm -f "$f"
			echo "removed $f"
		fi
	done
	rmdir "$DESTDIR$DOCDIR" 2>/dev/null || true
	;;
*)
	echo "usage: install.sh install|uninstall [SOURCE...]" >&2
	exit 2
	;;
esac
