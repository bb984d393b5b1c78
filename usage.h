/*
 * usage.h - usage and cost records: one record per request, persisted in
 * the state directory's "usage.log" through the journal (store.h), rolled
 * up into daily totals after a number of days, with the running proxy's
 * spend per key (for budgets) and chart series (for the admin page), the
 * price table that turns tokens into cost, and `llmproxy usage`.
 *
 * Time is passed in (unix ms); nothing here reads a clock. Days and months
 * are UTC. Not thread-safe: one px_usage is used from the proxy's loop.
 *
 * ---- Server integration
 *
 * Start:   px_prices_new() + px_prices_parse(config "prices"),
 *          px_state_dir(), px_usage_open({path = dir "/" PX_USAGE_FILE,
 *          retain_days, prices}, now). Open replays the log (cutting a torn
 *          tail), rebuilds the in-memory totals and compacts when due
 *          (inline: nothing is served yet); then log px_usage_error()
 *          and the stats (dropped bytes, a file moved aside), if any.
 * Request: fill a struct px_usage_rec when the request is finished (tokens
 *          from the answer's ir_usage), then px_usage_add(u, &rec, now): it
 *          prices the record (rec.cost_uusd), counts it and buffers it; no
 *          I/O unless the buffer is full.
 * Loop:    px_usage_flush(u, now) whenever px_usage_flush_due() says it is
 *          due (0); use its value (>= 0: ms left; -1: nothing to do) in
 *          the poll timeout. One write() per flush; a due roll-up is
 *          started in a child process and put in place by a later flush.
 *          Log px_usage_error() when a flush returns -1.
 * Limits:  px_usage_spend(u, key, PX_USAGE_DAY|MONTH, now) and
 *          px_usage_period_end() for the reset time.
 * Reload:  px_usage_set_prices() with the new table (free the old after).
 * Exit:    px_usage_close(u, now) writes what is buffered.
 * Report:  px_usage_cmd() for `llmproxy usage ...` (no running proxy).
 *
 * ---- Log format
 *
 * A journal with magic PX_USAGE_MAGIC. Record bodies are varints:
 * uvarint = LEB128, canonical (no redundant 0x80 bytes, at most 10 bytes);
 * svarint = zigzag-encoded uvarint; str = uvarint length (at most
 * PX_USAGE_STR_MAX) then the bytes. A body has no trailing bytes.
 *
 *   'U' one request:  svarint t_ms; str key, fmt, model, provider, cred,
 *       upstream_model; svarint status (0..999), input, output,
 *       cache_read, cache_write, reasoning (each >= -1, -1 = unknown),
 *       cost_uusd (>= -1), latency_ms, ttfb_ms (>= -1), attempts (>= 0)
 *   'R' daily total:  svarint day (days since 1970-01-01 UTC); str key,
 *       model, provider; uvarint requests (>= 1), errors, unpriced (both
 *       <= requests), input, output, cache_read, cache_write, reasoning,
 *       cost_uusd
 *
 * Records of other types are kept through compactions and otherwise
 * ignored (a later version may add some); a record that fails to decode is
 * skipped and counted.
 *
 * ---- Roll-up
 *
 * Raw 'U' records stay for retain_days UTC days, today included: at day D
 * the records of days <= D - retain_days are summed into one 'R' record per
 * (day, key, model, provider) (model = the requested model), merged with
 * the 'R' records already there. This happens at a compaction: at open
 * (inline), and at a flush when the oldest raw record is past the window
 * (at most once an hour) in a child process, so that the loop never waits
 * for it: the child rewrites the log as it was at the fork to
 * "usage.log.tmp" and fsyncs it; a later flush appends the records written
 * since, fsyncs and renames it over the log. The process MUST be
 * single-threaded (fork). 'R'
 * records are kept for ever (a few per key and model per day). Totals by
 * day, key, model and provider are the same before and after.
 *
 * ---- Tokens and cost
 *
 * Tokens follow convert.h (struct ir_usage): input INCLUDES cache_read and
 * cache_write, output INCLUDES reasoning, -1 = not reported. Cost is in
 * micro-USD (integers): uncached input (input - cache_read - cache_write)
 * at the input price, cache_read and cache_write at theirs, output at the
 * output price, each price in USD per million tokens, summed exactly and
 * rounded once to the nearest micro-USD (halves up). When the prompt
 * (input) is above a price's tier threshold the tier's prices apply to the
 * whole request. The cost is unknown (-1), never 0, when the model has no
 * price, input or output is unknown, or a category with tokens has no
 * price. Unknown costs count as 0 in spend and totals; the records say how
 * many requests were unpriced.
 */
#ifndef PX_USAGE_H
#define PX_USAGE_H

#include <stdio.h>

#include "convert.h"
#include "json.h"

#ifndef PX_USAGE_STR_MAX
#define PX_USAGE_STR_MAX 128        /* bytes of a name in a record (longer
                                       names are cut) */
#endif
#ifndef PX_USAGE_BUF
#define PX_USAGE_BUF (64u * 1024)   /* records buffered between flushes */
#endif
#ifndef PX_USAGE_FLUSH_MS
#define PX_USAGE_FLUSH_MS 100       /* longest time a record waits */
#endif
#ifndef PX_USAGE_RETAIN_DAYS
#define PX_USAGE_RETAIN_DAYS 30     /* default raw record retention */
#endif
#ifndef PX_USAGE_KEYS_MAX
#define PX_USAGE_KEYS_MAX 1024      /* keys whose spend is tracked */
#endif
#ifndef PX_USAGE_SERIES_MAX
#define PX_USAGE_SERIES_MAX 64      /* chart series per dimension (more go
                                       to "(other)") */
#endif
#ifndef PX_USAGE_HOURS
#define PX_USAGE_HOURS 168          /* hourly chart buckets (7 days) */
#endif
#ifndef PX_USAGE_DAYS
#define PX_USAGE_DAYS 90            /* daily chart buckets */
#endif
#ifndef PX_USAGE_ROLLUP_MAX
#define PX_USAGE_ROLLUP_MAX (1u << 20) /* day groups held by a compaction
                                          or a report */
#endif
#ifndef PX_PRICES_MAX
#define PX_PRICES_MAX 1024          /* entries in the config's "prices" */
#endif

#define PX_USAGE_MAGIC   "PXUSAGE1"
#define PX_USAGE_FILE    "usage.log"
#define PX_USAGE_REC_MAX 2048       /* longest record body */
#define PX_USAGE_REC_RAW 'U'
#define PX_USAGE_REC_DAY 'R'

#define PX_COST_UNKNOWN (-1LL)

/* ------------------------------------------------------------ prices */

/*
 * Prices in micro-USD per million tokens (USD per million tokens x 10^6,
 * so $0.075 is 75000); -1 = unknown. When tier_above > 0 and the input
 * tokens are above it, the *2 prices apply to the whole request.
 */
struct px_price {
	long long in, out, cache_read, cache_write;
	long long tier_above;
	long long in2, out2, cache_read2, cache_write2;
};

/* The day the built-in prices were taken, "YYYY-MM-DD". */
extern const char px_prices_date[];

struct px_prices;   /* the config's entries; the built-in table is static */

struct px_prices *px_prices_new(void);      /* NULL when out of memory */
void px_prices_free(struct px_prices *pt);

/*
 * Add the entries of the config's "prices" object (obj, borrowed: only
 * copied from) to pt. Each member is a model name or a pattern with '*'
 * mapped to {"input": USD, "output": USD, "cache_read": USD,
 * "cache_write": USD, "tier": {"above": tokens, "input": ..., "output":
 * ..., "cache_read": ..., "cache_write": ...}} (USD per million tokens;
 * input and output required, a missing cache price is unknown) or to null
 * (the model has no price, even if the built-in table has one). Returns 0,
 * or -1 with a message in err and *at (may be NULL) set to the offending
 * value's source bytes (json->raw) so the caller can give a line number;
 * pt then holds the entries before the bad one.
 */
int px_prices_parse(struct px_prices *pt, const struct json *obj, char *err,
                    size_t errcap, const char **at);

/*
 * The price for a model name: the config's entries first (exact name, then
 * a dated snapshot of an exact name, then patterns in file order), then the
 * built-in table the same way. A dated snapshot is the name followed by
 * "-YYYYMMDD" or "-YYYY-MM-DD" (claude-haiku-4-5-20251001 is priced as
 * claude-haiku-4-5). pt may be NULL (built-in only). Returns NULL when the
 * model has no price. The result is valid while pt is.
 */
const struct px_price *px_price_find(const struct px_prices *pt,
                                     const char *model, size_t n);

/* Cost of one request in micro-USD, or PX_COST_UNKNOWN (see the top). */
long long px_price_cost(const struct px_price *p, const struct ir_usage *u);

/* ------------------------------------------------------------ records */

struct px_usage_rec {
	long long t_ms;             /* request start, unix ms */
	struct px_str key;          /* client key name (empty: none) */
	struct px_str fmt;          /* client format, px_fmt_name() */
	struct px_str model;        /* model the client asked for */
	struct px_str provider;     /* provider name */
	struct px_str cred;         /* credential label */
	struct px_str upstream_model;
	int status;                 /* HTTP status sent (0: none was sent) */
	struct ir_usage tok;        /* -1 = unknown (see the top) */
	long long cost_uusd;        /* PX_COST_UNKNOWN or micro-USD; set by
	                               px_usage_add() */
	long long latency_ms;       /* -1 = unknown */
	long long ttfb_ms;          /* time to first byte; -1 = none */
	int attempts;               /* upstream attempts (0: none) */
};

struct px_usage_day {
	long long day;              /* days since 1970-01-01 UTC */
	struct px_str key, model, provider;
	long long requests, errors, unpriced;
	long long input, output, cache_read, cache_write, reasoning;
	long long cost_uusd;
};

/*
 * Encode a record's body (no journal head, no type byte) into out[0..cap).
 * Out-of-range fields are stored as their nearest valid value (tokens below
 * -1 as -1, ...), names are cut at PX_USAGE_STR_MAX bytes. Returns the
 * length, or 0 when it does not fit.
 */
size_t px_usage_encode(const struct px_usage_rec *r, unsigned char *out,
                       size_t cap);
size_t px_usage_day_encode(const struct px_usage_day *d, unsigned char *out,
                           size_t cap);

/*
 * Decode a body; strings point into p. Returns 0, or -1 when the bytes are
 * not exactly one valid body (see the format at the top).
 */
int px_usage_decode(const unsigned char *p, size_t n, struct px_usage_rec *r);
int px_usage_day_decode(const unsigned char *p, size_t n,
                        struct px_usage_day *d);

/* ------------------------------------------------------------ the log */

struct px_usage_opts {
	const char *path;           /* the log; NULL or "" = memory only */
	int retain_days;            /* raw records kept (days, today
	                               included); <= 0: PX_USAGE_RETAIN_DAYS */
	const struct px_prices *prices; /* borrowed; NULL = built-in only */
};

struct px_usage_stats {
	unsigned long records;      /* raw records in the log */
	unsigned long day_records;  /* daily totals in the log */
	unsigned long skipped;      /* records that did not decode, and
	                               records of unknown types */
	size_t dropped;             /* bytes cut off at open (torn/corrupt) */
	int moved_aside;            /* the file had another magic */
	size_t log_bytes;
	size_t buffered;            /* bytes waiting for a flush */
	unsigned long lost;         /* records dropped: buffer full while
	                               writes failed, or the log switched off */
	unsigned long compactions;
	unsigned long untracked;    /* adds whose key found no spend slot */
};

struct px_usage;

/*
 * Open: replay the log (created 0600 when missing; see store.h for a torn
 * tail or a foreign file), rebuild the day/month spend and the chart
 * series, and compact when due. Returns NULL with a message in err when
 * the log cannot be opened, read or written, or on no memory. A failed
 * compaction is not fatal (the log stays valid): px_usage_error() says
 * why; call it after opening.
 */
struct px_usage *px_usage_open(const struct px_usage_opts *o, long long now,
                               char *err, size_t errcap);

/* Write what is buffered (never compacts), then free. */
void px_usage_close(struct px_usage *u, long long now);

/* Replace the price table for later adds (config reload); borrowed. */
void px_usage_set_prices(struct px_usage *u, const struct px_prices *pt);

/*
 * Count one finished request: sets r->cost_uusd from the price of
 * r->upstream_model (else r->model), or, for a model without a price, to
 * the cost the upstream reported (r->tok.cost_uusd, when >= 0); adds it
 * to the spend and the chart
 * series, and appends the record to the write buffer. Writes only when the
 * buffer is full (one write() for the whole buffer). r and its strings are
 * only read during the call. Returns r->cost_uusd.
 */
long long px_usage_add(struct px_usage *u, struct px_usage_rec *r,
                       long long now);

/*
 * Write the buffered records with one write(); then finish a compaction
 * whose child is done, or start one when due. Returns 0, or -1 (see
 * px_usage_error(); records that could not be written stay buffered for
 * the next flush unless the buffer is full).
 */
int px_usage_flush(struct px_usage *u, long long now);

/* Milliseconds until px_usage_flush() is due: -1 when nothing is
 * buffered and no compaction runs, 0 when it is due now. */
long long px_usage_flush_due(const struct px_usage *u, long long now);

/* Compact now, inline (a running child compaction is stopped first): for
 * tests and tools; the server lets px_usage_flush() do it. 0 or -1. */
int px_usage_compact(struct px_usage *u, long long now);

#define PX_USAGE_DAY   0
#define PX_USAGE_MONTH 1

/* Known cost (micro-USD) of a key's requests in the current UTC day or
 * month; 0 for a key never seen. */
long long px_usage_spend(const struct px_usage *u, const char *key, size_t kn,
                         int period, long long now);

/* Unix ms when the current UTC day or month ends (the budget reset). */
long long px_usage_period_end(long long now, int period);

#define PX_USAGE_BY_KEY   0
#define PX_USAGE_BY_MODEL 1

/*
 * Chart data for the admin API, written to w as one JSON object:
 *   {"by":"key","bucket":"hour","start":<unix ms>,"step_ms":3600000,
 *    "series":[{"name":"ci","requests":[...],"errors":[...],
 *    "input_tokens":[...],"output_tokens":[...],"cost_usd":[...]}, ...]}
 * n buckets ending with the current hour (hourly, n <= PX_USAGE_HOURS) or
 * day (n <= PX_USAGE_DAYS), oldest first; series with no request in the
 * window are left out; names sorted, "(other)" (names past
 * PX_USAGE_SERIES_MAX) last. cost_usd values are exact decimals.
 * Returns 0, or -1 on bad arguments.
 */
int px_usage_chart_json(struct px_usage *u, struct jw *w, int by, int hourly,
                        int n, long long now);

void px_usage_stats(const struct px_usage *u, struct px_usage_stats *st);

/* The last log error (no record contents), then cleared; NULL when none. */
const char *px_usage_error(struct px_usage *u);

/* ------------------------------------------------------------ report */

/*
 * `llmproxy usage [--since Nd|YYYY-MM-DD] [--by key|model|provider|day]
 * [--json|--csv]`: totals from <state_dir>/usage.log (read only; the proxy
 * may be running). argv[0] is the command name ("usage"). --since defaults
 * to 30d (the last 30 UTC days, today included); --by to key. Writes the
 * table, JSON or CSV to out, diagnostics to err. Returns the exit status:
 * 0, 1 when the log cannot be read, 2 on a usage error.
 */
int px_usage_cmd(int argc, char **argv, const char *state_dir, long long now,
                 FILE *out, FILE *err);

/* Days since 1970-01-01 for a unix ms time (floor), and back to
 * "YYYY-MM-DD" (buf of 24 bytes: years past 9999 take more digits). */
long long px_usage_day_of(long long t_ms);
void px_usage_day_str(long long day, char *buf);

#endif
