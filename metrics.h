/*
 * metrics.h - counters, gauges and histograms with labels, rendered in the
 * Prometheus text exposition format (version 0.0.4), and the proxy's own
 * metrics defined on top.
 *
 * The hot path is a pointer and an addition: resolve a series once
 * (met_get(): one hash of the label values, no allocation once the series
 * exists), then met_inc()/met_add()/met_set() are inline additions and
 * met_observe() a short bucket scan. Series are created on first use and
 * never freed before met_free(); each metric has a cap on its series, and
 * label values past the cap are folded into one series whose labels are
 * all "other" (counted in <prefix>metric_series_folded_total{metric}), so a
 * client sending random model names cannot grow memory.
 *
 * Not thread-safe: one registry per event loop; render from the same loop.
 * Label values are copied (truncated to MET_VALUE_MAX - 1 bytes, invalid
 * UTF-8 and control characters other than '\n' replaced by '?') and escaped
 * on output. Never pass a secret as a label value.
 */
#ifndef PX_METRICS_H
#define PX_METRICS_H

#include <stddef.h>

#ifndef MET_FAMILIES_MAX
#define MET_FAMILIES_MAX 64
#endif
#ifndef MET_LABELS_MAX
#define MET_LABELS_MAX 6              /* label names per metric */
#endif
#ifndef MET_BUCKETS_MAX
#define MET_BUCKETS_MAX 24            /* histogram bounds, +Inf not counted */
#endif
#ifndef MET_VALUE_MAX
#define MET_VALUE_MAX 128             /* bytes of a label value, with NUL */
#endif
#ifndef MET_SERIES_DEFAULT
#define MET_SERIES_DEFAULT 500        /* series per metric when 0 is given */
#endif

enum met_type { MET_COUNTER, MET_GAUGE, MET_HISTOGRAM };

struct met_family;
struct met_registry;

/*
 * One labelled series. Fields are public for the inline updates below;
 * treat them as read-only otherwise.
 */
struct met_series {
	double v;                     /* counter or gauge value; histogram sum */
	unsigned long long n;         /* histogram: observations */
	unsigned long long *b;        /* histogram: count per bucket (not
	                                 cumulative), nb + 1 with +Inf */
	const double *bounds;         /* histogram: the family's bounds */
	int nb;
	int shown;                    /* rendered (0: the unused fold series) */
	unsigned hash;                /* private */
	char *labels;                 /* private: values, NUL-separated */
};

/* Counters: d >= 0. */
static inline void met_inc(struct met_series *s) { s->v += 1; }
static inline void met_add(struct met_series *s, double d) { s->v += d; }
/* Gauges. */
static inline void met_set(struct met_series *s, double v) { s->v = v; }
/* Histograms: count v in the first bucket whose bound is >= v (NaN is
 * ignored). */
void met_observe(struct met_series *s, double v);

/*
 * A registry. `prefix` (e.g. "llmproxy_") names the registry's own counter
 * of folded series. NULL when out of memory. met_free() releases
 * everything, series handles included.
 */
struct met_registry *met_new(const char *prefix);
void met_free(struct met_registry *r);

/*
 * Register a metric. name: [a-zA-Z_:][a-zA-Z0-9_:]*, unique. help: one
 * line of text (escaped on output). labels: NULL-terminated label names
 * ([a-zA-Z_][a-zA-Z0-9_]*, not "__*", not "le" for histograms), at most
 * MET_LABELS_MAX; NULL for none. max_series: the cap (0 =
 * MET_SERIES_DEFAULT). bounds: strictly increasing finite upper bounds, at
 * most MET_BUCKETS_MAX (+Inf is implicit). Strings are copied. Returns the
 * family, or NULL when an argument is invalid or memory is short (the
 * caller treats that as a start-up error). A metric without labels has its
 * one series from the start (rendered as 0).
 */
struct met_family *met_counter(struct met_registry *r, const char *name,
                               const char *help, const char *const *labels,
                               size_t max_series);
struct met_family *met_gauge(struct met_registry *r, const char *name,
                             const char *help, const char *const *labels,
                             size_t max_series);
struct met_family *met_histogram(struct met_registry *r, const char *name,
                                 const char *help, const char *const *labels,
                                 const double *bounds, int nbounds,
                                 size_t max_series);

/*
 * The series of f for label values vals[0..nlabels) (lens[i] bytes each, or
 * strlen when lens is NULL; a NULL value is ""). Creates it on first use;
 * past the cap (or without memory) returns the fold series. Never NULL: for
 * f == NULL it returns a sink nobody renders. The handle stays valid until
 * met_free().
 */
struct met_series *met_get(struct met_family *f, const char *const *vals,
                           const size_t *lens);

/*
 * Render every metric in registration order (series in creation order, the
 * fold series last; metrics with no series yet are left out) into
 * buf[cap], NUL-terminated when cap > 0. Returns the length of the whole
 * text, which may exceed cap - 1 (snprintf-style): call with cap 0 to size
 * the buffer.
 */
size_t met_render(const struct met_registry *r, char *buf, size_t cap);

/* ------------------------------------------------------------ the proxy's */

/*
 * The proxy's metrics (all names start with llmproxy_):
 *
 *  requests_total{client_format,model,provider,status_class}     counter
 *  tokens_total{provider,model,direction}     counter, direction input|output
 *  cost_usd_total{provider,model}             counter, USD
 *  unpriced_requests_total{provider,model}    counter: cost unknown
 *  request_duration_seconds{client_format,provider}     histogram
 *  time_to_first_byte_seconds{client_format,provider}   histogram
 *  overhead_seconds{client_format}            histogram: time the proxy
 *                                             added (total - upstream)
 *  streams_open                               gauge
 *  upstream_attempts_total{provider}          counter
 *  upstream_failures_total{provider,reason}   counter
 *  credential_state{provider,credential,state}  gauge, 1 for the current
 *                                             state of ok|cooling_down|disabled
 *  ratelimit_rejections_total{key,limit}      counter, limit rpm|tpm|
 *                                             parallel|budget|full
 *  cache_lookups_total{result}                counter, result hit|miss
 *  cache_entries, cache_bytes                 gauges: answers held, and the
 *                                             memory they are counted for
 *  cache_evictions_total{reason}              counter, reason bounds|ttl
 *  session_requests_total{result}             counter, result continued (a
 *                                             known id), new (none given),
 *                                             unknown (an id not found,
 *                                             expired, or another key's)
 *  sessions, session_bytes                    gauges, as for the cache
 *  session_evictions_total{reason}            counter, reason bounds|ttl
 *  build_info{version}                        gauge, 1
 *  start_time_seconds                         gauge, unix time
 *  metric_series_folded_total{metric}         counter (the registry's)
 */
struct px_metrics {
	struct met_registry *reg;
	struct met_family *requests, *tokens, *cost, *unpriced;
	struct met_family *duration, *ttfb, *overhead;
	struct met_family *streams_open, *attempts, *failures;
	struct met_family *cred_state, *ratelimited, *build_info, *start_time;
	struct met_family *cache_lookups, *cache_entries, *cache_bytes;
	struct met_family *cache_evicted, *ses_requests, *ses_entries;
	struct met_family *ses_bytes, *ses_evicted;
	struct met_series *streams;   /* met_add(m->streams, +1 / -1) */
};

/* Register everything. version: the build's version string; start: unix
 * seconds. 0, or -1 (out of memory; m is then freed). */
int px_metrics_init(struct px_metrics *m, const char *version, double start);
void px_metrics_free(struct px_metrics *m);

/* What one finished request contributes. */
struct px_metrics_req {
	const char *client_format;    /* "chat", "responses", "anthropic",
	                                 "gemini", ... */
	const char *model;            /* the requested model as routed; NULL
	                                 or "" = "none" */
	size_t model_len;             /* 0 = strlen */
	const char *provider;         /* provider name; NULL or "" = "none" */
	int status;                   /* HTTP status sent; 0 = none sent */
	long long input_tokens;       /* < 0: unknown */
	long long output_tokens;
	double cost_usd;              /* < 0 or NaN: unknown */
	double total_s;               /* < 0: not measured */
	double ttfb_s;
	double overhead_s;
};

/* Count one finished request: resolves its handful of series and adds. */
void px_metrics_request(struct px_metrics *m, const struct px_metrics_req *r);

/* One upstream attempt; reason NULL for success, else the failure class
 * ("connect", "tls", "timeout", "status_429", "status_5xx", "protocol",
 * ...: a short fixed word, never a message). */
void px_metrics_attempt(struct px_metrics *m, const char *provider,
                        const char *reason);

enum met_cred_state { MET_CRED_OK, MET_CRED_COOLING_DOWN, MET_CRED_DISABLED };

/* Set a credential's state (its label, never its secret). */
void px_metrics_credential(struct px_metrics *m, const char *provider,
                           const char *credential, enum met_cred_state st);

/* A request of key `key` (its name) refused by `limit` (lim_which_name()). */
void px_metrics_rejected(struct px_metrics *m, const char *key,
                         const char *limit);

/* A response cache lookup: hit (1) or miss (0). */
void px_metrics_cache(struct px_metrics *m, int hit);

/* A request with sessions on: "continued", "new" or "unknown". */
void px_metrics_session(struct px_metrics *m, const char *result);

/* A bounded store's figures, read when the metrics are rendered: which
 * PX_MET_CACHE or PX_MET_SESSIONS; evicted and expired are the store's
 * running totals (dropped by its bounds, by its TTL). */
enum { PX_MET_CACHE, PX_MET_SESSIONS };
void px_metrics_store(struct px_metrics *m, int which, size_t entries,
                      size_t bytes, unsigned long evicted,
                      unsigned long expired);

/* "2xx" for 200..299 and so on; "none" outside 100..599. */
const char *px_status_class(int status);

#endif
