/*
 * acctsrv.c - credentials whose token the server obtains at run time:
 * subscription accounts (the token store, account.h) and token exchanges
 * (a provider's "token_exchange"). One entry per account (by label: two
 * providers using one account share its refresh token, which rotates) and
 * per exchange (by credential id).
 *
 * Renewal runs on the event loop through the upstream engine, off the
 * request path: a timer ahead of the token's expiry (px_acct_refresh_at),
 * at once for a token that is already expired or missing, and on demand
 * when an upstream answers 401 (once per request, then the request is
 * sent again). Requests that need a token while a renewal is in flight
 * wait in the entry's list and go on when it ends: there is never more
 * than one renewal per entry. A renewal the server refuses (invalid_grant,
 * a revoked login) makes the entry unusable: its credentials are disabled
 * in the gateway with the reason (the admin view shows it), waiting
 * requests fail over, and nothing is retried until the account's file
 * changes (a new login). A transient failure (network, 429, 5xx) is
 * retried with backoff; meanwhile a token that is still valid is used,
 * and an expired one disables the credentials until a retry works.
 *
 * A renewed account is written back to its file at once (refresh tokens
 * rotate: the old one is dead). The write is skipped when the file was
 * replaced meanwhile (a new login wins) or removed. The tick compares the
 * accounts directory with one stat() and, when it changed, finds which
 * accounts came, went or were rewritten by someone else.
 *
 * Log lines name the account (label) and the provider's answer (status,
 * OAuth error code); never a token.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "account.h"
#include "proxy_int.h"

#ifndef PX_ACCT_RETRY_MIN_MS
#define PX_ACCT_RETRY_MIN_MS  5000    /* a failed renewal: first retry */
#endif
#ifndef PX_ACCT_RETRY_MAX_MS
#define PX_ACCT_RETRY_MAX_MS  300000  /* ... doubling up to 5 min */
#endif
#ifndef PX_ACCT_RENEW_MS
#define PX_ACCT_RENEW_MS      30000   /* one renewal request, at most */
#endif

enum { E_OK = 0, E_FAILED };

struct dcred {
	struct dcred *next;
	int type;                      /* PX_CRED_ACCOUNT or PX_CRED_EXCHANGE */
	char label[PX_ACCT_LABEL_MAX]; /* account: the key */
	unsigned char id[32];          /* exchange: the key */
	char pname[64];                /* exchange: its provider (logs) */
	const struct px_token_exchange *tx;
	struct px_account a;           /* the tokens (exchange: access and
	                                  expires only) */
	unsigned gen;                  /* bumped at every new token */
	int live, state, forced, fails;
	char why[PX_GW_WHY_MAX];
	struct stat st;                /* the account file as last seen */
	/* the renewal in flight */
	struct up_req *up;
	struct px_arena ar;
	struct px_url url;
	int status;
	char retry_after[32];
	char *ans;
	size_t ans_n;
	int toobig;
	struct ev_timer timer;
	struct conn *waiters;
};

static struct dcred *dcreds;
static char sdir[PX_STATE_DIR_MAX];          /* the state directory */
static char adir[PX_STATE_DIR_MAX + 32];     /* its accounts directory */
static unsigned char key[32];
static int have_key;
static struct stat dir_st;                   /* adir at the last scan */
static int dir_seen;

static void renew(struct dcred *e);

static long long
wall(void)
{
	return wall_ms();
}

/* ------------------------------------------------------------ the store */

/* Resolve the store of cfg (state directory, key) once it has accounts. */
static int
store_open(const struct px_config *c)
{
	char sd[PX_STATE_DIR_MAX], ad[sizeof adir], err[512];
	int rc;

	if (px_state_dir(c->state_dir, sd, sizeof sd, NULL, err,
	    sizeof err) < 0 || px_acct_dir(sd, ad, sizeof ad, err,
	    sizeof err) < 0) {
		px_log("accounts: %s", err);
		return -1;
	}
	if (strcmp(ad, adir) != 0) {
		memcpy(sdir, sd, sizeof sd);
		memcpy(adir, ad, sizeof ad);
		have_key = 0;
		dir_seen = 0;
	}
	if (!have_key) {
		rc = px_acct_key(sdir, 0, key, NULL, err, sizeof err);
		if (rc == PX_ACCT_OK)
			have_key = 1;
		else if (rc != PX_ACCT_ENOENT)
			px_log("accounts: %s", err);
	}
	return 0;
}

static int
file_stat(const struct dcred *e, struct stat *st)
{
	char path[sizeof adir + PX_ACCT_LABEL_MAX + 8];

	snprintf(path, sizeof path, "%s/%s.json", adir, e->label);
	return stat(path, st);
}

static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* ------------------------------------------------------------ entries */

static struct dcred *
find(const struct px_cred *k)
{
	struct dcred *e;

	for (e = dcreds; e; e = e->next) {
		if (k->src == PX_CRED_ACCOUNT && e->type == PX_CRED_ACCOUNT &&
		    strcmp(e->label, k->label) == 0)
			return e;
		if (k->src == PX_CRED_EXCHANGE && e->type == PX_CRED_EXCHANGE &&
		    memcmp(e->id, k->id, 32) == 0)
			return e;
	}
	return NULL;
}

static const char *
ename(const struct dcred *e)
{
	return e->type == PX_CRED_ACCOUNT ? e->label : e->pname;
}

/* Disable (or enable) every credential of the current config that is e. */
static void
gw_mark(struct dcred *e, int disabled, int status, const char *why)
{
	const struct px_provider *p;
	int pi, ci;

	for (pi = 0; pi < cfg->nproviders; pi++) {
		p = &cfg->providers[pi];
		for (ci = 0; ci < p->ncreds; ci++)
			if (find(&p->creds[ci]) == e)
				px_gw_cred_set(gw, p->creds[ci].id, disabled,
				    status, why, wall());
	}
}

/* Wake every waiting request: ok 1 = a token is there. */
static void
wake(struct dcred *e, int ok)
{
	struct conn *c, *next;

	c = e->waiters;
	e->waiters = NULL;
	for (; c; c = next) {
		next = c->acct_next;
		c->acct_next = NULL;
		c->acct_w = NULL;
		relay_resume(c, ok);
	}
}

static void
on_timer(struct ev_loop *l, struct ev_timer *t)
{
	struct dcred *e = t->ud;

	(void)l;
	if (e->up == NULL && e->state != E_FAILED)
		renew(e);
}

/* Arm the next renewal: at `at` (unix ms), or from the token's expiry. */
static void
schedule(struct dcred *e, long long at)
{
	long long now = wall();

	if (at == 0)
		at = e->type == PX_CRED_EXCHANGE ? (e->a.expires ?
		    e->a.expires - (e->a.expires - e->a.refreshed > 600000 ?
		    300000 : (e->a.expires - e->a.refreshed) / 2) : now) :
		    px_acct_refresh_at(&e->a, now);
	if (at == 0 || e->state == E_FAILED) {
		ev_timer_stop(loop, &e->timer);
		return;
	}
	if (at < now)
		at = now;
	ev_timer_set(loop, &e->timer, ev_now(loop) + (at - now));
}

static void
fail(struct dcred *e, int status, const char *why)
{
	snprintf(e->why, sizeof e->why, "%.63s", why);
	e->state = E_FAILED;
	ev_timer_stop(loop, &e->timer);
	gw_mark(e, 1, status, e->why);
	wake(e, 0);
}

/* Read an account from the store into e (a new entry, or a file that
 * changed). */
static void
load(struct dcred *e)
{
	char err[400];
	int rc;

	if (!have_key) {
		char k[512];
		if (px_acct_key(sdir, 0, key, NULL, k, sizeof k) == PX_ACCT_OK)
			have_key = 1;
	}
	if (file_stat(e, &e->st) < 0)
		memset(&e->st, 0, sizeof e->st);
	rc = have_key ? px_acct_load(adir, key, e->label, &e->a, err,
	    sizeof err) : PX_ACCT_ENOENT;
	if (rc != PX_ACCT_OK) {
		if (!have_key)
			snprintf(err, sizeof err, "no key to open it (%.300s/%s)",
			    sdir, PX_ACCT_KEY_FILE);
		px_log("account %s: cannot be used: %s", e->label, err);
		fail(e, 401, rc == PX_ACCT_EKEY ? "unreadable: sealed with "
		    "another key" : rc == PX_ACCT_ETAMPER ? "unreadable: "
		    "tampered" : rc == PX_ACCT_EPERM ? "unreadable: file mode" :
		    "unreadable");
		return;
	}
	e->state = E_OK;
	e->fails = 0;
	e->forced = 0;
	e->why[0] = 0;
	e->gen++;
	gw_mark(e, 0, 0, NULL);
	if (!px_acct_fresh(&e->a, wall()) && e->a.refresh == NULL) {
		px_log("account %s: the token expired and there is nothing to "
		    "renew it with: log in again", e->label);
		fail(e, 401, "expired: log in again");
		return;
	}
	schedule(e, px_acct_fresh(&e->a, wall()) ? 0 : wall());
}

static struct dcred *
entry_new(const struct px_provider *p, const struct px_cred *k)
{
	struct dcred *e = calloc(1, sizeof *e);

	if (e == NULL)
		return NULL;
	e->type = k->src;
	snprintf(e->label, sizeof e->label, "%.*s", (int)sizeof e->label - 1,
	    k->label);
	memcpy(e->id, k->id, 32);
	snprintf(e->pname, sizeof e->pname, "%s", p->name);
	px_acct_init(&e->a, PX_ACCT_CLAUDE);
	px_acct_kind_of(p, &e->a.kind);
	ev_timer_init(&e->timer, on_timer, e);
	px_arena_init(&e->ar, 1u << 20);
	e->next = dcreds;
	dcreds = e;
	return e;
}

static void
entry_free(struct dcred *e)
{
	if (e->up)
		up_cancel(e->up);
	ev_timer_stop(loop, &e->timer);
	wake(e, 0);
	px_acct_clear(&e->a);
	free(e->ans);
	px_arena_free(&e->ar);
	free(e);
}

/* ------------------------------------------------------------ renewal */

static void r_head(void *ud, const struct http_resp *r);
static void r_data(void *ud, const char *p, size_t n);
static void r_end(void *ud, int complete);
static void r_error(void *ud, enum up_err err, const char *msg);
static const struct up_callbacks r_cbs = { r_head, r_data, r_end, r_error };

/* Write a renewed account back, unless its file changed meanwhile. */
static void
write_back(struct dcred *e)
{
	struct stat st;
	char err[400];

	if (file_stat(e, &st) < 0) {
		px_log("account %s: its file is gone; the renewed token is not "
		    "kept", e->label);
		return;
	}
	if (e->st.st_ino != 0 && !same_file(&st, &e->st)) {
		px_log("account %s: its file was replaced (a new login?): "
		    "reading it instead of writing the renewed token",
		    e->label);
		load(e);
		return;
	}
	if (px_acct_save(adir, key, &e->a, err, sizeof err) != PX_ACCT_OK) {
		px_log("account %s: cannot store the renewed token: %s",
		    e->label, err);
		return;
	}
	if (file_stat(e, &e->st) < 0)
		memset(&e->st, 0, sizeof e->st);
}

static void
renew_done(struct dcred *e, int status, const char *body, size_t n)
{
	struct px_tok_result res;
	char exp[40], why[PX_GW_WHY_MAX];
	long long now = wall(), back, ra;
	char *tok;
	int i;

	if (e->type == PX_CRED_ACCOUNT) {
		px_oauth_token_answer(&e->a, status, body, n, now, &res);
	} else {
		long long x;
		px_tx_answer(e->tx, status, body, n, now, &tok, &x, &res);
		if (res.v == PX_TOK_OK) {
			px_acct_set(&e->a.access, tok, strlen(tok));
			memset(tok, 0, strlen(tok));
			free(tok);
			e->a.expires = x;
			e->a.refreshed = now;
		}
	}
	if (res.v == PX_TOK_OK) {
		e->gen++;
		e->forced = 0;
		e->fails = 0;
		if (e->state == E_FAILED || e->why[0])
			gw_mark(e, 0, 0, NULL);
		e->state = E_OK;
		e->why[0] = 0;
		px_log("%s %s: token renewed, valid until %s", e->type ==
		    PX_CRED_ACCOUNT ? "account" : "token exchange of", ename(e),
		    e->a.expires ? px_fmt_rfc3339(e->a.expires, exp,
		    sizeof exp) : "(no expiry given)");
		if (e->type == PX_CRED_ACCOUNT)
			write_back(e);
		schedule(e, 0);
		wake(e, 1);
		return;
	}
	if (res.v == PX_TOK_DENIED) {
		px_log("%s %s: token renewal refused (%s): unusable until %s",
		    e->type == PX_CRED_ACCOUNT ? "account" : "token exchange of",
		    ename(e), res.msg, e->type == PX_CRED_ACCOUNT ?
		    "it logs in again" : "the config changes");
		snprintf(why, sizeof why, "renewal refused: %.40s",
		    res.error[0] ? res.error : res.msg);
		fail(e, 401, why);
		return;
	}
	/* transient: retry with backoff; use the old token while it lasts */
	e->fails++;
	back = PX_ACCT_RETRY_MIN_MS;
	for (i = 1; i < e->fails && back < PX_ACCT_RETRY_MAX_MS; i++)
		back *= 2;
	if (back > PX_ACCT_RETRY_MAX_MS)
		back = PX_ACCT_RETRY_MAX_MS;
	if (e->retry_after[0] && (ra = px_parse_retry_after(e->retry_after,
	    strlen(e->retry_after), now)) > now)
		back = ra - now < PX_ACCT_RETRY_MAX_MS ? ra - now :
		    PX_ACCT_RETRY_MAX_MS;
	px_log("%s %s: token renewal failed (%s); retrying in %lld s",
	    e->type == PX_CRED_ACCOUNT ? "account" : "token exchange of",
	    ename(e), res.msg, (back + 999) / 1000);
	if (!e->forced && px_acct_fresh(&e->a, now)) {
		schedule(e, now + back);
		wake(e, 1);
		return;
	}
	snprintf(e->why, sizeof e->why, "renewal failing: %.40s", res.msg);
	gw_mark(e, 1, 503, e->why);
	schedule(e, now + back);
	wake(e, 0);
}

static void
r_head(void *ud, const struct http_resp *r)
{
	struct dcred *e = ud;
	const struct http_hdr *h = http_find(r->hdrs, r->nhdrs, "retry-after");

	e->status = r->status;
	if (h && h->value.n < sizeof e->retry_after) {
		memcpy(e->retry_after, h->value.p, h->value.n);
		e->retry_after[h->value.n] = 0;
	}
}

static void
r_data(void *ud, const char *p, size_t n)
{
	struct dcred *e = ud;
	char *nb;

	if (e->toobig || e->ans_n + n > PX_ACCT_ANSWER_MAX ||
	    (nb = realloc(e->ans, e->ans_n + n + 1)) == NULL) {
		e->toobig = 1;
		return;
	}
	e->ans = nb;
	memcpy(nb + e->ans_n, p, n);
	e->ans_n += n;
}

static void
r_end(void *ud, int complete)
{
	struct dcred *e = ud;

	e->up = NULL;
	px_arena_free(&e->ar);
	if (!complete || e->toobig)
		renew_done(e, 0, "", 0);
	else
		renew_done(e, e->status, e->ans ? e->ans : "", e->ans_n);
	free(e->ans);
	e->ans = NULL;
	e->ans_n = 0;
}

static void
r_error(void *ud, enum up_err err, const char *msg)
{
	struct dcred *e = ud;

	(void)err;
	e->up = NULL;
	px_arena_free(&e->ar);
	free(e->ans);
	e->ans = NULL;
	e->ans_n = 0;
	px_log("%s %s: token renewal: %s", e->type == PX_CRED_ACCOUNT ?
	    "account" : "token exchange of", ename(e), msg);
	renew_done(e, 0, "", 0);
}

/* Start the renewal of e (non-blocking; the answer comes to r_*). */
static void
renew(struct dcred *e)
{
	struct px_acct_ep ep;
	struct px_hreq r;
	struct up_target t;
	struct up_timeouts to;
	struct jw head;
	int rc;

	if (e->up != NULL || e->state == E_FAILED)
		return;
	ev_timer_stop(loop, &e->timer);
	px_arena_free(&e->ar);
	e->status = 0;
	e->retry_after[0] = 0;
	e->toobig = 0;
	if (e->type == PX_CRED_ACCOUNT) {
		px_acct_ep_init(&ep, e->a.kind, (const char *(*)(const char *))
		    getenv);
		rc = px_oauth_refresh_request(&ep, &e->a, &e->ar, &r);
	} else {
		rc = e->tx ? px_tx_request(e->tx, &e->ar, &r) : -1;
	}
	jw_init(&head, &e->ar, 64 * 1024);
	if (rc < 0 || px_hreq_head(&r, &e->url, &head) < 0) {
		px_log("%s %s: nothing to renew the token with (or a bad URL): "
		    "log in again", e->type == PX_CRED_ACCOUNT ? "account" :
		    "token exchange of", ename(e));
		fail(e, 401, "cannot renew: log in again");
		return;
	}
	t.host = e->url.host;
	t.port = e->url.port;
	t.tls = e->url.tls;
	t.label = e->url.host;
	to.connect_ms = cfg->connect_timeout_ms;
	to.first_byte_ms = PX_ACCT_RENEW_MS;
	to.idle_ms = PX_ACCT_RENEW_MS;
	DBG("%s %s: renewing the token", e->type == PX_CRED_ACCOUNT ?
	    "account" : "token exchange of", ename(e));
	e->up = up_start(upe, &t, &to, head.buf, head.len, r.body, r.body_n,
	    &r_cbs, e);
	if (e->up == NULL)
		schedule(e, wall() + PX_ACCT_RETRY_MIN_MS);
}

/* ------------------------------------------------------------ interface */

/* see proxy_int.h */
int
acct_bind(struct px_config *c, const char *why)
{
	char warn[4096], *line, *save = NULL;
	int n;

	n = px_acct_bind(c, warn, sizeof warn);
	if (n < 0) {
		px_log("%s: %s", why, warn);
		return -1;
	}
	for (line = strtok_r(warn, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save))
		px_log("%s: %s", why, line);
	return 0;
}

/* see proxy_int.h */
void
acct_sync(const struct px_config *c)
{
	const struct px_provider *p;
	struct dcred *e, **pp;
	int pi, ci, any = 0;

	for (e = dcreds; e; e = e->next)
		e->live = 0;
	for (pi = 0; pi < c->nproviders; pi++)
		for (ci = 0; ci < c->providers[pi].ncreds; ci++)
			any |= c->providers[pi].creds[ci].src == PX_CRED_ACCOUNT;
	if (any)
		store_open(c);
	for (pi = 0; pi < c->nproviders; pi++) {
		p = &c->providers[pi];
		for (ci = 0; ci < p->ncreds; ci++) {
			const struct px_cred *k = &p->creds[ci];
			if (k->src == PX_CRED_KEY)
				continue;
			if ((e = find(k)) != NULL) {
				e->live = 1;
				if (e->type == PX_CRED_EXCHANGE)
					e->tx = p->tx;
				continue;
			}
			if ((e = entry_new(p, k)) == NULL) {
				px_log("accounts: out of memory");
				continue;
			}
			e->live = 1;
			if (e->type == PX_CRED_ACCOUNT) {
				load(e);
			} else {
				e->tx = p->tx;
				renew(e);       /* the first token, now */
			}
		}
	}
	for (pp = &dcreds; (e = *pp) != NULL;) {
		if (e->live) {
			/* a reload cleared the gateway's state: say it again */
			if (e->state == E_FAILED || e->why[0])
				gw_mark(e, 1, e->state == E_FAILED ? 401 : 503,
				    e->why);
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		entry_free(e);
	}
}

/* The accounts already loaded: any file rewritten by someone else (a new
 * login, an edit) is read again. */
static void
files_check(void)
{
	struct dcred *e;
	struct stat st;

	for (e = dcreds; e; e = e->next) {
		if (e->type != PX_CRED_ACCOUNT || file_stat(e, &st) < 0 ||
		    same_file(&st, &e->st))
			continue;
		px_log("account %s: its file changed: reading it again",
		    e->label);
		if (e->up) {
			up_cancel(e->up);
			e->up = NULL;
			px_arena_free(&e->ar);
		}
		load(e);
		if (e->state == E_OK && px_acct_fresh(&e->a, wall()))
			wake(e, 1);
	}
}

/* see proxy_int.h */
int
acct_tick(long long now)
{
	struct px_acct_entry *ents;
	struct dcred *e;
	struct stat st;
	char err[256];
	int n, i, j, found, changed = 0;
	const struct px_provider *p;

	(void)now;
	if (adir[0] == 0 || stat(adir, &st) < 0)
		return 0;
	if (dir_seen && st.st_mtim.tv_sec == dir_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == dir_st.st_mtim.tv_nsec &&
	    st.st_ino == dir_st.st_ino) {
		/* the same names; a file may still be rewritten in place */
		files_check();
		return 0;
	}
	dir_st = st;
	if (!dir_seen) {
		dir_seen = 1;
		return 0;
	}
	/* which accounts are there now, against the config's */
	if ((ents = calloc(PX_ACCT_MAX, sizeof *ents)) == NULL)
		return 0;
	n = px_acct_list(adir, ents, PX_ACCT_MAX, err, sizeof err);
	if (n > PX_ACCT_MAX)
		n = PX_ACCT_MAX;
	for (i = 0; i < n && !changed; i++) {
		enum px_acct_kind k;
		if (ents[i].rc != PX_ACCT_OK)
			continue;
		/* an account of a kind some provider takes, not bound yet */
		for (j = 0, found = 0; j < cfg->nproviders && !found; j++) {
			p = &cfg->providers[j];
			if (px_acct_kind_of(p, &k) < 0 || k != ents[i].a.kind)
				continue;
			found = 1;
			for (e = dcreds; e; e = e->next)
				if (e->type == PX_CRED_ACCOUNT &&
				    strcmp(e->label, ents[i].a.label) == 0)
					break;
			if (e == NULL)
				changed = 1;
		}
	}
	for (e = dcreds; e && !changed; e = e->next) {
		if (e->type != PX_CRED_ACCOUNT)
			continue;
		for (i = 0; i < n; i++)
			if (ents[i].rc == PX_ACCT_OK &&
			    strcmp(ents[i].a.label, e->label) == 0)
				break;
		if (i == n)
			changed = 1;          /* removed */
	}
	free(ents);
	if (changed)
		return 1;
	files_check();
	return 0;
}

static struct dcred *
entry_of(const struct conn *c)
{
	return c->cred != NULL && c->cred->src != PX_CRED_KEY ? find(c->cred) :
	    NULL;
}

static void
park(struct conn *c, struct dcred *e)
{
	c->acct_w = e;
	c->acct_next = e->waiters;
	e->waiters = c;
}

/* see proxy_int.h */
enum acct_ready
acct_ready(struct conn *c)
{
	struct dcred *e = entry_of(c);

	if (e == NULL || e->state == E_FAILED)
		return ACCT_FAIL;
	if (!e->forced && px_acct_fresh(&e->a, wall())) {
		c->acct_gen = e->gen;
		return ACCT_GO;
	}
	if (e->up == NULL)
		renew(e);
	if (e->state == E_FAILED)
		return ACCT_FAIL;
	if (e->up == NULL && !px_acct_fresh(&e->a, wall()))
		return ACCT_FAIL;
	if (e->up == NULL) {
		c->acct_gen = e->gen;
		return ACCT_GO;
	}
	park(c, e);
	return ACCT_WAIT;
}

/* see proxy_int.h */
const char *
acct_token(const struct conn *c)
{
	struct dcred *e = entry_of(c);

	return e != NULL && e->a.access != NULL ? e->a.access : "";
}

/* see proxy_int.h */
const struct px_account *
acct_account(const struct conn *c)
{
	struct dcred *e = entry_of(c);

	return e != NULL && e->type == PX_CRED_ACCOUNT ? &e->a : NULL;
}

/* see proxy_int.h */
int
acct_on_401(struct conn *c)
{
	struct dcred *e = entry_of(c);

	if (e == NULL || c->acct_retried || e->state == E_FAILED)
		return 0;
	c->acct_retried = 1;
	if (c->up) {
		up_cancel(c->up);
		c->up = NULL;
	}
	if (e->gen != c->acct_gen && px_acct_fresh(&e->a, wall())) {
		/* renewed since this request took its token: send again */
		DBG("conn %lu: %s answered 401; a newer token is there",
		    c->id, ename(e));
		relay_resume(c, 1);
		return 1;
	}
	DBG("conn %lu: %s answered 401: renewing the token", c->id, ename(e));
	e->forced = 1;
	if (e->up == NULL)
		renew(e);
	if (e->up == NULL) {
		relay_resume(c, 0);
		return 1;
	}
	park(c, e);
	return 1;
}

/* see proxy_int.h */
void
acct_forget(struct conn *c)
{
	struct dcred *e = c->acct_w;
	struct conn **pp;

	if (e == NULL)
		return;
	for (pp = &e->waiters; *pp; pp = &(*pp)->acct_next)
		if (*pp == c) {
			*pp = c->acct_next;
			break;
		}
	c->acct_w = NULL;
	c->acct_next = NULL;
}

/* see proxy_int.h */
void
acct_shutdown(void)
{
	struct dcred *e;

	while ((e = dcreds) != NULL) {
		dcreds = e->next;
		entry_free(e);
	}
	memset(key, 0, sizeof key);
	have_key = 0;
}
