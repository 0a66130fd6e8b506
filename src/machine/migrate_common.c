/* The HELLO and the frame reader both halves of a migration use. */
#include "machine/migrate_priv.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "vmm/log.h"
#include "vmm/version.h"

const char *mig_frame_name(uint32_t type)
{
	static const char *const names[] = {
		[MIG_F_HELLO] = "HELLO", [MIG_F_OFFER] = "OFFER", [MIG_F_ACCEPT] = "ACCEPT",
		[MIG_F_REFUSE] = "REFUSE", [MIG_F_PAGES] = "PAGES", [MIG_F_STATE] = "STATE",
		[MIG_F_READY] = "READY", [MIG_F_GO] = "GO", [MIG_F_RUNNING] = "RUNNING",
		[MIG_F_ABORT] = "ABORT",
	};

	return type < sizeof(names) / sizeof(names[0]) && names[type] ? names[type] : "unknown";
}

void mig_hello_fill(struct mig_hello *h)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, MIG_MAGIC, sizeof(h->magic));
	h->proto = MIG_PROTO_VERSION;
	h->page_size = 4096;
	snprintf(h->nestvm_version, sizeof(h->nestvm_version), "%s", NESTVM_VERSION);
}

int mig_hello_check(const void *data, size_t len, const char *peer, char *err, size_t errlen)
{
	struct mig_hello h;

	if (len != sizeof(h)) {
		snprintf(err, errlen, "%s is not a nestvm migration peer (a HELLO of %zu bytes)", peer,
			 len);
		return -EPROTO;
	}
	memcpy(&h, data, sizeof(h));
	if (memcmp(h.magic, MIG_MAGIC, sizeof(h.magic))) {
		snprintf(err, errlen, "%s is not a nestvm migration peer (bad magic)", peer);
		return -EPROTO;
	}
	h.nestvm_version[sizeof(h.nestvm_version) - 1] = '\0';
	if (h.proto != MIG_PROTO_VERSION || h.page_size != 4096) {
		snprintf(err, errlen, "%s speaks migration protocol %u (nestvm %.31s), this nestvm "
			 "%d (%s): migrate between the same nestvm versions", peer, h.proto,
			 h.nestvm_version, MIG_PROTO_VERSION, NESTVM_VERSION);
		return -EPROTO;
	}
	return 0;
}

/* The peer's text, printable, at most MIG_MSG_MAX bytes. */
static void mig_copy_text(char *err, size_t errlen, const char *peer, const char *what,
			  const void *data, size_t len)
{
	char text[MIG_MSG_MAX + 1];
	size_t n = len < MIG_MSG_MAX ? len : MIG_MSG_MAX;

	memcpy(text, data, n);
	text[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			text[i] = ' ';
	snprintf(err, errlen, "%s %s: %s", peer, what, text);
}

int mig_expect(struct xport_conn *c, uint32_t want, const void **data, size_t *len, size_t max,
	       int timeout_ms, const char *peer, char *err, size_t errlen)
{
	char why[600];
	uint32_t type;
	int r;

	size_t cap = max > MIG_MSG_MAX ? max : MIG_MSG_MAX;

	r = xport_recv(c, &type, data, len, cap < XPORT_FRAME_MAX ? cap : XPORT_FRAME_MAX,
		       timeout_ms, why, sizeof(why));
	if (r) {
		snprintf(err, errlen, "waiting for %s from %s: %s", mig_frame_name(want), peer, why);
		return r;
	}
	if (type == want && *len <= max)
		return 0;
	return mig_unexpected(type, *data, *len, want, peer, err, errlen);
}

int mig_unexpected(uint32_t type, const void *data, size_t len, uint32_t want,
		   const char *peer, char *err, size_t errlen)
{
	if (type == MIG_F_REFUSE) {
		mig_copy_text(err, errlen, peer, "refused", data, len);
		return -ECONNREFUSED;
	}
	if (type == MIG_F_ABORT) {
		mig_copy_text(err, errlen, peer, "gave up", data, len);
		return -ECANCELED;
	}
	snprintf(err, errlen, "%s sent %s (%zu bytes) where %s was due: not a migration this "
		 "nestvm follows", peer, mig_frame_name(type), len, mig_frame_name(want));
	return -EPROTO;
}

void mig_send_text(struct xport_conn *c, uint32_t type, const char *text)
{
	char ignored[256];
	size_t n = strlen(text);

	xport_send(c, type, text, n < MIG_MSG_MAX ? n : MIG_MSG_MAX, ignored, sizeof(ignored));
}

void mig_fault(struct xport_conn *c, const char *point)
{
	const char *f = getenv("NESTVM_MIGRATE_FAULT");
	const char *at = f ? strchr(f, '@') : NULL;

	if (!at || strcmp(at + 1, point))
		return;
	log_warn("migration: a fault injected at %s (NESTVM_MIGRATE_FAULT=%s)", point, f);
	if (!strncmp(f, "kill@", 5))
		raise(SIGKILL);
	else if (!strncmp(f, "cut@", 4))
		shutdown(xport_fd(c), SHUT_RDWR);
}
