/* The VM configuration (see vmconfig.h): building, checking, JSON. */
#include "config/vmconfig.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "devices/table.h"
#include "vmm/jsoncheck.h"

void vmconfig_init(struct vm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->cmdline = strdup(VMCFG_CMDLINE_DEFAULT);
	c->cpus = 1;
	c->memory = VMCFG_MEMORY_DEFAULT;
}

void vmconfig_free(struct vm_config *c)
{
	free(c->name);
	free(c->kernel);
	free(c->initrd);
	free(c->cmdline);
	for (unsigned int i = 0; i < c->n_devices && i < VMCFG_MAX_DEVICES; i++)
		json_decref(c->devices[i].cfg);
	memset(c, 0, sizeof(*c));
}

int vmconfig_set_string(char **field, const char *value)
{
	char *v = value ? strdup(value) : NULL;

	if (value && !v)
		return -ENOMEM;
	free(*field);
	*field = v;
	return 0;
}

int vmconfig_copy(struct vm_config *dst, const struct vm_config *src)
{
	bool ok = true;

	*dst = *src;
	dst->name = dst->kernel = dst->initrd = dst->cmdline = NULL;
	for (unsigned int i = 0; i < src->n_devices; i++)
		dst->devices[i].cfg = src->devices[i].cfg ? json_deep_copy(src->devices[i].cfg)
							  : NULL;
	ok = !vmconfig_set_string(&dst->name, src->name) &&
	     !vmconfig_set_string(&dst->kernel, src->kernel) &&
	     !vmconfig_set_string(&dst->initrd, src->initrd) &&
	     !vmconfig_set_string(&dst->cmdline, src->cmdline);
	for (unsigned int i = 0; ok && i < src->n_devices; i++)
		ok = !src->devices[i].cfg || dst->devices[i].cfg;
	if (!ok) {
		vmconfig_free(dst);
		return -ENOMEM;
	}
	return 0;
}

unsigned int vmconfig_count(const struct vm_config *c, const struct device_class *cls)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < c->n_devices; i++)
		n += c->devices[i].cls == cls;
	return n;
}

struct vm_device_config *vmconfig_last(struct vm_config *c, const struct device_class *cls)
{
	for (unsigned int i = c->n_devices; i > 0; i--)
		if (c->devices[i - 1].cls == cls)
			return &c->devices[i - 1];
	return NULL;
}

int vmconfig_add_device(struct vm_config *c, const struct device_class *cls, json_t *cfg,
			char *err, size_t errlen)
{
	int order = device_table_index(cls);
	unsigned int at = 0;

	if (order < 0 || cls->board) {
		json_decref(cfg);
		return jcheck_err(err, errlen, "%s is not a device a VM can be given",
				  cls ? cls->name : "?");
	}
	if (vmconfig_count(c, cls) >= cls->max_count || c->n_devices >= VMCFG_MAX_DEVICES) {
		json_decref(cfg);
		if (cls->cli_flag)
			return jcheck_err(err, errlen, "--%s is given twice", cls->cli_option);
		return jcheck_err(err, errlen, "too many --%s: at most %u", cls->cli_option,
				  cls->max_count);
	}
	/* After every device of this class and of the classes before it. */
	while (at < c->n_devices && device_table_index(c->devices[at].cls) <= order)
		at++;
	memmove(&c->devices[at + 1], &c->devices[at], (c->n_devices - at) * sizeof(c->devices[0]));
	c->devices[at] = (struct vm_device_config){ cls, cfg };
	c->n_devices++;
	return 0;
}

void vmconfig_remove_class(struct vm_config *c, const struct device_class *cls)
{
	unsigned int out = 0;

	for (unsigned int i = 0; i < c->n_devices; i++) {
		if (c->devices[i].cls == cls)
			json_decref(c->devices[i].cfg);
		else
			c->devices[out++] = c->devices[i];
	}
	c->n_devices = out;
}

/* ---- checks ---- */

int vmconfig_check_name(const char *name, char *err, size_t errlen)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0)
		return jcheck_err(err, errlen, "a VM needs a name (1 to %d characters)",
				  VMCFG_NAME_MAX);
	if (len > VMCFG_NAME_MAX)
		return jcheck_err(err, errlen, "the VM name '%.20s...' is too long: at most %d "
				  "characters", name, VMCFG_NAME_MAX);
	if (!isalnum((unsigned char)name[0]) || !isascii((unsigned char)name[0]))
		return jcheck_err(err, errlen, "the VM name '%s' must start with a letter or a "
				  "digit", name);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];

		/* The name becomes a directory and a socket path: no '/', no
		 * spaces, nothing the shell or a locale could mangle. */
		if (!isascii(ch) || !(isalnum(ch) || ch == '.' || ch == '_' || ch == '-'))
			return jcheck_err(err, errlen, "the VM name '%s' may only hold letters, "
					  "digits, '.', '_' and '-'", name);
	}
	return 0;
}

/* One device's configuration, its message prefixed with its place
 * ("disks[0]: ..."). */
static int vmconfig_check_device(const struct vm_device_config *d, unsigned int idx, char *err,
				 size_t errlen)
{
	char sub[512];
	int r;

	if (d->cls->cli_flag)
		return d->cls->config_check ? d->cls->config_check(d->cfg, err, errlen) : 0;
	if (!json_is_object(d->cfg))
		return jcheck_err(err, errlen, "%s[%u] must be an object", d->cls->json_key, idx);
	if (!d->cls->config_check)
		return 0;
	sub[0] = '\0';
	r = d->cls->config_check(d->cfg, sub, sizeof(sub));
	if (r)
		jcheck_err(err, errlen, "%s[%u]: %s", d->cls->json_key, idx, sub);
	return r;
}

static int vmconfig_check_ranges(const struct vm_config *c, char *err, size_t errlen)
{
	char sz[32];

	if (c->cpus < 1 || c->cpus > VMCFG_CPUS_MAX)
		return jcheck_err(err, errlen, "%u vCPUs is out of range: use 1 to %d", c->cpus,
				  VMCFG_CPUS_MAX);
	if (c->memory < VMCFG_MEMORY_MIN || c->memory > VMCFG_MEMORY_MAX) {
		vmconfig_format_size(c->memory, sz, sizeof(sz));
		return jcheck_err(err, errlen, "memory %s is out of range: use 32 MiB to 1 TiB", sz);
	}
	if (c->memory % 4096)
		return jcheck_err(err, errlen, "memory %" PRIu64 " bytes is not a whole number of "
				  "4 KiB pages", c->memory);
	if (c->max_depth > VMCFG_MAX_DEPTH_MAX)
		return jcheck_err(err, errlen, "max_depth %u is out of range: use 1 to %d, or 0 for "
				  "no limit", c->max_depth, VMCFG_MAX_DEPTH_MAX);
	return 0;
}

int vmconfig_check(const struct vm_config *c, char *err, size_t errlen)
{
	int r = 0;

	if (c->name && (r = vmconfig_check_name(c->name, err, errlen)))
		return r;
	if (!c->kernel || !c->kernel[0])
		return jcheck_err(err, errlen, "--kernel PATH is required");
	if (strlen(c->kernel) >= VMCFG_PATH_MAX || (c->initrd && strlen(c->initrd) >= VMCFG_PATH_MAX))
		return jcheck_err(err, errlen, "the %s path is too long: at most %d characters",
				  strlen(c->kernel) >= VMCFG_PATH_MAX ? "kernel" : "initrd",
				  VMCFG_PATH_MAX - 1);
	if (!c->cmdline)
		return jcheck_err(err, errlen, "a kernel command line is required");
	if (strlen(c->cmdline) >= VMCFG_CMDLINE_MAX)
		return jcheck_err(err, errlen, "the kernel command line is too long: the command "
				  "line is %zu bytes; at most %d are allowed", strlen(c->cmdline),
				  VMCFG_CMDLINE_MAX - 1);
	r = vmconfig_check_ranges(c, err, errlen);
	if (r)
		return r;
	if (c->n_devices > VMCFG_MAX_DEVICES)
		return jcheck_err(err, errlen, "too many devices: at most %d", VMCFG_MAX_DEVICES);
	for (size_t t = 0; t < device_table_len; t++) {
		const struct device_class *cls = device_table[t];
		unsigned int n = 0;

		for (unsigned int i = 0; i < c->n_devices && !r; i++)
			if (c->devices[i].cls == cls)
				r = vmconfig_check_device(&c->devices[i], n++, err, errlen);
		if (r)
			return r;
		if (n && cls->board)
			return jcheck_err(err, errlen, "%s is part of the board, not a device to add",
					  cls->name);
		if (n > cls->max_count)
			return jcheck_err(err, errlen, "too many \"%s\": at most %u", cls->json_key,
					  cls->max_count);
	}
	for (unsigned int i = 0; i < c->n_devices; i++)
		if (device_table_index(c->devices[i].cls) < 0)
			return jcheck_err(err, errlen, "an unknown device class");
	for (unsigned int i = 1; i < c->n_devices; i++)
		if (device_table_index(c->devices[i].cls) < device_table_index(c->devices[i - 1].cls))
			return jcheck_err(err, errlen, "the devices are not in the table's order");
	return 0;
}

/* ---- paths ---- */

int vmconfig_resolve_path(const char *what, const char *path, char **out, bool block_ok,
			  char *err, size_t errlen)
{
	struct stat st;
	char *abs;
	int rc = 0;

	if (!path || !*path) {
		snprintf(err, errlen, "the %s path is empty", what);
		return -EINVAL;
	}
	abs = realpath(path, NULL);
	if (!abs) {
		rc = -errno;
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(-rc));
		return rc;
	}
	if (stat(abs, &st) != 0) {
		rc = -errno;
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(-rc));
	} else if (!S_ISREG(st.st_mode) && !(block_ok && S_ISBLK(st.st_mode))) {
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		snprintf(err, errlen, "%s %s is not a regular file%s", what, path,
			 block_ok ? " or block device" : "");
	} else if (strlen(abs) >= VMCFG_PATH_MAX) {
		rc = -ENAMETOOLONG;
		snprintf(err, errlen, "%s %s: the absolute path is too long", what, path);
	}
	if (rc) {
		free(abs);
		return rc;
	}
	*out = abs;
	return 0;
}

static int vmconfig_resolve_field(const char *what, char **field, bool block_ok, char *err,
				  size_t errlen)
{
	char *abs = NULL;
	int r = vmconfig_resolve_path(what, *field, &abs, block_ok, err, errlen);

	if (r)
		return r;
	free(*field);
	*field = abs;
	return 0;
}

int vmconfig_resolve_paths(struct vm_config *c, char *err, size_t errlen)
{
	int r = 0;

	if (!c->kernel)
		return jcheck_err(err, errlen, "--kernel PATH is required");
	r = vmconfig_resolve_field("kernel", &c->kernel, false, err, errlen);
	if (!r && c->initrd)
		r = vmconfig_resolve_field("initrd", &c->initrd, false, err, errlen);
	return r ? r : vmconfig_resolve_device_paths(c, err, errlen);
}

int vmconfig_resolve_device_paths(struct vm_config *c, char *err, size_t errlen)
{
	int r = 0;

	for (size_t t = 0; !r && t < device_table_len; t++) {
		const struct device_class *cls = device_table[t];

		for (unsigned int i = 0; !r && cls->config_path_key && i < c->n_devices; i++) {
			json_t *v;
			char what[64], *abs = NULL;

			if (c->devices[i].cls != cls)
				continue;
			v = json_object_get(c->devices[i].cfg, cls->config_path_key);
			snprintf(what, sizeof(what), "%s", cls->cli_option ? cls->cli_option :
				 cls->name);
			r = vmconfig_resolve_path(what, json_string_value(v), &abs, true, err, errlen);
			if (!r)
				json_object_set_new(c->devices[i].cfg, cls->config_path_key,
						    json_string(abs));
			free(abs);
		}
	}
	return r;
}

/* ---- to JSON ---- */

json_t *vmconfig_to_json(const struct vm_config *c)
{
	json_t *j;
	char mem[32];

	vmconfig_format_size(c->memory, mem, sizeof(mem));
	j = json_pack("{s:o, s:o, s:o, s:o, s:I, s:I, s:s, s:b, s:o}",
		      "name", c->name ? json_string(c->name) : json_null(),
		      "kernel", c->kernel ? json_string(c->kernel) : json_null(),
		      "initrd", c->initrd ? json_string(c->initrd) : json_null(),
		      "cmdline", json_string(c->cmdline ? c->cmdline : ""),
		      "cpus", (json_int_t)c->cpus, "memory_bytes", (json_int_t)c->memory,
		      "memory", mem, "nested", c->nested,
		      "max_depth", c->max_depth ? json_integer(c->max_depth) : json_null());
	if (!j)
		return NULL;
	for (size_t t = 0; t < device_table_len; t++) {
		const struct device_class *cls = device_table[t];
		json_t *list;

		if (!cls->json_key)
			continue;
		if (cls->cli_flag) {
			json_object_set_new(j, cls->json_key, json_boolean(vmconfig_count(c, cls) > 0));
			continue;
		}
		list = json_array();
		for (unsigned int i = 0; i < c->n_devices; i++)
			if (c->devices[i].cls == cls)
				json_array_append_new(list, json_deep_copy(c->devices[i].cfg));
		json_object_set_new(j, cls->json_key, list);
	}
	return j;
}

/* ---- from JSON ---- */

static int vmconfig_json_known(const json_t *j, char *err, size_t errlen)
{
	static const char *const scalars[] = { "name", "kernel", "initrd", "cmdline", "cpus",
					       "memory_bytes", "memory", "nested", "max_depth" };
	const char *keys[sizeof(scalars) / sizeof(scalars[0]) + 16 + 1];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++)
		keys[n++] = scalars[i];
	for (size_t t = 0; t < device_table_len && n < sizeof(keys) / sizeof(keys[0]) - 1; t++)
		if (device_table[t]->json_key)
			keys[n++] = device_table[t]->json_key;
	keys[n] = NULL;
	return jcheck_known(j, "config", keys, err, errlen);
}

static int vmconfig_json_path(const json_t *j, const char *key, bool required, char **out,
			      char *err, size_t errlen)
{
	const char *v;
	int r = jcheck_str(j, "config", key, required, VMCFG_PATH_MAX, &v, err, errlen);

	if (r || !v)
		return r;
	if (v[0] != '/')
		return jcheck_err(err, errlen, "config: \"%s\" must be an absolute path", key);
	return vmconfig_set_string(out, v);
}

/* "memory_bytes" is the truth; a lone "memory" ("2G") is accepted too, for
 * people writing definitions by hand. */
static int vmconfig_json_memory(const json_t *j, struct vm_config *c, char *err, size_t errlen)
{
	json_t *human = json_object_get(j, "memory");
	json_int_t m;

	if (json_object_get(j, "memory_bytes") || !human) {
		int rc = jcheck_int(j, "config", "memory_bytes", true, false,
				    (json_int_t)VMCFG_MEMORY_MIN, (json_int_t)VMCFG_MEMORY_MAX, 0,
				    &m, err, errlen);

		c->memory = (uint64_t)m;
		return rc;
	}
	if (!json_is_string(human) || vmconfig_parse_size(json_string_value(human), &c->memory))
		return jcheck_err(err, errlen, "config: \"memory\" must be a size like \"512M\" or "
				  "\"2G\"");
	return 0;
}

static int vmconfig_json_scalars(const json_t *j, struct vm_config *c, char *err, size_t errlen)
{
	const char *s;
	json_int_t v = 0;
	int rc;

	rc = jcheck_str(j, "config", "name", true, VMCFG_NAME_MAX + 1, &s, err, errlen);
	if (!rc)
		rc = vmconfig_check_name(s, err, errlen);
	if (!rc)
		rc = vmconfig_set_string(&c->name, s);
	if (!rc)
		rc = vmconfig_json_path(j, "kernel", true, &c->kernel, err, errlen);
	if (!rc)
		rc = vmconfig_json_path(j, "initrd", false, &c->initrd, err, errlen);
	if (!rc)
		rc = jcheck_str(j, "config", "cmdline", false, VMCFG_CMDLINE_MAX, &s, err, errlen);
	if (!rc && s)
		rc = vmconfig_set_string(&c->cmdline, s);
	if (!rc)
		rc = jcheck_int(j, "config", "cpus", true, false, 1, VMCFG_CPUS_MAX, 1, &v, err,
				errlen);
	c->cpus = (unsigned int)v;
	if (!rc)
		rc = vmconfig_json_memory(j, c, err, errlen);
	if (!rc)
		rc = jcheck_int(j, "config", "max_depth", false, true, 0, VMCFG_MAX_DEPTH_MAX, 0, &v,
				err, errlen);
	c->max_depth = (unsigned int)v;
	if (!rc)
		rc = jcheck_bool(j, "config", "nested", &c->nested, err, errlen);
	return rc;
}

/* The devices of one class from its key. */
static int vmconfig_json_class(const json_t *j, const struct device_class *cls,
			       struct vm_config *c, char *err, size_t errlen)
{
	json_t *list, *v;
	size_t i;
	bool on;
	int r;

	if (cls->cli_flag) {
		r = jcheck_bool(j, "config", cls->json_key, &on, err, errlen);
		return r || !on ? r : vmconfig_add_device(c, cls, NULL, err, errlen);
	}
	r = jcheck_array(j, "config", cls->json_key, cls->max_count, &list, err, errlen);
	json_array_foreach(list, i, v) {
		struct vm_device_config d = { cls, v };
		json_t *path;

		if (r || (r = vmconfig_check_device(&d, (unsigned int)i, err, errlen)))
			return r;
		path = cls->config_path_key ? json_object_get(v, cls->config_path_key) : NULL;
		if (path && json_string_value(path)[0] != '/')
			return jcheck_err(err, errlen, "%s[%zu]: \"%s\" must be absolute",
					  cls->json_key, i, cls->config_path_key);
		r = vmconfig_add_device(c, cls, json_deep_copy(v), err, errlen);
	}
	return r;
}

int vmconfig_from_json(const json_t *j, struct vm_config *c, char *err, size_t errlen)
{
	int rc;

	vmconfig_init(c);
	if (!json_is_object(j)) {
		vmconfig_free(c);
		return jcheck_err(err, errlen, "a VM definition must be a JSON object");
	}
	rc = vmconfig_json_known(j, err, errlen);
	if (!rc)
		rc = vmconfig_json_scalars(j, c, err, errlen);
	if (!rc)
		rc = vmconfig_check_ranges(c, err, errlen);
	for (size_t t = 0; !rc && t < device_table_len; t++)
		if (device_table[t]->json_key)
			rc = vmconfig_json_class(j, device_table[t], c, err, errlen);
	if (!rc)
		rc = vmconfig_check(c, err, errlen);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (rc) {
		/* Never hand back half a definition. */
		vmconfig_free(c);
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	return 0;
}
