/* The in-place state round trip (x86/state_roundtrip.h). */
#include "x86/state_roundtrip.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x86/cpu_state.h"

#define X86_ROUNDTRIP_TIMEOUT_MS 5000

struct x86_roundtrip_ctx {
	struct x86_cpu_caps caps;
	struct x86_roundtrip_vcpu *out;
	struct x86_roundtrip_vm *vm_out;
};

/* vCPU 0: the VM's state, read, loaded, read again. */
static int x86_roundtrip_vm_state(struct vcpu *v, struct x86_roundtrip_vm *o, char *err,
				  size_t errlen)
{
	struct x86_vm_state a, b;
	size_t n = 0;
	int r;

	r = x86_vm_state_get(v->vm->vm_fd, v->fd, &a, err, errlen);
	if (!r)
		r = x86_vm_state_check(&a, err, errlen);
	if (!r)
		r = x86_vm_state_set(v->vm->vm_fd, v->fd, &a, X86_STATE_LOAD_RUNTIME,
				     &o->clock_written, err, errlen);
	if (!r)
		r = x86_vm_state_get(v->vm->vm_fd, v->fd, &b, err, errlen);
	if (!r)
		r = x86_vm_state_compare(&a, &b, &n, err, errlen);
	o->bytes_compared = n;
	o->tsc_khz = a.tsc_khz;
	o->done = r == 0;
	return r;
}

static void x86_roundtrip_note(struct x86_roundtrip_vcpu *o, const struct x86_vcpu_state *s)
{
	const struct kvm_nested_state *ns = (const void *)s->nested;

	o->nested_size = s->nested_size;
	if (s->nested_size) {
		o->guest_mode = (ns->flags & KVM_STATE_NESTED_GUEST_MODE) != 0;
		o->nested_format = ns->format;
	}
	o->nmsrs = s->nmsrs;
	o->nskipped = s->nskipped;
	o->first_skipped = s->nskipped ? s->skipped[0] : 0;
	o->xsave_size = s->xsave_size;
	o->sregs2 = (s->flags & X86_VCPU_HAS_SREGS2) != 0;
	o->xsave2 = (s->flags & X86_VCPU_HAS_XSAVE2) != 0;
}

/* A vcpu_call_fn: on the vCPU's own thread. */
static int x86_roundtrip_vcpu(struct vcpu *v, void *opaque, char *err, size_t errlen)
{
	struct x86_roundtrip_ctx *ctx = opaque;
	struct x86_roundtrip_vcpu *o = &ctx->out[v->index];
	struct x86_vcpu_state *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	size_t n = 0;
	int r = -ENOMEM;

	if (!a || !b) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	r = x86_vcpu_state_get(v->fd, &ctx->caps, a, err, errlen);
	if (r)
		goto out;
	x86_roundtrip_note(o, a);
	r = x86_vcpu_state_check(a, &ctx->caps, err, errlen);
	if (!r)
		r = x86_vcpu_state_set(v->fd, &ctx->caps, a, X86_STATE_LOAD_RUNTIME, err, errlen);
	if (!r)
		r = x86_vcpu_state_get(v->fd, &ctx->caps, b, err, errlen);
	if (!r)
		r = x86_vcpu_state_compare(a, b, &ctx->caps, &n, err, errlen);
	o->bytes_compared = n;
	if (!r && v->index == 0)
		r = x86_roundtrip_vm_state(v, ctx->vm_out, err, errlen);
out:
	free(a);
	free(b);
	return r;
}

int x86_state_roundtrip(struct vm *vm, struct x86_roundtrip_vcpu *out,
			struct x86_roundtrip_vm *vm_out, char *err, size_t errlen)
{
	struct x86_roundtrip_ctx *ctx = calloc(1, sizeof(*ctx));
	struct vcpu_call_result *res = calloc(vm->ncpus, sizeof(*res));
	bool paused_here = false;
	int r;

	memset(out, 0, vm->ncpus * sizeof(*out));
	memset(vm_out, 0, sizeof(*vm_out));
	if (!ctx || !res) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	r = x86_cpu_caps_probe(vm->kvm_fd, vm->vm_fd, &ctx->caps, err, errlen);
	if (r)
		goto out;
	ctx->out = out;
	ctx->vm_out = vm_out;
	r = vm_pause(vm);
	if (r && r != -EALREADY) {
		snprintf(err, errlen, "cannot pause the VM for it: %s",
			 r == -ECANCELED ? "the VM is stopping" : strerror(-r));
		goto out;
	}
	paused_here = r == 0;
	r = vm_vcpu_call_all(vm, x86_roundtrip_vcpu, ctx, X86_ROUNDTRIP_TIMEOUT_MS, res, err,
			     errlen);
	if (paused_here)
		vm_resume(vm);
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		out[i].answered = res[i].answered;
		out[i].rc = res[i].rc;
		snprintf(out[i].err, sizeof(out[i].err), "%s", res[i].err);
	}
out:
	free(ctx);
	free(res);
	return r;
}

static json_t *x86_roundtrip_vcpu_json(unsigned int i, const struct x86_roundtrip_vcpu *o)
{
	const char *fmt = !o->nested_size ? NULL :
		o->nested_format == KVM_STATE_NESTED_FORMAT_SVM ? "svm" :
		o->nested_format == KVM_STATE_NESTED_FORMAT_VMX ? "vmx" : "unknown";

	return json_pack("{s:i, s:I, s:b, s:s?, s:i, s:i, s:i, s:i, s:b, s:b}", "index", (int)i,
			 "bytes_compared", (json_int_t)o->bytes_compared, "guest_mode",
			 o->guest_mode, "nested_format", fmt, "nested_state_size",
			 (int)o->nested_size, "msr_count", (int)o->nmsrs, "msrs_skipped",
			 (int)o->nskipped, "xsave_size", (int)o->xsave_size, "sregs2", o->sregs2,
			 "xsave2", o->xsave2);
}

json_t *x86_state_roundtrip_json(struct vm *vm, char *err, size_t errlen)
{
	struct x86_roundtrip_vcpu *out = calloc(vm->ncpus, sizeof(*out));
	struct x86_roundtrip_vm vo;
	json_t *vcpus, *j = NULL;

	if (!out) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (x86_state_roundtrip(vm, out, &vo, err, errlen))
		goto done;
	vcpus = json_array();
	for (unsigned int i = 0; vcpus && i < vm->ncpus; i++)
		json_array_append_new(vcpus, x86_roundtrip_vcpu_json(i, &out[i]));
	j = json_pack("{s:b, s:o, s:{s:I, s:b, s:i}}", "ok", 1, "vcpus", vcpus, "vm",
		      "bytes_compared", (json_int_t)vo.bytes_compared, "clock_written",
		      vo.clock_written, "tsc_khz", (int)vo.tsc_khz);
	if (!j)
		snprintf(err, errlen, "out of memory");
done:
	free(out);
	return j;
}
