#!/bin/sh
# deps.sh WHAT... - make sure the Debian packages a build step needs are
# present. Installs them with apt-get when running as root; otherwise prints
# exactly what to install and fails.
#   build  libbearssl-dev          (the product)
#   check  check, pkg-config,      (unit tests; promtool validates
#          prometheus, mandoc       the /metrics output; mandoc lints
#                                   the man page)
#   service systemd                (systemd-analyze verify on the unit)
#   static musl-tools, BearSSL source (static binary)
#   fuzz   clang, libclang-rt-dev  (libFuzzer)
#   e2e    nodejs, npm, chromium   (SDK end-to-end tests; the admin page
#                                  in headless Chromium)
#   bench  nginx-light, wrk        (the reference proxy and the load
#                                  client of `make bench`), and bench-json
#   bench-json libcjson-dev, golang-github-valyala-fastjson-dev
#                                  (cJSON to compare with; twitter.json,
#                                  which that package ships as test data)
set -eu
need=""
have_hdr() { [ -f /usr/include/"$1" ] || [ -f /usr/local/include/"$1" ]; }
have_cmd() { command -v "$1" >/dev/null 2>&1; }
bench_json() {
	have_hdr cjson/cJSON.h || need="$need libcjson-dev"
	[ -f /usr/share/gocode/src/github.com/valyala/fastjson/testdata/twitter.json ] ||
	    need="$need golang-github-valyala-fastjson-dev"
}
for what in "$@"; do
	case "$what" in
	build)  have_hdr bearssl.h || need="$need libbearssl-dev" ;;
	check)  have_hdr check.h || need="$need check"
	        have_cmd pkg-config || need="$need pkg-config"
	        have_cmd promtool || need="$need prometheus"
	        have_cmd mandoc || need="$need mandoc" ;;
	service) have_cmd systemd-analyze || need="$need systemd" ;;
	static) have_cmd musl-gcc || need="$need musl-tools"
	        have_hdr bearssl.h || need="$need libbearssl-dev" ;;
	fuzz)   have_cmd clang || need="$need clang"
	        ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
	            ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer*.a >/dev/null 2>&1 ||
	            need="$need libclang-rt-dev" ;;
	e2e)    have_cmd node || need="$need nodejs"
	        have_cmd npm || need="$need npm"
	        have_cmd chromium || need="$need chromium" ;;
	bench)  have_cmd nginx || [ -x /usr/sbin/nginx ] || need="$need nginx-light"
	        have_cmd wrk || need="$need wrk"
	        bench_json ;;
	bench-json) bench_json ;;
	valgrind) have_cmd valgrind || need="$need valgrind" ;;
	*) echo "deps.sh: unknown component '$what'" >&2; exit 2 ;;
	esac
done
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && have_cmd apt-get; then
	echo "installing:$need" >&2
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -qq $need >/dev/null 2>&1; then
		apt-get update -qq >/dev/null 2>&1 || true
		apt-get install -y -qq $need >/dev/null
	fi
	exit 0
fi
echo "missing packages:$need" >&2
echo "install them with:  sudo apt-get install$need" >&2
exit 1
