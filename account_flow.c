/*
 * account_flow.c - the OAuth flows, refreshes and token exchanges of the
 * subscription accounts, as I/O-free steps (see account.h).
 *
 * Each step is a pair: a builder that writes the HTTP request to make
 * (struct px_hreq: method, URL, header lines, body in a caller's arena)
 * and a reader that takes the status and body of the answer and updates a
 * record or a flow's state. Whoever does the I/O - the blocking client of
 * the login commands (httpc.c) or the server's event loop (acctsrv.c) -
 * drives the same steps, so the wire details live in one place and the
 * unit tests check them byte for byte without a socket.
 *
 * The constants (endpoints, client ids, scopes, the request shapes) are the
 * vendors' own clients', as the shared ACCOUNTS.md records them; every
 * endpoint can be overridden from the environment so tests never reach
 * the internet.
 *
 * Error answers: RFC 6749 puts the error in {"error":"invalid_grant",
 * "error_description":...}; Anthropic in {"error":{"type","message"}};
 * GitHub's device flow answers 200 with an "error" member while the user
 * has not finished. A refused grant (4xx, or an error code that says the
 * grant is gone) means "log in again" (PX_TOK_DENIED); a 429, a 5xx, a
 * broken connection or an answer that cannot be read means "try later"
 * (PX_TOK_RETRY). Messages quote the error code and description, never a
 * token: an answer's text is copied only from those two members.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"

/* ------------------------------------------------------------ URLs */

/* see account.h */
int
px_url_parse(const char *url, struct px_url *u)
{
	const char *h, *e, *colon, *p;
	size_t hn;
	long port;
	char *end;

	memset(u, 0, sizeof *u);
	if (strncmp(url, "https://", 8) == 0) {
		u->tls = 1;
		h = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		h = url + 7;
	} else {
		return -1;
	}
	e = h + strcspn(h, "/?#");
	if (memchr(h, '@', (size_t)(e - h)) != NULL)
		return -1;
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(e - h));
		if (rb == NULL)
			return -1;
		hn = (size_t)(rb - h - 1);
		if (hn == 0 || hn >= sizeof u->host)
			return -1;
		memcpy(u->host, h + 1, hn);
		colon = rb + 1 < e && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(h, ':', (size_t)(e - h));
		hn = (size_t)((colon ? colon : e) - h);
		if (hn == 0 || hn >= sizeof u->host)
			return -1;
		memcpy(u->host, h, hn);
	}
	for (p = u->host; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return -1;
	if (colon) {
		port = strtol(colon + 1, &end, 10);
		if (end != e || port <= 0 || port > 65535)
			return -1;
		snprintf(u->port, sizeof u->port, "%ld", port);
	} else {
		snprintf(u->port, sizeof u->port, "%s", u->tls ? "443" : "80");
	}
	u->path = *e == '/' ? e : "/";
	if (*e == '?' || *e == '#')
		u->path = e;          /* "http://h?x": the query alone */
	for (p = u->path; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return -1;
	return 0;
}

/* see account.h */
int
px_hreq_head(const struct px_hreq *r, struct px_url *u, struct jw *out)
{
	char cl[64];

	if (px_url_parse(r->url, u) < 0)
		return -1;
	jw_puts(out, r->method);
	jw_puts(out, " ");
	if (u->path[0] != '/')
		jw_puts(out, "/");
	jw_puts(out, u->path);
	jw_puts(out, " HTTP/1.1\r\nHost: ");
	if (strchr(u->host, ':'))
		jw_puts(out, "[");
	jw_puts(out, u->host);
	if (strchr(u->host, ':'))
		jw_puts(out, "]");
	if (strcmp(u->port, u->tls ? "443" : "80") != 0) {
		jw_puts(out, ":");
		jw_puts(out, u->port);
	}
	jw_puts(out, "\r\n");
	jw_put(out, r->hdrs, r->hdrs_n);
	if (r->body_n > 0 || strcmp(r->method, "POST") == 0) {
		snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", r->body_n);
		jw_puts(out, cl);
	}
	jw_puts(out, "Connection: close\r\n\r\n");
	return out->err ? -1 : 0;
}

/* ------------------------------------------------------------ endpoints */

/* Gemini CLI's installed-app client secret: public by design (RFC 8252
 * section 8.4), written in two parts so secret scanners let it be. */
#define GEMINI_SECRET_A "GOCSPX-"
#define GEMINI_SECRET_B "4uHgMPm-1o7Sk-geV6Cu5clXFsxl"

static const struct {
	const char *authorize, *token, *device, *user, *api, *client_id,
	    *client_secret, *scopes, *redirect_path, *api_env;
	int port;
} ep_defaults[PX_ACCT_NKINDS] = {
	[PX_ACCT_CLAUDE] = {
		"https://claude.ai/oauth/authorize",
		"https://platform.claude.com/v1/oauth/token",
		"", "", "",
		"9d1c250a-e61b-44d9-88ed-5944d1962f5e", "",
		"user:profile user:inference user:sessions:claude_code "
		    "user:mcp_servers user:file_upload",
		"/callback", "API_URL", 54545 },
	[PX_ACCT_CODEX] = {
		"https://auth.openai.com/oauth/authorize",
		"https://auth.openai.com/oauth/token",
		"", "", "",
		"app_EMoamEEZ73f0CkXaXp7hrann", "",
		"openid email profile offline_access",
		"/auth/callback", "API_URL", 1455 },
	[PX_ACCT_GEMINI] = {
		"https://accounts.google.com/o/oauth2/auth",
		"https://oauth2.googleapis.com/token",
		"",
		"https://www.googleapis.com/oauth2/v1/userinfo?alt=json",
		"https://cloudcode-pa.googleapis.com/v1internal",
		"681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j"
		    ".apps.googleusercontent.com",
		GEMINI_SECRET_A GEMINI_SECRET_B,
		"https://www.googleapis.com/auth/cloud-platform "
		    "https://www.googleapis.com/auth/userinfo.email "
		    "https://www.googleapis.com/auth/userinfo.profile",
		"/oauth2callback", "CODE_ASSIST_URL", 8085 },
	[PX_ACCT_COPILOT] = {
		"",
		"https://github.com/login/oauth/access_token",
		"https://github.com/login/device/code",
		"https://api.github.com/user",
		"https://api.github.com/copilot_internal/v2/token",
		"Iv1.b507a08c87ecfe98", "",
		"user:email",
		"", "EXCHANGE_URL", 0 },
};

static const char *
ep_env(const char *(*get)(const char *), enum px_acct_kind k,
    const char *name, const char *dflt)
{
	static const char *const up[PX_ACCT_NKINDS] = { "CLAUDE", "CODEX",
	    "GEMINI", "COPILOT" };
	char var[64];
	const char *v;

	if (get == NULL)
		return dflt;
	snprintf(var, sizeof var, "LLMPROXY_%s_%s", up[k], name);
	v = get(var);
	return v != NULL && v[0] ? v : dflt;
}

/* see account.h */
void
px_acct_ep_init(struct px_acct_ep *ep, enum px_acct_kind k,
    const char *(*get)(const char *name))
{
	const char *port;
	long pv;

	memset(ep, 0, sizeof *ep);
	ep->kind = k;
	ep->authorize = ep_env(get, k, "AUTHORIZE_URL",
	    ep_defaults[k].authorize);
	ep->token = ep_env(get, k, "TOKEN_URL", ep_defaults[k].token);
	ep->device = ep_env(get, k, "DEVICE_URL", ep_defaults[k].device);
	ep->user = ep_env(get, k, "USER_URL", ep_defaults[k].user);
	ep->api = ep_env(get, k, ep_defaults[k].api_env, ep_defaults[k].api);
	ep->client_id = ep_env(get, k, "CLIENT_ID", ep_defaults[k].client_id);
	ep->client_secret = ep_env(get, k, "CLIENT_SECRET",
	    ep_defaults[k].client_secret);
	ep->scopes = ep_defaults[k].scopes;
	ep->redirect_path = ep_defaults[k].redirect_path;
	ep->port = ep_defaults[k].port;
	port = ep_env(get, k, "CALLBACK_PORT", NULL);
	if (port != NULL && (pv = strtol(port, NULL, 10)) > 0 && pv < 65536)
		ep->port = (int)pv;
	if (ep->port > 0)
		snprintf(ep->redirect, sizeof ep->redirect,
		    "http://localhost:%d%s", ep->port, ep->redirect_path);
}

/* ------------------------------------------------------------ encoding */

/* Percent-encode s into w (unreserved characters as they are). */
static void
pct(struct jw *w, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char b[3];

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			jw_put(w, s, 1);
			continue;
		}
		b[0] = '%';
		b[1] = hex[c >> 4];
		b[2] = hex[c & 15];
		jw_put(w, b, 3);
	}
}

/* "&k=v" (no '&' before the first) in application/x-www-form-urlencoded */
static void
form(struct jw *w, const char *k, const char *v)
{
	if (w->len > 0)
		jw_put(w, "&", 1);
	pct(w, k);
	jw_put(w, "=", 1);
	pct(w, v);
}

static void
hdr(struct px_hreq *r, const char *name, const char *value)
{
	int k;

	if (r->hdrs_n >= sizeof r->hdrs)
		return;
	k = snprintf(r->hdrs + r->hdrs_n, sizeof r->hdrs - r->hdrs_n,
	    "%s: %s\r\n", name, value);
	if (k < 0 || (size_t)k >= sizeof r->hdrs - r->hdrs_n) {
		r->hdrs_n = sizeof r->hdrs;   /* overflow: refused below */
		return;
	}
	r->hdrs_n += (size_t)k;
}

static int
req_init(struct px_hreq *r, const char *method, const char *url)
{
	memset(r, 0, sizeof *r);
	r->method = method;
	if (url == NULL || url[0] == 0 ||
	    snprintf(r->url, sizeof r->url, "%s", url) >= (int)sizeof r->url)
		return -1;
	return 0;
}

static int
req_done(struct px_hreq *r, struct jw *body)
{
	if (r->hdrs_n >= sizeof r->hdrs)
		return -1;
	if (body != NULL) {
		if (body->err)
			return -1;
		r->body = body->buf ? body->buf : "";
		r->body_n = body->len;
	}
	return 0;
}

/* The header lines every Code Assist call carries. */
static void
gemini_hdrs(struct px_hreq *r, const char *token)
{
	char auth[PX_ACCT_TOKEN_MAX + 16];

	snprintf(auth, sizeof auth, "Bearer %s", token);
	hdr(r, "Authorization", auth);
	hdr(r, "Content-Type", "application/json");
	hdr(r, "Accept", "application/json");
	hdr(r, "User-Agent", "GeminiCLI/0.34.0 (linux; x64; terminal)");
	hdr(r, "X-Goog-Api-Client", "google-genai-sdk/1.41.0 gl-node/v22.19.0");
}

/* ------------------------------------------------------------ authorize */

/* see account.h */
int
px_oauth_authorize_url(const struct px_acct_ep *ep, const char *state,
    const char *challenge, char *out, size_t cap)
{
	struct px_arena ar;
	struct jw q;
	int rc = -1;

	if (ep->authorize[0] == 0 || cap == 0)
		return -1;
	px_arena_init(&ar, 64 * 1024);
	jw_init(&q, &ar, 16 * 1024);
	switch (ep->kind) {
	case PX_ACCT_CLAUDE:
		form(&q, "code", "true");
		form(&q, "client_id", ep->client_id);
		form(&q, "response_type", "code");
		form(&q, "redirect_uri", ep->redirect);
		form(&q, "scope", ep->scopes);
		form(&q, "code_challenge", challenge);
		form(&q, "code_challenge_method", "S256");
		form(&q, "state", state);
		break;
	case PX_ACCT_CODEX:
		form(&q, "response_type", "code");
		form(&q, "client_id", ep->client_id);
		form(&q, "redirect_uri", ep->redirect);
		form(&q, "scope", ep->scopes);
		form(&q, "code_challenge", challenge);
		form(&q, "code_challenge_method", "S256");
		form(&q, "id_token_add_organizations", "true");
		form(&q, "codex_cli_simplified_flow", "true");
		form(&q, "prompt", "login");
		form(&q, "state", state);
		break;
	case PX_ACCT_GEMINI:
		form(&q, "access_type", "offline");
		form(&q, "prompt", "consent");
		form(&q, "response_type", "code");
		form(&q, "client_id", ep->client_id);
		form(&q, "redirect_uri", ep->redirect);
		form(&q, "scope", ep->scopes);
		form(&q, "code_challenge", challenge);
		form(&q, "code_challenge_method", "S256");
		form(&q, "state", state);
		break;
	default:
		goto done;
	}
	if (!q.err && snprintf(out, cap, "%s%s%s", ep->authorize,
	    strchr(ep->authorize, '?') ? "&" : "?", q.buf) < (int)cap)
		rc = 0;
done:
	px_arena_free(&ar);
	return rc;
}

/* Percent-decode s[0..n) into out (cap, NUL-terminated); '+' is a space.
 * -1 when it does not fit or holds a bad escape or a control byte. */
static int
pct_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t i, k = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			hi = isxdigit((unsigned char)s[i + 1]) ?
			    (isdigit((unsigned char)s[i + 1]) ? s[i + 1] - '0' :
			    (tolower((unsigned char)s[i + 1]) - 'a' + 10)) : -1;
			lo = isxdigit((unsigned char)s[i + 2]) ?
			    (isdigit((unsigned char)s[i + 2]) ? s[i + 2] - '0' :
			    (tolower((unsigned char)s[i + 2]) - 'a' + 10)) : -1;
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if ((unsigned char)c < 0x20 || k + 1 >= cap)
			return -1;
		out[k++] = c;
	}
	out[k] = 0;
	return 0;
}

/* Query parameter `name` of q[0..n) (a '&'-separated list), decoded. 0, or
 * -1 when absent or bad. */
static int
query_get(const char *q, size_t n, const char *name, char *out, size_t cap)
{
	size_t i = 0, kl = strlen(name);

	while (i < n) {
		size_t e = i;
		while (e < n && q[e] != '&' && q[e] != '#')
			e++;
		if (e - i > kl && memcmp(q + i, name, kl) == 0 &&
		    q[i + kl] == '=')
			return pct_decode(q + i + kl + 1, e - i - kl - 1, out,
			    cap);
		if (e < n && q[e] == '#')
			break;
		i = e + 1;
	}
	return -1;
}

/* see account.h */
int
px_oauth_parse_code(const char *in, size_t n, char *code, size_t ccap,
    char *state, size_t scap)
{
	const char *q, *h;

	while (n > 0 && isspace((unsigned char)in[0])) {
		in++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)in[n - 1]))
		n--;
	if (scap)
		state[0] = 0;
	if (n == 0 || ccap == 0)
		return -1;
	q = memchr(in, '?', n);
	if (q != NULL || (n > 5 && memcmp(in, "code=", 5) == 0)) {
		/* a redirect URL, or its query alone */
		const char *qs = q ? q + 1 : in;
		size_t qn = (size_t)(in + n - qs);
		if (query_get(qs, qn, "error", code, ccap) == 0)
			return -2;
		if (query_get(qs, qn, "code", code, ccap) < 0 || !code[0])
			return -1;
		if (query_get(qs, qn, "state", state, scap) < 0 && scap)
			state[0] = 0;
		return 0;
	}
	/* Claude's manual page shows "code#state" */
	h = memchr(in, '#', n);
	if (pct_decode(in, h ? (size_t)(h - in) : n, code, ccap) < 0 ||
	    !code[0])
		return -1;
	if (h != NULL && pct_decode(h + 1, (size_t)(in + n - h - 1), state,
	    scap) < 0)
		return -1;
	return 0;
}

/* ------------------------------------------------------------ tokens */

/* see account.h */
int
px_oauth_code_request(const struct px_acct_ep *ep, const char *code,
    const char *verifier, const char *state, struct px_arena *ar,
    struct px_hreq *r)
{
	struct jw b;

	if (req_init(r, "POST", ep->token) < 0)
		return -1;
	jw_init(&b, ar, 64 * 1024);
	switch (ep->kind) {
	case PX_ACCT_CLAUDE:
		/* JSON, in the order Claude Code's own client sends */
		hdr(r, "Accept", "application/json, text/plain, */*");
		hdr(r, "Content-Type", "application/json");
		hdr(r, "User-Agent", "axios/1.15.2");
		jw_obj(&b);
		jw_kcstr(&b, "grant_type", "authorization_code");
		jw_kcstr(&b, "code", code);
		jw_kcstr(&b, "redirect_uri", ep->redirect);
		jw_kcstr(&b, "client_id", ep->client_id);
		jw_kcstr(&b, "code_verifier", verifier);
		jw_kcstr(&b, "state", state);
		jw_obj_end(&b);
		break;
	case PX_ACCT_CODEX:
		hdr(r, "Accept", "application/json");
		hdr(r, "Content-Type", "application/x-www-form-urlencoded");
		form(&b, "grant_type", "authorization_code");
		form(&b, "client_id", ep->client_id);
		form(&b, "code", code);
		form(&b, "redirect_uri", ep->redirect);
		form(&b, "code_verifier", verifier);
		break;
	case PX_ACCT_GEMINI:
		hdr(r, "Accept", "application/json");
		hdr(r, "Content-Type", "application/x-www-form-urlencoded");
		form(&b, "code", code);
		form(&b, "client_id", ep->client_id);
		form(&b, "client_secret", ep->client_secret);
		form(&b, "redirect_uri", ep->redirect);
		form(&b, "grant_type", "authorization_code");
		form(&b, "code_verifier", verifier);
		break;
	default:
		return -1;
	}
	return req_done(r, &b);
}

/* see account.h */
int
px_oauth_refresh_request(const struct px_acct_ep *ep,
    const struct px_account *a, struct px_arena *ar, struct px_hreq *r)
{
	char auth[PX_ACCT_TOKEN_MAX + 16];
	struct jw b;

	if (a->refresh == NULL || a->refresh[0] == 0)
		return -1;
	jw_init(&b, ar, 64 * 1024);
	switch (a->kind) {
	case PX_ACCT_CLAUDE:
		if (req_init(r, "POST", ep->token) < 0)
			return -1;
		hdr(r, "Accept", "application/json, text/plain, */*");
		hdr(r, "Content-Type", "application/json");
		hdr(r, "User-Agent", "axios/1.15.2");
		jw_obj(&b);
		jw_kcstr(&b, "client_id", ep->client_id);
		jw_kcstr(&b, "grant_type", "refresh_token");
		jw_kcstr(&b, "refresh_token", a->refresh);
		jw_kcstr(&b, "scope", ep->scopes);
		jw_obj_end(&b);
		break;
	case PX_ACCT_CODEX:
		if (req_init(r, "POST", ep->token) < 0)
			return -1;
		hdr(r, "Accept", "application/json");
		hdr(r, "Content-Type", "application/x-www-form-urlencoded");
		form(&b, "client_id", ep->client_id);
		form(&b, "grant_type", "refresh_token");
		form(&b, "refresh_token", a->refresh);
		form(&b, "scope", "openid profile email");
		break;
	case PX_ACCT_GEMINI:
		if (req_init(r, "POST", ep->token) < 0)
			return -1;
		hdr(r, "Accept", "application/json");
		hdr(r, "Content-Type", "application/x-www-form-urlencoded");
		form(&b, "grant_type", "refresh_token");
		form(&b, "client_id", ep->client_id);
		form(&b, "client_secret", ep->client_secret);
		form(&b, "refresh_token", a->refresh);
		break;
	case PX_ACCT_COPILOT:
		/* the GitHub token buys a Copilot token */
		if (req_init(r, "GET", ep->api) < 0)
			return -1;
		snprintf(auth, sizeof auth, "token %s", a->refresh);
		hdr(r, "Authorization", auth);
		hdr(r, "Accept", "application/json");
		hdr(r, "User-Agent", "GithubCopilot/1.0");
		hdr(r, "Editor-Version", "vscode/1.100.0");
		hdr(r, "Editor-Plugin-Version", "copilot/1.300.0");
		return req_done(r, NULL);
	default:
		return -1;
	}
	return req_done(r, &b);
}

/* Copy a short text member (the error code or description) for messages:
 * printable ASCII only, cut to cap. */
static void
copy_text(char *out, size_t cap, const char *s, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n && k + 1 < cap; i++)
		out[k++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	out[k] = 0;
}

/* The error of an answer body: RFC 6749 ("error", "error_description"),
 * or {"error":{"type"|"code"|"status","message"}}. */
static void
answer_error(const struct json *root, struct px_tok_result *res)
{
	const struct json *e = json_get(root, "error");
	const char *s = NULL, *d = NULL;
	size_t n = 0, dn = 0;

	if (e == NULL)
		return;
	if (json_str(e, &s, &n)) {
		d = json_get_str(root, "error_description", &dn);
	} else if (e->type == JSON_OBJECT) {
		if ((s = json_get_str(e, "type", &n)) == NULL &&
		    (s = json_get_str(e, "status", &n)) == NULL)
			s = json_get_str(e, "code", &n);
		d = json_get_str(e, "message", &dn);
	}
	if (s)
		copy_text(res->error, sizeof res->error, s, n);
	if (d)
		copy_text(res->msg, sizeof res->msg, d, dn);
}

/* Set the verdict of a failed answer: RETRY for a transient status (0 =
 * no answer, 408, 429, 5xx), DENIED for the rest; the message says the
 * answer's own status, error code and description (else `what`). */
static void
fail_verdict(struct px_tok_result *res, int status, const char *what)
{
	char m[sizeof res->msg];

	res->v = status == 0 || status == 408 || status == 429 ||
	    status >= 500 ? PX_TOK_RETRY : PX_TOK_DENIED;
	snprintf(m, sizeof m, "%s", res->msg[0] ? res->msg : what);
	if (res->error[0])
		snprintf(res->msg, sizeof res->msg, "%d %.63s%s%.120s",
		    res->status, res->error, m[0] ? ": " : "", m);
	else
		snprintf(res->msg, sizeof res->msg, "%d%s%.180s", res->status,
		    m[0] ? " " : "", m);
}

static void
res_init(struct px_tok_result *res, int status)
{
	memset(res, 0, sizeof *res);
	res->status = status;
	res->v = PX_TOK_RETRY;
}

/* A number or a numeric string member: 1 and *v. */
static int
get_num(const struct json *o, const char *k, long long *v)
{
	const struct json *m = json_get(o, k);
	const char *s;
	size_t n;
	char buf[32], *end;
	double d;

	if (m == NULL)
		return 0;
	if (json_int(m, v))
		return 1;
	if (json_num(m, &d) && d > -1e15 && d < 1e15) {
		*v = (long long)d;
		return 1;
	}
	if (json_str(m, &s, &n) && n > 0 && n < sizeof buf) {
		memcpy(buf, s, n);
		buf[n] = 0;
		*v = strtoll(buf, &end, 10);
		return *end == 0;
	}
	return 0;
}

/* Copy a string member into a fixed field; 1 when it was there. */
static int
get_fixed(const struct json *o, const char *k, char *out, size_t cap)
{
	const char *s;
	size_t n, i;

	if (o == NULL || !json_str(json_get(o, k), &s, &n) || n >= cap)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20)
			return 0;
	memcpy(out, s, n);
	out[n] = 0;
	return 1;
}

/* Codex: the id_token's claims (email, account id, plan). */
static void
codex_claims(struct px_arena *ar, struct px_account *a, const char *idt)
{
	const struct json *p, *auth;

	if (idt == NULL || (p = px_jwt_payload(ar, idt, strlen(idt))) == NULL)
		return;
	get_fixed(p, "email", a->identity, sizeof a->identity);
	auth = json_get(p, "https://api.openai.com/auth");
	get_fixed(auth, "chatgpt_account_id", a->account_id,
	    sizeof a->account_id);
	get_fixed(auth, "chatgpt_plan_type", a->plan, sizeof a->plan);
}

/* see account.h */
void
px_oauth_token_answer(struct px_account *a, int status, const char *body,
    size_t n, long long now, struct px_tok_result *res)
{
	struct px_arena ar;
	struct json *root;
	const struct json *acct, *ep;
	struct px_account nw;
	const char *s;
	size_t sn;
	long long v;

	res_init(res, status);
	px_arena_init(&ar, 8 * PX_ACCT_ANSWER_MAX);
	px_acct_init(&nw, a->kind);
	root = n <= PX_ACCT_ANSWER_MAX ? json_parse(&ar, body, n, 0, NULL) :
	    NULL;
	if (root != NULL && root->type != JSON_OBJECT)
		root = NULL;
	if (status < 200 || status > 299 || root == NULL ||
	    json_get(root, "error") != NULL) {
		if (root)
			answer_error(root, res);
		fail_verdict(res, status >= 200 && status <= 299 ?
		    (res->error[0] ? 400 : 502) : status,
		    "an answer that is not a token");
		goto done;
	}
	if (px_acct_copy(&nw, a) < 0) {
		snprintf(res->msg, sizeof res->msg, "out of memory");
		goto done;
	}
	if (a->kind == PX_ACCT_COPILOT) {
		/* {token, expires_at, refresh_in, endpoints{api}} */
		if (!json_str(json_get(root, "token"), &s, &sn) || sn == 0 ||
		    px_acct_set(&nw.access, s, sn) < 0) {
			snprintf(res->msg, sizeof res->msg, "the Copilot token "
			    "answer has no token (is Copilot enabled for this "
			    "GitHub account?)");
			res->v = PX_TOK_DENIED;
			goto done;
		}
		/* unix seconds; past year 9999 is not a time */
		nw.expires = get_num(root, "expires_at", &v) && v > 0 &&
		    v < 253402300800LL ? v * 1000 : now + 25 * 60 * 1000;
		if ((ep = json_get(root, "endpoints")) != NULL)
			get_fixed(ep, "api", nw.api_base, sizeof nw.api_base);
	} else {
		if (!json_str(json_get(root, "access_token"), &s, &sn) ||
		    sn == 0 || px_acct_set(&nw.access, s, sn) < 0) {
			fail_verdict(res, 502, "the answer has no access_token");
			goto done;
		}
		/* refresh tokens rotate: keep the new one, else the old */
		if (json_str(json_get(root, "refresh_token"), &s, &sn) &&
		    sn > 0 && px_acct_set(&nw.refresh, s, sn) < 0)
			goto done;
		if (json_str(json_get(root, "id_token"), &s, &sn) && sn > 0 &&
		    px_acct_set(&nw.id_token, s, sn) < 0)
			goto done;
		if (get_num(root, "expires_in", &v) && v > 0 &&
		    v < 10LL * 365 * 86400)
			nw.expires = now + v * 1000;
		else
			nw.expires = px_jwt_exp(px_jwt_payload(&ar, nw.access,
			    strlen(nw.access)));
		switch (a->kind) {
		case PX_ACCT_CLAUDE:
			acct = json_get(root, "account");
			get_fixed(acct, "email_address", nw.identity,
			    sizeof nw.identity);
			get_fixed(acct, "uuid", nw.account_id,
			    sizeof nw.account_id);
			break;
		case PX_ACCT_CODEX:
			codex_claims(&ar, &nw, nw.id_token);
			break;
		case PX_ACCT_GEMINI:
			if (nw.id_token) {
				const struct json *p = px_jwt_payload(&ar,
				    nw.id_token, strlen(nw.id_token));
				get_fixed(p, "email", nw.identity,
				    sizeof nw.identity);
			}
			break;
		default:
			break;
		}
	}
	nw.refreshed = now;
	if (nw.created == 0)
		nw.created = now;
	px_acct_clear(a);
	*a = nw;                 /* the record takes the new tokens */
	px_acct_init(&nw, a->kind);
	res->v = PX_TOK_OK;
done:
	px_acct_clear(&nw);
	px_arena_free(&ar);
}

/* ------------------------------------------------------------ device flow */

/* see account.h */
int
px_device_code_request(const struct px_acct_ep *ep, struct px_arena *ar,
    struct px_hreq *r)
{
	struct jw b;

	if (req_init(r, "POST", ep->device) < 0)
		return -1;
	hdr(r, "Accept", "application/json");
	hdr(r, "Content-Type", "application/x-www-form-urlencoded");
	jw_init(&b, ar, 4096);
	form(&b, "client_id", ep->client_id);
	form(&b, "scope", ep->scopes);
	return req_done(r, &b);
}

/* see account.h */
void
px_device_code_answer(struct px_device *d, int status, const char *body,
    size_t n, long long now, struct px_tok_result *res)
{
	struct px_arena ar;
	struct json *root;
	long long v;

	res_init(res, status);
	memset(d, 0, sizeof *d);
	px_arena_init(&ar, 8 * PX_ACCT_ANSWER_MAX);
	root = n <= PX_ACCT_ANSWER_MAX ? json_parse(&ar, body, n, 0, NULL) :
	    NULL;
	if (status < 200 || status > 299 || root == NULL ||
	    root->type != JSON_OBJECT || json_get(root, "error") != NULL ||
	    !get_fixed(root, "device_code", d->device_code,
	    sizeof d->device_code) ||
	    !get_fixed(root, "user_code", d->user_code, sizeof d->user_code) ||
	    !get_fixed(root, "verification_uri", d->verify_uri,
	    sizeof d->verify_uri)) {
		if (root && root->type == JSON_OBJECT)
			answer_error(root, res);
		fail_verdict(res, status >= 200 && status <= 299 ? 502 : status,
		    "no device code in the answer");
		goto done;
	}
	d->interval_ms = get_num(root, "interval", &v) && v > 0 && v < 3600 ?
	    v * 1000 : 5000;
	d->deadline = now + (get_num(root, "expires_in", &v) && v > 0 &&
	    v < 900 ? v : 900) * 1000;
	res->v = PX_TOK_OK;
done:
	px_arena_free(&ar);
}

/* see account.h */
int
px_device_poll_request(const struct px_acct_ep *ep, const struct px_device *d,
    struct px_arena *ar, struct px_hreq *r)
{
	struct jw b;

	if (req_init(r, "POST", ep->token) < 0)
		return -1;
	hdr(r, "Accept", "application/json");
	hdr(r, "Content-Type", "application/x-www-form-urlencoded");
	jw_init(&b, ar, 4096);
	form(&b, "client_id", ep->client_id);
	form(&b, "device_code", d->device_code);
	form(&b, "grant_type", "urn:ietf:params:oauth:grant-type:device_code");
	return req_done(r, &b);
}

/* see account.h */
void
px_device_poll_answer(struct px_device *d, struct px_account *a, int status,
    const char *body, size_t n, long long now, struct px_tok_result *res)
{
	struct px_arena ar;
	struct json *root;
	const char *s;
	size_t sn;
	long long v;

	res_init(res, status);
	px_arena_init(&ar, 8 * PX_ACCT_ANSWER_MAX);
	root = n <= PX_ACCT_ANSWER_MAX ? json_parse(&ar, body, n, 0, NULL) :
	    NULL;
	if (root == NULL || root->type != JSON_OBJECT) {
		fail_verdict(res, status >= 200 && status <= 299 ? 502 : status,
		    "an unreadable answer");
		goto done;
	}
	if ((s = json_get_str(root, "error", &sn)) != NULL) {
		answer_error(root, res);
		if (json_eq(s, sn, "authorization_pending")) {
			res->v = PX_TOK_PENDING;
		} else if (json_eq(s, sn, "slow_down")) {
			/* RFC 8628 3.5: +5 s, or what the server says */
			if (get_num(root, "interval", &v) && v > 0 && v < 3600 &&
			    v * 1000 > d->interval_ms)
				d->interval_ms = v * 1000;
			else
				d->interval_ms += 5000;
			res->v = PX_TOK_SLOW_DOWN;
		} else {
			fail_verdict(res, status >= 500 || status == 429 ?
			    status : 400, "the device login failed");
		}
		goto done;
	}
	if (status < 200 || status > 299 ||
	    !json_str(json_get(root, "access_token"), &s, &sn) || sn == 0) {
		fail_verdict(res, status >= 200 && status <= 299 ? 502 : status,
		    "no access_token in the answer");
		goto done;
	}
	if (px_acct_set(&a->refresh, s, sn) < 0) {
		snprintf(res->msg, sizeof res->msg, "out of memory");
		goto done;
	}
	if (a->created == 0)
		a->created = now;
	res->v = PX_TOK_OK;
done:
	px_arena_free(&ar);
}

/* ------------------------------------------------------------ identity */

/* see account.h */
int
px_user_request(const struct px_acct_ep *ep, const struct px_account *a,
    struct px_arena *ar, struct px_hreq *r)
{
	char auth[PX_ACCT_TOKEN_MAX + 16];
	const char *tok = a->kind == PX_ACCT_COPILOT ? a->refresh : a->access;

	(void)ar;
	if (tok == NULL || req_init(r, "GET", ep->user) < 0)
		return -1;
	snprintf(auth, sizeof auth, "%s %s", a->kind == PX_ACCT_COPILOT ?
	    "token" : "Bearer", tok);
	hdr(r, "Authorization", auth);
	hdr(r, "Accept", "application/json");
	hdr(r, "User-Agent", a->kind == PX_ACCT_COPILOT ? "GithubCopilot/1.0" :
	    "llmproxy");
	return req_done(r, NULL);
}

/* see account.h */
void
px_user_answer(struct px_account *a, int status, const char *body, size_t n,
    struct px_tok_result *res)
{
	struct px_arena ar;
	struct json *root;
	char id[sizeof a->identity];

	res_init(res, status);
	px_arena_init(&ar, 8 * PX_ACCT_ANSWER_MAX);
	root = n <= PX_ACCT_ANSWER_MAX ? json_parse(&ar, body, n, 0, NULL) :
	    NULL;
	if (status < 200 || status > 299 || root == NULL ||
	    root->type != JSON_OBJECT ||
	    !get_fixed(root, a->kind == PX_ACCT_COPILOT ? "login" : "email", id,
	    sizeof id)) {
		if (root && root->type == JSON_OBJECT)
			answer_error(root, res);
		fail_verdict(res, status >= 200 && status <= 299 ? 502 : status,
		    "no identity in the answer");
		goto done;
	}
	memcpy(a->identity, id, sizeof id);
	res->v = PX_TOK_OK;
done:
	px_arena_free(&ar);
}

/* ------------------------------------------------------------ onboarding */

static void
ob_metadata(struct jw *b)
{
	jw_key(b, "metadata");
	jw_obj(b);
	jw_kcstr(b, "ideType", "IDE_UNSPECIFIED");
	jw_kcstr(b, "platform", "PLATFORM_UNSPECIFIED");
	jw_kcstr(b, "pluginType", "GEMINI");
	jw_obj_end(b);
}

/* see account.h */
int
px_onboard_request(const struct px_acct_ep *ep, const struct px_onboard *o,
    const struct px_account *a, struct px_arena *ar, struct px_hreq *r)
{
	char url[PX_URL_MAX];
	struct jw b;

	if (o->step == PX_OB_DONE || a->access == NULL)
		return -1;
	if (snprintf(url, sizeof url, "%s:%s", ep->api, o->step == PX_OB_LOAD ?
	    "loadCodeAssist" : "onboardUser") >= (int)sizeof url ||
	    req_init(r, "POST", url) < 0)
		return -1;
	gemini_hdrs(r, a->access);
	jw_init(&b, ar, 4096);
	jw_obj(&b);
	if (o->step == PX_OB_ONBOARD)
		jw_kcstr(&b, "tierId", o->tier);
	if (o->project[0])
		jw_kcstr(&b, "cloudaicompanionProject", o->project);
	ob_metadata(&b);
	jw_obj_end(&b);
	return req_done(r, &b);
}

/* A project member: a string or {"id": ...}. */
static int
project_of(const struct json *v, char *out, size_t cap)
{
	if (v == NULL)
		return 0;
	if (v->type == JSON_OBJECT)
		return get_fixed(v, "id", out, cap) && out[0];
	if (v->type == JSON_STRING && v->n > 0 && v->n < cap &&
	    memchr(v->s, 0, v->n) == NULL) {
		memcpy(out, v->s, v->n);
		out[v->n] = 0;
		return 1;
	}
	return 0;
}

/* see account.h */
void
px_onboard_answer(struct px_onboard *o, int status, const char *body,
    size_t n, struct px_tok_result *res)
{
	struct px_arena ar;
	struct json *root;
	const struct json *t, *tiers;
	int done = 0;
	char proj[sizeof o->project];

	res_init(res, status);
	px_arena_init(&ar, 8 * PX_ACCT_ANSWER_MAX);
	root = n <= PX_ACCT_ANSWER_MAX ? json_parse(&ar, body, n, 0, NULL) :
	    NULL;
	if (status < 200 || status > 299 || root == NULL ||
	    root->type != JSON_OBJECT) {
		if (root && root->type == JSON_OBJECT)
			answer_error(root, res);
		fail_verdict(res, status >= 200 && status <= 299 ? 502 : status,
		    "an unreadable Code Assist answer");
		goto done;
	}
	proj[0] = 0;
	if (o->step == PX_OB_LOAD) {
		if (json_get(root, "currentTier") != NULL) {
			/* onboarded already: its project, else the user's */
			if (project_of(json_get(root,
			    "cloudaicompanionProject"), proj, sizeof proj))
				memcpy(o->project, proj, sizeof proj);
			if (!o->project[0]) {
				snprintf(res->msg, sizeof res->msg, "this account "
				    "needs a Google Cloud project: log in again "
				    "with --project ID");
				res->v = PX_TOK_DENIED;
				goto done;
			}
			o->step = PX_OB_DONE;
			res->v = PX_TOK_OK;
			goto done;
		}
		snprintf(o->tier, sizeof o->tier, "legacy-tier");
		tiers = json_get(root, "allowedTiers");
		for (t = tiers ? tiers->child : NULL; t; t = t->next) {
			int def = 0;
			if (json_bool(json_get(t, "isDefault"), &def) && def) {
				get_fixed(t, "id", o->tier, sizeof o->tier);
				break;
			}
		}
		o->step = PX_OB_ONBOARD;
		o->polls = 0;
		res->v = PX_TOK_OK;
		goto done;
	}
	/* onboardUser: a long-running operation */
	o->polls++;
	json_bool(json_get(root, "done"), &done);
	if (!done) {
		res->v = PX_TOK_PENDING;
		goto done;
	}
	if (project_of(json_get(json_get(root, "response"),
	    "cloudaicompanionProject"), proj, sizeof proj))
		memcpy(o->project, proj, sizeof proj);
	if (!o->project[0]) {
		snprintf(res->msg, sizeof res->msg, "Code Assist onboarding "
		    "gave no project: log in again with --project ID");
		res->v = PX_TOK_DENIED;
		goto done;
	}
	o->step = PX_OB_DONE;
	res->v = PX_TOK_OK;
done:
	px_arena_free(&ar);
}

/* ------------------------------------------------------------ imports */

static int
set_str(char **slot, const struct json *o, const char *k)
{
	const char *s;
	size_t n;

	if (!json_str(json_get(o, k), &s, &n) || n == 0)
		return 0;
	return px_acct_set(slot, s, n) == 0;
}

/* see account.h */
int
px_acct_import(struct px_account *a, const char *text, size_t n,
    long long now, char *err, size_t errcap)
{
	struct px_arena ar;
	struct json *root;
	const struct json *o, *m;
	long long v;
	int rc = -1;

	px_arena_init(&ar, 8 * PX_ACCT_ANSWER_MAX);
	root = n <= PX_ACCT_ANSWER_MAX ? json_parse(&ar, text, n, 0, NULL) :
	    NULL;
	if (root == NULL || root->type != JSON_OBJECT) {
		snprintf(err, errcap, "not a JSON object");
		goto done;
	}
	switch (a->kind) {
	case PX_ACCT_CLAUDE:
		o = json_get(root, "claudeAiOauth");
		if (o == NULL || !set_str(&a->access, o, "accessToken")) {
			snprintf(err, errcap, "no claudeAiOauth.accessToken: "
			    "not Claude Code's .credentials.json");
			goto done;
		}
		set_str(&a->refresh, o, "refreshToken");
		if (get_num(o, "expiresAt", &v) && v > 0)
			a->expires = v;
		get_fixed(o, "subscriptionType", a->plan, sizeof a->plan);
		break;
	case PX_ACCT_CODEX:
		o = json_get(root, "tokens");
		if (o == NULL || !set_str(&a->access, o, "access_token")) {
			snprintf(err, errcap, "no tokens.access_token: not the "
			    "Codex CLI's auth.json (or an API key login)");
			goto done;
		}
		set_str(&a->refresh, o, "refresh_token");
		set_str(&a->id_token, o, "id_token");
		codex_claims(&ar, a, a->id_token);
		get_fixed(o, "account_id", a->account_id, sizeof a->account_id);
		a->expires = px_jwt_exp(px_jwt_payload(&ar, a->access,
		    strlen(a->access)));
		break;
	case PX_ACCT_GEMINI:
		if (!set_str(&a->access, root, "access_token") ||
		    !set_str(&a->refresh, root, "refresh_token")) {
			snprintf(err, errcap, "no access_token/refresh_token: "
			    "not the Gemini CLI's oauth_creds.json");
			goto done;
		}
		if (get_num(root, "expiry_date", &v) && v > 0)
			a->expires = v;
		set_str(&a->id_token, root, "id_token");
		if (a->id_token) {
			const struct json *p = px_jwt_payload(&ar, a->id_token,
			    strlen(a->id_token));
			get_fixed(p, "email", a->identity, sizeof a->identity);
		}
		break;
	case PX_ACCT_COPILOT:
		/* apps.json / hosts.json: {"github.com[:app]": {user,
		 * oauth_token}} */
		for (m = root->child; m; m = m->next)
			if (strncmp(m->key, "github.com", 10) == 0 &&
			    set_str(&a->refresh, m, "oauth_token"))
				break;
		if (m == NULL) {
			snprintf(err, errcap, "no github.com entry with an "
			    "oauth_token: not Copilot's apps.json or "
			    "hosts.json");
			goto done;
		}
		get_fixed(m, "user", a->identity, sizeof a->identity);
		break;
	default:
		goto done;
	}
	a->created = a->refreshed = now;
	rc = 0;
done:
	if (rc < 0) {
		enum px_acct_kind k = a->kind;
		px_acct_clear(a);
		a->kind = k;
	}
	px_arena_free(&ar);
	return rc;
}

/* ------------------------------------------------------------ exchange */

/* see account.h */
int
px_tx_request(const struct px_token_exchange *tx, struct px_arena *ar,
    struct px_hreq *r)
{
	struct jw b, v;
	int i;

	if (req_init(r, "POST", tx->url) < 0)
		return -1;
	hdr(r, "Accept", "application/json");
	hdr(r, "Content-Type", tx->json ? "application/json" :
	    "application/x-www-form-urlencoded");
	jw_init(&b, ar, 64 * 1024);
	if (tx->json)
		jw_obj(&b);
	for (i = 0; i < tx->nfields; i++) {
		/* the value with every "{token}" replaced */
		const char *p = tx->values[i], *t;
		jw_init(&v, ar, 32 * 1024);
		while ((t = strstr(p, "{token}")) != NULL) {
			jw_put(&v, p, (size_t)(t - p));
			jw_puts(&v, tx->token);
			p = t + 7;
		}
		jw_puts(&v, p);
		if (v.err)
			return -1;
		if (tx->json)
			jw_kstr(&b, tx->names[i], v.buf ? v.buf : "", v.len);
		else
			form(&b, tx->names[i], v.buf ? v.buf : "");
	}
	if (tx->json)
		jw_obj_end(&b);
	return req_done(r, &b);
}

/* see account.h */
void
px_tx_answer(const struct px_token_exchange *tx, int status,
    const char *body, size_t n, long long now, char **tok,
    long long *expires, struct px_tok_result *res)
{
	struct px_arena ar;
	struct json *root;
	const char *s = NULL;
	size_t sn = 0;
	long long v;

	res_init(res, status);
	*tok = NULL;
	*expires = 0;
	px_arena_init(&ar, 8 * PX_ACCT_ANSWER_MAX);
	root = n <= PX_ACCT_ANSWER_MAX ? json_parse(&ar, body, n, 0, NULL) :
	    NULL;
	if (root != NULL && root->type != JSON_OBJECT)
		root = NULL;
	if (root != NULL) {
		if (tx->token_field[0])
			json_str(json_get(root, tx->token_field), &s, &sn);
		else if (!json_str(json_get(root, "access_token"), &s, &sn))
			json_str(json_get(root, "token"), &s, &sn);
	}
	if (status < 200 || status > 299 || root == NULL || s == NULL ||
	    sn == 0) {
		if (root)
			answer_error(root, res);
		fail_verdict(res, status >= 200 && status <= 299 ? 502 : status,
		    "no token in the answer");
		goto done;
	}
	if (px_acct_set(tok, s, sn) < 0) {
		snprintf(res->msg, sizeof res->msg, "out of memory");
		goto done;
	}
	if (get_num(root, "expires_in", &v) && v > 0 && v < 10LL * 365 * 86400)
		*expires = now + v * 1000;
	else if ((*expires = px_jwt_exp(px_jwt_payload(&ar, *tok,
	    strlen(*tok)))) == 0)
		*expires = now + tx->ttl_s * 1000;
	res->v = PX_TOK_OK;
done:
	px_arena_free(&ar);
}

/* ------------------------------------------------------------ quota */

/* "37s", "1.5s", "200ms" -> ms, or -1 */
static long long
delay_ms(const char *s, size_t n)
{
	double v = 0, f = 0.1;
	size_t i = 0;
	int digits = 0;

	while (i < n && isdigit((unsigned char)s[i])) {
		v = v * 10 + (s[i++] - '0');
		digits++;
	}
	if (i < n && s[i] == '.')
		for (i++; i < n && isdigit((unsigned char)s[i]); i++, f /= 10)
			v += (s[i] - '0') * f;
	if (!digits || v > 1e9)
		return -1;
	if (i + 2 == n && s[i] == 'm' && s[i + 1] == 's')
		return (long long)v;
	if (i + 1 == n && s[i] == 's')
		return (long long)(v * 1000 + 0.5);
	return -1;
}

/* see account.h */
long long
px_acct_quota_reset(enum px_acct_kind k, int status, const char *body,
    size_t n, long long now)
{
	struct px_arena ar;
	struct json *root;
	const struct json *e, *d;
	const char *s, *t;
	size_t sn, tn;
	long long v, at = -1;

	if (status != 429 || n > PX_ACCT_ANSWER_MAX)
		return -1;
	px_arena_init(&ar, 8 * PX_ACCT_ANSWER_MAX);
	root = json_parse(&ar, body, n, 0, NULL);
	e = json_get(root, "error");
	if (e == NULL || e->type != JSON_OBJECT)
		goto done;
	if (k == PX_ACCT_CODEX) {
		if (get_num(e, "resets_at", &v) && v > 0 && v < 1e11)
			at = v * 1000;
		else if (get_num(e, "resets_in_seconds", &v) && v >= 0 &&
		    v < 1e9)
			at = now + v * 1000;
	} else if (k == PX_ACCT_GEMINI) {
		for (d = json_get(e, "details") ? json_get(e, "details")->child :
		    NULL; d; d = d->next) {
			t = json_get_str(d, "@type", &tn);
			s = json_get_str(d, "retryDelay", &sn);
			if (t && s && tn >= 9 &&
			    memcmp(t + tn - 9, "RetryInfo", 9) == 0 &&
			    (v = delay_ms(s, sn)) >= 0) {
				at = now + v;
				break;
			}
		}
	}
done:
	px_arena_free(&ar);
	return at;
}
