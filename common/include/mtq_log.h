/* mtq_log.h - one-line log records on stderr, for the daemons and the CLI.
 * A record is "<ISO time> <level> <program>: <message>".  systemd's journal
 * adds its own time stamp, so MTQ_LOG_PLAIN drops ours when set. */
#ifndef MTQ_LOG_H
#define MTQ_LOG_H

#include <stdbool.h>

typedef enum { MTQ_LOG_DEBUG, MTQ_LOG_INFO, MTQ_LOG_WARN, MTQ_LOG_ERROR } mtq_log_level_t;

/* Sets the program name (borrowed: must outlive logging) and the minimum level. */
void mtq_log_init(const char *program, mtq_log_level_t min_level);
void mtq_log(mtq_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses "debug", "info", "warn" (or "warning") or "error". */
bool mtq_log_level_parse(const char *name, mtq_log_level_t *level);

#define mtq_debug(...) mtq_log(MTQ_LOG_DEBUG, __VA_ARGS__)
#define mtq_info(...) mtq_log(MTQ_LOG_INFO, __VA_ARGS__)
#define mtq_warn(...) mtq_log(MTQ_LOG_WARN, __VA_ARGS__)
#define mtq_err(...) mtq_log(MTQ_LOG_ERROR, __VA_ARGS__)

#endif
