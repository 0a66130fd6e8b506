#include "cli/options.h"

#include "devices/table.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *options_run_usage(void)
{
	static const char head[] =
		"usage: nestvm run --kernel PATH [options]\n"
		"\n"
		"Boot a Linux bzImage in a KVM virtual machine, in the foreground, with its\n"
		"serial console on this terminal (Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A).\n"
		"\n"
		"  -k, --kernel PATH    bzImage to boot (e.g. Debian's /boot/vmlinuz-*)\n"
		"  -i, --initrd PATH    initramfs to load\n"
		"  -c, --cmdline STR    kernel command line (default \"" VMCFG_CMDLINE_DEFAULT "\")\n"
		"  -p, --cpus N         virtual CPUs, 1-255 (default 1)\n"
		"  -m, --memory SIZE    guest RAM: 512M, 2G, ... a plain number is MiB (default 512M)\n"
		"  -n, --nested         expose the CPU's virtualization extensions (VMX/SVM)\n"
		"                       so the guest can run its own hypervisor\n"
		"      --expose-virtualization-extensions   the same as --nested\n"
		"  -d, --max-depth N    levels this guest and its descendants may span (1-64):\n"
		"                       1 = the guest may not nest, 2 = its guests may not, ...\n";
	static const char tail[] =
		"      --restore DIR    start from the snapshot in DIR (nestvm snapshot) instead of\n"
		"                       booting: the same vCPUs, memory and devices as saved\n"
		"      --restore-eager  read the snapshot's memory in before starting\n"
		"  -v, --verbose        more messages (repeat for debug)\n"
		"  -q, --quiet          errors only\n"
		"  -h, --help           this text\n"
		"\n"
		"Exit status: 0 when the guest powers off or reboots (or Ctrl-A x), 1 for bad\n"
		"options or files, 2 when KVM is unusable, 3 when the guest crashed (triple\n"
		"fault), 4 for a KVM or internal error, 128+N when killed by signal N.\n";
	static char text[8192];

	/* The device options' lines come from their classes, in table order. */
	if (!text[0]) {
		size_t n = snprintf(text, sizeof(text), "%s", head);

		for (size_t t = 0; t < device_table_len && n < sizeof(text); t++)
			if (device_table[t]->cli_help)
				n += snprintf(text + n, sizeof(text) - n, "%s",
					      device_table[t]->cli_help);
		if (n < sizeof(text))
			snprintf(text + n, sizeof(text) - n, "%s", tail);
	}
	return text;
}

int options_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int options_parse_uint(const char *opt, const char *arg, unsigned long min,
			      unsigned long max, unsigned int *out, char *err, size_t errlen)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (!isdigit((unsigned char)arg[0]) || *end || errno == EINVAL)
		return options_err(err, errlen, "%s '%s' is not a number", opt, arg);
	if (errno == ERANGE || v < min || v > max)
		return options_err(err, errlen, "%s %s is out of range: use %lu to %lu", opt, arg,
				   min, max);
	*out = (unsigned int)v;
	return 0;
}

int options_parse_memory(const char *arg, uint64_t *mem, char *err, size_t errlen)
{
	int r = vmconfig_parse_size(arg, mem);

	if (r == -EINVAL)
		return options_err(err, errlen,
				   "--memory '%s' is not a size (examples: 512M, 2G, 1024)%s", arg, "");
	if (r == -ERANGE || *mem > VMCFG_MEMORY_MAX)
		return options_err(err, errlen, "--memory %s is too large: at most 1T%s", arg, "");
	if (*mem < VMCFG_MEMORY_MIN)
		return options_err(err, errlen, "--memory %s is too small: at least 32M%s", arg, "");
	*mem &= ~0xfffULL; /* whole pages */
	return 0;
}

/* The option getopt_long() just rejected (c is ':' or '?'). argv[optind - 1]
 * is the argument holding it once getopt has moved past it ("--bogus", "-vx")
 * but the one before while letters of a group are left ("-xv"), so a short
 * option is named by its letter: for ':' it is short unless the argument is
 * "--name"; for '?' it is short when optopt is not one of our letters (a long option
 * rejected for its "=value" sets optopt to its own letter, an unknown one 0). */
const char *options_bad_name(int c, char **argv, const char *shortopts, char name[3])
{
	const char *arg = argv[optind - 1];
	int is_short = c == ':' ? strncmp(arg, "--", 2) != 0
				: optopt && optopt < 256 &&
				  (optopt == ':' || !strchr(shortopts + 2, optopt));

	if (!is_short)
		return arg;
	name[0] = '-';
	name[1] = (char)optopt;
	name[2] = '\0';
	return name;
}

/* ---- device options, from the device table ---- */

/* The i-th device option: (class, option name). */
static size_t options_device_list(const char *names[OPT_DEVICE_MAX],
				  const struct device_class *cls[OPT_DEVICE_MAX])
{
	size_t n = 0;

	for (size_t t = 0; t < device_table_len; t++) {
		const struct device_class *c = device_table[t];

		if (c->cli_option && n < OPT_DEVICE_MAX) {
			cls[n] = c;
			names[n++] = c->cli_option;
		}
		for (const char *const *m = c->cli_modifiers; m && *m && n < OPT_DEVICE_MAX; m++) {
			cls[n] = c;
			names[n++] = *m;
		}
	}
	return n;
}

void options_device_longopts(struct option *longopts, size_t *n, bool flag_arg)
{
	const char *names[OPT_DEVICE_MAX];
	const struct device_class *cls[OPT_DEVICE_MAX];
	size_t k = options_device_list(names, cls);

	for (size_t i = 0; i < k; i++) {
		bool flag = cls[i]->cli_flag && names[i] == cls[i]->cli_option;

		longopts[(*n)++] = (struct option){ names[i],
			flag && !flag_arg ? no_argument : required_argument, NULL,
			OPT_DEVICE_BASE + (int)i };
	}
}

const char *options_device_name(int c)
{
	const char *names[OPT_DEVICE_MAX];
	const struct device_class *cls[OPT_DEVICE_MAX];
	size_t k = options_device_list(names, cls);

	return c >= OPT_DEVICE_BASE && (size_t)(c - OPT_DEVICE_BASE) < k
		? names[c - OPT_DEVICE_BASE] : NULL;
}

static int options_add_device(struct vm_config *c, const struct device_class *cls,
			      const char *arg, char *err, size_t errlen)
{
	json_t *cfg = NULL;
	int r;

	if (cls->cli_flag && vmconfig_count(c, cls) > 0)
		return 0;   /* --rng --rng: still one */
	r = cls->config_parse(arg, &cfg, err, errlen);
	if (r)
		return r;
	if (cls->config_default)
		cls->config_default(cfg, vmconfig_count(c, cls));
	return vmconfig_add_device(c, cls, cfg, err, errlen);
}

int options_device(struct vm_config *c, const char *opt, const char *arg, char *err,
		   size_t errlen)
{
	const struct device_class *cls = device_find_option(opt);
	struct vm_device_config *d;
	int r;

	if (cls)
		return options_add_device(c, cls, arg, err, errlen);
	cls = device_find_modifier(opt);
	if (!cls)
		return options_err(err, errlen, "unknown device option '--%s'", opt);
	d = vmconfig_last(c, cls);
	if (!d && cls->cli_default_arg) {
		r = options_add_device(c, cls, cls->cli_default_arg, err, errlen);
		if (r)
			return r;
		d = vmconfig_last(c, cls);
	}
	if (!d)
		return options_err(err, errlen, "--%s applies to the --%s before it: name one "
				   "first", opt, cls->cli_option);
	return cls->config_modify(d->cfg, opt, arg, err, errlen);
}

/* The option -r stands for: the first cli_flag class's. */
static const char *options_flag_option(void)
{
	for (size_t t = 0; t < device_table_len; t++)
		if (device_table[t]->cli_flag)
			return device_table[t]->cli_option;
	return "";
}

void options_free(struct run_options *o)
{
	vmconfig_free(&o->cfg);
}

int options_parse_run(int argc, char **argv, struct run_options *o, char *err, size_t errlen)
{
	static const struct option fixed[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "cpus", required_argument, NULL, 'p' },
		{ "memory", required_argument, NULL, 'm' },
		{ "nested", no_argument, NULL, 'n' },
		{ "expose-virtualization-extensions", no_argument, NULL, 'n' },
		{ "max-depth", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "restore", required_argument, NULL, 'R' },
		{ "restore-eager", no_argument, NULL, 'E' },
	};
	/* -r is --rng's short form: the first cli_flag option of the table. */
	static const char shortopts[] = "+:k:i:c:p:m:nd:rvqh";
	struct option longopts[sizeof(fixed) / sizeof(fixed[0]) + OPT_DEVICE_MAX + 1];
	size_t nl = sizeof(fixed) / sizeof(fixed[0]);
	struct vm_config *cfg = &o->cfg;
	char name[3];
	int c, r = 0;

	memcpy(longopts, fixed, sizeof(fixed));
	options_device_longopts(longopts, &nl, false);
	longopts[nl] = (struct option){ NULL, 0, NULL, 0 };
	memset(o, 0, sizeof(*o));
	vmconfig_init(cfg);
	err[0] = '\0';
	optind = 0; /* full re-initialisation of getopt (glibc) */
	opterr = 0;
	while (!r && (c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'k': r = vmconfig_set_string(&cfg->kernel, optarg); break;
		case 'i': r = vmconfig_set_string(&cfg->initrd, optarg); break;
		case 'c': r = vmconfig_set_string(&cfg->cmdline, optarg); break;
		case 'p':
			r = options_parse_uint("--cpus", optarg, 1, VMCFG_CPUS_MAX, &cfg->cpus, err,
					       errlen);
			break;
		case 'm':
			r = options_parse_memory(optarg, &cfg->memory, err, errlen);
			break;
		case 'n': cfg->nested = true; break;
		case 'r': r = options_device(cfg, options_flag_option(), NULL, err, errlen); break;
		case 'd':
			r = options_parse_uint("--max-depth", optarg, 1, VMCFG_MAX_DEPTH_MAX,
					       &cfg->max_depth, err, errlen);
			break;
		case 'v': o->verbosity = o->verbosity < 0 ? 1 : o->verbosity + 1; break;
		case 'q': o->verbosity = -1; break;
		case 'R': o->restore_dir = optarg; break;
		case 'E': o->restore_eager = true; break;
		case 'h': o->help = true; return 0;
		case ':':
			r = options_err(err, errlen, "option %s needs a value%s",
					options_bad_name(c, argv, shortopts, name), "");
			break;
		default:
			if (options_device_name(c)) {
				r = options_device(cfg, options_device_name(c), optarg, err, errlen);
				break;
			}
			r = options_err(err, errlen, "unknown option '%s'%s",
					options_bad_name(c, argv, shortopts, name),
					" (see nestvm run --help)");
		}
		if (r == -ENOMEM)
			options_err(err, errlen, "out of memory");
	}
	if (r)
		return -EINVAL;
	if (optind < argc)
		return options_err(err, errlen, "unexpected argument '%s'%s", argv[optind],
				   " (see nestvm run --help)");
	if (!cfg->kernel)
		return options_err(err, errlen, "--kernel PATH is required%s%s", "",
				   " (see nestvm run --help)");
	return vmconfig_check(cfg, err, errlen) ? -EINVAL : 0;
}
