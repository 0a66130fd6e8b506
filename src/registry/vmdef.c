/* VM definitions: checks, conversion from and to run options, and JSON. */
#include "registry/vmdef.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int vmdef_err(int rc, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int vmdef_err(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

int vmdef_check_name(const char *name, char *err, size_t errlen)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0)
		return vmdef_err(-EINVAL, err, errlen, "a VM needs a name (1 to %d characters)",
				 VMDEF_NAME_MAX);
	if (len > VMDEF_NAME_MAX)
		return vmdef_err(-EINVAL, err, errlen, "the VM name '%.20s...' is too long: "
				 "at most %d characters", name, VMDEF_NAME_MAX);
	if (!isalnum((unsigned char)name[0]) || !isascii((unsigned char)name[0]))
		return vmdef_err(-EINVAL, err, errlen, "the VM name '%s' must start with a letter "
				 "or a digit", name);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		/* The name becomes a directory and a socket path: no '/', no
		 * spaces, nothing the shell or a locale could mangle. */
		if (!isascii(c) || !(isalnum(c) || c == '.' || c == '_' || c == '-'))
			return vmdef_err(-EINVAL, err, errlen, "the VM name '%s' may only hold "
					 "letters, digits, '.', '_' and '-'", name);
	}
	return 0;
}

/* Shared by both ways in: the ranges `nestvm run` accepts. */
static int vmdef_check_ranges(const struct vm_def *d, char *err, size_t errlen)
{
	char sz[32];

	if (d->cpus < 1 || d->cpus > OPT_CPUS_MAX)
		return vmdef_err(-EINVAL, err, errlen, "%u vCPUs is out of range: use 1 to %d",
				 d->cpus, OPT_CPUS_MAX);
	if (d->memory < OPT_MEMORY_MIN || d->memory > OPT_MEMORY_MAX) {
		options_format_size(d->memory, sz, sizeof(sz));
		return vmdef_err(-EINVAL, err, errlen, "memory %s is out of range: use 32 MiB "
				 "to 1 TiB", sz);
	}
	if (d->memory % 4096)
		return vmdef_err(-EINVAL, err, errlen, "memory %" PRIu64 " bytes is not a whole "
				 "number of 4 KiB pages", d->memory);
	if (d->max_depth > OPT_MAX_DEPTH_MAX)
		return vmdef_err(-EINVAL, err, errlen, "max_depth %u is out of range: use 1 to %d, "
				 "or 0 for no limit", d->max_depth, OPT_MAX_DEPTH_MAX);
	if (d->n_disks > OPT_MAX_DISKS)
		return vmdef_err(-EINVAL, err, errlen, "too many disks: at most %d", OPT_MAX_DISKS);
	if (d->n_nics > OPT_MAX_NICS)
		return vmdef_err(-EINVAL, err, errlen, "too many NICs: at most %d", OPT_MAX_NICS);
	return 0;
}

/* The absolute path of an existing file (`what` names it in messages):
 * the VM is started later, from another directory, so a relative path
 * would point elsewhere then. */
int vmdef_resolve_path(const char *what, const char *path, char *out, size_t outlen,
			 bool block_ok, char *err, size_t errlen)
{
	struct stat st;
	char *abs;
	int rc = 0;

	if (!path || !*path)
		return vmdef_err(-EINVAL, err, errlen, "the %s path is empty", what);
	abs = realpath(path, NULL);
	if (!abs)
		return vmdef_err(-errno, err, errlen, "%s %s: %s", what, path, strerror(errno));
	if (stat(abs, &st) != 0)
		rc = vmdef_err(-errno, err, errlen, "%s %s: %s", what, path, strerror(errno));
	else if (!S_ISREG(st.st_mode) && !(block_ok && S_ISBLK(st.st_mode)))
		rc = vmdef_err(S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL, err, errlen,
			       "%s %s is not a regular file%s", what, path,
			       block_ok ? " or block device" : "");
	else if (strlen(abs) >= outlen)
		rc = vmdef_err(-ENAMETOOLONG, err, errlen, "%s %s: the absolute path is too long",
			       what, path);
	else
		snprintf(out, outlen, "%s", abs);
	free(abs);
	return rc;
}

int vmdef_from_options(struct vm_def *d, const char *name, const struct run_options *o,
		       char *err, size_t errlen)
{
	const char *cmdline = o->cmdline ? o->cmdline : OPT_CMDLINE_DEFAULT;
	int rc;

	memset(d, 0, sizeof(*d));
	rc = vmdef_check_name(name, err, errlen);
	if (rc)
		return rc;
	snprintf(d->name, sizeof(d->name), "%s", name);
	if (!o->kernel)
		return vmdef_err(-EINVAL, err, errlen, "--kernel PATH is required");
	rc = vmdef_resolve_path("kernel", o->kernel, d->kernel, sizeof(d->kernel), false, err,
				errlen);
	if (!rc && o->initrd)
		rc = vmdef_resolve_path("initrd", o->initrd, d->initrd, sizeof(d->initrd), false, err,
				   errlen);
	if (rc)
		return rc;
	if (strlen(cmdline) >= sizeof(d->cmdline))
		return vmdef_err(-EINVAL, err, errlen, "the kernel command line is too long: "
				 "at most %zu characters", sizeof(d->cmdline) - 1);
	snprintf(d->cmdline, sizeof(d->cmdline), "%s", cmdline);
	d->cpus = o->cpus;
	d->memory = o->memory;
	d->nested = o->nested;
	d->max_depth = o->max_depth;
	d->rng = o->rng;
	d->n_disks = o->n_disks;
	d->n_nics = o->n_nics;
	rc = vmdef_check_ranges(d, err, errlen);
	if (rc)
		return rc;
	for (unsigned int i = 0; i < o->n_disks; i++) {
		char what[16];

		snprintf(what, sizeof(what), "disk %u", i + 1);
		d->disks[i].readonly = o->disks[i].readonly;
		rc = vmdef_resolve_path(what, o->disks[i].path, d->disks[i].path,
				   sizeof(d->disks[i].path), true, err, errlen);
		if (rc)
			return rc;
	}
	memcpy(d->nics, o->nics, sizeof(d->nics[0]) * o->n_nics);
	return 0;
}

void vmdef_to_options(const struct vm_def *d, struct run_options *o)
{
	memset(o, 0, sizeof(*o));
	o->kernel = d->kernel;
	o->initrd = d->initrd[0] ? d->initrd : NULL;
	o->cmdline = d->cmdline;
	o->cpus = d->cpus;
	o->memory = d->memory;
	o->nested = d->nested;
	o->rng = d->rng;
	o->max_depth = d->max_depth;
	o->n_disks = d->n_disks;
	memcpy(o->disks, d->disks, sizeof(d->disks));
	o->n_nics = d->n_nics;
	memcpy(o->nics, d->nics, sizeof(d->nics));
}

/* ---- to JSON ---- */

static json_t *vmdef_mac_json(const uint8_t *m)
{
	return json_sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static json_t *vmdef_nic_json(const struct net_config *n)
{
	json_t *allowed = json_array(), *fwd = json_array();

	for (unsigned int i = 0; i < n->n_allowed; i++)
		json_array_append_new(allowed, vmdef_mac_json(n->allowed[i]));
	for (unsigned int i = 0; i < n->n_forwards; i++)
		json_array_append_new(fwd, json_pack("{s:s, s:i, s:i}", "proto", "tcp",
						     "host_port", n->forwards[i].host_port,
						     "guest_port", n->forwards[i].guest_port));
	return json_pack("{s:s, s:o, s:o, s:b, s:o, s:o}",
			 "backend", n->backend == NET_BACKEND_TAP ? "tap" : "user",
			 "tap", n->backend == NET_BACKEND_TAP && n->tap_name[0]
				? json_string(n->tap_name) : json_null(),
			 "mac", vmdef_mac_json(n->mac), "mac_spoofing", n->mac_spoofing,
			 "allowed_macs", allowed, "forwards", fwd);
}

json_t *vmdef_to_json(const struct vm_def *d)
{
	json_t *disks = json_array(), *nics = json_array();
	char mem[32];

	options_format_size(d->memory, mem, sizeof(mem));
	for (unsigned int i = 0; i < d->n_disks; i++)
		json_array_append_new(disks, json_pack("{s:s, s:b}", "path", d->disks[i].path,
						       "readonly", d->disks[i].readonly));
	for (unsigned int i = 0; i < d->n_nics; i++)
		json_array_append_new(nics, vmdef_nic_json(&d->nics[i]));
	return json_pack("{s:s, s:s, s:o, s:s, s:I, s:I, s:s, s:b, s:o, s:b, s:o, s:o}",
			 "name", d->name, "kernel", d->kernel,
			 "initrd", d->initrd[0] ? json_string(d->initrd) : json_null(),
			 "cmdline", d->cmdline, "cpus", (json_int_t)d->cpus,
			 "memory_bytes", (json_int_t)d->memory, "memory", mem,
			 "nested", d->nested,
			 "max_depth", d->max_depth ? json_integer(d->max_depth) : json_null(),
			 "rng", d->rng, "disks", disks, "nics", nics);
}

/* ---- from JSON ---- */

/* Refuse keys we do not know: a misspelt "cpu" must not silently give a
 * one-vCPU VM. `keys` is NULL-terminated. */
static int vmdef_json_known(const json_t *obj, const char *where, const char *const *keys,
			    char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		bool ok = false;

		for (const char *const *k = keys; *k && !ok; k++)
			ok = strcmp(*k, key) == 0;
		if (!ok)
			return vmdef_err(-EINVAL, err, errlen, "%s: unknown field \"%s\"", where, key);
	}
	return 0;
}

/* A string field into buf; absent or null gives `dflt` (NULL: required). */
static int vmdef_json_str(const json_t *obj, const char *where, const char *key,
			  const char *dflt, char *buf, size_t len, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v)) {
		if (!dflt)
			return vmdef_err(-EINVAL, err, errlen, "%s: \"%s\" is required", where, key);
		snprintf(buf, len, "%s", dflt);
		return 0;
	}
	if (!json_is_string(v))
		return vmdef_err(-EINVAL, err, errlen, "%s: \"%s\" must be a string", where, key);
	if (json_string_length(v) >= len || strlen(json_string_value(v)) != json_string_length(v))
		return vmdef_err(-EINVAL, err, errlen, "%s: \"%s\" is too long or holds a NUL",
				 where, key);
	snprintf(buf, len, "%s", json_string_value(v));
	return 0;
}

static int vmdef_json_bool(const json_t *obj, const char *where, const char *key, bool *out,
			   char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	if (!v) {
		*out = false;
		return 0;
	}
	if (!json_is_boolean(v))
		return vmdef_err(-EINVAL, err, errlen, "%s: \"%s\" must be true or false", where,
				 key);
	*out = json_is_true(v);
	return 0;
}

/* An integer in [min, max]; absent (or null when null_ok) gives `dflt`. */
static int vmdef_json_int(const json_t *obj, const char *where, const char *key, bool required,
			  bool null_ok, json_int_t min, json_int_t max, json_int_t dflt,
			  json_int_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	if (!v || (null_ok && json_is_null(v))) {
		if (required && !v)
			return vmdef_err(-EINVAL, err, errlen, "%s: \"%s\" is required", where, key);
		*out = dflt;
		return 0;
	}
	if (!json_is_integer(v))
		return vmdef_err(-EINVAL, err, errlen, "%s: \"%s\" must be an integer%s", where,
				 key, null_ok ? " or null" : "");
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return vmdef_err(-EINVAL, err, errlen, "%s: \"%s\" %" JSON_INTEGER_FORMAT " is out "
				 "of range: use %" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT,
				 where, key, json_integer_value(v), min, max);
	*out = json_integer_value(v);
	return 0;
}

static int vmdef_json_array(const json_t *obj, const char *where, const char *key,
			    size_t max, json_t **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return vmdef_err(-EINVAL, err, errlen, "%s: \"%s\" must be an array", where, key);
	if (json_array_size(v) > max)
		return vmdef_err(-EINVAL, err, errlen, "%s: too many \"%s\": at most %zu", where,
				 key, max);
	*out = v;
	return 0;
}

static int vmdef_json_mac(const json_t *v, const char *where, bool unicast, uint8_t mac[6],
			  char *err, size_t errlen)
{
	if (!json_is_string(v) || net_parse_mac(json_string_value(v), mac) ||
	    (unicast && (mac[0] & 1)))
		return vmdef_err(-EINVAL, err, errlen, "%s: %s is not a%s MAC address (like "
				 "02:4e:56:00:00:01)", where,
				 json_is_string(v) ? json_string_value(v) : "the value",
				 unicast ? " unicast" : "");
	return 0;
}

static int vmdef_json_forward(const json_t *f, const char *where, struct net_forward *fw,
			      char *err, size_t errlen)
{
	static const char *const keys[] = { "proto", "host_port", "guest_port", NULL };
	char proto[8];
	json_int_t h, g;
	int rc;

	if (!json_is_object(f))
		return vmdef_err(-EINVAL, err, errlen, "%s must be an object", where);
	rc = vmdef_json_known(f, where, keys, err, errlen);
	if (!rc)
		rc = vmdef_json_str(f, where, "proto", "tcp", proto, sizeof(proto), err, errlen);
	if (!rc && strcmp(proto, "tcp") != 0)
		rc = vmdef_err(-EINVAL, err, errlen, "%s: \"proto\" must be \"tcp\"", where);
	if (!rc)
		rc = vmdef_json_int(f, where, "host_port", true, false, 1, 65535, 0, &h, err,
				    errlen);
	if (!rc)
		rc = vmdef_json_int(f, where, "guest_port", true, false, 1, 65535, 0, &g, err,
				    errlen);
	if (rc)
		return rc;
	fw->host_port = (uint16_t)h;
	fw->guest_port = (uint16_t)g;
	return 0;
}

static int vmdef_json_nic_lists(const json_t *j, const char *where, struct net_config *n,
				char *err, size_t errlen)
{
	char sub[80];
	json_t *a, *v;
	size_t i;
	int rc;

	rc = vmdef_json_array(j, where, "allowed_macs", NET_MAX_ALLOWED, &a, err, errlen);
	json_array_foreach(a, i, v) {
		snprintf(sub, sizeof(sub), "%s allowed_macs[%zu]", where, i);
		if (rc || (rc = vmdef_json_mac(v, sub, false, n->allowed[i], err, errlen)))
			return rc;
		n->n_allowed = (unsigned int)i + 1;
	}
	if (!rc)
		rc = vmdef_json_array(j, where, "forwards", NET_MAX_FORWARDS, &a, err, errlen);
	if (!rc && a && json_array_size(a) && n->backend != NET_BACKEND_USER)
		rc = vmdef_err(-EINVAL, err, errlen, "%s: forwards need a user-mode NIC", where);
	json_array_foreach(a, i, v) {
		snprintf(sub, sizeof(sub), "%s forwards[%zu]", where, i);
		if (rc || (rc = vmdef_json_forward(v, sub, &n->forwards[i], err, errlen)))
			return rc;
		n->n_forwards = (unsigned int)i + 1;
	}
	return rc;
}

static int vmdef_json_nic(const json_t *j, unsigned int idx, struct net_config *n, char *err,
			  size_t errlen)
{
	static const char *const keys[] = { "backend", "tap", "mac", "mac_spoofing",
					    "allowed_macs", "forwards", NULL };
	char where[32], backend[8];
	int rc;

	snprintf(where, sizeof(where), "nics[%u]", idx);
	memset(n, 0, sizeof(*n));
	if (!json_is_object(j))
		return vmdef_err(-EINVAL, err, errlen, "%s must be an object", where);
	rc = vmdef_json_known(j, where, keys, err, errlen);
	if (!rc)
		rc = vmdef_json_str(j, where, "backend", "user", backend, sizeof(backend), err,
				    errlen);
	if (!rc && strcmp(backend, "user") != 0 && strcmp(backend, "tap") != 0)
		rc = vmdef_err(-EINVAL, err, errlen, "%s: \"backend\" must be \"user\" or \"tap\"",
			       where);
	if (rc)
		return rc;
	n->backend = strcmp(backend, "tap") == 0 ? NET_BACKEND_TAP : NET_BACKEND_USER;
	rc = vmdef_json_str(j, where, "tap", "", n->tap_name, sizeof(n->tap_name), err, errlen);
	if (!rc && n->tap_name[0] && n->backend != NET_BACKEND_TAP)
		rc = vmdef_err(-EINVAL, err, errlen, "%s: \"tap\" needs backend \"tap\"", where);
	if (!rc && !json_object_get(j, "mac"))
		rc = vmdef_err(-EINVAL, err, errlen, "%s: \"mac\" is required", where);
	if (!rc)
		rc = vmdef_json_mac(json_object_get(j, "mac"), where, true, n->mac, err, errlen);
	if (!rc)
		rc = vmdef_json_bool(j, where, "mac_spoofing", &n->mac_spoofing, err, errlen);
	return rc ? rc : vmdef_json_nic_lists(j, where, n, err, errlen);
}

static int vmdef_json_disk(const json_t *j, unsigned int idx, struct blk_config *b, char *err,
			   size_t errlen)
{
	static const char *const keys[] = { "path", "readonly", NULL };
	char where[32];
	int rc;

	snprintf(where, sizeof(where), "disks[%u]", idx);
	if (!json_is_object(j))
		return vmdef_err(-EINVAL, err, errlen, "%s must be an object", where);
	rc = vmdef_json_known(j, where, keys, err, errlen);
	if (!rc)
		rc = vmdef_json_str(j, where, "path", NULL, b->path, sizeof(b->path), err, errlen);
	if (!rc && b->path[0] != '/')
		rc = vmdef_err(-EINVAL, err, errlen, "%s: \"path\" must be absolute", where);
	return rc ? rc : vmdef_json_bool(j, where, "readonly", &b->readonly, err, errlen);
}

/* "memory_bytes" is the truth; a lone "memory" ("2G") is accepted too, for
 * people writing definitions by hand. */
static int vmdef_json_memory(const json_t *j, struct vm_def *d, char *err, size_t errlen)
{
	json_t *human = json_object_get(j, "memory");
	json_int_t m;

	if (json_object_get(j, "memory_bytes") || !human) {
		int rc = vmdef_json_int(j, "config", "memory_bytes", true, false,
					(json_int_t)OPT_MEMORY_MIN, (json_int_t)OPT_MEMORY_MAX, 0,
					&m, err, errlen);

		d->memory = (uint64_t)m;
		return rc;
	}
	if (!json_is_string(human) || options_parse_size(json_string_value(human), &d->memory))
		return vmdef_err(-EINVAL, err, errlen, "config: \"memory\" must be a size like "
				 "\"512M\" or \"2G\"");
	return 0;
}

static int vmdef_json_scalars(const json_t *j, struct vm_def *d, char *err, size_t errlen)
{
	json_int_t v = 0;
	int rc;

	rc = vmdef_json_str(j, "config", "name", NULL, d->name, sizeof(d->name), err, errlen);
	if (!rc)
		rc = vmdef_check_name(d->name, err, errlen);
	if (!rc)
		rc = vmdef_json_str(j, "config", "kernel", NULL, d->kernel, sizeof(d->kernel), err,
				    errlen);
	if (!rc && d->kernel[0] != '/')
		rc = vmdef_err(-EINVAL, err, errlen, "config: \"kernel\" must be an absolute path");
	if (!rc)
		rc = vmdef_json_str(j, "config", "initrd", "", d->initrd, sizeof(d->initrd), err,
				    errlen);
	if (!rc && d->initrd[0] && d->initrd[0] != '/')
		rc = vmdef_err(-EINVAL, err, errlen, "config: \"initrd\" must be an absolute path");
	if (!rc)
		rc = vmdef_json_str(j, "config", "cmdline", OPT_CMDLINE_DEFAULT, d->cmdline,
				    sizeof(d->cmdline), err, errlen);
	if (!rc)
		rc = vmdef_json_int(j, "config", "cpus", true, false, 1, OPT_CPUS_MAX, 1, &v, err,
				    errlen);
	d->cpus = (unsigned int)v;
	if (!rc)
		rc = vmdef_json_memory(j, d, err, errlen);
	if (!rc)
		rc = vmdef_json_int(j, "config", "max_depth", false, true, 0, OPT_MAX_DEPTH_MAX, 0,
				    &v, err, errlen);
	d->max_depth = (unsigned int)v;
	if (!rc)
		rc = vmdef_json_bool(j, "config", "nested", &d->nested, err, errlen);
	if (!rc)
		rc = vmdef_json_bool(j, "config", "rng", &d->rng, err, errlen);
	return rc;
}

int vmdef_from_json(const json_t *j, struct vm_def *d, char *err, size_t errlen)
{
	static const char *const keys[] = { "name", "kernel", "initrd", "cmdline", "cpus",
					    "memory_bytes", "memory", "nested", "max_depth", "rng",
					    "disks", "nics", NULL };
	json_t *disks, *nics, *v;
	size_t i;
	int rc;

	memset(d, 0, sizeof(*d));
	if (!json_is_object(j))
		return vmdef_err(-EINVAL, err, errlen, "a VM definition must be a JSON object");
	rc = vmdef_json_known(j, "config", keys, err, errlen);
	if (!rc)
		rc = vmdef_json_scalars(j, d, err, errlen);
	if (!rc)
		rc = vmdef_check_ranges(d, err, errlen);
	if (!rc)
		rc = vmdef_json_array(j, "config", "disks", OPT_MAX_DISKS, &disks, err, errlen);
	if (!rc)
		rc = vmdef_json_array(j, "config", "nics", OPT_MAX_NICS, &nics, err, errlen);
	if (rc)
		goto fail;
	json_array_foreach(disks, i, v) {
		rc = vmdef_json_disk(v, (unsigned int)i, &d->disks[i], err, errlen);
		if (rc)
			goto fail;
		d->n_disks = (unsigned int)i + 1;
	}
	json_array_foreach(nics, i, v) {
		rc = vmdef_json_nic(v, (unsigned int)i, &d->nics[i], err, errlen);
		if (rc)
			goto fail;
		d->n_nics = (unsigned int)i + 1;
	}
	return 0;
fail:
	/* Never hand back half a definition. */
	memset(d, 0, sizeof(*d));
	return rc;
}
