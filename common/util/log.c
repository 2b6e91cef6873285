/* log.c - one-line log records on stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mtq_log.h"

static const char *log_program = "mtq";
static mtq_log_level_t log_min = MTQ_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

bool mtq_log_level_parse(const char *name, mtq_log_level_t *level) {
  for (int i = MTQ_LOG_DEBUG; i <= MTQ_LOG_ERROR; i++) {
    if (strcmp(name, level_names[i]) == 0) {
      *level = (mtq_log_level_t)i;
      return true;
    }
  }
  if (strcmp(name, "warning") == 0) {
    *level = MTQ_LOG_WARN;
    return true;
  }
  return false;
}

void mtq_log_init(const char *program, mtq_log_level_t min_level) {
  log_program = program;
  log_min = min_level;
}

void mtq_log(mtq_log_level_t level, const char *fmt, ...) {
  if (level < log_min) {
    return;
  }
  char line[2048];
  int off = 0;
  /* systemd's journal stamps every line itself; MTQ_LOG_PLAIN avoids two stamps. */
  if (!getenv("MTQ_LOG_PLAIN")) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    off = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    off += snprintf(line + off, sizeof line - (size_t)off, ".%03ldZ ", ts.tv_nsec / 1000000);
  }
  off += snprintf(line + off, sizeof line - (size_t)off, "%s %s: ", level_names[level],
                  log_program);
  va_list ap;
  va_start(ap, fmt);
  if (off < (int)sizeof line) {
    vsnprintf(line + off, sizeof line - (size_t)off, fmt, ap);
  }
  va_end(ap);
  /* One fputs per record so that lines from several threads do not interleave. */
  fprintf(stderr, "%s\n", line);
}
