/* Unit tests of `nestvm check NAME`'s verdicts and fixes
 * (src/lifecycle/vm_check.c) over hand-built definitions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lifecycle/vm_check.h"
#include "virtio/net.h"

struct run {
	struct vm_check_item it[VM_CHECK_MAX];
	int n;
};

/* d is zeroed or a definition made here. */
static void def_ready(struct vm_config *d)
{
	char err[128];
	json_t *nic = NULL;

	vmconfig_free(d);
	vmconfig_init(d);
	assert_int_equal(vmconfig_set_string(&d->name, "web"), 0);
	assert_int_equal(vmconfig_set_string(&d->kernel, "/boot/vmlinuz"), 0);
	d->cpus = 2;
	d->memory = 2ULL << 30;
	d->nested = true;
	assert_int_equal(net_config_parse("user", &nic, err, sizeof(err)), 0);
	net_config_default(nic, 0);
	assert_int_equal(vmconfig_add_device(d, &virtio_net_class, nic, err, sizeof(err)), 0);
}

/* The first NIC's configuration object. */
static json_t *nic0(struct vm_config *d)
{
	for (unsigned int i = 0; i < d->n_devices; i++)
		if (d->devices[i].cls == &virtio_net_class)
			return d->devices[i].cfg;
	fail_msg("no NIC");
	return NULL;
}

static void nic0_tap(struct vm_config *d, const char *name)
{
	json_object_set_new(nic0(d), "backend", json_string("tap"));
	json_object_set_new(nic0(d), "tap", name ? json_string(name) : json_null());
}

static const struct vm_check_item *find(const struct run *r, const char *id, enum vm_fix fix)
{
	for (int i = 0; i < r->n; i++)
		if (strcmp(r->it[i].r.id, id) == 0 && (fix == VM_FIX_NONE || r->it[i].fix == fix))
			return &r->it[i];
	return NULL;
}

static int count_status(const struct run *r, enum check_status st)
{
	int n = 0;

	for (int i = 0; i < r->n; i++)
		n += r->it[i].r.status == st;
	return n;
}

static void run_check(const struct vm_config *d, enum vm_state st, struct run *r)
{
	r->n = vm_check_def(d, st, r->it, VM_CHECK_MAX);
	assert_true(r->n > 0 && r->n <= VM_CHECK_MAX);
}

static void test_ready_vm_has_no_findings(void **state)
{
	struct vm_config d = { 0 };
	struct run r;

	(void)state;
	def_ready(&d);
	run_check(&d, VM_STATE_STOPPED, &r);
	assert_int_equal(count_status(&r, CHECK_FAIL), 0);
	assert_int_equal(count_status(&r, CHECK_WARN), 0);
	/* Running but already right: nothing asks it to stop. */
	run_check(&d, VM_STATE_RUNNING, &r);
	assert_null(find(&r, "state", VM_FIX_STOP));
	assert_int_equal(count_status(&r, CHECK_FAIL), 0);
	vmconfig_free(&d);
}

static void test_nested_off_fails_with_fix(void **state)
{
	const struct vm_check_item *it;
	struct vm_config d = { 0 };
	struct run r;

	(void)state;
	def_ready(&d);
	d.nested = false;
	run_check(&d, VM_STATE_STOPPED, &r);
	it = find(&r, "nested", VM_FIX_NESTED_ON);
	assert_non_null(it);
	assert_int_equal(it->r.status, CHECK_FAIL);
	assert_non_null(strstr(it->r.fix, "nestvm set web --nested on"));
	assert_non_null(strstr(it->r.reason, "off"));
	vmconfig_free(&d);
}

static void test_running_vm_must_stop_for_changes(void **state)
{
	static const enum vm_state active[] = { VM_STATE_STARTING, VM_STATE_RUNNING,
						VM_STATE_PAUSED, VM_STATE_STOPPING };
	const struct vm_check_item *it;
	struct vm_config d = { 0 };
	struct run r;

	(void)state;
	def_ready(&d);
	d.nested = false;
	for (size_t i = 0; i < sizeof(active) / sizeof(active[0]); i++) {
		run_check(&d, active[i], &r);
		it = find(&r, "state", VM_FIX_STOP);
		assert_non_null(it);
		assert_int_equal(it->r.status, CHECK_FAIL);
		assert_non_null(strstr(it->r.reason, vm_state_name(active[i])));
		assert_non_null(strstr(it->r.fix, "nestvm stop web"));
	}
	run_check(&d, VM_STATE_CRASHED, &r);
	assert_null(find(&r, "state", VM_FIX_STOP));
	vmconfig_free(&d);
}

static void test_memory_below_minimum_warns(void **state)
{
	const struct vm_check_item *it;
	struct vm_config d = { 0 };
	struct run r;

	(void)state;
	def_ready(&d);
	d.memory = 512ULL << 20;
	run_check(&d, VM_STATE_STOPPED, &r);
	it = find(&r, "memory", VM_FIX_MEMORY);
	assert_non_null(it);
	assert_int_equal(it->r.status, CHECK_WARN);
	assert_non_null(strstr(it->r.reason, "512 MiB"));
	assert_non_null(strstr(it->r.fix, "--memory 1G"));
	d.memory = VM_CHECK_MEMORY_MIN;
	run_check(&d, VM_STATE_STOPPED, &r);
	assert_null(find(&r, "memory", VM_FIX_MEMORY));
	vmconfig_free(&d);
}

static void test_max_depth_one_fails(void **state)
{
	const struct vm_check_item *it;
	struct vm_config d = { 0 };
	struct run r;

	(void)state;
	def_ready(&d);
	d.max_depth = 1;
	run_check(&d, VM_STATE_STOPPED, &r);
	it = find(&r, "max-depth", VM_FIX_MAX_DEPTH);
	assert_non_null(it);
	assert_int_equal(it->r.status, CHECK_FAIL);
	d.max_depth = 2;
	run_check(&d, VM_STATE_STOPPED, &r);
	assert_null(find(&r, "max-depth", VM_FIX_MAX_DEPTH));
	assert_int_equal(count_status(&r, CHECK_FAIL), 0);
	vmconfig_free(&d);
}

static void test_network_findings(void **state)
{
	const struct vm_check_item *it;
	struct vm_config d = { 0 };
	struct run r;

	(void)state;
	def_ready(&d);
	vmconfig_remove_class(&d, &virtio_net_class);
	run_check(&d, VM_STATE_STOPPED, &r);
	it = find(&r, "network", VM_FIX_ADD_NIC);
	assert_non_null(it);
	assert_int_equal(it->r.status, CHECK_WARN);
	assert_non_null(strstr(it->r.fix, "--nic user"));

	/* A tap NIC without spoofing: bridged nested guests are cut off. */
	def_ready(&d);
	nic0_tap(&d, "tap7");
	run_check(&d, VM_STATE_STOPPED, &r);
	it = find(&r, "mac-spoofing", VM_FIX_SPOOFING);
	assert_non_null(it);
	assert_int_equal(it->nic, 0);
	assert_non_null(strstr(it->r.fix, "tap:tap7 --mac-spoofing on"));
	/* An allowed MAC or spoofing on: no finding. */
	json_array_append_new(json_object_get(nic0(&d), "allowed_macs"),
			      json_string("02:00:00:00:00:09"));
	run_check(&d, VM_STATE_STOPPED, &r);
	assert_null(find(&r, "mac-spoofing", VM_FIX_NONE));
	json_array_clear(json_object_get(nic0(&d), "allowed_macs"));
	json_object_set_new(nic0(&d), "mac_spoofing", json_true());
	run_check(&d, VM_STATE_STOPPED, &r);
	assert_null(find(&r, "mac-spoofing", VM_FIX_NONE));
	vmconfig_free(&d);
}

static void test_apply_fixes_everything(void **state)
{
	struct vm_config d = { 0 }, orig;
	struct run r;
	char diff[1024];

	(void)state;
	def_ready(&d);
	d.nested = false;
	d.memory = 256ULL << 20;
	d.max_depth = 1;
	vmconfig_remove_class(&d, &virtio_net_class);
	assert_int_equal(vmconfig_copy(&orig, &d), 0);
	run_check(&d, VM_STATE_RUNNING, &r);
	assert_int_equal(vm_check_apply(&d, r.it, r.n), 4);
	assert_true(d.nested);
	assert_int_equal(d.memory, VM_CHECK_MEMORY_MIN);
	assert_int_equal(d.max_depth, 0);
	assert_int_equal(vmconfig_count(&d, &virtio_net_class), 1);
	assert_string_equal(json_string_value(json_object_get(nic0(&d), "backend")), "user");
	assert_string_equal(json_string_value(json_object_get(nic0(&d), "mac")),
			    "02:4e:56:00:00:01");   /* unicast */
	assert_int_equal(vmconfig_check(&d, diff, sizeof(diff)), 0);
	vm_check_diff(&orig, &d, diff, sizeof(diff));
	assert_non_null(strstr(diff, "nested virtualization: off -> on"));
	assert_non_null(strstr(diff, "memory: 256 MiB -> 1024 MiB"));
	assert_non_null(strstr(diff, "max depth: 1 -> none"));
	assert_non_null(strstr(diff, "NICs: 0 -> 1"));
	/* Applying again changes nothing, and a fixed VM has no FAIL left. */
	assert_int_equal(vm_check_apply(&d, r.it, r.n), 0);
	run_check(&d, VM_STATE_STOPPED, &r);
	assert_int_equal(count_status(&r, CHECK_FAIL), 0);
	assert_int_equal(count_status(&r, CHECK_WARN), 0);
	vmconfig_free(&orig);
	vmconfig_free(&d);
}

static void test_spoofing_fix_and_bounds(void **state)
{
	struct vm_check_item it;
	struct vm_config d = { 0 };
	char diff[256];

	(void)state;
	def_ready(&d);
	nic0_tap(&d, NULL);
	memset(&it, 0, sizeof(it));
	it.fix = VM_FIX_SPOOFING;
	it.nic = 3;                    /* out of range: ignored */
	assert_int_equal(vm_check_apply(&d, &it, 1), 0);
	it.nic = 0;
	struct vm_config before;
	assert_int_equal(vmconfig_copy(&before, &d), 0);
	assert_int_equal(vm_check_apply(&d, &it, 1), 1);
	assert_true(json_is_true(json_object_get(nic0(&d), "mac_spoofing")));
	vm_check_diff(&before, &d, diff, sizeof(diff));
	assert_non_null(strstr(diff, "NIC 0 MAC spoofing: off -> on"));
	vmconfig_free(&before);
	vmconfig_free(&d);
}

static void test_item_limit_respected(void **state)
{
	struct vm_check_item it[3];
	struct vm_config d = { 0 };

	(void)state;
	def_ready(&d);
	d.nested = false;
	vmconfig_remove_class(&d, &virtio_net_class);
	assert_int_equal(vm_check_def(&d, VM_STATE_RUNNING, it, 3), 3);
	vmconfig_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready_vm_has_no_findings),
		cmocka_unit_test(test_nested_off_fails_with_fix),
		cmocka_unit_test(test_running_vm_must_stop_for_changes),
		cmocka_unit_test(test_memory_below_minimum_warns),
		cmocka_unit_test(test_max_depth_one_fails),
		cmocka_unit_test(test_network_findings),
		cmocka_unit_test(test_apply_fixes_everything),
		cmocka_unit_test(test_spoofing_fix_and_bounds),
		cmocka_unit_test(test_item_limit_respected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
