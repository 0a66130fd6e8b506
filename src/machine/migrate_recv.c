/* The destination half of a live migration (machine/migrate.h). */
#include "machine/migrate_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/memory.h"
#include "vmm/log.h"

#define MIG_FRAME_TIMEOUT_MS 120000

static int mig_timeout(const struct machine_incoming *in)
{
	return in->timeout_ms ? in->timeout_ms : MIG_FRAME_TIMEOUT_MS;
}

void machine_incoming_refuse(struct machine_incoming *in, const char *why)
{
	mig_send_text(in->conn, MIG_F_REFUSE, why);
}

/* The configuration section of the OFFER, as a string. */
static int mig_offer_config(const uint8_t *buf, size_t len, char **out, char *err,
			    size_t errlen)
{
	struct snap_reader rd;
	const struct snap_section *s;
	char why[600];
	int r = snap_parse(&rd, buf, len, why, sizeof(why));

	if (r) {
		snprintf(err, errlen, "the migration offer: %s", why);
		return r;
	}
	s = snap_find(&rd, "config", 0);
	if (!s || s->version != SNAP_CONFIG_VERSION || s->length > (1u << 20)) {
		snap_reader_free(&rd);
		snprintf(err, errlen, "the migration offer has no configuration this nestvm reads");
		return -EINVAL;
	}
	*out = strndup((const char *)s->data, s->length);
	snap_reader_free(&rd);
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

int machine_incoming_hello(struct machine_incoming *in, char **config_json, char *err,
			   size_t errlen)
{
	struct mig_hello h;
	const void *data;
	size_t len;
	int r;

	*config_json = NULL;
	r = mig_expect(in->conn, MIG_F_HELLO, &data, &len, sizeof(h), mig_timeout(in), in->from,
		       err, errlen);
	if (!r)
		r = mig_hello_check(data, len, in->from, err, errlen);
	mig_hello_fill(&h);
	if (r) {
		/* Our HELLO first: the peer learns the version we speak. */
		char ignored[128];

		xport_send(in->conn, MIG_F_HELLO, &h, sizeof(h), ignored, sizeof(ignored));
		machine_incoming_refuse(in, err);
		return r;
	}
	r = xport_send(in->conn, MIG_F_HELLO, &h, sizeof(h), err, errlen);
	if (!r)
		r = mig_expect(in->conn, MIG_F_OFFER, &data, &len, SNAP_FILE_MAX, mig_timeout(in),
			       in->from, err, errlen);
	if (r)
		return r;
	in->offer = malloc(len ? len : 1);
	if (!in->offer) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(in->offer, data, len);
	in->offer_len = len;
	r = mig_offer_config(in->offer, len, config_json, err, errlen);
	if (r)
		machine_incoming_refuse(in, err);
	return r;
}

/* One PAGES frame into guest RAM: every index inside it, the sizes adding
 * up, before a byte is written. */
static int mig_put_pages(struct machine_incoming *in, struct vm *vm, const uint8_t *data,
			 size_t len, char *err, size_t errlen)
{
	struct mig_pages_hdr h;
	uint64_t npages = vm->mem.size / 4096, ndata = 0;
	const uint64_t *idx;
	const uint8_t *page;

	if (len < sizeof(h)) {
		snprintf(err, errlen, "a PAGES frame of %zu bytes", len);
		return -EPROTO;
	}
	memcpy(&h, data, sizeof(h));
	if (h.count == 0 || h.count > MIG_BATCH_PAGES || h.ndata > h.count ||
	    len != sizeof(h) + (size_t)h.count * 8 + (size_t)h.ndata * 4096) {
		snprintf(err, errlen, "a PAGES frame whose sizes do not add up (%u pages, %u with "
			 "data, %zu bytes)", h.count, h.ndata, len);
		return -EPROTO;
	}
	idx = (const uint64_t *)(const void *)(data + sizeof(h));
	for (uint32_t i = 0; i < h.count; i++) {
		uint64_t e;

		memcpy(&e, &idx[i], sizeof(e));
		if ((e >> 1) >= npages) {
			snprintf(err, errlen, "a PAGES frame with page %llu of a VM of %llu pages",
				 (unsigned long long)(e >> 1), (unsigned long long)npages);
			return -EPROTO;
		}
		ndata += !(e & 1);
	}
	if (ndata != h.ndata) {
		snprintf(err, errlen, "a PAGES frame says %u pages with data and has %llu", h.ndata,
			 (unsigned long long)ndata);
		return -EPROTO;
	}
	page = data + sizeof(h) + (size_t)h.count * 8;
	for (uint32_t i = 0; i < h.count; i++) {
		uint64_t e;
		uint8_t *dst;

		memcpy(&e, &idx[i], sizeof(e));
		dst = vm->mem.host + (e >> 1) * 4096;
		if (!(e & 1)) {
			memcpy(dst, page, 4096);
			page += 4096;
		} else if (!snap_page_is_zero(dst)) {
			memset(dst, 0, 4096);
		}
	}
	in->pages += h.count;
	return 0;
}

/* A container (OFFER or STATE) checked as a restore checks a snapshot's. */
static int mig_check_state(struct machine_restore *m, const char *label, const void *data,
			   size_t len, struct vm *vm, const struct kvm_cpuid2 *host_cpuid,
			   const struct vm_config *cfg, char *err, size_t errlen)
{
	uint8_t *copy = malloc(len ? len : 1);
	int r;

	if (!copy) {
		memset(m, 0, sizeof(*m));
		m->dirfd = -1;
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(copy, data, len);
	r = machine_restore_open_buf(m, label, copy, len, cfg, err, errlen);
	if (!r)
		r = machine_restore_check_host(m, vm, host_cpuid, err, errlen);
	return r;
}

int machine_incoming_receive(struct machine_incoming *in, struct vm *vm,
			     const struct kvm_cpuid2 *host_cpuid, const struct vm_config *cfg,
			     struct machine_restore *out, char *err, size_t errlen)
{
	const void *data;
	size_t len;
	uint32_t type;
	char why[600];
	int r;

	r = mig_check_state(out, "the migration offer", in->offer, in->offer_len, vm, host_cpuid,
			    cfg, err, errlen);
	machine_restore_close(out);
	if (r) {
		machine_incoming_refuse(in, err);
		return r;
	}
	r = xport_send(in->conn, MIG_F_ACCEPT, NULL, 0, err, errlen);
	mig_fault(in->conn, "dst-accept");
	while (!r) {
		r = xport_recv(in->conn, &type, &data, &len, XPORT_FRAME_MAX, mig_timeout(in), why,
			       sizeof(why));
		if (r) {
			snprintf(err, errlen, "receiving the VM from %s: %s", in->from, why);
			return r;
		}
		switch (type) {
		case MIG_F_PAGES:
			r = mig_put_pages(in, vm, data, len, why, sizeof(why));
			if (!r && in->pages)
				mig_fault(in->conn, "dst-pages");
			if (r) {
				snprintf(err, errlen, "%s sent %s", in->from, why);
				machine_incoming_refuse(in, err);
			}
			break;
		case MIG_F_STATE:
			r = mig_check_state(out, "the migrated state", data, len, vm, host_cpuid, cfg,
					    err, errlen);
			if (!r)
				mig_fault(in->conn, "dst-state");
			if (r)
				machine_incoming_refuse(in, err);
			else
				log_info("migration from %s: %llu pages and the state received",
					 in->from, (unsigned long long)in->pages);
			return r;
		default:
			/* ABORT, REFUSE and anything out of turn. */
			r = mig_unexpected(type, data, len, MIG_F_STATE, in->from, err, errlen);
			if (r == -EPROTO)
				machine_incoming_refuse(in, err);
			return r;
		}
	}
	return r;
}

int machine_incoming_commit(struct machine_incoming *in, char *err, size_t errlen)
{
	const void *data;
	size_t len;
	int r = xport_send(in->conn, MIG_F_READY, NULL, 0, err, errlen);

	mig_fault(in->conn, "dst-ready");
	if (!r)
		r = mig_expect(in->conn, MIG_F_GO, &data, &len, 0, mig_timeout(in), in->from, err,
			       errlen);
	if (!r && in->on_go)
		in->on_go(in->go_opaque);
	if (!r)
		r = xport_send(in->conn, MIG_F_RUNNING, NULL, 0, err, errlen);
	if (!r)
		mig_fault(in->conn, "dst-running");
	return r;
}

void machine_incoming_free(struct machine_incoming *in)
{
	free(in->offer);
	in->offer = NULL;
	in->offer_len = 0;
}
