/* Snapshots of a whole machine: save a running (or paused) VM's state and
 * memory to a directory, and start a VM from one (docs/snapshot.md).
 *
 * A snapshot directory holds
 *   state        the container (snapshot/format.h) with these sections:
 *                  machine  struct snap_machine: vCPUs, RAM, what it holds
 *                  config   the VM's configuration as JSON (vmconfig)
 *                  cpuid N  vCPU N's CPUID table (struct kvm_cpuid2 + entries)
 *                  vcpu N   struct x86_vcpu_state (nested state included)
 *                  vm       struct x86_vm_state (PIC, IOAPIC, PIT, clock, TSC kHz)
 *                  dev:CLASS N  the device state of the N-th device of CLASS
 *                  disk N   struct snap_disk_identity of disk N
 *   memory       guest RAM, one file, sparse (holes: pages never touched or zero)
 *   disk-N.img   with --with-disks: a copy of disk N (reflink or sparse copy)
 *
 * Save (machine_snapshot_save): everything that writes guest memory is
 * quiesced (machine/quiesce.h); disks are flushed; each vCPU's thread reads
 * its own state (vm_vcpu_call_all); the devices save theirs; memory is
 * written, then the state file (atomically: whole or absent).
 *
 * Restore (struct machine_restore): the state file is read and checked in
 * full before anything else (CRCs, sizes, the configuration against the
 * VM's, the memory file's size, the disks' identities), then against this
 * host (CPU vendor, CPUID features, KVM's state sizes), and only then are
 * disks copied back, memory mapped and the state loaded.
 *
 * Threads: the VM process's main thread (or the runner's), never a vCPU's. */
#ifndef NESTVM_MACHINE_SNAPSHOT_H
#define NESTVM_MACHINE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <linux/kvm.h>

#include "config/vmconfig.h"
#include "machine/platform.h"
#include "machine/quiesce.h"
#include "snapshot/format.h"
#include "vmm/vm.h"

struct x86_cpu_caps;

#define SNAP_STATE_FILE      "state"
#define SNAP_MEMORY_FILE     "memory"
#define SNAP_MACHINE_VERSION 1
#define SNAP_CPUID_VERSION   1
#define SNAP_CONFIG_VERSION  1
#define SNAP_CPUID_MAX_ENT   256

/* snap_machine.flags */
#define SNAP_M_NESTED_RUNNING (1u << 0)   /* a vCPU was in guest mode, or nested VMRUNs ran */
#define SNAP_M_WITH_DISKS     (1u << 1)
#define SNAP_M_STOPPED        (1u << 2)   /* --stop */
#define SNAP_M_FLAGS_KNOWN    0x7u

struct snap_machine {
	uint32_t ncpus;
	uint32_t flags;               /* SNAP_M_* */
	uint64_t memory;              /* guest RAM bytes (the memory file's size) */
	uint64_t memory_data;         /* bytes of it written (not holes) */
	uint32_t ndevices;            /* dev:* sections */
	uint32_t ndisks;              /* disk sections */
	uint32_t nested_state_max;    /* KVM_CAP_NESTED_STATE when saved */
	uint32_t xsave_size;          /* bytes of XSAVE state read */
	uint32_t tsc_khz;
	uint32_t reserved;            /* 0 */
};

struct machine_snapshot_req {
	const char *dir;              /* absolute; new or empty */
	bool stop;                    /* leave the machine quiesced (the caller stops it) */
	bool with_disks;
	const char *config_json;      /* the VM's configuration (vmconfig_to_json), NUL-terminated */
	int mem_fd;                   /* the file guest RAM is privately mapped from (a restored
				       * VM), else -1: its data pages are candidates too */
};

struct machine_snapshot_result {
	uint64_t state_bytes;         /* the state file */
	uint64_t memory_bytes;        /* data written to the memory file */
	uint64_t disk_bytes;          /* disk copies (their sizes) */
	uint64_t disk_blocks;         /* bytes the disk copies take on disk */
	unsigned int ndisks;
	bool reflinked;               /* every disk copy was a reflink */
	bool nested_guest_running;
	double quiesced_ms;           /* how long the guest was stopped */
	double total_ms;
};

/* Save. The machine is quiesced here unless it was already (paused); it
 * resumes afterwards unless it was paused or req->stop. On failure nothing
 * is left in dir but what was there (it was empty) and the machine runs
 * on as before. 0, or -errno with a message. */
int machine_snapshot_save(struct vm *vm, struct platform *p, struct machine_quiesce *q,
			  const struct machine_snapshot_req *req,
			  struct machine_snapshot_result *out, char *err, size_t errlen);

/* Live migration's half of a save (machine/migrate.h): the state file's
 * container (every section of a snapshot, no memory file, no disk copies)
 * built in memory from a quiesced machine. *buf: malloc'ed, the caller's.
 * nested_moving: the guest's own guests ran just before the quiesce.
 * 0 or -errno with a message. */
int machine_state_build(struct vm *vm, struct platform *p, const char *config_json,
			bool nested_moving, uint8_t **buf, size_t *len, bool *nested_running,
			char *err, size_t errlen);
/* Did the guest's own guests run just now (KVM's nested_run counters over
 * 100 ms)? */
bool machine_nested_runs_moving(struct vm *vm);

/* A snapshot being restored. */
struct machine_restore {
	int dirfd;
	char dir[4096];
	struct snap_reader rd;
	struct snap_machine m;
	json_t *config;                /* the saved configuration */
	struct x86_cpu_caps *caps;     /* this KVM's, probed by _prepare for _apply (owned) */
	bool migration;                /* from a stream (open_buf): no memory file, shared disks */
};

/* Open dir and check everything that needs no KVM: the state file, the
 * configuration against cfg (vCPUs, memory, nesting, devices), the memory
 * file, each disk (unchanged since, or copied). 0 or -errno with one line. */
int machine_restore_open(struct machine_restore *m, const char *dir, const struct vm_config *cfg,
			 char *err, size_t errlen);
/* The same checks of a container received over a migration stream (buf,
 * len: malloc'ed, taken over in every case): no memory file (the pages
 * came over the stream into guest RAM), and each disk only there at the
 * same size (shared storage: its times change as the source's guest
 * writes). label names it in messages ("the migration stream"). */
int machine_restore_open_buf(struct machine_restore *m, const char *label, uint8_t *buf,
			     size_t len, const struct vm_config *cfg, char *err, size_t errlen);
/* The checks against this host alone (vendor, CPUID features, KVM's state
 * sizes); keeps KVM's caps for _apply. After vm_create. */
int machine_restore_check_host(struct machine_restore *m, struct vm *vm,
			       const struct kvm_cpuid2 *host_cpuid, char *err, size_t errlen);
/* Check against this host (vendor, CPUID features from host_cpuid, the
 * sizes of KVM's states), then copy the disks back (with --with-disks),
 * map (or with eager, read) guest memory over vm's RAM: *mem_fd is the
 * mapped file (-1 when read). Before platform_init. */
int machine_restore_prepare(struct machine_restore *m, struct vm *vm,
			    const struct kvm_cpuid2 *host_cpuid, const struct vm_config *cfg,
			    bool eager, int *mem_fd, char *err, size_t errlen);
/* Load: CPUID, TSC frequency, every vCPU's state, the VM's, every device's,
 * TSC offsets made equal. After platform_init, before the vCPUs run. */
int machine_restore_apply(struct machine_restore *m, struct vm *vm, struct platform *p,
			  char *err, size_t errlen);
void machine_restore_close(struct machine_restore *m);

#endif
