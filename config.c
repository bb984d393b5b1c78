/*
 * config.c - load the JSON config (or the environment) into struct px_config.
 *
 * The file is parsed once with json_parse(JSON_F_COMMENTS) into a temporary
 * arena; every value is checked and copied into the fixed-size arrays of
 * struct px_config, and the arena is freed. Nothing in the result points into
 * the file text or the arena, so a loaded config is self-contained and can be
 * swapped as a whole on reload.
 *
 * Errors are "file:line: message". The line comes from the offending value's
 * raw pointer (json keeps the source bytes of every value), so a typo is
 * reported where it is, not where parsing gave up. Unknown keys and duplicate
 * keys are errors at every level: a misspelt "timeouts" silently falling back
 * to defaults is worse than refusing to start.
 *
 * Routes keep file order. px_route_find() tries exact patterns first and then
 * the wildcard patterns in file order, so "gpt-4o" wins over "gpt-*" wherever
 * either is written, and among wildcards the first written wins. A route's
 * targets are a list (fallback chain); today the proxy uses targets[0].
 *
 * Secrets: "env:NAME" is resolved at load time; the value lives only in
 * px_provider.api_key and is never printed (px_config_print says set/none).
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

#include "config.h"
#include "json.h"

#ifndef PX_CONFIG_FILE_MAX
#define PX_CONFIG_FILE_MAX (4u * 1024 * 1024)   /* bytes of config file */
#endif

/* Provider types: name in the config, wire format, default base URL. */
static const struct {
	const char *type;
	enum px_fmt fmt;
	const char *url;
} ptypes[] = {
	{ "openai", PX_FMT_CHAT, "https://api.openai.com/v1" },
	{ "openai-responses", PX_FMT_RESPONSES, "https://api.openai.com/v1" },
	{ "anthropic", PX_FMT_ANTHROPIC, "https://api.anthropic.com" },
	{ "gemini", PX_FMT_GEMINI,
	  "https://generativelanguage.googleapis.com/v1beta" },
};
#define NPTYPES (sizeof ptypes / sizeof ptypes[0])

#define ANTHROPIC_VERSION_DEFAULT "2023-06-01"

/* Parsing context: where messages point. */
struct ctx {
	const char *name;         /* file name for messages */
	const char *text;         /* file bytes (json raw pointers index it) */
	size_t len;
	char *err;
	size_t errcap;
};

/* 1-based line of p inside the text, 0 when p is not in it. */
static int
line_of(const struct ctx *x, const char *p)
{
	const char *q;
	int line = 1;

	if (p == NULL || x->text == NULL || p < x->text || p > x->text + x->len)
		return 0;
	for (q = x->text; q < p; q++)
		if (*q == '\n')
			line++;
	return line;
}

/* Write "name:line: message" (or "name: message" without a position). */
static int
failp(const struct ctx *x, const char *at, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	int line = line_of(x, at);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (x->err == NULL || x->errcap == 0)
		return -1;
	if (line > 0)
		snprintf(x->err, x->errcap, "%s:%d: %s", x->name, line, msg);
	else
		snprintf(x->err, x->errcap, "%s: %s", x->name, msg);
	return -1;
}

/* Same, positioned at value v. */
#define FAIL(x, v, ...) failp((x), (v) ? (v)->raw : NULL, __VA_ARGS__)

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
has_ctl(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

/* ------------------------------------------------------------ value helpers */

/*
 * String value into dst[cap]. `what` names the field in messages; `pre` is a
 * context prefix such as `provider "oai": `. Embedded NULs (\u0000) are
 * rejected: every field ends up in a C string.
 */
static int
get_str(const struct ctx *x, const struct json *v, const char *pre,
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

static int
get_posint(const struct ctx *x, const struct json *v, const char *what,
    long long max, long long *out)
{
	long long ll = 0;

	if (!json_int(v, &ll) || ll <= 0 || ll > max)
		return FAIL(x, v, "\"%s\" must be a positive integer", what);
	*out = ll;
	return 0;
}

static int
get_bool(const struct ctx *x, const struct json *v, const char *what, int *out)
{
	if (!json_bool(v, out))
		return FAIL(x, v, "\"%s\" must be true or false", what);
	return 0;
}

/*
 * Every member of obj must be one of allowed[] (NULL-terminated) and appear
 * once. `where` completes the message, e.g. ` in "limits"`.
 */
static int
check_keys(const struct ctx *x, const struct json *obj,
    const char *const *allowed, const char *where)
{
	const struct json *m, *p;
	size_t i;

	for (m = obj->child; m != NULL; m = m->next) {
		for (i = 0; allowed[i] != NULL; i++)
			if (json_eq(m->key, m->keylen, allowed[i]))
				break;
		if (allowed[i] == NULL)
			return FAIL(x, m, "unknown key \"%s\"%s", m->key, where);
		for (p = obj->child; p != m; p = p->next)
			if (p->keylen == m->keylen &&
			    memcmp(p->key, m->key, m->keylen) == 0)
				return FAIL(x, m, "duplicate key \"%s\"%s",
				    m->key, where);
	}
	return 0;
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

/* "host:port" with a numeric port (0 allowed: tests bind ephemeral ports). */
static int
listen_valid(const char *s)
{
	char host[256];
	const char *port;

	if (split_hostport(s, host, sizeof host, &port) < 0)
		return 0;
	return parse_port(port, strlen(port), 1) >= 0;
}

/* see config.h */
int
px_listen_is_loopback(const char *listen)
{
	char host[256];
	const char *port;
	unsigned char a[16];
	static const unsigned char v4mapped[12] =
	    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	size_t i;

	if (listen == NULL || split_hostport(listen, host, sizeof host,
	    &port) < 0)
		return 0;
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

/*
 * Parse base_url into p->tls/host/port/base_path and store it without the
 * trailing '/'. Returns NULL, or a static reason.
 */
static const char *
parse_base_url(struct px_provider *p, const char *url)
{
	const char *rest, *auth_end, *hs, *he, *port = NULL, *close;
	size_t n = strlen(url), an, pn;
	unsigned char a[16];
	char tmp[256];
	int v;

	if (n >= sizeof p->base_url)
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
	if (strpbrk(rest, "?#") != NULL)
		return "query or fragment not allowed";
	auth_end = rest + strcspn(rest, "/");
	an = (size_t)(auth_end - rest);
	if (memchr(rest, '@', an) != NULL)
		return "user info not allowed";
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
	if ((size_t)(he - hs) >= sizeof p->host)
		return "host too long";
	memcpy(p->host, hs, (size_t)(he - hs));
	p->host[he - hs] = 0;
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
	if (pn >= sizeof p->base_path)
		return "path too long";
	memcpy(p->base_path, auth_end, pn);
	p->base_path[pn] = 0;
	memcpy(p->base_url, url, n);
	p->base_url[n] = 0;
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
	p->fmt = ptypes[ti].fmt;
	snprintf(p->anthropic_version, sizeof p->anthropic_version, "%s",
	    ANTHROPIC_VERSION_DEFAULT);
}

/*
 * An OpenAI provider can serve some models through the other OpenAI API:
 * "responses_models" on an openai provider (say, models only offered on
 * /v1/responses), "chat_models" on an openai-responses one.
 */
static int
parse_api_models(const struct ctx *x, struct px_provider *p,
    const struct json *o, const char *pre)
{
	const char *key = p->fmt == PX_FMT_CHAT ? "responses_models" :
	    "chat_models";
	const char *other = p->fmt == PX_FMT_CHAT ? "chat_models" :
	    "responses_models";
	const struct json *v, *e;
	const char *s;
	size_t n;

	if ((v = json_get(o, other)) != NULL)
		return FAIL(x, v, "%s\"%s\" does not apply to type %s%s", pre,
		    other, p->type, p->fmt == PX_FMT_CHAT ||
		    p->fmt == PX_FMT_RESPONSES ? " (it is the default API)" :
		    " (only OpenAI providers have two APIs)");
	if ((v = json_get(o, key)) == NULL)
		return 0;
	if (p->fmt != PX_FMT_CHAT && p->fmt != PX_FMT_RESPONSES)
		return FAIL(x, v, "%s\"%s\" does not apply to type %s (only "
		    "OpenAI providers have two APIs)", pre, key, p->type);
	if (v->type != JSON_ARRAY)
		return FAIL(x, v, "%s\"%s\" must be a list of model names",
		    pre, key);
	for (e = v->child; e != NULL; e = e->next) {
		if (!json_str(e, &s, &n) || n == 0)
			return FAIL(x, e, "%s\"%s\": each entry must be a "
			    "non-empty string", pre, key);
		if (n >= sizeof p->api_models[0] || has_ctl(s, n) ||
		    memchr(s, 0, n) != NULL)
			return FAIL(x, e, "%s\"%s\": bad model name (max "
			    "%zu bytes, no control characters)", pre, key,
			    sizeof p->api_models[0] - 1);
		if (p->napi_models >= PX_MAX_API_MODELS)
			return FAIL(x, e, "%s\"%s\": too many entries (max "
			    "%d)", pre, key, PX_MAX_API_MODELS);
		memcpy(p->api_models[p->napi_models], s, n);
		p->api_models[p->napi_models][n] = 0;
		p->napi_models++;
	}
	return 0;
}

static int
parse_provider(const struct ctx *x, struct px_config *c, const struct json *o)
{
	static const char *const keys[] = { "name", "type", "base_url",
	    "api_key", "anthropic_version", "responses_models", "chat_models",
	    NULL };
	struct px_provider *p;
	const struct json *v;
	char name[sizeof p->name], type[sizeof p->type], pre[96], where[96];
	char url[sizeof p->base_url], key[sizeof p->api_key];
	const char *why, *ev;
	int ti;

	if (o->type != JSON_OBJECT)
		return FAIL(x, o, "each provider must be an object");
	if ((v = json_get(o, "name")) == NULL)
		return FAIL(x, o, "provider needs a \"name\"");
	if (get_str(x, v, "provider: ", "name", name, sizeof name) < 0)
		return -1;
	if (!name_ok(name))
		return FAIL(x, v, "bad provider name \"%s\" (must be non-empty, "
		    "without '/', '*' or spaces)", name);
	snprintf(pre, sizeof pre, "provider \"%s\": ", name);
	snprintf(where, sizeof where, " in provider \"%s\"", name);
	if (check_keys(x, o, keys, where) < 0)
		return -1;
	if (find_provider(c, name, strlen(name)) >= 0)
		return FAIL(x, v, "duplicate provider name \"%s\"", name);
	if (c->nproviders >= PX_MAX_PROVIDERS)
		return FAIL(x, o, "too many providers (max %d)",
		    PX_MAX_PROVIDERS);

	if ((v = json_get(o, "type")) == NULL)
		return FAIL(x, o, "%smissing \"type\" (openai, openai-responses, "
		    "anthropic or gemini)", pre);
	if (get_str(x, v, pre, "type", type, sizeof type) < 0)
		return -1;
	if ((ti = ptype_find(type)) < 0)
		return FAIL(x, v, "%sunknown type \"%s\" (expected openai, "
		    "openai-responses, anthropic or gemini)", pre, type);
	p = &c->providers[c->nproviders];
	provider_init(p, name, ti);

	snprintf(url, sizeof url, "%s", ptypes[ti].url);
	if ((v = json_get(o, "base_url")) != NULL &&
	    get_str(x, v, pre, "base_url", url, sizeof url) < 0)
		return -1;
	if ((why = parse_base_url(p, url)) != NULL)
		return FAIL(x, v, "%sbad base_url \"%s\": %s", pre, url, why);

	if ((v = json_get(o, "api_key")) != NULL) {
		if (get_str(x, v, pre, "api_key", key, sizeof key) < 0)
			return -1;
		if (strncmp(key, "env:", 4) == 0) {
			if (key[4] == 0)
				return FAIL(x, v, "%s\"api_key\": \"env:\" needs "
				    "a variable name", pre);
			ev = getenv(key + 4);
			if (ev == NULL || *ev == 0)
				return FAIL(x, v, "%senvironment variable %s "
				    "is not set", pre, key + 4);
			if (has_ctl(ev, strlen(ev)))
				return FAIL(x, v, "%senvironment variable %s "
				    "contains control characters", pre,
				    key + 4);
			if (strlen(ev) >= sizeof p->api_key)
				return FAIL(x, v, "%senvironment variable %s "
				    "is too long (max %zu bytes)", pre, key + 4,
				    sizeof p->api_key - 1);
			memcpy(p->api_key, ev, strlen(ev) + 1);
		} else
			memcpy(p->api_key, key, strlen(key) + 1);
	}
	if ((v = json_get(o, "anthropic_version")) != NULL &&
	    get_str(x, v, pre, "anthropic_version", p->anthropic_version,
	    sizeof p->anthropic_version) < 0)
		return -1;
	if (parse_api_models(x, p, o, pre) < 0)
		return -1;
	c->nproviders++;
	return 0;
}

/* ------------------------------------------------------------ routes */

/*
 * "provider" or "provider/upstream-model", split at the first '/': model
 * ids such as "meta-llama/Llama-3-70b" keep their own slashes.
 */
static int
parse_target(const struct ctx *x, const struct px_config *c,
    const struct json *v, const char *pattern, struct px_target *t)
{
	const char *s, *slash;
	size_t n, pn;

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
	t->model[0] = 0;
	if (slash != NULL) {
		n -= pn + 1;
		if (n == 0)
			return FAIL(x, v, "model \"%s\": empty upstream model "
			    "after \"%.*s/\"", pattern, (int)pn, s);
		if (n >= sizeof t->model)
			return FAIL(x, v, "model \"%s\": upstream model is too "
			    "long (max %zu bytes)", pattern,
			    sizeof t->model - 1);
		memcpy(t->model, slash + 1, n);
		t->model[n] = 0;
	}
	return 0;
}

static int
parse_models(const struct ctx *x, struct px_config *c, const struct json *o)
{
	const struct json *m, *p, *e;
	struct px_route *r;

	if (o->type != JSON_OBJECT)
		return FAIL(x, o, "\"models\" must be an object "
		    "({\"model\": \"provider[/upstream-model]\"})");
	for (m = o->child; m != NULL; m = m->next) {
		if (c->nroutes >= PX_MAX_ROUTES)
			return FAIL(x, m, "too many models (max %d)",
			    PX_MAX_ROUTES);
		if (m->keylen == 0 || memchr(m->key, 0, m->keylen) != NULL ||
		    has_ctl(m->key, m->keylen))
			return FAIL(x, m, "bad model name \"%s\"", m->key);
		if (m->keylen >= sizeof r->pattern)
			return FAIL(x, m, "model name is too long (max %zu "
			    "bytes)", sizeof r->pattern - 1);
		for (p = o->child; p != m; p = p->next)
			if (p->keylen == m->keylen &&
			    memcmp(p->key, m->key, m->keylen) == 0)
				return FAIL(x, m, "duplicate model \"%s\"",
				    m->key);
		r = &c->routes[c->nroutes];
		memset(r, 0, sizeof *r);
		memcpy(r->pattern, m->key, m->keylen + 1);
		r->line = line_of(x, m->raw);
		if (m->type == JSON_ARRAY) {
			if (m->child == NULL)
				return FAIL(x, m, "model \"%s\": empty target "
				    "list", r->pattern);
			for (e = m->child; e != NULL; e = e->next) {
				if (r->ntargets >= PX_MAX_TARGETS)
					return FAIL(x, e, "model \"%s\": too "
					    "many targets (max %d)", r->pattern,
					    PX_MAX_TARGETS);
				if (parse_target(x, c, e, r->pattern,
				    &r->targets[r->ntargets]) < 0)
					return -1;
				r->ntargets++;
			}
		} else {
			if (parse_target(x, c, m, r->pattern, &r->targets[0]) < 0)
				return -1;
			r->ntargets = 1;
		}
		c->nroutes++;
	}
	return 0;
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

static int
parse_api_keys(const struct ctx *x, struct px_config *c, const struct json *a)
{
	static const char *const keys[] = { "name", "sha256", "key", NULL };
	const struct json *e, *v, *hv, *kv;
	char name[AUTH_NAME_MAX], pre[AUTH_NAME_MAX + 48], hex[65];
	const char *s;
	size_t n, i;

	if (a->type != JSON_ARRAY)
		return FAIL(x, a, "\"api_keys\" must be an array");
	for (e = a->child, i = 0; e != NULL; e = e->next, i++) {
		if (c->nkeys >= PX_MAX_KEYS)
			return FAIL(x, e, "too many api_keys (max %d)",
			    PX_MAX_KEYS);
		snprintf(pre, sizeof pre, "api_keys[%zu]: ", i);
		if (json_str(e, &s, &n)) {
			if (n == 0)
				return FAIL(x, e, "%sempty key", pre);
			snprintf(name, sizeof name, "key%zu", i + 1);
			if (dup_key_name(c, name))
				return FAIL(x, e, "duplicate api key name "
				    "\"%s\"", name);
			auth_key_plain(&c->keys[c->nkeys++], name, s, n);
			continue;
		}
		if (e->type != JSON_OBJECT)
			return FAIL(x, e, "%smust be a string or {\"name\", "
			    "\"sha256\" or \"key\"}", pre);
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
			return FAIL(x, e, "%sneeds exactly one of \"sha256\" or "
			    "\"key\"", pre);
		if (hv != NULL) {
			if (!json_str(hv, &s, &n) || n != 64)
				return FAIL(x, hv, "%s\"sha256\" must be 64 hex "
				    "digits", pre);
			memcpy(hex, s, 64);
			hex[64] = 0;
			if (auth_key_hex(&c->keys[c->nkeys], name, hex) < 0)
				return FAIL(x, hv, "%s\"sha256\" must be 64 hex "
				    "digits", pre);
		} else {
			if (!json_str(kv, &s, &n))
				return FAIL(x, kv, "%s\"key\" must be a string",
				    pre);
			if (n == 0)
				return FAIL(x, kv, "%s\"key\" is empty", pre);
			auth_key_plain(&c->keys[c->nkeys], name, s, n);
		}
		c->nkeys++;
	}
	return 0;
}

/* ------------------------------------------------------------ limits */

static int
parse_limits(const struct ctx *x, struct px_config *c, const struct json *o)
{
	static const char *const keys[] = { "header_bytes", "body_bytes",
	    "connections", NULL };
	const struct json *v;
	long long ll = 0;
	long long smax = SIZE_MAX > LLONG_MAX ? LLONG_MAX : (long long)SIZE_MAX;

	if (o->type != JSON_OBJECT)
		return FAIL(x, o, "\"limits\" must be an object");
	if (check_keys(x, o, keys, " in \"limits\"") < 0)
		return -1;
	if ((v = json_get(o, "header_bytes")) != NULL) {
		if (get_posint(x, v, "limits.header_bytes", smax, &ll) < 0)
			return -1;
		c->header_max = (size_t)ll;
	}
	if ((v = json_get(o, "body_bytes")) != NULL) {
		if (get_posint(x, v, "limits.body_bytes", smax, &ll) < 0)
			return -1;
		c->body_max = (size_t)ll;
	}
	if ((v = json_get(o, "connections")) != NULL) {
		if (get_posint(x, v, "limits.connections", INT_MAX, &ll) < 0)
			return -1;
		c->max_conns = (int)ll;
	}
	return 0;
}

static int
parse_timeouts(const struct ctx *x, struct px_config *c, const struct json *o)
{
	static const char *const keys[] = { "header_ms", "idle_ms",
	    "connect_ms", "first_byte_ms", "stream_idle_ms", "drain_ms", NULL };
	int *dst[6];
	const struct json *v;
	char what[48];
	long long ll = 0;
	size_t i;

	dst[0] = &c->header_timeout_ms;
	dst[1] = &c->idle_timeout_ms;
	dst[2] = &c->connect_timeout_ms;
	dst[3] = &c->first_byte_timeout_ms;
	dst[4] = &c->stream_idle_timeout_ms;
	dst[5] = &c->drain_timeout_ms;
	if (o->type != JSON_OBJECT)
		return FAIL(x, o, "\"timeouts\" must be an object");
	if (check_keys(x, o, keys, " in \"timeouts\"") < 0)
		return -1;
	for (i = 0; i < 6; i++) {
		if ((v = json_get(o, keys[i])) == NULL)
			continue;
		snprintf(what, sizeof what, "timeouts.%s", keys[i]);
		if (get_posint(x, v, what, INT_MAX, &ll) < 0)
			return -1;
		*dst[i] = (int)ll;
	}
	return 0;
}

/* ------------------------------------------------------------ store */

static int
parse_rstore(const struct ctx *x, struct px_config *c, const struct json *o)
{
	static const char *const keys[] = { "max_bytes", "max_entries",
	    "ttl_seconds", "dir", NULL };
	const struct json *v;
	long long ll = 0;
	long long smax = SIZE_MAX > LLONG_MAX ? LLONG_MAX : (long long)SIZE_MAX;

	if (o->type != JSON_OBJECT)
		return FAIL(x, o, "\"responses_store\" must be an object");
	if (check_keys(x, o, keys, " in \"responses_store\"") < 0)
		return -1;
	if ((v = json_get(o, "max_bytes")) != NULL) {
		/* 0 turns the store off */
		if (!json_int(v, &ll) || ll < 0 || ll > smax)
			return FAIL(x, v, "\"responses_store.max_bytes\" must "
			    "be a non-negative integer");
		c->rstore_max_bytes = (size_t)ll;
	}
	if ((v = json_get(o, "max_entries")) != NULL) {
		if (get_posint(x, v, "responses_store.max_entries", smax,
		    &ll) < 0)
			return -1;
		c->rstore_max_entries = (size_t)ll;
	}
	if ((v = json_get(o, "ttl_seconds")) != NULL) {
		/* a year at most: expiry times stay far from overflow */
		if (get_posint(x, v, "responses_store.ttl_seconds",
		    366LL * 86400, &ll) < 0)
			return -1;
		c->rstore_ttl_s = ll;
	}
	if ((v = json_get(o, "dir")) != NULL) {
		if (get_str(x, v, "", "responses_store.dir", c->rstore_dir,
		    sizeof c->rstore_dir - 32) < 0)
			return -1;
		if (!c->rstore_dir[0])
			return FAIL(x, v, "\"responses_store.dir\" must not be "
			    "empty (leave it out for a memory-only store)");
	}
	return 0;
}

/* ------------------------------------------------------------ public */

/* see config.h */
void
px_config_defaults(struct px_config *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->listen, sizeof c->listen, "%s", PX_LISTEN_DEFAULT);
	c->header_max = PX_HEADER_MAX;
	c->body_max = PX_BODY_MAX;
	c->max_conns = PX_MAX_CONNS;
	c->header_timeout_ms = PX_HEADER_TIMEOUT_MS;
	c->idle_timeout_ms = PX_IDLE_TIMEOUT_MS;
	c->connect_timeout_ms = PX_CONNECT_TIMEOUT_MS;
	c->first_byte_timeout_ms = PX_FIRST_BYTE_TIMEOUT_MS;
	c->stream_idle_timeout_ms = PX_STREAM_IDLE_TIMEOUT_MS;
	c->drain_timeout_ms = PX_DRAIN_TIMEOUT_MS;
	c->default_max_tokens = PX_DEFAULT_MAX_TOKENS;
	c->rstore_max_bytes = PX_RSTORE_MAX_BYTES;
	c->rstore_max_entries = PX_RSTORE_MAX_ENTRIES;
	c->rstore_ttl_s = PX_RSTORE_TTL_S;
}

static int
parse_root(const struct ctx *x, struct px_config *c, const struct json *root)
{
	static const char *const keys[] = { "listen", "api_keys", "allow_open",
	    "providers", "models", "ca_file", "limits", "timeouts",
	    "default_max_tokens", "verbose", "responses_store", NULL };
	const struct json *v, *e, *lv;
	long long ll = 0;

	if (root->type != JSON_OBJECT)
		return FAIL(x, root, "the config must be a JSON object");
	if (check_keys(x, root, keys, "") < 0)
		return -1;
	if ((lv = json_get(root, "listen")) != NULL) {
		if (get_str(x, lv, "", "listen", c->listen,
		    sizeof c->listen) < 0)
			return -1;
		if (!listen_valid(c->listen))
			return FAIL(x, lv, "\"listen\" must be host:port, "
			    "e.g. \"127.0.0.1:8080\" or \"[::1]:8080\"");
	}
	if ((v = json_get(root, "allow_open")) != NULL &&
	    get_bool(x, v, "allow_open", &c->allow_open) < 0)
		return -1;
	if ((v = json_get(root, "verbose")) != NULL &&
	    get_bool(x, v, "verbose", &c->verbose) < 0)
		return -1;
	if ((v = json_get(root, "ca_file")) != NULL &&
	    get_str(x, v, "", "ca_file", c->ca_file, sizeof c->ca_file) < 0)
		return -1;
	if ((v = json_get(root, "limits")) != NULL &&
	    parse_limits(x, c, v) < 0)
		return -1;
	if ((v = json_get(root, "timeouts")) != NULL &&
	    parse_timeouts(x, c, v) < 0)
		return -1;
	if ((v = json_get(root, "responses_store")) != NULL &&
	    parse_rstore(x, c, v) < 0)
		return -1;
	if ((v = json_get(root, "default_max_tokens")) != NULL) {
		if (get_posint(x, v, "default_max_tokens", LLONG_MAX, &ll) < 0)
			return -1;
		c->default_max_tokens = ll;
	}
	if ((v = json_get(root, "api_keys")) != NULL &&
	    parse_api_keys(x, c, v) < 0)
		return -1;
	/* providers before models, wherever they are written */
	if ((v = json_get(root, "providers")) != NULL) {
		if (v->type != JSON_ARRAY)
			return FAIL(x, v, "\"providers\" must be an array");
		for (e = v->child; e != NULL; e = e->next)
			if (parse_provider(x, c, e) < 0)
				return -1;
	}
	if ((v = json_get(root, "models")) != NULL &&
	    parse_models(x, c, v) < 0)
		return -1;
	/* An open proxy on a public address spends the owner's upstream keys
	 * for anyone who finds it: require keys, or an explicit opt-out. */
	if (c->nkeys == 0 && !c->allow_open &&
	    !px_listen_is_loopback(c->listen))
		return FAIL(x, lv, "refusing to listen on %s without api_keys; "
		    "add api_keys or set \"allow_open\": true", c->listen);
	return 0;
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
	int rc = -1;

	x.name = name ? name : "config";
	x.text = text;
	x.len = len;
	x.err = err;
	x.errcap = errcap;
	px_config_defaults(c);
	snprintf(c->path, sizeof c->path, "%s", x.name);
	/* the DOM of a config is a small multiple of its size */
	px_arena_init(&a, 64 * (size_t)PX_CONFIG_FILE_MAX);
	memset(&je, 0, sizeof je);
	root = json_parse(&a, text, len, JSON_F_COMMENTS, &je);
	if (root == NULL) {
		failp(&x, text + (je.pos <= len ? je.pos : len),
		    "invalid JSON: %s", je.msg ? je.msg : "syntax error");
		goto done;
	}
	if (parse_root(&x, c, root) < 0)
		goto done;
	rc = 0;
done:
	px_arena_free(&a);
	return rc;
}

/* see config.h */
int
px_config_load(struct px_config *c, const char *path, char *err,
    size_t errcap)
{
	FILE *f;
	char *buf = NULL;
	size_t n = 0, cap = PX_CONFIG_FILE_MAX + 1;
	int rc = -1;

	px_config_defaults(c);
	if ((f = fopen(path, "rb")) == NULL) {
		set_err(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((buf = malloc(cap)) == NULL) {
		set_err(err, errcap, "%s: out of memory", path);
		goto done;
	}
	n = fread(buf, 1, cap, f);
	if (ferror(f)) {
		set_err(err, errcap, "%s: %s", path, strerror(errno));
		goto done;
	}
	if (n > PX_CONFIG_FILE_MAX) {
		set_err(err, errcap, "%s: file too large (max %u bytes)", path,
		    (unsigned)PX_CONFIG_FILE_MAX);
		goto done;
	}
	rc = px_config_parse(c, path, buf, n, err, errcap);
done:
	free(buf);
	fclose(f);
	return rc;
}

/* ------------------------------------------------------------ environment */

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != 0 ? v : NULL;
}

/* Add provider `name` of type `type` when key or url is set. 0 = added or
 * skipped, -1 = error in err. */
static int
env_provider(struct px_config *c, const char *name, const char *type,
    const char *keyvar, const char *urlvar, char *err, size_t errcap)
{
	struct px_provider *p;
	const char *key = env(keyvar), *url = env(urlvar), *why;
	int ti = ptype_find(type);

	if (key == NULL && url == NULL)
		return 0;
	p = &c->providers[c->nproviders];
	provider_init(p, name, ti);
	if (url == NULL)
		url = ptypes[ti].url;
	if ((why = parse_base_url(p, url)) != NULL) {
		set_err(err, errcap, "%s: bad base_url \"%s\": %s", urlvar, url,
		    why);
		return -1;
	}
	if (key != NULL) {
		if (has_ctl(key, strlen(key)) || strlen(key) >= sizeof p->api_key) {
			set_err(err, errcap, "%s: contains control characters "
			    "or is too long", keyvar);
			return -1;
		}
		snprintf(p->api_key, sizeof p->api_key, "%s", key);
	}
	c->nproviders++;
	return 0;
}

static void
env_route(struct px_config *c, const char *pattern, const char *provider)
{
	struct px_route *r;
	int pi = find_provider(c, provider, strlen(provider));

	if (pi < 0)
		return;
	r = &c->routes[c->nroutes++];
	memset(r, 0, sizeof *r);
	snprintf(r->pattern, sizeof r->pattern, "%s", pattern);
	r->targets[0].provider = pi;
	r->ntargets = 1;
}

/*
 * see config.h
 *
 * Routes, each added only when its provider is configured:
 *   "claude-*" -> anthropic, "gemini-*" -> gemini, and the catch-all "*"
 *   -> openai, or anthropic when there is no openai, or gemini when there is
 *   neither. Upstream model = requested model.
 * LLMPROXY_API_KEYS is a comma-separated list of client keys (spaces around
 * each trimmed; named key1, key2, ...). LLMPROXY_LISTEN overrides the address;
 * a non-loopback address without client keys is refused unless
 * LLMPROXY_ALLOW_OPEN=1, as "allow_open" in a file.
 */
int
px_config_from_env(struct px_config *c, char *err, size_t errcap)
{
	const char *v, *s, *e;
	char name[AUTH_NAME_MAX];
	const char *gkey;

	px_config_defaults(c);
	if (env_provider(c, "openai", "openai", "OPENAI_API_KEY",
	    "OPENAI_BASE_URL", err, errcap) < 0)
		return -1;
	if (env_provider(c, "anthropic", "anthropic", "ANTHROPIC_API_KEY",
	    "ANTHROPIC_BASE_URL", err, errcap) < 0)
		return -1;
	gkey = env("GEMINI_API_KEY") ? "GEMINI_API_KEY" : "GOOGLE_API_KEY";
	if (env_provider(c, "gemini", "gemini", gkey, "GEMINI_BASE_URL", err,
	    errcap) < 0)
		return -1;
	env_route(c, "claude-*", "anthropic");
	env_route(c, "gemini-*", "gemini");
	if (find_provider(c, "openai", 6) >= 0)
		env_route(c, "*", "openai");
	else if (find_provider(c, "anthropic", 9) >= 0)
		env_route(c, "*", "anthropic");
	else
		env_route(c, "*", "gemini");

	if ((v = env("LLMPROXY_LISTEN")) != NULL) {
		if (strlen(v) >= sizeof c->listen || !listen_valid(v)) {
			set_err(err, errcap, "LLMPROXY_LISTEN: \"%s\" must be "
			    "host:port", v);
			return -1;
		}
		snprintf(c->listen, sizeof c->listen, "%s", v);
	}
	if ((v = env("LLMPROXY_API_KEYS")) != NULL) {
		for (s = v; *s; s = *e ? e + 1 : e) {
			e = s + strcspn(s, ",");
			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
			while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			if (e > s) {
				if (c->nkeys >= PX_MAX_KEYS) {
					set_err(err, errcap, "LLMPROXY_API_KEYS:"
					    " too many keys (max %d)",
					    PX_MAX_KEYS);
					return -1;
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
	if (c->nkeys == 0 && !c->allow_open &&
	    !px_listen_is_loopback(c->listen)) {
		set_err(err, errcap, "refusing to listen on %s without api_keys;"
		    " set LLMPROXY_API_KEYS or LLMPROXY_ALLOW_OPEN=1", c->listen);
		return -1;
	}
	return c->nproviders;
}

/* ------------------------------------------------------------ routing */

/* '*' matches any run of bytes (also empty); everything else literally.
 * Greedy with one backtrack point: linear in practice, no recursion. */
static int
glob_match(const char *p, const char *s, size_t n)
{
	const char *star = NULL;
	size_t i = 0, mark = 0;

	while (i < n) {
		if (*p == '*') {
			star = ++p;
			mark = i;
		} else if (*p != 0 && *p == s[i]) {
			p++;
			i++;
		} else if (star != NULL) {
			p = star;
			i = ++mark;
		} else
			return 0;
	}
	while (*p == '*')
		p++;
	return *p == 0;
}

/* see config.h */
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
		    glob_match(r->pattern, model, n))
			return r;
	}
	return NULL;
}

/* see config.h */
const char *
px_target_model(const struct px_target *t, const char *model, size_t n,
    char *buf, size_t cap)
{
	const char *s = model;

	if (t->model[0] != 0) {
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

/* see config.h */
enum px_fmt
px_provider_fmt(const struct px_provider *p, const char *model)
{
	int i;

	for (i = 0; i < p->napi_models; i++)
		if (glob_match(p->api_models[i], model, strlen(model)))
			return p->fmt == PX_FMT_CHAT ? PX_FMT_RESPONSES :
			    PX_FMT_CHAT;
	return p->fmt;
}

/* see config.h */
void
px_config_print(const struct px_config *c, FILE *f)
{
	const struct px_provider *p;
	const struct px_route *r;
	const struct px_target *t;
	int i, j;

	for (i = 0; i < c->nproviders; i++) {
		p = &c->providers[i];
		fprintf(f, "provider %s type %s base_url %s key %s\n", p->name,
		    p->type, p->base_url, p->api_key[0] ? "set" : "none");
		for (j = 0; j < p->napi_models; j++)
			fprintf(f, "provider %s uses %s for %s\n", p->name,
			    p->fmt == PX_FMT_CHAT ? "/responses" :
			    "/chat/completions", p->api_models[j]);
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
		fputc('\n', f);
	}
}
