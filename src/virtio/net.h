/* virtio-net (type 1) with two backends:
 *   user: user-mode NAT through libslirp (no root): the guest is 10.0.2.15,
 *         the gateway 10.0.2.2 reaches the host's loopback, DNS at 10.0.2.3;
 *         --forward tcp:HOSTPORT:GUESTPORT forwards host ports in;
 *   tap:  an existing or new tap device, for bridging.
 * MAC spoofing control, per NIC, off by default: frames the guest sends
 * whose source MAC is not the NIC's own (nor an --allow-mac one) are
 * dropped, so a guest cannot bridge its own nested guests onto the network
 * unless --mac-spoofing on (Hyper-V's MacAddressSpoofing). */
#ifndef NESTVM_VIRTIO_NET_H
#define NESTVM_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio_pci.h"
#include "vmm/device.h"

#define NET_MAX_FORWARDS  8
#define NET_MAX_ALLOWED   8

enum net_backend { NET_BACKEND_USER = 0, NET_BACKEND_TAP };

struct net_forward {
	uint16_t host_port;
	uint16_t guest_port;
};

struct net_config {
	enum net_backend backend;
	char tap_name[16];
	uint8_t mac[6];
	bool mac_spoofing;
	unsigned int n_forwards;
	struct net_forward forwards[NET_MAX_FORWARDS];
	unsigned int n_allowed;
	uint8_t allowed[NET_MAX_ALLOWED][6];
};

struct virtio_net;  /* defined in net.c */

/* The guest-visible state (virtio_net_class, version
 * VIRTIO_NET_STATE_VERSION): the transport and the device configuration
 * (MAC, link status), which comes from the configuration and must be the
 * device's own at a restore. Frames queued host-side (not yet in a guest
 * buffer) are not state: they are lost, as on a wire. */
#define VIRTIO_NET_CONFIG_LEN 8   /* mac[6], le16 status */
struct virtio_net_state {
	struct virtio_pci_state vp;
	uint8_t config[VIRTIO_NET_CONFIG_LEN];
};

#define VIRTIO_NET_STATE_VERSION 1

/* The device class (src/vmm/device.h): dev is a struct virtio_net *.
 * quiesce parks the slirp thread (user backend) between two rounds of its
 * loop, so no frame is half-handed over; a tap backend is served by the
 * I/O loop, which the machine parks. */
struct device_class;
extern const struct device_class virtio_net_class;

/* The NIC's PCI transport (tests drive it as a guest would). */
struct virtio_pci *virtio_net_pci(struct virtio_net *net);

/* Is the backend thread parked (quiesce) or absent (tap)? For tests. */
bool virtio_net_backend_parked(struct virtio_net *net);

/* Create the device and its backend. -errno with a message in err. */
int virtio_net_create(struct virtio_net **out, const struct net_config *cfg,
		      const struct device_host *h, char *err, size_t errlen);
void virtio_net_destroy(struct virtio_net *net);

/* Should a frame the guest transmits go out? (source-MAC policy; pure) */
bool net_mac_allowed(const struct net_config *cfg, const uint8_t *frame, uint32_t len);

/* The device class (`--nic` with --mac, --mac-spoofing, --allow-mac,
 * --forward; "nics": [{...}] in a VM's configuration). */
extern const struct device_class virtio_net_class;

/* The configuration half (net_config.c; the JSON shape is described
 * there). net_config_from_json checks every field of a NIC's object and
 * fills *n; 0 or -EINVAL with a message (n zeroed). */
int net_config_parse(const char *arg, json_t **out, char *err, size_t errlen);
int net_config_modify(json_t *cfg, const char *opt, const char *arg, char *err, size_t errlen);
void net_config_default(json_t *cfg, unsigned int index);
int net_config_check(const json_t *cfg, char *err, size_t errlen);
int net_config_from_json(const json_t *cfg, struct net_config *n, char *err, size_t errlen);

/* Parse "aa:bb:cc:dd:ee:ff"; 0 or -EINVAL. */
int net_parse_mac(const char *s, uint8_t mac[6]);

#endif
