/* The control API's client: libcurl over the VM's Unix socket. */
#include "api/api.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "lazy/curl_lazy.h"

#define API_REPLY_MAX (1024 * 1024)   /* a reply larger than this is not ours */

/* "Expect:" off: no 100-continue round trip before a body. */
static const char *const api_client_headers[] = {
	"Content-Type: application/json",
	"Accept: application/json",
	"Expect:",
};

struct api_reply_buf {
	char *data;
	size_t len;
	bool too_big;
};

static pthread_once_t api_curl_once = PTHREAD_ONCE_INIT;
static CURLcode api_curl_init_result;

static void api_curl_init(void)
{
	api_curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t api_client_collect(char *ptr, size_t size, size_t nmemb, void *opaque)
{
	struct api_reply_buf *b = opaque;
	size_t n = size * nmemb;
	char *d;

	if (n > API_REPLY_MAX - b->len) {
		b->too_big = true;
		return 0;   /* makes curl fail with CURLE_WRITE_ERROR */
	}
	d = realloc(b->data, b->len + n + 1);
	if (!d)
		return 0;
	memcpy(d + b->len, ptr, n);
	b->data = d;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* Refuse early what curl would report vaguely: a path too long for
 * sun_path (curl cuts it), no socket file at all. */
static int api_client_check_path(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(err, errlen, "socket path %s is too long for a Unix socket", path);
		return -ENAMETOOLONG;
	}
	if (stat(path, &st) < 0) {
		int e = errno;

		if (e == ENOENT)
			snprintf(err, errlen, "no API socket at %s (is the VM running?)", path);
		else
			snprintf(err, errlen, "cannot reach %s: %s", path, strerror(e));
		return -e;
	}
	return 0;
}

static int api_client_setup(CURL *h, const char *path, const char *method, const char *url,
			    const char *body, struct curl_slist *hdrs, long timeout_ms,
			    struct api_reply_buf *buf, char *curl_err)
{
	CURLcode c = CURLE_OK;

#define API_SETOPT(opt, val) do { if (c == CURLE_OK) c = curl_easy_setopt(h, opt, val); } while (0)
	API_SETOPT(CURLOPT_UNIX_SOCKET_PATH, path);
	API_SETOPT(CURLOPT_URL, url);
	API_SETOPT(CURLOPT_PROXY, "");          /* never an http_proxy from the environment */
	API_SETOPT(CURLOPT_NOSIGNAL, 1L);       /* no SIGALRM: we may be one thread of many */
	API_SETOPT(CURLOPT_HTTPHEADER, hdrs);
	API_SETOPT(CURLOPT_WRITEFUNCTION, api_client_collect);
	API_SETOPT(CURLOPT_WRITEDATA, buf);
	API_SETOPT(CURLOPT_ERRORBUFFER, curl_err);
	API_SETOPT(CURLOPT_PROTOCOLS_STR, "http");
	if (timeout_ms > 0) {
		API_SETOPT(CURLOPT_TIMEOUT_MS, timeout_ms);
		API_SETOPT(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	}
	if (strcmp(method, "GET") == 0) {
		API_SETOPT(CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(method, "POST") != 0)
			API_SETOPT(CURLOPT_CUSTOMREQUEST, method);
		if (body || strcmp(method, "POST") == 0) {
			API_SETOPT(CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
			API_SETOPT(CURLOPT_COPYPOSTFIELDS, body ? body : "");
		}
	}
#undef API_SETOPT
	return c == CURLE_OK ? 0 : -EINVAL;
}

/* A transfer that failed without an HTTP answer, as -errno. */
static int api_client_error(CURL *h, CURLcode c, const char *path, const struct api_reply_buf *buf,
			    const char *curl_err, char *err, size_t errlen)
{
	long os_errno = 0;

	curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
	if (c == CURLE_COULDNT_CONNECT && os_errno == ECONNREFUSED) {
		snprintf(err, errlen, "nothing listens on %s (the VM's process is gone)", path);
		return -ECONNREFUSED;
	}
	if (c == CURLE_COULDNT_CONNECT && os_errno == ENOENT) {
		snprintf(err, errlen, "no API socket at %s (is the VM running?)", path);
		return -ENOENT;
	}
	if (c == CURLE_COULDNT_CONNECT && os_errno > 0) {
		snprintf(err, errlen, "cannot connect to %s: %s", path, strerror((int)os_errno));
		return -(int)os_errno;
	}
	if (c == CURLE_OPERATION_TIMEDOUT) {
		snprintf(err, errlen, "no answer from %s in time", path);
		return -ETIMEDOUT;
	}
	if (c == CURLE_WRITE_ERROR && buf->too_big) {
		snprintf(err, errlen, "reply from %s is over %d bytes", path, API_REPLY_MAX);
		return -EMSGSIZE;
	}
	snprintf(err, errlen, "request to %s failed: %s", path,
		 curl_err[0] ? curl_err : curl_easy_strerror(c));
	return -EIO;
}

int api_client_request(const char *path, const char *method, const char *route,
		       const json_t *body, long timeout_ms, long *status, json_t **reply,
		       char *err, size_t errlen)
{
	struct api_reply_buf buf = { 0 };
	char curl_err[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL, *h2;
	char *text = NULL, *url = NULL;
	CURL *h = NULL;
	CURLcode c;
	int r;

	*status = 0;
	*reply = NULL;
	r = api_client_check_path(path, err, errlen);
	if (r < 0)
		return r;
	r = curl_lazy_load(err, errlen);
	if (r < 0)
		return r;
	pthread_once(&api_curl_once, api_curl_init);
	if (api_curl_init_result != CURLE_OK) {
		snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(api_curl_init_result));
		return -EIO;
	}
	r = -ENOMEM;
	snprintf(err, errlen, "out of memory");
	if (body && !(text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY)))
		goto out;
	if (asprintf(&url, "http://localhost%s%s", route[0] == '/' ? "" : "/", route) < 0) {
		url = NULL;
		goto out;
	}
	h = curl_easy_init();
	if (!h)
		goto out;
	for (size_t i = 0; i < sizeof(api_client_headers) / sizeof(api_client_headers[0]); i++) {
		h2 = curl_slist_append(hdrs, api_client_headers[i]);
		if (!h2)
			goto out;
		hdrs = h2;
	}
	if (api_client_setup(h, path, method, url, text, hdrs, timeout_ms, &buf, curl_err) < 0) {
		snprintf(err, errlen, "libcurl refused an option");
		r = -EINVAL;
		goto out;
	}
	c = curl_easy_perform(h);
	if (c != CURLE_OK) {
		r = api_client_error(h, c, path, &buf, curl_err, err, errlen);
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (buf.len > 0)
		*reply = json_loadb(buf.data, buf.len, 0, NULL);
	err[0] = '\0';
	r = 0;
out:
	curl_slist_free_all(hdrs);
	if (h)
		curl_easy_cleanup(h);
	free(buf.data);
	free(url);
	free(text);
	return r;
}
