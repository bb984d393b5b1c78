/*
 * log.c - the process log (see log.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_fd = 2;
static enum log_format log_fmt = LOG_TEXT;
static int buffered;
static char obuf[PX_LOG_BUF];
static size_t olen;
static time_t ts_sec = -1;
static char ts_str[32];
static size_t ts_len;

/* see log.h */
void
log_set_fd(int fd)
{
	log_flush();
	log_fd = fd;
}

/* see log.h */
void
log_set_format(enum log_format f)
{
	log_fmt = f;
}

/* see log.h */
enum log_format
log_format(void)
{
	return log_fmt;
}

/* see log.h */
void
log_set_buffered(int on)
{
	if (!on)
		log_flush();
	buffered = on;
}

static void
write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(log_fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;       /* nowhere to complain */
		p += w;
		n -= (size_t)w;
	}
}

/* see log.h */
void
log_flush(void)
{
	if (olen == 0)
		return;
	write_all(obuf, olen);
	olen = 0;
}

/* see log.h */
size_t
log_pending(void)
{
	return olen;
}

static void
emit(const char *p, size_t n)
{
	if (!buffered) {
		write_all(p, n);
		return;
	}
	if (olen + n > sizeof obuf)
		log_flush();
	if (n > sizeof obuf) {
		write_all(p, n);
		return;
	}
	memcpy(obuf + olen, p, n);
	olen += n;
}

/* "2026-12-04T13:39:30Z", formatted once per second */
static const char *
timestamp(size_t *n)
{
	time_t t = time(NULL);
	struct tm tm;

	if (t != ts_sec) {
		gmtime_r(&t, &tm);
		ts_len = strftime(ts_str, sizeof ts_str, "%Y-%m-%dT%H:%M:%SZ", &tm);
		ts_sec = t;
	}
	*n = ts_len;
	return ts_str;
}

static void
put(struct log_line *ln, const char *s, size_t n)
{
	if (ln->len + n >= sizeof ln->buf - 2) {
		n = sizeof ln->buf - 2 - ln->len;
		ln->cut = 1;
	}
	memcpy(ln->buf + ln->len, s, n);
	ln->len += n;
}

static void
putc1(struct log_line *ln, char ch)
{
	put(ln, &ch, 1);
}

static const char hexd[] = "0123456789abcdef";

/* see log.h */
size_t
log_escape(const char *s, size_t n, char *out, size_t cap)
{
	size_t i, k = 0;

	if (cap == 0)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f || ch == ' ' || ch == '"' ||
		    ch == '\\' || ch == '=') {
			if (k + 4 >= cap)
				break;
			out[k++] = '\\';
			out[k++] = 'x';
			out[k++] = hexd[ch >> 4];
			out[k++] = hexd[ch & 15];
		} else {
			if (k + 1 >= cap)
				break;
			out[k++] = (char)ch;
		}
	}
	out[k] = 0;
	return k;
}

/* JSON string body (no quotes): escape what JSON requires; bytes that are
 * not valid UTF-8 are kept as \u00XX of their value so the line stays
 * valid JSON. */
static void
put_json(struct log_line *ln, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char ch = (unsigned char)s[i];
		size_t run = i;
		char e[8];

		while (run < n) {
			unsigned char c2 = (unsigned char)s[run];
			if (c2 < 0x20 || c2 == '"' || c2 == '\\' || c2 >= 0x80)
				break;
			run++;
		}
		if (run > i) {
			put(ln, s + i, run - i);
			i = run;
			continue;
		}
		ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			e[0] = '\\';
			e[1] = (char)ch;
			put(ln, e, 2);
			i++;
		} else if (ch < 0x20) {
			memcpy(e, "\\u00", 4);
			e[4] = hexd[ch >> 4];
			e[5] = hexd[ch & 15];
			put(ln, e, 6);
			i++;
		} else {
			/* UTF-8 sequence: copy when well formed */
			size_t len = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 :
			    ch >= 0xc2 ? 2 : 0;
			size_t j;
			int ok = len > 0 && i + len <= n && ch < 0xf5;
			for (j = 1; ok && j < len; j++)
				if (((unsigned char)s[i + j] & 0xc0) != 0x80)
					ok = 0;
			if (ok) {
				put(ln, s + i, len);
				i += len;
			} else {
				memcpy(e, "\\u00", 4);
				e[4] = hexd[ch >> 4];
				e[5] = hexd[ch & 15];
				put(ln, e, 6);
				i++;
			}
		}
	}
}

static void
put_text_field(struct log_line *ln, const char *s, size_t n)
{
	char tmp[1024];
	size_t i = 0;

	if (n == 0) {
		putc1(ln, '-');
		return;
	}
	while (i < n) {
		size_t chunk = n - i > 200 ? 200 : n - i;
		size_t k = log_escape(s + i, chunk, tmp, sizeof tmp);
		put(ln, tmp, k);
		i += chunk;
	}
}

/* see log.h */
void
log_begin(struct log_line *ln, const char *event)
{
	size_t tn;
	const char *ts = timestamp(&tn);

	ln->len = 0;
	ln->cut = 0;
	if (log_fmt == LOG_JSON) {
		put(ln, "{\"time\":\"", 9);
		put(ln, ts, tn);
		put(ln, "\",\"event\":\"", 11);
		put_json(ln, event, strlen(event));
		putc1(ln, '"');
	} else {
		put(ln, ts, tn);
		putc1(ln, ' ');
		put(ln, event, strlen(event));
	}
}

static void
key_open(struct log_line *ln, const char *key)
{
	if (log_fmt == LOG_JSON) {
		put(ln, ",\"", 2);
		put_json(ln, key, strlen(key));
		put(ln, "\":", 2);
	} else {
		putc1(ln, ' ');
		put(ln, key, strlen(key));
		putc1(ln, '=');
	}
}

/* see log.h */
void
log_str(struct log_line *ln, const char *key, const char *s, size_t n)
{
	key_open(ln, key);
	if (s == NULL)
		n = 0;
	if (log_fmt == LOG_JSON) {
		if (s == NULL) {
			put(ln, "null", 4);
			return;
		}
		putc1(ln, '"');
		put_json(ln, s, n);
		putc1(ln, '"');
	} else {
		put_text_field(ln, s, n);
	}
}

/* see log.h */
void
log_cstr(struct log_line *ln, const char *key, const char *s)
{
	log_str(ln, key, s, s ? strlen(s) : 0);
}

/* Decimal without printf. */
static size_t
fmt_ll(char *out, long long v)
{
	char tmp[24];
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v :
	    (unsigned long long)v;
	size_t k = 0, i = 0;

	do {
		tmp[k++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		out[i++] = '-';
	while (k)
		out[i++] = tmp[--k];
	return i;
}

/* see log.h */
void
log_int(struct log_line *ln, const char *key, long long v)
{
	char b[24];

	key_open(ln, key);
	put(ln, b, fmt_ll(b, v));
}

/* see log.h */
void
log_ms(struct log_line *ln, const char *key, long long us)
{
	char b[32];
	size_t k;

	key_open(ln, key);
	if (us < 0) {
		put(ln, log_fmt == LOG_JSON ? "null" : "-",
		    log_fmt == LOG_JSON ? 4 : 1);
		return;
	}
	k = fmt_ll(b, us / 1000);
	b[k++] = '.';
	b[k++] = (char)('0' + (us % 1000) / 100);
	if (log_fmt != LOG_JSON) {
		b[k++] = 'm';
		b[k++] = 's';
	}
	put(ln, b, k);
}

/* see log.h */
void
log_end(struct log_line *ln)
{
	if (ln->cut && log_fmt != LOG_JSON)
		put(ln, " truncated=1", 12);
	if (log_fmt == LOG_JSON) {
		/* a cut JSON line would not parse: close it anyway */
		if (ln->cut)
			ln->len = sizeof ln->buf - 4 < ln->len ?
			    sizeof ln->buf - 4 : ln->len;
		ln->buf[ln->len++] = '}';
	}
	ln->buf[ln->len++] = '\n';
	emit(ln->buf, ln->len);
}

/* see log.h */
void
px_log(const char *fmt, ...)
{
	char msg[2048];
	struct log_line ln;
	va_list ap;
	int n;
	size_t i;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof msg)
		n = (int)sizeof msg - 1;
	if (log_fmt == LOG_JSON) {
		log_begin(&ln, "log");
		log_str(&ln, "msg", msg, (size_t)n);
		log_end(&ln);
		return;
	}
	/* prose: keep spaces, neutralise control characters */
	for (i = 0; i < (size_t)n; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	{
		size_t tn;
		const char *ts = timestamp(&tn);
		ln.len = 0;
		ln.cut = 0;
		put(&ln, ts, tn);
		putc1(&ln, ' ');
		put(&ln, msg, (size_t)n);
		ln.buf[ln.len++] = '\n';
		emit(ln.buf, ln.len);
	}
}
