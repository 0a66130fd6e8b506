#include "cli/options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int options_parse_size(const char *s, uint64_t *bytes)
{
	uint64_t whole = 0, frac = 0, frac_div = 1, shift = 20;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (whole > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			if (frac_div < 1000000000ULL) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				frac_div *= 10;
			}
		}
	}
	switch (toupper((unsigned char)*p)) {
	case '\0': shift = 20; break;          /* plain number: MiB */
	case 'B': shift = 0; p++; break;
	case 'K': shift = 10; p++; break;
	case 'M': shift = 20; p++; break;
	case 'G': shift = 30; p++; break;
	case 'T': shift = 40; p++; break;
	default: return -EINVAL;
	}
	/* After a unit letter: nothing, "B" or "iB" ("2G", "2GB", "2GiB"). */
	if (shift && p > s && isalpha((unsigned char)p[-1]) &&
	    (strcasecmp(p, "B") == 0 || strcasecmp(p, "iB") == 0))
		p += strlen(p);
	if (*p)
		return -EINVAL;
	if (whole > (UINT64_MAX >> shift))
		return -ERANGE;
	/* frac < 10^9 < 2^30: shifted by up to 40 it needs more than 64 bits. */
	*bytes = (whole << shift) + (uint64_t)(((unsigned __int128)frac << shift) / frac_div);
	return 0;
}

void options_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (u < 4 && bytes >= (1ULL << (10 * (u + 1))))
		u++;
	if (u == 0 || bytes % (1ULL << (10 * u)) == 0)
		snprintf(buf, len, "%" PRIu64 " %s", bytes >> (10 * u), unit[u]);
	else
		snprintf(buf, len, "%.1f %s", (double)bytes / (double)(1ULL << (10 * u)), unit[u]);
}

const char *options_run_usage(void)
{
	return "usage: nestvm run --kernel PATH [options]\n"
	       "\n"
	       "Boot a Linux bzImage in a KVM virtual machine, in the foreground, with its\n"
	       "serial console on this terminal (Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A).\n"
	       "\n"
	       "  -k, --kernel PATH    bzImage to boot (e.g. Debian's /boot/vmlinuz-*)\n"
	       "  -i, --initrd PATH    initramfs to load\n"
	       "  -c, --cmdline STR    kernel command line (default \"" OPT_CMDLINE_DEFAULT "\")\n"
	       "  -p, --cpus N         virtual CPUs, 1-255 (default 1)\n"
	       "  -m, --memory SIZE    guest RAM: 512M, 2G, ... a plain number is MiB (default 512M)\n"
	       "  -n, --nested         expose the CPU's virtualization extensions (VMX/SVM)\n"
	       "                       so the guest can run its own hypervisor\n"
	       "      --expose-virtualization-extensions   the same as --nested\n"
	       "  -d, --max-depth N    levels this guest and its descendants may span (1-64):\n"
	       "                       1 = the guest may not nest, 2 = its guests may not, ...\n"
	       "  -v, --verbose        more messages (repeat for debug)\n"
	       "  -q, --quiet          errors only\n"
	       "  -h, --help           this text\n"
	       "\n"
	       "Exit status: 0 when the guest powers off or reboots (or Ctrl-A x), 1 for bad\n"
	       "options or files, 2 when KVM is unusable, 3 when the guest crashed (triple\n"
	       "fault), 4 for a KVM or internal error, 128+N when killed by signal N.\n";
}

static int options_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int options_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int options_parse_uint(const char *opt, const char *arg, unsigned long min,
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

static int options_parse_memory(const char *arg, uint64_t *mem, char *err, size_t errlen)
{
	int r = options_parse_size(arg, mem);

	if (r == -EINVAL)
		return options_err(err, errlen,
				   "--memory '%s' is not a size (examples: 512M, 2G, 1024)%s", arg, "");
	if (r == -ERANGE || *mem > OPT_MEMORY_MAX)
		return options_err(err, errlen, "--memory %s is too large: at most 1T%s", arg, "");
	if (*mem < OPT_MEMORY_MIN)
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
static const char *options_bad_name(int c, char **argv, const char *shortopts, char name[3])
{
	const char *arg = argv[optind - 1];
	int is_short = c == ':' ? strncmp(arg, "--", 2) != 0
				: optopt && (optopt == ':' || !strchr(shortopts + 2, optopt));

	if (!is_short)
		return arg;
	name[0] = '-';
	name[1] = (char)optopt;
	name[2] = '\0';
	return name;
}

int options_parse_run(int argc, char **argv, struct run_options *o, char *err, size_t errlen)
{
	static const struct option longopts[] = {
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
		{ NULL, 0, NULL, 0 },
	};
	static const char shortopts[] = "+:k:i:c:p:m:nd:vqh";
	char name[3];
	int c;

	memset(o, 0, sizeof(*o));
	o->cmdline = OPT_CMDLINE_DEFAULT;
	o->cpus = 1;
	o->memory = OPT_MEMORY_DEFAULT;
	err[0] = '\0';
	optind = 0; /* full re-initialisation of getopt (glibc) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'k': o->kernel = optarg; break;
		case 'i': o->initrd = optarg; break;
		case 'c': o->cmdline = optarg; break;
		case 'p':
			if (options_parse_uint("--cpus", optarg, 1, OPT_CPUS_MAX, &o->cpus, err,
					       errlen))
				return -EINVAL;
			break;
		case 'm':
			if (options_parse_memory(optarg, &o->memory, err, errlen))
				return -EINVAL;
			break;
		case 'n': o->nested = true; break;
		case 'd':
			if (options_parse_uint("--max-depth", optarg, 1, OPT_MAX_DEPTH_MAX,
					       &o->max_depth, err, errlen))
				return -EINVAL;
			break;
		case 'v': o->verbosity = o->verbosity < 0 ? 1 : o->verbosity + 1; break;
		case 'q': o->verbosity = -1; break;
		case 'h': o->help = true; return 0;
		case ':':
			return options_err(err, errlen, "option %s needs a value%s",
					   options_bad_name(c, argv, shortopts, name), "");
		default:
			return options_err(err, errlen, "unknown option '%s'%s",
					   options_bad_name(c, argv, shortopts, name),
					   " (see nestvm run --help)");
		}
	}
	if (optind < argc)
		return options_err(err, errlen, "unexpected argument '%s'%s", argv[optind],
				   " (see nestvm run --help)");
	if (!o->kernel)
		return options_err(err, errlen, "--kernel PATH is required%s%s", "",
				   " (see nestvm run --help)");
	return 0;
}
