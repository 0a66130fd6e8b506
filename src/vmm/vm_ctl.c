/* Pause, resume and the live nested status: requests from other threads
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

static struct timespec vm_ctl_deadline(unsigned int ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

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
	struct timespec deadline = vm_ctl_deadline(VM_PAUSE_TIMEOUT_MS);
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

/* Has every live vCPU answered request seq[i]? ctl_lock held. */
static bool vm_ctl_answered(struct vm *vm, const uint64_t *seq)
{
	for (unsigned int i = 0; i < vm->ncpus; i++)
		if (!vm->vcpus[i].exited && vm->vcpus[i].sample_done < seq[i])
			return false;
	return true;
}

/* Copy vCPU i's answer to out, or say why there is none; returns 0, or the
 * error to report. ctl_lock held. */
static int vm_ctl_collect(struct vm *vm, unsigned int i, uint64_t seq,
			  struct vcpu_nested_status *out, char *err, size_t errlen)
{
	const struct vcpu *v = &vm->vcpus[i];

	memset(out, 0, sizeof(*out));
	out->nested_state_supported = vm->nested_state_size > 0;
	if (v->sample_done < seq) {
		snprintf(err, errlen, "vCPU %u did not answer within %u ms%s", i,
			 VM_SAMPLE_TIMEOUT_MS, v->exited ? " (its thread has ended)" : "");
		return -ETIMEDOUT;
	}
	*out = v->sample.st;
	if (!out->sampled) {
		snprintf(err, errlen, "vCPU %u: %s: %s", i, v->sample.what ? v->sample.what : "?",
			 strerror(v->sample.error));
		return -EIO;
	}
	return 0;
}

int vm_nested_status(struct vm *vm, struct vcpu_nested_status *out, char *err, size_t errlen)
{
	struct timespec deadline = vm_ctl_deadline(VM_SAMPLE_TIMEOUT_MS);
	uint64_t *seq, runs;
	int r = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!vm->ctl_ready || !vm->vcpus)
		return -EINVAL;
	seq = calloc(vm->ncpus, sizeof(*seq));
	if (!seq)
		return -ENOMEM;
	pthread_mutex_lock(&vm->ctl_lock);
	if (vm_stopping(vm) || vm_ctl_on_vcpu(vm)) {
		r = vm_stopping(vm) ? -ECANCELED : -EDEADLK;
		snprintf(err, errlen, "%s", vm_stopping(vm) ? "the VM is stopping"
			 : "vm_nested_status called from a vCPU thread");
		pthread_mutex_unlock(&vm->ctl_lock);
		free(seq);
		return r;
	}
	for (unsigned int i = 0; i < vm->ncpus; i++)
		seq[i] = ++vm->vcpus[i].sample_req;
	vm_ctl_kick_all(vm);
	/* Parked vCPUs answer from their wait: wake them. */
	pthread_cond_broadcast(&vm->ctl_cond);
	while (!vm_ctl_answered(vm, seq) && !vm_stopping(vm))
		if (pthread_cond_timedwait(&vm->ctl_cond, &vm->ctl_lock, &deadline) == ETIMEDOUT)
			break;
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		char why[256];
		int e = vm_ctl_collect(vm, i, seq[i], &out[i], why, sizeof(why));

		if (e && !r) {
			r = e;
			snprintf(err, errlen, "%s", why);
		}
	}
	if (r && vm_stopping(vm)) {
		/* Not a slow vCPU: the VM stopped while we waited. */
		r = -ECANCELED;
		snprintf(err, errlen, "the VM stopped while being sampled");
	}
	pthread_mutex_unlock(&vm->ctl_lock);
	free(seq);
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
