/*
 * bench_json.c - json_parse against cJSON_Parse, and the writer against
 * cJSON_PrintUnformatted (not part of the product; `make bench-json`).
 *
 *   bench_json [TWITTER_JSON]
 *
 * Documents:
 *   - a Chat Completions request of about 1 MB, generated here from a fixed
 *     seed (many messages, long strings with escapes, raw non-ASCII UTF-8
 *     and surrogate-pair escapes, content parts, tool definitions, tool
 *     calls whose arguments are JSON inside a string, tool results);
 *   - twitter.json, the classic JSON benchmark file (Twitter search API
 *     results, pretty-printed, CJK text): read from the Debian package
 *     golang-github-valyala-fastjson-dev, which ships it as test data
 *     (`scripts/deps.sh bench` installs it), or from the path given.
 *
 * Method: each round times our parser and cJSON on the same bytes, one
 * after the other (the order alternates between rounds), each for enough
 * iterations to take about BENCH_JSON_MS (default 150) milliseconds; the
 * figure is the median over BENCH_JSON_ROUNDS (default 9) rounds. Only the
 * parse call is timed: for us that includes the arena's block mallocs
 * (a fresh arena per parse, as per request in the proxy), for cJSON its
 * node mallocs; freeing the trees is not timed for either. Our arena
 * blocks come from the per-thread cache that px_arena_free() keeps, as
 * they do request after request in the proxy. Times are thread CPU time,
 * so that waiting for a core on a shared machine does not count
 * (BENCH_JSON_WALL=1: wall-clock time). Both
 * trees are checked to have the same number of values before anything is
 * timed.
 *
 * For profiling, BENCH_JSON_ONLY=ours-parse|cjson-parse|ours-write|
 * cjson-write runs that one operation on both documents for about
 * BENCH_JSON_MS * BENCH_JSON_ROUNDS milliseconds each, and prints nothing.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"

#define TWITTER_DEFAULT \
	"/usr/share/gocode/src/github.com/valyala/fastjson/testdata/twitter.json"
#define CHAT_TARGET   (1024 * 1024)

/* ------------------------------------------------------------ generator */

struct buf {
	char *p;
	size_t n, cap;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		while (b->n + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 4096;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

static void
puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void
putf(struct buf *b, const char *fmt, unsigned long long v)
{
	char t[256];
	int k;

	k = snprintf(t, sizeof(t), fmt, v);
	put(b, t, (size_t)k);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static unsigned
rnd(unsigned n)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)((rng >> 33) % n);
}

static const char *const words[] = {
	"the", "proxy", "request", "stream", "token", "model", "function",
	"value", "parse", "buffer", "latency", "upstream", "client", "JSON",
	"arena", "weather", "Paris", "temperature", "answer", "question",
	"a", "of", "to", "and", "is", "in", "that", "with", "for", "on",
	"configuration", "response", "message", "assistant", "system",
	"please", "explain", "why", "this", "code", "fails", "when", "input",
};
/* what English text carries besides ASCII words: accented loan words,
 * typographic punctuation, currency, emoji, quoted words */
static const char *const en_extra[] = {
	"caf\xC3\xA9", "na\xC3\xAFve", "r\xC3\xA9sum\xC3\xA9", "\xE2\x80\x94",
	"\xE2\x80\x9Cquoted\xE2\x80\x9D", "it\xE2\x80\x99s", "\xE2\x82\xAC" "12",
	"\xF0\x9F\x98\x80", "\xF0\x9F\x9A\x80", "\\\"quoted\\\"", "e.g.",
	"(see below)", "2024-08-06", "3.14",
};
/* CJK and Japanese, written without spaces */
static const char *const cjk[] = {
	"\xE4\xBD\xA0\xE5\xA5\xBD", "\xE4\xB8\x96\xE7\x95\x8C",
	"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", "\xE3\x81\xAE",
	"\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88",
	"\xE4\xB8\xAD\xE6\x96\x87", "\xE6\x95\xB0\xE6\x8D\xAE",
	"\xE6\xA8\xA1\xE5\x9E\x8B", "\xE8\xAF\xB7\xE6\xB1\x82",
	"\xE3\x80\x82", "\xEF\xBC\x8C", "JSON", "42",
};
static const char *const cyr[] = {
	"\xD0\xBF\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82", "\xD0\xBC\xD0\xB8\xD1\x80",
	"\xD0\xB7\xD0\xB0\xD0\xBF\xD1\x80\xD0\xBE\xD1\x81",
	"\xD0\xBC\xD0\xBE\xD0\xB4\xD0\xB5\xD0\xBB\xD1\x8C",
	"\xD0\xBE\xD1\x82\xD0\xB2\xD0\xB5\xD1\x82",
	"\xD0\xB4\xD0\xB0\xD0\xBD\xD0\xBD\xD1\x8B\xD0\xB5", "\xD0\xB8",
	"\xD0\xB2", "Gr\xC3\xB6\xC3\x9F" "e", "\xC3\xBC" "ber",
};
/* source code lines, already escaped for a JSON string literal */
static const char *const code[] = {
	"def parse(buf):\\n", "    if buf[0] == \\\"{\\\":\\n",
	"        return json.loads(buf)\\n",
	"\\tprintf(\\\"%d\\\\n\\\", x);\\n",
	"    path = \\\"C:\\\\\\\\Users\\\\\\\\dev\\\"\\n", "}\\n",
	"for (i = 0; i < n; i++) {\\n",
	"    // a comment with \\\"quotes\\\" and a tab\\there\\n",
	"const re = /\\\\d+\\\\/\\\\w*/g;\\n", "\\n",
};
/* text from clients that escape everything outside ASCII */
static const char *const uesc[] = {
	"\\u043f\\u0440\\u0438\\u0432\\u0435\\u0442", "\\u4f60\\u597d",
	"caf\\u00e9", "\\ud83d\\ude80", "\\u2014", "hello",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define PICK(a)  (a)[rnd(NELEM(a))]

/*
 * About len bytes of string-literal body made of paragraphs, each of one
 * kind: English prose (with the odd accented word, typographic quote or
 * emoji) 55%, a code block (escaped quotes, backslashes, newlines, tabs)
 * 20%, CJK 10%, Cyrillic 10%, \u-escaped text 5%. plain: English and
 * Cyrillic words only, one paragraph (text inside a JSON-in-a-string, e.g.
 * tool call arguments).
 */
static void
text(struct buf *b, size_t len, int plain)
{
	size_t start, pstart, plen;
	unsigned kind;

	start = b->n;
	while (b->n - start < len) {
		if (b->n > start)
			puts_(b, plain ? " " : "\\n\\n");
		kind = plain ? (rnd(10) < 8 ? 0 : 90) : rnd(100);
		pstart = b->n;
		plen = 60 + rnd(500);
		if (kind >= 55 && kind < 75)
			puts_(b, "```c\\n");
		while (b->n - pstart < plen) {
			if (kind < 55) {
				if (b->n > pstart)
					puts_(b, rnd(12) == 0 ? ". " : " ");
				puts_(b, rnd(25) == 0 ? PICK(en_extra)
				    : PICK(words));
			} else if (kind < 75) {
				puts_(b, PICK(code));
			} else if (kind < 85) {
				puts_(b, PICK(cjk));
			} else if (kind < 95) {
				if (b->n > pstart)
					puts_(b, " ");
				puts_(b, PICK(cyr));
			} else {
				if (b->n > pstart)
					puts_(b, " ");
				puts_(b, PICK(uesc));
			}
		}
		if (kind >= 55 && kind < 75)
			puts_(b, "```");
	}
}

static const char tools[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
    "\"description\":\"Get the current weather for a location.\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"location\":"
    "{\"type\":\"string\",\"description\":\"City and country, e.g. "
    "Paris, France\"},\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\","
    "\"fahrenheit\"]},\"days\":{\"type\":\"integer\",\"minimum\":1,"
    "\"maximum\":14}},\"required\":[\"location\"],"
    "\"additionalProperties\":false},\"strict\":true}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"search_docs\","
    "\"description\":\"Full-text search over the documentation.\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"query\":"
    "{\"type\":\"string\"},\"limit\":{\"type\":\"integer\",\"default\":10},"
    "\"filters\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}},"
    "\"required\":[\"query\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"run_code\","
    "\"description\":\"Run a snippet in a sandbox and return stdout.\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"language\":"
    "{\"type\":\"string\",\"enum\":[\"python\",\"c\",\"sh\"]},\"source\":"
    "{\"type\":\"string\"},\"timeout_ms\":{\"type\":\"number\"}},"
    "\"required\":[\"language\",\"source\"]}}}]";

static const char *const fnames[] = { "get_weather", "search_docs",
	"run_code" };

static void
tool_args(struct buf *b)
{
	puts_(b, "\"{\\\"location\\\":\\\"");
	text(b, 10 + rnd(30), 1);
	putf(b, "\\\",\\\"days\\\":%llu,\\\"query\\\":\\\"", 1 + rnd(14));
	text(b, 20 + rnd(300), 1);
	puts_(b, "\\\",\\\"filters\\\":[\\\"a\\\",\\\"b\\\"],\\\"strict\\\":true}\"");
}

/* The Chat Completions request: deterministic, about CHAT_TARGET bytes. */
static char *
gen_chat(size_t *n)
{
	struct buf b;
	unsigned turn, k, i, ncalls;

	memset(&b, 0, sizeof(b));
	puts_(&b, "{\"model\":\"gpt-4o-2024-08-06\",\"temperature\":0.7,"
	    "\"top_p\":0.95,\"max_tokens\":4096,\"n\":1,\"stream\":true,"
	    "\"stream_options\":{\"include_usage\":true},\"seed\":12345,"
	    "\"logit_bias\":{\"50256\":-100,\"198\":2.5},\"user\":\"user-1234\","
	    "\"tool_choice\":\"auto\",\"parallel_tool_calls\":true,\"tools\":");
	puts_(&b, tools);
	puts_(&b, ",\"messages\":[{\"role\":\"system\",\"content\":\"");
	text(&b, 2000, 0);
	puts_(&b, "\"}");
	for (turn = 0; b.n < CHAT_TARGET - 8000; turn++) {
		/* user: a plain string or content parts */
		if (rnd(2) == 0) {
			puts_(&b, ",{\"role\":\"user\",\"content\":\"");
			text(&b, 200 + rnd(3000), 0);
			puts_(&b, "\"}");
		} else {
			puts_(&b, ",{\"role\":\"user\",\"content\":[{\"type\":"
			    "\"text\",\"text\":\"");
			text(&b, 100 + rnd(1500), 0);
			putf(&b, "\"},{\"type\":\"image_url\",\"image_url\":"
			    "{\"url\":\"https://example.com/img/%llu.png\","
			    "\"detail\":\"auto\"}}]}", turn);
		}
		/* assistant: text, or tool calls and their results */
		if (rnd(5) < 2) {
			ncalls = 1 + rnd(3);
			puts_(&b, ",{\"role\":\"assistant\",\"content\":null,"
			    "\"tool_calls\":[");
			for (i = 0; i < ncalls; i++) {
				if (i > 0)
					puts_(&b, ",");
				putf(&b, "{\"id\":\"call_%06llu\",\"type\":"
				    "\"function\",\"function\":{\"name\":\"",
				    turn * 10 + i);
				k = rnd(NELEM(fnames));
				puts_(&b, fnames[k]);
				puts_(&b, "\",\"arguments\":");
				tool_args(&b);
				puts_(&b, "}}");
			}
			puts_(&b, "]}");
			for (i = 0; i < ncalls; i++) {
				putf(&b, ",{\"role\":\"tool\",\"tool_call_id\":"
				    "\"call_%06llu\",\"content\":\"{\\\"temp\\\":"
				    "21.5,\\\"ok\\\":true,\\\"items\\\":[1,2,3],"
				    "\\\"note\\\":\\\"", turn * 10 + i);
				text(&b, 50 + rnd(800), 1);
				puts_(&b, "\\\"}\"}");
			}
		} else {
			puts_(&b, ",{\"role\":\"assistant\",\"content\":\"");
			text(&b, 100 + rnd(2000), 0);
			putf(&b, "\",\"refusal\":null,\"name\":\"bot%llu\"}",
			    turn % 7);
		}
	}
	puts_(&b, "],\"metadata\":{\"session\":\"s-0001\",\"trace\":"
	    "\"0af7651916cd43dd8448eb211c80319c\"}}");
	*n = b.n;
	return b.p;
}

/* ------------------------------------------------------------ helpers */

static char *
slurp(const char *path, size_t *n)
{
	FILE *f;
	char *p;
	long len;

	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0
	    || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return NULL;
	}
	p = malloc((size_t)len + 1);
	if (p == NULL || fread(p, 1, (size_t)len, f) != (size_t)len) {
		free(p);
		fclose(f);
		return NULL;
	}
	p[len] = 0;
	fclose(f);
	*n = (size_t)len;
	return p;
}

/* Thread CPU time: the machine may be shared, and time spent waiting for
 * a core is not the parser's. BENCH_JSON_WALL=1 measures wall-clock time
 * instead (in a virtual machine, page faults may be handled outside the
 * guest's CPU accounting: only wall-clock time shows them). */
static clockid_t clk = CLOCK_THREAD_CPUTIME_ID;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t
count_ours(const struct json *v)
{
	const struct json *c;
	size_t k;

	k = 1;
	for (c = v->child; c != NULL; c = c->next)
		k += count_ours(c);
	return k;
}

static size_t
count_cjson(const cJSON *v)
{
	const cJSON *c;
	size_t k;

	k = 1;
	for (c = v->child; c != NULL; c = c->next)
		k += count_cjson(c);
	return k;
}

static int
cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ------------------------------------------------------------ timed ops */

enum op { OURS_PARSE, CJSON_PARSE, OURS_WRITE, CJSON_WRITE };

struct doc {
	const char *name;
	const char *src;
	size_t n;
	struct px_arena a;            /* our tree, for the writer */
	struct json *v;
	cJSON *c;
};

/* One run of op on d; returns the seconds the timed part took. */
static double
run_once(enum op op, struct doc *d)
{
	struct px_arena a;
	struct jw w;
	struct json *v;
	cJSON *c;
	char *s;
	double t0, t1;

	switch (op) {
	case OURS_PARSE:
		px_arena_init(&a, 0);
		t0 = now();
		v = json_parse(&a, d->src, d->n, 0, NULL);
		t1 = now();
		if (v == NULL)
			abort();
		px_arena_free(&a);
		return t1 - t0;
	case CJSON_PARSE:
		t0 = now();
		c = cJSON_ParseWithLength(d->src, d->n);
		t1 = now();
		if (c == NULL)
			abort();
		cJSON_Delete(c);
		return t1 - t0;
	case OURS_WRITE:
		px_arena_init(&a, 0);
		t0 = now();
		jw_init(&w, &a, 0);
		jw_value(&w, d->v);
		t1 = now();
		if (w.err)
			abort();
		px_arena_free(&a);
		return t1 - t0;
	case CJSON_WRITE:
		t0 = now();
		s = cJSON_PrintUnformatted(d->c);
		t1 = now();
		if (s == NULL)
			abort();
		cJSON_free(s);
		return t1 - t0;
	}
	return 0;
}

/* Seconds per op: iterations sized to about `ms` milliseconds. */
static double
sample(enum op op, struct doc *d, int iters)
{
	double t;
	int i;

	t = 0;
	for (i = 0; i < iters; i++)
		t += run_once(op, d);
	return t / iters;
}

static void
compare(const char *what, enum op ours, enum op theirs, struct doc *d,
    int rounds, double ms, const char *target)
{
	double to[64], tc[64], one, mo, mc;
	int r, io, ic;

	one = run_once(ours, d);
	io = (int)(ms / 1000 / (one > 0 ? one : 1e-6)) + 1;
	one = run_once(theirs, d);
	ic = (int)(ms / 1000 / (one > 0 ? one : 1e-6)) + 1;
	for (r = 0; r < rounds; r++) {
		if (r % 2 == 0) {
			to[r] = sample(ours, d, io);
			tc[r] = sample(theirs, d, ic);
		} else {
			tc[r] = sample(theirs, d, ic);
			to[r] = sample(ours, d, io);
		}
	}
	mo = median(to, rounds);
	mc = median(tc, rounds);
	printf("%-5s %-13s llmproxy %7.1f MB/s  cJSON %7.1f MB/s  = %.2fx%s%s\n",
	    what, d->name, (double)d->n / mo / 1e6, (double)d->n / mc / 1e6,
	    mc / mo, target != NULL ? " " : "", target != NULL ? target : "");
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct doc docs[2];
	struct json_err e;
	const char *tpath, *env;
	double ms, t0;
	size_t i, no, nc;
	int rounds;

	env = getenv("BENCH_JSON_ROUNDS");
	rounds = env != NULL ? atoi(env) : 9;
	if (rounds < 5)
		rounds = 5;
	if (rounds > 64)
		rounds = 64;
	env = getenv("BENCH_JSON_WALL");
	if (env != NULL && strcmp(env, "1") == 0)
		clk = CLOCK_MONOTONIC;
	env = getenv("BENCH_JSON_MS");
	ms = env != NULL ? atof(env) : 150;
	if (ms < 1)
		ms = 1;
	tpath = argc > 1 ? argv[1] : TWITTER_DEFAULT;

	memset(docs, 0, sizeof(docs));
	docs[0].name = "chat-request";
	docs[0].src = gen_chat(&docs[0].n);
	docs[1].name = "twitter.json";
	docs[1].src = slurp(tpath, &docs[1].n);
	if (docs[1].src == NULL) {
		fprintf(stderr, "bench_json: cannot read %s (install "
		    "golang-github-valyala-fastjson-dev: scripts/deps.sh "
		    "bench)\n", tpath);
		return 1;
	}
	for (i = 0; i < 2; i++) {
		px_arena_init(&docs[i].a, 0);
		docs[i].v = json_parse(&docs[i].a, docs[i].src, docs[i].n, 0, &e);
		if (docs[i].v == NULL) {
			fprintf(stderr, "bench_json: %s: json_parse: %s at %zu\n",
			    docs[i].name, e.msg, e.pos);
			return 1;
		}
		docs[i].c = cJSON_ParseWithLength(docs[i].src, docs[i].n);
		if (docs[i].c == NULL) {
			fprintf(stderr, "bench_json: %s: cJSON cannot parse it\n",
			    docs[i].name);
			return 1;
		}
		no = count_ours(docs[i].v);
		nc = count_cjson(docs[i].c);
		if (no != nc) {
			fprintf(stderr, "bench_json: %s: %zu values, cJSON %zu\n",
			    docs[i].name, no, nc);
			return 1;
		}
	}
	env = getenv("BENCH_JSON_ONLY");
	if (env != NULL) {
		static const char *const names[] = { "ours-parse",
			"cjson-parse", "ours-write", "cjson-write" };
		for (i = 0; i < 4 && strcmp(env, names[i]) != 0; i++)
			;
		if (i == 4) {
			fprintf(stderr, "bench_json: BENCH_JSON_ONLY=%s?\n", env);
			return 2;
		}
		for (no = 0; no < 2; no++)
			for (t0 = now(); now() - t0 < ms * rounds / 1000;)
				run_once((enum op)i, &docs[no]);
		return 0;
	}
	printf("chat-request: a Chat Completions request generated from a "
	    "fixed seed, %zu bytes\n", docs[0].n);
	printf("twitter.json: the classic benchmark file (Twitter search "
	    "API), %zu bytes, from %s\n", docs[1].n, tpath);
	printf("median of %d interleaved rounds of ~%.0f ms (%s); MB = 10^6 "
	    "bytes of the source document\n", rounds, ms,
	    clk == CLOCK_MONOTONIC ? "wall-clock time" : "thread CPU time");
	for (i = 0; i < 2; i++)
		compare("parse", OURS_PARSE, CJSON_PARSE, &docs[i], rounds, ms,
		    "(target >= 2x)");
	for (i = 0; i < 2; i++)
		compare("write", OURS_WRITE, CJSON_WRITE, &docs[i], rounds, ms,
		    NULL);
	for (i = 0; i < 2; i++) {
		cJSON_Delete(docs[i].c);
		px_arena_free(&docs[i].a);
	}
	free((char *)docs[0].src);
	free((char *)docs[1].src);
	return 0;
}
