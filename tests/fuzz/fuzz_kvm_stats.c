/* Fuzz target: KVM's binary statistics parser (src/vmm/kvm_stats.c). The
 * input is a stats file as KVM_GET_STATS_FD would give it; every lookup
 * must stay inside it, whatever the header and descriptors say. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"
#include "vmm/kvm_stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "nested_run", "guest_mode", "exits", "" };
	uint64_t end, pos, val;

	(void)kvm_stats_desc_end(data, size, &end);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (kvm_stats_find(data, size, names[i], &pos) == 0)
			(void)kvm_stats_value(data, size, pos, &val);
	return 0;
}
