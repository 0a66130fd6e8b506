#include "vmm/evloop.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

int evloop_init(struct evloop *l)
{
	memset(l, 0, sizeof(*l));
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	l->wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->wake_efd < 0)
		return -errno;
	return evloop_add(l, l->wake_efd, NULL, NULL);
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

static void *evloop_thread(void *arg)
{
	struct evloop *l = arg;
	struct epoll_event ev[16];

	while (!atomic_load(&l->stop)) {
		int n = epoll_wait(l->epfd, ev, 16, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (int i = 0; i < n && !atomic_load(&l->stop); i++) {
			struct evloop_handler *h = ev[i].data.ptr;
			if (h->fn)
				h->fn(h->opaque, h->fd);
		}
	}
	return NULL;
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
	if (l->wake_efd > 0)
		close(l->wake_efd);
	if (l->epfd > 0)
		close(l->epfd);
	l->wake_efd = l->epfd = -1;
}
