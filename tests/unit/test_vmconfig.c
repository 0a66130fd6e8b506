/* Unit tests of src/config/vmconfig.c: names, definitions from run options
 * (relative paths made absolute), copies, device lists, and JSON both ways
 * with every check (formerly test_vmdef.c, for struct vm_def). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/options.h"
#include "config/vmconfig.h"
#include "devices/table.h"
#include "hw/serial.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/rng.h"

#define MIB (1ULL << 20)

struct fixture {
	char dir[64];        /* a temp dir holding the files below */
	char real[PATH_MAX]; /* its realpath() */
	char oldcwd[PATH_MAX];
};

static void touch(const char *dir, const char *name)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char p[PATH_MAX];

	snprintf(f->dir, sizeof(f->dir), "/tmp/nestvm-vmdef-XXXXXX");
	if (!mkdtemp(f->dir) || !realpath(f->dir, f->real) || !getcwd(f->oldcwd, sizeof(f->oldcwd)))
		return -1;
	touch(f->dir, "vmlinuz");
	touch(f->dir, "initrd.gz");
	touch(f->dir, "disk0.img");
	touch(f->dir, "disk1.img");
	snprintf(p, sizeof(p), "%s/subdir", f->dir);
	if (mkdir(p, 0700))
		return -1;
	if (chdir(f->dir))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const files[] = { "vmlinuz", "initrd.gz", "disk0.img", "disk1.img" };
	char p[PATH_MAX];

	if (chdir(f->oldcwd))
		return -1;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, files[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/subdir", f->dir);
	rmdir(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* What `nestvm create NAME` does with a `run` command line (NULL-terminated
 * words): parse, name, make the paths absolute, check. */
static int define(struct vm_config *d, const char *name, const char **words, char *err,
		  size_t errlen)
{
	struct run_options o;
	char *argv[64];
	int argc = 0, r;

	argv[argc++] = (char *)"run";
	while (*words)
		argv[argc++] = (char *)*words++;
	argv[argc] = NULL;
	err[0] = '\0';
	r = options_parse_run(argc, argv, &o, err, errlen);
	if (!r)
		r = vmconfig_set_string(&o.cfg.name, name);
	if (!r)
		r = vmconfig_resolve_paths(&o.cfg, err, errlen);
	if (!r)
		r = vmconfig_check(&o.cfg, err, errlen);
	*d = o.cfg;   /* d owns it now */
	if (r)
		vmconfig_free(d);
	return r;
}

/* The i-th device of a class's configuration object. */
static json_t *dev_cfg(const struct vm_config *d, const struct device_class *cls, unsigned int i)
{
	for (unsigned int k = 0; k < d->n_devices; k++)
		if (d->devices[k].cls == cls && i-- == 0)
			return d->devices[k].cfg;
	return NULL;
}

static const char *dev_str(const struct vm_config *d, const struct device_class *cls,
			   unsigned int i, const char *key)
{
	return json_string_value(json_object_get(dev_cfg(d, cls, i), key));
}

/* ---- names ---- */

static void test_names(void **state)
{
	static const char *const good[] = { "web", "a", "9", "A1.b_c-d", "web-01.prod" };
	static const char *const bad[] = { "", "-web", ".web", "_web", "web/1", "we b", "w\xc3\xa9",
					   "web;rm", "web\n", "../x" };
	char name[80], err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(vmconfig_check_name(good[i], err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (vmconfig_check_name(bad[i], err, sizeof(err)) != -EINVAL)
			fail_msg("name \"%s\" accepted", bad[i]);
		assert_true(strlen(err) > 0);
	}
	assert_int_equal(vmconfig_check_name(NULL, err, sizeof(err)), -EINVAL);
	memset(name, 'a', VMCFG_NAME_MAX);
	name[VMCFG_NAME_MAX] = '\0';
	assert_int_equal(vmconfig_check_name(name, err, sizeof(err)), 0);
	name[VMCFG_NAME_MAX] = 'a';
	name[VMCFG_NAME_MAX + 1] = '\0';
	assert_int_equal(vmconfig_check_name(name, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "63"));
}

/* ---- from options ---- */

static void test_from_options_makes_paths_absolute(void **state)
{
	struct fixture *f = *state;
	const char *words[] = { "--kernel", "vmlinuz", "--initrd", "./subdir/../initrd.gz",
				"--disk", "disk0.img", "--disk", "disk1.img,ro", "--cpus", "3",
				"--memory", "1G", "--nested", "--max-depth", "2", "--rng",
				"--cmdline", "console=ttyS0 quiet", NULL };
	struct vm_config d;
	char err[256] = "", want[PATH_MAX + 32];

	if (define(&d, "web", words, err, sizeof(err)))
		fail_msg("%s", err);
	assert_string_equal(d.name, "web");
	snprintf(want, sizeof(want), "%s/vmlinuz", f->real);
	assert_string_equal(d.kernel, want);
	snprintf(want, sizeof(want), "%s/initrd.gz", f->real);
	assert_string_equal(d.initrd, want);
	assert_int_equal(vmconfig_count(&d, &virtio_blk_class), 2);
	snprintf(want, sizeof(want), "%s/disk0.img", f->real);
	assert_string_equal(dev_str(&d, &virtio_blk_class, 0, "path"), want);
	assert_false(json_is_true(json_object_get(dev_cfg(&d, &virtio_blk_class, 0), "readonly")));
	snprintf(want, sizeof(want), "%s/disk1.img", f->real);
	assert_string_equal(dev_str(&d, &virtio_blk_class, 1, "path"), want);
	assert_true(json_is_true(json_object_get(dev_cfg(&d, &virtio_blk_class, 1), "readonly")));
	assert_int_equal(d.cpus, 3);
	assert_int_equal(d.memory, 1024 * MIB);
	assert_true(d.nested);
	assert_int_equal(d.max_depth, 2);
	assert_int_equal(vmconfig_count(&d, &virtio_rng_class), 1);
	assert_string_equal(d.cmdline, "console=ttyS0 quiet");
	/* Table order: disks, then the rng, whatever the command line's. */
	assert_int_equal(d.n_devices, 3);
	assert_ptr_equal(d.devices[2].cls, &virtio_rng_class);
	vmconfig_free(&d);
}

static void test_from_options_defaults(void **state)
{
	const char *words[] = { "-k", "vmlinuz", NULL };
	struct vm_config d;
	char err[256] = "";

	(void)state;
	assert_int_equal(define(&d, "a", words, err, sizeof(err)), 0);
	assert_null(d.initrd);
	assert_string_equal(d.cmdline, VMCFG_CMDLINE_DEFAULT);
	assert_int_equal(d.cpus, 1);
	assert_int_equal(d.memory, VMCFG_MEMORY_DEFAULT);
	assert_false(d.nested);
	assert_int_equal(d.max_depth, 0);
	assert_int_equal(d.n_devices, 0);
	vmconfig_free(&d);
}

static void from_options_err(const char **words, const char *name, int want, const char *needle)
{
	struct vm_config d;
	char err[512] = "";
	int r;

	r = define(&d, name, words, err, sizeof(err));
	if (r != want || !strstr(err, needle))
		fail_msg("%s: r=%d \"%s\", want %d and \"%s\"", words[1], r, err, want, needle);
}

static void test_from_options_errors(void **state)
{
	const char *missing_kernel[] = { "-k", "nope/vmlinuz", NULL };
	const char *dir_kernel[] = { "-k", "subdir", NULL };
	const char *missing_initrd[] = { "-k", "vmlinuz", "-i", "initrd.xz", NULL };
	const char *missing_disk[] = { "-k", "vmlinuz", "--disk", "disk0.img", "--disk",
				       "disk9.img,ro", NULL };
	const char *ok[] = { "-k", "vmlinuz", NULL };
	struct vm_config d;
	char err[256], longcmd[VMCFG_CMDLINE_MAX + 8];

	(void)state;
	from_options_err(missing_kernel, "web", -ENOENT, "kernel nope/vmlinuz");
	from_options_err(dir_kernel, "web", -EISDIR, "kernel subdir");
	from_options_err(missing_initrd, "web", -ENOENT, "initrd initrd.xz");
	/* One message for create and set: "disk PATH" (was "disk 2 PATH"). */
	from_options_err(missing_disk, "web", -ENOENT, "disk disk9.img");
	from_options_err(ok, "bad/name", -EINVAL, "bad/name");

	assert_int_equal(define(&d, "web", ok, err, sizeof(err)), 0);
	memset(longcmd, 'x', sizeof(longcmd) - 1);
	longcmd[sizeof(longcmd) - 1] = '\0';
	assert_int_equal(vmconfig_set_string(&d.cmdline, longcmd), 0);
	assert_int_equal(vmconfig_check(&d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "command line"));
	vmconfig_free(&d);

	assert_int_equal(define(&d, "web", ok, err, sizeof(err)), 0);
	free(d.kernel);
	d.kernel = NULL;
	assert_int_equal(vmconfig_check(&d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--kernel"));
	vmconfig_free(&d);

	assert_int_equal(define(&d, "web", ok, err, sizeof(err)), 0);
	d.cpus = 0;   /* built by hand, not by the parser */
	assert_int_equal(vmconfig_check(&d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "vCPUs"));
	d.cpus = 1;
	d.memory = 16 * MIB;
	assert_int_equal(vmconfig_check(&d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "memory 16 MiB is out of range"));
	d.memory = 32 * MIB + 1;
	assert_int_equal(vmconfig_check(&d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "4 KiB pages"));
	d.memory = 32 * MIB;
	d.max_depth = 65;
	assert_int_equal(vmconfig_check(&d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "max_depth 65"));
	vmconfig_free(&d);
}

/* ---- devices ---- */

static void test_devices(void **state)
{
	struct vm_config c, copy;
	char err[256];
	json_t *disk;

	(void)state;
	vmconfig_init(&c);
	assert_int_equal(vmconfig_set_string(&c.kernel, "/k"), 0);
	/* Table order whatever the order of adding: disks, NICs, rng. */
	assert_int_equal(vmconfig_add_device(&c, &virtio_rng_class, NULL, err, sizeof(err)), 0);
	assert_int_equal(net_config_parse("user", &disk, err, sizeof(err)), 0);
	net_config_default(disk, 0);
	assert_int_equal(vmconfig_add_device(&c, &virtio_net_class, disk, err, sizeof(err)), 0);
	for (int i = 0; i < 8; i++) {
		disk = json_pack("{s:s, s:b}", "path", "/d", "readonly", i & 1);
		assert_int_equal(vmconfig_add_device(&c, &virtio_blk_class, disk, err, sizeof(err)),
				 0);
	}
	assert_int_equal(c.n_devices, 10);
	assert_ptr_equal(c.devices[0].cls, &virtio_blk_class);
	assert_ptr_equal(c.devices[8].cls, &virtio_net_class);
	assert_ptr_equal(c.devices[9].cls, &virtio_rng_class);
	assert_true(json_is_true(json_object_get(c.devices[1].cfg, "readonly")));
	assert_int_equal(vmconfig_check(&c, err, sizeof(err)), 0);
	/* max_count: a ninth disk, a second rng. */
	disk = json_pack("{s:s}", "path", "/d");
	assert_int_equal(vmconfig_add_device(&c, &virtio_blk_class, disk, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "at most 8"));
	assert_int_equal(vmconfig_add_device(&c, &virtio_rng_class, NULL, err, sizeof(err)),
			 -EINVAL);
	/* Board devices are not a configuration's. */
	assert_int_equal(vmconfig_add_device(&c, &serial_class, NULL, err, sizeof(err)), -EINVAL);
	/* A deep copy: changing it leaves the original alone. */
	assert_int_equal(vmconfig_copy(&copy, &c), 0);
	json_object_set_new(copy.devices[0].cfg, "path", json_string("/other"));
	assert_string_equal(json_string_value(json_object_get(c.devices[0].cfg, "path")), "/d");
	assert_string_equal(copy.kernel, "/k");
	assert_ptr_not_equal(copy.kernel, c.kernel);
	vmconfig_remove_class(&copy, &virtio_blk_class);
	assert_int_equal(copy.n_devices, 2);
	assert_ptr_equal(copy.devices[0].cls, &virtio_net_class);
	assert_int_equal(vmconfig_count(&c, &virtio_blk_class), 8);
	/* A device's own check, named by its place. */
	json_object_set_new(copy.devices[0].cfg, "mac", json_string("01:00:00:00:00:00"));
	assert_int_equal(vmconfig_check(&copy, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "nics[0]: 01:00:00:00:00:00 is not a unicast MAC"));
	vmconfig_free(&copy);
	vmconfig_free(&c);
}

/* ---- JSON ---- */

static void full_def(struct vm_config *d)
{
	const char *words[] = { "-k", "vmlinuz", "-i", "initrd.gz", "--disk", "disk0.img,ro",
				"-p", "4", "-m", "1.5G", "-n", "-d", "3", "-r", "-c", "quiet",
				"--nic", "user", "--forward", "tcp:8080:80", "--forward",
				"tcp:2222:22", "--mac", "02:aa:bb:cc:dd:ee", "--allow-mac",
				"02:00:00:00:00:01", "--nic", "tap:tap7", "--mac-spoofing", "on",
				"--nic", "tap", NULL };
	char err[256] = "";

	if (define(d, "web", words, err, sizeof(err)))
		fail_msg("define: %s", err);
}

static void test_json_round_trip(void **state)
{
	struct vm_config d, back;
	char err[256] = "", *text, *text2;
	json_t *j, *parsed;

	(void)state;
	full_def(&d);
	j = vmconfig_to_json(&d);
	assert_non_null(j);
	text = json_dumps(j, JSON_COMPACT);
	parsed = json_loads(text, 0, NULL);
	assert_non_null(parsed);
	if (vmconfig_from_json(parsed, &back, err, sizeof(err)))
		fail_msg("vmconfig_from_json: %s in %s", err, text);
	assert_string_equal(back.name, d.name);
	assert_string_equal(back.kernel, d.kernel);
	assert_string_equal(back.initrd, d.initrd);
	assert_string_equal(back.cmdline, d.cmdline);
	assert_int_equal(back.cpus, d.cpus);
	assert_int_equal(back.memory, d.memory);
	assert_int_equal(back.nested, d.nested);
	assert_int_equal(back.max_depth, d.max_depth);
	assert_int_equal(back.n_devices, d.n_devices);
	for (unsigned int i = 0; i < d.n_devices; i++) {
		assert_ptr_equal(back.devices[i].cls, d.devices[i].cls);
		assert_true(back.devices[i].cfg == d.devices[i].cfg ||
			    json_equal(back.devices[i].cfg, d.devices[i].cfg));
	}
	/* And the same text again. */
	json_decref(j);
	j = vmconfig_to_json(&back);
	text2 = json_dumps(j, JSON_COMPACT);
	assert_string_equal(text, text2);
	free(text);
	free(text2);
	json_decref(j);
	json_decref(parsed);
	vmconfig_free(&d);
	vmconfig_free(&back);
}

static void test_json_shape(void **state)
{
	static const char *const keys[] = { "name", "kernel", "initrd", "cmdline", "cpus",
					    "memory_bytes", "memory", "nested", "max_depth", "disks",
					    "nics", "rng" };
	struct vm_config d;
	json_t *j, *nic;

	(void)state;
	full_def(&d);
	j = vmconfig_to_json(&d);
	assert_int_equal(json_object_size(j), sizeof(keys) / sizeof(keys[0]));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!json_object_get(j, keys[i]))
			fail_msg("no \"%s\"", keys[i]);
	assert_true(json_is_true(json_object_get(j, "rng")));
	assert_string_equal(json_string_value(json_object_get(j, "name")), "web");
	assert_int_equal(json_integer_value(json_object_get(j, "memory_bytes")), 1536 * MIB);
	assert_string_equal(json_string_value(json_object_get(j, "memory")), "1.5 GiB");
	assert_int_equal(json_integer_value(json_object_get(j, "cpus")), 4);
	assert_true(json_is_true(json_object_get(j, "nested")));
	assert_int_equal(json_integer_value(json_object_get(j, "max_depth")), 3);
	assert_true(json_is_true(json_object_get(json_array_get(json_object_get(j, "disks"), 0),
						  "readonly")));
	nic = json_array_get(json_object_get(j, "nics"), 0);
	assert_int_equal(json_object_size(nic), 6);
	assert_string_equal(json_string_value(json_object_get(nic, "backend")), "user");
	assert_true(json_is_null(json_object_get(nic, "tap")));
	assert_false(json_is_true(json_object_get(nic, "mac_spoofing")));
	assert_string_equal(json_string_value(json_object_get(nic, "mac")), "02:aa:bb:cc:dd:ee");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(nic, "forwards"), 1), "proto")), "tcp");
	assert_int_equal(json_integer_value(json_object_get(
		json_array_get(json_object_get(nic, "forwards"), 1), "host_port")), 2222);
	assert_string_equal(json_string_value(json_array_get(json_object_get(nic, "allowed_macs"),
							     0)), "02:00:00:00:00:01");
	nic = json_array_get(json_object_get(j, "nics"), 1);
	assert_string_equal(json_string_value(json_object_get(nic, "tap")), "tap7");
	assert_string_equal(json_string_value(json_object_get(nic, "mac")), "02:4e:56:00:00:02");
	assert_true(json_is_true(json_object_get(nic, "mac_spoofing")));
	nic = json_array_get(json_object_get(j, "nics"), 2);
	assert_true(json_is_null(json_object_get(nic, "tap")));
	assert_string_equal(json_string_value(json_object_get(nic, "backend")), "tap");
	json_decref(j);

	/* No initrd, no depth limit, no rng: nulls and false. */
	free(d.initrd);
	d.initrd = NULL;
	d.max_depth = 0;
	vmconfig_remove_class(&d, &virtio_rng_class);
	j = vmconfig_to_json(&d);
	assert_true(json_is_null(json_object_get(j, "initrd")));
	assert_true(json_is_null(json_object_get(j, "max_depth")));
	assert_true(json_is_false(json_object_get(j, "rng")));
	json_decref(j);
	vmconfig_free(&d);
}

static void test_json_minimal_and_human_memory(void **state)
{
	const char *text = "{\"name\":\"db\",\"kernel\":\"/boot/vmlinuz\",\"cpus\":2,"
			   "\"memory\":\"2G\",\"max_depth\":null,\"initrd\":null}";
	json_t *j = json_loads(text, 0, NULL);
	struct vm_config d;
	char err[256] = "";

	(void)state;
	if (vmconfig_from_json(j, &d, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(d.memory, 2048 * MIB);
	assert_string_equal(d.cmdline, VMCFG_CMDLINE_DEFAULT);
	assert_null(d.initrd);
	assert_int_equal(d.max_depth, 0);
	assert_false(d.nested);
	assert_int_equal(d.n_devices, 0);
	json_decref(j);
	vmconfig_free(&d);
}

/* Each case edits a valid definition with a JSON merge ("null" in `set`
 * removes the key) and expects -EINVAL with `needle` in the message. */
static const struct {
	const char *set, *remove, *needle;
} bad_json[] = {
	{ "{\"cpu\":2}", NULL, "unknown field \"cpu\"" },
	{ NULL, "name", "\"name\" is required" },
	{ "{\"name\":\"-web\"}", NULL, "must start with" },
	{ "{\"name\":\"a/b\"}", NULL, "'a/b'" },
	{ "{\"name\":7}", NULL, "\"name\" must be a string" },
	{ NULL, "kernel", "\"kernel\" is required" },
	{ "{\"kernel\":\"vmlinuz\"}", NULL, "absolute" },
	{ "{\"kernel\":[]}", NULL, "\"kernel\" must be a string" },
	{ "{\"initrd\":\"rel/initrd\"}", NULL, "\"initrd\" must be an absolute" },
	{ "{\"cmdline\":5}", NULL, "\"cmdline\" must be a string" },
	{ NULL, "cpus", "\"cpus\" is required" },
	{ "{\"cpus\":0}", NULL, "\"cpus\" 0 is out of range" },
	{ "{\"cpus\":256}", NULL, "\"cpus\" 256 is out of range" },
	{ "{\"cpus\":\"2\"}", NULL, "\"cpus\" must be an integer" },
	{ "{\"cpus\":1.5}", NULL, "\"cpus\" must be an integer" },
	{ "{\"memory_bytes\":1048576}", NULL, "\"memory_bytes\" 1048576 is out of range" },
	{ "{\"memory_bytes\":1099511631872}", NULL, "out of range" },
	{ "{\"memory_bytes\":33556480}", NULL, "4 KiB pages" },
	{ "{\"memory_bytes\":\"1G\"}", NULL, "\"memory_bytes\" must be an integer" },
	{ "{\"memory\":\"lots\"}", "memory_bytes", "\"memory\" must be a size" },
	{ NULL, "memory_bytes", "\"memory\" must be a size" },   /* "1.5 GiB" is for people */
	{ "{\"nested\":\"yes\"}", NULL, "\"nested\" must be true or false" },
	{ "{\"rng\":1}", NULL, "\"rng\" must be true or false" },
	{ "{\"max_depth\":65}", NULL, "\"max_depth\" 65 is out of range" },
	{ "{\"max_depth\":-1}", NULL, "\"max_depth\" -1 is out of range" },
	{ "{\"max_depth\":\"3\"}", NULL, "\"max_depth\" must be an integer or null" },
	{ "{\"disks\":{}}", NULL, "\"disks\" must be an array" },
	{ "{\"disks\":[1]}", NULL, "disks[0] must be an object" },
	{ "{\"disks\":[{\"readonly\":true}]}", NULL, "disks[0]: \"path\" is required" },
	{ "{\"disks\":[{\"path\":\"d.img\"}]}", NULL, "disks[0]: \"path\" must be absolute" },
	{ "{\"disks\":[{\"path\":\"/d.img\",\"readonly\":\"no\"}]}", NULL, "\"readonly\" must be" },
	{ "{\"disks\":[{\"path\":\"/d.img\",\"cache\":1}]}", NULL, "unknown field \"cache\"" },
	{ "{\"disks\":[{\"path\":\"/a\"},{\"path\":\"/a\"},{\"path\":\"/a\"},{\"path\":\"/a\"},"
	  "{\"path\":\"/a\"},{\"path\":\"/a\"},{\"path\":\"/a\"},{\"path\":\"/a\"},"
	  "{\"path\":\"/a\"}]}", NULL, "too many \"disks\": at most 8" },
	{ "{\"nics\":[{\"mac\":\"02:00:00:00:00:01\"},{\"mac\":\"02:00:00:00:00:01\"},"
	  "{\"mac\":\"02:00:00:00:00:01\"},{\"mac\":\"02:00:00:00:00:01\"},"
	  "{\"mac\":\"02:00:00:00:00:01\"}]}", NULL, "too many \"nics\": at most 4" },
	{ "{\"nics\":[{\"backend\":\"bridge\",\"mac\":\"02:00:00:00:00:01\"}]}", NULL,
	  "\"backend\" must be" },
	{ "{\"nics\":[{\"backend\":\"user\"}]}", NULL, "nics[0]: \"mac\" is required" },
	{ "{\"nics\":[{\"mac\":\"02:00:00:00:00\"}]}", NULL, "02:00:00:00:00 is not a unicast MAC" },
	{ "{\"nics\":[{\"mac\":\"zz:00:00:00:00:01\"}]}", NULL, "not a unicast MAC" },
	{ "{\"nics\":[{\"mac\":\"01:00:5e:00:00:01\"}]}", NULL, "not a unicast MAC" },
	{ "{\"nics\":[{\"mac\":2}]}", NULL, "not a unicast MAC" },
	{ "{\"nics\":[{\"mac\":\"02:00:00:00:00:01\",\"allowed_macs\":[\"x\"]}]}", NULL,
	  "allowed_macs[0]: x is not a MAC" },
	{ "{\"nics\":[{\"mac\":\"02:00:00:00:00:01\",\"allowed_macs\":[\"02:00:00:00:00:01\","
	  "\"02:00:00:00:00:01\",\"02:00:00:00:00:01\",\"02:00:00:00:00:01\","
	  "\"02:00:00:00:00:01\",\"02:00:00:00:00:01\",\"02:00:00:00:00:01\","
	  "\"02:00:00:00:00:01\",\"02:00:00:00:00:01\"]}]}", NULL, "too many \"allowed_macs\"" },
	{ "{\"nics\":[{\"backend\":\"tap\",\"mac\":\"02:00:00:00:00:01\",\"forwards\":"
	  "[{\"host_port\":80,\"guest_port\":80}]}]}", NULL, "forwards need a user-mode NIC" },
	{ "{\"nics\":[{\"mac\":\"02:00:00:00:00:01\",\"forwards\":[{\"proto\":\"udp\","
	  "\"host_port\":80,\"guest_port\":80}]}]}", NULL, "\"proto\" must be \"tcp\"" },
	{ "{\"nics\":[{\"mac\":\"02:00:00:00:00:01\",\"forwards\":[{\"host_port\":0,"
	  "\"guest_port\":80}]}]}", NULL, "\"host_port\" 0 is out of range" },
	{ "{\"nics\":[{\"mac\":\"02:00:00:00:00:01\",\"forwards\":[{\"host_port\":80,"
	  "\"guest_port\":65536}]}]}", NULL, "\"guest_port\" 65536 is out of range" },
	{ "{\"nics\":[{\"mac\":\"02:00:00:00:00:01\",\"forwards\":[{\"host_port\":80}]}]}", NULL,
	  "\"guest_port\" is required" },
	{ "{\"nics\":[{\"mac\":\"02:00:00:00:00:01\",\"tap\":\"tap0\"}]}", NULL,
	  "\"tap\" needs backend \"tap\"" },
	{ "{\"nics\":[{\"backend\":\"tap\",\"mac\":\"02:00:00:00:00:01\","
	  "\"tap\":\"a-very-long-tap-name\"}]}", NULL, "\"tap\" is too long" },
	{ "{\"nics\":[{\"mac\":\"02:00:00:00:00:01\",\"vlan\":3}]}", NULL, "unknown field \"vlan\"" },
	{ "{\"nics\":[7]}", NULL, "nics[0] must be an object" },
	{ "{\"nics\":[{\"mac\":\"02:00:00:00:00:01\",\"forwards\":[3]}]}", NULL,
	  "nics[0]: forwards[0] must be an object" },
	{ "{\"disks\":[{\"path\":\"\"}]}", NULL, "disks[0]: \"path\" is empty" },
	{ "{\"rng\":[]}", NULL, "\"rng\" must be true or false" },
	{ "{\"serial\":true}", NULL, "unknown field \"serial\"" },
	{ "{\"name\":null}", NULL, "\"name\" is required" },
};

static void test_json_errors(void **state)
{
	struct vm_config d;
	json_t *good;
	char err[256];

	(void)state;
	full_def(&d);
	good = vmconfig_to_json(&d);
	vmconfig_free(&d);
	for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
		json_t *j = json_deep_copy(good);
		int r;

		if (bad_json[i].set) {
			json_t *set = json_loads(bad_json[i].set, 0, NULL);

			assert_non_null(set);
			json_object_update(j, set);
			json_decref(set);
		}
		if (bad_json[i].remove)
			json_object_del(j, bad_json[i].remove);
		err[0] = '\0';
		memset(&d, 0x5a, sizeof(d));
		r = vmconfig_from_json(j, &d, err, sizeof(err));
		if (r != -EINVAL || !strstr(err, bad_json[i].needle))
			fail_msg("case %zu (%s): r=%d \"%s\", want -EINVAL and \"%s\"", i,
				 bad_json[i].set ? bad_json[i].set : bad_json[i].remove, r, err,
				 bad_json[i].needle);
		/* nothing half-filled */
		assert_int_equal(d.n_devices + d.cpus, 0);
		assert_null(d.name);
		assert_null(d.kernel);
		json_decref(j);
	}
	assert_int_equal(vmconfig_from_json(json_array_get(good, 0), &d, err, sizeof(err)), -EINVAL);
	json_decref(good);
	good = json_array();
	assert_int_equal(vmconfig_from_json(good, &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "JSON object"));
	json_decref(good);
}

static void test_sizes(void **state)
{
	uint64_t b = 0;
	char buf[32];

	(void)state;
	assert_int_equal(vmconfig_parse_size("1.5G", &b), 0);
	assert_int_equal(b, 1536 * MIB);
	assert_int_equal(vmconfig_parse_size("512", &b), 0);
	assert_int_equal(b, 512 * MIB);
	assert_int_equal(vmconfig_parse_size("2GiB", &b), 0);
	assert_int_equal(b, 2048 * MIB);
	assert_int_equal(vmconfig_parse_size("lots", &b), -EINVAL);
	assert_int_equal(vmconfig_parse_size("99999999999999999999", &b), -ERANGE);
	vmconfig_format_size(1536 * MIB, buf, sizeof(buf));
	assert_string_equal(buf, "1.5 GiB");
	vmconfig_format_size(256 * MIB, buf, sizeof(buf));
	assert_string_equal(buf, "256 MiB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_from_options_makes_paths_absolute, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_from_options_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_from_options_errors, setup, teardown),
		cmocka_unit_test(test_devices),
		cmocka_unit_test_setup_teardown(test_json_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_shape, setup, teardown),
		cmocka_unit_test(test_json_minimal_and_human_memory),
		cmocka_unit_test_setup_teardown(test_json_errors, setup, teardown),
		cmocka_unit_test(test_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
