/*
 * sse.c - incremental text/event-stream framer (HTML Living Standard,
 * "Server-sent events", section "Interpreting an event stream").
 *
 * Input arrives in arbitrary pieces, so the framer keeps one buffer holding
 * the event being assembled followed by the current, incomplete line:
 *
 *     [event slot][id slot][data][line ...]     offsets in struct sse_parser
 *
 * A completed line is interpreted at once and dropped: a `data` value is
 * appended to the data (joined with '\n'), an `event` or `id` value is
 * copied into its slot. The slots only grow, geometrically, up to
 * SSE_FIELD_MAX, so every line costs time proportional to its own length
 * however a hostile stream interleaves fields. Comment lines are recognised
 * by their first byte and never buffered, so keep-alives cost no memory.
 * All buffered bytes count against SSE_EVENT_MAX; going over is SSE_ERROR,
 * never unbounded growth.
 *
 * A line ends at LF, CRLF or a lone CR. A CR ends the line immediately (we
 * cannot wait to see whether LF follows: the next byte may be an hour
 * away), and `saw_cr` swallows an LF that starts the next feed. A returned
 * event's bytes stay put until the next call appends or overwrites them.
 */
#include "sse.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define SSE_BUF_MIN 1024

/* see sse.h */
void
sse_init(struct sse_parser *p)
{
	memset(p, 0, sizeof(*p));
}

/* see sse.h */
void
sse_free(struct sse_parser *p)
{
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

/* Forget data and event type (the last event id persists, per the spec). */
static void
reset_event(struct sse_parser *p)
{
	p->data_len = 0;
	p->event_len = 0;
	p->has_data = 0;
	p->len = p->data_off;
	p->line_start = p->len;
}

/* Room for k more bytes, growing by doubling up to SSE_EVENT_MAX. */
static int
reserve(struct sse_parser *p, size_t k)
{
	size_t ncap;
	char *nb;

	if (k > SSE_EVENT_MAX - p->len)
		goto fail;
	if (p->len + k <= p->cap)
		return 0;
	ncap = p->cap ? p->cap : SSE_BUF_MIN;
	while (ncap < p->len + k)
		ncap *= 2;
	if (ncap > SSE_EVENT_MAX)
		ncap = SSE_EVENT_MAX;
	nb = realloc(p->buf, ncap);
	if (nb == NULL)
		goto fail;
	p->buf = nb;
	p->cap = ncap;
	return 0;
fail:
	p->err = 1;
	return -1;
}

/* Append line bytes. */
static int
append(struct sse_parser *p, const char *s, size_t k)
{
	if (k == 0)
		return 0;
	/* A comment line only needs its ':' kept, to be recognised. */
	if (p->len > p->line_start) {
		if (p->buf[p->line_start] == ':')
			return 0;
	} else if (s[0] == ':') {
		k = 1;
	}
	if (reserve(p, k) < 0)
		return -1;
	memcpy(p->buf + p->len, s, k);
	p->len += k;
	return 0;
}

static void
fill(const struct sse_parser *p, struct sse_event *ev)
{
	ev->event = p->event_len ? p->buf + p->event_off : "";
	ev->event_len = p->event_len;
	ev->data = p->data_len ? p->buf + p->data_off : "";
	ev->data_len = p->data_len;
	ev->id = p->id_len ? p->buf + p->id_off : "";
	ev->id_len = p->id_len;
}

/* Append "\n"? + value (at offset vs, inside the current line) to data. */
static void
add_data(struct sse_parser *p, size_t vs, size_t vl)
{
	size_t at;

	at = p->data_off + p->data_len;
	/* The line began at or after `at` with "data", so vs >= at + 4 and
	 * the separator cannot clobber the value. */
	if (p->has_data)
		p->buf[at++] = '\n';
	memmove(p->buf + at, p->buf + vs, vl);
	p->data_len = at + vl - p->data_off;
	p->has_data = 1;
}

/*
 * Copy a value (offset vs, inside the current line) into the event slot
 * (id == 0) or the id slot (id == 1), first widening the slot - doubling,
 * so the shifting of what follows is amortised - if it is too small.
 */
static int
set_slot(struct sse_parser *p, int id, size_t vs, size_t vl)
{
	size_t off, end, grow;

	if (vl > SSE_FIELD_MAX) {
		p->err = 1;
		return -1;
	}
	off = id ? p->id_off : p->event_off;
	end = id ? p->data_off : p->id_off;
	if (vl > end - off) {
		grow = 2 * (end - off);
		if (grow < vl)
			grow = vl;
		if (grow < 16)
			grow = 16;
		if (grow > SSE_FIELD_MAX)
			grow = SSE_FIELD_MAX;
		grow -= end - off;
		if (reserve(p, grow) < 0)
			return -1;
		memmove(p->buf + end + grow, p->buf + end, p->len - end);
		p->len += grow;
		p->line_start += grow;
		vs += grow;
		if (!id)
			p->id_off += grow;
		p->data_off += grow;
	}
	memcpy(p->buf + off, p->buf + vs, vl);
	if (id)
		p->id_len = vl;
	else
		p->event_len = vl;
	return 0;
}

/*
 * Interpret the completed line [line_start, len). Returns 1 when it was the
 * blank line ending an event with data (*ev filled), 0 otherwise, -1 on
 * error.
 */
static int
do_line(struct sse_parser *p, struct sse_event *ev)
{
	const char *s, *colon;
	size_t l, fl, vs, vl;
	int rc;

	rc = 0;
	l = p->len - p->line_start;
	s = l > 0 ? p->buf + p->line_start : "";
	/* A UTF-8 BOM is allowed only as the first bytes of the stream. */
	if (!p->bom_checked) {
		p->bom_checked = 1;
		if (l >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
			s += 3;
			l -= 3;
		}
	}
	if (l == 0) {
		/* Blank line: dispatch, but only if a data line was seen
		 * ("data:" with an empty value counts: it yields ""). */
		if (p->has_data) {
			fill(p, ev);
			rc = 1;
		}
		reset_event(p);
		goto done;
	}
	if (s[0] == ':')
		goto done;
	colon = memchr(s, ':', l);
	if (colon != NULL) {
		fl = (size_t)(colon - s);
		vs = (size_t)(colon + 1 - p->buf);
		vl = l - fl - 1;
		if (vl > 0 && p->buf[vs] == ' ') {
			vs++;
			vl--;
		}
	} else {
		/* A bare field name has an empty value ("data" alone adds
		 * an empty line to the data). */
		fl = l;
		vs = (size_t)(s + l - p->buf);
		vl = 0;
	}
	if (fl == 4 && memcmp(s, "data", 4) == 0) {
		add_data(p, vs, vl);
	} else if (fl == 5 && memcmp(s, "event", 5) == 0) {
		if (set_slot(p, 0, vs, vl) < 0)
			return -1;
	} else if (fl == 2 && memcmp(s, "id", 2) == 0) {
		/* The spec ignores an id containing NUL. */
		if ((vl == 0 || memchr(p->buf + vs, 0, vl) == NULL)
		    && set_slot(p, 1, vs, vl) < 0)
			return -1;
	}
	/* "retry" only matters to a reconnecting client; others are
	 * ignored by the spec. */
done:
	p->len = p->data_off + p->data_len;
	p->line_start = p->len;
	return rc;
}

/* see sse.h */
long
sse_feed(struct sse_parser *p, const char *in, size_t n,
    struct sse_event *ev, int *got)
{
	size_t i, start;
	int rc;

	*got = 0;
	if (p->err)
		return SSE_ERROR;
	if (n > (size_t)LONG_MAX)
		n = (size_t)LONG_MAX;
	i = 0;
	while (i < n) {
		/* CR LF split across feeds is one line end. */
		if (p->saw_cr) {
			p->saw_cr = 0;
			if (in[i] == '\n') {
				i++;
				continue;
			}
		}
		start = i;
		{
			/* the line's end: LF, or a CR before it (rare), found
			 * with memchr a word or a vector at a time */
			const char *lf = memchr(in + i, '\n', n - i);
			size_t end = lf ? (size_t)(lf - in) : n;
			const char *cr = memchr(in + i, '\r', end - i);
			i = cr ? (size_t)(cr - in) : end;
		}
		if (append(p, in + start, i - start) < 0)
			return SSE_ERROR;
		if (i == n)
			break;
		p->saw_cr = in[i] == '\r';
		i++;
		rc = do_line(p, ev);
		if (rc < 0)
			return SSE_ERROR;
		if (rc > 0) {
			*got = 1;
			break;
		}
	}
	return (long)i;
}

/* see sse.h */
int
sse_finish(struct sse_parser *p, struct sse_event *ev)
{
	int rc;

	if (p->err)
		return 0;
	/* An unterminated last line still counts as a line. */
	if (p->line_start < p->len) {
		rc = do_line(p, ev);
		if (rc != 0)
			return rc > 0;
	}
	if (!p->has_data) {
		reset_event(p);
		return 0;
	}
	fill(p, ev);
	reset_event(p);
	return 1;
}
