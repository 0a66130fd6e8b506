/* Options of `nestvm set NAME` (see options.h). Pure, unit-tested. */
#include "cli/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

const char *options_set_usage(void)
{
	return "usage: nestvm set NAME [options]\n"
	       "\n"
	       "Change a VM's definition. Allowed only while the VM is stopped (or crashed),\n"
	       "as on EC2 and Hyper-V: stop it first (nestvm stop NAME).\n"
	       "\n"
	       "  --cpus N                 virtual CPUs, 1-255\n"
	       "  --memory SIZE            guest RAM: 512M, 2G, ...\n"
	       "  --nested on|off          expose VMX/SVM so the guest can run a hypervisor\n"
	       "  --max-depth N|none       levels the guest and its descendants may span\n"
	       "  --kernel PATH            bzImage\n"
	       "  --initrd PATH|none       initramfs, or none\n"
	       "  --cmdline STR            kernel command line\n"
	       "  --rng on|off             a virtio-rng device\n"
	       "  --disk PATH[,ro]         replace the disks with these (repeatable)\n"
	       "  --no-disks               remove every disk\n"
	       "  --nic user|tap[:NAME]    replace the NICs with these (repeatable), each\n"
	       "                           followed by its --mac, --forward tcp:H:G,\n"
	       "                           --mac-spoofing on|off, --allow-mac MAC\n"
	       "  --no-nics                remove every NIC\n"
	       "  --state-dir DIR          the state directory (or NESTVM_STATE_DIR)\n"
	       "  -h, --help               this text\n"
	       "\n"
	       "Exit status: 0 changed, 1 bad options or unknown VM, 5 refused because of the\n"
	       "VM's state (the message says which and what to do).\n";
}

static int options_on_off(const char *opt, const char *arg, bool *out, char *err, size_t errlen)
{
	if (strcmp(arg, "on") == 0)
		*out = true;
	else if (strcmp(arg, "off") == 0)
		*out = false;
	else
		return options_err(err, errlen, "%s '%s': use on or off", opt, arg);
	return 0;
}

static int options_set_one(struct set_options *s, int c, const char *arg, char *err,
			   size_t errlen)
{
	switch (c) {
	case 'p':
		s->has_cpus = true;
		return options_parse_uint("--cpus", arg, 1, OPT_CPUS_MAX, &s->cpus, err, errlen);
	case 'm':
		s->has_memory = true;
		return options_parse_memory(arg, &s->memory, err, errlen);
	case 'n':
		s->has_nested = true;
		return options_on_off("--nested", arg, &s->nested, err, errlen);
	case 'r':
		s->has_rng = true;
		return options_on_off("--rng", arg, &s->rng, err, errlen);
	case 'd':
		s->has_max_depth = true;
		if (strcmp(arg, "none") == 0) {
			s->max_depth = 0;
			return 0;
		}
		return options_parse_uint("--max-depth", arg, 1, OPT_MAX_DEPTH_MAX, &s->max_depth,
					  err, errlen);
	case 'k':
		if (!arg[0])
			return options_err(err, errlen, "--kernel needs a path");
		s->kernel = arg;
		return 0;
	case 'i':
		if (!arg[0])
			return options_err(err, errlen, "--initrd needs a path (or none)");
		s->initrd = arg;
		return 0;
	case 'c':
		s->cmdline = arg;
		return 0;
	case 'X':
		s->set_disks = true;
		s->dev.n_disks = 0;
		return 0;
	case 'Y':
		s->set_nics = true;
		s->dev.n_nics = 0;
		return 0;
	default:
		/* --disk, --nic, --mac, --forward, --mac-spoofing, --allow-mac */
		if (c == 'D')
			s->set_disks = true;
		else
			s->set_nics = true;
		return options_parse_device(&s->dev, c, arg, err, errlen);
	}
}

int options_parse_set(int argc, char **argv, struct set_options *s, char *err, size_t errlen)
{
	static const struct option longopts[] = {
		{ "cpus", required_argument, NULL, 'p' },
		{ "memory", required_argument, NULL, 'm' },
		{ "nested", required_argument, NULL, 'n' },
		{ "expose-virtualization-extensions", required_argument, NULL, 'n' },
		{ "max-depth", required_argument, NULL, 'd' },
		{ "rng", required_argument, NULL, 'r' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "disk", required_argument, NULL, 'D' },
		{ "no-disks", no_argument, NULL, 'X' },
		{ "nic", required_argument, NULL, 'N' },
		{ "no-nics", no_argument, NULL, 'Y' },
		{ "mac", required_argument, NULL, 'M' },
		{ "forward", required_argument, NULL, 'F' },
		{ "mac-spoofing", required_argument, NULL, 'S' },
		{ "allow-mac", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char shortopts[] = "+:h";
	char name[3];
	bool changes = false;
	int c;

	memset(s, 0, sizeof(*s));
	err[0] = '\0';
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == 'h') {
			s->help = true;
			return 0;
		}
		if (c == ':')
			return options_err(err, errlen, "option %s needs a value",
					   options_bad_name(c, argv, shortopts, name));
		if (c == '?')
			return options_err(err, errlen, "unknown option '%s' (see nestvm set --help)",
					   options_bad_name(c, argv, shortopts, name));
		if (options_set_one(s, c, optarg, err, errlen))
			return -EINVAL;
		changes = true;
	}
	if (optind < argc)
		return options_err(err, errlen, "unexpected argument '%s' (see nestvm set --help)",
				   argv[optind]);
	if (!changes)
		return options_err(err, errlen, "nothing to change: name at least one option "
				   "(see nestvm set --help)");
	return 0;
}
