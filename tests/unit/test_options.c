/* Unit tests of src/cli/options.c: sizes and the options of `nestvm run`. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/options.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/rng.h"

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
#define TIB (1ULL << 40)

/* ---- vmconfig_parse_size ---- */

static void assert_size(const char *s, uint64_t want)
{
	uint64_t got = 0xdeadbeef;
	int r = vmconfig_parse_size(s, &got);

	if (r != 0 || got != want)
		fail_msg("vmconfig_parse_size(\"%s\"): r=%d got=%llu, want 0 and %llu", s, r,
			 (unsigned long long)got, (unsigned long long)want);
}

static void assert_size_err(const char *s, int want_err)
{
	uint64_t got = 0xdeadbeef;
	int r = vmconfig_parse_size(s, &got);

	if (r != want_err)
		fail_msg("vmconfig_parse_size(\"%s\"): r=%d, want %d", s, r, want_err);
	assert_int_equal(got, 0xdeadbeef); /* untouched on error */
}

static void test_size_plain_number_is_mib(void **state)
{
	(void)state;
	assert_size("0", 0);
	assert_size("1", MIB);
	assert_size("512", 512 * MIB);
	assert_size("0512", 512 * MIB);
	assert_size("4096", 4 * GIB);
	assert_size("0.5", MIB / 2);
	assert_size("1.5", MIB + MIB / 2);
}

static void test_size_suffixes(void **state)
{
	(void)state;
	assert_size("4096B", 4096);
	assert_size("4096b", 4096);
	assert_size("2K", 2 * KIB);
	assert_size("2KB", 2 * KIB);
	assert_size("2KiB", 2 * KIB);
	assert_size("512M", 512 * MIB);
	assert_size("512m", 512 * MIB);
	assert_size("512MB", 512 * MIB);
	assert_size("512MiB", 512 * MIB);
	assert_size("512mib", 512 * MIB);
	assert_size("2G", 2 * GIB);
	assert_size("2GB", 2 * GIB);
	assert_size("2GiB", 2 * GIB);
	assert_size("1T", TIB);
	assert_size("1TiB", TIB);
}

static void test_size_decimals(void **state)
{
	(void)state;
	assert_size("1.5G", GIB + GIB / 2);
	assert_size("1.25G", GIB + GIB / 4);
	assert_size("0.5T", TIB / 2);
	assert_size("2.5K", 2560);
	assert_size("1.5M", MIB + MIB / 2);
	assert_size("1.50000GiB", GIB + GIB / 2);
	assert_size("1.5B", 1);                 /* fractions of a byte are dropped */
	assert_size("0.001G", GIB / 1000);      /* rounds down to whole bytes */
	/* Many decimal digits: only the first nine count, and none overflow. */
	assert_size("1.99999999T", 2199023244556ULL);   /* 2^40 * 1.99999999 */
	assert_size("1.999999999T", 2199023254452ULL);  /* 2^40 * 1.999999999 */
	assert_size("1.9999999999999T", 2199023254452ULL);
	assert_size("0.1234567891234G", 132560717ULL);  /* 2^30 * 0.123456789 */
}

static void test_size_rejects_garbage(void **state)
{
	(void)state;
	assert_size_err("", -EINVAL);
	assert_size_err("abc", -EINVAL);
	assert_size_err("M", -EINVAL);
	assert_size_err("-5M", -EINVAL);
	assert_size_err("+5M", -EINVAL);
	assert_size_err(" 5M", -EINVAL);
	assert_size_err("5M ", -EINVAL);
	assert_size_err("5 M", -EINVAL);
	assert_size_err("12Q", -EINVAL);
	assert_size_err("1.G", -EINVAL);
	assert_size_err("1.", -EINVAL);
	assert_size_err(".5G", -EINVAL);
	assert_size_err("1.5.5G", -EINVAL);
	assert_size_err("2GiBB", -EINVAL);
	assert_size_err("2Gx", -EINVAL);
	assert_size_err("2iB", -EINVAL);
	assert_size_err("2BiB", -EINVAL);
	assert_size_err("2BB", -EINVAL);
	assert_size_err("0x10", -EINVAL);
	assert_int_equal(vmconfig_parse_size(NULL, &(uint64_t){ 0 }), -EINVAL);
}

static void test_size_overflow(void **state)
{
	(void)state;
	/* The largest sizes that fit in 64 bits in each unit, then one more. */
	assert_size("16777215T", 16777215ULL * TIB);
	assert_size_err("16777216T", -ERANGE);
	assert_size("17179869183G", 17179869183ULL * GIB);
	assert_size_err("17179869184G", -ERANGE);
	assert_size("17592186044415", 17592186044415ULL * MIB);
	assert_size_err("17592186044416", -ERANGE);
	/* More digits than 64 bits hold. */
	assert_size_err("99999999999999999999", -ERANGE);
	assert_size_err("99999999999999999999B", -ERANGE);
	assert_size_err("123456789012345678901234567890G", -ERANGE);
}

/* ---- vmconfig_format_size ---- */

static void assert_format(uint64_t bytes, const char *want)
{
	char buf[32];

	memset(buf, 'X', sizeof(buf));
	vmconfig_format_size(bytes, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_format_size(void **state)
{
	char small[4];

	(void)state;
	assert_format(0, "0 bytes");
	assert_format(1, "1 bytes");
	assert_format(1023, "1023 bytes");
	assert_format(KIB, "1 KiB");
	assert_format(1536, "1.5 KiB");
	assert_format(MIB - 1, "1024.0 KiB");
	assert_format(MIB, "1 MiB");
	assert_format(512 * MIB, "512 MiB");
	assert_format(GIB + GIB / 2, "1.5 GiB");
	assert_format(3 * GIB, "3 GiB");
	assert_format(TIB, "1 TiB");
	assert_format(2048 * TIB, "2048 TiB");      /* TiB is the largest unit */
	assert_format(TIB + TIB / 4, "1.2 TiB");    /* 1.25 at one decimal */
	/* Truncated to the buffer, always terminated. */
	vmconfig_format_size(512 * MIB, small, sizeof(small));
	assert_string_equal(small, "512");
}

/* ---- options_parse_run ---- */

#define ARGV(...) ((char *[]){ "run", __VA_ARGS__, NULL })

static char err[256];

/* The options of the last parse: *o is a shallow copy of them, valid until
 * the next parse (which frees them). */
static struct run_options cur;

static void parse_free(void)
{
	options_free(&cur);
}

static int parse(char **argv, struct run_options *o)
{
	int argc = 0, r;

	while (argv[argc])
		argc++;
	memset(err, 'X', sizeof(err) - 1);
	err[sizeof(err) - 1] = '\0';
	options_free(&cur);
	r = options_parse_run(argc, argv, &cur, err, sizeof(err));
	*o = cur;
	return r;
}

/* The i-th device of class cls in o, or NULL. */
static json_t *dev(const struct run_options *o, const struct device_class *cls, unsigned int i)
{
	for (unsigned int k = 0; k < o->cfg.n_devices; k++)
		if (o->cfg.devices[k].cls == cls && i-- == 0)
			return o->cfg.devices[k].cfg;
	return NULL;
}

static void assert_parse_error(char **argv, const char *want_msg)
{
	struct run_options o;
	char args[256] = "";
	int r = parse(argv, &o);

	if (r == -EINVAL && strcmp(err, want_msg) == 0)
		return;
	for (int i = 0; argv[i]; i++)
		snprintf(args + strlen(args), sizeof(args) - strlen(args), " \"%s\"", argv[i]);
	fail_msg("parsing%s: r=%d err=\"%s\", want -EINVAL and \"%s\"", args, r, err, want_msg);
}

static void test_run_devices(void **state)
{
	struct run_options o;
	json_t *n;

	(void)state;
	assert_int_equal(parse(ARGV("-k", "k", "--rng", "--nic", "user", "--mac",
				    "02:aa:bb:cc:dd:ee", "--forward", "tcp:8080:80",
				    "--allow-mac", "02:00:00:00:00:09", "--disk", "a.img",
				    "--nic", "tap:tap3", "--mac-spoofing", "on", "--disk", "b.img,ro",
				    "-r"), &o), 0);
	assert_int_equal(o.cfg.n_devices, 5);   /* --rng twice is one rng */
	assert_ptr_equal(o.cfg.devices[0].cls, &virtio_blk_class);
	assert_ptr_equal(o.cfg.devices[2].cls, &virtio_net_class);
	assert_ptr_equal(o.cfg.devices[4].cls, &virtio_rng_class);
	assert_null(o.cfg.devices[4].cfg);
	assert_string_equal(json_string_value(json_object_get(dev(&o, &virtio_blk_class, 0),
							     "path")), "a.img");
	assert_true(json_is_false(json_object_get(dev(&o, &virtio_blk_class, 0), "readonly")));
	assert_string_equal(json_string_value(json_object_get(dev(&o, &virtio_blk_class, 1),
							     "path")), "b.img");
	assert_true(json_is_true(json_object_get(dev(&o, &virtio_blk_class, 1), "readonly")));
	n = dev(&o, &virtio_net_class, 0);
	assert_string_equal(json_string_value(json_object_get(n, "mac")), "02:aa:bb:cc:dd:ee");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(
		json_object_get(n, "forwards"), 0), "guest_port")), 80);
	assert_string_equal(json_string_value(json_array_get(json_object_get(n, "allowed_macs"),
							     0)), "02:00:00:00:00:09");
	n = dev(&o, &virtio_net_class, 1);
	assert_string_equal(json_string_value(json_object_get(n, "backend")), "tap");
	assert_string_equal(json_string_value(json_object_get(n, "tap")), "tap3");
	assert_string_equal(json_string_value(json_object_get(n, "mac")), "02:4e:56:00:00:02");
	assert_true(json_is_true(json_object_get(n, "mac_spoofing")));

	/* A modifier before any --nic makes a user-mode NIC. */
	assert_int_equal(parse(ARGV("-k", "k", "--mac-spoofing", "on"), &o), 0);
	n = dev(&o, &virtio_net_class, 0);
	assert_string_equal(json_string_value(json_object_get(n, "backend")), "user");
	assert_string_equal(json_string_value(json_object_get(n, "mac")), "02:4e:56:00:00:01");

	assert_parse_error(ARGV("-k", "k", "--disk", ",ro"), "--disk needs a path");
	assert_parse_error(ARGV("-k", "k", "--nic", "bridge"),
			   "--nic 'bridge': use user, tap or tap:NAME");
	assert_parse_error(ARGV("-k", "k", "--nic", "tap:"),
			   "--nic 'tap:': a tap name has 1 to 15 characters");
	assert_parse_error(ARGV("-k", "k", "--nic", "tap", "--forward", "tcp:1:2"),
			   "--forward needs a user-mode NIC (--nic user)");
	assert_parse_error(ARGV("-k", "k", "--forward", "udp:1:2"),
			   "--forward 'udp:1:2': use tcp:HOSTPORT:GUESTPORT (ports 1-65535)");
	assert_parse_error(ARGV("-k", "k", "--mac", "01:00:00:00:00:01"),
			   "--mac '01:00:00:00:00:01' is not a unicast MAC address "
			   "(like 02:4e:56:00:00:01)");
	assert_parse_error(ARGV("-k", "k", "--mac-spoofing", "yes"),
			   "--mac-spoofing 'yes': use on or off");
	assert_parse_error(ARGV("-k", "k", "--allow-mac", "x"), "--allow-mac 'x' is not a MAC address");
	assert_parse_error(ARGV("-k", "k", "--disk", "1", "--disk", "2", "--disk", "3", "--disk",
				"4", "--disk", "5", "--disk", "6", "--disk", "7", "--disk", "8",
				"--disk", "9"), "too many --disk: at most 8");
	assert_parse_error(ARGV("-k", "k", "--nic", "user", "--nic", "user", "--nic", "user",
				"--nic", "user", "--nic", "user"), "too many --nic: at most 4");
	assert_parse_error(ARGV("-k", "k", "--disk"), "option --disk needs a value");
	assert_parse_error(ARGV("-k", "k", "--rng=1"), "unknown option '--rng=1' (see nestvm run --help)");
}


static void test_run_defaults(void **state)
{
	struct run_options o;

	(void)state;
	memset(&o, 0xa5, sizeof(o));
	assert_int_equal(parse(ARGV("--kernel", "bzImage"), &o), 0);
	assert_string_equal(err, "");
	assert_string_equal(o.cfg.kernel, "bzImage");
	assert_null(o.cfg.initrd);
	assert_string_equal(o.cfg.cmdline, VMCFG_CMDLINE_DEFAULT);
	assert_string_equal(o.cfg.cmdline, "console=ttyS0");
	assert_int_equal(o.cfg.cpus, 1);
	assert_int_equal(o.cfg.memory, VMCFG_MEMORY_DEFAULT);
	assert_int_equal(o.cfg.memory, 512 * MIB);
	assert_int_equal(o.verbosity, 0);
	assert_false(o.help);
}

static void test_run_long_options(void **state)
{
	struct run_options o;

	(void)state;
	assert_int_equal(parse(ARGV("--kernel", "vmlinuz", "--initrd", "initrd.img",
				    "--cmdline", "console=ttyS0 quiet", "--cpus", "4",
				    "--memory", "2G", "--verbose"), &o), 0);
	assert_string_equal(o.cfg.kernel, "vmlinuz");
	assert_string_equal(o.cfg.initrd, "initrd.img");
	assert_string_equal(o.cfg.cmdline, "console=ttyS0 quiet");
	assert_int_equal(o.cfg.cpus, 4);
	assert_int_equal(o.cfg.memory, 2 * GIB);
	assert_int_equal(o.verbosity, 1);
	assert_false(o.help);

	/* --opt=value works too. */
	assert_int_equal(parse(ARGV("--kernel=k", "--initrd=i", "--cmdline=c", "--cpus=8",
				    "--memory=1.5G", "--quiet"), &o), 0);
	assert_string_equal(o.cfg.kernel, "k");
	assert_string_equal(o.cfg.initrd, "i");
	assert_string_equal(o.cfg.cmdline, "c");
	assert_int_equal(o.cfg.cpus, 8);
	assert_int_equal(o.cfg.memory, GIB + GIB / 2);
	assert_int_equal(o.verbosity, -1);

	/* Unique abbreviations of long options. */
	assert_int_equal(parse(ARGV("--kern", "k2", "--mem", "64M", "--cp", "3"), &o), 0);
	assert_string_equal(o.cfg.kernel, "k2");
	assert_int_equal(o.cfg.memory, 64 * MIB);
	assert_int_equal(o.cfg.cpus, 3);
}

static void test_run_short_options(void **state)
{
	struct run_options o;

	(void)state;
	assert_int_equal(parse(ARGV("-k", "vmlinuz", "-i", "initrd.img", "-c", "init=/bin/sh",
				    "-p", "2", "-m", "256", "-v"), &o), 0);
	assert_string_equal(o.cfg.kernel, "vmlinuz");
	assert_string_equal(o.cfg.initrd, "initrd.img");
	assert_string_equal(o.cfg.cmdline, "init=/bin/sh");
	assert_int_equal(o.cfg.cpus, 2);
	assert_int_equal(o.cfg.memory, 256 * MIB);
	assert_int_equal(o.verbosity, 1);

	/* Values glued to the letter, grouped flags. */
	assert_int_equal(parse(ARGV("-kvmlinuz", "-p3", "-m1G", "-vv", "-q"), &o), 0);
	assert_string_equal(o.cfg.kernel, "vmlinuz");
	assert_int_equal(o.cfg.cpus, 3);
	assert_int_equal(o.cfg.memory, GIB);
	assert_int_equal(o.verbosity, -1);

	/* A later option wins. */
	assert_int_equal(parse(ARGV("-k", "a", "-k", "b", "-p", "2", "--cpus", "5"), &o), 0);
	assert_string_equal(o.cfg.kernel, "b");
	assert_int_equal(o.cfg.cpus, 5);
}

static void test_run_verbosity(void **state)
{
	struct run_options o;

	(void)state;
	assert_int_equal(parse(ARGV("-k", "x", "-v", "-v"), &o), 0);
	assert_int_equal(o.verbosity, 2);
	assert_int_equal(parse(ARGV("-k", "x", "-vv"), &o), 0);
	assert_int_equal(o.verbosity, 2);
	assert_int_equal(parse(ARGV("-k", "x", "-v", "--quiet"), &o), 0);
	assert_int_equal(o.verbosity, -1);
	/* -v after -q counts from normal, not from quiet. */
	assert_int_equal(parse(ARGV("-k", "x", "-q", "-v"), &o), 0);
	assert_int_equal(o.verbosity, 1);
}

static void test_run_cpus(void **state)
{
	struct run_options o;

	(void)state;
	assert_int_equal(parse(ARGV("-k", "x", "--cpus", "1"), &o), 0);
	assert_int_equal(o.cfg.cpus, 1);
	assert_int_equal(parse(ARGV("-k", "x", "--cpus", "255"), &o), 0);
	assert_int_equal(o.cfg.cpus, VMCFG_CPUS_MAX);
	assert_int_equal(parse(ARGV("-k", "x", "--cpus", "007"), &o), 0);
	assert_int_equal(o.cfg.cpus, 7);

	assert_parse_error(ARGV("-k", "x", "--cpus", "0"),
			   "--cpus 0 is out of range: use 1 to 255");
	assert_parse_error(ARGV("-k", "x", "--cpus", "256"),
			   "--cpus 256 is out of range: use 1 to 255");
	assert_parse_error(ARGV("-k", "x", "-p", "4294967297"),
			   "--cpus 4294967297 is out of range: use 1 to 255");
	assert_parse_error(ARGV("-k", "x", "--cpus", "abc"), "--cpus 'abc' is not a number");
	assert_parse_error(ARGV("-k", "x", "--cpus", ""), "--cpus '' is not a number");
	assert_parse_error(ARGV("-k", "x", "--cpus", "-1"), "--cpus '-1' is not a number");
	assert_parse_error(ARGV("-k", "x", "--cpus", "+2"), "--cpus '+2' is not a number");
	assert_parse_error(ARGV("-k", "x", "--cpus", " 2"), "--cpus ' 2' is not a number");
	assert_parse_error(ARGV("-k", "x", "--cpus", "2x"), "--cpus '2x' is not a number");
	assert_parse_error(ARGV("-k", "x", "--cpus", "99999999999999999999999"),
			   "--cpus 99999999999999999999999 is out of range: use 1 to 255");
}

static void test_run_memory(void **state)
{
	struct run_options o;

	(void)state;
	assert_int_equal(parse(ARGV("-k", "x", "--memory", "32M"), &o), 0);
	assert_int_equal(o.cfg.memory, VMCFG_MEMORY_MIN);
	assert_int_equal(parse(ARGV("-k", "x", "--memory", "32"), &o), 0);
	assert_int_equal(o.cfg.memory, 32 * MIB);
	assert_int_equal(parse(ARGV("-k", "x", "--memory", "1T"), &o), 0);
	assert_int_equal(o.cfg.memory, VMCFG_MEMORY_MAX);
	assert_int_equal(parse(ARGV("-k", "x", "--memory", "1024G"), &o), 0);
	assert_int_equal(o.cfg.memory, TIB);

	assert_parse_error(ARGV("-k", "x", "--memory", "31M"),
			   "--memory 31M is too small: at least 32M");
	assert_parse_error(ARGV("-k", "x", "--memory", "33554431B"),
			   "--memory 33554431B is too small: at least 32M");
	assert_parse_error(ARGV("-k", "x", "--memory", "0"),
			   "--memory 0 is too small: at least 32M");
	assert_parse_error(ARGV("-k", "x", "--memory", "1025G"),
			   "--memory 1025G is too large: at most 1T");
	assert_parse_error(ARGV("-k", "x", "-m", "1099511627777B"),
			   "--memory 1099511627777B is too large: at most 1T");
	assert_parse_error(ARGV("-k", "x", "--memory", "99999999999999999999"),
			   "--memory 99999999999999999999 is too large: at most 1T");
	assert_parse_error(ARGV("-k", "x", "--memory", "lots"),
			   "--memory 'lots' is not a size (examples: 512M, 2G, 1024)");
	assert_parse_error(ARGV("-k", "x", "--memory", ""),
			   "--memory '' is not a size (examples: 512M, 2G, 1024)");
	assert_parse_error(ARGV("-k", "x", "--memory", "-1G"),
			   "--memory '-1G' is not a size (examples: 512M, 2G, 1024)");
}

static void test_run_memory_whole_pages(void **state)
{
	struct run_options o;

	(void)state;
	/* Rounded down to a multiple of 4 KiB. */
	assert_int_equal(parse(ARGV("-k", "x", "--memory", "33562623B"), &o), 0);
	assert_int_equal(o.cfg.memory, 32 * MIB + 4096);
	assert_int_equal(parse(ARGV("-k", "x", "--memory", "33554433B"), &o), 0);
	assert_int_equal(o.cfg.memory, 32 * MIB);
	assert_int_equal(parse(ARGV("-k", "x", "--memory", "0.1G"), &o), 0);
	assert_int_equal(o.cfg.memory, (GIB / 10) & ~0xfffULL);
	assert_int_equal(o.cfg.memory % 4096, 0);
	assert_int_equal(parse(ARGV("-k", "x", "--memory", "100.3M"), &o), 0);
	assert_int_equal(o.cfg.memory % 4096, 0);
	assert_true(o.cfg.memory > 100 * MIB && o.cfg.memory <= 100 * MIB + 3 * MIB / 10);
}

static void test_run_nested(void **state)
{
	struct run_options o;

	(void)state;
	assert_int_equal(parse(ARGV("-k", "x"), &o), 0);
	assert_false(o.cfg.nested);
	assert_int_equal(o.cfg.max_depth, 0);
	assert_int_equal(parse(ARGV("-k", "x", "--nested"), &o), 0);
	assert_true(o.cfg.nested);
	assert_int_equal(parse(ARGV("-k", "x", "--expose-virtualization-extensions"), &o), 0);
	assert_true(o.cfg.nested);
	assert_int_equal(parse(ARGV("-k", "x", "-n", "--max-depth", "3"), &o), 0);
	assert_true(o.cfg.nested);
	assert_int_equal(o.cfg.max_depth, 3);
	assert_int_equal(parse(ARGV("-k", "x", "-d", "1"), &o), 0);
	assert_int_equal(o.cfg.max_depth, 1);
	assert_int_equal(parse(ARGV("-k", "x", "--max-depth=64"), &o), 0);
	assert_int_equal(o.cfg.max_depth, VMCFG_MAX_DEPTH_MAX);

	assert_parse_error(ARGV("-k", "x", "--max-depth", "0"),
			   "--max-depth 0 is out of range: use 1 to 64");
	assert_parse_error(ARGV("-k", "x", "--max-depth", "65"),
			   "--max-depth 65 is out of range: use 1 to 64");
	assert_parse_error(ARGV("-k", "x", "--max-depth", "two"),
			   "--max-depth 'two' is not a number");
	assert_parse_error(ARGV("-k", "x", "--max-depth"), "option --max-depth needs a value");
}

static void test_run_unknown_option(void **state)
{
	(void)state;
	assert_parse_error(ARGV("-k", "x", "--bogus"),
			   "unknown option '--bogus' (see nestvm run --help)");
	assert_parse_error(ARGV("--bogus=1", "-k", "x"),
			   "unknown option '--bogus=1' (see nestvm run --help)");
	assert_parse_error(ARGV("-k", "x", "-x"),
			   "unknown option '-x' (see nestvm run --help)");
	/* The bad letter is named wherever it sits in a group of flags. */
	assert_parse_error(ARGV("-k", "x", "-vx"),
			   "unknown option '-x' (see nestvm run --help)");
	assert_parse_error(ARGV("-xv", "-k", "x"),
			   "unknown option '-x' (see nestvm run --help)");
	assert_parse_error(ARGV("--kernel=x", "-yv"),
			   "unknown option '-y' (see nestvm run --help)");
	assert_parse_error(ARGV("-k", "x", "-:"),
			   "unknown option '-:' (see nestvm run --help)");
	assert_parse_error(ARGV("-k", "x", "-+v"),
			   "unknown option '-+' (see nestvm run --help)");
	/* A value given to an option that takes none. */
	assert_parse_error(ARGV("-k", "x", "--verbose=2"),
			   "unknown option '--verbose=2' (see nestvm run --help)");
	assert_parse_error(ARGV("-k", "x", "--verb=2"),
			   "unknown option '--verb=2' (see nestvm run --help)");
	/* An ambiguous abbreviation (--cmdline, --cpus). */
	assert_parse_error(ARGV("-k", "x", "--c", "1"),
			   "unknown option '--c' (see nestvm run --help)");
}

static void test_run_missing_value(void **state)
{
	(void)state;
	assert_parse_error(ARGV("--kernel"), "option --kernel needs a value");
	assert_parse_error(ARGV("-k", "x", "--memory"), "option --memory needs a value");
	assert_parse_error(ARGV("-k", "x", "--cpus"), "option --cpus needs a value");
	assert_parse_error(ARGV("-k", "x", "-i"), "option -i needs a value");
	assert_parse_error(ARGV("-k", "x", "-vc"), "option -c needs a value");
	assert_parse_error(ARGV("--kernel=x", "-p"), "option -p needs a value");
	assert_parse_error(ARGV("-k", "x", "--mem"), "option --mem needs a value");
}

static void test_run_kernel_required(void **state)
{
	(void)state;
	assert_parse_error((char *[]){ "run", NULL },
			   "--kernel PATH is required (see nestvm run --help)");
	assert_parse_error(ARGV("--initrd", "i", "-m", "1G"),
			   "--kernel PATH is required (see nestvm run --help)");
}

static void test_run_stray_argument(void **state)
{
	(void)state;
	assert_parse_error(ARGV("-k", "x", "extra"),
			   "unexpected argument 'extra' (see nestvm run --help)");
	/* Options stop at the first non-option: nothing after it is taken. */
	assert_parse_error(ARGV("bzImage", "-k", "x"),
			   "unexpected argument 'bzImage' (see nestvm run --help)");
	assert_parse_error(ARGV("-k", "x", "--", "more"),
			   "unexpected argument 'more' (see nestvm run --help)");
	assert_parse_error(ARGV("-k", "x", "-"),
			   "unexpected argument '-' (see nestvm run --help)");
}

static void test_run_help(void **state)
{
	struct run_options o;
	const char *usage = options_run_usage();

	(void)state;
	assert_int_equal(parse(ARGV("--help"), &o), 0);
	assert_true(o.help);
	assert_null(o.cfg.kernel); /* no --kernel needed */
	assert_int_equal(parse(ARGV("-h"), &o), 0);
	assert_true(o.help);
	/* Parsing stops at --help: a later bad option is not looked at. */
	assert_int_equal(parse(ARGV("-k", "x", "-h", "--bogus", "extra"), &o), 0);
	assert_true(o.help);
	assert_string_equal(o.cfg.kernel, "x");
	/* An error before it still counts. */
	assert_parse_error(ARGV("--cpus", "0", "--help"), "--cpus 0 is out of range: use 1 to 255");

	assert_non_null(strstr(usage, "usage: nestvm run --kernel PATH"));
	assert_non_null(strstr(usage, "--memory SIZE"));
	assert_non_null(strstr(usage, "Ctrl-A x"));
}

/* getopt keeps global state: each parse must start from scratch, even after
 * one that stopped in the middle of a group of short options. */
static void test_run_repeated_parsing(void **state)
{
	struct run_options o;

	(void)state;
	assert_parse_error(ARGV("-vxq", "-k", "a"),
			   "unknown option '-x' (see nestvm run --help)");
	assert_int_equal(parse(ARGV("-k", "b", "-p", "2"), &o), 0);
	assert_string_equal(o.cfg.kernel, "b");
	assert_int_equal(o.cfg.cpus, 2);
	assert_int_equal(o.verbosity, 0);

	assert_int_equal(parse(ARGV("-hv", "-k", "c"), &o), 0);  /* stops inside "-hv" */
	assert_true(o.help);
	assert_int_equal(parse(ARGV("-q", "-k", "d", "-m", "64"), &o), 0);
	assert_false(o.help);
	assert_string_equal(o.cfg.kernel, "d");
	assert_int_equal(o.verbosity, -1);
	assert_int_equal(o.cfg.memory, 64 * MIB);

	for (int i = 0; i < 3; i++) {
		assert_parse_error(ARGV("-k", "x", "stray"),
				   "unexpected argument 'stray' (see nestvm run --help)");
		assert_int_equal(parse(ARGV("--kernel", "e"), &o), 0);
		assert_string_equal(o.cfg.kernel, "e");
		assert_int_equal(o.cfg.cpus, 1);
	}
}

static void test_run_error_buffer_truncated(void **state)
{
	struct run_options o;
	char small[8];

	(void)state;
	assert_int_equal(options_parse_run(3, ARGV("-k", "x"), &o, small, sizeof(small)), 0);
	assert_string_equal(small, "");
	options_free(&o);
	assert_int_equal(options_parse_run(3, ARGV("--cpus", "0"), &o, small, sizeof(small)),
			 -EINVAL);
	assert_string_equal(small, "--cpus ");
	options_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_plain_number_is_mib),
		cmocka_unit_test(test_size_suffixes),
		cmocka_unit_test(test_size_decimals),
		cmocka_unit_test(test_size_rejects_garbage),
		cmocka_unit_test(test_size_overflow),
		cmocka_unit_test(test_format_size),
		cmocka_unit_test(test_run_defaults),
		cmocka_unit_test(test_run_long_options),
		cmocka_unit_test(test_run_short_options),
		cmocka_unit_test(test_run_verbosity),
		cmocka_unit_test(test_run_cpus),
		cmocka_unit_test(test_run_memory),
		cmocka_unit_test(test_run_memory_whole_pages),
		cmocka_unit_test(test_run_nested),
		cmocka_unit_test(test_run_unknown_option),
		cmocka_unit_test(test_run_missing_value),
		cmocka_unit_test(test_run_kernel_required),
		cmocka_unit_test(test_run_stray_argument),
		cmocka_unit_test(test_run_help),
		cmocka_unit_test(test_run_repeated_parsing),
		cmocka_unit_test(test_run_error_buffer_truncated),
		cmocka_unit_test(test_run_devices),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);

	parse_free();
	return r;
}
