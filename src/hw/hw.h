/* What platform devices need from the VMM, without depending on it:
 * a way to drive an interrupt line and a way to ask the VM to stop
 * (defined one layer down, in vmm/stop.h). */
#ifndef NESTVM_HW_HW_H
#define NESTVM_HW_HW_H

#include "vmm/stop.h"

#endif
