/*
 * metrics.c - a small Prometheus registry and the proxy's metrics.
 *
 * Each metric (family) keeps its series in creation order plus an
 * open-addressing table of indices keyed by a hash of the label values, so
 * met_get() is a hash and (almost always) one comparison, and rendering is
 * deterministic. A series is one malloc holding the struct, the histogram
 * buckets and the packed label values; it is created on first use and
 * lives until met_free(). The table never deletes, so it needs no
 * tombstones.
 *
 * Label values are cleaned before hashing (truncated at a character
 * boundary, invalid UTF-8 and control bytes other than '\n' replaced by
 * '?'), so the same raw value always finds the same series, and the text
 * we emit is valid UTF-8 whatever a client sent. The exposition escapes
 * only what the format demands: '\\', '"' and '\n' in label values, '\\'
 * and '\n' in HELP.
 *
 * Numbers are written as Prometheus parses them: integers without a
 * fraction ("3", not "3.000000"), other values in the shortest form that
 * reads back to the same double, +Inf/-Inf/NaN spelled as the format
 * wants. Histogram buckets are stored per bucket and made cumulative while
 * rendering, so an observation touches one bucket.
 *
 * When a metric reaches its cap, further label combinations go to one
 * series whose values are all "other", and the registry's own counter
 * <prefix>metric_series_folded_total{metric="..."} counts each folded
 * lookup: the totals stay right, only the detail is lost, and the loss is
 * visible.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define FOLD_VALUE "other"

struct met_family {
	struct met_registry *reg;
	enum met_type type;
	char *name, *help;
	char *lnames[MET_LABELS_MAX];
	int nl;
	double bounds[MET_BUCKETS_MAX];
	int nb;
	size_t max, n;
	struct met_series **ser;      /* n series, creation order */
	unsigned *tab;                /* series index + 1; 0 = empty */
	size_t tabmask;
	struct met_series *fold;      /* the "other" series */
	struct met_series *folded;    /* the registry's counter for this one */
};

struct met_registry {
	struct met_family *fam[MET_FAMILIES_MAX];
	int n;
	struct met_family *foldfam;
};

/* For met_get(NULL, ...): written to, never rendered. */
static struct met_series sink;

/* ------------------------------------------------------------ values */

/* Length of the valid UTF-8 sequence at s[0..n), 0 when invalid. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t k, i;
	unsigned lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		k = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;    /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		k = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;    /* <= U+10FFFF */
	} else
		return 0;
	if (n < k)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < k; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return k;
}

/* Clean s[0..n) into out[MET_VALUE_MAX]; returns the length. */
static size_t
clean(const char *s, size_t n, char *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, k;

	while (i < n) {
		if (p[i] >= 0x20 && p[i] < 0x7f) {
			if (o + 1 >= MET_VALUE_MAX)
				break;
			out[o++] = (char)p[i++];
			continue;
		}
		k = p[i] == '\n' ? 1 : p[i] < 0x80 ? 0 : utf8_len(p + i, n - i);
		if (k == 0) {
			if (o + 1 >= MET_VALUE_MAX)
				break;
			out[o++] = '?';
			i++;
			continue;
		}
		if (o + k >= MET_VALUE_MAX)
			break;            /* never cut a character */
		memcpy(out + o, p + i, k);
		o += k;
		i += k;
	}
	out[o] = 0;
	return o;
}

static unsigned
fnv(unsigned h, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return (h ^ 0xffu) * 16777619u;   /* separator: "a","bc" != "ab","c" */
}

/* ------------------------------------------------------------ registry */

static int
name_ok(const char *s, int colon)
{
	size_t i;
	char c;

	if (s == NULL || s[0] == 0)
		return 0;
	for (i = 0; (c = s[i]) != 0; i++) {
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (colon && c == ':'))
			continue;
		if (i > 0 && c >= '0' && c <= '9')
			continue;
		return 0;
	}
	return 1;
}

static char *
dup(const char *s)
{
	size_t n = strlen(s);
	char *d = malloc(n + 1);

	if (d)
		memcpy(d, s, n + 1);
	return d;
}

static void
free_family(struct met_family *f)
{
	size_t i;
	int j;

	if (f == NULL)
		return;
	for (i = 0; i < f->n; i++)
		free(f->ser[i]);
	free(f->fold);
	free(f->ser);
	free(f->tab);
	for (j = 0; j < f->nl; j++)
		free(f->lnames[j]);
	free(f->name);
	free(f->help);
	free(f);
}

/* A series with these (clean) values, not yet in any table. */
static struct met_series *
new_series(const struct met_family *f, char vals[][MET_VALUE_MAX],
    const size_t *lens, unsigned hash)
{
	struct met_series *s;
	size_t nb = f->type == MET_HISTOGRAM ? (size_t)f->nb + 1 : 0;
	size_t ltot = 0, off;
	char *p;
	int i;

	for (i = 0; i < f->nl; i++)
		ltot += lens[i] + 1;
	s = calloc(1, sizeof *s + nb * sizeof(unsigned long long) + ltot + 1);
	if (s == NULL)
		return NULL;
	if (nb) {
		s->b = (unsigned long long *)(s + 1);
		s->bounds = f->bounds;
		s->nb = f->nb;
	}
	p = (char *)(s + 1) + nb * sizeof(unsigned long long);
	for (i = 0, off = 0; i < f->nl; i++) {
		memcpy(p + off, vals[i], lens[i] + 1);
		off += lens[i] + 1;
	}
	s->labels = p;
	s->hash = hash;
	s->shown = 1;
	return s;
}

static struct met_family *
reg(struct met_registry *r, enum met_type type, const char *name,
    const char *help, const char *const *labels, const double *bounds,
    int nb, size_t max_series)
{
	struct met_family *f;
	char other[MET_LABELS_MAX][MET_VALUE_MAX];
	size_t olen[MET_LABELS_MAX], tabsz;
	unsigned h = 2166136261u;
	int i, j;

	if (r == NULL || r->n >= MET_FAMILIES_MAX || !name_ok(name, 1) ||
	    help == NULL || strchr(help, '\n') != NULL || nb < 0 ||
	    nb > MET_BUCKETS_MAX || (nb > 0 && bounds == NULL))
		return NULL;
	for (i = 0; i < r->n; i++)
		if (strcmp(r->fam[i]->name, name) == 0)
			return NULL;
	for (i = 0; i < nb; i++)
		if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
			return NULL;
	if ((f = calloc(1, sizeof *f)) == NULL)
		return NULL;
	f->reg = r;
	f->type = type;
	f->max = max_series ? max_series : MET_SERIES_DEFAULT;
	if ((f->name = dup(name)) == NULL || (f->help = dup(help)) == NULL)
		goto fail;
	for (i = 0; labels != NULL && labels[i] != NULL; i++) {
		if (i >= MET_LABELS_MAX || !name_ok(labels[i], 0) ||
		    strncmp(labels[i], "__", 2) == 0 ||
		    (type == MET_HISTOGRAM && strcmp(labels[i], "le") == 0))
			goto fail;
		for (j = 0; j < i; j++)
			if (strcmp(labels[i], labels[j]) == 0)
				goto fail;
		if ((f->lnames[i] = dup(labels[i])) == NULL)
			goto fail;
		f->nl = i + 1;
	}
	if (nb > 0)
		memcpy(f->bounds, bounds, (size_t)nb * sizeof *bounds);
	f->nb = nb;
	if (f->nl == 0)
		f->max = 1;
	for (tabsz = 4; tabsz < 2 * f->max; tabsz *= 2)
		;
	f->tab = calloc(tabsz, sizeof *f->tab);
	f->ser = calloc(f->max, sizeof *f->ser);
	if (f->tab == NULL || f->ser == NULL)
		goto fail;
	f->tabmask = tabsz - 1;
	for (i = 0; i < f->nl; i++) {
		olen[i] = clean(FOLD_VALUE, strlen(FOLD_VALUE), other[i]);
		h = fnv(h, other[i], olen[i]);
	}
	if (f->nl > 0) {
		if ((f->fold = new_series(f, other, olen, h)) == NULL)
			goto fail;
		f->fold->shown = 0;
	}
	r->fam[r->n++] = f;
	if (f->nl == 0 && met_get(f, NULL, NULL) == &sink)
		goto fail_registered;
	if (r->foldfam != NULL && f->nl > 0) {
		const char *v[1];
		v[0] = name;
		f->folded = met_get(r->foldfam, v, NULL);
		if (f->folded == r->foldfam->fold)
			goto fail_registered;
		f->folded->shown = 0;
	}
	return f;
fail_registered:
	r->n--;
fail:
	free_family(f);
	return NULL;
}

/* see metrics.h */
struct met_registry *
met_new(const char *prefix)
{
	static const char *const lab[] = { "metric", NULL };
	struct met_registry *r = calloc(1, sizeof *r);
	char name[128];

	if (r == NULL)
		return NULL;
	snprintf(name, sizeof name, "%smetric_series_folded_total",
	    prefix ? prefix : "");
	r->foldfam = reg(r, MET_COUNTER, name, "Lookups folded into the "
	    "\"other\" series because the metric reached its series cap",
	    lab, NULL, 0, MET_FAMILIES_MAX);
	if (r->foldfam == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

/* see metrics.h */
void
met_free(struct met_registry *r)
{
	int i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++)
		free_family(r->fam[i]);
	free(r);
}

/* see metrics.h */
struct met_family *
met_counter(struct met_registry *r, const char *name, const char *help,
    const char *const *labels, size_t max_series)
{
	return reg(r, MET_COUNTER, name, help, labels, NULL, 0, max_series);
}

/* see metrics.h */
struct met_family *
met_gauge(struct met_registry *r, const char *name, const char *help,
    const char *const *labels, size_t max_series)
{
	return reg(r, MET_GAUGE, name, help, labels, NULL, 0, max_series);
}

/* see metrics.h */
struct met_family *
met_histogram(struct met_registry *r, const char *name, const char *help,
    const char *const *labels, const double *bounds, int nbounds,
    size_t max_series)
{
	return reg(r, MET_HISTOGRAM, name, help, labels, bounds, nbounds,
	    max_series);
}

static int
same(const struct met_series *s, int nl, char vals[][MET_VALUE_MAX],
    const size_t *lens)
{
	const char *p = s->labels;
	int i;

	for (i = 0; i < nl; i++) {
		if (memcmp(p, vals[i], lens[i] + 1) != 0)
			return 0;
		p += lens[i] + 1;
	}
	return 1;
}

/* The series with these clean values, or NULL; *slot gets the free table
 * slot where it would go. */
static struct met_series *
lookup(const struct met_family *f, char vals[][MET_VALUE_MAX],
    const size_t *lens, unsigned h, size_t *slot)
{
	struct met_series *s;
	size_t i;
	unsigned idx;

	for (i = h & f->tabmask; (idx = f->tab[i]) != 0;
	    i = (i + 1) & f->tabmask) {
		s = f->ser[idx - 1];
		if (s->hash == h && same(s, f->nl, vals, lens))
			return s;
	}
	*slot = i;
	return NULL;
}

/* Past the cap: the "other" series. A real series whose values are all
 * "other" (made before the cap) is that series, so the output never has
 * the same labels twice. */
static struct met_series *
fold(struct met_family *f)
{
	char v[MET_LABELS_MAX][MET_VALUE_MAX];
	size_t vl[MET_LABELS_MAX], slot;
	struct met_series *s;
	int j;

	for (j = 0; j < f->nl; j++)
		vl[j] = clean(FOLD_VALUE, strlen(FOLD_VALUE), v[j]);
	if ((s = lookup(f, v, vl, f->fold->hash, &slot)) == NULL) {
		s = f->fold;
		s->shown = 1;
	}
	if (f->folded != NULL) {
		f->folded->shown = 1;
		met_inc(f->folded);
	}
	return s;
}

/* see metrics.h */
struct met_series *
met_get(struct met_family *f, const char *const *vals, const size_t *lens)
{
	char v[MET_LABELS_MAX][MET_VALUE_MAX];
	size_t vl[MET_LABELS_MAX], i;
	unsigned h = 2166136261u;
	struct met_series *s;
	int j;

	if (f == NULL)
		return &sink;
	for (j = 0; j < f->nl; j++) {
		const char *x = vals ? vals[j] : NULL;
		size_t n = x == NULL ? 0 : lens ? lens[j] : strlen(x);
		vl[j] = clean(x ? x : "", n, v[j]);
		h = fnv(h, v[j], vl[j]);
	}
	if ((s = lookup(f, v, vl, h, &i)) != NULL)
		return s;
	if (f->n >= f->max || (s = new_series(f, v, vl, h)) == NULL)
		return f->fold ? fold(f) : &sink;
	f->ser[f->n++] = s;
	f->tab[i] = (unsigned)f->n;
	return s;
}

/* see metrics.h */
void
met_observe(struct met_series *s, double v)
{
	int i;

	if (v != v || s->b == NULL)
		return;
	for (i = 0; i < s->nb && v > s->bounds[i]; i++)
		;
	s->b[i]++;
	s->n++;
	s->v += v;
}

/* ------------------------------------------------------------ rendering */

struct out {
	char *buf;
	size_t cap, len;
};

static void
put(struct out *o, const char *s, size_t n)
{
	size_t room;

	if (o->cap > 0 && o->len < o->cap - 1) {
		room = o->cap - 1 - o->len;
		memcpy(o->buf + o->len, s, n < room ? n : room);
	}
	o->len += n;
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void
put_num(struct out *o, double v)
{
	static const char *const fmt[] = { "%.15g", "%.16g", "%.17g" };
	char b[40];
	size_t i;

	if (v != v) {
		puts_(o, "NaN");
		return;
	}
	if (isinf(v)) {
		puts_(o, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == 0) {
		puts_(o, "0");
		return;
	}
	if (v > -1e15 && v < 1e15 && v == (double)(long long)v) {
		snprintf(b, sizeof b, "%.0f", v);
	} else {
		for (i = 0; i < 3; i++) {
			snprintf(b, sizeof b, fmt[i], v);
			if (strtod(b, NULL) == v)
				break;
		}
	}
	puts_(o, b);
}

static void
put_u64(struct out *o, unsigned long long v)
{
	char b[24];

	snprintf(b, sizeof b, "%llu", v);
	puts_(o, b);
}

/* Escape for a label value ('\\', '"', '\n') or HELP ('\\', '\n'). */
static void
put_esc(struct out *o, const char *s, int quote)
{
	const char *run = s;

	for (; *s; s++) {
		if (*s != '\\' && *s != '\n' && !(quote && *s == '"'))
			continue;
		put(o, run, (size_t)(s - run));
		put(o, *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : "\\\"", 2);
		run = s + 1;
	}
	put(o, run, (size_t)(s - run));
}

/* {a="x",b="y"[,le="..."]}, nothing when there are no labels */
static void
put_labels(struct out *o, const struct met_family *f,
    const struct met_series *s, const char *le)
{
	const char *p = s->labels;
	int i;

	if (f->nl == 0 && le == NULL)
		return;
	put(o, "{", 1);
	for (i = 0; i < f->nl; i++) {
		if (i)
			put(o, ",", 1);
		puts_(o, f->lnames[i]);
		put(o, "=\"", 2);
		put_esc(o, p, 1);
		put(o, "\"", 1);
		p += strlen(p) + 1;
	}
	if (le != NULL) {
		if (f->nl)
			put(o, ",", 1);
		put(o, "le=\"", 4);
		puts_(o, le);
		put(o, "\"", 1);
	}
	put(o, "}", 1);
}

static void
put_series(struct out *o, const struct met_family *f,
    const struct met_series *s)
{
	struct out nb;
	char le[40];
	unsigned long long cum = 0;
	int i;

	if (f->type != MET_HISTOGRAM) {
		puts_(o, f->name);
		put_labels(o, f, s, NULL);
		put(o, " ", 1);
		put_num(o, s->v);
		put(o, "\n", 1);
		return;
	}
	for (i = 0; i <= f->nb; i++) {
		cum += s->b[i];
		if (i < f->nb) {
			nb.buf = le;
			nb.cap = sizeof le;
			nb.len = 0;
			put_num(&nb, f->bounds[i]);
			le[nb.len < sizeof le ? nb.len : sizeof le - 1] = 0;
		} else
			snprintf(le, sizeof le, "+Inf");
		puts_(o, f->name);
		puts_(o, "_bucket");
		put_labels(o, f, s, le);
		put(o, " ", 1);
		put_u64(o, cum);
		put(o, "\n", 1);
	}
	puts_(o, f->name);
	puts_(o, "_sum");
	put_labels(o, f, s, NULL);
	put(o, " ", 1);
	put_num(o, s->v);
	put(o, "\n", 1);
	puts_(o, f->name);
	puts_(o, "_count");
	put_labels(o, f, s, NULL);
	put(o, " ", 1);
	put_u64(o, s->n);
	put(o, "\n", 1);
}

/* see metrics.h */
size_t
met_render(const struct met_registry *r, char *buf, size_t cap)
{
	static const char *const tn[] = { "counter", "gauge", "histogram" };
	struct out o = { buf, cap, 0 };
	const struct met_family *f;
	size_t i, shown;
	int k;

	for (k = 0; r != NULL && k < r->n; k++) {
		f = r->fam[k];
		for (i = 0, shown = 0; i < f->n; i++)
			shown += f->ser[i]->shown != 0;
		if (f->fold && f->fold->shown)
			shown++;
		if (shown == 0)
			continue;
		puts_(&o, "# HELP ");
		puts_(&o, f->name);
		put(&o, " ", 1);
		put_esc(&o, f->help, 0);
		puts_(&o, "\n# TYPE ");
		puts_(&o, f->name);
		put(&o, " ", 1);
		puts_(&o, tn[f->type]);
		put(&o, "\n", 1);
		for (i = 0; i < f->n; i++)
			if (f->ser[i]->shown)
				put_series(&o, f, f->ser[i]);
		if (f->fold && f->fold->shown)
			put_series(&o, f, f->fold);
	}
	if (cap > 0)
		buf[o.len < cap ? o.len : cap - 1] = 0;
	return o.len;
}

/* ------------------------------------------------------------ the proxy's */

/* Latency buckets (seconds): from a fast cached answer to a long
 * reasoning stream. */
static const double lat_bounds[] = {
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600
};
/* The proxy's own time: conversion and queuing, sub-millisecond when all
 * is well. */
static const double own_bounds[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 1
};
#define NB(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* see metrics.h */
int
px_metrics_init(struct px_metrics *m, const char *version, double start)
{
	static const char *const req_l[] = { "client_format", "model",
	    "provider", "status_class", NULL };
	static const char *const tok_l[] = { "provider", "model", "direction",
	    NULL };
	static const char *const pm_l[] = { "provider", "model", NULL };
	static const char *const fp_l[] = { "client_format", "provider", NULL };
	static const char *const f_l[] = { "client_format", NULL };
	static const char *const p_l[] = { "provider", NULL };
	static const char *const pr_l[] = { "provider", "reason", NULL };
	static const char *const cred_l[] = { "provider", "credential",
	    "state", NULL };
	static const char *const rl_l[] = { "key", "limit", NULL };
	static const char *const v_l[] = { "version", NULL };
	static const char *const res_l[] = { "result", NULL };
	static const char *const why_l[] = { "reason", NULL };
	struct met_registry *r;
	const char *v[1];

	memset(m, 0, sizeof *m);
	if ((r = m->reg = met_new("llmproxy_")) == NULL)
		return -1;
	m->requests = met_counter(r, "llmproxy_requests_total",
	    "Requests answered, by client format, requested model, provider "
	    "and status class", req_l, 1000);
	m->tokens = met_counter(r, "llmproxy_tokens_total",
	    "Tokens reported by upstreams, by provider, model and direction "
	    "(input, output)", tok_l, 1000);
	m->cost = met_counter(r, "llmproxy_cost_usd_total",
	    "Cost of answered requests in US dollars, from the price table",
	    pm_l, 500);
	m->unpriced = met_counter(r, "llmproxy_unpriced_requests_total",
	    "Requests whose cost is unknown (no price for the model)", pm_l,
	    500);
	m->duration = met_histogram(r, "llmproxy_request_duration_seconds",
	    "Time from request received to the last byte answered", fp_l,
	    lat_bounds, NB(lat_bounds), 100);
	m->ttfb = met_histogram(r, "llmproxy_time_to_first_byte_seconds",
	    "Time from request received to the first byte of the answer", fp_l,
	    lat_bounds, NB(lat_bounds), 100);
	m->overhead = met_histogram(r, "llmproxy_overhead_seconds",
	    "Time the proxy itself added to a request (total minus time spent "
	    "waiting on upstreams)", f_l, own_bounds, NB(own_bounds), 20);
	m->streams_open = met_gauge(r, "llmproxy_streams_open",
	    "Streamed answers in progress", NULL, 0);
	m->attempts = met_counter(r, "llmproxy_upstream_attempts_total",
	    "Requests sent to upstreams, fallbacks and retries included", p_l,
	    200);
	m->failures = met_counter(r, "llmproxy_upstream_failures_total",
	    "Upstream attempts that failed, by reason", pr_l, 500);
	m->cred_state = met_gauge(r, "llmproxy_credential_state",
	    "Upstream credential state: 1 for the current one of ok, "
	    "cooling_down, disabled", cred_l, 1000);
	m->ratelimited = met_counter(r, "llmproxy_ratelimit_rejections_total",
	    "Requests refused by a client key's limits, by key name and limit",
	    rl_l, 2000);
	m->build_info = met_gauge(r, "llmproxy_build_info",
	    "Build information (always 1)", v_l, 1);
	m->start_time = met_gauge(r, "llmproxy_start_time_seconds",
	    "Start time of the process since the Unix epoch in seconds", NULL,
	    0);
	m->cache_lookups = met_counter(r, "llmproxy_cache_lookups_total",
	    "Response cache lookups, by result (hit, miss)", res_l, 2);
	m->cache_entries = met_gauge(r, "llmproxy_cache_entries",
	    "Answers held in the response cache", NULL, 0);
	m->cache_bytes = met_gauge(r, "llmproxy_cache_bytes",
	    "Memory the response cache counts for the answers it holds", NULL,
	    0);
	m->cache_evicted = met_counter(r, "llmproxy_cache_evictions_total",
	    "Cached answers dropped, by reason (bounds, ttl)", why_l, 2);
	m->ses_requests = met_counter(r, "llmproxy_session_requests_total",
	    "Requests with sessions on, by result: continued (a known session "
	    "id), new (no id given), unknown (an id not found, expired or of "
	    "another key)", res_l, 3);
	m->ses_entries = met_gauge(r, "llmproxy_sessions",
	    "Conversation sessions held", NULL, 0);
	m->ses_bytes = met_gauge(r, "llmproxy_session_bytes",
	    "Memory the session store counts for the sessions it holds", NULL,
	    0);
	m->ses_evicted = met_counter(r, "llmproxy_session_evictions_total",
	    "Sessions dropped, by reason (bounds, ttl)", why_l, 2);
	if (!m->requests || !m->tokens || !m->cost || !m->unpriced ||
	    !m->duration || !m->ttfb || !m->overhead || !m->streams_open ||
	    !m->attempts || !m->failures || !m->cred_state || !m->ratelimited ||
	    !m->build_info || !m->start_time || !m->cache_lookups ||
	    !m->cache_entries || !m->cache_bytes || !m->cache_evicted ||
	    !m->ses_requests || !m->ses_entries || !m->ses_bytes ||
	    !m->ses_evicted) {
		px_metrics_free(m);
		return -1;
	}
	m->streams = met_get(m->streams_open, NULL, NULL);
	v[0] = version ? version : "unknown";
	met_set(met_get(m->build_info, v, NULL), 1);
	met_set(met_get(m->start_time, NULL, NULL), start);
	return 0;
}

/* see metrics.h */
void
px_metrics_free(struct px_metrics *m)
{
	met_free(m->reg);
	memset(m, 0, sizeof *m);
}

/* see metrics.h */
const char *
px_status_class(int status)
{
	static const char *const c[] = { "1xx", "2xx", "3xx", "4xx", "5xx" };

	if (status < 100 || status > 599)
		return "none";
	return c[status / 100 - 1];
}

static const char *
or_none(const char *s)
{
	return s == NULL || s[0] == 0 ? "none" : s;
}

/* see metrics.h */
void
px_metrics_request(struct px_metrics *m, const struct px_metrics_req *r)
{
	const char *v[4];
	size_t l[4];
	const char *model = r->model;
	size_t ml = r->model_len ? r->model_len : model ? strlen(model) : 0;

	if (model == NULL || ml == 0) {
		model = "none";
		ml = 4;
	}
	v[0] = or_none(r->client_format);
	v[1] = model;
	v[2] = or_none(r->provider);
	v[3] = px_status_class(r->status);
	l[0] = strlen(v[0]);
	l[1] = ml;
	l[2] = strlen(v[2]);
	l[3] = strlen(v[3]);
	met_inc(met_get(m->requests, v, l));

	/* provider, model, direction */
	v[0] = v[2];
	l[0] = l[2];
	if (r->input_tokens > 0) {
		v[2] = "input";
		l[2] = 5;
		met_add(met_get(m->tokens, v, l), (double)r->input_tokens);
	}
	if (r->output_tokens > 0) {
		v[2] = "output";
		l[2] = 6;
		met_add(met_get(m->tokens, v, l), (double)r->output_tokens);
	}
	if (r->cost_usd >= 0)
		met_add(met_get(m->cost, v, l), r->cost_usd);
	else if (r->status >= 200 && r->status < 300)
		met_inc(met_get(m->unpriced, v, l));

	/* client_format, provider */
	v[0] = or_none(r->client_format);
	l[0] = strlen(v[0]);
	v[1] = or_none(r->provider);
	l[1] = strlen(v[1]);
	if (r->total_s >= 0)
		met_observe(met_get(m->duration, v, l), r->total_s);
	if (r->ttfb_s >= 0)
		met_observe(met_get(m->ttfb, v, l), r->ttfb_s);
	if (r->overhead_s >= 0)
		met_observe(met_get(m->overhead, v, l), r->overhead_s);
}

/* see metrics.h */
void
px_metrics_attempt(struct px_metrics *m, const char *provider,
    const char *reason)
{
	const char *v[2];

	v[0] = or_none(provider);
	met_inc(met_get(m->attempts, v, NULL));
	if (reason != NULL) {
		v[1] = reason;
		met_inc(met_get(m->failures, v, NULL));
	}
}

/* see metrics.h */
void
px_metrics_credential(struct px_metrics *m, const char *provider,
    const char *credential, enum met_cred_state st)
{
	static const char *const names[] = { "ok", "cooling_down", "disabled" };
	const char *v[3];
	int i;

	v[0] = or_none(provider);
	v[1] = or_none(credential);
	for (i = 0; i < 3; i++) {
		v[2] = names[i];
		met_set(met_get(m->cred_state, v, NULL), (int)st == i);
	}
}

/* see metrics.h */
void
px_metrics_rejected(struct px_metrics *m, const char *key, const char *limit)
{
	const char *v[2];

	v[0] = or_none(key);
	v[1] = or_none(limit);
	met_inc(met_get(m->ratelimited, v, NULL));
}

static void
met_inc1(struct met_family *f, const char *v)
{
	const char *vals[1];

	if (f == NULL)                  /* px_metrics_init() failed */
		return;
	vals[0] = v;
	met_inc(met_get(f, vals, NULL));
}

/* see metrics.h */
void
px_metrics_cache(struct px_metrics *m, int hit)
{
	met_inc1(m->cache_lookups, hit ? "hit" : "miss");
}

/* see metrics.h */
void
px_metrics_session(struct px_metrics *m, const char *result)
{
	met_inc1(m->ses_requests, or_none(result));
}

/* see metrics.h */
void
px_metrics_store(struct px_metrics *m, int which, size_t entries,
    size_t bytes, unsigned long evicted, unsigned long expired)
{
	struct met_family *e = which == PX_MET_CACHE ? m->cache_entries :
	    m->ses_entries;
	struct met_family *b = which == PX_MET_CACHE ? m->cache_bytes :
	    m->ses_bytes;
	struct met_family *x = which == PX_MET_CACHE ? m->cache_evicted :
	    m->ses_evicted;
	const char *v[1];

	if (e == NULL || b == NULL || x == NULL)
		return;
	met_set(met_get(e, NULL, NULL), (double)entries);
	met_set(met_get(b, NULL, NULL), (double)bytes);
	/* the store keeps the running totals; a new store starts again at 0 */
	v[0] = "bounds";
	met_set(met_get(x, v, NULL), (double)evicted);
	v[0] = "ttl";
	met_set(met_get(x, v, NULL), (double)expired);
}
