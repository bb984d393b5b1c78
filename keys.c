/*
 * keys.c - the keys file, key settings, key generation and `llmproxy keys`.
 *
 * The keys file is JSON so that it shares its settings syntax with the
 * config's "api_keys" objects (one parser, keys_settings_parse(), for
 * both) and stays readable by people and jq. It is written one key per
 * line so a diff of two versions reads as a list of keys changed.
 *
 * The parser is as strict as the config's: unknown members, repeated
 * members, duplicate names and duplicate digests are errors with a line
 * number. A keys file that does not parse is never half-applied: the
 * caller keeps the set it had.
 *
 * Every change is read-modify-write under an fcntl() lock on keys.lock
 * (the CLI and the running proxy's admin page may write at the same time),
 * and lands through keys.json.tmp + fsync + rename + fsync of the
 * directory, so a crash leaves the old file or the new one. The lock file
 * is separate from keys.json because the rename replaces keys.json's inode
 * and a lock on the old inode would not exclude the next writer.
 *
 * Secrets: 32 bytes from getrandom() (or /dev/urandom), written as a
 * 43-digit base-62 number after "sk-llmp-": no '-' or '_' inside, so a
 * double click selects the whole key. Only the SHA-256 is stored, plus the
 * first four digits for lists (232 of the 256 bits stay unknown).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/random.h>
#endif

#include "keys.h"
#include "store.h"
#include "limit.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

const char *const keys_settings_members[] = {
	"models", "rpm", "tpm", "parallel", "budget", "expires", NULL
};

/* Members of a key entry in the keys file besides the settings. */
static const char *const entry_members[] = {
	"name", "sha256", "prefix", "created", "rotated", NULL
};

static void
set_err(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

static int
kerr(struct keys_err *e, const struct json *v, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	e->at = v ? v->raw : NULL;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

static int
in_list(const char *k, size_t n, const char *const *l)
{
	size_t i;

	for (i = 0; l != NULL && l[i] != NULL; i++)
		if (json_eq(k, n, l[i]))
			return 1;
	return 0;
}

static int
has_ctl(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

/* A repeated member of obj before m. */
static int
repeated(const struct json *obj, const struct json *m)
{
	const struct json *p;

	for (p = obj->child; p != m; p = p->next)
		if (p->keylen == m->keylen &&
		    memcmp(p->key, m->key, m->keylen) == 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------ times */

static int
digits(const char *s, size_t n, long long *out)
{
	long long v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* see keys.h */
int
keys_parse_time(const char *s, size_t n, long long *t)
{
	long long y, mo, d, h = 0, mi = 0, se = 0, days, dim;

	if (s == NULL || (n != 10 && n != 20))
		return -1;
	if (digits(s, 4, &y) < 0 || s[4] != '-' || digits(s + 5, 2, &mo) < 0 ||
	    s[7] != '-' || digits(s + 8, 2, &d) < 0)
		return -1;
	if (n == 20 && (s[10] != 'T' || digits(s + 11, 2, &h) < 0 ||
	    s[13] != ':' || digits(s + 14, 2, &mi) < 0 || s[16] != ':' ||
	    digits(s + 17, 2, &se) < 0 || s[19] != 'Z'))
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 ||
	    se > 59)
		return -1;
	days = lim_days_from_civil(y, (unsigned)mo, 1);
	dim = (mo == 12 ? lim_days_from_civil(y + 1, 1, 1) :
	    lim_days_from_civil(y, (unsigned)mo + 1, 1)) - days;
	if (d > dim)
		return -1;
	*t = (days + d - 1) * 86400 + h * 3600 + mi * 60 + se;
	return 0;
}

/* ------------------------------------------------------------ settings */

static int
get_rate(const struct json *v, const char *what, long long *out,
    struct keys_err *e)
{
	long long ll = 0;

	if (!json_int(v, &ll) || ll <= 0 || ll > LIM_RATE_MAX)
		return kerr(e, v, "\"%s\" must be a positive integer (at most "
		    "%lld)", what, LIM_RATE_MAX);
	*out = ll;
	return 0;
}

static int
get_models(const struct json *v, struct auth_limits *lim, struct keys_err *e)
{
	const struct json *p;
	const char *s;
	size_t n;

	if (v->type != JSON_ARRAY || v->len == 0)
		return kerr(e, v, "\"models\" must be a non-empty array of "
		    "model names or patterns (leave it out for every model)");
	if (v->len > AUTH_MODELS_MAX)
		return kerr(e, v, "\"models\" has more than %d patterns",
		    AUTH_MODELS_MAX);
	for (p = v->child; p != NULL; p = p->next) {
		if (!json_str(p, &s, &n) || n == 0)
			return kerr(e, p, "\"models\" entries must be "
			    "non-empty strings");
		if (n >= AUTH_PATTERN_MAX)
			return kerr(e, p, "\"models\" entry is too long (max "
			    "%d bytes)", AUTH_PATTERN_MAX - 1);
		if (memchr(s, 0, n) != NULL || has_ctl(s, n))
			return kerr(e, p, "\"models\" entry contains control "
			    "characters");
		memcpy(lim->models[lim->nmodels], s, n);
		lim->models[lim->nmodels][n] = 0;
		lim->nmodels++;
	}
	return 0;
}

static int
get_budget(const struct json *v, struct auth_limits *lim, struct keys_err *e)
{
	static const char *const bk[] = { "usd", "per", NULL };
	const struct json *m, *u, *p;
	const char *s;
	size_t n;
	double d;

	if (v->type != JSON_OBJECT)
		return kerr(e, v, "\"budget\" must be {\"usd\": N, \"per\": "
		    "\"day\" or \"month\"}");
	for (m = v->child; m != NULL; m = m->next) {
		if (!in_list(m->key, m->keylen, bk))
			return kerr(e, m, "unknown key \"%s\" in \"budget\"",
			    m->key);
		if (repeated(v, m))
			return kerr(e, m, "duplicate key \"%s\" in \"budget\"",
			    m->key);
	}
	if ((u = json_get(v, "usd")) == NULL || (p = json_get(v, "per")) == NULL)
		return kerr(e, v, "\"budget\" needs \"usd\" and \"per\"");
	if (!json_num(u, &d) || !isfinite(d) || !(d > 0) || d > KEYS_BUDGET_MAX)
		return kerr(e, u, "\"budget\".\"usd\" must be a positive "
		    "number of US dollars (at most %.0f)", KEYS_BUDGET_MAX);
	if (!json_str(p, &s, &n) ||
	    !(json_eq(s, n, "day") || json_eq(s, n, "month")))
		return kerr(e, p, "\"budget\".\"per\" must be \"day\" or "
		    "\"month\"");
	lim->budget_usd = d;
	lim->budget_per = json_eq(s, n, "day") ? AUTH_PER_DAY : AUTH_PER_MONTH;
	return 0;
}

static int
get_time(const struct json *v, const char *what, long long *t,
    struct keys_err *e)
{
	const char *s;
	size_t n;

	if (!json_str(v, &s, &n) || keys_parse_time(s, n, t) < 0)
		return kerr(e, v, "\"%s\" must be a UTC date \"YYYY-MM-DD\" or "
		    "\"YYYY-MM-DDTHH:MM:SSZ\"", what);
	return 0;
}

/* see keys.h */
int
keys_settings_parse(struct auth_limits *lim, const struct json *obj,
    const char *const *also, struct keys_err *e)
{
	const struct json *m;
	int rc = 0;

	memset(lim, 0, sizeof *lim);
	if (obj == NULL || obj->type != JSON_OBJECT)
		return kerr(e, obj, "key settings must be an object");
	for (m = obj->child; m != NULL && rc == 0; m = m->next) {
		if (repeated(obj, m))
			rc = kerr(e, m, "duplicate key \"%s\"", m->key);
		else if (json_eq(m->key, m->keylen, "models"))
			rc = get_models(m, lim, e);
		else if (json_eq(m->key, m->keylen, "rpm"))
			rc = get_rate(m, "rpm", &lim->rpm, e);
		else if (json_eq(m->key, m->keylen, "tpm"))
			rc = get_rate(m, "tpm", &lim->tpm, e);
		else if (json_eq(m->key, m->keylen, "parallel"))
			rc = get_rate(m, "parallel", &lim->parallel, e);
		else if (json_eq(m->key, m->keylen, "budget"))
			rc = get_budget(m, lim, e);
		else if (json_eq(m->key, m->keylen, "expires"))
			rc = get_time(m, "expires", &lim->expires, e);
		else if (also != NULL && !in_list(m->key, m->keylen, also))
			rc = kerr(e, m, "unknown key \"%s\"", m->key);
	}
	if (rc < 0)
		memset(lim, 0, sizeof *lim);
	return rc;
}

/* see keys.h */
void
keys_settings_write(struct jw *w, const struct auth_limits *lim)
{
	char t[32];
	int i;

	if (lim->nmodels > 0) {
		jw_key(w, "models");
		jw_arr(w);
		for (i = 0; i < lim->nmodels && i < AUTH_MODELS_MAX; i++)
			jw_cstr(w, lim->models[i]);
		jw_arr_end(w);
	}
	if (lim->rpm > 0)
		jw_kint(w, "rpm", lim->rpm);
	if (lim->tpm > 0)
		jw_kint(w, "tpm", lim->tpm);
	if (lim->parallel > 0)
		jw_kint(w, "parallel", lim->parallel);
	if (lim->budget_usd > 0 && lim->budget_per != AUTH_PER_NONE) {
		jw_key(w, "budget");
		jw_obj(w);
		jw_key(w, "usd");
		jw_double(w, lim->budget_usd);
		jw_kcstr(w, "per", lim->budget_per == AUTH_PER_DAY ? "day" :
		    "month");
		jw_obj_end(w);
	}
	if (lim->expires != 0) {
		lim_fmt_time(lim->expires, t);
		jw_kcstr(w, "expires", t);
	}
}

struct sb {
	char *p;
	size_t len, cap;
};

static void
sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->cap == 0 || b->len >= b->cap - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	b->len += (size_t)n;
	if (b->len >= b->cap)
		b->len = b->cap - 1;
}

/* see keys.h */
size_t
keys_settings_str(const struct auth_limits *lim, char *buf, size_t cap)
{
	struct sb b = { buf, 0, cap };
	char t[32];
	double c;
	int i;

	if (cap)
		buf[0] = 0;
	if (lim->nmodels > 0) {
		sb_printf(&b, "models=");
		for (i = 0; i < lim->nmodels && i < AUTH_MODELS_MAX; i++)
			sb_printf(&b, "%s%s", i ? "," : "", lim->models[i]);
	}
	if (lim->rpm > 0)
		sb_printf(&b, "%srpm=%lld", b.len ? " " : "", lim->rpm);
	if (lim->tpm > 0)
		sb_printf(&b, "%stpm=%lld", b.len ? " " : "", lim->tpm);
	if (lim->parallel > 0)
		sb_printf(&b, "%sparallel=%lld", b.len ? " " : "",
		    lim->parallel);
	if (lim->budget_usd > 0 && lim->budget_per != AUTH_PER_NONE) {
		c = lim->budget_usd * 100;
		sb_printf(&b, c == (double)(long long)c ? "%sbudget=$%.2f/%s" :
		    "%sbudget=$%g/%s", b.len ? " " : "", lim->budget_usd,
		    lim->budget_per == AUTH_PER_DAY ? "day" : "month");
	}
	if (lim->expires != 0) {
		lim_fmt_time(lim->expires, t);
		sb_printf(&b, "%sexpires=%s", b.len ? " " : "", t);
	}
	if (b.len == 0)
		sb_printf(&b, "-");
	return b.len;
}

/* see keys.h */
int
keys_name_ok(const char *name)
{
	size_t i, n;
	char c;

	if (name == NULL || (n = strlen(name)) == 0 || n >= AUTH_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		c = name[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9'))
			continue;
		if (i > 0 && (c == '.' || c == '_' || c == '-' || c == '@'))
			continue;
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------ the file */

static int
line_of(const char *text, size_t len, const char *p)
{
	const char *q;
	int line = 1;

	if (p == NULL || p < text || p > text + len)
		return 0;
	for (q = text; q < p; q++)
		if (*q == '\n')
			line++;
	return line;
}

/* "name:line: message" (or "name: message" without a position). */
static int
perr(char *err, size_t cap, const char *name, const char *text, size_t len,
    const char *at, const char *fmt, ...)
{
	char msg[320];
	va_list ap;
	int line = line_of(text, len, at);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (line > 0)
		set_err(err, cap, "%s:%d: %s", name, line, msg);
	else
		set_err(err, cap, "%s: %s", name, msg);
	return -1;
}

#define PERR(v, ...) perr(err, errcap, name, text, len, (v) ? (v)->raw : \
	NULL, __VA_ARGS__)

static int
parse_entry(struct auth_key *k, const struct json *e, size_t idx,
    const char *name, const char *text, size_t len, char *err, size_t errcap)
{
	const struct json *v, *m;
	struct auth_limits lim;
	struct keys_err ke;
	char kname[AUTH_NAME_MAX], hex[65];
	const char *s;
	size_t n;

	if (e->type != JSON_OBJECT)
		return PERR(e, "keys[%zu] must be an object", idx);
	for (m = e->child; m != NULL; m = m->next)
		if (!in_list(m->key, m->keylen, entry_members) &&
		    !in_list(m->key, m->keylen, keys_settings_members))
			return PERR(m, "keys[%zu]: unknown key \"%s\"", idx,
			    m->key);
	if ((v = json_get(e, "name")) == NULL)
		return PERR(e, "keys[%zu]: missing \"name\"", idx);
	if (!json_str(v, &s, &n) || n >= sizeof kname ||
	    memchr(s, 0, n) != NULL)
		return PERR(v, "keys[%zu]: \"name\" must be a name of 1 to %d "
		    "characters [A-Za-z0-9._@-]", idx, AUTH_NAME_MAX - 1);
	memcpy(kname, s, n);
	kname[n] = 0;
	if (!keys_name_ok(kname))
		return PERR(v, "keys[%zu]: \"name\" must be a name of 1 to %d "
		    "characters [A-Za-z0-9._@-]", idx, AUTH_NAME_MAX - 1);
	if (keys_settings_parse(&lim, e, entry_members, &ke) < 0)
		return perr(err, errcap, name, text, len, ke.at,
		    "key \"%s\": %s", kname, ke.msg);
	if ((v = json_get(e, "sha256")) == NULL)
		return PERR(e, "key \"%s\": missing \"sha256\"", kname);
	if (!json_str(v, &s, &n) || n != 64)
		return PERR(v, "key \"%s\": \"sha256\" must be 64 hex digits",
		    kname);
	memcpy(hex, s, 64);
	hex[64] = 0;
	if (auth_key_hex(k, kname, hex) < 0)
		return PERR(v, "key \"%s\": \"sha256\" must be 64 hex digits",
		    kname);
	k->lim = lim;
	if ((v = json_get(e, "prefix")) != NULL) {
		if (!json_str(v, &s, &n) || n >= sizeof k->prefix ||
		    memchr(s, 0, n) != NULL || has_ctl(s, n))
			return PERR(v, "key \"%s\": \"prefix\" must be a short "
			    "string", kname);
		memcpy(k->prefix, s, n);
		k->prefix[n] = 0;
	}
	if ((v = json_get(e, "created")) != NULL &&
	    get_time(v, "created", &k->created, &ke) < 0)
		return PERR(v, "key \"%s\": %s", kname, ke.msg);
	if ((v = json_get(e, "rotated")) != NULL &&
	    get_time(v, "rotated", &k->rotated, &ke) < 0)
		return PERR(v, "key \"%s\": %s", kname, ke.msg);
	return 0;
}

/* see keys.h */
int
keys_parse(struct keys_set *ks, const char *name, const char *text,
    size_t len, char *err, size_t errcap)
{
	struct px_arena a;
	struct json_err je;
	const struct json *root, *m, *v, *arr, *e;
	struct auth_key *keys = NULL;
	long long ver;
	size_t n = 0, i;
	int rc = -1;

	if (name == NULL)
		name = KEYS_FILE;
	if (len > KEYS_FILE_MAX) {
		set_err(err, errcap, "%s: larger than %u bytes", name,
		    KEYS_FILE_MAX);
		return -1;
	}
	/* a DOM node per two bytes at worst; the cap stops a hostile file */
	px_arena_init(&a, 64 * len + 65536);
	if ((root = json_parse(&a, text, len, JSON_F_COMMENTS, &je)) == NULL) {
		perr(err, errcap, name, text, len, text + je.pos,
		    "invalid JSON: %s", je.code == JSON_ERR_NOMEM ?
		    "too large" : je.msg);
		goto done;
	}
	if (root->type != JSON_OBJECT) {
		PERR(root, "must be an object {\"version\": 1, \"keys\": [...]}");
		goto done;
	}
	for (m = root->child; m != NULL; m = m->next) {
		if (!json_eq(m->key, m->keylen, "version") &&
		    !json_eq(m->key, m->keylen, "keys")) {
			PERR(m, "unknown key \"%s\"", m->key);
			goto done;
		}
		if (repeated(root, m)) {
			PERR(m, "duplicate key \"%s\"", m->key);
			goto done;
		}
	}
	if ((v = json_get(root, "version")) == NULL || !json_int(v, &ver) ||
	    ver != 1) {
		PERR(v ? v : root, "\"version\" must be 1 (a newer llmproxy "
		    "may have written this file)");
		goto done;
	}
	if ((arr = json_get(root, "keys")) == NULL ||
	    arr->type != JSON_ARRAY) {
		PERR(arr ? arr : root, "\"keys\" must be an array");
		goto done;
	}
	if (arr->len > KEYS_MAX) {
		PERR(arr, "more than %d keys", KEYS_MAX);
		goto done;
	}
	if ((keys = calloc(arr->len ? arr->len : 1, sizeof *keys)) == NULL) {
		set_err(err, errcap, "%s: out of memory", name);
		goto done;
	}
	for (e = arr->child; e != NULL; e = e->next, n++) {
		if (parse_entry(&keys[n], e, n, name, text, len, err,
		    errcap) < 0)
			goto done;
		for (i = 0; i < n; i++) {
			if (strcmp(keys[i].name, keys[n].name) == 0) {
				PERR(e, "duplicate key name \"%s\"",
				    keys[n].name);
				goto done;
			}
			if (memcmp(keys[i].sha256, keys[n].sha256, 32) == 0) {
				PERR(e, "keys \"%s\" and \"%s\" have the same "
				    "sha256", keys[i].name, keys[n].name);
				goto done;
			}
		}
	}
	ks->keys = keys;
	ks->n = n;
	keys = NULL;
	rc = 0;
done:
	free(keys);
	px_arena_free(&a);
	return rc;
}

/* see keys.h */
int
keys_format(const struct keys_set *ks, struct jw *w)
{
	static const char hx[] = "0123456789abcdef";
	const struct auth_key *k;
	char hex[65], t[32];
	size_t i;
	int j;

	jw_puts(w, "{\"version\":1,\"keys\":[\n");
	for (i = 0; i < ks->n; i++) {
		k = &ks->keys[i];
		for (j = 0; j < 32; j++) {
			hex[2 * j] = hx[k->sha256[j] >> 4];
			hex[2 * j + 1] = hx[k->sha256[j] & 15];
		}
		hex[64] = 0;
		if (i > 0)
			jw_puts(w, ",\n");
		jw_obj(w);
		jw_kcstr(w, "name", k->name);
		jw_kcstr(w, "sha256", hex);
		if (k->prefix[0])
			jw_kcstr(w, "prefix", k->prefix);
		if (k->created != 0) {
			lim_fmt_time(k->created, t);
			jw_kcstr(w, "created", t);
		}
		if (k->rotated != 0) {
			lim_fmt_time(k->rotated, t);
			jw_kcstr(w, "rotated", t);
		}
		keys_settings_write(w, &k->lim);
		jw_obj_end(w);
	}
	jw_puts(w, ks->n ? "\n]}\n" : "]}\n");
	return w->err ? -1 : 0;
}

/* see keys.h */
void
keys_free(struct keys_set *ks)
{
	if (ks == NULL)
		return;
	free(ks->keys);
	ks->keys = NULL;
	ks->n = 0;
}

/* see keys.h */
const char *
keys_dup_name(const struct keys_set *ks, const struct auth_key *keys,
    size_t n)
{
	size_t i, j;

	for (i = 0; i < ks->n; i++)
		for (j = 0; j < n; j++)
			if (strcmp(ks->keys[i].name, keys[j].name) == 0)
				return ks->keys[i].name;
	return NULL;
}

/* ------------------------------------------------------------ file I/O */

static int
path_of(char *out, size_t cap, const char *dir, const char *file,
    char *err, size_t errcap)
{
	int n;

	if (dir == NULL || dir[0] == 0) {
		set_err(err, errcap, "no state directory");
		return -1;
	}
	n = snprintf(out, cap, "%s/%s", dir, file);
	if (n < 0 || (size_t)n >= cap) {
		set_err(err, errcap, "state directory path too long");
		return -1;
	}
	return 0;
}

/* mkdir -p, new directories 0700. */
static int
mkdirs(const char *dir, char *err, size_t errcap)
{
	char p[PATH_MAX];
	size_t i, n = strlen(dir);

	if (n == 0 || n >= sizeof p) {
		set_err(err, errcap, "bad state directory");
		return -1;
	}
	memcpy(p, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != 0)
			continue;
		p[i] = 0;
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			set_err(err, errcap, "%s: %s", p, strerror(errno));
			return -1;
		}
		p[i] = i < n ? '/' : 0;
	}
	return 0;
}

/* Read path whole. 1 when it does not exist, 0 read, -1 error. */
static int
read_all(const char *path, char **buf, size_t *len, char *err, size_t errcap)
{
	struct stat st;
	char *b = NULL;
	size_t got = 0;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 1;
		set_err(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		set_err(err, errcap, "%s: not a regular file", path);
		goto fail;
	}
	if ((unsigned long long)st.st_size > KEYS_FILE_MAX) {
		set_err(err, errcap, "%s: larger than %u bytes", path,
		    KEYS_FILE_MAX);
		goto fail;
	}
	if ((b = malloc((size_t)st.st_size + 1)) == NULL) {
		set_err(err, errcap, "%s: out of memory", path);
		goto fail;
	}
	while (got < (size_t)st.st_size) {
		r = read(fd, b + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			set_err(err, errcap, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	b[got] = 0;
	close(fd);
	*buf = b;
	*len = got;
	return 0;
fail:
	free(b);
	close(fd);
	return -1;
}

/* see keys.h */
int
keys_load(struct keys_set *ks, const char *state_dir, char *err,
    size_t errcap)
{
	char path[PATH_MAX];
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (path_of(path, sizeof path, state_dir, KEYS_FILE, err, errcap) < 0)
		return -1;
	rc = read_all(path, &buf, &len, err, errcap);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		ks->keys = NULL;
		ks->n = 0;
		return 0;
	}
	rc = keys_parse(ks, path, buf, len, err, errcap);
	free(buf);
	return rc;
}

/* see keys.h */
int
keys_changed(const char *state_dir, struct keys_stamp *last)
{
	char path[PATH_MAX];
	struct keys_stamp now;
	struct stat st;

	memset(&now, 0, sizeof now);
	if (path_of(path, sizeof path, state_dir, KEYS_FILE, NULL, 0) < 0)
		return 0;
	if (stat(path, &st) == 0) {
		now.exists = 1;
		now.mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL +
		    st.st_mtim.tv_nsec;
		now.size = (long long)st.st_size;
		now.ino = (unsigned long long)st.st_ino;
	}
	if (memcmp(&now, last, sizeof now) == 0)
		return 0;
	*last = now;
	return 1;
}

/* Write ks as the keys file (px_file_replace: tmp, fsync, rename, fsync
 * the directory). */
static int
save(const char *dir, const struct keys_set *ks, char *err, size_t errcap)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct px_arena a;
	struct jw w;
	int rc = -1;

	if (path_of(path, sizeof path, dir, KEYS_FILE, err, errcap) < 0 ||
	    path_of(tmp, sizeof tmp, dir, KEYS_FILE ".tmp", err, errcap) < 0)
		return -1;
	px_arena_init(&a, 2 * KEYS_FILE_MAX);
	jw_init(&w, &a, KEYS_FILE_MAX);
	if (keys_format(ks, &w) < 0) {
		set_err(err, errcap, "%s: the keys do not fit in %u bytes",
		    path, KEYS_FILE_MAX);
		goto done;
	}
	rc = px_file_replace(dir, path, tmp, w.buf, w.len, NULL, err,
	    errcap);
done:
	px_arena_free(&a);
	return rc;
}

/* Exclusive lock on dir/keys.lock (blocking); returns the fd or -1. */
static int
lock_dir(const char *dir, char *err, size_t errcap)
{
	char path[PATH_MAX];
	struct flock fl;
	int fd;

	if (path_of(path, sizeof path, dir, "keys.lock", err, errcap) < 0 ||
	    mkdirs(dir, err, errcap) < 0)
		return -1;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		set_err(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	while (fcntl(fd, F_SETLKW, &fl) < 0) {
		if (errno == EINTR)
			continue;
		set_err(err, errcap, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ------------------------------------------------------------ secrets */

static void
wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--)
		*v++ = 0;
}

/* see keys.h */
int
keys_random(void *buf, size_t n)
{
	unsigned char *p = buf;
	size_t got = 0;
	ssize_t r;
	int fd;

#if defined(__linux__)
	while (got < n) {
		r = getrandom(p + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got == n)
		return 0;
	got = 0;
#endif
	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	while (got < n) {
		r = read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			close(fd);
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	return 0;
}

/* see keys.h */
void
keys_secret_from_bytes(const unsigned char rnd[32], char out[KEYS_SECRET_SIZE])
{
	static const char b62[] =
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	unsigned char num[32];
	unsigned rem, cur;
	size_t pre = sizeof KEYS_SECRET_PREFIX - 1;
	int i, d;

	memcpy(num, rnd, sizeof num);
	memcpy(out, KEYS_SECRET_PREFIX, pre);
	/* 62^43 > 2^256: 43 digits hold any 32 bytes; long division by 62,
	 * least significant digit first */
	for (d = 42; d >= 0; d--) {
		rem = 0;
		for (i = 0; i < 32; i++) {
			cur = rem * 256 + num[i];
			num[i] = (unsigned char)(cur / 62);
			rem = cur % 62;
		}
		out[pre + (size_t)d] = b62[rem];
	}
	out[KEYS_SECRET_LEN] = 0;
	wipe(num, sizeof num);
}

static int
new_secret(struct auth_key *k, char secret[KEYS_SECRET_SIZE], char *err,
    size_t errcap)
{
	unsigned char rnd[32];

	if (keys_random(rnd, sizeof rnd) < 0) {
		set_err(err, errcap, "no random source: %s", strerror(errno));
		return -1;
	}
	keys_secret_from_bytes(rnd, secret);
	wipe(rnd, sizeof rnd);
	auth_sha256(secret, KEYS_SECRET_LEN, k->sha256);
	memcpy(k->prefix, secret, KEYS_SHOWN_LEN);
	k->prefix[KEYS_SHOWN_LEN] = 0;
	return 0;
}

/* ------------------------------------------------------------ changes */

/* A settings struct made by code (CLI, admin API) that the file could not
 * hold is refused before it is written. */
static int
limits_ok(const struct auth_limits *l, char *err, size_t errcap)
{
	int i;

	if (l->nmodels < 0 || l->nmodels > AUTH_MODELS_MAX)
		goto bad;
	for (i = 0; i < l->nmodels; i++)
		if (l->models[i][0] == 0 ||
		    memchr(l->models[i], 0, AUTH_PATTERN_MAX) == NULL ||
		    has_ctl(l->models[i], strlen(l->models[i])))
			goto bad;
	if (l->rpm < 0 || l->rpm > LIM_RATE_MAX || l->tpm < 0 ||
	    l->tpm > LIM_RATE_MAX || l->parallel < 0 ||
	    l->parallel > LIM_RATE_MAX || l->expires < 0)
		goto bad;
	if (!isfinite(l->budget_usd) || l->budget_usd < 0 ||
	    l->budget_usd > KEYS_BUDGET_MAX ||
	    (l->budget_usd > 0) != (l->budget_per != AUTH_PER_NONE) ||
	    (l->budget_per != AUTH_PER_NONE && l->budget_per != AUTH_PER_DAY &&
	    l->budget_per != AUTH_PER_MONTH))
		goto bad;
	return 0;
bad:
	set_err(err, errcap, "invalid key settings");
	return -1;
}

enum op { OP_CREATE, OP_REVOKE, OP_ROTATE };

static int
change(const char *dir, enum op op, const char *name,
    const struct auth_limits *lim, long long now, char *secret, char *err,
    size_t errcap)
{
	struct keys_set ks = { NULL, 0 };
	struct auth_key *k, *grown, old;
	size_t i;
	int lfd = -1, rc = KEYS_EIO;

	if (secret)
		secret[0] = 0;
	if (!keys_name_ok(name)) {
		set_err(err, errcap, "invalid key name: use 1 to %d characters "
		    "[A-Za-z0-9._@-], starting with a letter or digit",
		    AUTH_NAME_MAX - 1);
		return KEYS_EINVAL;
	}
	if (lim != NULL && limits_ok(lim, err, errcap) < 0)
		return KEYS_EINVAL;
	if ((lfd = lock_dir(dir, err, errcap)) < 0)
		return KEYS_EIO;
	if (keys_load(&ks, dir, err, errcap) < 0)
		goto done;
	for (i = 0; i < ks.n; i++)
		if (strcmp(ks.keys[i].name, name) == 0)
			break;
	if (op == OP_CREATE) {
		if (i < ks.n) {
			set_err(err, errcap, "key \"%s\" exists (rotate or "
			    "revoke it)", name);
			rc = KEYS_EEXIST;
			goto done;
		}
		if (ks.n >= KEYS_MAX) {
			set_err(err, errcap, "too many keys (max %d)",
			    KEYS_MAX);
			rc = KEYS_EINVAL;
			goto done;
		}
		grown = realloc(ks.keys, (ks.n + 1) * sizeof *grown);
		if (grown == NULL) {
			set_err(err, errcap, "out of memory");
			goto done;
		}
		ks.keys = grown;
		k = &ks.keys[ks.n++];
		auth_key_plain(k, name, "", 0);
		if (lim != NULL)
			k->lim = *lim;
		k->created = now;
		if (new_secret(k, secret, err, errcap) < 0)
			goto done;
	} else if (i == ks.n) {
		set_err(err, errcap, "no key \"%s\"", name);
		rc = KEYS_ENOENT;
		goto done;
	} else if (op == OP_REVOKE) {
		memmove(&ks.keys[i], &ks.keys[i + 1],
		    (ks.n - i - 1) * sizeof ks.keys[0]);
		ks.n--;
	} else {
		k = &ks.keys[i];
		old = *k;
		if (new_secret(k, secret, err, errcap) < 0)
			goto done;
		if (auth_ct_eq(old.sha256, k->sha256, 32)) {
			set_err(err, errcap, "random source repeated itself");
			goto done;
		}
		k->rotated = now;
	}
	if (save(dir, &ks, err, errcap) < 0)
		goto done;
	rc = KEYS_OK;
done:
	if (rc != KEYS_OK && secret)
		wipe(secret, KEYS_SECRET_SIZE);
	keys_free(&ks);
	close(lfd);
	return rc;
}

/* see keys.h */
int
keys_create(const char *state_dir, const char *name,
    const struct auth_limits *lim, long long now,
    char secret[KEYS_SECRET_SIZE], char *err, size_t errcap)
{
	return change(state_dir, OP_CREATE, name, lim, now, secret, err,
	    errcap);
}

/* see keys.h */
int
keys_revoke(const char *state_dir, const char *name, char *err,
    size_t errcap)
{
	return change(state_dir, OP_REVOKE, name, NULL, 0, NULL, err, errcap);
}

/* see keys.h */
int
keys_rotate(const char *state_dir, const char *name, long long now,
    char secret[KEYS_SECRET_SIZE], char *err, size_t errcap)
{
	return change(state_dir, OP_ROTATE, name, NULL, now, secret, err,
	    errcap);
}

/* ------------------------------------------------------------ command */

static const char usage_text[] =
    "usage: llmproxy keys add NAME [--models PATTERN,...] [--rpm N] "
    "[--tpm N]\n"
    "                     [--parallel N] [--budget USD --per day|month]\n"
    "                     [--expires YYYY-MM-DD|Nd]\n"
    "       llmproxy keys list [--json]\n"
    "       llmproxy keys revoke NAME\n"
    "       llmproxy keys rotate NAME\n";

static int
parse_count(const char *s, long long *out)
{
	long long v = 0;

	if (s == NULL || *s == 0)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > LIM_RATE_MAX)
			return -1;
	}
	if (v <= 0)
		return -1;
	*out = v;
	return 0;
}

static int
parse_models(const char *s, struct auth_limits *lim)
{
	const char *p = s, *q;
	size_t n;

	lim->nmodels = 0;
	for (;;) {
		q = strchr(p, ',');
		n = q ? (size_t)(q - p) : strlen(p);
		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0 || n >= AUTH_PATTERN_MAX || has_ctl(p, n) ||
		    lim->nmodels >= AUTH_MODELS_MAX)
			return -1;
		memcpy(lim->models[lim->nmodels], p, n);
		lim->models[lim->nmodels][n] = 0;
		lim->nmodels++;
		if (q == NULL)
			return 0;
		p = q + 1;
	}
}

/* --expires: a date, a date and time, or Nd (days from now). */
static int
parse_expires(const char *s, long long now, long long *t)
{
	long long days;
	size_t n = strlen(s);
	char num[16];

	if (n >= 2 && n < sizeof num && s[n - 1] == 'd') {
		memcpy(num, s, n - 1);
		num[n - 1] = 0;
		if (parse_count(num, &days) < 0 || days > 100 * 366)
			return -1;
		*t = now + days * 86400;
		return 0;
	}
	return keys_parse_time(s, n, t);
}

/* "--opt value" or "--opt=value"; *i advances past what was used. */
static const char *
opt_value(int argc, char **argv, int *i, const char *opt)
{
	size_t n = strlen(opt);
	const char *a = argv[*i];

	if (strncmp(a, opt, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != 0 || *i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

static int
known_opt(const char *a)
{
	static const char *const opts[] = { "--models", "--rpm", "--tpm",
	    "--parallel", "--budget", "--per", "--expires", NULL };
	int i;

	for (i = 0; opts[i] != NULL; i++)
		if (strcmp(a, opts[i]) == 0)
			return 1;
	return 0;
}

/* --rpm, --tpm, --parallel: 1 taken, 0 not one of them, -1 bad value. */
static int
count_opt(int argc, char **argv, int *i, struct auth_limits *lim, FILE *ferr)
{
	static const char *const opts[] = { "--rpm", "--tpm", "--parallel" };
	long long *dst[3];
	const char *v;
	int j;

	dst[0] = &lim->rpm;
	dst[1] = &lim->tpm;
	dst[2] = &lim->parallel;
	for (j = 0; j < 3; j++) {
		if ((v = opt_value(argc, argv, i, opts[j])) == NULL)
			continue;
		if (parse_count(v, dst[j]) < 0) {
			fprintf(ferr, "llmproxy keys: %s takes a positive "
			    "integer\n", opts[j]);
			return -1;
		}
		return 1;
	}
	return 0;
}

static int
cmd_add(int argc, char **argv, const char *dir, FILE *out, FILE *ferr,
    long long now)
{
	struct auth_limits lim;
	char secret[KEYS_SECRET_SIZE], e[512];
	const char *name, *v, *per = NULL;
	double usd = 0;
	char *end;
	int i, m, rc, have_budget = 0;

	memset(&lim, 0, sizeof lim);
	if (argc < 3 || argv[2][0] == '-') {
		fputs(usage_text, ferr);
		return 2;
	}
	name = argv[2];
	for (i = 3; i < argc; i++) {
		if ((v = opt_value(argc, argv, &i, "--models")) != NULL) {
			if (parse_models(v, &lim) < 0) {
				fprintf(ferr, "llmproxy keys: --models takes "
				    "1 to %d comma-separated patterns\n",
				    AUTH_MODELS_MAX);
				return 2;
			}
		} else if ((m = count_opt(argc, argv, &i, &lim, ferr)) != 0) {
			if (m < 0)
				return 2;
		} else if ((v = opt_value(argc, argv, &i, "--budget")) != NULL) {
			errno = 0;
			usd = strtod(v, &end);
			if (*v == 0 || *end != 0 || errno != 0 ||
			    !isfinite(usd) || !(usd > 0) ||
			    usd > KEYS_BUDGET_MAX) {
				fprintf(ferr, "llmproxy keys: --budget takes "
				    "a positive amount of US dollars\n");
				return 2;
			}
			have_budget = 1;
		} else if ((v = opt_value(argc, argv, &i, "--per")) != NULL) {
			per = v;
		} else if ((v = opt_value(argc, argv, &i, "--expires")) !=
		    NULL) {
			if (parse_expires(v, now, &lim.expires) < 0) {
				fprintf(ferr, "llmproxy keys: --expires takes "
				    "YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or Nd\n");
				return 2;
			}
			if (lim.expires <= now) {
				fprintf(ferr, "llmproxy keys: --expires %s is "
				    "in the past\n", v);
				return 2;
			}
		} else if (i + 1 == argc && known_opt(argv[i])) {
			fprintf(ferr, "llmproxy keys: %s needs a value\n",
			    argv[i]);
			return 2;
		} else {
			fprintf(ferr, "llmproxy keys: unknown option %s\n",
			    argv[i]);
			fputs(usage_text, ferr);
			return 2;
		}
	}
	if (have_budget != (per != NULL)) {
		fprintf(ferr, "llmproxy keys: --budget and --per go together "
		    "(--budget 10 --per day)\n");
		return 2;
	}
	if (per != NULL) {
		if (strcmp(per, "day") != 0 && strcmp(per, "month") != 0) {
			fprintf(ferr, "llmproxy keys: --per takes day or "
			    "month\n");
			return 2;
		}
		lim.budget_usd = usd;
		lim.budget_per = per[0] == 'd' ? AUTH_PER_DAY : AUTH_PER_MONTH;
	}
	rc = keys_create(dir, name, &lim, now, secret, e, sizeof e);
	if (rc != KEYS_OK) {
		fprintf(ferr, "llmproxy keys: %s\n", e);
		return rc == KEYS_EINVAL ? 2 : 1;
	}
	fprintf(out, "%s\n", secret);
	fflush(out);
	wipe(secret, sizeof secret);
	keys_settings_str(&lim, e, sizeof e);
	fprintf(ferr, "created key \"%s\" (%s); it is shown only this once\n",
	    name, e);
	return 0;
}

static void
fmt_when(long long t, int known, char out[32])
{
	if (t != 0)
		lim_fmt_time(t, out);
	else
		snprintf(out, 32, "%s", known ? "never" : "-");
}

static int
cmd_list(int argc, char **argv, const char *dir, FILE *out, FILE *ferr,
    const struct keys_hooks *h, long long now)
{
	struct keys_set ks = { NULL, 0 };
	struct px_arena a;
	struct jw w;
	char e[512], lim[1024], c[32], u[32], path[PATH_MAX];
	const struct auth_key *k;
	long long used;
	size_t i;
	int json = 0, wname = 4, wp = 6, n;

	for (n = 2; n < argc; n++) {
		if (strcmp(argv[n], "--json") == 0)
			json = 1;
		else {
			fputs(usage_text, ferr);
			return 2;
		}
	}
	if (keys_load(&ks, dir, e, sizeof e) < 0) {
		fprintf(ferr, "llmproxy keys: %s\n", e);
		return 1;
	}
	if (json) {
		px_arena_init(&a, 0);
		jw_init(&w, &a, 0);
		jw_obj(&w);
		jw_key(&w, "keys");
		jw_arr(&w);
		for (i = 0; i < ks.n; i++) {
			k = &ks.keys[i];
			jw_obj(&w);
			jw_kcstr(&w, "name", k->name);
			jw_kcstr(&w, "prefix", k->prefix);
			fmt_when(k->created, 0, c);
			if (k->created)
				jw_kcstr(&w, "created", c);
			else
				jw_knull(&w, "created");
			if (k->rotated) {
				lim_fmt_time(k->rotated, c);
				jw_kcstr(&w, "rotated", c);
			}
			used = h && h->last_used ? h->last_used(h->ctx,
			    k->name) : 0;
			if (used) {
				lim_fmt_time(used, u);
				jw_kcstr(&w, "last_used", u);
			} else
				jw_knull(&w, "last_used");
			keys_settings_write(&w, &k->lim);
			jw_kbool(&w, "expired", auth_key_expired(k, now));
			jw_obj_end(&w);
		}
		jw_arr_end(&w);
		jw_obj_end(&w);
		if (!w.err)
			fprintf(out, "%.*s\n", (int)w.len, w.buf);
		px_arena_free(&a);
		keys_free(&ks);
		return w.err ? 1 : 0;
	}
	if (ks.n == 0) {
		path_of(path, sizeof path, dir, KEYS_FILE, NULL, 0);
		fprintf(out, "no keys in %s\n", path);
		return 0;
	}
	for (i = 0; i < ks.n; i++) {
		if ((n = (int)strlen(ks.keys[i].name)) > wname)
			wname = n;
		if ((n = (int)strlen(ks.keys[i].prefix)) > wp)
			wp = n;
	}
	fprintf(out, "%-*s  %-*s  %-20s  %-20s  %s\n", wname, "NAME", wp,
	    "PREFIX", "CREATED", "LAST USED", "LIMITS");
	for (i = 0; i < ks.n; i++) {
		k = &ks.keys[i];
		fmt_when(k->created, 0, c);
		used = h && h->last_used ? h->last_used(h->ctx, k->name) : 0;
		fmt_when(used, h && h->last_used, u);
		keys_settings_str(&k->lim, lim, sizeof lim);
		fprintf(out, "%-*s  %-*s  %-20s  %-20s  %s%s\n", wname, k->name,
		    wp, k->prefix[0] ? k->prefix : "-", c, u, lim,
		    auth_key_expired(k, now) ? " (expired)" : "");
	}
	keys_free(&ks);
	return 0;
}

static int
cmd_named(int argc, char **argv, const char *dir, FILE *out, FILE *ferr,
    long long now)
{
	char secret[KEYS_SECRET_SIZE], e[512];
	int rc, rot = strcmp(argv[1], "rotate") == 0;

	if (argc != 3 || argv[2][0] == '-') {
		fputs(usage_text, ferr);
		return 2;
	}
	if (rot)
		rc = keys_rotate(dir, argv[2], now, secret, e, sizeof e);
	else
		rc = keys_revoke(dir, argv[2], e, sizeof e);
	if (rc != KEYS_OK) {
		fprintf(ferr, "llmproxy keys: %s\n", e);
		return rc == KEYS_EINVAL ? 2 : 1;
	}
	if (rot) {
		fprintf(out, "%s\n", secret);
		fflush(out);
		wipe(secret, sizeof secret);
		fprintf(ferr, "rotated key \"%s\": the old key stops working "
		    "when the proxy reloads the keys; the new one is shown "
		    "only this once\n", argv[2]);
	} else
		fprintf(out, "revoked key \"%s\"\n", argv[2]);
	return 0;
}

/* see keys.h */
int
px_keys_cmd_ex(int argc, char **argv, const char *state_dir, FILE *out,
    FILE *ferr, const struct keys_hooks *h)
{
	long long now = h && h->now ? h->now : (long long)time(NULL);

	if (argc < 2) {
		fputs(usage_text, ferr);
		return 2;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(usage_text, out);
		return 0;
	}
	if (state_dir == NULL || state_dir[0] == 0) {
		fprintf(ferr, "llmproxy keys: no state directory\n");
		return 1;
	}
	if (strcmp(argv[1], "add") == 0)
		return cmd_add(argc, argv, state_dir, out, ferr, now);
	if (strcmp(argv[1], "list") == 0)
		return cmd_list(argc, argv, state_dir, out, ferr, h, now);
	if (strcmp(argv[1], "revoke") == 0 || strcmp(argv[1], "rotate") == 0)
		return cmd_named(argc, argv, state_dir, out, ferr, now);
	fprintf(ferr, "llmproxy keys: unknown command %s\n", argv[1]);
	fputs(usage_text, ferr);
	return 2;
}

/* see keys.h */
int
px_keys_cmd(int argc, char **argv, const char *state_dir, FILE *out,
    FILE *ferr)
{
	return px_keys_cmd_ex(argc, argv, state_dir, out, ferr, NULL);
}
