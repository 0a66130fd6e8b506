#include "vmm/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level log_level_cur = LOG_WARN;

void log_set_level(enum log_level level)
{
	log_level_cur = level;
}

enum log_level log_get_level(void)
{
	return log_level_cur;
}

/* Rate limit, per call site (its format string): LOG_BURST messages per
 * LOG_WINDOW_MS, then nothing until the window ends, when one line says how
 * many were left out. A guest can make a device warn at will (a broken
 * queue after every reset, a refused access in a loop): without this it
 * could fill the host's disk through nestvm's log. Sites beyond LOG_SITES
 * share the last slot. */
struct log_site {
	const char *fmt;
	uint64_t window_start;
	unsigned int count;
	unsigned long long suppressed;
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_site log_sites[LOG_SITES];
static uint64_t (*log_clock)(void);

static uint64_t log_now_ms(void)
{
	struct timespec t;

	if (log_clock)
		return log_clock();
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

void log_set_clock(uint64_t (*clock_ms)(void))
{
	pthread_mutex_lock(&log_lock);
	log_clock = clock_ms;
	memset(log_sites, 0, sizeof(log_sites));
	pthread_mutex_unlock(&log_lock);
}

static struct log_site *log_site_find(const char *fmt)
{
	unsigned int i;

	for (i = 0; i < LOG_SITES - 1; i++) {
		if (log_sites[i].fmt == fmt)
			return &log_sites[i];
		if (!log_sites[i].fmt) {
			log_sites[i].fmt = fmt;
			return &log_sites[i];
		}
	}
	log_sites[i].fmt = fmt;
	return &log_sites[i];
}

/* Under log_lock: may this message print? *left_out: how many of this site's
 * messages the window that just ended left out (to say so first). */
static bool log_admit(const char *fmt, unsigned long long *left_out, bool *last)
{
	struct log_site *s = log_site_find(fmt);
	uint64_t now = log_now_ms();

	*left_out = 0;
	*last = false;
	if (!s->window_start || now - s->window_start >= LOG_WINDOW_MS) {
		*left_out = s->suppressed;
		s->window_start = now ? now : 1;
		s->count = 0;
		s->suppressed = 0;
	}
	if (s->count >= LOG_BURST) {
		s->suppressed++;
		return false;
	}
	*last = ++s->count == LOG_BURST;
	return true;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	unsigned long long left_out = 0;
	bool admit = true, last = false;
	char buf[1024];
	va_list ap;

	if (level > log_level_cur)
		return;
	if (level == LOG_WARN || level == LOG_INFO) {
		pthread_mutex_lock(&log_lock);
		admit = log_admit(fmt, &left_out, &last);
		pthread_mutex_unlock(&log_lock);
	}
	if (left_out)
		fprintf(stderr, "nestvm: %s%llu more messages like the next were left out\r\n",
			prefix[level], left_out);
	if (!admit)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* One write per message; "\r\n" so it reads right when the terminal is raw. */
	fprintf(stderr, "nestvm: %s%s%s\r\n", prefix[level], buf,
		last ? " (more like this in the next minute are left out)" : "");
}
