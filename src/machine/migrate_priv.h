/* What the two halves of a migration share (migrate_send.c,
 * migrate_recv.c): the HELLO and reading a frame of the conversation. */
#ifndef NESTVM_MACHINE_MIGRATE_PRIV_H
#define NESTVM_MACHINE_MIGRATE_PRIV_H

#include "machine/migrate.h"

void mig_hello_fill(struct mig_hello *h);
/* The peer's HELLO: magic, protocol version, page size. */
int mig_hello_check(const void *data, size_t len, const char *peer, char *err, size_t errlen);
/* The next frame, which must be `want`. The peer's REFUSE or ABORT gives
 * -ECONNREFUSED / -ECANCELED with its text in err; another type -EPROTO. */
int mig_expect(struct xport_conn *c, uint32_t want, const void **data, size_t *len, size_t max,
	       int timeout_ms, const char *peer, char *err, size_t errlen);
/* A frame of `type` came where `want` was due: the peer's REFUSE or
 * ABORT (-ECONNREFUSED / -ECANCELED, its text in err), else -EPROTO. */
int mig_unexpected(uint32_t type, const void *data, size_t len, uint32_t want,
		   const char *peer, char *err, size_t errlen);
/* A REFUSE or ABORT with this text (best effort: the stream may be gone). */
void mig_send_text(struct xport_conn *c, uint32_t type, const char *text);
const char *mig_frame_name(uint32_t type);
/* Fault injection for the tests (docs/migration.md, "Tests"): with
 * NESTVM_MIGRATE_FAULT=kill@POINT the process is killed (SIGKILL) at
 * POINT, with cut@POINT the connection is shut down there. Points:
 * src-offer, src-round1, src-state, src-go; dst-accept, dst-pages,
 * dst-state, dst-ready, dst-running. */
void mig_fault(struct xport_conn *c, const char *point);

#endif
