#include "vmm/log.h"

#include <stdarg.h>
#include <stdio.h>

static enum log_level log_level_cur = LOG_WARN;

void log_set_level(enum log_level level)
{
	log_level_cur = level;
}

enum log_level log_get_level(void)
{
	return log_level_cur;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	char buf[1024];
	va_list ap;

	if (level > log_level_cur)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* One write per message; "\r\n" so it reads right when the terminal is raw. */
	fprintf(stderr, "nestvm: %s%s\r\n", prefix[level], buf);
}
