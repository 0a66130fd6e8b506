/* The control API: each running VM's nestvm process serves HTTP/1.1 with
 * JSON bodies on a Unix socket (<state dir>/vms/NAME/api.sock, mode 0600),
 * through libmicrohttpd; the CLI talks to it through libcurl. docs/api.md
 * lists every route.
 *
 *   GET  /v1/vm           the VM as its process sees it (api_ops.describe)
 *   GET  /v1/vm/nested    live nested-virtualization status (api_ops.nested)
 *   POST /v1/vm/actions   {"action": "pause"|"resume"|"shutdown"|"poweroff"
 *                          |"state-roundtrip"}
 *   POST /v1/vm/snapshot  {"dir": "/abs/dir", "stop": false, "with_disks": false}:
 *                         a snapshot (machine/snapshot.h) into a new or empty dir
 *
 * Like Firecracker's API thread, the server only parses requests and calls
 * api_ops; it never touches the VM itself. Every error is a JSON body
 * {"error": "...", "status": N}: 400 bad JSON or fields, 404 no such route,
 * 405 wrong method, 409 not allowed in the VM's current state, 413 body
 * over 64 KiB, 500 failure inside the VMM. */
#ifndef NESTVM_API_API_H
#define NESTVM_API_API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define API_BODY_MAX      (64 * 1024)
#define API_SOCKET_NAME   "api.sock"

enum api_action {
	API_ACTION_PAUSE = 0,     /* park the vCPUs */
	API_ACTION_RESUME,        /* run them again */
	API_ACTION_SHUTDOWN,      /* press the ACPI power button: the guest shuts down */
	API_ACTION_POWEROFF,      /* end the VM now, like pulling the plug */
	API_ACTION_STATE_ROUNDTRIP, /* check: every vCPU's and the VM's state read, loaded back,
				     * read again, compared (answers with data: action_data) */
	API_ACTION_COUNT
};

const char *api_action_name(enum api_action a);
int api_action_parse(const char *s, enum api_action *a);   /* 0 or -EINVAL */

#define API_SNAPSHOT_DIR_MAX 4096

struct api_snapshot_req {
	char dir[API_SNAPSHOT_DIR_MAX];  /* absolute */
	bool stop;                       /* leave the VM stopped (saved) */
	bool with_disks;                 /* copy the disk images into dir */
};

/* Parse and check a snapshot body: exactly {"dir": string, "stop"?: bool,
 * "with_disks"?: bool}, dir absolute and shorter than API_SNAPSHOT_DIR_MAX.
 * 0 or -EINVAL with a message. Pure. */
int api_snapshot_parse(const json_t *body, struct api_snapshot_req *out, char *err,
		       size_t errlen);

#define API_MIGRATE_TO_MAX 300

struct api_migrate_req {
	char to[API_MIGRATE_TO_MAX];     /* unix:PATH or tcp:HOST:PORT (transport/transport.h) */
	char psk_file[API_SNAPSHOT_DIR_MAX]; /* absolute, or empty */
	unsigned int max_downtime_ms;    /* 0: the default */
	unsigned int timeout_s;          /* 0: the default */
};

/* Parse and check a migrate body: exactly {"to": string, "psk_file"?:
 * string (absolute), "max_downtime_ms"?: 1..60000, "timeout_s"?:
 * 1..86400}. 0 or -EINVAL with a message. Pure. */
int api_migrate_parse(const json_t *body, struct api_migrate_req *out, char *err, size_t errlen);

/* What the VM process answers with. Called on the server's thread; the VM
 * process's implementation (src/control/vmproc_api.c) only turns the call
 * into an action for its main thread and waits for the result. */
struct api_ops {
	void *opaque;
	/* GET /v1/vm and GET /v1/vm/nested: a new JSON object, or NULL with a
	 * message in err (500). */
	json_t *(*describe)(void *opaque, char *err, size_t errlen);
	json_t *(*nested)(void *opaque, char *err, size_t errlen);
	/* POST /v1/vm/actions: 0 (200 with {"action", "state"} from describe's
	 * "state"), or an HTTP status (409, 500) with a message in err. */
	int (*action)(void *opaque, enum api_action a, char *err, size_t errlen);
	/* POST /v1/vm/actions for an action that answers with data
	 * (api_action_has_data): 0 with *out a new JSON object, whose members
	 * join the reply's {"action", "state"}; or an HTTP status with err.
	 * NULL: those actions answer 500. */
	int (*action_data)(void *opaque, enum api_action a, json_t **out, char *err,
			   size_t errlen);
	/* POST /v1/vm/snapshot (the body checked: dir absolute): 0 with *out a
	 * new JSON object (the reply), or an HTTP status with err. */
	/* POST /v1/vm/migrate (checked): 0 with *out when the VM runs at the
	 * destination, else an HTTP status with err. */
	int (*migrate)(void *opaque, const struct api_migrate_req *req, json_t **out, char *err,
		       size_t errlen);
	int (*snapshot)(void *opaque, const struct api_snapshot_req *req, json_t **out, char *err,
			size_t errlen);
};

/* Does this action answer through api_ops.action_data? */
int api_action_has_data(enum api_action a);

struct api_server;

/* Serve on `path`: an existing socket file there is replaced only if no one
 * answers on it (-EADDRINUSE otherwise); the socket is created with umask
 * 077 in force before bind() and is mode 0600. Threads: libmicrohttpd's
 * own. 0, or -errno with a message. */
int api_server_start(struct api_server **out, const char *path, const struct api_ops *ops,
		     char *err, size_t errlen);
/* Stop serving, wait for requests in flight, unlink the socket. */
void api_server_stop(struct api_server *s);

/* Client side (libcurl over the Unix socket). `body` may be NULL (GET).
 * On any HTTP answer returns 0 with *status and *reply (parsed JSON, or
 * NULL when the body was not JSON); -ECONNREFUSED / -ENOENT when nothing
 * listens there; -ETIMEDOUT after timeout_ms; -errno otherwise, with a
 * message in err. */
int api_client_request(const char *path, const char *method, const char *route,
		       const json_t *body, long timeout_ms, long *status, json_t **reply,
		       char *err, size_t errlen);

#endif
