/*
 * fuzz_config.c - libFuzzer target for the config parser (config.c).
 *
 * The input is a config file (JSON with comments and trailing commas) given
 * to px_config_parse(). "env:NAME" secrets resolve against the environment
 * as in the proxy; the harness sets two variables so that path is reached,
 * and any other name simply fails. A failure must leave one NUL-terminated
 * message that starts with the file name. A config that loads must hold
 * together: every string field terminated, every route pointing at a
 * provider, every provider speaking a wire format; model routing and the
 * printout then run on it. The config struct is large, so it is allocated
 * once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "route.h"

#define CHECK(c)  do { if (!(c)) abort(); } while (0)
#define TERMINATED(a) CHECK(memchr((a), 0, sizeof (a)) != NULL)
/* an arena string: set, and terminated (ASan catches a walk past it) */
#define STR(p)    CHECK((p) != NULL && strlen(p) < FUZZ_CONFIG_MAX + 4096)
#define FUZZ_CONFIG_MAX (64u << 10)

static struct px_config *cfg;
static FILE *sink;

static void
check_loaded(const struct px_config *c, const char *data, size_t size)
{
	static const char *const models[] = {
		"gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro", "", "*", "x"
	};
	const struct px_route *r;
	char buf[512];
	size_t i, k;
	int j;

	TERMINATED(c->path);
	TERMINATED(c->listen);
	TERMINATED(c->ca_file);
	TERMINATED(c->rstore_dir);
	CHECK(c->nproviders >= 0 && c->nproviders <= PX_MAX_PROVIDERS);
	CHECK(c->nroutes >= 0 && c->nroutes <= PX_MAX_ROUTES);
	CHECK(c->nkeys >= 0 && c->nkeys <= PX_MAX_KEYS);
	for (j = 0; j < c->nproviders; j++) {
		const struct px_provider *p = &c->providers[j];
		TERMINATED(p->name);
		TERMINATED(p->type);
		STR(p->base_url);
		STR(p->host);
		TERMINATED(p->port);
		STR(p->base_path);
		STR(p->api_key);
		TERMINATED(p->anthropic_version);
		CHECK((int)p->fmt >= 0 && p->fmt < PX_FMT_COUNT);
		CHECK(p->napi_models >= 0 && p->napi_models <= PX_MAX_API_MODELS);
		for (k = 0; k < (size_t)p->napi_models; k++)
			STR(p->api_models[k]);
		CHECK(px_provider_fmt(p, "gpt-5") < PX_FMT_COUNT);
	}
	for (j = 0; j < c->nroutes; j++) {
		const struct px_route *rt = &c->routes[j];
		STR(rt->pattern);
		CHECK(rt->ntargets >= 1 && rt->ntargets <= PX_MAX_TARGETS);
		for (k = 0; k < (size_t)rt->ntargets; k++) {
			CHECK(rt->targets[k].provider >= 0 &&
			    rt->targets[k].provider < c->nproviders);
			STR(rt->targets[k].model);
		}
	}
	for (i = 0; i < sizeof models / sizeof models[0]; i++) {
		r = px_route_find(c, models[i], strlen(models[i]));
		if (r)
			CHECK(px_target_model(&r->targets[0], models[i],
			    strlen(models[i]), buf, sizeof buf) != NULL);
	}
	/* a route lookup by a name taken from the input itself */
	r = px_route_find(c, data, size < 64 ? size : 64);
	(void)r;
	(void)px_listen_is_loopback(c->listen);
	if (sink)
		px_config_print(c, sink);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];

	if (size > FUZZ_CONFIG_MAX)
		return 0;
	if (!cfg) {
		cfg = malloc(sizeof *cfg);
		CHECK(cfg != NULL);
		sink = fopen("/dev/null", "w");
		setenv("FUZZ_KEY", "sk-fuzz", 1);
		setenv("FUZZ_EMPTY", "", 1);
	}
	memset(err, 'x', sizeof err);
	if (px_config_parse(cfg, "f.json", (const char *)data, size, err,
	    sizeof err) == 0) {
		check_loaded(cfg, (const char *)data, size);
		return 0;
	}
	/* "f.json:<line>: ..." or "f.json: ..." */
	CHECK(memchr(err, 0, sizeof err) != NULL);
	CHECK(strncmp(err, "f.json", 6) == 0);
	return 0;
}
