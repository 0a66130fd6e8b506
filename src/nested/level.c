#include "nested/level.h"

#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

void nest_cpuid_native(uint32_t leaf, uint32_t subleaf, uint32_t regs[4])
{
	__cpuid_count(leaf, subleaf, regs[0], regs[1], regs[2], regs[3]);
}

static void nest_signature(const uint32_t regs[4], char out[13])
{
	memcpy(out, &regs[1], 4);
	memcpy(out + 4, &regs[2], 4);
	memcpy(out + 8, &regs[3], 4);
	out[12] = '\0';
	for (int i = 0; i < 12; i++)
		if (out[i] && (out[i] < 0x20 || out[i] > 0x7e))
			out[i] = '?';
}

void nest_level_detect(struct nest_level *out, nest_cpuid_fn cpuid)
{
	uint32_t r[4];
	char sig[13];

	memset(out, 0, sizeof(*out));
	out->remaining = NEST_DEPTH_UNLIMITED;
	out->level_exact = true;
	cpuid(1, 0, r);
	if (!(r[2] & (1u << 31)))
		return; /* bare metal: level 0 */
	out->under_hypervisor = true;
	out->level = 1;
	out->level_exact = false;
	cpuid(0x40000000, 0, r);
	nest_signature(r, out->hv_signature);
	cpuid(NEST_LEAF_BASE, 0, r);
	nest_signature(r, sig);
	if (memcmp(sig, NEST_SIGNATURE, 12) != 0 || r[0] < NEST_LEAF_INFO)
		return;
	cpuid(NEST_LEAF_INFO, 0, r);
	if (r[0] < 1)
		return;
	out->under_nestvm = true;
	out->level = r[0];
	out->level_exact = true;
	out->remaining = r[1];
	out->exposed = r[2] & NEST_FLAG_EXPOSED;
}

void nest_guest_plan(const struct nest_level *here, unsigned int max_depth, bool nested,
		     struct nest_guest *out)
{
	uint32_t below = here->remaining;

	/* Levels allowed below the guest: one fewer than below this machine, and
	 * no more than the VM's own limit allows (max_depth counts the guest). */
	if (below != NEST_DEPTH_UNLIMITED)
		below = below > 0 ? below - 1 : 0;
	if (max_depth > 0 && (below == NEST_DEPTH_UNLIMITED || below > max_depth - 1))
		below = max_depth - 1;
	out->level = here->level + 1;
	out->remaining = below;
	out->expose = nested && below > 0;
	out->capped = nested && below == 0;
}

static struct kvm_cpuid_entry2 *nest_entry_find(struct kvm_cpuid2 *cpuid, uint32_t leaf)
{
	for (uint32_t i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == leaf)
			return &cpuid->entries[i];
	return NULL;
}

/* The caller made sure there is room. */
static void nest_entry_set(struct kvm_cpuid2 *cpuid, uint32_t leaf, const uint32_t regs[4])
{
	struct kvm_cpuid_entry2 *e = nest_entry_find(cpuid, leaf);

	if (!e)
		e = &cpuid->entries[cpuid->nent++];
	memset(e, 0, sizeof(*e));
	e->function = leaf;
	e->eax = regs[0];
	e->ebx = regs[1];
	e->ecx = regs[2];
	e->edx = regs[3];
}

int nest_leaf_add(struct kvm_cpuid2 *cpuid, uint32_t cap, const struct nest_guest *g)
{
	uint32_t base[4] = { NEST_LEAF_INFO, 0, 0, 0 };
	uint32_t info[4] = { g->level, g->remaining, g->expose ? NEST_FLAG_EXPOSED : 0,
			     NEST_VERSION };
	uint32_t need = !nest_entry_find(cpuid, NEST_LEAF_BASE) + !nest_entry_find(cpuid, NEST_LEAF_INFO);

	if (cpuid->nent + need > cap)
		return -ENOSPC;  /* all or nothing */
	memcpy(&base[1], NEST_SIGNATURE, 4);
	memcpy(&base[2], NEST_SIGNATURE + 4, 4);
	memcpy(&base[3], NEST_SIGNATURE + 8, 4);
	nest_entry_set(cpuid, NEST_LEAF_BASE, base);
	nest_entry_set(cpuid, NEST_LEAF_INFO, info);
	return 0;
}

void nest_level_name(unsigned int level, char *buf, unsigned long len)
{
	snprintf(buf, len, "L%u", level);
}
