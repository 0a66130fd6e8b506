/* A synthetic but valid snapshot, written with the real writer
 * (snapshot/format.h), for the tests of machine_restore_open
 * (tests/unit/test_snapshot_restore.c) and the seed of its fuzz target
 * (tests/fuzz/gen_restore_seed.c). Header-only, no cmocka: every function
 * returns 0 or -errno with a message.
 *
 * The snapshot is of the VM snap_fixture_config describes: N vCPUs, 64 MiB,
 * one virtio-blk disk. Its state file has the sections machine_snapshot_save
 * writes, in its order: config, cpuid N and vcpu N per vCPU, vm, dev:CLASS N
 * for the board's devices and the configured ones (zero states of the
 * class's version and size), disk N (the disk's identity now, or with
 * SNAP_FIX_COPIED one saying a copy is in the snapshot), machine.
 * The memory file is sparse, with two data pages. */
#ifndef NESTVM_TESTS_SNAPSHOT_FIXTURE_H
#define NESTVM_TESTS_SNAPSHOT_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <linux/kvm.h>

#include "config/vmconfig.h"
#include "devices/table.h"
#include "machine/snapshot.h"
#include "snapshot/disk.h"
#include "snapshot/format.h"
#include "virtio/blk.h"
#include "x86/cpu_state.h"

#define SNAP_FIX_MEMORY  (64ULL << 20)
#define SNAP_FIX_NCPUID  4
#define SNAP_FIX_TSC_KHZ 2000000u
#define SNAP_FIX_KERNEL  "/nonexistent/vmlinuz"

/* snap_fixture_write_state's flags */
#define SNAP_FIX_COPIED 1u   /* the disks' identities say copied, of SNAP_FIX_DISK_SIZE
			      * bytes (disk-N.img); the disks themselves are not looked at */
#define SNAP_FIX_DISK_SIZE (1u << 20)

/* The VM: name "snapfix", cpus vCPUs, 64 MiB, one disk at disk_path (absolute). */
static inline int snap_fixture_config(struct vm_config *c, unsigned int cpus,
				      const char *disk_path, char *err, size_t errlen)
{
	json_t *disk;

	vmconfig_init(c);
	c->cpus = cpus;
	c->memory = SNAP_FIX_MEMORY;
	if (vmconfig_set_string(&c->name, "snapfix") ||
	    vmconfig_set_string(&c->kernel, SNAP_FIX_KERNEL)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	disk = json_pack("{s:s, s:b}", "path", disk_path, "readonly", 0);
	return vmconfig_add_device(c, &virtio_blk_class, disk, err, errlen);
}

/* vCPU i's state as a save leaves it without SREGS2, XSAVE2 or nested
 * state: legacy XSAVE, two MSRs. Passes x86_vcpu_state_check(s, NULL). */
static inline void snap_fixture_vcpu(struct x86_vcpu_state *s, unsigned int i)
{
	memset(s, 0, sizeof(*s));
	s->magic = X86_VCPU_STATE_MAGIC;
	s->version = X86_VCPU_STATE_VERSION;
	s->size = sizeof(*s);
	s->xsave_size = X86_STATE_XSAVE_LEGACY;
	s->regs.rip = 0xffffffff81000000ull + i;
	s->regs.rflags = 2;
	s->sregs.cr0 = 0x80050033;
	s->sregs.efer = 0xd01;
	s->xsave[0] = 0x7f;          /* FCW */
	s->xsave[24] = 0x80;         /* MXCSR 0x1f80 */
	s->xsave[25] = 0x1f;
	s->nmsrs = 2;
	s->msrs[0] = (struct kvm_msr_entry){ .index = X86_MSR_TSC, .data = 1000000 + i };
	s->msrs[1] = (struct kvm_msr_entry){ .index = 0xc0000080, .data = 0xd01 };
	s->lapic.regs[0x20] = (uint8_t)i;
	s->mp_state.mp_state = KVM_MP_STATE_RUNNABLE;
}

/* Passes x86_vm_state_check. */
static inline void snap_fixture_vm(struct x86_vm_state *s)
{
	memset(s, 0, sizeof(*s));
	s->magic = X86_VM_STATE_MAGIC;
	s->version = X86_VM_STATE_VERSION;
	s->size = sizeof(*s);
	s->tsc_khz = SNAP_FIX_TSC_KHZ;
	s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	for (int ch = 0; ch < 3; ch++)
		s->pit.channels[ch].mode = 0xff;     /* never programmed */
	s->clock.clock = 123456789;
}

/* A small CPUID table: *len bytes, malloc'ed. */
static inline struct kvm_cpuid2 *snap_fixture_cpuid(size_t *len)
{
	struct kvm_cpuid2 *c;

	*len = sizeof(*c) + SNAP_FIX_NCPUID * sizeof(c->entries[0]);
	c = calloc(1, *len);
	if (!c)
		return NULL;
	c->nent = SNAP_FIX_NCPUID;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0xd,
						   .ebx = 0x756e6547, .ecx = 0x6c65746e,
						   .edx = 0x49656e69 };
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 1, .eax = 0x606a6,
						   .ecx = 0x96202203, .edx = 0x178bfbff };
	c->entries[2] = (struct kvm_cpuid_entry2){ .function = 7, .index = 0,
						   .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
						   .ebx = 0x029c67af };
	c->entries[3] = (struct kvm_cpuid_entry2){ .function = 0x80000001,
						   .ecx = 0x121, .edx = 0x2c100800 };
	return c;
}

/* A disk's identity: as it is now, or (SNAP_FIX_COPIED) of a copy. */
static inline int snap_fixture_identity(const char *path, unsigned int flags,
					struct snap_disk_identity *id, char *err, size_t errlen)
{
	int fd, r;

	if (!path || strlen(path) >= sizeof(id->path)) {
		snprintf(err, errlen, "a disk without a usable path");
		return -EINVAL;
	}
	if (flags & SNAP_FIX_COPIED) {
		memset(id, 0, sizeof(*id));
		id->size = SNAP_FIX_DISK_SIZE;
		id->copied = 1;
		memcpy(id->path, path, strlen(path) + 1);
		return 0;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "disk %s: %s", path, strerror(-r));
		return r;
	}
	r = snap_disk_identity_fd(fd, path, id);
	close(fd);
	if (r)
		snprintf(err, errlen, "disk %s: %s", path, strerror(-r));
	return r;
}

/* The dev: sections and disk identities of the board and cfg's devices. */
static inline int snap_fixture_devices(struct snap_writer *w, const struct vm_config *cfg,
				       unsigned int flags, uint32_t *ndev, uint32_t *ndisks,
				       char *err, size_t errlen)
{
	const struct device_class *cls[VMCFG_MAX_DEVICES + 16];
	const json_t *dcfg[VMCFG_MAX_DEVICES + 16];
	unsigned int n = 0;
	int r = 0;

	for (size_t t = 0; t < device_table_len; t++)
		if (device_table[t]->board) {
			dcfg[n] = NULL;
			cls[n++] = device_table[t];
		}
	for (unsigned int i = 0; i < cfg->n_devices; i++) {
		dcfg[n] = cfg->devices[i].cfg;
		cls[n++] = cfg->devices[i].cls;
	}
	*ndev = *ndisks = 0;
	for (unsigned int i = 0; i < n && !r; i++) {
		char type[SNAP_TYPE_MAX];
		unsigned int idx = 0;

		for (unsigned int j = 0; j < i; j++)
			idx += cls[j] == cls[i];
		if (cls[i]->save && cls[i]->state_size) {
			void *st = calloc(1, cls[i]->state_size);

			if (!st) {
				snprintf(err, errlen, "out of memory");
				return -ENOMEM;
			}
			snprintf(type, sizeof(type), "dev:%s", cls[i]->name);
			r = snap_writer_add(w, type, cls[i]->state_version, idx, st,
					    cls[i]->state_size, err, errlen);
			free(st);
			(*ndev)++;
		}
		if (!r && cls[i]->backing_file && cls[i]->config_path_key && dcfg[i]) {
			const char *path = json_string_value(json_object_get(dcfg[i],
									      cls[i]->config_path_key));
			struct snap_disk_identity id;

			r = snap_fixture_identity(path, flags, &id, err, errlen);
			if (r)
				break;
			id.read_only = json_is_true(json_object_get(dcfg[i], "readonly"));
			r = snap_writer_add(w, "disk", SNAP_DISK_IDENTITY_VERSION, *ndisks, &id,
					    sizeof(id), err, errlen);
			(*ndisks)++;
		}
	}
	return r;
}

/* The state file `name` (new) in dirfd, of a snapshot of cfg; flags:
 * SNAP_FIX_*. */
static inline int snap_fixture_write_state(int dirfd, const char *name,
					   const struct vm_config *cfg, unsigned int flags,
					   char *err, size_t errlen)
{
	struct snap_info info = { .created = 1798761600 };
	struct snap_machine m = {
		.ncpus = cfg->cpus, .memory = cfg->memory, .memory_data = 8192,
		.xsave_size = X86_STATE_XSAVE_LEGACY, .tsc_khz = SNAP_FIX_TSC_KHZ,
	};
	struct x86_vcpu_state *vs = malloc(sizeof(*vs));
	struct x86_vm_state vm;
	struct snap_writer w;
	struct kvm_cpuid2 *cpuid;
	json_t *j = vmconfig_to_json(cfg);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	size_t clen = 0;
	int r;

	json_decref(j);
	cpuid = snap_fixture_cpuid(&clen);
	if (!vs || !text || !cpuid) {
		free(vs);
		free(text);
		free(cpuid);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(info.nestvm_version, sizeof(info.nestvm_version), "fixture");
	snprintf(info.cpu_vendor, sizeof(info.cpu_vendor), "GenuineIntel");
	r = snap_writer_open(&w, dirfd, name, &info, err, errlen);
	if (r)
		goto out;
	r = snap_writer_add(&w, "config", SNAP_CONFIG_VERSION, 0, text, strlen(text), err,
			    errlen);
	for (unsigned int i = 0; !r && i < cfg->cpus; i++) {
		snap_fixture_vcpu(vs, i);
		r = snap_writer_add(&w, "cpuid", SNAP_CPUID_VERSION, i, cpuid, clen, err, errlen);
		if (!r)
			r = snap_writer_add(&w, "vcpu", X86_VCPU_STATE_VERSION, i, vs, sizeof(*vs),
					    err, errlen);
	}
	snap_fixture_vm(&vm);
	if (!r)
		r = snap_writer_add(&w, "vm", X86_VM_STATE_VERSION, 0, &vm, sizeof(vm), err, errlen);
	if (!r)
		r = snap_fixture_devices(&w, cfg, flags, &m.ndevices, &m.ndisks, err, errlen);
	if (!r)
		r = snap_writer_add(&w, "machine", SNAP_MACHINE_VERSION, 0, &m, sizeof(m), err,
				    errlen);
	if (!r)
		r = snap_writer_finish(&w, err, errlen);
	else
		snap_writer_abort(&w);
out:
	free(vs);
	free(text);
	free(cpuid);
	return r;
}

/* The memory file `name` (new) in dirfd: size bytes, sparse, a data page
 * at 0 and at 1 MiB (size at least 2 MiB). */
static inline int snap_fixture_write_memory(int dirfd, const char *name, uint64_t size,
					    char *err, size_t errlen)
{
	uint8_t page[4096];
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int r = 0;

	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "creating the memory file %s: %s", name, strerror(-r));
		return r;
	}
	for (size_t i = 0; i < sizeof(page); i++)
		page[i] = (uint8_t)(i * 7 + 1);
	if (ftruncate(fd, (off_t)size) < 0 || pwrite(fd, page, sizeof(page), 0) != sizeof(page) ||
	    pwrite(fd, page, sizeof(page), 1 << 20) != sizeof(page))
		r = errno ? -errno : -EIO;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (r)
		snprintf(err, errlen, "writing the memory file %s: %s", name, strerror(-r));
	return r;
}

#endif
