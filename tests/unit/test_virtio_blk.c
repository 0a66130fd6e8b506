/* Unit tests of src/virtio/blk.c without KVM: blk_open() on temporary
 * image files, blk_handle_request() on vq_req structures built over local
 * buffers (the way vq_pop() would hand them over), and the configuration
 * space. A failing read, write or sync must be VIRTIO_BLK_S_IOERR, never
 * VIRTIO_BLK_S_OK. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio/blk.h"

#define SECTORS   300                   /* test image: 150 KiB */
#define IMG_SIZE  (SECTORS * 512)

struct fixture {
	char path[64];
	struct virtio_blk *blk;
	char err[256];
};

/* A request under construction: buffers over local memory. */
struct rq {
	struct vq_req req;
	uint8_t hdr[16];
	uint8_t status;
};

static void rq_add(struct rq *r, void *addr, uint32_t len, bool writable)
{
	assert_true(r->req.nbufs < VQ_MAX_BUFS);
	r->req.bufs[r->req.nbufs].addr = addr;
	r->req.bufs[r->req.nbufs].len = len;
	r->req.bufs[r->req.nbufs].writable = writable;
	r->req.nbufs++;
	if (writable)
		r->req.in_len += len;
	else
		r->req.out_len += len;
}

/* Start a request: the 16-byte header in one readable buffer. */
static void rq_init(struct rq *r, uint32_t type, uint64_t sector)
{
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 4; i++)
		r->hdr[i] = (uint8_t)(type >> (8 * i));
	for (int i = 0; i < 8; i++)
		r->hdr[8 + i] = (uint8_t)(sector >> (8 * i));
	r->status = 0xaa;
	rq_add(r, r->hdr, sizeof(r->hdr), false);
}

static void rq_status(struct rq *r)
{
	rq_add(r, &r->status, 1, true);
}

static int handle(struct fixture *f, struct rq *r, uint32_t *written)
{
	*written = 0xdeadbeef;
	return blk_handle_request(f->blk, &r->req, written);
}

static void make_image(const char *path, size_t size, uint8_t seed)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	uint8_t *buf = malloc(size ? size : 1);

	assert_true(fd >= 0);
	assert_non_null(buf);
	for (size_t i = 0; i < size; i++)
		buf[i] = (uint8_t)(seed + i * 7 + i / 512);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	close(fd);
	free(buf);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct blk_config cfg = { .readonly = false };
	const char *tmp = getenv("TMPDIR");
	int fd;

	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "%s/nestvm-blk-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	close(fd);
	make_image(f->path, IMG_SIZE, 1);
	f->blk = calloc(1, sizeof(*f->blk));
	assert_non_null(f->blk);
	snprintf(cfg.path, sizeof(cfg.path), "%s", f->path);
	assert_int_equal(blk_open(f->blk, &cfg, f->err, sizeof(f->err)), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_blk_destroy(f->blk);
	unlink(f->path);
	free(f->blk);
	free(f);
	return 0;
}

/* Reopen the fixture's image with other settings. */
static int reopen(struct fixture *f, bool readonly)
{
	struct blk_config cfg = { .readonly = readonly };

	virtio_blk_destroy(f->blk);
	snprintf(cfg.path, sizeof(cfg.path), "%s", f->path);
	return blk_open(f->blk, &cfg, f->err, sizeof(f->err));
}

static void file_read(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* ---- blk_open ---- */

static void test_open(void **state)
{
	struct fixture *f = *state;

	assert_true(f->blk->fd >= 0);
	assert_int_equal(f->blk->capacity, SECTORS);
	assert_false(f->blk->cfg.readonly);
	assert_string_equal(f->blk->cfg.path, f->path);
	/* O_CLOEXEC */
	assert_true(fcntl(f->blk->fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fcntl(f->blk->fd, F_GETFL) & O_ACCMODE, O_RDWR);
	assert_false(fcntl(f->blk->fd, F_GETFL) & O_NONBLOCK);
	assert_int_equal(reopen(f, true), 0);
	assert_int_equal(fcntl(f->blk->fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	assert_true(f->blk->cfg.readonly);
}

static void test_open_missing(void **state)
{
	struct fixture *f = *state;
	struct blk_config cfg = { .readonly = false };
	struct virtio_blk *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	snprintf(cfg.path, sizeof(cfg.path), "%s.missing", f->path);
	assert_int_equal(blk_open(b, &cfg, f->err, sizeof(f->err)), -ENOENT);
	assert_non_null(strstr(f->err, "cannot open disk"));
	assert_non_null(strstr(f->err, cfg.path));
	assert_int_equal(b->fd, -1);
	cfg.readonly = true;
	assert_int_equal(blk_open(b, &cfg, f->err, sizeof(f->err)), -ENOENT);
	assert_int_equal(b->fd, -1);
	virtio_blk_destroy(b);
	free(b);
}

static void test_open_not_multiple(void **state)
{
	struct fixture *f = *state;
	struct blk_config cfg = { .readonly = false };
	struct virtio_blk *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	virtio_blk_destroy(f->blk);
	make_image(f->path, 1000, 0);
	snprintf(cfg.path, sizeof(cfg.path), "%s", f->path);
	assert_int_equal(blk_open(b, &cfg, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "is 1000 bytes, not a multiple of 512"));
	assert_non_null(strstr(f->err, f->path));
	assert_int_equal(b->fd, -1);
	/* An empty file is a valid (empty) disk. */
	make_image(f->path, 0, 0);
	assert_int_equal(blk_open(b, &cfg, f->err, sizeof(f->err)), 0);
	assert_int_equal(b->capacity, 0);
	virtio_blk_destroy(b);
	free(b);
}

static void test_open_not_file(void **state)
{
	struct fixture *f = *state;
	struct blk_config cfg = { .readonly = true };
	struct virtio_blk *b = calloc(1, sizeof(*b));
	const char *tmp = getenv("TMPDIR");

	assert_non_null(b);
	snprintf(cfg.path, sizeof(cfg.path), "%s", tmp ? tmp : "/tmp");
	assert_int_equal(blk_open(b, &cfg, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "not a regular file or a block device"));
	assert_int_equal(b->fd, -1);
	cfg.readonly = false;
	assert_int_equal(blk_open(b, &cfg, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "not a regular file or a block device"));
	assert_int_equal(b->fd, -1);

	/* A FIFO: refused at once, not a hang waiting for a writer. */
	char fifo[96];
	snprintf(fifo, sizeof(fifo), "%s.fifo", f->path);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	snprintf(cfg.path, sizeof(cfg.path), "%s", fifo);
	cfg.readonly = true;
	assert_int_equal(blk_open(b, &cfg, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "not a regular file or a block device"));
	assert_int_equal(b->fd, -1);
	unlink(fifo);
	free(b);
}

static void test_open_locked(void **state)
{
	struct fixture *f = *state;
	struct blk_config cfg = { .readonly = false };
	struct virtio_blk *b = calloc(1, sizeof(*b));
	int fd;

	assert_non_null(b);
	snprintf(cfg.path, sizeof(cfg.path), "%s", f->path);
	/* The fixture holds LOCK_EX: a second writer and a reader are refused. */
	assert_int_equal(blk_open(b, &cfg, f->err, sizeof(f->err)), -EBUSY);
	assert_non_null(strstr(f->err, "in use"));
	assert_non_null(strstr(f->err, f->path));
	assert_int_equal(b->fd, -1);
	cfg.readonly = true;
	assert_int_equal(blk_open(b, &cfg, f->err, sizeof(f->err)), -EBUSY);
	assert_int_equal(b->fd, -1);

	/* Someone else's exclusive lock. */
	virtio_blk_destroy(f->blk);
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	cfg.readonly = false;
	assert_int_equal(blk_open(b, &cfg, f->err, sizeof(f->err)), -EBUSY);
	cfg.readonly = true;
	assert_int_equal(blk_open(b, &cfg, f->err, sizeof(f->err)), -EBUSY);
	/* A shared lock: readers share it, a writer is refused. */
	assert_int_equal(flock(fd, LOCK_SH), 0);
	assert_int_equal(blk_open(b, &cfg, f->err, sizeof(f->err)), 0);
	virtio_blk_destroy(b);
	cfg.readonly = false;
	assert_int_equal(blk_open(b, &cfg, f->err, sizeof(f->err)), -EBUSY);
	close(fd);
	/* Released: the writer gets it. */
	assert_int_equal(blk_open(b, &cfg, f->err, sizeof(f->err)), 0);
	virtio_blk_destroy(b);
	assert_int_equal(b->fd, -1);
	free(b);
}

/* ---- configuration space ---- */

static void test_config(void **state)
{
	struct fixture *f = *state;
	uint8_t c[8];
	uint64_t cap = 0;

	blk_config_read(f->blk, 0, c, 8);
	for (int i = 0; i < 8; i++)
		cap |= (uint64_t)c[i] << (8 * i);
	assert_int_equal(cap, SECTORS);
	assert_int_equal(c[0], SECTORS & 0xff);
	assert_int_equal(c[1], SECTORS >> 8);
	for (int i = 2; i < 8; i++)
		assert_int_equal(c[i], 0);
	/* blk_size = 512 at 20, seg_max at 12 */
	blk_config_read(f->blk, 20, c, 4);
	assert_int_equal(c[0] | c[1] << 8 | c[2] << 16 | (uint32_t)c[3] << 24, 512);
	blk_config_read(f->blk, 12, c, 4);
	assert_true((c[0] | c[1] << 8) >= 1);
	assert_true((c[0] | c[1] << 8) <= VQ_MAX_BUFS - 2);
	assert_int_equal(c[2] | c[3], 0);
	/* Byte accesses into the middle; past the end reads 0. */
	blk_config_read(f->blk, 1, c, 1);
	assert_int_equal(c[0], SECTORS >> 8);
	memset(c, 0x55, sizeof(c));
	blk_config_read(f->blk, 60, c, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(c[i], 0);
	blk_config_read(f->blk, UINT32_MAX, c, 2);
	assert_int_equal(c[0] | c[1], 0);

	/* A big (sparse) image: capacity little endian over 8 bytes. Skipped
	 * where the file system cannot hold a 2 TiB sparse file. */
	if (truncate(f->path, 0x0102030405ULL * 512) == 0) {
		static const uint8_t want[8] = { 5, 4, 3, 2, 1, 0, 0, 0 };

		assert_int_equal(reopen(f, false), 0);
		assert_int_equal(f->blk->capacity, 0x0102030405ULL);
		blk_config_read(f->blk, 0, c, 8);
		assert_memory_equal(c, want, 8);
		blk_config_read(f->blk, 4, c, 4);
		assert_memory_equal(c, want + 4, 4);
	} else {
		fprintf(stderr, "note: no 2 TiB sparse file here (%s); skipped that part\n",
			strerror(errno));
	}
}

/* ---- requests ---- */

static void test_write_read(void **state)
{
	struct fixture *f = *state;
	uint8_t out[1024], in[1024], file[1024];
	struct rq r;
	uint32_t w;

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 13 + 5);
	/* Two sectors at sector 3, in buffers that do not follow sectors. */
	rq_init(&r, VIRTIO_BLK_T_OUT, 3);
	rq_add(&r, out, 700, false);
	rq_add(&r, out + 700, 324, false);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(r.status, VIRTIO_BLK_S_OK);
	assert_int_equal(w, 1);
	file_read(f->path, 3 * 512, file, sizeof(file));
	assert_memory_equal(file, out, sizeof(out));

	memset(in, 0, sizeof(in));
	rq_init(&r, VIRTIO_BLK_T_IN, 3);
	rq_add(&r, in, 100, true);
	rq_add(&r, in + 100, 924, true);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(r.status, VIRTIO_BLK_S_OK);
	assert_int_equal(w, 1025);
	assert_memory_equal(in, out, sizeof(out));

	/* The neighbours were not touched. */
	uint8_t orig[512], now[512];
	for (size_t i = 0; i < 512; i++)
		orig[i] = (uint8_t)(1 + (2 * 512 + i) * 7 + 2);
	file_read(f->path, 2 * 512, now, 512);
	assert_memory_equal(now, orig, 512);
	assert_int_equal(file_size(f->path), IMG_SIZE);
	assert_int_equal(f->blk->reads, 1);
	assert_int_equal(f->blk->writes, 1);
	assert_int_equal(f->blk->errors, 0);
}

/* Header split over buffers; data and status sharing one buffer; the last
 * sector of the disk. */
static void test_layouts(void **state)
{
	struct fixture *f = *state;
	uint8_t out[512], buf[513], hdr[16];
	struct rq r;
	uint32_t w;

	memset(out, 0x5a, sizeof(out));
	rq_init(&r, VIRTIO_BLK_T_OUT, SECTORS - 1);
	memcpy(hdr, r.hdr, 16);
	r.req.nbufs = 0;
	r.req.out_len = 0;
	rq_add(&r, hdr, 5, false);
	rq_add(&r, hdr + 5, 11, false);
	rq_add(&r, out, 512, false);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(w, 1);

	/* Header and data in one readable buffer. */
	uint8_t both[16 + 512];
	rq_init(&r, VIRTIO_BLK_T_OUT, 0);
	memcpy(both, r.hdr, 16);
	memset(both + 16, 0x77, 512);
	r.req.nbufs = 0;
	r.req.out_len = 0;
	rq_add(&r, both, sizeof(both), false);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_OK);
	file_read(f->path, 0, buf, 512);
	for (int i = 0; i < 512; i++)
		assert_int_equal(buf[i], 0x77);

	memset(buf, 0, sizeof(buf));
	rq_init(&r, VIRTIO_BLK_T_IN, SECTORS - 1);
	rq_add(&r, buf, sizeof(buf), true);   /* 512 data bytes + the status */
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(w, 513);
	assert_memory_equal(buf, out, 512);
	assert_int_equal(buf[512], VIRTIO_BLK_S_OK);
}

/* As many buffers as a request can hold. */
static void test_many_buffers(void **state)
{
	struct fixture *f = *state;
	enum { N = VQ_MAX_BUFS - 2 };
	enum { B = 256 };  /* N * B is a multiple of 512 */
	uint8_t *out = malloc(N * B), *in = calloc(1, N * B);
	struct rq r;
	uint32_t w;

	assert_non_null(out);
	assert_non_null(in);
	for (size_t i = 0; i < N * B; i++)
		out[i] = (uint8_t)(i ^ (i >> 8));
	rq_init(&r, VIRTIO_BLK_T_OUT, 10);
	for (int i = 0; i < N; i++)
		rq_add(&r, out + B * i, B, false);
	rq_status(&r);
	assert_int_equal(r.req.nbufs, VQ_MAX_BUFS);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_OK);
	rq_init(&r, VIRTIO_BLK_T_IN, 10);
	for (int i = 0; i < N; i++)
		rq_add(&r, in + B * i, B, true);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(w, N * B + 1);
	assert_memory_equal(in, out, N * B);
	free(out);
	free(in);
}

static void test_zero_length(void **state)
{
	struct fixture *f = *state;
	struct rq r;
	uint32_t w;

	rq_init(&r, VIRTIO_BLK_T_IN, 0);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(w, 1);
	rq_init(&r, VIRTIO_BLK_T_OUT, SECTORS);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_OK);
	rq_init(&r, VIRTIO_BLK_T_IN, SECTORS + 1);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_IOERR);
}

static void test_readonly(void **state)
{
	struct fixture *f = *state;
	uint8_t out[512], before[512], after[512];
	struct rq r;
	uint32_t w;

	assert_int_equal(reopen(f, true), 0);
	file_read(f->path, 0, before, sizeof(before));
	memset(out, 0xee, sizeof(out));
	rq_init(&r, VIRTIO_BLK_T_OUT, 0);
	rq_add(&r, out, sizeof(out), false);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_IOERR);
	assert_int_equal(r.status, VIRTIO_BLK_S_IOERR);
	assert_int_equal(w, 1);
	file_read(f->path, 0, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(f->blk->errors, 1);
	assert_int_equal(f->blk->writes, 0);

	/* Reads and flushes still work. */
	rq_init(&r, VIRTIO_BLK_T_IN, 0);
	rq_add(&r, out, sizeof(out), true);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_OK);
	assert_memory_equal(out, before, sizeof(out));
	rq_init(&r, VIRTIO_BLK_T_FLUSH, 0);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_OK);
}

static void test_out_of_range(void **state)
{
	struct fixture *f = *state;
	static const struct { uint64_t sector; uint32_t len; } bad[] = {
		{ SECTORS, 512 },
		{ SECTORS - 1, 1024 },
		{ SECTORS + 1, 512 },
		{ UINT64_MAX, 512 },
		{ UINT64_MAX / 512 + 1, 512 },  /* sector * 512 overflows */
		{ (UINT64_MAX / 512 + 1) - 1, 1024 },
		{ 1ULL << 55, 512 },
		{ 0, IMG_SIZE + 512 },
	};
	uint8_t *buf = calloc(1, IMG_SIZE + 512);
	struct rq r;
	uint32_t w;

	assert_non_null(buf);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rq_init(&r, VIRTIO_BLK_T_IN, bad[i].sector);
		rq_add(&r, buf, bad[i].len, true);
		rq_status(&r);
		assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_IOERR);
		assert_int_equal(r.status, VIRTIO_BLK_S_IOERR);
		assert_int_equal(w, 1);

		rq_init(&r, VIRTIO_BLK_T_OUT, bad[i].sector);
		rq_add(&r, buf, bad[i].len, false);
		rq_status(&r);
		assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_IOERR);
		assert_int_equal(r.status, VIRTIO_BLK_S_IOERR);
		assert_int_equal(w, 1);
	}
	assert_int_equal(file_size(f->path), IMG_SIZE);
	assert_int_equal(f->blk->errors, 2 * sizeof(bad) / sizeof(bad[0]));
	/* The whole disk is fine. */
	rq_init(&r, VIRTIO_BLK_T_IN, 0);
	rq_add(&r, buf, IMG_SIZE, true);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(w, IMG_SIZE + 1);
	free(buf);
}

static void test_misaligned(void **state)
{
	struct fixture *f = *state;
	static const uint32_t lens[] = { 1, 511, 513, 1000, 1023 };
	uint8_t buf[1024];
	struct rq r;
	uint32_t w;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		rq_init(&r, VIRTIO_BLK_T_IN, 1);
		rq_add(&r, buf, lens[i], true);
		rq_status(&r);
		assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_IOERR);
		assert_int_equal(w, 1);
		rq_init(&r, VIRTIO_BLK_T_OUT, 1);
		rq_add(&r, buf, lens[i], false);
		rq_status(&r);
		assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_IOERR);
	}
	assert_int_equal(f->blk->writes + f->blk->reads, 0);
}

static void test_no_status(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[512];
	struct rq r;
	uint32_t w;

	/* No writable buffer at all. */
	rq_init(&r, VIRTIO_BLK_T_IN, 0);
	assert_int_equal(handle(f, &r, &w), -EINVAL);
	assert_int_equal(w, 0);
	rq_init(&r, VIRTIO_BLK_T_OUT, 0);
	rq_add(&r, buf, sizeof(buf), false);
	assert_int_equal(handle(f, &r, &w), -EINVAL);
	assert_int_equal(w, 0);
	rq_init(&r, VIRTIO_BLK_T_FLUSH, 0);
	assert_int_equal(handle(f, &r, &w), -EINVAL);
	assert_int_equal(w, 0);
	assert_int_equal(f->blk->flushes + f->blk->writes + f->blk->reads, 0);
	/* Nothing at all. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(handle(f, &r, &w), -EINVAL);
	assert_int_equal(w, 0);
}

static void test_short_header(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[512];
	struct rq r;
	uint32_t w;

	for (uint32_t len = 0; len < 16; len++) {
		rq_init(&r, VIRTIO_BLK_T_IN, 0);
		r.req.bufs[0].len = len;
		r.req.out_len = len;
		if (len == 0) {
			r.req.nbufs = 0;
		}
		rq_add(&r, buf, sizeof(buf), true);
		rq_status(&r);
		r.status = 0xaa;
		assert_int_equal(handle(f, &r, &w), -EINVAL);
		assert_int_equal(w, 0);
		assert_int_equal(r.status, 0xaa);  /* nothing written */
	}
	/* A header in writable memory does not count. */
	rq_init(&r, VIRTIO_BLK_T_IN, 0);
	r.req.bufs[0].writable = true;
	r.req.out_len = 0;
	r.req.in_len = 16;
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), -EINVAL);
}

static void test_flush(void **state)
{
	struct fixture *f = *state;
	struct rq r;
	uint32_t w;

	rq_init(&r, VIRTIO_BLK_T_FLUSH, 0);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(r.status, VIRTIO_BLK_S_OK);
	assert_int_equal(w, 1);
	assert_int_equal(f->blk->flushes, 1);
	assert_false(f->blk->sync_failed);
}

/* fdatasync fails (a pipe cannot be synced): IOERR, and every later flush
 * fails too, even once the fd could be synced again. */
static void test_flush_fails(void **state)
{
	struct fixture *f = *state;
	int p[2], good = f->blk->fd;
	struct rq r;
	uint32_t w;

	assert_int_equal(pipe(p), 0);
	f->blk->fd = p[1];
	rq_init(&r, VIRTIO_BLK_T_FLUSH, 0);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_IOERR);
	assert_int_equal(r.status, VIRTIO_BLK_S_IOERR);
	assert_int_equal(w, 1);
	assert_true(f->blk->sync_failed);
	f->blk->fd = good;
	close(p[0]);
	close(p[1]);
	rq_init(&r, VIRTIO_BLK_T_FLUSH, 0);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_IOERR);
	assert_int_equal(r.status, VIRTIO_BLK_S_IOERR);
	assert_int_equal(f->blk->errors, 2);
}

/* pwrite/pread fail (wrong access mode: EBADF): IOERR. */
static void test_io_fails(void **state)
{
	struct fixture *f = *state;
	int good = f->blk->fd, fd;
	uint8_t buf[1024];
	struct rq r;
	uint32_t w;

	memset(buf, 0x33, sizeof(buf));
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	f->blk->fd = fd;
	rq_init(&r, VIRTIO_BLK_T_OUT, 0);
	rq_add(&r, buf, sizeof(buf), false);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_IOERR);
	assert_int_equal(r.status, VIRTIO_BLK_S_IOERR);
	assert_int_equal(w, 1);
	close(fd);

	fd = open(f->path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	f->blk->fd = fd;
	rq_init(&r, VIRTIO_BLK_T_IN, 0);
	rq_add(&r, buf, sizeof(buf), true);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_IOERR);
	assert_int_equal(r.status, VIRTIO_BLK_S_IOERR);
	assert_int_equal(w, 1);
	close(fd);
	f->blk->fd = good;
	assert_int_equal(f->blk->errors, 2);
	assert_int_equal(f->blk->reads + f->blk->writes, 0);
}

/* The image shrank behind our back: the read ends early -> IOERR, with the
 * bytes that did arrive counted in the used length. */
static void test_short_read(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[1024];
	struct rq r;
	uint32_t w;

	assert_int_equal(truncate(f->path, IMG_SIZE - 512), 0);
	rq_init(&r, VIRTIO_BLK_T_IN, SECTORS - 2);
	rq_add(&r, buf, sizeof(buf), true);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_IOERR);
	assert_int_equal(r.status, VIRTIO_BLK_S_IOERR);
	assert_int_equal(w, 512 + 1);
}

static void test_get_id(void **state)
{
	struct fixture *f = *state;
	uint8_t id[20], small[8];
	char want[20] = "nestvm-disk-0";
	struct rq r;
	uint32_t w;

	memset(id, 0xff, sizeof(id));
	rq_init(&r, VIRTIO_BLK_T_GET_ID, 0);
	rq_add(&r, id, sizeof(id), true);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(r.status, VIRTIO_BLK_S_OK);
	assert_int_equal(w, 21);
	assert_memory_equal(id, want, sizeof(want));
	/* A smaller buffer gets what fits. */
	rq_init(&r, VIRTIO_BLK_T_GET_ID, 0);
	rq_add(&r, small, sizeof(small), true);
	rq_status(&r);
	assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(w, 9);
	assert_memory_equal(small, want, sizeof(small));
}

static void test_unsupported(void **state)
{
	struct fixture *f = *state;
	static const uint32_t types[] = { 2, 3, 5, 11, 13, 14, 0xffffffffu };
	uint8_t buf[512];
	struct rq r;
	uint32_t w;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		rq_init(&r, types[i], 0);
		rq_add(&r, buf, sizeof(buf), false);
		rq_status(&r);
		assert_int_equal(handle(f, &r, &w), VIRTIO_BLK_S_UNSUPP);
		assert_int_equal(r.status, VIRTIO_BLK_S_UNSUPP);
		assert_int_equal(w, 1);
	}
	assert_int_equal(f->blk->errors, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_open),
		T(test_open_missing),
		T(test_open_not_multiple),
		T(test_open_not_file),
		T(test_open_locked),
		T(test_config),
		T(test_write_read),
		T(test_layouts),
		T(test_many_buffers),
		T(test_zero_length),
		T(test_readonly),
		T(test_out_of_range),
		T(test_misaligned),
		T(test_no_status),
		T(test_short_header),
		T(test_flush),
		T(test_flush_fails),
		T(test_io_fails),
		T(test_short_read),
		T(test_get_id),
		T(test_unsupported),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
