/* schedule.c - durations, and the ticks of a schedule (see mtq_schedule.h). */
#include <string.h>

#include "mtq_error.h"
#include "mtq_schedule.h"

bool mtq_duration_parse(const char *text, int64_t *ms, bson_error_t *error) {
  static const struct {
    const char *unit;
    int64_t ms;
  } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
  const char *s = text ? text : "";
  int64_t total = 0;
  bool any = false;
  while (*s) {
    int64_t n = 0;
    const char *digits = s;
    while (*s >= '0' && *s <= '9' && s - digits < 12) {
      n = n * 10 + (*s++ - '0');
    }
    size_t len = 0;
    int64_t unit = 0;
    for (size_t k = 0; k < sizeof units / sizeof units[0]; k++) {
      size_t l = strlen(units[k].unit);
      if (strncmp(s, units[k].unit, l) == 0 && l > len) {
        len = l;
        unit = units[k].ms;
      }
    }
    if (s == digits || (*s >= '0' && *s <= '9') || unit == 0) {
      any = false;
      break;
    }
    s += len;
    if (n > MTQ_EVERY_MAX_MS / unit) {
      total = MTQ_EVERY_MAX_MS + 1; /* and no overflow */
    } else {
      total += n * unit;
    }
    any = true;
    if (total > MTQ_EVERY_MAX_MS) {
      mtq_error_set(error, MTQ_ERR_INVALID, "duration '%s' is longer than 366 days", text);
      return false;
    }
  }
  if (!any) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "'%s' is not a duration (whole numbers with units ms, s, m, h, d: 90s, 1h30m)",
                  text ? text : "");
    return false;
  }
  *ms = total;
  return true;
}

bool mtq_ticks_next(const mtq_ticks_t *t, int64_t after_ms, int64_t *next_ms) {
  if (!t->cron) {
    if (after_ms < t->anchor_ms) {
      *next_ms = t->anchor_ms;
    } else {
      *next_ms = t->anchor_ms + (mtq_floor_div(after_ms - t->anchor_ms, t->every_ms) + 1) * t->every_ms;
    }
    return true;
  }
  int64_t s = 0;
  bool ok = mtq_cron_next(t->cron, t->tz ? t->tz : mtq_tz_utc(), mtq_floor_div(after_ms, 1000), &s);
  *next_ms = s * 1000;
  return ok;
}

bool mtq_ticks_due(const mtq_ticks_t *t, int64_t last_ms, int64_t now_ms, int64_t *tick_ms) {
  if (now_ms <= last_ms) {
    return false;
  }
  if (!t->cron) {
    if (now_ms < t->anchor_ms) {
      return false;
    }
    int64_t tick = t->anchor_ms + mtq_floor_div(now_ms - t->anchor_ms, t->every_ms) * t->every_ms;
    if (tick <= last_ms) {
      return false;
    }
    *tick_ms = tick;
    return true;
  }
  /* The latest cron tick at or before now: searched in growing windows
   * back from now, so that a minutely schedule after a month of downtime
   * walks an hour of ticks, not a month of them. */
  static const int64_t windows[] = {3600000LL, 86400000LL, 32LL * 86400000, 367LL * 86400000,
                                    3660LL * 86400000};
  for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
    int64_t from = now_ms - windows[w];
    bool last_window = from <= last_ms || w + 1 == sizeof windows / sizeof windows[0];
    if (from < last_ms) {
      from = last_ms;
    }
    int64_t next, found = 0;
    bool any = false;
    while (mtq_ticks_next(t, from, &next) && next <= now_ms) {
      found = next;
      any = true;
      from = next;
    }
    if (any) {
      *tick_ms = found;
      return true;
    }
    if (last_window) {
      break;
    }
  }
  return false;
}
