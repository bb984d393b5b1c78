/*
 * route.c - the gateway's decision logic (see route.h for the contract).
 *
 * State is three fixed open-addressing hash tables inside struct px_gw:
 *
 *   records    cooldowns, one per (scope, id, upstream model):
 *                CRED  (credential id, model)  429: this key is rate-limited
 *                                              for this model
 *                PMOD  (provider id, model)    5xx: the provider fails this
 *                                              model, whichever key
 *                PALL  (provider id, -)        connection-level: the host is
 *                                              down for every model
 *              A record is replaced, never stacked: a credential and model
 *              sit in at most one cooldown, whose "level" counts the
 *              failures in a row for the exponential backoff. Success
 *              deletes the records that concern it (backoff restarts).
 *   creds      health per credential id: disabled (401/403) until reload,
 *              last success, last error, counters.
 *   provs      per provider id: the round-robin counter and the health
 *              check schedule.
 *
 * Ids are SHA-256 values from config.c, so their first bytes are already a
 * good hash; models are hashed with FNV-1a 64 and matched by hash and
 * length. Linear probing with backward-shift deletion keeps lookups a few
 * probes with no tombstones; a table never fills past 3/4 (records evict the
 * expired, else oldest, entry first). Deciding the next candidate is
 * therefore a handful of look-ups per credential considered, and nothing
 * allocates after px_gw_new().
 *
 * Why these scopes: a 429 is about one key's quota for one model; a 503 or
 * 529 is about the provider's capacity for that model (another key of the
 * same account would get the same answer); a refused connection is about the
 * host. Keying 5xx and connection failures on the provider means one failure
 * moves every later request straight to the next target instead of paying
 * a timeout per key.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "route.h"

#if PX_MAX_CREDS > 64
#error "PX_MAX_CREDS must be at most 64 (plans track tried keys in a bitmask)"
#endif
#if PX_RETRY_ATTEMPTS_CAP > 32767
#error "PX_RETRY_ATTEMPTS_CAP too large"
#endif
#if (PX_GW_SLOTS & (PX_GW_SLOTS - 1)) || \
    (PX_GW_CRED_SLOTS & (PX_GW_CRED_SLOTS - 1)) || \
    (PX_GW_PROV_SLOTS & (PX_GW_PROV_SLOTS - 1))
#error "PX_GW_*_SLOTS must be powers of two"
#endif
#if PX_GW_CRED_SLOTS / 4 * 3 < PX_MAX_CREDS_TOTAL || \
    PX_GW_PROV_SLOTS / 4 * 3 < PX_MAX_PROVIDERS
#error "PX_GW_CRED_SLOTS / PX_GW_PROV_SLOTS too small for the config caps"
#endif

enum { SC_CRED = 1, SC_PMOD = 2, SC_PALL = 3 };

/* The common head of every table entry: the key. */
struct gw_key {
	unsigned char used;
	unsigned char scope;
	unsigned short mlen;      /* model length (capped at USHRT_MAX) */
	unsigned char id[32];
	uint64_t mh;              /* model hash; 0 for no model */
};

struct gw_rec {
	struct gw_key k;
	unsigned char cls;        /* what set it */
	unsigned char level;      /* failures in a row */
	short status;
	int64_t until;            /* available again at */
	int64_t touched;          /* last failure */
	char model[PX_GW_MODEL_MAX];
};

struct gw_cred {
	struct gw_key k;
	unsigned char disabled, last_cls, live;
	short disabled_status, last_status;
	int64_t disabled_at, last_ok, last_err;
	unsigned long long n_ok, n_err;
	char why[PX_GW_WHY_MAX];  /* px_gw_cred_set's reason, or "" */
};

struct gw_prov {
	struct gw_key k;
	unsigned char live;
	unsigned rr, check_rr;
	int64_t next_check;
};

struct px_gw {
	struct gw_rec rec[PX_GW_SLOTS];
	struct gw_cred cred[PX_GW_CRED_SLOTS];
	struct gw_prov prov[PX_GW_PROV_SLOTS];
	size_t nrec, ncred, nprov;
};

#define REC_LIVE_MAX (PX_GW_SLOTS / 4 * 3)

/* ------------------------------------------------------------ hashing */

static uint64_t
fnv64(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h | 1;                 /* 0 means "no model" */
}

static void
key_set(struct gw_key *k, int scope, const unsigned char id[32],
    const char *model)
{
	size_t n = model ? strlen(model) : 0;

	memset(k, 0, sizeof *k);
	k->scope = (unsigned char)scope;
	memcpy(k->id, id, 32);
	if (model != NULL) {
		k->mh = fnv64(model, n);
		k->mlen = (unsigned short)(n > USHRT_MAX ? USHRT_MAX : n);
	}
}

static size_t
key_home(const struct gw_key *k, size_t cap)
{
	uint64_t h;

	memcpy(&h, k->id, sizeof h);
	h ^= k->mh * 0x9E3779B97F4A7C15ULL;
	h ^= (uint64_t)k->scope << 56;
	return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static int
key_eq(const struct gw_key *a, const struct gw_key *b)
{
	return a->scope == b->scope && a->mh == b->mh && a->mlen == b->mlen &&
	    memcmp(a->id, b->id, 32) == 0;
}

/* ------------------------------------------------------------ tables */

#define SLOT(base, esz, i) ((struct gw_key *)((char *)(base) + (esz) * (i)))

/* Index of the entry with key k, or -1. */
static long
tab_find(const void *base, size_t esz, size_t cap, const struct gw_key *k)
{
	size_t i = key_home(k, cap), n;
	const struct gw_key *e;

	for (n = 0; n < cap; n++, i = (i + 1) & (cap - 1)) {
		e = SLOT(base, esz, i);
		if (!e->used)
			return -1;
		if (key_eq(e, k))
			return (long)i;
	}
	return -1;
}

/* Claim an empty slot for k (not present; the table is below 3/4). The
 * entry is zeroed and its key set. */
static long
tab_insert(void *base, size_t esz, size_t cap, const struct gw_key *k)
{
	size_t i = key_home(k, cap), n;
	struct gw_key *e;

	for (n = 0; n < cap; n++, i = (i + 1) & (cap - 1)) {
		e = SLOT(base, esz, i);
		if (!e->used) {
			memset(e, 0, esz);
			*e = *k;
			e->used = 1;
			return (long)i;
		}
	}
	return -1;
}

/* Delete slot i, shifting later members of its cluster back so lookups
 * never meet a hole before their entry (Knuth 6.4, algorithm R). */
static void
tab_delete(void *base, size_t esz, size_t cap, size_t i)
{
	size_t j = i, h;
	struct gw_key *e;

	SLOT(base, esz, i)->used = 0;
	for (;;) {
		j = (j + 1) & (cap - 1);
		e = SLOT(base, esz, j);
		if (!e->used)
			return;
		h = key_home(e, cap);
		/* the entry at j may fill the hole at i unless its home lies
		 * cyclically in (i, j] */
		if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
			continue;
		memcpy(SLOT(base, esz, i), e, esz);
		e->used = 0;
		i = j;
	}
}

/*
 * Delete every entry for which keep() says 0. A backward shift can move an
 * entry into a slot already visited, so passes repeat until one deletes
 * nothing (one or two in practice).
 */
static size_t
tab_filter(void *base, size_t esz, size_t cap,
    int (*keep)(const struct px_gw *, const struct gw_key *),
    const struct px_gw *gw)
{
	size_t i, gone = 0;
	int again = 1;
	struct gw_key *e;

	while (again) {
		again = 0;
		for (i = 0; i < cap; i++) {
			e = SLOT(base, esz, i);
			while (e->used && !keep(gw, e)) {
				tab_delete(base, esz, cap, i);
				gone++;
				again = 1;
			}
		}
	}
	return gone;
}

static struct gw_cred *
cred_get(const struct px_gw *gw, const unsigned char id[32])
{
	struct gw_key k;
	long i;

	key_set(&k, 0, id, NULL);
	i = tab_find(gw->cred, sizeof gw->cred[0], PX_GW_CRED_SLOTS, &k);
	return i < 0 ? NULL : (struct gw_cred *)&gw->cred[i];
}

static struct gw_prov *
prov_get(const struct px_gw *gw, const unsigned char id[32])
{
	struct gw_key k;
	long i;

	key_set(&k, 0, id, NULL);
	i = tab_find(gw->prov, sizeof gw->prov[0], PX_GW_PROV_SLOTS, &k);
	return i < 0 ? NULL : (struct gw_prov *)&gw->prov[i];
}

static struct gw_rec *
rec_get(const struct px_gw *gw, int scope, const unsigned char id[32],
    const char *model)
{
	struct gw_key k;
	long i;

	if (gw->nrec == 0)
		return NULL;
	key_set(&k, scope, id, model);
	i = tab_find(gw->rec, sizeof gw->rec[0], PX_GW_SLOTS, &k);
	return i < 0 ? NULL : (struct gw_rec *)&gw->rec[i];
}

static void
rec_del(struct px_gw *gw, int scope, const unsigned char id[32],
    const char *model)
{
	struct gw_key k;
	long i;

	if (gw->nrec == 0)
		return;
	key_set(&k, scope, id, model);
	i = tab_find(gw->rec, sizeof gw->rec[0], PX_GW_SLOTS, &k);
	if (i >= 0) {
		tab_delete(gw->rec, sizeof gw->rec[0], PX_GW_SLOTS, (size_t)i);
		gw->nrec--;
	}
}

/* Make room for one record: drop the expired record touched longest ago,
 * or when none has expired, the one that ends soonest. */
static void
rec_evict(struct px_gw *gw, int64_t now)
{
	size_t i, victim = PX_GW_SLOTS;
	const struct gw_rec *r, *v = NULL;
	int vexp = 0, exp;

	for (i = 0; i < PX_GW_SLOTS; i++) {
		r = &gw->rec[i];
		if (!r->k.used)
			continue;
		exp = r->until <= now;
		if (v == NULL || (exp && !vexp) ||
		    (exp && vexp && r->touched < v->touched) ||
		    (!exp && !vexp && r->until < v->until)) {
			v = r;
			vexp = exp;
			victim = i;
		}
	}
	if (victim < PX_GW_SLOTS) {
		tab_delete(gw->rec, sizeof gw->rec[0], PX_GW_SLOTS, victim);
		gw->nrec--;
	}
}

/* The record for the key, created (level 0, not cooling) if absent. */
static struct gw_rec *
rec_put(struct px_gw *gw, int scope, const unsigned char id[32],
    const char *model, int64_t now)
{
	struct gw_key k;
	struct gw_rec *r;
	long i;
	size_t n;

	if ((r = rec_get(gw, scope, id, model)) != NULL)
		return r;
	if (gw->nrec >= REC_LIVE_MAX)
		rec_evict(gw, now);
	key_set(&k, scope, id, model);
	i = tab_insert(gw->rec, sizeof gw->rec[0], PX_GW_SLOTS, &k);
	if (i < 0)
		return NULL;
	gw->nrec++;
	r = &gw->rec[i];
	if (model != NULL) {
		n = strlen(model);
		if (n >= sizeof r->model)
			n = sizeof r->model - 1;
		memcpy(r->model, model, n);
		r->model[n] = 0;
	}
	return r;
}

/* ------------------------------------------------------------ lifetime */

/* see route.h */
struct px_gw *
px_gw_new(void)
{
	return calloc(1, sizeof(struct px_gw));
}

/* see route.h */
void
px_gw_free(struct px_gw *gw)
{
	free(gw);
}

static int
keep_live_cred(const struct px_gw *gw, const struct gw_key *k)
{
	return ((const struct gw_cred *)k)->live;
}

static int
keep_live_prov(const struct px_gw *gw, const struct gw_key *k)
{
	return ((const struct gw_prov *)k)->live;
}

/* A record survives a reload when what it is about still exists. */
static int
keep_rec(const struct px_gw *gw, const struct gw_key *k)
{
	if (k->scope == SC_CRED)
		return cred_get(gw, k->id) != NULL;
	return prov_get(gw, k->id) != NULL;
}

/* see route.h */
void
px_gw_reload(struct px_gw *gw, const struct px_config *cfg, int64_t now)
{
	const struct px_provider *p;
	struct gw_cred *c;
	struct gw_prov *v;
	struct gw_key k;
	size_t i;
	int pi, ci;
	long s;

	/* mark what the new config still has, drop the rest */
	for (i = 0; i < PX_GW_CRED_SLOTS; i++)
		gw->cred[i].live = 0;
	for (i = 0; i < PX_GW_PROV_SLOTS; i++)
		gw->prov[i].live = 0;
	for (pi = 0; pi < cfg->nproviders; pi++) {
		p = &cfg->providers[pi];
		if ((v = prov_get(gw, p->id)) != NULL)
			v->live = 1;
		for (ci = 0; ci < p->ncreds; ci++)
			if ((c = cred_get(gw, p->creds[ci].id)) != NULL)
				c->live = 1;
	}
	gw->ncred -= tab_filter(gw->cred, sizeof gw->cred[0],
	    PX_GW_CRED_SLOTS, keep_live_cred, gw);
	gw->nprov -= tab_filter(gw->prov, sizeof gw->prov[0],
	    PX_GW_PROV_SLOTS, keep_live_prov, gw);
	gw->nrec -= tab_filter(gw->rec, sizeof gw->rec[0], PX_GW_SLOTS,
	    keep_rec, gw);

	/* add the new ones; a reload gives disabled credentials another go */
	for (pi = 0; pi < cfg->nproviders; pi++) {
		p = &cfg->providers[pi];
		v = prov_get(gw, p->id);
		if (v == NULL && gw->nprov < PX_GW_PROV_SLOTS / 4 * 3) {
			key_set(&k, 0, p->id, NULL);
			s = tab_insert(gw->prov, sizeof gw->prov[0],
			    PX_GW_PROV_SLOTS, &k);
			if (s >= 0) {
				v = &gw->prov[s];
				gw->nprov++;
				v->next_check = now;
			}
		}
		if (v != NULL && p->health_model != NULL &&
		    v->next_check > now + p->health_interval_s * 1000LL)
			v->next_check = now + p->health_interval_s * 1000LL;
		for (ci = 0; ci < p->ncreds; ci++) {
			c = cred_get(gw, p->creds[ci].id);
			if (c == NULL && gw->ncred < PX_GW_CRED_SLOTS / 4 * 3) {
				key_set(&k, 0, p->creds[ci].id, NULL);
				s = tab_insert(gw->cred, sizeof gw->cred[0],
				    PX_GW_CRED_SLOTS, &k);
				if (s >= 0) {
					c = &gw->cred[s];
					gw->ncred++;
				}
			}
			if (c != NULL) {
				c->live = 1;
				c->disabled = 0;
				c->disabled_status = 0;
				c->disabled_at = 0;
				c->why[0] = 0;
			}
		}
	}
}

/* ------------------------------------------------------------ outcomes */

/* see route.h */
void
px_outcome_init(struct px_outcome *o, enum px_out_class cls, int status)
{
	memset(o, 0, sizeof *o);
	o->cls = cls;
	o->status = status;
}

static const struct {
	const char *reset, *remaining;
} hint_names[PX_H_N] = {
	{ "retry-after", NULL },
	{ "retry-after-ms", NULL },
	{ "anthropic-ratelimit-requests-reset",
	  "anthropic-ratelimit-requests-remaining" },
	{ "anthropic-ratelimit-tokens-reset",
	  "anthropic-ratelimit-tokens-remaining" },
	{ "anthropic-ratelimit-input-tokens-reset",
	  "anthropic-ratelimit-input-tokens-remaining" },
	{ "anthropic-ratelimit-output-tokens-reset",
	  "anthropic-ratelimit-output-tokens-remaining" },
	{ "x-ratelimit-reset-requests", "x-ratelimit-remaining-requests" },
	{ "x-ratelimit-reset-tokens", "x-ratelimit-remaining-tokens" },
	{ "anthropic-ratelimit-unified-reset", NULL },
};

static int
name_is(const char *name, size_t n, const char *lit)
{
	return lit != NULL && strlen(lit) == n && strncasecmp(name, lit, n) == 0;
}

/* see route.h */
int
px_outcome_header(struct px_outcome *o, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
	int i;

	while (vlen > 0 && (value[0] == ' ' || value[0] == '\t')) {
		value++;
		vlen--;
	}
	while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
		vlen--;
	for (i = 0; i < PX_H_N; i++) {
		if (name_is(name, nlen, hint_names[i].reset)) {
			o->hdr[i].p = value;
			o->hdr[i].n = vlen;
			return 1;
		}
		if (name_is(name, nlen, hint_names[i].remaining)) {
			o->remaining[i].p = value;
			o->remaining[i].n = vlen;
			return 1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ time text */

static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	*y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y += *m <= 2;
}

/* A cursor over s[0..n). */
struct cur {
	const char *p, *e;
};

static int
cur_num(struct cur *c, int min, int max, int64_t *out)
{
	int k = 0;
	int64_t v = 0;

	while (c->p < c->e && *c->p >= '0' && *c->p <= '9' && k < max) {
		v = v * 10 + (*c->p++ - '0');
		k++;
	}
	if (k < min)
		return -1;
	*out = v;
	return 0;
}

static int
cur_ch(struct cur *c, char ch)
{
	if (c->p < c->e && *c->p == ch) {
		c->p++;
		return 0;
	}
	return -1;
}

static int
cur_month(struct cur *c)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int i;

	if (c->e - c->p < 3)
		return -1;
	for (i = 0; i < 12; i++)
		if (memcmp(c->p, months + 3 * i, 3) == 0) {
			c->p += 3;
			return i + 1;
		}
	return -1;
}

static int
hms(struct cur *c, int64_t *h, int64_t *mi, int64_t *s)
{
	if (cur_num(c, 2, 2, h) < 0 || cur_ch(c, ':') < 0 ||
	    cur_num(c, 2, 2, mi) < 0 || cur_ch(c, ':') < 0 ||
	    cur_num(c, 2, 2, s) < 0)
		return -1;
	return *h < 24 && *mi < 60 && *s < 61 ? 0 : -1;
}

static int
civil_ok(int64_t y, int m, int64_t d)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	return y >= 1970 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 &&
	    d <= mdays[m - 1];
}

/* RFC 9110 §5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime
 * forms a recipient must still accept. */
static int
parse_http_date(const char *s, size_t n, int64_t *ms)
{
	struct cur c;
	int64_t y, d, h, mi, sec;
	int m;

	c.p = s;
	c.e = s + n;
	while (c.p < c.e && ((*c.p >= 'A' && *c.p <= 'Z') ||
	    (*c.p >= 'a' && *c.p <= 'z')))
		c.p++;
	if (cur_ch(&c, ',') == 0) {
		if (cur_ch(&c, ' ') < 0 || cur_num(&c, 2, 2, &d) < 0)
			return -1;
		if (cur_ch(&c, '-') == 0) {               /* RFC 850 */
			if ((m = cur_month(&c)) < 0 || cur_ch(&c, '-') < 0 ||
			    cur_num(&c, 2, 2, &y) < 0)
				return -1;
			y += y < 70 ? 2000 : 1900;
		} else if (cur_ch(&c, ' ') < 0 || (m = cur_month(&c)) < 0 ||
		    cur_ch(&c, ' ') < 0 || cur_num(&c, 4, 4, &y) < 0)
			return -1;
		if (cur_ch(&c, ' ') < 0 || hms(&c, &h, &mi, &sec) < 0 ||
		    c.e - c.p != 4 || memcmp(c.p, " GMT", 4) != 0)
			return -1;
	} else {                                          /* asctime */
		if (cur_ch(&c, ' ') < 0 || (m = cur_month(&c)) < 0 ||
		    cur_ch(&c, ' ') < 0)
			return -1;
		cur_ch(&c, ' ');
		if (cur_num(&c, 1, 2, &d) < 0 || cur_ch(&c, ' ') < 0 ||
		    hms(&c, &h, &mi, &sec) < 0 || cur_ch(&c, ' ') < 0 ||
		    cur_num(&c, 4, 4, &y) < 0 || c.p != c.e)
			return -1;
	}
	if (!civil_ok(y, m, d))
		return -1;
	*ms = ((days_from_civil(y, m, (int)d) * 86400) + h * 3600 + mi * 60 +
	    sec) * 1000;
	return 0;
}

/* see route.h */
int64_t
px_parse_retry_after(const char *s, size_t n, int64_t now)
{
	int64_t v = 0, ms;
	size_t i;

	if (s == NULL || n == 0)
		return -1;
	for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		if (v < 1000000000)
			v = v * 10 + (s[i] - '0');
	if (i == n)
		return now + v * 1000;
	if (parse_http_date(s, n, &ms) < 0)
		return -1;
	return ms;
}

/* see route.h */
int
px_parse_rfc3339(const char *s, size_t n, int64_t *ms)
{
	struct cur c;
	int64_t y, mo, d, h, mi, sec, oh = 0, om = 0, frac = 0, scale = 1000;
	int sign = 0;

	c.p = s;
	c.e = s + n;
	if (cur_num(&c, 4, 4, &y) < 0 || cur_ch(&c, '-') < 0 ||
	    cur_num(&c, 2, 2, &mo) < 0 || cur_ch(&c, '-') < 0 ||
	    cur_num(&c, 2, 2, &d) < 0)
		return -1;
	if (c.p >= c.e || (*c.p != 'T' && *c.p != 't' && *c.p != ' '))
		return -1;
	c.p++;
	if (hms(&c, &h, &mi, &sec) < 0)
		return -1;
	if (cur_ch(&c, '.') == 0) {
		if (c.p >= c.e || *c.p < '0' || *c.p > '9')
			return -1;
		for (; c.p < c.e && *c.p >= '0' && *c.p <= '9'; c.p++)
			if (scale > 1) {
				scale /= 10;
				frac += (*c.p - '0') * scale;
			}
	}
	if (c.p < c.e && (*c.p == 'Z' || *c.p == 'z'))
		c.p++;
	else if (c.p < c.e && (*c.p == '+' || *c.p == '-')) {
		sign = *c.p++ == '-' ? -1 : 1;
		if (cur_num(&c, 2, 2, &oh) < 0 || cur_ch(&c, ':') < 0 ||
		    cur_num(&c, 2, 2, &om) < 0 || oh > 23 || om > 59)
			return -1;
	} else
		return -1;
	if (c.p != c.e || !civil_ok(y, (int)mo, d))
		return -1;
	*ms = ((days_from_civil(y, (int)mo, (int)d) * 86400) + h * 3600 +
	    mi * 60 + sec - sign * (oh * 3600 + om * 60)) * 1000 + frac;
	return 0;
}

/* see route.h */
int
px_parse_duration(const char *s, size_t n, int64_t *ms)
{
	static const struct {
		const char *u;
		int64_t ns;
	} units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 },
		{ "\xce\xbcs", 1000 }, { "ms", 1000000 },
		{ "s", 1000000000LL }, { "m", 60000000000LL },
		{ "h", 3600000000000LL },
	};
	struct cur c;
	int64_t total = 0, iv, fv, fs, ns;
	size_t i, ul, best;
	int digits;

	c.p = s;
	c.e = s + n;
	if (n == 1 && s[0] == '0') {
		*ms = 0;
		return 0;
	}
	if (n == 0)
		return -1;
	while (c.p < c.e) {
		iv = fv = 0;
		fs = 1;
		digits = 0;
		for (; c.p < c.e && *c.p >= '0' && *c.p <= '9'; c.p++) {
			if (iv > 100000000)           /* > ~3 years in hours */
				return -1;
			iv = iv * 10 + (*c.p - '0');
			digits++;
		}
		if (cur_ch(&c, '.') == 0)
			for (; c.p < c.e && *c.p >= '0' && *c.p <= '9'; c.p++) {
				digits++;
				if (fs < 1000000000LL) {
					fv = fv * 10 + (*c.p - '0');
					fs *= 10;
				}
			}
		if (digits == 0)
			return -1;
		/* the longest unit that matches ("ms" before "m") */
		best = sizeof units / sizeof units[0];
		ul = 0;
		for (i = 0; i < sizeof units / sizeof units[0]; i++) {
			size_t k = strlen(units[i].u);
			if ((size_t)(c.e - c.p) >= k &&
			    memcmp(c.p, units[i].u, k) == 0 && k > ul) {
				best = i;
				ul = k;
			}
		}
		if (best == sizeof units / sizeof units[0])
			return -1;
		c.p += ul;
		ns = iv * units[best].ns + fv * (units[best].ns / fs) +
		    (fv * (units[best].ns % fs)) / fs;
		if (ns < 0 || total > INT64_MAX / 2 - ns)
			return -1;
		total += ns;
	}
	*ms = (total + 999999) / 1000000;
	return 0;
}

/* see route.h */
char *
px_fmt_rfc3339(int64_t ms, char *buf, size_t cap)
{
	int64_t y, days, secs;
	int m, d;

	if (ms < 0)
		ms = 0;
	days = ms / 86400000;
	secs = (ms / 1000) % 86400;
	civil_from_days(days, &y, &m, &d);
	snprintf(buf, cap, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y,
	    m, d, (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
	return buf;
}

/*
 * When the upstream says to come back: retry-after-ms, then Retry-After,
 * then (rate limits only: rate) the rate-limit reset headers - those whose
 * "remaining" is 0 name the exhausted limit (the latest of them counts);
 * without such a mark the earliest reset is taken. Every answer carries
 * the reset headers, so they say nothing about a server error. Returns the
 * absolute time, or -1 for no hint.
 */
static int64_t
hint_at(const struct px_outcome *o, int64_t now, int rate)
{
	int64_t t, best0 = -1, bestany = -1, v;
	int i, zero;

	if (rate && o->reset_at > 0)
		return o->reset_at;
	if (o->hdr[PX_H_RETRY_AFTER_MS].n > 0) {
		const struct px_str *h = &o->hdr[PX_H_RETRY_AFTER_MS];
		size_t k;

		v = 0;
		for (k = 0; k < h->n && h->p[k] >= '0' && h->p[k] <= '9'; k++)
			if (v < 100000000000LL)
				v = v * 10 + (h->p[k] - '0');
		/* "123.4": whole ms are enough */
		if (k > 0 && (k == h->n || h->p[k] == '.'))
			return now + v;
	}
	if (o->hdr[PX_H_RETRY_AFTER].n > 0 &&
	    (t = px_parse_retry_after(o->hdr[PX_H_RETRY_AFTER].p,
	    o->hdr[PX_H_RETRY_AFTER].n, now)) >= 0)
		return t;
	for (i = PX_H_ANT_REQUESTS; rate && i < PX_H_N; i++) {
		if (o->hdr[i].n == 0)
			continue;
		if (i == PX_H_ANT_UNIFIED) {
			/* unix seconds (what Anthropic sends), or a date */
			const struct px_str *h = &o->hdr[i];
			size_t k;
			for (k = 0, v = 0; k < h->n && h->p[k] >= '0' &&
			    h->p[k] <= '9' && v < 100000000000LL; k++)
				v = v * 10 + (h->p[k] - '0');
			if (k == h->n && k > 0)
				t = v * 1000;
			else if (px_parse_rfc3339(h->p, h->n, &t) < 0)
				continue;
		} else if (i <= PX_H_ANT_OUTPUT) {
			if (px_parse_rfc3339(o->hdr[i].p, o->hdr[i].n, &t) < 0)
				continue;
		} else {
			if (px_parse_duration(o->hdr[i].p, o->hdr[i].n, &t) < 0)
				continue;
			t += now;
		}
		zero = o->remaining[i].n == 1 && o->remaining[i].p[0] == '0';
		if (zero && t > best0)
			best0 = t;
		if (bestany < 0 || t < bestany)
			bestany = t;
	}
	return best0 >= 0 ? best0 : bestany;
}

/* ------------------------------------------------------------ decisions */

enum act { ACT_OK, ACT_ANSWER, ACT_RATE, ACT_SERVER, ACT_CONN, ACT_AUTH };

static int
eff_status(const struct px_outcome *o)
{
	if (o->cls == PX_OUT_STREAM_ERROR && o->status == 0)
		return 500;
	return o->status;
}

static enum act
classify(const struct px_outcome *o)
{
	int st = eff_status(o);

	switch (o->cls) {
	case PX_OUT_OK:
		return ACT_OK;
	case PX_OUT_DNS:
	case PX_OUT_CONNECT:
	case PX_OUT_TLS:
		return ACT_CONN;
	case PX_OUT_TIMEOUT:
		/* a slow model more often than a dead provider: cool the
		 * provider for that model, like a 5xx */
		return ACT_SERVER;
	case PX_OUT_HTTP:
	case PX_OUT_STREAM_ERROR:
		if (o->cls == PX_OUT_HTTP && st >= 200 && st < 300)
			return ACT_OK;
		switch (st) {
		case 429:
			return ACT_RATE;
		case 500: case 502: case 503: case 504: case 529:
			return ACT_SERVER;
		case 401: case 403:
			return ACT_AUTH;
		default:
			return ACT_ANSWER;
		}
	default:
		return ACT_ANSWER;
	}
}

/* see route.h */
int
px_outcome_rank(enum px_out_class cls, int status)
{
	switch (cls) {
	case PX_OUT_DNS:
		return 10;
	case PX_OUT_CONNECT:
		return 20;
	case PX_OUT_TLS:
		return 30;
	case PX_OUT_TIMEOUT:
		return 40;
	case PX_OUT_HTTP:
	case PX_OUT_STREAM_ERROR:
		if (cls == PX_OUT_STREAM_ERROR && status == 0)
			status = 500;
		switch (status) {
		case 429: return 100;
		case 529: return 90;
		case 503: return 85;
		case 500: case 502: case 504: return 80;
		case 401: case 403: return 60;
		default: return 50;
		}
	default:
		return 0;
	}
}

/* see route.h */
const char *
px_out_class_name(enum px_out_class cls)
{
	static const char *const names[PX_OUT_NCLASS] = { "ok", "dns",
	    "connect", "tls", "timeout", "http", "stream_error" };

	return (unsigned)cls < PX_OUT_NCLASS ? names[cls] : "pending";
}

/* Next backoff for record r (level counts failures in a row; a failure
 * older than PX_GW_FORGET_MS starts again at the minimum). */
static int64_t
backoff(struct gw_rec *r, int64_t now, int64_t min, int64_t max)
{
	int64_t d = min;
	int i;

	if (r->level > 0 && now - r->touched > PX_GW_FORGET_MS)
		r->level = 0;
	if (r->level < 60)
		r->level++;
	for (i = 1; i < r->level && d < max; i++)
		d *= 2;
	return d < max ? d : max;
}

static void
cool(struct gw_rec *r, const struct px_outcome *o, int64_t now,
    int64_t min, int64_t max)
{
	int64_t d = backoff(r, now, min, max);
	int64_t t = hint_at(o, now, eff_status(o) == 429);

	if (t >= 0) {
		/* the upstream's own word wins, within reason */
		d = t - now;
		if (d < 0)
			d = 0;
		if (d > PX_GW_HINT_MAX_MS)
			d = PX_GW_HINT_MAX_MS;
	}
	r->until = now + d;
	r->touched = now;
	r->cls = (unsigned char)o->cls;
	r->status = (short)eff_status(o);
}

/*
 * When candidate (provider p, credential k, upstream model) is available:
 * <= now means now; INT64_MAX when disabled. *why gets the record behind a
 * later time (or NULL).
 */
static int64_t
avail_at(const struct px_gw *gw, const struct px_provider *p,
    const struct px_cred *k, const char *model,
    const struct gw_rec **why)
{
	const struct gw_cred *c = cred_get(gw, k->id);
	const struct gw_rec *r;
	int64_t t = 0;

	*why = NULL;
	if (c != NULL && c->disabled)
		return INT64_MAX;
	if ((r = rec_get(gw, SC_PALL, p->id, NULL)) != NULL && r->until > t) {
		t = r->until;
		*why = r;
	}
	if ((r = rec_get(gw, SC_PMOD, p->id, model)) != NULL && r->until > t) {
		t = r->until;
		*why = r;
	}
	if ((r = rec_get(gw, SC_CRED, k->id, model)) != NULL && r->until > t) {
		t = r->until;
		*why = r;
	}
	return t;
}

static const char *
target_model(const struct px_plan *pl, const struct px_target *t)
{
	return t->model != NULL && t->model[0] ? t->model : pl->model;
}

/* see route.h */
int
px_plan_init(struct px_plan *pl, const struct px_config *cfg,
    const struct px_route *r, const char *m, size_t n, int64_t now)
{
	memset(pl, 0, sizeof *pl);
	pl->cfg = cfg;
	pl->route = r;
	pl->start = now;
	pl->best = -1;
	pl->max_attempts = r ? r->retry.max_attempts : 1;
	pl->budget_ms = r ? r->retry.budget_ms : 0;
	if (pl->max_attempts < 1)
		pl->max_attempts = 1;
	if (pl->max_attempts > PX_RETRY_ATTEMPTS_CAP)
		pl->max_attempts = PX_RETRY_ATTEMPTS_CAP;
	if (m == NULL)
		n = 0;
	if (n >= sizeof pl->model)
		return -1;
	if (n > 0)
		memcpy(pl->model, m, n);
	pl->model[n] = 0;
	return 0;
}

static void
fill_attempt(struct px_plan *pl, struct px_attempt *a, int target, int pi,
    int ci, const char *model)
{
	const struct px_provider *p = &pl->cfg->providers[pi];
	struct px_attempt_log *l;

	memset(a, 0, sizeof *a);
	a->n = ++pl->nattempts;
	a->target = target;
	a->provider = pi;
	a->cred = ci;
	a->p = p;
	a->k = &p->creds[ci];
	a->model = model;
	a->body_model = px_provider_deployment(p, model);
	a->fmt = px_provider_fmt(p, model);
	l = &pl->log[a->n - 1];
	l->provider = (short)pi;
	l->cred = (short)ci;
	l->cls = PX_OUT_NCLASS;
	l->status = 0;
}

static int
skipped(const struct px_plan *pl, int pi)
{
	return (pl->skip[pi / 64] >> (pi % 64)) & 1;
}

/* Soonest moment any candidate of the route is available, and the status
 * of the cooldown behind it. */
static void
plan_soonest(const struct px_gw *gw, struct px_plan *pl, int64_t now)
{
	const struct px_route *r = pl->route;
	const struct px_provider *p;
	const struct gw_rec *why;
	const char *model;
	int64_t t, best = 0;
	int ti, ci, st = 0;

	for (ti = 0; r != NULL && ti < r->ntargets; ti++) {
		p = &pl->cfg->providers[r->targets[ti].provider];
		model = target_model(pl, &r->targets[ti]);
		for (ci = 0; ci < p->ncreds; ci++) {
			t = avail_at(gw, p, &p->creds[ci], model, &why);
			if (t == INT64_MAX)
				continue;
			if (t < now)
				t = now;
			if (best == 0 || t < best) {
				best = t;
				st = why ? why->status : 0;
			}
		}
	}
	pl->retry_at = best;
	pl->soon_status = st;
}

static int
plan_stop(const struct px_gw *gw, struct px_plan *pl, int64_t now,
    enum px_stop why)
{
	pl->stop = why;
	plan_soonest(gw, pl, now);
	return 0;
}

/* see route.h */
int
px_plan_next(struct px_gw *gw, struct px_plan *pl, int64_t now,
    struct px_attempt *a)
{
	const struct px_route *r = pl->route;
	const struct px_target *t;
	const struct px_provider *p;
	const struct gw_rec *why;
	struct gw_prov *v;
	const char *model;
	int k, ci;

	if (pl->stop != PX_STOP_NONE)
		return 0;
	if (r == NULL)
		return plan_stop(gw, pl, now, PX_STOP_EXHAUSTED);
	if (pl->nattempts >= pl->max_attempts)
		return plan_stop(gw, pl, now, PX_STOP_ATTEMPTS);
	if (pl->nattempts > 0 && pl->budget_ms > 0 &&
	    now - pl->start >= pl->budget_ms)
		return plan_stop(gw, pl, now, PX_STOP_BUDGET);
	for (; pl->target < r->ntargets; pl->target++, pl->entered = 0) {
		t = &r->targets[pl->target];
		if (skipped(pl, t->provider))
			continue;
		p = &pl->cfg->providers[t->provider];
		model = target_model(pl, t);
		if (!pl->entered) {
			pl->entered = 1;
			pl->tried = 0;
			pl->rot = 0;
			if (p->strategy == PX_STRAT_ROUND_ROBIN &&
			    p->ncreds > 1 &&
			    (v = prov_get(gw, p->id)) != NULL)
				pl->rot = (int)(v->rr++ % (unsigned)p->ncreds);
		}
		for (k = 0; k < p->ncreds; k++) {
			ci = (pl->rot + k) % p->ncreds;
			if ((pl->tried >> ci) & 1)
				continue;
			if (avail_at(gw, p, &p->creds[ci], model, &why) > now)
				continue;
			pl->tried |= 1ULL << ci;
			fill_attempt(pl, a, pl->target, t->provider, ci, model);
			return 1;
		}
	}
	return plan_stop(gw, pl, now, pl->nattempts ? PX_STOP_EXHAUSTED :
	    PX_STOP_UNAVAILABLE);
}

/* see route.h */
int
px_gw_report(struct px_gw *gw, struct px_plan *pl,
    const struct px_attempt *a, const struct px_outcome *o, int64_t now)
{
	const struct px_provider *p = a->p;
	struct gw_cred *c = cred_get(gw, a->k->id);
	int live_prov = prov_get(gw, p->id) != NULL;
	struct px_attempt_log *l = NULL;
	struct gw_rec *r;
	enum act act = classify(o);
	int rank, verdict = PX_RETRY;

	if (a->n >= 1 && a->n <= pl->nattempts) {
		l = &pl->log[a->n - 1];
		l->cls = (unsigned char)o->cls;
		l->status = (short)o->status;
	}
	if (c != NULL) {
		if (act == ACT_OK) {
			c->last_ok = now;
			c->n_ok++;
		} else if (act != ACT_ANSWER) {
			c->last_err = now;
			c->last_cls = (unsigned char)o->cls;
			c->last_status = (short)eff_status(o);
			c->n_err++;
		}
	}
	switch (act) {
	case ACT_OK:
		/* backoff restarts; the provider evidently works */
		rec_del(gw, SC_CRED, a->k->id, a->model);
		rec_del(gw, SC_PMOD, p->id, a->model);
		rec_del(gw, SC_PALL, p->id, NULL);
		verdict = PX_ANSWER;
		break;
	case ACT_ANSWER:
		verdict = PX_ANSWER;
		break;
	case ACT_RATE:
		if (c != NULL &&
		    (r = rec_put(gw, SC_CRED, a->k->id, a->model, now)) != NULL)
			cool(r, o, now, PX_GW_RATE_MIN_MS, PX_GW_RATE_MAX_MS);
		break;
	case ACT_AUTH:
		if (c != NULL) {
			c->disabled = 1;
			c->disabled_status = (short)eff_status(o);
			c->disabled_at = now;
			c->why[0] = 0;
		}
		break;
	case ACT_SERVER:
		/* a health check speaks for the whole provider */
		if (live_prov && (r = rec_put(gw, pl->health ? SC_PALL : SC_PMOD,
		    p->id, pl->health ? NULL : a->model, now)) != NULL)
			cool(r, o, now, PX_GW_FAIL_MIN_MS, PX_GW_FAIL_MAX_MS);
		/* the provider, not the key: no other key for this target */
		pl->tried = ~0ULL;
		break;
	case ACT_CONN:
		if (live_prov &&
		    (r = rec_put(gw, SC_PALL, p->id, NULL, now)) != NULL)
			cool(r, o, now, PX_GW_FAIL_MIN_MS, PX_GW_FAIL_MAX_MS);
		/* the host is down: none of its targets for this request */
		if (a->provider >= 0 && a->provider < PX_MAX_PROVIDERS)
			pl->skip[a->provider / 64] |= 1ULL << (a->provider % 64);
		break;
	}
	if (verdict == PX_ANSWER) {
		pl->stop = PX_STOP_ANSWERED;
		return verdict;
	}
	rank = px_outcome_rank(o->cls, o->status);
	if (l != NULL && rank > pl->best_rank) {
		pl->best_rank = rank;
		pl->best = a->n - 1;
	}
	return verdict;
}

/* see route.h */
int
px_plan_keep(const struct px_plan *pl, const struct px_attempt *a)
{
	return pl->best >= 0 && pl->best == a->n - 1;
}

/* see route.h */
void
px_plan_result(const struct px_plan *pl, int64_t now,
    struct px_plan_result *res)
{
	const struct px_attempt_log *b;

	memset(res, 0, sizeof *res);
	res->best = pl->best;
	res->why = pl->stop;
	res->retry_at = pl->retry_at;
	res->status = 503;
	if (pl->best >= 0) {
		b = &pl->log[pl->best];
		if (b->cls == PX_OUT_HTTP || b->cls == PX_OUT_STREAM_ERROR) {
			res->status = b->status ? b->status : 500;
			res->from_upstream = 1;
			return;
		}
	}
	if (pl->soon_status == 429)
		res->status = 429;
}

/* see route.h */
long long
px_retry_after_s(int64_t retry_at, int64_t now)
{
	int64_t d;

	if (retry_at <= 0)
		return 0;
	d = retry_at - now;
	if (d <= 1000)
		return 1;
	return (long long)((d + 999) / 1000);
}

/* see route.h */
size_t
px_plan_log_str(const struct px_plan *pl, char *buf, size_t cap)
{
	const struct px_attempt_log *l;
	const struct px_provider *p;
	size_t len = 0;
	int i, k;
	char out[16];

	if (cap == 0)
		return 0;
	buf[0] = 0;
	for (i = 0; i < pl->nattempts; i++) {
		l = &pl->log[i];
		p = &pl->cfg->providers[l->provider];
		if (l->cls == PX_OUT_HTTP || l->cls == PX_OUT_STREAM_ERROR)
			snprintf(out, sizeof out, "%s%d", l->cls ==
			    PX_OUT_STREAM_ERROR ? "event" : "", l->status);
		else
			snprintf(out, sizeof out, "%s",
			    px_out_class_name((enum px_out_class)l->cls));
		k = snprintf(buf + len, cap - len, "%s%s/%s=%s", i ? "," : "",
		    p->name, p->creds[l->cred].label, out);
		if (k < 0 || (size_t)k >= cap - len) {
			buf[len] = 0;
			break;
		}
		len += (size_t)k;
	}
	return len;
}

/* ------------------------------------------------------------ health */

/* see route.h */
int
px_gw_health_due(struct px_gw *gw, const struct px_config *cfg, int64_t now,
    struct px_plan *pl, struct px_attempt *a, int64_t *next_at)
{
	const struct px_provider *p;
	const struct gw_cred *c;
	struct gw_prov *v;
	int64_t soon = 0;
	int pi, k, ci = 0;

	for (pi = 0; pi < cfg->nproviders; pi++) {
		p = &cfg->providers[pi];
		if (p->health_model == NULL ||
		    (v = prov_get(gw, p->id)) == NULL)
			continue;
		if (v->next_check > now) {
			if (soon == 0 || v->next_check < soon)
				soon = v->next_check;
			continue;
		}
		v->next_check = now + p->health_interval_s * 1000LL;
		if (soon == 0 || v->next_check < soon)
			soon = v->next_check;
		/* the next credential in turn that is not disabled */
		for (k = 0; k < p->ncreds; k++) {
			ci = (int)((v->check_rr + (unsigned)k) %
			    (unsigned)p->ncreds);
			c = cred_get(gw, p->creds[ci].id);
			if (c == NULL || !c->disabled)
				break;
		}
		if (k == p->ncreds)
			continue;
		v->check_rr = (unsigned)ci + 1;
		px_plan_init(pl, cfg, NULL, p->health_model,
		    strlen(p->health_model), now);
		pl->health = 1;
		fill_attempt(pl, a, -1, pi, ci, p->health_model);
		pl->stop = PX_STOP_EXHAUSTED;     /* one attempt only */
		return 1;
	}
	if (next_at != NULL)
		*next_at = soon;
	return 0;
}

/* ------------------------------------------------------------ views */

/* see route.h */
int
px_gw_cred_set(struct px_gw *gw, const unsigned char id[32], int disabled,
    int status, const char *why, int64_t now)
{
	struct gw_cred *c = cred_get(gw, id);
	size_t i;

	if (c == NULL)
		return -1;
	if (!disabled) {
		c->disabled = 0;
		c->disabled_status = 0;
		c->disabled_at = 0;
		c->why[0] = 0;
		return 0;
	}
	if (!c->disabled)
		c->disabled_at = now;
	c->disabled = 1;
	c->disabled_status = (short)status;
	for (i = 0; why && why[i] && i + 1 < sizeof c->why; i++)
		c->why[i] = (why[i] >= 0x20 && why[i] < 0x7f) ? why[i] : '?';
	c->why[i] = 0;
	return 0;
}

/* see route.h */
int
px_gw_cred_info(const struct px_gw *gw, const struct px_config *cfg,
    int provider, int cred, int64_t now, struct px_cred_info *out)
{
	const struct px_provider *p;
	const struct gw_cred *c;
	const struct gw_rec *r;
	size_t i;

	memset(out, 0, sizeof *out);
	if (provider < 0 || provider >= cfg->nproviders)
		return -1;
	p = &cfg->providers[provider];
	if (cred < 0 || cred >= p->ncreds)
		return -1;
	if ((c = cred_get(gw, p->creds[cred].id)) != NULL) {
		out->last_ok = c->last_ok;
		out->last_err = c->last_err;
		out->last_err_cls = c->last_cls;
		out->last_err_status = c->last_status;
		out->n_ok = c->n_ok;
		out->n_err = c->n_err;
		if (c->disabled) {
			out->state = PX_CRED_DISABLED;
			out->disabled_status = c->disabled_status;
			memcpy(out->disabled_why, c->why, sizeof c->why);
			return 0;
		}
	}
	for (i = 0; gw->nrec > 0 && i < PX_GW_SLOTS; i++) {
		r = &gw->rec[i];
		if (!r->k.used || r->until <= now)
			continue;
		if ((r->k.scope == SC_CRED &&
		    memcmp(r->k.id, p->creds[cred].id, 32) == 0) ||
		    (r->k.scope != SC_CRED && memcmp(r->k.id, p->id, 32) == 0)) {
			out->state = PX_CRED_COOLING;
			if (r->until > out->until)
				out->until = r->until;
		}
	}
	return 0;
}

static void
json_time(struct jw *w, const char *key, int64_t ms)
{
	char buf[40];

	if (ms <= 0)
		jw_knull(w, key);
	else
		jw_kcstr(w, key, px_fmt_rfc3339(ms, buf, sizeof buf));
}

static void
json_rec(struct jw *w, const struct gw_rec *r, int with_model)
{
	char buf[40];

	jw_obj(w);
	if (with_model)
		jw_kcstr(w, "model", r->model);
	jw_kcstr(w, "until", px_fmt_rfc3339(r->until, buf, sizeof buf));
	jw_kcstr(w, "class", px_out_class_name((enum px_out_class)r->cls));
	jw_kint(w, "status", r->status);
	jw_obj_end(w);
}

/* Every live record of scope sc about id, as a JSON list. */
static void
json_recs(struct jw *w, const struct px_gw *gw, int sc,
    const unsigned char id[32], int64_t now)
{
	const struct gw_rec *r;
	size_t i;

	jw_arr(w);
	for (i = 0; gw->nrec > 0 && i < PX_GW_SLOTS; i++) {
		r = &gw->rec[i];
		if (r->k.used && r->k.scope == sc && r->until > now &&
		    memcmp(r->k.id, id, 32) == 0)
			json_rec(w, r, 1);
	}
	jw_arr_end(w);
}

/* see route.h */
void
px_gw_json(const struct px_gw *gw, const struct px_config *cfg,
    int64_t now, struct jw *out)
{
	static const char *const states[] = { "ok", "cooling", "disabled" };
	const struct px_provider *p;
	const struct gw_rec *down;
	const struct gw_prov *v;
	const struct gw_cred *c;
	struct px_cred_info ci;
	int pi, k, nok, ndis;

	jw_obj(out);
	jw_key(out, "providers");
	jw_arr(out);
	for (pi = 0; pi < cfg->nproviders; pi++) {
		p = &cfg->providers[pi];
		down = rec_get(gw, SC_PALL, p->id, NULL);
		if (down != NULL && down->until <= now)
			down = NULL;
		nok = ndis = 0;
		for (k = 0; k < p->ncreds; k++) {
			px_gw_cred_info(gw, cfg, pi, k, now, &ci);
			nok += ci.state == PX_CRED_OK;
			ndis += ci.state == PX_CRED_DISABLED;
		}
		jw_obj(out);
		jw_kcstr(out, "name", p->name);
		jw_kcstr(out, "type", p->type);
		jw_kcstr(out, "state", down != NULL || ndis == p->ncreds ?
		    "down" : nok == p->ncreds ? "ok" : "degraded");
		jw_key(out, "down");
		if (down != NULL)
			json_rec(out, down, 0);
		else
			jw_null(out);
		jw_key(out, "cooling");
		json_recs(out, gw, SC_PMOD, p->id, now);
		jw_key(out, "health_check");
		if (p->health_model != NULL) {
			jw_obj(out);
			jw_kint(out, "interval_s", p->health_interval_s);
			jw_kcstr(out, "model", p->health_model);
			v = prov_get(gw, p->id);
			json_time(out, "next", v ? v->next_check : 0);
			jw_obj_end(out);
		} else
			jw_null(out);
		jw_key(out, "credentials");
		jw_arr(out);
		for (k = 0; k < p->ncreds; k++) {
			px_gw_cred_info(gw, cfg, pi, k, now, &ci);
			c = cred_get(gw, p->creds[k].id);
			jw_obj(out);
			jw_kcstr(out, "label", p->creds[k].label);
			jw_kcstr(out, "state", states[ci.state]);
			jw_key(out, "disabled");
			if (ci.state == PX_CRED_DISABLED) {
				jw_obj(out);
				jw_kint(out, "status", ci.disabled_status);
				json_time(out, "since", c ? c->disabled_at : 0);
				if (ci.disabled_why[0])
					jw_kcstr(out, "reason", ci.disabled_why);
				else
					jw_knull(out, "reason");
				jw_obj_end(out);
			} else
				jw_null(out);
			jw_key(out, "cooling");
			json_recs(out, gw, SC_CRED, p->creds[k].id, now);
			json_time(out, "last_success", ci.last_ok);
			jw_key(out, "last_error");
			if (ci.last_err > 0) {
				jw_obj(out);
				jw_kcstr(out, "class", px_out_class_name(
				    (enum px_out_class)ci.last_err_cls));
				jw_kint(out, "status", ci.last_err_status);
				json_time(out, "at", ci.last_err);
				jw_obj_end(out);
			} else
				jw_null(out);
			jw_kint(out, "successes", (long long)ci.n_ok);
			jw_kint(out, "failures", (long long)ci.n_err);
			jw_obj_end(out);
		}
		jw_arr_end(out);
		jw_obj_end(out);
	}
	jw_arr_end(out);
	jw_obj_end(out);
}

/* see route.h */
void
px_gw_counts(const struct px_gw *gw, size_t *records, size_t *creds,
    size_t *providers)
{
	if (records != NULL)
		*records = gw->nrec;
	if (creds != NULL)
		*creds = gw->ncred;
	if (providers != NULL)
		*providers = gw->nprov;
}

/* ------------------------------------------ model routing, provider addressing */

/* see route.h */
const struct px_route *
px_route_find(const struct px_config *c, const char *model, size_t n)
{
	const struct px_route *r;
	int i;

	if (model == NULL)
		return NULL;
	for (i = 0; i < c->nroutes; i++) {
		r = &c->routes[i];
		if (strchr(r->pattern, '*') == NULL &&
		    strlen(r->pattern) == n && memcmp(r->pattern, model, n) == 0)
			return r;
	}
	for (i = 0; i < c->nroutes; i++) {
		r = &c->routes[i];
		if (strchr(r->pattern, '*') != NULL &&
		    auth_glob(r->pattern, model, n))
			return r;
	}
	return NULL;
}

/* see route.h */
const char *
px_target_model(const struct px_target *t, const char *model, size_t n,
    char *buf, size_t cap)
{
	const char *s = model;

	if (t->model != NULL && t->model[0] != 0) {
		s = t->model;
		n = strlen(t->model);
	}
	if (buf == NULL || n >= cap)
		return NULL;
	if (n > 0)
		memcpy(buf, s, n);
	buf[n] = 0;
	return buf;
}

/* see route.h */
enum px_fmt
px_provider_fmt(const struct px_provider *p, const char *model)
{
	int i;

	for (i = 0; i < p->napi_models; i++)
		if (auth_glob(p->api_models[i], model, strlen(model)))
			return p->fmt == PX_FMT_CHAT ? PX_FMT_RESPONSES :
			    PX_FMT_CHAT;
	return p->fmt;
}

/* see route.h */
const char *
px_provider_deployment(const struct px_provider *p, const char *model)
{
	int i;

	if (p->kind != PX_PT_AZURE)
		return model;
	for (i = 0; i < p->ndeployments; i++)
		if (strcmp(p->deployments[i].model, model) == 0)
			return p->deployments[i].deployment;
	return model;
}

/* Append s (percent-encoded as a path segment when enc) to buf. */
static int
path_put(char *buf, size_t cap, size_t *len, const char *s, int enc)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char ch;

	for (; *s; s++) {
		ch = (unsigned char)*s;
		if (!enc || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.' || ch == '~') {
			if (*len + 1 >= cap)
				return -1;
			buf[(*len)++] = (char)ch;
		} else {
			if (*len + 3 >= cap)
				return -1;
			buf[(*len)++] = '%';
			buf[(*len)++] = hex[ch >> 4];
			buf[(*len)++] = hex[ch & 15];
		}
	}
	buf[*len] = 0;
	return 0;
}

/* see route.h */
int
px_provider_path(const struct px_provider *p, enum px_fmt f,
    const char *model, int stream, char *buf, size_t cap)
{
	struct px_str m;
	size_t len = 0;
	const char *v = p->api_version;
	int rc = 0;

	if (p->kind != PX_PT_AZURE) {
		m.p = model;
		m.n = strlen(model);
		return px_upstream_path(f, m, stream, buf, cap);
	}
	if (cap == 0 || (f != PX_FMT_CHAT && f != PX_FMT_RESPONSES))
		return -1;
	buf[0] = 0;
	if (v[0] == 0) {
		rc = path_put(buf, cap, &len, f == PX_FMT_CHAT ?
		    "/openai/v1/chat/completions" : "/openai/v1/responses", 0);
	} else if (f == PX_FMT_CHAT) {
		rc |= path_put(buf, cap, &len, "/openai/deployments/", 0);
		rc |= path_put(buf, cap, &len, px_provider_deployment(p, model),
		    1);
		rc |= path_put(buf, cap, &len, "/chat/completions?api-version=",
		    0);
		rc |= path_put(buf, cap, &len, v, 0);
	} else {
		rc |= path_put(buf, cap, &len, "/openai/responses?api-version=",
		    0);
		rc |= path_put(buf, cap, &len, v, 0);
	}
	return rc < 0 ? -1 : (int)len;
}

/* see route.h */
const char *
px_provider_auth(const struct px_provider *p, const char **prefix)
{
	const char *dummy;

	if (prefix == NULL)
		prefix = &dummy;
	*prefix = "";
	if (p->tx != NULL && p->tx->header[0])
		return p->tx->header;
	if (p->tx != NULL) {
		*prefix = "Bearer ";
		return "Authorization";
	}
	switch (p->kind) {
	case PX_PT_ANTHROPIC:
		return "x-api-key";
	case PX_PT_GEMINI:
		return "x-goog-api-key";
	case PX_PT_AZURE:
		return "api-key";
	default:
		*prefix = "Bearer ";
		return "Authorization";
	}
}
