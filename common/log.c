/* common/log.c: see log.h */
#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int s_level = LOG_INFO;
static atomic_bool s_syslog = false;
static const char *s_ident = "shopd";

void
log_open(const char *ident, bool use_syslog)
{
    if (ident)
        s_ident = ident;
    if (use_syslog)
        openlog(s_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    atomic_store(&s_syslog, use_syslog);
}

void
log_close(void)
{
    if (atomic_exchange(&s_syslog, false))
        closelog();
}

void
log_set_level(int level)
{
    atomic_store(&s_level, level);
}

static const char *const s_names[] = {
    [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
    [LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
    [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

int
log_level_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i <= LOG_DEBUG; i++)
        if (strcmp(name, s_names[i]) == 0)
            return i;
    if (strcmp(name, "warn") == 0)
        return LOG_WARNING;
    return -1;
}

void
log_msg(int level, const char *fmt, ...)
{
    if (level > atomic_load(&s_level))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (atomic_load(&s_syslog)) {
        syslog(level, "%s", msg);
        return;
    }
    /* One write() per line keeps lines whole when threads log at once. */
    char line[2200];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: %s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, s_ident, (int) getpid(),
                     (level >= 0 && level <= LOG_DEBUG) ? s_names[level] : "?", msg);
    if (n < 0)
        return;
    if ((size_t) n >= sizeof line)
        n = sizeof line - 1;
    ssize_t w = write(STDERR_FILENO, line, (size_t) n);
    (void) w;
}
