/* A defined VM's files under the state directory, and the two locks that
 * make its lifecycle safe:
 *
 *   <state dir>/nestvm.db           the registry (registry/registry.h)
 *   <state dir>/locks/NAME.lock     operation lock: one CLI command at a
 *                                   time on NAME (flock, waited for)
 *   <state dir>/vms/NAME/lock       liveness lock: held (flock LOCK_EX) by
 *                                   the VM's nestvm process for its whole
 *                                   life; free means no process, whatever
 *                                   the database says (kill -9 included)
 *   <state dir>/vms/NAME/api.sock   the control API (api/api.h), 0600
 *   <state dir>/vms/NAME/console.sock  the serial console, 0600
 *   <state dir>/vms/NAME/console.log   serial output (previous run: .1)
 *   <state dir>/vms/NAME/nestvm.log    the VM process's own messages
 */
#ifndef NESTVM_LIFECYCLE_VMDIR_H
#define NESTVM_LIFECYCLE_VMDIR_H

#include <stdbool.h>
#include <stddef.h>


#define VMDIR_PATH_MAX 4096
#define VMDIR_SOCK_MAX 108      /* sizeof(sockaddr_un.sun_path) */

struct vm_paths {
	char dir[VMDIR_PATH_MAX];
	char lock[VMDIR_PATH_MAX];
	char oplock[VMDIR_PATH_MAX];
	char api[VMDIR_SOCK_MAX];
	char console[VMDIR_SOCK_MAX];
	char console_log[VMDIR_PATH_MAX];
	char vmm_log[VMDIR_PATH_MAX];
};

/* Fill the paths. -ENAMETOOLONG (a socket path longer than sun_path) with
 * a message suggesting a shorter --state-dir. */
int vm_paths_get(const char *state_dir, const char *name, struct vm_paths *p, char *err,
		 size_t errlen);

/* mkdir -p the VM's directory and the locks directory, mode 0700. */
int vm_dir_create(const struct vm_paths *p, char *err, size_t errlen);
/* Remove the VM's directory and its files (the op lock file stays). */
void vm_dir_remove(const struct vm_paths *p);

/* Take the operation lock, waiting up to timeout_s (saying so on stderr
 * after a second). Returns the lock's fd (close it to release), or -errno:
 * -ETIMEDOUT with a message naming the VM. */
int vm_oplock_take(const struct vm_paths *p, const char *name, int timeout_s, char *err,
		   size_t errlen);

/* Open the liveness lock file and try to lock it. Returns the fd (now
 * holding the lock), -EWOULDBLOCK when a process holds it, or -errno. */
int vm_live_lock(const struct vm_paths *p);

/* Is there a VM process (is the liveness lock held)? */
bool vm_process_alive(const struct vm_paths *p);

/* Wait up to timeout_ms for the liveness lock to be released; true when it
 * was (the process is gone). */
bool vm_process_wait_gone(const struct vm_paths *p, long timeout_ms);

#endif
