/* Unit tests of the x86 vCPU and VM state checks and comparisons
 * (src/x86/cpu_state.h): what a load refuses before any ioctl, and what a
 * round trip's comparison tells apart. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x86/cpu_state.h"

static void assert_has(const char *msg, const char *want)
{
	if (!strstr(msg, want)) {
		fprintf(stderr, "message \"%s\" lacks \"%s\"\n", msg, want);
		fail();
	}
}

static const struct x86_cpu_caps *test_caps(void)
{
	static struct x86_cpu_caps c;

	memset(&c, 0, sizeof(c));
	c.sregs2 = true;
	c.xsave2 = true;
	c.xcrs = true;
	c.xsave_size = 8192;
	c.nested_max = 4224;
	return &c;
}

/* A well-formed state as x86_vcpu_state_get leaves it: SREGS2, XSAVE2 of
 * 8192 bytes, XCRs, three MSRs (one skipped), a nested state of 4224 bytes. */
static struct x86_vcpu_state *test_state(void)
{
	struct x86_vcpu_state *s = calloc(1, sizeof(*s));
	struct kvm_nested_state *ns;

	assert_non_null(s);
	s->magic = X86_VCPU_STATE_MAGIC;
	s->version = X86_VCPU_STATE_VERSION;
	s->size = sizeof(*s);
	s->flags = X86_VCPU_HAS_SREGS2 | X86_VCPU_HAS_XSAVE2 | X86_VCPU_HAS_XCRS |
		   X86_VCPU_HAS_NESTED;
	s->regs.rip = 0xffffffff81000000ull;
	s->sregs2.efer = 0xd01;
	s->xcrs.nr_xcrs = 1;
	s->xcrs.xcrs[0].value = 7;
	s->xsave_size = 8192;
	memset(s->xsave, 0x5a, 8192);
	s->nmsrs = 3;
	s->msrs[0] = (struct kvm_msr_entry){ .index = X86_MSR_TSC, .data = 1000 };
	s->msrs[1] = (struct kvm_msr_entry){ .index = 0xc0000080, .data = 0xd01 };
	s->msrs[2] = (struct kvm_msr_entry){ .index = 0x40000020, .data = 55 };
	s->nskipped = 1;
	s->skipped[0] = 0x1234;
	s->lapic.regs[0x20] = 1;
	s->lapic.regs[0x390] = 0x77;  /* TMCCT */
	s->mp_state.mp_state = KVM_MP_STATE_RUNNABLE;
	s->nested_size = 4224;
	ns = (struct kvm_nested_state *)(void *)s->nested;
	ns->size = 4224;
	ns->format = KVM_STATE_NESTED_FORMAT_SVM;
	ns->flags = KVM_STATE_NESTED_GIF_SET | KVM_STATE_NESTED_GUEST_MODE;
	memset(s->nested + sizeof(*ns), 0xa5, 4224 - sizeof(*ns));
	return s;
}

static void expect_invalid(const struct x86_vcpu_state *s, const struct x86_cpu_caps *c,
			   const char *want)
{
	char err[256] = "";

	assert_int_equal(x86_vcpu_state_check(s, c, err, sizeof(err)), -EINVAL);
	assert_has(err, "invalid vCPU state: ");
	assert_has(err, want);
}

/* The VMX capability MSRs KVM refuses from userspace are left out of a
 * full load; the others (BASIC, TRUE_*, MISC, FIXED0, ...) are loaded. */
static void test_vmx_derived_msrs(void **state)
{
	static const uint32_t derived[] = { 0x481, 0x482, 0x483, 0x484, 0x487, 0x489 };
	static const uint32_t loaded[] = { 0x480, 0x485, 0x486, 0x488, 0x48a, 0x48b, 0x48c,
					   0x48d, 0x48e, 0x48f, 0x490, 0x491, 0x3a, 0x10 };

	(void)state;
	for (size_t i = 0; i < sizeof(derived) / sizeof(derived[0]); i++)
		assert_true(x86_msr_vmx_derived(derived[i]));
	for (size_t i = 0; i < sizeof(loaded) / sizeof(loaded[0]); i++)
		assert_false(x86_msr_vmx_derived(loaded[i]));
}

static void test_good_state_passes(void **state)
{
	struct x86_vcpu_state *s = test_state();
	char err[256] = "";

	(void)state;
	assert_int_equal(x86_vcpu_state_check(s, test_caps(), err, sizeof(err)), 0);
	assert_int_equal(x86_vcpu_state_check(s, NULL, err, sizeof(err)), 0);
	/* Without nested state and with the legacy XSAVE size. */
	memset(s->nested, 0, sizeof(s->nested));
	s->nested_size = 0;
	s->flags &= ~(X86_VCPU_HAS_NESTED | X86_VCPU_HAS_XSAVE2);
	memset(s->xsave + 4096, 0, 4096);
	s->xsave_size = 4096;
	assert_int_equal(x86_vcpu_state_check(s, test_caps(), err, sizeof(err)), 0);
	free(s);
}

static void test_header_refused(void **state)
{
	struct x86_vcpu_state *s = test_state();

	(void)state;
	s->magic = 0x12345678;
	expect_invalid(s, test_caps(), "not a vCPU state (magic 0x12345678)");
	s->magic = X86_VCPU_STATE_MAGIC;
	s->version = 2;
	expect_invalid(s, test_caps(), "version 2, this nestvm reads version 1");
	s->version = 0;
	expect_invalid(s, test_caps(), "version 0");
	s->version = X86_VCPU_STATE_VERSION;
	s->size = (uint32_t)sizeof(*s) - 8;
	expect_invalid(s, test_caps(), "size");
	s->size = sizeof(*s);
	s->flags |= 1u << 9;
	expect_invalid(s, test_caps(), "unknown flags 0x200");
	free(s);
}

static void test_sizes_refused(void **state)
{
	struct x86_vcpu_state *s = test_state();
	struct x86_cpu_caps c = *test_caps();
	struct kvm_nested_state *ns = (struct kvm_nested_state *)(void *)s->nested;

	(void)state;
	/* XSAVE */
	s->xsave_size = X86_STATE_XSAVE_MAX + 1;
	expect_invalid(s, &c, "XSAVE size 16385 outside");
	s->xsave_size = 100;
	expect_invalid(s, &c, "XSAVE size 100 outside");
	s->xsave_size = 8192;
	c.xsave_size = 4096;
	expect_invalid(s, &c, "XSAVE size 8192, this KVM takes 4096");
	c = *test_caps();
	s->flags &= ~X86_VCPU_HAS_XSAVE2;
	expect_invalid(s, &c, "XSAVE size 8192 without XSAVE2");
	s->flags |= X86_VCPU_HAS_XSAVE2;
	s->xsave_size = 4096;
	expect_invalid(s, &c, "data beyond the XSAVE size");
	s->xsave_size = 8192;

	/* nested state */
	s->nested_size = 4000;
	expect_invalid(s, &c, "nested state header says 4224 bytes, the state 4000");
	s->nested_size = 64;
	expect_invalid(s, &c, "nested state size 64 outside");
	s->nested_size = X86_STATE_NESTED_MAX + 8;
	expect_invalid(s, &c, "outside");
	s->nested_size = 4224;
	c.nested_max = 128;
	expect_invalid(s, &c, "nested state of 4224 bytes, this KVM takes 128 at most");
	c.nested_max = 0;
	expect_invalid(s, &c, "this KVM takes 0 at most");
	c = *test_caps();
	ns->size = 128;
	s->nested_size = 128;
	expect_invalid(s, &c, "data beyond the nested state size");
	ns->size = 4224;
	s->nested_size = 4224;
	s->flags &= ~X86_VCPU_HAS_NESTED;
	expect_invalid(s, &c, "nested state size 4224 without nested state");
	free(s);
}

static void test_counts_refused(void **state)
{
	struct x86_vcpu_state *s = test_state();

	(void)state;
	s->nmsrs = X86_STATE_MAX_MSRS + 1;
	expect_invalid(s, test_caps(), "513 MSRs (at most 512)");
	s->nmsrs = 2;
	expect_invalid(s, test_caps(), "data beyond the 2 MSRs");
	s->nmsrs = 3;
	s->nskipped = X86_STATE_MAX_SKIPPED + 1;
	expect_invalid(s, test_caps(), "129 skipped MSRs");
	s->nskipped = 0;
	expect_invalid(s, test_caps(), "data beyond the 0 skipped MSRs");
	s->nskipped = 1;
	s->msrs[1].index = X86_MSR_TSC;
	expect_invalid(s, test_caps(), "MSR 0x10 twice");
	s->msrs[1].index = 0xc0000080;
	s->msrs[2].reserved = 1;
	expect_invalid(s, test_caps(), "MSR entry 2 has reserved bits");
	s->msrs[2].reserved = 0;
	s->xcrs.nr_xcrs = KVM_MAX_XCRS + 1;
	expect_invalid(s, test_caps(), "17 XCRs");
	s->xcrs.nr_xcrs = 1;
	s->mp_state.mp_state = 99;
	expect_invalid(s, test_caps(), "MP state 99 unknown");
	free(s);
}

static void test_kvm_lacks_refused(void **state)
{
	struct x86_vcpu_state *s = test_state();
	struct x86_cpu_caps c = *test_caps();

	(void)state;
	c.sregs2 = false;
	expect_invalid(s, &c, "no KVM_CAP_SREGS2");
	c = *test_caps();
	c.xcrs = false;
	expect_invalid(s, &c, "no KVM_CAP_XCRS");
	c = *test_caps();
	/* SREGS filled besides SREGS2 */
	s->sregs.efer = 1;
	expect_invalid(s, &c, "both SREGS and SREGS2 filled");
	s->sregs.efer = 0;
	s->flags &= ~X86_VCPU_HAS_XCRS;
	expect_invalid(s, &c, "XCRs without the XCRS flag");
	free(s);
}

/* A load refuses a bad state before touching the vCPU: the fd is never used. */
static void test_set_checks_first(void **state)
{
	struct x86_vcpu_state *s = test_state();
	char err[256] = "";

	(void)state;
	s->version = 7;
	assert_int_equal(x86_vcpu_state_set(-1, test_caps(), s, X86_STATE_LOAD_FULL, err,
					    sizeof(err)), -EINVAL);
	assert_has(err, "version 7");
	free(s);
}

static void test_compare(void **state)
{
	struct x86_vcpu_state *a = test_state(), *b = test_state();
	char err[256] = "";
	size_t n = 0, full;

	(void)state;
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), 0);
	full = n;
	/* xsave + nested + 3 MSR indices + one MSR value (two move) + the
	 * LAPIC without TMCCT, at least. */
	assert_true(full >= 8192 + 4224 + 3 * 4 + 8 + sizeof(a->lapic.regs) - 4);
	assert_true(full < sizeof(*a));

	/* What moves by itself is not compared. */
	b->msrs[0].data = 2000;        /* TSC */
	b->msrs[2].data = 99;          /* Hyper-V reference counter */
	b->lapic.regs[0x391] = 0x12;   /* TMCCT */
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), 0);
	assert_int_equal(n, full);
	assert_true(x86_msr_moves(X86_MSR_TSC));
	assert_true(x86_msr_moves(0x40000010));
	assert_true(x86_msr_moves(0x40000020));
	assert_false(x86_msr_moves(0xc0000080));

	b->msrs[1].data = 0x501;
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), -EIO);
	assert_has(err, "MSR 0xc0000080: 0xd01, then 0x501");
	b->msrs[1].data = 0xd01;

	b->lapic.regs[0x20] = 2;
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), -EIO);
	assert_has(err, "LAPIC register byte 0x20: 0x01, then 0x02");
	b->lapic.regs[0x20] = 1;

	b->nested[4000] ^= 1;
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), -EIO);
	assert_has(err, "nested state differs at byte 4000 (of 4224)");
	b->nested[4000] ^= 1;

	/* SVM in guest mode: the busy bit of TR's attributes in the saved VMCB
	 * (128 + 0x400 + 0x92) is left out, nothing else there. */
	b->nested[1298] ^= 0x02;
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), 0);
	b->nested[1299] ^= 0x01;
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), -EIO);
	assert_has(err, "nested state differs at byte 1299");
	b->nested[1299] ^= 0x01;
	b->nested[1298] ^= 0x03;
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), -EIO);
	assert_has(err, "nested state differs at byte 1298");
	b->nested[1298] ^= 0x03;   /* back to the busy bit alone */
	/* ... and the upper halves of SYSENTER_ESP/EIP there (128 + 0x400 +
	 * 0x230 and 0x238: bytes 1716-1719, 1724-1727), not their low halves */
	b->nested[1716] ^= 0xff;
	b->nested[1727] ^= 0x80;
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), 0);
	b->nested[1715] ^= 0x01;
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), -EIO);
	assert_has(err, "nested state differs at byte 1715");
	b->nested[1715] ^= 0x01;
	b->nested[1723] ^= 0x01;
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), -EIO);
	assert_has(err, "nested state differs at byte 1723");
	b->nested[1723] ^= 0x01;
	b->nested[1716] ^= 0xff;
	b->nested[1727] ^= 0x80;
	/* Not in guest mode: compared whole. */
	((struct kvm_nested_state *)(void *)a->nested)->flags &= ~KVM_STATE_NESTED_GUEST_MODE;
	((struct kvm_nested_state *)(void *)b->nested)->flags &= ~KVM_STATE_NESTED_GUEST_MODE;
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), -EIO);
	b->nested[1298] ^= 0x02;
	((struct kvm_nested_state *)(void *)a->nested)->flags |= KVM_STATE_NESTED_GUEST_MODE;
	((struct kvm_nested_state *)(void *)b->nested)->flags |= KVM_STATE_NESTED_GUEST_MODE;

	b->xsave[100] ^= 1;
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), -EIO);
	assert_has(err, "XSAVE differs at byte 100");
	b->xsave[100] ^= 1;

	b->regs.rip++;
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), -EIO);
	assert_has(err, "REGS differs");
	b->regs.rip--;

	b->sregs2.efer = 0x501;
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), -EIO);
	assert_has(err, "SREGS2 differs");
	b->sregs2.efer = 0xd01;

	b->skipped[0] = 0x99;
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), -EIO);
	assert_has(err, "list of MSRs KVM refused");
	b->skipped[0] = 0x1234;

	/* SYSENTER_ESP: on AMD only its low 32 bits (KVM keeps no more of a
	 * userspace write there); elsewhere all 64. */
	a->msrs[1].index = X86_MSR_SYSENTER_ESP;
	b->msrs[1].index = X86_MSR_SYSENTER_ESP;
	a->msrs[1].data = 0xfffffe0000003000ull;
	b->msrs[1].data = 0x3000;
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), -EIO);
	assert_has(err, "MSR 0x175: 0xfffffe0000003000, then 0x3000");
	{
		struct x86_cpu_caps amd = *test_caps();

		amd.amd = true;
		assert_int_equal(x86_vcpu_state_compare(a, b, &amd, &n, err, sizeof(err)), 0);
		assert_int_equal(n, full - 4);
		b->msrs[1].data = 0x4000;
		assert_int_equal(x86_vcpu_state_compare(a, b, &amd, &n, err, sizeof(err)), -EIO);
		assert_has(err, "MSR 0x175");
		amd.amd = false;
		b->msrs[1].data = 0x3000;
		assert_int_equal(x86_vcpu_state_compare(a, b, &amd, &n, err, sizeof(err)), -EIO);
	}
	a->msrs[1] = (struct kvm_msr_entry){ .index = 0xc0000080, .data = 0xd01 };
	b->msrs[1] = a->msrs[1];

	b->events.exception.nr = 14;
	assert_int_equal(x86_vcpu_state_compare(a, b, NULL, &n, err, sizeof(err)), -EIO);
	assert_has(err, "VCPU_EVENTS");
	free(a);
	free(b);
}

/* ---- the VM ---- */

static void test_vm_state(struct x86_vm_state *s)
{
	memset(s, 0, sizeof(*s));
	s->magic = X86_VM_STATE_MAGIC;
	s->version = X86_VM_STATE_VERSION;
	s->size = sizeof(*s);
	s->tsc_khz = 2000000;
	s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	s->pit.channels[0].count = 0x10000;
	s->pit.channels[0].mode = 2;
	s->pit.channels[0].rw_mode = 3;
	s->pit.channels[0].gate = 1;
	s->pit.channels[0].count_load_time = 1000;
	s->clock.clock = 5000;
	s->clock.flags = KVM_CLOCK_REALTIME;
}

static void expect_vm_invalid(const struct x86_vm_state *s, const char *want)
{
	char err[256] = "";
	bool written = true;

	assert_int_equal(x86_vm_state_check(s, err, sizeof(err)), -EINVAL);
	assert_has(err, "invalid VM state: ");
	assert_has(err, want);
	/* And a load refuses it before any ioctl (the fds are bad). */
	assert_int_equal(x86_vm_state_set(-1, -1, s, X86_STATE_LOAD_FULL, &written, err,
					  sizeof(err)), -EINVAL);
	assert_false(written);
}

static void test_vm_check(void **state)
{
	struct x86_vm_state s;
	char err[256] = "";

	(void)state;
	test_vm_state(&s);
	assert_int_equal(x86_vm_state_check(&s, err, sizeof(err)), 0);
	s.version = 3;
	expect_vm_invalid(&s, "version 3, this nestvm reads version 1");
	test_vm_state(&s);
	s.magic = 1;
	expect_vm_invalid(&s, "magic 1");
	test_vm_state(&s);
	s.size = 4;
	expect_vm_invalid(&s, "size 4");
	test_vm_state(&s);
	s.pic_slave.chip_id = KVM_IRQCHIP_IOAPIC;
	expect_vm_invalid(&s, "PIC slave chip id 2");
	test_vm_state(&s);
	s.tsc_khz = 0;
	expect_vm_invalid(&s, "TSC frequency (kHz) 0");
	test_vm_state(&s);
	s.pit.channels[1].mode = 6;
	expect_vm_invalid(&s, "PIT channel mode 6");
	test_vm_state(&s);
	s.pit.channels[1].mode = 0xfe;
	expect_vm_invalid(&s, "PIT channel mode 254");
	/* 0xff: never programmed (KVM's reset value). */
	test_vm_state(&s);
	s.pit.channels[1].mode = 0xff;
	assert_int_equal(x86_vm_state_check(&s, err, sizeof(err)), 0);
	test_vm_state(&s);
	s.pit.channels[2].rw_mode = 4;
	expect_vm_invalid(&s, "PIT channel access mode 4");
	test_vm_state(&s);
	s.pit.channels[0].read_state = 9;
	expect_vm_invalid(&s, "PIT channel read/write state 9");
	test_vm_state(&s);
	s.pit.channels[0].gate = 2;
	expect_vm_invalid(&s, "PIT channel bcd/gate 2");
	test_vm_state(&s);
	s.pit.channels[0].count = 0x10001;
	expect_vm_invalid(&s, "PIT channel count 65537");
}

static void test_vm_compare(void **state)
{
	struct x86_vm_state a, b;
	char err[256] = "";
	size_t n = 0, full;

	(void)state;
	test_vm_state(&a);
	test_vm_state(&b);
	assert_int_equal(x86_vm_state_compare(&a, &b, &n, err, sizeof(err)), 0);
	full = n;
	assert_true(full >= 3 * sizeof(struct kvm_irqchip));
	/* What moves: the PIT's load times, the clock's value and times. */
	b.pit.channels[0].count_load_time = 99999;
	b.clock.clock = 7000;
	b.clock.realtime = 1;
	b.clock.host_tsc = 2;
	assert_int_equal(x86_vm_state_compare(&a, &b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, full);
	b.clock.flags = 0;
	assert_int_equal(x86_vm_state_compare(&a, &b, &n, err, sizeof(err)), -EIO);
	assert_has(err, "KVM clock flags differs");
	test_vm_state(&b);
	b.ioapic.chip.ioapic.redirtbl[4].bits = 0x10000;
	assert_int_equal(x86_vm_state_compare(&a, &b, &n, err, sizeof(err)), -EIO);
	assert_has(err, "IOAPIC differs");
	test_vm_state(&b);
	b.pit.channels[2].count = 5;
	assert_int_equal(x86_vm_state_compare(&a, &b, &n, err, sizeof(err)), -EIO);
	assert_has(err, "PIT channel 2 differs");
	test_vm_state(&b);
	b.pic_master.chip.pic.imr = 0xfe;
	assert_int_equal(x86_vm_state_compare(&a, &b, &n, err, sizeof(err)), -EIO);
	assert_has(err, "PIC master differs");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmx_derived_msrs),
		cmocka_unit_test(test_good_state_passes),
		cmocka_unit_test(test_header_refused),
		cmocka_unit_test(test_sizes_refused),
		cmocka_unit_test(test_counts_refused),
		cmocka_unit_test(test_kvm_lacks_refused),
		cmocka_unit_test(test_set_checks_first),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_vm_check),
		cmocka_unit_test(test_vm_compare),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
