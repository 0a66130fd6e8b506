/* Unit tests of the control API (src/api/): a real server on a Unix socket
 * in a temporary directory, with fake api_ops that record their calls,
 * driven by the real client (libcurl) and by raw bytes for what a client
 * library would never send. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "vmm/unix_sock.h"

#define TIMEOUT_MS 5000

struct fake {
	pthread_mutex_t lock;
	int describe_calls, nested_calls, action_calls, data_calls;
	enum api_action last_action;
	int action_result;          /* what action() returns */
	const char *action_err;
	bool describe_fails;
	const char *state;
	int data_result;            /* what action_data() returns */
};

struct ctx {
	char dir[64];
	char path[128];
	struct fake fake;
	struct api_ops ops;
	struct api_server *srv;
};

/* ---- fake VM process ---- */

static json_t *fake_describe(void *opaque, char *err, size_t errlen)
{
	struct fake *f = opaque;
	json_t *j;

	pthread_mutex_lock(&f->lock);
	f->describe_calls++;
	if (f->describe_fails) {
		pthread_mutex_unlock(&f->lock);
		snprintf(err, errlen, "cannot read vCPU 0 registers");
		return NULL;
	}
	j = json_pack("{s:s, s:s, s:i, s:{s:i}}", "name", "vm1", "state", f->state, "pid", 4242,
		      "config", "vcpus", 2);
	pthread_mutex_unlock(&f->lock);
	return j;
}

static json_t *fake_nested(void *opaque, char *err, size_t errlen)
{
	struct fake *f = opaque;

	(void)err;
	(void)errlen;
	pthread_mutex_lock(&f->lock);
	f->nested_calls++;
	pthread_mutex_unlock(&f->lock);
	return json_pack("{s:b, s:s, s:n, s:[{s:i, s:b}]}", "enabled", 1, "level", "L2",
			 "max_depth", "vcpus", "index", 0, "virtualization_enabled", 1);
}

static int fake_action(void *opaque, enum api_action a, char *err, size_t errlen)
{
	struct fake *f = opaque;
	int r;

	pthread_mutex_lock(&f->lock);
	f->action_calls++;
	f->last_action = a;
	r = f->action_result;
	if (r)
		snprintf(err, errlen, "%s", f->action_err);
	else if (a == API_ACTION_PAUSE)
		f->state = "paused";
	else if (a == API_ACTION_RESUME)
		f->state = "running";
	pthread_mutex_unlock(&f->lock);
	return r;
}

static int fake_action_data(void *opaque, enum api_action a, json_t **out, char *err,
			    size_t errlen)
{
	struct fake *f = opaque;
	int r;

	pthread_mutex_lock(&f->lock);
	f->data_calls++;
	f->last_action = a;
	r = f->data_result;
	pthread_mutex_unlock(&f->lock);
	if (r) {
		snprintf(err, errlen, "vCPU 1: MSR 0x10 differs");
		*out = NULL;
		return r;
	}
	*out = json_pack("{s:b, s:[{s:i, s:i}], s:s}", "ok", 1, "vcpus", "index", 0,
			 "bytes_compared", 4242, "action", "not-this-one");
	return 0;
}

static int fake_action_calls(struct ctx *c)
{
	int n;

	pthread_mutex_lock(&c->fake.lock);
	n = c->fake.action_calls;
	pthread_mutex_unlock(&c->fake.lock);
	return n;
}

/* ---- fixture ---- */

static int setup_dir(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	snprintf(c->dir, sizeof(c->dir), "/tmp/nestvm-api-XXXXXX");
	if (!mkdtemp(c->dir))
		return -1;
	snprintf(c->path, sizeof(c->path), "%s/%s", c->dir, API_SOCKET_NAME);
	pthread_mutex_init(&c->fake.lock, NULL);
	c->fake.state = "running";
	c->ops = (struct api_ops){ .opaque = &c->fake, .describe = fake_describe,
				   .nested = fake_nested, .action = fake_action,
				   .action_data = fake_action_data };
	*state = c;
	return 0;
}

static int setup(void **state)
{
	struct ctx *c;
	char err[256];

	if (setup_dir(state) < 0)
		return -1;
	c = *state;
	if (api_server_start(&c->srv, c->path, &c->ops, err, sizeof(err)) < 0) {
		fprintf(stderr, "api_server_start: %s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	char p[160];

	api_server_stop(c->srv);
	/* Whatever a test left there. */
	unlink(c->path);
	snprintf(p, sizeof(p), "%s/file", c->dir);
	unlink(p);
	rmdir(c->dir);
	pthread_mutex_destroy(&c->fake.lock);
	free(c);
	return 0;
}

/* ---- helpers ---- */

static long request(struct ctx *c, const char *method, const char *route, json_t *body,
		    json_t **reply)
{
	char err[256] = "";
	long status = -1;
	int r;

	r = api_client_request(c->path, method, route, body, TIMEOUT_MS, &status, reply, err,
			       sizeof(err));
	if (r < 0)
		fprintf(stderr, "api_client_request: %s\n", err);
	assert_int_equal(r, 0);
	json_decref(body);
	return status;
}

/* An error reply: {"error": "...", "status": status}, error containing `want`. */
static void assert_error(json_t *reply, long status, const char *want)
{
	const char *msg;

	assert_non_null(reply);
	assert_true(json_is_object(reply));
	assert_int_equal(json_integer_value(json_object_get(reply, "status")), status);
	msg = json_string_value(json_object_get(reply, "error"));
	assert_non_null(msg);
	if (want && !strstr(msg, want)) {
		fprintf(stderr, "error \"%s\" lacks \"%s\"\n", msg, want);
		fail();
	}
	assert_int_equal(json_object_size(reply), 2);
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Send raw bytes, read the answer until the server closes or timeout_ms.
 * Returns the bytes read into out (NUL-terminated). */
static size_t raw_exchange(const char *path, const void *data, size_t len, char *out, size_t cap,
			   long timeout_ms, bool half_close)
{
	int fd = raw_connect(path);
	const char *p = data;
	size_t got = 0;
	long end = now_ms() + timeout_ms;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			break;   /* the server may close early (413): read what it said */
		p += n;
		len -= (size_t)n;
	}
	if (half_close)
		shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left = end - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		n = read(fd, out + got, cap - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == cap - 1)
			break;
	}
	out[got] = '\0';
	close(fd);
	return got;
}

/* A raw HTTP exchange's status and JSON body. */
struct raw_reply {
	char text[8192];
	int status;
	json_t *body;
};

static void raw_parse(struct raw_reply *r)
{
	const char *b;

	r->status = -1;
	r->body = NULL;
	if (sscanf(r->text, "HTTP/1.%*d %d", &r->status) != 1)
		return;
	b = strstr(r->text, "\r\n\r\n");
	if (b)
		r->body = json_loads(b + 4, 0, NULL);
}

static void raw_request(struct ctx *c, const char *req, size_t len, struct raw_reply *r)
{
	raw_exchange(c->path, req, len, r->text, sizeof(r->text), TIMEOUT_MS, false);
	raw_parse(r);
}

/* POST /v1/vm/actions with a literal body (Connection: close). */
static void raw_post(struct ctx *c, const char *content_type, const char *body,
		     struct raw_reply *r)
{
	char req[4096];
	int n;

	n = snprintf(req, sizeof(req),
		     "POST /v1/vm/actions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
		     "%s%s%sContent-Length: %zu\r\n\r\n%s",
		     content_type ? "Content-Type: " : "", content_type ? content_type : "",
		     content_type ? "\r\n" : "", strlen(body), body);
	assert_true(n > 0 && (size_t)n < sizeof(req));
	raw_request(c, req, (size_t)n, r);
}

/* Does the raw reply have this header line (case-insensitive name)? */
static bool raw_has_header(const struct raw_reply *r, const char *line)
{
	const char *end = strstr(r->text, "\r\n\r\n");
	const char *p = r->text;
	size_t n = strlen(line);

	while (p && p < end) {
		p = strstr(p, "\r\n");
		if (!p || p >= end)
			return false;
		p += 2;
		if (strncasecmp(p, line, n) == 0 && p[n] == '\r')
			return true;
	}
	return false;
}

/* ---- routes ---- */

static void test_get_vm(void **state)
{
	struct ctx *c = *state;
	json_t *reply = NULL;
	struct raw_reply raw;
	static const char get[] = "GET /v1/vm HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

	assert_int_equal(request(c, "GET", "/v1/vm", NULL, &reply), 200);
	assert_non_null(reply);
	assert_string_equal(json_string_value(json_object_get(reply, "name")), "vm1");
	assert_string_equal(json_string_value(json_object_get(reply, "state")), "running");
	assert_int_equal(json_integer_value(json_object_get(reply, "pid")), 4242);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(reply, "config"),
							    "vcpus")), 2);
	json_decref(reply);
	assert_int_equal(c->fake.describe_calls, 1);

	raw_request(c, get, sizeof(get) - 1, &raw);
	assert_int_equal(raw.status, 200);
	assert_true(raw_has_header(&raw, "Content-Type: application/json"));
	assert_non_null(raw.body);
	json_decref(raw.body);
}

static void test_get_nested(void **state)
{
	struct ctx *c = *state;
	json_t *reply = NULL, *v;

	assert_int_equal(request(c, "GET", "/v1/vm/nested", NULL, &reply), 200);
	assert_true(json_is_true(json_object_get(reply, "enabled")));
	assert_string_equal(json_string_value(json_object_get(reply, "level")), "L2");
	assert_true(json_is_null(json_object_get(reply, "max_depth")));
	v = json_array_get(json_object_get(reply, "vcpus"), 0);
	assert_true(json_is_true(json_object_get(v, "virtualization_enabled")));
	json_decref(reply);
	assert_int_equal(c->fake.nested_calls, 1);
	assert_int_equal(c->fake.describe_calls, 0);
}

static void test_describe_null_500(void **state)
{
	struct ctx *c = *state;
	json_t *reply = NULL;

	c->fake.describe_fails = true;
	assert_int_equal(request(c, "GET", "/v1/vm", NULL, &reply), 500);
	assert_error(reply, 500, "cannot read vCPU 0 registers");
	json_decref(reply);
}

static void test_actions_reach_ops(void **state)
{
	struct ctx *c = *state;
	static const struct { const char *name; enum api_action a; const char *state; } t[] = {
		{ "pause", API_ACTION_PAUSE, "paused" },
		{ "resume", API_ACTION_RESUME, "running" },
		{ "shutdown", API_ACTION_SHUTDOWN, "running" },
		{ "poweroff", API_ACTION_POWEROFF, "running" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		json_t *reply = NULL;

		assert_int_equal(request(c, "POST", "/v1/vm/actions",
					 json_pack("{s:s}", "action", t[i].name), &reply), 200);
		assert_int_equal(fake_action_calls(c), (int)i + 1);
		assert_int_equal(c->fake.last_action, t[i].a);
		assert_string_equal(json_string_value(json_object_get(reply, "action")), t[i].name);
		assert_string_equal(json_string_value(json_object_get(reply, "state")), t[i].state);
		json_decref(reply);
	}
}

/* An action with data: its members join {"action", "state"}, which win over
 * members of the same name; action() is not called. */
static void test_action_with_data(void **state)
{
	struct ctx *c = *state;
	json_t *reply = NULL, *v;

	assert_int_equal(request(c, "POST", "/v1/vm/actions",
				 json_pack("{s:s}", "action", "state-roundtrip"), &reply), 200);
	assert_int_equal(c->fake.data_calls, 1);
	assert_int_equal(fake_action_calls(c), 0);
	assert_int_equal(c->fake.last_action, API_ACTION_STATE_ROUNDTRIP);
	assert_string_equal(json_string_value(json_object_get(reply, "action")), "state-roundtrip");
	assert_string_equal(json_string_value(json_object_get(reply, "state")), "running");
	assert_true(json_is_true(json_object_get(reply, "ok")));
	v = json_array_get(json_object_get(reply, "vcpus"), 0);
	assert_int_equal(json_integer_value(json_object_get(v, "bytes_compared")), 4242);
	json_decref(reply);

	c->fake.data_result = 500;
	assert_int_equal(request(c, "POST", "/v1/vm/actions",
				 json_pack("{s:s}", "action", "state-roundtrip"), &reply), 500);
	assert_error(reply, 500, "state-roundtrip: vCPU 1: MSR 0x10 differs");
	json_decref(reply);
	c->fake.data_result = 409;
	assert_int_equal(request(c, "POST", "/v1/vm/actions",
				 json_pack("{s:s}", "action", "state-roundtrip"), &reply), 409);
	json_decref(reply);
	/* A -errno by mistake is a 500. */
	c->fake.data_result = -5;
	assert_int_equal(request(c, "POST", "/v1/vm/actions",
				 json_pack("{s:s}", "action", "state-roundtrip"), &reply), 500);
	json_decref(reply);
	assert_int_equal(fake_action_calls(c), 0);
}

/* A VM process without action_data: those actions answer 500, the others work. */
static void test_action_data_absent_500(void **state)
{
	struct ctx *c = *state;
	json_t *reply = NULL;
	char err[256];

	api_server_stop(c->srv);
	c->ops.action_data = NULL;
	assert_int_equal(api_server_start(&c->srv, c->path, &c->ops, err, sizeof(err)), 0);
	assert_int_equal(request(c, "POST", "/v1/vm/actions",
				 json_pack("{s:s}", "action", "state-roundtrip"), &reply), 500);
	assert_error(reply, 500, "state-roundtrip: not available");
	json_decref(reply);
	assert_int_equal(request(c, "POST", "/v1/vm/actions", json_pack("{s:s}", "action", "pause"),
				 &reply), 200);
	json_decref(reply);
	assert_int_equal(c->fake.data_calls, 0);
}

static void test_action_conflict_409(void **state)
{
	struct ctx *c = *state;
	json_t *reply = NULL;

	c->fake.action_result = 409;
	c->fake.action_err = "the VM is stopping";
	assert_int_equal(request(c, "POST", "/v1/vm/actions", json_pack("{s:s}", "action", "pause"),
				 &reply), 409);
	assert_error(reply, 409, "the VM is stopping");
	json_decref(reply);
	assert_int_equal(c->fake.last_action, API_ACTION_PAUSE);

	/* A -errno returned by mistake is a 500, not a bogus status. */
	c->fake.action_result = -5;
	c->fake.action_err = "I/O error";
	assert_int_equal(request(c, "POST", "/v1/vm/actions",
				 json_pack("{s:s}", "action", "poweroff"), &reply), 500);
	assert_error(reply, 500, "I/O error");
	json_decref(reply);
}

static void test_action_bad_bodies_400(void **state)
{
	struct ctx *c = *state;
	static const struct { const char *body; const char *want; } t[] = {
		{ "", "empty body" },
		{ "{", "invalid JSON" },
		{ "{\"action\": \"pause\"", "invalid JSON" },
		{ "{\"action\": \"pause\"} trailing", "invalid JSON" },
		{ "\xff\xfe{}", "invalid JSON" },
		{ "[\"pause\"]", "JSON object" },
		{ "\"pause\"", "JSON object" },
		{ "{}", "missing field \"action\"" },
		{ "{\"action\": 5}", "must be a string" },
		{ "{\"action\": null}", "must be a string" },
		{ "{\"action\": [\"pause\"]}", "must be a string" },
		{ "{\"action\": \"reboot\"}",
		  "unknown action \"reboot\"; valid actions: pause, resume, shutdown, poweroff, "
		  "state-roundtrip" },
		{ "{\"action\": \"PAUSE\"}", "unknown action" },
		{ "{\"action\": \"pause\\u0000x\"}", "invalid JSON" },
		{ "{\"action\": \"pause\", \"force\": true}", "unknown field \"force\"" },
		{ "{\"force\": true}", "unknown field \"force\"" },
		{ "{\"action\": \"pause\", \"action\": \"resume\"}", "duplicate" },
		{ "{\"action\": \"\\u00e9\\\"\\n\"}", "unknown action \"????\"" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct raw_reply r;

		raw_post(c, i % 2 ? "application/json" : NULL, t[i].body, &r);
		if (r.status != 400)
			fprintf(stderr, "body %zu: %s\n", i, r.text);
		assert_int_equal(r.status, 400);
		assert_true(raw_has_header(&r, "Content-Type: application/json"));
		assert_error(r.body, 400, t[i].want);
		json_decref(r.body);
	}
	assert_int_equal(fake_action_calls(c), 0);
}

static void test_action_content_type(void **state)
{
	struct ctx *c = *state;
	struct raw_reply r;

	raw_post(c, "text/plain", "{\"action\": \"pause\"}", &r);
	assert_int_equal(r.status, 415);
	assert_error(r.body, 415, "application/json");
	json_decref(r.body);
	raw_post(c, "application/jsonx", "{\"action\": \"pause\"}", &r);
	assert_int_equal(r.status, 415);
	json_decref(r.body);
	assert_int_equal(fake_action_calls(c), 0);

	raw_post(c, "Application/JSON; charset=utf-8", "{\"action\": \"pause\"}", &r);
	assert_int_equal(r.status, 200);
	json_decref(r.body);
	assert_int_equal(fake_action_calls(c), 1);
}

/* A body over API_BODY_MAX: declared by Content-Length, sent chunked, and
 * from the client. The action never runs. */
static void test_body_too_large_413(void **state)
{
	struct ctx *c = *state;
	size_t big = API_BODY_MAX + 4096;
	char *req = malloc(2 * big), *s = malloc(big + 1);
	struct raw_reply r;
	json_t *reply = NULL;
	int n;

	assert_non_null(req);
	assert_non_null(s);
	memset(s, 'a', big);
	s[big] = '\0';

	n = snprintf(req, 512, "POST /v1/vm/actions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", big);
	memset(req + n, ' ', big);
	raw_request(c, req, (size_t)n + big, &r);
	assert_int_equal(r.status, 413);
	assert_error(r.body, 413, "over 65536 bytes");
	json_decref(r.body);

	/* Declared far over: refused before any of it is sent. */
	n = snprintf(req, 512, "POST /v1/vm/actions HTTP/1.1\r\nHost: x\r\n"
		     "Content-Length: 2000000\r\n\r\n");
	raw_request(c, req, (size_t)n, &r);
	assert_int_equal(r.status, 413);
	assert_error(r.body, 413, "over 65536 bytes");
	json_decref(r.body);

	/* Chunked: no length up front, so the cap is hit while the body arrives. */
	n = snprintf(req, 512, "POST /v1/vm/actions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 20; i++) {
		n += sprintf(req + n, "1000\r\n");
		memset(req + n, ' ', 0x1000);
		n += 0x1000;
		n += sprintf(req + n, "\r\n");
	}
	n += sprintf(req + n, "0\r\n\r\n");
	raw_request(c, req, (size_t)n, &r);
	assert_int_equal(r.status, 413);
	assert_error(r.body, 413, "over");
	json_decref(r.body);

	assert_int_equal(request(c, "POST", "/v1/vm/actions", json_pack("{s:s}", "action", s),
				 &reply), 413);
	assert_error(reply, 413, NULL);
	json_decref(reply);

	/* Just under the cap is parsed (and refused for what it says). */
	memset(s, ' ', API_BODY_MAX);
	memcpy(s, "{\"action\":\"pause\"}", 18);
	n = snprintf(req, 512, "POST /v1/vm/actions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		     "Content-Length: %d\r\n\r\n", API_BODY_MAX);
	memcpy(req + n, s, API_BODY_MAX);
	raw_request(c, req, (size_t)n + API_BODY_MAX, &r);
	assert_int_equal(r.status, 200);
	json_decref(r.body);
	assert_int_equal(fake_action_calls(c), 1);
	free(req);
	free(s);
}

static void test_unknown_route_404(void **state)
{
	struct ctx *c = *state;
	static const char *const routes[] = { "/", "/v1", "/v1/vm/", "/v1/vms", "/v2/vm",
					      "/v1/vm/nested/x", "/v1/vm/actions/pause" };

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		json_t *reply = NULL;

		assert_int_equal(request(c, "GET", routes[i], NULL, &reply), 404);
		assert_error(reply, 404, "no such route");
		json_decref(reply);
	}
}

static void test_wrong_method_405(void **state)
{
	struct ctx *c = *state;
	json_t *reply = NULL;
	struct raw_reply r;
	static const char put[] = "PUT /v1/vm HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
				  "Content-Length: 2\r\n\r\n{}";
	static const char get[] = "GET /v1/vm/actions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

	assert_int_equal(request(c, "POST", "/v1/vm", json_pack("{s:s}", "action", "pause"),
				 &reply), 405);
	assert_error(reply, 405, "use GET");
	json_decref(reply);
	assert_int_equal(request(c, "DELETE", "/v1/vm/nested", NULL, &reply), 405);
	assert_error(reply, 405, NULL);
	json_decref(reply);

	raw_request(c, put, sizeof(put) - 1, &r);
	assert_int_equal(r.status, 405);
	assert_true(raw_has_header(&r, "Allow: GET"));
	assert_true(raw_has_header(&r, "Content-Type: application/json"));
	json_decref(r.body);
	raw_request(c, get, sizeof(get) - 1, &r);
	assert_int_equal(r.status, 405);
	assert_true(raw_has_header(&r, "Allow: POST"));
	json_decref(r.body);
	assert_int_equal(fake_action_calls(c), 0);
	assert_int_equal(c->fake.describe_calls, 0);
}

/* ---- the socket ---- */

static void test_socket_mode_0600(void **state)
{
	struct ctx *c = *state;
	struct stat st;
	mode_t old = umask(022);

	assert_int_equal(lstat(c->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	/* The umask we set around bind() is put back. */
	assert_int_equal(umask(old), 022);
}

static void test_stop_unlinks(void **state)
{
	struct ctx *c = *state;

	api_server_stop(c->srv);
	c->srv = NULL;
	assert_int_equal(access(c->path, F_OK), -1);
	assert_int_equal(errno, ENOENT);
}

/* A socket file nobody listens on, as a dead process leaves it. */
static void make_stale_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
}

static void test_stale_socket_replaced(void **state)
{
	struct ctx *c = *state;
	char err[256] = "";
	json_t *reply = NULL;

	make_stale_socket(c->path);
	assert_int_equal(api_server_start(&c->srv, c->path, &c->ops, err, sizeof(err)), 0);
	assert_int_equal(request(c, "GET", "/v1/vm", NULL, &reply), 200);
	json_decref(reply);
}

static void test_live_socket_in_use(void **state)
{
	struct ctx *c = *state;
	struct api_server *second = (void *)1;
	char err[256] = "";
	json_t *reply = NULL;

	assert_int_equal(api_server_start(&second, c->path, &c->ops, err, sizeof(err)),
			 -EADDRINUSE);
	assert_null(second);
	assert_non_null(strstr(err, "in use"));
	/* The first server is untouched. */
	assert_int_equal(request(c, "GET", "/v1/vm", NULL, &reply), 200);
	json_decref(reply);
}

static void test_regular_file_refused(void **state)
{
	struct ctx *c = *state;
	char err[256] = "", buf[16] = "";
	int fd;

	fd = open(c->path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep me", 7), 7);
	close(fd);
	assert_int_equal(api_server_start(&c->srv, c->path, &c->ops, err, sizeof(err)), -EEXIST);
	assert_null(c->srv);
	assert_non_null(strstr(err, "not a socket"));
	fd = open(c->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 7);
	assert_string_equal(buf, "keep me");
	close(fd);
}

static void test_path_too_long(void **state)
{
	struct ctx *c = *state;
	char err[512] = "", path[300];

	memset(path, 'x', sizeof(path));
	memcpy(path, c->dir, strlen(c->dir));
	path[strlen(c->dir)] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(api_server_start(&c->srv, path, &c->ops, err, sizeof(err)),
			 -ENAMETOOLONG);
	assert_non_null(strstr(err, "at most 107"));
	assert_int_equal(access(path, F_OK), -1);
	/* Exactly 108 bytes does not fit either (no room for the NUL). */
	path[108] = '\0';
	assert_int_equal(api_server_start(&c->srv, path, &c->ops, err, sizeof(err)),
			 -ENAMETOOLONG);
}

static void test_client_no_server(void **state)
{
	struct ctx *c = *state;
	char err[256] = "";
	long status = 7;
	json_t *reply = (void *)1;

	assert_int_equal(api_client_request(c->path, "GET", "/v1/vm", NULL, TIMEOUT_MS, &status,
					    &reply, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "is the VM running?"));
	assert_null(reply);
	assert_int_equal(status, 0);

	make_stale_socket(c->path);
	assert_int_equal(api_client_request(c->path, "GET", "/v1/vm", NULL, TIMEOUT_MS, &status,
					    &reply, err, sizeof(err)), -ECONNREFUSED);
	assert_non_null(strstr(err, "nothing listens"));
	assert_null(reply);
}

/* A socket that accepts connections (the kernel's backlog) but never
 * answers: the client gives up after its timeout. */
static void test_client_timeout(void **state)
{
	struct ctx *c = *state;
	char err[256] = "";
	long status = 0, t0;
	json_t *reply = NULL;
	int fd = unix_sock_listen(c->path, NULL, err, sizeof(err));

	assert_true(fd >= 0);
	t0 = now_ms();
	assert_int_equal(api_client_request(c->path, "GET", "/v1/vm", NULL, 200, &status, &reply,
					    err, sizeof(err)), -ETIMEDOUT);
	assert_true(now_ms() - t0 < 3000);
	assert_null(reply);
	assert_non_null(strstr(err, "no answer"));
	close(fd);
}

/* ---- hostile bytes ---- */

static void test_malformed_http(void **state)
{
	struct ctx *c = *state;
	static const char *const reqs[] = {
		"FOO\r\n\r\n",
		"GET\r\n\r\n",
		"GET /v1/vm HTTP/9.9\r\nHost: x\r\n\r\n",
		"POST /v1/vm/actions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
		"POST /v1/vm/actions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		"POST /v1/vm/actions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"GET /v1/vm HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
		"\0\0\0\0GET / HTTP/1.1\r\n\r\n",
	};
	struct raw_reply r;
	json_t *reply = NULL;

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		size_t len = strlen(reqs[i]);

		if (i == sizeof(reqs) / sizeof(reqs[0]) - 1)
			len = 4 + strlen(reqs[i] + 4);
		raw_exchange(c->path, reqs[i], len, r.text, sizeof(r.text), 2000, true);
		raw_parse(&r);
		if (!(r.status == -1 || (r.status >= 400 && r.status < 600)))
			fprintf(stderr, "request %zu: %s\n", i, r.text);
		/* An error (or, for the last, nothing): never a success, never a crash. */
		assert_true(r.status == -1 || (r.status >= 400 && r.status < 600));
		json_decref(r.body);
	}
	/* Headers far over libmicrohttpd's per-connection memory. */
	{
		size_t n = 100000;
		char *big = malloc(n + 64);
		int h = sprintf(big, "GET /v1/vm HTTP/1.1\r\nHost: x\r\nX-Big: ");

		assert_non_null(big);
		memset(big + h, 'b', n);
		memcpy(big + h + n, "\r\n\r\n", 4);
		raw_exchange(c->path, big, (size_t)h + n + 4, r.text, sizeof(r.text), 2000, false);
		raw_parse(&r);
		assert_true(r.status == -1 || (r.status >= 400 && r.status < 500));
		json_decref(r.body);
		free(big);
	}
	assert_int_equal(request(c, "GET", "/v1/vm", NULL, &reply), 200);
	json_decref(reply);
	assert_int_equal(fake_action_calls(c), 0);
}

static void test_random_garbage(void **state)
{
	struct ctx *c = *state;
	static const char *const prefixes[] = {
		"", "GET /v1/vm HTTP/1.1\r\n", "POST /v1/vm/actions HTTP/1.1\r\nHost: x\r\n",
		"POST /v1/vm/actions HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n",
		"POST /v1/vm/actions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
	};
	unsigned int seed = 12345;
	char buf[2048], out[4096];
	json_t *reply = NULL;
	int errors = 0;

	for (int i = 0; i < 400; i++) {
		const char *pre = prefixes[(unsigned int)rand_r(&seed) % 5];
		size_t pl = strlen(pre), n = (unsigned int)rand_r(&seed) % (sizeof(buf) - pl);

		memcpy(buf, pre, pl);
		for (size_t k = 0; k < n; k++) {
			/* Mostly printable with CR/LF/colon, so parsers get deep. */
			unsigned int x = (unsigned int)rand_r(&seed);
			static const char alpha[] = "\r\n: {}\"actionpause0123456789\t";
			buf[pl + k] = (x & 3) ? alpha[(x >> 2) % (sizeof(alpha) - 1)] : (char)(x >> 8);
		}
		raw_exchange(c->path, buf, pl + n, out, sizeof(out), 50, true);
		if (strncmp(out, "HTTP/1.1 4", 10) == 0)
			errors++;
	}
	/* Most of it was answered as the garbage it is. */
	assert_true(errors > 100);
	/* Still serving, and nothing reached the VM. */
	assert_int_equal(request(c, "GET", "/v1/vm", NULL, &reply), 200);
	json_decref(reply);
	assert_int_equal(fake_action_calls(c), 0);
}

static void test_action_names(void **state)
{
	enum api_action a;

	(void)state;
	for (int i = 0; i < API_ACTION_COUNT; i++) {
		assert_int_equal(api_action_parse(api_action_name((enum api_action)i), &a), 0);
		assert_int_equal(a, i);
	}
	assert_string_equal(api_action_name(API_ACTION_SHUTDOWN), "shutdown");
	assert_string_equal(api_action_name(API_ACTION_STATE_ROUNDTRIP), "state-roundtrip");
	assert_true(api_action_has_data(API_ACTION_STATE_ROUNDTRIP));
	assert_false(api_action_has_data(API_ACTION_PAUSE));
	assert_int_equal(api_action_parse("", &a), -EINVAL);
	assert_int_equal(api_action_parse("pause ", &a), -EINVAL);
	assert_int_equal(api_action_parse(NULL, &a), -EINVAL);
	assert_string_equal(api_action_name(API_ACTION_COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_action_names),
		cmocka_unit_test_setup_teardown(test_get_vm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_nested, setup, teardown),
		cmocka_unit_test_setup_teardown(test_describe_null_500, setup, teardown),
		cmocka_unit_test_setup_teardown(test_actions_reach_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_action_conflict_409, setup, teardown),
		cmocka_unit_test_setup_teardown(test_action_with_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_action_data_absent_500, setup, teardown),
		cmocka_unit_test_setup_teardown(test_action_bad_bodies_400, setup, teardown),
		cmocka_unit_test_setup_teardown(test_action_content_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_too_large_413, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_route_404, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_method_405, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_mode_0600, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_unlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup_dir, teardown),
		cmocka_unit_test_setup_teardown(test_live_socket_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_regular_file_refused, setup_dir, teardown),
		cmocka_unit_test_setup_teardown(test_path_too_long, setup_dir, teardown),
		cmocka_unit_test_setup_teardown(test_client_no_server, setup_dir, teardown),
		cmocka_unit_test_setup_teardown(test_client_timeout, setup_dir, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_http, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_garbage, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
