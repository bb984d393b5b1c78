/*
 * test_account.c - subscription accounts without a network: base64url and
 * PKCE vectors, JWT payloads, labels, the refresh schedule; the token
 * store (round trip, every byte of a file changed, another key, file
 * modes, a crash between write and rename, the key from $LLMPROXY_SECRET
 * or a key file); each flow's requests byte for byte and its answers
 * (success, refused, transient, garbage); imports of other clients' files;
 * token exchange; quota resets; the upstream request of each kind (path,
 * headers, body) and its answers (Code Assist's envelope, Codex's stream
 * aggregated); binding accounts to a config.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "account.h"
#include "config.h"
#include "route.h"
#include "testutil.h"

#define NOW 1750000000000LL       /* 2025-06-15T15:06:40Z */

static char tmpd[256];

static void
mk_tmp(void)
{
	snprintf(tmpd, sizeof tmpd, "%.200s/acct-test.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpd));
	chmod(tmpd, 0700);
}

static void
rm_tmp(void)
{
	char cmd[400];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpd);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpd);
}

static const char *
no_env(const char *name)
{
	(void)name;
	return NULL;
}

/* base64url(JSON) as a JWT with a dummy header and signature */
static char *
jwt(const char *payload)
{
	static char buf[4096];
	char p[3000];

	px_b64url(payload, strlen(payload), p);
	snprintf(buf, sizeof buf, "eyJhbGciOiJub25lIn0.%s.c2ln", p);
	return buf;
}

/* ------------------------------------------------------------ values */

START_TEST(t_b64)
{
	static const struct { const char *in, *out; } v[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" }, { "\xfb\xff", "-_8" },
	};
	char out[64];
	unsigned char dec[64];
	size_t i;
	long k;

	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		ck_assert_uint_eq(px_b64url(v[i].in, strlen(v[i].in), out),
		    strlen(v[i].out));
		ck_assert_str_eq(out, v[i].out);
		k = px_b64dec(v[i].out, strlen(v[i].out), dec, sizeof dec);
		ck_assert_int_eq(k, (long)strlen(v[i].in));
		ck_assert(memcmp(dec, v[i].in, (size_t)k) == 0);
	}
	/* standard alphabet and padding too */
	ck_assert_int_eq(px_b64dec("+/8=", 4, dec, sizeof dec), 2);
	ck_assert_int_eq(dec[0], 0xfb);
	/* malformed: a stray character, a lone sextet, junk bits, no room */
	ck_assert_int_eq(px_b64dec("Zm9*", 4, dec, sizeof dec), -1);
	ck_assert_int_eq(px_b64dec("Zm9vY", 5, dec, sizeof dec), -1);
	ck_assert_int_eq(px_b64dec("Zh", 2, dec, sizeof dec), -1);
	ck_assert_int_eq(px_b64dec("Zm9vYmFy", 8, dec, 5), -1);
}
END_TEST

START_TEST(t_pkce)
{
	char v[129], c[44], c2[44], s1[44], s2[44];
	size_t i;

	/* RFC 7636 appendix B */
	px_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", 43, c);
	ck_assert_str_eq(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	ck_assert_int_eq(px_pkce_new(v, c), 0);
	ck_assert_uint_eq(strlen(v), 128);
	ck_assert_uint_eq(strlen(c), 43);
	px_pkce_challenge(v, 128, c2);
	ck_assert_str_eq(c, c2);
	for (i = 0; i < 128; i++)
		ck_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
		    "tuvwxyz0123456789-_", v[i]) != NULL);
	ck_assert_int_eq(px_oauth_state(s1), 0);
	ck_assert_int_eq(px_oauth_state(s2), 0);
	ck_assert_uint_eq(strlen(s1), 43);
	ck_assert_str_ne(s1, s2);
}
END_TEST

START_TEST(t_jwt)
{
	struct px_arena a;
	struct json *p;
	const char *t;

	px_arena_init(&a, 0);
	t = jwt("{\"exp\":1750003600,\"email\":\"a@b.c\"}");
	p = px_jwt_payload(&a, t, strlen(t));
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(px_jwt_exp(p), 1750003600000LL);
	ck_assert_str_eq(json_get_str(p, "email", NULL), "a@b.c");
	/* not three parts, bad base64, not an object, no exp */
	ck_assert_ptr_null(px_jwt_payload(&a, "a.b", 3));
	ck_assert_ptr_null(px_jwt_payload(&a, "a.b.c.d", 7));
	ck_assert_ptr_null(px_jwt_payload(&a, "a.*.c", 5));
	ck_assert_ptr_null(px_jwt_payload(&a, "a..c", 4));
	t = jwt("[1]");
	ck_assert_ptr_null(px_jwt_payload(&a, t, strlen(t)));
	t = jwt("{\"exp\":\"soon\"}");
	ck_assert_int_eq(px_jwt_exp(px_jwt_payload(&a, t, strlen(t))), 0);
	ck_assert_int_eq(px_jwt_exp(NULL), 0);
	px_arena_free(&a);
}
END_TEST

START_TEST(t_labels)
{
	struct px_account a;
	char l[PX_ACCT_LABEL_MAX];
	char longid[300];

	ck_assert(px_acct_label_ok("work"));
	ck_assert(px_acct_label_ok("claude-a.b+c@example.com"));
	ck_assert(!px_acct_label_ok(""));
	ck_assert(!px_acct_label_ok(".hidden"));
	ck_assert(!px_acct_label_ok("-x"));
	ck_assert(!px_acct_label_ok("a/b"));
	ck_assert(!px_acct_label_ok("a b"));
	ck_assert(!px_acct_label_ok("a\"b"));
	memset(longid, 'x', 64);
	longid[64] = 0;
	ck_assert(!px_acct_label_ok(longid));
	longid[63] = 0;
	ck_assert(px_acct_label_ok(longid));
	px_acct_init(&a, PX_ACCT_CODEX);
	px_acct_default_label(&a, l, sizeof l);
	ck_assert_str_eq(l, "codex");
	snprintf(a.identity, sizeof a.identity, "Ann Lee <ann@x.org>");
	px_acct_default_label(&a, l, sizeof l);
	ck_assert_str_eq(l, "codex-Ann_Lee__ann@x.org_");
	ck_assert(px_acct_label_ok(l));
	memset(longid, 'y', 200);
	longid[200] = 0;
	snprintf(a.identity, sizeof a.identity, "%.200s", longid);
	px_acct_default_label(&a, l, sizeof l);
	ck_assert_uint_eq(strlen(l), PX_ACCT_LABEL_MAX - 1);
	ck_assert(px_acct_label_ok(l));
}
END_TEST

START_TEST(t_schedule)
{
	struct px_account a;
	const long long H = 3600000;

	px_acct_init(&a, PX_ACCT_CLAUDE);
	ck_assert_int_eq(px_acct_fresh(&a, NOW), 0);         /* no token */
	px_acct_set(&a.access, "at", 2);
	ck_assert_int_eq(px_acct_fresh(&a, NOW), 1);         /* no expiry */
	ck_assert_int_eq(px_acct_refresh_at(&a, NOW), 0);    /* nothing */
	a.expires = NOW + 8 * H;
	a.refreshed = NOW;
	ck_assert_int_eq(px_acct_refresh_at(&a, NOW), 0);    /* no refresh */
	px_acct_set(&a.refresh, "rt", 2);
	/* Claude: 4 h ahead of an 8 h token */
	ck_assert_int_eq(px_acct_refresh_at(&a, NOW), NOW + 4 * H);
	/* a short token: half way */
	a.expires = NOW + 60000;
	ck_assert_int_eq(px_acct_refresh_at(&a, NOW), NOW + 30000);
	/* due already: now */
	ck_assert_int_eq(px_acct_refresh_at(&a, NOW + 45000), NOW + 45000);
	/* fresh until the skew */
	ck_assert_int_eq(px_acct_fresh(&a, NOW + 60000 - PX_ACCT_SKEW_MS - 1),
	    1);
	ck_assert_int_eq(px_acct_fresh(&a, NOW + 60000 - PX_ACCT_SKEW_MS), 0);
	/* Codex: 5 days; Copilot: 5 min */
	a.kind = PX_ACCT_CODEX;
	a.expires = NOW + 240 * H;
	ck_assert_int_eq(px_acct_refresh_at(&a, NOW), NOW + 120 * H);
	a.refreshed = 0;
	ck_assert_int_eq(px_acct_refresh_at(&a, NOW), NOW + 240 * H - 120 * H);
	a.kind = PX_ACCT_COPILOT;
	a.expires = NOW + H / 2;
	ck_assert_int_eq(px_acct_refresh_at(&a, NOW), NOW + H / 2 - 300000);
	px_acct_clear(&a);
	ck_assert_ptr_null(a.access);
	ck_assert_int_eq(a.kind, PX_ACCT_COPILOT);
}
END_TEST

/* ------------------------------------------------------------ the store */

static void
sample(struct px_account *a)
{
	px_acct_init(a, PX_ACCT_CODEX);
	snprintf(a->label, sizeof a->label, "work");
	snprintf(a->identity, sizeof a->identity, "ann@example.com");
	snprintf(a->account_id, sizeof a->account_id, "acct-123");
	snprintf(a->plan, sizeof a->plan, "pro");
	a->expires = NOW + 3600000;
	a->created = NOW - 1000;
	a->refreshed = NOW;
	px_acct_set(&a->access, "access-\"secret\"", 15);
	px_acct_set(&a->refresh, "refresh-secret", 14);
	px_acct_set(&a->id_token, "id.tok.en", 9);
}

static const unsigned char key1[32] = { 1, 2, 3 };
static const unsigned char key2[32] = { 9, 9, 9 };
static const unsigned char nonce[12] = { 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7 };

static char *
sealed(const struct px_account *a, const unsigned char *k, size_t *n)
{
	static char out[8192];
	struct px_arena ar;
	struct jw w;

	px_arena_init(&ar, 0);
	jw_init(&w, &ar, 0);
	ck_assert_int_eq(px_acct_seal(a, k, nonce, &w), 0);
	ck_assert_uint_lt(w.len, sizeof out);
	memcpy(out, w.buf, w.len + 1);
	*n = w.len;
	px_arena_free(&ar);
	return out;
}

START_TEST(t_seal_roundtrip)
{
	struct px_account a, b;
	char err[256], kid[17];
	size_t n;
	char *f;

	sample(&a);
	f = sealed(&a, key1, &n);
	px_acct_key_id(key1, kid);
	/* the readable part, in order; no token in clear */
	{
		static const char head[] = "{\"llmproxy_account\":1,\"kind\":"
		    "\"codex\",\"label\":\"work\",\"identity\":"
		    "\"ann@example.com\",\"account_id\":\"acct-123\",\"plan\":"
		    "\"pro\",\"project\":\"\",\"api_base\":\"\",\"expires\":"
		    "1750003600000,\"created\":1749999999000,\"refreshed\":"
		    "1750000000000,\"key_id\":\"";
		static const char tail[] = "\",\"nonce\":\"BwcHBwcHBwcHBwcH\","
		    "\"sealed\":\"";
		size_t h = sizeof head - 1;
		ck_assert(strncmp(f, head, h) == 0);
		ck_assert(strncmp(f + h, kid, 16) == 0);
		ck_assert(strncmp(f + h + 16, tail, sizeof tail - 1) == 0);
	}
	ck_assert(f[n - 1] == '\n');
	ck_assert_ptr_null(strstr(f, "secret"));
	ck_assert_ptr_null(strstr(f, "id.tok"));
	px_acct_init(&b, PX_ACCT_CLAUDE);
	ck_assert_int_eq(px_acct_open(f, n, key1, &b, err, sizeof err),
	    PX_ACCT_OK);
	ck_assert_int_eq(b.kind, PX_ACCT_CODEX);
	ck_assert_str_eq(b.label, "work");
	ck_assert_str_eq(b.identity, "ann@example.com");
	ck_assert_str_eq(b.account_id, "acct-123");
	ck_assert_str_eq(b.plan, "pro");
	ck_assert_int_eq(b.expires, NOW + 3600000);
	ck_assert_int_eq(b.created, NOW - 1000);
	ck_assert_str_eq(b.access, "access-\"secret\"");
	ck_assert_str_eq(b.refresh, "refresh-secret");
	ck_assert_str_eq(b.id_token, "id.tok.en");
	/* metadata only: no key, no tokens */
	ck_assert_int_eq(px_acct_open(f, n, NULL, &b, err, sizeof err),
	    PX_ACCT_OK);
	ck_assert_str_eq(b.identity, "ann@example.com");
	ck_assert_ptr_null(b.access);
	/* an account without an id_token */
	px_acct_set(&a.id_token, NULL, 0);
	f = sealed(&a, key1, &n);
	ck_assert_int_eq(px_acct_open(f, n, key1, &b, err, sizeof err),
	    PX_ACCT_OK);
	ck_assert_ptr_null(b.id_token);
	px_acct_clear(&a);
	px_acct_clear(&b);
}
END_TEST

/* Change any byte of a sealed file: it is refused (authentication or
 * format), never half read and never a crash. */
START_TEST(t_seal_tamper)
{
	struct px_account a, b;
	struct guard g;
	char err[256], *f, *copy;
	size_t n, i;
	int rc, tampered = 0;

	sample(&a);
	f = sealed(&a, key1, &n);
	copy = malloc(n);
	px_acct_init(&b, PX_ACCT_CLAUDE);
	for (i = 0; i < n - 1; i++) {
		memcpy(copy, f, n);
		copy[i] ^= 0x01;
		rc = px_acct_open(guard_copy(&g, copy, n), n, key1, &b, err,
		    sizeof err);
		guard_free(&g);
		ck_assert_msg(rc != PX_ACCT_OK, "byte %zu changed and accepted",
		    i);
		ck_assert_ptr_null(b.access);
		tampered += rc == PX_ACCT_ETAMPER;
		ck_assert_ptr_null(strstr(err, "secret"));
	}
	ck_assert_int_gt(tampered, 100);
	/* a field edited by hand: the expiry pushed out, the label changed */
	{
		char *e = strdup(f);
		char *p = strstr(e, "1750003600000");
		p[3] = '9';
		ck_assert_int_eq(px_acct_open(e, n, key1, &b, err, sizeof err),
		    PX_ACCT_ETAMPER);
		ck_assert_ptr_nonnull(strstr(err, "authentication failed"));
		free(e);
		e = strdup(f);
		p = strstr(e, "\"work\"");
		memcpy(p, "\"home\"", 6);
		ck_assert_int_eq(px_acct_open(e, n, key1, &b, err, sizeof err),
		    PX_ACCT_ETAMPER);
		free(e);
	}
	/* every truncation */
	for (i = 0; i < n - 1; i++) {
		rc = px_acct_open(guard_copy(&g, f, i), i, key1, &b, err,
		    sizeof err);
		guard_free(&g);
		ck_assert_int_ne(rc, PX_ACCT_OK);
	}
	/* another key, and garbage */
	ck_assert_int_eq(px_acct_open(f, n, key2, &b, err, sizeof err),
	    PX_ACCT_EKEY);
	ck_assert_ptr_nonnull(strstr(err, "another key"));
	ck_assert_int_eq(px_acct_open("{}", 2, key1, &b, err, sizeof err),
	    PX_ACCT_EFORMAT);
	ck_assert_int_eq(px_acct_open("nope", 4, key1, &b, err, sizeof err),
	    PX_ACCT_EFORMAT);
	free(copy);
	px_acct_clear(&a);
}
END_TEST

START_TEST(t_store)
{
	struct px_account a, b;
	struct px_acct_entry e[4];
	char dir[300], err[512], path[400];
	struct stat st;
	int fd;

	mk_tmp();
	ck_assert_int_eq(px_acct_dir(tmpd, dir, sizeof dir, err, sizeof err), 0);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	sample(&a);
	ck_assert_int_eq(px_acct_save(dir, key1, &a, err, sizeof err),
	    PX_ACCT_OK);
	snprintf(path, sizeof path, "%s/work.json", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	px_acct_init(&b, PX_ACCT_CLAUDE);
	ck_assert_int_eq(px_acct_load(dir, key1, "work", &b, err, sizeof err),
	    PX_ACCT_OK);
	ck_assert_str_eq(b.refresh, "refresh-secret");
	ck_assert_int_eq(px_acct_load(dir, key2, "work", &b, err, sizeof err),
	    PX_ACCT_EKEY);
	ck_assert_int_eq(px_acct_load(dir, key1, "nobody", &b, err,
	    sizeof err), PX_ACCT_ENOENT);
	/* a file others may read is refused (and says how to fix it) */
	chmod(path, 0644);
	ck_assert_int_eq(px_acct_load(dir, key1, "work", &b, err, sizeof err),
	    PX_ACCT_EPERM);
	ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
	chmod(path, 0600);
	/* a directory open to others is refused */
	chmod(dir, 0755);
	ck_assert_int_eq(px_acct_dir(tmpd, dir, sizeof dir, err, sizeof err),
	    -1);
	chmod(dir, 0700);
	/* a second account; a stray file; a renamed file */
	snprintf(a.label, sizeof a.label, "home");
	a.kind = PX_ACCT_CLAUDE;
	ck_assert_int_eq(px_acct_save(dir, key1, &a, err, sizeof err),
	    PX_ACCT_OK);
	snprintf(path, sizeof path, "%s/notes.txt", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	{
		char from[400], to[400];
		snprintf(from, sizeof from, "%s/home.json", dir);
		snprintf(to, sizeof to, "%s/renamed.json", dir);
		ck_assert_int_eq(link(from, to), 0);
	}
	ck_assert_int_eq(px_acct_list(dir, e, 4, err, sizeof err), 3);
	ck_assert_str_eq(e[0].a.label, "home");
	ck_assert_int_eq(e[0].rc, PX_ACCT_OK);
	ck_assert_int_eq(e[0].a.kind, PX_ACCT_CLAUDE);
	ck_assert_ptr_null(e[0].a.access);
	ck_assert_str_eq(e[1].a.label, "renamed");
	ck_assert_int_eq(e[1].rc, PX_ACCT_EFORMAT);
	ck_assert_str_eq(e[2].a.label, "work");
	ck_assert_int_eq(px_acct_load(dir, key1, "renamed", &b, err,
	    sizeof err), PX_ACCT_EFORMAT);
	/* remove */
	ck_assert_int_eq(px_acct_remove(dir, "home", err, sizeof err),
	    PX_ACCT_OK);
	ck_assert_int_eq(px_acct_remove(dir, "home", err, sizeof err),
	    PX_ACCT_ENOENT);
	ck_assert_int_eq(px_acct_list(dir, e, 4, err, sizeof err), 2);
	px_acct_clear(&a);
	px_acct_clear(&b);
	rm_tmp();
}
END_TEST

static void
crash_hook(int stage)
{
	if (stage == 1)
		_exit(3);
}

/* A crash between the temporary file and the rename leaves the old
 * account whole; the temporary file is ignored, and the next write works. */
START_TEST(t_store_crash)
{
	struct px_account a, b;
	struct px_acct_entry e[4];
	char dir[300], err[512], tmp[400];
	struct stat st;
	pid_t pid;
	int status;

	mk_tmp();
	ck_assert_int_eq(px_acct_dir(tmpd, dir, sizeof dir, err, sizeof err), 0);
	sample(&a);
	ck_assert_int_eq(px_acct_save(dir, key1, &a, err, sizeof err),
	    PX_ACCT_OK);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		px_acct_save_hook = crash_hook;
		px_acct_set(&a.refresh, "rotated", 7);
		px_acct_save(dir, key1, &a, err, sizeof err);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(status), 3);
	snprintf(tmp, sizeof tmp, "%s/.work.json.tmp", dir);
	ck_assert_int_eq(stat(tmp, &st), 0);          /* left behind */
	px_acct_init(&b, PX_ACCT_CLAUDE);
	ck_assert_int_eq(px_acct_load(dir, key1, "work", &b, err, sizeof err),
	    PX_ACCT_OK);
	ck_assert_str_eq(b.refresh, "refresh-secret");  /* the old one */
	ck_assert_int_eq(px_acct_list(dir, e, 4, err, sizeof err), 1);
	px_acct_set(&a.refresh, "rotated", 7);
	ck_assert_int_eq(px_acct_save(dir, key1, &a, err, sizeof err),
	    PX_ACCT_OK);
	ck_assert_int_eq(px_acct_load(dir, key1, "work", &b, err, sizeof err),
	    PX_ACCT_OK);
	ck_assert_str_eq(b.refresh, "rotated");
	ck_assert_int_ne(stat(tmp, &st), 0);
	px_acct_clear(&a);
	px_acct_clear(&b);
	rm_tmp();
}
END_TEST

START_TEST(t_key)
{
	unsigned char k1[32], k2[32], k3[32];
	char err[512], path[400];
	const char *src;
	struct stat st;

	mk_tmp();
	unsetenv(PX_ACCT_SECRET_ENV);
	ck_assert_int_eq(px_acct_key(tmpd, 0, k1, &src, err, sizeof err),
	    PX_ACCT_ENOENT);
	ck_assert_int_eq(px_acct_key(tmpd, 1, k1, &src, err, sizeof err),
	    PX_ACCT_OK);
	snprintf(path, sizeof path, "%s/%s", tmpd, PX_ACCT_KEY_FILE);
	ck_assert_str_eq(src, path);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(st.st_size, 65);
	ck_assert_int_eq(px_acct_key(tmpd, 0, k2, NULL, err, sizeof err),
	    PX_ACCT_OK);
	ck_assert(memcmp(k1, k2, 32) == 0);
	chmod(path, 0640);
	ck_assert_int_eq(px_acct_key(tmpd, 0, k2, NULL, err, sizeof err),
	    PX_ACCT_EPERM);
	chmod(path, 0600);
	/* $LLMPROXY_SECRET wins; a short one is refused */
	setenv(PX_ACCT_SECRET_ENV, "short", 1);
	ck_assert_int_eq(px_acct_key(tmpd, 0, k2, NULL, err, sizeof err),
	    PX_ACCT_EFORMAT);
	setenv(PX_ACCT_SECRET_ENV, "0123456789abcdef0123456789abcdef", 1);
	ck_assert_int_eq(px_acct_key(tmpd, 0, k2, &src, err, sizeof err),
	    PX_ACCT_OK);
	ck_assert_str_eq(src, "$LLMPROXY_SECRET");
	ck_assert(memcmp(k1, k2, 32) != 0);
	px_acct_key_from_secret("0123456789abcdef0123456789abcdef", 32, k3);
	ck_assert(memcmp(k2, k3, 32) == 0);
	unsetenv(PX_ACCT_SECRET_ENV);
	rm_tmp();
}
END_TEST

/* ------------------------------------------------------------ flows */

static struct px_acct_ep
ep_of(enum px_acct_kind k)
{
	struct px_acct_ep ep;

	px_acct_ep_init(&ep, k, no_env);
	return ep;
}

static const char *over_env_val(const char *name);

START_TEST(t_endpoints)
{
	struct px_acct_ep ep = ep_of(PX_ACCT_CLAUDE);

	ck_assert_str_eq(ep.token, "https://platform.claude.com/v1/oauth/token");
	ck_assert_str_eq(ep.redirect, "http://localhost:54545/callback");
	ep = ep_of(PX_ACCT_CODEX);
	ck_assert_str_eq(ep.redirect, "http://localhost:1455/auth/callback");
	ep = ep_of(PX_ACCT_GEMINI);
	ck_assert_str_eq(ep.redirect, "http://localhost:8085/oauth2callback");
	ck_assert_str_eq(ep.api, "https://cloudcode-pa.googleapis.com/v1internal");
	ck_assert_uint_eq(strlen(ep.client_secret), 35);
	ep = ep_of(PX_ACCT_COPILOT);
	ck_assert_str_eq(ep.api,
	    "https://api.github.com/copilot_internal/v2/token");
	ck_assert_str_eq(ep.client_id, "Iv1.b507a08c87ecfe98");
	px_acct_ep_init(&ep, PX_ACCT_GEMINI, over_env_val);
	ck_assert_str_eq(ep.token, "http://127.0.0.1:9/token");
	ck_assert_str_eq(ep.api, "http://127.0.0.1:9/v1internal");
	ck_assert_str_eq(ep.redirect, "http://localhost:4321/oauth2callback");
}
END_TEST

static const char *
over_env_val(const char *name)
{
	if (strcmp(name, "LLMPROXY_GEMINI_TOKEN_URL") == 0)
		return "http://127.0.0.1:9/token";
	if (strcmp(name, "LLMPROXY_GEMINI_CODE_ASSIST_URL") == 0)
		return "http://127.0.0.1:9/v1internal";
	if (strcmp(name, "LLMPROXY_GEMINI_CALLBACK_PORT") == 0)
		return "4321";
	return NULL;
}

START_TEST(t_authorize)
{
	struct px_acct_ep ep = ep_of(PX_ACCT_CLAUDE);
	char url[PX_URL_MAX];

	ck_assert_int_eq(px_oauth_authorize_url(&ep, "ST", "CH", url,
	    sizeof url), 0);
	ck_assert_str_eq(url, "https://claude.ai/oauth/authorize?code=true&"
	    "client_id=9d1c250a-e61b-44d9-88ed-5944d1962f5e&response_type=code"
	    "&redirect_uri=http%3A%2F%2Flocalhost%3A54545%2Fcallback&scope="
	    "user%3Aprofile%20user%3Ainference%20user%3Asessions%3Aclaude_code"
	    "%20user%3Amcp_servers%20user%3Afile_upload&code_challenge=CH&"
	    "code_challenge_method=S256&state=ST");
	ep = ep_of(PX_ACCT_CODEX);
	ck_assert_int_eq(px_oauth_authorize_url(&ep, "ST", "CH", url,
	    sizeof url), 0);
	ck_assert_str_eq(url, "https://auth.openai.com/oauth/authorize?"
	    "response_type=code&client_id=app_EMoamEEZ73f0CkXaXp7hrann&"
	    "redirect_uri=http%3A%2F%2Flocalhost%3A1455%2Fauth%2Fcallback&"
	    "scope=openid%20email%20profile%20offline_access&code_challenge=CH"
	    "&code_challenge_method=S256&id_token_add_organizations=true&"
	    "codex_cli_simplified_flow=true&prompt=login&state=ST");
	ep = ep_of(PX_ACCT_GEMINI);
	ck_assert_int_eq(px_oauth_authorize_url(&ep, "ST", "CH", url,
	    sizeof url), 0);
	ck_assert(strncmp(url, "https://accounts.google.com/o/oauth2/auth?"
	    "access_type=offline&prompt=consent&response_type=code&client_id="
	    "681255809395-", 101) == 0);
	ck_assert_ptr_nonnull(strstr(url, "&code_challenge=CH&"
	    "code_challenge_method=S256&state=ST"));
	ep = ep_of(PX_ACCT_COPILOT);
	ck_assert_int_eq(px_oauth_authorize_url(&ep, "ST", "CH", url,
	    sizeof url), -1);
	ck_assert_int_eq(px_oauth_authorize_url(&ep, "ST", "CH", url, 10), -1);
}
END_TEST

START_TEST(t_parse_code)
{
	static const struct {
		const char *in;
		int rc;
		const char *code, *state;
	} v[] = {
		{ "http://localhost:54545/callback?code=abc&state=xyz", 0,
		  "abc", "xyz" },
		{ "  http://localhost:1455/auth/callback?state=s%2B1&code=a%20b "
		  "\n", 0, "a b", "s+1" },
		{ "code=c1&state=s1", 0, "c1", "s1" },
		{ "abc#xyz", 0, "abc", "xyz" },
		{ "justacode", 0, "justacode", "" },
		{ "http://x/cb?state=s", -1, NULL, NULL },
		{ "http://x/cb?error=access_denied&state=s", -2, "access_denied",
		  NULL },
		{ "http://x/cb?code=%zz", -1, NULL, NULL },
		{ "http://x/cb?code=%0a", -1, NULL, NULL },
		{ "", -1, NULL, NULL },
		{ "#state", -1, NULL, NULL },
	};
	char code[64], st[64];
	size_t i;

	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct guard g;
		int rc = px_oauth_parse_code(guard_copy(&g, v[i].in,
		    strlen(v[i].in)), strlen(v[i].in), code, sizeof code, st,
		    sizeof st);
		guard_free(&g);
		ck_assert_msg(rc == v[i].rc, "%s: %d", v[i].in, rc);
		if (v[i].code)
			ck_assert_str_eq(code, v[i].code);
		if (v[i].state)
			ck_assert_str_eq(st, v[i].state);
	}
}
END_TEST

static char *
body_of(const struct px_hreq *r)
{
	static char b[8192];

	snprintf(b, sizeof b, "%.*s", (int)r->body_n, r->body);
	return b;
}

START_TEST(t_code_requests)
{
	struct px_arena ar;
	struct px_hreq r;
	struct px_url u;
	struct px_acct_ep ep = ep_of(PX_ACCT_CLAUDE);
	struct jw h;

	px_arena_init(&ar, 0);
	ck_assert_int_eq(px_oauth_code_request(&ep, "C", "V", "S", &ar, &r), 0);
	ck_assert_str_eq(r.method, "POST");
	ck_assert_str_eq(body_of(&r), "{\"grant_type\":\"authorization_code\","
	    "\"code\":\"C\",\"redirect_uri\":\"http://localhost:54545/callback\","
	    "\"client_id\":\"9d1c250a-e61b-44d9-88ed-5944d1962f5e\","
	    "\"code_verifier\":\"V\",\"state\":\"S\"}");
	jw_init(&h, &ar, 0);
	ck_assert_int_eq(px_hreq_head(&r, &u, &h), 0);
	ck_assert_str_eq(h.buf, "POST /v1/oauth/token HTTP/1.1\r\n"
	    "Host: platform.claude.com\r\n"
	    "Accept: application/json, text/plain, */*\r\n"
	    "Content-Type: application/json\r\nUser-Agent: axios/1.15.2\r\n"
	    "Content-Length: 178\r\nConnection: close\r\n\r\n");
	ck_assert_int_eq(u.tls, 1);
	ck_assert_str_eq(u.port, "443");
	ep = ep_of(PX_ACCT_CODEX);
	ck_assert_int_eq(px_oauth_code_request(&ep, "C/1", "V", "S", &ar, &r),
	    0);
	ck_assert_str_eq(body_of(&r), "grant_type=authorization_code&"
	    "client_id=app_EMoamEEZ73f0CkXaXp7hrann&code=C%2F1&redirect_uri="
	    "http%3A%2F%2Flocalhost%3A1455%2Fauth%2Fcallback&code_verifier=V");
	ep = ep_of(PX_ACCT_GEMINI);
	ck_assert_int_eq(px_oauth_code_request(&ep, "C", "V", "S", &ar, &r), 0);
	ck_assert(strncmp(body_of(&r), "code=C&client_id=681255809395-", 30)
	    == 0);
	ck_assert_ptr_nonnull(strstr(body_of(&r), "&client_secret=GOCSPX-"));
	ck_assert_ptr_nonnull(strstr(body_of(&r), "&grant_type="
	    "authorization_code&code_verifier=V"));
	ep = ep_of(PX_ACCT_COPILOT);
	ck_assert_int_eq(px_oauth_code_request(&ep, "C", "V", "S", &ar, &r),
	    -1);
	px_arena_free(&ar);
}
END_TEST

START_TEST(t_refresh_requests)
{
	struct px_arena ar;
	struct px_hreq r;
	struct px_url u;
	struct px_account a;
	struct px_acct_ep ep = ep_of(PX_ACCT_CLAUDE);
	struct jw h;

	px_arena_init(&ar, 0);
	px_acct_init(&a, PX_ACCT_CLAUDE);
	ck_assert_int_eq(px_oauth_refresh_request(&ep, &a, &ar, &r), -1);
	px_acct_set(&a.refresh, "RT", 2);
	ck_assert_int_eq(px_oauth_refresh_request(&ep, &a, &ar, &r), 0);
	ck_assert_str_eq(body_of(&r), "{\"client_id\":\"9d1c250a-e61b-44d9-"
	    "88ed-5944d1962f5e\",\"grant_type\":\"refresh_token\","
	    "\"refresh_token\":\"RT\",\"scope\":\"user:profile user:inference "
	    "user:sessions:claude_code user:mcp_servers user:file_upload\"}");
	a.kind = PX_ACCT_CODEX;
	ep = ep_of(PX_ACCT_CODEX);
	ck_assert_int_eq(px_oauth_refresh_request(&ep, &a, &ar, &r), 0);
	ck_assert_str_eq(body_of(&r), "client_id=app_EMoamEEZ73f0CkXaXp7hrann&"
	    "grant_type=refresh_token&refresh_token=RT&scope=openid%20profile"
	    "%20email");
	a.kind = PX_ACCT_GEMINI;
	ep = ep_of(PX_ACCT_GEMINI);
	ck_assert_int_eq(px_oauth_refresh_request(&ep, &a, &ar, &r), 0);
	ck_assert(strncmp(body_of(&r), "grant_type=refresh_token&client_id=",
	    35) == 0);
	ck_assert_ptr_nonnull(strstr(body_of(&r), "&refresh_token=RT"));
	a.kind = PX_ACCT_COPILOT;
	ep = ep_of(PX_ACCT_COPILOT);
	ck_assert_int_eq(px_oauth_refresh_request(&ep, &a, &ar, &r), 0);
	jw_init(&h, &ar, 0);
	ck_assert_int_eq(px_hreq_head(&r, &u, &h), 0);
	ck_assert_str_eq(h.buf, "GET /copilot_internal/v2/token HTTP/1.1\r\n"
	    "Host: api.github.com\r\nAuthorization: token RT\r\n"
	    "Accept: application/json\r\nUser-Agent: GithubCopilot/1.0\r\n"
	    "Editor-Version: vscode/1.100.0\r\n"
	    "Editor-Plugin-Version: copilot/1.300.0\r\n"
	    "Connection: close\r\n\r\n");
	px_acct_clear(&a);
	px_arena_free(&ar);
}
END_TEST

START_TEST(t_urls)
{
	struct px_url u;

	ck_assert_int_eq(px_url_parse("http://127.0.0.1:8080/a/b?c=d", &u), 0);
	ck_assert_str_eq(u.host, "127.0.0.1");
	ck_assert_str_eq(u.port, "8080");
	ck_assert_str_eq(u.path, "/a/b?c=d");
	ck_assert_int_eq(u.tls, 0);
	ck_assert_int_eq(px_url_parse("https://[::1]/x", &u), 0);
	ck_assert_str_eq(u.host, "::1");
	ck_assert_str_eq(u.port, "443");
	ck_assert_int_eq(px_url_parse("https://h", &u), 0);
	ck_assert_str_eq(u.path, "/");
	ck_assert_int_eq(px_url_parse("ftp://h/", &u), -1);
	ck_assert_int_eq(px_url_parse("http://u:p@h/", &u), -1);
	ck_assert_int_eq(px_url_parse("http://h:99999/", &u), -1);
	ck_assert_int_eq(px_url_parse("http://h:x/", &u), -1);
	ck_assert_int_eq(px_url_parse("http:///", &u), -1);
	ck_assert_int_eq(px_url_parse("http://h/a b", &u), -1);
}
END_TEST

START_TEST(t_token_answers)
{
	struct px_account a;
	struct px_tok_result res;
	char body[4096];
	const char *t;

	px_acct_init(&a, PX_ACCT_CLAUDE);
	px_acct_set(&a.refresh, "old-rt", 6);
	t = "{\"access_token\":\"AT1\",\"refresh_token\":\"RT1\",\"expires_in\":"
	    "28800,\"token_type\":\"Bearer\",\"organization\":{\"uuid\":\"o1\"},"
	    "\"account\":{\"uuid\":\"u1\",\"email_address\":\"ann@x.org\"}}";
	px_oauth_token_answer(&a, 200, t, strlen(t), NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_OK);
	ck_assert_str_eq(a.access, "AT1");
	ck_assert_str_eq(a.refresh, "RT1");
	ck_assert_int_eq(a.expires, NOW + 28800000);
	ck_assert_int_eq(a.refreshed, NOW);
	ck_assert_str_eq(a.identity, "ann@x.org");
	ck_assert_str_eq(a.account_id, "u1");
	/* no new refresh token: the old one stays; expires_in as a string */
	t = "{\"access_token\":\"AT2\",\"expires_in\":\"60\"}";
	px_oauth_token_answer(&a, 200, t, strlen(t), NOW + 5, &res);
	ck_assert_int_eq(res.v, PX_TOK_OK);
	ck_assert_str_eq(a.access, "AT2");
	ck_assert_str_eq(a.refresh, "RT1");
	ck_assert_int_eq(a.expires, NOW + 5 + 60000);
	ck_assert_str_eq(a.identity, "ann@x.org");
	/* refused: the record is untouched, the message has no token */
	t = "{\"error\":\"invalid_grant\",\"error_description\":\"Refresh token "
	    "expired\"}";
	px_oauth_token_answer(&a, 400, t, strlen(t), NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_DENIED);
	ck_assert_str_eq(res.error, "invalid_grant");
	ck_assert_str_eq(res.msg, "400 invalid_grant: Refresh token expired");
	ck_assert_str_eq(a.access, "AT2");
	t = "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\","
	    "\"message\":\"bad\"}}";
	px_oauth_token_answer(&a, 401, t, strlen(t), NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_DENIED);
	ck_assert_str_eq(res.msg, "401 authentication_error: bad");
	/* transient */
	px_oauth_token_answer(&a, 503, "oops", 4, NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_RETRY);
	px_oauth_token_answer(&a, 429, "{}", 2, NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_RETRY);
	px_oauth_token_answer(&a, 200, "<html>", 6, NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_RETRY);
	px_oauth_token_answer(&a, 200, "{\"token_type\":\"x\"}", 18, NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_RETRY);
	/* an error inside a 200 is a refusal */
	px_oauth_token_answer(&a, 200, "{\"error\":\"bad_verification_code\"}",
	    33, NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_DENIED);
	ck_assert_str_eq(a.access, "AT2");
	px_acct_clear(&a);

	/* Codex: the id_token's claims; expiry from the access token JWT */
	px_acct_init(&a, PX_ACCT_CODEX);
	snprintf(body, sizeof body, "{\"access_token\":\"%s\",",
	    jwt("{\"exp\":1750007200}"));
	snprintf(body + strlen(body), sizeof body - strlen(body),
	    "\"refresh_token\":\"R\",\"id_token\":\"%s\"}", jwt("{\"email\":"
	    "\"bo@x.org\",\"https://api.openai.com/auth\":{\"chatgpt_account_id"
	    "\":\"acc-9\",\"chatgpt_plan_type\":\"plus\"}}"));
	px_oauth_token_answer(&a, 200, body, strlen(body), NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_OK);
	ck_assert_str_eq(a.identity, "bo@x.org");
	ck_assert_str_eq(a.account_id, "acc-9");
	ck_assert_str_eq(a.plan, "plus");
	ck_assert_int_eq(a.expires, 1750007200000LL);
	ck_assert_ptr_nonnull(a.id_token);
	px_acct_clear(&a);

	/* Copilot's token answer */
	px_acct_init(&a, PX_ACCT_COPILOT);
	px_acct_set(&a.refresh, "gho_x", 5);
	t = "{\"token\":\"tid=1;exp=2\",\"expires_at\":1750001800,"
	    "\"refresh_in\":1500,\"endpoints\":{\"api\":"
	    "\"https://api.individual.githubcopilot.com\"}}";
	px_oauth_token_answer(&a, 200, t, strlen(t), NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_OK);
	ck_assert_str_eq(a.access, "tid=1;exp=2");
	ck_assert_str_eq(a.refresh, "gho_x");
	ck_assert_int_eq(a.expires, 1750001800000LL);
	ck_assert_str_eq(a.api_base, "https://api.individual.githubcopilot.com");
	/* an expiry past any real time counts as absent (25 minutes) */
	t = "{\"token\":\"t2\",\"expires_at\":178000180780001800}";
	px_oauth_token_answer(&a, 200, t, strlen(t), NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_OK);
	ck_assert_int_eq(a.expires, NOW + 25 * 60 * 1000);
	t = "{\"message\":\"Not Found\"}";
	px_oauth_token_answer(&a, 404, t, strlen(t), NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_DENIED);
	t = "{\"expires_at\":1}";
	px_oauth_token_answer(&a, 200, t, strlen(t), NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_DENIED);
	px_acct_clear(&a);
}
END_TEST

START_TEST(t_device)
{
	struct px_acct_ep ep = ep_of(PX_ACCT_COPILOT);
	struct px_arena ar;
	struct px_hreq r;
	struct px_device d;
	struct px_account a;
	struct px_tok_result res;
	const char *t;

	px_arena_init(&ar, 0);
	ck_assert_int_eq(px_device_code_request(&ep, &ar, &r), 0);
	ck_assert_str_eq(r.url, "https://github.com/login/device/code");
	ck_assert_str_eq(body_of(&r), "client_id=Iv1.b507a08c87ecfe98&"
	    "scope=user%3Aemail");
	t = "{\"device_code\":\"DC\",\"user_code\":\"AB12-CD34\","
	    "\"verification_uri\":\"https://github.com/login/device\","
	    "\"expires_in\":600,\"interval\":2}";
	px_device_code_answer(&d, 200, t, strlen(t), NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_OK);
	ck_assert_str_eq(d.user_code, "AB12-CD34");
	ck_assert_int_eq(d.interval_ms, 2000);
	ck_assert_int_eq(d.deadline, NOW + 600000);
	ck_assert_int_eq(px_device_poll_request(&ep, &d, &ar, &r), 0);
	ck_assert_str_eq(body_of(&r), "client_id=Iv1.b507a08c87ecfe98&"
	    "device_code=DC&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type"
	    "%3Adevice_code");
	px_acct_init(&a, PX_ACCT_COPILOT);
	t = "{\"error\":\"authorization_pending\"}";
	px_device_poll_answer(&d, &a, 200, t, strlen(t), NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_PENDING);
	ck_assert_int_eq(d.interval_ms, 2000);
	/* slow_down: +5 s, or the interval the server gives */
	t = "{\"error\":\"slow_down\"}";
	px_device_poll_answer(&d, &a, 200, t, strlen(t), NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_SLOW_DOWN);
	ck_assert_int_eq(d.interval_ms, 7000);
	t = "{\"error\":\"slow_down\",\"interval\":12}";
	px_device_poll_answer(&d, &a, 200, t, strlen(t), NOW, &res);
	ck_assert_int_eq(d.interval_ms, 12000);
	t = "{\"error\":\"expired_token\"}";
	px_device_poll_answer(&d, &a, 200, t, strlen(t), NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_DENIED);
	px_device_poll_answer(&d, &a, 502, "", 0, NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_RETRY);
	ck_assert_ptr_null(a.refresh);
	t = "{\"access_token\":\"gho_abc\",\"token_type\":\"bearer\"}";
	px_device_poll_answer(&d, &a, 200, t, strlen(t), NOW, &res);
	ck_assert_int_eq(res.v, PX_TOK_OK);
	ck_assert_str_eq(a.refresh, "gho_abc");
	/* the GitHub user */
	ck_assert_int_eq(px_user_request(&ep, &a, &ar, &r), 0);
	ck_assert_str_eq(r.hdrs, "Authorization: token gho_abc\r\n"
	    "Accept: application/json\r\nUser-Agent: GithubCopilot/1.0\r\n");
	t = "{\"login\":\"octo\",\"id\":1}";
	px_user_answer(&a, 200, t, strlen(t), &res);
	ck_assert_int_eq(res.v, PX_TOK_OK);
	ck_assert_str_eq(a.identity, "octo");
	px_acct_clear(&a);
	px_arena_free(&ar);
}
END_TEST

START_TEST(t_onboard)
{
	struct px_acct_ep ep = ep_of(PX_ACCT_GEMINI);
	struct px_arena ar;
	struct px_hreq r;
	struct px_onboard o;
	struct px_account a;
	struct px_tok_result res;
	const char *t;

	px_arena_init(&ar, 0);
	px_acct_init(&a, PX_ACCT_GEMINI);
	px_acct_set(&a.access, "ya29", 4);
	memset(&o, 0, sizeof o);
	ck_assert_int_eq(px_onboard_request(&ep, &o, &a, &ar, &r), 0);
	ck_assert_str_eq(r.url, "https://cloudcode-pa.googleapis.com/v1internal"
	    ":loadCodeAssist");
	ck_assert_str_eq(body_of(&r), "{\"metadata\":{\"ideType\":"
	    "\"IDE_UNSPECIFIED\",\"platform\":\"PLATFORM_UNSPECIFIED\","
	    "\"pluginType\":\"GEMINI\"}}");
	ck_assert_ptr_nonnull(strstr(r.hdrs, "Authorization: Bearer ya29\r\n"));
	/* a new account: the default tier, then onboarding until done */
	t = "{\"allowedTiers\":[{\"id\":\"standard-tier\"},{\"id\":\"free-tier\","
	    "\"isDefault\":true}]}";
	px_onboard_answer(&o, 200, t, strlen(t), &res);
	ck_assert_int_eq(res.v, PX_TOK_OK);
	ck_assert_int_eq(o.step, PX_OB_ONBOARD);
	ck_assert_str_eq(o.tier, "free-tier");
	ck_assert_int_eq(px_onboard_request(&ep, &o, &a, &ar, &r), 0);
	ck_assert_str_eq(body_of(&r), "{\"tierId\":\"free-tier\",\"metadata\":"
	    "{\"ideType\":\"IDE_UNSPECIFIED\",\"platform\":"
	    "\"PLATFORM_UNSPECIFIED\",\"pluginType\":\"GEMINI\"}}");
	px_onboard_answer(&o, 200, "{\"done\":false}", 14, &res);
	ck_assert_int_eq(res.v, PX_TOK_PENDING);
	ck_assert_int_eq(o.polls, 1);
	t = "{\"done\":true,\"response\":{\"cloudaicompanionProject\":{\"id\":"
	    "\"proj-1\"}}}";
	px_onboard_answer(&o, 200, t, strlen(t), &res);
	ck_assert_int_eq(res.v, PX_TOK_OK);
	ck_assert_int_eq(o.step, PX_OB_DONE);
	ck_assert_str_eq(o.project, "proj-1");
	ck_assert_int_eq(px_onboard_request(&ep, &o, &a, &ar, &r), -1);
	/* onboarded already: the project as a string */
	memset(&o, 0, sizeof o);
	t = "{\"currentTier\":{\"id\":\"free-tier\"},\"cloudaicompanionProject\":"
	    "\"proj-2\"}";
	px_onboard_answer(&o, 200, t, strlen(t), &res);
	ck_assert_int_eq(o.step, PX_OB_DONE);
	ck_assert_str_eq(o.project, "proj-2");
	/* onboarded, no project, none given: refused with a way out */
	memset(&o, 0, sizeof o);
	t = "{\"currentTier\":{\"id\":\"standard-tier\"}}";
	px_onboard_answer(&o, 200, t, strlen(t), &res);
	ck_assert_int_eq(res.v, PX_TOK_DENIED);
	ck_assert_ptr_nonnull(strstr(res.msg, "--project"));
	/* the user's project goes along */
	memset(&o, 0, sizeof o);
	snprintf(o.project, sizeof o.project, "mine");
	ck_assert_int_eq(px_onboard_request(&ep, &o, &a, &ar, &r), 0);
	ck_assert_str_eq(body_of(&r), "{\"cloudaicompanionProject\":\"mine\","
	    "\"metadata\":{\"ideType\":\"IDE_UNSPECIFIED\",\"platform\":"
	    "\"PLATFORM_UNSPECIFIED\",\"pluginType\":\"GEMINI\"}}");
	t = "{\"error\":{\"code\":403,\"message\":\"no\",\"status\":"
	    "\"PERMISSION_DENIED\"}}";
	px_onboard_answer(&o, 403, t, strlen(t), &res);
	ck_assert_int_eq(res.v, PX_TOK_DENIED);
	ck_assert_str_eq(res.error, "PERMISSION_DENIED");
	px_acct_clear(&a);
	px_arena_free(&ar);
}
END_TEST

START_TEST(t_import)
{
	struct px_account a;
	char err[256], buf[4096];
	const char *t;

	px_acct_init(&a, PX_ACCT_CLAUDE);
	t = "{\"claudeAiOauth\":{\"accessToken\":\"sk-ant-oat01-x\","
	    "\"refreshToken\":\"sk-ant-ort01-y\",\"expiresAt\":1750000999000,"
	    "\"scopes\":[\"user:inference\"],\"subscriptionType\":\"max\"}}";
	ck_assert_int_eq(px_acct_import(&a, t, strlen(t), NOW, err, sizeof err),
	    0);
	ck_assert_str_eq(a.access, "sk-ant-oat01-x");
	ck_assert_str_eq(a.refresh, "sk-ant-ort01-y");
	ck_assert_int_eq(a.expires, 1750000999000LL);
	ck_assert_str_eq(a.plan, "max");
	ck_assert_int_eq(a.created, NOW);
	px_acct_clear(&a);
	ck_assert_int_eq(px_acct_import(&a, "{\"x\":1}", 7, NOW, err,
	    sizeof err), -1);
	ck_assert_ptr_null(a.access);
	ck_assert_int_eq(a.kind, PX_ACCT_CLAUDE);

	px_acct_init(&a, PX_ACCT_CODEX);
	snprintf(buf, sizeof buf, "{\"OPENAI_API_KEY\":null,\"tokens\":"
	    "{\"id_token\":\"%s\",", jwt("{\"email\":\"c@x.org\","
	    "\"https://api.openai.com/auth\":{\"chatgpt_account_id\":\"a-1\"}}"));
	snprintf(buf + strlen(buf), sizeof buf - strlen(buf),
	    "\"access_token\":\"%s\",\"refresh_token\":\"r\",\"account_id\":"
	    "\"a-2\"},\"last_refresh\":\"2025-06-01T00:00:00Z\"}",
	    jwt("{\"exp\":1750864000}"));
	ck_assert_int_eq(px_acct_import(&a, buf, strlen(buf), NOW, err,
	    sizeof err), 0);
	ck_assert_str_eq(a.identity, "c@x.org");
	ck_assert_str_eq(a.account_id, "a-2");
	ck_assert_int_eq(a.expires, 1750864000000LL);
	px_acct_clear(&a);

	px_acct_init(&a, PX_ACCT_GEMINI);
	t = "{\"access_token\":\"ya29\",\"refresh_token\":\"1//r\","
	    "\"scope\":\"x\",\"token_type\":\"Bearer\",\"expiry_date\":"
	    "1750000500000}";
	ck_assert_int_eq(px_acct_import(&a, t, strlen(t), NOW, err, sizeof err),
	    0);
	ck_assert_str_eq(a.refresh, "1//r");
	ck_assert_int_eq(a.expires, 1750000500000LL);
	px_acct_clear(&a);

	px_acct_init(&a, PX_ACCT_COPILOT);
	t = "{\"github.com:Iv1.b507a08c87ecfe98\":{\"user\":\"octo\","
	    "\"oauth_token\":\"gho_z\",\"githubAppId\":\"Iv1.b507a08c87ecfe98\"}}";
	ck_assert_int_eq(px_acct_import(&a, t, strlen(t), NOW, err, sizeof err),
	    0);
	ck_assert_str_eq(a.refresh, "gho_z");
	ck_assert_str_eq(a.identity, "octo");
	ck_assert_ptr_null(a.access);
	px_acct_clear(&a);
}
END_TEST

START_TEST(t_exchange)
{
	struct px_token_exchange tx;
	struct px_arena ar;
	struct px_hreq r;
	struct px_tok_result res;
	char *tok;
	long long exp;
	const char *t;

	memset(&tx, 0, sizeof tx);
	tx.url = "http://127.0.0.1:1/token";
	tx.token = "long&lived";
	tx.token_field = tx.header = "";
	tx.ttl_s = 900;
	tx.names[0] = "grant_type";
	tx.values[0] = "urn:ietf:params:oauth:grant-type:jwt-bearer";
	tx.names[1] = "assertion";
	tx.values[1] = "{token}";
	tx.names[2] = "note";
	tx.values[2] = "a{token}b{token}";
	tx.nfields = 3;
	px_arena_init(&ar, 0);
	ck_assert_int_eq(px_tx_request(&tx, &ar, &r), 0);
	ck_assert_str_eq(body_of(&r), "grant_type=urn%3Aietf%3Aparams%3Aoauth"
	    "%3Agrant-type%3Ajwt-bearer&assertion=long%26lived&note="
	    "along%26livedblong%26lived");
	ck_assert_ptr_nonnull(strstr(r.hdrs, "Content-Type: application/"
	    "x-www-form-urlencoded\r\n"));
	tx.json = 1;
	ck_assert_int_eq(px_tx_request(&tx, &ar, &r), 0);
	ck_assert_str_eq(body_of(&r), "{\"grant_type\":\"urn:ietf:params:oauth:"
	    "grant-type:jwt-bearer\",\"assertion\":\"long&lived\",\"note\":"
	    "\"along&livedblong&lived\"}");
	/* expires_in, a JWT exp, the ttl */
	t = "{\"access_token\":\"X1\",\"expires_in\":3600}";
	px_tx_answer(&tx, 200, t, strlen(t), NOW, &tok, &exp, &res);
	ck_assert_int_eq(res.v, PX_TOK_OK);
	ck_assert_str_eq(tok, "X1");
	ck_assert_int_eq(exp, NOW + 3600000);
	free(tok);
	{
		char b[1024];
		snprintf(b, sizeof b, "{\"token\":\"%s\"}",
		    jwt("{\"exp\":1750000600}"));
		px_tx_answer(&tx, 200, b, strlen(b), NOW, &tok, &exp, &res);
		ck_assert_int_eq(res.v, PX_TOK_OK);
		ck_assert_int_eq(exp, 1750000600000LL);
		free(tok);
	}
	t = "{\"access_token\":\"X3\"}";
	px_tx_answer(&tx, 200, t, strlen(t), NOW, &tok, &exp, &res);
	ck_assert_int_eq(exp, NOW + 900000);
	free(tok);
	tx.token_field = "id";
	t = "{\"id\":\"X4\",\"access_token\":\"no\"}";
	px_tx_answer(&tx, 200, t, strlen(t), NOW, &tok, &exp, &res);
	ck_assert_str_eq(tok, "X4");
	free(tok);
	px_tx_answer(&tx, 401, "{\"error\":\"invalid_client\"}", 26, NOW, &tok,
	    &exp, &res);
	ck_assert_int_eq(res.v, PX_TOK_DENIED);
	ck_assert_ptr_null(tok);
	px_tx_answer(&tx, 200, "{}", 2, NOW, &tok, &exp, &res);
	ck_assert_int_eq(res.v, PX_TOK_RETRY);
	px_arena_free(&ar);
}
END_TEST

START_TEST(t_quota)
{
	const char *t;

	t = "{\"error\":{\"type\":\"usage_limit_reached\",\"message\":\"limit\","
	    "\"resets_at\":1750018000,\"resets_in_seconds\":18000}}";
	ck_assert_int_eq(px_acct_quota_reset(PX_ACCT_CODEX, 429, t, strlen(t),
	    NOW), 1750018000000LL);
	t = "{\"error\":{\"type\":\"usage_limit_reached\","
	    "\"resets_in_seconds\":90}}";
	ck_assert_int_eq(px_acct_quota_reset(PX_ACCT_CODEX, 429, t, strlen(t),
	    NOW), NOW + 90000);
	t = "{\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\","
	    "\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo"
	    "\"},{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\","
	    "\"retryDelay\":\"37.5s\"}]}}";
	ck_assert_int_eq(px_acct_quota_reset(PX_ACCT_GEMINI, 429, t, strlen(t),
	    NOW), NOW + 37500);
	ck_assert_int_eq(px_acct_quota_reset(PX_ACCT_GEMINI, 503, t, strlen(t),
	    NOW), -1);
	ck_assert_int_eq(px_acct_quota_reset(PX_ACCT_CLAUDE, 429, t, strlen(t),
	    NOW), -1);
	ck_assert_int_eq(px_acct_quota_reset(PX_ACCT_CODEX, 429, "x", 1, NOW),
	    -1);
}
END_TEST

/* ------------------------------------------------------------ upstream */

static int
skip_ua(void *ctx, const char *name)
{
	(void)ctx;
	return strcasecmp(name, "User-Agent") == 0;
}

static const char *
head_of(struct px_acct_req *q, int (*skip)(void *, const char *))
{
	static char out[4096];
	struct px_arena ar;
	struct jw h;

	px_arena_init(&ar, 0);
	jw_init(&h, &ar, 0);
	px_acct_head(q, skip, NULL, &h);
	snprintf(out, sizeof out, "%s", h.buf);
	px_arena_free(&ar);
	return out;
}

START_TEST(t_paths)
{
	struct px_acct_req q;
	char p[128];

	memset(&q, 0, sizeof q);
	q.kind = PX_ACCT_CLAUDE;
	px_acct_path(&q, PX_FMT_ANTHROPIC, p, sizeof p);
	ck_assert_str_eq(p, "/v1/messages?beta=true");
	q.op = PX_OP_COUNT;
	px_acct_path(&q, PX_FMT_ANTHROPIC, p, sizeof p);
	ck_assert_str_eq(p, "/v1/messages/count_tokens?beta=true");
	q.op = PX_OP_EMBED;
	ck_assert_int_eq(px_acct_path(&q, PX_FMT_ANTHROPIC, p, sizeof p), -1);
	q.op = PX_OP_GENERATE;
	q.kind = PX_ACCT_CODEX;
	px_acct_path(&q, PX_FMT_RESPONSES, p, sizeof p);
	ck_assert_str_eq(p, "/responses");
	q.kind = PX_ACCT_GEMINI;
	px_acct_path(&q, PX_FMT_GEMINI, p, sizeof p);
	ck_assert_str_eq(p, "/v1internal:generateContent");
	q.stream = 1;
	px_acct_path(&q, PX_FMT_GEMINI, p, sizeof p);
	ck_assert_str_eq(p, "/v1internal:streamGenerateContent?alt=sse");
	q.op = PX_OP_COUNT;
	px_acct_path(&q, PX_FMT_GEMINI, p, sizeof p);
	ck_assert_str_eq(p, "/v1internal:countTokens");
	q.op = PX_OP_GENERATE;
	q.kind = PX_ACCT_COPILOT;
	px_acct_path(&q, PX_FMT_CHAT, p, sizeof p);
	ck_assert_str_eq(p, "/chat/completions");
	px_acct_path(&q, PX_FMT_RESPONSES, p, sizeof p);
	ck_assert_str_eq(p, "/responses");
	q.op = PX_OP_COUNT;
	ck_assert_int_eq(px_acct_path(&q, PX_FMT_CHAT, p, sizeof p), -1);
}
END_TEST

START_TEST(t_heads)
{
	struct px_acct_req q;

	memset(&q, 0, sizeof q);
	q.kind = PX_ACCT_CLAUDE;
	q.token = "AT";
	ck_assert_str_eq(head_of(&q, NULL), "Authorization: Bearer AT\r\n"
	    "anthropic-version: 2023-06-01\r\n"
	    "anthropic-beta: claude-code-20250219,oauth-2025-04-20,"
	    "interleaved-thinking-2025-05-14,"
	    "fine-grained-tool-streaming-2025-05-14\r\n"
	    "anthropic-dangerous-direct-browser-access: true\r\nx-app: cli\r\n"
	    "User-Agent: claude-cli/1.0.83 (external, cli)\r\n"
	    "X-Stainless-Lang: js\r\nX-Stainless-Package-Version: 0.55.1\r\n"
	    "X-Stainless-OS: Linux\r\nX-Stainless-Arch: x64\r\n"
	    "X-Stainless-Runtime: node\r\n"
	    "X-Stainless-Runtime-Version: v22.19.0\r\n"
	    "X-Stainless-Retry-Count: 0\r\nX-Stainless-Timeout: 600\r\n"
	    "Content-Type: application/json\r\nAccept: application/json\r\n");
	/* the client's betas, with what OAuth needs; the client's version */
	q.client_beta = "context-1m-2025-08-07, oauth-2025-04-20";
	q.client_version = "2023-06-01";
	q.stream = 1;
	ck_assert_ptr_nonnull(strstr(head_of(&q, NULL), "anthropic-beta: "
	    "context-1m-2025-08-07, oauth-2025-04-20,claude-code-20250219\r\n"));
	ck_assert_ptr_nonnull(strstr(head_of(&q, NULL),
	    "X-Stainless-Helper-Method: stream\r\nContent-Type: "
	    "application/json\r\nAccept: text/event-stream\r\n"));
	/* a provider header replaces the kind's own */
	ck_assert_ptr_null(strstr(head_of(&q, skip_ua), "User-Agent"));
	q.op = PX_OP_COUNT;
	ck_assert_ptr_nonnull(strstr(head_of(&q, NULL), "anthropic-beta: "
	    "claude-code-20250219,oauth-2025-04-20,"
	    "interleaved-thinking-2025-05-14,context-management-2025-06-27,"
	    "token-counting-2024-11-01\r\n"));

	memset(&q, 0, sizeof q);
	q.kind = PX_ACCT_CODEX;
	q.token = "AT";
	q.account_id = "acc-1";
	q.request_id = "rid-1";
	ck_assert_str_eq(head_of(&q, NULL), "Authorization: Bearer AT\r\n"
	    "chatgpt-account-id: acc-1\r\noriginator: codex_cli_rs\r\n"
	    "User-Agent: codex_cli_rs/0.50.0 (Mac OS 26.0.1; arm64) "
	    "Apple_Terminal/464\r\nOpenAI-Beta: responses=experimental\r\n"
	    "session_id: rid-1\r\nContent-Type: application/json\r\n"
	    "Accept: text/event-stream\r\n");

	memset(&q, 0, sizeof q);
	q.kind = PX_ACCT_GEMINI;
	q.token = "ya29";
	q.model = "gemini-2.5-pro";
	ck_assert_str_eq(head_of(&q, NULL), "Authorization: Bearer ya29\r\n"
	    "User-Agent: GeminiCLI/0.34.0/gemini-2.5-pro (linux; x64; "
	    "terminal)\r\nX-Goog-Api-Client: google-genai-sdk/1.41.0 "
	    "gl-node/v22.19.0\r\nContent-Type: application/json\r\n"
	    "Accept: application/json\r\n");

	memset(&q, 0, sizeof q);
	q.kind = PX_ACCT_COPILOT;
	q.token = "tid=1";
	q.request_id = "r2";
	q.agent = 1;
	q.vision = 1;
	ck_assert_str_eq(head_of(&q, NULL), "Authorization: Bearer tid=1\r\n"
	    "Editor-Version: vscode/1.107.0\r\n"
	    "Editor-Plugin-Version: copilot-chat/0.35.0\r\n"
	    "User-Agent: GitHubCopilotChat/0.35.0\r\n"
	    "Copilot-Integration-Id: vscode-chat\r\n"
	    "Openai-Intent: conversation-panel\r\n"
	    "X-Github-Api-Version: 2025-04-01\r\nX-Request-Id: r2\r\n"
	    "X-Initiator: agent\r\nCopilot-Vision-Request: true\r\n"
	    "Content-Type: application/json\r\nAccept: application/json\r\n");
}
END_TEST

static const char *
shaped(struct px_acct_req *q, const char *body)
{
	struct px_arena ar;
	static char out[8192];
	const char *o;
	size_t n;

	px_arena_init(&ar, 0);
	if (px_acct_body(q, &ar, body, strlen(body), &o, &n) < 0) {
		px_arena_free(&ar);
		return NULL;
	}
	snprintf(out, sizeof out, "%.*s", (int)n, o);
	px_arena_free(&ar);
	return out;
}

#define ID "{\"type\":\"text\",\"text\":\"You are Claude Code, Anthropic's " \
    "official CLI for Claude.\"}"

START_TEST(t_bodies)
{
	struct px_acct_req q;

	memset(&q, 0, sizeof q);
	q.kind = PX_ACCT_CLAUDE;
	ck_assert_str_eq(shaped(&q, "{\"model\":\"m\",\"messages\":[],"
	    "\"max_tokens\":5}"), "{\"model\":\"m\",\"system\":[" ID "],"
	    "\"messages\":[],\"max_tokens\":5}");
	ck_assert_str_eq(shaped(&q, "{\"model\":\"m\",\"system\":\"Be brief.\","
	    "\"messages\":[]}"), "{\"model\":\"m\",\"system\":[" ID ","
	    "{\"type\":\"text\",\"text\":\"Be brief.\"}],\"messages\":[]}");
	ck_assert_str_eq(shaped(&q, "{\"system\":[{\"type\":\"text\",\"text\":"
	    "\"A\",\"cache_control\":{\"type\":\"ephemeral\"}}],\"model\":\"m\"}"),
	    "{\"system\":[" ID ",{\"type\":\"text\",\"text\":\"A\","
	    "\"cache_control\":{\"type\":\"ephemeral\"}}],\"model\":\"m\"}");
	/* Claude Code's own request is left alone */
	ck_assert_str_eq(shaped(&q, "{\"system\":[{\"type\":\"text\",\"text\":"
	    "\"x-anthropic-billing-header: cc_version=2\"}," ID "],\"m\":1}"),
	    "{\"system\":[{\"type\":\"text\",\"text\":"
	    "\"x-anthropic-billing-header: cc_version=2\"}," ID "],\"m\":1}");
	ck_assert_ptr_null(shaped(&q, "[1]"));
	q.op = PX_OP_COUNT;
	ck_assert_str_eq(shaped(&q, "{\"messages\":[]}"), "{\"messages\":[]}");

	memset(&q, 0, sizeof q);
	q.kind = PX_ACCT_CODEX;
	ck_assert_str_eq(shaped(&q, "{\"model\":\"gpt-5\",\"input\":\"hi\","
	    "\"stream\":false,\"max_output_tokens\":50,\"temperature\":0.2,"
	    "\"top_p\":1,\"user\":\"u\",\"store\":true,\"service_tier\":\"flex\","
	    "\"previous_response_id\":\"resp_1\",\"tools\":[]}"),
	    "{\"model\":\"gpt-5\",\"input\":[{\"type\":\"message\",\"role\":"
	    "\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"hi\"}]}],"
	    "\"tools\":[],\"instructions\":\"\",\"include\":["
	    "\"reasoning.encrypted_content\"],\"stream\":true,\"store\":false}");
	ck_assert_str_eq(shaped(&q, "{\"instructions\":\"Be terse.\",\"input\":"
	    "[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\","
	    "\"content\":\"U\"}],\"include\":[],\"service_tier\":\"priority\"}"),
	    "{\"instructions\":\"Be terse.\",\"input\":[{\"role\":\"developer\","
	    "\"content\":\"S\"},{\"role\":\"user\",\"content\":\"U\"}],"
	    "\"include\":[],\"service_tier\":\"priority\",\"stream\":true,"
	    "\"store\":false}");

	memset(&q, 0, sizeof q);
	q.kind = PX_ACCT_GEMINI;
	q.model = "gemini-2.5-flash";
	q.project = "proj-1";
	q.request_id = "p1";
	ck_assert_str_eq(shaped(&q, "{\"contents\":[{\"role\":\"user\","
	    "\"parts\":[{\"text\":\"hi\"}]}],\"generationConfig\":{}}"),
	    "{\"model\":\"gemini-2.5-flash\",\"project\":\"proj-1\","
	    "\"user_prompt_id\":\"p1\",\"request\":{\"contents\":[{\"role\":"
	    "\"user\",\"parts\":[{\"text\":\"hi\"}]}],\"generationConfig\":{}}}");
	q.op = PX_OP_COUNT;
	ck_assert_str_eq(shaped(&q, "{\"contents\":[]}"), "{\"request\":"
	    "{\"model\":\"models/gemini-2.5-flash\",\"contents\":[]}}");
	ck_assert_str_eq(shaped(&q, "{\"generateContentRequest\":{\"model\":"
	    "\"x\",\"contents\":[1]}}"), "{\"request\":{\"model\":"
	    "\"models/gemini-2.5-flash\",\"contents\":[1]}}");

	memset(&q, 0, sizeof q);
	q.kind = PX_ACCT_COPILOT;
	ck_assert_str_eq(shaped(&q, "{\"messages\":[{\"role\":\"user\","
	    "\"content\":\"x\"}]}"), "{\"messages\":[{\"role\":\"user\","
	    "\"content\":\"x\"}]}");
	ck_assert_int_eq(q.agent, 0);
	ck_assert_int_eq(q.vision, 0);
	shaped(&q, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
	    "\"image_url\",\"image_url\":{\"url\":\"data:\"}}]},{\"role\":"
	    "\"tool\",\"content\":\"r\"}]}");
	ck_assert_int_eq(q.agent, 1);
	ck_assert_int_eq(q.vision, 1);
}
END_TEST

START_TEST(t_unwrap)
{
	static const struct { const char *in, *out; } v[] = {
		{ "{\"response\":{\"candidates\":[]},\"traceId\":\"t\"}",
		  "{\"candidates\":[]}" },
		{ " { \"traceId\" : \"a}\\\"\" , \"response\" : {\"x\":\"}{\"} } ",
		  "{\"x\":\"}{\"}" },
		{ "{\"candidates\":[]}", NULL },
		{ "{\"response\":\"str\"}", NULL },
		{ "{\"responses\":{}}", NULL },
		{ "{\"response\":{\"a\":[1,2}", NULL },
		{ "[]", NULL },
		{ "", NULL },
	};
	const char *o;
	size_t i, n, k;

	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct guard g;
		char *p = guard_copy(&g, v[i].in, strlen(v[i].in));
		int rc = px_acct_unwrap(p, strlen(v[i].in), &o, &n);
		ck_assert_int_eq(rc, v[i].out != NULL);
		if (v[i].out) {
			ck_assert_uint_eq(n, strlen(v[i].out));
			ck_assert(memcmp(o, v[i].out, n) == 0);
		}
		/* every truncation: never past the end */
		for (k = 0; k < strlen(v[i].in); k++)
			px_acct_unwrap(p + strlen(v[i].in) - k, k, &o, &n);
		guard_free(&g);
	}
}
END_TEST

static const char *
agg(const char *sse, char *err)
{
	struct px_arena ar;
	static char out[8192];
	struct jw w;

	px_arena_init(&ar, 0);
	jw_init(&w, &ar, 0);
	if (px_acct_aggregate(&ar, sse, strlen(sse), &w, err, 256) < 0) {
		px_arena_free(&ar);
		return NULL;
	}
	snprintf(out, sizeof out, "%s", w.buf);
	px_arena_free(&ar);
	return out;
}

START_TEST(t_aggregate)
{
	char err[256];

	ck_assert_str_eq(agg("event: response.created\ndata: {\"type\":"
	    "\"response.created\",\"response\":{\"id\":\"r\",\"output\":[]}}\n\n"
	    "data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n"
	    "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\","
	    "\"status\":\"completed\",\"output\":[{\"type\":\"message\"}],"
	    "\"usage\":{\"input_tokens\":3}}}\n\n", err),
	    "{\"id\":\"r\",\"status\":\"completed\",\"output\":[{\"type\":"
	    "\"message\"}],\"usage\":{\"input_tokens\":3}}");
	/* the backend's empty output: the items that were streamed */
	ck_assert_str_eq(agg("data: {\"type\":\"response.output_item.done\","
	    "\"item\":{\"type\":\"reasoning\",\"id\":\"rs\"}}\r\n\r\n"
	    "data: {\"type\":\"response.output_item.done\",\"item\":{\"type\":"
	    "\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hi\"}]}}"
	    "\r\n\r\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":"
	    "\"r\",\"output\":[],\"usage\":null}}", err),
	    "{\"id\":\"r\",\"usage\":null,\"output\":[{\"type\":\"reasoning\","
	    "\"id\":\"rs\"},{\"type\":\"message\",\"content\":[{\"type\":"
	    "\"output_text\",\"text\":\"Hi\"}]}]}");
	ck_assert_ptr_null(agg("data: {\"type\":\"response.failed\",\"response\":"
	    "{\"error\":{\"message\":\"quota gone\"}}}\n\n", err));
	ck_assert_str_eq(err, "the upstream stream failed: quota gone");
	ck_assert_ptr_null(agg("data: {\"type\":\"response.created\"}\n\n", err));
	ck_assert_ptr_nonnull(strstr(err, "without response.completed"));
	ck_assert_ptr_null(agg("", err));
}
END_TEST

/* ------------------------------------------------------------ binding */

START_TEST(t_bind)
{
	static const char cfgt[] =
	    "{\"providers\": ["
	    " {\"name\": \"cl\", \"type\": \"claude-account\"},"
	    " {\"name\": \"cl2\", \"type\": \"claude-account\","
	    "  \"accounts\": [\"home\", \"gone\"]},"
	    " {\"name\": \"cx\", \"type\": \"codex-account\"},"
	    " {\"name\": \"gh\", \"type\": \"copilot-account\"}],"
	    " \"models\": {\"*\": \"cl\"}}";
	static const char *const kinds[] = { "claude", "claude", "codex",
	    "gemini" };
	static const char *const labels[] = { "work", "home", "cx1", "g" };
	struct px_config *c = px_config_new();
	char err[2048], warn[1024];
	unsigned char id_work[32];

	ck_assert_int_eq(px_config_parse(c, "t.json", cfgt, strlen(cfgt), err,
	    sizeof err), 0);
	ck_assert_int_eq(c->providers[0].ncreds, 0);
	ck_assert_int_eq(px_config_bind_accounts(c, kinds, labels, 4, warn,
	    sizeof warn), 4);
	ck_assert_int_eq(c->providers[0].ncreds, 2);
	ck_assert_str_eq(c->providers[0].creds[0].label, "work");
	ck_assert_str_eq(c->providers[0].creds[1].label, "home");
	ck_assert_int_eq(c->providers[0].creds[0].src, PX_CRED_ACCOUNT);
	ck_assert_str_eq(c->providers[0].creds[0].secret, "");
	ck_assert_int_eq(c->providers[1].ncreds, 1);
	ck_assert_str_eq(c->providers[1].creds[0].label, "home");
	ck_assert_int_eq(c->providers[2].ncreds, 1);
	ck_assert_int_eq(c->providers[3].ncreds, 0);
	ck_assert_str_eq(warn, "provider \"cl2\": no claude account \"gone\" "
	    "(llmproxy login claude --name gone)\nprovider \"gh\": no copilot "
	    "account is logged in (llmproxy login copilot)");
	/* the id follows the account and the provider, not the token */
	memcpy(id_work, c->providers[0].creds[0].id, 32);
	ck_assert(memcmp(id_work, c->providers[1].creds[0].id, 32) != 0);
	ck_assert_int_eq(px_config_bind_accounts(c, kinds + 1, labels + 1, 1,
	    warn, sizeof warn), 2);
	ck_assert_int_eq(px_config_bind_accounts(c, kinds, labels, 4, warn,
	    sizeof warn), 4);
	ck_assert(memcmp(id_work, c->providers[0].creds[0].id, 32) == 0);
	px_config_free(c);
	/* config errors of account providers */
	{
		static const char bad[] = "{\"providers\":[{\"name\":\"a\","
		    "\"type\":\"codex-account\",\"api_key\":\"k\","
		    "\"health_check\":{\"model\":\"m\"},\"chat_models\":"
		    "[\"x\"]},{\"name\":\"b\",\"type\":\"openai\","
		    "\"accounts\":[\"x\"]}]}";
		c = px_config_new();
		ck_assert_int_eq(px_config_parse(c, "t.json", bad, strlen(bad),
		    err, sizeof err), -1);
		ck_assert_msg(c->nerrors == 4, "%s", err);
		px_config_free(c);
	}
}
END_TEST

START_TEST(t_tx_config)
{
	static const char cfgt[] =
	    "{\"providers\": ["
	    " {\"name\": \"v\", \"type\": \"openai\", \"base_url\": "
	    "\"http://127.0.0.1:1/v1\", \"token_exchange\": {\"url\": "
	    "\"http://127.0.0.1:2/token\", \"token\": \"LONG\", \"format\": "
	    "\"json\", \"fields\": {\"grant_type\": \"jwt\", \"assertion\": "
	    "\"{token}\"}, \"ttl_s\": 600, \"name\": \"corp\"}}],"
	    " \"models\": {\"*\": \"v\"}}";
	struct px_config *c = px_config_new();
	const struct px_provider *p;
	const char *prefix;
	char err[2048];

	ck_assert_int_eq(px_config_parse(c, "t.json", cfgt, strlen(cfgt), err,
	    sizeof err), 0);
	p = &c->providers[0];
	ck_assert_ptr_nonnull(p->tx);
	ck_assert_int_eq(p->ncreds, 1);
	ck_assert_int_eq(p->creds[0].src, PX_CRED_EXCHANGE);
	ck_assert_str_eq(p->creds[0].label, "corp");
	ck_assert_str_eq(p->creds[0].secret, "");
	ck_assert_int_eq(p->tx->json, 1);
	ck_assert_int_eq(p->tx->nfields, 2);
	ck_assert_str_eq(p->tx->values[1], "{token}");
	ck_assert_int_eq(p->tx->ttl_s, 600);
	ck_assert_str_eq(px_provider_auth(p, &prefix), "Authorization");
	ck_assert_str_eq(prefix, "Bearer ");
	px_config_free(c);
	{
		static const char both[] = "{\"providers\":[{\"name\":\"v\","
		    "\"type\":\"anthropic\",\"api_key\":\"k\","
		    "\"token_exchange\":{\"url\":\"ftp://x\"}}]}";
		static const char bad[] = "{\"providers\":[{\"name\":\"v\","
		    "\"type\":\"anthropic\",\"token_exchange\":{\"url\":"
		    "\"ftp://x\",\"format\":\"xml\",\"header\":\"a b\"}}]}";
		c = px_config_new();
		ck_assert_int_eq(px_config_parse(c, "t.json", both,
		    strlen(both), err, sizeof err), -1);
		ck_assert_ptr_nonnull(strstr(err, "use either"));
		px_config_free(c);
		c = px_config_new();
		ck_assert_int_eq(px_config_parse(c, "t.json", bad, strlen(bad),
		    err, sizeof err), -1);
		/* url, token, format, header */
		ck_assert_msg(c->nerrors == 4, "%s", err);
		px_config_free(c);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("account");
	TCase *tc = tcase_create("account");
	SRunner *sr;
	int nf;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_b64);
	tcase_add_test(tc, t_pkce);
	tcase_add_test(tc, t_jwt);
	tcase_add_test(tc, t_labels);
	tcase_add_test(tc, t_schedule);
	tcase_add_test(tc, t_seal_roundtrip);
	tcase_add_test(tc, t_seal_tamper);
	tcase_add_test(tc, t_store);
	tcase_add_test(tc, t_store_crash);
	tcase_add_test(tc, t_key);
	tcase_add_test(tc, t_endpoints);
	tcase_add_test(tc, t_authorize);
	tcase_add_test(tc, t_parse_code);
	tcase_add_test(tc, t_code_requests);
	tcase_add_test(tc, t_refresh_requests);
	tcase_add_test(tc, t_urls);
	tcase_add_test(tc, t_token_answers);
	tcase_add_test(tc, t_device);
	tcase_add_test(tc, t_onboard);
	tcase_add_test(tc, t_import);
	tcase_add_test(tc, t_exchange);
	tcase_add_test(tc, t_quota);
	tcase_add_test(tc, t_paths);
	tcase_add_test(tc, t_heads);
	tcase_add_test(tc, t_bodies);
	tcase_add_test(tc, t_unwrap);
	tcase_add_test(tc, t_aggregate);
	tcase_add_test(tc, t_bind);
	tcase_add_test(tc, t_tx_config);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? 1 : 0;
}
