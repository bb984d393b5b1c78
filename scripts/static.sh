#!/bin/sh
# static.sh BEARSSL_SRC SOURCE... - build ./llmproxy-static from the given
# C sources (the Makefile passes its SRCS): fully static, musl libc, BearSSL
# compiled from source. BEARSSL_SRC is a BearSSL source tree (the directory
# holding inc/ and src/); when empty, the Debian source package is fetched
# with apt-get source (a deb-src entry is added when running as root). With
# LLMPROXY_STATIC_OPTIONAL=1 a host that cannot get the BearSSL source skips
# the build (exit 0, with a message) instead of failing; any other failure
# still fails.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build-static"
src=${1:-}
shift || true
[ $# -gt 0 ] || { echo "usage: static.sh BEARSSL_SRC SOURCE..." >&2; exit 1; }
nosrc() {
	if [ "${LLMPROXY_STATIC_OPTIONAL:-0}" = 1 ]; then
		echo "static: skipped: the BearSSL source is not available on this host" >&2
		exit 0
	fi
	exit 1
}
mkdir -p "$out"
if [ -z "$src" ]; then
	if [ ! -d "$out/bearssl-src" ]; then
		if ! (cd "$out" && apt-get source -qq --download-only bearssl >/dev/null 2>&1); then
			if [ "$(id -u)" = 0 ] && [ -d /etc/apt/sources.list.d ]; then
				. /etc/os-release
				cat > /etc/apt/sources.list.d/llmproxy-deb-src.sources <<EOS
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: ${VERSION_CODENAME:-bookworm}
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
				apt-get update -qq >/dev/null || true
				(cd "$out" && apt-get source -qq --download-only bearssl >/dev/null 2>&1) || nosrc
			else
				echo "static: need BearSSL source: make static BEARSSL_SRC=/path/to/bearssl" >&2
				echo "        (or run as root so the Debian source package can be fetched)" >&2
				nosrc
			fi
		fi
		tarball=$(ls "$out"/bearssl_*.orig.tar.* | head -n 1)
		mkdir -p "$out/bearssl-src"
		tar -xf "$tarball" -C "$out/bearssl-src" --strip-components=1
	fi
	src="$out/bearssl-src"
fi
[ -f "$src/inc/bearssl.h" ] || { echo "static: $src does not look like a BearSSL tree" >&2; exit 1; }
CC=${CC_STATIC:-musl-gcc}
if [ ! -f "$out/libbearssl.a" ]; then
	echo "static: building BearSSL from $src with $CC"
	rm -rf "$out/bobj" && mkdir -p "$out/bobj"
	for f in "$src"/src/*/*.c "$src"/src/*.c; do
		[ -f "$f" ] || continue
		o="$out/bobj/$(echo "$f" | sed "s|$src/src/||; s|/|_|g; s|\.c$|.o|")"
		$CC -O2 -fPIC -I"$src/inc" -I"$src/src" -c "$f" -o "$o"
	done
	ar rcs "$out/libbearssl.a" "$out"/bobj/*.o
fi
cd "$top"
$CC -std=c11 -O2 -static -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	-I"$src/inc" -o llmproxy-static "$@" "$out/libbearssl.a" -lpthread -lm
strip llmproxy-static
ls -l llmproxy-static
file llmproxy-static 2>/dev/null || true
