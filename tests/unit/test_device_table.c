/* Unit tests of the device table (src/devices/table.c) and of the
 * configuration half of every class in it: the order (board devices, then
 * disks, NICs, rng, which fixes the PCI slots), the look-ups, the fields
 * each class fills in, and each class's parse/check. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/options.h"
#include "devices/table.h"
#include "hw/acpi_pm.h"
#include "hw/i8042.h"
#include "hw/pci.h"
#include "hw/serial.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/rng.h"

static void test_order_and_names(void **state)
{
	static const char *const names[] = { "serial", "i8042", "acpi-pm", "pci-host",
					     "virtio-blk", "virtio-net", "virtio-rng" };
	const struct device_class *const want[] = { &serial_class, &i8042_class, &acpi_pm_class,
						    &pci_host_class, &virtio_blk_class,
						    &virtio_net_class, &virtio_rng_class };

	(void)state;
	assert_int_equal(device_table_len, 7);
	for (size_t i = 0; i < device_table_len; i++) {
		assert_ptr_equal(device_table[i], want[i]);
		assert_string_equal(device_table[i]->name, names[i]);
		assert_int_equal(device_table_index(want[i]), (int)i);
		assert_ptr_equal(device_find_name(names[i]), want[i]);
		/* Every class can be created and destroyed. */
		assert_non_null(device_table[i]->create);
		assert_non_null(device_table[i]->destroy);
		/* Board devices first, always there, with no configuration. */
		assert_int_equal(device_table[i]->board, i < 4);
		if (device_table[i]->board) {
			assert_null(device_table[i]->cli_option);
			assert_null(device_table[i]->json_key);
		} else {
			assert_non_null(device_table[i]->config_parse);
			assert_non_null(device_table[i]->config_check);
			assert_true(device_table[i]->max_count > 0);
		}
	}
	assert_null(device_find_name("virtio-gpu"));
	assert_null(device_find_name(NULL));
	assert_int_equal(device_table_index(NULL), -1);
}

static void test_lookups(void **state)
{
	(void)state;
	assert_ptr_equal(device_find_option("disk"), &virtio_blk_class);
	assert_ptr_equal(device_find_option("nic"), &virtio_net_class);
	assert_ptr_equal(device_find_option("rng"), &virtio_rng_class);
	assert_null(device_find_option("mac"));
	assert_null(device_find_option("cpus"));
	assert_ptr_equal(device_find_modifier("mac"), &virtio_net_class);
	assert_ptr_equal(device_find_modifier("mac-spoofing"), &virtio_net_class);
	assert_ptr_equal(device_find_modifier("allow-mac"), &virtio_net_class);
	assert_ptr_equal(device_find_modifier("forward"), &virtio_net_class);
	assert_null(device_find_modifier("disk"));
	assert_ptr_equal(device_find_json_key("disks"), &virtio_blk_class);
	assert_ptr_equal(device_find_json_key("nics"), &virtio_net_class);
	assert_ptr_equal(device_find_json_key("rng"), &virtio_rng_class);
	assert_null(device_find_json_key("serial"));
	assert_int_equal(virtio_blk_class.max_count, 8);
	assert_int_equal(virtio_net_class.max_count, 4);
	assert_int_equal(virtio_rng_class.max_count, 1);
	assert_true(virtio_rng_class.cli_flag);
	assert_false(virtio_blk_class.cli_flag || virtio_net_class.cli_flag);
	assert_string_equal(virtio_blk_class.config_path_key, "path");
	assert_null(virtio_net_class.config_path_key);
	assert_string_equal(virtio_net_class.cli_default_arg, "user");
}

static void test_blk_config(void **state)
{
	const struct device_class *c = &virtio_blk_class;
	struct blk_config bc;
	char err[256];
	json_t *j;

	(void)state;
	assert_int_equal(c->config_parse("a.img,readonly", &j, err, sizeof(err)), 0);
	assert_int_equal(c->config_check(j, err, sizeof(err)), 0);
	assert_int_equal(blk_config_from_json(j, &bc, err, sizeof(err)), 0);
	assert_string_equal(bc.path, "a.img");
	assert_true(bc.readonly);
	json_decref(j);
	/* ",ro" only at the end names read-only; "a,b" is a path. */
	assert_int_equal(c->config_parse("a,b", &j, err, sizeof(err)), 0);
	assert_string_equal(json_string_value(json_object_get(j, "path")), "a,b");
	json_decref(j);
	assert_int_equal(c->config_parse(",ro", &j, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--disk needs a path");
	assert_null(j);
	j = json_pack("{s:s, s:i}", "path", "/a", "cache", 1);
	assert_int_equal(c->config_check(j, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unknown field \"cache\"");
	json_decref(j);
	j = json_pack("{s:i}", "path", 3);
	assert_int_equal(c->config_check(j, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "\"path\" must be a string");
	json_decref(j);
}

static void test_net_config(void **state)
{
	const struct device_class *c = &virtio_net_class;
	struct net_config nc;
	char err[256];
	json_t *j;

	(void)state;
	assert_int_equal(c->config_parse("tap:tap0", &j, err, sizeof(err)), 0);
	/* No MAC until the default (by index) or --mac. */
	assert_int_equal(c->config_check(j, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "\"mac\" is required");
	c->config_default(j, 2);
	assert_string_equal(json_string_value(json_object_get(j, "mac")), "02:4e:56:00:00:03");
	c->config_default(j, 0);   /* a MAC already there stays */
	assert_string_equal(json_string_value(json_object_get(j, "mac")), "02:4e:56:00:00:03");
	assert_int_equal(c->config_modify(j, "mac", "02:AA:bb:cc:dd:ee", err, sizeof(err)), 0);
	assert_int_equal(c->config_modify(j, "mac-spoofing", "on", err, sizeof(err)), 0);
	assert_int_equal(c->config_modify(j, "allow-mac", "02:00:00:00:00:05", err, sizeof(err)),
			 0);
	assert_int_equal(c->config_modify(j, "forward", "tcp:1:2", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--forward needs a user-mode NIC (--nic user)");
	assert_int_equal(c->config_modify(j, "vlan", "3", err, sizeof(err)), -EINVAL);
	assert_int_equal(c->config_check(j, err, sizeof(err)), 0);
	assert_int_equal(net_config_from_json(j, &nc, err, sizeof(err)), 0);
	assert_int_equal(nc.backend, NET_BACKEND_TAP);
	assert_string_equal(nc.tap_name, "tap0");
	assert_memory_equal(nc.mac, "\x02\xaa\xbb\xcc\xdd\xee", 6);
	assert_true(nc.mac_spoofing);
	assert_int_equal(nc.n_allowed, 1);
	assert_int_equal(nc.n_forwards, 0);
	json_decref(j);

	assert_int_equal(c->config_parse("user", &j, err, sizeof(err)), 0);
	c->config_default(j, 0);
	for (int i = 0; i < NET_MAX_FORWARDS; i++)
		assert_int_equal(c->config_modify(j, "forward", "tcp:8080:80", err, sizeof(err)), 0);
	assert_int_equal(c->config_modify(j, "forward", "tcp:8080:80", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "too many --forward: at most 8 a NIC");
	assert_int_equal(net_config_from_json(j, &nc, err, sizeof(err)), 0);
	assert_int_equal(nc.n_forwards, NET_MAX_FORWARDS);
	assert_int_equal(nc.forwards[7].host_port, 8080);
	json_decref(j);
	assert_int_equal(c->config_parse("bridge", &j, err, sizeof(err)), -EINVAL);
	assert_null(j);
}

static void test_rng_config(void **state)
{
	const struct device_class *c = &virtio_rng_class;
	char err[128];
	json_t *j = (json_t *)&j;

	(void)state;
	assert_int_equal(c->config_parse(NULL, &j, err, sizeof(err)), 0);
	assert_null(j);
	assert_int_equal(c->config_check(NULL, err, sizeof(err)), 0);
	j = json_object();
	assert_int_equal(c->config_check(j, err, sizeof(err)), -EINVAL);
	json_decref(j);
}

/* The help of run and set lists every configurable class's option, from
 * the class itself (cli_help), so a new device needs no edit there. */
static void test_usage_from_classes(void **state)
{
	const char *run = options_run_usage(), *set = options_set_usage();
	char opt[64];

	(void)state;
	for (size_t t = 0; t < device_table_len; t++) {
		const struct device_class *c = device_table[t];

		if (!c->cli_option) {
			assert_null(c->cli_help);
			continue;
		}
		assert_non_null(c->cli_help);
		assert_non_null(strstr(run, c->cli_help));
		snprintf(opt, sizeof(opt), "--%s ", c->cli_option);
		assert_non_null(strstr(set, opt));
	}
	assert_non_null(strstr(run, "usage: nestvm run --kernel PATH"));
	assert_non_null(strstr(run, "Exit status: 0 when the guest powers off"));
	assert_non_null(strstr(set, "--no-disks"));
	assert_non_null(strstr(set, "--rng on|off"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_from_classes),
		cmocka_unit_test(test_order_and_names),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_blk_config),
		cmocka_unit_test(test_net_config),
		cmocka_unit_test(test_rng_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
