/* Unit tests of the CPU policy tables (src/nested/cpu_policy.c) over recorded
 * KVM_GET_SUPPORTED_CPUID tables of an Intel and an AMD host with nesting on
 * (tests/unit/fixtures/): vendor detection, what the nested-off policy clears
 * and that it touches nothing else, the nested-on policy, cpuid_get and
 * custom rules scoped to one subleaf. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "nested/cpu_policy.h"

#include "cpuid_fixture.h"

#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX

struct host_desc {
	const char *path;
	enum cpu_vendor vendor;
	bool npt;                 /* NPT visible in 0x8000000A EDX */
	unsigned int off_bits;    /* bits the nested-off policy clears, counted by hand */
};

/* Intel: VMX only (no 0x8000000A leaf). AMD: SVM, and 0x8000000A EAX 0x1,
 * EBX 0x8, EDX 0x10010021 (NPT, NRIPS, ...): 1 + 1 + 1 + 4. */
static const struct host_desc intel = { CPUID_FIXTURE_INTEL, CPU_VENDOR_INTEL, false, 1 };
static const struct host_desc amd = { CPUID_FIXTURE_AMD, CPU_VENDOR_AMD, true, 7 };

struct ctx {
	const struct host_desc *host;
	struct kvm_cpuid2 *orig;   /* as loaded */
	struct kvm_cpuid2 *cpuid;  /* the copy a test changes */
};

static int setup(void **state)
{
	const struct host_desc *h = *state;
	struct kvm_cpuid2 *orig = cpuid_fixture_load(h->path, 0, NULL); /* fails the test if absent */
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c) {
		free(orig);
		return -1;
	}
	c->host = h;
	c->orig = orig;
	c->cpuid = cpuid_fixture_dup(c->orig, c->orig->nent);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	free(c->orig);
	free(c->cpuid);
	free(c);
	return 0;
}

static bool same_table(const struct kvm_cpuid2 *a, const struct kvm_cpuid2 *b)
{
	return a->nent == b->nent &&
	       memcmp(a->entries, b->entries, a->nent * sizeof(a->entries[0])) == 0;
}

static unsigned int popcount(uint32_t v)
{
	return (unsigned int)__builtin_popcount(v);
}

/* ---- the fixtures themselves ------------------------------------------- */

static void test_fixture_shape(void **state)
{
	struct ctx *c = *state;
	struct kvm_cpuid_entry2 *e;

	assert_true(c->orig->nent >= 20);
	/* KVM's own hypervisor leaves are in both */
	e = cpuid_fixture_find(c->orig, 0x40000000, 0);
	assert_non_null(e);
	assert_int_equal(e->eax, 0x40000001);
	assert_memory_equal(&e->ebx, "KVMK", 4);
	assert_memory_equal(&e->ecx, "VMKV", 4);
	assert_memory_equal(&e->edx, "M\0\0\0", 4);
	assert_non_null(cpuid_fixture_find(c->orig, 0x40000001, 0));
	/* subleafed leaves carry the significant-index flag */
	e = cpuid_fixture_find(c->orig, 0xd, 1);
	assert_non_null(e);
	assert_int_equal(e->index, 1);
	assert_int_equal(e->flags, SIG);
	e = cpuid_fixture_find(c->orig, 0x1, 0);
	assert_non_null(e);
	assert_int_equal(e->flags, 0);
}

/* ---- vendor and virtualization before any policy ---------------------- */

static void test_vendor(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(cpu_policy_vendor(c->cpuid), c->host->vendor);
}

static void test_has_virt_before(void **state)
{
	struct ctx *c = *state;
	bool npt = !c->host->npt;

	assert_true(cpu_policy_has_virt(c->cpuid, &npt));
	assert_int_equal(npt, c->host->npt);
	if (c->host->vendor == CPU_VENDOR_INTEL) {
		assert_true(cpuid_get(c->cpuid, 1, 0, CPUID_ECX) & CPUID_1_ECX_VMX);
		assert_false(cpuid_get(c->cpuid, 0x80000001, 0, CPUID_ECX) & CPUID_80000001_ECX_SVM);
	} else {
		assert_false(cpuid_get(c->cpuid, 1, 0, CPUID_ECX) & CPUID_1_ECX_VMX);
		assert_true(cpuid_get(c->cpuid, 0x80000001, 0, CPUID_ECX) & CPUID_80000001_ECX_SVM);
		assert_true(cpuid_get(c->cpuid, 0x8000000a, 0, CPUID_EDX) & CPUID_8000000A_EDX_NPT);
	}
}

/* ---- nested off --------------------------------------------------------- */

static void test_nested_off(void **state)
{
	struct ctx *c = *state;
	const struct cpuid_policy *off = cpu_policy_nested(false);
	unsigned int expect = 0, changed;
	bool npt = true;

	assert_non_null(off);
	assert_non_null(off->name);
	assert_true(off->count > 0);

	/* What should go, counted from the original table. */
	for (uint32_t i = 0; i < c->orig->nent; i++) {
		const struct kvm_cpuid_entry2 *o = &c->orig->entries[i];

		if (o->function == 0x1)
			expect += popcount(o->ecx & CPUID_1_ECX_VMX);
		else if (o->function == 0x80000001)
			expect += popcount(o->ecx & CPUID_80000001_ECX_SVM);
		else if (o->function == 0x8000000a)
			expect += popcount(o->eax) + popcount(o->ebx) + popcount(o->ecx) +
				  popcount(o->edx);
	}
	assert_int_equal(expect, c->host->off_bits);

	changed = cpu_policy_apply(c->cpuid, off);
	assert_int_equal(changed, expect);

	assert_int_equal(c->cpuid->nent, c->orig->nent);
	for (uint32_t i = 0; i < c->orig->nent; i++) {
		const struct kvm_cpuid_entry2 *o = &c->orig->entries[i];
		const struct kvm_cpuid_entry2 *n = &c->cpuid->entries[i];
		struct kvm_cpuid_entry2 want = *o;

		if (o->function == 0x1) {
			want.ecx &= ~CPUID_1_ECX_VMX;
			assert_false(n->ecx & CPUID_1_ECX_VMX);
		} else if (o->function == 0x80000001) {
			want.ecx &= ~CPUID_80000001_ECX_SVM;
			assert_false(n->ecx & CPUID_80000001_ECX_SVM);
		} else if (o->function == 0x8000000a) {
			want.eax = want.ebx = want.ecx = want.edx = 0;
		}
		/* every other bit, entry and field (index, flags, padding) untouched */
		assert_memory_equal(n, &want, sizeof(want));
	}
	assert_int_equal(cpuid_get(c->cpuid, 0x8000000a, 0, CPUID_EAX), 0);
	assert_int_equal(cpuid_get(c->cpuid, 0x8000000a, 0, CPUID_EBX), 0);
	assert_int_equal(cpuid_get(c->cpuid, 0x8000000a, 0, CPUID_ECX), 0);
	assert_int_equal(cpuid_get(c->cpuid, 0x8000000a, 0, CPUID_EDX), 0);
	assert_false(cpu_policy_has_virt(c->cpuid, &npt));
	assert_false(npt);
	/* the vendor is still what it was */
	assert_int_equal(cpu_policy_vendor(c->cpuid), c->host->vendor);
}

static void test_nested_off_idempotent(void **state)
{
	struct ctx *c = *state;
	const struct cpuid_policy *off = cpu_policy_nested(false);
	struct kvm_cpuid2 *once;

	assert_int_equal(cpu_policy_apply(c->cpuid, off), c->host->off_bits);
	once = cpuid_fixture_dup(c->cpuid, c->cpuid->nent);
	assert_int_equal(cpu_policy_apply(c->cpuid, off), 0);
	assert_true(same_table(c->cpuid, once));
	free(once);
}

/* ---- nested on ---------------------------------------------------------- */

static void test_nested_on(void **state)
{
	struct ctx *c = *state;
	const struct cpuid_policy *on = cpu_policy_nested(true);
	bool npt = !c->host->npt;

	assert_non_null(on);
	assert_ptr_not_equal(on, cpu_policy_nested(false));
	assert_int_equal(cpu_policy_apply(c->cpuid, on), 0);
	assert_true(same_table(c->cpuid, c->orig));
	assert_true(cpu_policy_has_virt(c->cpuid, &npt));
	assert_int_equal(npt, c->host->npt);
}

/* Off, then a fresh copy with on: the policies do not share state. */
static void test_off_then_on_fresh(void **state)
{
	struct ctx *c = *state;
	struct kvm_cpuid2 *fresh = cpuid_fixture_dup(c->orig, c->orig->nent);
	bool npt;

	assert_int_equal(cpu_policy_apply(c->cpuid, cpu_policy_nested(false)), c->host->off_bits);
	assert_int_equal(cpu_policy_apply(fresh, cpu_policy_nested(true)), 0);
	assert_true(cpu_policy_has_virt(fresh, &npt));
	assert_true(same_table(fresh, c->orig));
	free(fresh);
}

/* ---- cpuid_get -------------------------------------------------------- */

static void test_cpuid_get(void **state)
{
	struct ctx *c = *state;
	struct kvm_cpuid_entry2 *e;

	/* absent leaves read as 0, in every register */
	for (int r = CPUID_EAX; r <= CPUID_EDX; r++) {
		assert_int_equal(cpuid_get(c->cpuid, 0x40000100, 0, (enum cpuid_reg)r), 0);
		assert_int_equal(cpuid_get(c->cpuid, 0x8000001f, 0, (enum cpuid_reg)r), 0);
		assert_int_equal(cpuid_get(c->cpuid, 0xc0000000, 0, (enum cpuid_reg)r), 0);
	}
	if (c->host->vendor == CPU_VENDOR_INTEL)
		assert_int_equal(cpuid_get(c->cpuid, 0x8000000a, 0, CPUID_EDX), 0);

	/* each register of a present entry */
	e = cpuid_fixture_find(c->cpuid, 0x0, 0);
	assert_non_null(e);
	assert_int_equal(cpuid_get(c->cpuid, 0, 0, CPUID_EAX), e->eax);
	assert_int_equal(cpuid_get(c->cpuid, 0, 0, CPUID_EBX), e->ebx);
	assert_int_equal(cpuid_get(c->cpuid, 0, 0, CPUID_ECX), e->ecx);
	assert_int_equal(cpuid_get(c->cpuid, 0, 0, CPUID_EDX), e->edx);

	/* significant index: the right subleaf, and absent subleafs read 0 */
	e = cpuid_fixture_find(c->cpuid, 0xd, 1);
	assert_non_null(e);
	assert_int_equal(cpuid_get(c->cpuid, 0xd, 1, CPUID_EAX), e->eax);
	e = cpuid_fixture_find(c->cpuid, 0xd, 0);
	assert_non_null(e);
	assert_int_equal(cpuid_get(c->cpuid, 0xd, 0, CPUID_ECX), e->ecx);
	assert_int_equal(cpuid_get(c->cpuid, 0xd, 40, CPUID_EAX), 0);
	assert_int_equal(cpuid_get(c->cpuid, 0xd, 40, CPUID_EBX), 0);

	/* no significant index: any subleaf reads the one entry */
	e = cpuid_fixture_find(c->cpuid, 0x1, 0);
	assert_non_null(e);
	assert_int_equal(cpuid_get(c->cpuid, 0x1, 7, CPUID_EAX), e->eax);
	assert_int_equal(cpuid_get(c->cpuid, 0x1, 0xffffffffu, CPUID_ECX), e->ecx);
}

static void test_cpuid_get_empty(void **state)
{
	struct kvm_cpuid2 empty = { 0 };
	bool npt = true;

	(void)state;
	assert_int_equal(cpuid_get(&empty, 0, 0, CPUID_EBX), 0);
	assert_int_equal(cpu_policy_vendor(&empty), CPU_VENDOR_OTHER);
	assert_false(cpu_policy_has_virt(&empty, &npt));
	assert_false(npt);
	assert_int_equal(cpu_policy_apply(&empty, cpu_policy_nested(false)), 0);
}

/* ---- custom rules ------------------------------------------------------- */

/* Everything except (function, index) is as in the original. */
static void assert_only_entry_changed(const struct kvm_cpuid2 *orig, const struct kvm_cpuid2 *now,
				      uint32_t function, uint32_t index)
{
	assert_int_equal(orig->nent, now->nent);
	for (uint32_t i = 0; i < orig->nent; i++) {
		const struct kvm_cpuid_entry2 *o = &orig->entries[i], *n = &now->entries[i];

		assert_int_equal(n->function, o->function);
		assert_int_equal(n->index, o->index);
		assert_int_equal(n->flags, o->flags);
		if (o->function == function && o->index == index)
			continue;
		assert_memory_equal(n, o, sizeof(*o));
	}
}

static void test_subleaf_rule(void **state)
{
	struct ctx *c = *state;
	/* XSAVE leaf 0xD subleaf 1: clear XSAVEOPT (EAX bit 0), set EDX bit 31 */
	static const struct cpuid_rule rules[] = {
		{ 0xd, 1, CPUID_EAX, 0x1, 0, "XSAVEOPT" },
		{ 0xd, 1, CPUID_EDX, 0x80000000u, 0xffffffffu, "a reserved bit" },
	};
	const struct cpuid_policy p = { "test: one subleaf", rules, 2 };
	struct kvm_cpuid_entry2 *o = cpuid_fixture_find(c->orig, 0xd, 1);
	struct kvm_cpuid_entry2 *n;

	assert_non_null(o);
	assert_true(o->eax & 0x1);
	assert_false(o->edx & 0x80000000u);
	assert_int_equal(cpu_policy_apply(c->cpuid, &p), 2);
	n = cpuid_fixture_find(c->cpuid, 0xd, 1);
	assert_int_equal(n->eax, o->eax & ~1u);
	assert_int_equal(n->edx, o->edx | 0x80000000u);
	assert_int_equal(n->ebx, o->ebx);
	assert_int_equal(n->ecx, o->ecx);
	/* subleafs 0, 2, ... of leaf 0xD are untouched, and so is every other leaf */
	assert_only_entry_changed(c->orig, c->cpuid, 0xd, 1);
	/* and again: nothing left to change */
	assert_int_equal(cpu_policy_apply(c->cpuid, &p), 0);
}

static void test_subleaf_rule_absent_subleaf(void **state)
{
	struct ctx *c = *state;
	static const struct cpuid_rule rules[] = {
		{ 0xd, 40, CPUID_EAX, 0xffffffffu, 0x12345678u, "no such subleaf" },
		{ 0x8000001f, 0, CPUID_EAX, 0xffffffffu, 0x1u, "no such leaf" },
	};
	const struct cpuid_policy p = { "test: absent", rules, 2 };

	assert_int_equal(cpu_policy_apply(c->cpuid, &p), 0);
	assert_true(same_table(c->cpuid, c->orig));
}

/* A rule for every subleaf reaches every entry of its leaf, and only those. */
static void test_any_subleaf_rule(void **state)
{
	struct ctx *c = *state;
	static const struct cpuid_rule rules[] = {
		{ 0xd, CPUID_ANY_SUBLEAF, CPUID_EDX, 0x40000000u, 0x40000000u, "every 0xD" },
	};
	const struct cpuid_policy p = { "test: any subleaf", rules, 1 };
	unsigned int subleafs = 0, expect = 0;

	for (uint32_t i = 0; i < c->orig->nent; i++) {
		const struct kvm_cpuid_entry2 *o = &c->orig->entries[i];

		if (o->function != 0xd)
			continue;
		subleafs++;
		expect += !(o->edx & 0x40000000u);
	}
	assert_true(subleafs >= 2);
	assert_int_equal(cpu_policy_apply(c->cpuid, &p), expect);
	for (uint32_t i = 0; i < c->orig->nent; i++) {
		const struct kvm_cpuid_entry2 *o = &c->orig->entries[i], *n = &c->cpuid->entries[i];
		struct kvm_cpuid_entry2 want = *o;

		if (o->function == 0xd)
			want.edx |= 0x40000000u;
		assert_memory_equal(n, &want, sizeof(want));
	}
}

/* Bits of a rule's value outside its mask are ignored. */
static void test_value_outside_mask_ignored(void **state)
{
	struct ctx *c = *state;
	static const struct cpuid_rule rules[] = {
		{ 0x1, CPUID_ANY_SUBLEAF, CPUID_ECX, CPUID_1_ECX_VMX, 0xffffffffu, "VMX on" },
	};
	const struct cpuid_policy p = { "test: VMX on", rules, 1 };
	uint32_t ecx = cpuid_get(c->orig, 1, 0, CPUID_ECX);
	unsigned int changed = cpu_policy_apply(c->cpuid, &p);

	assert_int_equal(changed, (ecx & CPUID_1_ECX_VMX) ? 0 : 1);
	assert_int_equal(cpuid_get(c->cpuid, 1, 0, CPUID_ECX), ecx | CPUID_1_ECX_VMX);
	assert_only_entry_changed(c->orig, c->cpuid, 0x1, 0);
}

/* NPT counts only with SVM: a 0x8000000A left behind without the SVM bit is
 * not nested paging, and SVM without the NPT bit is virtualization without. */
static void test_npt_needs_svm(void **state)
{
	struct ctx *c = *state;
	static const struct cpuid_rule no_svm[] = {
		{ 0x80000001, CPUID_ANY_SUBLEAF, CPUID_ECX, CPUID_80000001_ECX_SVM, 0, "SVM only" },
	};
	static const struct cpuid_rule no_npt[] = {
		{ 0x8000000a, 0, CPUID_EDX, CPUID_8000000A_EDX_NPT, 0, "NPT only" },
	};
	const struct cpuid_policy p_svm = { "test: SVM off", no_svm, 1 };
	const struct cpuid_policy p_npt = { "test: NPT off", no_npt, 1 };
	struct kvm_cpuid2 *other = cpuid_fixture_dup(c->orig, c->orig->nent);
	bool npt = true;

	assert_int_equal(cpu_policy_apply(c->cpuid, &p_svm), 1);
	assert_true(cpuid_get(c->cpuid, 0x8000000a, 0, CPUID_EDX) & CPUID_8000000A_EDX_NPT);
	assert_false(cpu_policy_has_virt(c->cpuid, &npt));
	assert_false(npt);

	assert_int_equal(cpu_policy_apply(other, &p_npt), 1);
	npt = true;
	assert_true(cpu_policy_has_virt(other, &npt));
	assert_false(npt);
	assert_only_entry_changed(c->orig, other, 0x8000000a, 0);
	free(other);
}

/* ---- vendors from made-up leaf 0 -------------------------------------- */

static void vendor_of(const char sig[12], enum cpu_vendor want)
{
	struct kvm_cpuid2 *c = calloc(1, cpuid_fixture_size(1));
	struct kvm_cpuid_entry2 *e;

	assert_non_null(c);
	c->nent = 1;
	e = &c->entries[0];
	e->eax = 0xd;
	memcpy(&e->ebx, sig, 4);
	memcpy(&e->edx, sig + 4, 4);
	memcpy(&e->ecx, sig + 8, 4);
	assert_int_equal(cpu_policy_vendor(c), want);
	free(c);
}

static void test_vendor_signatures(void **state)
{
	(void)state;
	vendor_of("GenuineIntel", CPU_VENDOR_INTEL);
	vendor_of("AuthenticAMD", CPU_VENDOR_AMD);
	vendor_of("HygonGenuine", CPU_VENDOR_AMD);
	vendor_of("CentaurHauls", CPU_VENDOR_OTHER);
	vendor_of("GenuineIntex", CPU_VENDOR_OTHER);
	vendor_of("\0\0\0\0\0\0\0\0\0\0\0", CPU_VENDOR_OTHER);
}

/* One test per recorded host, named "test(host)". */
#define PER_HOST(f, h) { #f "(" #h ")", f, setup, teardown, (void *)&(h) }

int main(void)
{
	const struct CMUnitTest tests[] = {
		PER_HOST(test_fixture_shape, intel),
		PER_HOST(test_fixture_shape, amd),
		PER_HOST(test_vendor, intel),
		PER_HOST(test_vendor, amd),
		PER_HOST(test_has_virt_before, intel),
		PER_HOST(test_has_virt_before, amd),
		PER_HOST(test_nested_off, intel),
		PER_HOST(test_nested_off, amd),
		PER_HOST(test_nested_off_idempotent, intel),
		PER_HOST(test_nested_off_idempotent, amd),
		PER_HOST(test_nested_on, intel),
		PER_HOST(test_nested_on, amd),
		PER_HOST(test_off_then_on_fresh, intel),
		PER_HOST(test_off_then_on_fresh, amd),
		PER_HOST(test_cpuid_get, intel),
		PER_HOST(test_cpuid_get, amd),
		PER_HOST(test_subleaf_rule, intel),
		PER_HOST(test_subleaf_rule, amd),
		PER_HOST(test_subleaf_rule_absent_subleaf, intel),
		PER_HOST(test_subleaf_rule_absent_subleaf, amd),
		PER_HOST(test_any_subleaf_rule, intel),
		PER_HOST(test_any_subleaf_rule, amd),
		PER_HOST(test_value_outside_mask_ignored, intel),
		PER_HOST(test_value_outside_mask_ignored, amd),
		PER_HOST(test_npt_needs_svm, amd),
		cmocka_unit_test(test_cpuid_get_empty),
		cmocka_unit_test(test_vendor_signatures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
