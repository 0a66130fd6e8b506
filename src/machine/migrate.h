/* Live migration of a whole machine over a stream (docs/migration.md):
 * the same state as a snapshot (machine/snapshot.h), sent instead of
 * written, with guest memory copied while the guest runs (pre-copy).
 *
 * The conversation, one frame each (transport/transport.h):
 *   source                              destination
 *   HELLO (magic, protocol, version) ─►
 *                                    ◄─ HELLO
 *   OFFER (the state container, read ─►  checked in full against this host
 *          in a brief quiesce)              and the VM's definition
 *                                    ◄─ ACCEPT | REFUSE (one line)
 *   PAGES ... (all memory, then      ─►  written into guest RAM
 *          rounds of dirty pages)
 *   --- the source quiesces ---
 *   PAGES (the last dirty pages, and ─►
 *          every page a device wrote)
 *   STATE (the state container)      ─►  checked, loaded
 *                                    ◄─ READY | REFUSE
 *   GO                               ─►
 *                                    ◄─ RUNNING (the vCPUs start)
 * ABORT (one line) from the source at any point ends it; the destination
 * then leaves nothing behind. The source resumes its VM on any failure
 * before RUNNING; after RUNNING it ends it ("migrated to ...").
 *
 * Everything received is hostile: frame types out of turn, page indexes
 * outside guest RAM, batch sizes that do not add up, containers that do
 * not parse: refused with one line, never written anywhere.
 *
 * Threads: the VM process's main thread on both sides. */
#ifndef NESTVM_MACHINE_MIGRATE_H
#define NESTVM_MACHINE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "config/vmconfig.h"
#include "machine/platform.h"
#include "machine/quiesce.h"
#include "machine/snapshot.h"
#include "transport/transport.h"
#include "vmm/vm.h"

#define MIG_MAGIC          "NESTVMMG"   /* 8 bytes */
#define MIG_PROTO_VERSION  1
#define MIG_BATCH_PAGES    256          /* pages in one PAGES frame at most */
#define MIG_MSG_MAX        1024         /* REFUSE / ABORT text */

enum mig_frame_type {
	MIG_F_HELLO = 1,
	MIG_F_OFFER,
	MIG_F_ACCEPT,
	MIG_F_REFUSE,
	MIG_F_PAGES,
	MIG_F_STATE,
	MIG_F_READY,
	MIG_F_GO,
	MIG_F_RUNNING,
	MIG_F_ABORT,
};

struct mig_hello {
	char magic[8];
	uint32_t proto;
	uint32_t page_size;           /* 4096 */
	char nestvm_version[32];      /* NUL-terminated */
	uint8_t reserved[16];         /* 0 */
};

/* A PAGES payload: this header, count entries (page index << 1, bit 0 set
 * for a page of zeros), then 4096 bytes for each entry without bit 0, in
 * order. */
struct mig_pages_hdr {
	uint32_t count;               /* 1..MIG_BATCH_PAGES */
	uint32_t ndata;               /* entries with data */
};

/* ---- source ---- */

struct machine_migrate_req {
	struct xport_conn *conn;      /* connected (and authenticated) */
	const char *to;               /* the destination, for messages */
	const char *config_json;      /* the VM's configuration */
	unsigned int max_downtime_ms; /* 0: 300 */
	unsigned int timeout_s;       /* 0: 600 */
	int mem_fd;                   /* guest RAM's backing file (a restored VM), or -1 */
};

struct machine_migrate_result {
	unsigned int rounds;          /* dirty-page rounds after the first copy */
	uint64_t pages;               /* pages sent (data and zero) */
	uint64_t bytes;               /* bytes sent over the stream */
	double total_ms;
	double downtime_ms;           /* guest stopped: quiesce until RUNNING */
	double mbytes_per_s;          /* bandwidth measured */
	unsigned int throttle_pct;    /* the vCPUs' throttle at the end (0 none) */
	uint64_t last_pages;          /* pages sent with the guest stopped */
	bool nested_guest_running;
};

/* Migrate a running machine. 0: the destination runs it; the machine is
 * left quiesced (the caller ends it). On failure the machine runs on as
 * before and the destination was told (ABORT) where the stream still
 * works; -errno with one line. */
int machine_migrate_send(struct vm *vm, struct platform *p, struct machine_quiesce *q,
			 const struct machine_migrate_req *req, struct machine_migrate_result *out,
			 char *err, size_t errlen);

/* ---- destination ---- */

struct machine_incoming {
	struct xport_conn *conn;
	char from[128];               /* the peer, for messages */
	uint8_t *offer;               /* the OFFER container (malloc'ed) */
	size_t offer_len;
	uint64_t pages;               /* pages received */
	int timeout_ms;               /* for each frame; 0: 120 s */
	/* Called once GO has come, before RUNNING is sent: from here the VM
	 * is this side's (the source ends its copy), so it is recorded as
	 * running here before the source can be told. NULL: none. */
	void (*on_go)(void *opaque);
	void *go_opaque;
};

/* HELLO both ways and the OFFER: *config_json is the VM's configuration
 * (malloc'ed, NUL-terminated) for the caller to check or create the VM's
 * definition from. 0 or -errno with one line (the source is told). */
int machine_incoming_hello(struct machine_incoming *in, char **config_json, char *err,
			   size_t errlen);
/* Say no, with a reason the source prints. */
void machine_incoming_refuse(struct machine_incoming *in, const char *why);
/* After vm_create and platform_init: the OFFER checked against this VM and
 * host (host_cpuid: what vCPU 0 would get here), ACCEPT, the pages into
 * guest RAM, then STATE, checked the same way, in *out for
 * machine_restore_apply. A refusal is sent before returning. */
int machine_incoming_receive(struct machine_incoming *in, struct vm *vm,
			     const struct kvm_cpuid2 *host_cpuid, const struct vm_config *cfg,
			     struct machine_restore *out, char *err, size_t errlen);
/* After the state is loaded: READY, wait for GO, RUNNING. 0: start the
 * vCPUs; else the source keeps the VM: end without running it. */
int machine_incoming_commit(struct machine_incoming *in, char *err, size_t errlen);
void machine_incoming_free(struct machine_incoming *in);

#endif
