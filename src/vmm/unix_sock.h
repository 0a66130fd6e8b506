/* Listening Unix sockets that only their owner can reach, created the same
 * way for the control API (src/api/server.c) and the console of a
 * background VM (src/control/console_sock.c), and the client side's connect. */
#ifndef NESTVM_VMM_UNIX_SOCK_H
#define NESTVM_VMM_UNIX_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Which socket file we created, so we only ever unlink our own. */
struct unix_sock_id {
	dev_t dev;
	ino_t ino;
	bool valid;
};

/* Create, bind and listen on `path` (SOCK_STREAM, non-blocking, close-on-exec),
 * mode 0600: umask 077 is in force around bind() and the file is chmod'ed
 * after. A socket file already there is replaced only if connecting to it
 * is refused (nobody listens: a stale file of a process that died);
 * -EADDRINUSE if someone answers. Any other kind of file at the path is
 * left alone: -EEXIST. A path longer than sun_path: -ENAMETOOLONG.
 * Returns the fd, or -errno with a message in err. `id` (may be NULL)
 * records the file for unix_sock_unlink(). */
int unix_sock_listen(const char *path, struct unix_sock_id *id, char *err, size_t errlen);

/* Unlink `path` if it is still the socket file `id` names (not one that a
 * newer process put there since). */
void unix_sock_unlink(const char *path, const struct unix_sock_id *id);

/* Connect to `path` (blocking, close-on-exec). Returns the fd, or -ENOENT
 * (no socket file), -ECONNREFUSED (nobody listens), -ENAMETOOLONG, or
 * another -errno, with a message in err. */
int unix_sock_connect(const char *path, char *err, size_t errlen);

#endif
