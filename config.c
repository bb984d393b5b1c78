/*
 * config.c - load the JSON config (or the environment) into struct px_config.
 *
 * The file is parsed once with json_parse(JSON_F_COMMENTS) into a temporary
 * arena; every value is checked and copied into the config's own arena,
 * with each array sized to its content (the #ifndef caps of config.h bound
 * them), and the temporary arena is freed. Nothing in the result points into
 * the file text, so a loaded config is self-contained, a few KB plus its
 * content, and several can live at once during a hot reload.
 *
 * Errors are "file:line: message". The line comes from the offending value's
 * raw pointer (json keeps the source bytes of every value), so a typo is
 * reported where it is, not where parsing gave up. Unknown keys and duplicate
 * keys are errors at every level: a misspelt "timeouts" silently falling back
 * to defaults is worse than refusing to start. The parser does not stop at
 * the first error: each key, provider, credential, header and route is
 * checked on its own, so one run of check-config lists every unset variable
 * and every bad route. A provider with an error still registers its name, so
 * routes naming it do not add a second, misleading "unknown provider".
 *
 * Routes keep file order. px_route_find() tries exact patterns first and then
 * the wildcard patterns in file order, so "gpt-4o" wins over "gpt-*" wherever
 * either is written, and among wildcards the first written wins. A route's
 * targets are its fallback chain (route.c walks it).
 *
 * Secrets: "env:NAME" is resolved at load time; the values live only in
 * px_cred.secret and header values, and are never printed. A credential is
 * known elsewhere by its label and by an id (SHA-256 of the provider name and
 * the secret) that lets runtime state follow it across reloads. Base URLs
 * with user info are refused, and printed with the password masked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "config.h"
#include "route.h"
#include "keys.h"
#include "usage.h"
#include "json.h"

#ifndef PX_CONFIG_FILE_MAX
#define PX_CONFIG_FILE_MAX (4u * 1024 * 1024)   /* bytes of config file */
#endif
#ifndef PX_CONFIG_MEM_MAX
#define PX_CONFIG_MEM_MAX  (64u * 1024 * 1024)  /* a loaded config's arena */
#endif
#ifndef PX_SECRET_MAX
#define PX_SECRET_MAX      4095                 /* bytes of one secret */
#endif
#ifndef PX_MODEL_NAME_MAX
#define PX_MODEL_NAME_MAX  255                  /* route patterns, models */
#endif

/* Provider types: name in the config, kind, wire format, default base URL
 * (NULL: base_url is required). */
static const struct {
	const char *type;
	enum px_ptype kind;
	enum px_fmt fmt;
	const char *url;
} ptypes[] = {
	{ "openai", PX_PT_OPENAI, PX_FMT_CHAT, "https://api.openai.com/v1" },
	{ "openai-responses", PX_PT_OPENAI_RESPONSES, PX_FMT_RESPONSES,
	  "https://api.openai.com/v1" },
	{ "anthropic", PX_PT_ANTHROPIC, PX_FMT_ANTHROPIC,
	  "https://api.anthropic.com" },
	{ "gemini", PX_PT_GEMINI, PX_FMT_GEMINI,
	  "https://generativelanguage.googleapis.com/v1beta" },
	{ "azure", PX_PT_AZURE, PX_FMT_CHAT, NULL },
	{ "exec", PX_PT_EXEC, PX_FMT_CLI, NULL },
	{ "claude-account", PX_PT_CLAUDE_ACCOUNT, PX_FMT_ANTHROPIC,
	  "https://api.anthropic.com" },
	{ "codex-account", PX_PT_CODEX_ACCOUNT, PX_FMT_RESPONSES,
	  "https://chatgpt.com/backend-api/codex" },
	{ "gemini-account", PX_PT_GEMINI_ACCOUNT, PX_FMT_GEMINI,
	  "https://cloudcode-pa.googleapis.com" },
	{ "copilot-account", PX_PT_COPILOT_ACCOUNT, PX_FMT_CHAT,
	  "https://api.githubcopilot.com" },
};
#define NPTYPES (sizeof ptypes / sizeof ptypes[0])
#define PTYPE_LIST "openai, openai-responses, anthropic, gemini, azure, " \
    "exec, claude-account, codex-account, gemini-account or copilot-account"
#define IS_ACCOUNT(p) ((p)->kind >= PX_PT_CLAUDE_ACCOUNT)

#define ANTHROPIC_VERSION_DEFAULT "2023-06-01"

/* Parsing context: where messages point, where results go. */
struct ctx {
	const char *name;         /* file name for messages; NULL: environment */
	const char *text;         /* file bytes (json raw pointers index it) */
	size_t len;
	struct px_config *c;
	const char *lp;           /* line cache: line_of(lp) == ll */
	int ll;
	int ncreds;               /* credentials so far (PX_MAX_CREDS_TOTAL) */
	int oom;
};

/* 1-based line of p inside the text, 0 when p is not in it. Values are
 * mostly asked for in file order: count on from the last answer. */
static int
line_of(struct ctx *x, const char *p)
{
	const char *q;
	int line = 1;

	if (p == NULL || x->text == NULL || p < x->text || p > x->text + x->len)
		return 0;
	q = x->text;
	if (x->lp != NULL && x->lp <= p) {
		q = x->lp;
		line = x->ll;
	}
	for (; q < p; q++)
		if (*q == '\n')
			line++;
	x->lp = p;
	x->ll = line;
	return line;
}

/* Keep one message. The first PX_CONFIG_MAX_ERRORS are stored; all count. */
static void
add_error(struct px_config *c, const char *msg)
{
	const char *s;

	if (c->nerrors < PX_CONFIG_MAX_ERRORS) {
		s = px_arena_strndup(&c->arena, msg, strlen(msg));
		c->errors[c->nerrors] = s ? s : "(message lost: out of memory)";
	}
	c->nerrors++;
}

/* Record "name:line: message" (or "name: message" without a position, or
 * the message alone in environment mode). Returns -1. */
static int
failp(struct ctx *x, const char *at, const char *fmt, ...)
{
	char msg[768], full[1024];
	va_list ap;
	int line = line_of(x, at);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (x->name == NULL)
		snprintf(full, sizeof full, "%s", msg);
	else if (line > 0)
		snprintf(full, sizeof full, "%s:%d: %s", x->name, line, msg);
	else
		snprintf(full, sizeof full, "%s: %s", x->name, msg);
	add_error(x->c, full);
	return -1;
}

/* Same, positioned at value v. */
#define FAIL(x, v, ...) failp((x), (v) ? (v)->raw : NULL, __VA_ARGS__)

/*
 * Every stored message into err, one per line, whole lines only; when some
 * do not fit (or were not stored) the last line says how many are missing.
 */
static void
join_errors(const struct px_config *c, char *err, size_t cap)
{
	size_t len = 0, n, need, reserve;
	int i, shown = c->nerrors < PX_CONFIG_MAX_ERRORS ? c->nerrors :
	    PX_CONFIG_MAX_ERRORS;
	char more[48];

	if (err == NULL || cap == 0)
		return;
	err[0] = 0;
	for (i = 0; i < shown; i++) {
		n = strlen(c->errors[i]);
		need = len + (len > 0) + n;
		reserve = i + 1 < c->nerrors ? 24 : 0;
		if (need + reserve >= cap && i == 0 && cap > reserve + 16) {
			/* the first message always shows, cut to fit: at a
			 * character boundary, marked with "..." */
			n = cap - reserve - 4;
			while (n > 0 && ((unsigned char)c->errors[0][n] &
			    0xc0) == 0x80)
				n--;
			memcpy(err, c->errors[0], n);
			memcpy(err + n, "...", 4);
			len = n + 3;
			i++;
			break;
		}
		if (need + reserve >= cap)
			break;
		if (len > 0)
			err[len++] = '\n';
		memcpy(err + len, c->errors[i], n + 1);
		len += n;
	}
	if (i < c->nerrors) {
		snprintf(more, sizeof more, "%s(%d more error%s)",
		    len > 0 ? "\n" : "", c->nerrors - i,
		    c->nerrors - i == 1 ? "" : "s");
		if (len + strlen(more) < cap)
			memcpy(err + len, more, strlen(more) + 1);
	}
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

/* ------------------------------------------------------------ memory */

static void *
zalloc(struct ctx *x, size_t n)
{
	void *p = px_arena_alloc(&x->c->arena, n);

	if (p == NULL) {
		if (!x->oom)
			failp(x, NULL, "out of memory");
		x->oom = 1;
		return NULL;
	}
	memset(p, 0, n);
	return p;
}

static const char *
sdup(struct ctx *x, const char *s, size_t n)
{
	char *d = px_arena_strndup(&x->c->arena, s, n);

	if (d == NULL) {
		if (!x->oom)
			failp(x, NULL, "out of memory");
		x->oom = 1;
	}
	return d;
}

/* ------------------------------------------------------------ value helpers */

/*
 * String value into dst[cap]. `what` names the field in messages; `pre` is a
 * context prefix such as `provider "oai": `. Embedded NULs (\u0000) are
 * rejected: every field ends up in a C string.
 */
static int
get_str(struct ctx *x, const struct json *v, const char *pre,
    const char *what, char *dst, size_t cap)
{
	const char *s;
	size_t n;

	if (!json_str(v, &s, &n))
		return FAIL(x, v, "%s\"%s\" must be a string", pre, what);
	if (memchr(s, 0, n) != NULL || has_ctl(s, n))
		return FAIL(x, v, "%s\"%s\" contains control characters",
		    pre, what);
	if (n >= cap)
		return FAIL(x, v, "%s\"%s\" is too long (max %zu bytes)", pre,
		    what, cap - 1);
	memcpy(dst, s, n);
	dst[n] = 0;
	return 0;
}

/* Same, into the config's arena: a non-empty string of at most max bytes. */
static int
get_sdup(struct ctx *x, const struct json *v, const char *pre,
    const char *what, size_t max, const char **out)
{
	const char *s;
	size_t n;

	if (!json_str(v, &s, &n))
		return FAIL(x, v, "%s\"%s\" must be a string", pre, what);
	if (n == 0)
		return FAIL(x, v, "%s\"%s\" is empty", pre, what);
	if (memchr(s, 0, n) != NULL || has_ctl(s, n))
		return FAIL(x, v, "%s\"%s\" contains control characters",
		    pre, what);
	if (n > max)
		return FAIL(x, v, "%s\"%s\" is too long (max %zu bytes)", pre,
		    what, max);
	if ((*out = sdup(x, s, n)) == NULL)
		return -1;
	return 0;
}

#define SEC_EMPTY 1            /* a literal "" is accepted (api_key "") */
#define SEC_TAB   2            /* HTAB allowed (header field values) */

/* Control characters, with HTAB allowed when tab_ok. */
static int
has_ctl2(const char *s, size_t n, int tab_ok)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] < 0x20 && !(tab_ok && s[i] == '\t')) ||
		    s[i] == 0x7f)
			return 1;
	return 0;
}

/*
 * A secret: a literal, or "env:NAME" read from the environment now. An
 * unset or empty variable is an error naming the variable, never a value.
 * flags: SEC_EMPTY, SEC_TAB.
 */
static int
get_secret(struct ctx *x, const struct json *v, const char *pre,
    const char *what, int flags, const char **out)
{
	const char *s, *ev;
	size_t n;
	int tab = (flags & SEC_TAB) != 0;

	if (!json_str(v, &s, &n))
		return FAIL(x, v, "%s\"%s\" must be a string", pre, what);
	if (memchr(s, 0, n) != NULL || has_ctl2(s, n, tab))
		return FAIL(x, v, "%s\"%s\" contains control characters",
		    pre, what);
	if (n >= 4 && memcmp(s, "env:", 4) == 0) {
		if (n == 4)
			return FAIL(x, v, "%s\"%s\": \"env:\" needs a variable "
			    "name", pre, what);
		ev = getenv(s + 4);
		if (ev == NULL || *ev == 0)
			return FAIL(x, v, "%senvironment variable %s is not set",
			    pre, s + 4);
		if (has_ctl2(ev, strlen(ev), tab))
			return FAIL(x, v, "%senvironment variable %s contains "
			    "control characters", pre, s + 4);
		if (strlen(ev) > PX_SECRET_MAX)
			return FAIL(x, v, "%senvironment variable %s is too long "
			    "(max %d bytes)", pre, s + 4, PX_SECRET_MAX);
		s = ev;
		n = strlen(ev);
	} else if (n == 0 && !(flags & SEC_EMPTY)) {
		return FAIL(x, v, "%s\"%s\" is empty", pre, what);
	} else if (n > PX_SECRET_MAX) {
		return FAIL(x, v, "%s\"%s\" is too long (max %d bytes)", pre,
		    what, PX_SECRET_MAX);
	}
	if ((*out = sdup(x, s, n)) == NULL)
		return -1;
	return 0;
}

static int
get_posint(struct ctx *x, const struct json *v, const char *what,
    long long max, long long *out)
{
	long long ll = 0;

	if (!json_int(v, &ll) || ll <= 0 || ll > max)
		return FAIL(x, v, "\"%s\" must be a positive integer", what);
	*out = ll;
	return 0;
}

static int
get_nonneg(struct ctx *x, const struct json *v, const char *what,
    long long max, long long *out)
{
	long long ll = 0;

	if (!json_int(v, &ll) || ll < 0 || ll > max)
		return FAIL(x, v, "\"%s\" must be a non-negative integer", what);
	*out = ll;
	return 0;
}

static int
get_bool(struct ctx *x, const struct json *v, const char *what, int *out)
{
	if (!json_bool(v, out))
		return FAIL(x, v, "\"%s\" must be true or false", what);
	return 0;
}

/*
 * Every member of obj must be one of allowed[] (NULL-terminated) and appear
 * once. `where` completes the message, e.g. ` in "limits"`. Reports every
 * offending member; returns -1 if there was any.
 */
static int
check_keys(struct ctx *x, const struct json *obj,
    const char *const *allowed, const char *where)
{
	const struct json *m, *p;
	size_t i;
	int rc = 0;

	for (m = obj->child; m != NULL; m = m->next) {
		for (i = 0; allowed[i] != NULL; i++)
			if (json_eq(m->key, m->keylen, allowed[i]))
				break;
		if (allowed[i] == NULL) {
			rc = FAIL(x, m, "unknown key \"%s\"%s", m->key, where);
			continue;
		}
		for (p = obj->child; p != m; p = p->next)
			if (p->keylen == m->keylen &&
			    memcmp(p->key, m->key, m->keylen) == 0) {
				rc = FAIL(x, m, "duplicate key \"%s\"%s",
				    m->key, where);
				break;
			}
	}
	return rc;
}

/* ------------------------------------------------------------ addresses */

static int
parse_port(const char *s, size_t n, int allow_zero)
{
	size_t i;
	long v = 0;

	if (n == 0 || n > 5)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v > 65535 || (v == 0 && !allow_zero))
		return -1;
	return (int)v;
}

/*
 * Split "host:port" / "[v6]:port" / "host" into host (no brackets) and port.
 * Returns 0, or -1 when the shape is wrong. port is "" when absent.
 */
static int
split_hostport(const char *s, char *host, size_t hcap, const char **port)
{
	const char *colon, *end;
	size_t hn;

	*port = "";
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end == NULL)
			return -1;
		hn = (size_t)(end - s - 1);
		if (end[1] == ':')
			*port = end + 2;
		else if (end[1] != 0)
			return -1;
		s++;
	} else {
		colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			return -1;                /* bare IPv6: needs [] */
		hn = colon ? (size_t)(colon - s) : strlen(s);
		if (colon)
			*port = colon + 1;
	}
	if (hn >= hcap)
		return -1;
	memcpy(host, s, hn);
	host[hn] = 0;
	return 0;
}

static int
hostname_ok(const char *s)
{
	if (*s == 0)
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
			return 0;
	}
	return 1;
}

static void
set_msg(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* see config.h */
int
px_listen_normalize(const char *arg, char *out, size_t cap, char *err,
    size_t errcap)
{
	char host[256], v6[16];
	const char *port;
	size_t n = arg ? strlen(arg) : 0;
	int i, digits = n > 0;

	if (n == 0) {
		set_msg(err, errcap, "empty listen address (use HOST:PORT, "
		    ":PORT for all interfaces or PORT for 127.0.0.1)");
		return -1;
	}
	if (n > 120 || has_ctl(arg, n)) {
		set_msg(err, errcap, "listen address is too long or contains "
		    "control characters");
		return -1;
	}
	for (i = 0; arg[i]; i++)
		if (arg[i] < '0' || arg[i] > '9')
			digits = 0;
	if (digits) {
		if (parse_port(arg, n, 1) < 0)
			goto badport;
		if ((size_t)snprintf(out, cap, "127.0.0.1:%s", arg) >= cap)
			goto toolong;
		return 0;
	}
	if (arg[0] != '[' && strchr(arg, ':') != NULL &&
	    strchr(strchr(arg, ':') + 1, ':') != NULL) {
		set_msg(err, errcap, "listen address \"%s\": IPv6 addresses "
		    "need brackets, e.g. [::1]:8080", arg);
		return -1;
	}
	if (arg[0] == ':') {
		if (parse_port(arg + 1, n - 1, 1) < 0)
			goto badport;
		if ((size_t)snprintf(out, cap, "0.0.0.0%s", arg) >= cap)
			goto toolong;
		return 0;
	}
	if (arg[0] == '[' && strchr(arg, ']') == NULL) {
		set_msg(err, errcap, "listen address \"%s\": unterminated "
		    "[IPv6 address]", arg);
		return -1;
	}
	if (split_hostport(arg, host, sizeof host, &port) < 0)
		goto badport;
	if (*port == 0) {
		set_msg(err, errcap, "listen address \"%s\": missing port (use "
		    "HOST:PORT, :PORT for all interfaces or PORT for "
		    "127.0.0.1)", arg);
		return -1;
	}
	if (parse_port(port, strlen(port), 1) < 0)
		goto badport;
	if (arg[0] == '[' ? inet_pton(AF_INET6, host, v6) != 1 :
	    !hostname_ok(host)) {
		set_msg(err, errcap, "listen address \"%s\": bad host \"%s\"",
		    arg, host);
		return -1;
	}
	if (n >= cap)
		goto toolong;
	memcpy(out, arg, n + 1);
	return 0;
badport:
	set_msg(err, errcap, "listen address \"%s\": bad port (a number from 0 "
	    "to 65535)", arg);
	return -1;
toolong:
	set_msg(err, errcap, "listen address \"%s\" is too long", arg);
	return -1;
}

/* see config.h */
int
px_listen_is_loopback(const char *listen)
{
	char host[256];
	const char *port;

	if (listen == NULL || split_hostport(listen, host, sizeof host,
	    &port) < 0)
		return 0;
	return px_host_is_loopback(host);
}

/* see config.h */
int
px_host_is_loopback(const char *host)
{
	unsigned char a[16];
	static const unsigned char v4mapped[12] =
	    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	size_t i;

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, host, a) == 1) {
		if (memcmp(a, v4mapped, 12) == 0)
			return a[12] == 127;
		for (i = 0; i < 15; i++)
			if (a[i] != 0)
				return 0;
		return a[15] == 1;
	}
	return 0;
}

/* see config.h */
char *
px_redact_url(const char *url, char *buf, size_t cap)
{
	const char *a, *end, *at, *colon, *q;
	size_t n;

	if (cap == 0)
		return buf;
	if (url == NULL) {
		buf[0] = 0;
		return buf;
	}
	a = strstr(url, "://");
	a = a ? a + 3 : url;
	end = a + strcspn(a, "/?#");
	at = NULL;
	for (q = a; q < end; q++)
		if (*q == '@')
			at = q;                  /* the last '@' ends user info */
	if (at == NULL) {
		snprintf(buf, cap, "%s", url);
		return buf;
	}
	colon = memchr(a, ':', (size_t)(at - a));
	n = colon ? (size_t)(colon + 1 - url) : (size_t)(a - url);
	snprintf(buf, cap, "%.*s***%s", (int)n, url, at);
	return buf;
}

/*
 * Parse base_url into p->tls/host/port/base_path/base_url (arena strings;
 * the URL stored without the trailing '/'). Returns NULL, or a static
 * reason.
 */
static const char *
parse_base_url(struct ctx *x, struct px_provider *p, const char *url)
{
	const char *rest, *auth_end, *hs, *he, *port = NULL, *close;
	size_t n = strlen(url), an, pn;
	unsigned char a[16];
	char tmp[256];
	int v;

	if (n > 1024)
		return "too long";
	if (has_ctl(url, n) || strchr(url, ' ') != NULL)
		return "contains spaces or control characters";
	if (strncasecmp(url, "https://", 8) == 0) {
		p->tls = 1;
		rest = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		p->tls = 0;
		rest = url + 7;
	} else
		return "scheme must be http:// or https://";
	auth_end = rest + strcspn(rest, "/?#");
	an = (size_t)(auth_end - rest);
	/* Userinfo would be a second credential scheme that logs and error
	 * messages print by accident: refused, and masked when echoed. */
	if (memchr(rest, '@', an) != NULL)
		return "user info (user:password@) is not supported; put the "
		    "key in \"api_key\" or a header in \"headers\"";
	if (strpbrk(rest, "?#") != NULL)
		return "query or fragment not allowed";
	if (an > 0 && rest[0] == '[') {
		/* RFC 3986 IP-literal; stored without brackets for getaddrinfo */
		close = memchr(rest, ']', an);
		if (close == NULL)
			return "unterminated [IPv6 address]";
		hs = rest + 1;
		he = close;
		if (close + 1 < auth_end) {
			if (close[1] != ':')
				return "bad port";
			port = close + 2;
		}
		if ((size_t)(he - hs) >= sizeof tmp)
			return "host too long";
		memcpy(tmp, hs, (size_t)(he - hs));
		tmp[he - hs] = 0;
		if (inet_pton(AF_INET6, tmp, a) != 1)
			return "bad IPv6 address";
	} else {
		hs = rest;
		he = memchr(rest, ':', an);
		if (he != NULL) {
			port = he + 1;
			if (memchr(port, ':', (size_t)(auth_end - port)) != NULL)
				return "IPv6 address must be in [brackets]";
		} else
			he = auth_end;
		for (close = hs; close < he; close++) {
			unsigned char c = (unsigned char)*close;
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			    c == '_'))
				return "bad host name";
		}
	}
	if (he == hs)
		return "missing host";
	if ((size_t)(he - hs) >= 256)
		return "host too long";
	if (port != NULL) {
		v = parse_port(port, (size_t)(auth_end - port), 0);
		if (v < 0)
			return "bad port";
		snprintf(p->port, sizeof p->port, "%hu", (unsigned short)v);
	} else
		snprintf(p->port, sizeof p->port, "%s", p->tls ? "443" : "80");
	while (n > 0 && url[n - 1] == '/' && url + n > auth_end)
		n--;
	pn = (size_t)(url + n - auth_end);
	if (pn >= 512)
		return "path too long";
	if ((p->host = sdup(x, hs, (size_t)(he - hs))) == NULL ||
	    (p->base_path = sdup(x, auth_end, pn)) == NULL ||
	    (p->base_url = sdup(x, url, n)) == NULL)
		return "out of memory";
	return NULL;
}

/* ------------------------------------------------------------ providers */

static int
find_provider(const struct px_config *c, const char *name, size_t n)
{
	int i;

	for (i = 0; i < c->nproviders; i++)
		if (strlen(c->providers[i].name) == n &&
		    memcmp(c->providers[i].name, name, n) == 0)
			return i;
	return -1;
}

static int
ptype_find(const char *type)
{
	size_t i;

	for (i = 0; i < NPTYPES; i++)
		if (strcmp(ptypes[i].type, type) == 0)
			return (int)i;
	return -1;
}

/* Names appear in routes as "name/model": no '/', no spaces. */
static int
name_ok(const char *s)
{
	if (*s == 0)
		return 0;
	for (; *s; s++)
		if (*s == '/' || *s == ' ' || *s == '*')
			return 0;
	return 1;
}

/* Set type-dependent fields of p; ti indexes ptypes. */
static void
provider_init(struct px_provider *p, const char *name, int ti)
{
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	snprintf(p->type, sizeof p->type, "%s", ptypes[ti].type);
	p->kind = ptypes[ti].kind;
	p->fmt = ptypes[ti].fmt;
	snprintf(p->anthropic_version, sizeof p->anthropic_version, "%s",
	    ANTHROPIC_VERSION_DEFAULT);
	p->base_url = p->host = p->base_path = p->api_key = "";
	p->api_version = "";
	p->health_interval_s = PX_HEALTH_INTERVAL_S;
}

/* SHA-256 over parts separated by NULs. */
static void
hash_parts(unsigned char out[32], const char *a, const char *b,
    const char *c)
{
	char buf[PX_SECRET_MAX + 1100];
	size_t n = 0, k;
	const char *parts[3];
	int i;

	parts[0] = a;
	parts[1] = b;
	parts[2] = c;
	for (i = 0; i < 3 && parts[i] != NULL; i++) {
		k = strlen(parts[i]);
		if (n + k + 1 > sizeof buf)
			k = sizeof buf - n - 1;
		memcpy(buf + n, parts[i], k);
		n += k;
		buf[n++] = 0;
	}
	auth_sha256(buf, n, out);
}

/* Identity of a credential: provider name and secret. */
static void
cred_id(struct px_cred *k, const char *provider, const char *secret)
{
	hash_parts(k->id, provider, secret, NULL);
}

/*
 * An OpenAI provider can serve some models through the other OpenAI API:
 * "responses_models" on an openai (or azure) provider (say, models only
 * offered on /v1/responses), "chat_models" on an openai-responses one.
 */
static int
parse_api_models(struct ctx *x, struct px_provider *p,
    const struct json *o, const char *pre)
{
	const char *key = p->fmt == PX_FMT_CHAT ? "responses_models" :
	    "chat_models";
	const char *other = p->fmt == PX_FMT_CHAT ? "chat_models" :
	    "responses_models";
	const struct json *v, *e;
	const char *s;
	size_t n;
	int rc = 0;

	if ((v = json_get(o, other)) != NULL)
		rc = FAIL(x, v, "%s\"%s\" does not apply to type %s%s", pre,
		    other, p->type, p->fmt == PX_FMT_CHAT ||
		    p->fmt == PX_FMT_RESPONSES ? " (it is the default API)" :
		    " (only OpenAI providers have two APIs)");
	if ((v = json_get(o, key)) == NULL)
		return rc;
	if ((p->fmt != PX_FMT_CHAT && p->fmt != PX_FMT_RESPONSES) ||
	    p->kind == PX_PT_CODEX_ACCOUNT)
		return FAIL(x, v, "%s\"%s\" does not apply to type %s (only "
		    "OpenAI providers have two APIs)", pre, key, p->type);
	if (v->type != JSON_ARRAY)
		return FAIL(x, v, "%s\"%s\" must be a list of model names",
		    pre, key);
	if (v->len > PX_MAX_API_MODELS)
		return FAIL(x, v, "%s\"%s\": too many entries (max %d)", pre,
		    key, PX_MAX_API_MODELS);
	if ((p->api_models = zalloc(x, (v->len + 1) * sizeof *p->api_models))
	    == NULL)
		return -1;
	for (e = v->child; e != NULL; e = e->next) {
		if (!json_str(e, &s, &n) || n == 0) {
			rc = FAIL(x, e, "%s\"%s\": each entry must be a "
			    "non-empty string", pre, key);
			continue;
		}
		if (n > 127 || has_ctl(s, n) || memchr(s, 0, n) != NULL) {
			rc = FAIL(x, e, "%s\"%s\": bad model name (max 127 "
			    "bytes, no control characters)", pre, key);
			continue;
		}
		if ((p->api_models[p->napi_models] = sdup(x, s, n)) == NULL)
			return -1;
		p->napi_models++;
	}
	return rc;
}

/* A credential name: printable, no spaces, quotes or backslashes (it
 * appears in logs, metrics labels and JSON). */
static int
label_ok(const char *s)
{
	if (*s == 0)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '"' || *s == '\\' ||
		    (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

/* One "api_keys" entry into k; i is its index. */
static int
parse_cred(struct ctx *x, struct px_provider *p, const struct json *e,
    int i, struct px_cred *k)
{
	static const char *const keys[] = { "name", "key", NULL };
	const struct json *nv, *kv;
	char pre[160], where[128];
	const char *s;
	size_t n;

	snprintf(pre, sizeof pre, "provider \"%s\": api_keys[%d]: ", p->name,
	    i);
	snprintf(k->label, sizeof k->label, "%s#%d", p->name, i + 1);
	if (json_str(e, &s, &n)) {
		if (get_secret(x, e, pre, "key", 0, &k->secret) < 0)
			return -1;
		return 0;
	}
	if (e->type != JSON_OBJECT)
		return FAIL(x, e, "%smust be a key string or {\"name\", "
		    "\"key\"}", pre);
	snprintf(where, sizeof where, " in provider \"%s\" api_keys[%d]",
	    p->name, i);
	if (check_keys(x, e, keys, where) < 0)
		return -1;
	if ((nv = json_get(e, "name")) == NULL)
		return FAIL(x, e, "%smissing \"name\"", pre);
	if (get_str(x, nv, pre, "name", k->label, sizeof k->label) < 0)
		return -1;
	if (!label_ok(k->label))
		return FAIL(x, nv, "%sbad name \"%s\" (printable, without "
		    "spaces, quotes or backslashes)", pre, k->label);
	if ((kv = json_get(e, "key")) == NULL)
		return FAIL(x, e, "%smissing \"key\"", pre);
	return get_secret(x, kv, pre, "key", 0, &k->secret);
}

static int token_ok(const char *s, size_t n);

/* A URL the proxy itself requests (token endpoints): http(s), a host,
 * no user info, no control characters or spaces. */
static int
url_ok(const char *s)
{
	const char *h;
	size_t i;

	if (strncmp(s, "https://", 8) == 0)
		h = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		h = s + 7;
	else
		return 0;
	if (*h == 0 || *h == '/' || strchr(h, '@') != NULL)
		return 0;
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return 0;
	return 1;
}

/*
 * "token_exchange": {"url", "token", "format", "fields", "token_field",
 * "ttl_s", "header", "name"}: one credential whose access token is
 * exchanged for at run time (account.h, px_tx_request).
 */
static int
parse_tx(struct ctx *x, struct px_provider *p, const struct json *o,
    const char *pre)
{
	static const char *const keys[] = { "url", "token", "format",
	    "fields", "token_field", "ttl_s", "header", "name", NULL };
	struct px_token_exchange *tx;
	const struct json *v, *e;
	struct px_cred *k;
	char where[128], buf[1100];
	const char *s;
	size_t n;
	long long ll = 0;
	int rc = 0;

	if (o->type != JSON_OBJECT)
		return FAIL(x, o, "%s\"token_exchange\" must be an object", pre);
	snprintf(where, sizeof where, " in provider \"%s\" token_exchange",
	    p->name);
	if (check_keys(x, o, keys, where) < 0)
		rc = -1;
	if ((tx = zalloc(x, sizeof *tx)) == NULL ||
	    (p->creds = zalloc(x, sizeof *p->creds)) == NULL)
		return -1;
	p->tx = tx;
	p->ncreds = 1;
	k = &p->creds[0];
	k->secret = "";
	k->src = PX_CRED_EXCHANGE;
	snprintf(k->label, sizeof k->label, "%s#1", p->name);
	tx->url = tx->token = tx->token_field = tx->header = "";
	tx->ttl_s = 3600;
	if ((v = json_get(o, "url")) == NULL)
		rc = FAIL(x, o, "%stoken_exchange needs a \"url\"", pre);
	else if (get_str(x, v, pre, "token_exchange.url", buf, sizeof buf) < 0)
		rc = -1;
	else if (!url_ok(buf))
		rc = FAIL(x, v, "%stoken_exchange: bad url (http or https, a "
		    "host, no user info)", pre);
	else if ((tx->url = sdup(x, buf, strlen(buf))) == NULL)
		return -1;
	if ((v = json_get(o, "token")) == NULL)
		rc = FAIL(x, o, "%stoken_exchange needs a \"token\" (the "
		    "long-lived token, or \"env:NAME\")", pre);
	else if (get_secret(x, v, pre, "token_exchange.token", 0,
	    &tx->token) < 0) {
		tx->token = "";
		rc = -1;
	}
	if ((v = json_get(o, "format")) != NULL) {
		if (json_str(v, &s, &n) && json_eq(s, n, "json"))
			tx->json = 1;
		else if (!json_str(v, &s, &n) || !json_eq(s, n, "form"))
			rc = FAIL(x, v, "%stoken_exchange \"format\" must be "
			    "\"form\" or \"json\"", pre);
	}
	if ((v = json_get(o, "fields")) != NULL) {
		if (v->type != JSON_OBJECT || v->len == 0)
			rc = FAIL(x, v, "%stoken_exchange \"fields\" must be a "
			    "non-empty object of strings", pre);
		else if (v->len > PX_TX_FIELDS_MAX)
			rc = FAIL(x, v, "%stoken_exchange: too many fields (max "
			    "%d)", pre, PX_TX_FIELDS_MAX);
		else
			for (e = v->child; e != NULL; e = e->next) {
				if (!json_str(e, &s, &n) || has_ctl(s, n) ||
				    memchr(s, 0, n) != NULL || e->keylen == 0) {
					rc = FAIL(x, e, "%stoken_exchange field "
					    "\"%s\" must be a string", pre,
					    e->key);
					continue;
				}
				tx->names[tx->nfields] = sdup(x, e->key,
				    e->keylen);
				tx->values[tx->nfields] = sdup(x, s, n);
				if (!tx->names[tx->nfields] ||
				    !tx->values[tx->nfields])
					return -1;
				tx->nfields++;
			}
	} else {
		/* RFC 6749 section 6: the token is a refresh token */
		tx->names[0] = "grant_type";
		tx->values[0] = "refresh_token";
		tx->names[1] = "refresh_token";
		tx->values[1] = "{token}";
		tx->nfields = 2;
	}
	if ((v = json_get(o, "token_field")) != NULL &&
	    get_sdup(x, v, pre, "token_exchange.token_field", 128,
	    &tx->token_field) < 0)
		rc = -1;
	if ((v = json_get(o, "ttl_s")) != NULL) {
		if (get_posint(x, v, "token_exchange.ttl_s", 86400 * 365,
		    &ll) < 0)
			rc = -1;
		else
			tx->ttl_s = ll;
	}
	if ((v = json_get(o, "header")) != NULL) {
		if (get_sdup(x, v, pre, "token_exchange.header", 64,
		    &tx->header) < 0)
			rc = -1;
		else if (!token_ok(tx->header, strlen(tx->header)))
			rc = FAIL(x, v, "%stoken_exchange \"header\" is not a "
			    "header name", pre);
	}
	if ((v = json_get(o, "name")) != NULL) {
		if (get_str(x, v, pre, "token_exchange.name", k->label,
		    sizeof k->label) < 0)
			rc = -1;
		else if (!label_ok(k->label))
			rc = FAIL(x, v, "%sbad name \"%s\" (printable, without "
			    "spaces, quotes or backslashes)", pre, k->label);
	}
	hash_parts(k->id, p->name, tx->url, tx->token);
	p->api_key = "";
	return rc;
}

/* "accounts": the labels of the stored accounts an account provider uses. */
static int
parse_acct_labels(struct ctx *x, struct px_provider *p, const struct json *v,
    const char *pre)
{
	const struct json *e, *f;
	const char *s;
	size_t n;
	int rc = 0;

	if (v->type != JSON_ARRAY || v->len == 0)
		return FAIL(x, v, "%s\"accounts\" must be a non-empty list of "
		    "account labels (leave it out to use every account of the "
		    "kind)", pre);
	if (v->len > PX_MAX_CREDS)
		return FAIL(x, v, "%stoo many accounts (max %d)", pre,
		    PX_MAX_CREDS);
	if ((p->acct_labels = zalloc(x, v->len * sizeof *p->acct_labels)) ==
	    NULL)
		return -1;
	for (e = v->child; e != NULL; e = e->next) {
		if (!json_str(e, &s, &n) || n == 0 || n >= PX_LABEL_MAX ||
		    memchr(s, 0, n) != NULL || has_ctl(s, n)) {
			rc = FAIL(x, e, "%s\"accounts\": each entry must be an "
			    "account label", pre);
			continue;
		}
		for (f = v->child; f != e; f = f->next)
			if (f->n == n && memcmp(f->s, s, n) == 0)
				break;
		if (f != e) {
			rc = FAIL(x, e, "%s\"accounts\": \"%s\" is listed "
			    "twice", pre, s);
			continue;
		}
		if ((p->acct_labels[p->nacct_labels++] = sdup(x, s, n)) == NULL)
			return -1;
	}
	return rc;
}

/*
 * "api_key": one secret (literal or env:NAME; "" = none), or "api_keys": a
 * list of them, each a string or {"name", "key"}, or "token_exchange".
 * Every provider but an account provider ends with at least one credential
 * (secret "" without a key); account providers get theirs from
 * px_config_bind_accounts().
 */
static int
parse_creds(struct ctx *x, struct px_provider *p, const struct json *o,
    const char *pre)
{
	const struct json *kv = json_get(o, "api_key");
	const struct json *lv = json_get(o, "api_keys"), *e;
	const struct json *tv = json_get(o, "token_exchange");
	struct px_cred *k;
	int i, j, n = 1, rc = 0;

	if (IS_ACCOUNT(p)) {
		p->api_key = "";
		if (kv != NULL || lv != NULL || tv != NULL)
			return FAIL(x, kv ? kv : lv ? lv : tv, "%sa %s provider "
			    "uses the accounts stored by `llmproxy login`: no "
			    "api_key, api_keys or token_exchange", pre, p->type);
		return 0;
	}
	if (tv != NULL) {
		if (kv != NULL || lv != NULL)
			return FAIL(x, tv, "%suse either \"token_exchange\" or "
			    "\"api_key\"/\"api_keys\", not both", pre);
		if (x->ncreds + 1 > PX_MAX_CREDS_TOTAL)
			return FAIL(x, tv, "%stoo many credentials in the "
			    "config (max %d)", pre, PX_MAX_CREDS_TOTAL);
		x->ncreds++;
		return parse_tx(x, p, tv, pre);
	}
	if (kv != NULL && lv != NULL)
		return FAIL(x, lv, "%suse either \"api_key\" or \"api_keys\", "
		    "not both", pre);
	if (lv != NULL) {
		if (lv->type != JSON_ARRAY)
			return FAIL(x, lv, "%s\"api_keys\" must be a list of "
			    "keys", pre);
		if (lv->len == 0)
			return FAIL(x, lv, "%s\"api_keys\" is empty (leave it "
			    "out for a provider without a key)", pre);
		if (lv->len > PX_MAX_CREDS)
			return FAIL(x, lv, "%stoo many api_keys (max %d)", pre,
			    PX_MAX_CREDS);
		n = (int)lv->len;
	}
	if (x->ncreds + n > PX_MAX_CREDS_TOTAL)
		return FAIL(x, lv ? lv : o, "%stoo many credentials in the "
		    "config (max %d)", pre, PX_MAX_CREDS_TOTAL);
	x->ncreds += n;
	if ((p->creds = zalloc(x, (size_t)n * sizeof *p->creds)) == NULL)
		return -1;
	p->ncreds = n;
	if (lv == NULL) {
		k = &p->creds[0];
		snprintf(k->label, sizeof k->label, "%s#1", p->name);
		k->secret = "";
		if (kv != NULL && get_secret(x, kv, pre, "api_key", SEC_EMPTY,
		    &k->secret) < 0) {
			k->secret = "";
			rc = -1;
		}
	} else {
		for (e = lv->child, i = 0; e != NULL; e = e->next, i++) {
			k = &p->creds[i];
			if (parse_cred(x, p, e, i, k) < 0) {
				k->secret = "";
				rc = -1;
				continue;
			}
			for (j = 0; j < i; j++) {
				if (strcmp(p->creds[j].label, k->label) == 0) {
					rc = FAIL(x, e, "%sduplicate key name "
					    "\"%s\"", pre, k->label);
					break;
				}
				if (p->creds[j].secret[0] &&
				    strcmp(p->creds[j].secret, k->secret) == 0) {
					rc = FAIL(x, e, "%sapi_keys[%d] is the "
					    "same key as api_keys[%d]", pre, i,
					    j);
					break;
				}
			}
		}
	}
	for (i = 0; i < p->ncreds; i++)
		cred_id(&p->creds[i], p->name, p->creds[i].secret);
	p->api_key = p->creds[0].secret;
	return rc;
}

/* RFC 9110 token characters. */
static int
token_ok(const char *s, size_t n)
{
	size_t i;
	unsigned char c;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9'))
			continue;
		if (strchr("!#$%&'*+-.^_`|~", c) == NULL || c == 0)
			return 0;
	}
	return 1;
}

/*
 * Headers the proxy owns: hop-by-hop and framing headers (RFC 9110 §7.6.1,
 * RFC 9112 §6) would break the connection or smuggle a second request;
 * Content-Type, Accept and Accept-Encoding are set per request (the proxy
 * does not decode compressed bodies).
 */
static const char *const owned_headers[] = { "host", "content-length",
    "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te",
    "trailer", "upgrade", "expect", "content-type", "accept",
    "accept-encoding", NULL };

static int
parse_headers(struct ctx *x, struct px_provider *p, const struct json *o,
    const char *pre)
{
	const struct json *m, *q;
	const char *auth, *prefix;
	struct px_header *h;
	char hpre[256];
	size_t i;
	int rc = 0, haskey = 0;

	if (o->type != JSON_OBJECT)
		return FAIL(x, o, "%s\"headers\" must be an object "
		    "({\"Name\": \"value\"})", pre);
	if (o->len > PX_MAX_PROVIDER_HEADERS)
		return FAIL(x, o, "%stoo many headers (max %d)", pre,
		    PX_MAX_PROVIDER_HEADERS);
	if ((p->headers = zalloc(x, (o->len + 1) * sizeof *p->headers)) == NULL)
		return -1;
	for (i = 0; i < (size_t)p->ncreds; i++)
		if (p->creds[i].secret[0])
			haskey = 1;
	auth = px_provider_auth(p, &prefix);
	for (m = o->child; m != NULL; m = m->next) {
		if (!token_ok(m->key, m->keylen) ||
		    memchr(m->key, 0, m->keylen) != NULL ||
		    m->keylen > 128) {
			rc = FAIL(x, m, "%sbad header name \"%s\" (an HTTP token: "
			    "letters, digits and !#$%%&'*+-.^_`|~)", pre, m->key);
			continue;
		}
		for (i = 0; owned_headers[i] != NULL; i++)
			if (strcasecmp(m->key, owned_headers[i]) == 0)
				break;
		if (owned_headers[i] != NULL) {
			rc = FAIL(x, m, "%sheader \"%s\" is set by the proxy "
			    "(hop-by-hop, framing or per request)", pre, m->key);
			continue;
		}
		if (haskey && strcasecmp(m->key, auth) == 0) {
			rc = FAIL(x, m, "%sheader \"%s\" carries the provider's "
			    "key: use \"api_key\" or \"api_keys\"", pre, m->key);
			continue;
		}
		if (p->kind == PX_PT_ANTHROPIC &&
		    strcasecmp(m->key, "anthropic-version") == 0) {
			rc = FAIL(x, m, "%sheader \"%s\": use "
			    "\"anthropic_version\"", pre, m->key);
			continue;
		}
		for (q = o->child; q != m; q = q->next)
			if (strcasecmp(q->key, m->key) == 0)
				break;
		if (q != m) {
			rc = FAIL(x, m, "%sduplicate header \"%s\"", pre, m->key);
			continue;
		}
		h = &p->headers[p->nheaders];
		snprintf(hpre, sizeof hpre, "%sheader \"%s\": ", pre, m->key);
		if (get_secret(x, m, hpre, "value", SEC_EMPTY | SEC_TAB,
		    &h->value) < 0) {
			rc = -1;
			continue;
		}
		if ((h->name = sdup(x, m->key, m->keylen)) == NULL)
			return -1;
		p->nheaders++;
	}
	return rc;
}

static int
parse_health(struct ctx *x, struct px_provider *p, const struct json *o,
    const char *pre)
{
	static const char *const keys[] = { "interval_s", "model", NULL };
	const struct json *v;
	char where[96];
	long long ll = 0;
	int rc = 0;

	if (o->type != JSON_OBJECT)
		return FAIL(x, o, "%s\"health_check\" must be an object "
		    "({\"interval_s\": N, \"model\": \"M\"})", pre);
	snprintf(where, sizeof where, " in provider \"%s\" health_check",
	    p->name);
	rc = check_keys(x, o, keys, where);
	if ((v = json_get(o, "interval_s")) != NULL) {
		if (!json_int(v, &ll) || ll <= 0 || ll > 86400)
			rc = FAIL(x, v, "%s\"health_check.interval_s\" must be "
			    "an integer from 1 to 86400", pre);
		else
			p->health_interval_s = (int)ll;
	}
	if ((v = json_get(o, "model")) == NULL)
		return FAIL(x, o, "%s\"health_check\" needs a \"model\" to "
		    "send its request to", pre);
	if (get_sdup(x, v, pre, "health_check.model", PX_MODEL_NAME_MAX,
	    &p->health_model) < 0)
		rc = -1;
	return rc;
}

static int
version_ok(const char *s)
{
	if (*s == 0)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '.' ||
		    *s == '_'))
			return 0;
	return 1;
}

/* Azure: "api_version" and "deployments"; refused on other types. */
static int
parse_azure(struct ctx *x, struct px_provider *p, const struct json *o,
    const char *pre)
{
	const struct json *v, *m;
	struct px_deployment *d;
	char ver[32];
	int rc = 0;

	if (p->kind != PX_PT_AZURE) {
		if ((v = json_get(o, "api_version")) != NULL)
			rc = FAIL(x, v, "%s\"api_version\" applies to type azure "
			    "only", pre);
		if ((v = json_get(o, "deployments")) != NULL)
			rc = FAIL(x, v, "%s\"deployments\" applies to type azure "
			    "only", pre);
		return rc;
	}
	if ((v = json_get(o, "api_version")) != NULL) {
		if (get_str(x, v, pre, "api_version", ver, sizeof ver) < 0)
			rc = -1;
		else if (!version_ok(ver))
			rc = FAIL(x, v, "%sbad \"api_version\" \"%s\" (e.g. "
			    "\"2024-10-21\", or \"v1\")", pre, ver);
		else if (strcmp(ver, "v1") != 0 &&
		    (p->api_version = sdup(x, ver, strlen(ver))) == NULL)
			return -1;
	}
	if ((v = json_get(o, "deployments")) == NULL)
		return rc;
	if (v->type != JSON_OBJECT)
		return FAIL(x, v, "%s\"deployments\" must be an object "
		    "({\"model\": \"deployment\"})", pre);
	if (v->len > PX_MAX_DEPLOYMENTS)
		return FAIL(x, v, "%stoo many deployments (max %d)", pre,
		    PX_MAX_DEPLOYMENTS);
	if ((p->deployments = zalloc(x, (v->len + 1) * sizeof *d)) == NULL)
		return -1;
	for (m = v->child; m != NULL; m = m->next) {
		d = &p->deployments[p->ndeployments];
		if (m->keylen == 0 || m->keylen > PX_MODEL_NAME_MAX ||
		    memchr(m->key, 0, m->keylen) != NULL ||
		    has_ctl(m->key, m->keylen)) {
			rc = FAIL(x, m, "%sdeployments: bad model name \"%s\"",
			    pre, m->key);
			continue;
		}
		if (get_sdup(x, m, pre, "deployments", PX_MODEL_NAME_MAX,
		    &d->deployment) < 0) {
			rc = -1;
			continue;
		}
		if ((d->model = sdup(x, m->key, m->keylen)) == NULL)
			return -1;
		p->ndeployments++;
	}
	return rc;
}

/* Keys of an HTTP provider and of an exec one: each refuses the other's. */
static const char *const http_keys[] = { "base_url", "api_key", "api_keys",
    "strategy", "headers", "health_check", "anthropic_version",
    "responses_models", "chat_models", "api_version", "deployments",
    "accounts", "token_exchange", NULL };
static const char *const exec_keys[] = { "command", "cwd", "env",
    "max_parallel", "timeout_ms", NULL };

static int
other_keys(struct ctx *x, const struct json *o, const char *const *keys,
    const char *pre, const char *why)
{
	const struct json *v;
	int i, rc = 0;

	for (i = 0; keys[i] != NULL; i++)
		if ((v = json_get(o, keys[i])) != NULL)
			rc = FAIL(x, v, "%s\"%s\" %s", pre, keys[i], why);
	return rc;
}

/* An environment variable name: [A-Za-z_][A-Za-z0-9_]*. */
static int
env_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 128 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_'))
			return 0;
	return 1;
}

/*
 * An exec provider: "command" (a non-empty list of strings; "{model}"
 * only after the first), "cwd" (an existing directory), "env" ({"NAME":
 * "value" or "env:X"}), "max_parallel" (0..1024, 0 = no limit),
 * "timeout_ms" (0 = none).
 */
static int
parse_exec(struct ctx *x, struct px_provider *p, const struct json *o,
    const char *pre)
{
	const struct json *v, *e;
	struct stat st;
	char epre[256];
	const char *val, *s;
	long long ll;
	size_t n, k;
	int rc = 0, i;

	rc = other_keys(x, o, http_keys, pre, "does not apply to type exec "
	    "(a command, not an HTTP API)");
	p->exec_max_parallel = PX_EXEC_PARALLEL;
	p->exec_timeout_ms = PX_EXEC_TIMEOUT_MS;
	if ((v = json_get(o, "command")) == NULL) {
		rc = FAIL(x, o, "%stype exec needs a \"command\" (e.g. "
		    "[\"claude\", \"-p\", \"--output-format\", \"stream-json\", "
		    "\"--input-format\", \"stream-json\", \"--verbose\", "
		    "\"--model\", \"{model}\"])", pre);
	} else if (v->type != JSON_ARRAY || v->len == 0 ||
	    v->len > PX_EXEC_MAX_ARGS) {
		rc = FAIL(x, v, "%s\"command\" must be a list of 1 to %d "
		    "strings (the program, then its arguments)", pre,
		    PX_EXEC_MAX_ARGS);
	} else if ((p->exec_argv = zalloc(x, (v->len + 1) *
	    sizeof *p->exec_argv)) == NULL) {
		return -1;
	} else {
		for (e = v->child, i = 0; e != NULL; e = e->next, i++) {
			if (get_sdup(x, e, pre, "command", 4096,
			    &p->exec_argv[i]) < 0) {
				rc = -1;
				p->exec_argv[i] = "";
				continue;
			}
			if (i == 0 && strstr(p->exec_argv[0], "{model}")) {
				rc = FAIL(x, e, "%s\"command\": the program "
				    "cannot depend on the model (\"{model}\" "
				    "goes in an argument)", pre);
			}
		}
		p->exec_argc = (int)v->len;
	}
	if ((v = json_get(o, "cwd")) != NULL) {
		if (get_sdup(x, v, pre, "cwd", 1024, &p->exec_cwd) < 0)
			rc = -1;
		else if (stat(p->exec_cwd, &st) < 0 || !S_ISDIR(st.st_mode))
			rc = FAIL(x, v, "%s\"cwd\" %s is not a directory", pre,
			    p->exec_cwd);
	}
	if ((v = json_get(o, "env")) != NULL) {
		if (v->type != JSON_OBJECT || v->len > PX_EXEC_MAX_ENV) {
			rc = FAIL(x, v, "%s\"env\" must be an object of at most "
			    "%d {\"NAME\": \"value\"} (a value may be "
			    "\"env:VAR\")", pre, PX_EXEC_MAX_ENV);
		} else if ((p->exec_env = zalloc(x, (v->len + 1) *
		    sizeof *p->exec_env)) == NULL) {
			return -1;
		} else {
			for (e = v->child; e != NULL; e = e->next) {
				char *kv;
				if (!env_name_ok(e->key, e->keylen)) {
					rc = FAIL(x, e, "%s\"env\": bad variable "
					    "name \"%s\"", pre, e->key);
					continue;
				}
				snprintf(epre, sizeof epre, "%senv \"%s\": ", pre,
				    e->key);
				if (get_secret(x, e, epre, "value",
				    SEC_EMPTY | SEC_TAB, &val) < 0) {
					rc = -1;
					continue;
				}
				n = e->keylen;
				k = strlen(val);
				if ((kv = px_arena_alloc(&x->c->arena, n + k +
				    2)) == NULL)
					return -1;
				memcpy(kv, e->key, n);
				kv[n] = '=';
				memcpy(kv + n + 1, val, k + 1);
				p->exec_env[p->exec_nenv++] = kv;
			}
		}
	}
	if ((v = json_get(o, "max_parallel")) != NULL) {
		if (!json_int(v, &ll) || ll < 0 || ll > 1024)
			rc = FAIL(x, v, "%s\"max_parallel\" must be an integer "
			    "from 0 (no limit) to 1024", pre);
		else
			p->exec_max_parallel = (int)ll;
	}
	if ((v = json_get(o, "timeout_ms")) != NULL) {
		if (!json_int(v, &ll) || ll < 0 || ll > 86400000LL)
			rc = FAIL(x, v, "%s\"timeout_ms\" must be an integer "
			    "from 0 (none) to 86400000", pre);
		else
			p->exec_timeout_ms = (int)ll;
	}
	s = p->exec_argv && p->exec_argv[0] ? p->exec_argv[0] : "";
	hash_parts(p->id, "provider", p->name, s);
	if (parse_creds(x, p, o, pre) < 0)    /* one credential, no secret */
		rc = -1;
	return rc;
}

static int
parse_provider(struct ctx *x, struct px_config *c, const struct json *o)
{
	static const char *const keys[] = { "name", "type", "base_url",
	    "api_key", "api_keys", "strategy", "headers", "health_check",
	    "anthropic_version", "responses_models", "chat_models",
	    "api_version", "deployments", "accounts", "token_exchange",
	    "command", "cwd", "env", "max_parallel", "timeout_ms", NULL };
	struct px_provider *p;
	const struct json *v, *tv;
	char name[sizeof p->name], type[sizeof p->type], pre[96], where[96];
	char url[1100], red[1100];
	const char *why, *s;
	size_t n;
	int ti = 0, rc = 0;

	if (o->type != JSON_OBJECT)
		return FAIL(x, o, "each provider must be an object");
	if ((v = json_get(o, "name")) == NULL)
		return FAIL(x, o, "provider needs a \"name\"");
	if (get_str(x, v, "provider: ", "name", name, sizeof name) < 0)
		return -1;
	if (!name_ok(name))
		return FAIL(x, v, "bad provider name \"%s\" (must be non-empty, "
		    "without '/', '*' or spaces)", name);
	if (find_provider(c, name, strlen(name)) >= 0)
		return FAIL(x, v, "duplicate provider name \"%s\"", name);
	if (c->nproviders >= PX_MAX_PROVIDERS)
		return FAIL(x, o, "too many providers (max %d)",
		    PX_MAX_PROVIDERS);
	snprintf(pre, sizeof pre, "provider \"%s\": ", name);
	snprintf(where, sizeof where, " in provider \"%s\"", name);
	rc = check_keys(x, o, keys, where);

	/* From here on the name is registered, whatever else is wrong. */
	if ((tv = json_get(o, "type")) == NULL) {
		rc = FAIL(x, o, "%smissing \"type\" (" PTYPE_LIST ")", pre);
		ti = -1;
	} else if (get_str(x, tv, pre, "type", type, sizeof type) < 0) {
		ti = -1;
	} else if ((ti = ptype_find(type)) < 0) {
		rc = FAIL(x, tv, "%sunknown type \"%s\" (expected " PTYPE_LIST
		    ")", pre, type);
	}
	p = &c->providers[c->nproviders++];
	provider_init(p, name, ti < 0 ? 0 : ti);
	if (ti < 0) {
		parse_creds(x, p, o, pre);
		return -1;
	}
	if (p->kind == PX_PT_EXEC)
		return parse_exec(x, p, o, pre) < 0 ? -1 : rc;
	if (other_keys(x, o, exec_keys, pre, "applies to type exec only") < 0)
		rc = -1;

	url[0] = 0;
	if (ptypes[ti].url != NULL)
		snprintf(url, sizeof url, "%s", ptypes[ti].url);
	if ((v = json_get(o, "base_url")) != NULL) {
		if (!json_str(v, &s, &n)) {
			rc = FAIL(x, v, "%s\"base_url\" must be a string", pre);
			url[0] = 0;
		} else if (n >= sizeof url || memchr(s, 0, n) != NULL) {
			rc = FAIL(x, v, "%sbad base_url: too long or contains "
			    "NUL", pre);
			url[0] = 0;
		} else {
			memcpy(url, s, n + 1);
			if ((why = parse_base_url(x, p, url)) != NULL)
				rc = FAIL(x, v, "%sbad base_url \"%s\": %s", pre,
				    px_redact_url(url, red, sizeof red), why);
			else if (p->kind == PX_PT_AZURE && p->base_path[0])
				rc = FAIL(x, v, "%sazure base_url is the "
				    "resource URL, e.g. "
				    "\"https://NAME.openai.azure.com\", without "
				    "a path", pre);
		}
	} else if (url[0] == 0) {
		rc = FAIL(x, o, "%stype %s needs a \"base_url\" (e.g. "
		    "\"https://NAME.openai.azure.com\")", pre, p->type);
	} else if ((why = parse_base_url(x, p, url)) != NULL) {
		rc = FAIL(x, o, "%sbad base_url \"%s\": %s", pre, url, why);
	} else {
		p->base_url_default = 1;
	}
	hash_parts(p->id, "provider", p->name, p->base_url);

	if (parse_creds(x, p, o, pre) < 0)
		rc = -1;
	if ((v = json_get(o, "anthropic_version")) != NULL &&
	    get_str(x, v, pre, "anthropic_version", p->anthropic_version,
	    sizeof p->anthropic_version) < 0)
		rc = -1;
	if (parse_api_models(x, p, o, pre) < 0)
		rc = -1;
	if ((v = json_get(o, "strategy")) != NULL) {
		if (json_str(v, &s, &n) && json_eq(s, n, "round-robin"))
			p->strategy = PX_STRAT_ROUND_ROBIN;
		else if (json_str(v, &s, &n) && json_eq(s, n, "fill-first"))
			p->strategy = PX_STRAT_FILL_FIRST;
		else
			rc = FAIL(x, v, "%s\"strategy\" must be \"round-robin\" "
			    "or \"fill-first\"", pre);
	}
	if ((v = json_get(o, "headers")) != NULL &&
	    parse_headers(x, p, v, pre) < 0)
		rc = -1;
	if ((v = json_get(o, "health_check")) != NULL) {
		if (IS_ACCOUNT(p))
			/* a check would spend the subscription's quota */
			rc = FAIL(x, v, "%s\"health_check\" is not for account "
			    "providers", pre);
		else if (parse_health(x, p, v, pre) < 0)
			rc = -1;
	}
	if ((v = json_get(o, "accounts")) != NULL) {
		if (!IS_ACCOUNT(p))
			rc = FAIL(x, v, "%s\"accounts\" applies to the *-account "
			    "types only", pre);
		else if (parse_acct_labels(x, p, v, pre) < 0)
			rc = -1;
	}
	if (parse_azure(x, p, o, pre) < 0)
		rc = -1;
	return rc;
}

/* ------------------------------------------------------------ routes */

/*
 * "retry": {"max_attempts": N, "budget_ms": T}. Keys left out keep what r
 * holds (the defaults, or the top-level policy for a route).
 */
static int
parse_retry(struct ctx *x, const struct json *o, const char *pre,
    const char *where, struct px_retry *r)
{
	static const char *const keys[] = { "max_attempts", "budget_ms", NULL };
	const struct json *v;
	long long ll = 0;
	int rc;

	if (o->type != JSON_OBJECT)
		return FAIL(x, o, "%s\"retry\" must be an object "
		    "({\"max_attempts\": N, \"budget_ms\": T})", pre);
	rc = check_keys(x, o, keys, where);
	if ((v = json_get(o, "max_attempts")) != NULL) {
		if (!json_int(v, &ll) || ll < 1 || ll > PX_RETRY_ATTEMPTS_CAP)
			rc = FAIL(x, v, "%s\"retry.max_attempts\" must be an "
			    "integer from 1 to %d", pre, PX_RETRY_ATTEMPTS_CAP);
		else
			r->max_attempts = (int)ll;
	}
	if ((v = json_get(o, "budget_ms")) != NULL) {
		if (!json_int(v, &ll) || ll < 0 || ll > 86400000LL)
			rc = FAIL(x, v, "%s\"retry.budget_ms\" must be a "
			    "non-negative integer (0 = no time limit)", pre);
		else
			r->budget_ms = (int)ll;
	}
	return rc;
}

/*
 * "provider" or "provider/upstream-model", split at the first '/': model
 * ids such as "meta-llama/Llama-3-70b" keep their own slashes.
 */
static int
parse_target(struct ctx *x, const struct px_config *c,
    const struct json *v, const char *pattern, struct px_target *t)
{
	const char *s, *slash;
	size_t n, pn;

	t->model = "";
	if (!json_str(v, &s, &n) || n == 0)
		return FAIL(x, v, "model \"%s\": target must be \"provider\" or "
		    "\"provider/model\"", pattern);
	if (memchr(s, 0, n) != NULL || has_ctl(s, n))
		return FAIL(x, v, "model \"%s\": target contains control "
		    "characters", pattern);
	slash = memchr(s, '/', n);
	pn = slash ? (size_t)(slash - s) : n;
	t->provider = find_provider(c, s, pn);
	if (t->provider < 0)
		return FAIL(x, v, "model \"%s\": unknown provider \"%.*s\"",
		    pattern, (int)pn, s);
	if (slash != NULL) {
		n -= pn + 1;
		if (n == 0)
			return FAIL(x, v, "model \"%s\": empty upstream model "
			    "after \"%.*s/\"", pattern, (int)pn, s);
		if (n > PX_MODEL_NAME_MAX)
			return FAIL(x, v, "model \"%s\": upstream model is too "
			    "long (max %d bytes)", pattern, PX_MODEL_NAME_MAX);
		if ((t->model = sdup(x, slash + 1, n)) == NULL)
			return -1;
	}
	return 0;
}

/* A target list (or a single target) into r->targets. */
static int
parse_targets(struct ctx *x, const struct px_config *c, const struct json *v,
    struct px_route *r)
{
	const struct json *e;
	size_t n = 1;
	int rc = 0;

	if (v->type == JSON_ARRAY) {
		if (v->child == NULL)
			return FAIL(x, v, "model \"%s\": empty target list",
			    r->pattern);
		n = v->len;
		if (n > PX_MAX_TARGETS) {
			e = json_at(v, PX_MAX_TARGETS);
			return FAIL(x, e, "model \"%s\": too many targets (max "
			    "%d)", r->pattern, PX_MAX_TARGETS);
		}
	}
	if ((r->targets = zalloc(x, n * sizeof *r->targets)) == NULL)
		return -1;
	if (v->type != JSON_ARRAY) {
		r->ntargets = 1;
		return parse_target(x, c, v, r->pattern, &r->targets[0]);
	}
	for (e = v->child; e != NULL; e = e->next)
		if (parse_target(x, c, e, r->pattern,
		    &r->targets[r->ntargets++]) < 0)
			rc = -1;
	return rc;
}

/* The object form: {"target": ".." | "targets": [..], "retry": {..}}.
 * Unknown keys are errors so later per-route keys cannot be misspelt. */
static int
parse_route_obj(struct ctx *x, const struct px_config *c,
    const struct json *o, struct px_route *r)
{
	static const char *const keys[] = { "target", "targets", "retry",
	    NULL };
	const struct json *tv = json_get(o, "target");
	const struct json *lv = json_get(o, "targets"), *v;
	char pre[300], where[300];
	int rc;

	snprintf(pre, sizeof pre, "model \"%s\": ", r->pattern);
	snprintf(where, sizeof where, " in model \"%s\"", r->pattern);
	rc = check_keys(x, o, keys, where);
	if ((v = json_get(o, "retry")) != NULL) {
		snprintf(where, sizeof where, " in model \"%s\" retry",
		    r->pattern);
		if (parse_retry(x, v, pre, where, &r->retry) < 0)
			rc = -1;
	}
	if (tv != NULL && lv != NULL)
		return FAIL(x, lv, "%suse \"target\" or \"targets\", not both",
		    pre);
	if (tv != NULL && tv->type != JSON_STRING)
		return FAIL(x, tv, "%starget must be \"provider\" or "
		    "\"provider/model\"", pre);
	if (tv == NULL && lv == NULL)
		return FAIL(x, o, "%sneeds \"target\" or \"targets\"", pre);
	if (lv != NULL && lv->type != JSON_ARRAY)
		return FAIL(x, lv, "%s\"targets\" must be a list", pre);
	if (parse_targets(x, c, tv ? tv : lv, r) < 0)
		rc = -1;
	return rc;
}

static int
parse_models(struct ctx *x, struct px_config *c, const struct json *o)
{
	const struct json *m, *p;
	struct px_route *r;
	size_t cap;
	int rc = 0;

	if (o->type != JSON_OBJECT)
		return FAIL(x, o, "\"models\" must be an object "
		    "({\"model\": \"provider[/upstream-model]\"})");
	cap = o->len < PX_MAX_ROUTES ? o->len : PX_MAX_ROUTES;
	if ((c->routes = zalloc(x, (cap + 1) * sizeof *c->routes)) == NULL)
		return -1;
	for (m = o->child; m != NULL; m = m->next) {
		if ((size_t)c->nroutes >= cap)
			return FAIL(x, m, "too many models (max %d)",
			    PX_MAX_ROUTES);
		if (m->keylen == 0 || memchr(m->key, 0, m->keylen) != NULL ||
		    has_ctl(m->key, m->keylen)) {
			rc = FAIL(x, m, "bad model name \"%s\"", m->key);
			continue;
		}
		if (m->keylen > PX_MODEL_NAME_MAX) {
			rc = FAIL(x, m, "model name is too long (max %d "
			    "bytes)", PX_MODEL_NAME_MAX);
			continue;
		}
		for (p = o->child; p != m; p = p->next)
			if (p->keylen == m->keylen &&
			    memcmp(p->key, m->key, m->keylen) == 0)
				break;
		if (p != m) {
			rc = FAIL(x, m, "duplicate model \"%s\"", m->key);
			continue;
		}
		r = &c->routes[c->nroutes];
		memset(r, 0, sizeof *r);
		if ((r->pattern = sdup(x, m->key, m->keylen)) == NULL)
			return -1;
		r->line = line_of(x, m->raw);
		r->retry = c->retry;
		if ((m->type == JSON_OBJECT ? parse_route_obj(x, c, m, r) :
		    parse_targets(x, c, m, r)) < 0) {
			rc = -1;
			continue;
		}
		c->nroutes++;
	}
	return rc;
}

/* ------------------------------------------------------------ client keys */

static int
dup_key_name(const struct px_config *c, const char *name)
{
	int i;

	for (i = 0; i < c->nkeys; i++)
		if (strcmp(c->keys[i].name, name) == 0)
			return 1;
	return 0;
}

/* One api_keys entry into c->keys[c->nkeys] (counted on success). */
static int
parse_api_key(struct ctx *x, struct px_config *c, const struct json *e,
    size_t i)
{
	static const char *const keys[] = { "name", "sha256", "key", "models",
	    "rpm", "tpm", "parallel", "budget", "expires", NULL };
	const struct json *v, *hv, *kv;
	char name[AUTH_NAME_MAX], pre[AUTH_NAME_MAX + 48], hex[65];
	const char *s;
	size_t n;

	snprintf(pre, sizeof pre, "api_keys[%zu]: ", i);
	if (json_str(e, &s, &n)) {
		const char *sec;
		if (n == 0)
			return FAIL(x, e, "%sempty key", pre);
		snprintf(name, sizeof name, "key%zu", i + 1);
		if (dup_key_name(c, name))
			return FAIL(x, e, "duplicate api key name \"%s\"", name);
		if (get_secret(x, e, pre, "key", 0, &sec) < 0)
			return -1;
		auth_key_plain(&c->keys[c->nkeys++], name, sec, strlen(sec));
		return 0;
	}
	if (e->type != JSON_OBJECT)
		return FAIL(x, e, "%smust be a string or {\"name\", \"sha256\" "
		    "or \"key\"}", pre);
	if (check_keys(x, e, keys, " in api_keys entry") < 0)
		return -1;
	if ((v = json_get(e, "name")) == NULL)
		return FAIL(x, e, "%smissing \"name\"", pre);
	if (get_str(x, v, pre, "name", name, sizeof name) < 0)
		return -1;
	if (name[0] == 0)
		return FAIL(x, v, "%s\"name\" is empty", pre);
	if (dup_key_name(c, name))
		return FAIL(x, v, "duplicate api key name \"%s\"", name);
	snprintf(pre, sizeof pre, "api key \"%s\": ", name);
	hv = json_get(e, "sha256");
	kv = json_get(e, "key");
	if ((hv == NULL) == (kv == NULL))
		return FAIL(x, e, "%sneeds exactly one of \"sha256\" or \"key\"",
		    pre);
	if (hv != NULL) {
		if (!json_str(hv, &s, &n) || n != 64)
			return FAIL(x, hv, "%s\"sha256\" must be 64 hex digits",
			    pre);
		memcpy(hex, s, 64);
		hex[64] = 0;
		if (auth_key_hex(&c->keys[c->nkeys], name, hex) < 0)
			return FAIL(x, hv, "%s\"sha256\" must be 64 hex digits",
			    pre);
	} else {
		/* a literal key, or "env:NAME" like every secret */
		const char *sec;
		if (get_secret(x, kv, pre, "key", 0, &sec) < 0)
			return -1;
		auth_key_plain(&c->keys[c->nkeys], name, sec, strlen(sec));
	}
	{
		/* the same limits a key of the keys file may have (keys.h) */
		struct keys_err ke;
		if (keys_settings_parse(&c->keys[c->nkeys].lim, e, NULL,
		    &ke) < 0)
			return failp(x, ke.at ? ke.at : e->raw, "%s%s", pre,
			    ke.msg);
	}
	c->nkeys++;
	return 0;
}

static int
parse_api_keys(struct ctx *x, struct px_config *c, const struct json *a)
{
	const struct json *e;
	size_t i, cap;
	int rc = 0;

	if (a->type != JSON_ARRAY)
		return FAIL(x, a, "\"api_keys\" must be an array");
	cap = a->len < PX_MAX_KEYS ? a->len : PX_MAX_KEYS;
	if ((c->keys = zalloc(x, (cap + 1) * sizeof *c->keys)) == NULL)
		return -1;
	for (e = a->child, i = 0; e != NULL; e = e->next, i++) {
		if (i >= cap)
			return FAIL(x, e, "too many api_keys (max %d)",
			    PX_MAX_KEYS);
		if (parse_api_key(x, c, e, i) < 0)
			rc = -1;
	}
	return rc;
}

/*
 * "admin_key" / "metrics_key": a literal, "env:NAME", or {"sha256": hex};
 * kept as a digest like client keys.
 */
static int
parse_secret_key(struct ctx *x, const struct json *v, const char *what,
    struct px_secret_key *k)
{
	const struct json *hv;
	const char *s, *sec;
	char pre[64], where[64], hex[65];
	size_t n;
	static const char *const keys[] = { "sha256", NULL };

	snprintf(pre, sizeof pre, "\"%s\": ", what);
	if (v->type == JSON_OBJECT) {
		snprintf(where, sizeof where, " in \"%s\"", what);
		check_keys(x, v, keys, where);
		if ((hv = json_get(v, "sha256")) == NULL)
			return FAIL(x, v, "%sneeds \"sha256\"", pre);
		if (!json_str(hv, &s, &n) || n != 64)
			return FAIL(x, hv, "%s\"sha256\" must be 64 hex digits",
			    pre);
		memcpy(hex, s, 64);
		hex[64] = 0;
		if (auth_key_hex(&k->key, what, hex) < 0)
			return FAIL(x, hv, "%s\"sha256\" must be 64 hex digits",
			    pre);
		k->set = 1;
		return 0;
	}
	if (v->type != JSON_STRING)
		return FAIL(x, v, "\"%s\" must be a key, \"env:NAME\" or "
		    "{\"sha256\": \"hex\"}", what);
	if (get_secret(x, v, "", what, 0, &sec) < 0)
		return -1;
	auth_key_plain(&k->key, what, sec, strlen(sec));
	k->set = 1;
	return 0;
}

/* ------------------------------------------------------------ limits */

static int
parse_limits(struct ctx *x, struct px_config *c, const struct json *o)
{
	static const char *const keys[] = { "header_bytes", "body_bytes",
	    "connections", "memory_bytes", "upstream_idle", NULL };
	const struct json *v;
	long long ll = 0;
	long long smax = SIZE_MAX > LLONG_MAX ? LLONG_MAX : (long long)SIZE_MAX;
	int rc;

	if (o->type != JSON_OBJECT)
		return FAIL(x, o, "\"limits\" must be an object");
	rc = check_keys(x, o, keys, " in \"limits\"");
	if ((v = json_get(o, "header_bytes")) != NULL) {
		if (get_posint(x, v, "limits.header_bytes", smax, &ll) < 0)
			rc = -1;
		else
			c->header_max = (size_t)ll;
	}
	if ((v = json_get(o, "body_bytes")) != NULL) {
		if (get_posint(x, v, "limits.body_bytes", smax, &ll) < 0)
			rc = -1;
		else
			c->body_max = (size_t)ll;
	}
	if ((v = json_get(o, "connections")) != NULL) {
		if (get_posint(x, v, "limits.connections", INT_MAX, &ll) < 0)
			rc = -1;
		else
			c->max_conns = (int)ll;
	}
	if ((v = json_get(o, "memory_bytes")) != NULL) {
		if (get_posint(x, v, "limits.memory_bytes", smax, &ll) < 0)
			rc = -1;
		else
			c->memory_max = ll;
	}
	if ((v = json_get(o, "upstream_idle")) != NULL) {
		if (get_nonneg(x, v, "limits.upstream_idle", 1 << 20, &ll) < 0)
			rc = -1;
		else
			c->upstream_idle = (int)ll;
	}
	return rc;
}

static int
parse_timeouts(struct ctx *x, struct px_config *c, const struct json *o)
{
	static const char *const keys[] = { "header_ms", "idle_ms",
	    "connect_ms", "first_byte_ms", "stream_idle_ms", "drain_ms",
	    "heartbeat_ms", NULL };
	int *dst[7];
	const struct json *v;
	char what[48];
	long long ll = 0;
	size_t i;
	int rc;

	dst[0] = &c->header_timeout_ms;
	dst[1] = &c->idle_timeout_ms;
	dst[2] = &c->connect_timeout_ms;
	dst[3] = &c->first_byte_timeout_ms;
	dst[4] = &c->stream_idle_timeout_ms;
	dst[5] = &c->drain_timeout_ms;
	dst[6] = &c->heartbeat_ms;
	if (o->type != JSON_OBJECT)
		return FAIL(x, o, "\"timeouts\" must be an object");
	rc = check_keys(x, o, keys, " in \"timeouts\"");
	for (i = 0; i < 7; i++) {
		if ((v = json_get(o, keys[i])) == NULL)
			continue;
		snprintf(what, sizeof what, "timeouts.%s", keys[i]);
		/* heartbeat_ms 0 turns heartbeats off */
		if ((i == 6 ? get_nonneg(x, v, what, INT_MAX, &ll) :
		    get_posint(x, v, what, INT_MAX, &ll)) < 0)
			rc = -1;
		else
			*dst[i] = (int)ll;
	}
	return rc;
}

/* ------------------------------------------------------------ store */

static int
parse_rstore(struct ctx *x, struct px_config *c, const struct json *o)
{
	static const char *const keys[] = { "max_bytes", "max_entries",
	    "ttl_seconds", "dir", NULL };
	const struct json *v;
	long long ll = 0;
	long long smax = SIZE_MAX > LLONG_MAX ? LLONG_MAX : (long long)SIZE_MAX;
	int rc;

	if (o->type != JSON_OBJECT)
		return FAIL(x, o, "\"responses_store\" must be an object");
	rc = check_keys(x, o, keys, " in \"responses_store\"");
	if ((v = json_get(o, "max_bytes")) != NULL) {
		/* 0 turns the store off */
		if (!json_int(v, &ll) || ll < 0 || ll > smax)
			rc = FAIL(x, v, "\"responses_store.max_bytes\" must "
			    "be a non-negative integer");
		else
			c->rstore_max_bytes = (size_t)ll;
	}
	if ((v = json_get(o, "max_entries")) != NULL) {
		if (get_posint(x, v, "responses_store.max_entries", smax,
		    &ll) < 0)
			rc = -1;
		else
			c->rstore_max_entries = (size_t)ll;
	}
	if ((v = json_get(o, "ttl_seconds")) != NULL) {
		/* a year at most: expiry times stay far from overflow */
		if (get_posint(x, v, "responses_store.ttl_seconds",
		    366LL * 86400, &ll) < 0)
			rc = -1;
		else
			c->rstore_ttl_s = ll;
	}
	if ((v = json_get(o, "dir")) != NULL) {
		if (get_str(x, v, "", "responses_store.dir", c->rstore_dir,
		    sizeof c->rstore_dir - 32) < 0)
			rc = -1;
		else if (!c->rstore_dir[0])
			rc = FAIL(x, v, "\"responses_store.dir\" must not be "
			    "empty (leave it out for a memory-only store)");
	}
	return rc;
}

/* An array of route patterns (as written in "models"). */
static int
route_names(struct ctx *x, const struct json *v, const char *what,
            const char ***out, int *nout)
{
	const struct json *e;
	const char **a;
	int n = 0;

	if (v->type != JSON_ARRAY)
		return FAIL(x, v, "\"%s\" must be an array of route patterns",
		    what);
	a = zalloc(x, (v->len + 1) * sizeof *a);
	if (!a)
		return -1;
	for (e = v->child; e; e = e->next) {
		int i, found = 0;
		if (e->type != JSON_STRING)
			return FAIL(x, e, "\"%s\" must be an array of route "
			    "patterns", what);
		for (i = 0; i < x->c->nroutes; i++)
			if (strcmp(x->c->routes[i].pattern, e->s) == 0)
				found = 1;
		if (!found)
			return FAIL(x, e, "\"%s\": no route \"%s\" in \"models\"",
			    what, e->s);
		if ((a[n++] = sdup(x, e->s, e->n)) == NULL)
			return -1;
	}
	*out = a;
	*nout = n;
	return 0;
}

static int
parse_cache(struct ctx *x, struct px_config *c, const struct json *o)
{
	static const char *const keys[] = { "max_bytes", "max_entries",
	    "ttl_seconds", "routes", "shared", NULL };
	const struct json *v;
	long long ll = 0;
	long long smax = SIZE_MAX > LLONG_MAX ? LLONG_MAX : (long long)SIZE_MAX;
	int rc;

	if (o->type != JSON_OBJECT)
		return FAIL(x, o, "\"cache\" must be an object");
	rc = check_keys(x, o, keys, " in \"cache\"");
	c->cache_max_bytes = 64u * 1024 * 1024;
	c->cache_max_entries = 10000;
	c->cache_ttl_s = 3600;
	if ((v = json_get(o, "max_bytes")) != NULL) {
		/* 0 turns the cache off */
		if (!json_int(v, &ll) || ll < 0 || ll > smax)
			rc = FAIL(x, v, "\"cache.max_bytes\" must be a "
			    "non-negative integer");
		else
			c->cache_max_bytes = (size_t)ll;
	}
	if ((v = json_get(o, "max_entries")) != NULL) {
		if (get_posint(x, v, "cache.max_entries", smax, &ll) < 0)
			rc = -1;
		else
			c->cache_max_entries = (size_t)ll;
	}
	if ((v = json_get(o, "ttl_seconds")) != NULL) {
		if (get_posint(x, v, "cache.ttl_seconds", 366LL * 86400,
		    &ll) < 0)
			rc = -1;
		else
			c->cache_ttl_s = ll;
	}
	if ((v = json_get(o, "routes")) != NULL &&
	    route_names(x, v, "cache.routes", &c->cache_routes,
	    &c->ncache_routes) < 0)
		rc = -1;
	if ((v = json_get(o, "shared")) != NULL &&
	    route_names(x, v, "cache.shared", &c->cache_shared,
	    &c->ncache_shared) < 0)
		rc = -1;
	return rc;
}

static int
parse_sessions(struct ctx *x, struct px_config *c, const struct json *o)
{
	static const char *const keys[] = { "max_bytes", "max_entries",
	    "max_turns", "ttl_seconds", "persist", NULL };
	const struct json *v;
	long long ll = 0;
	long long smax = SIZE_MAX > LLONG_MAX ? LLONG_MAX : (long long)SIZE_MAX;
	int rc;

	if (o->type != JSON_OBJECT)
		return FAIL(x, o, "\"sessions\" must be an object");
	rc = check_keys(x, o, keys, " in \"sessions\"");
	c->ses_max_bytes = PX_SES_CFG_MAX_BYTES;
	c->ses_max_entries = 10000;
	c->ses_max_turns = 200;
	c->ses_ttl_s = 86400;
	if ((v = json_get(o, "max_bytes")) != NULL) {
		/* 0 turns sessions off */
		if (!json_int(v, &ll) || ll < 0 || ll > smax)
			rc = FAIL(x, v, "\"sessions.max_bytes\" must be a "
			    "non-negative integer");
		else
			c->ses_max_bytes = (size_t)ll;
	}
	if ((v = json_get(o, "max_entries")) != NULL) {
		if (get_posint(x, v, "sessions.max_entries", smax, &ll) < 0)
			rc = -1;
		else
			c->ses_max_entries = (size_t)ll;
	}
	if ((v = json_get(o, "max_turns")) != NULL) {
		if (get_posint(x, v, "sessions.max_turns", 100000, &ll) < 0)
			rc = -1;
		else
			c->ses_max_turns = (size_t)ll;
	}
	if ((v = json_get(o, "ttl_seconds")) != NULL) {
		if (get_posint(x, v, "sessions.ttl_seconds", 366LL * 86400,
		    &ll) < 0)
			rc = -1;
		else
			c->ses_ttl_s = ll;
	}
	if ((v = json_get(o, "persist")) != NULL) {
		if (v->type != JSON_TRUE && v->type != JSON_FALSE)
			rc = FAIL(x, v, "\"sessions.persist\" must be true or "
			    "false");
		else
			c->ses_persist = v->type == JSON_TRUE;
	}
	return rc;
}

/* ------------------------------------------------------------ public */

/* see config.h */
void
px_config_defaults(struct px_config *c)
{
	memset(c, 0, sizeof *c);
	px_arena_init(&c->arena, PX_CONFIG_MEM_MAX);
	snprintf(c->listen, sizeof c->listen, "%s", PX_LISTEN_DEFAULT);
	c->header_max = PX_HEADER_MAX;
	c->body_max = PX_BODY_MAX;
	c->max_conns = PX_MAX_CONNS;
	c->memory_max = PX_MEMORY_MAX;
	c->upstream_idle = PX_UPSTREAM_IDLE;
	c->models_ttl_s = PX_MODELS_TTL_S;
	c->header_timeout_ms = PX_HEADER_TIMEOUT_MS;
	c->idle_timeout_ms = PX_IDLE_TIMEOUT_MS;
	c->connect_timeout_ms = PX_CONNECT_TIMEOUT_MS;
	c->first_byte_timeout_ms = PX_FIRST_BYTE_TIMEOUT_MS;
	c->stream_idle_timeout_ms = PX_STREAM_IDLE_TIMEOUT_MS;
	c->drain_timeout_ms = PX_DRAIN_TIMEOUT_MS;
	c->heartbeat_ms = PX_HEARTBEAT_MS;
	c->retry.max_attempts = PX_RETRY_MAX_ATTEMPTS;
	c->retry.budget_ms = PX_RETRY_BUDGET_MS;
	c->default_max_tokens = PX_DEFAULT_MAX_TOKENS;
	c->log_format = PX_LOG_TEXT;
	c->usage_enabled = 1;
	c->rstore_max_bytes = PX_RSTORE_MAX_BYTES;
	c->rstore_max_entries = PX_RSTORE_MAX_ENTRIES;
	c->rstore_ttl_s = PX_RSTORE_TTL_S;
}

/* see config.h */
struct px_config *
px_config_new(void)
{
	struct px_config *c = malloc(sizeof *c);

	if (c != NULL)
		px_config_defaults(c);
	return c;
}

/* see config.h */
void
px_config_release(struct px_config *c)
{
	if (c == NULL)
		return;
	px_prices_free(c->prices);
	px_arena_free(&c->arena);
	px_config_defaults(c);
}

/* see config.h */
void
px_config_free(struct px_config *c)
{
	if (c == NULL)
		return;
	px_prices_free(c->prices);
	px_arena_free(&c->arena);
	free(c);
}

/* "usage": {"enabled": bool, "retain_days": N} */
static void
parse_usage(struct ctx *x, struct px_config *c, const struct json *o)
{
	static const char *const keys[] = { "enabled", "retain_days", NULL };
	const struct json *v;
	long long ll = 0;

	if (o->type != JSON_OBJECT) {
		FAIL(x, o, "\"usage\" must be an object ({\"enabled\": true, "
		    "\"retain_days\": 30})");
		return;
	}
	check_keys(x, o, keys, " in \"usage\"");
	if ((v = json_get(o, "enabled")) != NULL)
		get_bool(x, v, "usage.enabled", &c->usage_enabled);
	if ((v = json_get(o, "retain_days")) != NULL &&
	    get_posint(x, v, "usage.retain_days", 36500, &ll) == 0)
		c->usage_retain_days = (int)ll;
}

/* "ca_file_add": one path or a list of them, each non-empty. */
static void
parse_ca_add(struct ctx *x, struct px_config *c, const struct json *v)
{
	const struct json *e;
	char path[512];

	if (v->type != JSON_ARRAY) {
		if (get_str(x, v, "", "ca_file_add", path, sizeof path) < 0)
			return;
		if (path[0] == 0)
			FAIL(x, v, "\"ca_file_add\" must not be empty");
		else if ((c->ca_add[0] = sdup(x, path, strlen(path))) != NULL)
			c->nca_add = 1;
		return;
	}
	if (v->len > PX_MAX_CA_ADD) {
		FAIL(x, v, "\"ca_file_add\": too many files (max %d)",
		    PX_MAX_CA_ADD);
		return;
	}
	for (e = v->child; e != NULL; e = e->next) {
		if (get_str(x, e, "", "ca_file_add", path, sizeof path) < 0)
			continue;
		if (path[0] == 0)
			FAIL(x, e, "\"ca_file_add\": an entry is empty");
		else if ((c->ca_add[c->nca_add] = sdup(x, path,
		    strlen(path))) != NULL)
			c->nca_add++;
	}
}

static void
parse_root(struct ctx *x, struct px_config *c, const struct json *root)
{
	static const char *const keys[] = { "listen", "api_keys", "allow_open",
	    "providers", "models", "ca_file", "limits", "timeouts",
	    "default_max_tokens", "verbose", "responses_store", "retry",
	    "state_dir", "admin_key", "metrics_key", "log_format", "usage",
	    "prices", "ca_file_add", "models_ttl_seconds", "sessions", "cache",
	    NULL };
	const struct json *v, *e, *lv;
	char tmp[sizeof c->listen], msg[256];
	const char *s;
	size_t n;
	long long ll = 0;
	int listen_ok = 1;

	if (root->type != JSON_OBJECT) {
		FAIL(x, root, "the config must be a JSON object");
		return;
	}
	check_keys(x, root, keys, "");
	if ((lv = json_get(root, "listen")) != NULL) {
		listen_ok = 0;
		if (get_str(x, lv, "", "listen", tmp, sizeof tmp) < 0)
			;
		else if (px_listen_normalize(tmp, c->listen, sizeof c->listen,
		    msg, sizeof msg) < 0)
			FAIL(x, lv, "\"listen\": %s", msg);
		else
			listen_ok = 1;
	}
	if ((v = json_get(root, "allow_open")) != NULL)
		get_bool(x, v, "allow_open", &c->allow_open);
	if ((v = json_get(root, "verbose")) != NULL)
		get_bool(x, v, "verbose", &c->verbose);
	if ((v = json_get(root, "ca_file")) != NULL)
		get_str(x, v, "", "ca_file", c->ca_file, sizeof c->ca_file);
	if ((v = json_get(root, "ca_file_add")) != NULL)
		parse_ca_add(x, c, v);
	if ((v = json_get(root, "models_ttl_seconds")) != NULL &&
	    get_nonneg(x, v, "models_ttl_seconds", 7 * 86400, &ll) == 0)
		c->models_ttl_s = (int)ll;
	if ((v = json_get(root, "state_dir")) != NULL &&
	    get_str(x, v, "", "state_dir", c->state_dir,
	    sizeof c->state_dir - 64) == 0 && c->state_dir[0] == 0)
		FAIL(x, v, "\"state_dir\" must not be empty (leave it out for "
		    "no state on disk)");
	if ((v = json_get(root, "log_format")) != NULL) {
		if (json_str(v, &s, &n) && json_eq(s, n, "text"))
			c->log_format = PX_LOG_TEXT;
		else if (json_str(v, &s, &n) && json_eq(s, n, "json"))
			c->log_format = PX_LOG_JSON;
		else
			FAIL(x, v, "\"log_format\" must be \"text\" or \"json\"");
	}
	if ((v = json_get(root, "usage")) != NULL)
		parse_usage(x, c, v);
	if ((v = json_get(root, "prices")) != NULL) {
		char perr[256];
		const char *at = NULL;
		c->prices = px_prices_new();
		if (c->prices == NULL)
			FAIL(x, v, "out of memory");
		else if (px_prices_parse(c->prices, v, perr, sizeof perr,
		    &at) < 0)
			failp(x, at ? at : v->raw, "\"prices\": %s", perr);
	}
	if ((v = json_get(root, "admin_key")) != NULL)
		parse_secret_key(x, v, "admin_key", &c->admin_key);
	if ((v = json_get(root, "metrics_key")) != NULL)
		parse_secret_key(x, v, "metrics_key", &c->metrics_key);
	if ((v = json_get(root, "limits")) != NULL)
		parse_limits(x, c, v);
	if ((v = json_get(root, "timeouts")) != NULL)
		parse_timeouts(x, c, v);
	if ((v = json_get(root, "responses_store")) != NULL)
		parse_rstore(x, c, v);
	if ((v = json_get(root, "sessions")) != NULL)
		parse_sessions(x, c, v);
	if ((v = json_get(root, "default_max_tokens")) != NULL &&
	    get_posint(x, v, "default_max_tokens", LLONG_MAX, &ll) == 0)
		c->default_max_tokens = ll;
	/* before models: routes inherit it */
	if ((v = json_get(root, "retry")) != NULL)
		parse_retry(x, v, "", " in \"retry\"", &c->retry);
	if ((v = json_get(root, "api_keys")) != NULL)
		parse_api_keys(x, c, v);
	/* providers before models, wherever they are written */
	if ((v = json_get(root, "providers")) != NULL) {
		if (v->type != JSON_ARRAY) {
			FAIL(x, v, "\"providers\" must be an array");
		} else {
			n = v->len < PX_MAX_PROVIDERS ? v->len :
			    PX_MAX_PROVIDERS;
			c->providers = zalloc(x, (n + 1) *
			    sizeof *c->providers);
			for (e = v->child; e != NULL && c->providers != NULL;
			    e = e->next)
				parse_provider(x, c, e);
		}
	}
	if ((v = json_get(root, "models")) != NULL)
		parse_models(x, c, v);
	if ((v = json_get(root, "cache")) != NULL)    /* names routes */
		parse_cache(x, c, v);
	/* An open proxy on a public address spends the owner's upstream keys
	 * for anyone who finds it: require keys, or an explicit opt-out. */
	if (listen_ok && c->nkeys == 0 && !c->allow_open &&
	    !px_listen_is_loopback(c->listen))
		FAIL(x, lv, "refusing to listen on %s without api_keys; "
		    "add api_keys or set \"allow_open\": true", c->listen);
}

/* Release what c held and start again from the defaults. */
static void
config_reset(struct px_config *c)
{
	px_prices_free(c->prices);
	px_arena_free(&c->arena);
	px_config_defaults(c);
}

/* see config.h */
int
px_config_parse(struct px_config *c, const char *name, const char *text,
    size_t len, char *err, size_t errcap)
{
	struct px_arena a;
	struct json_err je;
	struct json *root;
	struct ctx x;

	config_reset(c);
	memset(&x, 0, sizeof x);
	x.name = name ? name : "config";
	x.text = text;
	x.len = len;
	x.c = c;
	snprintf(c->path, sizeof c->path, "%s", x.name);
	/* the DOM of a config is a small multiple of its size */
	px_arena_init(&a, 64 * (size_t)PX_CONFIG_FILE_MAX);
	memset(&je, 0, sizeof je);
	root = json_parse(&a, text, len, JSON_F_COMMENTS, &je);
	if (root == NULL)
		failp(&x, text + (je.pos <= len ? je.pos : len),
		    "invalid JSON: %s", je.msg ? je.msg : "syntax error");
	else
		parse_root(&x, c, root);
	px_arena_free(&a);
	join_errors(c, err, errcap);
	return c->nerrors ? -1 : 0;
}

/* see config.h */
int
px_config_load(struct px_config *c, const char *path, char *err,
    size_t errcap)
{
	FILE *f;
	char *buf = NULL, msg[600];
	size_t n = 0, cap = PX_CONFIG_FILE_MAX + 1;
	int rc = -1;

	config_reset(c);
	msg[0] = 0;
	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if ((buf = malloc(cap)) == NULL) {
		snprintf(msg, sizeof msg, "%s: out of memory", path);
		goto fail;
	}
	n = fread(buf, 1, cap, f);
	if (ferror(f)) {
		snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (n > PX_CONFIG_FILE_MAX) {
		snprintf(msg, sizeof msg, "%s: file too large (max %u bytes)",
		    path, (unsigned)PX_CONFIG_FILE_MAX);
		goto fail;
	}
	rc = px_config_parse(c, path, buf, n, err, errcap);
	free(buf);
	fclose(f);
	return rc;
fail:
	free(buf);
	if (f != NULL)
		fclose(f);
	snprintf(c->path, sizeof c->path, "%s", path);
	add_error(c, msg);
	join_errors(c, err, errcap);
	return -1;
}

/* ------------------------------------------------------------ environment */

/* see config.h */
int
px_config_same_ca_add(const struct px_config *a, const struct px_config *b)
{
	int i;

	if (a->nca_add != b->nca_add)
		return 0;
	for (i = 0; i < a->nca_add; i++)
		if (strcmp(a->ca_add[i], b->ca_add[i]) != 0)
			return 0;
	return 1;
}

/* see config.h; tests/man_check.sh compares it with the getenv() calls */
const struct px_envvar px_env_vars[] = {
	{ "OPENAI_API_KEY", "enables provider \"openai\" (routes \"*\")",
	  PX_ENV_PROVIDER },
	{ "OPENAI_BASE_URL", "its base URL, also enables it (default "
	  "https://api.openai.com/v1; any OpenAI-compatible server)",
	  PX_ENV_PROVIDER },
	{ "ANTHROPIC_API_KEY", "enables provider \"anthropic\" (routes "
	  "\"claude-*\", and \"*\" without openai)", PX_ENV_PROVIDER },
	{ "ANTHROPIC_BASE_URL", "its base URL, also enables it (default "
	  "https://api.anthropic.com)", PX_ENV_PROVIDER },
	{ "GEMINI_API_KEY", "enables provider \"gemini\" (routes \"gemini-*\", "
	  "and \"*\" without openai and anthropic)", PX_ENV_PROVIDER },
	{ "GOOGLE_API_KEY", "the same, read when GEMINI_API_KEY is unset",
	  PX_ENV_PROVIDER },
	{ "GEMINI_BASE_URL", "its base URL, also enables it (default "
	  "https://generativelanguage.googleapis.com/v1beta)", PX_ENV_PROVIDER },
	{ "LLMPROXY_API_KEYS", "comma-separated client keys; clients must send "
	  "one (default: none, open to local clients)", PX_ENV_SERVER },
	{ "LLMPROXY_LISTEN", "listen address (default " PX_LISTEN_DEFAULT ")",
	  PX_ENV_SERVER },
	{ "LLMPROXY_ALLOW_OPEN", "1: serve a non-loopback address without "
	  "client keys", PX_ENV_SERVER },
	{ "LLMPROXY_STATE_DIR", "state directory (keys file, usage records); "
	  "else $STATE_DIRECTORY, $XDG_STATE_HOME/llmproxy, "
	  "$HOME/.local/state/llmproxy", PX_ENV_ANY },
	{ "STATE_DIRECTORY", "set by systemd's StateDirectory=", PX_ENV_ANY },
	{ "XDG_STATE_HOME", "base of the default state directory", PX_ENV_ANY },
	{ "HOME", "base of the default state directory", PX_ENV_ANY },
	{ "SSL_CERT_FILE", "CA bundle used instead of the system's (unless "
	  "\"ca_file\" is set)", PX_ENV_ANY },
	{ "LLMPROXY_SECRET", "secret (16+ bytes) the key sealing stored accounts "
	  "is derived from; else a random key in the state directory",
	  PX_ENV_ANY },
	{ "BROWSER", "the browser `login` opens (else xdg-open with a display)",
	  PX_ENV_LOGIN },
	{ "DISPLAY", "a display: `login` may open a browser", PX_ENV_LOGIN },
	{ "WAYLAND_DISPLAY", "the same", PX_ENV_LOGIN },
	{ "CODEX_HOME", "where `accounts import codex` finds auth.json "
	  "(default ~/.codex)", PX_ENV_LOGIN },
	{ "LLMPROXY_GEMINI_ONBOARD_POLL_MS", "Code Assist onboarding poll "
	  "(default 5000)", PX_ENV_LOGIN },
	{ "LLMPROXY_<KIND>_<NAME>", "a login flow's endpoint or client "
	  "(KIND: CLAUDE, CODEX, GEMINI, COPILOT; see the man page)",
	  PX_ENV_LOGIN },
	{ NULL, NULL, 0 }
};

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != 0 ? v : NULL;
}

/* Add provider `name` of type `type` when key or url is set (into the
 * providers array, which has room for three). */
static void
env_provider(struct ctx *x, const char *name, const char *type,
    const char *keyvar, const char *urlvar)
{
	struct px_config *c = x->c;
	struct px_provider *p;
	const char *key = env(keyvar), *url = env(urlvar), *why;
	char red[1100];
	int ti = ptype_find(type);

	if (key == NULL && url == NULL)
		return;
	p = &c->providers[c->nproviders++];
	provider_init(p, name, ti);
	if (url == NULL) {
		url = ptypes[ti].url;
		p->base_url_default = 1;
	}
	if ((why = parse_base_url(x, p, url)) != NULL)
		failp(x, NULL, "%s: bad base_url \"%s\": %s", urlvar,
		    px_redact_url(url, red, sizeof red), why);
	hash_parts(p->id, "provider", p->name, p->base_url);
	if ((p->creds = zalloc(x, sizeof *p->creds)) == NULL)
		return;
	p->ncreds = 1;
	snprintf(p->creds[0].label, sizeof p->creds[0].label, "%s#1", name);
	p->creds[0].secret = "";
	if (key != NULL) {
		if (has_ctl(key, strlen(key)) || strlen(key) > PX_SECRET_MAX)
			failp(x, NULL, "%s: contains control characters or is "
			    "too long", keyvar);
		else if ((p->creds[0].secret = sdup(x, key, strlen(key))) ==
		    NULL)
			p->creds[0].secret = "";
	}
	cred_id(&p->creds[0], p->name, p->creds[0].secret);
	p->api_key = p->creds[0].secret;
}

static void
env_route(struct ctx *x, const char *pattern, const char *provider)
{
	struct px_config *c = x->c;
	struct px_route *r;
	int pi = find_provider(c, provider, strlen(provider));

	if (pi < 0)
		return;
	r = &c->routes[c->nroutes];
	memset(r, 0, sizeof *r);
	if ((r->targets = zalloc(x, sizeof *r->targets)) == NULL)
		return;
	r->pattern = pattern;         /* static strings */
	r->targets[0].provider = pi;
	r->targets[0].model = "";
	r->ntargets = 1;
	r->retry = c->retry;
	c->nroutes++;
}

/*
 * see config.h
 *
 * Routes, each added only when its provider is configured:
 *   "claude-*" -> anthropic, "gemini-*" -> gemini, and the catch-all "*"
 *   -> openai, or anthropic when there is no openai, or gemini when there is
 *   neither. Upstream model = requested model.
 * LLMPROXY_API_KEYS is a comma-separated list of client keys (spaces around
 * each trimmed; named key1, key2, ...). LLMPROXY_LISTEN overrides the address
 * (normalised like -l); a non-loopback address without client keys is
 * refused unless LLMPROXY_ALLOW_OPEN=1, as "allow_open" in a file. Every
 * problem is reported, not only the first.
 */
int
px_config_from_env(struct px_config *c, char *err, size_t errcap)
{
	const char *v, *s, *e;
	char name[AUTH_NAME_MAX], msg[256];
	const char *gkey;
	struct ctx x;
	size_t nk;
	int listen_ok = 1;

	config_reset(c);
	memset(&x, 0, sizeof x);
	x.c = c;
	if ((c->providers = zalloc(&x, 3 * sizeof *c->providers)) == NULL ||
	    (c->routes = zalloc(&x, 3 * sizeof *c->routes)) == NULL)
		goto done;
	env_provider(&x, "openai", "openai", "OPENAI_API_KEY",
	    "OPENAI_BASE_URL");
	env_provider(&x, "anthropic", "anthropic", "ANTHROPIC_API_KEY",
	    "ANTHROPIC_BASE_URL");
	gkey = env("GEMINI_API_KEY") ? "GEMINI_API_KEY" : "GOOGLE_API_KEY";
	env_provider(&x, "gemini", "gemini", gkey, "GEMINI_BASE_URL");
	env_route(&x, "claude-*", "anthropic");
	env_route(&x, "gemini-*", "gemini");
	if (find_provider(c, "openai", 6) >= 0)
		env_route(&x, "*", "openai");
	else if (find_provider(c, "anthropic", 9) >= 0)
		env_route(&x, "*", "anthropic");
	else
		env_route(&x, "*", "gemini");

	if ((v = env("LLMPROXY_LISTEN")) != NULL &&
	    px_listen_normalize(v, c->listen, sizeof c->listen, msg,
	    sizeof msg) < 0) {
		failp(&x, NULL, "LLMPROXY_LISTEN: %s", msg);
		listen_ok = 0;
	}
	if ((v = env("LLMPROXY_API_KEYS")) != NULL) {
		for (nk = 1, s = v; *s; s++)
			nk += *s == ',';
		if (nk > PX_MAX_KEYS)
			nk = PX_MAX_KEYS + 1;
		if ((c->keys = zalloc(&x, nk * sizeof *c->keys)) == NULL)
			goto done;
		for (s = v; *s; s = *e ? e + 1 : e) {
			e = s + strcspn(s, ",");
			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
			while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			if (e > s) {
				if (c->nkeys >= PX_MAX_KEYS) {
					failp(&x, NULL, "LLMPROXY_API_KEYS: too "
					    "many keys (max %d)", PX_MAX_KEYS);
					break;
				}
				snprintf(name, sizeof name, "key%d",
				    c->nkeys + 1);
				auth_key_plain(&c->keys[c->nkeys++], name, s,
				    (size_t)(e - s));
			}
			e += strcspn(e, ",");
		}
	}
	v = env("LLMPROXY_ALLOW_OPEN");
	c->allow_open = v != NULL && strcmp(v, "0") != 0;
	if (listen_ok && c->nkeys == 0 && !c->allow_open &&
	    !px_listen_is_loopback(c->listen))
		failp(&x, NULL, "refusing to listen on %s without api_keys; set "
		    "LLMPROXY_API_KEYS or LLMPROXY_ALLOW_OPEN=1", c->listen);
done:
	join_errors(c, err, errcap);
	return c->nerrors ? -1 : c->nproviders;
}

/* ------------------------------------------------------------ accounts */

/* see config.h */
int
px_config_bind_accounts(struct px_config *c, const char *const *kinds,
    const char *const *labels, int n, char *warn, size_t cap)
{
	static const char *const kname[] = { "claude", "codex", "gemini",
	    "copilot" };
	struct px_provider *p;
	size_t wl = 0;
	int pi, i, j, m, total = 0, found;
	const char *kn;

	if (cap)
		warn[0] = 0;
#define WARN(...) do { \
	if (wl < cap) { \
		int k_ = snprintf(warn + wl, cap - wl, __VA_ARGS__); \
		if (k_ > 0) \
			wl += (size_t)k_; \
		if (wl >= cap) \
			wl = cap; \
	} \
} while (0)
	for (pi = 0; pi < c->nproviders; pi++) {
		p = &c->providers[pi];
		if (!IS_ACCOUNT(p))
			continue;
		kn = kname[p->kind - PX_PT_CLAUDE_ACCOUNT];
		p->creds = NULL;
		p->ncreds = 0;
		p->api_key = "";
		m = p->nacct_labels;
		if (m == 0)
			for (i = 0; i < n; i++)
				m += strcmp(kinds[i], kn) == 0;
		if (m > PX_MAX_CREDS)
			m = PX_MAX_CREDS;
		if (m == 0) {
			WARN("%sprovider \"%s\": no %s account is logged in "
			    "(llmproxy login %s)", wl ? "\n" : "", p->name, kn,
			    kn);
			continue;
		}
		if ((p->creds = px_arena_alloc(&c->arena,
		    (size_t)m * sizeof *p->creds)) == NULL)
			return -1;
		memset(p->creds, 0, (size_t)m * sizeof *p->creds);
		for (j = 0; j < (p->nacct_labels ? p->nacct_labels : 1); j++) {
			found = 0;
			for (i = 0; i < n; i++) {
				if (strcmp(kinds[i], kn) != 0 ||
				    (p->nacct_labels &&
				    strcmp(labels[i], p->acct_labels[j]) != 0))
					continue;
				found = 1;
				if (p->ncreds >= m) {
					WARN("%sprovider \"%s\": more than %d "
					    "%s accounts; \"%s\" is not used",
					    wl ? "\n" : "", p->name,
					    PX_MAX_CREDS, kn, labels[i]);
					continue;
				}
				snprintf(p->creds[p->ncreds++].label,
				    PX_LABEL_MAX, "%s", labels[i]);
			}
			if (!found && p->nacct_labels)
				WARN("%sprovider \"%s\": no %s account \"%s\" "
				    "(llmproxy login %s --name %s)",
				    wl ? "\n" : "", p->name, kn,
				    p->acct_labels[j], kn, p->acct_labels[j]);
		}
		for (j = 0; j < p->ncreds; j++) {
			struct px_cred *k = &p->creds[j];
			k->src = PX_CRED_ACCOUNT;
			k->secret = "";
			hash_parts(k->id, p->name, "account", k->label);
		}
		total += p->ncreds;
	}
#undef WARN
	return total;
}

/* ------------------------------------------------------------ printing */

/* see config.h */
void
px_config_print(const struct px_config *c, FILE *f)
{
	const struct px_provider *p;
	const struct px_route *r;
	const struct px_target *t;
	char red[1100];
	int i, j;

	for (i = 0; i < c->nproviders; i++) {
		p = &c->providers[i];
		if (p->kind == PX_PT_EXEC) {
			/* the program only: arguments may hold anything */
			fprintf(f, "provider %s type exec command %s (%d "
			    "argument%s) max_parallel %d timeout_ms %d%s%s\n",
			    p->name, p->exec_argv[0], p->exec_argc - 1,
			    p->exec_argc == 2 ? "" : "s", p->exec_max_parallel,
			    p->exec_timeout_ms, p->exec_cwd ? " cwd " : "",
			    p->exec_cwd ? p->exec_cwd : "");
			continue;
		}
		fprintf(f, "provider %s type %s base_url %s", p->name, p->type,
		    px_redact_url(p->base_url, red, sizeof red));
		if (IS_ACCOUNT(p)) {
			fprintf(f, " accounts %d", p->ncreds);
			for (j = 0; j < p->ncreds; j++)
				fprintf(f, "%s %s", j ? "," : ":",
				    p->creds[j].label);
			fputc('\n', f);
		} else if (p->tx != NULL)
			fprintf(f, " token_exchange %s\n", p->creds[0].label);
		else if (p->ncreds <= 1)
			fprintf(f, " key %s\n", p->api_key[0] ? "set" : "none");
		else {
			fprintf(f, " keys %d %s:", p->ncreds, p->strategy ==
			    PX_STRAT_FILL_FIRST ? "fill-first" : "round-robin");
			for (j = 0; j < p->ncreds; j++)
				fprintf(f, "%s %s", j ? "," : "",
				    p->creds[j].label);
			fputc('\n', f);
		}
		for (j = 0; j < p->napi_models; j++)
			fprintf(f, "provider %s uses %s for %s\n", p->name,
			    p->fmt == PX_FMT_CHAT ? "/responses" :
			    "/chat/completions", p->api_models[j]);
		if (p->nheaders > 0) {
			fprintf(f, "provider %s headers:", p->name);
			for (j = 0; j < p->nheaders; j++)
				fprintf(f, "%s %s", j ? "," : "",
				    p->headers[j].name);
			fputc('\n', f);
		}
		if (p->health_model != NULL)
			fprintf(f, "provider %s health_check every %d s with "
			    "model %s\n", p->name, p->health_interval_s,
			    p->health_model);
		if (p->kind == PX_PT_AZURE) {
			fprintf(f, "provider %s api_version %s\n", p->name,
			    p->api_version[0] ? p->api_version : "v1");
			for (j = 0; j < p->ndeployments; j++)
				fprintf(f, "provider %s deployment %s -> %s\n",
				    p->name, p->deployments[j].model,
				    p->deployments[j].deployment);
		}
	}
	for (i = 0; i < c->nroutes; i++) {
		r = &c->routes[i];
		fprintf(f, "route %s ->", r->pattern);
		for (j = 0; j < r->ntargets; j++) {
			t = &r->targets[j];
			/* "" = upstream model is the requested name */
			fprintf(f, "%s %s/%s", j ? "," : "",
			    c->providers[t->provider].name,
			    t->model[0] ? t->model : r->pattern);
		}
		if (r->retry.max_attempts != c->retry.max_attempts ||
		    r->retry.budget_ms != c->retry.budget_ms)
			fprintf(f, " (retry %d attempts, %d ms)",
			    r->retry.max_attempts, r->retry.budget_ms);
		fputc('\n', f);
	}
}

/* ------------------------------------------------------------ diff */

/* A bounded string builder: overflow keeps what fits and ends in "...". */
struct sb {
	char *buf;
	size_t cap, len;
	int full;
};

static void
sb_add(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (b->full || b->cap == 0)
		return;
	va_start(ap, fmt);
	k = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= b->cap - b->len) {
		b->full = 1;
		b->len = b->cap - 1;
		if (b->cap >= 4) {
			memcpy(b->buf + b->cap - 4, "...", 4);
		} else
			b->buf[b->len] = 0;
		return;
	}
	b->len += (size_t)k;
}

/* Start a "; "-separated section (first item gets the title). */
static void
sb_item(struct sb *b, int *first, const char *title, const char *item)
{
	if (*first) {
		sb_add(b, "%s%s: %s", b->len ? "; " : "", title, item);
		*first = 0;
	} else
		sb_add(b, ", %s", item);
}

static int
str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static int
has_cred(const struct px_provider *p, const unsigned char id[32])
{
	int i;

	for (i = 0; i < p->ncreds; i++)
		if (memcmp(p->creds[i].id, id, 32) == 0)
			return 1;
	return 0;
}

/* One item of a "provider p changed: a, b" list. */
static void
pitem(struct sb *b, int *first, const char *item)
{
	sb_add(b, "%s%s", *first ? ": " : ", ", item);
	*first = 0;
}

/* The parts of provider a that differ in b, into b's section. */
static void
provider_changes(const struct px_provider *a, const struct px_provider *b,
    struct sb *out)
{
	int first = 1, i, add = 0, del = 0, same;
	char what[64];

	if (strcmp(a->type, b->type) != 0)
		pitem(out, &first, "type");
	if (!str_eq(a->base_url, b->base_url))
		pitem(out, &first, "base_url");
	same = a->exec_argc == b->exec_argc;
	for (i = 0; same && i < a->exec_argc; i++)
		same = strcmp(a->exec_argv[i], b->exec_argv[i]) == 0;
	if (!same)
		pitem(out, &first, "command");
	if (!str_eq(a->exec_cwd, b->exec_cwd))
		pitem(out, &first, "cwd");
	same = a->exec_nenv == b->exec_nenv;
	for (i = 0; same && i < a->exec_nenv; i++)
		same = strcmp(a->exec_env[i], b->exec_env[i]) == 0;
	if (!same)
		pitem(out, &first, "env");
	if (a->exec_max_parallel != b->exec_max_parallel)
		pitem(out, &first, "max_parallel");
	if (a->exec_timeout_ms != b->exec_timeout_ms)
		pitem(out, &first, "timeout_ms");
	for (i = 0; i < b->ncreds; i++)
		add += !has_cred(a, b->creds[i].id);
	for (i = 0; i < a->ncreds; i++)
		del += !has_cred(b, a->creds[i].id);
	same = a->ncreds == b->ncreds;
	for (i = 0; same && i < a->ncreds; i++)
		same = strcmp(a->creds[i].label, b->creds[i].label) == 0 &&
		    memcmp(a->creds[i].id, b->creds[i].id, 32) == 0;
	if (add || del) {
		snprintf(what, sizeof what, "credentials +%d -%d", add, del);
		pitem(out, &first, what);
	} else if (!same)
		pitem(out, &first, "credential names or order");
	if (a->strategy != b->strategy)
		pitem(out, &first, "strategy");
	same = a->nheaders == b->nheaders;
	for (i = 0; same && i < a->nheaders; i++)
		same = strcmp(a->headers[i].name, b->headers[i].name) == 0 &&
		    strcmp(a->headers[i].value, b->headers[i].value) == 0;
	if (!same)
		pitem(out, &first, "headers");
	if (!str_eq(a->health_model, b->health_model) ||
	    (a->health_model && a->health_interval_s != b->health_interval_s))
		pitem(out, &first, "health_check");
	if (strcmp(a->anthropic_version, b->anthropic_version) != 0)
		pitem(out, &first, "anthropic_version");
	same = a->napi_models == b->napi_models;
	for (i = 0; same && i < a->napi_models; i++)
		same = strcmp(a->api_models[i], b->api_models[i]) == 0;
	if (!same)
		pitem(out, &first, "api models");
	if (!str_eq(a->api_version, b->api_version))
		pitem(out, &first, "api_version");
	same = a->ndeployments == b->ndeployments;
	for (i = 0; same && i < a->ndeployments; i++)
		same = strcmp(a->deployments[i].model,
		    b->deployments[i].model) == 0 &&
		    strcmp(a->deployments[i].deployment,
		    b->deployments[i].deployment) == 0;
	if (!same)
		pitem(out, &first, "deployments");
}

static const struct px_route *
route_named(const struct px_config *c, const char *pattern)
{
	int i;

	for (i = 0; i < c->nroutes; i++)
		if (strcmp(c->routes[i].pattern, pattern) == 0)
			return &c->routes[i];
	return NULL;
}

static int
route_same(const struct px_config *ca, const struct px_route *a,
    const struct px_config *cb, const struct px_route *b)
{
	int i;

	if (a->ntargets != b->ntargets ||
	    a->retry.max_attempts != b->retry.max_attempts ||
	    a->retry.budget_ms != b->retry.budget_ms)
		return 0;
	for (i = 0; i < a->ntargets; i++)
		if (strcmp(ca->providers[a->targets[i].provider].name,
		    cb->providers[b->targets[i].provider].name) != 0 ||
		    strcmp(a->targets[i].model, b->targets[i].model) != 0)
			return 0;
	return 1;
}

static int
has_key(const struct px_config *c, const struct auth_key *k)
{
	int i;

	for (i = 0; i < c->nkeys; i++)
		if (memcmp(c->keys[i].sha256, k->sha256, 32) == 0)
			return 1;
	return 0;
}

static int
secret_key_eq(const struct px_secret_key *a, const struct px_secret_key *b)
{
	return a->set == b->set &&
	    (!a->set || memcmp(a->key.sha256, b->key.sha256, 32) == 0);
}

/* see config.h */
size_t
px_config_diff(const struct px_config *old, const struct px_config *c,
    char *buf, size_t cap)
{
	struct sb b;
	const struct px_route *r;
	int i, j, first, add, del;
	size_t mark, head;

	b.buf = buf;
	b.cap = cap;
	b.len = 0;
	b.full = 0;
	if (cap == 0)
		return 0;
	buf[0] = 0;
	first = 1;
	for (i = 0; i < c->nproviders; i++)
		if (find_provider(old, c->providers[i].name,
		    strlen(c->providers[i].name)) < 0)
			sb_item(&b, &first, "providers added",
			    c->providers[i].name);
	first = 1;
	for (i = 0; i < old->nproviders; i++)
		if (find_provider(c, old->providers[i].name,
		    strlen(old->providers[i].name)) < 0)
			sb_item(&b, &first, "providers removed",
			    old->providers[i].name);
	for (i = 0; i < c->nproviders; i++) {
		j = find_provider(old, c->providers[i].name,
		    strlen(c->providers[i].name));
		if (j < 0)
			continue;
		mark = b.len;
		sb_add(&b, "%sprovider %s changed", b.len ? "; " : "",
		    c->providers[i].name);
		head = b.len;
		provider_changes(&old->providers[j], &c->providers[i], &b);
		if (!b.full && b.len == head) {
			b.len = mark;                 /* nothing changed */
			buf[mark] = 0;
		}
	}
	first = 1;
	for (i = 0; i < c->nroutes; i++)
		if (route_named(old, c->routes[i].pattern) == NULL)
			sb_item(&b, &first, "routes added", c->routes[i].pattern);
	first = 1;
	for (i = 0; i < old->nroutes; i++)
		if (route_named(c, old->routes[i].pattern) == NULL)
			sb_item(&b, &first, "routes removed",
			    old->routes[i].pattern);
	first = 1;
	for (i = 0; i < c->nroutes; i++)
		if ((r = route_named(old, c->routes[i].pattern)) != NULL &&
		    !route_same(old, r, c, &c->routes[i]))
			sb_item(&b, &first, "routes changed",
			    c->routes[i].pattern);
	add = del = 0;
	for (i = 0; i < c->nkeys; i++)
		add += !has_key(old, &c->keys[i]);
	for (i = 0; i < old->nkeys; i++)
		del += !has_key(c, &old->keys[i]);
	if (add || del)
		sb_add(&b, "%sclient keys: %d added, %d removed",
		    b.len ? "; " : "", add, del);
	first = 1;
	if (strcmp(old->listen, c->listen) != 0)
		sb_item(&b, &first, "settings changed", "listen");
	if (old->allow_open != c->allow_open)
		sb_item(&b, &first, "settings changed", "allow_open");
	if (strcmp(old->ca_file, c->ca_file) != 0)
		sb_item(&b, &first, "settings changed", "ca_file");
	if (!px_config_same_ca_add(old, c))
		sb_item(&b, &first, "settings changed", "ca_file_add");
	if (old->models_ttl_s != c->models_ttl_s)
		sb_item(&b, &first, "settings changed", "models_ttl_seconds");
	if (old->header_max != c->header_max || old->body_max != c->body_max ||
	    old->max_conns != c->max_conns ||
	    old->memory_max != c->memory_max ||
	    old->upstream_idle != c->upstream_idle)
		sb_item(&b, &first, "settings changed", "limits");
	if (old->header_timeout_ms != c->header_timeout_ms ||
	    old->idle_timeout_ms != c->idle_timeout_ms ||
	    old->connect_timeout_ms != c->connect_timeout_ms ||
	    old->first_byte_timeout_ms != c->first_byte_timeout_ms ||
	    old->stream_idle_timeout_ms != c->stream_idle_timeout_ms ||
	    old->drain_timeout_ms != c->drain_timeout_ms ||
	    old->heartbeat_ms != c->heartbeat_ms)
		sb_item(&b, &first, "settings changed", "timeouts");
	if (old->retry.max_attempts != c->retry.max_attempts ||
	    old->retry.budget_ms != c->retry.budget_ms)
		sb_item(&b, &first, "settings changed", "retry");
	if (old->default_max_tokens != c->default_max_tokens)
		sb_item(&b, &first, "settings changed", "default_max_tokens");
	if (old->verbose != c->verbose)
		sb_item(&b, &first, "settings changed", "verbose");
	if (old->log_format != c->log_format)
		sb_item(&b, &first, "settings changed", "log_format");
	if (strcmp(old->state_dir, c->state_dir) != 0)
		sb_item(&b, &first, "settings changed", "state_dir");
	if (!secret_key_eq(&old->admin_key, &c->admin_key))
		sb_item(&b, &first, "settings changed", "admin_key");
	if (!secret_key_eq(&old->metrics_key, &c->metrics_key))
		sb_item(&b, &first, "settings changed", "metrics_key");
	if (old->rstore_max_bytes != c->rstore_max_bytes ||
	    old->rstore_max_entries != c->rstore_max_entries ||
	    old->rstore_ttl_s != c->rstore_ttl_s ||
	    strcmp(old->rstore_dir, c->rstore_dir) != 0)
		sb_item(&b, &first, "settings changed", "responses_store");
	if (old->ses_max_bytes != c->ses_max_bytes ||
	    old->ses_max_entries != c->ses_max_entries ||
	    old->ses_max_turns != c->ses_max_turns ||
	    old->ses_ttl_s != c->ses_ttl_s || old->ses_persist != c->ses_persist)
		sb_item(&b, &first, "settings changed", "sessions");
	if (old->cache_max_bytes != c->cache_max_bytes ||
	    old->cache_max_entries != c->cache_max_entries ||
	    old->cache_ttl_s != c->cache_ttl_s)
		sb_item(&b, &first, "settings changed", "cache");
	if (b.len == 0)
		sb_add(&b, "no changes");
	return b.len;
}
