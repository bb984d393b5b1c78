/*
 * config.h - configuration: providers, credentials, model routes, client
 * keys, retry policy, limits.
 *
 * Sources, in order: built-in defaults (the #ifndef constants below), the
 * JSON config file (comments and trailing commas allowed), or - with no
 * file - the environment (OPENAI_API_KEY/OPENAI_BASE_URL,
 * ANTHROPIC_API_KEY/ANTHROPIC_BASE_URL, GEMINI_API_KEY/GEMINI_BASE_URL).
 *
 * A loaded config is immutable and compact: the struct itself is a few KB and
 * every array (providers, credentials, routes, keys, ...) is sized to its
 * content in an arena the config owns, bounded by the #ifndef caps below. A
 * hot reload builds a new config next to the old one and swaps the pointer;
 * requests keep the config they started with until they finish, then the
 * old one is released with px_config_free().
 *
 * Errors: a parse reports every error it can find in one run (bounded by
 * PX_CONFIG_MAX_ERRORS), each "file:line: message".
 */
#ifndef PX_CONFIG_H
#define PX_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include "auth.h"
#include "convert.h"

struct px_prices;
#include "json.h"

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
#ifndef PX_MEMORY_MAX
#define PX_MEMORY_MAX          (1024LL * 1024 * 1024) /* in-flight bytes, all
                                                        requests together */
#endif
#ifndef PX_UPSTREAM_IDLE
#define PX_UPSTREAM_IDLE       1024    /* idle upstream keep-alive conns kept */
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
#ifndef PX_HEARTBEAT_MS
#define PX_HEARTBEAT_MS        15000   /* keep-alive comment on quiet streams;
                                          0 = off */
#endif
#ifndef PX_RETRY_MAX_ATTEMPTS
#define PX_RETRY_MAX_ATTEMPTS  3       /* upstream attempts per request */
#endif
#ifndef PX_RETRY_BUDGET_MS
#define PX_RETRY_BUDGET_MS     30000   /* no new attempt after this long */
#endif
#ifndef PX_RETRY_ATTEMPTS_CAP
#define PX_RETRY_ATTEMPTS_CAP  16      /* largest "max_attempts" accepted */
#endif
#ifndef PX_MAX_PROVIDERS
#define PX_MAX_PROVIDERS       64
#endif
#ifndef PX_MAX_CREDS
#define PX_MAX_CREDS           32      /* credentials per provider (<= 64) */
#endif
#ifndef PX_MAX_CREDS_TOTAL
#define PX_MAX_CREDS_TOTAL     1024    /* credentials in the whole config */
#endif
#ifndef PX_MAX_PROVIDER_HEADERS
#define PX_MAX_PROVIDER_HEADERS 16     /* fixed upstream headers per provider */
#endif
#ifndef PX_MAX_DEPLOYMENTS
#define PX_MAX_DEPLOYMENTS     64      /* azure model -> deployment entries */
#endif
#ifndef PX_MAX_ROUTES
#define PX_MAX_ROUTES          256
#endif
#ifndef PX_MAX_TARGETS
#define PX_MAX_TARGETS         8       /* per route (fallback chain) */
#endif
#ifndef PX_MAX_API_MODELS
#define PX_MAX_API_MODELS      16      /* per provider: models on the other
                                          OpenAI API */
#endif
#ifndef PX_MAX_CA_ADD
#define PX_MAX_CA_ADD          8      /* "ca_file_add" entries */
#endif
#ifndef PX_MODELS_TTL_S
#define PX_MODELS_TTL_S        600    /* "models_ttl_seconds" default */
#endif
#ifndef PX_MAX_KEYS
#define PX_MAX_KEYS            256
#endif
#ifndef PX_EXEC_MAX_ARGS
#define PX_EXEC_MAX_ARGS       64      /* "command" elements (exec) */
#endif
#ifndef PX_EXEC_MAX_ENV
#define PX_EXEC_MAX_ENV        64      /* "env" entries (exec) */
#endif
#ifndef PX_EXEC_PARALLEL
#define PX_EXEC_PARALLEL       4       /* "max_parallel" default (exec) */
#endif
#ifndef PX_EXEC_TIMEOUT_MS
#define PX_EXEC_TIMEOUT_MS     600000  /* "timeout_ms" default (exec) */
#endif
#ifndef PX_HEALTH_INTERVAL_S
#define PX_HEALTH_INTERVAL_S   60      /* "health_check" without interval_s */
#endif
#ifndef PX_CONFIG_MAX_ERRORS
#define PX_CONFIG_MAX_ERRORS   64      /* messages kept per parse */
#endif
#ifndef PX_LABEL_MAX
#define PX_LABEL_MAX           80      /* credential label, NUL included */
#endif
/* Conversation sessions ("sessions"): off unless configured; see session.h
 * for the other bounds */
#ifndef PX_SES_CFG_MAX_BYTES
#define PX_SES_CFG_MAX_BYTES   (64u * 1024 * 1024)
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

/* Provider kinds ("type" in the config). */
enum px_ptype {
	PX_PT_OPENAI = 0,         /* Chat Completions (any OpenAI-compatible) */
	PX_PT_OPENAI_RESPONSES,   /* OpenAI /v1/responses */
	PX_PT_ANTHROPIC,
	PX_PT_GEMINI,
	PX_PT_AZURE,              /* Azure OpenAI: Chat, api-key header,
	                             deployment or /openai/v1 paths */
	PX_PT_EXEC,               /* a command run per request, speaking
	                             stream-json (PX_FMT_CLI); no HTTP */
	/* subscription accounts (account.h): the credentials are the stored
	 * accounts of the kind, the request is shaped as its client sends it */
	PX_PT_CLAUDE_ACCOUNT,     /* Anthropic Messages, Claude Code OAuth */
	PX_PT_CODEX_ACCOUNT,      /* Responses, the ChatGPT backend */
	PX_PT_GEMINI_ACCOUNT,     /* Gemini, Code Assist v1internal */
	PX_PT_COPILOT_ACCOUNT     /* Chat, the Copilot API */
};

/* How a provider's credentials are spent. */
enum px_strategy {
	PX_STRAT_ROUND_ROBIN = 0, /* rotate the first key tried per request */
	PX_STRAT_FILL_FIRST       /* always the first available key */
};

enum px_log_format { PX_LOG_TEXT = 0, PX_LOG_JSON };

/*
 * One upstream credential. `label` names it in logs, metrics and the admin
 * view: the configured name, or "<provider>#<n>" (n from 1). `id` is
 * SHA-256(provider name, NUL, secret): stable across reloads while the
 * provider name and the secret stay the same, and reveals nothing usable.
 * A provider without a key has one credential whose secret is "".
 */
struct px_cred {
	char label[PX_LABEL_MAX];
	const char *secret;       /* resolved ("env:X" read at load); never
	                             logged */
	unsigned char id[32];
	unsigned char src;        /* PX_CRED_*: where the secret comes from */
};

/*
 * Credentials whose token is not in the config but obtained at run time
 * (the server's acctsrv.c): an account's (label = the account's label,
 * id = SHA-256(provider name, NUL, "account", NUL, label), so state follows
 * the account across reloads and token rotations), or a token exchange's
 * (id = SHA-256(provider name, NUL, url, NUL, token)). Their secret is "".
 */
#define PX_CRED_KEY      0        /* the secret itself */
#define PX_CRED_ACCOUNT  1        /* a stored account (px_config_bind_accounts) */
#define PX_CRED_EXCHANGE 2        /* the provider's token_exchange */

/*
 * "token_exchange": a long-lived token exchanged at `url` for short-lived
 * access tokens (account.h, px_tx_request). Strings in the config's arena.
 */
#ifndef PX_TX_FIELDS_MAX
#define PX_TX_FIELDS_MAX 16
#endif
struct px_token_exchange {
	const char *url;
	const char *token;        /* resolved; never logged */
	int json;                 /* "format": "json" (1) or "form" (0) */
	const char *names[PX_TX_FIELDS_MAX];  /* "fields", in order; "{token}" */
	const char *values[PX_TX_FIELDS_MAX]; /* in a value is the token */
	int nfields;
	const char *token_field;  /* "" = access_token, else token */
	long long ttl_s;          /* when the answer gives no expiry */
	const char *header;       /* "" = Authorization: Bearer; else the
	                             token alone in this header */
};

/* A fixed upstream header (name validated as an HTTP token, value without
 * CR/LF/NUL; "env:NAME" resolved at load). */
struct px_header {
	const char *name, *value;
};

/* Azure: upstream model name -> deployment name. */
struct px_deployment {
	const char *model, *deployment;
};

/*
 * Strings are NUL-terminated and live in the config's arena (never NULL
 * unless said otherwise).
 */
struct px_provider {
	char name[64];
	char type[24];            /* "openai", "openai-responses", "anthropic",
	                             "gemini", "azure", "exec" */
	enum px_ptype kind;
	enum px_fmt fmt;          /* wire format spoken upstream (azure: chat) */
	const char *base_url;     /* as configured, without trailing '/' ("" for
	                             exec, and host, base_path too) */
	int tls;                  /* https */
	unsigned base_url_default:1;  /* base_url is the type's own (the
	                                 config did not set one) */
	const char *host;
	char port[8];
	const char *base_path;    /* path part of base_url, no trailing '/' */
	const char *api_key;      /* creds[0].secret ("" without a key): the
	                             single-key view for code that predates
	                             pools; never logged */
	char anthropic_version[32];
	/* OpenAI and Azure providers: upstream model patterns ('*' wildcards)
	 * served by the other OpenAI API - "responses_models" on an openai or
	 * azure provider, "chat_models" on an openai-responses one. */
	const char **api_models;
	int napi_models;
	/* credentials (at least one, but for account providers, which may
	 * have none), "strategy" */
	struct px_cred *creds;
	int ncreds;
	enum px_strategy strategy;
	/* "headers": fixed upstream headers */
	struct px_header *headers;
	int nheaders;
	/* "health_check": health_model NULL = no active checks */
	const char *health_model;
	int health_interval_s;
	/* azure: api_version "" = the /openai/v1/ paths */
	const char *api_version;
	struct px_deployment *deployments;
	int ndeployments;
	/* exec: "command" (argv, NULL-terminated; "{model}" in an argument
	 * is replaced by the upstream model per request; argv[0] is looked up
	 * on PATH unless it holds a '/'), "cwd" (NULL = the proxy's), "env"
	 * ("NAME=value" on top of the proxy's environment, "env:X" values
	 * resolved at load; NULL-terminated, or NULL), "max_parallel"
	 * processes (0 = no limit) and "timeout_ms" per request (0 = none).
	 * NULL/0 for every other kind. */
	const char **exec_argv;
	int exec_argc;
	const char *exec_cwd;
	const char **exec_env;
	int exec_nenv;
	int exec_max_parallel;
	int exec_timeout_ms;
	/* account providers: "accounts", the labels to use (none: every
	 * account of the kind); their creds[] come from
	 * px_config_bind_accounts() and may be empty */
	const char **acct_labels;
	int nacct_labels;
	/* "token_exchange" (NULL: none): creds[0] is its credential */
	struct px_token_exchange *tx;
	/* SHA-256 of name and base_url (exec: the command's first element):
	 * runtime state (cooldowns, round-robin) follows a provider across
	 * reloads while both stay the same */
	unsigned char id[32];
};

struct px_target {
	int provider;             /* index into providers */
	const char *model;        /* upstream model; "" = same as requested */
};

/* Bounds on the work for one request ("retry"). */
struct px_retry {
	int max_attempts;         /* upstream attempts, 1..PX_RETRY_ATTEMPTS_CAP */
	int budget_ms;            /* no new attempt this long after the first
	                             started; 0 = no time bound */
};

struct px_route {
	const char *pattern;      /* exact name, or with '*' wildcards */
	struct px_target *targets;
	int ntargets;             /* >= 1: the fallback chain, in order */
	struct px_retry retry;    /* the route's own, or the top-level one */
	int line;                 /* config line, for messages */
};

/* An admin or metrics key ("admin_key", "metrics_key"): kept as a digest. */
struct px_secret_key {
	int set;
	struct auth_key key;      /* name "admin" / "metrics" */
};

struct px_config {
	char path[512];           /* "" when from the environment */
	char listen[128];         /* normalised host:port */
	struct auth_key *keys;    /* client keys */
	int nkeys;
	int allow_open;
	struct px_provider *providers;
	int nproviders;
	struct px_route *routes;
	int nroutes;
	char ca_file[512];        /* "" = search the system */
	/* "ca_file_add": bundles added to ca_file's or the system's anchors */
	const char *ca_add[PX_MAX_CA_ADD];
	int nca_add;
	/* "models_ttl_seconds": upstream model lists kept this long (0: never
	 * fetched; GET /v1/models lists the configured names only) */
	int models_ttl_s;
	/* limits and timeouts */
	size_t header_max, body_max;
	int max_conns;
	long long memory_max;     /* "limits.memory_bytes" */
	int upstream_idle;        /* "limits.upstream_idle" (0 = no pooling) */
	int header_timeout_ms, idle_timeout_ms, connect_timeout_ms;
	int first_byte_timeout_ms, stream_idle_timeout_ms, drain_timeout_ms;
	int heartbeat_ms;         /* 0 = off */
	struct px_retry retry;    /* top-level "retry" */
	long long default_max_tokens;
	int verbose;
	enum px_log_format log_format;
	char state_dir[512];      /* "" = none */
	struct px_secret_key admin_key, metrics_key;
	/* usage and cost records (usage.c): "usage": {"enabled", "retain_days"}
	 * and "prices" (NULL = the built-in table only; freed with the config) */
	int usage_enabled;        /* default 1: kept when a state dir exists */
	int usage_retain_days;    /* 0 = PX_USAGE_RETAIN_DAYS */
	struct px_prices *prices;
	/* response cache (cache.h): max_bytes 0 = off (no "cache" key);
	 * routes and shared name routes by their pattern in "models" */
	size_t cache_max_bytes, cache_max_entries;
	long long cache_ttl_s;
	const char **cache_routes, **cache_shared;
	int ncache_routes, ncache_shared;
	/* sessions: max_bytes 0 = off (the default: no "sessions" key) */
	size_t ses_max_bytes, ses_max_entries, ses_max_turns;
	long long ses_ttl_s;
	int ses_persist;          /* kept in the state directory */
	/* Responses store: max_bytes 0 = off; dir "" = memory only */
	size_t rstore_max_bytes, rstore_max_entries;
	long long rstore_ttl_s;
	char rstore_dir[512];
	/* every error of the last parse, "file:line: message"; nerrors counts
	 * them all, errors[] holds the first PX_CONFIG_MAX_ERRORS */
	int nerrors;
	const char *errors[PX_CONFIG_MAX_ERRORS];
	/* owns every array and string above */
	struct px_arena arena;
};

/*
 * Lifetime. px_config_new() returns a heap config holding the defaults
 * (NULL when out of memory); px_config_free() releases it and everything it
 * owns (NULL is fine). px_config_defaults() initialises a config that owns
 * nothing yet (static, zeroed or fresh memory): on a loaded one it would
 * leak, so reuse a loaded config only through px_config_parse/load/from_env
 * (which release what it held) and end it with px_config_free() (heap) or
 * px_config_release() (static or embedded).
 */
struct px_config *px_config_new(void);
void px_config_free(struct px_config *c);
void px_config_release(struct px_config *c);
void px_config_defaults(struct px_config *c);

/*
 * Load a JSON config file. c must be initialised (see above); what it held
 * is released first. Returns 0, or -1 on any error. Every error found is in
 * c->errors[] (c->nerrors of them) as "file:line: message"; err receives as
 * many of them as fit, one per line, the last line saying "(N more errors)"
 * when some did not fit. Secrets written as "env:NAME" are read from the
 * environment (an unset variable is an error naming the variable, never the
 * value). After a failure c holds a partial config: use it only for its
 * errors, then free it (or load again).
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
 * error: the proxy then answers 404s explaining how to configure), or -1
 * with every problem found in c->errors[] and err (as px_config_load).
 */
int px_config_from_env(struct px_config *c, char *err, size_t errcap);

/*
 * Every environment variable the program reads, for --help and the
 * startup message: name, what it does, and its group (PX_ENV_PROVIDER:
 * enables or points a provider in environment mode; PX_ENV_SERVER: other
 * environment-mode settings; PX_ENV_ANY: read with or without -c;
 * PX_ENV_LOGIN: read by the login and accounts commands).
 * Ends with a NULL name.
 */
enum { PX_ENV_PROVIDER, PX_ENV_SERVER, PX_ENV_ANY, PX_ENV_LOGIN };
struct px_envvar {
	const char *name;
	const char *what;
	int group;
};
extern const struct px_envvar px_env_vars[];

/* 1 when a and b add the same "ca_file_add" files, in the same order. */
int px_config_same_ca_add(const struct px_config *a,
                          const struct px_config *b);

/*
 * Give the account providers of c (types *-account) their credentials:
 * the accounts kinds[i]/labels[i] (i < n; kind names "claude", "codex",
 * "gemini", "copilot") of the provider's kind - all of them, or those its
 * "accounts" lists, in that list's order - up to PX_MAX_CREDS each.
 * Replaces what an earlier call bound. Labels and kinds are copied into
 * c's arena. A listed label without an account, and accounts over the
 * cap, are reported in warn (one line each, "" when none). Returns the
 * number of credentials bound, or -1 when out of memory.
 */
int px_config_bind_accounts(struct px_config *c, const char *const *kinds,
                            const char *const *labels, int n, char *warn,
                            size_t cap);

/* Print the resolved routes and providers (no secrets; base URLs
 * redacted): check-config and the startup lines. */
void px_config_print(const struct px_config *c, FILE *f);

/*
 * What changed from old to new, for the reload log line: providers
 * added/removed/changed (and which parts: base_url, credentials +N -M, ...),
 * routes added/removed/changed, client keys as counts, other settings by
 * name; "no changes" when none. Never a secret. Writes buf (NUL-terminated,
 * truncated with "..." when it does not fit) and returns the length.
 */
size_t px_config_diff(const struct px_config *old, const struct px_config *c,
                      char *buf, size_t cap);

/*
 * Copy url into buf with any password in its user info replaced by "***"
 * ("https://user:***@host/..."; a user-only "token@" becomes "***@").
 * Truncates to cap. Returns buf.
 */
char *px_redact_url(const char *url, char *buf, size_t cap);

/*
 * Normalise a listen argument (-l, LLMPROXY_LISTEN, "listen"):
 *   "8080"          -> "127.0.0.1:8080" (loopback)
 *   ":8080"         -> "0.0.0.0:8080"   (all IPv4 interfaces)
 *   "host:port", "[v6]:port" unchanged (port 0 allowed: ephemeral)
 * Returns 0, or -1 with a message about the address in err.
 */
int px_listen_normalize(const char *arg, char *out, size_t cap, char *err,
                        size_t errcap);

/* 1 when listen is a loopback address (127.0.0.0/8, ::1, localhost). */
int px_listen_is_loopback(const char *listen);
/* The same for a host name or address alone (no port, no brackets). */
int px_host_is_loopback(const char *host);

#endif
