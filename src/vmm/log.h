/* Messages to stderr, prefixed "nestvm: ". Errors always print; info and
 * debug depend on the verbosity the command line chose. Warnings and info
 * messages are rate-limited per call site (format string): LOG_BURST
 * in LOG_WINDOW_MS, then one line saying how many were left out, so a guest
 * that makes a device complain in a loop cannot grow the log without end
 * (debug output, asked for with -vv, is not limited). Thread-safe. */
#ifndef NESTVM_VMM_LOG_H
#define NESTVM_VMM_LOG_H

#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

#define LOG_BURST     10
#define LOG_WINDOW_MS 60000
#define LOG_SITES     64

/* Tests: the clock the rate limit reads (NULL: CLOCK_MONOTONIC); resets it. */
void log_set_clock(uint64_t (*clock_ms)(void));

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
