/* Actions for the VM process's main thread: Firecracker's split between
 * the API thread, which only parses, and the VMM thread, which acts.
 *
 * The API thread (libmicrohttpd's) turns a request into a struct
 * vmproc_action (what to do and its arguments), and action_queue_submit()
 * queues it, wakes the main thread through the queue's eventfd and waits
 * for the result. The main thread polls that eventfd next to its stop
 * eventfd and signalfd (vm_run's wait, through vm_set_control), takes the
 * actions one by one (action_queue_take), carries each out and posts its
 * result (action_queue_done). So the VM, its devices and the registry
 * record of its state are only ever changed by the main thread.
 *
 * The queue is open while a machine runs (action_queue_open); closing it
 * (between boots, at the end) answers what is still queued with
 * -ECANCELED. A submitter whose action was not taken within its timeout
 * withdraws it (-ETIMEDOUT: it never runs); one that was taken waits for
 * its result, which the main thread's own timeouts bound (vm_pause,
 * evloop_park, vm_nested_status).
 *
 * Threads: submit from any thread but the main one; take, done, open and
 * close on the main thread. */
#ifndef NESTVM_CONTROL_ACTIONS_H
#define NESTVM_CONTROL_ACTIONS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "api/api.h"

#define ACTION_SUBMIT_TIMEOUT_MS 15000
#define ACTION_ERR_MAX 512

enum vmproc_action_kind {
	VMPROC_ACT_DESCRIBE = 0,   /* GET /v1/vm: the VM as the process sees it */
	VMPROC_ACT_NESTED,         /* GET /v1/vm/nested: live nested status */
	VMPROC_ACT_PAUSE,          /* quiesce the machine */
	VMPROC_ACT_RESUME,
	VMPROC_ACT_SHUTDOWN,       /* the ACPI power button */
	VMPROC_ACT_POWEROFF,       /* end the VM now */
	VMPROC_ACT_STATE_ROUNDTRIP,/* every vCPU's and the VM's state read, loaded back, compared */
	VMPROC_ACT_SNAPSHOT,       /* save to a directory (snap below) */
	VMPROC_ACT_MIGRATE,        /* live migration (mig below) */
	VMPROC_ACT_COUNT
};

struct vmproc_action {
	enum vmproc_action_kind kind;
	/* SNAPSHOT's arguments (the API thread's checked request). */
	struct api_snapshot_req snap;
	/* MIGRATE's. */
	struct api_migrate_req mig;
	/* The result, set by the main thread. */
	int status;                /* 0, or an HTTP status (409, 500) */
	json_t *reply;             /* DESCRIBE / NESTED / STATE_ROUNDTRIP: a new reference, or NULL */
	char err[ACTION_ERR_MAX];  /* the message when status != 0 or reply is NULL */
	/* The queue's (under its lock). */
	bool taken, done;
	struct vmproc_action *next;
};

struct action_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;       /* CLOCK_MONOTONIC; broadcast when an action is done */
	int efd;                   /* readable while actions are queued */
	bool open;
	struct vmproc_action *head, *tail;
	unsigned long served;      /* actions done */
};

const char *vmproc_action_name(enum vmproc_action_kind k);

/* 0 or -errno. */
int action_queue_init(struct action_queue *q);
void action_queue_destroy(struct action_queue *q);
int action_queue_fd(const struct action_queue *q);

/* Queue `a` (kind and arguments set; the result is cleared here) and wait. 0: done, the
 * result is in a; -ECANCELED: the queue is closed or was closed before the
 * action was taken (not run); -ETIMEDOUT: not taken within timeout_ms
 * (withdrawn, not run). */
int action_queue_submit(struct action_queue *q, struct vmproc_action *a, int timeout_ms);

/* Main thread. take: the next queued action (NULL: none), marked taken;
 * empties the eventfd when the queue becomes empty. done: post the result
 * of an action that take returned. */
struct vmproc_action *action_queue_take(struct action_queue *q);
void action_queue_done(struct action_queue *q, struct vmproc_action *a);
/* Open: submits queue; closed: they fail with -ECANCELED, and so do the
 * actions still queued when it closes. */
void action_queue_set_open(struct action_queue *q, bool open);

#endif
