/* Reading and loading an x86 VM's own state: the in-kernel PICs, IOAPIC
 * and PIT, the KVM clock and the TSC frequency (x86/cpu_state.h). */
#include "x86/cpu_state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

static int x86_vm_fail(char *err, size_t errlen, const char *what)
{
	int e = errno ? errno : EIO;

	snprintf(err, errlen, "%s: %s", what, strerror(e));
	return -e;
}

int x86_vm_state_get(int vm_fd, int vcpu_fd, struct x86_vm_state *s, char *err, size_t errlen)
{
	int khz;

	memset(s, 0, sizeof(*s));
	s->magic = X86_VM_STATE_MAGIC;
	s->version = X86_VM_STATE_VERSION;
	s->size = sizeof(*s);
	s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	errno = 0;
	if (ioctl(vm_fd, KVM_GET_IRQCHIP, &s->pic_master) < 0)
		return x86_vm_fail(err, errlen, "KVM_GET_IRQCHIP (PIC master)");
	if (ioctl(vm_fd, KVM_GET_IRQCHIP, &s->pic_slave) < 0)
		return x86_vm_fail(err, errlen, "KVM_GET_IRQCHIP (PIC slave)");
	if (ioctl(vm_fd, KVM_GET_IRQCHIP, &s->ioapic) < 0)
		return x86_vm_fail(err, errlen, "KVM_GET_IRQCHIP (IOAPIC)");
	if (ioctl(vm_fd, KVM_GET_PIT2, &s->pit) < 0)
		return x86_vm_fail(err, errlen, "KVM_GET_PIT2");
	if (ioctl(vm_fd, KVM_GET_CLOCK, &s->clock) < 0)
		return x86_vm_fail(err, errlen, "KVM_GET_CLOCK");
	khz = ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0);
	if (khz <= 0)
		return x86_vm_fail(err, errlen, "KVM_GET_TSC_KHZ");
	s->tsc_khz = (uint32_t)khz;
	return 0;
}

static int x86_vm_check_fail(char *err, size_t errlen, const char *what, unsigned int v)
{
	snprintf(err, errlen, "invalid VM state: %s %u", what, v);
	return -EINVAL;
}

int x86_vm_state_check(const struct x86_vm_state *s, char *err, size_t errlen)
{
	if (s->magic != X86_VM_STATE_MAGIC)
		return x86_vm_check_fail(err, errlen, "magic", s->magic);
	if (s->version != X86_VM_STATE_VERSION) {
		snprintf(err, errlen, "invalid VM state: version %u, this nestvm reads version %d",
			 s->version, X86_VM_STATE_VERSION);
		return -EINVAL;
	}
	if (s->size != sizeof(*s))
		return x86_vm_check_fail(err, errlen, "size", s->size);
	if (s->pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER)
		return x86_vm_check_fail(err, errlen, "PIC master chip id", s->pic_master.chip_id);
	if (s->pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE)
		return x86_vm_check_fail(err, errlen, "PIC slave chip id", s->pic_slave.chip_id);
	if (s->ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
		return x86_vm_check_fail(err, errlen, "IOAPIC chip id", s->ioapic.chip_id);
	if (s->tsc_khz == 0)
		return x86_vm_check_fail(err, errlen, "TSC frequency (kHz)", s->tsc_khz);
	/* KVM's PIT takes these as they come: keep them to what an i8254 has. */
	for (unsigned int i = 0; i < 3; i++) {
		const struct kvm_pit_channel_state *c = &s->pit.channels[i];

		if (c->mode > 5 && c->mode != 0xff)
			return x86_vm_check_fail(err, errlen, "PIT channel mode", c->mode);
		if (c->rw_mode > 3)
			return x86_vm_check_fail(err, errlen, "PIT channel access mode", c->rw_mode);
		if (c->read_state > 4 || c->write_state > 4)
			return x86_vm_check_fail(err, errlen, "PIT channel read/write state",
						 c->read_state > 4 ? c->read_state : c->write_state);
		if (c->bcd > 1 || c->gate > 1)
			return x86_vm_check_fail(err, errlen, "PIT channel bcd/gate",
						 c->bcd > 1 ? c->bcd : c->gate);
		if (c->count > 0x10000)
			return x86_vm_check_fail(err, errlen, "PIT channel count", c->count);
	}
	return 0;
}

int x86_vm_state_set(int vm_fd, int vcpu_fd, const struct x86_vm_state *s,
		     enum x86_state_load how, bool *clock_written, char *err, size_t errlen)
{
	int r = x86_vm_state_check(s, err, errlen);

	*clock_written = false;
	if (r)
		return r;
	errno = 0;
	if (ioctl(vm_fd, KVM_SET_PIT2, &s->pit) < 0)
		return x86_vm_fail(err, errlen, "KVM_SET_PIT2");
	if (ioctl(vm_fd, KVM_SET_IRQCHIP, &s->pic_master) < 0)
		return x86_vm_fail(err, errlen, "KVM_SET_IRQCHIP (PIC master)");
	if (ioctl(vm_fd, KVM_SET_IRQCHIP, &s->pic_slave) < 0)
		return x86_vm_fail(err, errlen, "KVM_SET_IRQCHIP (PIC slave)");
	if (ioctl(vm_fd, KVM_SET_IRQCHIP, &s->ioapic) < 0)
		return x86_vm_fail(err, errlen, "KVM_SET_IRQCHIP (IOAPIC)");
	r = x86_vcpu_tsc_khz_set(vcpu_fd, s->tsc_khz, err, errlen);
	if (r)
		return r;
	if (how == X86_STATE_LOAD_RUNTIME && !(s->clock.flags & KVM_CLOCK_REALTIME))
		return 0;
	if (ioctl(vm_fd, KVM_SET_CLOCK, &s->clock) < 0)
		return x86_vm_fail(err, errlen, "KVM_SET_CLOCK");
	*clock_written = true;
	return 0;
}

#define X86_VM_CMP(field, name)                                                           \
	do {                                                                              \
		*compared += sizeof(a->field);                                            \
		if (memcmp(&a->field, &b->field, sizeof(a->field)) != 0) {                \
			snprintf(err, errlen, "VM state: %s differs", name);              \
			return -EIO;                                                      \
		}                                                                         \
	} while (0)

int x86_vm_state_compare(const struct x86_vm_state *a, const struct x86_vm_state *b,
			 size_t *compared, char *err, size_t errlen)
{
	*compared = 0;
	X86_VM_CMP(magic, "magic");
	X86_VM_CMP(version, "version");
	X86_VM_CMP(size, "size");
	X86_VM_CMP(tsc_khz, "TSC frequency");
	X86_VM_CMP(pic_master, "PIC master");
	X86_VM_CMP(pic_slave, "PIC slave");
	X86_VM_CMP(ioapic, "IOAPIC");
	for (unsigned int i = 0; i < 3; i++) {
		/* Everything of the channel before its count_load_time. */
		size_t n = offsetof(struct kvm_pit_channel_state, count_load_time);

		*compared += n;
		if (memcmp(&a->pit.channels[i], &b->pit.channels[i], n) != 0) {
			snprintf(err, errlen, "VM state: PIT channel %u differs", i);
			return -EIO;
		}
	}
	X86_VM_CMP(pit.flags, "PIT flags");
	X86_VM_CMP(clock.flags, "KVM clock flags");
	return 0;
}
