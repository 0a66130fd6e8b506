/* Unit tests of `nestvm set NAME`'s option parser and of applying it to a
 * stored configuration (src/cli/set_options.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/options.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/rng.h"

/* Every parse goes into `cur` (freed by the next): s is a shallow copy. */
static struct set_options cur;

static int parse(struct set_options *s, char *err, size_t errlen, ...)
{
	char *argv[32];
	int argc = 0, r;
	va_list ap;

	argv[argc++] = (char *)"web";
	va_start(ap, errlen);
	for (char *a = va_arg(ap, char *); a && argc < 31; a = va_arg(ap, char *))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	options_set_free(&cur);
	r = options_parse_set(argc, argv, &cur, err, errlen);
	*s = cur;
	return r;
}

static bool replaces(const struct set_options *s, const struct device_class *cls)
{
	for (unsigned int i = 0; i < s->n_replace; i++)
		if (s->replace[i] == cls)
			return true;
	return false;
}

static json_t *dev(const struct vm_config *c, const struct device_class *cls, unsigned int i)
{
	for (unsigned int k = 0; k < c->n_devices; k++)
		if (c->devices[k].cls == cls && i-- == 0)
			return c->devices[k].cfg;
	return NULL;
}

static void test_set_scalars(void **state)
{
	struct set_options s;
	char err[256];

	(void)state;
	assert_int_equal(parse(&s, err, sizeof(err), "--cpus", "4", "--memory", "2G", "--nested",
			       "on", "--max-depth", "3", "--rng", "off", NULL), 0);
	assert_true(s.has_cpus && s.has_memory && s.has_nested && s.has_max_depth);
	assert_int_equal(s.cpus, 4);
	assert_int_equal(s.memory, 2ULL << 30);
	assert_true(s.nested);
	assert_int_equal(s.max_depth, 3);
	/* --rng off: the rng list is replaced by an empty one. */
	assert_true(replaces(&s, &virtio_rng_class));
	assert_int_equal(vmconfig_count(&s.dev, &virtio_rng_class), 0);
	assert_false(replaces(&s, &virtio_blk_class) || replaces(&s, &virtio_net_class));
	assert_null(s.kernel);
	assert_int_equal(parse(&s, err, sizeof(err), "--rng", "on", NULL), 0);
	assert_true(replaces(&s, &virtio_rng_class));
	assert_int_equal(vmconfig_count(&s.dev, &virtio_rng_class), 1);
}

static void test_set_only_named_fields(void **state)
{
	struct set_options s;
	char err[256];

	(void)state;
	assert_int_equal(parse(&s, err, sizeof(err), "--nested", "off", NULL), 0);
	assert_true(s.has_nested);
	assert_false(s.nested);
	assert_false(s.has_cpus || s.has_memory || s.has_max_depth);
	assert_int_equal(s.n_replace, 0);
	assert_int_equal(parse(&s, err, sizeof(err), "--max-depth", "none", NULL), 0);
	assert_true(s.has_max_depth);
	assert_int_equal(s.max_depth, 0);
	assert_int_equal(parse(&s, err, sizeof(err), "--initrd", "none", "--cmdline", "", NULL),
			 0);
	assert_string_equal(s.initrd, "none");
	assert_string_equal(s.cmdline, "");
}

static void test_set_devices_replace_lists(void **state)
{
	struct set_options s;
	char err[256];
	json_t *n;

	(void)state;
	assert_int_equal(parse(&s, err, sizeof(err), "--disk", "/a.img", "--disk", "/b.img,ro",
			       NULL), 0);
	assert_true(replaces(&s, &virtio_blk_class));
	assert_false(replaces(&s, &virtio_net_class));
	assert_int_equal(vmconfig_count(&s.dev, &virtio_blk_class), 2);
	assert_string_equal(json_string_value(json_object_get(dev(&s.dev, &virtio_blk_class, 1),
							     "path")), "/b.img");
	assert_true(json_is_true(json_object_get(dev(&s.dev, &virtio_blk_class, 1), "readonly")));
	assert_int_equal(parse(&s, err, sizeof(err), "--no-disks", NULL), 0);
	assert_true(replaces(&s, &virtio_blk_class));
	assert_int_equal(vmconfig_count(&s.dev, &virtio_blk_class), 0);
	assert_int_equal(parse(&s, err, sizeof(err), "--nic", "tap:t0", "--mac-spoofing", "on",
			       "--allow-mac", "02:00:00:00:00:09", NULL), 0);
	assert_true(replaces(&s, &virtio_net_class));
	assert_int_equal(vmconfig_count(&s.dev, &virtio_net_class), 1);
	n = dev(&s.dev, &virtio_net_class, 0);
	assert_string_equal(json_string_value(json_object_get(n, "backend")), "tap");
	assert_true(json_is_true(json_object_get(n, "mac_spoofing")));
	assert_int_equal(json_array_size(json_object_get(n, "allowed_macs")), 1);
	assert_int_equal(parse(&s, err, sizeof(err), "--no-nics", NULL), 0);
	assert_true(replaces(&s, &virtio_net_class));
	assert_int_equal(vmconfig_count(&s.dev, &virtio_net_class), 0);
	/* --disk after --no-disks: the new list is that disk. */
	assert_int_equal(parse(&s, err, sizeof(err), "--no-disks", "--disk", "/c.img", NULL), 0);
	assert_int_equal(vmconfig_count(&s.dev, &virtio_blk_class), 1);
}

/* Applying to a stored configuration: named fields change, device lists
 * of the named classes are replaced, the rest is left alone. */
static void test_set_apply(void **state)
{
	static const char kpath[] = "/tmp/nestvm-setopt-k";
	struct set_options s;
	struct vm_config c;
	char err[256], what[256];
	json_t *nic = NULL;
	FILE *f;

	(void)state;
	f = fopen(kpath, "w");
	assert_non_null(f);
	fputs("k", f);
	fclose(f);
	vmconfig_init(&c);
	assert_int_equal(vmconfig_set_string(&c.name, "web"), 0);
	assert_int_equal(vmconfig_set_string(&c.kernel, "/boot/k"), 0);
	assert_int_equal(vmconfig_add_device(&c, &virtio_blk_class,
					     json_pack("{s:s, s:b}", "path", "/d", "readonly", 0),
					     err, sizeof(err)), 0);
	assert_int_equal(net_config_parse("user", &nic, err, sizeof(err)), 0);
	net_config_default(nic, 0);
	assert_int_equal(vmconfig_add_device(&c, &virtio_net_class, nic, err, sizeof(err)), 0);

	assert_int_equal(parse(&s, err, sizeof(err), "--cpus", "3", "--rng", "on", "--kernel",
			       kpath, "--no-disks", NULL), 0);
	assert_int_equal(options_set_apply(&c, &s, what, sizeof(what), err, sizeof(err)), 0);
	assert_string_equal(what, "vCPUs, kernel, rng, disks");
	assert_int_equal(c.cpus, 3);
	assert_string_equal(c.kernel, kpath);
	assert_int_equal(vmconfig_count(&c, &virtio_blk_class), 0);
	assert_int_equal(vmconfig_count(&c, &virtio_net_class), 1);   /* untouched */
	assert_int_equal(vmconfig_count(&c, &virtio_rng_class), 1);

	/* A disk that is not there: -ENOENT naming it, nothing else checked. */
	assert_int_equal(parse(&s, err, sizeof(err), "--disk", "/nonexistent/x.img", NULL), 0);
	assert_int_equal(options_set_apply(&c, &s, what, sizeof(what), err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "disk /nonexistent/x.img"));
	/* A relative disk path is stored absolute. */
	assert_int_equal(parse(&s, err, sizeof(err), "--disk", kpath + 5, NULL), 0);
	assert_int_equal(chdir("/tmp"), 0);
	assert_int_equal(options_set_apply(&c, &s, what, sizeof(what), err, sizeof(err)), 0);
	assert_string_equal(json_string_value(json_object_get(dev(&c, &virtio_blk_class, 0),
							     "path")), kpath);
	vmconfig_free(&c);
	unlink(kpath);
}

static void test_set_errors(void **state)
{
	static const char *const bad[][3] = {
		{ "--cpus", "0", "--cpus" },
		{ "--cpus", "x", "not a number" },
		{ "--memory", "1K", "too small" },
		{ "--nested", "yes", "use on or off" },
		{ "--rng", "maybe", "use on or off" },
		{ "--max-depth", "0", "out of range" },
		{ "--max-depth", "65", "out of range" },
		{ "--kernel", "", "needs a path" },
		{ "--mac", "01:00:00:00:00:01", "unicast" },
		{ "--forward", "udp:1:2", "tcp:HOSTPORT:GUESTPORT" },
		{ "--bogus", "1", "unknown option '--bogus'" },
		{ "--no-rng", "1", "unknown option '--no-rng'" },
	};
	struct set_options s;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&s, err, sizeof(err), bad[i][0], bad[i][1], NULL), -EINVAL);
		if (!strstr(err, bad[i][2]))
			fail_msg("%s %s: '%s' lacks '%s'", bad[i][0], bad[i][1], err, bad[i][2]);
	}
	assert_int_equal(parse(&s, err, sizeof(err), NULL), -EINVAL);
	assert_non_null(strstr(err, "nothing to change"));
	assert_int_equal(parse(&s, err, sizeof(err), "--cpus", NULL), -EINVAL);
	assert_non_null(strstr(err, "needs a value"));
	assert_int_equal(parse(&s, err, sizeof(err), "--cpus", "2", "extra", NULL), -EINVAL);
	assert_non_null(strstr(err, "unexpected argument 'extra'"));
}

static void test_set_help(void **state)
{
	struct set_options s;
	char err[256];

	(void)state;
	assert_int_equal(parse(&s, err, sizeof(err), "--help", NULL), 0);
	assert_true(s.help);
	assert_non_null(strstr(options_set_usage(), "only while the VM is stopped"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_scalars),
		cmocka_unit_test(test_set_only_named_fields),
		cmocka_unit_test(test_set_devices_replace_lists),
		cmocka_unit_test(test_set_apply),
		cmocka_unit_test(test_set_errors),
		cmocka_unit_test(test_set_help),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);

	options_set_free(&cur);
	return r;
}
