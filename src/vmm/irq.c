#include "vmm/irq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define IRQ_LEGACY_GSIS 24
#define IRQ_MAX_ROUTES  (IRQ_LEGACY_GSIS + 16 + IRQ_MAX_MSI)

void irq_router_init(struct irq_router *r, int vm_fd)
{
	memset(r, 0, sizeof(*r));
	r->vm_fd = vm_fd;
	pthread_mutex_init(&r->lock, NULL);
}

void irq_router_destroy(struct irq_router *r)
{
	pthread_mutex_destroy(&r->lock);
}

unsigned int irq_routing_build(const struct irq_router *r, struct kvm_irq_routing_entry *e,
			       unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int gsi = 0; gsi < IRQ_LEGACY_GSIS && n < max; gsi++) {
		e[n] = (struct kvm_irq_routing_entry){ .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP };
		e[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e[n].u.irqchip.pin = gsi;
		n++;
		if (gsi < 16 && n < max) {
			e[n] = (struct kvm_irq_routing_entry){ .gsi = gsi,
							      .type = KVM_IRQ_ROUTING_IRQCHIP };
			e[n].u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
			e[n].u.irqchip.pin = gsi % 8;
			n++;
		}
	}
	for (unsigned int i = 0; i < r->n_msi && n < max; i++) {
		e[n] = (struct kvm_irq_routing_entry){ .gsi = IRQ_MSI_GSI_BASE + i,
						      .type = KVM_IRQ_ROUTING_MSI };
		e[n].u.msi = r->msi[i];
		n++;
	}
	return n;
}

static int irq_routing_commit(struct irq_router *r)
{
	struct kvm_irq_routing *t = calloc(1, sizeof(*t) + IRQ_MAX_ROUTES * sizeof(t->entries[0]));
	int ret = 0;

	if (!t)
		return -ENOMEM;
	t->nr = irq_routing_build(r, t->entries, IRQ_MAX_ROUTES);
	if (ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t) < 0)
		ret = -errno;
	free(t);
	return ret;
}

int irq_msi_alloc(struct irq_router *r, int *efd)
{
	struct kvm_irqfd irqfd = { 0 };
	int gsi, fd, ret;

	pthread_mutex_lock(&r->lock);
	if (r->n_msi >= IRQ_MAX_MSI) {
		pthread_mutex_unlock(&r->lock);
		return -ENOSPC;
	}
	gsi = IRQ_MSI_GSI_BASE + (int)r->n_msi;
	r->msi[r->n_msi++] = (struct kvm_irq_routing_msi){ 0 };
	ret = irq_routing_commit(r);
	pthread_mutex_unlock(&r->lock);
	if (ret)
		return ret;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	irqfd.fd = (uint32_t)fd;
	irqfd.gsi = (uint32_t)gsi;
	if (ioctl(r->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	*efd = fd;
	return gsi;
}

int irq_msi_set(struct irq_router *r, int gsi, uint64_t addr, uint32_t data)
{
	unsigned int i = (unsigned int)(gsi - IRQ_MSI_GSI_BASE);
	int ret;

	if (gsi < IRQ_MSI_GSI_BASE || i >= IRQ_MAX_MSI)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	if (i >= r->n_msi) {
		pthread_mutex_unlock(&r->lock);
		return -EINVAL;
	}
	r->msi[i].address_lo = (uint32_t)addr;
	r->msi[i].address_hi = (uint32_t)(addr >> 32);
	r->msi[i].data = data;
	ret = irq_routing_commit(r);
	pthread_mutex_unlock(&r->lock);
	return ret;
}
