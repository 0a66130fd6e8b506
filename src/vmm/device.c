#include "vmm/device.h"

#include <errno.h>
#include <stdio.h>

int device_state_check_header(const struct device_class *cls, size_t size, uint32_t version,
			      char *err, size_t errlen)
{
	if (version != cls->state_version) {
		snprintf(err, errlen, "%s: state version %u, this build reads %u", cls->name, version,
			 cls->state_version);
		return -EINVAL;
	}
	if (size != cls->state_size) {
		snprintf(err, errlen, "%s: state size %zu, expected %zu", cls->name, size,
			 cls->state_size);
		return -EINVAL;
	}
	return 0;
}
