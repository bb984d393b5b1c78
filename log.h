/*
 * log.h - the process log: system lines and one access line per request,
 * as text or JSON lines, written to one descriptor (stderr by default)
 * through a buffer.
 *
 * Lines are buffered and written with one write() when the buffer fills,
 * when log_flush() is called (the server does so at least every
 * PX_LOG_FLUSH_MS while anything is buffered, and at exit), and at once
 * for lines logged before the server starts its loop (log_set_buffered).
 * The timestamp is formatted once per second.
 *
 * Every field that can carry outside text (model names, paths, messages)
 * is escaped: in text lines, bytes below 0x20, 0x7f, space, '"', '\' and
 * '=' become \xHH, so a field is always one token and no input can forge
 * a line or a field; in JSON lines, the JSON writer escapes.
 */
#ifndef PX_LOG_H
#define PX_LOG_H

#include <stddef.h>

#ifndef PX_LOG_BUF
#define PX_LOG_BUF      (64 * 1024)
#endif
#ifndef PX_LOG_FLUSH_MS
#define PX_LOG_FLUSH_MS 100
#endif
#ifndef PX_LOG_LINE_MAX
#define PX_LOG_LINE_MAX 8192          /* longer lines are cut */
#endif

enum log_format { LOG_TEXT = 0, LOG_JSON = 1 };

void log_set_fd(int fd);
void log_set_format(enum log_format f);
enum log_format log_format(void);
/* 0: every line is written at once (start-up, commands); 1: buffered. */
void log_set_buffered(int on);

/*
 * A system line: printf-style text. In text mode "TIME MESSAGE"; in JSON
 * {"time":..,"msg":..}. The message is escaped for control characters
 * only (it is prose, not a field).
 */
void px_log(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/*
 * A structured line built field by field:
 *   struct log_line ln;
 *   log_begin(&ln, "access");
 *   log_str(&ln, "model", p, n); log_int(&ln, "status", 200); ...
 *   log_end(&ln);
 * Text: "TIME access model=... status=200"; JSON: {"time":..,"event":
 * "access","model":..,"status":200}. Values are escaped (see above).
 */
struct log_line {
	char buf[PX_LOG_LINE_MAX];
	size_t len;
	int cut;
};
void log_begin(struct log_line *ln, const char *event);
void log_str(struct log_line *ln, const char *key, const char *s, size_t n);
void log_cstr(struct log_line *ln, const char *key, const char *s);
void log_int(struct log_line *ln, const char *key, long long v);
/* milliseconds with one decimal, from microseconds (text "12.3ms", JSON
 * a number of milliseconds) */
void log_ms(struct log_line *ln, const char *key, long long us);
void log_end(struct log_line *ln);

/* Write what is buffered. */
void log_flush(void);
/* Bytes waiting in the buffer. */
size_t log_pending(void);

/* Escape s[0..n) for a text field into out (cap bytes, NUL-terminated);
 * returns the length written. For tests and callers building fields. */
size_t log_escape(const char *s, size_t n, char *out, size_t cap);

#endif
