/*
 * exec.h - commands as upstreams: the process side. Spawns a command per
 * request, writes its standard input, reads its standard output as lines
 * and its standard error into the log, all through the event loop, and
 * makes sure every process it started ends and is reaped. It knows nothing
 * of HTTP or of the client; the owner of a run gets callbacks, like the
 * HTTP engine's (upstream.h).
 *
 * A run: the command is started with posix_spawnp() (no shell: argv[0] is
 * looked up on the proxy's PATH unless it holds a '/') in a process group
 * of its own, its three standard descriptors pipes, everything else closed
 * on exec. The input is written as the pipe takes it, then stdin is
 * closed. The output is cut into lines (px_jsonl, convert.h) and handed to
 * on_line one by one; standard error is logged line by line, at most
 * PX_EXEC_STDERR_LOG bytes per run, and never reaches on_line.
 *
 *   on_line  for each line of standard output (without '\n'), while the
 *            run is not paused; a view valid during the call;
 *   on_exit  once, at the end: the process exited and its output was read
 *            to the end (or to what was left once it died: descendants
 *            that keep the pipe open are not waited for), or it could not
 *            start, timed out, or never left the queue.
 *
 * Runs of one pool (a provider) are limited to max_parallel processes;
 * further runs wait in a FIFO queue (at most PX_EXEC_QUEUE_MAX of them,
 * each at most PX_EXEC_QUEUE_MS and within its timeout) and start as
 * others end; a full queue or a wait that runs out ends the run with
 * EX_BUSY. A process counts against its pool until it is reaped.
 *
 * Ending: ex_close() hands a run back. A process still running then gets
 * SIGTERM (at once, or after PX_EXEC_GRACE_MS when asked to finish on its
 * own) and SIGKILL PX_EXEC_KILL_MS later, to its whole process group. On
 * a timeout the same happens and on_exit says EX_TIMEOUT. When a command
 * exits, what it left behind in its group is killed too. Exits are found
 * without SIGCHLD: waitid(WNOWAIT) when the output ends and every
 * PX_EXEC_POLL_MS while a process runs, so the group is signalled while
 * its leader is a zombie (its id cannot be reused), then the leader is
 * reaped. ex_engine_free() kills every group still alive and reaps them:
 * no zombies are left, and no process outlives the proxy.
 *
 * A callback may call ex_pause(), ex_resume() or ex_close() on its own
 * run (or any other); nothing is called after ex_close(). The first
 * callback never runs inside ex_start(): a failure known at once (the
 * command does not exist) is reported on the next turn.
 *
 * Descendants that leave the group (setsid) are out of reach, as they are
 * for a shell. A proxy running as PID 1 also inherits the orphans of its
 * commands and does not reap them: run it under an init (docker --init).
 */
#ifndef PX_EXEC_H
#define PX_EXEC_H

#include <stddef.h>
#include "loop.h"

#ifndef PX_EXEC_READ
#define PX_EXEC_READ       (64 * 1024)  /* one read of the output per turn */
#endif
#ifndef PX_EXEC_STDERR_LOG
#define PX_EXEC_STDERR_LOG (16 * 1024)  /* standard error logged per run */
#endif
#ifndef PX_EXEC_STDERR_LINE
#define PX_EXEC_STDERR_LINE 1024        /* one logged line, at most */
#endif
#ifndef PX_EXEC_POLL_MS
#define PX_EXEC_POLL_MS    200          /* exit checks while it runs */
#endif
#ifndef PX_EXEC_GRACE_MS
#define PX_EXEC_GRACE_MS   2000         /* a finished run's own exit */
#endif
#ifndef PX_EXEC_KILL_MS
#define PX_EXEC_KILL_MS    2000         /* SIGTERM -> SIGKILL */
#endif
#ifndef PX_EXEC_QUEUE_MAX
#define PX_EXEC_QUEUE_MAX  64           /* runs waiting per pool */
#endif
#ifndef PX_EXEC_QUEUE_MS
#define PX_EXEC_QUEUE_MS   60000        /* longest wait in the queue */
#endif
#ifndef PX_EXEC_POOLS
#define PX_EXEC_POOLS      64           /* pools (providers) tracked */
#endif

/* How a run ended (on_exit). */
enum ex_why {
	EX_EXITED = 0,          /* code = exit status */
	EX_SIGNALED,            /* code = the signal */
	EX_SPAWN,               /* could not start: code = errno */
	EX_TIMEOUT,             /* timeout_ms ran out; the group is killed */
	EX_BUSY,                /* the pool's queue is full, or the wait in
	                           it ran out */
	EX_LINE,                /* an output line over PX_JSONL_LINE_MAX that
	                           the owner refused (see on_long) */
	EX_NOMEM
};
const char *ex_why_name(enum ex_why w);     /* "exited", "spawn", ... */

struct ex_end {
	enum ex_why why;
	int code;
	int lines;              /* output lines delivered */
	const char *msg;        /* what happened, for a message (static or
	                           valid during the call) */
};

struct ex_callbacks {
	void (*on_line)(void *ud, const char *p, size_t n);
	/* an output line over PX_JSONL_LINE_MAX ended; head = its first
	 * bytes. Return 0 to skip it, -1 to end the run (EX_LINE). NULL:
	 * end the run. */
	int (*on_long)(void *ud, const char *head, size_t n);
	void (*on_exit)(void *ud, const struct ex_end *e);
};

/* What to run. Everything is copied by ex_start() but `in`. */
struct ex_spec {
	char *const *argv;      /* argv[0] the command; NULL-terminated */
	const char *cwd;        /* NULL: the proxy's */
	char *const *env;       /* "NAME=value" set on top of the proxy's
	                           environment; NULL-terminated, or NULL */
	const char *in;         /* standard input; borrowed until on_exit or
	                           ex_close() */
	size_t in_n;
	const char *label;      /* for the log: "exec <label> pid N: ..." */
	const char *pool;       /* pool name (NULL: no limit) */
	int max_parallel;       /* processes of the pool (0: no limit) */
	int timeout_ms;         /* from ex_start(), queue included; 0: none */
};

struct ex_engine;
struct ex_run;

/* One per loop; NULL when out of memory. */
struct ex_engine *ex_engine_new(struct ev_loop *l);
/* Kill every process group still alive (SIGKILL), reap them (waiting at
 * most PX_EXEC_KILL_MS in all), free everything. Runs must have been
 * closed; callbacks are not called. */
void ex_engine_free(struct ex_engine *e);

/* Start a run (or queue it). Returns the run, or NULL when out of
 * memory (nothing is called then). */
struct ex_run *ex_start(struct ex_engine *e, const struct ex_spec *s,
                        const struct ex_callbacks *cb, void *ud);

/* Stop handing out lines (the client is slow; the command then blocks on
 * its full pipe) / hand them out again. */
void ex_pause(struct ex_run *r);
void ex_resume(struct ex_run *r);

/*
 * Hand the run back: no callback follows. A queued run leaves the queue;
 * a process still running is signalled as above (finish = 1: it has said
 * all it had to say and is given PX_EXEC_GRACE_MS to exit on its own
 * first) and reaped in the background.
 */
void ex_close(struct ex_run *r, int finish);

/* The process id (0 while queued or when it never started). */
int ex_pid(const struct ex_run *r);

/* Processes not yet reaped, and runs waiting in queues (stats, tests). */
int ex_procs(const struct ex_engine *e);
int ex_queued(const struct ex_engine *e);

#endif
