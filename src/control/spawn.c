/* Launching the VM process (see spawn.h). */
#include "control/spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control/vmproc.h"
#include "machine/migrate.h"

/* Rotate the VM process's own log, then make it stdout and stderr. */
static int spawn_child_stdio(const struct vm_paths *p)
{
	char old[VMDIR_PATH_MAX + 4];
	int in, out;

	snprintf(old, sizeof(old), "%s.1", p->vmm_log);
	rename(p->vmm_log, old);
	in = open("/dev/null", O_RDONLY);
	out = open(p->vmm_log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		return -1;
	close(in);
	close(out);
	return 0;
}

/* What exec would have done to the CLI's descriptors: every one marked
 * close-on-exec is closed (the registry, the operation lock), except keep. */
static void spawn_close_cloexec(int keep)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int self = d ? dirfd(d) : -1;

	while (d && (de = readdir(d))) {
		int fd = atoi(de->d_name);
		int fl = de->d_name[0] >= '0' && de->d_name[0] <= '9' ? fcntl(fd, F_GETFD) : -1;

		if (fd > 2 && fd != self && fd != keep && fl >= 0 && (fl & FD_CLOEXEC))
			close(fd);
	}
	if (d)
		closedir(d);
}

/* The grandchild of an incoming migration: it goes on in this process
 * (the stream's TLS session lives in its memory: exec would lose it) as
 * the VM process would after exec. */
static void spawn_incoming(const char *state_dir, const struct vm_paths *paths, const char *name,
			   int ready_fd, int live_fd, const struct vmproc_restore *rs)
{
	struct vmproc_args a = {
		.state_dir = state_dir, .name = name, .ready_fd = ready_fd, .lock_fd = live_fd,
		.incoming = rs->incoming,
	};
	const char *msg = "ERR 4 cannot start the VM process: its log\n";

	if (spawn_child_stdio(paths) < 0) {
		if (write(ready_fd, msg, strlen(msg)) < 0)
			_exit(127);
		_exit(127);
	}
	if (fcntl(ready_fd, F_SETFD, 0) < 0 || fcntl(live_fd, F_SETFD, 0) < 0)
		_exit(127);
	spawn_close_cloexec(xport_fd(rs->incoming->conn));
	_exit(vmproc_main(&a));
}

/* The grandchild: a session of its own (no terminal), exec'ed as
 * `nestvm vm-process`, holding the liveness lock and the ready pipe. */
static void spawn_exec(const char *state_dir, const struct vm_paths *paths, const char *name,
		       int ready_fd, int live_fd, const struct vmproc_restore *rs)
{
	char exe[PATH_MAX], rfd[16], lfd[16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *msg = "ERR 4 cannot start the VM process: ";
	const char *argv[16];
	int k = 0;

	if (rs && rs->incoming)
		spawn_incoming(state_dir, paths, name, ready_fd, live_fd, rs);
	if (n < 0 || spawn_child_stdio(paths) < 0)
		goto fail;
	exe[n] = '\0';
	if (fcntl(ready_fd, F_SETFD, 0) < 0 || fcntl(live_fd, F_SETFD, 0) < 0)
		goto fail;
	snprintf(rfd, sizeof(rfd), "%d", ready_fd);
	snprintf(lfd, sizeof(lfd), "%d", live_fd);
	argv[k++] = "nestvm";
	argv[k++] = "vm-process";
	argv[k++] = "--state-dir";
	argv[k++] = state_dir;
	argv[k++] = "--ready-fd";
	argv[k++] = rfd;
	argv[k++] = "--lock-fd";
	argv[k++] = lfd;
	if (rs && rs->dir) {
		argv[k++] = "--restore";
		argv[k++] = rs->dir;
		if (rs->eager)
			argv[k++] = "--restore-eager";
	}
	argv[k++] = name;
	argv[k] = NULL;
	execv(exe, (char *const *)argv);
fail:
	if (write(ready_fd, msg, strlen(msg)) < 0 || write(ready_fd, strerror(errno),
							   strlen(strerror(errno))) < 0)
		_exit(127);
	_exit(127);
}

/* Fork twice; returns once the intermediate child is reaped. */
static int spawn_detached(const char *state_dir, const struct vm_paths *paths, const char *name,
			  int ready_fd, int live_fd, const struct vmproc_restore *rs)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (setsid() < 0)
			_exit(127);
		pid = fork();
		if (pid < 0)
			_exit(127);
		if (pid > 0)
			_exit(0);
		spawn_exec(state_dir, paths, name, ready_fd, live_fd, rs);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -ECHILD;
}

/* Read the one-line report. */
static int spawn_read_report(int fd, int timeout_s, char *line, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t got = 0;

	while (got < len - 1) {
		int r = poll(&pfd, 1, timeout_s * 1000);
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -ETIMEDOUT;
		n = read(fd, line + got, len - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(line, '\n', got))
			break;
	}
	line[got] = '\0';
	line[strcspn(line, "\n")] = '\0';
	return 0;
}

int vmproc_spawn(const char *state_dir, const struct vm_paths *paths, const char *name,
		 int live_fd, const struct vmproc_restore *rs, int timeout_s,
		 struct vmproc_report *out, char *err, size_t errlen)
{
	char line[1400];
	int ready[2], r;

	memset(out, 0, sizeof(*out));
	if (pipe2(ready, O_CLOEXEC) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot start the VM process: %s", strerror(-r));
		return r;
	}
	r = spawn_detached(state_dir, paths, name, ready[1], live_fd, rs);
	close(ready[1]);
	if (r) {
		close(ready[0]);
		snprintf(err, errlen, "cannot start the VM process: %s", strerror(-r));
		return r;
	}
	r = spawn_read_report(ready[0], timeout_s, line, sizeof(line));
	close(ready[0]);
	if (r)
		return r;
	if (strncmp(line, "OK ", 3) == 0) {
		out->said = out->ok = true;
		out->pid = atoi(line + 3);
	} else if (strncmp(line, "ERR ", 4) == 0) {
		char *msg = NULL;
		long st = strtol(line + 4, &msg, 10);

		out->said = true;
		out->status = st > 0 && st < 256 ? (int)st : 4;
		snprintf(out->msg, sizeof(out->msg), "%s", msg && *msg ? msg + 1 : "?");
	}
	return 0;
}
