/* Pause, resume, calls run on each vCPU's own thread (vm_vcpu_call_all)
 * and the live nested status built on them: requests from other threads
 * (the API server's, the console's) to the vCPU threads.
 *
 * One mutex (vm->ctl_lock) and one condition variable (vm->ctl_cond, on the
 * monotonic clock) carry every request: the requester changes the shared
 * state under the lock, kicks the vCPUs that are in their loop (still under
 * the lock, see vcpu_service for why that closes the race with
 * immediate_exit), and waits on the condition with a deadline. vCPU threads
 * answer between two KVM_RUNs (vcpu.c: vcpu_service) and broadcast. The
 * stop protocol broadcasts too (vm_run), so nothing sleeps through a stop.
 */
#include "vmm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmm/kvm_stats.h"
#include "vmm/thread.h"

/* Is the calling thread one of this VM's vCPU threads? (It would wait for
 * itself.) ctl_lock held. */
static bool vm_ctl_on_vcpu(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].running && pthread_equal(vm->vcpus[i].thread, pthread_self()))
			return true;
	return false;
}

/* Kick every vCPU whose thread is in its loop; ctl_lock held. One that has
 * not started yet sees the request when it does. */
static void vm_ctl_kick_all(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].running)
			vcpu_kick(&vm->vcpus[i]);
}

/* vCPUs that can still park: all but those whose thread has left. */
static unsigned int vm_ctl_live(struct vm *vm)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < vm->ncpus; i++)
		n += !vm->vcpus[i].exited;
	return n;
}

int vm_pause(struct vm *vm)
{
	struct timespec deadline = vmm_deadline_ms(VM_PAUSE_TIMEOUT_MS);
	int r = 0;

	if (!vm->ctl_ready)
		return -EINVAL;
	pthread_mutex_lock(&vm->ctl_lock);
	if (vm_stopping(vm))
		r = -ECANCELED;
	else if (vm->paused)
		r = -EALREADY;
	else if (vm_ctl_on_vcpu(vm))
		r = -EDEADLK;
	if (r) {
		pthread_mutex_unlock(&vm->ctl_lock);
		return r;
	}
	vm->paused = true;
	vm_ctl_kick_all(vm);
	while (vm->nparked < vm_ctl_live(vm) && !vm_stopping(vm)) {
		if (pthread_cond_timedwait(&vm->ctl_cond, &vm->ctl_lock, &deadline) == ETIMEDOUT &&
		    vm->nparked < vm_ctl_live(vm)) {
			/* Undo it rather than leave a half-paused VM behind. */
			vm->paused = false;
			pthread_cond_broadcast(&vm->ctl_cond);
			r = -ETIMEDOUT;
			break;
		}
	}
	if (!r && vm_stopping(vm))
		r = -ECANCELED;
	pthread_mutex_unlock(&vm->ctl_lock);
	return r;
}

int vm_resume(struct vm *vm)
{
	int r = 0;

	if (!vm->ctl_ready)
		return -EINVAL;
	pthread_mutex_lock(&vm->ctl_lock);
	if (!vm->paused) {
		r = -EALREADY;
	} else {
		vm->paused = false;
		pthread_cond_broadcast(&vm->ctl_cond);
	}
	pthread_mutex_unlock(&vm->ctl_lock);
	return r;
}

bool vm_is_paused(struct vm *vm)
{
	bool p;

	if (!vm->ctl_ready)
		return false;
	pthread_mutex_lock(&vm->ctl_lock);
	p = vm->paused;
	pthread_mutex_unlock(&vm->ctl_lock);
	return p;
}

/* Is every call finished (ran, or withdrawn)? A posted call of a vCPU
 * whose thread has ended never runs: withdraw it. ctl_lock held. */
static bool vm_ctl_calls_finished(struct vm *vm, struct vcpu_call *calls)
{
	bool all = true;

	for (unsigned int i = 0; i < vm->ncpus; i++) {
		if (calls[i].state == VCPU_CALL_POSTED && vm->vcpus[i].exited) {
			vm->vcpus[i].call = NULL;
			calls[i].state = VCPU_CALL_WITHDRAWN;
		}
		if (calls[i].state == VCPU_CALL_POSTED || calls[i].state == VCPU_CALL_RUNNING)
			all = false;
	}
	return all;
}

/* Withdraw the calls no vCPU has taken, and wait for those running to end
 * (they are in ioctls, off KVM_RUN: they end). ctl_lock held. */
static void vm_ctl_calls_settle(struct vm *vm, struct vcpu_call *calls)
{
	bool running;

	do {
		running = false;
		for (unsigned int i = 0; i < vm->ncpus; i++) {
			if (calls[i].state == VCPU_CALL_POSTED) {
				vm->vcpus[i].call = NULL;
				calls[i].state = VCPU_CALL_WITHDRAWN;
			}
			running |= calls[i].state == VCPU_CALL_RUNNING;
		}
		if (running)
			pthread_cond_wait(&vm->ctl_cond, &vm->ctl_lock);
	} while (running);
}

/* Wait for the VM's call slot; ctl_lock held. 0, -EBUSY, -ECANCELED. */
static int vm_ctl_call_slot(struct vm *vm, const struct timespec *deadline)
{
	while (vm->call_busy && !vm_stopping(vm))
		if (pthread_cond_timedwait(&vm->ctl_cond, &vm->ctl_lock, deadline) == ETIMEDOUT &&
		    vm->call_busy)
			return -EBUSY;
	if (vm_stopping(vm))
		return -ECANCELED;
	vm->call_busy = true;
	return 0;
}

/* Each vCPU's answer to res[i]; the first failure to err. ctl_lock held. */
static int vm_ctl_calls_collect(struct vm *vm, const struct vcpu_call *calls,
				unsigned int timeout_ms, struct vcpu_call_result *res, char *err,
				size_t errlen)
{
	int r = 0;

	for (unsigned int i = 0; i < vm->ncpus; i++) {
		struct vcpu_call_result one;

		memset(&one, 0, sizeof(one));
		one.answered = calls[i].state == VCPU_CALL_DONE;
		if (one.answered) {
			one.rc = calls[i].rc;
			snprintf(one.err, sizeof(one.err), "%s", calls[i].err);
		} else {
			one.rc = -ETIMEDOUT;
			snprintf(one.err, sizeof(one.err), "did not answer within %u ms%s",
				 timeout_ms, vm->vcpus[i].exited ? " (its thread has ended)" : "");
		}
		if (one.rc && !r) {
			r = one.rc;
			snprintf(err, errlen, "vCPU %u%s%s", i, one.answered ? ": " : " ",
				 one.err[0] ? one.err : strerror(-one.rc));
		}
		if (res)
			res[i] = one;
	}
	return r;
}

int vm_vcpu_call_all(struct vm *vm, vcpu_call_fn fn, void *opaque, unsigned int timeout_ms,
		     struct vcpu_call_result *res, char *err, size_t errlen)
{
	struct timespec deadline = vmm_deadline_ms(timeout_ms);
	struct vcpu_call *calls;
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!vm->ctl_ready || !vm->vcpus || !fn)
		return -EINVAL;
	calls = calloc(vm->ncpus, sizeof(*calls));
	if (!calls)
		return -ENOMEM;
	pthread_mutex_lock(&vm->ctl_lock);
	if (vm_ctl_on_vcpu(vm)) {
		snprintf(err, errlen, "a vCPU call made from a vCPU thread");
		r = -EDEADLK;
		goto out;
	}
	r = vm_ctl_call_slot(vm, &deadline);
	if (r) {
		snprintf(err, errlen, "%s", r == -EBUSY ? "another vCPU call is in flight" :
			 "the VM is stopping");
		goto out;
	}
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		calls[i].fn = fn;
		calls[i].opaque = opaque;
		calls[i].state = VCPU_CALL_WITHDRAWN;
		if (!vm->vcpus[i].exited) {
			calls[i].state = VCPU_CALL_POSTED;
			vm->vcpus[i].call = &calls[i];
		}
	}
	vm_ctl_kick_all(vm);
	/* Parked vCPUs answer from their wait: wake them. */
	pthread_cond_broadcast(&vm->ctl_cond);
	while (!vm_ctl_calls_finished(vm, calls) && !vm_stopping(vm))
		if (pthread_cond_timedwait(&vm->ctl_cond, &vm->ctl_lock, &deadline) == ETIMEDOUT)
			break;
	vm_ctl_calls_settle(vm, calls);
	r = vm_ctl_calls_collect(vm, calls, timeout_ms, res, err, errlen);
	if (r == -ETIMEDOUT && vm_stopping(vm)) {
		/* Not a slow vCPU: the VM stopped while we waited. */
		r = -ECANCELED;
		snprintf(err, errlen, "the VM stopped during the vCPU call");
	}
	vm->call_busy = false;
	pthread_cond_broadcast(&vm->ctl_cond);
out:
	pthread_mutex_unlock(&vm->ctl_lock);
	free(calls);
	return r;
}

int vm_nested_status(struct vm *vm, struct vcpu_nested_status *out, char *err, size_t errlen)
{
	struct vcpu_call_result *res;
	uint64_t runs;
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!vm->ctl_ready || !vm->vcpus)
		return -EINVAL;
	res = calloc(vm->ncpus, sizeof(*res));
	if (!res)
		return -ENOMEM;
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].nested_state_supported = vm->nested_state_size > 0;
	}
	r = vm_vcpu_call_all(vm, vcpu_sample_nested, out, VM_SAMPLE_TIMEOUT_MS, res, err, errlen);
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		if (!res[i].answered || res[i].rc) {
			/* Whatever a failed or absent sample left: not sampled. */
			memset(&out[i], 0, sizeof(out[i]));
			out[i].nested_state_supported = vm->nested_state_size > 0;
		}
	}
	free(res);
	/* The statistics need no kick: read them here. */
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		const struct vcpu *v = &vm->vcpus[i];

		if (kvm_stats_read(v->stats_fd, v->stat_nested_run, &runs) == 0)
			out[i].nested_runs = runs;
		else
			out[i].nested_runs = UINT64_MAX;
		if (kvm_stats_read(v->stats_fd, v->stat_guest_mode, &runs) == 0)
			out[i].guest_mode_stat = runs != 0;
		else
			out[i].guest_mode_stat = -1;
	}
	return r;
}

int vm_nested_runs(struct vm *vm, uint64_t *out)
{
	bool any = false;

	for (unsigned int i = 0; vm->vcpus && i < vm->ncpus; i++) {
		const struct vcpu *v = &vm->vcpus[i];

		if (kvm_stats_read(v->stats_fd, v->stat_nested_run, &out[i]) == 0)
			any = true;
		else
			out[i] = UINT64_MAX;
	}
	return any ? 0 : -ENOTSUP;
}
