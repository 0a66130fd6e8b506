/* Unit tests of the I/O loop's parking (src/vmm/evloop.c): a park while a
 * handler runs waits for that handler to return, a park while idle stops
 * the handlers until unpark (events that came meanwhile are served after),
 * a park that the running handler outlasts times out and is withdrawn, a
 * stop while parked ends the loop, and the misuses are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "vmm/evloop.h"

struct fixture {
	struct evloop loop;
	int efd;                    /* the event the test handler serves */
	atomic_int calls;           /* handler entries */
	atomic_int returns;         /* handler returns */
	atomic_bool block;          /* the handler waits while this is set */
	atomic_bool entered;        /* the handler is inside, blocked */
	atomic_int park_result;     /* of a park from the handler itself */
	bool park_from_handler;
	/* For a park run on a helper thread. */
	atomic_bool park_done;
	int park_rc;
	int returns_at_park;        /* handler returns seen when park returned */
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait up to 2 s for *v >= want. */
static bool wait_for(atomic_int *v, int want)
{
	for (int i = 0; i < 2000; i++) {
		if (atomic_load(v) >= want)
			return true;
		sleep_ms(1);
	}
	return false;
}

static void handler(void *opaque, int fd)
{
	struct fixture *f = opaque;
	uint64_t n;

	atomic_fetch_add(&f->calls, 1);
	if (read(fd, &n, sizeof(n)) < 0)
		n = 0;
	if (f->park_from_handler)
		atomic_store(&f->park_result, evloop_park(&f->loop, 100));
	atomic_store(&f->entered, true);
	while (atomic_load(&f->block))
		sleep_ms(1);
	atomic_fetch_add(&f->returns, 1);
}

static void kick(struct fixture *f)
{
	evloop_signal_fd(f->efd);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(evloop_init(&f->loop), 0);
	f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(f->efd >= 0);
	assert_int_equal(evloop_add(&f->loop, f->efd, handler, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	atomic_store(&f->block, false);
	evloop_destroy(&f->loop);
	close(f->efd);
	free(f);
	return 0;
}

static void test_park_idle_holds_events_until_unpark(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(evloop_start(&f->loop), 0);
	kick(f);
	assert_true(wait_for(&f->returns, 1));
	assert_int_equal(evloop_park(&f->loop, EVLOOP_PARK_TIMEOUT_MS), 0);
	assert_true(evloop_is_parked(&f->loop));
	assert_int_equal(f->loop.parks, 1);
	kick(f);
	sleep_ms(100);
	assert_int_equal(atomic_load(&f->calls), 1);   /* held while parked */
	assert_int_equal(evloop_unpark(&f->loop), 0);
	assert_false(evloop_is_parked(&f->loop));
	assert_true(wait_for(&f->returns, 2));          /* served after unpark */
	/* And parks again. */
	assert_int_equal(evloop_park(&f->loop, EVLOOP_PARK_TIMEOUT_MS), 0);
	assert_int_equal(f->loop.parks, 2);
	assert_int_equal(evloop_unpark(&f->loop), 0);
}

static void *park_thread(void *arg)
{
	struct fixture *f = arg;

	f->park_rc = evloop_park(&f->loop, EVLOOP_PARK_TIMEOUT_MS);
	f->returns_at_park = atomic_load(&f->returns);
	atomic_store(&f->park_done, true);
	return NULL;
}

static void test_park_waits_for_the_running_handler(void **state)
{
	struct fixture *f = *state;
	pthread_t t;

	assert_int_equal(evloop_start(&f->loop), 0);
	atomic_store(&f->block, true);
	kick(f);
	for (int i = 0; i < 2000 && !atomic_load(&f->entered); i++)
		sleep_ms(1);
	assert_true(atomic_load(&f->entered));
	assert_int_equal(pthread_create(&t, NULL, park_thread, f), 0);
	sleep_ms(100);
	assert_false(atomic_load(&f->park_done));       /* the handler still runs */
	assert_false(evloop_is_parked(&f->loop));
	atomic_store(&f->block, false);
	pthread_join(t, NULL);
	assert_int_equal(f->park_rc, 0);
	assert_int_equal(f->returns_at_park, 1);        /* it had returned first */
	assert_true(evloop_is_parked(&f->loop));
	kick(f);
	sleep_ms(50);
	assert_int_equal(atomic_load(&f->calls), 1);
	assert_int_equal(evloop_unpark(&f->loop), 0);
	assert_true(wait_for(&f->returns, 2));
}

static void test_park_times_out_and_is_withdrawn(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(evloop_start(&f->loop), 0);
	atomic_store(&f->block, true);
	kick(f);
	for (int i = 0; i < 2000 && !atomic_load(&f->entered); i++)
		sleep_ms(1);
	assert_int_equal(evloop_park(&f->loop, 100), -ETIMEDOUT);
	assert_false(evloop_is_parked(&f->loop));
	assert_int_equal(evloop_unpark(&f->loop), -EALREADY);  /* nothing left to undo */
	atomic_store(&f->block, false);
	assert_true(wait_for(&f->returns, 1));
	kick(f);
	assert_true(wait_for(&f->returns, 2));          /* the loop goes on */
	assert_int_equal(f->loop.parks, 0);
}

static void test_stop_while_parked(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(evloop_start(&f->loop), 0);
	assert_int_equal(evloop_park(&f->loop, EVLOOP_PARK_TIMEOUT_MS), 0);
	kick(f);
	evloop_stop(&f->loop);                          /* returns: the thread ended */
	assert_false(f->loop.started);
	assert_int_equal(atomic_load(&f->calls), 0);
	assert_int_equal(evloop_unpark(&f->loop), 0);   /* clears the request */
	assert_int_equal(evloop_unpark(&f->loop), -EALREADY);
}

static void test_misuse(void **state)
{
	struct fixture *f = *state;

	/* No loop thread: parking succeeds at once, twice is refused. */
	assert_int_equal(evloop_unpark(&f->loop), -EALREADY);
	assert_int_equal(evloop_park(&f->loop, 100), 0);
	assert_int_equal(evloop_park(&f->loop, 100), -EALREADY);
	assert_int_equal(evloop_unpark(&f->loop), 0);
	/* From the loop thread itself. */
	f->park_from_handler = true;
	atomic_store(&f->park_result, 1);
	assert_int_equal(evloop_start(&f->loop), 0);
	kick(f);
	assert_true(wait_for(&f->returns, 1));
	assert_int_equal(atomic_load(&f->park_result), -EDEADLK);
	/* Parked twice from outside. */
	assert_int_equal(evloop_park(&f->loop, EVLOOP_PARK_TIMEOUT_MS), 0);
	assert_int_equal(evloop_park(&f->loop, EVLOOP_PARK_TIMEOUT_MS), -EALREADY);
	assert_int_equal(evloop_unpark(&f->loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_park_idle_holds_events_until_unpark, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_park_waits_for_the_running_handler, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_park_times_out_and_is_withdrawn, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stop_while_parked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misuse, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
