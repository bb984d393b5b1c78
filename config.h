/*
 * config.h - configuration: providers, model routes, client keys, limits.
 *
 * Sources, in order: built-in defaults (the #ifndef constants below), the
 * JSON config file (comments and trailing commas allowed), or - with no
 * file - the environment (OPENAI_API_KEY/OPENAI_BASE_URL,
 * ANTHROPIC_API_KEY/ANTHROPIC_BASE_URL, GEMINI_API_KEY/GEMINI_BASE_URL).
 * A loaded config is immutable; a reload builds a new one (hot reload swaps
 * the pointer; connections keep the one they started with).
 */
#ifndef PX_CONFIG_H
#define PX_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include "auth.h"
#include "convert.h"

#ifndef PX_LISTEN_DEFAULT
#define PX_LISTEN_DEFAULT      "127.0.0.1:8080"
#endif
#ifndef PX_HEADER_MAX
#define PX_HEADER_MAX          (32 * 1024)       /* request head bytes -> 431 */
#endif
#ifndef PX_BODY_MAX
#define PX_BODY_MAX            (32u * 1024 * 1024) /* request body -> 413 */
#endif
#ifndef PX_MAX_CONNS
#define PX_MAX_CONNS           4096
#endif
#ifndef PX_HEADER_TIMEOUT_MS
#define PX_HEADER_TIMEOUT_MS   10000   /* whole request head+body -> 408 */
#endif
#ifndef PX_IDLE_TIMEOUT_MS
#define PX_IDLE_TIMEOUT_MS     60000   /* keep-alive idle */
#endif
#ifndef PX_CONNECT_TIMEOUT_MS
#define PX_CONNECT_TIMEOUT_MS  10000   /* DNS + TCP + TLS handshake */
#endif
#ifndef PX_FIRST_BYTE_TIMEOUT_MS
#define PX_FIRST_BYTE_TIMEOUT_MS 300000 /* upstream response head -> 504 */
#endif
#ifndef PX_STREAM_IDLE_TIMEOUT_MS
#define PX_STREAM_IDLE_TIMEOUT_MS 300000 /* gap between upstream bytes */
#endif
#ifndef PX_DRAIN_TIMEOUT_MS
#define PX_DRAIN_TIMEOUT_MS    30000   /* SIGTERM: let streams finish */
#endif
#ifndef PX_MAX_PROVIDERS
#define PX_MAX_PROVIDERS       64
#endif
#ifndef PX_MAX_ROUTES
#define PX_MAX_ROUTES          256
#endif
#ifndef PX_MAX_TARGETS
#define PX_MAX_TARGETS         8       /* per route (fallback chains later) */
#endif
#ifndef PX_MAX_API_MODELS
#define PX_MAX_API_MODELS      16      /* per provider: models on the other
                                          OpenAI API */
#endif
#ifndef PX_MAX_KEYS
#define PX_MAX_KEYS            256
#endif
/* Responses store: responses kept for previous_response_id ("responses_store") */
#ifndef PX_RSTORE_MAX_BYTES
#define PX_RSTORE_MAX_BYTES    (16u * 1024 * 1024) /* 0 = store off */
#endif
#ifndef PX_RSTORE_MAX_ENTRIES
#define PX_RSTORE_MAX_ENTRIES  4096
#endif
#ifndef PX_RSTORE_TTL_S
#define PX_RSTORE_TTL_S        86400
#endif
#ifndef PX_RSTORE_REC_MAX
#define PX_RSTORE_REC_MAX      (4u * 1024 * 1024) /* one turn's record; larger
                                                    ones are not stored */
#endif
#ifndef PX_RSTORE_SWEEP_MS
#define PX_RSTORE_SWEEP_MS     10000   /* expired records swept this often */
#endif

struct px_provider {
	char name[64];
	char type[24];            /* "openai", "openai-responses", "anthropic", "gemini" */
	enum px_fmt fmt;          /* wire format spoken upstream */
	char base_url[512];
	int tls;                  /* https */
	char host[256];
	char port[8];
	char base_path[256];      /* path part of base_url, no trailing '/' */
	char api_key[1024];       /* resolved secret ("env:X" read at load); never logged */
	char anthropic_version[32];
	/* OpenAI providers: upstream model patterns ('*' wildcards) served by
	 * the other OpenAI API - "responses_models" on an openai provider,
	 * "chat_models" on an openai-responses one. */
	char api_models[PX_MAX_API_MODELS][128];
	int napi_models;
};

struct px_target {
	int provider;             /* index into providers */
	char model[256];          /* upstream model; "" = same as requested */
};

struct px_route {
	char pattern[256];        /* exact name, or with '*' wildcards */
	struct px_target targets[PX_MAX_TARGETS];
	int ntargets;             /* 1 today; a list later (fallback chain) */
	int line;                 /* config line, for messages */
};

struct px_config {
	char path[512];           /* "" when from the environment */
	char listen[128];
	struct auth_key keys[PX_MAX_KEYS];
	int nkeys;
	int allow_open;
	struct px_provider providers[PX_MAX_PROVIDERS];
	int nproviders;
	struct px_route routes[PX_MAX_ROUTES];
	int nroutes;
	char ca_file[512];        /* "" = search the system */
	/* limits and timeouts */
	size_t header_max, body_max;
	int max_conns;
	int header_timeout_ms, idle_timeout_ms, connect_timeout_ms;
	int first_byte_timeout_ms, stream_idle_timeout_ms, drain_timeout_ms;
	long long default_max_tokens;
	int verbose;
	/* Responses store: max_bytes 0 = off; dir "" = memory only */
	size_t rstore_max_bytes, rstore_max_entries;
	long long rstore_ttl_s;
	char rstore_dir[512];
};

/* Defaults only (no providers). */
void px_config_defaults(struct px_config *c);

/*
 * Load a JSON config file. On error returns -1 with "file:line: message" in
 * err. Secrets written as "env:NAME" are read from the environment (an unset
 * variable is an error naming the variable, not the value).
 */
int px_config_load(struct px_config *c, const char *path, char *err,
                   size_t errcap);

/* Same, from a buffer (name used in messages). */
int px_config_parse(struct px_config *c, const char *name, const char *text,
                    size_t len, char *err, size_t errcap);

/*
 * Zero-config: providers from the environment. Routes: "claude-*" to
 * anthropic, "gemini-*" to gemini, "*" to openai (each only when its key or
 * base URL is set). Returns the number of providers configured (0 is not an
 * error: the proxy then answers 404s explaining how to configure).
 */
int px_config_from_env(struct px_config *c, char *err, size_t errcap);

/*
 * Route a requested model name. First exact match wins, then wildcard
 * patterns in file order. Returns the route or NULL.
 */
const struct px_route *px_route_find(const struct px_config *c,
                                     const char *model, size_t n);

/* Upstream model for target t given the requested name (copies into buf). */
const char *px_target_model(const struct px_target *t, const char *model,
                            size_t n, char *buf, size_t cap);

/* Wire format to use with provider p for upstream model `model`: the
 * provider's own, or the other OpenAI API when listed in api_models. */
enum px_fmt px_provider_fmt(const struct px_provider *p, const char *model);

/* Print the resolved routes and providers (no secrets): check-config and
 * the startup lines. */
void px_config_print(const struct px_config *c, FILE *f);

/* 1 when listen is a loopback address (127.0.0.0/8, ::1, localhost). */
int px_listen_is_loopback(const char *listen);

#endif
