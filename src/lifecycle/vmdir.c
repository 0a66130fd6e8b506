/* A VM's files and locks (see vmdir.h). */
#include "lifecycle/vmdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void vmdir_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* "<a>/vms/<b><suffix>" into out; -ENAMETOOLONG when it does not fit. */
static int vmdir_fmt(char *out, size_t len, const char *dir, const char *name,
		     const char *suffix)
{
	size_t a = strlen(dir), b = strlen(name), c = strlen(suffix);

	if (a + 1 + b + c >= len)
		return -ENAMETOOLONG;
	memcpy(out, dir, a);
	out[a] = '/';
	memcpy(out + a + 1, name, b);
	memcpy(out + a + 1 + b, suffix, c + 1);
	return 0;
}

int vm_paths_get(const char *state_dir, const char *name, struct vm_paths *p, char *err,
		 size_t errlen)
{
	int r = 0;

	memset(p, 0, sizeof(*p));
	char vms[VMDIR_PATH_MAX], locks[VMDIR_PATH_MAX];

	r |= vmdir_fmt(vms, sizeof(vms), state_dir, "vms", "");
	r |= vmdir_fmt(locks, sizeof(locks), state_dir, "locks", "");
	r |= vmdir_fmt(p->dir, sizeof(p->dir), vms, name, "");
	r |= vmdir_fmt(p->lock, sizeof(p->lock), vms, name, "/lock");
	r |= vmdir_fmt(p->oplock, sizeof(p->oplock), locks, name, ".lock");
	r |= vmdir_fmt(p->console_log, sizeof(p->console_log), vms, name, "/console.log");
	r |= vmdir_fmt(p->vmm_log, sizeof(p->vmm_log), vms, name, "/nestvm.log");
	if (r) {
		snprintf(err, errlen, "the state directory path %s is too long", state_dir);
		return -ENAMETOOLONG;
	}
	if (vmdir_fmt(p->api, sizeof(p->api), vms, name, "/api.sock") ||
	    vmdir_fmt(p->console, sizeof(p->console), vms, name, "/console.sock")) {
		snprintf(err, errlen, "the socket paths of '%s' under %s would be longer than "
			 "%d bytes (a Unix socket's limit): use a shorter --state-dir or "
			 "NESTVM_STATE_DIR", name, state_dir, VMDIR_SOCK_MAX - 1);
		return -ENAMETOOLONG;
	}
	return 0;
}

static int vmdir_mkdir(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
	return -errno;
}

int vm_dir_create(const struct vm_paths *p, char *err, size_t errlen)
{
	char parent[VMDIR_PATH_MAX];
	char *slash;
	int r;

	/* <state>/vms and <state>/locks, then <state>/vms/NAME. */
	snprintf(parent, sizeof(parent), "%s", p->dir);
	slash = strrchr(parent, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	r = vmdir_mkdir(parent, err, errlen);
	if (r)
		return r;
	snprintf(parent, sizeof(parent), "%s", p->oplock);
	slash = strrchr(parent, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	r = vmdir_mkdir(parent, err, errlen);
	return r ? r : vmdir_mkdir(p->dir, err, errlen);
}

void vm_dir_remove(const struct vm_paths *p)
{
	static const char *const files[] = {
		"lock", "api.sock", "console.sock", "console.log", "console.log.1", "nestvm.log",
		"nestvm.log.1",
	};
	char path[VMDIR_PATH_MAX + 32];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", p->dir, files[i]);
		unlink(path);
	}
	rmdir(p->dir);
}

int vm_oplock_take(const struct vm_paths *p, const char *name, int timeout_s, char *err,
		   size_t errlen)
{
	long waited = 0;
	bool said = false;
	int fd;

	fd = open(p->oplock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", p->oplock, strerror(errno));
		return -errno;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			snprintf(err, errlen, "cannot lock %s: %s", p->oplock, strerror(errno));
			close(fd);
			return -EIO;
		}
		if (waited >= (long)timeout_s * 1000) {
			snprintf(err, errlen, "another nestvm command has been working on '%s' for "
				 "%d s: try again when it is done", name, timeout_s);
			close(fd);
			return -ETIMEDOUT;
		}
		if (!said && waited >= 1000) {
			fprintf(stderr, "nestvm: waiting for another command on '%s' to finish\n",
				name);
			said = true;
		}
		vmdir_sleep_ms(50);
		waited += 50;
	}
	return fd;
}

int vm_live_lock(const struct vm_paths *p)
{
	int fd = open(p->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(fd);
		return e == EWOULDBLOCK ? -EWOULDBLOCK : -e;
	}
	return fd;
}

bool vm_process_alive(const struct vm_paths *p)
{
	int fd;

	if (access(p->lock, F_OK) != 0)
		return false;
	fd = vm_live_lock(p);
	if (fd >= 0) {
		close(fd);
		return false;
	}
	return fd == -EWOULDBLOCK;
}

bool vm_process_wait_gone(const struct vm_paths *p, long timeout_ms)
{
	for (long t = 0;; t += 50) {
		if (!vm_process_alive(p))
			return true;
		if (t >= timeout_ms)
			return false;
		vmdir_sleep_ms(50);
	}
}
