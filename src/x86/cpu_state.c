/* Reading and loading an x86 vCPU's state (x86/cpu_state.h). */
#include "x86/cpu_state.h"

#include <errno.h>
#include <cpuid.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define X86_MSR_HV_VP_RUNTIME     0x40000010u
#define X86_MSR_HV_TIME_REF_COUNT 0x40000020u
#define X86_APIC_TMCCT            0x390u
#define X86_VMCB_SAVE_OFFSET      0x400u   /* struct vmcb: the control area's size */
#define X86_VMCB_SAVE_TR_ATTRIB   0x92u    /* vmcb_save_area.tr.attrib */
#define X86_SEG_ATTRIB_BUSY       0x02u    /* TSS type bit 1 */
#define X86_VMCB_SAVE_SYSENTER_ESP 0x230u  /* vmcb_save_area.sysenter_esp, then _eip at 0x238 */

static int x86_state_fail(char *err, size_t errlen, const char *what)
{
	int e = errno ? errno : EIO;

	snprintf(err, errlen, "%s: %s", what, strerror(e));
	return -e;
}

/* ---- what KVM offers ---- */

/* A KVM_GET_MSR_*INDEX_LIST of the system fd, malloc()ed; NULL with errno. */
static struct kvm_msr_list *x86_msr_list_get(int kvm_fd, unsigned long req)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *l;

	/* With room for none, KVM answers E2BIG and the count. */
	if (ioctl(kvm_fd, req, &probe) < 0 && errno != E2BIG)
		return NULL;
	l = calloc(1, sizeof(*l) + (size_t)probe.nmsrs * sizeof(l->indices[0]));
	if (!l)
		return NULL;
	l->nmsrs = probe.nmsrs;
	if (l->nmsrs && ioctl(kvm_fd, req, l) < 0) {
		free(l);
		return NULL;
	}
	return l;
}

static bool x86_caps_has_msr(const struct x86_cpu_caps *c, uint32_t index)
{
	for (uint32_t i = 0; i < c->nmsr_index; i++)
		if (c->msr_index[i] == index)
			return true;
	return false;
}

static int x86_caps_add_msr(struct x86_cpu_caps *c, uint32_t index, char *err, size_t errlen)
{
	if (x86_caps_has_msr(c, index))
		return 0;
	if (c->nmsr_index >= X86_STATE_MAX_MSRS) {
		snprintf(err, errlen, "KVM lists more than %d MSRs to save", X86_STATE_MAX_MSRS);
		return -E2BIG;
	}
	c->msr_index[c->nmsr_index++] = index;
	return 0;
}

static bool x86_msr_is_vmx(uint32_t index)
{
	return index >= X86_MSR_VMX_FIRST && index <= X86_MSR_VMX_LAST;
}

/* The host's CPU vendor: AuthenticAMD or HygonGenuine (both SVM). */
static bool x86_host_is_amd(void)
{
	unsigned int a, b, c, d;
	char v[13];

	if (!__get_cpuid(0, &a, &b, &c, &d))
		return false;
	memcpy(v, &b, 4);
	memcpy(v + 4, &d, 4);
	memcpy(v + 8, &c, 4);
	v[12] = '\0';
	return strcmp(v, "AuthenticAMD") == 0 || strcmp(v, "HygonGenuine") == 0;
}

int x86_cpu_caps_probe(int kvm_fd, int vm_fd, struct x86_cpu_caps *c, char *err, size_t errlen)
{
	struct kvm_msr_list *save, *feat;
	int r, n;

	memset(c, 0, sizeof(*c));
	c->amd = x86_host_is_amd();
	c->sregs2 = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SREGS2) > 0;
	c->xcrs = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;
	n = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	c->xsave2 = n > 0;
	c->xsave_size = n > X86_STATE_XSAVE_LEGACY ? (uint32_t)n : X86_STATE_XSAVE_LEGACY;
	if (c->xsave_size > X86_STATE_XSAVE_MAX) {
		snprintf(err, errlen, "KVM's XSAVE area has %u bytes, more than nestvm keeps (%d)",
			 c->xsave_size, X86_STATE_XSAVE_MAX);
		return -E2BIG;
	}
	n = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NESTED_STATE);
	c->nested_max = n >= (int)sizeof(struct kvm_nested_state) ? (uint32_t)n : 0;
	if (c->nested_max > X86_STATE_NESTED_MAX) {
		snprintf(err, errlen, "KVM's nested state has up to %u bytes, more than nestvm "
			 "keeps (%d)", c->nested_max, X86_STATE_NESTED_MAX);
		return -E2BIG;
	}
	save = x86_msr_list_get(kvm_fd, KVM_GET_MSR_INDEX_LIST);
	if (!save)
		return x86_state_fail(err, errlen, "KVM_GET_MSR_INDEX_LIST");
	r = 0;
	for (uint32_t i = 0; i < save->nmsrs && !r; i++)
		r = x86_caps_add_msr(c, save->indices[i], err, errlen);
	free(save);
	if (r)
		return r;
	/* The feature MSRs are the host's; of them, a vCPU has the VMX
	 * capability MSRs (Intel) and IA32_FEATURE_CONTROL as its own. */
	feat = x86_msr_list_get(kvm_fd, KVM_GET_MSR_FEATURE_INDEX_LIST);
	if (!feat)
		return 0; /* older KVM: no feature MSRs */
	r = 0;
	for (uint32_t i = 0; i < feat->nmsrs && !r; i++) {
		if (x86_msr_is_vmx(feat->indices[i])) {
			c->vmx = true;
			r = x86_caps_add_msr(c, feat->indices[i], err, errlen);
		}
	}
	if (!r && c->vmx)
		r = x86_caps_add_msr(c, X86_MSR_FEATURE_CONTROL, err, errlen);
	free(feat);
	return r;
}

/* ---- reading ---- */

struct x86_msr_buf {
	struct kvm_msrs hdr;
	struct kvm_msr_entry e[X86_STATE_MAX_MSRS];
};

/* Every MSR of caps' list that KVM reads; the others to skipped. KVM_GET_MSRS
 * stops at the first MSR it refuses: skip that one, go on after it. */
static int x86_vcpu_msrs_get(int fd, const struct x86_cpu_caps *c, struct x86_vcpu_state *s,
			     char *err, size_t errlen)
{
	struct x86_msr_buf *b = calloc(1, sizeof(*b));
	uint32_t pos = 0;
	int r = 0;

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	while (pos < c->nmsr_index) {
		uint32_t n = c->nmsr_index - pos;
		int got;

		memset(b, 0, sizeof(*b));
		b->hdr.nmsrs = n;
		for (uint32_t i = 0; i < n; i++)
			b->e[i].index = c->msr_index[pos + i];
		got = ioctl(fd, KVM_GET_MSRS, b);
		if (got < 0 || (uint32_t)got > n) {
			r = x86_state_fail(err, errlen, "KVM_GET_MSRS");
			break;
		}
		memcpy(&s->msrs[s->nmsrs], b->e, (size_t)got * sizeof(b->e[0]));
		s->nmsrs += (uint32_t)got;
		pos += (uint32_t)got;
		if (pos < c->nmsr_index) {
			if (s->nskipped < X86_STATE_MAX_SKIPPED)
				s->skipped[s->nskipped++] = c->msr_index[pos];
			pos++;
		}
	}
	free(b);
	return r;
}

int x86_vcpu_state_get(int fd, const struct x86_cpu_caps *c, struct x86_vcpu_state *s,
		       char *err, size_t errlen)
{
	int r;

	memset(s, 0, sizeof(*s));
	s->magic = X86_VCPU_STATE_MAGIC;
	s->version = X86_VCPU_STATE_VERSION;
	s->size = sizeof(*s);
	errno = 0;
	if (ioctl(fd, KVM_GET_REGS, &s->regs) < 0)
		return x86_state_fail(err, errlen, "KVM_GET_REGS");
	if (c->sregs2) {
		if (ioctl(fd, KVM_GET_SREGS2, &s->sregs2) < 0)
			return x86_state_fail(err, errlen, "KVM_GET_SREGS2");
		s->flags |= X86_VCPU_HAS_SREGS2;
	} else if (ioctl(fd, KVM_GET_SREGS, &s->sregs) < 0) {
		return x86_state_fail(err, errlen, "KVM_GET_SREGS");
	}
	if (c->xsave2) {
		if (ioctl(fd, KVM_GET_XSAVE2, (struct kvm_xsave *)(void *)s->xsave) < 0)
			return x86_state_fail(err, errlen, "KVM_GET_XSAVE2");
		s->flags |= X86_VCPU_HAS_XSAVE2;
		s->xsave_size = c->xsave_size;
	} else {
		if (ioctl(fd, KVM_GET_XSAVE, (struct kvm_xsave *)(void *)s->xsave) < 0)
			return x86_state_fail(err, errlen, "KVM_GET_XSAVE");
		s->xsave_size = X86_STATE_XSAVE_LEGACY;
	}
	if (c->xcrs) {
		if (ioctl(fd, KVM_GET_XCRS, &s->xcrs) < 0)
			return x86_state_fail(err, errlen, "KVM_GET_XCRS");
		s->flags |= X86_VCPU_HAS_XCRS;
	}
	r = x86_vcpu_msrs_get(fd, c, s, err, errlen);
	if (r)
		return r;
	if (ioctl(fd, KVM_GET_LAPIC, &s->lapic) < 0)
		return x86_state_fail(err, errlen, "KVM_GET_LAPIC");
	if (ioctl(fd, KVM_GET_VCPU_EVENTS, &s->events) < 0)
		return x86_state_fail(err, errlen, "KVM_GET_VCPU_EVENTS");
	if (ioctl(fd, KVM_GET_DEBUGREGS, &s->debugregs) < 0)
		return x86_state_fail(err, errlen, "KVM_GET_DEBUGREGS");
	if (ioctl(fd, KVM_GET_MP_STATE, &s->mp_state) < 0)
		return x86_state_fail(err, errlen, "KVM_GET_MP_STATE");
	if (c->nested_max) {
		struct kvm_nested_state *ns = (struct kvm_nested_state *)(void *)s->nested;

		ns->size = c->nested_max;
		if (ioctl(fd, KVM_GET_NESTED_STATE, ns) < 0)
			return x86_state_fail(err, errlen, "KVM_GET_NESTED_STATE");
		if (ns->size < sizeof(*ns) || ns->size > c->nested_max) {
			snprintf(err, errlen, "KVM_GET_NESTED_STATE answered %u bytes (at most %u)",
				 ns->size, c->nested_max);
			return -EIO;
		}
		/* Kept even when only the header: it holds VMXON or GIF. */
		s->nested_size = ns->size;
		s->flags |= X86_VCPU_HAS_NESTED;
	}
	return 0;
}

/* ---- checking ---- */

static bool x86_bytes_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static int x86_check_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int x86_check_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(err, errlen, "invalid vCPU state: ");
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int x86_vcpu_check_sizes(const struct x86_vcpu_state *s, const struct x86_cpu_caps *c,
				char *err, size_t errlen)
{
	if (s->flags & X86_VCPU_HAS_XSAVE2) {
		if (s->xsave_size < X86_STATE_XSAVE_LEGACY || s->xsave_size > X86_STATE_XSAVE_MAX)
			return x86_check_fail(err, errlen, "XSAVE size %u outside %d-%d",
					      s->xsave_size, X86_STATE_XSAVE_LEGACY,
					      X86_STATE_XSAVE_MAX);
		if (c && s->xsave_size > c->xsave_size)
			return x86_check_fail(err, errlen, "XSAVE size %u, this KVM takes %u",
					      s->xsave_size, c->xsave_size);
	} else if (s->xsave_size != X86_STATE_XSAVE_LEGACY) {
		return x86_check_fail(err, errlen, "XSAVE size %u without XSAVE2 (must be %d)",
				      s->xsave_size, X86_STATE_XSAVE_LEGACY);
	}
	if (!x86_bytes_zero(s->xsave + s->xsave_size, X86_STATE_XSAVE_MAX - s->xsave_size))
		return x86_check_fail(err, errlen, "data beyond the XSAVE size");
	if (!(s->flags & X86_VCPU_HAS_NESTED)) {
		if (s->nested_size)
			return x86_check_fail(err, errlen, "nested state size %u without nested state",
					      s->nested_size);
	} else {
		const struct kvm_nested_state *ns = (const void *)s->nested;

		if (s->nested_size < sizeof(*ns) || s->nested_size > X86_STATE_NESTED_MAX)
			return x86_check_fail(err, errlen, "nested state size %u outside %zu-%d",
					      s->nested_size, sizeof(*ns), X86_STATE_NESTED_MAX);
		if (ns->size != s->nested_size)
			return x86_check_fail(err, errlen, "nested state header says %u bytes, the "
					      "state %u", ns->size, s->nested_size);
		if (c && s->nested_size > c->nested_max)
			return x86_check_fail(err, errlen, "nested state of %u bytes, this KVM takes "
					      "%u at most", s->nested_size, c->nested_max);
	}
	if (!x86_bytes_zero(s->nested + s->nested_size, X86_STATE_NESTED_MAX - s->nested_size))
		return x86_check_fail(err, errlen, "data beyond the nested state size");
	return 0;
}

static int x86_vcpu_check_msrs(const struct x86_vcpu_state *s, char *err, size_t errlen)
{
	if (s->nmsrs > X86_STATE_MAX_MSRS)
		return x86_check_fail(err, errlen, "%u MSRs (at most %d)", s->nmsrs,
				      X86_STATE_MAX_MSRS);
	if (s->nskipped > X86_STATE_MAX_SKIPPED)
		return x86_check_fail(err, errlen, "%u skipped MSRs (at most %d)", s->nskipped,
				      X86_STATE_MAX_SKIPPED);
	for (uint32_t i = 0; i < s->nmsrs; i++) {
		if (s->msrs[i].reserved)
			return x86_check_fail(err, errlen, "MSR entry %u has reserved bits", i);
		for (uint32_t j = 0; j < i; j++)
			if (s->msrs[j].index == s->msrs[i].index)
				return x86_check_fail(err, errlen, "MSR 0x%x twice", s->msrs[i].index);
	}
	if (!x86_bytes_zero(&s->msrs[s->nmsrs], (X86_STATE_MAX_MSRS - s->nmsrs) *
			    sizeof(s->msrs[0])))
		return x86_check_fail(err, errlen, "data beyond the %u MSRs", s->nmsrs);
	if (!x86_bytes_zero(&s->skipped[s->nskipped], (X86_STATE_MAX_SKIPPED - s->nskipped) *
			    sizeof(s->skipped[0])))
		return x86_check_fail(err, errlen, "data beyond the %u skipped MSRs", s->nskipped);
	return 0;
}

int x86_vcpu_state_check(const struct x86_vcpu_state *s, const struct x86_cpu_caps *c,
			 char *err, size_t errlen)
{
	int r;

	if (s->magic != X86_VCPU_STATE_MAGIC)
		return x86_check_fail(err, errlen, "not a vCPU state (magic 0x%08x)", s->magic);
	if (s->version != X86_VCPU_STATE_VERSION)
		return x86_check_fail(err, errlen, "version %u, this nestvm reads version %d",
				      s->version, X86_VCPU_STATE_VERSION);
	if (s->size != sizeof(*s))
		return x86_check_fail(err, errlen, "size %u, expected %zu", s->size, sizeof(*s));
	if (s->flags & ~X86_VCPU_FLAGS_KNOWN)
		return x86_check_fail(err, errlen, "unknown flags 0x%x",
				      s->flags & ~X86_VCPU_FLAGS_KNOWN);
	if (c && (s->flags & X86_VCPU_HAS_SREGS2) && !c->sregs2)
		return x86_check_fail(err, errlen, "SREGS2 state, this KVM has no KVM_CAP_SREGS2");
	if ((s->flags & X86_VCPU_HAS_SREGS2) ? !x86_bytes_zero(&s->sregs, sizeof(s->sregs)) :
	    !x86_bytes_zero(&s->sregs2, sizeof(s->sregs2)))
		return x86_check_fail(err, errlen, "both SREGS and SREGS2 filled");
	if (s->flags & X86_VCPU_HAS_XCRS) {
		if (s->xcrs.nr_xcrs > KVM_MAX_XCRS)
			return x86_check_fail(err, errlen, "%u XCRs (at most %d)", s->xcrs.nr_xcrs,
					      KVM_MAX_XCRS);
		if (c && !c->xcrs)
			return x86_check_fail(err, errlen, "XCRS state, this KVM has no KVM_CAP_XCRS");
	} else if (!x86_bytes_zero(&s->xcrs, sizeof(s->xcrs))) {
		return x86_check_fail(err, errlen, "XCRs without the XCRS flag");
	}
	if (s->mp_state.mp_state > KVM_MP_STATE_SUSPENDED)
		return x86_check_fail(err, errlen, "MP state %u unknown", s->mp_state.mp_state);
	r = x86_vcpu_check_sizes(s, c, err, errlen);
	return r ? r : x86_vcpu_check_msrs(s, err, errlen);
}

/* ---- loading ---- */

/* KVM_SET_MSRS of the state's MSRs that `want` picks. */
static int x86_vcpu_msrs_set(int fd, const struct x86_vcpu_state *s,
			     bool (*want)(uint32_t index, const struct x86_cpu_caps *c,
					  enum x86_state_load how),
			     const struct x86_cpu_caps *c, enum x86_state_load how, char *err,
			     size_t errlen)
{
	struct x86_msr_buf *b = calloc(1, sizeof(*b));
	int r = 0, got;

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < s->nmsrs; i++)
		if (want(s->msrs[i].index, c, how))
			b->e[b->hdr.nmsrs++] = s->msrs[i];
	if (b->hdr.nmsrs) {
		errno = 0;
		got = ioctl(fd, KVM_SET_MSRS, b);
		if (got < 0)
			r = x86_state_fail(err, errlen, "KVM_SET_MSRS");
		else if ((uint32_t)got < b->hdr.nmsrs) {
			snprintf(err, errlen, "KVM_SET_MSRS: KVM refused MSR 0x%x (value 0x%llx)",
				 b->e[got].index, (unsigned long long)b->e[got].data);
			r = -EIO;
		}
	}
	free(b);
	return r;
}

/* VMX capability MSRs KVM derives and refuses from userspace (-EINVAL,
 * arch/x86/kvm/vmx/nested.c vmx_set_vmx_msr): the "non-true" controls
 * (PINBASED, PROCBASED, EXIT, ENTRY: generated from the TRUE_* ones, which
 * are loaded) and CR0/CR4_FIXED1 (from the vCPU's CPUID, set first). A
 * restore leaves them to KVM, as QEMU does. */
bool x86_msr_vmx_derived(uint32_t index)
{
	return (index >= 0x481 && index <= 0x484) || index == 0x487 || index == 0x489;
}

/* First (Intel): what nested state needs set before it. */
static bool x86_msr_early(uint32_t index, const struct x86_cpu_caps *c, enum x86_state_load how)
{
	if (!c->vmx)
		return false;
	if (index == X86_MSR_FEATURE_CONTROL)
		return true;
	return x86_msr_is_vmx(index) && how == X86_STATE_LOAD_FULL && !x86_msr_vmx_derived(index);
}

static bool x86_msr_late(uint32_t index, const struct x86_cpu_caps *c, enum x86_state_load how)
{
	if (c->vmx && (index == X86_MSR_FEATURE_CONTROL || x86_msr_is_vmx(index)))
		return false;  /* early, or (RUNTIME) not at all */
	return !(how == X86_STATE_LOAD_RUNTIME && index == X86_MSR_TSC);
}

int x86_vcpu_state_set(int fd, const struct x86_cpu_caps *c, const struct x86_vcpu_state *s,
		       enum x86_state_load how, char *err, size_t errlen)
{
	int r = x86_vcpu_state_check(s, c, err, errlen);

	if (r)
		return r;
	errno = 0;
	r = x86_vcpu_msrs_set(fd, s, x86_msr_early, c, how, err, errlen);
	if (r)
		return r;
	if (s->flags & X86_VCPU_HAS_SREGS2) {
		if (ioctl(fd, KVM_SET_SREGS2, &s->sregs2) < 0)
			return x86_state_fail(err, errlen, "KVM_SET_SREGS2");
	} else if (ioctl(fd, KVM_SET_SREGS, &s->sregs) < 0) {
		return x86_state_fail(err, errlen, "KVM_SET_SREGS");
	}
	/* SMM state before nested state (KVM checks nested state against it). */
	if (ioctl(fd, KVM_SET_VCPU_EVENTS, &s->events) < 0)
		return x86_state_fail(err, errlen, "KVM_SET_VCPU_EVENTS (before nested state)");
	if ((s->flags & X86_VCPU_HAS_NESTED) &&
	    ioctl(fd, KVM_SET_NESTED_STATE, (const struct kvm_nested_state *)(const void *)s->nested) < 0)
		return x86_state_fail(err, errlen, "KVM_SET_NESTED_STATE");
	if (ioctl(fd, KVM_SET_XSAVE, (const struct kvm_xsave *)(const void *)s->xsave) < 0)
		return x86_state_fail(err, errlen, "KVM_SET_XSAVE");
	if ((s->flags & X86_VCPU_HAS_XCRS) && ioctl(fd, KVM_SET_XCRS, &s->xcrs) < 0)
		return x86_state_fail(err, errlen, "KVM_SET_XCRS");
	if (ioctl(fd, KVM_SET_LAPIC, &s->lapic) < 0)
		return x86_state_fail(err, errlen, "KVM_SET_LAPIC");
	/* After the LAPIC: loading it clears the TSC deadline MSR. */
	r = x86_vcpu_msrs_set(fd, s, x86_msr_late, c, how, err, errlen);
	if (r)
		return r;
	if (ioctl(fd, KVM_SET_VCPU_EVENTS, &s->events) < 0)
		return x86_state_fail(err, errlen, "KVM_SET_VCPU_EVENTS");
	if (ioctl(fd, KVM_SET_MP_STATE, &s->mp_state) < 0)
		return x86_state_fail(err, errlen, "KVM_SET_MP_STATE");
	if (ioctl(fd, KVM_SET_DEBUGREGS, &s->debugregs) < 0)
		return x86_state_fail(err, errlen, "KVM_SET_DEBUGREGS");
	if (ioctl(fd, KVM_SET_REGS, &s->regs) < 0)
		return x86_state_fail(err, errlen, "KVM_SET_REGS");
	return 0;
}

/* ---- comparing ---- */

bool x86_msr_moves(uint32_t index)
{
	return index == X86_MSR_TSC || index == X86_MSR_HV_VP_RUNTIME ||
	       index == X86_MSR_HV_TIME_REF_COUNT;
}

/* The first differing byte of [a, a+n) and [b, b+n), or -1. */
static long x86_first_diff(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return (long)i;
	return -1;
}

#define X86_CMP(field, name)                                                              \
	do {                                                                              \
		long d_ = x86_first_diff(&a->field, &b->field, sizeof(a->field));        \
		*compared += sizeof(a->field);                                            \
		if (d_ >= 0) {                                                            \
			snprintf(err, errlen, "%s differs at byte %ld", name, d_);        \
			return -EIO;                                                      \
		}                                                                         \
	} while (0)

static int x86_vcpu_compare_lapic(const struct x86_vcpu_state *a, const struct x86_vcpu_state *b,
				  size_t *compared, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(a->lapic.regs); i++) {
		if (i >= X86_APIC_TMCCT && i < X86_APIC_TMCCT + 4)
			continue; /* the current count: computed from the time */
		(*compared)++;
		if (a->lapic.regs[i] != b->lapic.regs[i]) {
			snprintf(err, errlen, "LAPIC register byte 0x%zx: 0x%02x, then 0x%02x", i,
				 (uint8_t)a->lapic.regs[i], (uint8_t)b->lapic.regs[i]);
			return -EIO;
		}
	}
	return 0;
}

static int x86_vcpu_compare_msrs(const struct x86_vcpu_state *a, const struct x86_vcpu_state *b,
				 const struct x86_cpu_caps *c, size_t *compared, char *err,
				 size_t errlen)
{
	X86_CMP(nmsrs, "MSR count");
	X86_CMP(nskipped, "count of MSRs KVM refused");
	for (uint32_t i = 0; i < a->nskipped; i++)
		X86_CMP(skipped[i], "list of MSRs KVM refused");
	for (uint32_t i = 0; i < a->nmsrs; i++) {
		X86_CMP(msrs[i].index, "MSR list");
		uint64_t mask = ~0ull;

		if (x86_msr_moves(a->msrs[i].index))
			continue;
		if (c && c->amd && (a->msrs[i].index == X86_MSR_SYSENTER_ESP ||
				    a->msrs[i].index == X86_MSR_SYSENTER_EIP))
			mask = 0xffffffffull;
		*compared += mask == ~0ull ? sizeof(a->msrs[i].data) : 4;
		if ((a->msrs[i].data & mask) != (b->msrs[i].data & mask)) {
			snprintf(err, errlen, "MSR 0x%x: 0x%llx, then 0x%llx", a->msrs[i].index,
				 (unsigned long long)a->msrs[i].data,
				 (unsigned long long)b->msrs[i].data);
			return -EIO;
		}
	}
	return 0;
}

/* May byte `off` of two SVM nested states in guest mode differ as x ^ y?
 * - the busy bit (type bit 1) of TR's attributes in the saved VMCB (data.svm:
 *   control area, then the save area, TR at 0x90): KVM keeps the
 *   VMLOAD/VMSAVE state (TR among it) in vmcb01 while L2 runs too, and
 *   reports and loads TR through SREGS with the busy bit forced on, so
 *   loading SREGS2 sets it where the CPU left it clear;
 * - the upper 32 bits of SYSENTER_ESP/EIP there: as for the MSRs, KVM on AMD
 *   keeps only the low 32 bits of a value nestvm writes (the CPU never uses
 *   the rest outside legacy mode). */
static bool x86_nested_may_differ(size_t off, uint8_t x)
{
	size_t save = sizeof(struct kvm_nested_state) + X86_VMCB_SAVE_OFFSET;

	if (off == save + X86_VMCB_SAVE_TR_ATTRIB)
		return (x & ~X86_SEG_ATTRIB_BUSY) == 0;
	return (off >= save + X86_VMCB_SAVE_SYSENTER_ESP + 4 &&
		off < save + X86_VMCB_SAVE_SYSENTER_ESP + 8) ||
	       (off >= save + X86_VMCB_SAVE_SYSENTER_ESP + 12 &&
		off < save + X86_VMCB_SAVE_SYSENTER_ESP + 16);
}

/* The first differing byte of the nested states, or -1 (on SVM in guest
 * mode, leaving out what x86_nested_may_differ allows). */
static long x86_vcpu_compare_nested(const struct x86_vcpu_state *a,
				    const struct x86_vcpu_state *b)
{
	const struct kvm_nested_state *ns = (const void *)a->nested;
	bool svm_guest = ns->format == KVM_STATE_NESTED_FORMAT_SVM &&
			 (ns->flags & KVM_STATE_NESTED_GUEST_MODE);
	long d = x86_first_diff(a->nested, b->nested, a->nested_size);

	while (d >= 0 && svm_guest &&
	       x86_nested_may_differ((size_t)d, (uint8_t)(a->nested[d] ^ b->nested[d]))) {
		long rest = x86_first_diff(a->nested + d + 1, b->nested + d + 1,
					   a->nested_size - (size_t)d - 1);

		d = rest < 0 ? -1 : d + 1 + rest;
	}
	return d;
}

int x86_vcpu_state_compare(const struct x86_vcpu_state *a, const struct x86_vcpu_state *b,
			   const struct x86_cpu_caps *caps, size_t *compared, char *err,
			   size_t errlen)
{
	long d;
	int r;

	*compared = 0;
	X86_CMP(magic, "magic");
	X86_CMP(version, "version");
	X86_CMP(size, "size");
	X86_CMP(flags, "flags");
	X86_CMP(xsave_size, "XSAVE size");
	X86_CMP(nested_size, "nested state size");
	X86_CMP(regs, "REGS");
	if (a->flags & X86_VCPU_HAS_SREGS2)
		X86_CMP(sregs2, "SREGS2");
	else
		X86_CMP(sregs, "SREGS");
	if (a->flags & X86_VCPU_HAS_XCRS)
		X86_CMP(xcrs, "XCRS");
	r = x86_vcpu_compare_lapic(a, b, compared, err, errlen);
	if (r)
		return r;
	X86_CMP(events, "VCPU_EVENTS");
	X86_CMP(debugregs, "DEBUGREGS");
	X86_CMP(mp_state, "MP_STATE");
	r = x86_vcpu_compare_msrs(a, b, caps, compared, err, errlen);
	if (r)
		return r;
	d = x86_first_diff(a->xsave, b->xsave, a->xsave_size);
	*compared += a->xsave_size;
	if (d >= 0) {
		snprintf(err, errlen, "XSAVE differs at byte %ld", d);
		return -EIO;
	}
	d = x86_vcpu_compare_nested(a, b);
	*compared += a->nested_size;
	if (d >= 0) {
		snprintf(err, errlen, "nested state differs at byte %ld (of %u)", d, a->nested_size);
		return -EIO;
	}
	return 0;
}

int x86_vcpu_tsc_khz_set(int vcpu_fd, uint32_t khz, char *err, size_t errlen)
{
	errno = 0;
	if (ioctl(vcpu_fd, KVM_SET_TSC_KHZ, (unsigned long)khz) < 0)
		return x86_state_fail(err, errlen, "KVM_SET_TSC_KHZ");
	return 0;
}
