/* mtq_schedule.h - when a recurring schedule ticks.
 *
 * A schedule ticks on a cron expression in a zone (mtq_cron.h), or every
 * fixed interval counted from an anchor (its creation), so that every
 * coordinator computes the same tick times: a tick's time is its identity,
 * and firing it is the insert of a record keyed by the schedule and that
 * time, which succeeds once whoever tries.  After downtime the ticks that
 * were missed are fired as one, the latest (mtq_schedule_due).  Pure logic. */
#ifndef MTQ_SCHEDULE_H
#define MTQ_SCHEDULE_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#include "mtq_cron.h"
#include "mtq_tz.h"

#define MTQ_EVERY_MIN_MS 1000LL
#define MTQ_EVERY_MAX_MS (366LL * 86400 * 1000)

/* A duration: one or more of NUMBER UNIT, units ms, s, m, h, d ("90s",
 * "1h30m", "500ms", "2d"), whole numbers, at most MTQ_EVERY_MAX_MS.  A bad
 * one is MTQ_ERR_INVALID, saying what a duration looks like. */
bool mtq_duration_parse(const char *text, int64_t *ms, bson_error_t *error);

/* When a schedule ticks: exactly one of a cron expression (with its zone)
 * or an interval (every_ms > 0, from anchor_ms). */
typedef struct {
  const mtq_cron_t *cron; /* borrowed; NULL for an interval */
  const mtq_tz_t *tz;     /* borrowed; the cron's zone (NULL: UTC) */
  int64_t every_ms;
  int64_t anchor_ms;
} mtq_ticks_t;

/* The first tick strictly after after_ms (see mtq_cron_next). */
bool mtq_ticks_next(const mtq_ticks_t *t, int64_t after_ms, int64_t *next_ms);

/* The tick to fire now: the latest tick in (last_ms, now_ms], the ones
 * before it in that span being missed and coalesced into it.  last_ms is
 * the last tick fired (or the schedule's creation).  False when none is
 * due. */
bool mtq_ticks_due(const mtq_ticks_t *t, int64_t last_ms, int64_t now_ms, int64_t *tick_ms);

#endif
