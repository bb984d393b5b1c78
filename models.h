/*
 * models.h - model lists, I/O-free: the upstreams' own list endpoints (the
 * request path for each provider kind, and parsing each kind's answer),
 * and GET /v1/models in each client format's shape, merged from the
 * configured route names and the cached upstream lists, filtered by a
 * client key's model allow-list. proxy.c fetches and caches the lists.
 */
#ifndef PX_MODELS_H
#define PX_MODELS_H

#include <stddef.h>

#include "auth.h"
#include "config.h"
#include "json.h"

#ifndef PX_MODELS_BODY_MAX
#define PX_MODELS_BODY_MAX  (4u << 20)   /* an upstream list answer */
#endif
#ifndef PX_MODELS_MAX
#define PX_MODELS_MAX       4096         /* names kept per provider */
#endif

/* One provider's upstream list: names[0..n), each NUL-terminated, all in
 * one allocation with the pointer array. */
struct px_models {
	const char **names;
	int n;
};

/*
 * The request target of kind's list endpoint, after the provider's base
 * path (which holds the version for openai and gemini), or NULL when the
 * kind has none here (azure):
 *   openai, openai-responses  GET {base}/models
 *   anthropic                 GET {base}/v1/models?limit=1000
 *                             (x-api-key, anthropic-version)
 *   gemini                    GET {base}/models?pageSize=1000
 *                             (x-goog-api-key)
 */
const char *px_models_path(enum px_ptype kind);

/*
 * Parse a list answer of kind from body[0..n): OpenAI and Anthropic
 * {"data": [{"id": ...}, ...]}, Gemini {"models": [{"name": "models/x"},
 * ...]} (the "models/" prefix removed). Entries without a usable name are
 * skipped; at most PX_MODELS_MAX are kept. Returns 0 and fills out (free
 * with px_models_free), or -1 when the body is not such a list.
 */
int px_models_parse(enum px_ptype kind, const char *body, size_t n,
                    struct px_models *out);
void px_models_free(struct px_models *m);

enum px_models_shape {
	PX_MS_OPENAI,     /* {"object":"list","data":[{"id","object":"model",
	                     "created","owned_by"}]} */
	PX_MS_ANTHROPIC,  /* {"data":[{"type":"model","id","display_name",
	                     "created_at"}],"has_more","first_id","last_id"} */
	PX_MS_GEMINI      /* {"models":[{"name":"models/x","displayName",
	                     "supportedGenerationMethods"}]} */
};

/*
 * Write the model list in shape to out: every exact (non-wildcard) route
 * name, and every name of lists[i] (the upstream list of c's provider i;
 * NULL or empty when none is cached) that is routed by a wildcard route
 * whose first target is provider i with the requested name unchanged -
 * what a request for that name would reach. Only names key allows (key
 * NULL: all). Sorted by name, each once; owned_by is the provider's name.
 * a holds the scratch. Returns 0, or -1 (out of memory; out->err).
 */
int px_models_write(const struct px_config *c,
                    const struct px_models *const *lists,
                    const struct auth_key *key, enum px_models_shape shape,
                    struct px_arena *a, struct jw *out);

#endif
