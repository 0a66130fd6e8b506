/* The snapshot container (snapshot/format.h): the writer, which appends
 * sections to "<name>.tmp" and renames it into place when finished, and the
 * reader, which checks a whole file image before handing out any section.
 *
 * Every integer is encoded byte by byte, little-endian, whatever the host;
 * no host struct is ever copied to or from the file. Offsets of the fields:
 *
 *   file header (128)          section header (48)
 *     0  magic[8]                0  type[24], NUL-padded
 *     8  format_version u32     24  version u32
 *    12  header_size u32 (128)  28  index u32
 *    16  nestvm_version[32]     32  length u64
 *    48  cpu_vendor[16]         40  payload CRC-32
 *    64  created i64            44  CRC-32 of bytes 0..43
 *    72  nsections u32
 *    76  reserved[48], zero
 *   124  CRC-32 of bytes 0..123
 *
 * Messages number sections from 0, in file order. */
#include "snapshot/format.h"
#include "snapshot/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define SNAP_MAGIC_LEN  8
#define HDR_VERSION     8
#define HDR_SIZE        12
#define HDR_NESTVM      16
#define HDR_VENDOR      48
#define HDR_CREATED     64
#define HDR_NSECTIONS   72
#define HDR_RESERVED    76
#define HDR_CRC         (SNAP_HEADER_SIZE - 4)
#define SEC_VERSION     24
#define SEC_INDEX       28
#define SEC_LENGTH      32
#define SEC_PAYLOAD_CRC 40
#define SEC_CRC         (SNAP_SECTION_HEADER_SIZE - 4)

#define PFX "snapshot state: "

_Static_assert(HDR_NESTVM + SNAP_VERSION_MAX == HDR_VENDOR, "header layout");
_Static_assert(HDR_VENDOR + SNAP_VENDOR_MAX == HDR_CREATED, "header layout");
_Static_assert(SNAP_TYPE_MAX == SEC_VERSION, "section header layout");

/* ---- encoding ---- */

static void put_le(uint8_t *p, uint64_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint32_t snap_crc(const uint8_t *p, size_t n)
{
	uLong c = crc32(0L, Z_NULL, 0);

	while (n > 0) {
		uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;

		c = crc32(c, p, chunk);
		p += chunk;
		n -= chunk;
	}
	return (uint32_t)c;
}

__attribute__((format(printf, 3, 4)))
static void snap_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* A NUL-padded text field of n bytes: printable ASCII up to the first NUL
 * (at least min_len chars, at most n - 1), zeros after it. NULL when good,
 * else what is wrong. */
static const char *field_check(const uint8_t *p, size_t n, size_t min_len)
{
	size_t len = 0;

	while (len < n && p[len] != 0) {
		if (p[len] < 0x20 || p[len] > 0x7e)
			return "a byte that is not printable ASCII";
		len++;
	}
	if (len == n)
		return "no terminating NUL";
	if (len < min_len)
		return "empty";
	for (size_t i = len + 1; i < n; i++)
		if (p[i] != 0)
			return "non-zero bytes after its NUL";
	return NULL;
}

/* The same for a C string bound for a field of n bytes. */
static const char *str_check(const char *s, size_t n, size_t min_len)
{
	size_t len;

	if (!s)
		return "missing";
	len = strnlen(s, n);
	if (len == n)
		return "too long";
	if (len < min_len)
		return "empty";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return "a byte that is not printable ASCII";
	return NULL;
}

static void field_put(uint8_t *p, const char *s, size_t n)
{
	size_t len = strnlen(s, n - 1);

	memset(p, 0, n);
	memcpy(p, s, len);
}

static void header_encode(uint8_t h[SNAP_HEADER_SIZE], const struct snap_info *info,
			  uint32_t nsections)
{
	memset(h, 0, SNAP_HEADER_SIZE);
	memcpy(h, SNAP_MAGIC, SNAP_MAGIC_LEN);
	put_le(h + HDR_VERSION, SNAP_FORMAT_VERSION, 4);
	put_le(h + HDR_SIZE, SNAP_HEADER_SIZE, 4);
	field_put(h + HDR_NESTVM, info->nestvm_version, SNAP_VERSION_MAX);
	field_put(h + HDR_VENDOR, info->cpu_vendor, SNAP_VENDOR_MAX);
	put_le(h + HDR_CREATED, (uint64_t)info->created, 8);
	put_le(h + HDR_NSECTIONS, nsections, 4);
	put_le(h + HDR_CRC, snap_crc(h, HDR_CRC), 4);
}

/* ---- writer ---- */

static void tmp_name(const struct snap_writer *w, char *buf, size_t n)
{
	snprintf(buf, n, "%s.tmp", w->name);
}

/* fsync the directory itself (AT_FDCWD has no fd of its own: open "."). */
static int dir_sync(int dirfd)
{
	int fd = dirfd, rc = 0;

	if (dirfd == AT_FDCWD) {
		fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
	}
	if (fsync(fd) < 0)
		rc = -errno;
	if (fd != dirfd)
		close(fd);
	return rc;
}

/* rename without replacing: an <name> that appeared since open() stays
 * (-EEXIST). A filesystem without RENAME_NOREPLACE gets a check, then a
 * plain rename. */
static int rename_noreplace(int dirfd, const char *from, const char *to)
{
	struct stat st;

	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	if (fstatat(dirfd, to, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return -EEXIST;
	return renameat(dirfd, from, dirfd, to) < 0 ? -errno : 0;
}

/* The header's strings checked and kept. */
static int writer_set_info(struct snap_writer *w, const char *name, const struct snap_info *info,
			   char *err, size_t errlen)
{
	const char *why;

	if ((why = str_check(info->nestvm_version, SNAP_VERSION_MAX, 0))) {
		snap_err(err, errlen, PFX "nestvm version string: %s", why);
		return -EINVAL;
	}
	if ((why = str_check(info->cpu_vendor, SNAP_VENDOR_MAX, 0))) {
		snap_err(err, errlen, PFX "CPU vendor string: %s", why);
		return -EINVAL;
	}
	memcpy(w->name, name, strlen(name) + 1);
	w->info = *info;
	w->info.format_version = SNAP_FORMAT_VERSION;
	w->info.nsections = 0;
	return 0;
}

/* The placeholder header: finish() writes the count and the CRC over it. */
static int writer_put_header(struct snap_writer *w, char *err, size_t errlen)
{
	uint8_t h[SNAP_HEADER_SIZE];
	int rc;

	header_encode(h, &w->info, 0);
	rc = snap_write_all(w->fd, h, sizeof(h));
	if (rc < 0) {
		snap_err(err, errlen, PFX "writing the header of %s: %s", w->name, strerror(-rc));
		snap_writer_abort(w);
		return rc;
	}
	w->bytes = SNAP_HEADER_SIZE;
	return 0;
}

int snap_writer_open(struct snap_writer *w, int dirfd, const char *name,
		     const struct snap_info *info, char *err, size_t errlen)
{
	char tmp[sizeof(w->name) + 8];
	struct stat st;
	int rc;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->dirfd = dirfd;
	if (!name || !name[0] || strchr(name, '/') || strlen(name) + 5 > sizeof(w->name)) {
		snap_err(err, errlen, PFX "bad file name '%s' (1 to %zu bytes, no '/')",
			 name ? name : "(null)", sizeof(w->name) - 5);
		return -EINVAL;
	}
	rc = writer_set_info(w, name, info, err, errlen);
	if (rc)
		return rc;
	tmp_name(w, tmp, sizeof(tmp));

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		snap_err(err, errlen, PFX "%s already exists", name);
		return -EEXIST;
	}
	if (errno != ENOENT) {
		rc = -errno;
		snap_err(err, errlen, PFX "checking for %s: %s", name, strerror(-rc));
		return rc;
	}
	if (unlinkat(dirfd, tmp, 0) < 0 && errno != ENOENT) {
		rc = -errno;
		snap_err(err, errlen, PFX "removing a stale %s: %s", tmp, strerror(-rc));
		return rc;
	}
	w->fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (w->fd < 0) {
		rc = -errno;
		snap_err(err, errlen, PFX "creating %s: %s", tmp, strerror(-rc));
		return rc;
	}
	return writer_put_header(w, err, errlen);
}

int snap_writer_open_mem(struct snap_writer *w, const struct snap_info *info, char *err,
			 size_t errlen)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->dirfd = -1;
	w->in_memory = true;
	rc = writer_set_info(w, "state (in memory)", info, err, errlen);
	if (rc)
		return rc;
	w->fd = memfd_create("nestvm-state", MFD_CLOEXEC);
	if (w->fd < 0) {
		rc = -errno;
		snap_err(err, errlen, PFX "memfd_create: %s", strerror(-rc));
		return rc;
	}
	return writer_put_header(w, err, errlen);
}

int snap_writer_finish_mem(struct snap_writer *w, uint8_t **buf, size_t *len, char *err,
			   size_t errlen)
{
	uint8_t h[SNAP_HEADER_SIZE];
	uint8_t *b = NULL;
	int rc = -EIO;

	*buf = NULL;
	*len = 0;
	if (w->fd < 0 || !w->in_memory || w->failed) {
		snap_err(err, errlen, PFX "finishing an in-memory writer that is not open or failed");
		snap_writer_abort(w);
		return -EBADF;
	}
	w->info.nsections = w->nsections;
	header_encode(h, &w->info, w->nsections);
	b = malloc(w->bytes);
	if (!b)
		rc = -ENOMEM;
	else if ((rc = snap_pio_all(w->fd, h, sizeof(h), 0, true)) == 0)
		rc = snap_pio_all(w->fd, b, w->bytes, 0, false);
	if (rc) {
		free(b);
		snap_err(err, errlen, PFX "the in-memory state: %s", strerror(-rc));
		snap_writer_abort(w);
		return rc;
	}
	*buf = b;
	*len = (size_t)w->bytes;
	snap_writer_abort(w);   /* closes the memfd */
	return 0;
}

static bool writer_has(const struct snap_writer *w, const char *type, uint32_t index)
{
	for (uint32_t i = 0; i < w->nsections; i++)
		if (w->keys[i].index == index && !strcmp(w->keys[i].type, type))
			return true;
	return false;
}

int snap_writer_add(struct snap_writer *w, const char *type, uint32_t version, uint32_t index,
		    const void *data, size_t length, char *err, size_t errlen)
{
	uint8_t h[SNAP_SECTION_HEADER_SIZE];
	char tmp[sizeof(w->name) + 8];
	const char *why;
	int rc;

	if (w->fd < 0) {
		snap_err(err, errlen, PFX "adding a section to a writer that is not open");
		return -EBADF;
	}
	if (w->failed) {
		snap_err(err, errlen, PFX "an earlier write to %s.tmp failed", w->name);
		return -EIO;
	}
	if ((why = str_check(type, SNAP_TYPE_MAX, 1))) {
		snap_err(err, errlen, PFX "section %u: type name %s (1 to %d printable ASCII chars)",
			 w->nsections, why, SNAP_TYPE_MAX - 1);
		return -EINVAL;
	}
	if (length > SNAP_SECTION_MAX) {
		snap_err(err, errlen, PFX "section %u (%s %u): %zu bytes, at most %u", w->nsections,
			 type, index, length, SNAP_SECTION_MAX);
		return -EFBIG;
	}
	if (!data && length > 0) {
		snap_err(err, errlen, PFX "section %u (%s %u): no data", w->nsections, type, index);
		return -EINVAL;
	}
	if (w->nsections >= SNAP_MAX_SECTIONS) {
		snap_err(err, errlen, PFX "section %u (%s %u): at most %d sections", w->nsections,
			 type, index, SNAP_MAX_SECTIONS);
		return -EFBIG;
	}
	if (w->bytes + SNAP_SECTION_HEADER_SIZE + length > SNAP_FILE_MAX) {
		snap_err(err, errlen, PFX "section %u (%s %u): the file would pass %u bytes",
			 w->nsections, type, index, SNAP_FILE_MAX);
		return -EFBIG;
	}
	if (writer_has(w, type, index)) {
		snap_err(err, errlen, PFX "section %u (%s %u): that type and index are already there",
			 w->nsections, type, index);
		return -EINVAL;
	}
	if (w->nsections == w->keys_cap) {
		uint32_t cap = w->keys_cap ? w->keys_cap * 2 : 16;
		struct snap_key *k = realloc(w->keys, cap * sizeof(*k));

		if (!k) {
			snap_err(err, errlen, PFX "out of memory");
			return -ENOMEM;
		}
		w->keys = k;
		w->keys_cap = cap;
	}

	memset(h, 0, sizeof(h));
	field_put(h, type, SNAP_TYPE_MAX);
	put_le(h + SEC_VERSION, version, 4);
	put_le(h + SEC_INDEX, index, 4);
	put_le(h + SEC_LENGTH, length, 8);
	put_le(h + SEC_PAYLOAD_CRC, snap_crc(data, length), 4);
	put_le(h + SEC_CRC, snap_crc(h, SEC_CRC), 4);
	rc = snap_write_all(w->fd, h, sizeof(h));
	if (rc == 0 && length > 0)
		rc = snap_write_all(w->fd, data, length);
	if (rc < 0) {
		w->failed = true;
		tmp_name(w, tmp, sizeof(tmp));
		snap_err(err, errlen, PFX "section %u (%s %u) at offset %llu: writing %s: %s",
			 w->nsections, type, index, (unsigned long long)w->bytes, tmp,
			 strerror(-rc));
		return rc;
	}
	memcpy(w->keys[w->nsections].type, type, strlen(type) + 1);
	w->keys[w->nsections].index = index;
	w->nsections++;
	w->bytes += SNAP_SECTION_HEADER_SIZE + length;
	return 0;
}

int snap_writer_finish(struct snap_writer *w, char *err, size_t errlen)
{
	uint8_t h[SNAP_HEADER_SIZE];
	char tmp[sizeof(w->name) + 8];
	int rc, fd = w->fd;

	if (fd < 0) {
		snap_err(err, errlen, PFX "finishing a writer that is not open");
		return -EBADF;
	}
	tmp_name(w, tmp, sizeof(tmp));
	if (w->failed) {
		snap_err(err, errlen, PFX "an earlier write to %s failed: not finished", tmp);
		snap_writer_abort(w);
		return -EIO;
	}
	w->info.nsections = w->nsections;
	header_encode(h, &w->info, w->nsections);
	rc = snap_pio_all(fd, h, sizeof(h), 0, true);
	if (rc < 0) {
		snap_err(err, errlen, PFX "writing the header of %s: %s", tmp, strerror(-rc));
		snap_writer_abort(w);
		return rc;
	}
	if (fsync(fd) < 0) {
		rc = -errno;
		snap_err(err, errlen, PFX "fsync of %s: %s", tmp, strerror(-rc));
		snap_writer_abort(w);
		return rc;
	}
	/* From here the fd is gone, whatever happens. */
	w->fd = -1;
	free(w->keys);
	w->keys = NULL;
	w->keys_cap = 0;
	if (close(fd) < 0) {
		rc = -errno;
		snap_err(err, errlen, PFX "closing %s: %s", tmp, strerror(-rc));
		unlinkat(w->dirfd, tmp, 0);
		return rc;
	}
	rc = rename_noreplace(w->dirfd, tmp, w->name);
	if (rc < 0) {
		snap_err(err, errlen, PFX "renaming %s to %s: %s", tmp, w->name, strerror(-rc));
		unlinkat(w->dirfd, tmp, 0);
		return rc;
	}
	rc = dir_sync(w->dirfd);
	if (rc < 0) {
		/* Not known to be on disk: take it back, the caller sees a failure. */
		unlinkat(w->dirfd, w->name, 0);
		snap_err(err, errlen, PFX "fsync of the directory of %s: %s", w->name,
			 strerror(-rc));
		return rc;
	}
	return 0;
}

void snap_writer_abort(struct snap_writer *w)
{
	char tmp[sizeof(w->name) + 8];

	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
		tmp_name(w, tmp, sizeof(tmp));
		if (!w->in_memory)
			unlinkat(w->dirfd, tmp, 0);
	}
	free(w->keys);
	w->keys = NULL;
	w->keys_cap = 0;
}

/* ---- reader ---- */

static int parse_header(struct snap_reader *r, char *err, size_t errlen)
{
	const uint8_t *h = r->buf;
	uint32_t version, size, crc, nsections;
	const char *why;

	if (r->len > SNAP_FILE_MAX) {
		snap_err(err, errlen, PFX "%zu bytes, at most %u", r->len, SNAP_FILE_MAX);
		return -EFBIG;
	}
	if (r->len < SNAP_MAGIC_LEN || memcmp(h, SNAP_MAGIC, SNAP_MAGIC_LEN)) {
		if (r->len < SNAP_MAGIC_LEN && (r->len == 0 || !memcmp(h, SNAP_MAGIC, r->len)))
			snap_err(err, errlen, PFX "truncated: header at offset 0 needs %d bytes, %zu left",
				 SNAP_HEADER_SIZE, r->len);
		else
			snap_err(err, errlen, PFX "not a nestvm snapshot (bad magic)");
		return -EINVAL;
	}
	if (r->len < SNAP_HEADER_SIZE) {
		snap_err(err, errlen, PFX "truncated: header at offset 0 needs %d bytes, %zu left",
			 SNAP_HEADER_SIZE, r->len);
		return -EINVAL;
	}
	/* The version first: another version may lay out the rest otherwise. */
	version = (uint32_t)get_le(h + HDR_VERSION, 4);
	if (version != SNAP_FORMAT_VERSION) {
		snap_err(err, errlen, PFX "format version %u at offset %d, this build reads %d",
			 version, HDR_VERSION, SNAP_FORMAT_VERSION);
		return -EPROTO;
	}
	size = (uint32_t)get_le(h + HDR_SIZE, 4);
	if (size != SNAP_HEADER_SIZE) {
		snap_err(err, errlen, PFX "header size %u at offset %d, expected %d", size, HDR_SIZE,
			 SNAP_HEADER_SIZE);
		return -EINVAL;
	}
	crc = (uint32_t)get_le(h + HDR_CRC, 4);
	if (crc != snap_crc(h, HDR_CRC)) {
		snap_err(err, errlen, PFX "header at offset 0: header CRC mismatch");
		return -EINVAL;
	}
	for (unsigned int i = HDR_RESERVED; i < HDR_CRC; i++) {
		if (h[i]) {
			snap_err(err, errlen, PFX "header: reserved byte at offset %u is not zero", i);
			return -EINVAL;
		}
	}
	if ((why = field_check(h + HDR_NESTVM, SNAP_VERSION_MAX, 0))) {
		snap_err(err, errlen, PFX "header: nestvm version at offset %d: %s", HDR_NESTVM, why);
		return -EINVAL;
	}
	if ((why = field_check(h + HDR_VENDOR, SNAP_VENDOR_MAX, 0))) {
		snap_err(err, errlen, PFX "header: CPU vendor at offset %d: %s", HDR_VENDOR, why);
		return -EINVAL;
	}
	nsections = (uint32_t)get_le(h + HDR_NSECTIONS, 4);
	if (nsections > SNAP_MAX_SECTIONS) {
		snap_err(err, errlen, PFX "header: %u sections, at most %d", nsections,
			 SNAP_MAX_SECTIONS);
		return -EFBIG;
	}
	r->info.format_version = version;
	memcpy(r->info.nestvm_version, h + HDR_NESTVM, SNAP_VERSION_MAX);
	memcpy(r->info.cpu_vendor, h + HDR_VENDOR, SNAP_VENDOR_MAX);
	r->info.created = (int64_t)get_le(h + HDR_CREATED, 8);
	r->info.nsections = nsections;
	return 0;
}

/* Section i at off (its header known to be there, CRC checked by the caller). */
static int parse_section(struct snap_reader *r, uint32_t i, size_t off, char *err,
			 size_t errlen)
{
	const uint8_t *h = r->buf + off;
	struct snap_section *s = &r->sections[i];
	size_t left = r->len - off - SNAP_SECTION_HEADER_SIZE;
	uint64_t length;
	const char *why;

	if ((why = field_check(h, SNAP_TYPE_MAX, 1))) {
		snap_err(err, errlen, PFX "section %u at offset %zu: type name: %s", i, off, why);
		return -EINVAL;
	}
	memcpy(s->type, h, SNAP_TYPE_MAX);
	s->version = (uint32_t)get_le(h + SEC_VERSION, 4);
	s->index = (uint32_t)get_le(h + SEC_INDEX, 4);
	s->offset = off;
	length = get_le(h + SEC_LENGTH, 8);
	if (length > SNAP_SECTION_MAX) {
		snap_err(err, errlen, PFX "section %u (%s %u) at offset %zu: %llu bytes, at most %u",
			 i, s->type, s->index, off, (unsigned long long)length, SNAP_SECTION_MAX);
		return -EFBIG;
	}
	if (length > left) {
		snap_err(err, errlen,
			 PFX "truncated: section %u (%s %u) at offset %zu: payload needs %llu bytes, %zu left",
			 i, s->type, s->index, off, (unsigned long long)length, left);
		return -EINVAL;
	}
	s->data = h + SNAP_SECTION_HEADER_SIZE;
	s->length = (size_t)length;
	if (get_le(h + SEC_PAYLOAD_CRC, 4) != snap_crc(s->data, s->length)) {
		snap_err(err, errlen, PFX "section %u (%s %u) at offset %zu: payload CRC mismatch", i,
			 s->type, s->index, off);
		return -EINVAL;
	}
	for (uint32_t j = 0; j < i; j++) {
		if (r->sections[j].index == s->index && !strcmp(r->sections[j].type, s->type)) {
			snap_err(err, errlen,
				 PFX "section %u (%s %u) at offset %zu: the same type and index as section %u",
				 i, s->type, s->index, off, j);
			return -EINVAL;
		}
	}
	return 0;
}

int snap_parse(struct snap_reader *r, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	size_t off = SNAP_HEADER_SIZE;
	int rc;

	memset(r, 0, sizeof(*r));
	r->buf = buf;
	r->len = len;
	if (!buf && len > 0) {
		snap_err(err, errlen, PFX "no data");
		return -EINVAL;
	}
	rc = parse_header(r, err, errlen);
	if (rc < 0)
		goto fail;
	if (r->info.nsections > 0) {
		r->sections = calloc(r->info.nsections, sizeof(*r->sections));
		if (!r->sections) {
			snap_err(err, errlen, PFX "out of memory for %u sections", r->info.nsections);
			rc = -ENOMEM;
			goto fail;
		}
	}
	for (uint32_t i = 0; i < r->info.nsections; i++) {
		const uint8_t *h = buf + off;

		if (len - off < SNAP_SECTION_HEADER_SIZE) {
			snap_err(err, errlen,
				 PFX "truncated: section %u header at offset %zu needs %d bytes, %zu left",
				 i, off, SNAP_SECTION_HEADER_SIZE, len - off);
			rc = -EINVAL;
			goto fail;
		}
		if (get_le(h + SEC_CRC, 4) != snap_crc(h, SEC_CRC)) {
			snap_err(err, errlen, PFX "section %u at offset %zu: header CRC mismatch", i, off);
			rc = -EINVAL;
			goto fail;
		}
		rc = parse_section(r, i, off, err, errlen);
		if (rc < 0)
			goto fail;
		off += SNAP_SECTION_HEADER_SIZE + r->sections[i].length;
	}
	if (off != len) {
		snap_err(err, errlen,
			 PFX "trailing bytes: %zu at offset %zu, after the last of the %u sections",
			 len - off, off, r->info.nsections);
		rc = -EINVAL;
		goto fail;
	}
	r->nsections = r->info.nsections;
	return 0;
fail:
	free(r->sections);
	memset(r, 0, sizeof(*r));
	return rc;
}

/* Read all of fd (size bytes by fstat) into a new buffer. */
static int read_whole(int fd, size_t size, uint8_t **out, const char *name, char *err,
		      size_t errlen)
{
	uint8_t *buf = malloc(size ? size : 1);
	size_t got = 0;
	uint8_t extra;
	ssize_t k;

	if (!buf) {
		snap_err(err, errlen, PFX "out of memory for %s (%zu bytes)", name, size);
		return -ENOMEM;
	}
	while (got < size) {
		k = read(fd, buf + got, size - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int rc = -errno;

			snap_err(err, errlen, PFX "reading %s at offset %zu: %s", name, got,
				 strerror(-rc));
			free(buf);
			return rc;
		}
		if (k == 0) {
			snap_err(err, errlen, PFX "%s shrank while being read (%zu of %zu bytes)", name,
				 got, size);
			free(buf);
			return -EINVAL;
		}
		got += (size_t)k;
	}
	do
		k = read(fd, &extra, 1);
	while (k < 0 && errno == EINTR);
	if (k != 0) {
		snap_err(err, errlen, PFX "%s grew while being read (past %zu bytes)", name, size);
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	return 0;
}

int snap_reader_load(struct snap_reader *r, int dirfd, const char *name, char *err,
		     size_t errlen)
{
	uint8_t *buf = NULL;
	struct stat st;
	int fd, rc;

	memset(r, 0, sizeof(*r));
	/* O_NONBLOCK: a FIFO put in its place must not hang the open. */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			snap_err(err, errlen, PFX "no snapshot state file %s", name);
		else if (rc == -ELOOP)
			snap_err(err, errlen, PFX "%s is a symbolic link (refused)", name);
		else
			snap_err(err, errlen, PFX "opening %s: %s", name, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snap_err(err, errlen, PFX "fstat of %s: %s", name, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snap_err(err, errlen, PFX "%s is not a regular file", name);
		rc = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > SNAP_FILE_MAX) {
		snap_err(err, errlen, PFX "%s: %lld bytes, at most %u", name, (long long)st.st_size,
			 SNAP_FILE_MAX);
		rc = -EFBIG;
		goto out;
	}
	rc = read_whole(fd, (size_t)st.st_size, &buf, name, err, errlen);
	if (rc < 0)
		goto out;
	rc = snap_parse(r, buf, (size_t)st.st_size, err, errlen);
	if (rc < 0) {
		free(buf);
		goto out;
	}
	r->owns_buf = true;
out:
	close(fd);
	return rc;
}

int snap_reader_align(struct snap_reader *r, char *err, size_t errlen)
{
	size_t total = 0, off = 0;
	uint8_t *a;

	/* At most SNAP_MAX_SECTIONS sections of SNAP_SECTION_MAX bytes: no overflow. */
	for (uint32_t i = 0; i < r->nsections; i++)
		total += (r->sections[i].length + SNAP_ALIGN - 1) & ~(size_t)(SNAP_ALIGN - 1);
	a = aligned_alloc(SNAP_ALIGN, total ? total : SNAP_ALIGN);
	if (!a) {
		snap_err(err, errlen, PFX "out of memory for %zu bytes of sections", total);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < r->nsections; i++) {
		struct snap_section *s = &r->sections[i];

		if (s->length)
			memcpy(a + off, s->data, s->length);
		s->data = a + off;
		off += (s->length + SNAP_ALIGN - 1) & ~(size_t)(SNAP_ALIGN - 1);
	}
	free(r->aligned);
	r->aligned = a;
	return 0;
}

void snap_reader_free(struct snap_reader *r)
{
	free(r->aligned);
	free(r->sections);
	if (r->owns_buf)
		free((void *)r->buf);
	memset(r, 0, sizeof(*r));
}

const struct snap_section *snap_find(const struct snap_reader *r, const char *type,
				     uint32_t index)
{
	for (uint32_t i = 0; i < r->nsections; i++)
		if (r->sections[i].index == index && !strcmp(r->sections[i].type, type))
			return &r->sections[i];
	return NULL;
}

unsigned int snap_count(const struct snap_reader *r, const char *type)
{
	unsigned int n = 0;

	for (uint32_t i = 0; i < r->nsections; i++)
		if (!strcmp(r->sections[i].type, type))
			n++;
	return n;
}
