#!/bin/sh
# static.sh BEARSSL_SRC SOURCE... - build ./llmproxy-static from the given
# C sources (the Makefile passes its SRCS): fully static, musl libc, BearSSL
# compiled from source.
#
# BEARSSL_SRC is a BearSSL source tree (the directory holding inc/ and src/).
# When it is empty, the Debian source package "bearssl" is used:
#   1. a copy fetched earlier into build-static/ is reused;
#   2. else `apt-get source --download-only bearssl` with the host's own
#      apt configuration (works when the host already has deb-src entries);
#   3. else, only with LLMPROXY_ADD_DEB_SRC=1 (or a "y" answer when asked on
#      a terminal), the package is fetched through a private apt
#      configuration under build-static/apt/ holding one deb-src entry for
#      deb.debian.org: the host's package sources and lists are not changed,
#      and root is not needed. Apt checks the archive's signature with
#      /usr/share/keyrings/debian-archive-keyring.gpg.
# With LLMPROXY_STATIC_OPTIONAL=1 a host that cannot get the BearSSL source
# skips the build (exit 0, with a message) instead of failing; any other
# failure still fails.
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

# The suite of the deb-src entry: the host's own on Debian, else bookworm.
suite=bookworm
if [ -r /etc/os-release ]; then
	os_id=$(. /etc/os-release && echo "${ID:-}")
	os_code=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[ "$os_id" = debian ] && [ -n "$os_code" ] && suite=$os_code
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

# Fetch the source package through apt options that point every file apt
# reads or writes for sources into build-static/apt/.
private_fetch() {
	a="$out/apt"
	[ -f "$keyring" ] || {
		echo "static: $keyring is missing (package debian-archive-keyring)" >&2
		return 1
	}
	mkdir -p "$a/lists/partial" "$a/cache/archives/partial" "$a/parts"
	echo "deb-src [signed-by=$keyring] http://deb.debian.org/debian $suite main" \
	    > "$a/sources.list"
	set -- -o "Dir::Etc::SourceList=$a/sources.list" \
	    -o "Dir::Etc::SourceParts=$a/parts" \
	    -o "Dir::State::Lists=$a/lists" -o "Dir::Cache=$a/cache"
	if ! apt-get "$@" update > "$a/update.log" 2>&1; then
		echo "static: apt-get update (private configuration) failed:" >&2
		tail -n 5 "$a/update.log" >&2
		return 1
	fi
	if ! (cd "$out" && apt-get "$@" source --download-only bearssl) \
	    > "$a/source.log" 2>&1; then
		echo "static: apt-get source bearssl failed:" >&2
		tail -n 5 "$a/source.log" >&2
		return 1
	fi
}

explain() {
	cat >&2 <<EOS
static: the BearSSL source is needed (the system's libbearssl is built for
        glibc, the static binary links musl). Either:
          make static BEARSSL_SRC=/path/to/bearssl   (a tree holding inc/ and src/)
        or enable deb-src entries in your apt sources yourself, or let this
        script fetch the Debian source package "bearssl" ($suite) from
        deb.debian.org through a private apt configuration in build-static/apt
        (your apt sources are not changed; nothing needs root):
          LLMPROXY_ADD_DEB_SRC=1 make static
EOS
}

mkdir -p "$out"
if [ -z "$src" ]; then
	if [ ! -d "$out/bearssl-src" ]; then
		if ls "$out"/bearssl_*.orig.tar.* >/dev/null 2>&1; then
			:
		elif command -v apt-get >/dev/null 2>&1 &&
		    (cd "$out" && apt-get source -qq --download-only bearssl) \
		    >/dev/null 2>&1; then
			echo "static: fetched the BearSSL source with the host's apt sources"
		else
			add=${LLMPROXY_ADD_DEB_SRC:-}
			[ "$add" = 1 ] || explain
			if [ -z "$add" ] && [ -t 0 ] && [ -t 2 ] &&
			    command -v apt-get >/dev/null 2>&1; then
				printf 'static: fetch it now through build-static/apt? [y/N] ' >&2
				read -r ans || ans=
				case "$ans" in [yY]*) add=1 ;; *) add=0 ;; esac
			fi
			if [ "$add" = 1 ]; then
				echo "static: fetching the Debian source package bearssl ($suite) from deb.debian.org through build-static/apt/sources.list; the host's apt sources are not changed"
				command -v apt-get >/dev/null 2>&1 || {
					echo "static: apt-get is not available" >&2
					nosrc
				}
				private_fetch || nosrc
			else
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
