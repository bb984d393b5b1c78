/*
 * exec.c - commands as upstreams: processes driven by the event loop. See
 * exec.h for the contract; the design in short:
 *
 * A run is QUEUED (its pool is full), RUNNING (a process exists, not yet
 * reaped) or DEAD (reaped, or never started). The owner's view ends with
 * on_exit or ex_close(); the run itself lives on until its process is
 * reaped, so a client that goes away never leaves a zombie or a stray
 * process group behind.
 *
 * Why no SIGCHLD handler: a handler is process-wide state (another
 * library's children would be reaped by us, or ours by it), and a signal
 * needs a self-pipe anyway to reach the loop. Exits are cheap to poll
 * instead: a run checks with waitid(WNOWAIT) when its output ends (the
 * usual way a command finishes) and on a PX_EXEC_POLL_MS timer while it
 * runs (a command that exits while a descendant holds its output open).
 * WNOWAIT matters: the leader stays a zombie while we kill what is left of
 * its process group, so the group id cannot have been reused by then.
 *
 * Descriptors: the parent's pipe ends are non-blocking and close-on-exec
 * (so one command never holds another's pipe open, which would hide its
 * EOF), kept above 2 so that dup2 onto 0..2 always clears close-on-exec.
 * The child gets default signal dispositions (the proxy ignores SIGPIPE)
 * and an empty signal mask, and its own process group.
 *
 * Work per turn is bounded like the HTTP engine's: one read of the output
 * (PX_EXEC_READ bytes) per run per turn.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE     /* posix_spawn_file_actions_add*_np (glibc, musl) */
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "convert.h"
#include "exec.h"
#include "log.h"

extern char **environ;

/* posix_spawn_file_actions_addchdir_np: glibc 2.29+, musl 1.1.24+, the
 * BSDs and macOS; a build without it refuses a configured cwd */
#ifndef PX_SPAWN_CHDIR
#if defined(__linux__) || defined(__APPLE__) || defined(__FreeBSD__) || \
    defined(__NetBSD__)
#define PX_SPAWN_CHDIR 1
#else
#define PX_SPAWN_CHDIR 0
#endif
#endif
/* posix_spawn_file_actions_addclosefrom_np: glibc 2.34+ (a second guard
 * besides close-on-exec, for descriptors someone opened without it) */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && \
    __GLIBC_MINOR__ >= 34))
#define PX_SPAWN_CLOSEFROM 1
#else
#define PX_SPAWN_CLOSEFROM 0
#endif

enum xst { XS_QUEUED, XS_RUNNING, XS_DEAD };

struct ex_pool {
	char name[64];
	int used;
	int running;              /* processes not yet reaped */
	int max;                  /* the latest max_parallel */
	struct ex_run *qhead, *qtail;
	int nq;
};

struct ex_run {
	struct ex_engine *e;
	struct ex_run *prev, *next;     /* every run of the engine */
	struct ex_run *qnext;           /* the pool's queue */
	struct ex_pool *pool;           /* NULL: no limit */
	enum xst st;
	pid_t pid;
	int in_fd, out_fd, err_fd;      /* parent ends, -1 when closed */
	const char *in;                 /* borrowed */
	size_t in_n, in_off;
	char **argv, **env, *cwd;       /* copies */
	char label[64];
	const struct ex_callbacks *cb;
	void *ud;
	struct ev_timer timer;
	struct ev_defer defer;
	long long deadline;             /* timeout_ms; 0 = none */
	long long queued_until;
	long long term_at, kill_at;     /* 0 = not scheduled */
	unsigned closed:1, ended:1, paused:1, reaped:1, out_eof:1,
	         term_sent:1, kill_sent:1, pending:1;
	int in_cb;
	int status;                     /* wait status once reaped */
	struct ex_end rep;              /* a report for the deferred call */
	char repmsg[160];
	int lines;
	struct px_jsonl jl;
	char errline[PX_EXEC_STDERR_LINE];
	size_t errlen, errlogged;
	int errcut;
};

struct ex_engine {
	struct ev_loop *l;
	struct ex_run *runs;
	struct ex_pool pools[PX_EXEC_POOLS];
	int nprocs, nqueued;
	struct ev_defer kick;           /* start queued runs */
	char rbuf[PX_EXEC_READ];
};

static void run_timer(struct ev_loop *l, struct ev_timer *t);
static void run_deferred(struct ev_loop *l, struct ev_defer *d);
static void out_io(struct ev_loop *l, int fd, int events, void *ud);
static void err_io(struct ev_loop *l, int fd, int events, void *ud);
static void in_io(struct ev_loop *l, int fd, int events, void *ud);
static int check_exit(struct ex_run *r);
static void timer_arm(struct ex_run *r);

/* see exec.h */
const char *
ex_why_name(enum ex_why w)
{
	switch (w) {
	case EX_EXITED:  return "exited";
	case EX_SIGNALED: return "signaled";
	case EX_SPAWN:   return "spawn";
	case EX_TIMEOUT: return "timeout";
	case EX_BUSY:    return "busy";
	case EX_LINE:    return "line";
	case EX_NOMEM:   return "nomem";
	}
	return "unknown";
}

/* ------------------------------------------------------------ helpers */

static long long
now_ms(struct ex_engine *e)
{
	return ev_now(e->l);
}

static void
fd_close(struct ex_engine *e, int *fd)
{
	if (*fd < 0)
		return;
	ev_del(e->l, *fd);
	close(*fd);
	*fd = -1;
}

static void
close_fds(struct ex_run *r)
{
	fd_close(r->e, &r->in_fd);
	fd_close(r->e, &r->out_fd);
	fd_close(r->e, &r->err_fd);
}

/* Signal the process group: only while the leader is unreaped, so the
 * id still names our group. */
static void
group_signal(struct ex_run *r, int sig)
{
	if (r->st == XS_RUNNING && !r->reaped && r->pid > 0)
		killpg(r->pid, sig);
}

/* End it: SIGTERM to the group now, SIGKILL after PX_EXEC_KILL_MS. */
static void
kill_soon(struct ex_run *r)
{
	if (r->term_sent)
		return;
	group_signal(r, SIGTERM);
	r->term_sent = 1;
	r->kill_at = now_ms(r->e) + PX_EXEC_KILL_MS;
	timer_arm(r);
}

static char **
strv_copy(char *const *v)
{
	size_t n = 0, bytes = 0, i, k;
	char **out, *p;

	if (v == NULL)
		return NULL;
	for (n = 0; v[n]; n++)
		bytes += strlen(v[n]) + 1;
	out = malloc((n + 1) * sizeof *out + bytes);
	if (out == NULL)
		return NULL;
	p = (char *)(out + n + 1);
	for (i = 0; i < n; i++) {
		k = strlen(v[i]) + 1;
		memcpy(p, v[i], k);
		out[i] = p;
		p += k;
	}
	out[n] = NULL;
	return out;
}

/* The child's environment: the proxy's, with the run's settings on top. */
static char **
env_merge(char *const *set)
{
	size_t n = 0, m = 0, i, j, k = 0;
	char **out;

	for (n = 0; environ && environ[n]; n++)
		;
	for (m = 0; set && set[m]; m++)
		;
	out = malloc((n + m + 1) * sizeof *out);
	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t nl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		int over = 0;
		for (j = 0; j < m && !over; j++)
			over = strncmp(set[j], environ[i], nl) == 0 &&
			    set[j][nl] == '=';
		if (!over)
			out[k++] = environ[i];
	}
	for (j = 0; j < m; j++)
		out[k++] = set[j];
	out[k] = NULL;
	return out;
}

/* A pipe end above 2, close-on-exec (non-blocking when nb). */
static int
fd_prep(int fd, int nb)
{
	int nfd;

	if (fd <= 2) {
		nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		close(fd);
		if (nfd < 0)
			return -1;
		fd = nfd;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (nb)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* ------------------------------------------------------------ pools */

static struct ex_pool *
pool_get(struct ex_engine *e, const char *name, int max)
{
	struct ex_pool *free_p = NULL;
	int i;

	if (name == NULL || max <= 0)
		return NULL;
	for (i = 0; i < PX_EXEC_POOLS; i++) {
		struct ex_pool *p = &e->pools[i];
		if (p->used && strcmp(p->name, name) == 0) {
			p->max = max;
			return p;
		}
		if (free_p == NULL && (!p->used || (p->running == 0 &&
		    p->nq == 0)))
			free_p = p;
	}
	if (free_p == NULL)
		return NULL;    /* more pools than tracked: no limit */
	memset(free_p, 0, sizeof *free_p);
	free_p->used = 1;
	snprintf(free_p->name, sizeof free_p->name, "%s", name);
	free_p->max = max;
	return free_p;
}

static void
queue_remove(struct ex_run *r)
{
	struct ex_pool *p = r->pool;
	struct ex_run **pp;

	if (p == NULL)
		return;
	for (pp = &p->qhead; *pp; pp = &(*pp)->qnext) {
		if (*pp == r) {
			*pp = r->qnext;
			if (p->qtail == r) {
				struct ex_run *t = p->qhead;
				while (t && t->qnext)
					t = t->qnext;
				p->qtail = t;
			}
			p->nq--;
			r->e->nqueued--;
			r->qnext = NULL;
			return;
		}
	}
}

/* ------------------------------------------------------------ lifecycle */

static void
run_free(struct ex_run *r)
{
	struct ex_engine *e = r->e;

	if (r->prev)
		r->prev->next = r->next;
	else
		e->runs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	close_fds(r);
	ev_timer_stop(e->l, &r->timer);
	ev_defer_cancel(e->l, &r->defer);
	px_jsonl_free(&r->jl);
	free(r->argv);
	free(r->env);
	free(r->cwd);
	free(r);
}

/* Free a run nobody needs: handed back, and its process reaped. */
static int
maybe_free(struct ex_run *r)
{
	if (r->in_cb || !(r->closed || r->ended) || r->st != XS_DEAD)
		return 0;
	run_free(r);
	return 1;
}

/* Tell the owner how the run ended (once). */
static void
finish(struct ex_run *r, enum ex_why why, int code, const char *msg)
{
	struct ex_end end;

	if (r->closed || r->ended)
		return;
	r->ended = 1;
	if (why != EX_EXITED && why != EX_SIGNALED)
		close_fds(r);
	end.why = why;
	end.code = code;
	end.lines = r->lines;
	end.msg = msg;
	r->in_cb++;
	r->cb->on_exit(r->ud, &end);
	r->in_cb--;
	r->ud = NULL;
}

/* A failure to report on the next turn (never inside ex_start). */
static void
report_later(struct ex_run *r, enum ex_why why, int code, const char *msg)
{
	r->pending = 1;
	r->rep.why = why;
	r->rep.code = code;
	snprintf(r->repmsg, sizeof r->repmsg, "%s", msg);
	ev_defer(r->e->l, &r->defer);
}

static void
timer_arm(struct ex_run *r)
{
	long long now = now_ms(r->e), at;

	if (r->st == XS_QUEUED) {
		ev_timer_set(r->e->l, &r->timer, r->queued_until);
		return;
	}
	if (r->st != XS_RUNNING) {
		ev_timer_stop(r->e->l, &r->timer);
		return;
	}
	/* an ended output means the exit is near: look sooner */
	at = now + (r->out_fd < 0 && !r->closed ? 10 : PX_EXEC_POLL_MS);
	if (r->deadline && !r->ended && r->deadline < at)
		at = r->deadline;
	if (r->term_at && !r->term_sent && r->term_at < at)
		at = r->term_at;
	if (r->kill_at && !r->kill_sent && r->kill_at < at)
		at = r->kill_at;
	ev_timer_set(r->e->l, &r->timer, at);
}

/* Start r's process. 0, or -1 with errno (nothing left open). */
static int
run_spawn(struct ex_run *r)
{
	struct ex_engine *e = r->e;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	char **envp = NULL;
	pid_t pid;
	int rc, i, fa_ok = 0, at_ok = 0, *fds[6];

	if (r->cwd && !PX_SPAWN_CHDIR) {
		errno = ENOTSUP;
		return -1;
	}
	if (pipe(pin) < 0 || pipe(pout) < 0 || pipe(perr) < 0)
		goto fail;
	fds[0] = &pin[0];
	fds[1] = &pin[1];
	fds[2] = &pout[0];
	fds[3] = &pout[1];
	fds[4] = &perr[0];
	fds[5] = &perr[1];
	for (i = 0; i < 6; i++) {
		/* the parent's ends (pin[1], pout[0], perr[0]) non-blocking */
		int nb = i == 1 || i == 2 || i == 4;
		if ((*fds[i] = fd_prep(*fds[i], nb)) < 0)
			goto fail;
	}
	if ((envp = env_merge(r->env)) == NULL)
		goto fail;
	if ((rc = posix_spawn_file_actions_init(&fa)) != 0) {
		errno = rc;
		goto fail;
	}
	fa_ok = 1;
	if ((rc = posix_spawnattr_init(&at)) != 0) {
		errno = rc;
		goto fail;
	}
	at_ok = 1;
	/* everything above 2 is close-on-exec; the dups clear it on 0..2 */
	if ((rc = posix_spawn_file_actions_adddup2(&fa, pin[0], 0)) != 0 ||
	    (rc = posix_spawn_file_actions_adddup2(&fa, pout[1], 1)) != 0 ||
	    (rc = posix_spawn_file_actions_adddup2(&fa, perr[1], 2)) != 0) {
		errno = rc;
		goto fail;
	}
#if PX_SPAWN_CLOSEFROM
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
#if PX_SPAWN_CHDIR
	if (r->cwd && (rc = posix_spawn_file_actions_addchdir_np(&fa,
	    r->cwd)) != 0) {
		errno = rc;
		goto fail;
	}
#endif
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(&pid, r->argv[0], &fa, &at, r->argv, envp);
	if (rc != 0) {
		errno = rc;
		goto fail;
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	free(envp);
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	r->pid = pid;
	r->in_fd = pin[1];
	r->out_fd = pout[0];
	r->err_fd = perr[0];
	r->st = XS_RUNNING;
	if (r->pool)
		r->pool->running++;
	e->nprocs++;
	if (ev_set(e->l, r->out_fd, EV_READ, out_io, r) < 0 ||
	    ev_set(e->l, r->err_fd, EV_READ, err_io, r) < 0) {
		/* the loop cannot watch it: kill it, report, reap later */
		int en = errno;
		group_signal(r, SIGKILL);
		close_fds(r);
		errno = en;
		timer_arm(r);
		return -2;
	}
	if (r->in_n > 0 && ev_set(e->l, r->in_fd, EV_WRITE, in_io, r) == 0)
		;
	else
		fd_close(e, &r->in_fd);
	timer_arm(r);
	return 0;
fail:
	rc = errno;
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (at_ok)
		posix_spawnattr_destroy(&at);
	free(envp);
	for (i = 0; i < 2; i++) {
		if (pin[i] >= 0)
			close(pin[i]);
		if (pout[i] >= 0)
			close(pout[i]);
		if (perr[i] >= 0)
			close(perr[i]);
	}
	errno = rc;
	return -1;
}

/* Spawn r now; a failure is reported on the next turn. */
static void
run_begin(struct ex_run *r)
{
	int rc = run_spawn(r);
	char msg[160];

	if (rc == 0)
		return;
	if (rc == -1) {
		r->st = XS_DEAD;
		snprintf(msg, sizeof msg, "cannot run '%.80s': %s", r->argv[0],
		    strerror(errno));
		report_later(r, EX_SPAWN, errno, msg);
		return;
	}
	snprintf(msg, sizeof msg, "cannot watch the process: %s",
	    strerror(errno));
	report_later(r, EX_NOMEM, errno, msg);
}

/* Start what waits in queues, as far as their pools allow. */
static void
kick(struct ev_loop *l, struct ev_defer *d)
{
	struct ex_engine *e = d->ud;
	int i;

	(void)l;
	for (i = 0; i < PX_EXEC_POOLS; i++) {
		struct ex_pool *p = &e->pools[i];
		while (p->used && p->qhead && p->running < p->max) {
			struct ex_run *r = p->qhead;
			queue_remove(r);
			r->st = XS_DEAD;
			run_begin(r);
		}
	}
}

/* The process was reaped: its pool slot is free. */
static void
reaped(struct ex_run *r)
{
	r->reaped = 1;
	r->st = XS_DEAD;
	r->e->nprocs--;
	if (r->pool) {
		r->pool->running--;
		if (r->pool->qhead)
			ev_defer(r->e->l, &r->e->kick);
	}
}

/* ------------------------------------------------------------ output */

/* Deliver the lines in p[0..n). 0, or -1 when the run was handed back or
 * ended during a callback (stop touching it). */
static int
deliver(struct ex_run *r, const char *p, size_t n)
{
	struct px_str line;
	long k;
	int got;

	while (n > 0) {
		k = px_jsonl_feed(&r->jl, p, n, &line, &got);
		if (k < 0) {
			finish(r, EX_NOMEM, ENOMEM, "out of memory for an "
			    "output line");
			kill_soon(r);
			return -1;
		}
		p += k;
		n -= (size_t)k;
		if (!got)
			continue;
		r->in_cb++;
		if (got == PX_JSONL_LINE) {
			r->lines++;
			r->cb->on_line(r->ud, line.p, line.n);
		} else if (!r->cb->on_long ||
		    r->cb->on_long(r->ud, line.p, line.n) < 0) {
			r->in_cb--;
			if (!r->closed) {
				finish(r, EX_LINE, 0, "an output line is longer "
				    "than the limit");
				kill_soon(r);
			}
			return -1;
		}
		r->in_cb--;
		if (r->closed || r->ended)
			return -1;
	}
	return 0;
}

/* The unterminated last line, at the end of the output. */
static int
deliver_tail(struct ex_run *r)
{
	struct px_str line;
	int k = px_jsonl_finish(&r->jl, &line);

	if (k == PX_JSONL_LINE) {
		r->lines++;
		r->in_cb++;
		r->cb->on_line(r->ud, line.p, line.n);
		r->in_cb--;
	} else if (k == PX_JSONL_LONG && r->cb->on_long) {
		r->in_cb++;
		r->cb->on_long(r->ud, line.p, line.n);
		r->in_cb--;
	}
	return r->closed || r->ended ? -1 : 0;
}

/* One read of the output: >0 bytes delivered, 0 at EOF, -1 when nothing
 * is there now (or a read error, taken as EOF: returns 0). */
static long
read_out(struct ex_run *r)
{
	ssize_t k = read(r->out_fd, r->e->rbuf, sizeof r->e->rbuf);

	if (k > 0)
		return deliver(r, r->e->rbuf, (size_t)k) < 0 ? -2 : (long)k;
	if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return -1;
	return 0;
}

/* The process is gone: read what it left in the pipe, then report. */
static void
end_output(struct ex_run *r)
{
	char msg[96];
	int i, code;
	long k;

	if (r->closed || r->ended || r->paused)
		return;
	/* what is in the pipe now is all: the group is dead */
	for (i = 0; r->out_fd >= 0 && i < 64; i++) {
		k = read_out(r);
		if (k == -2)
			return;
		if (k <= 0)
			break;
		if (r->paused)
			return;     /* again on resume */
	}
	fd_close(r->e, &r->out_fd);
	if (deliver_tail(r) < 0)
		return;
	close_fds(r);
	if (WIFSIGNALED(r->status)) {
		code = WTERMSIG(r->status);
		snprintf(msg, sizeof msg, "killed by signal %d", code);
		finish(r, EX_SIGNALED, code, msg);
	} else {
		code = WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
		snprintf(msg, sizeof msg, "exited with status %d", code);
		finish(r, EX_EXITED, code, msg);
	}
}

static void
out_io(struct ev_loop *l, int fd, int events, void *ud)
{
	struct ex_run *r = ud;
	long k;

	(void)l;
	(void)fd;
	(void)events;
	k = read_out(r);
	if (k == -2) {
		maybe_free(r);
		return;
	}
	if (k == 0) {
		/* EOF: the command closed its output, exit is near */
		r->out_eof = 1;
		fd_close(r->e, &r->out_fd);
		if (!check_exit(r) && r->st == XS_RUNNING)
			timer_arm(r);   /* look again soon */
	}
}

/* A line of standard error into the log, printable and bounded. */
static void
err_line(struct ex_run *r, const char *p, size_t n)
{
	char buf[PX_EXEC_STDERR_LINE + 1];
	size_t i;

	if (r->errlogged >= PX_EXEC_STDERR_LOG) {
		if (!r->errcut)
			px_log("exec %s pid %d: (standard error cut: more than "
			    "%d bytes)", r->label, (int)r->pid,
			    PX_EXEC_STDERR_LOG);
		r->errcut = 1;
		return;
	}
	if (n > PX_EXEC_STDERR_LINE)
		n = PX_EXEC_STDERR_LINE;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	buf[n] = 0;
	r->errlogged += n;
	px_log("exec %s pid %d: %s", r->label, (int)r->pid, buf);
}

static void
err_io(struct ev_loop *l, int fd, int events, void *ud)
{
	struct ex_run *r = ud;
	char buf[4096];
	ssize_t k;
	size_t i, s = 0;

	(void)l;
	(void)fd;
	(void)events;
	k = read(r->err_fd, buf, sizeof buf);
	if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (k <= 0) {
		if (r->errlen)
			err_line(r, r->errline, r->errlen);
		r->errlen = 0;
		fd_close(r->e, &r->err_fd);
		return;
	}
	for (i = 0; i < (size_t)k; i++) {
		if (buf[i] != '\n')
			continue;
		if (r->errlen) {
			size_t take = i - s;
			if (r->errlen + take > sizeof r->errline)
				take = sizeof r->errline - r->errlen;
			memcpy(r->errline + r->errlen, buf + s, take);
			err_line(r, r->errline, r->errlen + take);
			r->errlen = 0;
		} else {
			err_line(r, buf + s, i - s);
		}
		s = i + 1;
	}
	/* an unfinished line waits (cut at the line bound) */
	if (s < (size_t)k) {
		size_t take = (size_t)k - s;
		if (r->errlen + take > sizeof r->errline)
			take = sizeof r->errline - r->errlen;
		memcpy(r->errline + r->errlen, buf + s, take);
		r->errlen += take;
	}
}

static void
in_io(struct ev_loop *l, int fd, int events, void *ud)
{
	struct ex_run *r = ud;
	ssize_t k;

	(void)l;
	(void)fd;
	(void)events;
	k = write(r->in_fd, r->in + r->in_off, r->in_n - r->in_off);
	if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (k > 0)
		r->in_off += (size_t)k;
	/* done, or the command closed its input (EPIPE): it has what it
	 * read; its answer says the rest */
	if (k <= 0 || r->in_off == r->in_n)
		fd_close(r->e, &r->in_fd);
}

/* ------------------------------------------------------------ exits */

/*
 * Has the process exited? Then kill what is left of its group while the
 * leader is still a zombie, reap it, and finish the output. Returns 1
 * when r was freed.
 */
static int
check_exit(struct ex_run *r)
{
	siginfo_t si;
	int rc, st = 0;

	if (r->st != XS_RUNNING || r->reaped)
		return 0;
	memset(&si, 0, sizeof si);
	rc = waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT);
	if (rc == 0 && si.si_pid == 0)
		return 0;       /* still running */
	if (rc == 0) {
		killpg(r->pid, SIGKILL);        /* what it left behind */
		while ((rc = waitpid(r->pid, &st, 0)) < 0 && errno == EINTR)
			;
	} else {
		/* no WNOWAIT here: reap if it is done */
		while ((rc = waitpid(r->pid, &st, WNOHANG)) < 0 &&
		    errno == EINTR)
			;
		if (rc == 0)
			return 0;
	}
	r->status = rc == r->pid ? st : 0;
	reaped(r);
	end_output(r);
	if (maybe_free(r))
		return 1;
	timer_arm(r);
	return 0;
}

static void
run_timer(struct ev_loop *l, struct ev_timer *t)
{
	struct ex_run *r = t->ud;
	long long now = now_ms(r->e);

	(void)l;
	if (r->st == XS_QUEUED) {
		queue_remove(r);
		r->st = XS_DEAD;
		finish(r, EX_BUSY, 0, "every process of the command is busy "
		    "(max_parallel): the wait in the queue ran out");
		maybe_free(r);
		return;
	}
	if (r->st != XS_RUNNING) {
		maybe_free(r);
		return;
	}
	if (check_exit(r) || r->st != XS_RUNNING)
		return;         /* reaped (and maybe freed) */
	if (r->deadline && now >= r->deadline && !r->ended && !r->closed) {
		kill_soon(r);
		finish(r, EX_TIMEOUT, 0, "the command did not finish in time");
	}
	if (r->term_at && !r->term_sent && now >= r->term_at) {
		group_signal(r, SIGTERM);
		r->term_sent = 1;
		r->kill_at = now + PX_EXEC_KILL_MS;
	}
	if (r->kill_at && !r->kill_sent && now >= r->kill_at) {
		group_signal(r, SIGKILL);
		r->kill_sent = 1;
	}
	timer_arm(r);
}

static void
run_deferred(struct ev_loop *l, struct ev_defer *d)
{
	struct ex_run *r = d->ud;

	(void)l;
	if (r->pending) {
		r->pending = 0;
		finish(r, r->rep.why, r->rep.code, r->repmsg);
	}
	/* resumed after the process was reaped: the rest of the output */
	if (r->reaped && !r->paused)
		end_output(r);
	maybe_free(r);
}

/* ------------------------------------------------------------ API */

/* see exec.h */
struct ex_engine *
ex_engine_new(struct ev_loop *l)
{
	struct ex_engine *e = calloc(1, sizeof *e);
	struct sigaction sa;

	if (e == NULL)
		return NULL;
	e->l = l;
	ev_defer_init(&e->kick, kick, e);
	/* children must stay ours to reap: an inherited SIG_IGN would have
	 * the kernel reap them and hide their exit status */
	if (sigaction(SIGCHLD, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) {
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_DFL;
		sigaction(SIGCHLD, &sa, NULL);
	}
	return e;
}

/* see exec.h */
void
ex_engine_free(struct ex_engine *e)
{
	struct ex_run *r;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int waited = 0, st;

	if (e == NULL)
		return;
	for (r = e->runs; r; r = r->next) {
		r->closed = 1;
		group_signal(r, SIGKILL);
		close_fds(r);
	}
	/* SIGKILL is quick, but give up after the kill interval */
	for (r = e->runs; r; r = r->next) {
		while (r->st == XS_RUNNING && !r->reaped) {
			pid_t w = waitpid(r->pid, &st, WNOHANG);
			if (w == r->pid || (w < 0 && errno != EINTR)) {
				reaped(r);
				break;
			}
			if (waited >= PX_EXEC_KILL_MS) {
				px_log("exec %s pid %d: not reaped at shutdown",
				    r->label, (int)r->pid);
				break;
			}
			nanosleep(&ts, NULL);
			waited += 10;
		}
	}
	while (e->runs)
		run_free(e->runs);
	ev_defer_cancel(e->l, &e->kick);
	free(e);
}

/* see exec.h */
struct ex_run *
ex_start(struct ex_engine *e, const struct ex_spec *s,
    const struct ex_callbacks *cb, void *ud)
{
	struct ex_run *r = calloc(1, sizeof *r);
	long long now = now_ms(e), wait;

	if (r == NULL)
		return NULL;
	r->e = e;
	r->in_fd = r->out_fd = r->err_fd = -1;
	r->cb = cb;
	r->ud = ud;
	r->in = s->in;
	r->in_n = s->in_n;
	snprintf(r->label, sizeof r->label, "%s", s->label ? s->label : "");
	r->argv = strv_copy(s->argv);
	r->env = s->env ? strv_copy(s->env) : NULL;
	r->cwd = s->cwd ? strdup(s->cwd) : NULL;
	if (r->argv == NULL || r->argv[0] == NULL || (s->env && !r->env) ||
	    (s->cwd && !r->cwd)) {
		free(r->argv);
		free(r->env);
		free(r->cwd);
		free(r);
		return NULL;
	}
	ev_timer_init(&r->timer, run_timer, r);
	ev_defer_init(&r->defer, run_deferred, r);
	r->next = e->runs;
	if (e->runs)
		e->runs->prev = r;
	e->runs = r;
	r->deadline = s->timeout_ms > 0 ? now + s->timeout_ms : 0;
	r->pool = pool_get(e, s->pool, s->max_parallel);
	r->st = XS_DEAD;
	if (r->pool == NULL || (r->pool->running < r->pool->max &&
	    r->pool->qhead == NULL)) {
		run_begin(r);
		return r;
	}
	if (r->pool->nq >= PX_EXEC_QUEUE_MAX) {
		report_later(r, EX_BUSY, 0, "every process of the command is "
		    "busy (max_parallel) and the queue is full");
		return r;
	}
	r->st = XS_QUEUED;
	if (r->pool->qtail)
		r->pool->qtail->qnext = r;
	else
		r->pool->qhead = r;
	r->pool->qtail = r;
	r->pool->nq++;
	e->nqueued++;
	if (r->pool->running < r->pool->max)
		ev_defer(e->l, &e->kick);      /* a larger max_parallel */
	wait = PX_EXEC_QUEUE_MS;
	if (s->timeout_ms > 0 && s->timeout_ms < wait)
		wait = s->timeout_ms;
	r->queued_until = now + wait;
	timer_arm(r);
	return r;
}

/* see exec.h */
void
ex_pause(struct ex_run *r)
{
	if (r->paused)
		return;
	r->paused = 1;
	if (r->out_fd >= 0)
		ev_mask(r->e->l, r->out_fd, 0);
}

/* see exec.h */
void
ex_resume(struct ex_run *r)
{
	if (!r->paused)
		return;
	r->paused = 0;
	if (r->out_fd >= 0)
		ev_mask(r->e->l, r->out_fd, EV_READ);
	if (r->reaped)
		ev_defer(r->e->l, &r->defer);   /* the rest of the output */
}

/* see exec.h */
void
ex_close(struct ex_run *r, int fin)
{
	long long now;

	if (r == NULL)
		return;
	r->closed = 1;
	r->ud = NULL;
	r->pending = 0;
	close_fds(r);
	if (r->st == XS_QUEUED) {
		queue_remove(r);
		r->st = XS_DEAD;
	} else if (r->st == XS_RUNNING && !r->reaped) {
		now = now_ms(r->e);
		if (fin && !r->term_sent) {
			if (!r->term_at)
				r->term_at = now + PX_EXEC_GRACE_MS;
		} else if (!r->term_sent) {
			group_signal(r, SIGTERM);
			r->term_sent = 1;
			r->kill_at = now + PX_EXEC_KILL_MS;
		}
		timer_arm(r);
	}
	maybe_free(r);
}

/* see exec.h */
int
ex_pid(const struct ex_run *r)
{
	return r->st == XS_RUNNING || r->reaped ? (int)r->pid : 0;
}

/* see exec.h */
int
ex_procs(const struct ex_engine *e)
{
	return e ? e->nprocs : 0;
}

/* see exec.h */
int
ex_queued(const struct ex_engine *e)
{
	return e ? e->nqueued : 0;
}
