/* virtio-blk (virtio 1.x spec, section 5.2) on a raw image file or block
 * device.
 *
 * A request is a 16-byte header {le32 type, le32 reserved, le64 sector} at
 * the start of the readable stream, data buffers, and a one-byte status at
 * the very end of the writable stream. Everything in it is guest-controlled:
 *  - a header shorter than 16 bytes, or no writable byte for the status,
 *    cannot be answered: the request is returned with used length 0;
 *  - a data length that is not a multiple of 512, a range that overflows
 *    or ends past the capacity, a write to a read-only disk, and a failed
 *    or short pread/pwrite are VIRTIO_BLK_S_IOERR;
 *  - FLUSH is fdatasync(); once one has failed every later flush fails too
 *    (the kernel reports a writeback error once, the data may be gone), so
 *    the guest is never told its data is safe when it may not be;
 *  - unknown types are VIRTIO_BLK_S_UNSUPP.
 * The used length is the number of bytes written into the writable
 * buffers, status byte included.
 *
 * The image is locked with flock() (exclusive, or shared for read-only) so
 * that two VMs never write one image, or one writes what another reads.
 */
#include "virtio/blk.h"

#include "virtio/le.h"
#include "vmm/jsoncheck.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vmm/device.h"
#include "vmm/log.h"

#define BLK_QUEUE_SIZE 256
#define BLK_HDR_LEN    16
/* Data buffers in one request: the header and the status take one each. */
#define BLK_SEG_MAX    (VQ_MAX_BUFS - 2)


/* ---- request handling ---- */

/* Gather `len` bytes of the readable (writable == false) or writable stream
 * of req, starting `skip` bytes into it, as an iovec array. Returns the
 * number of entries; the buffers cover exactly len bytes because the caller
 * checked len + skip against out_len/in_len. */
static int blk_gather(const struct vq_req *req, bool writable, uint64_t skip, uint64_t len,
		      struct iovec *iov)
{
	int n = 0;

	for (unsigned int i = 0; i < req->nbufs && i < VQ_MAX_BUFS && len > 0; i++) {
		const struct vq_buf *b = &req->bufs[i];
		uint64_t blen = b->len;

		if (b->writable != writable)
			continue;
		if (skip >= blen) {
			skip -= blen;
			continue;
		}
		blen -= skip;
		if (blen > len)
			blen = len;
		iov[n].iov_base = (uint8_t *)b->addr + skip;
		iov[n].iov_len = (size_t)blen;
		n++;
		skip = 0;
		len -= blen;
	}
	return n;
}

/* preadv/pwritev the whole iovec at off: retries EINTR, goes on after a
 * partial transfer. 0, or -errno (-EIO when the file ended early).
 * *done = bytes transferred. */
static int blk_transfer(int fd, struct iovec *iov, int iovcnt, uint64_t off, bool write,
			uint64_t *done)
{
	int i = 0;

	*done = 0;
	while (i < iovcnt) {
		ssize_t n = write ? pwritev(fd, iov + i, iovcnt - i, (off_t)off)
				  : preadv(fd, iov + i, iovcnt - i, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		*done += (uint64_t)n;
		off += (uint64_t)n;
		size_t left = (size_t)n;
		while (i < iovcnt && left >= iov[i].iov_len) {
			left -= iov[i].iov_len;
			i++;
		}
		if (i < iovcnt) {
			iov[i].iov_base = (uint8_t *)iov[i].iov_base + left;
			iov[i].iov_len -= left;
		}
	}
	return 0;
}

/* Is [sector, sector + len bytes) a valid range of whole sectors? */
static bool blk_range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t len)
{
	if (len % VIRTIO_BLK_SECTOR)
		return false;
	if (sector > blk->capacity)
		return false;
	return len / VIRTIO_BLK_SECTOR <= blk->capacity - sector;
}

/* IN or OUT: len data bytes (writable stream from 0 for a read, readable
 * stream after the header for a write). */
static int blk_rw(struct virtio_blk *blk, const struct vq_req *req, uint64_t sector, uint64_t len,
		  bool write, uint32_t *data_written)
{
	struct iovec iov[VQ_MAX_BUFS];
	uint64_t done = 0;
	int n, r;

	if (write && blk->cfg.readonly) {
		log_debug("%s: write to read-only disk refused", blk->cfg.path);
		return VIRTIO_BLK_S_IOERR;
	}
	if (!blk_range_ok(blk, sector, len)) {
		log_debug("%s: %s of %" PRIu64 " bytes at sector %" PRIu64 " refused (capacity %"
			  PRIu64 " sectors)", blk->cfg.path, write ? "write" : "read", len, sector,
			  blk->capacity);
		return VIRTIO_BLK_S_IOERR;
	}
	if (len == 0)
		return VIRTIO_BLK_S_OK;
	n = blk_gather(req, !write, write ? BLK_HDR_LEN : 0, len, iov);
	r = blk_transfer(blk->fd, iov, n, sector * VIRTIO_BLK_SECTOR, write, &done);
	if (!write)
		*data_written = (uint32_t)done;
	if (r) {
		log_warn("%s: %s of %" PRIu64 " bytes at sector %" PRIu64 " failed: %s",
			 blk->cfg.path, write ? "write" : "read", len, sector, strerror(-r));
		return VIRTIO_BLK_S_IOERR;
	}
	if (write)
		blk->writes++;
	else
		blk->reads++;
	return VIRTIO_BLK_S_OK;
}

static int blk_flush(struct virtio_blk *blk)
{
	blk->flushes++;
	if (blk->cfg.readonly)
		return VIRTIO_BLK_S_OK;   /* nothing was written through this fd */
	if (blk->sync_failed)
		return VIRTIO_BLK_S_IOERR;
	while (fdatasync(blk->fd) < 0) {
		if (errno == EINTR)
			continue;
		log_error("%s: fdatasync failed: %s; every later flush will fail", blk->cfg.path,
			  strerror(errno));
		blk->sync_failed = true;
		return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

int blk_handle_request(struct virtio_blk *blk, const struct vq_req *req, uint32_t *written)
{
	uint8_t hdr[BLK_HDR_LEN], st;
	uint32_t type, data_written = 0;
	uint64_t sector, in_data, out_data;
	int status;

	*written = 0;
	if (req->out_len < BLK_HDR_LEN || req->in_len < 1)
		return -EINVAL;
	if (vq_req_read(req, 0, hdr, BLK_HDR_LEN) != BLK_HDR_LEN)
		return -EINVAL;
	type = (uint32_t)le_get(hdr, 4);
	sector = le_get(hdr + 8, 8);
	in_data = req->in_len - 1;           /* writable bytes before the status */
	out_data = req->out_len - BLK_HDR_LEN; /* readable bytes after the header */

	switch (type) {
	case VIRTIO_BLK_T_IN:
		status = blk_rw(blk, req, sector, in_data, false, &data_written);
		break;
	case VIRTIO_BLK_T_OUT:
		status = blk_rw(blk, req, sector, out_data, true, &data_written);
		break;
	case VIRTIO_BLK_T_FLUSH:
		status = blk_flush(blk);
		break;
	case VIRTIO_BLK_T_GET_ID: {
		uint64_t n = in_data < VIRTIO_BLK_ID_BYTES ? in_data : VIRTIO_BLK_ID_BYTES;
		data_written = (uint32_t)vq_req_write(req, 0, blk->serial, n);
		status = VIRTIO_BLK_S_OK;
		break;
	}
	default:
		log_debug("%s: unsupported request type %" PRIu32, blk->cfg.path, type);
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	if (status == VIRTIO_BLK_S_IOERR)
		blk->errors++;
	st = (uint8_t)status;
	vq_req_write(req, req->in_len - 1, &st, 1);
	/* in_len fits in 32 bits (vq_pop), and data_written < in_len. */
	*written = data_written + 1;
	return status;
}

/* ---- transport glue ---- */

void blk_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	const struct virtio_blk *blk = dev;

	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = (uint64_t)off + i;
		data[i] = o < sizeof(blk->config) ? blk->config[o] : 0;
	}
}

static void blk_queue_notify(void *dev, struct virtio_pci *vp, unsigned int q)
{
	struct virtio_blk *blk = dev;
	struct virtqueue *vq = &vp->queues[q].vq;
	struct vq_req req;
	bool pushed = false;
	int r;

	while ((r = vq_pop(vq, &req)) != 0) {
		uint32_t written = 0;

		if (r == -EIO) {
			log_warn("%s: the request queue is corrupt; device needs a reset",
				 blk->cfg.path);
			if (pushed)
				virtio_pci_queue_done(vp, q);
			virtio_pci_needs_reset(vp);
			return;
		}
		if (r == 1) {
			if (blk_handle_request(blk, &req, &written) < 0) {
				log_debug("%s: request without a header or status byte",
					  blk->cfg.path);
				blk->errors++;
				written = 0;
			}
		} else {
			/* Malformed chain: vq_pop() kept no buffers, so there is
			 * no status byte to report to. */
			log_debug("%s: malformed request (head %u)", blk->cfg.path, req.head);
			blk->errors++;
		}
		vq_push(vq, req.head, written);
		pushed = true;
	}
	if (pushed)
		virtio_pci_queue_done(vp, q);
}

static const struct virtio_device_ops blk_ops_rw = {
	.name = "virtio-blk",
	.device_id = 2,
	.class_code = 0x018000,
	.features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH |
		    VIRTIO_F_RING_EVENT_IDX | VIRTIO_F_RING_INDIRECT_DESC,
	.num_queues = 1,
	.queue_max = BLK_QUEUE_SIZE,
	.config_len = VIRTIO_BLK_CONFIG_LEN,
	.config_read = blk_config_read,
	.queue_notify = blk_queue_notify,
};

static const struct virtio_device_ops blk_ops_ro = {
	.name = "virtio-blk",
	.device_id = 2,
	.class_code = 0x018000,
	.features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH |
		    VIRTIO_BLK_F_RO | VIRTIO_F_RING_EVENT_IDX | VIRTIO_F_RING_INDIRECT_DESC,
	.num_queues = 1,
	.queue_max = BLK_QUEUE_SIZE,
	.config_len = VIRTIO_BLK_CONFIG_LEN,
	.config_read = blk_config_read,
	.queue_notify = blk_queue_notify,
};

_Static_assert(VIRTIO_BLK_CONFIG_LEN <= sizeof(((struct virtio_blk *)0)->config),
	       "config space fits");

/* ---- opening the image ---- */

static void blk_set_serial(struct virtio_blk *blk, unsigned int index)
{
	char s[VIRTIO_BLK_ID_BYTES + 1];

	memset(s, 0, sizeof(s));
	snprintf(s, sizeof(s), "nestvm-disk-%u", index);
	memcpy(blk->serial, s, sizeof(blk->serial));
}

static void blk_fill_config(struct virtio_blk *blk)
{
	memset(blk->config, 0, sizeof(blk->config));
	le_put(blk->config + 0, blk->capacity, 8);        /* capacity */
	le_put(blk->config + 12, BLK_SEG_MAX, 4);         /* seg_max */
	le_put(blk->config + 20, VIRTIO_BLK_SECTOR, 4);   /* blk_size */
}

static int blk_fail(struct virtio_blk *blk, int r)
{
	if (blk->fd >= 0)
		close(blk->fd);
	blk->fd = -1;
	return r;
}

int blk_open(struct virtio_blk *blk, const struct blk_config *cfg, char *err, size_t errlen)
{
	const char *path = cfg->path;
	struct stat st;
	uint64_t size;
	int r;

	blk->fd = -1;
	blk->capacity = 0;
	blk->reads = blk->writes = blk->flushes = blk->errors = 0;
	blk->sync_failed = false;
	if (strnlen(cfg->path, BLK_PATH_MAX) >= BLK_PATH_MAX) {
		snprintf(err, errlen, "disk path too long");
		return -ENAMETOOLONG;
	}
	blk->cfg = *cfg;
	/* O_NONBLOCK: opening a FIFO by mistake must not hang; cleared below. */
	blk->fd = open(path, (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
	if (blk->fd < 0) {
		r = -errno;
		if (r == -EISDIR) {
			snprintf(err, errlen, "disk %s is not a regular file or a block device", path);
			return blk_fail(blk, -EINVAL);
		}
		snprintf(err, errlen, "cannot open disk %s: %s", path, strerror(-r));
		return blk_fail(blk, r);
	}
	if (fstat(blk->fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot stat disk %s: %s", path, strerror(-r));
		return blk_fail(blk, r);
	}
	if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(blk->fd, BLKGETSIZE64, &size) < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot get the size of disk %s: %s", path,
				 strerror(-r));
			return blk_fail(blk, r);
		}
	} else {
		snprintf(err, errlen, "disk %s is not a regular file or a block device", path);
		return blk_fail(blk, -EINVAL);
	}
	if (fcntl(blk->fd, F_SETFL, 0) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot set up disk %s: %s", path, strerror(-r));
		return blk_fail(blk, r);
	}
	if (size % VIRTIO_BLK_SECTOR) {
		snprintf(err, errlen, "disk %s is %" PRIu64 " bytes, not a multiple of %d", path,
			 size, VIRTIO_BLK_SECTOR);
		return blk_fail(blk, -EINVAL);
	}
	while (flock(blk->fd, (cfg->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		r = -errno;
		if (r == -EWOULDBLOCK) {
			if (cfg->readonly)
				snprintf(err, errlen, "disk %s is in use: another process holds "
					 "it for writing (exclusive lock)", path);
			else
				snprintf(err, errlen, "disk %s is in use by another process "
					 "(locked)", path);
			return blk_fail(blk, -EBUSY);
		}
		snprintf(err, errlen, "cannot lock disk %s: %s", path, strerror(-r));
		return blk_fail(blk, r);
	}
	blk->capacity = size / VIRTIO_BLK_SECTOR;
	blk_set_serial(blk, 0);
	blk_fill_config(blk);
	return 0;
}

/* The how-manieth virtio-blk function on the bus this one is (by slot). */
static unsigned int blk_index(const struct pci_bus *bus, const struct pci_device *self)
{
	unsigned int n = 0;

	for (unsigned int s = 0; s < PCI_MAX_SLOTS && s < self->slot; s++) {
		const struct pci_device *d = bus->slots[s];
		if (d && le_get(d->config, 2) == VIRTIO_PCI_VENDOR &&
		    le_get(d->config + 2, 2) == VIRTIO_PCI_DEVICE_BASE + 2)
			n++;
	}
	return n;
}

int virtio_blk_init(struct virtio_blk *blk, const struct blk_config *cfg,
		    const struct device_host *h, char *err, size_t errlen)
{
	struct pci_bus *bus = h->pci;
	int r = blk_open(blk, cfg, err, errlen);

	if (r)
		return r;
	r = virtio_pci_init(&blk->vp, h, cfg->readonly ? &blk_ops_ro : &blk_ops_rw, blk);
	if (r) {
		snprintf(err, errlen, "cannot create virtio-blk for %s: %s", cfg->path,
			 strerror(-r));
		return blk_fail(blk, r);
	}
	blk_set_serial(blk, blk_index(bus, &blk->vp.pci));
	log_debug("disk %s: %" PRIu64 " sectors%s, slot %u, serial %.20s", cfg->path,
		  blk->capacity, cfg->readonly ? ", read-only" : "", blk->vp.pci.slot, blk->serial);
	return 0;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	if (blk->fd >= 0) {
		log_debug("disk %s: %" PRIu64 " reads, %" PRIu64 " writes, %" PRIu64
			  " flushes, %" PRIu64 " errors", blk->cfg.path, blk->reads, blk->writes,
			  blk->flushes, blk->errors);
		close(blk->fd);
	}
	blk->fd = -1;
}

/* ---- device state (src/vmm/device.h) ---- */

static void blk_save(void *dev, void *state)
{
	struct virtio_blk *blk = dev;
	struct virtio_blk_state *st = state;

	memset(st, 0, sizeof(*st));
	virtio_pci_save(&blk->vp, &st->vp);
	st->capacity = blk->capacity;
	memcpy(st->serial, blk->serial, sizeof(st->serial));
	st->readonly = blk->cfg.readonly;
}

static int blk_restore(void *dev, const void *state, size_t size, uint32_t version, char *err,
		       size_t errlen)
{
	struct virtio_blk *blk = dev;
	const struct virtio_blk_state *st = state;
	int r = device_state_check_header(&virtio_blk_class, size, version, err, errlen);

	if (r)
		return r;
	if (st->capacity != blk->capacity) {
		snprintf(err, errlen, "virtio-blk: capacity %" PRIu64 " sectors in the state, "
			 "disk %s has %" PRIu64, st->capacity, blk->cfg.path, blk->capacity);
		return -EINVAL;
	}
	if (memcmp(st->serial, blk->serial, sizeof(st->serial))) {
		snprintf(err, errlen, "virtio-blk: serial %.20s in the state, disk %s is %.20s",
			 st->serial, blk->cfg.path, blk->serial);
		return -EINVAL;
	}
	if (st->readonly != (uint8_t)blk->cfg.readonly) {
		snprintf(err, errlen, "virtio-blk: readonly %u in the state, disk %s is %s",
			 st->readonly, blk->cfg.path, blk->cfg.readonly ? "read-only" : "read-write");
		return -EINVAL;
	}
	if (st->pad[0] || st->pad[1] || st->pad[2]) {
		snprintf(err, errlen, "virtio-blk: pad bytes are not 0");
		return -EINVAL;
	}
	r = virtio_pci_check(&blk->vp, &st->vp, err, errlen);
	if (r)
		return r;
	virtio_pci_load(&blk->vp, &st->vp);
	return 0;
}

/* ---- snapshots ---- */

static int blk_snapshot_flush(void *dev, char *err, size_t errlen)
{
	struct virtio_blk *blk = dev;

	if (blk_flush(blk) != VIRTIO_BLK_S_OK) {
		snprintf(err, errlen, "disk %s: fdatasync failed", blk->cfg.path);
		return -EIO;
	}
	return 0;
}

static int blk_backing_file(void *dev, int *fd, const char **path, bool *read_only)
{
	struct virtio_blk *blk = dev;

	*fd = blk->fd;
	*path = blk->cfg.path;
	*read_only = blk->cfg.readonly;
	return 0;
}

/* ---- the device class ---- */

static const char *const blk_config_keys[] = { "path", "readonly", NULL };

/* "PATH[,ro]" (or ",readonly"). */
static int blk_config_parse(const char *arg, json_t **out, char *err, size_t errlen)
{
	const char *comma = strrchr(arg, ',');
	size_t len = strlen(arg);
	bool ro = false;

	*out = NULL;
	if (comma && (strcmp(comma, ",ro") == 0 || strcmp(comma, ",readonly") == 0)) {
		len = (size_t)(comma - arg);
		ro = true;
	}
	if (len == 0)
		return jcheck_err(err, errlen, "--disk needs a path");
	if (len >= BLK_PATH_MAX)
		return jcheck_err(err, errlen, "--disk: the path is too long");
	*out = json_pack("{s:s%, s:b}", "path", arg, len, "readonly", ro);
	return *out ? 0 : jcheck_err(err, errlen, "--disk: out of memory");
}

static int blk_config_check(const json_t *cfg, char *err, size_t errlen)
{
	const char *path;
	bool ro;
	int r;

	r = jcheck_known(cfg, NULL, blk_config_keys, err, errlen);
	if (!r)
		r = jcheck_str(cfg, NULL, "path", true, BLK_PATH_MAX, &path, err, errlen);
	if (!r && !path[0])
		r = jcheck_err(err, errlen, "\"path\" is empty");
	return r ? r : jcheck_bool(cfg, NULL, "readonly", &ro, err, errlen);
}

int blk_config_from_json(const json_t *cfg, struct blk_config *out, char *err, size_t errlen)
{
	int r = blk_config_check(cfg, err, errlen);

	if (r)
		return r;
	memset(out, 0, sizeof(*out));
	snprintf(out->path, sizeof(out->path), "%s",
		 json_string_value(json_object_get(cfg, "path")));
	out->readonly = json_is_true(json_object_get(cfg, "readonly"));
	return 0;
}

static int blk_create(const struct device_host *h, const json_t *cfg, void **dev, char *err,
		      size_t errlen)
{
	struct virtio_blk *blk = calloc(1, sizeof(*blk));
	struct blk_config bc;
	int r;

	*dev = blk;
	if (!blk) {
		snprintf(err, errlen, "virtio-blk: out of memory");
		return -ENOMEM;
	}
	blk->fd = -1;
	r = blk_config_from_json(cfg, &bc, err, errlen);
	return r ? r : virtio_blk_init(blk, &bc, h, err, errlen);
}

static void blk_destroy(void *dev)
{
	if (!dev)
		return;
	virtio_blk_destroy(dev);
	free(dev);
}

const struct device_class virtio_blk_class = {
	.name = "virtio-blk",
	/* No thread of its own: requests run synchronously on the I/O loop,
	 * which the machine parks between two of them (none is half-done). */
	.quiesce = NULL,
	.resume = NULL,
	.state_version = VIRTIO_BLK_STATE_VERSION,
	.state_size = sizeof(struct virtio_blk_state),
	.save = blk_save,
	.restore = blk_restore,
	.flush = blk_snapshot_flush,
	.backing_file = blk_backing_file,
	.cli_option = "disk",
	.cli_help = "      --disk PATH[,ro] a virtio-blk disk on a raw image file (repeatable)\n",
	.json_key = "disks",
	.max_count = 8,
	.config_parse = blk_config_parse,
	.config_check = blk_config_check,
	.config_path_key = "path",
	.create = blk_create,
	.destroy = blk_destroy,
};
