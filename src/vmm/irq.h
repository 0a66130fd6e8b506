/* Interrupt routing for MSI: each MSI-X vector gets a GSI routed to its
 * message (KVM_SET_GSI_ROUTING) and an eventfd bound to that GSI
 * (KVM_IRQFD), so a device raises it with one write(2) from any thread,
 * without going through the vCPU threads. The legacy GSIs 0-23 keep KVM's
 * default routing to the in-kernel PIC and IOAPIC. */
#ifndef NESTVM_VMM_IRQ_H
#define NESTVM_VMM_IRQ_H

#include <pthread.h>
#include <stdint.h>

#include <linux/kvm.h>

#define IRQ_MSI_GSI_BASE 24
#define IRQ_MAX_MSI      256

struct irq_router {
	int vm_fd;
	pthread_mutex_t lock;
	unsigned int n_msi;
	struct kvm_irq_routing_msi msi[IRQ_MAX_MSI];
};

void irq_router_init(struct irq_router *r, int vm_fd);
void irq_router_destroy(struct irq_router *r);

/* A new MSI GSI with an eventfd bound to it: returns the GSI (>= 24) and
 * sets *efd, or -errno. */
int irq_msi_alloc(struct irq_router *r, int *efd);

/* Point an MSI GSI at a message (address, data). */
int irq_msi_set(struct irq_router *r, int gsi, uint64_t addr, uint32_t data);

/* Build the full routing table: default PIC/IOAPIC entries for GSIs 0-23
 * plus every MSI one. Pure (unit-tested); returns the entry count. */
unsigned int irq_routing_build(const struct irq_router *r, struct kvm_irq_routing_entry *e,
			       unsigned int max);

#endif
