/* The control API's server: libmicrohttpd on a Unix socket we create.
 *
 * One internal polling thread (MHD_USE_POLL_INTERNAL_THREAD) serves every
 * connection. Requests are rare and short (a describe samples a few
 * ioctls), so one thread is plenty, and unlike a thread per connection a
 * client that opens many connections cannot make us spawn threads; poll()
 * rather than select() because the VM process may own fds above 1024.
 * The connection limit and idle timeout keep a stuck client from holding
 * the server.
 *
 * Every byte from a client is hostile: bodies are capped (413), parsed by
 * jansson with duplicate keys rejected, and anything a client sent that we
 * echo in an error message is reduced to printable ASCII first. */
#include "api/api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lazy/mhd_lazy.h"

#include "vmm/log.h"
#include "vmm/unix_sock.h"

#define API_CONN_LIMIT      16
#define API_CONN_TIMEOUT_S  10
#define API_QUOTE_MAX       64   /* bytes of a client's string echoed back */
#define API_DISCARD_MAX     (16 * API_BODY_MAX)  /* then the connection is closed */

struct api_server {
	struct MHD_Daemon *mhd;
	struct api_ops ops;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct unix_sock_id id;
};

/* One request's state across the access handler's calls (req_cls). */
struct api_req {
	const struct api_route *route;
	char *body;
	size_t len;
	size_t cap;
	size_t discarded;   /* bytes past API_BODY_MAX, dropped */
};

typedef enum MHD_Result (*api_route_fn)(struct api_server *s, struct MHD_Connection *c,
					struct api_req *req);

struct api_route {
	const char *path;
	const char *method;   /* the one method it allows, also the Allow header */
	api_route_fn fn;
};

/* ---- responses ---- */

/* jansson only takes valid UTF-8; messages from the VM process might not
 * be. Replace what is not ASCII rather than lose the message. */
static json_t *api_json_message(const char *msg)
{
	json_t *j = json_string(msg);
	char buf[512];
	size_t i;

	if (j)
		return j;
	for (i = 0; msg[i] && i + 1 < sizeof(buf); i++)
		buf[i] = (msg[i] & 0x80) ? '?' : msg[i];
	buf[i] = '\0';
	return json_string(buf);
}

/* Queue `body` (a reference we take) with Content-Type: application/json. */
static enum MHD_Result api_reply(struct MHD_Connection *c, unsigned int status, json_t *body,
				 const char *allow)
{
	static char oom[] = "{\"error\":\"out of memory\",\"status\":500}\n";
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	size_t len = 0;

	json_decref(body);
	if (text) {
		char *t;

		len = strlen(text);
		t = realloc(text, len + 2);   /* a trailing newline, for curl in a terminal */
		if (t) {
			text = t;
			text[len++] = '\n';
			text[len] = '\0';
		}
		resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
		if (!resp)
			free(text);
	} else {
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		resp = MHD_create_response_from_buffer(strlen(oom), oom, MHD_RESPMEM_PERSISTENT);
	}
	if (!resp)
		return MHD_NO;   /* MHD closes the connection */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* {"error": message, "status": status} */
__attribute__((format(printf, 4, 5)))
static enum MHD_Result api_reply_error(struct MHD_Connection *c, unsigned int status,
				       const char *allow, const char *fmt, ...)
{
	char msg[512];
	json_t *body;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	body = json_object();
	if (body) {
		json_object_set_new(body, "error", api_json_message(msg));
		json_object_set_new(body, "status", json_integer(status));
	}
	return api_reply(c, status, body, allow);
}

/* A client's string, fit to quote in a message: printable ASCII, capped. */
static const char *api_quote(char *dst, size_t n, const char *src)
{
	size_t i, o = 0;

	for (i = 0; src[i] && o + 4 < n && i < API_QUOTE_MAX; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[o++] = (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') ? (char)ch : '?';
	}
	if (src[i] && o + 4 <= n) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}

/* ---- routes ---- */

typedef json_t *(*api_get_fn)(void *opaque, char *err, size_t errlen);

static enum MHD_Result api_get(struct api_server *s, struct MHD_Connection *c, api_get_fn fn,
			       const char *what)
{
	char err[256] = "";
	json_t *j;

	if (!fn)
		return api_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
				       "%s is not available", what);
	j = fn(s->ops.opaque, err, sizeof(err));
	if (!j)
		return api_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "%s",
				       err[0] ? err : "the VM could not be described");
	return api_reply(c, MHD_HTTP_OK, j, NULL);
}

static enum MHD_Result api_route_vm(struct api_server *s, struct MHD_Connection *c,
				    struct api_req *req)
{
	(void)req;
	return api_get(s, c, s->ops.describe, "describe");
}

static enum MHD_Result api_route_nested(struct api_server *s, struct MHD_Connection *c,
					struct api_req *req)
{
	(void)req;
	return api_get(s, c, s->ops.nested, "nested status");
}

static void api_action_list(char *buf, size_t n)
{
	size_t o = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < API_ACTION_COUNT && o < n; i++) {
		int w = snprintf(buf + o, n - o, "%s%s", i ? ", " : "",
				 api_action_name((enum api_action)i));
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

/* The action body: exactly {"action": "<name>"}. 0, or an error queued and
 * its MHD result in *ret. */
static int api_action_body(struct MHD_Connection *c, struct api_req *req, enum api_action *a,
			   enum MHD_Result *ret)
{
	char q[API_QUOTE_MAX + 8], list[128];
	json_error_t jerr;
	json_t *root, *v;
	const char *key;

	if (req->len == 0) {
		*ret = api_reply_error(c, MHD_HTTP_BAD_REQUEST, NULL,
				       "empty body: expected {\"action\": \"...\"}");
		return -EINVAL;
	}
	root = json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root) {
		*ret = api_reply_error(c, MHD_HTTP_BAD_REQUEST, NULL,
				       "invalid JSON at line %d, column %d: %s", jerr.line,
				       jerr.column, api_quote(q, sizeof(q), jerr.text));
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		*ret = api_reply_error(c, MHD_HTTP_BAD_REQUEST, NULL,
				       "the body must be a JSON object {\"action\": \"...\"}");
		goto err;
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, "action") != 0) {
			*ret = api_reply_error(c, MHD_HTTP_BAD_REQUEST, NULL, "unknown field \"%s\"",
					       api_quote(q, sizeof(q), key));
			goto err;
		}
	}
	v = json_object_get(root, "action");
	if (!v) {
		*ret = api_reply_error(c, MHD_HTTP_BAD_REQUEST, NULL, "missing field \"action\"");
		goto err;
	}
	if (!json_is_string(v)) {
		*ret = api_reply_error(c, MHD_HTTP_BAD_REQUEST, NULL,
				       "field \"action\" must be a string");
		goto err;
	}
	if (api_action_parse(json_string_value(v), a) < 0) {
		api_action_list(list, sizeof(list));
		*ret = api_reply_error(c, MHD_HTTP_BAD_REQUEST, NULL,
				       "unknown action \"%s\"; valid actions: %s",
				       api_quote(q, sizeof(q), json_string_value(v)), list);
		goto err;
	}
	json_decref(root);
	return 0;
err:
	json_decref(root);
	return -EINVAL;
}

/* {"action": name, "state": describe's "state" (null if it has none)} */
static json_t *api_action_result(struct api_server *s, enum api_action a)
{
	char err[256] = "";
	json_t *d = s->ops.describe ? s->ops.describe(s->ops.opaque, err, sizeof(err)) : NULL;
	json_t *state = d ? json_object_get(d, "state") : NULL;
	json_t *out = json_object();

	if (out) {
		json_object_set_new(out, "action", json_string(api_action_name(a)));
		json_object_set(out, "state", state ? state : json_null());
	}
	json_decref(d);
	return out;
}

/* An action that answers with data: its members join {"action", "state"}. */
static enum MHD_Result api_route_data_action(struct api_server *s, struct MHD_Connection *c,
					     enum api_action a)
{
	json_t *data = NULL, *out;
	char err[512] = "";
	int r;

	if (!s->ops.action_data)
		return api_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
				       "%s: not available", api_action_name(a));
	r = s->ops.action_data(s->ops.opaque, a, &data, err, sizeof(err));
	if (r == 0 && data) {
		out = api_action_result(s, a);
		if (out)
			json_object_update_missing(out, data);
		json_decref(data);
		return api_reply(c, MHD_HTTP_OK, out, NULL);
	}
	json_decref(data);
	if (r < 400 || r > 599)
		r = MHD_HTTP_INTERNAL_SERVER_ERROR;
	return api_reply_error(c, (unsigned int)r, NULL, "%s: %s", api_action_name(a),
			       err[0] ? err : "failed");
}

static enum MHD_Result api_route_actions(struct api_server *s, struct MHD_Connection *c,
					 struct api_req *req)
{
	enum MHD_Result ret;
	enum api_action a;
	char err[256] = "";
	int r;

	if (api_action_body(c, req, &a, &ret) < 0)
		return ret;
	if (api_action_has_data(a))
		return api_route_data_action(s, c, a);
	if (!s->ops.action)
		return api_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
				       "actions are not available");
	r = s->ops.action(s->ops.opaque, a, err, sizeof(err));
	if (r == 0)
		return api_reply(c, MHD_HTTP_OK, api_action_result(s, a), NULL);
	/* An HTTP error status as the contract says; anything else (a -errno
	 * by mistake) is a failure inside the VMM. */
	if (r < 400 || r > 599)
		r = MHD_HTTP_INTERNAL_SERVER_ERROR;
	return api_reply_error(c, (unsigned int)r, NULL, "%s: %s", api_action_name(a),
			       err[0] ? err : "failed");
}

/* POST /v1/vm/snapshot {"dir": ..., "stop": ..., "with_disks": ...} */
static enum MHD_Result api_route_snapshot(struct api_server *s, struct MHD_Connection *c,
					  struct api_req *req)
{
	struct api_snapshot_req sr;
	char err[1024] = "", q[API_QUOTE_MAX + 8];
	json_error_t jerr;
	json_t *body, *out = NULL;
	int r;

	if (!s->ops.snapshot)
		return api_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
				       "snapshots are not available");
	body = req->len ? json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	if (!body)
		return api_reply_error(c, MHD_HTTP_BAD_REQUEST, NULL, "%s",
				       req->len ? api_quote(q, sizeof(q), jerr.text) :
				       "empty body: expected {\"dir\": \"/...\"}");
	r = api_snapshot_parse(body, &sr, err, sizeof(err));
	json_decref(body);
	if (r)
		return api_reply_error(c, MHD_HTTP_BAD_REQUEST, NULL, "%s", err);
	r = s->ops.snapshot(s->ops.opaque, &sr, &out, err, sizeof(err));
	if (r == 0 && out)
		return api_reply(c, MHD_HTTP_OK, out, NULL);
	json_decref(out);
	if (r < 400 || r > 599)
		r = MHD_HTTP_INTERNAL_SERVER_ERROR;
	return api_reply_error(c, (unsigned int)r, NULL, "snapshot: %s", err[0] ? err : "failed");
}

/* POST /v1/vm/migrate {"to": ..., "psk_file": ..., ...} */
static enum MHD_Result api_route_migrate(struct api_server *s, struct MHD_Connection *c,
					 struct api_req *req)
{
	struct api_migrate_req mr;
	char err[1024] = "", q[API_QUOTE_MAX + 8];
	json_error_t jerr;
	json_t *body, *out = NULL;
	int r;

	if (!s->ops.migrate)
		return api_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
				       "migration is not available");
	body = req->len ? json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	if (!body)
		return api_reply_error(c, MHD_HTTP_BAD_REQUEST, NULL, "%s",
				       req->len ? api_quote(q, sizeof(q), jerr.text) :
				       "empty body: expected {\"to\": \"unix:PATH\"}");
	r = api_migrate_parse(body, &mr, err, sizeof(err));
	json_decref(body);
	if (r)
		return api_reply_error(c, MHD_HTTP_BAD_REQUEST, NULL, "%s", err);
	r = s->ops.migrate(s->ops.opaque, &mr, &out, err, sizeof(err));
	if (r == 0 && out)
		return api_reply(c, MHD_HTTP_OK, out, NULL);
	json_decref(out);
	if (r < 400 || r > 599)
		r = MHD_HTTP_INTERNAL_SERVER_ERROR;
	return api_reply_error(c, (unsigned int)r, NULL, "migrate: %s", err[0] ? err : "failed");
}

static const struct api_route api_routes[] = {
	{ "/v1/vm/migrate", MHD_HTTP_METHOD_POST, api_route_migrate },
	{ "/v1/vm", MHD_HTTP_METHOD_GET, api_route_vm },
	{ "/v1/vm/nested", MHD_HTTP_METHOD_GET, api_route_nested },
	{ "/v1/vm/actions", MHD_HTTP_METHOD_POST, api_route_actions },
	{ "/v1/vm/snapshot", MHD_HTTP_METHOD_POST, api_route_snapshot },
};

static const struct api_route *api_route_find(const char *url)
{
	for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++)
		if (strcmp(url, api_routes[i].path) == 0)
			return &api_routes[i];
	return NULL;
}

/* ---- the access handler ---- */

/* No Content-Type, or application/json with any parameters. */
static bool api_content_type_ok(struct MHD_Connection *c)
{
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_TYPE);
	static const char json[] = "application/json";

	if (!ct)
		return true;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, json, sizeof(json) - 1) != 0)
		return false;
	ct += sizeof(json) - 1;
	return *ct == '\0' || *ct == ';' || *ct == ' ' || *ct == '\t';
}

/* The first call, headers only: route, method, content type, declared size. */
static enum MHD_Result api_begin(struct MHD_Connection *c, const char *url, const char *method,
				 struct api_req *req)
{
	const char *cl;
	char q[API_QUOTE_MAX + 8];

	req->route = api_route_find(url);
	if (!req->route)
		return api_reply_error(c, MHD_HTTP_NOT_FOUND, NULL, "no such route: %s",
				       api_quote(q, sizeof(q), url));
	if (strcmp(method, req->route->method) != 0)
		return api_reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, req->route->method,
				       "%s does not allow %s; use %s", req->route->path,
				       api_quote(q, sizeof(q), method), req->route->method);
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return MHD_YES;
	if (!api_content_type_ok(c))
		return api_reply_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, NULL,
				       "the body must be application/json");
	/* A body declared far too large is refused before it is read, and the
	 * connection closed. A little too large is read and dropped, and the
	 * 413 sent at its end (api_body_add): a client still sending when we
	 * close would fail to send (EPIPE) and never see the 413. */
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > API_DISCARD_MAX)
		return api_reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
				       "request body over %d bytes", API_BODY_MAX);
	return MHD_YES;
}

/* Append a piece of the body. Past the cap the rest is read and dropped:
 * libmicrohttpd takes a response only before the body or after all of it,
 * so the 413 goes out at the end. A client that keeps sending far past the
 * cap is cut off without one. */
static enum MHD_Result api_body_add(struct api_req *req, const char *data, size_t *size)
{
	size_t n = *size;

	*size = 0;
	if (req->discarded || n > API_BODY_MAX - req->len) {
		req->discarded += n;
		return req->discarded > API_DISCARD_MAX ? MHD_NO : MHD_YES;
	}
	if (req->len + n > req->cap) {
		size_t cap = req->cap ? req->cap : 1024;
		char *b;

		while (cap < req->len + n)
			cap *= 2;
		if (cap > API_BODY_MAX)
			cap = API_BODY_MAX;
		b = realloc(req->body, cap);
		if (!b)
			return MHD_NO;
		req->body = b;
		req->cap = cap;
	}
	memcpy(req->body + req->len, data, n);
	req->len += n;
	return MHD_YES;
}

static enum MHD_Result api_handle(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct api_server *s = cls;
	struct api_req *req = *req_cls;

	(void)version;
	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		*req_cls = req;
		return api_begin(c, url, method, req);
	}
	if (*upload_data_size > 0)
		return api_body_add(req, upload_data, upload_data_size);
	if (req->discarded)
		return api_reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
				       "request body over %d bytes", API_BODY_MAX);
	return req->route->fn(s, c, req);
}

static void api_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			  enum MHD_RequestTerminationCode toe)
{
	struct api_req *req = *req_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (req) {
		free(req->body);
		free(req);
		*req_cls = NULL;
	}
}

/* libmicrohttpd's messages (MHD_USE_ERROR_LOG) into nestvm's log. They are
 * mostly about clients (malformed requests), so info, not warning. */
static void api_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_info("api: %s", buf);
}

/* ---- start, stop ---- */

/* MHD_start_daemon may or may not have closed the socket we gave it when it
 * fails; close it only if fd still is that very socket. */
static void api_close_if_same(int fd, const struct stat *was)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && st.st_dev == was->st_dev && st.st_ino == was->st_ino)
		close(fd);
}

int api_server_start(struct api_server **out, const char *path, const struct api_ops *ops,
		     char *err, size_t errlen)
{
	struct api_server *s;
	struct stat st;
	int fd, r;

	*out = NULL;
	r = mhd_lazy_load(err, errlen);
	if (r)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->ops = *ops;
	fd = unix_sock_listen(path, &s->id, err, errlen);
	if (fd < 0) {
		r = fd;
		goto err_free;
	}
	/* unix_sock_listen checked the length against sun_path. */
	snprintf(s->path, sizeof(s->path), "%s", path);
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "fstat %s: %s", path, strerror(-r));
		close(fd);
		goto err_unlink;
	}
	s->mhd = MHD_start_daemon(MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				  api_handle, s,
				  MHD_OPTION_EXTERNAL_LOGGER, api_mhd_log, s,   /* first, or MHD warns */
				  MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_NOTIFY_COMPLETED, api_completed, s,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)API_CONN_LIMIT,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)API_CONN_TIMEOUT_S,
				  MHD_OPTION_END);
	if (!s->mhd) {
		r = -EIO;
		snprintf(err, errlen, "cannot start the API server on %s (libmicrohttpd failed)",
			 path);
		api_close_if_same(fd, &st);
		goto err_unlink;
	}
	*out = s;
	return 0;

err_unlink:
	unix_sock_unlink(path, &s->id);
err_free:
	free(s);
	return r;
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	/* Joins MHD's thread, ends every connection, closes the listen socket. */
	MHD_stop_daemon(s->mhd);
	unix_sock_unlink(s->path, &s->id);
	free(s);
}
