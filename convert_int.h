/*
 * convert_int.h - private interface between convert.c (the IR driver) and
 * the per-format codecs convert_chat.c, convert_responses.c,
 * convert_anthropic.c and convert_gemini.c. Not part of the public API.
 */
#ifndef PX_CONVERT_INT_H
#define PX_CONVERT_INT_H

#include "convert.h"

/*
 * A codec: everything one wire format needs. Decoders receive the parsed
 * JSON root (already checked to be valid JSON; shape is theirs to check) and
 * fill the IR from the arena. Encoders write one complete JSON document
 * (non-streamed) or complete SSE events (streamed) to out.
 *
 * Stream decoders get one upstream SSE event at a time (`data` parsed into
 * `root`, NULL when data is not JSON, e.g. "[DONE]") and call px_emit() for
 * each IR event, following the grammar in convert.h: they renumber blocks so
 * indexes are 0,1,2,..., close the open block before opening another, and
 * buffer what must be buffered (e.g. interleaved parallel tool calls) in
 * their state, allocated from s->a.
 * Stream encoders turn each IR event into client bytes immediately: text
 * and thinking deltas never wait for a later event. What a client format
 * cannot take in pieces is the only thing kept, and only until it is
 * whole: tool-call arguments for Gemini clients (whole args objects),
 * a Responses custom tool call's input (a string inside the arguments),
 * and an Anthropic thinking signature (sent right before its block's stop,
 * as the grammar wants). Decoders keep only what serialising needs: a
 * parallel tool call or output item while an earlier one still streams,
 * and the finish while the usage that follows it may still come.
 */
struct px_codec {
	enum px_fmt fmt;
	int  (*decode_request)(struct px_arena *a, const struct json *root,
	                       struct ir_request *req, struct px_err *err);
	int  (*encode_request)(const struct ir_request *req, struct px_str model,
	                       struct jw *out, struct px_err *err);
	int  (*decode_response)(struct px_arena *a, const struct json *root,
	                        struct ir_response *resp, struct px_err *err);
	int  (*encode_response)(const struct ir_request *req,
	                        const struct ir_response *resp, struct jw *out,
	                        struct px_err *err);
	/* root may be NULL (body was not JSON) */
	void (*decode_error)(const struct json *root, struct ir_error *e);
	void (*encode_error)(const struct ir_error *e, struct jw *out);

	/* streaming: decoder (upstream side) */
	void *(*sdec_new)(struct px_stream *s);
	int  (*sdec_feed)(struct px_stream *s, void *st,
	                  const struct sse_event *ev, const struct json *root);
	/* upstream EOF: emit what is owed (e.g. a held finish) and return 1 if
	 * the upstream stream had properly finished, 0 if it was cut off */
	int  (*sdec_end)(struct px_stream *s, void *st);

	/* streaming: encoder (client side) */
	void *(*senc_new)(struct px_stream *s);
	void (*senc_begin)(struct px_stream *s, void *st, struct jw *out); /* may be NULL */
	void (*senc_event)(struct px_stream *s, void *st,
	                   const struct ir_event *ev, struct jw *out);
	/* may be NULL: carry on a stream of this format that `from` (an
	 * observe-only stream of the same format) watched go by, so what the
	 * encoder writes next continues it (ids, sequence numbers) */
	void (*senc_resume)(struct px_stream *s, void *st,
	                    const struct px_stream *from);
};

extern const struct px_codec px_codec_chat;
extern const struct px_codec px_codec_responses;
extern const struct px_codec px_codec_anthropic;
extern const struct px_codec px_codec_gemini;
extern const struct px_codec px_codec_completions;  /* client only: the
                                                       upstream-side hooks
                                                       are NULL */
extern const struct px_codec px_codec_cli;   /* upstream only: the client-side
                                                hooks and decode_response are
                                                NULL (see below) */

/* PX_FMT_CLI's px_decode_response(): the output is JSON lines, not one
 * document (convert_cli.c). */
int px_cli_decode_response(struct px_arena *a, const char *body, size_t n,
                           struct ir_response *resp, struct px_err *err);

const struct px_codec *px_codec(enum px_fmt f);

struct px_stream {
	enum px_fmt up, client;
	const struct ir_request *req;
	struct px_arena *a;            /* lives as long as the stream */
	struct px_arena scratch;       /* per upstream event; reset after each */
	const struct px_codec *dec, *enc;
	void *dec_st, *enc_st;
	struct jw *out;                /* during feed: where px_emit writes;
	                                  NULL in observe-only mode */
	/* grammar tracking, filled by px_emit */
	unsigned started:1, finished:1, failed:1, block_open:1;
	int err_status;                /* the in-band error, when failed */
	enum ir_err_kind err_kind;
	struct px_str err_msg;         /* its message (copied into a) */
	int next_index;
	struct ir_usage usage;         /* latest cumulative usage */
	enum ir_stop stop;
	struct px_str id, model;       /* from START (copied into a) */
};

/*
 * Hand one IR event to the client encoder. Enforces the grammar: drops
 * events after FINISH/ERROR, synthesises START if a decoder forgot it, closes
 * an open block before FINISH. Copies nothing: event strings need only live
 * for the call.
 */
void px_emit(struct px_stream *s, const struct ir_event *ev);

/* ---- helpers shared by codecs ---- */

struct px_str px_str_c(const char *s);                 /* from C string */
struct px_str px_str_json(const struct json *v);       /* string value or {0} */
struct px_str px_str_dup(struct px_arena *a, const char *p, size_t n);
int  px_str_eq(struct px_str s, const char *lit);
/* 1 when a and b hold the same bytes; either may be {NULL, 0} */
int  px_str_same(struct px_str a, struct px_str b);
void px_err_set(struct px_err *e, int status, const char *fmt, ...);

/* "data:image/png;base64,AAAA" -> media_type, data. 1 if it was a data URL */
int  px_data_url_split(struct px_str url, struct px_str *media, struct px_str *data);
/* Build "data:<media>;base64,<data>" in the arena. */
struct px_str px_data_url_make(struct px_arena *a, struct px_str media,
                               struct px_str data);

/* Fresh id "<prefix><24 random alnum>" in the arena (deterministic counter
 * after px_set_deterministic()). */
struct px_str px_new_id(struct px_arena *a, const char *prefix);
long long px_now(void);                                 /* unix seconds */

/* Arena allocation of n zeroed items (NULL on exhaustion). */
void *px_zalloc(struct px_arena *a, size_t n);

/* Serialise a parsed JSON value compactly into the arena (for args text). */
struct px_str px_json_compact(struct px_arena *a, const struct json *v);

/* Map HTTP status <-> error kind (generic). */
enum ir_err_kind px_kind_from_status(int status);
int px_status_from_kind(enum ir_err_kind k);

/* Small JSON helpers shared by the codecs. */
struct px_str px_jget(const struct json *o, const char *k); /* string member */
void px_jw_str(struct jw *w, struct px_str s);      /* string, "" if unset */
void px_jw_doc(struct jw *w);     /* next top-level document in a writer */

/*
 * Several members of one object in a single walk, for a decoder that reads
 * a handful of keys of every stream event: out[i] = the first member named
 * keys[i] (as json_get would find it), or NULL. n <= 16.
 */
struct px_jkey {
	const char *k;
	size_t n;
};
#define PX_JKEY(lit) { lit, sizeof lit - 1 }
void px_jpick(const struct json *o, const struct px_jkey *keys, int n,
              const struct json **out);

/*
 * Stream encoders' per-event path. A chunk's constant parts (ids, model,
 * created, the nesting down to the delta) are built once per stream into
 * s->a; each event then copies them and escapes only its own text, between
 * documents (the writer's nesting state is neither used nor changed).
 * px_put_esc() writes a string's escaped contents, no quotes (nothing for an
 * unset string); px_jw_view() is what a scratch writer holds ({0} after an
 * error), for keeping as a constant part.
 */
void px_put_esc(struct jw *w, struct px_str s);
struct px_str px_jw_view(const struct jw *w);
int  px_str_prefix(struct px_str s, const char *pfx);
/* number member / value into an ir_num (raw text kept); 1 if it was one */
int  px_get_num(const struct json *o, const char *k, struct ir_num *n);
int  px_num_of(const struct json *v, struct ir_num *n);
/*
 * Typed request fields (see "request field checks" in convert.c). v is the
 * member (may be NULL); the field is named "<at>.<key>" in messages, at
 * being a path such as "messages[2]" and either part NULL. Absent or null:
 * 0 and *out untouched. The right type: 1 and *out set. Anything else: -1
 * and a 400 in err, "<at>.<key> must be a boolean" (a string, a number, an
 * integer between lo and hi, 'x', 'y' or 'z'). A number must fit a double;
 * an integer is any number with an integral value (2.0 is 2).
 */
#define PX_INT_MAX (1LL << 53)        /* beyond it JSON integers lose
                                         precision in most clients */
#define PX_AT_MAX 96                  /* a field path, truncated */
/* printf a path into at (PX_AT_MAX bytes); returns at */
char *px_at(char *at, const char *fmt, ...);
/* the 400 "<at>.<key> must be <what>"; returns -1 */
int  px_field_err(struct px_err *err, const char *at, const char *key,
                  const char *what);
int  px_dec_bool(const struct json *v, const char *at, const char *key,
                 int *out, struct px_err *err);
int  px_dec_str(const struct json *v, const char *at, const char *key,
                struct px_str *out, struct px_err *err);
int  px_dec_num(const struct json *v, const char *at, const char *key,
                struct ir_num *out, struct px_err *err);
int  px_dec_int(const struct json *v, const char *at, const char *key,
                long long lo, long long hi, long long *out,
                struct px_err *err);
/* names: NULL-terminated; *out = the index of the one v equals */
int  px_dec_enum(const struct json *v, const char *at, const char *key,
                 const char *const *names, int *out, struct px_err *err);
/* Grow an arena vector of sz-byte items so index n is usable (zeroed). */
void *px_vgrow(struct px_arena *a, void *p, size_t n, size_t *cap, size_t sz);

/* Write a number as the client wrote it when known, else formatted. */
void px_jw_num(struct jw *w, const struct ir_num *n);

/* Tool names and call ids per target (see px_dropped_tools in convert.h).
 * buf holds PX_FIX_MAX bytes; the result is s itself when it was valid. */
#define PX_FIX_MAX 72
struct px_str px_tool_name_fix(enum px_fmt f, const struct ir_request *req,
                               struct px_str name, char *buf);
struct px_str px_call_id_fix(enum px_fmt f, struct px_str id, char *buf);
/* The client's own name for a tool name coming back from an upstream. */
struct px_str px_tool_name_client(const struct ir_request *req,
                                  struct px_str name);
/* The request's tool called `name` (IR name), or NULL. */
const struct ir_tool *px_tool_find(const struct ir_request *req,
                                   struct px_str name);

/* Clean a JSON schema for Gemini (drop $schema, additionalProperties, $ref,
 * ...); writes the cleaned schema. */
void px_schema_gemini(struct jw *w, const struct json *schema);

#endif
