/*
 * route.h - the gateway's decisions: which upstream candidate to try next,
 * what an outcome means (retry or answer), cooldowns, credential health,
 * active health checks. I/O-free: the caller passes the time (unix ms) in
 * and hands every outcome back; nothing here reads a clock, a socket or the
 * environment, and nothing allocates after px_gw_new().
 *
 * Two kinds of object:
 *   struct px_gw    runtime state, one per process: cooldown records per
 *                   (credential, upstream model), per (provider, model) and
 *                   per provider; credential health; round-robin counters;
 *                   health-check schedule. Fixed tables (#ifndef caps below),
 *                   keyed by the ids of config.h, so state follows a
 *                   credential or provider across reloads.
 *   struct px_plan  one request's walk through its route, caller-owned (it
 *                   can live in the connection), no allocation.
 *
 * How the server drives one request:
 *
 *	px_plan_init(&pl, cfg, route, model, n, now);
 *	while (px_plan_next(gw, &pl, now, &a)) {
 *		... encode for a.fmt with a.body_model, send to
 *		    cfg->providers[a.provider] with a.k->secret ...
 *		... on the response head, a connect/TLS/DNS failure, the
 *		    first-byte timeout, or an error event before any content:
 *		px_outcome_init(&o, cls, status);
 *		for each response header: px_outcome_header(&o, name, n, v, vn);
 *		if (px_gw_report(gw, &pl, &a, &o, now) == PX_ANSWER)
 *			answer the client with this response; done;
 *		if (px_plan_keep(&pl, &a))
 *			keep this response (status, headers, body) as the one
 *			to answer with if nothing succeeds, dropping the last;
 *	}
 *	px_plan_result(&pl, now, &res): answer res.status, with the kept
 *	response when res.from_upstream, else a generated error; set
 *	Retry-After to px_retry_after_s(res.retry_at, now) when non-zero.
 *
 * Once a byte of the answer has gone to the client nothing is retried and
 * nothing more is reported except, at the end of a stream, an OK (which
 * resets backoff) - reporting the OK when the head arrives is fine too.
 * A request the client abandoned before an outcome is simply not reported.
 *
 * Not thread-safe: one event loop owns the gw.
 */
#ifndef PX_ROUTE_H
#define PX_ROUTE_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "convert.h"
#include "json.h"

/* ---- model routing and provider addressing: lookups on a loaded config */

/*
 * Route a requested model name. First exact match wins, then wildcard
 * patterns in file order. Returns the route or NULL.
 */
const struct px_route *px_route_find(const struct px_config *c,
                                     const char *model, size_t n);

/* Upstream model for target t given the requested name (copies into buf). */
const char *px_target_model(const struct px_target *t, const char *model,
                            size_t n, char *buf, size_t cap);

/* Wire format to use with provider p for upstream model `model`: the
 * provider's own, or the other OpenAI API when listed in api_models. */
enum px_fmt px_provider_fmt(const struct px_provider *p, const char *model);

/*
 * Model name the upstream's request body carries for upstream model
 * `model`: an azure provider's deployment for it ("deployments", exact
 * match; the model name itself when unlisted), the model for every other
 * kind. Borrowed from p or model.
 */
const char *px_provider_deployment(const struct px_provider *p,
                                   const char *model);

/*
 * Upstream request path, to append to p->base_path, for upstream model
 * `model` (before the deployment map) sent in wire format f. Every kind but
 * azure gives px_upstream_path(). Azure:
 *   api_version set:     /openai/deployments/{deployment}/chat/completions
 *                        ?api-version=V, and /openai/responses?api-version=V
 *   api_version "" (or "v1" in the config): /openai/v1/chat/completions and
 *                        /openai/v1/responses (the deployment goes in the
 *                        body's "model", see px_provider_deployment)
 * The deployment is percent-encoded as a path segment. Writes buf
 * (NUL-terminated) and returns the length, or -1 when it does not fit or f
 * is not a format the provider speaks.
 */
int px_provider_path(const struct px_provider *p, enum px_fmt f,
                     const char *model, int stream, char *buf, size_t cap);

/*
 * The header a credential of p travels in, and the text before the secret:
 * "Authorization" + "Bearer " (openai kinds), "x-api-key" (anthropic),
 * "x-goog-api-key" (gemini), "api-key" (azure); *prefix "" for all but the
 * first. Static strings.
 */
const char *px_provider_auth(const struct px_provider *p,
                             const char **prefix);


#ifndef PX_GW_SLOTS
#define PX_GW_SLOTS            1024    /* cooldown records (power of two);
                                          at most 3/4 live, then the
                                          expired/oldest is evicted */
#endif
#ifndef PX_GW_CRED_SLOTS
#define PX_GW_CRED_SLOTS       2048    /* credential health (power of two,
                                          3/4 of it >= PX_MAX_CREDS_TOTAL) */
#endif
#ifndef PX_GW_PROV_SLOTS
#define PX_GW_PROV_SLOTS       128     /* providers (power of two, 3/4 of it
                                          >= PX_MAX_PROVIDERS) */
#endif
#ifndef PX_GW_RATE_MIN_MS
#define PX_GW_RATE_MIN_MS      1000    /* 429 without a hint: first cooldown */
#endif
#ifndef PX_GW_RATE_MAX_MS
#define PX_GW_RATE_MAX_MS      300000  /* ... doubling up to 5 min */
#endif
#ifndef PX_GW_FAIL_MIN_MS
#define PX_GW_FAIL_MIN_MS      1000    /* 5xx, connection failure: first */
#endif
#ifndef PX_GW_FAIL_MAX_MS
#define PX_GW_FAIL_MAX_MS      30000   /* ... doubling up to 30 s */
#endif
#ifndef PX_GW_HINT_MAX_MS
#define PX_GW_HINT_MAX_MS      (24LL * 3600 * 1000) /* longest upstream hint
                                                       honoured */
#endif
#ifndef PX_GW_FORGET_MS
#define PX_GW_FORGET_MS        600000  /* a failure older than this no longer
                                          grows the next backoff */
#endif
#ifndef PX_GW_MODEL_MAX
#define PX_GW_MODEL_MAX        96      /* model name kept for display (longer
                                          names still match exactly) */
#endif
#ifndef PX_GW_WHY_MAX
#define PX_GW_WHY_MAX          64      /* reason a credential is disabled */
#endif
#ifndef PX_PLAN_MODEL_MAX
#define PX_PLAN_MODEL_MAX      256     /* requested model name, NUL included */
#endif

/* What happened to one attempt. */
enum px_out_class {
	PX_OUT_OK = 0,        /* a 2xx response head */
	PX_OUT_DNS,           /* the name did not resolve */
	PX_OUT_CONNECT,       /* TCP failed, or the connection broke before a
	                         response head */
	PX_OUT_TLS,           /* handshake or certificate failure */
	PX_OUT_TIMEOUT,       /* no response head within first_byte_ms */
	PX_OUT_HTTP,          /* a non-2xx response head: status */
	PX_OUT_STREAM_ERROR,  /* an error event before any content: status is
	                         what its kind stands for (429 rate limit, 529
	                         overloaded, 500 api error, 400 invalid ...; 0 =
	                         unknown, taken as 500) */
	PX_OUT_NCLASS
};

/* Response headers that say when to try again. */
enum px_hint_hdr {
	PX_H_RETRY_AFTER = 0,     /* Retry-After: seconds or HTTP-date */
	PX_H_RETRY_AFTER_MS,      /* retry-after-ms (OpenAI) */
	PX_H_ANT_REQUESTS,        /* anthropic-ratelimit-requests-reset */
	PX_H_ANT_TOKENS,          /* anthropic-ratelimit-tokens-reset */
	PX_H_ANT_INPUT,           /* anthropic-ratelimit-input-tokens-reset */
	PX_H_ANT_OUTPUT,          /* anthropic-ratelimit-output-tokens-reset */
	PX_H_OAI_REQUESTS,        /* x-ratelimit-reset-requests ("1s") */
	PX_H_OAI_TOKENS,          /* x-ratelimit-reset-tokens ("6m0s") */
	PX_H_ANT_UNIFIED,         /* anthropic-ratelimit-unified-reset (unix
	                             seconds or RFC 3339): a subscription's
	                             5-hour / weekly window */
	PX_H_N
};

/*
 * One outcome. Header values are borrowed and need to live only until
 * px_gw_report() returns. remaining[i] is the matching "...-remaining"
 * header of reset header i (a reset whose remaining count is 0 names the
 * exhausted limit).
 */
struct px_outcome {
	enum px_out_class cls;
	int status;
	struct px_str hdr[PX_H_N];
	struct px_str remaining[PX_H_N];
	int64_t reset_at;         /* a 429's end read from its body (unix ms;
	                             0 = none): quota errors that say when in
	                             the body, not in headers (Codex usage
	                             limits, Gemini RetryInfo); wins over the
	                             headers */
};

/* Zero o and set class and status. */
void px_outcome_init(struct px_outcome *o, enum px_out_class cls,
                     int status);
/* Offer one response header (any case); keeps it when it is one of the
 * hint headers or their -remaining companions. Returns 1 when kept. */
int px_outcome_header(struct px_outcome *o, const char *name, size_t nlen,
                      const char *value, size_t vlen);

/* One candidate handed out by px_plan_next(). Pointers borrow from the
 * plan's config and the plan; valid while both live. */
struct px_attempt {
	int n;                    /* attempt number, from 1 */
	int target;               /* index into route->targets; -1 for a
	                             health check */
	int provider;             /* index into cfg->providers */
	int cred;                 /* index into that provider's creds */
	const struct px_provider *p;
	const struct px_cred *k;
	const char *model;        /* upstream model name (logs, cooldowns,
	                             px_provider_path) */
	const char *body_model;   /* "model" for the request body: the azure
	                             deployment, else model */
	enum px_fmt fmt;          /* wire format to speak upstream */
};

/* One line of the attempt log (access log, x-llmproxy-attempts). */
struct px_attempt_log {
	short provider, cred;
	unsigned char cls;        /* enum px_out_class; PX_OUT_NCLASS while
	                             no outcome was reported */
	short status;
};

/* Why a plan stopped handing out candidates. */
enum px_stop {
	PX_STOP_NONE = 0,         /* not stopped */
	PX_STOP_UNAVAILABLE,      /* nothing tried: every candidate cooling or
	                             disabled */
	PX_STOP_EXHAUSTED,        /* every available candidate tried */
	PX_STOP_ATTEMPTS,         /* max_attempts reached */
	PX_STOP_BUDGET,           /* budget_ms spent */
	PX_STOP_ANSWERED          /* px_gw_report said PX_ANSWER */
};

/* A request's walk. Fields are the module's; read them through the
 * functions below (log and nattempts may be read directly). */
struct px_plan {
	const struct px_config *cfg;
	const struct px_route *route;     /* NULL: a health check */
	char model[PX_PLAN_MODEL_MAX];    /* requested model */
	int64_t start;
	int max_attempts, budget_ms;
	int health;
	int target;                       /* current target */
	int entered;                      /* rot/tried set for target */
	int rot;                          /* first credential tried */
	uint64_t tried;                   /* credentials of target tried */
	uint64_t skip[(PX_MAX_PROVIDERS + 63) / 64]; /* providers down for
	                                                this request */
	int nattempts;
	struct px_attempt_log log[PX_RETRY_ATTEMPTS_CAP];
	int best, best_rank;              /* most informative failure */
	enum px_stop stop;
	int64_t retry_at;                 /* when stopped: soonest moment a
	                                     candidate is available, 0 = none */
	int soon_status;                  /* status of the cooldown behind
	                                     retry_at */
};

/* Verdicts of px_gw_report(). */
#define PX_ANSWER 0               /* answer the client with this response */
#define PX_RETRY  1               /* try the next candidate */

struct px_gw;

/* Runtime state: px_gw_new() (NULL when out of memory), then
 * px_gw_reload() with the first config; px_gw_free() at the end. */
struct px_gw *px_gw_new(void);
void px_gw_free(struct px_gw *gw);

/*
 * Adopt cfg as the current config. State of credentials and providers that
 * are in cfg is kept (matched by id: same provider name and secret; same
 * provider name and base_url); everything else is dropped, and "disabled"
 * (401/403) is cleared. Providers new to the state get their first health
 * check at once. Plans of older configs may still report: outcomes for a
 * credential no longer configured change nothing.
 */
void px_gw_reload(struct px_gw *gw, const struct px_config *cfg,
                  int64_t now);

/*
 * Start a plan for route r (from px_route_find on cfg) and the requested
 * model name m[0..n). cfg and r are borrowed for the plan's life. Returns 0,
 * or -1 when the name is longer than PX_PLAN_MODEL_MAX - 1.
 */
int px_plan_init(struct px_plan *pl, const struct px_config *cfg,
                 const struct px_route *r, const char *m, size_t n,
                 int64_t now);

/*
 * The next candidate, in order: targets in route order; within a target
 * the provider's credentials by strategy (round-robin rotates the first one
 * per request, fill-first always starts at the first), skipping those
 * disabled, cooling for the upstream model, of a provider that is down, or
 * already tried for this target. Returns 1 with *a filled, or 0 when the
 * plan is done (max_attempts, budget_ms - not checked before the first
 * attempt -, or no candidate left); then pl->retry_at and the result are
 * set (px_plan_result).
 */
int px_plan_next(struct px_gw *gw, struct px_plan *pl, int64_t now,
                 struct px_attempt *a);

/*
 * Hand back the outcome of attempt a (from px_plan_next or
 * px_gw_health_due on this plan). Updates cooldowns and health and the
 * plan's log. Returns PX_ANSWER (success, or an error that is the client's
 * and is answered at once) or PX_RETRY. See the README's retry table:
 *   OK                          answer; clears the credential's cooldown
 *                               for the model (backoff restarts) and the
 *                               provider's
 *   DNS, CONNECT, TLS           retry; the provider is down for every
 *                               model: 1 s doubling to 30 s; its other
 *                               targets are skipped for this request
 *   TIMEOUT (no head in time)   retry at the next target; the provider
 *                               cools for that model, like a 5xx
 *   HTTP/stream 429             retry with the provider's next credential;
 *                               that credential cools for that model until
 *                               retry-after-ms / Retry-After / the reset
 *                               headers say, else 1 s doubling to 5 min
 *   HTTP/stream 500 502 503 504 529
 *                               retry at the next target; the provider
 *                               cools for that model (Retry-After, else 1 s
 *                               doubling to 30 s)
 *   HTTP/stream 401 403         retry with the next credential; this one
 *                               is disabled until the config is reloaded
 *   anything else (400, 404, 413, 422, ...)  answer at once
 * A health-check plan applies DNS..TIMEOUT and 5xx to the whole provider
 * and its success clears the provider's cooldowns.
 */
int px_gw_report(struct px_gw *gw, struct px_plan *pl,
                 const struct px_attempt *a, const struct px_outcome *o,
                 int64_t now);

/* 1 when attempt a's failure is, so far, the most informative one of the
 * plan: the server keeps that response to answer with. */
int px_plan_keep(const struct px_plan *pl, const struct px_attempt *a);

/*
 * How informative a failure is, for answering when everything failed
 * (higher wins; ties go to the earlier attempt): 429 > 529 > 503 > 500,
 * 502, 504 > 401/403 > other HTTP > timeout > TLS > connect > DNS.
 */
int px_outcome_rank(enum px_out_class cls, int status);

struct px_plan_result {
	int status;               /* status to answer with */
	int from_upstream;        /* 1: answer with the kept response of
	                             log[best]; 0: generate the error */
	int best;                 /* index into log, -1 when nothing failed */
	int64_t retry_at;         /* 0 = no Retry-After */
	enum px_stop why;
};

/*
 * After px_plan_next() returned 0: what to answer. The best failure's
 * status when an upstream answered with HTTP; otherwise 429 when the
 * candidate available soonest is cooling for a rate limit, else 503.
 */
void px_plan_result(const struct px_plan *pl, int64_t now,
                    struct px_plan_result *r);

/* Retry-After seconds for retry_at: rounded up, at least 1; 0 when
 * retry_at is 0 (send no header). */
long long px_retry_after_s(int64_t retry_at, int64_t now);

/*
 * The attempt log as text for the access log: "prov/label=outcome,..."
 * where outcome is "ok", a status, or a class name ("connect", ...).
 * Writes buf (NUL-terminated, truncated) and returns the length.
 */
size_t px_plan_log_str(const struct px_plan *pl, char *buf, size_t cap);

/* "ok", "dns", "connect", "tls", "timeout", "http", "stream_error". */
const char *px_out_class_name(enum px_out_class cls);

/*
 * Active health checks. Returns 1 when a provider's check is due: pl is
 * set up as a one-attempt health plan and *a is the request to send (the
 * provider's health_check model, its next usable credential); send it off
 * the request path and report its outcome with px_gw_report(gw, pl, a, ...).
 * Call again until it returns 0; then *next_at is the soonest time another
 * check is due (0 = none configured). The next check of a provider is due
 * interval_s after this one was handed out.
 */
int px_gw_health_due(struct px_gw *gw, const struct px_config *cfg,
                     int64_t now, struct px_plan *pl, struct px_attempt *a,
                     int64_t *next_at);

/* A credential's state, for metrics and the admin view. */
enum px_cred_state { PX_CRED_OK = 0, PX_CRED_COOLING, PX_CRED_DISABLED };

struct px_cred_info {
	enum px_cred_state state;
	int64_t until;            /* COOLING: when its latest cooldown ends */
	int disabled_status;      /* DISABLED: 401 or 403 */
	char disabled_why[PX_GW_WHY_MAX]; /* DISABLED by px_gw_cred_set: why
	                             ("" otherwise) */
	int64_t last_ok, last_err;    /* 0 = never */
	int last_err_cls, last_err_status;
	unsigned long long n_ok, n_err;
};

/*
 * Disable (disabled 1) or enable (0) a credential from outside a request:
 * a credential whose token is obtained at run time (an account, a token
 * exchange) is disabled while its token cannot be renewed, with the
 * failure's status and a short reason for the admin view (no secret), and
 * enabled again once a renewal works. A reload clears it, like a 401's.
 * Returns 0, or -1 when the id is not in the state (not configured).
 */
int px_gw_cred_set(struct px_gw *gw, const unsigned char id[32],
                   int disabled, int status, const char *why, int64_t now);

/*
 * State of credential `cred` of provider `provider` of cfg at now. COOLING
 * when any cooldown applies to it (its own for some model, or its
 * provider's). Returns 0, or -1 when the indexes are out of range.
 */
int px_gw_cred_info(const struct px_gw *gw, const struct px_config *cfg,
                    int provider, int cred, int64_t now,
                    struct px_cred_info *out);

/*
 * The admin view (GET /admin/providers) as one JSON object:
 * {"providers":[{"name","type","state":"ok|degraded|down",
 *   "down":{"until","class","status"}|null,
 *   "cooling":[{"model","until","class","status"}],
 *   "health_check":{"interval_s","model","next"}|null,
 *   "credentials":[{"label","state":"ok|cooling|disabled",
 *     "disabled":{"status","since","reason"}|null,
 *     "cooling":[{"model","until","class","status"}],
 *     "last_success","last_error":{"class","status","at"}|null,
 *     "successes","failures"}]}]}
 * Times are RFC 3339 UTC; labels only, never a secret.
 */
void px_gw_json(const struct px_gw *gw, const struct px_config *cfg,
                int64_t now, struct jw *out);

/* Live entries of the state tables (metrics, tests). Any pointer may be
 * NULL. */
void px_gw_counts(const struct px_gw *gw, size_t *records, size_t *creds,
                  size_t *providers);

/* ------------------------------------------------------------ time text */

/* Retry-After: delta-seconds, or an HTTP-date (IMF-fixdate, RFC 850 or
 * asctime). Returns the absolute unix ms, or -1 when unparseable. */
int64_t px_parse_retry_after(const char *s, size_t n, int64_t now);
/* RFC 3339 date-time ("2025-01-02T03:04:05.5Z", "+01:00"): 0 and *ms, or
 * -1. */
int px_parse_rfc3339(const char *s, size_t n, int64_t *ms);
/* Go-style duration ("1s", "6m0s", "20ms", "1h2m3.5s", "250us"): 0 and
 * *ms (rounded up to whole ms), or -1. */
int px_parse_duration(const char *s, size_t n, int64_t *ms);
/* unix ms -> "2025-01-02T03:04:05Z" (buf of at least 32 bytes). */
char *px_fmt_rfc3339(int64_t ms, char *buf, size_t cap);

#endif
