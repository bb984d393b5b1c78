#!/bin/sh
# image.sh DIR - the build stage of the Dockerfile, also run by CI (there is
# no Docker engine in CI, so this is how its steps are exercised): build
# ./llmproxy-static with `make static` (up to date: reused) and lay out the
# files of the FROM scratch image under DIR:
#   DIR/rootfs/usr/bin/llmproxy                     the static binary    0755
#   DIR/rootfs/etc/ssl/certs/ca-certificates.crt    the CA bundle        0644
#   DIR/rootfs/etc/llmproxy/llmproxy.example.json   the example config   0644
#   DIR/state/                                      becomes /var/lib/llmproxy
#                                                   (the image's user's)  0700
# then check that the binary needs no dynamic loader and runs, and print
# the sizes: the image is these files, one layer for the root-owned tree
# and one for the state directory.
# CA_BUNDLE names another CA bundle (default: Debian's, from the
# ca-certificates package).
set -eu
cd "$(dirname "$0")/.."
dir=${1:?usage: image.sh DIR}
ca=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
die() { echo "image: $*" >&2; exit 1; }

[ -s "$ca" ] || die "no CA bundle at $ca (package ca-certificates)"
${MAKE:-make} --no-print-directory static
[ -f llmproxy-static ] || die "make static built no llmproxy-static"
if command -v readelf >/dev/null 2>&1; then
	if readelf -l llmproxy-static | grep -q INTERP ||
	    readelf -d llmproxy-static 2>/dev/null | grep -q NEEDED; then
		die "llmproxy-static is dynamically linked: it cannot run FROM scratch"
	fi
else
	die "readelf (binutils) is needed to check the binary is static"
fi

rm -rf "$dir/rootfs" "$dir/state"
mkdir -p "$dir/rootfs/usr/bin" "$dir/rootfs/etc/ssl/certs" \
    "$dir/rootfs/etc/llmproxy" "$dir/state"
cp llmproxy-static "$dir/rootfs/usr/bin/llmproxy"
cp "$ca" "$dir/rootfs/etc/ssl/certs/ca-certificates.crt"
cp llmproxy.example.json "$dir/rootfs/etc/llmproxy/llmproxy.example.json"
chmod 0755 "$dir/rootfs/usr/bin/llmproxy"
chmod 0644 "$dir/rootfs/etc/ssl/certs/ca-certificates.crt" \
    "$dir/rootfs/etc/llmproxy/llmproxy.example.json"
chmod 0700 "$dir/state"
find "$dir/rootfs" -type d -exec chmod 0755 {} +

"$dir/rootfs/usr/bin/llmproxy" --version > /dev/null ||
    die "the static binary does not run"

size() { wc -c < "$1" | tr -d ' '; }
b=$(size "$dir/rootfs/usr/bin/llmproxy")
c=$(size "$dir/rootfs/etc/ssl/certs/ca-certificates.crt")
e=$(size "$dir/rootfs/etc/llmproxy/llmproxy.example.json")
z=$(tar -C "$dir/rootfs" -cf - . | gzip -9 | wc -c | tr -d ' ')
echo "image: $dir/rootfs: binary $b + CA bundle $c + example config $e bytes" \
    "= $((b + c + e)) bytes (about $(( (b + c + e + 524288) / 1048576 )) MB; $z bytes as a gzip layer)"
