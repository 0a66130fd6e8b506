/* Disks and snapshots (disk.h): a disk image's identity (device, inode,
 * size, mtime) and copies of an image into and out of a snapshot
 * directory. A copy is a reflink (FICLONE) where the filesystem shares
 * blocks between files; otherwise a sparse copy: the data extents
 * (SEEK_DATA/SEEK_HOLE) by copy_file_range, or read/write where that
 * cannot, the holes left holes, the size set by ftruncate so a trailing
 * hole stays one. */
#include "snapshot/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAP_DISK_CHUNK     (8u << 20)   /* bytes a copy_file_range call asks for */
#define SNAP_DISK_BUF       (1u << 20)   /* the read/write fallback's buffer */
#define SNAP_DISK_TMP_TRIES 100

__attribute__((format(printf, 4, 5)))
static int snap_disk_fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* The size of what st describes: st_size, or a block device's size. */
static int snap_disk_size(int fd, const struct stat *st, uint64_t *size)
{
	if (S_ISBLK(st->st_mode))
		return ioctl(fd, BLKGETSIZE64, size) == 0 ? 0 : -errno;
	*size = (uint64_t)st->st_size;
	return 0;
}

/* ---- identity ---- */

int snap_disk_identity_fd(int fd, const char *path, struct snap_disk_identity *id)
{
	struct stat st;
	uint64_t size;
	int r;

	memset(id, 0, sizeof(*id));
	if (!path || strlen(path) >= sizeof(id->path))
		return -ENAMETOOLONG;
	if (fstat(fd, &st) != 0)
		return -errno;
	r = snap_disk_size(fd, &st, &size);
	if (r)
		return r;
	id->dev = (uint64_t)st.st_dev;
	id->ino = (uint64_t)st.st_ino;
	id->size = size;
	id->mtime_sec = (int64_t)st.st_mtim.tv_sec;
	id->mtime_nsec = (int64_t)st.st_mtim.tv_nsec;
	memcpy(id->path, path, strlen(path) + 1);
	return 0;
}

/* The identity of `path` now (stat follows symlinks, as opening the disk did). */
static int snap_disk_identity_now(const char *path, struct snap_disk_identity *now)
{
	struct stat st;
	int fd, r;

	if (stat(path, &st) != 0)
		return -errno;
	if (!S_ISBLK(st.st_mode)) {
		memset(now, 0, sizeof(*now));
		now->dev = (uint64_t)st.st_dev;
		now->ino = (uint64_t)st.st_ino;
		now->size = (uint64_t)st.st_size;
		now->mtime_sec = (int64_t)st.st_mtim.tv_sec;
		now->mtime_nsec = (int64_t)st.st_mtim.tv_nsec;
		return 0;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = snap_disk_identity_fd(fd, "", now);
	close(fd);
	return r;
}

int snap_disk_identity_check(const struct snap_disk_identity *id, const char *path, char *err,
			     size_t errlen)
{
	struct snap_disk_identity now;
	char what[256] = "";
	size_t n = 0;
	int r = snap_disk_identity_now(path, &now);

	if (r == -ENOENT)
		return snap_disk_fail(r, err, errlen, "disk %s is gone since the snapshot", path);
	if (r)
		return snap_disk_fail(r, err, errlen, "disk %s: %s", path, strerror(-r));
	if (now.dev != id->dev || now.ino != id->ino)
		return snap_disk_fail(-ESTALE, err, errlen, "disk %s was replaced since the "
				      "snapshot: another file (device %" PRIu64 " inode %" PRIu64
				      ", was device %" PRIu64 " inode %" PRIu64 ")", path, now.dev,
				      now.ino, id->dev, id->ino);
	if (now.mtime_sec != id->mtime_sec || now.mtime_nsec != id->mtime_nsec)
		n += (size_t)snprintf(what + n, sizeof(what) - n, "mtime %" PRId64 ".%09" PRId64
				      ", was %" PRId64 ".%09" PRId64, now.mtime_sec,
				      now.mtime_nsec, id->mtime_sec, id->mtime_nsec);
	if (now.size != id->size && n < sizeof(what))
		snprintf(what + n, sizeof(what) - n, "%ssize %" PRIu64 " bytes, was %" PRIu64,
			 n ? ", " : "", now.size, id->size);
	if (what[0])
		return snap_disk_fail(-ESTALE, err, errlen, "disk %s was modified since the "
				      "snapshot: %s", path, what);
	return 0;
}

int snap_disk_identity_valid(const struct snap_disk_identity *id, char *err, size_t errlen)
{
	if (!memchr(id->path, '\0', sizeof(id->path)))
		return snap_disk_fail(-EINVAL, err, errlen, "disk identity: the path is not "
				      "NUL-terminated");
	if (!id->path[0])
		return snap_disk_fail(-EINVAL, err, errlen, "disk identity: the path is empty");
	if (id->read_only > 1 || id->copied > 1)
		return snap_disk_fail(-EINVAL, err, errlen, "disk identity of %s: read_only %" PRIu32
				      " and copied %" PRIu32 " must be 0 or 1", id->path,
				      id->read_only, id->copied);
	if (id->mtime_nsec < 0 || id->mtime_nsec > 999999999)
		return snap_disk_fail(-EINVAL, err, errlen, "disk identity of %s: mtime "
				      "nanoseconds %" PRId64 " out of range", id->path,
				      id->mtime_nsec);
	return 0;
}

/* ---- copies ---- */

/* [off, end) of src into dst at the same offsets. *plain: copy_file_range
 * cannot (or could not before) between these files: read and write,
 * through *buf (allocated on first use; the caller frees it). */
static int snap_disk_copy_range(int src, int dst, uint64_t off, uint64_t end, bool *plain,
				char **buf)
{
	while (off < end && !*plain) {
		loff_t in = (loff_t)off, out = (loff_t)off;
		size_t len = end - off < SNAP_DISK_CHUNK ? (size_t)(end - off) : SNAP_DISK_CHUNK;
		ssize_t n = copy_file_range(src, &in, dst, &out, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
			      errno == EOPNOTSUPP)) {
			*plain = true;
			break;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;   /* the source shrank under us */
		off += (uint64_t)n;
	}
	if (off < end && !*buf) {
		*buf = malloc(SNAP_DISK_BUF);
		if (!*buf)
			return -ENOMEM;
	}
	while (off < end) {
		size_t len = end - off < SNAP_DISK_BUF ? (size_t)(end - off) : SNAP_DISK_BUF;
		ssize_t n = pread(src, *buf, len, (off_t)off), w;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		for (ssize_t done = 0; done < n; done += w) {
			w = pwrite(dst, *buf + done, (size_t)(n - done), (off_t)off + done);
			if (w < 0 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w < 0)
				return -errno;
		}
		off += (uint64_t)n;
	}
	return 0;
}

/* The data extents of src (all of it where SEEK_DATA is not supported),
 * then the size. src's file offset is left as it was (the VM's fd). */
static int snap_disk_copy_sparse(int src, int dst, uint64_t size, char *err, size_t errlen)
{
	off_t saved = lseek(src, 0, SEEK_CUR);
	bool plain = false, seekable = true;
	char *buf = NULL;
	uint64_t off = 0;
	int r = 0;

	while (off < size && !r) {
		off_t data = lseek(src, (off_t)off, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break;   /* only a hole from off to the end */
		if (data < 0 && (errno == EINVAL || errno == EOPNOTSUPP) && off == 0) {
			seekable = false;
			data = 0;
		} else if (data < 0) {
			r = snap_disk_fail(-errno, err, errlen, "finding data: %s", strerror(errno));
			break;
		}
		hole = seekable ? lseek(src, data, SEEK_HOLE) : (off_t)size;
		if (hole < 0 || (uint64_t)hole > size)
			hole = (off_t)size;
		r = snap_disk_copy_range(src, dst, (uint64_t)data, (uint64_t)hole, &plain, &buf);
		if (r)
			snap_disk_fail(r, err, errlen, "copying bytes %lld-%lld: %s",
				       (long long)data, (long long)hole, r == -EIO ?
				       "I/O error, or the file got shorter while copying" :
				       strerror(-r));
		off = (uint64_t)hole;
	}
	free(buf);
	if (saved >= 0)
		lseek(src, saved, SEEK_SET);
	if (!r && ftruncate(dst, (off_t)size) != 0)
		r = snap_disk_fail(-errno, err, errlen, "setting the size: %s", strerror(errno));
	return r;
}

/* src into the new, empty dst: a reflink if the filesystem can, else a
 * sparse copy; then fsync. */
static int snap_disk_copy_fd(int src, int dst, bool *reflinked, char *err, size_t errlen)
{
	struct stat st;
	uint64_t size;
	int r;

	*reflinked = false;
	if (fstat(src, &st) != 0)
		return snap_disk_fail(-errno, err, errlen, "%s", strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return snap_disk_fail(-EINVAL, err, errlen, "not a regular file or block device");
	r = snap_disk_size(src, &st, &size);
	if (r)
		return snap_disk_fail(r, err, errlen, "its size: %s", strerror(-r));
	if (S_ISREG(st.st_mode) && ioctl(dst, FICLONE, src) == 0) {
		*reflinked = true;
	} else if (S_ISREG(st.st_mode) && errno != EOPNOTSUPP && errno != EXDEV &&
		   errno != EINVAL && errno != ENOTTY) {
		return snap_disk_fail(-errno, err, errlen, "reflink: %s", strerror(errno));
	} else {
		r = snap_disk_copy_sparse(src, dst, size, err, errlen);
		if (r)
			return r;
	}
	if (fsync(dst) != 0)
		return snap_disk_fail(-errno, err, errlen, "fsync: %s", strerror(errno));
	return 0;
}

/* A file name in a directory: no '/', not "." or "..". */
static bool snap_disk_name_ok(const char *name)
{
	return name && *name && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

/* fsync a directory; a dirfd that cannot be (O_PATH, read-only fs) is no
 * error: the file's own fsync is what matters most. */
static int snap_disk_sync_dir(int dirfd)
{
	if (fsync(dirfd) != 0 && errno != EBADF && errno != EINVAL && errno != EROFS)
		return -errno;
	return 0;
}

int snap_disk_copy_out(int src_fd, int dirfd, const char *name, bool *reflinked, char *err,
		       size_t errlen)
{
	char why[512];
	bool ref = false;
	int dst, r;

	if (reflinked)
		*reflinked = false;
	if (!snap_disk_name_ok(name))
		return snap_disk_fail(-EINVAL, err, errlen, "'%s' is not a file name for a disk "
				      "copy", name ? name : "");
	dst = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (dst < 0 && errno == EEXIST)
		return snap_disk_fail(-EEXIST, err, errlen, "%s already exists in the snapshot "
				      "directory: a disk copy is never overwritten", name);
	if (dst < 0)
		return snap_disk_fail(-errno, err, errlen, "cannot create the disk copy %s: %s",
				      name, strerror(errno));
	r = snap_disk_copy_fd(src_fd, dst, &ref, why, sizeof(why));
	if (close(dst) != 0 && !r)
		r = snap_disk_fail(-errno, why, sizeof(why), "close: %s", strerror(errno));
	if (!r) {
		r = snap_disk_sync_dir(dirfd);
		if (r)
			snap_disk_fail(r, why, sizeof(why), "fsync of the directory: %s",
				       strerror(-r));
	}
	if (r) {
		unlinkat(dirfd, name, 0);
		return snap_disk_fail(r, err, errlen, "copying the disk to %s: %s", name, why);
	}
	if (reflinked)
		*reflinked = ref;
	return 0;
}

/* Where a restore writes: the file dst_path names (through symlinks), which
 * must be a regular file if it exists (a rename cannot replace a block
 * device's contents). *st_out: its stat, st_mode 0 when it does not exist. */
static int snap_disk_restore_target(const char *dst_path, char *real, struct stat *st_out,
				    char *err, size_t errlen)
{
	memset(st_out, 0, sizeof(*st_out));
	if (!realpath(dst_path, real)) {
		if (errno != ENOENT)
			return snap_disk_fail(-errno, err, errlen, "disk %s: %s", dst_path,
					      strerror(errno));
		if (strlen(dst_path) >= PATH_MAX)
			return snap_disk_fail(-ENAMETOOLONG, err, errlen, "disk path %s is too "
					      "long", dst_path);
		strcpy(real, dst_path);   /* a new file: its directory must exist */
		return 0;
	}
	if (stat(real, st_out) != 0)
		return snap_disk_fail(-errno, err, errlen, "disk %s: %s", real, strerror(errno));
	if (!S_ISREG(st_out->st_mode))
		return snap_disk_fail(-EINVAL, err, errlen, "disk %s is not a regular file: a "
				      "snapshot's copy can only replace a file", real);
	return 0;
}

/* A new temporary file beside path (same directory: the rename stays on
 * one filesystem). Its name in tmp. fd or -errno. */
static int snap_disk_open_tmp(const char *path, char *tmp, size_t len)
{
	for (int i = 0; i < SNAP_DISK_TMP_TRIES; i++) {
		int fd, n;

		n = snprintf(tmp, len, "%s.nestvm-restore.%ld.%d", path, (long)getpid(), i);
		if (n < 0 || (size_t)n >= len)
			return -ENAMETOOLONG;
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

/* fsync the directory that holds path. */
static int snap_disk_sync_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, r;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = snap_disk_sync_dir(fd);
	close(fd);
	return r;
}

int snap_disk_copy_in(int dirfd, const char *name, const char *dst_path, bool *reflinked,
		      char *err, size_t errlen)
{
	char real[PATH_MAX], tmp[PATH_MAX + 64], why[512];
	struct stat old;
	bool ref = false;
	int src, dst, r;

	if (reflinked)
		*reflinked = false;
	if (!snap_disk_name_ok(name))
		return snap_disk_fail(-EINVAL, err, errlen, "'%s' is not a file name for a disk "
				      "copy", name ? name : "");
	r = snap_disk_restore_target(dst_path, real, &old, err, errlen);
	if (r)
		return r;
	src = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (src < 0)
		return snap_disk_fail(-errno, err, errlen, "the snapshot's disk copy %s: %s", name,
				      strerror(errno));
	dst = snap_disk_open_tmp(real, tmp, sizeof(tmp));
	if (dst < 0) {
		close(src);
		return snap_disk_fail(dst, err, errlen, "cannot create a temporary file beside %s: "
				      "%s", real, strerror(-dst));
	}
	/* The disk keeps its owner and mode (the copy's are the snapshot's). */
	if (old.st_mode) {
		if (fchown(dst, old.st_uid, old.st_gid) != 0 && errno != EPERM)
			r = snap_disk_fail(-errno, why, sizeof(why), "chown: %s", strerror(errno));
		if (!r && fchmod(dst, old.st_mode & 07777) != 0)
			r = snap_disk_fail(-errno, why, sizeof(why), "chmod: %s", strerror(errno));
	}
	if (!r)
		r = snap_disk_copy_fd(src, dst, &ref, why, sizeof(why));
	close(src);
	if (close(dst) != 0 && !r)
		r = snap_disk_fail(-errno, why, sizeof(why), "close: %s", strerror(errno));
	if (!r && rename(tmp, real) != 0)
		r = snap_disk_fail(-errno, why, sizeof(why), "rename over it: %s", strerror(errno));
	if (r) {
		unlink(tmp);
		return snap_disk_fail(r, err, errlen, "putting the snapshot's %s back at %s: %s "
				      "(the disk is as it was)", name, real, why);
	}
	r = snap_disk_sync_parent(real);
	if (r)
		return snap_disk_fail(r, err, errlen, "put the snapshot's %s back at %s, but the "
				      "fsync of its directory failed: %s", name, real, strerror(-r));
	if (reflinked)
		*reflinked = ref;
	return 0;
}
