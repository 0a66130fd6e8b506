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

/* Create the device and its backend. -errno with a message in err. */
int virtio_net_create(struct virtio_net **out, const struct net_config *cfg, struct vm *vm,
		      struct pci_bus *bus, struct irq_router *irq, struct evloop *loop, char *err,
		      size_t errlen);
void virtio_net_destroy(struct virtio_net *net);

/* The quiesce point's hooks (device_class quiesce/resume; dev is the
 * struct virtio_net). quiesce returns once the backend thread (user: the
 * slirp thread) is parked between two rounds: no slirp call runs and no
 * frame for the guest is queued until resume, which returns once it runs
 * again. Frames arriving from the host meanwhile wait in the sockets. tap
 * has no thread of its own (the I/O loop, parked by the machine, drives
 * it): nothing to do. Any thread but the slirp thread. */
void virtio_net_quiesce(void *dev);
void virtio_net_resume(void *dev);
bool virtio_net_quiesced(struct virtio_net *net);

/* Should a frame the guest transmits go out? (source-MAC policy; pure) */
bool net_mac_allowed(const struct net_config *cfg, const uint8_t *frame, uint32_t len);

/* Parse "aa:bb:cc:dd:ee:ff"; 0 or -EINVAL. */
int net_parse_mac(const char *s, uint8_t mac[6]);

#endif
