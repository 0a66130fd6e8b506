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
	       "  -r, --rng            a virtio-rng device (entropy from the host's getrandom)\n"
	       "      --disk PATH[,ro] a virtio-blk disk on a raw image file (repeatable)\n"
	       "      --nic user|tap[:NAME]  a virtio-net NIC: user-mode NAT (libslirp, the\n"
	       "                       default) or a tap device (repeatable); the options\n"
	       "                       below apply to the NIC named before them:\n"
	       "      --mac MAC        its MAC address (default 02:4e:56:00:00:0N)\n"
	       "      --forward tcp:HOSTPORT:GUESTPORT   forward a host port (user NAT)\n"
	       "      --mac-spoofing on|off   let the guest send from other MACs (off)\n"
	       "      --allow-mac MAC  admit one more source MAC, spoofing still off\n"
	       "  -v, --verbose        more messages (repeat for debug)\n"
	       "  -q, --quiet          errors only\n"
	       "  -h, --help           this text\n"
	       "\n"
	       "Exit status: 0 when the guest powers off or reboots (or Ctrl-A x), 1 for bad\n"
	       "options or files, 2 when KVM is unusable, 3 when the guest crashed (triple\n"
	       "fault), 4 for a KVM or internal error, 128+N when killed by signal N.\n";
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
const char *options_bad_name(int c, char **argv, const char *shortopts, char name[3])
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

/* The NIC that --mac/--forward/--mac-spoofing/--allow-mac apply to: the
 * last one declared, or an implicit user-mode NIC. */
static struct net_config *options_cur_nic(struct run_options *o, bool create, char *err,
					  size_t errlen)
{
	struct net_config *n;

	if (!create && o->n_nics > 0)
		return &o->nics[o->n_nics - 1];
	if (o->n_nics >= OPT_MAX_NICS) {
		options_err(err, errlen, "too many NICs: at most %d", OPT_MAX_NICS);
		return NULL;
	}
	n = &o->nics[o->n_nics];
	memset(n, 0, sizeof(*n));
	n->backend = NET_BACKEND_USER;
	memcpy(n->mac, "\x02\x4e\x56\x00\x00", 5);
	n->mac[5] = (uint8_t)(o->n_nics + 1);
	o->n_nics++;
	return n;
}

static int options_parse_forward(struct net_config *n, const char *arg, char *err, size_t errlen)
{
	unsigned int h, g;
	char tail;

	if (sscanf(arg, "tcp:%u:%u%c", &h, &g, &tail) != 2 || !h || !g || h > 65535 || g > 65535)
		return options_err(err, errlen, "--forward '%s': use tcp:HOSTPORT:GUESTPORT "
				   "(ports 1-65535)", arg);
	if (n->backend != NET_BACKEND_USER)
		return options_err(err, errlen, "--forward needs a user-mode NIC (--nic user)");
	if (n->n_forwards >= NET_MAX_FORWARDS)
		return options_err(err, errlen, "too many --forward: at most %d a NIC",
				   NET_MAX_FORWARDS);
	n->forwards[n->n_forwards++] = (struct net_forward){ (uint16_t)h, (uint16_t)g };
	return 0;
}

static int options_parse_nic(struct run_options *o, const char *arg, char *err, size_t errlen)
{
	struct net_config *n;

	if (strcmp(arg, "user") != 0 && strcmp(arg, "tap") != 0 && strncmp(arg, "tap:", 4) != 0)
		return options_err(err, errlen, "--nic '%s': use user, tap or tap:NAME", arg);
	if (strncmp(arg, "tap:", 4) == 0 && (strlen(arg + 4) == 0 || strlen(arg + 4) >= 16))
		return options_err(err, errlen, "--nic '%s': a tap name has 1 to 15 characters", arg);
	n = options_cur_nic(o, true, err, errlen);
	if (!n)
		return -EINVAL;
	if (strcmp(arg, "user") != 0) {
		n->backend = NET_BACKEND_TAP;
		snprintf(n->tap_name, sizeof(n->tap_name), "%s", arg[3] == ':' ? arg + 4 : "");
	}
	return 0;
}

static int options_parse_disk(struct run_options *o, const char *arg, char *err, size_t errlen)
{
	const char *comma = strrchr(arg, ',');
	struct blk_config *d;
	size_t len = strlen(arg);

	if (o->n_disks >= OPT_MAX_DISKS)
		return options_err(err, errlen, "too many disks: at most %d", OPT_MAX_DISKS);
	d = &o->disks[o->n_disks];
	d->readonly = false;
	if (comma && (strcmp(comma, ",ro") == 0 || strcmp(comma, ",readonly") == 0)) {
		len = (size_t)(comma - arg);
		d->readonly = true;
	}
	if (len == 0)
		return options_err(err, errlen, "--disk needs a path");
	if (len >= sizeof(d->path))
		return options_err(err, errlen, "--disk: the path is too long");
	memcpy(d->path, arg, len);
	d->path[len] = '\0';
	o->n_disks++;
	return 0;
}

int options_parse_device(struct run_options *o, int c, const char *arg, char *err,
				size_t errlen)
{
	struct net_config *n;

	switch (c) {
	case 'D': return options_parse_disk(o, arg, err, errlen);
	case 'N': return options_parse_nic(o, arg, err, errlen);
	default: break;
	}
	n = options_cur_nic(o, false, err, errlen);
	if (!n)
		return -EINVAL;
	switch (c) {
	case 'M':
		if (net_parse_mac(arg, n->mac) || (n->mac[0] & 1))
			return options_err(err, errlen, "--mac '%s' is not a unicast MAC address "
					   "(like 02:4e:56:00:00:01)", arg);
		return 0;
	case 'F':
		return options_parse_forward(n, arg, err, errlen);
	case 'S':
		if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
			return options_err(err, errlen, "--mac-spoofing '%s': use on or off", arg);
		n->mac_spoofing = strcmp(arg, "on") == 0;
		return 0;
	case 'A':
	default:
		if (n->n_allowed >= NET_MAX_ALLOWED)
			return options_err(err, errlen, "too many --allow-mac: at most %d a NIC",
					   NET_MAX_ALLOWED);
		if (net_parse_mac(arg, n->allowed[n->n_allowed]))
			return options_err(err, errlen, "--allow-mac '%s' is not a MAC address", arg);
		n->n_allowed++;
		return 0;
	}
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
		{ "rng", no_argument, NULL, 'r' },
		{ "disk", required_argument, NULL, 'D' },
		{ "nic", required_argument, NULL, 'N' },
		{ "mac", required_argument, NULL, 'M' },
		{ "forward", required_argument, NULL, 'F' },
		{ "mac-spoofing", required_argument, NULL, 'S' },
		{ "allow-mac", required_argument, NULL, 'A' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char shortopts[] = "+:k:i:c:p:m:nd:rvqh";
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
		case 'r': o->rng = true; break;
		case 'D': case 'N': case 'M': case 'F': case 'S': case 'A':
			if (options_parse_device(o, c, optarg, err, errlen))
				return -EINVAL;
			break;
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
