/*
 * convert_cli.c - command-line upstreams (PX_FMT_CLI): a command that
 * takes the conversation on its standard input and answers on its
 * standard output as JSON lines, in Claude Code's stream-json dialect.
 * convert.h ("command-line upstreams") has the contract; the decisions
 * behind it:
 *
 *   - One user line in, always. The command answers every user line as a
 *     turn of its own (and files an assistant line it is given in an order
 *     of its choosing), so the conversation travels as one message: a
 *     transcript of what came before, then the last user message's blocks.
 *     Images and documents keep their place as blocks; the transcript
 *     tags are plain text the model reads, not a protocol.
 *   - The command's tool calls are its own business: it has already run
 *     them when the line reaches us. Shown as a client tool call they
 *     would ask the client to run a tool it never declared, so they are
 *     text. Tool results (user lines) are not shown: they are long and
 *     the model's next turn says what came of them.
 *   - Partial messages (stream_event lines) and whole messages (assistant
 *     lines) carry the same text: whole messages are used only until the
 *     first stream_event line, except for tool calls, whose input is
 *     whole only there.
 *   - The result line ends the answer, whatever follows it; an error
 *     result is an error even after content (an in-band error event).
 *   - Status of an error result: what the command says its API answered
 *     (api_error_status) when a client may act on it (400, 404, 413,
 *     429, 5xx, 529); a 401 or 403 is the command's own credentials, not
 *     the client's, so 502 like every failure without a status.
 *
 * The stream decoder and the non-streamed aggregation are one decoder
 * (struct cdec) with two sinks: px_emit() for a stream, a collector that
 * builds an ir_response for px_decode_response(). The JSON-lines framer
 * (px_jsonl) lives here too: it is part of the dialect, and I/O-free.
 */
#include <stdlib.h>
#include <string.h>

#include "convert_int.h"

/* ------------------------------------------------------------ framing */

/* see convert.h */
int
px_cli_line(const char *line, size_t n)
{
	size_t i = 0;

	while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
		i++;
	return i < n && line[i] == '{';
}

static struct px_str
strip_cr(const char *p, size_t n)
{
	struct px_str r;

	if (n && p[n - 1] == '\r')
		n--;
	r.p = p;
	r.n = n;
	return r;
}

/* the first bytes of an over-long line, kept for the message */
static void
keep_head(struct px_jsonl *j, const char *p, size_t n)
{
	size_t k = sizeof j->head - j->head_n;

	if (k > n)
		k = n;
	if (k == 0)             /* p may be NULL: an empty buffer */
		return;
	memcpy(j->head + j->head_n, p, k);
	j->head_n += k;
}

/* see convert.h */
long
px_jsonl_feed(struct px_jsonl *j, const char *p, size_t n,
              struct px_str *line, int *got)
{
	const char *nl;
	size_t take;

	*got = 0;
	if (n == 0)
		return 0;
	nl = memchr(p, '\n', n);
	take = nl ? (size_t)(nl - p) : n;
	if (j->over) {
		/* dropping an over-long line up to its end */
		keep_head(j, p, take);
		j->over += take;
		if (!nl)
			return (long)n;
		j->over = 0;
		line->p = j->head;
		line->n = j->head_n;
		j->head_n = 0;
		*got = PX_JSONL_LONG;
		return (long)take + 1;
	}
	if (j->len == 0 && nl && take <= PX_JSONL_LINE_MAX) {
		/* the whole line is in p: no copy */
		*line = strip_cr(p, take);
		*got = PX_JSONL_LINE;
		return (long)take + 1;
	}
	if (j->len + take > PX_JSONL_LINE_MAX) {
		j->head_n = 0;
		keep_head(j, j->buf, j->len);
		keep_head(j, p, take);
		j->over = j->len + take;
		j->len = 0;
		if (!nl)
			return (long)n;
		j->over = 0;
		line->p = j->head;
		line->n = j->head_n;
		j->head_n = 0;
		*got = PX_JSONL_LONG;
		return (long)take + 1;
	}
	if (j->len + take > j->cap) {
		size_t nc = j->cap ? j->cap : 4096;
		char *b;
		while (nc < j->len + take)
			nc *= 2;
		if (nc > PX_JSONL_LINE_MAX)
			nc = PX_JSONL_LINE_MAX;
		if ((b = realloc(j->buf, nc)) == NULL)
			return -1;
		j->buf = b;
		j->cap = nc;
	}
	memcpy(j->buf + j->len, p, take);
	j->len += take;
	if (!nl)
		return (long)n;
	/* the view stays valid until the next call overwrites the buffer */
	*line = strip_cr(j->buf, j->len);
	j->len = 0;
	*got = PX_JSONL_LINE;
	return (long)take + 1;
}

/* see convert.h */
int
px_jsonl_finish(struct px_jsonl *j, struct px_str *line)
{
	if (j->over) {
		j->over = 0;
		line->p = j->head;
		line->n = j->head_n;
		j->head_n = 0;
		return PX_JSONL_LONG;
	}
	if (j->len == 0)
		return 0;
	*line = strip_cr(j->buf, j->len);
	j->len = 0;
	return PX_JSONL_LINE;
}

/* see convert.h */
void
px_jsonl_free(struct px_jsonl *j)
{
	free(j->buf);
	memset(j, 0, sizeof *j);
}

/* ------------------------------------------------------- request encode */

/* The conversation as blocks: transcript text gathers in t until a block
 * that is not text (an image, a document) has to be written. */
struct cenc {
	struct jw *w;
	struct jw t;
	struct px_err *err;
	int nblocks;
};

static void
tx(struct cenc *e, const char *s, size_t n)
{
	jw_put(&e->t, s, n);
}

static void
txs(struct cenc *e, const char *s)
{
	jw_put(&e->t, s, strlen(s));
}

static void
text_block(struct cenc *e, const char *s, size_t n)
{
	if (n == 0)
		return;         /* the API refuses empty text blocks */
	jw_obj(e->w);
	jw_kcstr(e->w, "type", "text");
	jw_kstr(e->w, "text", s, n);
	jw_obj_end(e->w);
	e->nblocks++;
}

static void
tx_flush(struct cenc *e)
{
	text_block(e, e->t.buf, e->t.len);
	jw_reset(&e->t);
}

/* An attribute value in a transcript tag: the bytes that would end or
 * open a tag become '_'. */
static void
tx_attr(struct cenc *e, const char *name, struct px_str v)
{
	size_t i;

	if (!v.n)
		return;
	txs(e, " ");
	txs(e, name);
	txs(e, "=\"");
	for (i = 0; i < v.n; i++) {
		char c = v.p[i];
		if (c == '"' || c == '<' || c == '>' || (unsigned char)c < 0x20)
			c = '_';
		tx(e, &c, 1);
	}
	txs(e, "\"");
}

/* "https://..." or "data:..." (a file id is neither: it names a file the
 * command's API would not know) */
static int
url_ok(struct px_str u)
{
	size_t i;

	if (px_str_prefix(u, "data:"))
		return 1;
	for (i = 0; i + 2 < u.n && i < 16; i++)
		if (u.p[i] == ':' && u.p[i + 1] == '/' && u.p[i + 2] == '/')
			return 1;
	return 0;
}

/* An image or document as a content block (Anthropic's shape, which the
 * command passes on). 0, or -1 with a 400. */
static int
media_block(struct cenc *e, const struct ir_part *p)
{
	struct px_str media = p->media_type, data = p->data;
	struct jw *w = e->w;
	int doc = p->type == IR_DOCUMENT;

	if (!data.n && p->url.n && px_data_url_split(p->url, &media, &data))
		;       /* a data URL: base64 */
	else if (!data.n && !p->text.n && p->url.n && !url_ok(p->url)) {
		px_err_set(e->err, 400, "a %s given by file id cannot be "
		    "carried to a command; send it inline (base64) or by URL",
		    doc ? "document" : "image");
		return -1;
	}
	if (!data.n && !p->url.n && !(doc && p->text.n))
		return 0;       /* nothing to show */
	tx_flush(e);
	jw_obj(w);
	jw_kcstr(w, "type", doc ? "document" : "image");
	jw_key(w, "source");
	jw_obj(w);
	if (data.n) {
		jw_kcstr(w, "type", "base64");
		jw_key(w, "media_type");
		if (media.n)
			px_jw_str(w, media);
		else
			jw_cstr(w, doc ? "application/pdf" : "image/png");
		jw_key(w, "data");
		px_jw_str(w, data);
	} else if (doc && p->text.n) {
		jw_kcstr(w, "type", "text");
		jw_key(w, "media_type");
		if (media.n)
			px_jw_str(w, media);
		else
			jw_cstr(w, "text/plain");
		jw_key(w, "data");
		px_jw_str(w, p->text);
	} else {
		jw_kcstr(w, "type", "url");
		jw_key(w, "url");
		px_jw_str(w, p->url);
	}
	jw_obj_end(w);
	if (doc && p->name.n) {
		jw_key(w, "title");
		px_jw_str(w, p->name);
	}
	jw_obj_end(w);
	e->nblocks++;
	return 0;
}

/* One part inside the transcript. */
static int
tx_part(struct cenc *e, const struct ir_part *p)
{
	size_t i;

	switch (p->type) {
	case IR_TEXT:
		tx(e, p->text.p, p->text.n);
		return 0;
	case IR_IMAGE:
	case IR_DOCUMENT:
		return media_block(e, p);
	case IR_TOOL_CALL:
		txs(e, "<tool_call");
		tx_attr(e, "id", p->id);
		tx_attr(e, "name", p->name);
		txs(e, ">");
		tx(e, p->args.p, p->args.n);
		txs(e, "</tool_call>\n");
		return 0;
	case IR_TOOL_RESULT:
		txs(e, "<tool_result");
		tx_attr(e, "id", p->id);
		tx_attr(e, "name", p->name);
		if (p->is_error)
			txs(e, " error=\"true\"");
		txs(e, ">\n");
		for (i = 0; i < p->ncontent; i++)
			if (tx_part(e, &p->content[i]) < 0)
				return -1;
		txs(e, "\n</tool_result>\n");
		return 0;
	default:
		return 0;       /* thinking: the command thinks for itself */
	}
}

static const char *
role_tag(enum ir_role r)
{
	switch (r) {
	case IR_ROLE_SYSTEM:    return "system";
	case IR_ROLE_ASSISTANT: return "assistant";
	case IR_ROLE_TOOL:      return NULL;    /* results tag themselves */
	default:                return "user";
	}
}

static int
cli_encode_request(const struct ir_request *req, struct px_str model,
                   struct jw *out, struct px_err *err)
{
	struct px_arena tmp;
	struct cenc e;
	size_t i, j, last;
	int rc = -1;

	(void)model;            /* the model is the command's argument */
	if (req->n > 1) {
		px_err_set(err, 400, "n > 1 cannot be carried to a command: it "
		    "gives one answer");
		return -1;
	}
	if (req->rf == IR_RF_JSON_OBJECT || req->rf == IR_RF_JSON_SCHEMA) {
		px_err_set(err, 400, "a response format (structured output) "
		    "cannot be carried to a command");
		return -1;
	}
	if (req->ntools && (req->tool_choice == IR_TC_REQUIRED ||
	    req->tool_choice == IR_TC_NAMED)) {
		px_err_set(err, 400, "tool_choice forces a call of the client's "
		    "tools, which a command cannot make: it runs only its own");
		return -1;
	}
	px_arena_init(&tmp, 0);
	memset(&e, 0, sizeof e);
	e.w = out;
	e.err = err;
	jw_init(&e.t, &tmp, 0);
	/* the last message goes as its own blocks when it is the user's */
	last = req->nmsgs;
	if (last && req->msgs[last - 1].role == IR_ROLE_USER)
		last--;

	jw_obj(out);
	jw_kcstr(out, "type", "user");
	jw_key(out, "message");
	jw_obj(out);
	jw_kcstr(out, "role", "user");
	jw_key(out, "content");
	jw_arr(out);
	if (req->nsystem) {
		txs(&e, "<system>\n");
		for (i = 0; i < req->nsystem; i++) {
			if (i)
				txs(&e, "\n\n");
			tx(&e, req->system[i].text.p, req->system[i].text.n);
		}
		txs(&e, "\n</system>\n");
	}
	if (last > 0) {
		txs(&e, "<conversation>\n");
		for (i = 0; i < last; i++) {
			const struct ir_msg *m = &req->msgs[i];
			const char *tag = role_tag(m->role);
			if (tag) {
				txs(&e, "<");
				txs(&e, tag);
				txs(&e, ">\n");
			}
			for (j = 0; j < m->nparts; j++)
				if (tx_part(&e, &m->parts[j]) < 0)
					goto done;
			if (tag) {
				txs(&e, "\n</");
				txs(&e, tag);
				txs(&e, ">\n");
			}
		}
		txs(&e, "</conversation>\n");
	}
	tx_flush(&e);
	if (last < req->nmsgs) {
		const struct ir_msg *m = &req->msgs[last];
		for (j = 0; j < m->nparts; j++) {
			const struct ir_part *p = &m->parts[j];
			if (p->type == IR_TEXT)
				text_block(&e, p->text.p, p->text.n);
			else if ((p->type == IR_IMAGE || p->type == IR_DOCUMENT) &&
			    media_block(&e, p) < 0)
				goto done;
		}
	}
	if (e.nblocks == 0) {
		px_err_set(err, 400, "the conversation has nothing to send");
		goto done;
	}
	jw_arr_end(out);
	jw_obj_end(out);
	jw_obj_end(out);
	jw_put(out, "\n", 1);
	if (e.t.err) {
		px_err_set(err, 413, "converted request too large");
		goto done;
	}
	rc = 0;
done:
	px_arena_free(&tmp);
	return rc;
}

/* ------------------------------------------------------------ decoder */

/* What a stream_event content block is being read into. */
enum pb { PB_NONE, PB_TEXT, PB_THINK, PB_SKIP };

/* The non-streamed sink: IR events gathered into a response. */
struct ccol {
	struct px_arena *a;
	struct ir_part *parts;
	size_t nparts, cap;
	struct jw text;               /* the open block's text */
	struct px_str sig;
	enum ir_part_type type;
	int open;
	struct px_str id, model;
	enum ir_stop stop;
	struct ir_usage usage;
	int finished, failed;
	struct ir_error err;
};

struct cdec {
	struct px_stream *s;          /* streaming sink, or */
	struct ccol *col;             /* the collector */
	struct px_arena *a;           /* lives as long as the decoder */
	struct px_arena *scratch;     /* per line */
	unsigned started:1, partial:1, result:1, any_text:1, open:1;
	enum pb pb;                   /* the stream_event block */
	enum ir_part_type open_type;  /* the IR block open (open = 1) */
	enum ir_stop stop;
};

static void
ev_init(struct ir_event *e, enum ir_ev_kind k)
{
	memset(e, 0, sizeof *e);
	e->kind = k;
	ir_usage_init(&e->usage);
}

static void
col_event(struct ccol *c, const struct ir_event *ev)
{
	struct ir_part *p;

	if (c->finished || c->failed)
		return;
	switch (ev->kind) {
	case IR_EV_START:
		if (!c->id.n && ev->id.n)
			c->id = px_str_dup(c->a, ev->id.p, ev->id.n);
		if (!c->model.n && ev->model.n)
			c->model = px_str_dup(c->a, ev->model.p, ev->model.n);
		break;
	case IR_EV_BLOCK_START:
		c->open = 1;
		c->type = ev->block;
		c->sig.n = 0;
		jw_reset(&c->text);
		break;
	case IR_EV_DELTA:
		if (!c->open)
			break;
		jw_put(&c->text, ev->text.p, ev->text.n);
		if (ev->signature.n)
			c->sig = px_str_dup(c->a, ev->signature.p,
			    ev->signature.n);
		break;
	case IR_EV_BLOCK_STOP:
		if (!c->open)
			break;
		c->open = 0;
		p = px_vgrow(c->a, c->parts, c->nparts, &c->cap, sizeof *p);
		if (!p || c->text.err) {
			c->failed = 1;
			c->err.status = 502;
			c->err.kind = IR_ERR_BAD_GATEWAY;
			c->err.message = px_str_c("the command's answer is too "
			    "large");
			break;
		}
		c->parts = p;
		p = &c->parts[c->nparts++];
		p->type = c->type;
		p->text = px_str_dup(c->a, c->text.buf, c->text.len);
		if (c->type == IR_THINKING) {
			p->signature = c->sig;
			p->sig_fmt = PX_FMT_ANTHROPIC;
		}
		break;
	case IR_EV_FINISH:
		c->finished = 1;
		c->stop = ev->stop;
		c->usage = ev->usage;
		break;
	case IR_EV_ERROR:
		c->failed = 1;
		c->err = ev->err;
		c->err.message = px_str_dup(c->a, ev->err.message.p,
		    ev->err.message.n);
		break;
	case IR_EV_PING:
		break;
	}
}

static void
emit(struct cdec *d, const struct ir_event *ev)
{
	if (d->s)
		px_emit(d->s, ev);
	else
		col_event(d->col, ev);
}

static void
start(struct cdec *d, struct px_str id, struct px_str model)
{
	struct ir_event e;

	if (d->started)
		return;
	d->started = 1;
	ev_init(&e, IR_EV_START);
	e.id = id;
	e.model = model;
	emit(d, &e);
}

static void
delta(struct cdec *d, struct px_str text, struct px_str sig)
{
	struct ir_event e;

	ev_init(&e, IR_EV_DELTA);
	e.text = text;
	e.signature = sig;
	emit(d, &e);
}

static void
block_close(struct cdec *d)
{
	struct ir_event e;

	if (!d->open)
		return;
	d->open = 0;
	ev_init(&e, IR_EV_BLOCK_STOP);
	e.block = d->open_type;
	emit(d, &e);
}

/* Open a text or thinking block; text after earlier text starts with a
 * blank line. */
static void
block_open(struct cdec *d, enum ir_part_type t)
{
	struct ir_event e;
	struct px_str none = { NULL, 0 };

	block_close(d);
	start(d, none, none);
	ev_init(&e, IR_EV_BLOCK_START);
	e.block = t;
	emit(d, &e);
	d->open = 1;
	d->open_type = t;
	if (t == IR_TEXT) {
		if (d->any_text)
			delta(d, px_str_c("\n\n"), none);
		d->any_text = 1;
	}
}

static void
whole_block(struct cdec *d, enum ir_part_type t, struct px_str text,
    struct px_str sig)
{
	struct px_str none = { NULL, 0 };

	if (!text.n && !sig.n)
		return;
	block_open(d, t);
	if (text.n)
		delta(d, text, none);
	if (sig.n)
		delta(d, none, sig);
	block_close(d);
}

/* n bytes of s, cut back to a UTF-8 character boundary */
static size_t
utf8_cut(const char *s, size_t n)
{
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* The command ran a tool: a text block "[tool: NAME INPUT]". */
static void
tool_text(struct cdec *d, const struct json *b)
{
	struct px_str name = px_jget(b, "name"), in, none = { NULL, 0 };
	const struct json *input = json_get(b, "input");
	struct jw w;

	in = input ? px_json_compact(d->scratch, input) : px_str_c("{}");
	jw_init(&w, d->scratch, 0);
	jw_puts(&w, "[tool: ");
	jw_put(&w, name.p, name.n);
	jw_puts(&w, " ");
	if (in.n > PX_CLI_TOOL_TEXT_MAX) {
		jw_put(&w, in.p, utf8_cut(in.p, PX_CLI_TOOL_TEXT_MAX));
		jw_puts(&w, "...");
	} else {
		jw_put(&w, in.p, in.n);
	}
	jw_puts(&w, "]");
	if (w.err)
		return;
	block_open(d, IR_TEXT);
	delta(d, px_jw_view(&w), none);
	block_close(d);
}

static enum ir_stop
stop_of(struct px_str s)
{
	if (px_str_eq(s, "max_tokens"))
		return IR_STOP_MAX_TOKENS;
	if (px_str_eq(s, "refusal"))
		return IR_STOP_CONTENT_FILTER;
	if (px_str_eq(s, "model_context_window_exceeded"))
		return IR_STOP_CONTEXT;
	return IR_STOP_END;     /* end_turn, tool_use, stop_sequence, ... */
}

/* An assistant line: whole content blocks. */
static void
on_assistant(struct cdec *d, const struct json *root)
{
	const struct json *m = json_get(root, "message"), *c, *b;
	struct px_str ty, sr, none = { NULL, 0 };
	int v = 0;

	/* an API error the command dressed as a message: the result line
	 * carries it */
	if ((json_bool(json_get(root, "is_api_error_message"), &v) && v) ||
	    px_jget(root, "error").n)
		return;
	sr = px_jget(m, "stop_reason");
	if (sr.n)
		d->stop = stop_of(sr);
	c = json_get(m, "content");
	if (!c || c->type != JSON_ARRAY)
		return;
	for (b = c->child; b; b = b->next) {
		ty = px_jget(b, "type");
		if (px_str_eq(ty, "tool_use") || px_str_eq(ty, "server_tool_use")) {
			tool_text(d, b);
		} else if (d->partial) {
			continue;       /* streamed already */
		} else if (px_str_eq(ty, "text")) {
			whole_block(d, IR_TEXT, px_jget(b, "text"), none);
		} else if (px_str_eq(ty, "thinking")) {
			whole_block(d, IR_THINKING, px_jget(b, "thinking"),
			    px_jget(b, "signature"));
		}
	}
}

/* A stream_event line: one Anthropic stream event. */
static void
on_stream_event(struct cdec *d, const struct json *root)
{
	const struct json *ev = json_get(root, "event"), *x;
	struct px_str ty = px_jget(ev, "type"), dt, t, none = { NULL, 0 };

	d->partial = 1;
	if (px_str_eq(ty, "content_block_start")) {
		x = json_get(ev, "content_block");
		dt = px_jget(x, "type");
		block_close(d);
		if (px_str_eq(dt, "text"))
			d->pb = PB_TEXT;
		else if (px_str_eq(dt, "thinking"))
			d->pb = PB_THINK;
		else
			d->pb = PB_SKIP;   /* tool_use: from the assistant line */
		/* a start that carries text already (rare) */
		t = px_jget(x, d->pb == PB_THINK ? "thinking" : "text");
		if (d->pb != PB_SKIP && t.n) {
			block_open(d, d->pb == PB_TEXT ? IR_TEXT : IR_THINKING);
			delta(d, t, none);
		}
	} else if (px_str_eq(ty, "content_block_delta")) {
		struct px_str sig = { NULL, 0 };
		if (d->pb != PB_TEXT && d->pb != PB_THINK)
			return;
		x = json_get(ev, "delta");
		dt = px_jget(x, "type");
		t.n = 0;
		if (px_str_eq(dt, "text_delta") && d->pb == PB_TEXT)
			t = px_jget(x, "text");
		else if (px_str_eq(dt, "thinking_delta") && d->pb == PB_THINK)
			t = px_jget(x, "thinking");
		else if (px_str_eq(dt, "signature_delta") && d->pb == PB_THINK)
			sig = px_jget(x, "signature");
		if (!t.n && !sig.n)
			return;
		/* the block opens with its first content: no empty blocks */
		if (!d->open)
			block_open(d, d->pb == PB_TEXT ? IR_TEXT : IR_THINKING);
		delta(d, t, sig);
	} else if (px_str_eq(ty, "content_block_stop")) {
		if (d->pb == PB_TEXT || d->pb == PB_THINK)
			block_close(d);
		d->pb = PB_NONE;
	} else if (px_str_eq(ty, "message_delta")) {
		dt = px_jget(json_get(ev, "delta"), "stop_reason");
		if (dt.n)
			d->stop = stop_of(dt);
	}
}

/* Anthropic-style usage: input includes the cache (WIRE.md §3.3). */
static void
result_usage(const struct json *root, struct ir_usage *u)
{
	const struct json *us = json_get(root, "usage");
	long long in = -1, cr = -1, cw = -1, v;
	double cost;

	if (us && us->type == JSON_OBJECT) {
		json_int(json_get(us, "cache_read_input_tokens"), &cr);
		json_int(json_get(us, "cache_creation_input_tokens"), &cw);
		if (json_int(json_get(us, "input_tokens"), &in)) {
			u->input = in + (cr > 0 ? cr : 0) + (cw > 0 ? cw : 0);
			u->cache_read = cr;
			u->cache_write = cw;
		}
		if (json_int(json_get(us, "output_tokens"), &v))
			u->output = v;
		if (json_int(json_get(json_get(us, "output_tokens_details"),
		    "thinking_tokens"), &v) && v >= 0)
			u->reasoning = v;
	}
	if (json_num(json_get(root, "total_cost_usd"), &cost) && cost >= 0 &&
	    cost < 1e9)
		u->cost_uusd = (long long)(cost * 1e6 + 0.5);
}

/* The status an error result stands for (see the top). */
static int
result_status(const struct json *root)
{
	long long st = 0;

	if (!json_int(json_get(root, "api_error_status"), &st))
		return 502;
	if (st == 400 || st == 404 || st == 413 || st == 429 || st == 529 ||
	    (st >= 500 && st <= 599))
		return (int)st;
	return 502;
}

static void
on_result(struct cdec *d, const struct json *root)
{
	struct px_str sub = px_jget(root, "subtype"), txt, none = { NULL, 0 };
	struct ir_event e;
	int is_err = 0;

	d->result = 1;
	block_close(d);
	json_bool(json_get(root, "is_error"), &is_err);
	if (px_str_prefix(sub, "error_max_")) {
		/* a limit of the command's (turns, budget): what it has said
		 * so far is the answer, cut short */
		is_err = 0;
		d->stop = IR_STOP_MAX_TOKENS;
	} else if (px_str_prefix(sub, "error")) {
		is_err = 1;
	}
	if (is_err) {
		const struct json *es = json_get(root, "errors"), *x;
		struct jw w;
		ev_init(&e, IR_EV_ERROR);
		e.err.status = result_status(root);
		e.err.kind = px_kind_from_status(e.err.status);
		txt = px_jget(root, "result");
		if (!txt.n && es && es->type == JSON_ARRAY) {
			jw_init(&w, d->scratch, 4096);
			for (x = es->child; x; x = x->next) {
				if (x->type != JSON_STRING)
					continue;
				if (w.len)
					jw_puts(&w, "; ");
				jw_put(&w, x->s, x->n);
			}
			txt = px_jw_view(&w);
		}
		if (!txt.n) {
			jw_init(&w, d->scratch, 256);
			jw_puts(&w, "the command failed (");
			jw_put(&w, sub.p, sub.n > 64 ? 64 : sub.n);
			jw_puts(&w, ")");
			txt = px_jw_view(&w);
		}
		e.err.message = txt;
		emit(d, &e);
		return;
	}
	txt = px_jget(root, "result");
	if (!d->any_text && txt.n)
		/* nothing came as a message (a dialect that answers only in
		 * the result): the result is the answer */
		whole_block(d, IR_TEXT, txt, none);
	start(d, none, none);
	ev_init(&e, IR_EV_FINISH);
	if (d->stop == IR_STOP_MAX_TOKENS)
		e.stop = IR_STOP_MAX_TOKENS;
	else if (px_jget(root, "stop_reason").n)
		e.stop = stop_of(px_jget(root, "stop_reason"));
	else
		e.stop = d->stop ? d->stop : IR_STOP_END;
	result_usage(root, &e.usage);
	emit(d, &e);
}

/* One line, parsed. */
static void
cdec_line(struct cdec *d, const struct json *root)
{
	struct px_str ty = px_jget(root, "type");
	const struct json *parent = json_get(root, "parent_tool_use_id");

	if (d->result || root->type != JSON_OBJECT)
		return;
	/* a sub-agent's messages are its own conversation */
	if (parent && parent->type != JSON_NULL)
		return;
	if (px_str_eq(ty, "system")) {
		if (px_str_eq(px_jget(root, "subtype"), "init"))
			start(d, px_jget(root, "session_id"),
			    px_jget(root, "model"));
	} else if (px_str_eq(ty, "stream_event")) {
		on_stream_event(d, root);
	} else if (px_str_eq(ty, "assistant")) {
		on_assistant(d, root);
	} else if (px_str_eq(ty, "result")) {
		on_result(d, root);
	}
	/* user lines (the command's tool results) and anything else: no */
}

static void *
cli_sdec_new(struct px_stream *s)
{
	struct cdec *d = px_zalloc(s->a, sizeof *d);

	if (d) {
		d->s = s;
		d->a = s->a;
		d->scratch = &s->scratch;
	}
	return d;
}

static int
cli_sdec_feed(struct px_stream *s, void *st, const struct sse_event *ev,
              const struct json *root)
{
	(void)s;
	(void)ev;
	if (root)
		cdec_line(st, root);
	return 0;
}

static int
cli_sdec_end(struct px_stream *s, void *st)
{
	struct cdec *d = st;

	(void)s;
	return d->result;       /* no result line: cut off */
}

/* ------------------------------------------------- non-streamed output */

/* see convert_int.h */
int
px_cli_decode_response(struct px_arena *a, const char *body, size_t n,
                       struct ir_response *resp, struct px_err *err)
{
	struct px_arena line_a;
	struct ccol col;
	struct cdec d;
	struct json_err je;
	const char *p = body, *end = body + n, *nl;
	int rc = -1;

	memset(&col, 0, sizeof col);
	memset(&d, 0, sizeof d);
	px_arena_init(&line_a, PX_JSONL_LINE_MAX * 8u + (1u << 20));
	col.a = a;
	jw_init(&col.text, a, 0);
	ir_usage_init(&col.usage);
	d.col = &col;
	d.a = a;
	d.scratch = &line_a;
	while (p < end && !col.finished && !col.failed) {
		struct px_str l;
		struct json *root;
		nl = memchr(p, '\n', (size_t)(end - p));
		l = strip_cr(p, nl ? (size_t)(nl - p) : (size_t)(end - p));
		p = nl ? nl + 1 : end;
		if (!px_cli_line(l.p, l.n))
			continue;       /* noise */
		memset(&je, 0, sizeof je);
		root = json_parse(&line_a, l.p, l.n, 0, &je);
		if (!root) {
			px_err_set(err, 502, "the command wrote a malformed "
			    "line (invalid JSON at byte %zu: %s)", je.pos,
			    je.msg ? je.msg : "syntax error");
			goto done;
		}
		cdec_line(&d, root);
		px_arena_free(&line_a);
	}
	if (col.failed) {
		px_err_set(err, col.err.status ? col.err.status : 502, "%.*s",
		    (int)(col.err.message.n > 200 ? 200 : col.err.message.n),
		    col.err.message.p ? col.err.message.p : "");
		goto done;
	}
	if (!col.finished) {
		px_err_set(err, 502, "the command's output ended without a "
		    "result");
		goto done;
	}
	resp->id = col.id;
	resp->model = col.model;
	resp->parts = col.parts;
	resp->nparts = col.nparts;
	resp->stop = col.stop;
	resp->usage = col.usage;
	rc = 0;
done:
	px_arena_free(&line_a);
	return rc;
}

/* ------------------------------------------------------------ errors */

static void
cli_decode_error(const struct json *root, struct ir_error *e)
{
	struct px_str m = px_jget(root, "result");

	if (m.n)
		e->message = m;
}

static void
cli_encode_error(const struct ir_error *e, struct jw *out)
{
	jw_obj(out);
	jw_kcstr(out, "type", "result");
	jw_kcstr(out, "subtype", "error");
	jw_kbool(out, "is_error", 1);
	jw_key(out, "result");
	px_jw_str(out, e->message);
	jw_obj_end(out);
}

const struct px_codec px_codec_cli = {
	PX_FMT_CLI,
	NULL,                   /* never a client */
	cli_encode_request,
	NULL,                   /* JSON lines: px_cli_decode_response() */
	NULL,
	cli_decode_error,
	cli_encode_error,
	cli_sdec_new,
	cli_sdec_feed,
	cli_sdec_end,
	NULL,
	NULL,
	NULL,
	NULL,
};
