/*
 * test_loop.c - the event loop (loop.c) on the backend it was built with
 * (the Makefile builds this suite twice: the platform's default and
 * -DPX_LOOP_POLL).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

static struct ev_loop *L;

static void
setup(void)
{
	L = ev_new();
	ck_assert_ptr_nonnull(L);
}

static void
teardown(void)
{
	ev_free(L);
	L = NULL;
}

/* ------------------------------------------------------------ timers */

#define NT 500
static struct ev_timer timers[NT];
static long long fired_at[NT];
static int order[NT], nfired;

static void
on_timer(struct ev_loop *l, struct ev_timer *t)
{
	int i = (int)(t - timers);

	(void)l;
	fired_at[i] = t->at;
	order[nfired++] = i;
}

/* Timers armed, moved and stopped at random fire in time order, once
 * each, and stopped ones never. */
START_TEST(t_timer_heap)
{
	long long base = ev_update_now(L) - 100000;   /* all due already */
	int stopped[NT], i, k;
	unsigned seed = 12345;

	memset(stopped, 0, sizeof stopped);
	nfired = 0;
	for (i = 0; i < NT; i++) {
		ev_timer_init(&timers[i], on_timer, NULL);
		seed = seed * 1103515245u + 12345u;
		ev_timer_set(L, &timers[i], base + (seed >> 8) % 50000);
	}
	for (k = 0; k < NT; k++) {
		seed = seed * 1103515245u + 12345u;
		i = (int)((seed >> 8) % NT);
		if (seed & 1) {
			ev_timer_stop(L, &timers[i]);
			stopped[i] = 1;
		} else {
			seed = seed * 1103515245u + 12345u;
			ev_timer_set(L, &timers[i], base + (seed >> 8) % 50000);
			stopped[i] = 0;
		}
	}
	ck_assert_int_ge(ev_run_once(L, 0), 0);
	for (k = 1; k < nfired; k++)
		ck_assert_int_le(fired_at[order[k - 1]], fired_at[order[k]]);
	for (i = 0, k = 0; i < NT; i++) {
		if (stopped[i])
			ck_assert(!ev_timer_armed(&timers[i]));
		else
			k++;
	}
	ck_assert_int_eq(nfired, k);
	ck_assert_int_eq(ev_ntimers(L), 0);
}
END_TEST

static int rearms;

static void
rearm_now(struct ev_loop *l, struct ev_timer *t)
{
	rearms++;
	ev_timer_set(l, t, ev_now(l));
}

/* A timer that re-arms itself for "now" runs once per turn, not forever. */
START_TEST(t_timer_rearm)
{
	struct ev_timer t;

	ev_timer_init(&t, rearm_now, NULL);
	ev_timer_set(L, &t, ev_update_now(L));
	rearms = 0;
	ev_run_once(L, 0);
	ck_assert_int_eq(rearms, 1);
	ev_run_once(L, 0);
	ck_assert_int_eq(rearms, 2);
	ev_timer_stop(L, &t);
}
END_TEST

/* The wait ends at the next timer. */
START_TEST(t_timer_wakes)
{
	long long t0;

	nfired = 0;
	ev_timer_init(&timers[0], on_timer, NULL);
	t0 = ev_update_now(L);
	ev_timer_set(L, &timers[0], t0 + 50);
	while (nfired == 0)
		ev_run_once(L, -1);
	ck_assert_int_ge(ev_now(L) - t0, 50);
	ck_assert_int_lt(ev_now(L) - t0, 1000);
}
END_TEST

/* ------------------------------------------------------------ descriptors */

struct io_rec {
	int calls, events;
};

static void
on_io(struct ev_loop *l, int fd, int events, void *ud)
{
	struct io_rec *r = ud;
	char b[64];

	(void)l;
	r->calls++;
	r->events |= events;
	if (events & EV_READ)
		(void)!read(fd, b, sizeof b);
}

/* Readiness is reported while the interest is set; mask 0 pauses. */
START_TEST(t_io_mask)
{
	int sv[2];
	struct io_rec r;

	memset(&r, 0, sizeof r);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	ck_assert_int_eq(ev_set(L, sv[0], EV_READ, on_io, &r), 0);
	ck_assert_int_eq(ev_nfds(L), 2);             /* with the wake pipe */
	ev_run_once(L, 0);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	ev_run_once(L, 1000);
	ck_assert_int_eq(r.calls, 1);
	ck_assert(r.events & EV_READ);
	/* paused: data waits */
	ck_assert_int_eq(ev_mask(L, sv[0], 0), 0);
	ck_assert_int_eq(write(sv[1], "y", 1), 1);
	ev_run_once(L, 0);
	ck_assert_int_eq(r.calls, 1);
	/* resumed: reported */
	ck_assert_int_eq(ev_mask(L, sv[0], EV_READ), 0);
	ev_run_once(L, 1000);
	ck_assert_int_eq(r.calls, 2);
	/* writable */
	r.events = 0;
	ck_assert_int_eq(ev_mask(L, sv[0], EV_WRITE), 0);
	ev_run_once(L, 1000);
	ck_assert(r.events & EV_WRITE);
	/* the peer goes away: reported as readable (EOF) */
	close(sv[1]);
	r.events = 0;
	ck_assert_int_eq(ev_mask(L, sv[0], EV_READ), 0);
	ev_run_once(L, 1000);
	ck_assert(r.events & EV_READ);
	ev_del(L, sv[0]);
	ev_del(L, sv[0]);                         /* twice is harmless */
	ck_assert_int_eq(ev_nfds(L), 1);
	close(sv[0]);
	ck_assert_int_eq(ev_mask(L, sv[0], EV_READ), -1);
}
END_TEST

/* Many descriptors, a few ready: only the ready ones are called. */
START_TEST(t_io_many)
{
	enum { N = 300 };
	int sv[N][2], i;
	struct io_rec r[N];

	memset(r, 0, sizeof r);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]), 0);
		ck_assert_int_eq(ev_set(L, sv[i][0], EV_READ, on_io, &r[i]), 0);
	}
	ck_assert_int_eq(write(sv[7][1], "a", 1), 1);
	ck_assert_int_eq(write(sv[250][1], "b", 1), 1);
	ev_run_once(L, 1000);
	for (i = 0; i < N; i++)
		ck_assert_int_eq(r[i].calls, i == 7 || i == 250);
	for (i = 0; i < N; i++) {
		ev_del(L, sv[i][0]);
		close(sv[i][0]);
		close(sv[i][1]);
	}
}
END_TEST

/* ------------------------------------------------------------ deferred */

static int dcalls;
static struct ev_defer d1, d2;

static void
on_defer(struct ev_loop *l, struct ev_defer *d)
{
	dcalls++;
	if (d == &d1 && dcalls == 1)
		ev_defer(l, &d2);     /* queued in a call: runs next turn */
}

START_TEST(t_defer)
{
	ev_defer_init(&d1, on_defer, NULL);
	ev_defer_init(&d2, on_defer, NULL);
	dcalls = 0;
	ev_defer(L, &d1);
	ev_defer(L, &d1);                         /* idempotent */
	ev_run_once(L, 1000);                     /* does not sleep */
	ck_assert_int_eq(dcalls, 1);
	ev_run_once(L, 1000);
	ck_assert_int_eq(dcalls, 2);
	ev_defer(L, &d1);
	ev_defer_cancel(L, &d1);
	ev_run_once(L, 0);
	ck_assert_int_eq(dcalls, 2);
}
END_TEST

/* ------------------------------------------------------------ wakeup */

static void *
waker(void *arg)
{
	struct timespec ts = { 0, 50 * 1000000L };

	nanosleep(&ts, NULL);
	ev_wakeup(arg);
	return NULL;
}

START_TEST(t_wakeup)
{
	pthread_t th;
	long long t0 = ev_update_now(L);

	ck_assert_int_eq(pthread_create(&th, NULL, waker, L), 0);
	ev_run_once(L, 5000);
	ck_assert_int_lt(ev_update_now(L) - t0, 2000);
	pthread_join(th, NULL);
}
END_TEST

static Suite *
loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *t = tcase_create("loop");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, t_timer_heap);
	tcase_add_test(t, t_timer_rearm);
	tcase_add_test(t, t_timer_wakes);
	tcase_add_test(t, t_io_mask);
	tcase_add_test(t, t_io_many);
	tcase_add_test(t, t_defer);
	tcase_add_test(t, t_wakeup);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(loop_suite());
	int failed;
	struct ev_loop *l = ev_new();

	printf("loop backend: %s\n", l ? ev_backend(l) : "?");
	ev_free(l);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
