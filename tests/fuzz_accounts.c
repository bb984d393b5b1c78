/*
 * fuzz_accounts.c - libFuzzer target for what subscription accounts read
 * from outside (account.h): the stored account file, the answers of the
 * OAuth servers and upstreams, JWTs, and other clients' login files.
 *
 * The first input byte picks the reader, the second an HTTP status (its
 * low 3 bits) and an account kind (the next 2); the rest is the text:
 *   0  px_acct_open(): readable fields only, then opened with the fuzzer's
 *      key; a file that opens is sealed again and must reopen to the same
 *      record (a round trip through the writer)
 *   1  px_oauth_token_answer() on a record holding tokens: on anything but
 *      PX_TOK_OK the record is unchanged
 *   2  px_jwt_payload() and px_jwt_exp()
 *   3  the device flow's code and poll answers
 *   4  px_acct_import() of each kind
 *   5  px_user_answer(), px_onboard_answer(), px_tx_answer()
 *   6  px_oauth_parse_code(), px_acct_quota_reset(), px_acct_unwrap(),
 *      px_acct_aggregate()
 * Every message must be NUL-terminated; nothing may read past the input
 * (it is copied to a buffer of its exact size).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"

#define CHECK(c)  do { if (!(c)) abort(); } while (0)
#define TERMINATED(a) CHECK(memchr((a), 0, sizeof (a)) != NULL)
#define NOW 1780000000000LL

static unsigned char key[32];
static int ready;

static void
check_rec(const struct px_account *a)
{
	TERMINATED(a->label);
	TERMINATED(a->identity);
	TERMINATED(a->account_id);
	TERMINATED(a->plan);
	TERMINATED(a->project);
	TERMINATED(a->api_base);
	CHECK((int)a->kind >= 0 && a->kind < PX_ACCT_NKINDS);
}

static int
same_str(const char *x, const char *y)
{
	if (x == NULL || y == NULL)
		return x == y;
	return strcmp(x, y) == 0;
}

static void
check_res(const struct px_tok_result *r)
{
	TERMINATED(r->error);
	TERMINATED(r->msg);
}

static void
f_open(const char *p, size_t n)
{
	struct px_account a, b;
	struct px_arena ar;
	struct jw w;
	unsigned char nonce[12] = { 1, 2, 3 };
	char err[256];
	int rc;

	px_acct_init(&a, PX_ACCT_CLAUDE);
	px_acct_init(&b, PX_ACCT_CLAUDE);
	rc = px_acct_open(p, n, NULL, &a, err, sizeof err);
	TERMINATED(err);
	if (rc == PX_ACCT_OK) {
		check_rec(&a);
		CHECK(a.access == NULL && a.refresh == NULL);
	}
	rc = px_acct_open(p, n, key, &a, err, sizeof err);
	TERMINATED(err);
	CHECK(rc == PX_ACCT_OK || rc == PX_ACCT_EFORMAT ||
	    rc == PX_ACCT_EKEY || rc == PX_ACCT_ETAMPER);
	if (rc == PX_ACCT_OK) {
		check_rec(&a);
		px_arena_init(&ar, 0);
		jw_init(&w, &ar, PX_ACCT_FILE_MAX * 2);
		if (px_acct_seal(&a, key, nonce, &w) == 0 && !w.err) {
			CHECK(px_acct_open(w.buf, w.len, key, &b, err,
			    sizeof err) == PX_ACCT_OK);
			CHECK(strcmp(a.label, b.label) == 0 &&
			    strcmp(a.identity, b.identity) == 0 &&
			    a.kind == b.kind && a.expires == b.expires &&
			    same_str(a.access, b.access) &&
			    same_str(a.refresh, b.refresh) &&
			    same_str(a.id_token, b.id_token));
		}
		px_arena_free(&ar);
	}
	px_acct_clear(&a);
	px_acct_clear(&b);
}

static void
f_token(int kind, int status, const char *p, size_t n)
{
	struct px_account a;
	struct px_tok_result r;

	px_acct_init(&a, (enum px_acct_kind)(kind % PX_ACCT_NKINDS));
	CHECK(px_acct_set(&a.access, "old-access", 10) == 0);
	CHECK(px_acct_set(&a.refresh, "old-refresh", 11) == 0);
	a.expires = NOW + 1000;
	memset(&r, 0, sizeof r);
	px_oauth_token_answer(&a, status, p, n, NOW, &r);
	check_res(&r);
	check_rec(&a);
	if (r.v != PX_TOK_OK)
		CHECK(strcmp(a.access, "old-access") == 0 &&
		    strcmp(a.refresh, "old-refresh") == 0 &&
		    a.expires == NOW + 1000);
	else
		CHECK(a.access != NULL && a.refresh != NULL);
	px_acct_clear(&a);
}

static void
f_jwt(const char *p, size_t n)
{
	struct px_arena ar;
	struct json *j;

	px_arena_init(&ar, 1 << 20);
	j = px_jwt_payload(&ar, p, n);
	if (j != NULL)
		(void)px_jwt_exp(j);
	px_arena_free(&ar);
}

static void
f_device(int status, const char *p, size_t n)
{
	struct px_device d;
	struct px_account a;
	struct px_tok_result r;

	memset(&d, 0, sizeof d);
	px_device_code_answer(&d, status, p, n, NOW, &r);
	check_res(&r);
	TERMINATED(d.device_code);
	TERMINATED(d.user_code);
	TERMINATED(d.verify_uri);
	if (r.v == PX_TOK_OK)
		CHECK(d.interval_ms >= 1000 && d.deadline > NOW);
	memset(&d, 0, sizeof d);
	d.interval_ms = 5000;
	px_acct_init(&a, PX_ACCT_COPILOT);
	px_device_poll_answer(&d, &a, status, p, n, NOW, &r);
	check_res(&r);
	if (r.v == PX_TOK_SLOW_DOWN)
		CHECK(d.interval_ms > 5000);
	if (r.v == PX_TOK_OK)
		CHECK(a.refresh != NULL);
	px_acct_clear(&a);
}

static void
f_import(const char *p, size_t n)
{
	struct px_account a;
	char err[256];
	int k;

	for (k = 0; k < PX_ACCT_NKINDS; k++) {
		px_acct_init(&a, (enum px_acct_kind)k);
		if (px_acct_import(&a, p, n, NOW, err, sizeof err) == 0)
			check_rec(&a);
		else
			TERMINATED(err);
		px_acct_clear(&a);
	}
}

static void
f_answers(int status, const char *p, size_t n)
{
	struct px_account a;
	struct px_onboard o;
	struct px_tok_result r;
	struct px_token_exchange tx;
	char *tok = NULL;
	long long exp = 0;

	px_acct_init(&a, PX_ACCT_GEMINI);
	px_user_answer(&a, status, p, n, &r);
	check_res(&r);
	check_rec(&a);
	px_acct_clear(&a);
	memset(&o, 0, sizeof o);
	px_onboard_answer(&o, status, p, n, &r);
	check_res(&r);
	TERMINATED(o.tier);
	TERMINATED(o.project);
	o.step = PX_OB_ONBOARD;
	snprintf(o.tier, sizeof o.tier, "free-tier");
	px_onboard_answer(&o, status, p, n, &r);
	check_res(&r);
	memset(&tx, 0, sizeof tx);
	tx.token_field = status & 1 ? "" : "token";
	tx.ttl_s = 600;
	px_tx_answer(&tx, status, p, n, NOW, &tok, &exp, &r);
	check_res(&r);
	if (r.v == PX_TOK_OK)
		CHECK(tok != NULL && exp > 0);
	free(tok);
}

static void
f_misc(int status, const char *p, size_t n)
{
	char code[256], state[128], err[256];
	const char *u;
	size_t un;
	struct px_arena ar;
	struct jw w;

	if (px_oauth_parse_code(p, n, code, sizeof code, state,
	    sizeof state) != -1) {
		TERMINATED(code);
		TERMINATED(state);
	}
	(void)px_acct_quota_reset(PX_ACCT_CODEX, 429, p, n, NOW);
	(void)px_acct_quota_reset(PX_ACCT_GEMINI, 429, p, n, NOW);
	if (px_acct_unwrap(p, n, &u, &un))
		CHECK(u >= p && u + un <= p + n);
	px_arena_init(&ar, 4u << 20);
	jw_init(&w, &ar, 1u << 20);
	if (px_acct_aggregate(&ar, p, n, &w, err, sizeof err) < 0)
		TERMINATED(err);
	(void)status;
	px_arena_free(&ar);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int statuses[8] = { 200, 200, 400, 401, 403, 429, 500,
	    503 };
	char *p;
	int sel, status;

	if (!ready) {
		static const char s[] = "fuzz-secret-0123456789";
		px_acct_key_from_secret(s, sizeof s - 1, key);
		ready = 1;
	}
	if (size < 2 || size > PX_ACCT_FILE_MAX + 2)
		return 0;
	sel = data[0] % 7;
	status = statuses[data[1] & 7];
	/* exactly the input's bytes, so a read past them is caught */
	p = malloc(size - 2 ? size - 2 : 1);
	if (p == NULL)
		return 0;
	memcpy(p, data + 2, size - 2);
	switch (sel) {
	case 0:
		f_open(p, size - 2);
		break;
	case 1:
		f_token(data[1] >> 3, status, p, size - 2);
		break;
	case 2:
		f_jwt(p, size - 2);
		break;
	case 3:
		f_device(status, p, size - 2);
		break;
	case 4:
		f_import(p, size - 2);
		break;
	case 5:
		f_answers(status, p, size - 2);
		break;
	default:
		f_misc(status, p, size - 2);
		break;
	}
	free(p);
	return 0;
}
