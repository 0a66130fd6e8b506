/* The I/O thread: one epoll loop serving eventfds (virtqueue kicks from
 * ioeventfd, backend sockets). Device work that a guest notification starts
 * runs here, not on the vCPU threads, so a kick costs the guest no exit to
 * userspace.
 *
 * Parking (the quiesce point, src/machine/quiesce.h): evloop_park() from
 * any other thread asks the loop thread to stop calling handlers; the loop
 * finishes the handler it is in (if any), acknowledges, and sleeps until
 * evloop_unpark() or evloop_stop(). evloop_park() returns only once the
 * loop is parked, so after it no handler runs and none is running. Events
 * that arrive meanwhile stay pending (the fds are level-triggered) and are
 * served after unpark. */
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
	/* Parking: park_req and parked under park_lock; park_cond (monotonic
	 * clock) is broadcast on every change of either, and by evloop_stop. */
	pthread_mutex_t park_lock;
	pthread_cond_t park_cond;
	atomic_bool park_req;    /* also read without the lock, between handlers */
	bool parked;             /* the loop thread sleeps in its parking place */
	unsigned long parks;     /* times it parked (tests, logs) */
};

#define EVLOOP_PARK_TIMEOUT_MS 5000

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

/* Park the loop thread: returns once it is parked (the handler it was in,
 * if any, has returned). 0; 0 at once when the loop thread is not running
 * (nothing to park: evloop_unpark then only clears the request); -EALREADY
 * when already parked or being parked; -EDEADLK from the loop thread
 * itself; -ETIMEDOUT when the running handler did not return within
 * timeout_ms (the request is withdrawn: the loop goes on). */
int evloop_park(struct evloop *l, int timeout_ms);
/* Let a parked loop run again; returns once the loop thread has left its
 * parking place (or at once when it is not running). 0; -EALREADY when not
 * parked. */
int evloop_unpark(struct evloop *l);
bool evloop_is_parked(struct evloop *l);

#endif
