#include "vmm/unix_sock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/log.h"

#define UNIX_SOCK_BACKLOG 16

static int unix_sock_addr(const char *path, struct sockaddr_un *sa, socklen_t *salen,
			  char *err, size_t errlen)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n == 0) {
		snprintf(err, errlen, "empty socket path");
		return -EINVAL;
	}
	/* sun_path needs room for the NUL too; a longer path would be cut. */
	if (n >= sizeof(sa->sun_path)) {
		snprintf(err, errlen, "socket path %s is %zu bytes long; a Unix socket path can have at most %zu",
			 path, n, sizeof(sa->sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa->sun_path, path, n + 1);
	*salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

/* Is someone listening on the socket file at sa? 0 no (refused), 1 yes,
 * -errno if we cannot tell. Non-blocking, so a full backlog (EAGAIN)
 * answers "yes" instead of hanging. */
static int unix_sock_probe(const struct sockaddr_un *sa, socklen_t salen)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int r;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, salen) == 0)
		r = 1;
	else if (errno == ECONNREFUSED)
		r = 0;
	else if (errno == EAGAIN || errno == EINPROGRESS)
		r = 1;
	else
		r = -errno;
	close(fd);
	return r;
}

/* Make the path free for bind(): nothing there, or a stale socket file
 * that we remove. Never unlinks anything but a socket nobody answers on. */
static int unix_sock_clear(const char *path, const struct sockaddr_un *sa, socklen_t salen,
			   char *err, size_t errlen)
{
	struct stat st;
	int r;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		snprintf(err, errlen, "cannot stat %s: %s", path, strerror(-r));
		return r;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; not replacing it", path);
		return -EEXIST;
	}
	r = unix_sock_probe(sa, salen);
	if (r == 1) {
		snprintf(err, errlen, "%s is in use: another process listens on it", path);
		return -EADDRINUSE;
	}
	if (r < 0) {
		snprintf(err, errlen, "cannot tell whether %s is in use: %s", path, strerror(-r));
		return r;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(-r));
		return r;
	}
	log_debug("removed stale socket %s", path);
	return 0;
}

/* bind() with umask 077, so the file never exists with looser permissions
 * (chmod after bind alone would leave a window). umask is per process:
 * files other threads create meanwhile come out more private, never less. */
static int unix_sock_bind(int fd, const char *path, const struct sockaddr_un *sa, socklen_t salen,
			  char *err, size_t errlen)
{
	mode_t old = umask(077);
	int r = bind(fd, (const struct sockaddr *)sa, salen);
	int e = errno;

	umask(old);
	if (r < 0) {
		snprintf(err, errlen, "cannot bind %s: %s", path, strerror(e));
		return -e;
	}
	if (chmod(path, 0600) < 0) {
		e = errno;
		snprintf(err, errlen, "cannot chmod %s: %s", path, strerror(e));
		unlink(path);
		return -e;
	}
	return 0;
}

int unix_sock_listen(const char *path, struct unix_sock_id *id, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	socklen_t salen;
	struct stat st;
	int fd, r;

	if (id)
		id->valid = false;
	r = unix_sock_addr(path, &sa, &salen, err, errlen);
	if (r < 0)
		return r;
	r = unix_sock_clear(path, &sa, salen, err, errlen);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "socket: %s", strerror(-r));
		return r;
	}
	r = unix_sock_bind(fd, path, &sa, salen, err, errlen);
	if (r < 0)
		goto err_close;
	if (listen(fd, UNIX_SOCK_BACKLOG) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(-r));
		goto err_unlink;
	}
	if (id && lstat(path, &st) == 0) {
		id->dev = st.st_dev;
		id->ino = st.st_ino;
		id->valid = true;
	}
	return fd;

err_unlink:
	unlink(path);
err_close:
	close(fd);
	return r;
}

void unix_sock_unlink(const char *path, const struct unix_sock_id *id)
{
	struct stat st;

	if (!id || !id->valid)
		return;
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	if (st.st_dev != id->dev || st.st_ino != id->ino)
		return;  /* someone else's socket now */
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", path, strerror(errno));
}

int unix_sock_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	socklen_t salen;
	int fd, r;

	r = unix_sock_addr(path, &sa, &salen, err, errlen);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "socket: %s", strerror(-r));
		return r;
	}
	do {
		r = connect(fd, (const struct sockaddr *)&sa, salen);
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		return fd;
	r = -errno;
	if (r == -ENOENT)
		snprintf(err, errlen, "no socket at %s (is the VM running?)", path);
	else if (r == -ECONNREFUSED)
		snprintf(err, errlen, "nothing listens on %s (the VM's process is gone)", path);
	else
		snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(-r));
	close(fd);
	return r;
}
