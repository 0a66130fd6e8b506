/* Starting a machine from a snapshot directory (machine/snapshot.h). */
#include "machine/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/table.h"
#include "snapshot/disk.h"
#include "snapshot/memory.h"
#include "vmm/log.h"
#include "x86/cpu.h"
#include "x86/cpu_state.h"

#define SNAP_CONFIG_MAX (1u << 20)

/* ---- reading and checking the state file ---- */

static const struct snap_section *snap_need(const struct machine_restore *m, const char *type,
					    uint32_t index, uint32_t version, size_t size,
					    char *err, size_t errlen)
{
	const struct snap_section *s = snap_find(&m->rd, type, index);

	if (!s) {
		snprintf(err, errlen, "snapshot %s: no %s section %u", m->dir, type, index);
		return NULL;
	}
	if (s->version != version) {
		snprintf(err, errlen, "snapshot %s: section %s %u is version %u, this nestvm reads "
			 "version %u", m->dir, type, index, s->version, version);
		return NULL;
	}
	if (size && s->length != size) {
		snprintf(err, errlen, "snapshot %s: section %s %u is %zu bytes, expected %zu",
			 m->dir, type, index, s->length, size);
		return NULL;
	}
	return s;
}

static int snap_check_machine(struct machine_restore *m, char *err, size_t errlen)
{
	const struct snap_section *s = snap_need(m, "machine", 0, SNAP_MACHINE_VERSION,
						 sizeof(m->m), err, errlen);
	unsigned int ndev = 0;

	if (!s)
		return -EINVAL;
	memcpy(&m->m, s->data, sizeof(m->m));
	if (m->m.flags & ~SNAP_M_FLAGS_KNOWN || m->m.reserved) {
		snprintf(err, errlen, "snapshot %s: the machine section has unknown flags", m->dir);
		return -EINVAL;
	}
	if (m->m.ncpus == 0 || m->m.ncpus > VMCFG_CPUS_MAX ||
	    snap_count(&m->rd, "vcpu") != m->m.ncpus || snap_count(&m->rd, "cpuid") != m->m.ncpus) {
		snprintf(err, errlen, "snapshot %s: %u vCPUs in the machine section, %u vcpu and %u "
			 "cpuid sections", m->dir, m->m.ncpus, snap_count(&m->rd, "vcpu"),
			 snap_count(&m->rd, "cpuid"));
		return -EINVAL;
	}
	for (uint32_t i = 0; i < m->rd.nsections; i++)
		ndev += strncmp(m->rd.sections[i].type, "dev:", 4) == 0;
	if (ndev != m->m.ndevices || snap_count(&m->rd, "disk") != m->m.ndisks ||
	    m->m.memory_data > m->m.memory) {
		snprintf(err, errlen, "snapshot %s: the machine section does not match its sections "
			 "(devices %u/%u, disks %u/%u)", m->dir, m->m.ndevices, ndev, m->m.ndisks,
			 snap_count(&m->rd, "disk"));
		return -EINVAL;
	}
	return 0;
}

/* The snapshot's VM against the VM being started. */
static int snap_check_config(struct machine_restore *m, const struct vm_config *cfg, char *err,
			     size_t errlen)
{
	const struct snap_section *s = snap_need(m, "config", 0, SNAP_CONFIG_VERSION, 0, err,
						 errlen);
	const char *name = cfg->name ? cfg->name : "this VM";
	struct vm_config saved;
	json_error_t jerr;
	char why[512];
	int r = 0;

	if (!s)
		return -EINVAL;
	if (s->length > SNAP_CONFIG_MAX) {
		snprintf(err, errlen, "snapshot %s: configuration over %u bytes", m->dir,
			 SNAP_CONFIG_MAX);
		return -EFBIG;
	}
	m->config = json_loadb((const char *)s->data, s->length, JSON_REJECT_DUPLICATES, &jerr);
	if (!m->config || vmconfig_from_json(m->config, &saved, why, sizeof(why))) {
		snprintf(err, errlen, "snapshot %s: its configuration is not valid: %s", m->dir,
			 m->config ? why : jerr.text);
		return -EINVAL;
	}
	if (saved.cpus != cfg->cpus || saved.memory != cfg->memory || saved.cpus != m->m.ncpus ||
	    saved.memory != m->m.memory) {
		snprintf(err, errlen, "the snapshot in %s is of a VM with %u vCPU%s and %llu MiB; "
			 "%s has %u and %llu MiB: a restore needs the same vCPUs, memory and "
			 "devices", m->dir, saved.cpus, saved.cpus == 1 ? "" : "s",
			 (unsigned long long)(saved.memory >> 20), name, cfg->cpus,
			 (unsigned long long)(cfg->memory >> 20));
		r = -EINVAL;
	} else if (saved.nested != cfg->nested) {
		snprintf(err, errlen, "the snapshot in %s is of a VM %s --nested; %s is %s: a restore "
			 "needs the same CPU", m->dir, saved.nested ? "with" : "without", name,
			 cfg->nested ? "with it" : "without it");
		r = -EINVAL;
	} else if (saved.n_devices != cfg->n_devices) {
		snprintf(err, errlen, "the snapshot in %s is of a VM with %u devices; %s has %u: a "
			 "restore needs the same devices", m->dir, saved.n_devices, name,
			 cfg->n_devices);
		r = -EINVAL;
	}
	for (unsigned int i = 0; !r && i < saved.n_devices; i++) {
		const struct vm_device_config *a = &saved.devices[i], *b = &cfg->devices[i];

		bool same_cfg = (!a->cfg && !b->cfg) ||
				(a->cfg && b->cfg && json_equal(a->cfg, b->cfg));

		if (a->cls != b->cls || !same_cfg) {
			char *ja = a->cfg ? json_dumps(a->cfg, JSON_COMPACT) : NULL;

			snprintf(err, errlen, "the snapshot in %s has device %u %s %s; %s's differs: a "
				 "restore needs the same devices", m->dir, i + 1, a->cls->name,
				 ja ? ja : "", name);
			free(ja);
			r = -EINVAL;
		}
	}
	vmconfig_free(&saved);
	return r;
}

static int snap_check_vcpus(struct machine_restore *m, char *err, size_t errlen)
{
	const struct snap_section *s;
	char why[300];

	for (uint32_t i = 0; i < m->m.ncpus; i++) {
		const struct kvm_cpuid2 *c;

		s = snap_need(m, "vcpu", i, X86_VCPU_STATE_VERSION, sizeof(struct x86_vcpu_state),
			      err, errlen);
		if (!s)
			return -EINVAL;
		if (x86_vcpu_state_check((const void *)s->data, NULL, why, sizeof(why))) {
			snprintf(err, errlen, "snapshot %s: vCPU %u: %s", m->dir, i, why);
			return -EINVAL;
		}
		s = snap_need(m, "cpuid", i, SNAP_CPUID_VERSION, 0, err, errlen);
		if (!s)
			return -EINVAL;
		c = (const void *)s->data;
		if (s->length < sizeof(*c) || c->nent == 0 || c->nent > SNAP_CPUID_MAX_ENT ||
		    s->length != sizeof(*c) + c->nent * sizeof(c->entries[0])) {
			snprintf(err, errlen, "snapshot %s: vCPU %u: the CPUID section is malformed",
				 m->dir, i);
			return -EINVAL;
		}
	}
	s = snap_need(m, "vm", 0, X86_VM_STATE_VERSION, sizeof(struct x86_vm_state), err, errlen);
	if (!s)
		return -EINVAL;
	if (x86_vm_state_check((const void *)s->data, why, sizeof(why))) {
		snprintf(err, errlen, "snapshot %s: %s", m->dir, why);
		return -EINVAL;
	}
	return 0;
}

/* Every dev: section names a class of this build, of its state version
 * and size. */
static int snap_check_devices(struct machine_restore *m, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < m->rd.nsections; i++) {
		const struct snap_section *s = &m->rd.sections[i];
		const struct device_class *cls;

		if (strncmp(s->type, "dev:", 4))
			continue;
		cls = device_find_name(s->type + 4);
		if (!cls) {
			snprintf(err, errlen, "snapshot %s: a state of device class '%s', which this "
				 "nestvm does not have", m->dir, s->type + 4);
			return -EINVAL;
		}
		if (s->version != cls->state_version || s->length != cls->state_size) {
			snprintf(err, errlen, "snapshot %s: %s %u: state version %u of %zu bytes, this "
				 "nestvm reads version %u of %zu", m->dir, cls->name, s->index,
				 s->version, s->length, cls->state_version, cls->state_size);
			return -EINVAL;
		}
	}
	return 0;
}

/* The i-th disk of the configuration: its path. */
static const char *snap_cfg_disk_path(const struct vm_config *cfg, unsigned int n)
{
	for (unsigned int i = 0; i < cfg->n_devices; i++) {
		const struct device_class *c = cfg->devices[i].cls;

		if (!c->backing_file || !c->config_path_key || !cfg->devices[i].cfg)
			continue;
		if (n-- == 0)
			return json_string_value(json_object_get(cfg->devices[i].cfg,
								 c->config_path_key));
	}
	return NULL;
}

static int snap_check_disks(struct machine_restore *m, const struct vm_config *cfg, char *err,
			    size_t errlen)
{
	for (uint32_t i = 0; i < m->m.ndisks; i++) {
		const struct snap_section *s = snap_need(m, "disk", i, SNAP_DISK_IDENTITY_VERSION,
							 sizeof(struct snap_disk_identity), err,
							 errlen);
		struct snap_disk_identity id;
		const char *path = snap_cfg_disk_path(cfg, i);
		char why[600], name[32];
		struct stat st;

		if (!s)
			return -EINVAL;
		memcpy(&id, s->data, sizeof(id));
		if (snap_disk_identity_valid(&id, why, sizeof(why))) {
			snprintf(err, errlen, "snapshot %s: disk %u: %s", m->dir, i, why);
			return -EINVAL;
		}
		if (!path) {
			snprintf(err, errlen, "the snapshot in %s has disk %u (%s); the VM has none",
				 m->dir, i, id.path);
			return -EINVAL;
		}
		if (m->migration) {
			/* Shared storage: the source's file, as it is now. */
			if (stat(path, &st) < 0 || (uint64_t)st.st_size != id.size) {
				snprintf(err, errlen, "disk %s is %s here (the VM's is %llu bytes): a "
					 "migration needs the same disk at the same path", path,
					 errno == ENOENT ? "missing" : "another size",
					 (unsigned long long)id.size);
				return -ESTALE;
			}
			continue;
		}
		if (!id.copied) {
			if (snap_disk_identity_check(&id, path, why, sizeof(why))) {
				snprintf(err, errlen, "cannot restore from %s: %s (the snapshot has no "
					 "copy of it: take one with --with-disks)", m->dir, why);
				return -ESTALE;
			}
			continue;
		}
		snprintf(name, sizeof(name), "disk-%u.img", i);
		if (fstatat(m->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size != id.size) {
			snprintf(err, errlen, "snapshot %s: the copy of disk %u (%s) is %s", m->dir, i,
				 id.path, errno == ENOENT ? "missing" : "not the size it was saved at");
			return -EINVAL;
		}
	}
	if (snap_cfg_disk_path(cfg, m->m.ndisks)) {
		snprintf(err, errlen, "the snapshot in %s has no identity of the VM's disk %u (%s): "
			 "it cannot tell whether the disk changed", m->dir, m->m.ndisks,
			 snap_cfg_disk_path(cfg, m->m.ndisks));
		return -EINVAL;
	}
	return 0;
}

/* Every check of a container that needs no KVM. */
static int snap_check_all(struct machine_restore *m, const struct vm_config *cfg, char *err,
			  size_t errlen)
{
	int r = snap_check_machine(m, err, errlen);

	if (!r)
		r = snap_check_config(m, cfg, err, errlen);
	if (!r)
		r = snap_check_vcpus(m, err, errlen);
	if (!r)
		r = snap_check_devices(m, err, errlen);
	if (!r)
		r = snap_check_disks(m, cfg, err, errlen);
	return r;
}

int machine_restore_open_buf(struct machine_restore *m, const char *label, uint8_t *buf,
			     size_t len, const struct vm_config *cfg, char *err, size_t errlen)
{
	char why[600];
	int r;

	memset(m, 0, sizeof(*m));
	m->dirfd = -1;
	m->migration = true;
	snprintf(m->dir, sizeof(m->dir), "%s", label);
	r = snap_parse(&m->rd, buf, len, why, sizeof(why));
	if (r) {
		free(buf);
		snprintf(err, errlen, "%s: %s", label, why);
		return r;
	}
	m->rd.owns_buf = true;   /* freed with the reader */
	r = snap_reader_align(&m->rd, why, sizeof(why));
	if (r) {
		snprintf(err, errlen, "%s: %s", label, why);
		return r;
	}
	return snap_check_all(m, cfg, err, errlen);
}

int machine_restore_open(struct machine_restore *m, const char *dir, const struct vm_config *cfg,
			 char *err, size_t errlen)
{
	char why[600];
	int r, fd;

	memset(m, 0, sizeof(*m));
	m->dirfd = -1;
	snprintf(m->dir, sizeof(m->dir), "%s", dir);
	m->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->dirfd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open the snapshot directory %s: %s", dir, strerror(-r));
		return r;
	}
	r = snap_reader_load(&m->rd, m->dirfd, SNAP_STATE_FILE, why, sizeof(why));
	if (!r)
		r = snap_reader_align(&m->rd, why, sizeof(why));   /* payloads are read as structs */
	if (r) {
		snprintf(err, errlen, r == -ENOENT ? "%s has no snapshot (no state file)" :
			 "snapshot %s: %s", dir, why);
		return r;
	}
	r = snap_check_all(m, cfg, err, errlen);
	if (r)
		return r;
	fd = snap_mem_open(m->dirfd, SNAP_MEMORY_FILE, m->m.memory, why, sizeof(why));
	if (fd < 0) {
		snprintf(err, errlen, "snapshot %s: %s", dir, why);
		return fd;
	}
	close(fd);
	return 0;
}

/* ---- against this host ---- */

struct snap_feature {
	uint32_t fn, idx;
	int reg;            /* 0 eax, 1 ebx, 2 ecx, 3 edx */
	uint32_t dynamic;   /* bits KVM changes at run time (OSXSAVE, APIC, OSPKE) */
};

static const struct snap_feature snap_features[] = {
	{ 0x1, 0, 2, 1u << 27 }, { 0x1, 0, 3, 1u << 9 },
	{ 0x7, 0, 1, 0 }, { 0x7, 0, 2, 1u << 4 }, { 0x7, 0, 3, 0 },
	{ 0xd, 1, 0, 0 },
	{ 0x80000001, 0, 2, 0 }, { 0x80000001, 0, 3, 1u << 9 },
	{ 0x8000000a, 0, 3, 0 },
};

struct snap_feature_name {
	uint32_t fn;
	int reg, bit;
	const char *name;
};

static const struct snap_feature_name snap_feature_names[] = {
	{ 0x1, 2, 5, "vmx" }, { 0x80000001, 2, 2, "svm" }, { 0x8000000a, 3, 0, "npt" },
	{ 0x1, 2, 28, "avx" }, { 0x7, 1, 5, "avx2" }, { 0x7, 1, 16, "avx512f" },
	{ 0x1, 2, 26, "xsave" }, { 0x1, 2, 21, "x2apic" }, { 0x1, 2, 25, "aes" },
	{ 0x1, 2, 12, "fma" }, { 0x7, 1, 3, "bmi1" }, { 0x7, 1, 8, "bmi2" },
	{ 0x1, 2, 19, "sse4.1" }, { 0x1, 2, 20, "sse4.2" }, { 0x1, 2, 23, "popcnt" },
	{ 0x7, 1, 0, "fsgsbase" }, { 0x7, 1, 9, "erms" }, { 0x7, 1, 18, "rdseed" },
	{ 0x7, 1, 19, "adx" }, { 0x7, 1, 29, "sha" }, { 0x8000000a, 3, 3, "nrip-save" },
	{ 0x80000001, 3, 27, "rdtscp" }, { 0x80000001, 3, 26, "pdpe1gb" },
};

static uint32_t snap_cpuid_reg(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx, int reg,
			       bool *found)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != fn || ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) &&
					  e->index != idx))
			continue;
		*found = true;
		return reg == 0 ? e->eax : reg == 1 ? e->ebx : reg == 2 ? e->ecx : e->edx;
	}
	*found = false;
	return 0;
}

/* CPU features the snapshot's guest saw that this host would not give it. */
static int snap_check_cpuid(const struct machine_restore *m, const struct kvm_cpuid2 *host,
			    char *err, size_t errlen)
{
	static const char regs[] = "abcd";
	const struct snap_section *s = snap_find(&m->rd, "cpuid", 0);
	const struct kvm_cpuid2 *saved = (const void *)s->data;

	for (size_t i = 0; i < sizeof(snap_features) / sizeof(snap_features[0]); i++) {
		const struct snap_feature *f = &snap_features[i];
		bool in_saved, in_host;
		uint32_t a = snap_cpuid_reg(saved, f->fn, f->idx, f->reg, &in_saved) & ~f->dynamic;
		uint32_t b = snap_cpuid_reg(host, f->fn, f->idx, f->reg, &in_host) & ~f->dynamic;
		uint32_t missing = a & ~b;
		int bit;

		if (!in_saved || !missing)
			continue;
		bit = __builtin_ctz(missing);
		for (size_t k = 0; k < sizeof(snap_feature_names) / sizeof(snap_feature_names[0]);
		     k++) {
			const struct snap_feature_name *n = &snap_feature_names[k];

			if (n->fn == f->fn && n->reg == f->reg && n->bit == bit) {
				snprintf(err, errlen, "cannot restore from %s on this host: the VM's CPU "
					 "had %s (CPUID 0x%x.%u E%cX bit %d), which this host's KVM "
					 "does not offer%s", m->dir, n->name, f->fn, f->idx,
					 regs[f->reg] - 32, bit,
					 !strcmp(n->name, "svm") || !strcmp(n->name, "vmx") ?
					 " (is nested virtualization on in KVM? nestvm check)" : "");
				return -ENOTSUP;
			}
		}
		snprintf(err, errlen, "cannot restore from %s on this host: the VM's CPU had CPUID "
			 "0x%x.%u E%cX bit %d, which this host's KVM does not offer", m->dir, f->fn,
			 f->idx, regs[f->reg] - 32, bit);
		return -ENOTSUP;
	}
	return 0;
}

static int snap_copy_disks_in(struct machine_restore *m, const struct vm_config *cfg,
			      char *err, size_t errlen)
{
	for (uint32_t i = 0; i < m->m.ndisks; i++) {
		const struct snap_disk_identity *id = (const void *)snap_find(&m->rd, "disk",
									      i)->data;
		const char *path = snap_cfg_disk_path(cfg, i);
		char name[32], why[600];
		bool rl;
		int r;

		if (!id->copied)
			continue;
		snprintf(name, sizeof(name), "disk-%u.img", i);
		r = snap_disk_copy_in(m->dirfd, name, path, &rl, why, sizeof(why));
		if (r) {
			snprintf(err, errlen, "restoring disk %s from %s: %s", path, m->dir, why);
			return r;
		}
		log_info("disk %s restored from the snapshot (%s)", path,
			 rl ? "reflink" : "sparse copy");
	}
	return 0;
}

int machine_restore_check_host(struct machine_restore *m, struct vm *vm,
			       const struct kvm_cpuid2 *host_cpuid, char *err, size_t errlen)
{
	struct x86_cpu_caps *caps;
	char vendor[SNAP_VENDOR_MAX], why[400];
	int r;

	free(m->caps);
	caps = m->caps = malloc(sizeof(*caps));
	if (!caps) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	x86_host_vendor(vendor, sizeof(vendor));
	if (strcmp(vendor, m->rd.info.cpu_vendor)) {
		snprintf(err, errlen, "cannot restore from %s on this host: the snapshot was taken "
			 "on a %s CPU, this host's is %s (nested state is vendor-specific)", m->dir,
			 m->rd.info.cpu_vendor, vendor);
		return -ENOTSUP;
	}
	r = x86_cpu_caps_probe(vm->kvm_fd, vm->vm_fd, caps, err, errlen);
	for (uint32_t i = 0; !r && i < m->m.ncpus; i++) {
		const struct x86_vcpu_state *s = (const void *)snap_find(&m->rd, "vcpu", i)->data;

		if (x86_vcpu_state_check(s, caps, why, sizeof(why))) {
			snprintf(err, errlen, "cannot restore from %s on this host: vCPU %u: %s",
				 m->dir, i, why);
			r = -ENOTSUP;
		}
	}
	if (!r)
		r = snap_check_cpuid(m, host_cpuid, err, errlen);
	return r;
}

int machine_restore_prepare(struct machine_restore *m, struct vm *vm,
			    const struct kvm_cpuid2 *host_cpuid, const struct vm_config *cfg,
			    bool eager, int *mem_fd, char *err, size_t errlen)
{
	char why[400];
	int r, fd;

	*mem_fd = -1;
	r = machine_restore_check_host(m, vm, host_cpuid, err, errlen);
	if (!r)
		r = snap_copy_disks_in(m, cfg, err, errlen);
	if (r)
		return r;
	fd = snap_mem_open(m->dirfd, SNAP_MEMORY_FILE, vm->mem.size, why, sizeof(why));
	if (fd < 0) {
		snprintf(err, errlen, "snapshot %s: %s", m->dir, why);
		return fd;
	}
	r = snap_mem_load(fd, vm->mem.host, vm->mem.size, eager, why, sizeof(why));
	if (r) {
		close(fd);
		snprintf(err, errlen, "snapshot %s: %s", m->dir, why);
		return r;
	}
	if (eager)
		close(fd);
	else
		*mem_fd = fd;
	return 0;
}

/* ---- loading ---- */

static uint64_t snap_saved_tsc(const struct x86_vcpu_state *s, bool *found)
{
	for (uint32_t k = 0; k < s->nmsrs; k++)
		if (s->msrs[k].index == X86_MSR_TSC) {
			*found = true;
			return s->msrs[k].data;
		}
	*found = false;
	return 0;
}

/* Write one MSR of a vCPU. 0 or -EIO. */
static int snap_write_msr(int vcpu_fd, uint32_t index, uint64_t val)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = { .h.nmsrs = 1, .e.index = index, .e.data = val };

	return ioctl(vcpu_fd, KVM_SET_MSRS, &m) == 1 ? 0 : -EIO;
}

/* The TSCs started from the instant the KVM clock was set (right before
 * this), each at its saved value (its value at the clock's instant, see
 * snapshot_save.c) plus the time since, so the TSCs and the clock go on
 * together and every vCPU as it was against the others; the L2's TSC, an
 * offset from its L1's in the nested state, goes on with them.
 * With KVM_CLOCK_HOST_TSC and KVM_VCPU_TSC_CTRL (the kernel's vcpu.rst):
 * KVM_GET_CLOCK says where the clock is now and at which host TSC, and each
 * vCPU's offset is set from that. Else each vCPU's TSC MSR is written
 * again now, right after the clock, and the offsets made vCPU 0's. A
 * scaled TSC (khz_set) leaves the MSR writes of the state load. */
static void snap_restore_tsc(const struct machine_restore *m, struct vm *vm, bool khz_set)
{
	const struct x86_vm_state *vs = (const void *)snap_find(&m->rd, "vm", 0)->data;
	struct kvm_clock_data now = { 0 };
	uint64_t off;
	struct kvm_device_attr a = {
		.group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET,
		.addr = (uint64_t)(uintptr_t)&off,
	};
	bool attr = ioctl(vm->vcpus[0].fd, KVM_HAS_DEVICE_ATTR, &a) == 0;
	bool exact = !khz_set && attr && ioctl(vm->vm_fd, KVM_GET_CLOCK, &now) == 0 &&
		     (now.flags & KVM_CLOCK_HOST_TSC) && now.clock >= vs->clock.clock;
	const char *how = "offsets from the clock's host TSC";

	if (khz_set)
		return;
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		const struct x86_vcpu_state *s = (const void *)snap_find(&m->rd, "vcpu", i)->data;
		uint64_t d = exact ? now.clock - vs->clock.clock : 0;
		bool found;
		uint64_t tsc = snap_saved_tsc(s, &found) + d * vs->tsc_khz / 1000000;

		if (!found)
			return;
		off = tsc - now.host_tsc;
		if (exact && ioctl(vm->vcpus[i].fd, KVM_SET_DEVICE_ATTR, &a) == 0)
			continue;
		exact = false;
		how = "TSC writes right after the clock";
		if (snap_write_msr(vm->vcpus[i].fd, X86_MSR_TSC, tsc))
			log_warn("restore: vCPU %u: writing its TSC failed", i);
	}
	if (!exact && attr && vm->ncpus > 1 &&
	    ioctl(vm->vcpus[0].fd, KVM_GET_DEVICE_ATTR, &a) == 0) {
		for (unsigned int i = 1; i < vm->ncpus; i++)
			if (ioctl(vm->vcpus[i].fd, KVM_SET_DEVICE_ATTR, &a) < 0)
				log_warn("restore: vCPU %u: KVM_VCPU_TSC_OFFSET: %s", i,
					 strerror(errno));
	}
	log_info("restore: TSCs and the KVM clock from one instant (%s)", how);
}

static int snap_apply_devices(struct machine_restore *m, struct platform *p, char *err,
			      size_t errlen)
{
	for (unsigned int i = 0; i < p->n_devices; i++) {
		const struct platform_device *d = &p->devices[i];
		const struct snap_section *s;
		char type[SNAP_TYPE_MAX], why[400];
		unsigned int idx = platform_class_index(p, i);
		int r;

		if (!d->cls->restore || !d->cls->state_size)
			continue;
		snprintf(type, sizeof(type), "dev:%s", d->cls->name);
		s = snap_find(&m->rd, type, idx);
		if (!s) {
			snprintf(err, errlen, "snapshot %s: no state for %s %u", m->dir, d->cls->name,
				 idx);
			return -EINVAL;
		}
		r = d->cls->restore(d->dev, s->data, s->length, s->version, why, sizeof(why));
		if (r) {
			snprintf(err, errlen, "snapshot %s: %s", m->dir, why);
			return r;
		}
	}
	return 0;
}

int machine_restore_apply(struct machine_restore *m, struct vm *vm, struct platform *p,
			  char *err, size_t errlen)
{
	const struct x86_cpu_caps *caps = m->caps;
	const struct x86_vm_state *vs = (const void *)snap_find(&m->rd, "vm", 0)->data;
	char why[400];
	bool clock, khz_set = false;
	int r = 0;

	if (!caps) {
		snprintf(err, errlen, "restore: the host was not checked (machine_restore_prepare)");
		return -EINVAL;
	}
	for (unsigned int i = 0; !r && i < vm->ncpus; i++) {
		const struct kvm_cpuid2 *c = (const void *)snap_find(&m->rd, "cpuid", i)->data;
		const struct x86_vcpu_state *s = (const void *)snap_find(&m->rd, "vcpu", i)->data;
		int fd = vm->vcpus[i].fd;
		long khz = ioctl(fd, KVM_GET_TSC_KHZ, 0);

		if (ioctl(fd, KVM_SET_CPUID2, c) < 0) {
			r = -errno;
			snprintf(err, errlen, "restore: vCPU %u: KVM_SET_CPUID2: %s", i, strerror(-r));
			break;
		}
		khz_set |= khz > 0 && (uint32_t)khz != vs->tsc_khz;
		if (khz > 0 && (uint32_t)khz != vs->tsc_khz &&
		    x86_vcpu_tsc_khz_set(fd, vs->tsc_khz, why, sizeof(why))) {
			snprintf(err, errlen, "cannot restore from %s on this host: the VM's TSC ran at "
				 "%u kHz, this host's at %ld and KVM cannot scale it (%s)", m->dir,
				 vs->tsc_khz, khz, why);
			r = -ENOTSUP;
			break;
		}
		r = x86_vcpu_state_set(fd, caps, s, X86_STATE_LOAD_FULL, why, sizeof(why));
		if (r)
			snprintf(err, errlen, "restore: vCPU %u: %s", i, why);
	}
	if (r)
		return r;
	r = x86_vm_state_set(vm->vm_fd, vm->vcpus[0].fd, vs, X86_STATE_LOAD_FULL, &clock, why,
			     sizeof(why));
	if (r) {
		snprintf(err, errlen, "restore: %s", why);
		return r;
	}
	snap_restore_tsc(m, vm, khz_set);
	return snap_apply_devices(m, p, err, errlen);
}

void machine_restore_close(struct machine_restore *m)
{
	snap_reader_free(&m->rd);
	json_decref(m->config);
	m->config = NULL;
	free(m->caps);
	m->caps = NULL;
	if (m->dirfd >= 0)
		close(m->dirfd);
	m->dirfd = -1;
}
