/* virtio-blk (type 2) on a raw image file. Reads and writes go straight to
 * the file (pread/pwrite on the I/O thread); VIRTIO_BLK_F_FLUSH completes
 * only after fdatasync() returns; a failed read, write or sync reaches the
 * guest as VIRTIO_BLK_S_IOERR, never as success; requests beyond the end
 * of the disk are refused. */
#ifndef NESTVM_VIRTIO_BLK_H
#define NESTVM_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio_pci.h"
#include "vmm/device.h"

#define BLK_PATH_MAX 4096
#define VIRTIO_BLK_ID_BYTES   20        /* GET_ID answer length */

struct blk_config {
	char path[BLK_PATH_MAX];
	bool readonly;
};

struct virtio_blk {
	struct virtio_pci vp;
	struct blk_config cfg;
	int fd;
	uint64_t capacity;       /* in 512-byte sectors */
	uint8_t config[64];      /* struct virtio_blk_config, little endian */
	uint64_t reads, writes, flushes, errors;
	char serial[VIRTIO_BLK_ID_BYTES];         /* GET_ID answer, NUL padded ("nestvm-disk-N") */
	bool sync_failed;        /* an fdatasync() failed: every later flush fails */
};

/* The guest-visible state (virtio_blk_class, version
 * VIRTIO_BLK_STATE_VERSION): the transport, and what the guest learnt of
 * the disk (capacity, read-only, GET_ID serial), which a restore requires
 * to be the same. Nothing else: requests complete synchronously on the I/O
 * loop, so none is in flight at a save. */
struct virtio_blk_state {
	struct virtio_pci_state vp;
	uint64_t capacity;
	char serial[VIRTIO_BLK_ID_BYTES];
	uint8_t readonly;
	uint8_t pad[3];
};

#define VIRTIO_BLK_STATE_VERSION 1

/* The device class (src/vmm/device.h): dev is a struct virtio_blk *. */
/* The device class (`--disk PATH[,ro]`, "disks": [{"path", "readonly"}]
 * in a VM's configuration). */
extern const struct device_class virtio_blk_class;

/* A checked configuration object into a struct blk_config. 0 or -EINVAL. */
int blk_config_from_json(const json_t *cfg, struct blk_config *out, char *err, size_t errlen);

/* Request types and status values (virtio 1.x spec, 5.2.6). */
#define VIRTIO_BLK_T_IN       0
#define VIRTIO_BLK_T_OUT      1
#define VIRTIO_BLK_T_FLUSH    4
#define VIRTIO_BLK_T_GET_ID   8
#define VIRTIO_BLK_S_OK       0
#define VIRTIO_BLK_S_IOERR    1
#define VIRTIO_BLK_S_UNSUPP   2

#define VIRTIO_BLK_F_SEG_MAX  (1ULL << 2)
#define VIRTIO_BLK_F_RO       (1ULL << 5)
#define VIRTIO_BLK_F_BLK_SIZE (1ULL << 6)
#define VIRTIO_BLK_F_FLUSH    (1ULL << 9)

#define VIRTIO_BLK_SECTOR     512
#define VIRTIO_BLK_CONFIG_LEN 64

/* Open the image and create the device. -errno with a message in err
 * (missing file, not a regular file or block device, size not a multiple
 * of 512 bytes, ...). */
int virtio_blk_init(struct virtio_blk *blk, const struct blk_config *cfg,
		    const struct device_host *h, char *err, size_t errlen);
void virtio_blk_destroy(struct virtio_blk *blk);

/* The parts of virtio_blk_init() that need no VM (unit-testable):
 * open cfg->path (O_RDWR, or O_RDONLY when readonly; O_CLOEXEC), check that
 * it is a regular file or block device whose size is a multiple of 512
 * bytes, take flock(LOCK_EX|LOCK_NB) (LOCK_SH for read-only) so that two VMs
 * never write one image, and fill cfg, fd, capacity, serial and config.
 * -errno with a message in err (-ENOENT "cannot open disk X: ...", -EINVAL
 * "disk X is N bytes, not a multiple of 512", -EBUSY when locked, ...);
 * on error blk->fd is -1 and nothing is left open. */
int blk_open(struct virtio_blk *blk, const struct blk_config *cfg, char *err, size_t errlen);

/* Carry out one request taken from the queue (no locking; I/O thread).
 * Returns the status written into the request's last writable byte
 * (VIRTIO_BLK_S_OK, _IOERR or _UNSUPP), *written = bytes written into the
 * writable buffers, status byte included; or -EINVAL when the request
 * cannot be answered (header shorter than 16 bytes, or no writable status
 * byte): nothing was written, *written = 0, and the caller completes it
 * with vq_push(head, 0). */
int blk_handle_request(struct virtio_blk *blk, const struct vq_req *req, uint32_t *written);

/* Device configuration space reads (struct virtio_blk_config, little
 * endian); bytes outside it read as 0. */
void blk_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len);

#endif
