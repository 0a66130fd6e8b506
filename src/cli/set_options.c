/* Options of `nestvm set NAME` (see options.h). Pure, unit-tested. */
#include "cli/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/table.h"

const char *options_set_usage(void)
{
	static const char head[] =
		"usage: nestvm set NAME [options]\n"
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
		"  --cmdline STR            kernel command line\n";
	static const char tail[] =
		"  --state-dir DIR          the state directory (or NESTVM_STATE_DIR)\n"
		"  -h, --help               this text\n"
		"\n"
		"Device options take the arguments they take for nestvm run (nestvm run --help),\n"
		"modifiers such as --mac after the device they belong to; any of a kind replaces\n"
		"that kind's whole list.\n"
		"\n"
		"Exit status: 0 changed, 1 bad options or unknown VM, 5 refused because of the\n"
		"VM's state (the message says which and what to do).\n";
	static char text[8192];

	/* One line or two per device class, from the table. */
	if (!text[0]) {
		size_t n = snprintf(text, sizeof(text), "%s", head);

		for (size_t t = 0; t < device_table_len && n < sizeof(text); t++) {
			const struct device_class *c = device_table[t];
			char opt[64];

			if (!c->cli_option)
				continue;
			if (c->cli_flag) {
				snprintf(opt, sizeof(opt), "--%s on|off", c->cli_option);
				n += snprintf(text + n, sizeof(text) - n, "  %-24s a %s device\n", opt,
					      c->name);
				continue;
			}
			snprintf(opt, sizeof(opt), "--%s ...", c->cli_option);
			n += snprintf(text + n, sizeof(text) - n,
				      "  %-24s replace the %s devices with these (repeatable)\n", opt,
				      c->name);
			if (c->json_key && n < sizeof(text)) {
				snprintf(opt, sizeof(opt), "--no-%s", c->json_key);
				n += snprintf(text + n, sizeof(text) - n, "  %-24s remove every %s device\n",
					      opt, c->name);
			}
		}
		if (n < sizeof(text))
			snprintf(text + n, sizeof(text) - n, "%s", tail);
	}
	return text;
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

/* From now on the devices of cls in s->dev replace the VM's. */
static void options_set_replace(struct set_options *s, const struct device_class *cls)
{
	for (unsigned int i = 0; i < s->n_replace; i++)
		if (s->replace[i] == cls)
			return;
	if (s->n_replace < VMCFG_MAX_DEVICES)
		s->replace[s->n_replace++] = cls;
}

/* --no-disks, --no-nics: "no-" and a list class's json_key. */
static const struct device_class *options_set_no(const char *opt)
{
	for (size_t t = 0; t < device_table_len; t++) {
		const struct device_class *c = device_table[t];

		if (c->json_key && !c->cli_flag && strncmp(opt, "no-", 3) == 0 &&
		    strcmp(opt + 3, c->json_key) == 0)
			return c;
	}
	return NULL;
}

static int options_set_device(struct set_options *s, const char *opt, const char *arg,
			      char *err, size_t errlen)
{
	const struct device_class *cls = options_set_no(opt);
	char flag[64];
	bool on = false;

	if (cls) {
		options_set_replace(s, cls);
		vmconfig_remove_class(&s->dev, cls);
		return 0;
	}
	cls = device_find_option(opt);
	if (cls && cls->cli_flag) {
		/* --rng on|off */
		snprintf(flag, sizeof(flag), "--%s", opt);
		if (options_on_off(flag, arg, &on, err, errlen))
			return -EINVAL;
		options_set_replace(s, cls);
		vmconfig_remove_class(&s->dev, cls);
		return on ? options_device(&s->dev, opt, NULL, err, errlen) : 0;
	}
	if (!cls)
		cls = device_find_modifier(opt);
	if (cls)
		options_set_replace(s, cls);
	return options_device(&s->dev, opt, arg, err, errlen);
}

static int options_set_one(struct set_options *s, int c, const char *arg, char *err,
			   size_t errlen)
{
	switch (c) {
	case 'p':
		s->has_cpus = true;
		return options_parse_uint("--cpus", arg, 1, VMCFG_CPUS_MAX, &s->cpus, err, errlen);
	case 'm':
		s->has_memory = true;
		return options_parse_memory(arg, &s->memory, err, errlen);
	case 'n':
		s->has_nested = true;
		return options_on_off("--nested", arg, &s->nested, err, errlen);
	case 'd':
		s->has_max_depth = true;
		if (strcmp(arg, "none") == 0) {
			s->max_depth = 0;
			return 0;
		}
		return options_parse_uint("--max-depth", arg, 1, VMCFG_MAX_DEPTH_MAX,
					  &s->max_depth, err, errlen);
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
	default:
		if (!options_device_name(c))
			return options_err(err, errlen, "unknown option (see nestvm set --help)");
		return options_set_device(s, options_device_name(c), arg, err, errlen);
	}
}

void options_set_free(struct set_options *s)
{
	vmconfig_free(&s->dev);
}

int options_parse_set(int argc, char **argv, struct set_options *s, char *err, size_t errlen)
{
	static const struct option fixed[] = {
		{ "cpus", required_argument, NULL, 'p' },
		{ "memory", required_argument, NULL, 'm' },
		{ "nested", required_argument, NULL, 'n' },
		{ "expose-virtualization-extensions", required_argument, NULL, 'n' },
		{ "max-depth", required_argument, NULL, 'd' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
	};
	static const char shortopts[] = "+:h";
	struct option longopts[sizeof(fixed) / sizeof(fixed[0]) + OPT_DEVICE_MAX + 8 + 1];
	char nobuf[8][24];
	size_t nl = sizeof(fixed) / sizeof(fixed[0]), nn = 0;
	char name[3];
	bool changes = false;
	int c;

	memcpy(longopts, fixed, sizeof(fixed));
	options_device_longopts(longopts, &nl, true);
	/* --no-disks, --no-nics: OPT_DEVICE_BASE + OPT_DEVICE_MAX + i. */
	for (size_t t = 0; t < device_table_len && nn < 8; t++) {
		const struct device_class *cl = device_table[t];

		if (!cl->json_key || cl->cli_flag)
			continue;
		snprintf(nobuf[nn], sizeof(nobuf[nn]), "no-%s", cl->json_key);
		longopts[nl++] = (struct option){ nobuf[nn], no_argument, NULL,
						  OPT_DEVICE_BASE + OPT_DEVICE_MAX + (int)nn };
		nn++;
	}
	longopts[nl] = (struct option){ NULL, 0, NULL, 0 };
	memset(s, 0, sizeof(*s));
	vmconfig_init(&s->dev);
	err[0] = '\0';
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		int r;

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
		if (c >= OPT_DEVICE_BASE + OPT_DEVICE_MAX)
			r = options_set_device(s, nobuf[c - OPT_DEVICE_BASE - OPT_DEVICE_MAX], NULL,
					       err, errlen);
		else
			r = options_set_one(s, c, optarg, err, errlen);
		if (r)
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

/* ---- applying ---- */

static void options_what_add(char *what, size_t len, const char *item)
{
	size_t n = strlen(what);

	snprintf(what + n, len - n, "%s%s", n ? ", " : "", item);
}

static int options_set_paths(struct vm_config *c, const struct set_options *s, char *err,
			     size_t errlen)
{
	char *abs = NULL;
	int r = 0;

	if (s->kernel) {
		r = vmconfig_resolve_path("kernel", s->kernel, &abs, false, err, errlen);
		if (r)
			return r;
		free(c->kernel);
		c->kernel = abs;
	}
	if (s->initrd && strcmp(s->initrd, "none") == 0) {
		free(c->initrd);
		c->initrd = NULL;
	} else if (s->initrd) {
		r = vmconfig_resolve_path("initrd", s->initrd, &abs, false, err, errlen);
		if (r)
			return r;
		free(c->initrd);
		c->initrd = abs;
	}
	if (s->cmdline) {
		if (strlen(s->cmdline) >= VMCFG_CMDLINE_MAX)
			return options_err(err, errlen, "--cmdline is too long");
		r = vmconfig_set_string(&c->cmdline, s->cmdline);
	}
	return r;
}

/* The devices of the replaced classes, their paths made absolute. */
static int options_set_devices(struct vm_config *c, const struct set_options *s, char *what,
			       size_t wlen, char *err, size_t errlen)
{
	struct vm_config tmp;
	int r;

	/* Resolve on a copy of the new devices. */
	r = vmconfig_copy(&tmp, &s->dev);
	if (r)
		return options_err(err, errlen, "out of memory");
	r = vmconfig_resolve_device_paths(&tmp, err, errlen);
	for (unsigned int k = 0; !r && k < s->n_replace; k++) {
		const struct device_class *cls = s->replace[k];

		vmconfig_remove_class(c, cls);
		for (unsigned int i = 0; !r && i < tmp.n_devices; i++) {
			if (tmp.devices[i].cls != cls)
				continue;
			r = vmconfig_add_device(c, cls, tmp.devices[i].cfg, err, errlen);
			tmp.devices[i].cfg = NULL;
		}
		options_what_add(what, wlen, cls->json_key);
	}
	vmconfig_free(&tmp);
	return r;
}

int options_set_apply(struct vm_config *c, const struct set_options *s, char *what,
		      size_t wlen, char *err, size_t errlen)
{
	int r;

	what[0] = '\0';
	if (s->has_nested) {
		c->nested = s->nested;
		options_what_add(what, wlen, "nested virtualization");
	}
	if (s->has_cpus) {
		c->cpus = s->cpus;
		options_what_add(what, wlen, "vCPUs");
	}
	if (s->has_memory) {
		c->memory = s->memory;
		options_what_add(what, wlen, "memory");
	}
	if (s->has_max_depth) {
		c->max_depth = s->max_depth;
		options_what_add(what, wlen, "max depth");
	}
	r = options_set_paths(c, s, err, errlen);
	if (!r && s->kernel)
		options_what_add(what, wlen, "kernel");
	if (!r && s->initrd)
		options_what_add(what, wlen, "initrd");
	if (!r && s->cmdline)
		options_what_add(what, wlen, "command line");
	if (!r)
		r = options_set_devices(c, s, what, wlen, err, errlen);
	if (!r)
		r = vmconfig_check(c, err, errlen);
	return r;
}
