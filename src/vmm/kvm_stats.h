/* KVM's binary statistics (KVM_GET_STATS_FD, Linux 5.14+): a file with a
 * header, descriptors (name, type, size, offset) and the values (u64s).
 * nestvm reads a few per-vCPU counters from it, "nested_run" (VMRUN /
 * VMLAUNCH / VMRESUME its guest executed) and "guest_mode" (the vCPU is
 * running a nested guest), without stopping the vCPU.
 *
 * The file comes from the kernel, but its layout is parsed as untrusted
 * input anyway: every size and offset is bounds-checked against what was
 * read, and absurd counts are refused. */
#ifndef NESTVM_VMM_KVM_STATS_H
#define NESTVM_VMM_KVM_STATS_H

#include <stddef.h>
#include <stdint.h>

#define KVM_STATS_NONE       UINT64_MAX   /* "no such statistic" position */
#define KVM_STATS_HEADER_LEN 24u          /* struct kvm_stats_header */
#define KVM_STATS_DESC_LEN   16u          /* struct kvm_stats_desc before its name */
#define KVM_STATS_NAME_MAX   4096u        /* the kernel uses 48 */
#define KVM_STATS_DESC_MAX   65536u       /* descriptors we accept */
#define KVM_STATS_BYTES_MAX  (4u << 20)   /* header to the end of the descriptors */

/* Pure: from the header at the start of blob[0, len), where the descriptor
 * block ends (*end, an offset from the start of the file). -EINVAL when the
 * header is short or says something absurd (name_size 0 or above
 * KVM_STATS_NAME_MAX, more than KVM_STATS_DESC_MAX descriptors, a block
 * ending past KVM_STATS_BYTES_MAX). */
int kvm_stats_desc_end(const uint8_t *blob, size_t len, uint64_t *end);

/* Pure: find the statistic called `name` in blob[0, len) (the file from its
 * start, at least to the end of the descriptor block) and set *pos to the
 * file offset of its (first) u64 value. 0; -ENOENT when there is no such
 * statistic, or it is a histogram (its first bucket is no counter); -EINVAL
 * when the layout is malformed (as kvm_stats_desc_end, or the descriptor
 * block is not all inside blob). A descriptor whose name is not
 * NUL-terminated within name_size never matches. */
int kvm_stats_find(const uint8_t *blob, size_t len, const char *name, uint64_t *pos);

/* Pure: the u64 at `pos` in blob[0, len); -EINVAL when it is not all in it. */
int kvm_stats_value(const uint8_t *blob, size_t len, uint64_t pos, uint64_t *val);

/* Read the header and descriptors of a stats fd and look up names[0..n):
 * pos[i] is the position of names[i] or KVM_STATS_NONE. 0 or -errno (then
 * every pos is KVM_STATS_NONE). */
int kvm_stats_locate(int fd, const char *const *names, uint64_t *pos, size_t n);

/* pread one value; -errno, -EIO on a short read, -ENOENT for KVM_STATS_NONE. */
int kvm_stats_read(int fd, uint64_t pos, uint64_t *val);

#endif
