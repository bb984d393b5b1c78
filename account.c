/*
 * account.c - the account record, the token store, PKCE and state values,
 * JWT payloads, the refresh schedule, and binding stored accounts to a
 * config's account providers (see account.h for the contracts).
 *
 * Why a file per account: logins come and go while the proxy runs, and a
 * write replaces one small file by rename, so a login, a `remove` and the
 * server writing back a rotated refresh token touch different files and
 * never leave half an account on disk. The directory's mtime changes on
 * every such rename, which lets the server notice a login with one stat()
 * per tick.
 *
 * Why the readable fields are authenticated too: the label and the expiry
 * steer what the server does with the tokens (which credential they are,
 * when to refresh). Sealing them as additional data means an edited file
 * is refused as a whole instead of being half believed.
 *
 * Why HKDF and not a password hash for $LLMPROXY_SECRET: the secret is
 * meant to be a random value handed to the service (systemd credential,
 * a secret store), not something typed; a short one is refused. The key
 * file is the default so a login works with no setup; it protects a copy
 * of the accounts directory, not an account on a machine where the same
 * user can read the state directory (see the README).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <bearssl.h>

#include "account.h"
#include "store.h"

void (*px_acct_save_hook)(int stage);

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

/* Zero memory the compiler may not optimise away. */
static void
wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--)
		*v++ = 0;
}

/* ------------------------------------------------------------ kinds */

static const char *const kind_names[PX_ACCT_NKINDS] = {
	"claude", "codex", "gemini", "copilot"
};

/* see account.h */
const char *
px_acct_kind_name(enum px_acct_kind k)
{
	return (unsigned)k < PX_ACCT_NKINDS ? kind_names[k] : "?";
}

/* see account.h */
int
px_acct_kind_parse(const char *s, enum px_acct_kind *k)
{
	int i;

	for (i = 0; i < PX_ACCT_NKINDS; i++)
		if (strcmp(s, kind_names[i]) == 0) {
			*k = (enum px_acct_kind)i;
			return 0;
		}
	return -1;
}

/* see account.h */
int
px_acct_kind_of(const struct px_provider *p, enum px_acct_kind *k)
{
	switch (p->kind) {
	case PX_PT_CLAUDE_ACCOUNT:
		*k = PX_ACCT_CLAUDE;
		return 0;
	case PX_PT_CODEX_ACCOUNT:
		*k = PX_ACCT_CODEX;
		return 0;
	case PX_PT_GEMINI_ACCOUNT:
		*k = PX_ACCT_GEMINI;
		return 0;
	case PX_PT_COPILOT_ACCOUNT:
		*k = PX_ACCT_COPILOT;
		return 0;
	default:
		return -1;
	}
}

/* ------------------------------------------------------------ record */

/* see account.h */
void
px_acct_init(struct px_account *a, enum px_acct_kind k)
{
	memset(a, 0, sizeof *a);
	a->kind = k;
}

static void
free_tok(char **slot)
{
	if (*slot != NULL) {
		wipe(*slot, strlen(*slot));
		free(*slot);
		*slot = NULL;
	}
}

/* see account.h */
void
px_acct_clear(struct px_account *a)
{
	enum px_acct_kind k = a->kind;

	free_tok(&a->access);
	free_tok(&a->refresh);
	free_tok(&a->id_token);
	px_acct_init(a, k);
}

/* see account.h */
int
px_acct_set(char **slot, const char *s, size_t n)
{
	char *p = NULL;

	if (n > PX_ACCT_TOKEN_MAX)
		return -1;
	if (s != NULL && n > 0) {
		if ((p = malloc(n + 1)) == NULL)
			return -1;
		memcpy(p, s, n);
		p[n] = 0;
	}
	free_tok(slot);
	*slot = p;
	return 0;
}

/* see account.h */
int
px_acct_copy(struct px_account *dst, const struct px_account *src)
{
	px_acct_clear(dst);
	memcpy(dst, src, sizeof *dst);
	dst->access = dst->refresh = dst->id_token = NULL;
	if ((src->access && px_acct_set(&dst->access, src->access,
	    strlen(src->access)) < 0) ||
	    (src->refresh && px_acct_set(&dst->refresh, src->refresh,
	    strlen(src->refresh)) < 0) ||
	    (src->id_token && px_acct_set(&dst->id_token, src->id_token,
	    strlen(src->id_token)) < 0)) {
		px_acct_clear(dst);
		return -1;
	}
	return 0;
}

static int
label_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' ||
	    c == '+' || c == '-';
}

/* see account.h */
int
px_acct_label_ok(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == 0 || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; s[i]; i++)
		if (!label_char((unsigned char)s[i]) ||
		    i + 1 >= PX_ACCT_LABEL_MAX)
			return 0;
	return 1;
}

/* see account.h */
void
px_acct_default_label(const struct px_account *a, char *out, size_t cap)
{
	size_t k, i;

	if (cap == 0)
		return;
	if (cap > PX_ACCT_LABEL_MAX)
		cap = PX_ACCT_LABEL_MAX;
	k = (size_t)snprintf(out, cap, "%s", px_acct_kind_name(a->kind));
	if (k >= cap || a->identity[0] == 0)
		return;
	if (k + 2 < cap) {
		out[k++] = '-';
		for (i = 0; a->identity[i] && k + 1 < cap; i++)
			out[k++] = label_char((unsigned char)a->identity[i]) ?
			    a->identity[i] : '_';
	}
	out[k] = 0;
}

/* see account.h */
int
px_acct_fresh(const struct px_account *a, long long now)
{
	if (a->access == NULL || a->access[0] == 0)
		return 0;
	return a->expires == 0 || a->expires - PX_ACCT_SKEW_MS > now;
}

/* see account.h */
long long
px_acct_lead_ms(enum px_acct_kind k)
{
	switch (k) {
	case PX_ACCT_CLAUDE:
		return 4LL * 3600 * 1000;
	case PX_ACCT_CODEX:
		return 5LL * 86400 * 1000;
	default:
		return 5LL * 60 * 1000;
	}
}

/* see account.h */
long long
px_acct_refresh_at(const struct px_account *a, long long now)
{
	long long lead, at;

	if (a->expires == 0 || a->refresh == NULL || a->refresh[0] == 0)
		return 0;
	lead = px_acct_lead_ms(a->kind);
	if (a->refreshed > 0 && a->expires > a->refreshed &&
	    (a->expires - a->refreshed) / 2 < lead)
		lead = (a->expires - a->refreshed) / 2;
	at = a->expires - lead;
	return at < now ? now : at;
}

/* ------------------------------------------------------------ values */

/* see account.h */
int
px_random(void *buf, size_t n)
{
	unsigned char *p = buf;
	ssize_t r;
	int fd;

	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (n > 0) {
		r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			close(fd);
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	close(fd);
	return 0;
}

static const char b64u[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* see account.h */
size_t
px_b64url(const void *src, size_t n, char *out)
{
	const unsigned char *p = src;
	size_t i, k = 0;
	unsigned v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		out[k++] = b64u[v >> 18];
		out[k++] = b64u[(v >> 12) & 63];
		out[k++] = b64u[(v >> 6) & 63];
		out[k++] = b64u[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned)p[i] << 16;
		out[k++] = b64u[v >> 18];
		out[k++] = b64u[(v >> 12) & 63];
	} else if (n - i == 2) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		out[k++] = b64u[v >> 18];
		out[k++] = b64u[(v >> 12) & 63];
		out[k++] = b64u[(v >> 6) & 63];
	}
	out[k] = 0;
	return k;
}

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

/* see account.h */
long
px_b64dec(const char *s, size_t n, unsigned char *out, size_t cap)
{
	size_t i, k = 0;
	unsigned v = 0;
	int bits = 0, d;

	while (n > 0 && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++) {
		if ((d = b64val((unsigned char)s[i])) < 0)
			return -1;
		v = (v << 6) | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (k >= cap)
				return -1;
			out[k++] = (unsigned char)(v >> bits);
			v &= (1u << bits) - 1;
		}
	}
	/* the leftover bits of the last group must be zero (canonical) */
	if (v != 0)
		return -1;
	return (long)k;
}

/* see account.h */
void
px_pkce_challenge(const char *verifier, size_t n, char challenge[44])
{
	br_sha256_context h;
	unsigned char d[32];

	br_sha256_init(&h);
	br_sha256_update(&h, verifier, n);
	br_sha256_out(&h, d);
	px_b64url(d, 32, challenge);
}

/* see account.h */
int
px_pkce_new(char verifier[129], char challenge[44])
{
	unsigned char r[96];

	if (px_random(r, sizeof r) < 0)
		return -1;
	px_b64url(r, sizeof r, verifier);
	wipe(r, sizeof r);
	px_pkce_challenge(verifier, 128, challenge);
	return 0;
}

/* see account.h */
int
px_oauth_state(char out[44])
{
	unsigned char r[32];

	if (px_random(r, sizeof r) < 0)
		return -1;
	px_b64url(r, sizeof r, out);
	return 0;
}

/* see account.h */
struct json *
px_jwt_payload(struct px_arena *a, const char *tok, size_t n)
{
	const char *d1, *d2;
	unsigned char *buf;
	struct json *v;
	long k;
	size_t pn;

	if (tok == NULL || n == 0 || n > PX_ACCT_TOKEN_MAX)
		return NULL;
	if ((d1 = memchr(tok, '.', n)) == NULL)
		return NULL;
	d2 = memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - tok));
	if (d2 == NULL || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - tok)))
		return NULL;
	pn = (size_t)(d2 - d1 - 1);
	if (pn == 0 || (buf = px_arena_alloc(a, pn)) == NULL)
		return NULL;
	if ((k = px_b64dec(d1 + 1, pn, buf, pn)) <= 0)
		return NULL;
	v = json_parse(a, (const char *)buf, (size_t)k, 0, NULL);
	return v != NULL && v->type == JSON_OBJECT ? v : NULL;
}

/* see account.h */
long long
px_jwt_exp(const struct json *payload)
{
	long long e;
	double d;

	if (payload == NULL)
		return 0;
	if (json_int(json_get(payload, "exp"), &e) && e > 0 &&
	    e < 100000000000LL)
		return e * 1000;
	if (json_num(json_get(payload, "exp"), &d) && d > 0 && d < 1e11)
		return (long long)(d * 1000);
	return 0;
}

/* ------------------------------------------------------------ the key */

/* see account.h */
void
px_acct_key_from_secret(const char *secret, size_t n, unsigned char key[32])
{
	static const char salt[] = "llmproxy accounts";
	static const char info[] = "aes-256-gcm token store v1";
	br_hkdf_context hc;

	br_hkdf_init(&hc, &br_sha256_vtable, salt, sizeof salt - 1);
	br_hkdf_inject(&hc, secret, n);
	br_hkdf_flip(&hc);
	br_hkdf_produce(&hc, info, sizeof info - 1, key, 32);
	wipe(&hc, sizeof hc);
}

/* see account.h */
void
px_acct_key_id(const unsigned char key[32], char out[17])
{
	static const char hex[] = "0123456789abcdef";
	br_sha256_context h;
	unsigned char d[32];
	int i;

	br_sha256_init(&h);
	br_sha256_update(&h, "llmproxy account key id", 23);
	br_sha256_update(&h, key, 32);
	br_sha256_out(&h, d);
	for (i = 0; i < 8; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[16] = 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read the key file (64 hex digits). */
static int
key_read(const char *path, unsigned char key[32], char *err, size_t errcap)
{
	char buf[80];
	struct stat st;
	ssize_t r;
	int fd, i, hi, lo;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno == ENOENT)
			return PX_ACCT_ENOENT;
		set_err(err, errcap, "%s: %s", path, strerror(errno));
		return PX_ACCT_EIO;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		set_err(err, errcap, "%s: not a regular file", path);
		return PX_ACCT_EFORMAT;
	}
	if ((st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
		close(fd);
		set_err(err, errcap, "%s: the key file may be read by others "
		    "(mode %03o) or is not yours: refused; chmod 600 it if it "
		    "is yours", path, (unsigned)(st.st_mode & 0777));
		return PX_ACCT_EPERM;
	}
	r = read(fd, buf, sizeof buf);
	close(fd);
	if (r < 64) {
		set_err(err, errcap, "%s: not a key file (want 64 hex digits)",
		    path);
		return PX_ACCT_EFORMAT;
	}
	for (i = 0; i < 32; i++) {
		hi = hexval(buf[2 * i]);
		lo = hexval(buf[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			wipe(buf, sizeof buf);
			set_err(err, errcap, "%s: not a key file (want 64 hex "
			    "digits)", path);
			return PX_ACCT_EFORMAT;
		}
		key[i] = (unsigned char)(hi << 4 | lo);
	}
	wipe(buf, sizeof buf);
	return PX_ACCT_OK;
}

/* Create the key file: a temporary file linked into place, so two
 * processes creating it at once agree on one key. */
static int
key_create(const char *path, unsigned char key[32], char *err,
    size_t errcap)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[PATH_MAX + 32], text[66];
	int fd, i, rc;

	if (px_random(key, 32) < 0) {
		set_err(err, errcap, "no random bytes for a new key");
		return PX_ACCT_EIO;
	}
	for (i = 0; i < 32; i++) {
		text[2 * i] = hex[key[i] >> 4];
		text[2 * i + 1] = hex[key[i] & 15];
	}
	text[64] = '\n';
	snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0 || fchmod(fd, 0600) < 0 || write_all(fd, text, 65) < 0 ||
	    fsync(fd) < 0) {
		set_err(err, errcap, "%s: %s", tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		wipe(text, sizeof text);
		return PX_ACCT_EIO;
	}
	close(fd);
	wipe(text, sizeof text);
	rc = link(tmp, path);
	unlink(tmp);
	if (rc < 0 && errno == EEXIST)          /* another process won */
		return key_read(path, key, err, errcap);
	if (rc < 0) {
		set_err(err, errcap, "%s: %s", path, strerror(errno));
		return PX_ACCT_EIO;
	}
	return PX_ACCT_OK;
}

/* see account.h */
int
px_acct_key(const char *state_dir, int create, unsigned char key[32],
    const char **src, char *err, size_t errcap)
{
	static char where[PATH_MAX];
	const char *s = getenv(PX_ACCT_SECRET_ENV);
	int rc;

	if (s != NULL && s[0]) {
		if (strlen(s) < PX_ACCT_SECRET_MIN) {
			set_err(err, errcap, "$%s is shorter than %d bytes: use "
			    "a random value (e.g. 32 random bytes, hex)",
			    PX_ACCT_SECRET_ENV, PX_ACCT_SECRET_MIN);
			return PX_ACCT_EFORMAT;
		}
		px_acct_key_from_secret(s, strlen(s), key);
		if (src)
			*src = "$" PX_ACCT_SECRET_ENV;
		return PX_ACCT_OK;
	}
	if (snprintf(where, sizeof where, "%s/%s", state_dir,
	    PX_ACCT_KEY_FILE) >= (int)sizeof where) {
		set_err(err, errcap, "state directory path too long");
		return PX_ACCT_EIO;
	}
	if (src)
		*src = where;
	rc = key_read(where, key, err, errcap);
	if (rc == PX_ACCT_ENOENT) {
		if (!create) {
			set_err(err, errcap, "%s: no key yet (no account was "
			    "stored here) and $%s is not set", where,
			    PX_ACCT_SECRET_ENV);
			return PX_ACCT_ENOENT;
		}
		rc = key_create(where, key, err, errcap);
	}
	return rc;
}

/* ------------------------------------------------------------ sealing */

/* The readable members, in file order; AAD and file head alike. */
static void
meta_write(const struct px_account *a, const char *key_id, struct jw *w)
{
	jw_obj(w);
	jw_kint(w, "llmproxy_account", 1);
	jw_kcstr(w, "kind", px_acct_kind_name(a->kind));
	jw_kcstr(w, "label", a->label);
	jw_kcstr(w, "identity", a->identity);
	jw_kcstr(w, "account_id", a->account_id);
	jw_kcstr(w, "plan", a->plan);
	jw_kcstr(w, "project", a->project);
	jw_kcstr(w, "api_base", a->api_base);
	jw_kint(w, "expires", a->expires);
	jw_kint(w, "created", a->created);
	jw_kint(w, "refreshed", a->refreshed);
	jw_kcstr(w, "key_id", key_id);
}

static void
gcm_run(const unsigned char key[32], const unsigned char nonce[12],
    const void *aad, size_t aadn, void *data, size_t n, int encrypt,
    unsigned char tag[16], uint32_t *ok)
{
	br_aes_ct64_ctr_keys bc;
	br_gcm_context gc;

	br_aes_ct64_ctr_init(&bc, key, 32);
	br_gcm_init(&gc, &bc.vtable, br_ghash_ctmul64);
	br_gcm_reset(&gc, nonce, 12);
	br_gcm_aad_inject(&gc, aad, aadn);
	br_gcm_flip(&gc);
	br_gcm_run(&gc, encrypt, data, n);
	if (encrypt)
		br_gcm_get_tag(&gc, tag);
	else
		*ok = br_gcm_check_tag(&gc, tag);
	wipe(&bc, sizeof bc);
	wipe(&gc, sizeof gc);
}

/* see account.h */
int
px_acct_seal(const struct px_account *a, const unsigned char key[32],
    const unsigned char nonce[12], struct jw *out)
{
	struct px_arena ar;
	struct jw meta, sec;
	char kid[17], nb[20], *enc = NULL;
	unsigned char *ct = NULL;
	int rc = -1;

	px_arena_init(&ar, 4 * PX_ACCT_FILE_MAX);
	px_acct_key_id(key, kid);
	jw_init(&meta, &ar, PX_ACCT_FILE_MAX);
	meta_write(a, kid, &meta);
	jw_obj_end(&meta);
	jw_init(&sec, &ar, PX_ACCT_FILE_MAX);
	jw_obj(&sec);
	if (a->access)
		jw_kcstr(&sec, "access", a->access);
	if (a->refresh)
		jw_kcstr(&sec, "refresh", a->refresh);
	if (a->id_token)
		jw_kcstr(&sec, "id_token", a->id_token);
	jw_obj_end(&sec);
	if (meta.err || sec.err)
		goto done;
	if ((ct = px_arena_alloc(&ar, sec.len + 16)) == NULL ||
	    (enc = px_arena_alloc(&ar, (sec.len + 16) / 3 * 4 + 8)) == NULL)
		goto done;
	memcpy(ct, sec.buf, sec.len);
	wipe(sec.buf, sec.len);
	gcm_run(key, nonce, meta.buf, meta.len, ct, sec.len, 1, ct + sec.len,
	    NULL);
	px_b64url(ct, sec.len + 16, enc);
	px_b64url(nonce, 12, nb);
	/* the file: the readable members, then nonce and sealed */
	meta_write(a, kid, out);
	jw_kcstr(out, "nonce", nb);
	jw_kcstr(out, "sealed", enc);
	jw_obj_end(out);
	jw_put(out, "\n", 1);
	rc = out->err ? -1 : 0;
done:
	if (sec.buf)
		wipe(sec.buf, sec.len);
	px_arena_free(&ar);
	return rc;
}

/* Copy string member `k` of o into buf (cap); -1 when absent, not a
 * string, too long, or holding a NUL or control byte. */
static int
get_field(const struct json *o, const char *k, char *buf, size_t cap)
{
	const char *s;
	size_t n, i;

	if (!json_str(json_get(o, k), &s, &n) || n >= cap)
		return -1;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20)
			return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	return 0;
}

/* see account.h */
int
px_acct_open(const char *text, size_t n, const unsigned char key[32],
    struct px_account *a, char *err, size_t errcap)
{
	static const char *const members[] = { "llmproxy_account", "kind",
	    "label", "identity", "account_id", "plan", "project", "api_base",
	    "expires", "created", "refreshed", "key_id", "nonce", "sealed",
	    NULL };
	struct px_arena ar;
	struct json *root, *v, *sec;
	char kind[16], kid[24], mykid[17], nb[24], label[PX_ACCT_LABEL_MAX];
	unsigned char nonce[16], *ct = NULL;
	const char *s;
	size_t sn;
	struct jw meta;
	long long ver;
	long k;
	uint32_t ok = 0;
	int rc = PX_ACCT_EFORMAT, i;

	px_acct_clear(a);
	px_arena_init(&ar, 8 * PX_ACCT_FILE_MAX);
	if (n > PX_ACCT_FILE_MAX) {
		set_err(err, errcap, "larger than %u bytes: not an account file",
		    (unsigned)PX_ACCT_FILE_MAX);
		goto done;
	}
	root = json_parse(&ar, text, n, 0, NULL);
	if (root == NULL || root->type != JSON_OBJECT) {
		set_err(err, errcap, "not JSON: not an account file, or damaged");
		goto done;
	}
	/* exactly the known members, each once */
	for (i = 0; members[i]; i++)
		if (json_get(root, members[i]) == NULL)
			break;
	if (members[i] != NULL || root->len != (size_t)i) {
		set_err(err, errcap, "not an account file (%s)", members[i] ?
		    "a member is missing" : "unknown or repeated members");
		goto done;
	}
	if (!json_int(json_get(root, "llmproxy_account"), &ver) || ver != 1) {
		set_err(err, errcap, "an account file of another version");
		goto done;
	}
	if (get_field(root, "kind", kind, sizeof kind) < 0 ||
	    px_acct_kind_parse(kind, &a->kind) < 0) {
		set_err(err, errcap, "unknown account kind");
		goto done;
	}
	if (get_field(root, "label", label, sizeof label) < 0 ||
	    !px_acct_label_ok(label) ||
	    get_field(root, "identity", a->identity, sizeof a->identity) < 0 ||
	    get_field(root, "account_id", a->account_id,
	    sizeof a->account_id) < 0 ||
	    get_field(root, "plan", a->plan, sizeof a->plan) < 0 ||
	    get_field(root, "project", a->project, sizeof a->project) < 0 ||
	    get_field(root, "api_base", a->api_base, sizeof a->api_base) < 0 ||
	    !json_int(json_get(root, "expires"), &a->expires) ||
	    !json_int(json_get(root, "created"), &a->created) ||
	    !json_int(json_get(root, "refreshed"), &a->refreshed) ||
	    get_field(root, "key_id", kid, sizeof kid) < 0 ||
	    get_field(root, "nonce", nb, sizeof nb) < 0 ||
	    !json_str(json_get(root, "sealed"), &s, &sn)) {
		set_err(err, errcap, "a field is malformed: damaged");
		goto done;
	}
	memcpy(a->label, label, sizeof label);
	if (key == NULL) {
		rc = PX_ACCT_OK;
		goto done;
	}
	px_acct_key_id(key, mykid);
	if (strcmp(kid, mykid) != 0) {
		set_err(err, errcap, "sealed with another key (key id %.16s, "
		    "this key %s): was $%s changed, set or unset since it was "
		    "written, or the key file replaced?", kid, mykid,
		    PX_ACCT_SECRET_ENV);
		rc = PX_ACCT_EKEY;
		goto done;
	}
	if (px_b64dec(nb, strlen(nb), nonce, sizeof nonce) != 12 ||
	    sn < 16 + 2 || (ct = px_arena_alloc(&ar, sn)) == NULL ||
	    (k = px_b64dec(s, sn, ct, sn)) < 16 + 2) {
		set_err(err, errcap, "the sealed part is malformed: damaged");
		goto done;
	}
	jw_init(&meta, &ar, PX_ACCT_FILE_MAX);
	meta_write(a, kid, &meta);
	jw_obj_end(&meta);
	gcm_run(key, nonce, meta.buf, meta.len, ct, (size_t)k - 16, 0,
	    ct + k - 16, &ok);
	if (!ok || meta.err) {
		wipe(ct, (size_t)k);
		set_err(err, errcap, "authentication failed: the file was "
		    "changed or damaged after it was written; refused");
		rc = PX_ACCT_ETAMPER;
		goto done;
	}
	sec = json_parse(&ar, (const char *)ct, (size_t)k - 16, 0, NULL);
	if (sec == NULL || sec->type != JSON_OBJECT) {
		wipe(ct, (size_t)k);
		set_err(err, errcap, "the sealed part is not an object: damaged");
		goto done;
	}
	for (v = sec->child; v; v = v->next) {
		char **slot = strcmp(v->key, "access") == 0 ? &a->access :
		    strcmp(v->key, "refresh") == 0 ? &a->refresh :
		    strcmp(v->key, "id_token") == 0 ? &a->id_token : NULL;
		if (slot == NULL || !json_str(v, &s, &sn) ||
		    px_acct_set(slot, s, sn) < 0) {
			wipe(ct, (size_t)k);
			set_err(err, errcap, "the sealed part holds an unknown "
			    "or malformed member: damaged");
			goto done;
		}
		wipe((void *)s, sn);
	}
	wipe(ct, (size_t)k);
	rc = PX_ACCT_OK;
done:
	if (rc != PX_ACCT_OK)
		px_acct_clear(a);
	px_arena_free(&ar);
	return rc;
}

/* ------------------------------------------------------------ files */

/* see account.h */
int
px_acct_dir(const char *state_dir, char *out, size_t cap, char *err,
    size_t errcap)
{
	struct stat st;

	if (snprintf(out, cap, "%s/%s", state_dir, PX_ACCT_DIR) >= (int)cap) {
		set_err(err, errcap, "state directory path too long");
		return -1;
	}
	if (mkdir(out, 0700) < 0 && errno != EEXIST) {
		set_err(err, errcap, "%s: %s", out, strerror(errno));
		return -1;
	}
	if (stat(out, &st) < 0 || !S_ISDIR(st.st_mode)) {
		set_err(err, errcap, "%s: not a directory", out);
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		set_err(err, errcap, "%s: open to group or others, or not "
		    "yours (mode %03o): refused; chmod 700 it if it is yours",
		    out, (unsigned)(st.st_mode & 0777));
		return -1;
	}
	return 0;
}

static int
acct_path(char *buf, size_t cap, const char *dir, const char *pre,
    const char *label, const char *suf)
{
	return snprintf(buf, cap, "%s/%s%s%s", dir, pre, label, suf) <
	    (int)cap ? 0 : -1;
}

/* Exclusive lock on dir/.lock (blocking). The fd, or -1. */
static int
lock_dir(const char *dir, char *err, size_t errcap)
{
	char path[PATH_MAX];
	struct flock fl;
	int fd;

	snprintf(path, sizeof path, "%s/.lock", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) < 0) {
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

/* see account.h */
int
px_acct_save(const char *dir, const unsigned char key[32],
    const struct px_account *a, char *err, size_t errcap)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	unsigned char nonce[12];
	struct px_arena ar;
	struct jw w;
	int lk, rc = PX_ACCT_EIO;

	if (!px_acct_label_ok(a->label) ||
	    acct_path(path, sizeof path, dir, "", a->label, ".json") < 0 ||
	    acct_path(tmp, sizeof tmp, dir, ".", a->label, ".json.tmp") < 0) {
		set_err(err, errcap, "bad account label or path too long");
		return PX_ACCT_EIO;
	}
	if (px_random(nonce, sizeof nonce) < 0) {
		set_err(err, errcap, "no random bytes for a nonce");
		return PX_ACCT_EIO;
	}
	px_arena_init(&ar, 4 * PX_ACCT_FILE_MAX);
	jw_init(&w, &ar, PX_ACCT_FILE_MAX);
	if (px_acct_seal(a, key, nonce, &w) < 0) {
		set_err(err, errcap, "account %s does not fit in %u bytes",
		    a->label, (unsigned)PX_ACCT_FILE_MAX);
		px_arena_free(&ar);
		return PX_ACCT_EIO;
	}
	if ((lk = lock_dir(dir, err, errcap)) < 0) {
		px_arena_free(&ar);
		return PX_ACCT_EIO;
	}
	if (px_file_replace(dir, path, tmp, w.buf, w.len, px_acct_save_hook,
	    err, errcap) == 0)
		rc = PX_ACCT_OK;
	close(lk);
	px_arena_free(&ar);
	return rc;
}

/* Read a whole file (at most PX_ACCT_FILE_MAX + 1 bytes) into buf. */
static int
read_file(const char *path, char *buf, size_t cap, size_t *n, int check,
    char *err, size_t errcap)
{
	struct stat st;
	ssize_t r;
	int fd;

	*n = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno == ENOENT)
			return PX_ACCT_ENOENT;
		set_err(err, errcap, "%s: %s", path, strerror(errno));
		return PX_ACCT_EIO;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		set_err(err, errcap, "%s: not a regular file", path);
		return PX_ACCT_EFORMAT;
	}
	if (check && ((st.st_mode & 077) != 0 || st.st_uid != geteuid())) {
		close(fd);
		set_err(err, errcap, "%s: may be read by group or others (mode "
		    "%03o) or is not yours: refused; chmod 600 it if it is "
		    "yours", path, (unsigned)(st.st_mode & 0777));
		return PX_ACCT_EPERM;
	}
	for (;;) {
		r = read(fd, buf + *n, cap - *n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			set_err(err, errcap, "%s: %s", path, strerror(errno));
			return PX_ACCT_EIO;
		}
		if (r == 0 || (*n += (size_t)r) == cap)
			break;
	}
	close(fd);
	return PX_ACCT_OK;
}

/* see account.h */
int
px_acct_load(const char *dir, const unsigned char key[32], const char *label,
    struct px_account *a, char *err, size_t errcap)
{
	char path[PATH_MAX], msg[256];
	char *buf;
	size_t n;
	int rc;

	px_acct_clear(a);
	if (!px_acct_label_ok(label) ||
	    acct_path(path, sizeof path, dir, "", label, ".json") < 0) {
		set_err(err, errcap, "bad account label");
		return PX_ACCT_ENOENT;
	}
	if ((buf = malloc(PX_ACCT_FILE_MAX + 1)) == NULL) {
		set_err(err, errcap, "out of memory");
		return PX_ACCT_EIO;
	}
	rc = read_file(path, buf, PX_ACCT_FILE_MAX + 1, &n, 1, err, errcap);
	if (rc == PX_ACCT_ENOENT)
		set_err(err, errcap, "no account %s (%s)", label, path);
	if (rc == PX_ACCT_OK) {
		rc = px_acct_open(buf, n, key, a, msg, sizeof msg);
		if (rc != PX_ACCT_OK)
			set_err(err, errcap, "%s: %s", path, msg);
		else if (strcmp(a->label, label) != 0) {
			px_acct_clear(a);
			set_err(err, errcap, "%s: holds account \"%s\": a file "
			    "renamed by hand? refused", path, a->label);
			rc = PX_ACCT_EFORMAT;
		}
	}
	wipe(buf, n);
	free(buf);
	return rc;
}

/* see account.h */
int
px_acct_remove(const char *dir, const char *label, char *err, size_t errcap)
{
	char path[PATH_MAX];
	int lk, rc = PX_ACCT_OK, dfd;

	if (!px_acct_label_ok(label) ||
	    acct_path(path, sizeof path, dir, "", label, ".json") < 0) {
		set_err(err, errcap, "no account %s", label);
		return PX_ACCT_ENOENT;
	}
	if ((lk = lock_dir(dir, err, errcap)) < 0)
		return PX_ACCT_EIO;
	if (unlink(path) < 0) {
		if (errno == ENOENT) {
			set_err(err, errcap, "no account %s", label);
			rc = PX_ACCT_ENOENT;
		} else {
			set_err(err, errcap, "%s: %s", path, strerror(errno));
			rc = PX_ACCT_EIO;
		}
	} else if ((dfd = open(dir, O_RDONLY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	close(lk);
	return rc;
}

static int
entry_cmp(const void *x, const void *y)
{
	return strcmp(((const struct px_acct_entry *)x)->a.label,
	    ((const struct px_acct_entry *)y)->a.label);
}

/* see account.h */
int
px_acct_list(const char *dir, struct px_acct_entry *out, int max, char *err,
    size_t errcap)
{
	char path[PATH_MAX], stem[PX_ACCT_LABEL_MAX];
	struct dirent *de;
	char *buf;
	size_t k, n;
	int count = 0, rc;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return 0;
		set_err(err, errcap, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if ((buf = malloc(PX_ACCT_FILE_MAX + 1)) == NULL) {
		closedir(d);
		set_err(err, errcap, "out of memory");
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		k = strlen(de->d_name);
		if (de->d_name[0] == '.' || k <= 5 ||
		    strcmp(de->d_name + k - 5, ".json") != 0 ||
		    k - 5 >= sizeof stem)
			continue;
		memcpy(stem, de->d_name, k - 5);
		stem[k - 5] = 0;
		if (!px_acct_label_ok(stem))
			continue;
		if (count++ >= max)
			continue;
		{
			struct px_acct_entry *e = &out[count - 1];
			memset(e, 0, sizeof *e);
			snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
			rc = read_file(path, buf, PX_ACCT_FILE_MAX + 1, &n, 1,
			    e->why, sizeof e->why);
			if (rc == PX_ACCT_OK) {
				rc = px_acct_open(buf, n, NULL, &e->a, e->why,
				    sizeof e->why);
				if (rc == PX_ACCT_OK &&
				    strcmp(e->a.label, stem) != 0) {
					snprintf(e->why, sizeof e->why, "holds "
					    "account \"%s\": a file renamed by "
					    "hand?", e->a.label);
					rc = PX_ACCT_EFORMAT;
				}
			}
			if (rc != PX_ACCT_OK) {
				px_acct_init(&e->a, PX_ACCT_CLAUDE);
				memcpy(e->a.label, stem, k - 4);
			}
			e->rc = rc;
		}
	}
	closedir(d);
	free(buf);
	qsort(out, (size_t)(count < max ? count : max), sizeof *out,
	    entry_cmp);
	return count;
}

/* ------------------------------------------------------------ binding */

/* see account.h */
int
px_acct_bind(struct px_config *c, char *warn, size_t cap)
{
	char sd[PX_STATE_DIR_MAX], dir[PX_STATE_DIR_MAX + 32], msg[512];
	struct px_acct_entry *ents = NULL;
	const char **kinds = NULL, **labels = NULL;
	int i, n, m = 0, any = 0, rc;

	if (cap)
		warn[0] = 0;
	for (i = 0; i < c->nproviders; i++) {
		enum px_acct_kind k;
		if (px_acct_kind_of(&c->providers[i], &k) == 0)
			any = 1;
	}
	if (!any)
		return 0;
	if (px_state_dir(c->state_dir, sd, sizeof sd, NULL, msg,
	    sizeof msg) < 0 ||
	    px_acct_dir(sd, dir, sizeof dir, msg, sizeof msg) < 0) {
		set_err(warn, cap, "accounts: %s", msg);
		return -1;
	}
	if ((ents = calloc(PX_ACCT_MAX, sizeof *ents)) == NULL ||
	    (kinds = calloc(PX_ACCT_MAX, sizeof *kinds)) == NULL ||
	    (labels = calloc(PX_ACCT_MAX, sizeof *labels)) == NULL) {
		set_err(warn, cap, "accounts: out of memory");
		rc = -1;
		goto done;
	}
	n = px_acct_list(dir, ents, PX_ACCT_MAX, msg, sizeof msg);
	if (n < 0) {
		set_err(warn, cap, "accounts: %s", msg);
		rc = -1;
		goto done;
	}
	if (n > PX_ACCT_MAX)
		n = PX_ACCT_MAX;
	for (i = 0; i < n; i++) {
		if (ents[i].rc != PX_ACCT_OK)
			continue;
		kinds[m] = px_acct_kind_name(ents[i].a.kind);
		labels[m] = ents[i].a.label;
		m++;
	}
	rc = px_config_bind_accounts(c, kinds, labels, m, warn, cap);
done:
	free(labels);
	free(kinds);
	free(ents);
	return rc;
}
