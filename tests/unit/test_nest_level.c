/* Unit tests of depth awareness (src/nested/level.c): detection of where this
 * machine stands through fake CPUID functions (bare metal, an unknown
 * hypervisor, a guest of nestvm with the leaves nest_leaf_add wrote), the
 * plan for a guest (--max-depth, --nested) and nest_leaf_add itself. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "nested/level.h"

#include "cpuid_fixture.h"

#define HV_BIT (1u << 31)
#define UNL NEST_DEPTH_UNLIMITED

/* ---- fake CPUID functions ---------------------------------------------- */

/* nest_cpuid_fn has no context argument: the fakes answer from here. */
static const struct kvm_cpuid2 *served;
static unsigned int calls;
static uint32_t leaves_asked[16];

static void note_call(uint32_t leaf)
{
	if (calls < sizeof(leaves_asked) / sizeof(leaves_asked[0]))
		leaves_asked[calls] = leaf;
	calls++;
}

/* Answers from the table in `served`, as KVM would for a guest: the entry for
 * (leaf, subleaf) or zeros. */
static void fake_table(uint32_t leaf, uint32_t subleaf, uint32_t regs[4])
{
	note_call(leaf);
	regs[0] = regs[1] = regs[2] = regs[3] = 0;
	for (uint32_t i = 0; i < served->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &served->entries[i];

		if (e->function != leaf ||
		    ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != subleaf))
			continue;
		regs[0] = e->eax;
		regs[1] = e->ebx;
		regs[2] = e->ecx;
		regs[3] = e->edx;
		return;
	}
}

/* A physical Intel CPU: no hypervisor bit. Anything else it is asked returns
 * garbage, which detection must not look at. */
static void fake_bare_metal(uint32_t leaf, uint32_t subleaf, uint32_t regs[4])
{
	(void)subleaf;
	note_call(leaf);
	if (leaf == 1) {
		regs[0] = 0x000606a6;
		regs[1] = 0x00010800;
		regs[2] = 0x77fa3227;   /* VMX, no hypervisor bit */
		regs[3] = 0x0fabfbff;
		return;
	}
	regs[0] = regs[1] = regs[2] = regs[3] = 0xdeadbeef;
}

/* QEMU TCG: hypervisor bit, "TCGTCGTCGTCG", nothing at 0x40000100. */
static void fake_tcg(uint32_t leaf, uint32_t subleaf, uint32_t regs[4])
{
	(void)subleaf;
	note_call(leaf);
	regs[0] = regs[1] = regs[2] = regs[3] = 0;
	if (leaf == 1) {
		regs[2] = HV_BIT | 0x3;
	} else if (leaf == 0x40000000) {
		regs[0] = 0x40000001;
		memcpy(&regs[1], "TCGT", 4);
		memcpy(&regs[2], "CGTC", 4);
		memcpy(&regs[3], "GTCG", 4);
	}
}

static void reset_fake(void)
{
	served = NULL;
	calls = 0;
	memset(leaves_asked, 0, sizeof(leaves_asked));
}

static struct kvm_cpuid_entry2 *entry(struct kvm_cpuid2 *c, uint32_t function)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == function)
			return &c->entries[i];
	return NULL;
}

/* A guest's CPUID: the recorded Intel table (hypervisor bit and KVM's leaves
 * already there) with room for nestvm's two leaves. */
static struct kvm_cpuid2 *guest_table(uint32_t *cap)
{
	struct kvm_cpuid2 *c = cpuid_fixture_load(CPUID_FIXTURE_INTEL, 2, cap);
	struct kvm_cpuid_entry2 *l1 = entry(c, 1);

	assert_non_null(l1);
	l1->ecx |= HV_BIT;
	return c;
}

static void detect_from(struct kvm_cpuid2 *c, struct nest_level *out)
{
	reset_fake();
	served = c;
	/* detect must initialize every field itself */
	memset(out, 0xa5, sizeof(*out));
	nest_level_detect(out, fake_table);
}

/* ---- detection -------------------------------------------------------- */

static void test_detect_bare_metal(void **state)
{
	struct nest_level l;

	(void)state;
	reset_fake();
	memset(&l, 0xa5, sizeof(l));
	nest_level_detect(&l, fake_bare_metal);
	assert_int_equal(l.level, 0);
	assert_false(l.under_hypervisor);
	assert_false(l.under_nestvm);
	assert_true(l.level_exact);
	assert_string_equal(l.hv_signature, "");
	assert_int_equal(l.remaining, UNL);
	assert_false(l.exposed);
	/* only leaf 1 is asked: the hypervisor range means nothing here */
	assert_int_equal(calls, 1);
	assert_int_equal(leaves_asked[0], 1);
}

static void test_detect_unknown_hypervisor(void **state)
{
	struct nest_level l;

	(void)state;
	reset_fake();
	memset(&l, 0xa5, sizeof(l));
	nest_level_detect(&l, fake_tcg);
	assert_int_equal(l.level, 1);
	assert_true(l.under_hypervisor);
	assert_false(l.under_nestvm);
	assert_false(l.level_exact);
	assert_string_equal(l.hv_signature, "TCGTCGTCGTCG");
	assert_int_equal(l.remaining, UNL);
	assert_false(l.exposed);
}

/* Under plain KVM (the recorded table, no nestvm leaves): "KVMKVMKVM". */
static void test_detect_plain_kvm(void **state)
{
	struct kvm_cpuid2 *c = guest_table(NULL);
	struct nest_level l;

	(void)state;
	detect_from(c, &l);
	assert_int_equal(l.level, 1);
	assert_true(l.under_hypervisor);
	assert_false(l.under_nestvm);
	assert_false(l.level_exact);
	assert_string_equal(l.hv_signature, "KVMKVMKVM");
	assert_int_equal(l.remaining, UNL);
	free(c);
}

static void test_detect_under_nestvm(void **state)
{
	static const struct nest_guest cases[] = {
		{ 2, UNL, true, false },
		{ 2, 3, true, false },
		{ 3, 0, false, true },
		{ 1, 1, false, false },
		{ 7, 0xfffffffe, true, false },
	};
	uint32_t cap;
	struct kvm_cpuid2 *c = guest_table(&cap);
	uint32_t nent = c->nent;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct nest_guest *g = &cases[i];
		struct nest_level l;

		assert_int_equal(nest_leaf_add(c, cap, g), 0);
		assert_int_equal(c->nent, nent + 2);
		detect_from(c, &l);
		assert_true(l.under_hypervisor);
		assert_true(l.under_nestvm);
		assert_true(l.level_exact);
		assert_int_equal(l.level, g->level);
		assert_int_equal(l.remaining, g->remaining);
		assert_int_equal(l.exposed, g->expose);
		/* KVM's signature is still the one at 0x40000000 */
		assert_string_equal(l.hv_signature, "KVMKVMKVM");
	}
	free(c);
}

/* A nestvm leaf that does not check out: treated as an unknown hypervisor. */
static void assert_unknown(struct kvm_cpuid2 *c)
{
	struct nest_level l;

	detect_from(c, &l);
	assert_int_equal(l.level, 1);
	assert_true(l.under_hypervisor);
	assert_false(l.under_nestvm);
	assert_false(l.level_exact);
	assert_int_equal(l.remaining, UNL);
	assert_false(l.exposed);
	assert_string_equal(l.hv_signature, "KVMKVMKVM");
}

static void test_detect_bad_signature(void **state)
{
	static const char *bad[] = { "NestVMNestVX", "nestvmnestvm", "NestVMNest\0\0", "KVMKVMKVM\0\0\0" };
	const struct nest_guest g = { 2, 5, true, false };
	uint32_t cap;
	struct kvm_cpuid2 *c = guest_table(&cap);

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kvm_cpuid_entry2 *base;

		assert_int_equal(nest_leaf_add(c, cap, &g), 0);
		base = entry(c, NEST_LEAF_BASE);
		assert_non_null(base);
		memcpy(&base->ebx, bad[i], 4);
		memcpy(&base->ecx, bad[i] + 4, 4);
		memcpy(&base->edx, bad[i] + 8, 4);
		assert_unknown(c);
	}
	free(c);
}

static void test_detect_max_leaf_too_small(void **state)
{
	static const uint32_t max[] = { 0, 0x40000000, NEST_LEAF_BASE };
	const struct nest_guest g = { 2, 5, true, false };
	uint32_t cap;
	struct kvm_cpuid2 *c = guest_table(&cap);

	(void)state;
	for (size_t i = 0; i < sizeof(max) / sizeof(max[0]); i++) {
		assert_int_equal(nest_leaf_add(c, cap, &g), 0);
		entry(c, NEST_LEAF_BASE)->eax = max[i];
		assert_unknown(c);
	}
	/* a larger max leaf is fine */
	assert_int_equal(nest_leaf_add(c, cap, &g), 0);
	entry(c, NEST_LEAF_BASE)->eax = NEST_LEAF_INFO + 4;
	{
		struct nest_level l;

		detect_from(c, &l);
		assert_true(l.under_nestvm);
		assert_int_equal(l.level, 2);
	}
	free(c);
}

/* The info leaf saying level 0 (no guest is at level 0): unknown. */
static void test_detect_level_zero_in_leaf(void **state)
{
	const struct nest_guest g = { 0, 5, true, false };
	uint32_t cap;
	struct kvm_cpuid2 *c = guest_table(&cap);

	(void)state;
	assert_int_equal(nest_leaf_add(c, cap, &g), 0);
	assert_unknown(c);
	free(c);
}

/* The base leaf alone, no info leaf (it reads as zeros): unknown. */
static void test_detect_info_leaf_missing(void **state)
{
	const struct nest_guest g = { 2, 5, true, false };
	uint32_t cap;
	struct kvm_cpuid2 *c = guest_table(&cap);

	(void)state;
	assert_int_equal(nest_leaf_add(c, cap, &g), 0);
	entry(c, NEST_LEAF_INFO)->function = 0x40000102;
	assert_unknown(c);
	free(c);
}

static void test_detect_signature_sanitized(void **state)
{
	uint32_t cap;
	struct kvm_cpuid2 *c = guest_table(&cap);
	struct kvm_cpuid_entry2 *hv = entry(c, 0x40000000);
	const struct nest_guest g = { 4, 2, true, false };
	struct nest_level l;

	(void)state;
	assert_non_null(hv);
	/* control, DEL and high bytes become '?'; NUL ends the string */
	memcpy(&hv->ebx, "Ab\x01\x7f", 4);
	memcpy(&hv->ecx, "\x80\xff" "cd", 4);
	memcpy(&hv->edx, "e\x1f" "f\x7e", 4);
	detect_from(c, &l);
	assert_string_equal(l.hv_signature, "Ab????cde?f~");
	assert_int_equal(strlen(l.hv_signature), 12);

	memcpy(&hv->ebx, "\x1b[2J", 4);
	memcpy(&hv->ecx, "\x1b[H\0", 4);
	memcpy(&hv->edx, "zzzz", 4);
	detect_from(c, &l);
	assert_string_equal(l.hv_signature, "?[2J?[H");

	/* a nestvm guest whose 0x40000000 is odd still reads its level */
	assert_int_equal(nest_leaf_add(c, cap, &g), 0);
	memcpy(&hv->ebx, "\xff\xff\xff\xff", 4);
	detect_from(c, &l);
	assert_true(l.under_nestvm);
	assert_int_equal(l.level, 4);
	assert_memory_equal(l.hv_signature, "????", 4);
	free(c);
}

/* ---- the plan for a guest ---------------------------------------------- */

static struct nest_level here_at(unsigned int level, uint32_t remaining)
{
	struct nest_level h;

	memset(&h, 0, sizeof(h));
	h.level = level;
	h.under_hypervisor = level > 0;
	h.under_nestvm = level > 1;
	h.level_exact = true;
	h.remaining = remaining;
	return h;
}

struct plan_case {
	unsigned int level;
	uint32_t here_remaining;
	unsigned int max_depth;
	/* the plan with --nested */
	uint32_t remaining;
	bool expose, capped;
};

static const struct plan_case plans[] = {
	/* here unlimited */
	{ 0, UNL, 0, UNL, true, false },
	{ 0, UNL, 1, 0, false, true },
	{ 0, UNL, 2, 1, true, false },
	{ 0, UNL, 3, 2, true, false },
	{ 1, UNL, 0, UNL, true, false },
	{ 1, UNL, 1, 0, false, true },
	/* here limited by the level above */
	{ 2, 1, 0, 0, false, true },
	{ 2, 0, 0, 0, false, true },
	{ 2, 0, 5, 0, false, true },
	{ 2, 2, 0, 1, true, false },
	{ 2, 5, 0, 4, true, false },
	{ 2, 5, 2, 1, true, false },   /* the VM's own limit is tighter */
	{ 2, 2, 5, 1, true, false },   /* the level above's is tighter */
	{ 2, 3, 3, 2, true, false },   /* both agree */
	{ 5, 0xfffffffe, 0, 0xfffffffd, true, false },
};

static void test_guest_plan_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(plans) / sizeof(plans[0]); i++) {
		const struct plan_case *pc = &plans[i];
		struct nest_level h = here_at(pc->level, pc->here_remaining);
		struct nest_guest g;

		memset(&g, 0xa5, sizeof(g));
		nest_guest_plan(&h, pc->max_depth, true, &g);
		if (g.level != pc->level + 1 || g.remaining != pc->remaining ||
		    g.expose != pc->expose || g.capped != pc->capped)
			fail_msg("case %zu (level %u, remaining %u, max_depth %u, nested): got level "
				 "%u remaining %u expose %d capped %d", i, pc->level,
				 pc->here_remaining, pc->max_depth, g.level, g.remaining, g.expose,
				 g.capped);
		/* the plan leaves this machine's level alone */
		assert_int_equal(h.remaining, pc->here_remaining);
	}
}

static void test_guest_plan_not_nested(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(plans) / sizeof(plans[0]); i++) {
		const struct plan_case *pc = &plans[i];
		struct nest_level h = here_at(pc->level, pc->here_remaining);
		struct nest_guest g;

		memset(&g, 0xa5, sizeof(g));
		nest_guest_plan(&h, pc->max_depth, false, &g);
		assert_int_equal(g.level, pc->level + 1);
		assert_int_equal(g.remaining, pc->remaining);
		assert_false(g.expose);
		assert_false(g.capped);
	}
}

/* L0 runs a guest with --nested --max-depth 3; every level then runs a guest
 * with --nested and no limit of its own, through the leaves each level wrote:
 * L1 and L2 get VMX, L3 is capped. */
static void test_chain_of_levels(void **state)
{
	struct nest_level here;
	unsigned int depth = 0;

	(void)state;
	reset_fake();
	nest_level_detect(&here, fake_bare_metal);
	assert_int_equal(here.level, 0);
	for (;;) {
		uint32_t cap;
		struct kvm_cpuid2 *c = guest_table(&cap);
		struct nest_guest g;
		struct nest_level next;

		nest_guest_plan(&here, here.level == 0 ? 3 : 0, true, &g);
		assert_int_equal(g.level, here.level + 1);
		assert_int_equal(nest_leaf_add(c, cap, &g), 0);
		detect_from(c, &next);
		free(c);
		assert_true(next.under_nestvm);
		assert_int_equal(next.level, g.level);
		assert_int_equal(next.remaining, g.remaining);
		assert_int_equal(next.exposed, g.expose);
		depth++;
		if (g.capped)
			break;
		assert_true(depth < 10);
		here = next;
	}
	assert_int_equal(depth, 3);
	assert_int_equal(here.level, 2);
}

/* ---- nest_leaf_add ------------------------------------------------------ */

static struct kvm_cpuid2 *small_table(uint32_t cap)
{
	struct kvm_cpuid2 *c = calloc(1, cpuid_fixture_size(cap));

	assert_non_null(c);
	c->nent = 3;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0xd };
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 0x40000000, .eax = 0x40000001 };
	c->entries[2] = (struct kvm_cpuid_entry2){ .function = 0x40000001, .eax = 0x01007efb };
	return c;
}

static void assert_leaves(struct kvm_cpuid2 *c, const struct nest_guest *g)
{
	struct kvm_cpuid_entry2 *b = entry(c, NEST_LEAF_BASE), *i = entry(c, NEST_LEAF_INFO);
	char sig[12];

	assert_non_null(b);
	assert_non_null(i);
	assert_int_equal(b->index, 0);
	assert_int_equal(b->flags, 0);
	assert_int_equal(b->eax, NEST_LEAF_INFO);
	memcpy(sig, &b->ebx, 4);
	memcpy(sig + 4, &b->ecx, 4);
	memcpy(sig + 8, &b->edx, 4);
	assert_memory_equal(sig, NEST_SIGNATURE, 12);
	assert_int_equal(i->index, 0);
	assert_int_equal(i->flags, 0);
	assert_int_equal(i->eax, g->level);
	assert_int_equal(i->ebx, g->remaining);
	assert_int_equal(i->ecx, g->expose ? NEST_FLAG_EXPOSED : 0);
	assert_int_equal(i->edx, NEST_VERSION);
}

static void test_leaf_add(void **state)
{
	const struct nest_guest g = { 2, UNL, true, false };
	struct kvm_cpuid2 *c = small_table(8);

	(void)state;
	assert_int_equal(nest_leaf_add(c, 8, &g), 0);
	assert_int_equal(c->nent, 5);
	assert_leaves(c, &g);
	/* what was there stays */
	assert_int_equal(c->entries[0].eax, 0xd);
	assert_int_equal(c->entries[1].function, 0x40000000);
	assert_int_equal(c->entries[1].eax, 0x40000001);
	assert_int_equal(c->entries[2].eax, 0x01007efb);
	free(c);
}

static void test_leaf_add_replaces(void **state)
{
	const struct nest_guest g1 = { 2, UNL, true, false };
	const struct nest_guest g2 = { 3, 0, false, true };
	struct kvm_cpuid2 *c = small_table(5);

	(void)state;
	assert_int_equal(nest_leaf_add(c, 5, &g1), 0);
	assert_int_equal(c->nent, 5);
	/* full now, but a second call only rewrites its two entries */
	assert_int_equal(nest_leaf_add(c, 5, &g2), 0);
	assert_int_equal(c->nent, 5);
	assert_leaves(c, &g2);
	free(c);
}

/* Entries already there (say, from a saved CPUID) are rewritten whole:
 * stale index, flags and registers go. */
static void test_leaf_add_rewrites_stale(void **state)
{
	const struct nest_guest g = { 4, 1, true, false };
	struct kvm_cpuid2 *c = small_table(5);

	(void)state;
	c->entries[3] = (struct kvm_cpuid_entry2){ .function = NEST_LEAF_INFO, .index = 9,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 1, .ebx = 2, .ecx = 3, .edx = 4 };
	c->entries[4] = (struct kvm_cpuid_entry2){ .function = NEST_LEAF_BASE, .eax = 0x12 };
	c->nent = 5;
	assert_int_equal(nest_leaf_add(c, 5, &g), 0);
	assert_int_equal(c->nent, 5);
	assert_leaves(c, &g);
	assert_int_equal(c->entries[3].function, NEST_LEAF_INFO);
	assert_int_equal(c->entries[4].function, NEST_LEAF_BASE);
	free(c);
}

static void test_leaf_add_no_room(void **state)
{
	const struct nest_guest g = { 2, UNL, true, false };
	struct kvm_cpuid2 *c = small_table(5);

	(void)state;
	/* no room at all: nothing written */
	assert_int_equal(nest_leaf_add(c, 3, &g), -ENOSPC);
	assert_int_equal(c->nent, 3);
	assert_null(entry(c, NEST_LEAF_BASE));
	assert_null(entry(c, NEST_LEAF_INFO));
	/* room for one of the two: an error, and all or nothing */
	assert_int_equal(nest_leaf_add(c, 4, &g), -ENOSPC);
	assert_int_equal(c->nent, 3);
	assert_null(entry(c, NEST_LEAF_BASE));
	assert_null(entry(c, NEST_LEAF_INFO));
	/* room for both */
	assert_int_equal(nest_leaf_add(c, 5, &g), 0);
	assert_int_equal(c->nent, 5);
	assert_leaves(c, &g);
	free(c);
}

/* Added to a recorded table, the leaves leave KVM's alone. */
static void test_leaf_add_fixture(void **state)
{
	const struct nest_guest g = { 2, 1, true, false };
	uint32_t cap;
	struct kvm_cpuid2 *c = guest_table(&cap);
	struct kvm_cpuid2 *orig = cpuid_fixture_dup(c, cap);

	(void)state;
	assert_int_equal(nest_leaf_add(c, cap, &g), 0);
	assert_int_equal(c->nent, orig->nent + 2);
	assert_memory_equal(c->entries, orig->entries, orig->nent * sizeof(orig->entries[0]));
	assert_leaves(c, &g);
	assert_int_equal(c->nent, cap);
	assert_int_equal(nest_leaf_add(c, cap, &g), 0);   /* full, but it only replaces */
	assert_int_equal(c->nent, cap);
	free(orig);
	free(c);
}

/* ---- names -------------------------------------------------------------- */

static void test_level_name(void **state)
{
	char buf[16];

	(void)state;
	nest_level_name(0, buf, sizeof(buf));
	assert_string_equal(buf, "L0");
	nest_level_name(2, buf, sizeof(buf));
	assert_string_equal(buf, "L2");
	nest_level_name(4294967295u, buf, sizeof(buf));
	assert_string_equal(buf, "L4294967295");
	nest_level_name(12, buf, 3);
	assert_string_equal(buf, "L1");
	memset(buf, 'x', sizeof(buf));
	nest_level_name(3, buf, 0);
	assert_int_equal(buf[0], 'x');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect_bare_metal),
		cmocka_unit_test(test_detect_unknown_hypervisor),
		cmocka_unit_test(test_detect_plain_kvm),
		cmocka_unit_test(test_detect_under_nestvm),
		cmocka_unit_test(test_detect_bad_signature),
		cmocka_unit_test(test_detect_max_leaf_too_small),
		cmocka_unit_test(test_detect_level_zero_in_leaf),
		cmocka_unit_test(test_detect_info_leaf_missing),
		cmocka_unit_test(test_detect_signature_sanitized),
		cmocka_unit_test(test_guest_plan_table),
		cmocka_unit_test(test_guest_plan_not_nested),
		cmocka_unit_test(test_chain_of_levels),
		cmocka_unit_test(test_leaf_add),
		cmocka_unit_test(test_leaf_add_replaces),
		cmocka_unit_test(test_leaf_add_rewrites_stale),
		cmocka_unit_test(test_leaf_add_no_room),
		cmocka_unit_test(test_leaf_add_fixture),
		cmocka_unit_test(test_level_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
