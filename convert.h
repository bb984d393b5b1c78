/*
 * convert.h - the conversion core: one internal representation (IR) for LLM
 * requests, responses and stream events, with a decoder into it and an
 * encoder out of it for each of the four wire formats.
 *
 *   PX_FMT_CHAT       OpenAI Chat Completions  (POST /v1/chat/completions)
 *   PX_FMT_RESPONSES  OpenAI Responses         (POST /v1/responses)
 *   PX_FMT_ANTHROPIC  Anthropic Messages       (POST /v1/messages)
 *   PX_FMT_GEMINI     Gemini generateContent   (models/{m}:generateContent)
 *
 * one client-only format, always converted (never an upstream):
 *
 *   PX_FMT_COMPLETIONS OpenAI legacy text completions (POST /v1/completions)
 *
 * and one upstream-only format, a command rather than an API:
 *
 *   PX_FMT_CLI        a command's stream-json (Claude Code's dialect, JSON
 *                     lines on its standard input and output); see the
 *                     section "command-line upstreams" below
 *
 * N formats need 2N codecs, not N*N translators. Everything here is I/O-free:
 * bytes in, IR or bytes out. All memory comes from a caller-owned
 * px_arena (see json.h); strings in the IR are borrowed views (struct
 * px_str) into the request body or the arena, valid while both live.
 *
 * To vendor: json.c json.h sse.c sse.h convert.c convert.h convert_*.c
 * convert_int.h. No server code is needed.
 */
#ifndef PX_CONVERT_H
#define PX_CONVERT_H

#include <stddef.h>
#include "json.h"
#include "sse.h"

#ifndef PX_DEFAULT_MAX_TOKENS
#define PX_DEFAULT_MAX_TOKENS 32000   /* Anthropic needs max_tokens; used when
                                         the client sent none */
#endif
#ifndef PX_STREAM_ARGS_MAX
#define PX_STREAM_ARGS_MAX (4u << 20) /* tool-call argument text buffered per
                                         stream when a target needs whole
                                         arguments (Gemini) */
#endif

enum px_fmt {
	PX_FMT_CHAT = 0,
	PX_FMT_RESPONSES,
	PX_FMT_ANTHROPIC,
	PX_FMT_GEMINI,
	PX_FMT_COUNT,                 /* the wire formats above: upstream-capable */
	PX_FMT_COMPLETIONS,           /* client only: decode_request,
	                                 encode_response, encode_error and the
	                                 stream encoder exist; as an upstream
	                                 (px_encode_request, px_decode_response,
	                                 px_stream_new's `up`) it fails cleanly */
	PX_FMT_CLI                    /* upstream only: px_encode_request writes
	                                 the command's input, px_decode_response
	                                 reads its whole output, px_stream_new's
	                                 `up` takes its output one line per
	                                 event; as a client format (decode_request,
	                                 encode_response, px_stream_new's
	                                 `client`) it fails cleanly */
};
const char *px_fmt_name(enum px_fmt f);            /* "chat", "responses", ... */
int px_fmt_parse(const char *s, size_t n, enum px_fmt *out);  /* 1 on success */

struct px_str { const char *p; size_t n; };
#define PX_STR_SET(s) ((s).n > 0)

/* ------------------------------------------------------------------ IR */

enum ir_part_type {
	IR_TEXT,          /* text */
	IR_IMAGE,         /* media_type + data (base64), or url */
	IR_DOCUMENT,      /* pdf etc.: media_type + data, or url; name = filename */
	IR_THINKING,      /* text = reasoning text; signature = opaque state */
	IR_REDACTED,      /* redacted thinking; data = opaque payload */
	IR_TOOL_CALL,     /* id, name, args (compact JSON object text) */
	IR_TOOL_RESULT    /* id (call id), name (if known), content[], is_error */
};

struct ir_part {
	enum ir_part_type type;
	struct px_str text;
	struct px_str media_type, data, url;
	struct px_str id, name;
	struct px_str args;           /* TOOL_CALL: JSON object text */
	struct px_str signature;      /* THINKING: Anthropic signature, Responses
	                                 encrypted_content, Gemini thoughtSignature;
	                                 Gemini also puts it on TEXT/TOOL_CALL */
	enum px_fmt sig_fmt;          /* which format produced signature/data: an
	                                 encoder replays it only to that format */
	struct px_str item_id;        /* Responses item id (rs_..., fc_...) */
	struct ir_part *content;      /* TOOL_RESULT content parts (TEXT/IMAGE) */
	size_t ncontent;
	int is_error;                 /* TOOL_RESULT */
	struct px_str cache_control;  /* raw JSON from Anthropic, or empty */
};

enum ir_role { IR_ROLE_SYSTEM, IR_ROLE_USER, IR_ROLE_ASSISTANT, IR_ROLE_TOOL };

/*
 * Canonical message list produced by every decoder:
 * - leading system/developer text goes to ir_request.system, not here; a
 *   system message later in the conversation stays as an IR_ROLE_SYSTEM
 *   message (encoders decide how to place it);
 * - tool results are IR_TOOL_RESULT parts of IR_ROLE_TOOL messages (one
 *   message may hold several results, in order); user content that came in
 *   the same Anthropic/Gemini user turn follows as a separate USER message;
 * - assistant tool calls are IR_TOOL_CALL parts of ASSISTANT messages.
 */
struct ir_msg {
	enum ir_role role;
	struct ir_part *parts;
	size_t nparts;
};

struct ir_tool {
	struct px_str name, description;
	struct px_str parameters;     /* raw JSON schema text, or empty */
	int strict;                   /* -1 unset, 0, 1 */
	struct px_str raw_type;       /* non-function tool: its "type" (web_search,
	                                 ...), raw = whole tool JSON; empty for
	                                 function tools */
	struct px_str raw;
	int hosted;                   /* raw tool the provider runs itself
	                                 (web_search, code_interpreter, Gemini
	                                 googleSearch, ...): dropped when the
	                                 request goes to another format */
	/* Responses namespace tool member: name is the flattened
	 * "<ns>__<ns_name>", which every target accepts */
	struct px_str ns, ns_name, ns_description;
	int custom;                   /* Responses freeform tool: carried as a
	                                 function with one string "input"; raw
	                                 is the original definition */
};
#define PX_NS_SEP "__"             /* namespace/name separator in names */

enum ir_tool_choice { IR_TC_UNSET, IR_TC_AUTO, IR_TC_NONE, IR_TC_REQUIRED,
                      IR_TC_NAMED };

enum ir_effort { IR_EFFORT_UNSET, IR_EFFORT_NONE, IR_EFFORT_MINIMAL,
                 IR_EFFORT_LOW, IR_EFFORT_MEDIUM, IR_EFFORT_HIGH,
                 IR_EFFORT_XHIGH };

enum ir_rf { IR_RF_UNSET, IR_RF_TEXT, IR_RF_JSON_OBJECT, IR_RF_JSON_SCHEMA };

/* A number as the client wrote it (raw) plus its value. */
struct ir_num { int set; double v; struct px_str raw; };

struct ir_request {
	enum px_fmt fmt;              /* format it was decoded from */
	struct px_str model;
	int stream;
	struct ir_part *system;       /* TEXT parts */
	size_t nsystem;
	struct ir_msg *msgs;
	size_t nmsgs;
	struct ir_tool *tools;
	size_t ntools;
	enum ir_tool_choice tool_choice;
	struct px_str tool_choice_name;
	int parallel_tool_calls;      /* -1 unset, 0, 1 */
	long long max_tokens;         /* visible+reasoning output cap; -1 unset */
	struct ir_num temperature, top_p, top_k;
	struct ir_num presence_penalty, frequency_penalty, seed;
	struct px_str *stop;
	size_t nstop;
	long long n;                  /* -1 unset */
	struct px_str user;           /* user / metadata.user_id */
	/* reasoning */
	enum ir_effort effort;
	long long thinking_budget;    /* -1 unset, 0 explicitly disabled */
	int include_thoughts;         /* -1 unset */
	/* streaming */
	int include_usage;            /* chat stream_options.include_usage */
	/* structured output */
	enum ir_rf rf;
	struct px_str rf_name, rf_schema; /* schema: raw JSON */
	int rf_strict;                /* -1 unset */
	/* Responses API state */
	struct px_str previous_response_id;
	int store;                    /* -1 unset */
	/* Gemini streaming without alt=sse: JSON array body */
	int gemini_array_stream;
	/* tool_choice forcing a hosted tool (Responses {"type":"web_search"}
	 * etc.): its type, and the raw JSON for a Responses upstream */
	struct px_str tool_choice_hosted, tool_choice_raw;
};

enum ir_stop {
	IR_STOP_UNSET = 0,
	IR_STOP_END,            /* natural end */
	IR_STOP_STOP_SEQUENCE,  /* stop_sequence holds which, if known */
	IR_STOP_MAX_TOKENS,
	IR_STOP_TOOL_USE,
	IR_STOP_CONTENT_FILTER, /* refusal / SAFETY / RECITATION / prompt block */
	IR_STOP_PAUSE,          /* Anthropic pause_turn */
	IR_STOP_CONTEXT,        /* context window exceeded */
	IR_STOP_MALFORMED       /* Gemini MALFORMED_FUNCTION_CALL and friends */
};

/*
 * Token usage, normalised: `input` INCLUDES cached tokens (OpenAI/Gemini
 * convention; Anthropic input_tokens is converted on decode and back on
 * encode); `output` INCLUDES reasoning tokens. -1 = not reported.
 */
struct ir_usage {
	long long input, output, cache_read, cache_write, reasoning;
	long long cost_uusd;          /* cost the upstream reported itself, in
	                                 micro-USD (a command's total_cost_usd);
	                                 -1 = not reported */
};
void ir_usage_init(struct ir_usage *u);   /* all -1 */

struct ir_response {
	struct px_str id;             /* upstream id (re-prefixed by encoders) */
	struct px_str model;
	long long created;            /* unix seconds, 0 = now */
	struct ir_part *parts;        /* assistant output, in order */
	size_t nparts;
	enum ir_stop stop;
	struct px_str stop_sequence;
	struct px_str native_stop;    /* upstream's own string, for logs */
	struct ir_usage usage;
};

/*
 * Error kinds, mapped to each format's type strings and HTTP statuses.
 */
enum ir_err_kind {
	IR_ERR_INVALID = 0,     /* 400 */
	IR_ERR_AUTH,            /* 401 */
	IR_ERR_PERMISSION,      /* 403 */
	IR_ERR_NOT_FOUND,       /* 404 */
	IR_ERR_TOO_LARGE,       /* 413 */
	IR_ERR_RATE_LIMIT,      /* 429 */
	IR_ERR_SERVER,          /* 500 */
	IR_ERR_BAD_GATEWAY,     /* 502 */
	IR_ERR_UNAVAILABLE,     /* 503 */
	IR_ERR_TIMEOUT,         /* 504 / 408 */
	IR_ERR_OVERLOADED       /* 529 */
};

struct ir_error {
	int status;                   /* HTTP status to send (client side) */
	enum ir_err_kind kind;
	struct px_str message;
	struct px_str code;           /* upstream code string if any */
	struct px_str param;
};

/* Errors from conversion itself (a 400 for the client, with a reason). */
struct px_err {
	int status;                   /* 400 unless said otherwise */
	char msg[256];
};

/* ------------------------------------------------------- one-shot API */

/*
 * Decode a request body in format f. On failure returns -1 and fills *err
 * (malformed JSON gives "invalid JSON at byte N: ..."). body is borrowed and
 * MUST outlive req.
 */
int px_decode_request(enum px_fmt f, struct px_arena *a, const char *body,
                      size_t n, struct ir_request *req, struct px_err *err);

/*
 * Encode req for an upstream of format f. `model` is the upstream model name
 * (may differ from req->model after routing). Fails with a 400 reason when the
 * request cannot be carried faithfully (e.g. n > 1 to Anthropic).
 * For Gemini the model goes in the URL, not the body; see px_upstream_path().
 */
int px_encode_request(enum px_fmt f, const struct ir_request *req,
                      struct px_str model, struct jw *out, struct px_err *err);

/*
 * Tools px_encode_request() leaves out for target f: hosted tools of another
 * format (they run on their own provider only), and for PX_FMT_CLI every
 * tool (function tools by name). Writes their types, comma-separated, into
 * buf (truncated to cap, NUL-terminated) and returns how many there are,
 * for a log line or a response header.
 *
 * Rewrites px_encode_request() also makes, silently and deterministically
 * (the same input always gives the same output):
 *   - tool names that break the target's rules (OpenAI and Anthropic
 *     ^[a-zA-Z0-9_-]{1,64}$, Gemini [a-zA-Z_][a-zA-Z0-9_.:-]{0,63}): bad
 *     characters become '_', and a name still too long or now equal to
 *     another tool's name is cut to 55 characters plus "_" and 8 hex digits
 *     of a hash of the whole name; responses and streams going back to the
 *     client carry the original name again;
 *   - tool-call ids: longer than 40 characters for Chat (64 for Responses),
 *     or with characters outside [a-zA-Z0-9_-] for Anthropic, become a
 *     prefix of the id plus "_" and 16 hex digits of a hash of the whole id,
 *     so a call and its result still match, across requests too;
 *   - tool-call history that does not pair up: each call of an assistant
 *     turn that is not the last message gets one result right after it, in
 *     call order (a missing one: an error result "No result was recorded
 *     for this tool call."), a repeated result is dropped, and a result
 *     whose call is not in the turn before it becomes a user message
 *     "Result of tool call <id> (<name>), whose call is not in this
 *     conversation:" followed by its content.
 */
int px_dropped_tools(enum px_fmt f, const struct ir_request *req, char *buf,
                     size_t cap);

/* Decode a non-streamed upstream response body of format f. */
int px_decode_response(enum px_fmt f, struct px_arena *a, const char *body,
                       size_t n, struct ir_response *resp, struct px_err *err);

/*
 * Encode resp for a client of format f. req is the client's decoded request
 * (its model name is echoed back, and its options decide details such as
 * structured-output unwrapping).
 */
int px_encode_response(enum px_fmt f, const struct ir_request *req,
                       const struct ir_response *resp, struct jw *out,
                       struct px_err *err);

/*
 * Decode an upstream error body (any format, best effort; non-JSON bodies
 * become the message). status is the upstream HTTP status.
 */
void px_decode_error(enum px_fmt f, struct px_arena *a, int status,
                     const char *body, size_t n, struct ir_error *e);
/* Status to send a client of format f for an error (529 -> 503 for non-
 * Anthropic clients, etc.). */
int px_error_status(enum px_fmt f, const struct ir_error *e);
/* Write the error body in the client's format. */
void px_encode_error(enum px_fmt f, const struct ir_error *e, struct jw *out);
/* Convenience: build and encode an error from kind/status/message. */
void px_error_simple(enum px_fmt f, int status, const char *msg,
                     struct jw *out);

/* Map a client request to an upstream path for format f (e.g.
 * "/chat/completions", "/v1/messages", "/models/M:streamGenerateContent?alt=sse").
 * Writes into buf, returns length or -1 if it does not fit. */
int px_upstream_path(enum px_fmt f, struct px_str model, int stream,
                     char *buf, size_t cap);

/* Rewrite only the top-level "model" value of a JSON body (same-format
 * passthrough). Everything else stays byte for byte. Returns 0, or -1 if the
 * body is not a JSON object. A body without "model" gets none added. */
int px_rewrite_model(const char *body, size_t n, struct px_str model,
                     struct jw *out);

/* ------------------------------------------------------- streaming */

enum ir_ev_kind {
	IR_EV_START,        /* id, model, usage (input side if known) */
	IR_EV_BLOCK_START,  /* index, block type; TOOL_CALL: id, name */
	IR_EV_DELTA,        /* index; text (text/thinking/args fragment) and/or
	                       signature */
	IR_EV_BLOCK_STOP,   /* index */
	IR_EV_FINISH,       /* stop, stop_sequence, usage (final, cumulative) */
	IR_EV_ERROR,        /* err: the stream failed (in-band error) */
	IR_EV_PING
};

/*
 * Stream grammar every decoder produces and every encoder may rely on:
 *   START (BLOCK_START DELTA* BLOCK_STOP)* FINISH
 * with block indexes 0,1,2,... in order, one block open at a time, and
 * ERROR possibly replacing the tail at any point. PING may appear anywhere
 * after START.
 */
struct ir_event {
	enum ir_ev_kind kind;
	int index;
	enum ir_part_type block;      /* TEXT, THINKING, REDACTED, TOOL_CALL */
	struct px_str id, name, model;
	struct px_str text;
	struct px_str signature;
	enum ir_stop stop;
	struct px_str stop_sequence;
	struct ir_usage usage;
	struct ir_error err;
};

struct px_stream;   /* opaque */

/*
 * Create a stream converter from upstream format `up` to client format
 * `client`. req is the client's decoded request (borrowed; must outlive the
 * stream). All state is allocated from a (bounded); the converter keeps its
 * own scratch arena for per-event parsing, reset after each event, so a long
 * stream does not grow memory. Returns NULL on allocation failure, or when
 * `up` cannot be an upstream (PX_FMT_COMPLETIONS).
 */
struct px_stream *px_stream_new(struct px_arena *a, enum px_fmt up,
                                enum px_fmt client,
                                const struct ir_request *req);

/*
 * Feed one upstream SSE event; append the client's bytes (complete SSE
 * events, or JSON-array elements for Gemini array streams) to out.
 * Nothing is held back: what out gets is complete for this event, every
 * text and thinking delta it carried included. The exceptions are what a
 * client format needs whole (tool-call arguments for Gemini clients) and
 * what the upstream sends later (e.g. Chat usage after the finish chunk);
 * convert_int.h lists them.
 * Returns 0, or -1 if the stream is broken (an in-band error has then been
 * written to out and the stream is finished).
 */
int px_stream_feed(struct px_stream *s, const struct sse_event *ev,
                   struct jw *out);

/*
 * Upstream ended (EOF). If the upstream finished properly, writes the
 * client's terminal events (if not already written). If it was cut off,
 * writes an in-band error in the client's format - never a clean finish.
 * Returns 1 when the stream ended cleanly, 0 when it was cut off.
 */
int px_stream_end(struct px_stream *s, struct jw *out);

/* Emit an in-band error now (e.g. upstream timeout mid-stream). */
void px_stream_fail(struct px_stream *s, const struct ir_error *e,
                    struct jw *out);

/*
 * The same for an observe-only (passthrough) stream s, whose events went
 * to the client as the upstream wrote them: writes the error as the
 * continuation of that stream in its format (a Responses client gets the
 * failure for the same response id, sequence numbers going on; the other
 * formats an error event). Nothing when the upstream had already
 * finished. a holds the temporary encoder.
 */
void px_stream_fail_passthrough(struct px_arena *a, struct px_stream *s,
                                const struct ir_error *e, struct jw *out);

/* Bytes to write before the first event (Gemini array stream: "["), may be
 * empty. */
void px_stream_begin(struct px_stream *s, struct jw *out);

/* 1 once the client has been sent its terminal event (or an error). */
int px_stream_done(const struct px_stream *s);

/* Usage and stop reason seen so far, for the access log. */
const struct ir_usage *px_stream_usage(const struct px_stream *s);

/* 1 once the stream has begun its first content block (text, thinking or
 * a tool call): a gateway that held the stream's opening events back so
 * it could still try another upstream lets them go now. */
int px_stream_content(const struct px_stream *s);

/* When the stream failed in-band (an upstream error event, or a broken
 * stream): the HTTP status its error stands for, and *kind (may be NULL);
 * 0 while it has not failed. */
int px_stream_error(const struct px_stream *s, enum ir_err_kind *kind);
/* The in-band error's message (copied into the stream's arena), or an
 * empty string while the stream has not failed. */
struct px_str px_stream_error_msg(const struct px_stream *s);

/*
 * Observe-only mode for same-format passthrough: call px_stream_feed() and
 * px_stream_end() with out == NULL; the upstream bytes are forwarded
 * untouched by the caller, and the stream still tracks usage and whether
 * the upstream finished (px_stream_end returns 0 when it was cut off; the
 * caller then writes px_stream_fail() output).
 */

/* Tests: fixed clock and counter-based ids so output is byte-exact. */
void px_set_deterministic(long long now);

/* ------------------------------------------------ reasoning table */

/*
 * The one place where reasoning effort and thinking budgets meet:
 *   minimal 512, low 1024, medium 2048, high 4096, xhigh 8192 tokens;
 *   budget -> effort: 0 none, <=1024 low, <=8192 medium, above high.
 * Anthropic needs budget >= 1024 and max_tokens > budget: encoders raise
 * max_tokens to budget + the visible allowance instead of shrinking budget.
 */
long long px_effort_budget(enum ir_effort e);
enum ir_effort px_budget_effort(long long budget);
const char *px_effort_name(enum ir_effort e);

/* ------------------------------------ embeddings and converted token counts */

/*
 * OpenAI embeddings (POST /v1/embeddings) carried to Gemini's embedContent /
 * batchEmbedContents, and token counting carried between Anthropic
 * count_tokens and Gemini countTokens. Same rules as above: I/O-free, arena
 * memory, borrowed views. The server picks the upstream path; these build
 * and read bodies.
 */
#ifndef PX_EMBED_INPUTS_MAX
#define PX_EMBED_INPUTS_MAX 2048      /* inputs per embeddings request (the
                                         OpenAI API's own limit) */
#endif

struct px_embed_req {
	struct px_str model;          /* as the client sent it */
	struct px_str *inputs;        /* text inputs, decoded (not for tokens) */
	size_t ninputs;               /* texts, or token arrays when tokens */
	int tokens;                   /* input was token id array(s) */
	int base64;                   /* encoding_format "base64" */
	long long dimensions;         /* -1 unset */
};

/* Decode an OpenAI embeddings request: model, input (string, array of
 * strings, token array, array of token arrays), encoding_format (float or
 * base64), dimensions (> 0). user is accepted and ignored. -1 with a 400
 * reason on anything else. body is borrowed and must outlive r. */
int px_embed_decode_request(struct px_arena *a, const char *body, size_t n,
                            struct px_embed_req *r, struct px_err *err);

/* 1 when r goes to Gemini's :batchEmbedContents (more than one input),
 * 0 for :embedContent. */
int px_embed_gemini_batch(const struct px_embed_req *r);

/* The Gemini request body for r (`model` is the upstream model name, with
 * or without "models/"). Token-array input fails with a 400 reason. */
int px_embed_encode_gemini(const struct px_embed_req *r, struct px_str model,
                           struct jw *out, struct px_err *err);

/* Convert a Gemini embedContent / batchEmbedContents answer into the OpenAI
 * list shape for r: float values are copied as the upstream wrote them,
 * base64 is little-endian float32. The count of embeddings must match the
 * inputs. *tokens (may be NULL) gets the upstream's prompt token count, or
 * -1 when it reported none (usage then says 0). -1 with a 502 reason when
 * the answer is malformed. */
int px_embed_decode_gemini(struct px_arena *a, const struct px_embed_req *r,
                           const char *body, size_t n, struct jw *out,
                           long long *tokens, struct px_err *err);

/* A Gemini countTokens body is {"contents":[...]} or
 * {"generateContentRequest":{...}}: the generateContent request inside
 * (the body itself in the first case). */
int px_count_unwrap_gemini(struct px_arena *a, const char *body, size_t n,
                           struct px_str *inner, struct px_err *err);

/*
 * The token counting request for an upstream of format f: Anthropic
 * /v1/messages/count_tokens gets model, system, messages, tools,
 * tool_choice and thinking only (it rejects generation options such as
 * max_tokens); Gemini :countTokens gets {"generateContentRequest":{"model":
 * "models/M", ...}}. Other formats have no such endpoint: -1.
 */
int px_count_encode_request(enum px_fmt f, struct px_arena *a,
                            const struct ir_request *req, struct px_str model,
                            struct jw *out, struct px_err *err);
int px_count_request_anthropic(struct px_arena *a, const struct ir_request *req,
                               struct px_str model, struct jw *out,
                               struct px_err *err);
int px_count_request_gemini(struct px_arena *a, const struct ir_request *req,
                            struct px_str model, struct jw *out,
                            struct px_err *err);

/* The count from an upstream's answer: Anthropic {"input_tokens":N},
 * Gemini {"totalTokens":N} (absent = 0, proto3 JSON omits zeros). -1 with a
 * 502 reason when malformed. */
int px_count_tokens_anthropic(struct px_arena *a, const char *body, size_t n,
                              long long *tokens, struct px_err *err);
int px_count_tokens_gemini(struct px_arena *a, const char *body, size_t n,
                           long long *tokens, struct px_err *err);

/* Convert a count answer of format `up` into the client's format `client`
 * ({"input_tokens":N} or {"totalTokens":N}). */
int px_count_convert_response(enum px_fmt up, enum px_fmt client,
                              struct px_arena *a, const char *body, size_t n,
                              struct jw *out, long long *tokens,
                              struct px_err *err);

/* Bytes of text a decoded request carries (system, message text, thinking,
 * tool call arguments, tool results, tool names/descriptions/schemas,
 * response schema); media is not counted. The basis of the local token
 * estimate. */
size_t px_request_text_bytes(const struct ir_request *req);
/* ------------------------------------ Responses conversation state */

/*
 * For a proxy that serves `previous_response_id` itself. One record per
 * turn, as Responses JSON:
 *   {"id":"resp_..","previous_response_id":"resp_.."|null,
 *    "input":[this turn's input items],"response":{the response object}}
 */

/* This turn's input as an item array: a string input becomes one user
 * message item, an array is copied item by item, absent/null gives [].
 * -1 when input has another type. */
int px_responses_input_items(const struct json *input, struct jw *out);

/* Build a record from the response object the client saw (resp, parsed
 * into a) and the turn's input items array. Sets *id to the response id
 * (borrowed from a). -1 when resp is not a response object with an id, or
 * the id equals prev. */
int px_responses_record(struct px_arena *a, const char *resp, size_t rn,
                        struct px_str prev, const char *input, size_t in_n,
                        struct jw *out, struct px_str *id);

/* The "response" object of a record (borrowed from rec). 0 or -1. */
int px_responses_record_response(struct px_arena *a, const char *rec,
                                 size_t n, struct px_str *resp);

/* Record lookup: 1 and the record bytes (valid for the rest of the
 * px_responses_history() call), or 0 when unknown. */
typedef int (*px_rs_lookup)(void *ctx, const char *id, size_t n,
                            const char **rec, size_t *rn);

/*
 * Walk the chain ending at id (previous_response_id links) and write the
 * conversation as one item array, oldest turn first: each turn's input
 * items, then its output items. Returns 1, or 0 when id or any earlier
 * link is unknown (a broken chain is not found) or the chain is longer
 * than max_turns (which also stops cycles), or -1 when out or a ran out.
 */
int px_responses_history(struct px_arena *a, px_rs_lookup get, void *ctx,
                         struct px_str id, size_t max_turns, struct jw *out);

/*
 * The request object root (a Responses request) with the history items
 * (an array, as written by px_responses_history) in front of its input
 * and without previous_response_id. Other members are copied byte for
 * byte, in order; "input" is written last. -1 on a malformed input.
 */
int px_responses_with_history(struct px_arena *a, const struct json *root,
                              const char *hist, size_t hn, struct jw *out);

/*
 * Gemini clients' models/M:embedContent (batch 0) and :batchEmbedContents
 * (batch 1).
 *
 * To a Gemini upstream the body goes as sent, but for the model: every
 * "model" member (top level, and in each of requests[]) becomes
 * "models/M", and a request in a batch without one gets it, as Gemini
 * requires each request's model to match the URL's. 400 when a batch has
 * no non-empty "requests" array of objects.
 */
int px_embed_gemini_rewrite(struct px_arena *a, const char *body, size_t n,
                            int batch, struct px_str model, struct jw *out,
                            struct px_err *err);

/* To an OpenAI-style upstream: decode into r (r->model = model), one input
 * per request, the text parts of a content concatenated; a non-text part
 * is a 400. outputDimensionality becomes dimensions (the same value for
 * every request of a batch, or 400); taskType and title have no OpenAI
 * counterpart and are dropped. */
int px_embed_decode_gemini_request(struct px_arena *a, const char *body,
                                   size_t n, int batch, struct px_str model,
                                   struct px_embed_req *r,
                                   struct px_err *err);

/* The OpenAI /embeddings body for r: model, input (a string for a single
 * input unless array), encoding_format "float", dimensions when set. */
int px_embed_encode_openai(const struct px_embed_req *r, struct px_str model,
                           int array, struct jw *out, struct px_err *err);

/* Convert an OpenAI embeddings answer (float) into {"embedding":{"values":
 * [...]}} (batch 0) or {"embeddings":[{"values":[...]},...]} (batch 1),
 * ordered by "index", numbers copied as the upstream wrote them. *tokens
 * (may be NULL) gets usage.prompt_tokens, or -1. -1 with a 502 reason when
 * the answer is malformed or its count differs from r's inputs. */
int px_embed_encode_gemini_answer(struct px_arena *a,
                                  const struct px_embed_req *r, int batch,
                                  const char *body, size_t n, struct jw *out,
                                  long long *tokens, struct px_err *err);


/* ------------------------------------ endpoint operations */

/*
 * What a request asks of an upstream besides generation, carried between
 * formats: token counting (Anthropic count_tokens <-> Gemini countTokens;
 * OpenAI-style upstreams have no such endpoint, so the count is estimated
 * locally) and embeddings (OpenAI /embeddings <-> Gemini embedContent and
 * batchEmbedContents; Anthropic has none). A server drives every operation
 * the same way, naming no format's functions:
 *
 *	px_op_init(&o, PX_OP_EMBED, client_fmt, upstream_fmt, client_model);
 *	px_op_request(&o, a, body, n, upstream_model, &out, &err);
 *	if (o.estimate) answer px_op_estimate(&o, ...) locally;
 *	else send out to base path + px_op_path(&o, upstream_model, ...),
 *	     and answer px_op_answer(&o, ...) of a 2xx (o.passthrough: the
 *	     upstream's bytes as they are).
 */
enum px_op_kind {
	PX_OP_GENERATE = 0,   /* not an operation: the generation codecs */
	PX_OP_COUNT,          /* count_tokens / :countTokens */
	PX_OP_EMBED,          /* /v1/embeddings, :embedContent */
	PX_OP_EMBED_BATCH     /* :batchEmbedContents (Gemini clients) */
};

struct px_op {
	enum px_op_kind kind;
	enum px_fmt client, up;
	struct px_str model;          /* the client's model name */
	int passthrough;              /* body as sent but for the model; the
	                                 answer as the upstream wrote it */
	int estimate;                 /* no upstream call: px_op_estimate() */
	size_t est_bytes;             /* what the estimate counts ... */
	int est_text;                 /* ... decoded text (1) or raw bytes */
	struct px_embed_req embed;
	struct ir_request req;
};

void px_op_init(struct px_op *o, enum px_op_kind kind, enum px_fmt client,
                enum px_fmt up, struct px_str client_model);

/*
 * The upstream body of o for upstream model m, written to out; or
 * o->estimate set (nothing written). -1 with a reason (400: the request
 * cannot go to that upstream, e.g. embeddings to Anthropic, or is
 * malformed). body is borrowed and must outlive o.
 */
int px_op_request(struct px_op *o, struct px_arena *a, const char *body,
                  size_t n, struct px_str m, struct jw *out,
                  struct px_err *err);

/* The upstream path of o (to follow the provider's base path), as
 * px_upstream_path(). -1 when it does not fit. */
int px_op_path(const struct px_op *o, struct px_str m, char *buf,
               size_t cap);

/*
 * A 2xx answer of the upstream, for the client; *tokens gets the input
 * token count it reports (-1 when none). -1 with a 502 reason when the
 * answer is malformed. Not for passthrough (the bytes go as they are).
 */
int px_op_answer(const struct px_op *o, struct px_arena *a, const char *body,
                 size_t n, struct jw *out, long long *tokens,
                 struct px_err *err);

/* The local token estimate (o->estimate): about four bytes per token,
 * marked as an estimate in the body (Anthropic shape) and by the caller in
 * a header. */
void px_op_estimate(const struct px_op *o, struct jw *out, long long *tokens);

/* ------------------------------------ command-line upstreams (PX_FMT_CLI) */

/*
 * A command that answers a conversation as JSON lines, in the stream-json
 * dialect of Claude Code (`claude -p --input-format stream-json
 * --output-format stream-json --verbose`). The server runs the command;
 * this is the conversion, I/O-free like the rest.
 *
 * Input (px_encode_request(PX_FMT_CLI, ...)): exactly one line,
 *   {"type":"user","message":{"role":"user","content":[blocks]}}\n
 * because the command answers every user line it reads as a turn of its
 * own. A conversation of one user message (no system prompt) is sent as
 * that message's blocks. Anything longer is one transcript: a text block
 *   <system>...</system>            the system prompt, when there is one
 *   <conversation>
 *   <user>...</user>                every message but the last user one
 *   <assistant>...</assistant>      (tool calls as <tool_call id=..
 *   <tool_result id=.. name=..>     name=..>args</tool_call>, system
 *   </conversation>                 messages as <system>)
 * followed by the last user message's own blocks. Images and documents
 * stay blocks at their place in the transcript (base64 or URL sources, as
 * Anthropic takes them); thinking is dropped. What cannot be carried is
 * refused with a 400: n > 1, a response format (JSON object or schema),
 * a tool_choice that forces a call (the command runs its own tools, not
 * the client's). The client's tool definitions and generation settings
 * (max_tokens, temperature, stop, ...) have no way in and are ignored;
 * px_dropped_tools() names the tools.
 *
 * Output: the stream decoder takes one line per sse_event (data = the
 * line, without its '\n'; a line that is not a JSON object is an error of
 * the stream: skip noise before feeding, see px_cli_line()). It reads
 *   system init          START (id = the session id)
 *   stream_event         partial deltas (--include-partial-messages):
 *                        text and thinking as they stream
 *   assistant            whole content blocks: text and thinking when no
 *                        stream_event came, tool_use always (below)
 *   result               usage (cache included), total_cost_usd as
 *                        usage.cost_uusd, and FINISH; an error result
 *                        (is_error) is an ERROR event with the status the
 *                        command reports (api_error_status: 400, 404, 413,
 *                        429, 5xx and 529 as they are; others 502) and
 *                        its message; subtypes error_max_turns and
 *                        error_max_budget_usd finish as IR_STOP_MAX_TOKENS
 * and skips the rest: user lines (the results of the command's own tools),
 * messages of sub-agents (parent_tool_use_id set), API error messages the
 * command makes up (is_api_error_message: the result carries the error),
 * system status lines, retries and anything unknown. The command runs its
 * tools itself, so its tool calls are not the client's to run: each one is
 * shown as a text block "[tool: NAME INPUT]" (INPUT compact JSON, cut at
 * PX_CLI_TOOL_TEXT_MAX bytes with "..."). Text blocks after the first
 * begin with "\n\n", so turns read apart in clients that join the text.
 * The stop reason is the last API message's (tool_use and stop_sequence
 * read as end_turn). Everything after the result line is ignored.
 *
 * px_decode_response(PX_FMT_CLI, ...) reads a whole output (JSON lines,
 * noise lines skipped) through the same decoder: the same text, the same
 * tool lines, the same usage; an error result fails with its status and
 * message, an output without a result line fails with 502.
 */
#ifndef PX_CLI_TOOL_TEXT_MAX
#define PX_CLI_TOOL_TEXT_MAX 2048     /* bytes of a tool call's input shown */
#endif
#ifndef PX_JSONL_LINE_MAX
#define PX_JSONL_LINE_MAX SSE_EVENT_MAX  /* bytes of one output line */
#endif

/* 1 when line[0..n) looks like a JSON object (its first byte after
 * blanks is '{'): the lines to feed; others are a command's noise (a
 * banner, a warning) to log and skip. */
int px_cli_line(const char *line, size_t n);

/*
 * JSON-lines framer: bytes in, split anywhere, whole lines out (without
 * '\n'; a '\r' before it is dropped too). Zero-initialise; the buffer is
 * malloc'd lazily, grows by doubling and never holds more than
 * PX_JSONL_LINE_MAX bytes; px_jsonl_free() releases it.
 */
struct px_jsonl {
	char *buf;                    /* the unfinished line (no '\n' in it) */
	size_t len, cap;
	size_t over;                  /* bytes of an over-long line so far */
	char head[64];                /* its first bytes */
	size_t head_n;
};

#define PX_JSONL_LINE 1               /* *line holds a line */
#define PX_JSONL_LONG 2               /* a line longer than PX_JSONL_LINE_MAX
                                         ended: *line holds its first (up to
                                         64) bytes, the rest was dropped */
/*
 * Consume bytes from p[0..n) until a line completes. Returns the bytes
 * consumed (at least 1 when n > 0) and sets *got to PX_JSONL_LINE or
 * PX_JSONL_LONG when a line completed (call again with the rest), or to
 * 0 when all of p was consumed without completing one; -1 when out of
 * memory. *line points into the framer (or into p) and is valid until
 * the next call.
 */
long px_jsonl_feed(struct px_jsonl *j, const char *p, size_t n,
                   struct px_str *line, int *got);
/* At the end of the output: PX_JSONL_LINE with the last line when it had
 * no '\n', PX_JSONL_LONG when that line was over-long, or 0. */
int px_jsonl_finish(struct px_jsonl *j, struct px_str *line);
void px_jsonl_free(struct px_jsonl *j);

#endif
