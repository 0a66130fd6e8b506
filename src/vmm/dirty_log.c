/* KVM's dirty log and the devices' marks (vmm/dirty_log.h). */
#include "vmm/dirty_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "vmm/vm.h"

unsigned long *dirty_bitmap_new(uint64_t npages)
{
	return calloc((size_t)((npages + DIRTY_BITS - 1) / DIRTY_BITS) + 1, sizeof(unsigned long));
}

uint64_t dirty_bitmap_count(const unsigned long *b, size_t nwords)
{
	uint64_t n = 0;

	for (size_t i = 0; i < nwords; i++)
		n += (uint64_t)__builtin_popcountl(b[i]);
	return n;
}

/* The RAM slots as vm.c made them: slot 0 at GPA 0, slot 1 at 4 GiB. */
struct dirty_slot {
	uint32_t slot;
	uint64_t gpa, size, first_page;   /* first_page: in the host mapping */
	uint8_t *host;
};

static unsigned int dirty_slots(const struct vm *vm, struct dirty_slot s[2])
{
	s[0] = (struct dirty_slot){ 0, 0, vm->mem.low_size, 0, vm->mem.host };
	if (vm->mem.size <= vm->mem.low_size)
		return 1;
	s[1] = (struct dirty_slot){ 1, GUEST_MEM_HIGH_START, vm->mem.size - vm->mem.low_size,
				    vm->mem.low_size / DIRTY_PAGE, vm->mem.host + vm->mem.low_size };
	return 2;
}

static int dirty_set_flags(struct vm *vm, uint32_t flags, char *err, size_t errlen)
{
	struct dirty_slot s[2];
	unsigned int n = dirty_slots(vm, s);

	for (unsigned int i = 0; i < n; i++) {
		struct kvm_userspace_memory_region r = {
			.slot = s[i].slot, .flags = flags, .guest_phys_addr = s[i].gpa,
			.memory_size = s[i].size, .userspace_addr = (uintptr_t)s[i].host,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
			int e = errno;

			snprintf(err, errlen, "dirty page logging on RAM slot %u: "
				 "KVM_SET_USER_MEMORY_REGION: %s", s[i].slot, strerror(e));
			return -e;
		}
	}
	return 0;
}

int dirty_log_start(struct dirty_log *d, struct vm *vm, char *err, size_t errlen)
{
	uint64_t slot_pages = vm->mem.low_size > vm->mem.size - vm->mem.low_size ?
			      vm->mem.low_size / DIRTY_PAGE :
			      (vm->mem.size - vm->mem.low_size) / DIRTY_PAGE;
	unsigned long *dev;
	int caps, r;

	memset(d, 0, sizeof(*d));
	d->npages = vm->mem.size / DIRTY_PAGE;
	d->nwords = (size_t)((d->npages + DIRTY_BITS - 1) / DIRTY_BITS);
	d->slot_buf = dirty_bitmap_new(slot_pages);
	dev = dirty_bitmap_new(d->npages);
	if (!d->slot_buf || !dev) {
		free(d->slot_buf);
		free(dev);
		d->slot_buf = NULL;
		snprintf(err, errlen, "dirty page logging: out of memory");
		return -ENOMEM;
	}
	caps = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	if (caps > 0 && (caps & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)) {
		struct kvm_enable_cap c = {
			.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
			.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
		};

		d->manual = ioctl(vm->vm_fd, KVM_ENABLE_CAP, &c) == 0;
	}
	__atomic_store_n(&vm->mem.dev_dirty, dev, __ATOMIC_RELEASE);
	r = dirty_set_flags(vm, KVM_MEM_LOG_DIRTY_PAGES, err, errlen);
	if (r) {
		d->on = true;
		dirty_log_stop(d, vm);
		return r;
	}
	d->on = true;
	return 0;
}

/* One slot's log into out (at the slot's first page), re-protected. */
static int dirty_sync_slot(struct dirty_log *d, struct vm *vm, const struct dirty_slot *s,
			   unsigned long *out, char *err, size_t errlen)
{
	uint64_t pages = s->size / DIRTY_PAGE;
	size_t words = (size_t)((pages + DIRTY_BITS - 1) / DIRTY_BITS);
	struct kvm_dirty_log log = { .slot = s->slot, .dirty_bitmap = d->slot_buf };
	bool any = false;

	memset(d->slot_buf, 0, words * sizeof(unsigned long));
	if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
		int e = errno;

		snprintf(err, errlen, "KVM_GET_DIRTY_LOG (slot %u): %s", s->slot, strerror(e));
		return -e;
	}
	for (size_t i = 0; i < words; i++) {
		unsigned long w = d->slot_buf[i];

		if (!w)
			continue;
		any = true;
		/* first_page is a multiple of 64 (RAM comes in MiB). */
		out[s->first_page / DIRTY_BITS + i] |= w;
	}
	if (d->manual && any) {
		struct kvm_clear_dirty_log c = {
			.slot = s->slot, .num_pages = (uint32_t)pages, .first_page = 0,
			.dirty_bitmap = d->slot_buf,
		};

		if (ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &c) < 0) {
			int e = errno;

			snprintf(err, errlen, "KVM_CLEAR_DIRTY_LOG (slot %u): %s", s->slot,
				 strerror(e));
			return -e;
		}
	}
	return 0;
}

int dirty_log_sync(struct dirty_log *d, struct vm *vm, unsigned long *out, bool devices,
		   char *err, size_t errlen)
{
	struct dirty_slot s[2];
	unsigned int n = dirty_slots(vm, s);
	int r;

	if (!d->on) {
		snprintf(err, errlen, "dirty page logging is not on");
		return -EINVAL;
	}
	for (unsigned int i = 0; i < n; i++) {
		r = dirty_sync_slot(d, vm, &s[i], out, err, errlen);
		if (r)
			return r;
	}
	if (devices) {
		const unsigned long *dev = __atomic_load_n(&vm->mem.dev_dirty, __ATOMIC_ACQUIRE);

		for (size_t i = 0; dev && i < d->nwords; i++)
			out[i] |= __atomic_load_n(&dev[i], __ATOMIC_RELAXED);
	}
	return 0;
}

void dirty_log_stop(struct dirty_log *d, struct vm *vm)
{
	char err[256];
	unsigned long *dev;

	if (!d->on)
		return;
	dirty_set_flags(vm, 0, err, sizeof(err));
	dev = __atomic_exchange_n(&vm->mem.dev_dirty, NULL, __ATOMIC_ACQ_REL);
	/* The caller has quiesced the devices (dirty_log.h): no device
	 * thread holds the old pointer. */
	free(dev);
	free(d->slot_buf);
	d->slot_buf = NULL;
	d->on = false;
}
