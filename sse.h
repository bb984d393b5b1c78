/*
 * sse.h - incremental Server-Sent Events framer (parser) and writer.
 *
 * I/O-free: the caller feeds bytes as they arrive, split anywhere (TLS
 * records and TCP segments cut events at arbitrary offsets, including inside
 * a multi-byte UTF-8 character or between '\r' and '\n'), and gets whole
 * events back, one at a time.
 */
#ifndef PX_SSE_H
#define PX_SSE_H

#include <stddef.h>

#ifndef SSE_EVENT_MAX
#define SSE_EVENT_MAX (4u << 20)   /* bytes of one event (field text) */
#endif
#ifndef SSE_FIELD_MAX
#define SSE_FIELD_MAX 4096         /* bytes of one `event:` or `id:` value */
#endif

/*
 * One complete event. `event` is the value of the last `event:` line (empty
 * when absent); `data` is the `data:` lines joined with '\n' (a single
 * leading space after the colon is removed, per the SSE spec). Both point
 * into the parser's buffer: valid until the next sse_feed() call.
 * Comment lines (": ...") and unknown fields are skipped; an event with no
 * data line at all (only comments) is not reported. `id` is the last event
 * ID: per the spec it persists across events until another `id:` line (an
 * `id:` with an empty value clears it). The pointers are never NULL (""
 * when empty).
 */
struct sse_event {
	const char *event;
	size_t event_len;
	const char *data;
	size_t data_len;
	const char *id;
	size_t id_len;
};

/*
 * Parser state; zero-initialise or call sse_init(). The buffer is malloc'd
 * lazily, grows by doubling, and never exceeds SSE_EVENT_MAX; sse_free()
 * releases it.
 */
struct sse_parser {
	char *buf;
	size_t len, cap;
	size_t line_start;       /* start of the current, incomplete line */
	size_t data_off, data_len, event_off, event_len, id_off, id_len;
	unsigned char has_data, saw_cr, bom_checked, err;
};

#define SSE_PARTIAL  (-2)    /* need more input (all input consumed) */
#define SSE_ERROR    (-1)    /* event larger than SSE_EVENT_MAX, an event/id
                                value over SSE_FIELD_MAX, or no memory;
                                sticky until sse_free()/sse_init() */

void sse_init(struct sse_parser *p);
void sse_free(struct sse_parser *p);

/*
 * Consume bytes from p..p+n until one event completes.
 * Returns the number of bytes consumed (> 0 or == 0 only when n == 0) and
 * sets *got = 1 when *ev holds a complete event; *got = 0 means all n bytes
 * were consumed and more input is needed. Returns SSE_ERROR on overflow.
 * Call repeatedly with the remaining input until it returns having consumed
 * everything with *got == 0. Accepts LF, CRLF and CR line endings, `data:`
 * with or without a space, and a UTF-8 BOM at the start of the stream.
 */
long sse_feed(struct sse_parser *p, const char *in, size_t n,
              struct sse_event *ev, int *got);

/*
 * At end of stream: if a final event was not terminated by a blank line,
 * return it (1) - callers decide whether an unterminated tail counts.
 */
int sse_finish(struct sse_parser *p, struct sse_event *ev);

#endif
