#include "vmm/evloop.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/thread.h"

void evloop_signal_fd(int efd)
{
	uint64_t one = 1;

	if (write(efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("eventfd %d: write: %s", efd, strerror(errno));
}

/* The wake-up eventfd's handler: only empty it (the loop then looks at
 * its stop and park flags). */
static void evloop_wake_drain(void *opaque, int fd)
{
	uint64_t n;

	(void)opaque;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("evloop: wake eventfd: read: %s", strerror(errno));
}

int evloop_init(struct evloop *l)
{
	pthread_condattr_t ca;

	memset(l, 0, sizeof(*l));
	l->epfd = l->wake_efd = -1;
	pthread_mutex_init(&l->park_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->park_cond, &ca);
	pthread_condattr_destroy(&ca);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	l->wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->wake_efd < 0)
		return -errno;
	return evloop_add(l, l->wake_efd, evloop_wake_drain, NULL);
}

int evloop_add(struct evloop *l, int fd, evloop_fn fn, void *opaque)
{
	struct evloop_handler *h = calloc(1, sizeof(*h));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!h)
		return -ENOMEM;
	h->fd = fd;
	h->fn = fn;
	h->opaque = opaque;
	ev.data.ptr = h;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		free(h);
		return -e;
	}
	h->next = l->handlers;
	l->handlers = h;
	return 0;
}

/* The loop thread's parking place: acknowledge, then sleep until
 * unparked or stopped. */
static void evloop_park_here(struct evloop *l)
{
	pthread_mutex_lock(&l->park_lock);
	if (atomic_load(&l->park_req) && !atomic_load(&l->stop)) {
		l->parked = true;
		l->parks++;
		pthread_cond_broadcast(&l->park_cond);
		while (atomic_load(&l->park_req) && !atomic_load(&l->stop))
			pthread_cond_wait(&l->park_cond, &l->park_lock);
		l->parked = false;
		pthread_cond_broadcast(&l->park_cond);
	}
	pthread_mutex_unlock(&l->park_lock);
}

static void *evloop_thread(void *arg)
{
	struct evloop *l = arg;
	struct epoll_event ev[16];

	while (!atomic_load(&l->stop)) {
		int n;

		if (atomic_load(&l->park_req))
			evloop_park_here(l);
		n = epoll_wait(l->epfd, ev, 16, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (int i = 0; i < n && !atomic_load(&l->stop); i++) {
			struct evloop_handler *h = ev[i].data.ptr;

			/* Between two handlers: a park request stops the batch
			 * here; the events not served are level-triggered and
			 * come back from the next epoll_wait. */
			if (atomic_load(&l->park_req))
				break;
			if (h->fn)
				h->fn(h->opaque, h->fd);
		}
	}
	return NULL;
}

int evloop_park(struct evloop *l, int timeout_ms)
{
	struct timespec deadline;
	int r = 0;

	if (l->started && pthread_equal(pthread_self(), l->thread))
		return -EDEADLK;
	pthread_mutex_lock(&l->park_lock);
	if (atomic_load(&l->park_req)) {
		pthread_mutex_unlock(&l->park_lock);
		return -EALREADY;
	}
	atomic_store(&l->park_req, true);
	if (!l->started || atomic_load(&l->stop)) {
		pthread_mutex_unlock(&l->park_lock);
		return 0;           /* no loop thread: nothing runs handlers */
	}
	evloop_signal_fd(l->wake_efd);
	deadline = vmm_deadline_ms(timeout_ms > 0 ? (unsigned int)timeout_ms : 0);
	while (!l->parked && !atomic_load(&l->stop) && r == 0)
		r = pthread_cond_timedwait(&l->park_cond, &l->park_lock, &deadline);
	if (!l->parked && !atomic_load(&l->stop)) {
		/* Withdrawn: the loop never saw it, or will find it cleared. */
		atomic_store(&l->park_req, false);
		pthread_cond_broadcast(&l->park_cond);
		r = -ETIMEDOUT;
	} else {
		r = 0;              /* parked, or stopped: no handler runs either way */
	}
	pthread_mutex_unlock(&l->park_lock);
	return r;
}

int evloop_unpark(struct evloop *l)
{
	pthread_mutex_lock(&l->park_lock);
	if (!atomic_load(&l->park_req)) {
		pthread_mutex_unlock(&l->park_lock);
		return -EALREADY;
	}
	atomic_store(&l->park_req, false);
	pthread_cond_broadcast(&l->park_cond);
	while (l->parked)
		pthread_cond_wait(&l->park_cond, &l->park_lock);
	pthread_mutex_unlock(&l->park_lock);
	return 0;
}

bool evloop_is_parked(struct evloop *l)
{
	bool p;

	pthread_mutex_lock(&l->park_lock);
	p = l->parked || (atomic_load(&l->park_req) && !l->started);
	pthread_mutex_unlock(&l->park_lock);
	return p;
}

int evloop_start(struct evloop *l)
{
	int r = vmm_thread_create(&l->thread, evloop_thread, l);
	if (r)
		return -r;
	l->started = true;
	return 0;
}

void evloop_stop(struct evloop *l)
{
	if (!l->started)
		return;
	atomic_store(&l->stop, true);
	/* A parked loop sleeps on park_cond: wake it under the lock, so it
	 * cannot check the flag and then miss the broadcast. */
	pthread_mutex_lock(&l->park_lock);
	pthread_cond_broadcast(&l->park_cond);
	pthread_mutex_unlock(&l->park_lock);
	evloop_signal_fd(l->wake_efd);
	pthread_join(l->thread, NULL);
	l->started = false;
}

void evloop_destroy(struct evloop *l)
{
	evloop_stop(l);
	while (l->handlers) {
		struct evloop_handler *h = l->handlers;
		l->handlers = h->next;
		free(h);
	}
	if (l->wake_efd >= 0)
		close(l->wake_efd);
	if (l->epfd >= 0)
		close(l->epfd);
	l->wake_efd = l->epfd = -1;
	pthread_cond_destroy(&l->park_cond);
	pthread_mutex_destroy(&l->park_lock);
}
