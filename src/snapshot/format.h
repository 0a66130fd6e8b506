/* The snapshot container: the file `state` in a snapshot directory (guest
 * RAM is beside it in `memory`, see docs/snapshot.md).
 *
 * Layout (all integers little-endian, no padding between records):
 *
 *   header   struct snap_file_header (SNAP_HEADER_SIZE bytes): magic
 *            "NESTVMSS", format version, nestvm version, host CPU vendor,
 *            creation time, section count, CRC-32 of the header's bytes
 *            before its crc field
 *   section  struct snap_section_header (SNAP_SECTION_HEADER_SIZE bytes):
 *            type name (NUL-padded), its own version, an index (vCPU 3,
 *            device 2 of its class), payload length, CRC-32 of the payload,
 *            CRC-32 of the section header before its own crc field
 *   payload  `length` bytes
 *   ...      nsections sections, then end of file (nothing may follow)
 *
 * The reader treats the file as hostile: every length is checked against
 * the bytes that are there and against caps (SNAP_FILE_MAX, a section at
 * most SNAP_SECTION_MAX, at most SNAP_MAX_SECTIONS), every CRC is checked
 * before anything is used, type names must be NUL-terminated printable
 * ASCII, a (type, index) pair appears once, reserved bytes are zero and
 * nothing follows the last section. A problem gives -EINVAL (or -EFBIG for
 * a cap, -EPROTO for a format version this build does not read) and one
 * line in err naming the section (numbered from 0 in file order) and the
 * offset. The format version is checked before the header CRC (another
 * version may put its CRC elsewhere), so a damaged version field reads as
 * -EPROTO.
 *
 * The writer writes to "<name>.tmp" in the directory, fsyncs it, renames it
 * to <name> and fsyncs the directory: a snapshot is either whole or absent.
 *
 * Layer: pure file format (zlib's crc32); knows nothing of VMs. */
#ifndef NESTVM_SNAPSHOT_FORMAT_H
#define NESTVM_SNAPSHOT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC               "NESTVMSS"   /* 8 bytes, no NUL */
#define SNAP_FORMAT_VERSION      1
#define SNAP_HEADER_SIZE         128
#define SNAP_SECTION_HEADER_SIZE 48
#define SNAP_TYPE_MAX            24           /* type name bytes, NUL-padded (at most 23 chars) */
#define SNAP_VERSION_MAX         32           /* nestvm version string bytes */
#define SNAP_VENDOR_MAX          16           /* CPUID vendor string bytes ("AuthenticAMD") */
#define SNAP_MAX_SECTIONS        1024
#define SNAP_SECTION_MAX         (16u << 20)  /* 16 MiB */
#define SNAP_FILE_MAX            (256u << 20) /* 256 MiB */

/* What the header says (decoded). */
struct snap_info {
	uint32_t format_version;          /* SNAP_FORMAT_VERSION */
	char nestvm_version[SNAP_VERSION_MAX]; /* NUL-terminated */
	char cpu_vendor[SNAP_VENDOR_MAX];      /* NUL-terminated */
	int64_t created;                  /* unix seconds */
	uint32_t nsections;
};

/* One section as the reader found it: data points into the reader's buffer. */
struct snap_section {
	char type[SNAP_TYPE_MAX];         /* NUL-terminated */
	uint32_t version;
	uint32_t index;
	uint64_t offset;                  /* of its header in the file */
	const uint8_t *data;
	size_t length;
};

/* A section the writer has written (to refuse the pair again). */
struct snap_key {
	char type[SNAP_TYPE_MAX];
	uint32_t index;
};

struct snap_writer {
	int dirfd;                        /* borrowed */
	int fd;                           /* "<name>.tmp" while open; -1 after */
	char name[64];
	uint32_t nsections;
	uint64_t bytes;                   /* written so far, header included */
	struct snap_info info;
	bool failed;                      /* an earlier write failed: finish() refuses */
	bool in_memory;                   /* snap_writer_open_mem: a memfd, no file */
	struct snap_key *keys;            /* nsections entries (owned) */
	uint32_t keys_cap;
};

struct snap_reader {
	const uint8_t *buf;               /* the whole file */
	size_t len;
	bool owns_buf;                    /* snap_reader_load allocated it */
	struct snap_info info;
	uint32_t nsections;
	struct snap_section *sections;    /* nsections entries (owned) */
	uint8_t *aligned;                 /* snap_reader_align's copies (owned), or NULL */
};

/* Start "<name>.tmp" in dirfd (O_EXCL: an existing .tmp is removed first,
 * an existing <name> is refused with -EEXIST). dirfd: a directory open for
 * reading (finish() fsyncs it, so not O_PATH) or AT_FDCWD; borrowed until
 * finish or abort. name: 1 to 59 bytes, no '/'.
 * info->nestvm_version and info->cpu_vendor: NUL-terminated printable ASCII
 * (may be empty); info->format_version and info->nsections are ignored (this
 * build's version; counted). 0 or -errno with a message; on failure nothing
 * is left open and snap_writer_abort is safe (and does nothing). */
int snap_writer_open(struct snap_writer *w, int dirfd, const char *name,
		     const struct snap_info *info, char *err, size_t errlen);
/* Append one section. type: 1-23 printable ASCII chars; data may be NULL
 * when length is 0. -EINVAL (bad type, a (type, index) pair again), -EFBIG
 * (length over SNAP_SECTION_MAX, more than SNAP_MAX_SECTIONS, the file past
 * SNAP_FILE_MAX): nothing written, the writer goes on. -errno of the write:
 * the writer is failed, finish() refuses. */
int snap_writer_add(struct snap_writer *w, const char *type, uint32_t version, uint32_t index,
		    const void *data, size_t length, char *err, size_t errlen);
/* Rewrite the header with the count, fsync, rename to <name> (never over
 * one that appeared meanwhile: -EEXIST), fsync the directory. 0 or -errno;
 * the writer is closed either way (on failure the .tmp is removed, and so
 * is <name> when the directory's fsync failed). */
int snap_writer_finish(struct snap_writer *w, char *err, size_t errlen);
/* The same container built in memory (a memfd) instead of a file: for a
 * state sent over a stream (live migration). finish_mem hands back the
 * whole image (malloc'ed, the caller frees it) and closes the writer. */
int snap_writer_open_mem(struct snap_writer *w, const struct snap_info *info, char *err,
			 size_t errlen);
int snap_writer_finish_mem(struct snap_writer *w, uint8_t **buf, size_t *len, char *err,
			   size_t errlen);
/* Give up: close and remove the .tmp. Safe after finish. */
void snap_writer_abort(struct snap_writer *w);

/* Parse a whole file image (buf stays the caller's; the reader keeps a
 * pointer to it and owns only `sections`: snap_reader_free frees buf only
 * when snap_reader_load allocated it). Pure; fuzzed. On failure r is empty
 * (nothing to free). */
int snap_parse(struct snap_reader *r, const uint8_t *buf, size_t len, char *err, size_t errlen);
/* Read <name> in dirfd (regular file, O_NOFOLLOW, at most SNAP_FILE_MAX
 * bytes) and parse it. -ENOENT with "no snapshot state file ..." when
 * absent, -ELOOP for a symbolic link, -EINVAL for a directory or another
 * non-regular file. On failure r is empty (snap_reader_free is safe). */
int snap_reader_load(struct snap_reader *r, int dirfd, const char *name, char *err,
		     size_t errlen);
/* Give every section's data its own copy at a SNAP_ALIGN-byte boundary
 * (sections follow one another in the file wherever the one before ended,
 * so a payload read where it lies is not aligned for a struct such as one
 * with a 64-byte aligned member). Offsets and lengths are unchanged; the
 * copies are the reader's (snap_reader_free). 0 or -ENOMEM with a message
 * (r unchanged). */
#define SNAP_ALIGN 64
int snap_reader_align(struct snap_reader *r, char *err, size_t errlen);
/* Frees what the reader owns and empties it; safe on an empty reader. */
void snap_reader_free(struct snap_reader *r);

/* The section (type, index), or NULL. */
const struct snap_section *snap_find(const struct snap_reader *r, const char *type,
				     uint32_t index);
/* How many sections of this type. */
unsigned int snap_count(const struct snap_reader *r, const char *type);

#endif
