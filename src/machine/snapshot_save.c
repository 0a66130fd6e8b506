/* Saving a machine to a snapshot directory (machine/snapshot.h). */
#include "machine/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "snapshot/disk.h"
#include "snapshot/memory.h"
#include "vmm/log.h"
#include "vmm/version.h"
#include "x86/cpu.h"
#include "x86/cpu_state.h"

#define SNAP_CALL_TIMEOUT_MS 5000
#define SNAP_RUNS_SAMPLE_MS  100

/* What each vCPU's thread reads for the snapshot. */
struct snap_vcpu_out {
	struct x86_vcpu_state *state;
	struct kvm_cpuid2 *cpuid;      /* SNAP_CPUID_MAX_ENT entries of room */
	bool has_tsc_offset;           /* KVM_VCPU_TSC_OFFSET read */
	uint64_t tsc_offset;
};

struct snap_save_ctx {
	struct x86_cpu_caps caps;
	struct snap_vcpu_out *v;       /* ncpus */
	struct x86_vm_state vm_state;
	bool has_tsc0;                 /* tsc0: vCPU 0's TSC read right after the clock */
	uint64_t tsc0;
};

/* One MSR of a vCPU (its own thread). 0 or -errno. */
static int snap_read_msr(int vcpu_fd, uint32_t index, uint64_t *val)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = { .h.nmsrs = 1, .e.index = index };

	if (ioctl(vcpu_fd, KVM_GET_MSRS, &m) != 1)
		return -EIO;
	*val = m.e.data;
	return 0;
}

static double snap_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* A vcpu_call_fn: on the vCPU's own thread (it is parked). */
static int snap_save_vcpu(struct vcpu *v, void *opaque, char *err, size_t errlen)
{
	struct snap_save_ctx *ctx = opaque;
	struct snap_vcpu_out *o = &ctx->v[v->index];
	int r;

	o->cpuid->nent = SNAP_CPUID_MAX_ENT;
	if (ioctl(v->fd, KVM_GET_CPUID2, o->cpuid) < 0) {
		r = -errno;
		snprintf(err, errlen, "KVM_GET_CPUID2: %s", strerror(-r));
		return r;
	}
	r = x86_vcpu_state_get(v->fd, &ctx->caps, o->state, err, errlen);
	{
		struct kvm_device_attr a = {
			.group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET,
			.addr = (uint64_t)(uintptr_t)&o->tsc_offset,
		};

		o->has_tsc_offset = ioctl(v->fd, KVM_GET_DEVICE_ATTR, &a) == 0;
	}
	if (!r && v->index == 0) {
		r = x86_vm_state_get(v->vm->vm_fd, v->fd, &ctx->vm_state, err, errlen);
		/* The clock is the VM state's last read: the TSC right after it. */
		ctx->has_tsc0 = !r && snap_read_msr(v->fd, X86_MSR_TSC, &ctx->tsc0) == 0;
	}
	return r;
}

static bool snap_vcpu_guest_mode(const struct x86_vcpu_state *s)
{
	const struct kvm_nested_state *ns = (const void *)s->nested;

	return s->nested_size >= sizeof(*ns) && (ns->flags & KVM_STATE_NESTED_GUEST_MODE);
}

/* Did the guest's own guests run just now (KVM's nested_run counters)? */
bool machine_nested_runs_moving(struct vm *vm)
{
	uint64_t *a = calloc(vm->ncpus, sizeof(*a)), *b = calloc(vm->ncpus, sizeof(*b));
	struct timespec pause = { 0, SNAP_RUNS_SAMPLE_MS * 1000000L };
	bool moving = false;

	if (a && b && vm_nested_runs(vm, a) == 0) {
		nanosleep(&pause, NULL);
		if (vm_nested_runs(vm, b) == 0)
			for (unsigned int i = 0; i < vm->ncpus; i++)
				moving |= a[i] != UINT64_MAX && b[i] != UINT64_MAX && b[i] > a[i];
	}
	free(a);
	free(b);
	return moving;
}

/* An empty directory (or one to create), opened. */
static int snap_open_dir(const char *dir, char *err, size_t errlen)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (dir[0] != '/') {
		snprintf(err, errlen, "the snapshot directory must be an absolute path: %s", dir);
		return -EINVAL;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int e = errno;

		snprintf(err, errlen, "cannot create the snapshot directory %s: %s", dir,
			 strerror(e));
		return -e;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot open the snapshot directory %s: %s", dir,
			 strerror(e));
		return -e;
	}
	d = fdopendir(dup(fd));
	if (!d) {
		close(fd);
		snprintf(err, errlen, "cannot read the snapshot directory %s", dir);
		return -EIO;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			closedir(d);
			close(fd);
			snprintf(err, errlen, "the snapshot directory %s is not empty (it has %s): "
				 "use a new or empty directory", dir, de->d_name);
			return -EEXIST;
		}
	}
	closedir(d);
	return fd;
}

/* Remove what this save wrote. */
static void snap_cleanup(int dirfd, unsigned int ndisks)
{
	char name[32];

	unlinkat(dirfd, SNAP_MEMORY_FILE, 0);
	unlinkat(dirfd, SNAP_STATE_FILE, 0);
	for (unsigned int i = 0; i < ndisks; i++) {
		snprintf(name, sizeof(name), "disk-%u.img", i);
		unlinkat(dirfd, name, 0);
	}
}

/* The device sections, and the disks' identities and copies. */
static int snap_save_devices(struct snap_writer *w, struct platform *p, int dirfd,
			     const struct machine_snapshot_req *req,
			     struct machine_snapshot_result *out, char *err, size_t errlen)
{
	unsigned int ndev = 0;
	int r = 0;

	for (unsigned int i = 0; i < p->n_devices && !r; i++) {
		const struct platform_device *d = &p->devices[i];
		char type[SNAP_TYPE_MAX];
		unsigned int idx = platform_class_index(p, i);
		void *st;

		if (d->cls->save && d->cls->state_size) {
			st = calloc(1, d->cls->state_size);
			if (!st) {
				snprintf(err, errlen, "out of memory");
				return -ENOMEM;
			}
			d->cls->save(d->dev, st);
			snprintf(type, sizeof(type), "dev:%s", d->cls->name);
			r = snap_writer_add(w, type, d->cls->state_version, idx, st,
					    d->cls->state_size, err, errlen);
			free(st);
			ndev++;
		}
		if (!r && d->cls->backing_file) {
			struct snap_disk_identity id;
			const char *path;
			bool ro;
			int fd;

			memset(&id, 0, sizeof(id));
			if (d->cls->backing_file(d->dev, &fd, &path, &ro) || fd < 0)
				continue;
			r = snap_disk_identity_fd(fd, path, &id);
			if (r) {
				snprintf(err, errlen, "disk %s: %s", path, strerror(-r));
				break;
			}
			id.read_only = ro;
			if (req->with_disks) {
				char name[32];
				bool rl = false;
				struct stat sb;

				snprintf(name, sizeof(name), "disk-%u.img", out->ndisks);
				r = snap_disk_copy_out(fd, dirfd, name, &rl, err, errlen);
				if (r)
					break;
				id.copied = 1;
				out->reflinked = (out->ndisks == 0 || out->reflinked) && rl;
				out->disk_bytes += id.size;
				if (fstatat(dirfd, name, &sb, 0) == 0)
					out->disk_blocks += (uint64_t)sb.st_blocks * 512;
			}
			r = snap_writer_add(w, "disk", SNAP_DISK_IDENTITY_VERSION, out->ndisks, &id,
					    sizeof(id), err, errlen);
			out->ndisks++;
		}
	}
	return r ? r : (int)ndev;
}

static int snap_flush_devices(struct platform *p, char *err, size_t errlen)
{
	for (unsigned int i = 0; i < p->n_devices; i++) {
		const struct platform_device *d = &p->devices[i];
		int r = d->cls->flush ? d->cls->flush(d->dev, err, errlen) : 0;

		if (r)
			return r;
	}
	return 0;
}

/* The TSC each vCPU had at the moment the KVM clock was read, instead of
 * the value its MSR read gave a moment apart (milliseconds under an
 * emulated host): a restore then starts the TSCs and the clock from one
 * instant, as they were. With KVM_CLOCK_HOST_TSC: the host TSC the clock
 * was read at plus the vCPU's KVM_VCPU_TSC_OFFSET (KVM_VCPU_TSC_CTRL in the
 * kernel's vcpu.rst). Without: vCPU 0's TSC read right after the clock, for
 * every vCPU (their TSCs run in step; a restore makes their offsets
 * vCPU 0's). A value more than a second away from the MSR's (a scaled
 * TSC) is not used. */
static void snap_tsc_at_clock(struct snap_save_ctx *ctx, unsigned int ncpus)
{
	const struct kvm_clock_data *c = &ctx->vm_state.clock;
	uint64_t second = (uint64_t)ctx->vm_state.tsc_khz * 1000;
	bool host_tsc = (c->flags & KVM_CLOCK_HOST_TSC) != 0;

	for (unsigned int i = 0; i < ncpus; i++) {
		struct x86_vcpu_state *s = ctx->v[i].state;
		uint64_t at;

		if (host_tsc && ctx->v[i].has_tsc_offset)
			at = c->host_tsc + ctx->v[i].tsc_offset;
		else if (ctx->has_tsc0)
			at = ctx->tsc0;
		else
			continue;
		for (uint32_t k = 0; k < s->nmsrs; k++) {
			struct kvm_msr_entry *e = &s->msrs[k];

			if (e->index == X86_MSR_TSC &&
			    (at > e->data ? at - e->data : e->data - at) < second)
				e->data = at;
		}
	}
}

/* What a quiesced machine holds but its memory: the devices flushed,
 * every vCPU's state and the VM's read. */
static int snap_collect(struct vm *vm, struct platform *p, struct snap_save_ctx *ctx,
			bool nested_moving, bool *nested_running, char *err, size_t errlen)
{
	int r = snap_flush_devices(p, err, errlen);

	if (r)
		return r;
	r = vm_vcpu_call_all(vm, snap_save_vcpu, ctx, SNAP_CALL_TIMEOUT_MS, NULL, err, errlen);
	if (r)
		return r;
	snap_tsc_at_clock(ctx, vm->ncpus);
	for (unsigned int i = 0; i < vm->ncpus; i++)
		*nested_running |= snap_vcpu_guest_mode(ctx->v[i].state);
	*nested_running |= nested_moving;
	return 0;
}

static void snap_info_here(struct snap_info *info)
{
	memset(info, 0, sizeof(*info));
	info->format_version = SNAP_FORMAT_VERSION;
	info->created = time(NULL);
	snprintf(info->nestvm_version, sizeof(info->nestvm_version), "%s", NESTVM_VERSION);
	x86_host_vendor(info->cpu_vendor, sizeof(info->cpu_vendor));
}

/* Every section but memory into w (open): config, CPUID and state of each
 * vCPU, the VM's, the devices' (disks copied into dirfd with_disks), the
 * machine section last. */
static int snap_add_sections(struct snap_writer *w, struct vm *vm, struct platform *p, int dirfd,
			     const struct machine_snapshot_req *req, struct snap_save_ctx *ctx,
			     struct machine_snapshot_result *out, char *err, size_t errlen)
{
	struct snap_machine m = { .ncpus = vm->ncpus, .memory = vm->mem.size };
	int r, ndev;

	r = snap_writer_add(w, "config", SNAP_CONFIG_VERSION, 0, req->config_json,
			    strlen(req->config_json), err, errlen);
	for (unsigned int i = 0; i < vm->ncpus && !r; i++) {
		const struct kvm_cpuid2 *c = ctx->v[i].cpuid;

		r = snap_writer_add(w, "cpuid", SNAP_CPUID_VERSION, i, c,
				    sizeof(*c) + c->nent * sizeof(c->entries[0]), err, errlen);
		if (!r)
			r = snap_writer_add(w, "vcpu", X86_VCPU_STATE_VERSION, i, ctx->v[i].state,
					    sizeof(*ctx->v[i].state), err, errlen);
	}
	if (!r)
		r = snap_writer_add(w, "vm", X86_VM_STATE_VERSION, 0, &ctx->vm_state,
				    sizeof(ctx->vm_state), err, errlen);
	ndev = r ? r : snap_save_devices(w, p, dirfd, req, out, err, errlen);
	if (ndev < 0)
		return ndev;
	m.flags = (out->nested_guest_running ? SNAP_M_NESTED_RUNNING : 0) |
		  (req->with_disks ? SNAP_M_WITH_DISKS : 0) | (req->stop ? SNAP_M_STOPPED : 0);
	m.memory_data = out->memory_bytes;
	m.ndevices = (uint32_t)ndev;
	m.ndisks = out->ndisks;
	m.nested_state_max = ctx->caps.nested_max;
	m.xsave_size = ctx->caps.xsave_size;
	m.tsc_khz = ctx->vm_state.tsc_khz;
	return snap_writer_add(w, "machine", SNAP_MACHINE_VERSION, 0, &m, sizeof(m), err, errlen);
}

/* Everything but the guest's time in the quiesced window. */
static int snap_write_all(struct vm *vm, struct platform *p, int dirfd,
			  const struct machine_snapshot_req *req, struct snap_save_ctx *ctx,
			  bool nested_moving, struct machine_snapshot_result *out, char *err,
			  size_t errlen)
{
	struct snap_info info;
	struct snap_writer w;
	struct stat sb;
	int r;

	snap_info_here(&info);
	r = snap_collect(vm, p, ctx, nested_moving, &out->nested_guest_running, err, errlen);
	if (r)
		return r;
	r = snap_mem_write(dirfd, SNAP_MEMORY_FILE, vm->mem.host, vm->mem.size, req->mem_fd,
			   &out->memory_bytes, err, errlen);
	if (r)
		return r;
	r = snap_writer_open(&w, dirfd, SNAP_STATE_FILE, &info, err, errlen);
	if (r)
		return r;
	r = snap_add_sections(&w, vm, p, dirfd, req, ctx, out, err, errlen);
	if (r) {
		snap_writer_abort(&w);
		return r;
	}
	r = snap_writer_finish(&w, err, errlen);
	if (!r && fstatat(dirfd, SNAP_STATE_FILE, &sb, 0) == 0)
		out->state_bytes = (uint64_t)sb.st_size;
	return r;
}

static struct snap_save_ctx *snap_ctx_new(struct vm *vm)
{
	struct snap_save_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	ctx->v = calloc(vm->ncpus, sizeof(*ctx->v));
	if (!ctx->v) {
		free(ctx);
		return NULL;
	}
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		ctx->v[i].state = malloc(sizeof(*ctx->v[i].state));
		ctx->v[i].cpuid = calloc(1, sizeof(struct kvm_cpuid2) +
					 SNAP_CPUID_MAX_ENT * sizeof(struct kvm_cpuid_entry2));
		if (!ctx->v[i].state || !ctx->v[i].cpuid)
			return ctx;   /* freed by the caller; checked there */
	}
	return ctx;
}

static void snap_ctx_free(struct snap_save_ctx *ctx, unsigned int ncpus)
{
	if (!ctx)
		return;
	for (unsigned int i = 0; ctx->v && i < ncpus; i++) {
		free(ctx->v[i].state);
		free(ctx->v[i].cpuid);
	}
	free(ctx->v);
	free(ctx);
}

int machine_snapshot_save(struct vm *vm, struct platform *p, struct machine_quiesce *q,
			  const struct machine_snapshot_req *req,
			  struct machine_snapshot_result *out, char *err, size_t errlen)
{
	struct snap_save_ctx *ctx;
	double t0 = snap_now_ms(), tq;
	bool quiesced_here = false, moving;
	int dirfd, r;

	memset(out, 0, sizeof(*out));
	ctx = snap_ctx_new(vm);
	if (!ctx || !ctx->v[vm->ncpus - 1].cpuid || !ctx->v[vm->ncpus - 1].state) {
		snap_ctx_free(ctx, vm->ncpus);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = x86_cpu_caps_probe(vm->kvm_fd, vm->vm_fd, &ctx->caps, err, errlen);
	if (r) {
		snap_ctx_free(ctx, vm->ncpus);
		return r;
	}
	dirfd = snap_open_dir(req->dir, err, errlen);
	if (dirfd < 0) {
		snap_ctx_free(ctx, vm->ncpus);
		return dirfd;
	}
	moving = !machine_is_quiesced(q) && machine_nested_runs_moving(vm);
	tq = snap_now_ms();
	if (!machine_is_quiesced(q)) {
		r = machine_quiesce(q, err, errlen);
		if (r) {
			close(dirfd);
			snap_ctx_free(ctx, vm->ncpus);
			return r;
		}
		quiesced_here = true;
	}
	r = snap_write_all(vm, p, dirfd, req, ctx, moving, out, err, errlen);
	if (r)
		snap_cleanup(dirfd, out->ndisks + 1);
	if (quiesced_here && (r || !req->stop))
		machine_resume(q);
	out->quiesced_ms = snap_now_ms() - tq;
	out->total_ms = snap_now_ms() - t0;
	close(dirfd);
	snap_ctx_free(ctx, vm->ncpus);
	if (!r)
		log_info("snapshot to %s: state %llu bytes, memory %llu of %llu bytes, %u disk%s, "
			 "guest stopped %.0f ms", req->dir, (unsigned long long)out->state_bytes,
			 (unsigned long long)out->memory_bytes, (unsigned long long)vm->mem.size,
			 out->ndisks, out->ndisks == 1 ? "" : "s", out->quiesced_ms);
	return r;
}

int machine_state_build(struct vm *vm, struct platform *p, const char *config_json,
			bool nested_moving, uint8_t **buf, size_t *len, bool *nested_running,
			char *err, size_t errlen)
{
	struct machine_snapshot_req req = { .config_json = config_json, .mem_fd = -1 };
	struct machine_snapshot_result out;
	struct snap_save_ctx *ctx = snap_ctx_new(vm);
	struct snap_info info;
	struct snap_writer w;
	int r;

	memset(&out, 0, sizeof(out));
	*buf = NULL;
	*len = 0;
	if (!ctx || !ctx->v[vm->ncpus - 1].cpuid || !ctx->v[vm->ncpus - 1].state) {
		snap_ctx_free(ctx, vm->ncpus);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snap_info_here(&info);
	r = x86_cpu_caps_probe(vm->kvm_fd, vm->vm_fd, &ctx->caps, err, errlen);
	if (!r)
		r = snap_collect(vm, p, ctx, nested_moving, &out.nested_guest_running, err, errlen);
	if (!r)
		r = snap_writer_open_mem(&w, &info, err, errlen);
	if (!r) {
		r = snap_add_sections(&w, vm, p, -1, &req, ctx, &out, err, errlen);
		if (r)
			snap_writer_abort(&w);
		else
			r = snap_writer_finish_mem(&w, buf, len, err, errlen);
	}
	*nested_running = out.nested_guest_running;
	snap_ctx_free(ctx, vm->ncpus);
	return r;
}
