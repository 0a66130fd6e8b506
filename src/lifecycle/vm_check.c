/* Per-VM readiness for a hypervisor inside (see vm_check.h). */
#include "lifecycle/vm_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "virtio/net.h"

static struct vm_check_item *vm_check_add(struct vm_check_item *out, int *n, int max,
					  const char *id, enum check_status st, enum vm_fix fix)
{
	struct vm_check_item *it;

	if (*n >= max)
		return NULL;
	it = &out[(*n)++];
	memset(it, 0, sizeof(*it));
	it->r.id = id;
	it->r.status = st;
	it->fix = fix;
	return it;
}

static void vm_check_text(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void vm_check_text(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Can nested guests reach a network? NAT inside the VM always works over
 * any NIC; bridging them needs a tap NIC with spoofing (or allowed MACs). */
/* The i-th NIC of d as a struct net_config (false: none, or not valid). */
static bool vm_check_nic(const struct vm_config *d, unsigned int i, struct net_config *nc)
{
	char err[128];
	unsigned int k = 0;

	for (unsigned int j = 0; j < d->n_devices; j++)
		if (d->devices[j].cls == &virtio_net_class && k++ == i)
			return net_config_from_json(d->devices[j].cfg, nc, err, sizeof(err)) == 0;
	return false;
}

/* The i-th NIC's configuration object, or NULL. */
static json_t *vm_check_nic_json(struct vm_config *d, unsigned int i)
{
	unsigned int k = 0;

	for (unsigned int j = 0; j < d->n_devices; j++)
		if (d->devices[j].cls == &virtio_net_class && k++ == i)
			return d->devices[j].cfg;
	return NULL;
}

static void vm_check_network(const struct vm_config *d, struct vm_check_item *out, int *n,
			     int max)
{
	unsigned int n_nics = vmconfig_count(d, &virtio_net_class);
	struct vm_check_item *it;
	bool any_bridge = false;

	if (n_nics == 0) {
		it = vm_check_add(out, n, max, "network", CHECK_WARN, VM_FIX_ADD_NIC);
		if (!it)
			return;
		vm_check_text(it->r.reason, sizeof(it->r.reason), "'%s' has no NIC: its nested "
			      "guests have no way out to a network", d->name);
		vm_check_text(it->r.fix, sizeof(it->r.fix), "nestvm set %s --nic user   (NAT; "
			      "nested guests then use NAT inside the VM)", d->name);
		return;
	}
	for (unsigned int i = 0; i < n_nics; i++) {
		struct net_config nc;
		const struct net_config *c = &nc;

		if (!vm_check_nic(d, i, &nc))
			continue;
		if (c->backend != NET_BACKEND_TAP)
			continue;
		if (c->mac_spoofing || c->n_allowed > 0) {
			any_bridge = true;
			continue;
		}
		it = vm_check_add(out, n, max, "mac-spoofing", CHECK_WARN, VM_FIX_SPOOFING);
		if (!it)
			return;
		it->nic = i;
		vm_check_text(it->r.reason, sizeof(it->r.reason), "NIC %u (tap) drops frames from "
			      "other MACs: nested guests bridged inside '%s' get no network (NAT "
			      "inside it still works)", i, d->name);
		vm_check_text(it->r.fix, sizeof(it->r.fix), "nestvm set %s --nic tap:%s "
			      "--mac-spoofing on   (or --allow-mac for each nested guest)", d->name,
			      c->tap_name[0] ? c->tap_name : "NAME");
	}
	it = vm_check_add(out, n, max, "network", CHECK_PASS, VM_FIX_NONE);
	if (it)
		vm_check_text(it->r.reason, sizeof(it->r.reason), "%u NIC%s: nested guests reach "
			      "the network through NAT inside the VM%s", n_nics,
			      n_nics == 1 ? "" : "s", any_bridge ? " or bridged" : "");
}

int vm_check_def(const struct vm_config *d, enum vm_state st, struct vm_check_item *out, int max)
{
	struct vm_check_item *it;
	int n = 0, changes = 0;

	it = vm_check_add(out, &n, max, "nested", d->nested ? CHECK_PASS : CHECK_FAIL,
			  d->nested ? VM_FIX_NONE : VM_FIX_NESTED_ON);
	if (it && d->nested) {
		vm_check_text(it->r.reason, sizeof(it->r.reason), "nested virtualization is on");
	} else if (it) {
		vm_check_text(it->r.reason, sizeof(it->r.reason), "nested virtualization is off: "
			      "the guest sees no VMX/SVM and cannot load a hypervisor");
		vm_check_text(it->r.fix, sizeof(it->r.fix), "nestvm set %s --nested on", d->name);
		changes++;
	}
	it = vm_check_add(out, &n, max, "max-depth", d->max_depth == 1 ? CHECK_FAIL : CHECK_PASS,
			  d->max_depth == 1 ? VM_FIX_MAX_DEPTH : VM_FIX_NONE);
	if (it && d->max_depth == 1) {
		vm_check_text(it->r.reason, sizeof(it->r.reason), "--max-depth 1: the guest may "
			      "run no guests of its own (nestvm hides VMX/SVM from it)");
		vm_check_text(it->r.fix, sizeof(it->r.fix), "nestvm set %s --max-depth none",
			      d->name);
		changes++;
	} else if (it) {
		vm_check_text(it->r.reason, sizeof(it->r.reason), "max depth %s", d->max_depth ?
			      "allows nested guests" : "not limited");
	}
	it = vm_check_add(out, &n, max, "memory", d->memory < VM_CHECK_MEMORY_MIN ? CHECK_WARN :
			  CHECK_PASS, d->memory < VM_CHECK_MEMORY_MIN ? VM_FIX_MEMORY : VM_FIX_NONE);
	if (it && d->memory < VM_CHECK_MEMORY_MIN) {
		vm_check_text(it->r.reason, sizeof(it->r.reason), "%llu MiB of memory is below "
			      "the 1 GiB recommended for a hypervisor guest (its kernel plus its "
			      "guests' RAM)", (unsigned long long)(d->memory >> 20));
		vm_check_text(it->r.fix, sizeof(it->r.fix), "nestvm set %s --memory 1G", d->name);
		changes++;
	} else if (it) {
		vm_check_text(it->r.reason, sizeof(it->r.reason), "%llu MiB of memory",
			      (unsigned long long)(d->memory >> 20));
	}
	vm_check_network(d, out, &n, max);
	for (int i = 0; i < n; i++)
		changes += out[i].fix == VM_FIX_SPOOFING || out[i].fix == VM_FIX_ADD_NIC;
	if (vm_state_active(st) && changes) {
		it = vm_check_add(out, &n, max, "state", CHECK_FAIL, VM_FIX_STOP);
		if (it) {
			vm_check_text(it->r.reason, sizeof(it->r.reason), "'%s' is %s: these "
				      "changes apply only while it is stopped", d->name,
				      vm_state_name(st));
			vm_check_text(it->r.fix, sizeof(it->r.fix), "nestvm stop %s", d->name);
		}
	}
	return n;
}

int vm_check_apply(struct vm_config *d, const struct vm_check_item *it, int n)
{
	int changed = 0;

	for (int i = 0; i < n; i++) {
		switch (it[i].fix) {
		case VM_FIX_NESTED_ON:
			changed += !d->nested;
			d->nested = true;
			break;
		case VM_FIX_MEMORY:
			changed += d->memory < VM_CHECK_MEMORY_MIN;
			if (d->memory < VM_CHECK_MEMORY_MIN)
				d->memory = VM_CHECK_MEMORY_MIN;
			break;
		case VM_FIX_MAX_DEPTH:
			changed += d->max_depth != 0;
			d->max_depth = 0;
			break;
		case VM_FIX_ADD_NIC:
			if (vmconfig_count(d, &virtio_net_class) == 0) {
				char err[128];
				json_t *nic = NULL;

				/* A user-mode NIC, MAC 02:4e:56:00:00:01. */
				if (net_config_parse("user", &nic, err, sizeof(err)))
					break;
				net_config_default(nic, 0);
				changed += vmconfig_add_device(d, &virtio_net_class, nic, err,
							       sizeof(err)) == 0;
			}
			break;
		case VM_FIX_SPOOFING: {
			json_t *nic = vm_check_nic_json(d, it[i].nic);

			if (nic && !json_is_true(json_object_get(nic, "mac_spoofing"))) {
				json_object_set_new(nic, "mac_spoofing", json_true());
				changed++;
			}
			break;
		}
		case VM_FIX_STOP:
		case VM_FIX_NONE:
		default:
			break;
		}
	}
	return changed;
}

static void vm_check_line(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void vm_check_line(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

void vm_check_diff(const struct vm_config *a, const struct vm_config *b, char *buf, size_t len)
{
	unsigned int na = vmconfig_count(a, &virtio_net_class);
	unsigned int nb = vmconfig_count(b, &virtio_net_class);

	buf[0] = '\0';
	if (a->nested != b->nested)
		vm_check_line(buf, len, "  nested virtualization: %s -> %s\n",
			      a->nested ? "on" : "off", b->nested ? "on" : "off");
	if (a->memory != b->memory)
		vm_check_line(buf, len, "  memory: %llu MiB -> %llu MiB\n",
			      (unsigned long long)(a->memory >> 20),
			      (unsigned long long)(b->memory >> 20));
	if (a->max_depth != b->max_depth)
		vm_check_line(buf, len, "  max depth: %u -> %s\n", a->max_depth,
			      b->max_depth ? "limited" : "none");
	if (na != nb)
		vm_check_line(buf, len, "  NICs: %u -> %u (a user-mode NAT NIC, MAC "
			      "02:4e:56:00:00:01)\n", na, nb);
	for (unsigned int i = 0; i < na && i < nb; i++) {
		struct net_config x, y;

		if (vm_check_nic(a, i, &x) && vm_check_nic(b, i, &y) &&
		    x.mac_spoofing != y.mac_spoofing)
			vm_check_line(buf, len, "  NIC %u MAC spoofing: %s -> %s\n", i,
				      x.mac_spoofing ? "on" : "off", y.mac_spoofing ? "on" : "off");
	}
}
