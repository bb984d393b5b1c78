/*
 * session.c - conversation sessions: the history codec and the bounded
 * store of sessions. See session.h.
 */
#include <stdlib.h>
#include <string.h>

#include "session.h"

struct px_ses {
	struct px_store *st;
	size_t max_turns, max_bytes;
};

/* see session.h */
struct px_ses *
px_ses_open(const struct px_ses_opts *o, long long now, char *err,
            size_t errcap)
{
	struct px_ses *s = calloc(1, sizeof *s);

	if (!s) {
		if (errcap)
			strncpy(err, "out of memory", errcap - 1), err[errcap - 1] = 0;
		return NULL;
	}
	s->max_turns = o->max_turns ? o->max_turns : PX_SES_MAX_TURNS;
	s->max_bytes = o->max_session_bytes ? o->max_session_bytes :
	    PX_SES_MAX_SESSION_BYTES;
	s->st = px_store_open(&o->store, now, err, errcap);
	if (!s->st) {
		free(s);
		return NULL;
	}
	return s;
}

/* see session.h */
void
px_ses_close(struct px_ses *s)
{
	if (!s)
		return;
	px_store_close(s->st);
	free(s);
}

/* see session.h */
struct px_store *
px_ses_store(struct px_ses *s)
{
	return s->st;
}

/* see session.h */
void
px_ses_new_id(const unsigned char rnd[16], char out[PX_SES_ID_MAX])
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	memcpy(out, "ses_", 4);
	for (i = 0; i < 16; i++) {
		out[4 + 2 * i] = hex[rnd[i] >> 4];
		out[5 + 2 * i] = hex[rnd[i] & 15];
	}
	out[36] = 0;
}

/* see session.h */
int
px_ses_id_ok(const char *id, size_t n)
{
	size_t i;

	if (n == 0 || n >= PX_SES_ID_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)id[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
		    ch == '-'))
			return 0;
	}
	return 1;
}

/* ------------------------------------------------------------ codec */

static void
kstr(struct jw *w, const char *k, struct px_str v)
{
	if (v.n)
		jw_kstr(w, k, v.p, v.n);
}

static void
write_parts(struct jw *w, const struct ir_part *p, size_t n)
{
	size_t i;

	jw_arr(w);
	for (i = 0; i < n; i++, p++) {
		jw_obj(w);
		jw_kint(w, "y", (long long)p->type);
		kstr(w, "x", p->text);
		kstr(w, "mt", p->media_type);
		kstr(w, "d", p->data);
		kstr(w, "u", p->url);
		kstr(w, "id", p->id);
		kstr(w, "n", p->name);
		kstr(w, "a", p->args);
		kstr(w, "s", p->signature);
		if (p->signature.n || p->data.n)
			jw_kint(w, "sf", (long long)p->sig_fmt);
		kstr(w, "ii", p->item_id);
		if (p->is_error)
			jw_kint(w, "e", p->is_error);
		kstr(w, "cc", p->cache_control);
		if (p->ncontent) {
			jw_key(w, "c");
			write_parts(w, p->content, p->ncontent);
		}
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

static void
write_msg(struct jw *w, const struct ir_msg *m)
{
	jw_obj(w);
	jw_kint(w, "r", (long long)m->role);
	jw_key(w, "p");
	write_parts(w, m->parts, m->nparts);
	jw_obj_end(w);
}

/* see session.h */
void
px_ses_write_msgs(struct jw *w, const struct ir_msg *m, size_t n)
{
	size_t i;

	jw_arr(w);
	for (i = 0; i < n; i++)
		write_msg(w, m + i);
	jw_arr_end(w);
}

static struct px_str
gstr(const struct json *o, const char *k)
{
	struct px_str s = { "", 0 };
	const struct json *v = json_get(o, k);

	if (v && v->type == JSON_STRING) {
		s.p = v->s;
		s.n = v->n;
	}
	return s;
}

static long long
gint(const struct json *o, const char *k, long long lo, long long hi, int *bad)
{
	const struct json *v = json_get(o, k);
	long long ll = 0;

	if (!v)
		return 0;
	if (!json_int(v, &ll) || ll < lo || ll > hi)
		*bad = 1;
	return ll;
}

static int
read_parts(struct px_arena *a, const struct json *arr, struct ir_part **out,
           size_t *nout, int depth)
{
	const struct json *e;
	struct ir_part *p;
	size_t i = 0;
	int bad = 0;

	if (!arr || arr->type != JSON_ARRAY || depth > 2)
		return -1;
	*out = NULL;
	*nout = 0;
	if (arr->len == 0)
		return 0;
	p = px_arena_alloc(a, arr->len * sizeof *p);
	if (!p)
		return -1;
	memset(p, 0, arr->len * sizeof *p);
	for (e = arr->child; e; e = e->next, i++) {
		if (e->type != JSON_OBJECT)
			return -1;
		p[i].type = (enum ir_part_type)gint(e, "y", IR_TEXT,
		    IR_TOOL_RESULT, &bad);
		p[i].text = gstr(e, "x");
		p[i].media_type = gstr(e, "mt");
		p[i].data = gstr(e, "d");
		p[i].url = gstr(e, "u");
		p[i].id = gstr(e, "id");
		p[i].name = gstr(e, "n");
		p[i].args = gstr(e, "a");
		p[i].signature = gstr(e, "s");
		p[i].sig_fmt = (enum px_fmt)gint(e, "sf", 0, PX_FMT_COMPLETIONS,
		    &bad);
		p[i].item_id = gstr(e, "ii");
		p[i].is_error = (int)gint(e, "e", 0, 1, &bad);
		p[i].cache_control = gstr(e, "cc");
		if (json_get(e, "c") && read_parts(a, json_get(e, "c"),
		    &p[i].content, &p[i].ncontent, depth + 1) < 0)
			return -1;
		if (bad)
			return -1;
	}
	*out = p;
	*nout = i;
	return 0;
}

/* see session.h */
int
px_ses_read_msgs(struct px_arena *a, const struct json *arr,
                 struct ir_msg **out, size_t *nout)
{
	const struct json *e;
	struct ir_msg *m;
	size_t i = 0;
	int bad = 0;

	if (!arr || arr->type != JSON_ARRAY)
		return -1;
	*out = NULL;
	*nout = 0;
	if (arr->len == 0)
		return 0;
	m = px_arena_alloc(a, arr->len * sizeof *m);
	if (!m)
		return -1;
	for (e = arr->child; e; e = e->next, i++) {
		if (e->type != JSON_OBJECT)
			return -1;
		m[i].role = (enum ir_role)gint(e, "r", IR_ROLE_SYSTEM,
		    IR_ROLE_TOOL, &bad);
		if (bad || read_parts(a, json_get(e, "p"), &m[i].parts,
		    &m[i].nparts, 0) < 0)
			return -1;
	}
	*out = m;
	*nout = i;
	return 0;
}

/* ------------------------------------------------------------ store */

/* The record of id when it is scope's, parsed into a; NULL otherwise. */
static const struct json *
record(struct px_ses *s, const char *id, size_t n, struct px_str scope,
       long long now, struct px_arena *a)
{
	const char *v;
	size_t vn;
	char *copy;
	const struct json *root, *t;
	struct px_str sc;

	if (!s || !px_ses_id_ok(id, n) ||
	    !px_store_get(s->st, id, n, now, &v, &vn))
		return NULL;
	/* the store's bytes move on the next put: parse a copy */
	if ((copy = px_arena_strndup(a, v, vn)) == NULL)
		return NULL;
	root = json_parse(a, copy, vn, 0, NULL);
	if (!root || root->type != JSON_OBJECT)
		return NULL;
	sc = gstr(root, "s");
	t = json_get(root, "t");
	if (sc.n != scope.n || (scope.n && memcmp(sc.p, scope.p, scope.n)) ||
	    !t || t->type != JSON_ARRAY)
		return NULL;
	return root;
}

/* see session.h */
int
px_ses_get(struct px_ses *s, const char *id, size_t n, struct px_str scope,
           long long now, struct px_arena *a, struct ir_msg **msgs,
           size_t *nmsgs)
{
	const struct json *root = record(s, id, n, scope, now, a), *t;
	struct ir_msg *all = NULL, *m;
	size_t total = 0, k, i;

	if (!root)
		return 0;
	/* every turn's messages, one after the other */
	for (t = json_get(root, "t")->child; t; t = t->next) {
		if (t->type != JSON_ARRAY)
			return 0;
		total += t->len;
	}
	if (total) {
		all = px_arena_alloc(a, total * sizeof *all);
		if (!all)
			return 0;
	}
	k = 0;
	for (t = json_get(root, "t")->child; t; t = t->next) {
		if (px_ses_read_msgs(a, t, &m, &i) < 0)
			return 0;
		if (i)
			memcpy(all + k, m, i * sizeof *m);
		k += i;
	}
	*msgs = all;
	*nmsgs = k;
	return 1;
}

/* see session.h */
size_t
px_ses_turns(struct px_ses *s, const char *id, size_t n, struct px_str scope,
             long long now, struct px_arena *a)
{
	const struct json *root = record(s, id, n, scope, now, a);

	return root ? json_get(root, "t")->len : 0;
}

/* see session.h */
int
px_ses_append(struct px_ses *s, const char *id, size_t n,
              struct px_str scope, long long now, const struct ir_msg *msgs,
              size_t nmsgs, const struct ir_part *answer, size_t nans,
              struct px_arena *tmp)
{
	const struct json *root, *t, *first;
	struct ir_msg am;
	struct jw turn, w;
	size_t nturns, bytes, skip, i;
	const char *v;
	size_t vn;

	if (!s || !px_ses_id_ok(id, n))
		return -1;
	root = record(s, id, n, scope, now, tmp);
	if (!root && px_store_get(s->st, id, n, now, &v, &vn))
		return -1;    /* another scope's, or unreadable: left alone */
	/* the new turn */
	jw_init(&turn, tmp, s->max_bytes + 1024);
	jw_arr(&turn);
	for (i = 0; i < nmsgs; i++)
		write_msg(&turn, msgs + i);
	if (nans) {
		am.role = IR_ROLE_ASSISTANT;
		am.parts = (struct ir_part *)answer;
		am.nparts = nans;
		write_msg(&turn, &am);
	}
	jw_arr_end(&turn);
	if (turn.err) {
		px_store_del(s->st, id, n, now);   /* the session ends */
		return -1;
	}
	/* drop the oldest turns to stay within the turn and byte bounds */
	nturns = root ? json_get(root, "t")->len : 0;
	first = root ? json_get(root, "t")->child : NULL;
	bytes = 16 + scope.n + turn.len;
	for (t = first; t; t = t->next)
		bytes += t->rawlen + 1;
	skip = 0;
	while (first && (nturns - skip + 1 > s->max_turns ||
	    bytes > s->max_bytes)) {
		bytes -= first->rawlen + 1;
		first = first->next;
		skip++;
	}
	if (bytes > s->max_bytes) {
		px_store_del(s->st, id, n, now);
		return -1;
	}
	jw_init(&w, tmp, bytes + 1024);
	jw_obj(&w);
	jw_kstr(&w, "s", scope.p, scope.n);
	jw_key(&w, "t");
	jw_arr(&w);
	for (t = first; t; t = t->next)
		jw_raw(&w, t->raw, t->rawlen);
	jw_raw(&w, turn.buf, turn.len);
	jw_arr_end(&w);
	jw_obj_end(&w);
	if (w.err)
		return -1;
	return px_store_put(s->st, id, n, w.buf, w.len, now);
}

/* see session.h */
int
px_ses_del(struct px_ses *s, const char *id, size_t n, struct px_str scope,
           long long now)
{
	struct px_arena a;
	int found;

	px_arena_init(&a, 2 * (s ? s->max_bytes : 0) + 65536);
	found = record(s, id, n, scope, now, &a) != NULL;
	px_arena_free(&a);
	if (!found)
		return 0;
	return px_store_del(s->st, id, n, now);
}
