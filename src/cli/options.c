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
	*bytes = (whole << shift) + ((frac << shift) / frac_div);
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

static int options_parse_cpus(const char *arg, unsigned int *cpus, char *err, size_t errlen)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (!isdigit((unsigned char)arg[0]) || *end || errno)
		return options_err(err, errlen, "--cpus '%s' is not a number%s", arg, "");
	if (v < 1 || v > OPT_CPUS_MAX)
		return options_err(err, errlen, "--cpus %s is out of range: use 1 to 255%s", arg, "");
	*cpus = (unsigned int)v;
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

int options_parse_run(int argc, char **argv, struct run_options *o, char *err, size_t errlen)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "cpus", required_argument, NULL, 'p' },
		{ "memory", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->cmdline = OPT_CMDLINE_DEFAULT;
	o->cpus = 1;
	o->memory = OPT_MEMORY_DEFAULT;
	err[0] = '\0';
	optind = 0; /* full re-initialisation of getopt (glibc) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:k:i:c:p:m:vqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': o->kernel = optarg; break;
		case 'i': o->initrd = optarg; break;
		case 'c': o->cmdline = optarg; break;
		case 'p':
			if (options_parse_cpus(optarg, &o->cpus, err, errlen))
				return -EINVAL;
			break;
		case 'm':
			if (options_parse_memory(optarg, &o->memory, err, errlen))
				return -EINVAL;
			break;
		case 'v': o->verbosity = o->verbosity < 0 ? 1 : o->verbosity + 1; break;
		case 'q': o->verbosity = -1; break;
		case 'h': o->help = true; return 0;
		case ':':
			return options_err(err, errlen, "option %s needs a value%s",
					   argv[optind - 1], "");
		default:
			return options_err(err, errlen, "unknown option '%s'%s",
					   argv[optind - 1], " (see nestvm run --help)");
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
