/* mtq_cron.h - cron expressions, for recurring schedules.
 *
 * Five fields, as crontab(5) of Vixie cron and cronie read them:
 *
 *   minute 0-59   hour 0-23   day-of-month 1-31   month 1-12   day-of-week 0-7
 *
 * each a comma-separated list of `*`, `N`, `N-M`, with an optional `/STEP`
 * (`*` + `/15` every 15, `N/STEP` from N to the end); months may be named
 * jan..dec and days sun..sat (7 is Sunday too).  When both day fields are
 * restricted (neither starts with `*`), a day matches if either does.  The
 * macros @yearly (@annually), @monthly, @weekly, @daily (@midnight) and
 * @hourly stand for their usual expansions.
 *
 * Times are wall-clock times of a zone (mtq_tz.h).  Each matching wall-clock
 * minute fires once: one repeated when clocks go back fires at its first
 * occurrence, one skipped when they go forward fires when the clocks jump
 * (so "30 2 * * *" runs every night, once).  Pure logic. */
#ifndef MTQ_CRON_H
#define MTQ_CRON_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#include "mtq_tz.h"

#define MTQ_CRON_TEXT_MAX 256

typedef struct {
  uint64_t minute; /* bit m: minute m */
  uint32_t hour;   /* bit h */
  uint32_t dom;    /* bit d, 1..31 */
  uint16_t month;  /* bit m, 1..12 */
  uint8_t dow;     /* bit d, 0..6, Sunday 0 */
  bool dom_star, dow_star; /* the field started with '*' */
} mtq_cron_t;

/* Parses expr into *cron.  A malformed expression is MTQ_ERR_INVALID with
 * a message naming the field and what is wrong with it; one that can never
 * fire ("0 0 30 2 *") too. */
bool mtq_cron_parse(mtq_cron_t *cron, const char *expr, bson_error_t *error);

/* The first instant (unix seconds) strictly after after_s at which cron
 * fires in zone tz: on a whole minute of the zone's wall clock.  Never
 * false for an expression mtq_cron_parse accepted (the search spans the
 * calendar's 400-year cycle: March 3rd when it is a Sunday, asked with
 * a day field that starts with '*' so that both count, may be a decade
 * away). */
bool mtq_cron_next(const mtq_cron_t *cron, const mtq_tz_t *tz, int64_t after_s, int64_t *next_s);

#endif
