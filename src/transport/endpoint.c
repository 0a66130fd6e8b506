/* Endpoint strings: "unix:PATH" and "tcp:HOST:PORT" ("tcp:[ADDR]:PORT"
 * for an IPv6 address), as the command line and the registry write them. */
#include "transport/transport_priv.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#define XPORT_FORMS "the forms are unix:PATH and tcp:HOST:PORT (tcp:[::1]:4444 for IPv6)"

_Static_assert(sizeof(((struct xport_endpoint *)0)->path) ==
	       sizeof(((struct sockaddr_un *)0)->sun_path), "a path fits sun_path");

__attribute__((format(printf, 4, 5)))
static int xport_ep_bad(const char *s, char *err, size_t errlen, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "bad endpoint '%s': %s; %s", s, why, XPORT_FORMS);
	return -EINVAL;
}

static int xport_ep_unix(const char *s, const char *path, struct xport_endpoint *ep,
			 char *err, size_t errlen)
{
	size_t n = strlen(path);

	if (n == 0)
		return xport_ep_bad(s, err, errlen, "no socket path");
	if (n >= sizeof(ep->path))
		return xport_ep_bad(s, err, errlen, "the path is %zu bytes; a Unix socket path "
				    "has at most %zu", n, sizeof(ep->path) - 1);
	ep->kind = XPORT_UNIX;
	memcpy(ep->path, path, n + 1);
	return 0;
}

/* A host name or IPv4 address (no ':'), or inside brackets an IPv6 address
 * (with ':', maybe a %scope). */
static bool xport_host_ok(const char *h, size_t n, bool bracketed)
{
	bool colon = false;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)h[i];

		if (ch == ':')
			colon = true;
		if (!isalnum(ch) && !strchr(bracketed ? ":.%-_" : ".-_", ch))
			return false;
	}
	return !bracketed || colon;
}

static int xport_ep_port(const char *s, const char *p, struct xport_endpoint *ep,
			 char *err, size_t errlen)
{
	unsigned long v = 0;
	size_t n = strlen(p);

	if (n == 0)
		return xport_ep_bad(s, err, errlen, "no port");
	if (n > 5 || strspn(p, "0123456789") != n)
		return xport_ep_bad(s, err, errlen, "port '%s' is not a number from 1 to 65535", p);
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned long)(p[i] - '0');
	if (v < 1 || v > 65535)
		return xport_ep_bad(s, err, errlen, "port %lu is not from 1 to 65535", v);
	ep->port = (uint16_t)v;
	return 0;
}

static int xport_ep_tcp(const char *s, const char *rest, struct xport_endpoint *ep,
			char *err, size_t errlen)
{
	const char *host = rest, *end;
	bool br = rest[0] == '[';
	size_t n;

	if (br) {
		host = rest + 1;
		end = strchr(host, ']');
		if (!end)
			return xport_ep_bad(s, err, errlen, "no ']' after the IPv6 address");
		if (end[1] != ':')
			return xport_ep_bad(s, err, errlen, "no ':PORT' after ']'");
	} else {
		end = strrchr(rest, ':');
		if (!end)
			return xport_ep_bad(s, err, errlen, "no ':PORT'");
		if (memchr(rest, ':', (size_t)(end - rest)))
			return xport_ep_bad(s, err, errlen, "an IPv6 address goes in brackets");
	}
	n = (size_t)(end - host);
	if (n == 0)
		return xport_ep_bad(s, err, errlen, "no host");
	if (n >= sizeof(ep->host))
		return xport_ep_bad(s, err, errlen, "the host is %zu bytes, more than %zu", n,
				    sizeof(ep->host) - 1);
	if (!xport_host_ok(host, n, br))
		return xport_ep_bad(s, err, errlen, br ? "'%.*s' is not an IPv6 address"
				    : "'%.*s' is not a host name or address", (int)n, host);
	ep->kind = XPORT_TCP;
	memcpy(ep->host, host, n);
	ep->host[n] = '\0';
	return xport_ep_port(s, end + (br ? 2 : 1), ep, err, errlen);
}

int xport_endpoint_parse(const char *s, struct xport_endpoint *ep, char *err, size_t errlen)
{
	int r;

	memset(ep, 0, sizeof(*ep));
	if (!s || !*s)
		return xport_ep_bad("", err, errlen, "empty");
	if (strncmp(s, "unix:", 5) == 0)
		r = xport_ep_unix(s, s + 5, ep, err, errlen);
	else if (strncmp(s, "tcp:", 4) == 0)
		r = xport_ep_tcp(s, s + 4, ep, err, errlen);
	else
		r = xport_ep_bad(s, err, errlen, "it starts with neither unix: nor tcp:");
	if (r < 0)
		memset(ep, 0, sizeof(*ep));
	return r;
}

void xport_endpoint_format(const struct xport_endpoint *ep, char *buf, size_t len)
{
	if (len == 0)
		return;
	if (ep->kind == XPORT_UNIX)
		snprintf(buf, len, "unix:%.*s", (int)sizeof(ep->path), ep->path);
	else if (ep->kind == XPORT_TCP && memchr(ep->host, ':', strnlen(ep->host, sizeof(ep->host))))
		snprintf(buf, len, "tcp:[%.*s]:%u", (int)sizeof(ep->host), ep->host, ep->port);
	else if (ep->kind == XPORT_TCP)
		snprintf(buf, len, "tcp:%.*s:%u", (int)sizeof(ep->host), ep->host, ep->port);
	else
		snprintf(buf, len, "(no endpoint)");
}
