/*
 * models.c - model lists: upstream list endpoints and answers, and the
 * merged GET /v1/models answer in each client shape. See models.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models.h"
#include "route.h"

/* see models.h */
const char *
px_models_path(enum px_ptype kind)
{
	switch (kind) {
	case PX_PT_OPENAI:
	case PX_PT_OPENAI_RESPONSES:
		return "/models";
	case PX_PT_ANTHROPIC:
		return "/v1/models?limit=1000";
	case PX_PT_GEMINI:
		return "/models?pageSize=1000";
	default:
		return NULL;
	}
}

/* A name worth listing: 1..PX_MODEL_NAME_MAX bytes, no control bytes. */
static int
usable(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 255)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* see models.h */
int
px_models_parse(enum px_ptype kind, const char *body, size_t n,
    struct px_models *out)
{
	struct px_arena a;
	const struct json *root, *arr, *e, *v;
	const char *key = kind == PX_PT_GEMINI ? "models" : "data";
	const char *field = kind == PX_PT_GEMINI ? "name" : "id";
	size_t bytes = 0, len;
	const char *s;
	char *p;
	int k = 0, rc = -1;

	memset(out, 0, sizeof *out);
	px_arena_init(&a, 4 * (size_t)PX_MODELS_BODY_MAX);
	if (n > PX_MODELS_BODY_MAX ||
	    (root = json_parse(&a, body, n, 0, NULL)) == NULL ||
	    (arr = json_get(root, key)) == NULL || arr->type != JSON_ARRAY)
		goto end;
	/* two passes: measure, then copy into one block */
	for (e = arr->child; e != NULL && k < PX_MODELS_MAX; e = e->next) {
		if ((v = json_get(e, field)) == NULL || !json_str(v, &s, &len))
			continue;
		if (kind == PX_PT_GEMINI && len > 7 &&
		    memcmp(s, "models/", 7) == 0) {
			s += 7;
			len -= 7;
		}
		if (!usable(s, len))
			continue;
		bytes += len + 1;
		k++;
	}
	out->names = malloc((size_t)k * sizeof *out->names + bytes + 1);
	if (out->names == NULL)
		goto end;
	p = (char *)(out->names + k);
	for (e = arr->child; e != NULL && out->n < k; e = e->next) {
		if ((v = json_get(e, field)) == NULL || !json_str(v, &s, &len))
			continue;
		if (kind == PX_PT_GEMINI && len > 7 &&
		    memcmp(s, "models/", 7) == 0) {
			s += 7;
			len -= 7;
		}
		if (!usable(s, len))
			continue;
		memcpy(p, s, len);
		p[len] = 0;
		out->names[out->n++] = p;
		p += len + 1;
	}
	rc = 0;
end:
	px_arena_free(&a);
	return rc;
}

/* see models.h */
void
px_models_free(struct px_models *m)
{
	free(m->names);
	m->names = NULL;
	m->n = 0;
}

struct entry {
	const char *name;
	int provider;
	int configured;           /* an exact route: wins over a listed name */
};

static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r != 0 ? r : y->configured - x->configured;
}

/* The wildcard route that sends name to provider pi unchanged, or NULL. */
static const struct px_route *
wild_route(const struct px_config *c, const char *name, int pi)
{
	const struct px_route *r = px_route_find(c, name, strlen(name));

	if (r == NULL || strchr(r->pattern, '*') == NULL ||
	    r->targets[0].provider != pi ||
	    (r->targets[0].model != NULL && r->targets[0].model[0] != 0))
		return NULL;
	return r;
}

static void
write_entry(struct jw *w, const struct px_config *c, const struct entry *e,
    enum px_models_shape shape)
{
	char name[300];

	jw_obj(w);
	switch (shape) {
	case PX_MS_GEMINI:
		snprintf(name, sizeof name, "models/%s", e->name);
		jw_kcstr(w, "name", name);
		jw_kcstr(w, "displayName", e->name);
		jw_key(w, "supportedGenerationMethods");
		jw_arr(w);
		jw_cstr(w, "generateContent");
		jw_cstr(w, "streamGenerateContent");
		jw_cstr(w, "countTokens");
		jw_arr_end(w);
		break;
	case PX_MS_ANTHROPIC:
		jw_kcstr(w, "type", "model");
		jw_kcstr(w, "id", e->name);
		jw_kcstr(w, "display_name", e->name);
		jw_kcstr(w, "created_at", "1970-01-01T00:00:00Z");
		break;
	default:
		jw_kcstr(w, "id", e->name);
		jw_kcstr(w, "object", "model");
		jw_kint(w, "created", 0);
		jw_kcstr(w, "owned_by", c->providers[e->provider].name);
		break;
	}
	jw_obj_end(w);
}

/* see models.h */
int
px_models_write(const struct px_config *c,
    const struct px_models *const *lists, const struct auth_key *key,
    enum px_models_shape shape, struct px_arena *a, struct jw *out)
{
	struct entry *ents;
	const char *first = NULL, *last = NULL;
	size_t cap = 0, n = 0, i;
	int pi, j;

	for (j = 0; j < c->nroutes; j++)
		cap++;
	for (pi = 0; lists != NULL && pi < c->nproviders; pi++)
		if (lists[pi] != NULL)
			cap += (size_t)lists[pi]->n;
	ents = px_arena_alloc(a, (cap ? cap : 1) * sizeof *ents);
	if (ents == NULL) {
		out->err = 1;
		return -1;
	}
	for (j = 0; j < c->nroutes; j++) {
		const struct px_route *r = &c->routes[j];
		if (strchr(r->pattern, '*') != NULL)
			continue;
		ents[n].name = r->pattern;
		ents[n].provider = r->targets[0].provider;
		ents[n].configured = 1;
		n++;
	}
	for (pi = 0; lists != NULL && pi < c->nproviders; pi++) {
		if (lists[pi] == NULL)
			continue;
		for (j = 0; j < lists[pi]->n; j++) {
			if (wild_route(c, lists[pi]->names[j], pi) == NULL)
				continue;
			ents[n].name = lists[pi]->names[j];
			ents[n].provider = pi;
			ents[n].configured = 0;
			n++;
		}
	}
	if (n > 1)
		qsort(ents, n, sizeof *ents, entry_cmp);

	jw_obj(out);
	if (shape == PX_MS_GEMINI) {
		jw_key(out, "models");
	} else {
		if (shape == PX_MS_OPENAI)
			jw_kcstr(out, "object", "list");
		jw_key(out, "data");
	}
	jw_arr(out);
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(ents[i].name, ents[i - 1].name) == 0)
			continue;
		if (key != NULL && !auth_model_allowed(key, ents[i].name,
		    strlen(ents[i].name)))
			continue;
		write_entry(out, c, &ents[i], shape);
		if (first == NULL)
			first = ents[i].name;
		last = ents[i].name;
	}
	jw_arr_end(out);
	if (shape == PX_MS_ANTHROPIC) {
		jw_kbool(out, "has_more", 0);
		if (first != NULL) {
			jw_kcstr(out, "first_id", first);
			jw_kcstr(out, "last_id", last);
		} else {
			jw_knull(out, "first_id");
			jw_knull(out, "last_id");
		}
	}
	jw_obj_end(out);
	return out->err ? -1 : 0;
}
