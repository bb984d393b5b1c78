/*
 * sse.c - incremental text/event-stream framer (HTML Living Standard,
 * "Server-sent events", section "Interpreting an event stream").
 *
 * Input arrives in arbitrary pieces, so the framer keeps one buffer holding
 * the event being assembled followed by the current, incomplete line:
 *
 *     [data][event][id][line ...]          offsets in struct sse_parser
 *
 * A completed line is interpreted at once and dropped: `data` values are
 * spliced in after the data already collected (joined with '\n'), `event`
 * and `id` values replace the previous ones. Keeping data first means a
 * splice only shifts the short event and id values, which SSE_FIELD_MAX
 * bounds, so the work per byte is constant however the event is built.
 * Comment lines are recognised by their first byte and never buffered, so
 * keep-alive comments cost no memory. Everything that is buffered counts
 * against SSE_EVENT_MAX; going over is SSE_ERROR, never unbounded growth.
 *
 * A line ends at LF, CRLF or a lone CR. A CR ends the line immediately (we
 * cannot wait to see whether LF follows: the next byte may be an hour
 * away), and `saw_cr` swallows an LF that starts the next feed. After an
 * event is returned its bytes stay put until the next sse_feed() call, which
 * first slides the surviving `id` back to the start of the buffer.
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

/* Drop space left by a returned or discarded event: the regions start at
 * data_off, which is then moved to 0. */
static void
compact(struct sse_parser *p)
{
	size_t base;

	base = p->data_off;
	if (base == 0)
		return;
	memmove(p->buf, p->buf + base, p->len - base);
	p->data_off = 0;
	p->event_off -= base;
	p->id_off -= base;
	p->line_start -= base;
	p->len -= base;
}

/* Forget data and event type (the last event id persists, per the spec). */
static void
reset_event(struct sse_parser *p)
{
	p->data_off = p->id_off;
	p->data_len = 0;
	p->event_off = p->id_off;
	p->event_len = 0;
	p->has_data = 0;
}

static void
reverse(char *a, size_t n)
{
	char t;
	size_t i;

	for (i = 0; i < n / 2; i++) {
		t = a[i];
		a[i] = a[n - 1 - i];
		a[n - 1 - i] = t;
	}
}

/* Move the last k bytes of a[0..n) to the front, in place. */
static void
rotate(char *a, size_t n, size_t k)
{
	if (k == 0 || k == n)
		return;
	reverse(a, n);
	reverse(a, k);
	reverse(a + k, n - k);
}

/* Append line bytes, growing the buffer by doubling up to SSE_EVENT_MAX. */
static int
append(struct sse_parser *p, const char *s, size_t k)
{
	size_t ncap;
	char *nb;

	if (k == 0)
		return 0;
	/* A comment line only needs its ':' kept, to be recognised. */
	if (p->len > p->line_start) {
		if (p->buf[p->line_start] == ':')
			return 0;
	} else if (s[0] == ':') {
		k = 1;
	}
	if (k > SSE_EVENT_MAX - p->len)
		goto fail;
	if (p->len + k > p->cap) {
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
	}
	memcpy(p->buf + p->len, s, k);
	p->len += k;
	return 0;
fail:
	p->err = 1;
	return -1;
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
	size_t at, m;

	at = p->id_off + p->id_len;
	m = vl;
	/* The line began at or after `at` with "data", so vs >= at + 4 and
	 * the separator cannot clobber the value. */
	if (p->has_data) {
		p->buf[at] = '\n';
		m++;
	}
	memmove(p->buf + at + (m - vl), p->buf + vs, vl);
	/* [data][event][id][ins] -> [data][ins][event][id] */
	rotate(p->buf + p->event_off, p->event_len + p->id_len + m, m);
	p->data_len += m;
	p->event_off += m;
	p->id_off += m;
	p->has_data = 1;
}

static void
set_event(struct sse_parser *p, size_t vs, size_t vl)
{
	size_t at;

	at = p->id_off + p->id_len;
	memmove(p->buf + at, p->buf + vs, vl);
	/* [oldevent][id][value] -> [id][value] -> [value][id] */
	memmove(p->buf + p->event_off, p->buf + p->event_off + p->event_len,
	    p->id_len + vl);
	rotate(p->buf + p->event_off, p->id_len + vl, vl);
	p->event_len = vl;
	p->id_off = p->event_off + vl;
}

static void
set_id(struct sse_parser *p, size_t vs, size_t vl)
{
	memmove(p->buf + p->id_off, p->buf + vs, vl);
	p->id_len = vl;
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
		if (vl > SSE_FIELD_MAX)
			goto fail;
		set_event(p, vs, vl);
	} else if (fl == 2 && memcmp(s, "id", 2) == 0) {
		if (vl > SSE_FIELD_MAX)
			goto fail;
		/* The spec ignores an id containing NUL. */
		if (vl == 0 || memchr(p->buf + vs, 0, vl) == NULL)
			set_id(p, vs, vl);
	}
	/* "retry" only matters to a reconnecting client; others are
	 * ignored by the spec. */
done:
	p->len = p->id_off + p->id_len;
	p->line_start = p->len;
	return rc;
fail:
	p->err = 1;
	return -1;
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
	compact(p);
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
		while (i < n && in[i] != '\n' && in[i] != '\r')
			i++;
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
	compact(p);
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
