/* virtio-net's configuration: the --nic option and its modifiers, the
 * checks of a NIC's JSON object and its conversion into a struct
 * net_config (see net.h). Pure: unit-tested without a VM.
 *
 * JSON: {"backend": "user"|"tap", "tap": NAME|null, "mac": "02:...",
 *        "mac_spoofing": bool, "allowed_macs": [MAC...],
 *        "forwards": [{"proto": "tcp", "host_port", "guest_port"}]} */
#include "virtio/net.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/jsoncheck.h"

static json_t *net_mac_json(const uint8_t *m)
{
	return json_sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* "user", "tap" or "tap:NAME". "mac" is null until config_default or
 * --mac fills it. */
int net_config_parse(const char *arg, json_t **out, char *err, size_t errlen)
{
	bool tap = strcmp(arg, "user") != 0;

	*out = NULL;
	if (strcmp(arg, "user") != 0 && strcmp(arg, "tap") != 0 && strncmp(arg, "tap:", 4) != 0)
		return jcheck_err(err, errlen, "--nic '%s': use user, tap or tap:NAME", arg);
	if (strncmp(arg, "tap:", 4) == 0 && (strlen(arg + 4) == 0 || strlen(arg + 4) >= 16))
		return jcheck_err(err, errlen, "--nic '%s': a tap name has 1 to 15 characters", arg);
	*out = json_pack("{s:s, s:o, s:n, s:b, s:[], s:[]}", "backend", tap ? "tap" : "user",
			 "tap", tap && arg[3] == ':' ? json_string(arg + 4) : json_null(),
			 "mac", "mac_spoofing", 0, "allowed_macs", "forwards");
	return *out ? 0 : jcheck_err(err, errlen, "--nic: out of memory");
}

void net_config_default(json_t *cfg, unsigned int index)
{
	json_t *mac = json_object_get(cfg, "mac");
	uint8_t m[6] = { 0x02, 0x4e, 0x56, 0x00, 0x00, (uint8_t)(index + 1) };

	if (!mac || json_is_null(mac))
		json_object_set_new(cfg, "mac", net_mac_json(m));
}

static int net_modify_forward(json_t *cfg, const char *arg, char *err, size_t errlen)
{
	json_t *fwd = json_object_get(cfg, "forwards");
	unsigned int h, g;
	char tail;

	if (sscanf(arg, "tcp:%u:%u%c", &h, &g, &tail) != 2 || !h || !g || h > 65535 || g > 65535)
		return jcheck_err(err, errlen, "--forward '%s': use tcp:HOSTPORT:GUESTPORT "
				  "(ports 1-65535)", arg);
	if (strcmp(json_string_value(json_object_get(cfg, "backend")), "user") != 0)
		return jcheck_err(err, errlen, "--forward needs a user-mode NIC (--nic user)");
	if (json_array_size(fwd) >= NET_MAX_FORWARDS)
		return jcheck_err(err, errlen, "too many --forward: at most %d a NIC",
				  NET_MAX_FORWARDS);
	json_array_append_new(fwd, json_pack("{s:s, s:i, s:i}", "proto", "tcp", "host_port",
					     (int)h, "guest_port", (int)g));
	return 0;
}

int net_config_modify(json_t *cfg, const char *opt, const char *arg, char *err, size_t errlen)
{
	uint8_t mac[6];

	if (strcmp(opt, "mac") == 0) {
		if (net_parse_mac(arg, mac) || (mac[0] & 1))
			return jcheck_err(err, errlen, "--mac '%s' is not a unicast MAC address "
					  "(like 02:4e:56:00:00:01)", arg);
		json_object_set_new(cfg, "mac", net_mac_json(mac));
		return 0;
	}
	if (strcmp(opt, "forward") == 0)
		return net_modify_forward(cfg, arg, err, errlen);
	if (strcmp(opt, "mac-spoofing") == 0) {
		if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
			return jcheck_err(err, errlen, "--mac-spoofing '%s': use on or off", arg);
		json_object_set_new(cfg, "mac_spoofing", json_boolean(strcmp(arg, "on") == 0));
		return 0;
	}
	if (strcmp(opt, "allow-mac") == 0) {
		json_t *a = json_object_get(cfg, "allowed_macs");

		if (json_array_size(a) >= NET_MAX_ALLOWED)
			return jcheck_err(err, errlen, "too many --allow-mac: at most %d a NIC",
					  NET_MAX_ALLOWED);
		if (net_parse_mac(arg, mac))
			return jcheck_err(err, errlen, "--allow-mac '%s' is not a MAC address", arg);
		json_array_append_new(a, net_mac_json(mac));
		return 0;
	}
	return jcheck_err(err, errlen, "virtio-net has no option --%s", opt);
}

static int net_check_mac(const json_t *v, const char *where, bool unicast, uint8_t mac[6],
			 char *err, size_t errlen)
{
	if (!json_is_string(v) || net_parse_mac(json_string_value(v), mac) ||
	    (unicast && (mac[0] & 1)))
		return jcheck_err(err, errlen, "%s%s%s is not a%s MAC address (like "
				  "02:4e:56:00:00:01)", where ? where : "", where ? ": " : "",
				  json_is_string(v) ? json_string_value(v) : "the value",
				  unicast ? " unicast" : "");
	return 0;
}

static int net_check_forward(const json_t *f, const char *where, struct net_forward *fw,
			     char *err, size_t errlen)
{
	static const char *const keys[] = { "proto", "host_port", "guest_port", NULL };
	const char *proto;
	json_int_t h, g;
	int rc;

	if (!json_is_object(f))
		return jcheck_err(err, errlen, "%s must be an object", where);
	rc = jcheck_known(f, where, keys, err, errlen);
	if (!rc)
		rc = jcheck_str(f, where, "proto", false, 8, &proto, err, errlen);
	if (!rc && proto && strcmp(proto, "tcp") != 0)
		rc = jcheck_err(err, errlen, "%s: \"proto\" must be \"tcp\"", where);
	if (!rc)
		rc = jcheck_int(f, where, "host_port", true, false, 1, 65535, 0, &h, err, errlen);
	if (!rc)
		rc = jcheck_int(f, where, "guest_port", true, false, 1, 65535, 0, &g, err, errlen);
	if (rc)
		return rc;
	fw->host_port = (uint16_t)h;
	fw->guest_port = (uint16_t)g;
	return 0;
}

static int net_check_lists(const json_t *j, struct net_config *n, char *err, size_t errlen)
{
	char sub[48];
	json_t *a, *v;
	size_t i;
	int rc;

	rc = jcheck_array(j, NULL, "allowed_macs", NET_MAX_ALLOWED, &a, err, errlen);
	json_array_foreach(a, i, v) {
		snprintf(sub, sizeof(sub), "allowed_macs[%zu]", i);
		if (rc || (rc = net_check_mac(v, sub, false, n->allowed[i], err, errlen)))
			return rc;
		n->n_allowed = (unsigned int)i + 1;
	}
	if (!rc)
		rc = jcheck_array(j, NULL, "forwards", NET_MAX_FORWARDS, &a, err, errlen);
	if (!rc && a && json_array_size(a) && n->backend != NET_BACKEND_USER)
		rc = jcheck_err(err, errlen, "forwards need a user-mode NIC");
	json_array_foreach(a, i, v) {
		snprintf(sub, sizeof(sub), "forwards[%zu]", i);
		if (rc || (rc = net_check_forward(v, sub, &n->forwards[i], err, errlen)))
			return rc;
		n->n_forwards = (unsigned int)i + 1;
	}
	return rc;
}

int net_config_from_json(const json_t *j, struct net_config *n, char *err, size_t errlen)
{
	static const char *const keys[] = { "backend", "tap", "mac", "mac_spoofing",
					    "allowed_macs", "forwards", NULL };
	const char *backend, *tap;
	int rc;

	memset(n, 0, sizeof(*n));
	if (!json_is_object(j))
		return jcheck_err(err, errlen, "a NIC must be an object");
	rc = jcheck_known(j, NULL, keys, err, errlen);
	if (!rc)
		rc = jcheck_str(j, NULL, "backend", false, 8, &backend, err, errlen);
	if (!rc && backend && strcmp(backend, "user") != 0 && strcmp(backend, "tap") != 0)
		rc = jcheck_err(err, errlen, "\"backend\" must be \"user\" or \"tap\"");
	if (rc)
		return rc;
	n->backend = backend && strcmp(backend, "tap") == 0 ? NET_BACKEND_TAP : NET_BACKEND_USER;
	rc = jcheck_str(j, NULL, "tap", false, sizeof(n->tap_name), &tap, err, errlen);
	if (!rc && tap && tap[0] && n->backend != NET_BACKEND_TAP)
		rc = jcheck_err(err, errlen, "\"tap\" needs backend \"tap\"");
	if (!rc && tap)
		snprintf(n->tap_name, sizeof(n->tap_name), "%s", tap);
	if (!rc && (!json_object_get(j, "mac") || json_is_null(json_object_get(j, "mac"))))
		rc = jcheck_err(err, errlen, "\"mac\" is required");
	if (!rc)
		rc = net_check_mac(json_object_get(j, "mac"), NULL, true, n->mac, err, errlen);
	if (!rc)
		rc = jcheck_bool(j, NULL, "mac_spoofing", &n->mac_spoofing, err, errlen);
	if (!rc)
		rc = net_check_lists(j, n, err, errlen);
	if (rc)
		memset(n, 0, sizeof(*n));
	return rc;
}

int net_config_check(const json_t *cfg, char *err, size_t errlen)
{
	struct net_config n;

	return net_config_from_json(cfg, &n, err, errlen);
}
