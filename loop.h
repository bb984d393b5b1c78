/*
 * loop.h - the event loop: descriptor readiness, timers and deferred calls,
 * in the manner of redis' ae.
 *
 * Backends, chosen at build time: epoll (Linux), kqueue (the BSDs, macOS)
 * and poll() (any POSIX system; forced with -DPX_LOOP_POLL, which the test
 * suite also runs). The cost of one turn grows with the descriptors that are
 * ready and the timers that are due, not with the ones that are open:
 * timers sit in a binary heap, and nothing walks every connection.
 *
 * Level-triggered: a callback is called again on the next turn while its
 * descriptor stays ready and its interest is set. An interest mask of 0
 * takes the descriptor out of the kernel's set (a paused upstream that hangs
 * up is then not reported until it is resumed).
 *
 * Ownership: the loop never closes descriptors and never frees callback
 * data. Everything here runs on the loop's thread; nothing is thread-safe
 * but ev_wakeup(), which may be called from any thread and from a signal
 * handler.
 */
#ifndef PX_LOOP_H
#define PX_LOOP_H

#define EV_READ   1
#define EV_WRITE  2
/* passed to callbacks (never set as interest): the peer hung up or the
 * socket has an error; a read or write will tell which */
#define EV_ERROR  4

#ifndef EV_MAX_EVENTS
#define EV_MAX_EVENTS 256      /* readiness reports taken per kernel call */
#endif

struct ev_loop;

/* Called with the events that happened (EV_READ, EV_WRITE, EV_ERROR). */
typedef void (*ev_io_fn)(struct ev_loop *l, int fd, int events, void *ud);

/*
 * A timer, embedded in its owner (zero-initialise, then ev_timer_init). It
 * fires once at `at` (monotonic ms, see ev_now()) unless stopped or moved.
 */
struct ev_timer;
typedef void (*ev_timer_fn)(struct ev_loop *l, struct ev_timer *t);
struct ev_timer {
	long long at;
	int idx;                 /* heap slot, -1 when not armed */
	ev_timer_fn fn;
	void *ud;
};

/*
 * A deferred call, embedded in its owner: runs once at the start of the
 * next turn (the loop does not sleep while one is queued). For work that
 * must happen without a readiness report, e.g. plaintext a TLS engine
 * already holds.
 */
struct ev_defer;
typedef void (*ev_defer_fn)(struct ev_loop *l, struct ev_defer *d);
struct ev_defer {
	struct ev_defer *next;
	int queued;
	ev_defer_fn fn;
	void *ud;
};

/* A new loop, or NULL (no memory, or the backend cannot start). */
struct ev_loop *ev_new(void);
void ev_free(struct ev_loop *l);

/* The backend's name: "epoll", "kqueue" or "poll". */
const char *ev_backend(const struct ev_loop *l);

/*
 * Watch fd for `mask` (EV_READ|EV_WRITE, or 0 to pause it), calling fn with
 * ud. The first call for an fd registers it; later calls change the mask
 * (no system call when it is unchanged). Returns 0, or -1 (errno set).
 */
int ev_set(struct ev_loop *l, int fd, int mask, ev_io_fn fn, void *ud);
/* Change only the mask of a registered fd. */
int ev_mask(struct ev_loop *l, int fd, int mask);
/* Forget fd (call before closing it). Safe on an fd never registered. */
void ev_del(struct ev_loop *l, int fd);

void ev_timer_init(struct ev_timer *t, ev_timer_fn fn, void *ud);
/* Arm (or move) t to fire at `at`. */
void ev_timer_set(struct ev_loop *l, struct ev_timer *t, long long at);
void ev_timer_stop(struct ev_loop *l, struct ev_timer *t);
#define ev_timer_armed(t) ((t)->idx >= 0)

void ev_defer_init(struct ev_defer *d, ev_defer_fn fn, void *ud);
void ev_defer(struct ev_loop *l, struct ev_defer *d);     /* idempotent */
void ev_defer_cancel(struct ev_loop *l, struct ev_defer *d);

/*
 * One turn: run deferred calls, wait for readiness (at most max_ms; -1
 * means until a timer or an event), dispatch, then run due timers.
 * Returns the number of callbacks run, or -1 on a backend error (errno).
 */
int ev_run_once(struct ev_loop *l, int max_ms);

/* The loop's clock: monotonic ms, read once per turn. */
long long ev_now(const struct ev_loop *l);
/* Read the clock now (and update ev_now). */
long long ev_update_now(struct ev_loop *l);

/* Wake a sleeping ev_run_once() from another thread or a signal handler. */
void ev_wakeup(struct ev_loop *l);

/* Registered descriptors and armed timers (for stats and tests). */
int ev_nfds(const struct ev_loop *l);
int ev_ntimers(const struct ev_loop *l);

#endif
