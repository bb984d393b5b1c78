/*
 * proxy_int.h - what the server's files share: the connection, the
 * server's globals and the functions one file calls in another. Not a
 * public interface.
 *
 *   proxy.c   accept, read and parse requests, dispatch, answer, signals,
 *             reload, the serving loop
 *   relay.c   the upstream half of a request: candidates (route.c),
 *             the request built for each, the engine's callbacks
 *             (upstream.c), answers and streams converted back
 *   rstore.c  previous_response_id served from the proxy's store
 *   acctsrv.c credentials whose token is obtained at run time
 *             (subscription accounts, token exchanges): loading,
 *             renewal on the loop, requests waiting for a token
 *   rsession.c  conversation sessions (X-Session-ID), see session.h
 *   rcache.c  the response cache, see cache.h
 *   admin.c   the admin API and the admin page
 */
#ifndef PX_PROXY_INT_H
#define PX_PROXY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "config.h"
#include "convert.h"
#include "exec.h"
#include "http.h"
#include "json.h"
#include "keys.h"
#include "limit.h"
#include "log.h"
#include "loop.h"
#include "proxy.h"
#include "route.h"
#include "session.h"
#include "cache.h"
#include "sse.h"
#include "store.h"
#include "upstream.h"
#include "usage.h"
#include "metrics.h"

enum phase {
	PH_READ_HEAD,       /* waiting for / reading a request head */
	PH_READ_BODY,
	PH_UPSTREAM,        /* the request is with the relay */
	PH_FLUSH            /* answer queued; flush, then the next request */
};

enum endpoint {
	EP_NONE, EP_CHAT, EP_MESSAGES, EP_COUNT_TOKENS, EP_RESPONSES,
	EP_GEMINI_GEN, EP_GEMINI_STREAM, EP_GEMINI_COUNT,
	EP_EMBEDDINGS,            /* OpenAI /v1/embeddings */
	EP_COMPLETIONS,           /* legacy text completions: always converted */
	EP_GEMINI_EMBED, EP_GEMINI_BATCH_EMBED   /* :embedContent, :batch... */
};

/* The keys file's keys and the requests still using them (a change of
 * the file keeps the old set alive until its last request ends). */
struct keyset {
	struct keys_set ks;
	int refs;
	struct keyset *next;          /* replaced ones */
};

/* A loaded config and the requests still using it (reload keeps an old
 * one alive until its last request ends). */
struct cfg_ref {
	struct px_config *cfg;
	int refs;
	struct cfg_ref *next;         /* retired ones */
};

struct conn {
	int fd;
	unsigned long id;
	struct conn *prev, *next;      /* open connections */
	struct conn *next_closed;      /* reap queue */
	enum phase phase;
	unsigned closing:1, keep_alive:1, head_sent:1, streaming:1,
	         passthrough:1, client_eof:1, close_after:1, resp_chunked:1,
	         is_head:1, sent_continue:1, body_unread:1, read_paused:1,
	         up_paused:1, cut:1, holding:1, ir_ok:1, att_err:1,
	         att_keep:1, strip_usage:1;
	struct ev_timer timer;         /* the client-side deadline */
	struct ev_defer defer;         /* go on after an answer was queued */
	char addr[64];                 /* client address, for the log */

	/* client input */
	char *in;
	size_t in_len, in_cap;
	size_t head_len;
	int64_t body_len;              /* CL, or decoded length for chunked */
	int chunked_body;
	struct http_chunked chk;
	char *body;                    /* decoded chunked body (malloc) */
	size_t body_n, body_cap;

	/* client output queue */
	char *out;
	size_t out_len, out_off, out_cap;
	size_t out_mark;               /* where this attempt's bytes begin */

	/* per request */
	struct cfg_ref *cref;          /* the config the request started on */
	struct px_arena arena;
	size_t mem;                    /* bytes charged to mem_used */
	enum endpoint ep;
	enum px_fmt cfmt;              /* client format */
	struct ir_request req;
	const char *rbody;             /* request body (in or body) */
	size_t rbody_n;
	const char *xbody;             /* the body after the store's splice */
	size_t xbody_n;
	struct json *root;             /* the body, parsed once */
	char model[256];               /* requested model */
	char up_model[256];
	char rid[72];                  /* x-request-id */
	char method[16];
	char path[256];
	const struct auth_key *key;
	struct keyset *kref;           /* when the key came from the keys file */
	struct lim_hold lhold;         /* the key's limits, held */
	unsigned stream_counted:1;     /* counted in streams_open */
	unsigned admin_body:1;         /* the body goes to admin_body() */
	const struct px_route *route;
	struct px_plan plan;           /* the candidates (route.c) */
	struct px_attempt att;         /* the one in flight */
	const struct px_provider *prov;
	const struct px_cred *cred;
	struct {                       /* where the attempt goes: the
	                                  provider's base_url, or a Copilot
	                                  account's own API host */
		const char *host, *port, *base_path;
		int tls;
	} where;
	enum px_fmt ufmt;              /* upstream format */
	struct px_op op;               /* counting, embeddings */
	char *dropped;                 /* hosted tools left out ("a,b") */
	char *abeta, *aversion;        /* anthropic headers to forward */
	int gemini_alt_sse;
	long long t_start_us, t_first_us;
	long long last_out;            /* loop ms of the last stream bytes out */
	int status;
	struct ir_usage usage;
	char errmsg[256];              /* for the access line */
	char attempts[256];            /* the attempt log, for the access line */

	/* upstream */
	struct up_req *up;
	struct ex_run *ex;             /* an exec provider's run (relay.c) */
	char *ureq;                    /* upstream request head (arena) */
	size_t ureq_len;
	const char *ubody_out;         /* upstream request body (borrowed) */
	size_t ubody_out_n;
	int ustatus;
	char retry_after[32];
	char *fwd;                     /* upstream headers forwarded (arena) */
	char *ubody;                   /* non-streamed answer (malloc) */
	size_t ubody_n, ubody_cap;
	struct sse_parser sse;
	struct px_stream *stream;
	struct jw sout;                /* stream output scratch */
	/* passthrough streams are forwarded up to the last event boundary;
	 * the bytes of an unfinished event wait here (malloc, bounded) */
	char *hold;
	size_t hold_len, hold_cap;
	unsigned char sse_blank, sse_cr;  /* boundary scanner state */
	/* the most informative failure so far, to answer with when every
	 * candidate failed (arena) */
	int kept_status;
	enum px_fmt kept_fmt;
	char *kept_body;
	size_t kept_n;
	char *kept_fwd;
	char kept_msg[400];

	/* session (rsession.c): the id asked for, the id answered, the
	 * history (arena) and the stream's answer gathered */
	char ses_in[PX_SES_ID_MAX];
	char ses_id[PX_SES_ID_MAX];
	unsigned ses_on:1;
	struct ir_msg *ses_hist;
	size_t ses_nhist, ses_nhist_in;
	struct px_stream *ses_acc;
	struct jw ses_w;

	/* response cache (rcache.c): the header, this attempt's key and
	 * state, a stream's upstream bytes while it is recorded */
	unsigned cache_hdr:2, cache_state:3;
	char cache_key[PX_CACHE_KEY_LEN + 1];
	struct px_cache_rec cache_rec;

	/* Responses store: what this turn records (arena) */
	int rs_keep;
	struct px_str rs_prev;
	struct px_str rs_input;

	/* run-time credentials (acctsrv.c) and account upstreams */
	void *acct_w;                  /* the credential waited for, or NULL */
	struct conn *acct_next;        /* next waiting for it */
	unsigned acct_gen;             /* generation of the token sent */
	unsigned acct_retried:1,       /* the 401 retry was spent */
	         acct_agg:1,           /* Codex: a stream to aggregate */
	         acct_sse:1,           /* Code Assist: events to unwrap */
	         acct_q:1;             /* a 429 whose reset is in its body */
};

/* ---- globals (proxy.c) */
extern struct ev_loop *loop;
extern struct up_engine *upe;
extern struct px_gw *gw;
extern struct px_config *cfg;        /* the current config */
extern struct px_store *rstore;      /* Responses store; NULL when off */
extern int draining;
extern int verbose;
extern size_t mem_used, mem_budget;
extern struct px_metrics metrics;
extern struct px_usage *usage;       /* NULL: no usage records */

#define DBG(...) do { if (verbose) px_log(__VA_ARGS__); } while (0)
#define now_ms() ev_now(loop)

/* ---- proxy.c */
struct cfg_ref *cfg_hold(void);          /* a reference to the current one */
void cfg_drop(struct cfg_ref *r);        /* NULL is fine */
long long clock_us(void);
long long wall_ms(void);
size_t fmt_u(char *out, unsigned long long v, int base);
void out_put(struct conn *c, const void *p, size_t n);
int out_reserve(struct conn *c, size_t n);
void out_chunk(struct conn *c, const char *p, size_t n);
/* The same, written at once when nothing is queued (no copy); what the
 * socket does not take is queued. */
void out_chunk_now(struct conn *c, const char *p, size_t n);
void out_flush(struct conn *c);
size_t out_pending(const struct conn *c);
void send_head(struct conn *c, int status, const char *ctype, long long clen,
               const char *extra);
void send_body(struct conn *c, int status, const char *ctype,
               const char *body, size_t n, const char *extra);
void send_error(struct conn *c, int status, const char *msg);
void send_error_extra(struct conn *c, int status, const char *msg,
                      const char *extra);
void send_405(struct conn *c, const char *allow);
/* An upstream request head: "METHOD base_path+path HTTP/1.1" and Host
 * (with the port when it is not the scheme's), then the credential line
 * of provider p for secret (nothing when secret is NULL or ""). */
void head_start(struct jw *h, const char *method, const char *host,
                const char *port, int tls, const char *base_path,
                const char *path);
void head_auth(struct jw *h, const struct px_provider *p, const char *secret);
/* 200 {"id":..,"object":object,"deleted":true}: a stored object deleted. */
void send_deleted(struct conn *c, struct px_str id, const char *object);
/* The client key's digest in hex, what stored state is scoped by ("" and
 * 0 without a key). */
size_t key_scope(const struct conn *c, char out[65]);
void send_busy(struct conn *c);
void set_errmsg(struct conn *c, const char *msg);
void finish_request(struct conn *c);
void conn_close(struct conn *c);
void mem_sync(struct conn *c);
int mem_over(size_t n);
int has_ctl(const char *s, size_t n);
/* What admin.c reads and does: the state directory ("" = none), the
 * keys' limit table, the keys file's keys in force (NULL = none), the
 * keys file read again now (as when it changes on disk), and every open
 * connection not closing, newest first (fn MUST NOT close or free any). */
const char *state_path(void);
struct lim_table *limit_table(void);
const struct keys_set *keys_file(void);
void keys_reload_now(const char *why);
void conn_each(void (*fn)(struct conn *c, void *ctx), void *ctx);

/* ---- relay.c */
/* The request is parsed and routed: try its candidates. */
void relay_start(struct conn *c);
/* The drain deadline: end c's stream with an error event. */
void relay_cut(struct conn *c, int status, const char *msg);
/* Active health checks: start what is due; returns the next due time
 * (unix ms, 0 = none). */
long long relay_health(long long now);
/* The config changed: the next relay_health() looks at every provider's
 * schedule again (a new provider is checked at once). */
void relay_health_reset(void);
void relay_shutdown(void);
/* c's timer fired during PH_UPSTREAM: a quiet stream gets the client
 * format's keep-alive (timeouts.heartbeat_ms); re-arms itself. */
void relay_heartbeat(struct conn *c);
/* An exec provider's command (relay.c): stop it (the request is over or
 * gone; its process group is killed), and read its output again once the
 * client caught up (c->up_paused). Both do nothing without c->ex. */
void relay_exec_stop(struct conn *c);
void relay_exec_resume(struct conn *c);

/* The relay goes on with c's attempt once acctsrv.c has a token for its
 * credential (ok), or fails the attempt over (ok 0). */
void relay_resume(struct conn *c, int ok);

/* ---- acctsrv.c */
enum acct_ready { ACCT_GO = 0, ACCT_WAIT, ACCT_FAIL };
/* Give the account providers of a config just loaded their credentials
 * (px_acct_bind), logging what is missing. -1 when the store cannot be
 * read (the config is then not to be used). */
int acct_bind(struct px_config *c, const char *why);
/* The run-time credentials follow cfg (the current config): new ones are
 * loaded and scheduled, dropped ones forgotten. */
void acct_sync(const struct px_config *cfg);
/* The tick: 1 when the accounts directory gained or lost an account (the
 * caller reloads); changed account files are read again here. */
int acct_tick(long long now);
/* A token for c's credential (c->cred of a run-time kind): ACCT_GO (sent
 * with acct_token()), ACCT_WAIT (c waits; relay_resume() follows) or
 * ACCT_FAIL (unusable: fail over). */
enum acct_ready acct_ready(struct conn *c);
/* The token to send for c's credential (never logged), and its account
 * (NULL for a token exchange). */
const char *acct_token(const struct conn *c);
const struct px_account *acct_account(const struct conn *c);
/* An upstream 401 for c's run-time credential: 1 when c now waits for a
 * renewed token (or resends at once with a newer one); 0 when the 401
 * stands (the retry was spent). */
int acct_on_401(struct conn *c);
/* c goes away (or is answered) while it may be waiting. */
void acct_forget(struct conn *c);
void acct_shutdown(void);
/* ---- admin.c */
enum admin_auth {
	ADMIN_OFF,                    /* no admin key is configured */
	ADMIN_NO_KEY, ADMIN_BAD_KEY, ADMIN_KEY_OK   /* what was presented */
};
/* A request under /admin: answers it, or sets c up to read its body and
 * call admin_body() with it (c->admin_body). */
void admin_handle(struct conn *c, const struct http_req *r,
                  enum admin_auth auth);
void admin_body(struct conn *c, const char *body, size_t n);
/* A request is over (from request_done(), after its access line): the
 * totals since start, the key's last use, and the error ring. cost_uusd
 * and latency_us are -1 when unknown. A few additions; copies only for
 * errors. */
void admin_note(const struct conn *c, long long cost_uusd,
                long long latency_us);

/* ---- rcache.c */
enum { CX_NONE, CX_MISS, CX_HIT, CX_STORED };   /* conn.cache_state */
int cx_open(void);
void cx_close(void);
void cx_sweep(void);
/* The request's x-llmproxy-cache header (v may be NULL). */
void cx_take(struct conn *c, const char *v, size_t n);
/* An attempt is about to go upstream (ubody_out built): 1 on a hit, with
 * the upstream's answer in p[0..n) (a stream's bytes when the request
 * streams), else 0 (CX_MISS when the answer is to be kept). */
int cx_lookup(struct conn *c, const char **p, size_t *n);
/* A stream's upstream bytes, recorded on a miss. */
void cx_record(struct conn *c, const char *p, size_t n);
/* The answer was complete and successful: keep it (a stream: what was
 * recorded; p/n unused). */
void cx_store(struct conn *c, int stream, const char *p, size_t n);
/* The request is over: the recorder's memory goes. */
void cx_done(struct conn *c);
/* The cache's figures into the metrics (before they are rendered). */
void cx_metrics(void);

/* ---- rsession.c */
extern struct px_ses *sessions;      /* NULL when off */
int sx_open(void);
void sx_close(void);
void sx_sweep(void);
/* The request's X-Session-ID (v may be NULL). */
void sx_take(struct conn *c, const char *v, size_t n);
/* Routed: which session the request is in (its history loaded). */
void sx_prepare(struct conn *c);
/* The IR was decoded: the history in front of its messages. 0 or -1. */
int sx_apply(struct conn *c);
/* The answer is complete: append the turn (once). */
void sx_save(struct conn *c, const struct ir_part *ans, size_t nans);
/* A stream began / an upstream event / the upstream ended. */
void sx_stream_begin(struct conn *c);
void sx_stream_event(struct conn *c, const struct sse_event *ev);
void sx_stream_end(struct conn *c, int complete);
/* DELETE /v1/sessions/{id}. */
void sx_local(struct conn *c, const struct http_req *r, struct px_str id);
/* The session store's figures into the metrics. */
void sx_metrics(void);

/* ---- rstore.c */
int rs_open(void);
void rs_close(void);
void rs_sweep(void);
int rs_prepare(struct conn *c, const struct json *root, const char **body,
               size_t *n);
void rs_save(struct conn *c, const char *resp, size_t rn);
void rs_event(struct conn *c, const char *type, size_t tn, const char *data,
              size_t dn);
void rs_scan(struct conn *c, const char *p, size_t n);
void rs_local(struct conn *c, const struct http_req *r, struct px_str id);

#endif
