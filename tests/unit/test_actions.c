/* Unit tests of the action queue between the API thread and the VM
 * process's main thread (src/control/actions.c): results come back to the
 * submitter, the eventfd is readable exactly while actions wait, an action
 * nobody takes is withdrawn after its timeout and never runs, one already
 * taken is waited for past the timeout, and a closed queue refuses and
 * cancels. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "control/actions.h"

struct fixture {
	struct action_queue q;
	pthread_t main;
	atomic_bool stop;
	int delay_ms;              /* the main thread's time per action */
	atomic_int ran[VMPROC_ACT_COUNT];
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* A stand-in for the main thread: poll the fd, carry out, post. */
static void *main_thread(void *arg)
{
	struct fixture *f = arg;

	while (!atomic_load(&f->stop)) {
		struct pollfd p = { .fd = action_queue_fd(&f->q), .events = POLLIN };
		struct vmproc_action *a;

		if (poll(&p, 1, 20) <= 0)
			continue;
		while ((a = action_queue_take(&f->q))) {
			if (f->delay_ms)
				sleep_ms(f->delay_ms);
			atomic_fetch_add(&f->ran[a->kind], 1);
			if (a->kind == VMPROC_ACT_PAUSE) {
				a->status = 409;
				snprintf(a->err, sizeof(a->err), "refused");
			} else {
				a->reply = json_pack("{s:s}", "did", vmproc_action_name(a->kind));
			}
			action_queue_done(&f->q, a);
		}
	}
	return NULL;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(action_queue_init(&f->q), 0);
	*state = f;
	return 0;
}

static void start_main(struct fixture *f)
{
	assert_int_equal(pthread_create(&f->main, NULL, main_thread, f), 0);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->main) {
		atomic_store(&f->stop, true);
		pthread_join(f->main, NULL);
	}
	action_queue_destroy(&f->q);
	free(f);
	return 0;
}

static void test_results_reach_the_submitter(void **state)
{
	struct fixture *f = *state;
	struct vmproc_action a = { .kind = VMPROC_ACT_NESTED };

	action_queue_set_open(&f->q, true);
	start_main(f);
	assert_int_equal(action_queue_submit(&f->q, &a, 2000), 0);
	assert_int_equal(a.status, 0);
	assert_non_null(a.reply);
	assert_string_equal(json_string_value(json_object_get(a.reply, "did")), "nested");
	json_decref(a.reply);
	a = (struct vmproc_action){ .kind = VMPROC_ACT_PAUSE };
	assert_int_equal(action_queue_submit(&f->q, &a, 2000), 0);
	assert_int_equal(a.status, 409);
	assert_string_equal(a.err, "refused");
	assert_null(a.reply);
	assert_int_equal(atomic_load(&f->ran[VMPROC_ACT_PAUSE]), 1);
	assert_int_equal(f->q.served, 2);
	assert_false(readable(action_queue_fd(&f->q)));
}

static void test_untaken_action_is_withdrawn(void **state)
{
	struct fixture *f = *state;
	struct vmproc_action a = { .kind = VMPROC_ACT_RESUME };

	action_queue_set_open(&f->q, true);
	assert_int_equal(action_queue_submit(&f->q, &a, 100), -ETIMEDOUT);
	assert_false(readable(action_queue_fd(&f->q)));   /* nothing waits */
	assert_null(action_queue_take(&f->q));              /* it never runs */
	assert_int_equal(f->q.served, 0);
}

static void test_taken_action_is_waited_for(void **state)
{
	struct fixture *f = *state;
	struct vmproc_action a = { .kind = VMPROC_ACT_SHUTDOWN };

	f->delay_ms = 400;
	action_queue_set_open(&f->q, true);
	start_main(f);
	assert_int_equal(action_queue_submit(&f->q, &a, 150), 0);
	assert_int_equal(atomic_load(&f->ran[VMPROC_ACT_SHUTDOWN]), 1);
	assert_non_null(a.reply);
	json_decref(a.reply);
}

static void *submit_thread(void *arg)
{
	struct fixture *f = arg;
	struct vmproc_action a = { .kind = VMPROC_ACT_POWEROFF };
	intptr_t r = action_queue_submit(&f->q, &a, 5000);

	return (void *)r;
}

static void test_closed_queue_refuses_and_cancels(void **state)
{
	struct fixture *f = *state;
	struct vmproc_action a = { .kind = VMPROC_ACT_DESCRIBE };
	pthread_t t;
	void *rv;

	assert_int_equal(action_queue_submit(&f->q, &a, 100), -ECANCELED);  /* never opened */
	action_queue_set_open(&f->q, true);
	assert_int_equal(pthread_create(&t, NULL, submit_thread, f), 0);
	for (int i = 0; i < 2000 && !readable(action_queue_fd(&f->q)); i++)
		sleep_ms(1);
	assert_true(readable(action_queue_fd(&f->q)));
	action_queue_set_open(&f->q, false);                  /* between boots */
	pthread_join(t, &rv);
	assert_int_equal((intptr_t)rv, -ECANCELED);
	assert_false(readable(action_queue_fd(&f->q)));
	assert_int_equal(atomic_load(&f->ran[VMPROC_ACT_POWEROFF]), 0);
	assert_string_equal(vmproc_action_name(VMPROC_ACT_POWEROFF), "poweroff");
	assert_string_equal(vmproc_action_name(VMPROC_ACT_COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_results_reach_the_submitter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_untaken_action_is_withdrawn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_taken_action_is_waited_for, setup, teardown),
		cmocka_unit_test_setup_teardown(test_closed_queue_refuses_and_cancels, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
