/* Unit tests of the quiesce point (src/machine/quiesce.c) with a real I/O
 * loop and recording units (no KVM: no vCPUs): the loop is parked before
 * any unit is quiesced and stays parked until every unit has resumed,
 * units quiesce in order and resume in reverse, events that arrive while
 * quiesced are served after resume, a class without a quiesce hook is
 * skipped, and misuse is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "machine/quiesce.h"

struct fixture {
	struct evloop loop;
	struct machine_quiesce q;
	int efd;
	atomic_int served;
	char log[64];              /* "q0 q1 r1 r0 " */
	size_t log_len;
	bool loop_parked_seen[4];  /* what each unit saw when called */
};

struct unit {
	struct fixture *f;
	int id;
};

static struct unit units[4];

static void note(struct fixture *f, char what, int id)
{
	f->log_len += (size_t)snprintf(f->log + f->log_len, sizeof(f->log) - f->log_len, "%c%d ",
				       what, id);
}

static void unit_quiesce(void *dev)
{
	struct unit *u = dev;

	u->f->loop_parked_seen[u->id] = evloop_is_parked(&u->f->loop);
	note(u->f, 'q', u->id);
}

static void unit_resume(void *dev)
{
	struct unit *u = dev;

	assert_true(evloop_is_parked(&u->f->loop));   /* still parked while units resume */
	note(u->f, 'r', u->id);
}

static void handler(void *opaque, int fd)
{
	struct fixture *f = opaque;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) == sizeof(n))
		atomic_fetch_add(&f->served, 1);
}

static bool wait_served(struct fixture *f, int want)
{
	struct timespec ms = { 0, 1000000L };

	for (int i = 0; i < 2000; i++) {
		if (atomic_load(&f->served) >= want)
			return true;
		nanosleep(&ms, NULL);
	}
	return false;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(evloop_init(&f->loop), 0);
	f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(f->efd >= 0);
	assert_int_equal(evloop_add(&f->loop, f->efd, handler, f), 0);
	assert_int_equal(evloop_start(&f->loop), 0);
	machine_quiesce_init(&f->q, NULL, &f->loop);
	for (int i = 0; i < 4; i++)
		units[i] = (struct unit){ f, i };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	evloop_destroy(&f->loop);
	close(f->efd);
	free(f);
	return 0;
}

static void test_order_and_parking(void **state)
{
	struct fixture *f = *state;
	char err[256];

	assert_int_equal(machine_quiesce_add(&f->q, "a", unit_quiesce, unit_resume, &units[0]), 0);
	assert_int_equal(machine_quiesce_add(&f->q, "b", unit_quiesce, unit_resume, &units[1]), 0);
	evloop_signal_fd(f->efd);
	assert_true(wait_served(f, 1));
	assert_int_equal(machine_quiesce(&f->q, err, sizeof(err)), 0);
	assert_true(machine_is_quiesced(&f->q));
	assert_true(f->loop_parked_seen[0]);
	assert_true(f->loop_parked_seen[1]);
	assert_string_equal(f->log, "q0 q1 ");
	evloop_signal_fd(f->efd);
	{
		struct timespec t = { 0, 100000000L };
		nanosleep(&t, NULL);
	}
	assert_int_equal(atomic_load(&f->served), 1);  /* held while quiesced */
	assert_int_equal(machine_quiesce(&f->q, err, sizeof(err)), -EALREADY);
	assert_int_equal(machine_resume(&f->q), 0);
	assert_string_equal(f->log, "q0 q1 r1 r0 ");
	assert_false(machine_is_quiesced(&f->q));
	assert_false(evloop_is_parked(&f->loop));
	assert_true(wait_served(f, 2));                 /* served after resume */
	assert_int_equal(machine_resume(&f->q), -EALREADY);
	assert_int_equal(f->q.count, 1);
}

static void test_classes(void **state)
{
	struct fixture *f = *state;
	struct device_class none = { .name = "plain" };
	struct device_class half = { .name = "half", .quiesce = unit_quiesce };
	struct device_class both = { .name = "both", .quiesce = unit_quiesce,
				     .resume = unit_resume };
	char err[256];

	assert_int_equal(machine_quiesce_add_class(&f->q, &none, &units[0]), 0);
	assert_int_equal(f->q.n_units, 0);              /* no hook: skipped */
	assert_int_equal(machine_quiesce_add_class(&f->q, &half, &units[0]), -EINVAL);
	assert_int_equal(machine_quiesce_add_class(&f->q, &both, &units[2]), 0);
	assert_int_equal(f->q.n_units, 1);
	assert_string_equal(f->q.units[0].name, "both");
	assert_int_equal(machine_quiesce(&f->q, err, sizeof(err)), 0);
	assert_int_equal(machine_resume(&f->q), 0);
	assert_string_equal(f->log, "q2 r2 ");
}

static void test_full(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < QUIESCE_MAX_UNITS; i++)
		assert_int_equal(machine_quiesce_add(&f->q, "u", unit_quiesce, unit_resume,
						     &units[0]), 0);
	assert_int_equal(machine_quiesce_add(&f->q, "u", unit_quiesce, unit_resume, &units[0]),
			 -ENOSPC);
	assert_int_equal(machine_quiesce_add(&f->q, "u", NULL, unit_resume, &units[0]), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_and_parking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_classes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
