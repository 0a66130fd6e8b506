/* The action queue between the API thread and the main thread (actions.h). */
#include "control/actions.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "vmm/evloop.h"
#include "vmm/thread.h"

static const char *const action_names[VMPROC_ACT_COUNT] = {
	[VMPROC_ACT_DESCRIBE] = "describe",
	[VMPROC_ACT_NESTED] = "nested",
	[VMPROC_ACT_PAUSE] = "pause",
	[VMPROC_ACT_RESUME] = "resume",
	[VMPROC_ACT_SHUTDOWN] = "shutdown",
	[VMPROC_ACT_POWEROFF] = "poweroff",
	[VMPROC_ACT_STATE_ROUNDTRIP] = "state-roundtrip",
	[VMPROC_ACT_SNAPSHOT] = "snapshot",
	[VMPROC_ACT_MIGRATE] = "migrate",
};

const char *vmproc_action_name(enum vmproc_action_kind k)
{
	return (unsigned int)k < VMPROC_ACT_COUNT ? action_names[k] : "unknown";
}

int action_queue_init(struct action_queue *q)
{
	pthread_condattr_t ca;

	memset(q, 0, sizeof(*q));
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0)
		return -errno;
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);
	return 0;
}

void action_queue_destroy(struct action_queue *q)
{
	if (q->efd < 0)
		return;
	action_queue_set_open(q, false);
	close(q->efd);
	q->efd = -1;
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
}

int action_queue_fd(const struct action_queue *q)
{
	return q->efd;
}

static void action_drain(struct action_queue *q)
{
	uint64_t n;

	if (read(q->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
}

/* Under the lock: take `a` out of the queue if it is there. */
static bool action_unlink(struct action_queue *q, struct vmproc_action *a)
{
	struct vmproc_action *prev = NULL;

	for (struct vmproc_action *it = q->head; it; prev = it, it = it->next) {
		if (it != a)
			continue;
		if (prev)
			prev->next = it->next;
		else
			q->head = it->next;
		if (q->tail == it)
			q->tail = prev;
		it->next = NULL;
		if (!q->head)
			action_drain(q);
		return true;
	}
	return false;
}

int action_queue_submit(struct action_queue *q, struct vmproc_action *a, int timeout_ms)
{
	struct timespec deadline;
	int r = 0;

	a->status = 0;
	a->reply = NULL;
	a->err[0] = '\0';
	a->taken = a->done = false;
	a->next = NULL;
	deadline = vmm_deadline_ms(timeout_ms > 0 ? (unsigned int)timeout_ms : 0);
	pthread_mutex_lock(&q->lock);
	if (!q->open) {
		pthread_mutex_unlock(&q->lock);
		return -ECANCELED;
	}
	if (q->tail)
		q->tail->next = a;
	else
		q->head = a;
	q->tail = a;
	evloop_signal_fd(q->efd);
	while (!a->done && r == 0) {
		if (a->taken)
			r = pthread_cond_wait(&q->cond, &q->lock);   /* bounded by the main thread */
		else
			r = pthread_cond_timedwait(&q->cond, &q->lock, &deadline);
		if (r == ETIMEDOUT && a->taken)
			r = 0;
	}
	if (!a->done) {
		bool withdrawn = action_unlink(q, a);

		pthread_mutex_unlock(&q->lock);
		return withdrawn && r == ETIMEDOUT ? -ETIMEDOUT : -ECANCELED;
	}
	pthread_mutex_unlock(&q->lock);
	return a->status == -ECANCELED ? -ECANCELED : 0;
}

struct vmproc_action *action_queue_take(struct action_queue *q)
{
	struct vmproc_action *a;

	pthread_mutex_lock(&q->lock);
	a = q->head;
	if (a) {
		q->head = a->next;
		if (!q->head)
			q->tail = NULL;
		a->next = NULL;
		a->taken = true;
	}
	if (!q->head)
		action_drain(q);
	pthread_mutex_unlock(&q->lock);
	return a;
}

void action_queue_done(struct action_queue *q, struct vmproc_action *a)
{
	pthread_mutex_lock(&q->lock);
	a->done = true;
	q->served++;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void action_queue_set_open(struct action_queue *q, bool open)
{
	pthread_mutex_lock(&q->lock);
	q->open = open;
	if (!open) {
		/* Answer what is still queued: it will not run. */
		while (q->head) {
			struct vmproc_action *a = q->head;

			q->head = a->next;
			a->next = NULL;
			a->status = -ECANCELED;
			a->done = true;
		}
		q->tail = NULL;
		action_drain(q);
		pthread_cond_broadcast(&q->cond);
	}
	pthread_mutex_unlock(&q->lock);
}
