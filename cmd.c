/*
 * cmd.c - the command line: `llmproxy [-c FILE] [-l ADDR] [-v]` runs the
 * server (proxy.c); the subcommands (check-config, convert) run here and
 * exit. Commands may block: none of this runs on the server's loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "account.h"
#include "config.h"
#include "convert.h"
#include "json.h"
#include "keys.h"
#include "login.h"
#include "proxy.h"
#include "sse.h"
#include "store.h"
#include "usage.h"


/* The environment variables, from config.c's table. */
static void
env_usage(FILE *f)
{
	static const char *const head[] = {
		"Environment, without -c (set at least one provider variable):",
		"Environment, without -c:",
		"Environment, always:",
		"Environment, login and accounts commands:"
	};
	const struct px_envvar *v;
	int g;

	for (g = PX_ENV_PROVIDER; g <= PX_ENV_LOGIN; g++) {
		fprintf(f, "\n%s\n", head[g]);
		for (v = px_env_vars; v->name != NULL; v++)
			if (v->group == g)
				fprintf(f, "  %-20s %s\n", v->name, v->what);
	}
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: llmproxy [-c FILE] [-l ADDR:PORT] [-v]\n"
	    "       llmproxy check-config -c FILE\n"
	    "       llmproxy convert --from FMT --to FMT [--stream] [--response] < in > out\n"
	    "       llmproxy login claude|codex|gemini|copilot [--name LABEL] [--no-browser]\n"
	    "       llmproxy accounts list|remove LABEL|import KIND\n"
	    "       llmproxy --help | --version\n"
	    "\n"
	    "Any LLM client, any LLM provider: accepts OpenAI Chat Completions,\n"
	    "OpenAI Responses, Anthropic Messages and Gemini requests and forwards\n"
	    "them to OpenAI-compatible, Anthropic or Gemini upstreams, converting\n"
	    "requests, responses and SSE streams.\n"
	    "\n"
	    "  -c FILE       JSON config (comments allowed); without it, providers\n"
	    "                come from OPENAI_API_KEY / ANTHROPIC_API_KEY / GEMINI_API_KEY\n"
	    "  -l ADDR:PORT  listen address (default " PX_LISTEN_DEFAULT ")\n"
	    "  -v            log each connection step\n"
	    "  FMT           chat | responses | anthropic | gemini\n"
	    "                (--from also: completions, the legacy text format;\n"
	    "                --to completions converts responses and streams)\n");
	env_usage(f);
}

static char *
read_all(FILE *f, size_t *n)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	size_t r;

	if (!buf)
		return NULL;
	while ((r = fread(buf + len, 1, cap - len, f)) > 0) {
		len += r;
		if (len == cap) {
			char *p;
			if (cap > (size_t)1 << 30) {
				free(buf);
				return NULL;
			}
			p = realloc(buf, cap * 2);
			if (!p) {
				free(buf);
				return NULL;
			}
			buf = p;
			cap *= 2;
		}
	}
	*n = len;
	return buf;
}

/* llmproxy convert: the conversion core on stdin/stdout. */
static int
cmd_convert(int argc, char **argv)
{
	enum px_fmt from = PX_FMT_COUNT, to = PX_FMT_COUNT;
	int stream = 0, response = 0, i, rc = 1;
	struct px_arena a;
	struct jw w;
	struct px_err err;
	size_t n;
	char *in;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
			if (!px_fmt_parse(argv[i + 1], strlen(argv[i + 1]), &from))
				goto bad;
			i++;
		} else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc) {
			if (!px_fmt_parse(argv[i + 1], strlen(argv[i + 1]), &to))
				goto bad;
			i++;
		} else if (strcmp(argv[i], "--stream") == 0) {
			stream = 1;
		} else if (strcmp(argv[i], "--response") == 0) {
			response = 1;
		} else {
			goto bad;
		}
	}
	if (from == PX_FMT_COUNT || to == PX_FMT_COUNT)
		goto bad;
	in = read_all(stdin, &n);
	if (!in) {
		fprintf(stderr, "llmproxy convert: cannot read input\n");
		return 1;
	}
	px_arena_init(&a, 0);
	jw_init(&w, &a, (size_t)1 << 31);
	if (!response) {
		struct ir_request req;
		if (px_decode_request(from, &a, in, n, &req, &err) < 0 ||
		    px_encode_request(to, &req, req.model, &w, &err) < 0) {
			fprintf(stderr, "llmproxy convert: %s\n", err.msg);
			goto out;
		}
		fwrite(w.buf, 1, w.len, stdout);
		fputc('\n', stdout);
		rc = 0;
	} else if (!stream) {
		struct ir_response resp;
		struct ir_request req;
		memset(&req, 0, sizeof req);
		req.fmt = to;
		req.max_tokens = -1;
		req.n = -1;
		if (px_decode_response(from, &a, in, n, &resp, &err) < 0) {
			fprintf(stderr, "llmproxy convert: %s\n", err.msg);
			goto out;
		}
		req.model = resp.model;
		if (px_encode_response(to, &req, &resp, &w, &err) < 0) {
			fprintf(stderr, "llmproxy convert: %s\n", err.msg);
			goto out;
		}
		fwrite(w.buf, 1, w.len, stdout);
		fputc('\n', stdout);
		rc = 0;
	} else {
		struct ir_request req;
		struct px_stream *s;
		struct sse_parser sp;
		struct sse_event ev;
		const char *p = in;
		size_t left = n;
		int got, clean;

		memset(&req, 0, sizeof req);
		req.fmt = to;
		req.stream = 1;
		req.include_usage = 1;
		req.max_tokens = -1;
		req.n = -1;
		req.model = (struct px_str){ "model", 5 };
		s = px_stream_new(&a, from, to, &req);
		if (!s) {
			fprintf(stderr, "llmproxy convert: cannot convert a %s "
			    "stream\n", px_fmt_name(from));
			goto out;
		}
		sse_init(&sp);
		px_stream_begin(s, &w);
		while (left > 0) {
			long k = sse_feed(&sp, p, left, &ev, &got);
			if (k < 0)
				break;
			p += k;
			left -= (size_t)k;
			if (!got)
				break;
			px_stream_feed(s, &ev, &w);
		}
		if (sse_finish(&sp, &ev))
			px_stream_feed(s, &ev, &w);
		clean = px_stream_end(s, &w);
		sse_free(&sp);
		fwrite(w.buf, 1, w.len, stdout);
		rc = clean ? 0 : 3;
	}
out:
	px_arena_free(&a);
	free(in);
	return rc;
bad:
	usage(stderr);
	return 2;
}

/* Last use of each key, from the usage records (for `keys list`). */
struct last_use {
	char name[AUTH_NAME_MAX];
	long long t_ms;
};
struct last_uses {
	struct last_use v[KEYS_MAX];
	size_t n;
};

static int
last_use_rec(void *ctx, int type, const char *body, size_t n, size_t rb)
{
	struct last_uses *lu = ctx;
	struct px_usage_rec r;
	size_t i;

	(void)rb;
	if (type != PX_USAGE_REC_RAW ||
	    px_usage_decode((const unsigned char *)body, n, &r) < 0 ||
	    r.key.n == 0 || r.key.n >= AUTH_NAME_MAX)
		return 0;
	for (i = 0; i < lu->n; i++)
		if (strlen(lu->v[i].name) == r.key.n &&
		    memcmp(lu->v[i].name, r.key.p, r.key.n) == 0)
			break;
	if (i == lu->n) {
		if (lu->n == KEYS_MAX)
			return 0;
		memcpy(lu->v[i].name, r.key.p, r.key.n);
		lu->v[i].name[r.key.n] = 0;
		lu->v[i].t_ms = 0;
		lu->n++;
	}
	if (r.t_ms > lu->v[i].t_ms)
		lu->v[i].t_ms = r.t_ms;
	return 0;
}

static long long
last_used(void *ctx, const char *name)
{
	const struct last_uses *lu = ctx;
	size_t i;

	for (i = 0; i < lu->n; i++)
		if (strcmp(lu->v[i].name, name) == 0)
			return lu->v[i].t_ms / 1000;
	return 0;
}

/*
 * `llmproxy keys ...` and `llmproxy usage ...` work on the state directory
 * without a running proxy: -c FILE names the config whose state_dir to
 * use (else $LLMPROXY_STATE_DIR and the defaults, see store.h). The -c
 * pair is taken out before the subcommand sees its arguments.
 */
static int
cmd_state(int argc, char **argv)
{
	struct px_config *c = NULL;
	char dir[PX_STATE_DIR_MAX], err[4096];
	const char *cfile = NULL;
	char **av;
	int i, n = 0, rc;

	av = calloc((size_t)argc + 1, sizeof *av);
	if (av == NULL)
		return 1;
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			cfile = argv[++i];
			continue;
		}
		av[n++] = argv[i];
	}
	if (cfile) {
		c = px_config_new();
		if (c == NULL || px_config_load(c, cfile, err, sizeof err) < 0) {
			fprintf(stderr, "%s\n", c ? err : "out of memory");
			px_config_free(c);
			free(av);
			return 1;
		}
	}
	if (px_state_dir(c && c->state_dir[0] ? c->state_dir : NULL, dir,
	    sizeof dir, NULL, err, sizeof err) < 0) {
		fprintf(stderr, "llmproxy %s: %s\n", argv[0], err);
		px_config_free(c);
		free(av);
		return 1;
	}
	if (strcmp(argv[0], "keys") == 0) {
		struct keys_hooks h;
		struct last_uses *lu = calloc(1, sizeof *lu);
		char path[PX_STATE_DIR_MAX + 32];

		memset(&h, 0, sizeof h);
		if (lu) {
			struct px_journal_stats js;
			snprintf(path, sizeof path, "%s/%s", dir, PX_USAGE_FILE);
			px_journal_read(path, PX_USAGE_MAGIC, PX_USAGE_REC_MAX, 0,
			    last_use_rec, lu, &js, err, sizeof err);
			h.last_used = last_used;
			h.ctx = lu;
		}
		rc = px_keys_cmd_ex(n, av, dir, stdout, stderr, &h);
		free(lu);
	}
	else
		rc = px_usage_cmd(n, av, dir, (long long)time(NULL) * 1000,
		    stdout, stderr);
	px_config_free(c);
	free(av);
	return rc;
}

int
main(int argc, char **argv)
{
	struct px_config *config;
	const char *cfile = NULL, *listen_arg = NULL;
	char err[8192], lbuf[sizeof ((struct px_config *)0)->listen];
	int i, check_only = 0, verbose = 0, rc;

	if (argc > 1 && strcmp(argv[1], "convert") == 0)
		return cmd_convert(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "login") == 0)
		return px_login_cmd(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "accounts") == 0)
		return px_accounts_cmd(argc - 1, argv + 1);
	if (argc > 1 && (strcmp(argv[1], "keys") == 0 ||
	    strcmp(argv[1], "usage") == 0))
		return cmd_state(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "check-config") == 0) {
		check_only = 1;
		argv++;
		argc--;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			cfile = argv[++i];
		} else if (strcmp(argv[i], "-l") == 0 && i + 1 < argc) {
			listen_arg = argv[++i];
		} else if (strcmp(argv[i], "-v") == 0) {
			verbose = 1;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("llmproxy %s\n", LLMPROXY_VERSION);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	config = px_config_new();
	if (config == NULL) {
		fprintf(stderr, "llmproxy: out of memory\n");
		return 1;
	}
	if (cfile)
		rc = px_config_load(config, cfile, err, sizeof err);
	else
		rc = px_config_from_env(config, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "%s%s\n", cfile ? "" : "llmproxy: ", err);
		if (check_only && config->nerrors > 1)
			fprintf(stderr, "%d errors\n", config->nerrors);
		px_config_free(config);
		return 1;
	}
	/* account providers: their credentials are the stored accounts
	 * (check-config checks the file alone: it neither needs nor creates
	 * a state directory) */
	if (check_only)
		err[0] = 0;
	else if (px_acct_bind(config, err, sizeof err) < 0) {
		fprintf(stderr, "llmproxy: %s\n", err);
		px_config_free(config);
		return 1;
	} else if (err[0]) {
		fprintf(stderr, "llmproxy: %s\n", err);
	}
	if (listen_arg) {
		if (px_listen_normalize(listen_arg, lbuf, sizeof lbuf, err,
		    sizeof err) < 0) {
			fprintf(stderr, "llmproxy: -l %s: %s\n", listen_arg, err);
			px_config_free(config);
			return 2;
		}
		snprintf(config->listen, sizeof config->listen, "%s", lbuf);
	}
	if (config->nkeys == 0 && !config->allow_open &&
	    !px_listen_is_loopback(config->listen)) {
		fprintf(stderr, "llmproxy: refusing to listen on %s (not a "
		    "loopback address) without client keys: %s\n",
		    config->listen, cfile ? "add \"api_keys\", or set "
		    "\"allow_open\": true to serve anyone who can reach it" :
		    "set LLMPROXY_API_KEYS=key1,key2, or LLMPROXY_ALLOW_OPEN=1 "
		    "to serve anyone who can reach it");
		px_config_free(config);
		return 1;
	}
	if (check_only) {
		px_config_print(config, stdout);
		printf("config OK\n");
		px_config_free(config);
		return 0;
	}
	rc = px_serve(config, cfile, verbose);
	px_config_free(config);
	return rc;
}
