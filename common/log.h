/* common/log.h: levelled logging to stderr or syslog, shared by every program.
 *
 * Thread-safe (one write per message). Levels follow syslog's. The default
 * sink is stderr at LOG_INFO; daemons switch to syslog with log_open(). */
#ifndef SHOP_COMMON_LOG_H
#define SHOP_COMMON_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Sends messages to syslog (ident) when use_syslog is true, else to stderr. */
void log_open(const char *ident, bool use_syslog);
/* Messages less important than level (a LOG_* value) are dropped. */
void log_set_level(int level);
/* Parses "error", "warning", "notice", "info" or "debug"; -1 if unknown. */
int log_level_from_name(const char *name);
void log_close(void);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)     log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)    log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
