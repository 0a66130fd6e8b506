/* Disks and snapshots: the identity of a disk image recorded in a snapshot
 * (so a restore without copies refuses a disk changed since), and copies of
 * disk images into and out of a snapshot directory.
 *
 * Layer: files only; knows nothing of VMs. */
#ifndef NESTVM_SNAPSHOT_DISK_H
#define NESTVM_SNAPSHOT_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_DISK_IDENTITY_VERSION 1

/* Plain data: a section of the snapshot (one per disk, index = disk index). */
struct snap_disk_identity {
	uint64_t dev;           /* st_dev */
	uint64_t ino;           /* st_ino */
	uint64_t size;          /* st_size (bytes; a block device: its size) */
	int64_t mtime_sec;      /* st_mtim */
	int64_t mtime_nsec;
	uint32_t read_only;     /* the disk was attached read-only */
	uint32_t copied;        /* 1: a copy of it is in the snapshot (disk-N.img) */
	char path[4096];        /* absolute path when saved, NUL-terminated */
};

/* fstat an open disk (the VM's own fd) and fill id (path copied). 0 or -errno. */
int snap_disk_identity_fd(int fd, const char *path, struct snap_disk_identity *id);
/* stat `path` now and compare with id: 0 the same; -ESTALE with a message
 * naming the path and what changed ("modified since the snapshot: mtime
 * ..., size ..."), -ENOENT when it is gone. */
int snap_disk_identity_check(const struct snap_disk_identity *id, const char *path, char *err,
			     size_t errlen);
/* Structural check of a section's identity (path NUL-terminated, flags
 * 0/1). Pure. */
int snap_disk_identity_valid(const struct snap_disk_identity *id, char *err, size_t errlen);

/* Copy the file open at src_fd to a new file `name` in dirfd (O_EXCL,
 * mode 0600): FICLONE when the filesystem can, else a sparse copy (holes
 * found with SEEK_DATA/SEEK_HOLE stay holes; copy_file_range for the data),
 * then fsync. *reflinked says which. On failure the partial file is
 * removed. 0 or -errno with a message. */
int snap_disk_copy_out(int src_fd, int dirfd, const char *name, bool *reflinked, char *err,
		       size_t errlen);
/* Put a snapshot's copy `name` in dirfd back at dst_path: copied (as
 * above) to a temporary file beside dst_path, fsynced, then renamed over
 * it, so dst_path is either the old disk or the snapshot's, never a mix.
 * The copy in the snapshot is not changed. 0 or -errno with a message. */
int snap_disk_copy_in(int dirfd, const char *name, const char *dst_path, bool *reflinked,
		      char *err, size_t errlen);

#endif
