/*
 * session.h - conversation sessions (X-Session-ID): the history of a
 * conversation kept by the proxy, so a client may send only its new
 * messages.
 *
 * A session is a list of turns; a turn is the messages one request added
 * (its messages after the history) and the answer to it, as one assistant
 * message. They are kept in the internal representation (convert.h),
 * written as a compact JSON of their own that carries every field of
 * struct ir_msg / ir_part (signatures and the format that made them
 * included), so a session may go on with another client format, model or
 * provider: nothing is lost to any one wire format.
 *
 * Record (the value under the session id in a px_store):
 *
 *   {"s":"<scope>","t":[[msg,...],[msg,...],...]}
 *
 *   msg  {"r":role,"p":[part,...]}          role: enum ir_role
 *   part {"y":type, "x":text, "mt":media_type, "d":data, "u":url, "id":id,
 *         "n":name, "a":args, "s":signature, "sf":sig_fmt, "ii":item_id,
 *         "e":is_error, "cc":cache_control, "c":[part,...]}
 *
 * with empty strings, a zero is_error and no content left out. The scope
 * is what the session belongs to (the proxy uses the client key's
 * digest): a session looked up under another scope is unknown, so one key
 * never reads or extends another key's conversation.
 *
 * Bounds: the store's (bytes and entries over all sessions, least
 * recently used evicted first; a TTL after the last turn), and per session
 * max_turns and max_session_bytes: the oldest turns are dropped to stay
 * within them (the newest turn alone above the byte bound is not kept:
 * the session then ends).
 *
 * I/O-free but for the store's optional log (store.h); time is passed in.
 * Not thread-safe.
 */
#ifndef PX_SESSION_H
#define PX_SESSION_H

#include <stddef.h>

#include "convert.h"
#include "json.h"
#include "store.h"

#ifndef PX_SES_ID_MAX
#define PX_SES_ID_MAX 64              /* bytes of an id, NUL included */
#endif
#ifndef PX_SES_MAX_BYTES
#define PX_SES_MAX_BYTES (64u * 1024 * 1024)   /* all sessions */
#endif
#ifndef PX_SES_MAX_ENTRIES
#define PX_SES_MAX_ENTRIES 10000
#endif
#ifndef PX_SES_MAX_TURNS
#define PX_SES_MAX_TURNS 200          /* turns kept per session */
#endif
#ifndef PX_SES_MAX_SESSION_BYTES
#define PX_SES_MAX_SESSION_BYTES (4u * 1024 * 1024)  /* one session's record */
#endif
#ifndef PX_SES_TTL_S
#define PX_SES_TTL_S 86400
#endif

struct px_ses_opts {
	struct px_store_opts store;   /* max_bytes 0: no sessions */
	size_t max_turns;             /* 0 = PX_SES_MAX_TURNS */
	size_t max_session_bytes;     /* 0 = PX_SES_MAX_SESSION_BYTES */
};

struct px_ses;

/* Open (store.h's px_store_open, with its log when opts->store.path is
 * set). NULL with a message in err. */
struct px_ses *px_ses_open(const struct px_ses_opts *o, long long now,
                           char *err, size_t errcap);
void px_ses_close(struct px_ses *s);
struct px_store *px_ses_store(struct px_ses *s);

/* A new id from 16 random bytes: "ses_" and 32 hex digits. */
void px_ses_new_id(const unsigned char rnd[16], char out[PX_SES_ID_MAX]);

/* 1 when id[0..n) can be a session id (1..PX_SES_ID_MAX-1 bytes of
 * [A-Za-z0-9_.-]); anything else is treated as unknown. */
int px_ses_id_ok(const char *id, size_t n);

/*
 * The history of session id under scope, in a (strings borrowed from a):
 * 1 with *msgs / *nmsgs (oldest first; may be 0 messages), 0 when the
 * session is unknown, expired, of another scope or unreadable.
 */
int px_ses_get(struct px_ses *s, const char *id, size_t n,
               struct px_str scope, long long now, struct px_arena *a,
               struct ir_msg **msgs, size_t *nmsgs);

/*
 * Add a turn to session id (created when unknown; one of another scope is
 * left alone): msgs[0..nmsgs) the request's new messages, then one
 * assistant message of answer[0..nans) (none when nans is 0). tmp is
 * scratch memory. Returns 0, or -1 when nothing was kept (another scope's
 * session, the bounds, memory).
 */
int px_ses_append(struct px_ses *s, const char *id, size_t n,
                  struct px_str scope, long long now,
                  const struct ir_msg *msgs, size_t nmsgs,
                  const struct ir_part *answer, size_t nans,
                  struct px_arena *tmp);

/* Remove session id of scope: 1 when removed, 0 when there was none (or
 * it is another scope's). */
int px_ses_del(struct px_ses *s, const char *id, size_t n,
               struct px_str scope, long long now);

/* Turns in session id (0 when unknown), for tests and logs. */
size_t px_ses_turns(struct px_ses *s, const char *id, size_t n,
                    struct px_str scope, long long now,
                    struct px_arena *a);

/* The message codec on its own: write msgs as a JSON array; read one
 * back into a (-1 when malformed). */
void px_ses_write_msgs(struct jw *w, const struct ir_msg *m, size_t n);
int px_ses_read_msgs(struct px_arena *a, const struct json *arr,
                     struct ir_msg **out, size_t *nout);

#endif
