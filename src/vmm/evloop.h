/* The I/O thread: one epoll loop serving eventfds (virtqueue kicks from
 * ioeventfd, backend sockets). Device work that a guest notification starts
 * runs here, not on the vCPU threads, so a kick costs the guest no exit to
 * userspace. */
#ifndef NESTVM_VMM_EVLOOP_H
#define NESTVM_VMM_EVLOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef void (*evloop_fn)(void *opaque, int fd);

struct evloop_handler {
	int fd;
	evloop_fn fn;
	void *opaque;
	struct evloop_handler *next;
};

struct evloop {
	int epfd;
	int wake_efd;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	struct evloop_handler *handlers;
};

/* Add 1 to an eventfd's counter (a wake-up, a kick, an irqfd). A full
 * counter (EAGAIN) already means "signalled"; other errors are logged at
 * debug level. */
void evloop_signal_fd(int efd);

int evloop_init(struct evloop *l);
/* Call fn(opaque, fd) on the loop thread whenever fd is readable. */
int evloop_add(struct evloop *l, int fd, evloop_fn fn, void *opaque);
int evloop_start(struct evloop *l);
void evloop_stop(struct evloop *l);
void evloop_destroy(struct evloop *l);

#endif
