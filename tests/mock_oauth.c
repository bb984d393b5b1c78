/*
 * mock_oauth.c - the authorization servers of the four subscription
 * flows, for the login, refresh and token exchange tests. It checks what
 * the real servers check and a little more, so a client that gets a detail
 * wrong fails here instead of in front of a user:
 *
 *   GET  /authorize            the browser step of Claude, Codex, Gemini:
 *                              answers 302 to redirect_uri?code&state
 *                              (PKCE S256 challenge and state required)
 *   POST /claude/token         JSON, keys in Claude Code's order: code
 *                              exchange (verifier checked against the
 *                              challenge, redirect_uri, client_id, state)
 *                              or refresh (rotated refresh tokens)
 *   POST /codex/token          form-encoded, the same; an id_token JWT
 *                              with the account id and plan
 *   POST /gemini/token         form-encoded with the client secret;
 *                              refresh keeps the refresh token
 *   GET  /gemini/userinfo      the email
 *   POST /gemini/v1internal:loadCodeAssist, :onboardUser
 *                              a new account: not onboarded, one pending
 *                              operation, then project "mock-project"
 *   POST /github/device/code   device flow: interval 1 s
 *   POST /github/access_token  poll 1 authorization_pending, poll 2
 *                              slow_down (interval 2), then the token -
 *                              and slow_down whenever a poll comes sooner
 *                              than the interval asked for
 *   GET  /github/user          the login
 *   GET  /github/copilot_internal/v2/token  a Copilot token for a GitHub
 *                              token, with the editor headers required
 *   POST /exchange             a token exchange: form or JSON with
 *                              assertion "long-lived-token"; the JSON
 *                              answer is a JWT with its exp and no
 *                              expires_in
 *
 * Access tokens are "mockat.<kind>.<serial>.<expiry>", which the mock
 * upstream (mock_upstream.c) checks without talking to this process.
 * Control: GET /_stats (counters), POST /_revoke (every refresh token
 * dies: the next refresh is invalid_grant), POST /_ttl?s=N (access token
 * lifetime), POST /_delay?ms=N (refresh answers wait), POST /_fail?n=N
 * (the next N refreshes answer 503).
 *
 * One connection at a time, Connection: close. A test tool: allocation
 * failure aborts.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>

#define GEMINI_SECRET "GOCSPX-" "4uHgMPm-1o7Sk-geV6Cu5clXFsxl"
#define MAXC 256

static const char *const kinds[] = { "claude", "codex", "gemini", "copilot" };
static const char *const client_ids[] = {
	"9d1c250a-e61b-44d9-88ed-5944d1962f5e",
	"app_EMoamEEZ73f0CkXaXp7hrann",
	"681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
	"Iv1.b507a08c87ecfe98",
};

struct code {
	char code[32], challenge[64], redirect[256], state[128];
	int kind, used;
};
struct rtok {
	char tok[64];
	int kind, valid;
};
struct device {
	char dc[32];
	int polls;
	long long last, interval;
};

static struct code codes[MAXC];
static int ncodes;
static struct rtok rtoks[MAXC * 4];
static int nrtoks;
static struct device devs[MAXC];
static int ndevs;
static int serial, ttl = 3600, delay_ms, fail_n, onboarded, ob_polls;
static int st_refresh[4], st_exchange, st_codes, st_polls, st_ctoken;

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ request */

struct rq {
	char method[8];
	char path[4096];
	char query[4096];
	char hdrs[16384];
	char *body;
	size_t blen;
};

static const char *
hdr(const struct rq *r, const char *name, char *out, size_t cap)
{
	const char *p = r->hdrs;
	size_t n = strlen(name);

	while (*p) {
		const char *e = strstr(p, "\r\n");
		if (e == NULL)
			break;
		if ((size_t)(e - p) > n && strncasecmp(p, name, n) == 0 &&
		    p[n] == ':') {
			const char *v = p + n + 1;
			while (*v == ' ')
				v++;
			snprintf(out, cap, "%.*s", (int)(e - v), v);
			return out;
		}
		p = e + 2;
	}
	return NULL;
}

static int
read_req(int fd, struct rq *r)
{
	static char buf[1 << 20];
	size_t n = 0;
	char *he, *sp, *q;
	long cl = 0;
	char v[64];
	struct pollfd p;

	memset(r, 0, sizeof *r);
	for (;;) {
		ssize_t k;
		p.fd = fd;
		p.events = POLLIN;
		if (poll(&p, 1, 2000) <= 0)
			return -1;
		k = read(fd, buf + n, sizeof buf - 1 - n);
		if (k <= 0)
			return -1;
		n += (size_t)k;
		buf[n] = 0;
		if ((he = strstr(buf, "\r\n\r\n")) != NULL) {
			size_t hl = (size_t)(he + 4 - buf);
			snprintf(r->hdrs, sizeof r->hdrs, "%.*s",
			    (int)(he + 2 - buf), buf);
			if (hdr(r, "content-length", v, sizeof v))
				cl = atol(v);
			if (n >= hl + (size_t)cl) {
				r->body = buf + hl;
				r->blen = (size_t)cl;
				r->body[cl] = 0;
				break;
			}
		}
		if (n >= sizeof buf - 1)
			return -1;
	}
	sp = strchr(buf, ' ');
	if (sp == NULL || sp - buf >= 8)
		return -1;
	memcpy(r->method, buf, (size_t)(sp - buf));
	q = strchr(sp + 1, ' ');
	if (q == NULL)
		return -1;
	*q = 0;
	snprintf(r->path, sizeof r->path, "%s", sp + 1);
	if ((q = strchr(r->path, '?')) != NULL) {
		snprintf(r->query, sizeof r->query, "%s", q + 1);
		*q = 0;
	}
	/* the header block without the request line */
	if ((q = strstr(r->hdrs, "\r\n")) != NULL)
		memmove(r->hdrs, q + 2, strlen(q + 2) + 1);
	return 0;
}

static void
answer(int fd, int status, const char *extra, const char *fmt, ...)
{
	char body[16384];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	dprintf(fd, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
	    "Content-Length: %d\r\n%sConnection: close\r\n\r\n", status, n,
	    extra ? extra : "");
	if (write(fd, body, (size_t)n) < 0)
		return;
}

/* Percent-decoded value of k in a form or query string, or NULL. */
static const char *
form(const char *s, const char *k, char *out, size_t cap)
{
	size_t kl = strlen(k), o = 0;
	const char *p = s;

	while (p && *p) {
		const char *e = strchr(p, '&');
		if (e == NULL)
			e = p + strlen(p);
		if ((size_t)(e - p) > kl && strncmp(p, k, kl) == 0 &&
		    p[kl] == '=') {
			const char *v = p + kl + 1;
			while (v < e && o + 1 < cap) {
				if (*v == '%' && v + 2 < e &&
				    isxdigit((unsigned char)v[1]) &&
				    isxdigit((unsigned char)v[2])) {
					char h[3] = { v[1], v[2], 0 };
					out[o++] = (char)strtol(h, NULL, 16);
					v += 3;
				} else {
					out[o++] = *v == '+' ? ' ' : *v;
					v++;
				}
			}
			out[o] = 0;
			return out;
		}
		p = *e ? e + 1 : NULL;
	}
	return NULL;
}

/* A top-level JSON string member (no escapes needed here), or NULL. */
static const char *
jstr(const char *s, const char *k, char *out, size_t cap)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof pat, "\"%s\":\"", k);
	if ((p = strstr(s, pat)) == NULL)
		return NULL;
	p += strlen(pat);
	if ((e = strchr(p, '"')) == NULL)
		return NULL;
	snprintf(out, cap, "%.*s", (int)(e - p), p);
	return out;
}

static void
b64url(const unsigned char *p, size_t n, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
	    "tuvwxyz0123456789-_";
	size_t i, k = 0;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 |
		    p[i + 2];
		out[k++] = t[v >> 18];
		out[k++] = t[(v >> 12) & 63];
		out[k++] = t[(v >> 6) & 63];
		out[k++] = t[v & 63];
	}
	if (n - i == 1) {
		out[k++] = t[p[i] >> 2];
		out[k++] = t[(p[i] & 3) << 4];
	} else if (n - i == 2) {
		out[k++] = t[p[i] >> 2];
		out[k++] = t[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		out[k++] = t[(p[i + 1] & 15) << 2];
	}
	out[k] = 0;
}

static void
challenge_of(const char *verifier, char out[64])
{
	br_sha256_context h;
	unsigned char d[32];

	br_sha256_init(&h);
	br_sha256_update(&h, verifier, strlen(verifier));
	br_sha256_out(&h, d);
	b64url(d, 32, out);
}

static void
jwt(const char *payload, char *out, size_t cap)
{
	char p[2048];

	b64url((const unsigned char *)payload, strlen(payload), p);
	snprintf(out, cap, "eyJhbGciOiJub25lIn0.%s.bW9jaw", p);
}

/* ------------------------------------------------------------ tokens */

static void
access_token(int kind, char *out, size_t cap, long long *exp)
{
	*exp = time(NULL) + ttl;
	snprintf(out, cap, "mockat.%s.%d.%lld", kinds[kind], ++serial, *exp);
}

static const char *
new_refresh(int kind)
{
	struct rtok *t = &rtoks[nrtoks++ % (MAXC * 4)];

	snprintf(t->tok, sizeof t->tok, "rt-%s-%d", kinds[kind], ++serial);
	t->kind = kind;
	t->valid = 1;
	return t->tok;
}

static struct rtok *
find_refresh(const char *tok, int kind)
{
	int i;

	for (i = 0; i < nrtoks && i < MAXC * 4; i++)
		if (rtoks[i].kind == kind && strcmp(rtoks[i].tok, tok) == 0)
			return &rtoks[i];
	return NULL;
}

/* A bearer (or "token") credential of kind k that this server issued. */
static int
valid_access(const struct rq *r, const char *kind, const char *scheme)
{
	char v[512], pre[64];

	if (!hdr(r, "authorization", v, sizeof v))
		return 0;
	snprintf(pre, sizeof pre, "%s mockat.%s.", scheme, kind);
	return strncmp(v, pre, strlen(pre)) == 0;
}

/* The code exchange of any browser kind: 0 ok, else answered. */
static int
check_code(int fd, int kind, const char *code, const char *verifier,
    const char *redirect, const char *client, const char *state)
{
	char ch[64];
	int i;

	if (client == NULL || strcmp(client, client_ids[kind]) != 0) {
		answer(fd, 401, NULL, "{\"error\":\"invalid_client\"}");
		return -1;
	}
	for (i = 0; i < ncodes; i++)
		if (code && strcmp(codes[i].code, code) == 0)
			break;
	if (i == ncodes || codes[i].used || codes[i].kind != kind) {
		answer(fd, 400, NULL, "{\"error\":\"invalid_grant\","
		    "\"error_description\":\"unknown or used code\"}");
		return -1;
	}
	codes[i].used = 1;
	if (verifier == NULL || (challenge_of(verifier, ch),
	    strcmp(ch, codes[i].challenge) != 0)) {
		answer(fd, 400, NULL, "{\"error\":\"invalid_grant\","
		    "\"error_description\":\"code_verifier does not match the "
		    "code_challenge\"}");
		return -1;
	}
	if (redirect == NULL || strcmp(redirect, codes[i].redirect) != 0) {
		answer(fd, 400, NULL, "{\"error\":\"invalid_grant\","
		    "\"error_description\":\"redirect_uri mismatch\"}");
		return -1;
	}
	if (state != NULL && strcmp(state, codes[i].state) != 0) {
		answer(fd, 400, NULL, "{\"error\":\"invalid_request\","
		    "\"error_description\":\"state mismatch\"}");
		return -1;
	}
	return 0;
}

/* A refresh: 0 ok (the old token is dead when rotate), else answered. */
static int
check_refresh(int fd, int kind, const char *tok, int rotate)
{
	struct rtok *t;

	st_refresh[kind]++;
	if (delay_ms > 0) {
		struct timespec ts = { delay_ms / 1000,
		    (long)(delay_ms % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
	if (fail_n > 0) {
		fail_n--;
		answer(fd, 503, NULL, "{\"error\":\"temporarily_unavailable\"}");
		return -1;
	}
	t = tok ? find_refresh(tok, kind) : NULL;
	if (t == NULL || !t->valid) {
		answer(fd, 400, NULL, "{\"error\":\"invalid_grant\","
		    "\"error_description\":\"refresh token expired or revoked\"}");
		return -1;
	}
	if (rotate)
		t->valid = 0;
	return 0;
}

/* ------------------------------------------------------------ endpoints */

static void
do_authorize(int fd, const struct rq *r)
{
	char cid[128], red[256], ch[64], m[16], st[128], rt[8];
	struct code *c;
	int k;

	if (!form(r->query, "client_id", cid, sizeof cid) ||
	    !form(r->query, "redirect_uri", red, sizeof red) ||
	    !form(r->query, "code_challenge", ch, sizeof ch) ||
	    !form(r->query, "code_challenge_method", m, sizeof m) ||
	    strcmp(m, "S256") != 0 || !form(r->query, "state", st, sizeof st) ||
	    !form(r->query, "response_type", rt, sizeof rt) ||
	    strcmp(rt, "code") != 0 || strlen(st) < 16 || strlen(ch) != 43 ||
	    strncmp(red, "http://localhost:", 17) != 0) {
		answer(fd, 400, NULL, "{\"error\":\"invalid_request\"}");
		return;
	}
	for (k = 0; k < 3; k++)
		if (strcmp(cid, client_ids[k]) == 0)
			break;
	if (k == 3 || ncodes >= MAXC) {
		answer(fd, 400, NULL, "{\"error\":\"unauthorized_client\"}");
		return;
	}
	c = &codes[ncodes++];
	c->kind = k;
	snprintf(c->code, sizeof c->code, "code-%d", ++serial);
	snprintf(c->challenge, sizeof c->challenge, "%s", ch);
	snprintf(c->redirect, sizeof c->redirect, "%s", red);
	snprintf(c->state, sizeof c->state, "%s", st);
	st_codes++;
	dprintf(fd, "HTTP/1.1 302 Found\r\nLocation: %s?code=%s&state=%s\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n", red, c->code, st);
}

static void
do_claude_token(int fd, const struct rq *r)
{
	static const char *const order[] = { "grant_type", "code",
	    "redirect_uri", "client_id", "code_verifier", "state" };
	char g[64], code[64], red[256], cid[128], ver[256], st[128], rt[64];
	char at[128], ct[128];
	long long exp;
	const char *p = r->body;
	size_t i;

	if (!hdr(r, "content-type", ct, sizeof ct) ||
	    strncmp(ct, "application/json", 16) != 0 ||
	    !jstr(r->body, "grant_type", g, sizeof g)) {
		answer(fd, 400, NULL, "{\"error\":\"invalid_request\","
		    "\"error_description\":\"JSON expected\"}");
		return;
	}
	if (strcmp(g, "refresh_token") == 0) {
		if (!jstr(r->body, "client_id", cid, sizeof cid) ||
		    strcmp(cid, client_ids[0]) != 0) {
			answer(fd, 401, NULL, "{\"error\":\"invalid_client\"}");
			return;
		}
		if (check_refresh(fd, 0, jstr(r->body, "refresh_token", rt,
		    sizeof rt), 1) < 0)
			return;
		access_token(0, at, sizeof at, &exp);
		answer(fd, 200, NULL, "{\"token_type\":\"Bearer\",\"access_token\":"
		    "\"%s\",\"expires_in\":%d,\"refresh_token\":\"%s\","
		    "\"scope\":\"user:inference\"}", at, ttl, new_refresh(0));
		return;
	}
	/* the keys in Claude Code's order */
	for (i = 0; i < sizeof order / sizeof order[0]; i++) {
		char pat[64];
		snprintf(pat, sizeof pat, "\"%s\":", order[i]);
		if ((p = strstr(p, pat)) == NULL) {
			answer(fd, 400, NULL, "{\"error\":\"invalid_request\","
			    "\"error_description\":\"%s missing or out of "
			    "order\"}", order[i]);
			return;
		}
	}
	if (check_code(fd, 0, jstr(r->body, "code", code, sizeof code),
	    jstr(r->body, "code_verifier", ver, sizeof ver),
	    jstr(r->body, "redirect_uri", red, sizeof red),
	    jstr(r->body, "client_id", cid, sizeof cid),
	    jstr(r->body, "state", st, sizeof st) ? st : "") < 0)
		return;
	access_token(0, at, sizeof at, &exp);
	answer(fd, 200, NULL, "{\"token_type\":\"Bearer\",\"access_token\":"
	    "\"%s\",\"expires_in\":%d,\"refresh_token\":\"%s\",\"scope\":"
	    "\"user:inference user:profile\",\"organization\":{\"uuid\":"
	    "\"org-1\",\"name\":\"Mock Org\"},\"account\":{\"uuid\":"
	    "\"acc-uuid-1\",\"email_address\":\"claude-user@example.com\"}}",
	    at, ttl, new_refresh(0));
}

static void
do_form_token(int fd, const struct rq *r, int kind)
{
	char g[64], code[64], red[256], cid[128], ver[256], rt[64], sec[64];
	char at[128], idt[2048], ct[128];
	long long exp;

	if (!hdr(r, "content-type", ct, sizeof ct) ||
	    strncmp(ct, "application/x-www-form-urlencoded", 33) != 0 ||
	    !form(r->body, "grant_type", g, sizeof g)) {
		answer(fd, 400, NULL, "{\"error\":\"invalid_request\"}");
		return;
	}
	if (!form(r->body, "client_id", cid, sizeof cid) ||
	    strcmp(cid, client_ids[kind]) != 0 ||
	    (kind == 2 && (!form(r->body, "client_secret", sec, sizeof sec) ||
	    strcmp(sec, GEMINI_SECRET) != 0))) {
		answer(fd, 401, NULL, "{\"error\":\"invalid_client\"}");
		return;
	}
	jwt("{\"email\":\"codex-user@example.com\",\"https://api.openai.com/"
	    "auth\":{\"chatgpt_account_id\":\"mock-account\","
	    "\"chatgpt_plan_type\":\"plus\"}}", idt, sizeof idt);
	if (strcmp(g, "refresh_token") == 0) {
		if (check_refresh(fd, kind, form(r->body, "refresh_token", rt,
		    sizeof rt), kind == 1) < 0)
			return;
		access_token(kind, at, sizeof at, &exp);
		if (kind == 1)
			answer(fd, 200, NULL, "{\"id_token\":\"%s\","
			    "\"access_token\":\"%s\",\"refresh_token\":\"%s\","
			    "\"expires_in\":%d}", idt, at, new_refresh(1), ttl);
		else
			answer(fd, 200, NULL, "{\"access_token\":\"%s\","
			    "\"expires_in\":%d,\"scope\":\"x\",\"token_type\":"
			    "\"Bearer\"}", at, ttl);
		return;
	}
	if (strcmp(g, "authorization_code") != 0) {
		answer(fd, 400, NULL, "{\"error\":\"unsupported_grant_type\"}");
		return;
	}
	if (check_code(fd, kind, form(r->body, "code", code, sizeof code),
	    form(r->body, "code_verifier", ver, sizeof ver),
	    form(r->body, "redirect_uri", red, sizeof red), cid, NULL) < 0)
		return;
	access_token(kind, at, sizeof at, &exp);
	if (kind == 1)
		answer(fd, 200, NULL, "{\"id_token\":\"%s\",\"access_token\":"
		    "\"%s\",\"refresh_token\":\"%s\",\"expires_in\":%d}", idt, at,
		    new_refresh(1), ttl);
	else
		answer(fd, 200, NULL, "{\"access_token\":\"%s\",\"expires_in\":"
		    "%d,\"refresh_token\":\"%s\",\"scope\":\"x\",\"token_type\":"
		    "\"Bearer\"}", at, ttl, new_refresh(2));
}

static void
do_code_assist(int fd, const struct rq *r, int onboard)
{
	char v[256];

	if (!valid_access(r, "gemini", "Bearer") ||
	    !hdr(r, "user-agent", v, sizeof v) ||
	    strncmp(v, "GeminiCLI/", 10) != 0 ||
	    strstr(r->body, "\"pluginType\":\"GEMINI\"") == NULL) {
		answer(fd, 401, NULL, "{\"error\":{\"code\":401,\"status\":"
		    "\"UNAUTHENTICATED\"}}");
		return;
	}
	if (!onboard) {
		if (onboarded)
			answer(fd, 200, NULL, "{\"currentTier\":{\"id\":"
			    "\"free-tier\"},\"allowedTiers\":[{\"id\":"
			    "\"free-tier\",\"isDefault\":true}],"
			    "\"cloudaicompanionProject\":\"mock-project\"}");
		else
			answer(fd, 200, NULL, "{\"allowedTiers\":[{\"id\":"
			    "\"standard-tier\",\"userDefinedCloudaicompanionProject"
			    "\":true},{\"id\":\"free-tier\",\"isDefault\":true}]}");
		return;
	}
	if (strstr(r->body, "\"tierId\":\"free-tier\"") == NULL) {
		answer(fd, 400, NULL, "{\"error\":{\"code\":400,\"status\":"
		    "\"INVALID_ARGUMENT\",\"message\":\"tierId\"}}");
		return;
	}
	if (++ob_polls < 2) {
		answer(fd, 200, NULL, "{\"name\":\"operations/1\",\"done\":false}");
		return;
	}
	onboarded = 1;
	answer(fd, 200, NULL, "{\"name\":\"operations/1\",\"done\":true,"
	    "\"response\":{\"cloudaicompanionProject\":{\"id\":\"mock-project\","
	    "\"name\":\"Mock\"}}}");
}

static void
do_device(int fd, const struct rq *r, int port)
{
	char cid[64], sc[64];
	struct device *d;

	if (!form(r->body, "client_id", cid, sizeof cid) ||
	    strcmp(cid, client_ids[3]) != 0 ||
	    !form(r->body, "scope", sc, sizeof sc) || ndevs >= MAXC) {
		answer(fd, 400, NULL, "{\"error\":\"invalid_client\"}");
		return;
	}
	d = &devs[ndevs++];
	snprintf(d->dc, sizeof d->dc, "dc-%d", ++serial);
	d->interval = 1000;
	d->last = now_ms();
	answer(fd, 200, NULL, "{\"device_code\":\"%s\",\"user_code\":"
	    "\"WDJB-MJHT\",\"verification_uri\":\"http://127.0.0.1:%d/device\","
	    "\"expires_in\":900,\"interval\":1}", d->dc, port);
}

static void
do_poll(int fd, const struct rq *r)
{
	char dc[64], gt[128], cid[64];
	struct device *d = NULL;
	long long now = now_ms();
	int i;

	st_polls++;
	if (!form(r->body, "device_code", dc, sizeof dc) ||
	    !form(r->body, "grant_type", gt, sizeof gt) ||
	    strcmp(gt, "urn:ietf:params:oauth:grant-type:device_code") != 0 ||
	    !form(r->body, "client_id", cid, sizeof cid)) {
		answer(fd, 400, NULL, "{\"error\":\"invalid_request\"}");
		return;
	}
	for (i = 0; i < ndevs; i++)
		if (strcmp(devs[i].dc, dc) == 0)
			d = &devs[i];
	if (d == NULL) {
		answer(fd, 200, NULL, "{\"error\":\"expired_token\"}");
		return;
	}
	/* GitHub answers errors with 200 */
	if (now - d->last < d->interval - 50) {
		d->last = now;
		d->interval += 5000;
		answer(fd, 200, NULL, "{\"error\":\"slow_down\",\"interval\":%lld,"
		    "\"error_description\":\"too fast\"}", d->interval / 1000);
		return;
	}
	d->last = now;
	d->polls++;
	if (d->polls == 1) {
		answer(fd, 200, NULL, "{\"error\":\"authorization_pending\"}");
		return;
	}
	if (d->polls == 2) {
		d->interval = 2000;
		answer(fd, 200, NULL, "{\"error\":\"slow_down\",\"interval\":2}");
		return;
	}
	answer(fd, 200, NULL, "{\"access_token\":\"gho_mock%d\",\"token_type\":"
	    "\"bearer\",\"scope\":\"user:email\"}", ++serial);
}

static void
do_copilot_token(int fd, const struct rq *r, int upstream_port)
{
	char v[256], at[128];
	long long exp;

	st_ctoken++;
	st_refresh[3]++;
	if (fail_n > 0) {
		fail_n--;
		answer(fd, 503, NULL, "{\"message\":\"unavailable\"}");
		return;
	}
	if (!hdr(r, "authorization", v, sizeof v) ||
	    strncmp(v, "token gho_mock", 14) != 0) {
		answer(fd, 401, NULL, "{\"message\":\"Bad credentials\"}");
		return;
	}
	if (!hdr(r, "editor-version", v, sizeof v) ||
	    !hdr(r, "editor-plugin-version", v, sizeof v)) {
		answer(fd, 400, NULL, "{\"message\":\"editor headers required\"}");
		return;
	}
	access_token(3, at, sizeof at, &exp);
	answer(fd, 200, NULL, "{\"token\":\"%s\",\"expires_at\":%lld,"
	    "\"refresh_in\":%d,\"endpoints\":{\"api\":"
	    "\"http://127.0.0.1:%d\"}}", at, exp, ttl > 60 ? ttl - 60 : ttl,
	    upstream_port);
}

static void
do_exchange(int fd, const struct rq *r)
{
	char ct[128], a[128], at[128], tok[1024];
	char payload[256];
	long long exp;
	int json;

	st_exchange++;
	json = hdr(r, "content-type", ct, sizeof ct) &&
	    strncmp(ct, "application/json", 16) == 0;
	if (json ? !jstr(r->body, "assertion", a, sizeof a) :
	    !form(r->body, "assertion", a, sizeof a)) {
		answer(fd, 400, NULL, "{\"error\":\"invalid_request\"}");
		return;
	}
	if (strcmp(a, "long-lived-token") != 0) {
		answer(fd, 401, NULL, "{\"error\":\"invalid_grant\"}");
		return;
	}
	if (fail_n > 0) {
		fail_n--;
		answer(fd, 503, NULL, "{\"error\":\"temporarily_unavailable\"}");
		return;
	}
	access_token(3, at, sizeof at, &exp);
	if (json) {
		snprintf(payload, sizeof payload, "{\"exp\":%lld,\"sub\":\"x\"}",
		    exp);
		jwt(payload, tok, sizeof tok);
		answer(fd, 200, NULL, "{\"token\":\"%s\"}", tok);
	} else {
		answer(fd, 200, NULL, "{\"access_token\":\"mockat.exchange.%d."
		    "%lld\",\"expires_in\":%d,\"token_type\":\"Bearer\"}",
		    ++serial, exp, ttl);
	}
}

static void
handle(int fd, int port, int upstream_port)
{
	struct rq r;
	char v[64];

	if (read_req(fd, &r) < 0)
		return;
	if (strcmp(r.path, "/_stats") == 0) {
		answer(fd, 200, NULL, "{\"refresh\":{\"claude\":%d,\"codex\":%d,"
		    "\"gemini\":%d,\"copilot\":%d},\"exchange\":%d,\"codes\":%d,"
		    "\"polls\":%d,\"copilot_tokens\":%d}", st_refresh[0],
		    st_refresh[1], st_refresh[2], st_refresh[3], st_exchange,
		    st_codes, st_polls, st_ctoken);
	} else if (strcmp(r.path, "/_revoke") == 0) {
		int i;
		for (i = 0; i < nrtoks && i < MAXC * 4; i++)
			rtoks[i].valid = 0;
		answer(fd, 200, NULL, "{}");
	} else if (strcmp(r.path, "/_ttl") == 0 && form(r.query, "s", v,
	    sizeof v)) {
		ttl = atoi(v);
		answer(fd, 200, NULL, "{}");
	} else if (strcmp(r.path, "/_delay") == 0 && form(r.query, "ms", v,
	    sizeof v)) {
		delay_ms = atoi(v);
		answer(fd, 200, NULL, "{}");
	} else if (strcmp(r.path, "/_fail") == 0 && form(r.query, "n", v,
	    sizeof v)) {
		fail_n = atoi(v);
		answer(fd, 200, NULL, "{}");
	} else if (strcmp(r.path, "/authorize") == 0) {
		do_authorize(fd, &r);
	} else if (strcmp(r.path, "/claude/token") == 0) {
		do_claude_token(fd, &r);
	} else if (strcmp(r.path, "/codex/token") == 0) {
		do_form_token(fd, &r, 1);
	} else if (strcmp(r.path, "/gemini/token") == 0) {
		do_form_token(fd, &r, 2);
	} else if (strcmp(r.path, "/gemini/userinfo") == 0) {
		if (valid_access(&r, "gemini", "Bearer"))
			answer(fd, 200, NULL, "{\"email\":"
			    "\"gemini-user@example.com\",\"verified_email\":true}");
		else
			answer(fd, 401, NULL, "{\"error\":\"invalid_token\"}");
	} else if (strcmp(r.path, "/gemini/v1internal:loadCodeAssist") == 0) {
		do_code_assist(fd, &r, 0);
	} else if (strcmp(r.path, "/gemini/v1internal:onboardUser") == 0) {
		do_code_assist(fd, &r, 1);
	} else if (strcmp(r.path, "/github/device/code") == 0) {
		do_device(fd, &r, port);
	} else if (strcmp(r.path, "/github/access_token") == 0) {
		do_poll(fd, &r);
	} else if (strcmp(r.path, "/github/user") == 0) {
		char a[128];
		if (hdr(&r, "authorization", a, sizeof a) &&
		    strncmp(a, "token gho_mock", 14) == 0)
			answer(fd, 200, NULL, "{\"login\":\"octocat-mock\","
			    "\"id\":1}");
		else
			answer(fd, 401, NULL, "{\"message\":\"Bad credentials\"}");
	} else if (strcmp(r.path, "/github/copilot_internal/v2/token") == 0) {
		do_copilot_token(fd, &r, upstream_port);
	} else if (strcmp(r.path, "/exchange") == 0) {
		do_exchange(fd, &r);
	} else {
		answer(fd, 404, NULL, "{\"error\":\"not_found\"}");
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	int lfd, fd, one = 1, port = 0, i, upstream_port = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-p") == 0 && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (strcmp(argv[i], "--access-ttl") == 0 && i + 1 < argc)
			ttl = atoi(argv[++i]);
		else if (strcmp(argv[i], "--upstream-port") == 0 && i + 1 < argc)
			upstream_port = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: mock_oauth [-p PORT] "
			    "[--access-ttl S] [--upstream-port P]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)port);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(lfd, 128) < 0) {
		perror("mock_oauth");
		return 1;
	}
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	port = ntohs(sa.sin_port);
	printf("listening %d\n", port);
	fflush(stdout);
	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		handle(fd, port, upstream_port);
		close(fd);
	}
}
