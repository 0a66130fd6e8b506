/* What the fuzz target of machine_restore_open (fuzz_snapshot_restore.c)
 * and the generator of its seed (gen_restore_seed.c) share: the VM the
 * snapshot is restored into. 1 vCPU (a valid state file is then about
 * 52 KiB, under the 64 KiB tests/fuzz/run lets an input grow to), 64 MiB,
 * one disk at a path that need not exist: the seed's disk identity says
 * a copy of it is in the snapshot (disk-0.img, SNAP_FIX_DISK_SIZE bytes),
 * so no identity of a real file (device, inode, mtime) is in the seed. */
#ifndef NESTVM_TESTS_FUZZ_RESTORE_H
#define NESTVM_TESTS_FUZZ_RESTORE_H

#include "../unit/snapshot_fixture.h"

#define FUZZ_RESTORE_CPUS 1
#define FUZZ_RESTORE_DISK "/nonexistent/nestvm-fuzz-restore/disk.img"

static inline int fuzz_restore_config(struct vm_config *c, char *err, size_t errlen)
{
	return snap_fixture_config(c, FUZZ_RESTORE_CPUS, FUZZ_RESTORE_DISK, err, errlen);
}

#endif
