/* Unit tests of the pure CPUID helpers of src/x86/cpu.c on a hand-built
 * struct kvm_cpuid2: the per-vCPU APIC IDs and topology leaves. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "x86/cpu.h"

#define MAX_ENTRIES 32
#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX
#define HTT (1u << 28)

/* What a host might report, with junk where the VMM must write. */
#define L1_EAX      0x000906eau
#define L1_EBX      0xab100801u   /* APIC ID 0xab, 16 logical, CLFLUSH 8, brand 1 */
#define L1_ECX      0x7ffafbffu
#define L1_EDX      0xbfebfbffu   /* HTT set */
#define L4_EAX      0xfc004121u   /* 63 cores, 2 threads share, level 2 data cache */
#define L4_EBX      0x01c0003fu
#define L80_8_EAX   0x00003027u
#define L80_8_ECX   0x0003f73fu   /* bits 16-17 and 8-11 kept; NC and ApicIdSize not */
#define L0_EBX      0x756e6547u   /* "Genu" */

static struct kvm_cpuid2 *cpuid_new(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + MAX_ENTRIES * sizeof(c->entries[0]));

	assert_non_null(c);
	return c;
}

static struct kvm_cpuid_entry2 *add(struct kvm_cpuid2 *c, uint32_t function, uint32_t index,
				    uint32_t flags, uint32_t eax, uint32_t ebx, uint32_t ecx,
				    uint32_t edx)
{
	struct kvm_cpuid_entry2 *e;

	assert_true(c->nent < MAX_ENTRIES);
	e = &c->entries[c->nent++];
	*e = (struct kvm_cpuid_entry2){ .function = function, .index = index, .flags = flags,
					.eax = eax, .ebx = ebx, .ecx = ecx, .edx = edx };
	return e;
}

/* A supported-CPUID list with every leaf the topology code touches. */
static struct kvm_cpuid2 *host_cpuid(void)
{
	struct kvm_cpuid2 *c = cpuid_new();

	add(c, 0x0, 0, 0, 0x16, L0_EBX, 0x6c65746e, 0x49656e69);
	add(c, 0x1, 0, 0, L1_EAX, L1_EBX, L1_ECX, L1_EDX);
	for (uint32_t i = 0; i < 4; i++)
		add(c, 0x4, i, SIG, L4_EAX + i, L4_EBX, 0x3f + i, 0x1 + i);
	for (uint32_t i = 0; i < 3; i++) {
		add(c, 0xb, i, SIG, 0xdead, 0xbeef, 0xcafe, 0xf00d);
		add(c, 0x1f, i, SIG, 0xdead, 0xbeef, 0xcafe, 0xf00d);
	}
	add(c, 0x80000008, 0, 0, L80_8_EAX, 0x12345678, L80_8_ECX, 0x9abc);
	add(c, 0x8000001e, 0, 0, 0x77, 0x0107, 0x0303, 0x55);
	return c;
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t function, uint32_t index)
{
	struct kvm_cpuid_entry2 *e = x86_cpuid_find(c, function, index);

	if (!e)
		fail_msg("no CPUID leaf %#x index %u", function, index);
	return e;
}

/* ---- x86_cpuid_find ---- */

static void test_find(void **state)
{
	struct kvm_cpuid2 *c = host_cpuid();

	(void)state;
	assert_ptr_equal(x86_cpuid_find(c, 0x0, 0), &c->entries[0]);
	assert_ptr_equal(x86_cpuid_find(c, 0x1, 0), &c->entries[1]);
	/* Without the significant-index flag the index does not matter. */
	assert_ptr_equal(x86_cpuid_find(c, 0x1, 7), &c->entries[1]);
	/* With it, it picks the sub-leaf. */
	assert_int_equal(find(c, 0x4, 0)->eax, L4_EAX);
	assert_int_equal(find(c, 0x4, 3)->eax, L4_EAX + 3);
	assert_int_equal(find(c, 0xb, 2)->index, 2);
	assert_int_equal(find(c, 0x1f, 1)->function, 0x1f);
	assert_int_equal(find(c, 0x1f, 1)->index, 1);
	/* Absent leaf or sub-leaf. */
	assert_null(x86_cpuid_find(c, 0x4, 4));
	assert_null(x86_cpuid_find(c, 0xb, 3));
	assert_null(x86_cpuid_find(c, 0x2, 0));
	assert_null(x86_cpuid_find(c, 0x80000001, 0));
	/* Only the first nent entries count. */
	c->nent = 1;
	assert_null(x86_cpuid_find(c, 0x1, 0));
	c->nent = 0;
	assert_null(x86_cpuid_find(c, 0x0, 0));
	free(c);
}

/* ---- x86_cpuid_set_topology ---- */

/* What vCPU `index` of `ncpus` must see; shift = bits of the APIC ID that
 * number the cores (log2 of ncpus, rounded up). */
static void check_topology(unsigned int index, unsigned int ncpus, unsigned int shift)
{
	struct kvm_cpuid2 *c = host_cpuid();
	struct kvm_cpuid_entry2 *e;
	uint32_t logical = 1u << shift;

	x86_cpuid_set_topology(c, index, ncpus);

	/* Leaf 0: untouched. */
	assert_int_equal(find(c, 0x0, 0)->ebx, L0_EBX);

	/* Leaf 1: initial APIC ID in EBX[31:24], logical count in EBX[23:16]
	 * (valid when HTT is set), the rest of the leaf as the host had it. */
	e = find(c, 0x1, 0);
	assert_int_equal(e->ebx >> 24, index);
	assert_int_equal((e->ebx >> 16) & 0xff, logical > 0xff ? 0xff : logical);
	assert_int_equal(e->ebx & 0xffff, L1_EBX & 0xffff);
	assert_int_equal(e->edx & HTT, ncpus > 1 ? HTT : 0);
	assert_int_equal(e->edx & ~HTT, L1_EDX & ~HTT);
	assert_int_equal(e->eax, L1_EAX);
	assert_int_equal(e->ecx, L1_ECX);

	/* Leaf 4, every cache: cores per package - 1 in EAX[31:26] (6 bits),
	 * one thread per cache in EAX[25:14], the cache description kept. */
	for (uint32_t i = 0; i < 4; i++) {
		e = find(c, 0x4, i);
		assert_int_equal(e->eax >> 26, (logical - 1) > 63 ? 63 : logical - 1);
		assert_int_equal((e->eax >> 14) & 0xfff, 0);
		assert_int_equal(e->eax & 0x3fff, (L4_EAX + i) & 0x3fff);
		assert_int_equal(e->ebx, L4_EBX);
		assert_int_equal(e->ecx, 0x3f + i);
		assert_int_equal(e->edx, 0x1 + i);
	}

	/* Leaves 0xB and 0x1F: x2APIC ID in EDX at every level; level 0 SMT
	 * (1 thread), level 1 cores (ncpus, shift bits), then the end. */
	for (int l = 0; l < 2; l++) {
		uint32_t leaf = l == 0 ? 0xb : 0x1f;

		e = find(c, leaf, 0);
		assert_int_equal(e->edx, index);
		assert_int_equal(e->eax & 0x1f, 0);
		assert_int_equal(e->ebx & 0xffff, 1);
		assert_int_equal((e->ecx >> 8) & 0xff, 1);   /* type: SMT */
		assert_int_equal(e->ecx & 0xff, 0);

		e = find(c, leaf, 1);
		assert_int_equal(e->edx, index);
		assert_int_equal(e->eax & 0x1f, shift);
		assert_int_equal(e->ebx & 0xffff, ncpus);
		assert_int_equal((e->ecx >> 8) & 0xff, 2);   /* type: core */
		assert_int_equal(e->ecx & 0xff, 1);
		/* All vCPUs are in package 0: nothing above the core bits. */
		assert_int_equal(e->edx >> (e->eax & 0x1f), 0);

		e = find(c, leaf, 2);
		assert_int_equal(e->edx, index);
		assert_int_equal(e->eax, 0);
		assert_int_equal(e->ebx, 0);
		assert_int_equal((e->ecx >> 8) & 0xff, 0);   /* type: invalid, the end */
		assert_int_equal(e->ecx & 0xff, 2);
	}

	/* AMD 0x80000008: NC = ncpus - 1 in ECX[7:0], ApicIdSize in ECX[15:12]. */
	e = find(c, 0x80000008, 0);
	assert_int_equal(e->ecx & 0xff, ncpus - 1);
	assert_int_equal((e->ecx >> 12) & 0xf, shift);
	assert_int_equal(e->ecx & ~0xf0ffu, L80_8_ECX & ~0xf0ffu);
	assert_int_equal(e->eax, L80_8_EAX);
	assert_int_equal(e->ebx, 0x12345678);
	assert_int_equal(e->edx, 0x9abc);

	/* AMD 0x8000001E: extended APIC ID, core ID, one thread per core, node 0. */
	e = find(c, 0x8000001e, 0);
	assert_int_equal(e->eax, index);
	assert_int_equal(e->ebx & 0xff, index & 0xff);
	assert_int_equal((e->ebx >> 8) & 0xff, 0);
	assert_int_equal(e->ecx, 0);
	assert_int_equal(e->edx, 0x55);

	free(c);
}

static void test_topology_one_vcpu(void **state)
{
	(void)state;
	check_topology(0, 1, 0);
}

static void test_topology_four_vcpus(void **state)
{
	(void)state;
	for (unsigned int i = 0; i < 4; i++)
		check_topology(i, 4, 2);
}

static void test_topology_odd_counts(void **state)
{
	(void)state;
	check_topology(0, 2, 1);
	check_topology(1, 2, 1);
	check_topology(2, 3, 2);      /* rounded up to a power of two */
	check_topology(4, 5, 3);
	check_topology(63, 64, 6);
	check_topology(64, 65, 7);
}

/* Above 128 vCPUs the logical count (256) no longer fits in EBX[23:16]: it
 * must not spill into the APIC ID above it. */
static void test_topology_many_vcpus(void **state)
{
	(void)state;
	check_topology(0, 200, 8);
	check_topology(1, 200, 8);
	check_topology(128, 129, 8);
	check_topology(254, 255, 8);
}

/* Called again for another vCPU on the same list, it rewrites, not ORs. */
static void test_topology_reapplied(void **state)
{
	struct kvm_cpuid2 *c = host_cpuid();

	(void)state;
	x86_cpuid_set_topology(c, 3, 4);
	x86_cpuid_set_topology(c, 1, 4);
	assert_int_equal(find(c, 0x1, 0)->ebx >> 24, 1);
	assert_int_equal(find(c, 0xb, 1)->edx, 1);
	assert_int_equal(find(c, 0x1f, 0)->edx, 1);
	assert_int_equal(find(c, 0x8000001e, 0)->eax, 1);
	x86_cpuid_set_topology(c, 0, 1);
	assert_int_equal(find(c, 0x1, 0)->ebx >> 16, 0x0001);
	assert_int_equal(find(c, 0x1, 0)->edx & HTT, 0);
	assert_int_equal(find(c, 0x4, 0)->eax >> 26, 0);
	assert_int_equal(find(c, 0x80000008, 0)->ecx & 0xf0ff, 0);
	free(c);
}

/* A list without the topology leaves (an AMD host has no 0x4/0xB/0x1F, an
 * Intel host no 0x8000001E) is handled: nothing else is touched. */
static void test_topology_missing_leaves(void **state)
{
	struct kvm_cpuid2 *c = cpuid_new();

	(void)state;
	add(c, 0x0, 0, 0, 0xd, L0_EBX, 0, 0);
	add(c, 0x7, 0, SIG, 1, 2, 3, 4);
	x86_cpuid_set_topology(c, 2, 4);
	assert_int_equal(c->nent, 2);
	assert_int_equal(c->entries[0].ebx, L0_EBX);
	assert_int_equal(c->entries[1].eax, 1);
	assert_int_equal(c->entries[1].edx, 4);
	free(c);
}

/* ---- x86_cpuid_set_hypervisor_bits ---- */

static void test_hypervisor_bits(void **state)
{
	struct kvm_cpuid2 *c = host_cpuid();
	struct kvm_cpuid2 *empty = cpuid_new();

	(void)state;
	x86_cpuid_set_hypervisor_bits(c, false);
	assert_int_equal(find(c, 0x1, 0)->ecx, L1_ECX | (1u << 31));
	assert_int_equal(find(c, 0x1, 0)->ecx & (1u << 24), L1_ECX & (1u << 24));

	find(c, 0x1, 0)->ecx = 0;
	x86_cpuid_set_hypervisor_bits(c, true);
	assert_int_equal(find(c, 0x1, 0)->ecx, (1u << 31) | (1u << 24));
	assert_int_equal(find(c, 0x1, 0)->edx, L1_EDX);

	x86_cpuid_set_hypervisor_bits(empty, true);   /* no leaf 1: nothing to do */
	assert_int_equal(empty->nent, 0);
	free(empty);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_topology_one_vcpu),
		cmocka_unit_test(test_topology_four_vcpus),
		cmocka_unit_test(test_topology_odd_counts),
		cmocka_unit_test(test_topology_many_vcpus),
		cmocka_unit_test(test_topology_reapplied),
		cmocka_unit_test(test_topology_missing_leaves),
		cmocka_unit_test(test_hypervisor_bits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
