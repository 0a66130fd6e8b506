/* Pre-shared key files: hex digits, a secret, so only their owner may read
 * them. We never follow a link to one nor replace one. */
#include "transport/transport_priv.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define XPORT_PSK_NEW_BYTES 32
#define XPORT_PSK_FILE_MAX  4096   /* a key and whitespace; more is not a key file */

static const char xport_hex[] = "0123456789abcdef";

static int xport_random(uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);

		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			got += (size_t)n;
	}
	return 0;
}

static int xport_write_full(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int xport_psk_create(const char *path, char *err, size_t errlen)
{
	uint8_t raw[XPORT_PSK_NEW_BYTES];
	char text[2 * XPORT_PSK_NEW_BYTES + 1];
	int fd, r = xport_random(raw, sizeof(raw));

	if (r < 0) {
		snprintf(err, errlen, "cannot make a key: getrandom: %s", strerror(-r));
		return r;
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		text[2 * i] = xport_hex[raw[i] >> 4];
		text[2 * i + 1] = xport_hex[raw[i] & 15];
	}
	text[sizeof(text) - 1] = '\n';
	explicit_bzero(raw, sizeof(raw));
	/* O_EXCL also refuses a symbolic link at path, dangling or not. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		if (r == -EEXIST)
			snprintf(err, errlen, "%s already exists: not replacing a key file (remove it "
				 "first for a new key)", path);
		else
			snprintf(err, errlen, "cannot create key file %s: %s", path, strerror(-r));
		goto out;
	}
	/* The umask may have taken the owner's read bit too. */
	if (fchmod(fd, 0600) < 0 || (r = xport_write_full(fd, text, sizeof(text))) < 0 ||
	    fsync(fd) < 0) {
		r = r < 0 ? r : -errno;
		snprintf(err, errlen, "cannot write key file %s: %s", path, strerror(-r));
		close(fd);
		unlink(path);
		goto out;
	}
	if (close(fd) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot write key file %s: %s", path, strerror(-r));
		unlink(path);
	}
out:
	explicit_bzero(text, sizeof(text));
	return r;
}

static int xport_psk_open(const char *path, char *err, size_t errlen)
{
	/* O_NONBLOCK: a FIFO put there does not hang us (it fails the check). */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	int r = -errno;
	struct stat st;

	if (fd < 0) {
		if (r == -ELOOP)
			snprintf(err, errlen, "key file %s is a symbolic link: name the file itself", path);
		else if (r == -ENOENT)
			snprintf(err, errlen, "no key file %s (docs/migration.md says how to make one)", path);
		else
			snprintf(err, errlen, "cannot open key file %s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "key file %s is not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "key file %s is open to group or others (mode %04o): "
			 "chmod 600 %s", path, (unsigned int)(st.st_mode & 07777), path);
		close(fd);
		return -EACCES;
	}
	return fd;
}

static ssize_t xport_read_small(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int xport_hexval(char ch)
{
	const char *p = strchr(xport_hex, tolower((unsigned char)ch));

	return ch && p ? (int)(p - xport_hex) : -1;
}

/* text[0..n) trimmed: only hex digits, an even number, within bounds. */
static int xport_psk_decode(const char *path, const char *text, size_t n, uint8_t *key,
			    size_t *keylen, char *err, size_t errlen)
{
	while (n > 0 && isspace((unsigned char)text[n - 1]))
		n--;
	while (n > 0 && isspace((unsigned char)*text)) {
		text++;
		n--;
	}
	for (size_t i = 0; i < n; i++)
		if (xport_hexval(text[i]) < 0) {
			snprintf(err, errlen, "key file %s: character %zu is not a hex digit "
				 "(a key is %d to %d hex digits)", path, i + 1, XPORT_PSK_MIN_HEX,
				 XPORT_PSK_MAX_HEX);
			return -EINVAL;
		}
	if (n < XPORT_PSK_MIN_HEX || n > XPORT_PSK_MAX_HEX || n % 2) {
		snprintf(err, errlen, "key file %s holds %zu hex digits: a key is an even number "
			 "of %d to %d (%d bits at least)", path, n, XPORT_PSK_MIN_HEX,
			 XPORT_PSK_MAX_HEX, XPORT_PSK_MIN_HEX * 4);
		return -EINVAL;
	}
	for (size_t i = 0; key && i < n / 2; i++)
		key[i] = (uint8_t)(xport_hexval(text[2 * i]) << 4 | xport_hexval(text[2 * i + 1]));
	if (keylen)
		*keylen = n / 2;
	return 0;
}

int xport_psk_load(const char *path, uint8_t *key, size_t *keylen, char *err, size_t errlen)
{
	char text[XPORT_PSK_FILE_MAX + 1];
	int fd = xport_psk_open(path, err, errlen);
	ssize_t n;
	int r;

	if (fd < 0)
		return fd;
	n = xport_read_small(fd, text, sizeof(text));
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "cannot read key file %s: %s", path, strerror((int)-n));
		return (int)n;
	}
	if ((size_t)n > XPORT_PSK_FILE_MAX) {
		snprintf(err, errlen, "key file %s is over %d bytes: not a key file", path,
			 XPORT_PSK_FILE_MAX);
		r = -EFBIG;
	} else {
		r = xport_psk_decode(path, text, (size_t)n, key, keylen, err, errlen);
	}
	explicit_bzero(text, sizeof(text));
	return r;
}
