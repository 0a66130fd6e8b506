/* The source half of a live migration (machine/migrate.h). */
#include "machine/migrate_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapshot/memory.h"
#include "vmm/dirty_log.h"
#include "vmm/log.h"

#define MIG_HELLO_TIMEOUT_MS 30000
#define MIG_READY_TIMEOUT_MS 120000   /* the destination checks and loads the state */
#define MIG_RUNNING_TIMEOUT_MS 30000
#define MIG_MAX_ROUNDS       40
#define MIG_THROTTLE_STEP    20        /* percent */
#define MIG_THROTTLE_MAX     80
#define MIG_THROTTLE_SLICE_MS 50

struct mig_tx {
	struct vm *vm;
	struct xport_conn *conn;
	const char *to;
	uint64_t npages;
	/* The batch being built. Pages are copied out of guest RAM first:
	 * the guest goes on writing them, and a frame's CRC covers its bytes
	 * as sent (a page written meanwhile is dirty again: the next round
	 * sends it again). */
	struct mig_pages_hdr hdr;
	uint64_t idx[MIG_BATCH_PAGES];
	uint8_t *stage;                 /* MIG_BATCH_PAGES pages */
	/* Throttle: the vCPUs are stopped throttle_pct of the time. */
	unsigned int throttle_pct;
	double run_since;
	uint64_t pages;
};

static double mig_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void mig_sleep_ms(double ms)
{
	struct timespec t = { (time_t)(ms / 1000), (long)((ms - (double)(time_t)(ms / 1000) * 1000) *
							  1e6) };

	nanosleep(&t, NULL);
}

/* Between batches: stop the vCPUs for their share of the last slice. */
static void mig_throttle(struct mig_tx *t)
{
	double now = mig_now_ms(), stop_ms;

	if (!t->throttle_pct || now - t->run_since < MIG_THROTTLE_SLICE_MS)
		return;
	stop_ms = (now - t->run_since) * t->throttle_pct / (100 - t->throttle_pct);
	if (vm_pause(t->vm) == 0) {
		mig_sleep_ms(stop_ms);
		vm_resume(t->vm);
	}
	t->run_since = mig_now_ms();
}

static int mig_flush(struct mig_tx *t, char *err, size_t errlen)
{
	int r;

	if (!t->hdr.count)
		return 0;
	struct iovec iov[3] = {
		{ &t->hdr, sizeof(t->hdr) },
		{ t->idx, t->hdr.count * sizeof(t->idx[0]) },
		{ t->stage, (size_t)t->hdr.ndata * DIRTY_PAGE },
	};

	r = xport_sendv(t->conn, MIG_F_PAGES, iov, t->hdr.ndata ? 3 : 2, err, errlen);
	t->pages += t->hdr.count;
	t->hdr.count = t->hdr.ndata = 0;
	if (!r)
		mig_throttle(t);
	return r;
}

/* One page into the batch: copied, then looked at (the copy is what is
 * sent; zero in the copy is zero as sent). */
static int mig_add_page(struct mig_tx *t, uint64_t i, bool skip_zero, char *err, size_t errlen)
{
	uint8_t *copy = t->stage + (size_t)t->hdr.ndata * DIRTY_PAGE;
	bool zero;

	memcpy(copy, t->vm->mem.host + i * DIRTY_PAGE, DIRTY_PAGE);
	zero = snap_page_is_zero(copy);
	if (zero && skip_zero)
		return 0;
	t->idx[t->hdr.count++] = i << 1 | (zero ? 1 : 0);
	if (!zero)
		t->hdr.ndata++;
	return t->hdr.count == MIG_BATCH_PAGES ? mig_flush(t, err, errlen) : 0;
}

/* Every page whose bit is set (bits cleared as they go). */
static int mig_send_bitmap(struct mig_tx *t, unsigned long *bits, bool skip_zero, char *err,
			   size_t errlen)
{
	size_t words = (size_t)((t->npages + DIRTY_BITS - 1) / DIRTY_BITS);
	int r = 0;

	for (size_t w = 0; w < words && !r; w++) {
		while (bits[w] && !r) {
			unsigned int b = (unsigned int)__builtin_ctzl(bits[w]);
			uint64_t i = (uint64_t)w * DIRTY_BITS + b;

			bits[w] &= bits[w] - 1;
			if (i < t->npages)
				r = mig_add_page(t, i, skip_zero, err, errlen);
		}
	}
	return r ? r : mig_flush(t, err, errlen);
}

/* HELLO both ways, then the OFFER (the state, read in a brief quiesce)
 * and the destination's answer. */
static int mig_offer(struct mig_tx *t, struct platform *p, struct machine_quiesce *q,
		     const struct machine_migrate_req *req, char *err, size_t errlen)
{
	struct mig_hello h;
	const void *data;
	uint8_t *buf = NULL;
	size_t len;
	bool nested = false;
	int r;

	mig_hello_fill(&h);
	r = xport_send(t->conn, MIG_F_HELLO, &h, sizeof(h), err, errlen);
	if (!r)
		r = mig_expect(t->conn, MIG_F_HELLO, &data, &len, sizeof(h), MIG_HELLO_TIMEOUT_MS,
			       t->to, err, errlen);
	if (!r)
		r = mig_hello_check(data, len, t->to, err, errlen);
	if (r)
		return r;
	r = machine_quiesce(q, err, errlen);
	if (r)
		return r;
	r = machine_state_build(t->vm, p, req->config_json, false, &buf, &len, &nested, err,
				errlen);
	machine_resume(q);
	if (r)
		return r;
	r = xport_send(t->conn, MIG_F_OFFER, buf, len, err, errlen);
	free(buf);
	mig_fault(t->conn, "src-offer");
	if (!r)
		r = mig_expect(t->conn, MIG_F_ACCEPT, &data, &len, 0, MIG_READY_TIMEOUT_MS, t->to,
			       err, errlen);
	return r;
}

/* Pre-copy: everything that may hold data, then rounds of what the guest
 * wrote meanwhile, until the rest fits the downtime (or no longer
 * shrinks: then the vCPUs are throttled, step by step). */
static int mig_precopy(struct mig_tx *t, struct dirty_log *d, unsigned long *bits,
		       const struct machine_migrate_req *req, double deadline,
		       struct machine_migrate_result *out, char *err, size_t errlen)
{
	double max_down = req->max_downtime_ms ? req->max_downtime_ms : 300;
	uint64_t prev = UINT64_MAX;
	unsigned int stuck = 0;
	int r;

	snap_mem_candidates(t->vm->mem.host, t->vm->mem.size, req->mem_fd, bits);
	for (unsigned int round = 0;; round++) {
		double t0 = mig_now_ms();
		uint64_t b0 = xport_bytes_sent(t->conn), dirty;

		r = mig_send_bitmap(t, bits, round == 0, err, errlen);
		if (r)
			return r;
		if (round == 0)
			mig_fault(t->conn, "src-round1");
		if (mig_now_ms() > t0 && xport_bytes_sent(t->conn) > b0)
			out->mbytes_per_s = (double)(xport_bytes_sent(t->conn) - b0) / 1048576.0 /
					    ((mig_now_ms() - t0) / 1000.0);
		r = dirty_log_sync(d, t->vm, bits, false, err, errlen);
		if (r)
			return r;
		dirty = dirty_bitmap_count(bits, d->nwords);
		out->rounds = round + 1;
		log_info("migration to %s: round %u sent, %llu pages dirty, %.1f MiB/s, throttle %u%%",
			 t->to, round, (unsigned long long)dirty, out->mbytes_per_s, t->throttle_pct);
		if (out->mbytes_per_s > 0 &&
		    (double)dirty * DIRTY_PAGE / 1048576.0 / out->mbytes_per_s * 1000 <= max_down)
			return 0;
		if (round + 1 >= MIG_MAX_ROUNDS)
			return 0;   /* as good as it gets: the rest with the guest stopped */
		if (mig_now_ms() > deadline) {
			snprintf(err, errlen, "the migration to %s did not converge within %u s (%llu "
				 "pages still dirty each round at %.1f MiB/s, vCPUs throttled %u%%): "
				 "the VM runs on here; try a larger --max-downtime or --timeout", t->to,
				 req->timeout_s ? req->timeout_s : 600, (unsigned long long)dirty,
				 out->mbytes_per_s, t->throttle_pct);
			return -ETIMEDOUT;
		}
		stuck = dirty * 10 > prev * 9 ? stuck + 1 : 0;
		if (stuck >= 2 && t->throttle_pct < MIG_THROTTLE_MAX) {
			t->throttle_pct += MIG_THROTTLE_STEP;
			t->run_since = mig_now_ms();
			stuck = 0;
		}
		prev = dirty;
	}
}

/* The guest stopped: its state, the last pages (and every page a device
 * wrote during the migration), then the destination takes over. */
static int mig_finish(struct mig_tx *t, struct platform *p, struct dirty_log *d,
		      unsigned long *bits, const struct machine_migrate_req *req, bool nested,
		      struct machine_migrate_result *out, char *err, size_t errlen)
{
	const void *data;
	uint8_t *buf = NULL;
	size_t len;
	uint64_t before = t->pages;
	int r;

	r = machine_state_build(t->vm, p, req->config_json, nested, &buf, &len,
				&out->nested_guest_running, err, errlen);
	/* After the state is read: KVM writes guest memory as it saves some. */
	if (!r)
		r = dirty_log_sync(d, t->vm, bits, true, err, errlen);
	t->throttle_pct = 0;
	if (!r)
		r = mig_send_bitmap(t, bits, false, err, errlen);
	out->last_pages = t->pages - before;
	if (!r)
		r = xport_send(t->conn, MIG_F_STATE, buf, len, err, errlen);
	free(buf);
	mig_fault(t->conn, "src-state");
	if (!r)
		r = mig_expect(t->conn, MIG_F_READY, &data, &len, 0, MIG_READY_TIMEOUT_MS, t->to,
			       err, errlen);
	if (!r)
		r = xport_send(t->conn, MIG_F_GO, NULL, 0, err, errlen);
	mig_fault(t->conn, "src-go");
	if (!r)
		r = mig_expect(t->conn, MIG_F_RUNNING, &data, &len, 0, MIG_RUNNING_TIMEOUT_MS,
			       t->to, err, errlen);
	return r;
}

int machine_migrate_send(struct vm *vm, struct platform *p, struct machine_quiesce *q,
			 const struct machine_migrate_req *req, struct machine_migrate_result *out,
			 char *err, size_t errlen)
{
	struct mig_tx *t = calloc(1, sizeof(*t));
	struct dirty_log d = { 0 };
	unsigned long *bits = dirty_bitmap_new(vm->mem.size / DIRTY_PAGE);
	double t0 = mig_now_ms(), tq = 0;
	double deadline = t0 + 1000.0 * (req->timeout_s ? req->timeout_s : 600);
	bool nested, quiesced = false;
	int r;

	memset(out, 0, sizeof(*out));
	if (t)
		t->stage = malloc(MIG_BATCH_PAGES * DIRTY_PAGE);
	if (!t || !bits || !t->stage) {
		if (t)
			free(t->stage);
		free(t);
		free(bits);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (machine_is_quiesced(q)) {
		free(t->stage);
		free(t);
		free(bits);
		snprintf(err, errlen, "the VM is paused: resume it (nestvm resume) before migrating "
			 "it");
		return -EBUSY;
	}
	t->vm = vm;
	t->conn = req->conn;
	t->to = req->to;
	t->npages = vm->mem.size / DIRTY_PAGE;
	nested = machine_nested_runs_moving(vm);
	r = mig_offer(t, p, q, req, err, errlen);
	if (!r)
		r = dirty_log_start(&d, vm, err, errlen);
	if (!r)
		r = mig_precopy(t, &d, bits, req, deadline, out, err, errlen);
	if (!r || d.on) {
		/* Also on failure: the dirty log goes off with the devices quiet. */
		char why[400];
		int q_r = machine_quiesce(q, why, sizeof(why));

		quiesced = q_r == 0;
		if (!r && q_r) {
			snprintf(err, errlen, "%s", why);
			r = q_r;
		}
		tq = r ? 0 : mig_now_ms();
	}
	if (!r)
		r = mig_finish(t, p, &d, bits, req, nested, out, err, errlen);
	dirty_log_stop(&d, vm);   /* devices quiesced (or it never started) */
	if (r && r != -ECONNREFUSED && r != -ECANCELED) {
		/* A destination that refused mid-stream closed it: what we saw
		 * is the cut; its REFUSE may still be there to read. */
		const void *data;
		size_t len;
		uint32_t type;
		char why[600];

		if (xport_recv(t->conn, &type, &data, &len, MIG_MSG_MAX, 1000, why, sizeof(why)) == 0 &&
		    (type == MIG_F_REFUSE || type == MIG_F_ABORT))
			r = mig_unexpected(type, data, len, MIG_F_READY, t->to, err, errlen);
	}
	if (r) {
		/* Tell the destination (it cleans up) unless it spoke last. */
		if (r != -ECONNREFUSED && r != -ECANCELED)
			mig_send_text(t->conn, MIG_F_ABORT, err);
		if (quiesced)
			machine_resume(q);
	}
	out->pages = t->pages;
	out->bytes = xport_bytes_sent(t->conn);
	out->throttle_pct = t->throttle_pct;
	out->total_ms = mig_now_ms() - t0;
	out->downtime_ms = tq ? mig_now_ms() - tq : 0;
	free(t->stage);
	free(t);
	free(bits);
	if (!r)
		log_info("migrated to %s: %u rounds, %llu pages, %llu bytes, %.0f ms in all, guest "
			 "stopped %.0f ms (%llu pages then)", req->to, out->rounds,
			 (unsigned long long)out->pages, (unsigned long long)out->bytes,
			 out->total_ms, out->downtime_ms, (unsigned long long)out->last_pages);
	return r;
}
