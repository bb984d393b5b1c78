# llmproxy - plain make. `make` builds ./llmproxy; `make run` starts it;
# `make check` runs every test; see README.md for the rest.
.POSIX:

CC      = cc
CFLAGS  = -std=c11 -O2 -g -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CPPFLAGS = -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
LDFLAGS =
BEARSSL_LIBS = -lbearssl
CHECK_LIBS = -lcheck -lsubunit -lm -lrt -lpthread
PREFIX  = /usr/local
BINDIR  = $(PREFIX)/bin
MANDIR  = $(PREFIX)/share/man
DOCDIR  = $(PREFIX)/share/doc/llmproxy
# the binary `make install` installs; empty: ./llmproxy-static when it is
# newer than every source, else ./llmproxy (see scripts/install.sh)
INSTALL_BIN =

# make check SAN=1: everything under ASan+UBSan, built in build-san/
SAN =
SANFLAGS_1 = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# The event loop's backend: epoll on Linux, kqueue on the BSDs and macOS,
# poll() anywhere (make LOOP=poll; the tests build into build-poll/).
LOOP =
LOOPFLAGS_poll = -DPX_LOOP_POLL
LOOPFLAGS_epoll = -DPX_LOOP_EPOLL
LOOPFLAGS_kqueue = -DPX_LOOP_KQUEUE
TFLAGS  = -O1 -g $(SANFLAGS_$(SAN)) $(LOOPFLAGS_$(LOOP))
O       = build$(SAN:1=-san)$(LOOP:%=-%)

CORE_SRCS = json.c sse.c convert.c convert_chat.c convert_responses.c \
            convert_anthropic.c convert_gemini.c convert_cli.c
CORE_HDRS = json.h sse.h convert.h convert_int.h
SRV_SRCS  = cmd.c proxy.c relay.c rstore.c rsession.c session.c rcache.c cache.c \
            loop.c upstream.c log.c http.c \
            auth.c config.c tls.c store.c route.c keys.c limit.c metrics.c \
            usage.c admin.c exec.c models.c $(ACCT_SRCS) acctsrv.c httpc.c login.c
SRV_HDRS  = http.h auth.h config.h tls.h proxy.h proxy_int.h store.h loop.h \
            upstream.h log.h route.h keys.h limit.h metrics.h usage.h models.h \
            account.h httpc.h login.h session.h cache.h exec.h
# subscription accounts: the I/O-free core the unit tests and fuzzers link
ACCT_SRCS = account.c account_flow.c account_shape.c
SRCS = $(CORE_SRCS) $(SRV_SRCS)
HDRS = $(CORE_HDRS) $(SRV_HDRS)
# config.c and what it needs (key settings, prices), and the route lookups
# on a loaded config (route.c)
CONFIG_SRCS = config.c route.c auth.c keys.c limit.c usage.c store.c $(CORE_SRCS)
CONFIG_HDRS = config.h route.h auth.h keys.h limit.h usage.h store.h $(CORE_HDRS)

TESTS = $(O)/test_json $(O)/test_http $(O)/test_sse $(O)/test_convert \
        $(O)/test_convert4 $(O)/test_decode $(O)/test_auth $(O)/test_config \
        $(O)/test_embed $(O)/test_store $(O)/test_stream $(O)/test_route \
        $(O)/test_loop $(O)/test_loop_poll $(O)/test_keys $(O)/test_limit \
        $(O)/test_metrics $(O)/test_usage $(O)/test_models $(O)/test_account \
        $(O)/test_session $(O)/test_cache $(O)/test_cli

all: llmproxy

llmproxy: $(SRCS) $(HDRS)
	@sh scripts/deps.sh build
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LOOPFLAGS_$(LOOP)) -o $@ $(SRCS) $(LDFLAGS) $(BEARSSL_LIBS) -lpthread

run: llmproxy
	./llmproxy $(RUNFLAGS)

# ---------------------------------------------------------------- tests
$(O)/.dir:
	mkdir -p $(O)
	touch $@

$(O)/llmproxy: $(SRCS) $(HDRS) $(O)/.dir
	@sh scripts/deps.sh build
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -o $@ $(SRCS) $(BEARSSL_LIBS) -lpthread

$(O)/mock_upstream: tests/mock_upstream.c $(CORE_SRCS) $(CORE_HDRS) $(O)/.dir
	@sh scripts/deps.sh build
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/mock_upstream.c json.c sse.c $(BEARSSL_LIBS)

$(O)/mock_oauth: tests/mock_oauth.c $(O)/.dir
	@sh scripts/deps.sh build
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/mock_oauth.c $(BEARSSL_LIBS)

$(O)/test_json: tests/test_json.c tests/testutil.h json.c json.h $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_json.c json.c $(CHECK_LIBS)
$(O)/test_http: tests/test_http.c tests/testutil.h http.c http.h $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_http.c http.c $(CHECK_LIBS)
$(O)/test_sse: tests/test_sse.c tests/testutil.h sse.c sse.h $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_sse.c sse.c $(CHECK_LIBS)
$(O)/test_convert: tests/test_convert.c tests/testutil.h $(CORE_SRCS) $(CORE_HDRS) $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_convert.c $(CORE_SRCS) $(CHECK_LIBS)
$(O)/test_convert4: tests/test_convert4.c tests/testutil.h $(CORE_SRCS) $(CORE_HDRS) $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_convert4.c $(CORE_SRCS) $(CHECK_LIBS)
$(O)/test_cli: tests/test_cli.c tests/testutil.h $(CORE_SRCS) $(CORE_HDRS) $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_cli.c $(CORE_SRCS) $(CHECK_LIBS)
$(O)/test_stream: tests/test_stream.c tests/testutil.h $(CORE_SRCS) $(CORE_HDRS) $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_stream.c $(CORE_SRCS) $(CHECK_LIBS)
$(O)/test_decode: tests/test_decode.c tests/testutil.h $(CORE_SRCS) $(CORE_HDRS) $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_decode.c $(CORE_SRCS) $(CHECK_LIBS)
$(O)/test_embed: tests/test_embed.c tests/testutil.h $(CORE_SRCS) $(CORE_HDRS) $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_embed.c $(CORE_SRCS) $(CHECK_LIBS)
$(O)/test_tls: tests/test_tls.c tls.c tls.h $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_tls.c tls.c $(BEARSSL_LIBS) $(CHECK_LIBS)
$(O)/test_auth: tests/test_auth.c auth.c auth.h $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_auth.c auth.c $(CHECK_LIBS) $(BEARSSL_LIBS)
$(O)/test_config: tests/test_config.c $(CONFIG_SRCS) $(CONFIG_HDRS) $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_config.c $(CONFIG_SRCS) $(CHECK_LIBS) $(BEARSSL_LIBS)
$(O)/test_models: tests/test_models.c tests/testutil.h models.c models.h $(CONFIG_SRCS) $(CONFIG_HDRS) $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_models.c models.c $(CONFIG_SRCS) $(CHECK_LIBS) $(BEARSSL_LIBS)
$(O)/test_route: tests/test_route.c $(CONFIG_SRCS) $(CONFIG_HDRS) $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_route.c $(CONFIG_SRCS) $(CHECK_LIBS) $(BEARSSL_LIBS)
$(O)/test_store: tests/test_store.c tests/testutil.h store.c store.h $(CORE_SRCS) $(CORE_HDRS) $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_store.c store.c $(CORE_SRCS) $(CHECK_LIBS)
$(O)/test_usage: tests/test_usage.c tests/testutil.h usage.c usage.h store.c store.h $(CORE_SRCS) $(CORE_HDRS) $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_usage.c usage.c store.c $(CORE_SRCS) $(CHECK_LIBS)
$(O)/test_account: tests/test_account.c tests/testutil.h $(ACCT_SRCS) account.h $(CONFIG_SRCS) $(CONFIG_HDRS) $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_account.c $(ACCT_SRCS) $(CONFIG_SRCS) $(CHECK_LIBS) $(BEARSSL_LIBS)
$(O)/test_session: tests/test_session.c tests/testutil.h session.c session.h store.c store.h $(CORE_SRCS) $(CORE_HDRS) $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_session.c session.c store.c $(CORE_SRCS) $(CHECK_LIBS)
$(O)/test_cache: tests/test_cache.c cache.c cache.h store.c store.h $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_cache.c cache.c store.c $(CHECK_LIBS) $(BEARSSL_LIBS)
ITEST_SRCS = tests/itest.c tests/test_integration.c tests/it_hardening.c \
             tests/it_streams.c tests/it_gateway.c tests/it_team.c \
             tests/it_admin.c tests/it_first.c tests/it_accounts.c \
             tests/it_sessions.c tests/it_exec.c
$(O)/test_keys: tests/test_keys.c tests/testutil.h keys.c keys.h limit.c limit.h auth.c auth.h json.c json.h store.c store.h $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_keys.c keys.c limit.c auth.c json.c store.c $(CHECK_LIBS) $(BEARSSL_LIBS)
$(O)/test_limit: tests/test_limit.c limit.c limit.h auth.c auth.h $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_limit.c limit.c auth.c $(CHECK_LIBS) $(BEARSSL_LIBS)
$(O)/test_metrics: tests/test_metrics.c metrics.c metrics.h $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_metrics.c metrics.c $(CHECK_LIBS)
$(O)/test_loop: tests/test_loop.c loop.c loop.h $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -o $@ tests/test_loop.c loop.c $(CHECK_LIBS)
$(O)/test_loop_poll: tests/test_loop.c loop.c loop.h $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -DPX_LOOP_POLL -I. -o $@ tests/test_loop.c loop.c $(CHECK_LIBS)
$(O)/test_integration: $(ITEST_SRCS) tests/itest.h tests/testutil.h $(O)/.dir
	@sh scripts/deps.sh build check
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS) -I. -Itests -o $@ $(ITEST_SRCS) $(CHECK_LIBS)

unit: $(TESTS)
	@for t in $(TESTS); do echo "== $$t"; ./$$t || exit 1; done

# a resolver the tests control (LD_PRELOAD; never sanitized itself)
$(O)/dnsshim.so: tests/dnsshim.c $(O)/.dir
	$(CC) $(CPPFLAGS) -std=c11 -O1 -Wall -Wextra -shared -fPIC -o $@ tests/dnsshim.c -ldl

integration: $(O)/llmproxy $(O)/mock_upstream $(O)/mock_oauth $(O)/test_integration $(O)/test_tls $(O)/dnsshim.so
	MOCK_BIN=$(O)/mock_upstream ./$(O)/test_tls
	LLMPROXY_BIN=$(O)/llmproxy MOCK_BIN=$(O)/mock_upstream DNSSHIM=$(O)/dnsshim.so ./$(O)/test_integration

# the README's embedding example, compiled against the conversion core alone
readme-example: $(O)/.dir
	@sh scripts/deps.sh build
	sh tests/readme_example.sh $(O) $(CC) $(CPPFLAGS) $(CFLAGS) $(TFLAGS)

# the man page lints clean and documents what the program reads and takes
man-check: $(O)/llmproxy
	@sh scripts/deps.sh check
	sh tests/man_check.sh $(O)/llmproxy llmproxy.1

# llmproxy.example.json and the README's configs pass check-config as they are
config-check: $(O)/llmproxy
	sh tests/config_examples.sh $(O)/llmproxy

# make install / uninstall into a temporary DESTDIR
install-check: llmproxy
	MAKE="$(MAKE)" sh tests/install_check.sh

# the systemd unit passes systemd-analyze verify (skipped without systemd)
service-check: $(O)/llmproxy
	sh tests/service_check.sh $(O)/llmproxy

check: unit readme-example man-check config-check install-check service-check integration

# valgrind over the integration run: the proxy runs under memcheck
valgrind: $(O)/llmproxy $(O)/mock_upstream $(O)/mock_oauth $(O)/test_integration $(O)/dnsshim.so
	@sh scripts/deps.sh valgrind
	LLMPROXY_BIN=$(O)/llmproxy MOCK_BIN=$(O)/mock_upstream DNSSHIM=$(O)/dnsshim.so \
	LLMPROXY_WRAP="valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 -q" \
	./$(O)/test_integration

# ---------------------------------------------------------------- fuzz
# Every sanitizer finding stops the fuzzer (no recovery), so UBSan reports
# are saved as crash inputs like ASan's. fuzz-run grows
# build-fuzz/<target>.corpus from the seeds in tests/corpus/<target>, writes
# findings as build-fuzz/<target>-crash-*, then merges the grown corpus back
# into build-fuzz/<target>.corpus, keeping only inputs that add coverage.
FUZZ = build-fuzz/fuzz_json build-fuzz/fuzz_http build-fuzz/fuzz_sse build-fuzz/fuzz_convert \
       build-fuzz/fuzz_store build-fuzz/fuzz_embed build-fuzz/fuzz_keys \
       build-fuzz/fuzz_usage build-fuzz/fuzz_config build-fuzz/fuzz_accounts \
       build-fuzz/fuzz_cli
FUZZFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_SECONDS = 60
fuzz: $(FUZZ)
build-fuzz/fuzz_json: tests/fuzz_json.c json.c json.h
	@sh scripts/deps.sh fuzz
	mkdir -p build-fuzz
	clang $(CPPFLAGS) $(FUZZFLAGS) -I. -o $@ tests/fuzz_json.c json.c
build-fuzz/fuzz_http: tests/fuzz_http.c http.c http.h
	@sh scripts/deps.sh fuzz
	mkdir -p build-fuzz
	clang $(CPPFLAGS) $(FUZZFLAGS) -I. -o $@ tests/fuzz_http.c http.c
build-fuzz/fuzz_sse: tests/fuzz_sse.c sse.c sse.h
	@sh scripts/deps.sh fuzz
	mkdir -p build-fuzz
	clang $(CPPFLAGS) $(FUZZFLAGS) -I. -o $@ tests/fuzz_sse.c sse.c
build-fuzz/fuzz_convert: tests/fuzz_convert.c $(CORE_SRCS) $(CORE_HDRS)
	@sh scripts/deps.sh fuzz
	mkdir -p build-fuzz
	clang $(CPPFLAGS) $(FUZZFLAGS) -I. -o $@ tests/fuzz_convert.c $(CORE_SRCS)
build-fuzz/fuzz_store: tests/fuzz_store.c store.c store.h
	@sh scripts/deps.sh fuzz
	mkdir -p build-fuzz
	clang $(CPPFLAGS) $(FUZZFLAGS) -I. -o $@ tests/fuzz_store.c store.c
build-fuzz/fuzz_embed: tests/fuzz_embed.c $(CORE_SRCS) $(CORE_HDRS)
	@sh scripts/deps.sh fuzz
	mkdir -p build-fuzz
	clang $(CPPFLAGS) $(FUZZFLAGS) -I. -o $@ tests/fuzz_embed.c $(CORE_SRCS)
build-fuzz/fuzz_keys: tests/fuzz_keys.c keys.c keys.h limit.c limit.h auth.c auth.h json.c json.h store.c store.h
	@sh scripts/deps.sh fuzz
	mkdir -p build-fuzz
	clang $(CPPFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. -o $@ tests/fuzz_keys.c keys.c limit.c auth.c json.c store.c $(BEARSSL_LIBS)
build-fuzz/fuzz_usage: tests/fuzz_usage.c usage.c usage.h store.c store.h $(CORE_SRCS) $(CORE_HDRS)
	@sh scripts/deps.sh fuzz
	mkdir -p build-fuzz
	clang $(CPPFLAGS) $(FUZZFLAGS) -fno-sanitize-recover=all -I. -o $@ tests/fuzz_usage.c usage.c store.c $(CORE_SRCS)
build-fuzz/fuzz_config: tests/fuzz_config.c $(CONFIG_SRCS) $(CONFIG_HDRS)
	@sh scripts/deps.sh build fuzz
	mkdir -p build-fuzz
	clang $(CPPFLAGS) $(FUZZFLAGS) -I. -o $@ tests/fuzz_config.c $(CONFIG_SRCS) $(BEARSSL_LIBS)
# lines over 4 KiB (not 1 MiB) so the fuzzer reaches the over-long path
build-fuzz/fuzz_cli: tests/fuzz_cli.c $(CORE_SRCS) $(CORE_HDRS)
	@sh scripts/deps.sh build fuzz
	mkdir -p build-fuzz
	clang $(CPPFLAGS) $(FUZZFLAGS) -DPX_JSONL_LINE_MAX=4096 -I. -o $@ tests/fuzz_cli.c $(CORE_SRCS)
build-fuzz/fuzz_accounts: tests/fuzz_accounts.c $(ACCT_SRCS) account.h $(CONFIG_SRCS) $(CONFIG_HDRS)
	@sh scripts/deps.sh build fuzz
	mkdir -p build-fuzz
	clang $(CPPFLAGS) $(FUZZFLAGS) -I. -o $@ tests/fuzz_accounts.c $(ACCT_SRCS) $(CONFIG_SRCS) $(BEARSSL_LIBS)
fuzz-run: $(FUZZ)
	@for f in $(FUZZ); do n=`basename $$f`; echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  mkdir -p $$f.corpus; rm -rf $$f.merged; mkdir $$f.merged; \
	  if ./$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	      -artifact_prefix=$$f- $$f.corpus tests/corpus/$$n > $$f.log 2>&1; \
	  then grep -E '^Done|average_exec_per_sec' $$f.log; \
	  else tail -40 $$f.log; exit 1; fi; \
	  ./$$f -merge=1 -artifact_prefix=$$f- $$f.merged $$f.corpus \
	      tests/corpus/$$n > $$f.merge.log 2>&1 || { tail -20 $$f.merge.log; exit 1; }; \
	  rm -rf $$f.corpus; mv $$f.merged $$f.corpus; \
	  echo "   corpus: `ls $$f.corpus | wc -l` inputs"; done

# ---------------------------------------------------------------- e2e / bench
e2e: $(O)/llmproxy $(O)/mock_upstream $(O)/mock_oauth
	@sh scripts/deps.sh e2e
	cd tests/e2e && npm install --no-audit --no-fund --loglevel=error
	LLMPROXY_BIN=$(O)/llmproxy MOCK_BIN=$(O)/mock_upstream node tests/e2e/run.mjs

# (nginx and cJSON are the baselines; without them their rows are skipped)
bench: llmproxy $(O)/mock_upstream build/loadgen
	@sh scripts/deps.sh bench || echo "bench: a baseline is missing; its rows will be skipped"
	@$(MAKE) build/bench_json || echo "bench: no cJSON; the JSON part will be skipped"
	MOCK_BIN=$(O)/mock_upstream sh tests/bench.sh
build/loadgen: tests/loadgen.c build/.dir
	$(CC) $(CPPFLAGS) -std=c11 -O2 -Wall -Wextra -o $@ tests/loadgen.c
# json_parse and the writer against cJSON (also a section of `make bench`)
bench-json: build/bench_json
	./build/bench_json
build/bench_json: tests/bench_json.c json.c json.h build/.dir
	@sh scripts/deps.sh bench-json
	$(CC) $(CPPFLAGS) $(CFLAGS) -I. -o $@ tests/bench_json.c json.c -lcjson

# ---------------------------------------------------------------- static
# Fully static binary with musl and a BearSSL built from source
# (BEARSSL_SRC=dir, or the Debian source package fetched by the script).
# Without BEARSSL_SRC it fetches the source package only where apt already
# has deb-src entries, or with LLMPROXY_ADD_DEB_SRC=1 through a private apt
# configuration in build-static/ (the host's apt sources are never changed).
BEARSSL_SRC =
static: llmproxy-static
llmproxy-static: $(SRCS) $(HDRS)
	@sh scripts/deps.sh static
	sh scripts/static.sh "$(BEARSSL_SRC)" $(SRCS)

# the binary, the man page and the example config (scripts/install.sh says
# which binary, and whether the target needs libbearssl)
install: llmproxy
	@DESTDIR="$(DESTDIR)" BINDIR="$(BINDIR)" MANDIR="$(MANDIR)" DOCDIR="$(DOCDIR)" \
	INSTALL_BIN="$(INSTALL_BIN)" sh scripts/install.sh install $(SRCS) $(HDRS)
uninstall:
	@DESTDIR="$(DESTDIR)" BINDIR="$(BINDIR)" MANDIR="$(MANDIR)" DOCDIR="$(DOCDIR)" \
	sh scripts/install.sh uninstall

clean:
	rm -rf build build-san build-fuzz build-static llmproxy llmproxy-static

.PHONY: all run unit readme-example integration check valgrind fuzz fuzz-run e2e bench bench-json static install clean \
        uninstall man-check config-check install-check service-check
