/* cron.c - cron expressions: parsing, and the next time one fires (see
 * mtq_cron.h). */
#include <string.h>

#include "mtq_cron.h"
#include "mtq_error.h"

typedef struct {
  const char *name;
  int lo, hi;
  const char *const *names; /* 3-letter names of lo.., or NULL */
} field_t;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const field_t fields[5] = {
    {"minute", 0, 59, NULL},     {"hour", 0, 23, NULL},        {"day of month", 1, 31, NULL},
    {"month", 1, 12, month_names}, {"day of week", 0, 7, day_names},
};

static const struct {
  const char *macro, *expr;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* A number or a name of field f at *p; -1 when there is none. */
static int value(const field_t *f, const char **p) {
  const char *s = *p;
  if (*s >= '0' && *s <= '9') {
    int n = 0, digits = 0;
    while (*s >= '0' && *s <= '9') {
      if (++digits > 2) {
        return -1;
      }
      n = n * 10 + (*s++ - '0');
    }
    *p = s;
    return n;
  }
  for (int i = 0; f->names && f->names[i]; i++) {
    if (strncasecmp(s, f->names[i], 3) == 0) {
      *p = s + 3;
      return f->lo + i;
    }
  }
  return -1;
}

static bool field_error(bson_error_t *error, int i, const char *text, size_t len, const char *why) {
  mtq_error_set(error, MTQ_ERR_INVALID, "cron field %d (%s) '%.*s': %s", i + 1, fields[i].name,
                (int)len, text, why);
  return false;
}

/* Parses one field's text (len bytes) into the bits of bits. */
static bool parse_field(int i, const char *text, size_t len, uint64_t *bits, bson_error_t *error) {
  const field_t *f = &fields[i];
  char buf[MTQ_CRON_TEXT_MAX + 1];
  memcpy(buf, text, len);
  buf[len] = '\0';
  const char *s = buf;
  char why[128];
  *bits = 0;
  for (;;) {
    int lo, hi, step = 1;
    if (*s == '*') {
      s++;
      lo = f->lo;
      hi = f->hi;
    } else {
      lo = value(f, &s);
      if (lo < 0) {
        return field_error(error, i, text, len, "expected a number, a name or '*'");
      }
      hi = lo;
      if (*s == '-') {
        s++;
        hi = value(f, &s);
        if (hi < 0) {
          return field_error(error, i, text, len, "a range needs an end");
        }
      } else if (*s == '/') {
        hi = f->hi; /* N/STEP: from N to the end */
      }
    }
    if (*s == '/') {
      s++;
      const char *at = s;
      step = 0;
      while (*s >= '0' && *s <= '9' && s - at < 3) {
        step = step * 10 + (*s++ - '0');
      }
      if (s == at || step < 1 || step > f->hi) {
        snprintf(why, sizeof why, "a step is a number from 1 to %d", f->hi);
        return field_error(error, i, text, len, why);
      }
    }
    if (lo < f->lo || hi > f->hi) {
      snprintf(why, sizeof why, "%d is out of range %d-%d", lo < f->lo ? lo : hi, f->lo, f->hi);
      return field_error(error, i, text, len, why);
    }
    if (lo > hi) {
      return field_error(error, i, text, len, "a range must go upwards (e.g. 1-5)");
    }
    for (int v = lo; v <= hi; v += step) {
      *bits |= 1ull << (i == 4 && v == 7 ? 0 : v); /* Sunday is 0 and 7 */
    }
    if (*s == '\0') {
      return true;
    }
    if (*s != ',') {
      return field_error(error, i, text, len, "unexpected character");
    }
    s++;
  }
}

bool mtq_cron_parse(mtq_cron_t *cron, const char *expr, bson_error_t *error) {
  memset(cron, 0, sizeof *cron);
  if (!expr) {
    mtq_error_set(error, MTQ_ERR_INVALID, "no cron expression");
    return false;
  }
  while (*expr == ' ' || *expr == '\t') {
    expr++;
  }
  if (*expr == '@') {
    size_t n = strcspn(expr, " \t");
    const char *expanded = NULL;
    for (size_t k = 0; k < sizeof macros / sizeof macros[0]; k++) {
      if (strlen(macros[k].macro) == n && strncasecmp(expr, macros[k].macro, n) == 0) {
        expanded = macros[k].expr;
      }
    }
    if (!expanded || expr[n + strspn(expr + n, " \t")] != '\0') {
      mtq_error_set(error, MTQ_ERR_INVALID,
                    "unknown cron macro '%.*s' (@yearly, @annually, @monthly, @weekly, @daily, "
                    "@midnight or @hourly)",
                    (int)(n > 32 ? 32 : n), expr);
      return false;
    }
    expr = expanded;
  }
  if (strlen(expr) > MTQ_CRON_TEXT_MAX) {
    mtq_error_set(error, MTQ_ERR_INVALID, "cron expression is longer than %d characters",
                  MTQ_CRON_TEXT_MAX);
    return false;
  }
  uint64_t bits[5];
  const char *s = expr;
  for (int i = 0; i < 5; i++) {
    while (*s == ' ' || *s == '\t') {
      s++;
    }
    size_t n = strcspn(s, " \t");
    if (n == 0) {
      mtq_error_set(error, MTQ_ERR_INVALID,
                    "cron expression '%s' has %d field%s, not 5 (minute hour day-of-month month "
                    "day-of-week)",
                    expr, i, i == 1 ? "" : "s");
      return false;
    }
    if (!parse_field(i, s, n, &bits[i], error)) {
      return false;
    }
    if (i == 2) {
      cron->dom_star = *s == '*';
    } else if (i == 4) {
      cron->dow_star = *s == '*';
    }
    s += n;
  }
  while (*s == ' ' || *s == '\t') {
    s++;
  }
  if (*s) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "cron expression '%s' has more than 5 fields (minute hour day-of-month month "
                  "day-of-week)",
                  expr);
    return false;
  }
  cron->minute = bits[0];
  cron->hour = (uint32_t)bits[1];
  cron->dom = (uint32_t)bits[2];
  cron->month = (uint16_t)bits[3];
  cron->dow = (uint8_t)bits[4];
  /* A day of month that no month selected has ("30 2"): never fires. */
  static const int longest[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool some = false;
  for (int m = 1; m <= 12; m++) {
    if (cron->month & (1u << m)) {
      for (int d = 1; d <= longest[m]; d++) {
        some = some || (cron->dom & (1u << d));
      }
    }
  }
  if (!some && (cron->dom_star || cron->dow_star)) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "cron expression '%s' never fires: no month it names has that day", expr);
    return false;
  }
  return true;
}

/* --- the next time ----------------------------------------------------------- */

static bool day_matches(const mtq_cron_t *c, int64_t days, int d) {
  bool dom = c->dom & (1u << d), dow = c->dow & (1u << mtq_weekday(days));
  return c->dom_star || c->dow_star ? dom && dow : dom || dow;
}

/* The first wall-clock minute at or after wall (seconds of the wall clock,
 * on a minute) that the fields match; false past `limit_days`. */
static bool next_wall(const mtq_cron_t *c, int64_t wall, int64_t limit_days, int64_t *out) {
  int64_t days = mtq_floor_div(wall, 86400);
  int mins = (int)((wall - days * 86400) / 60);
  int h = mins / 60, mi = mins % 60;
  for (int64_t end = days + limit_days; days < end;) {
    int64_t y;
    int m, d;
    mtq_civil_from_days(days, &y, &m, &d);
    if (!(c->month & (1u << m))) {
      int ny = (int)(m == 12 ? y + 1 : y), nm = m == 12 ? 1 : m + 1;
      days = mtq_days_from_civil(ny, nm, 1);
      h = mi = 0;
      continue;
    }
    if (!day_matches(c, days, d)) {
      days++;
      h = mi = 0;
      continue;
    }
    while (h < 24 && !(c->hour & (1u << h))) {
      h++;
      mi = 0;
    }
    while (h < 24 && mi < 60 && !(c->minute & (1ull << mi))) {
      mi++;
    }
    if (h < 24 && mi == 60) {
      h++;
      mi = 0;
      continue; /* look for the next hour of this day */
    }
    if (h == 24) {
      days++;
      h = mi = 0;
      continue;
    }
    *out = days * 86400 + h * 3600 + mi * 60;
    return true;
  }
  return false;
}

bool mtq_cron_next(const mtq_cron_t *c, const mtq_tz_t *tz, int64_t after_s, int64_t *next_s) {
  /* The wall-clock minutes from the one showing at after_s; each fires at
   * its first instant (mtq_tz_first_instant), which grows with the wall
   * time, so the first one past after_s is the answer.  An earlier wall
   * minute's first instant is never past after_s. */
  int64_t local = after_s + mtq_tz_offset(tz, after_s);
  int64_t wall = mtq_floor_div(local, 60) * 60;
  for (int guard = 0; guard < 4 * 24 * 60; guard++) {
    /* 400 years are the Gregorian calendar's whole cycle: a day and
     * weekday that can meet ("0 0 29 2 1" with a '*' day field) do within. */
    if (!next_wall(c, wall, 146097 + 366, &wall)) {
      return false;
    }
    int64_t t = mtq_tz_first_instant(tz, wall);
    if (t > after_s) {
      *next_s = t;
      return true;
    }
    wall += 60;
  }
  return false; /* not reached: a repeated hour has at most 60 minutes per hour */
}
