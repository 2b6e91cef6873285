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
#include "mtq_task.h"
#include "mtq_tz.h"

#define MTQ_EVERY_MIN_MS 1000LL
/* The last millisecond of the year 9999: dates of schedules and flows are
 * refused beyond it (and before 1970). */
#define MTQ_DATE_MAX_MS 253402300799999LL
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

/* --- the schedule document (schedule_doc.c; schemas/schedule.schema.json) --- */

/* How long a tick's record is kept after the schedule's last tick moved past
 * it: the record is what keeps a tick from firing twice, and a coordinator
 * that read an older last tick while another moved it on still finds it. */
#define MTQ_TICK_KEEP_MS (10LL * 60 * 1000)
/* "schedule:<name>:<tick ms>", the dedupe key of a tick's task, with its NUL. */
#define MTQ_TICK_KEY_MAX (MTQ_NAME_MAX + 32)

/* A recurring schedule, as stored in `schedules` (its _id is the name). */
typedef struct {
  char name[MTQ_NAME_MAX + 1];
  char cron[MTQ_CRON_TEXT_MAX + 1]; /* "" for an interval */
  char tz[MTQ_TZ_NAME_MAX + 1];     /* the cron's zone; "" = UTC */
  int64_t every_ms;                 /* > 0 for an interval, else 0 */
  int64_t anchor_ms;                /* an interval's ticks are anchor + k * every */
  bool paused;
  bool skip_if_running; /* a tick whose previous run is not over is skipped */
  int64_t since_ms;     /* no tick at or before it fires: the creation, or the last resume */
  int64_t created_at;
  int64_t last_tick_ms; /* the latest tick decided (fired or skipped); 0 = none yet */
  bson_oid_t last_task; /* the task of the latest tick fired; zeroed = none */
  bson_t *task;         /* owned: the template of the task each tick enqueues, a task
                         * document (mtq_task_to_bson) whose delay is its not_before
                         * minus its created_at; NULL when it starts a flow */
  bson_t *flow;         /* owned: or the flow each tick submits, a flow document
                         * (mtq_flow_to_bson) whose _id and created_at each tick's
                         * flow replaces; NULL when it enqueues a task.  last_task
                         * is then the last tick's flow */
} mtq_schedule_t;

/* Zeroes *s.  mtq_schedule_cleanup frees what it owns. */
void mtq_schedule_init(mtq_schedule_t *s);
void mtq_schedule_cleanup(mtq_schedule_t *s);

/* Appends the schedule's document to doc (empty). */
void mtq_schedule_to_bson(const mtq_schedule_t *s, bson_t *doc);
/* Reads a schedule document, every field type-checked (a message naming
 * the field), the template as a task document (mtq_task_from_bson) or a
 * flow document (mtq_flow_from_bson), exactly one of them, and exactly one
 * of cron or every_ms; s must be initialised. */
bool mtq_schedule_from_bson(mtq_schedule_t *s, const bson_t *doc, bson_error_t *error);

/* A schedule's times, compiled: its cron and zone loaded.  ticks borrows
 * from the struct itself, which must not move while it is used. */
typedef struct {
  mtq_cron_t cron;
  mtq_tz_t *tz; /* owned; NULL = UTC */
  mtq_ticks_t ticks;
} mtq_schedule_clock_t;

/* Compiles s's times: the cron parsed, its zone loaded from tzdir (NULL:
 * the system's).  Fails as mtq_cron_parse and mtq_tz_load do. */
bool mtq_schedule_clock_init(mtq_schedule_clock_t *c, const mtq_schedule_t *s,
                             const char *tzdir, bson_error_t *error);
void mtq_schedule_clock_cleanup(mtq_schedule_clock_t *c);

/* The tick s fires at now_ms, if any: the latest after both its last tick
 * and since_ms (earlier missed ticks coalesce into it). */
bool mtq_schedule_due(const mtq_schedule_t *s, const mtq_schedule_clock_t *c, int64_t now_ms,
                      int64_t *tick_ms);

/* "schedule:<name>:<tick_ms>": the tick's identity, as the dedupe key of
 * its task and (without the prefix) its record's _id. */
void mtq_schedule_tick_key(const char *name, int64_t tick_ms, bool prefix,
                           char out[MTQ_TICK_KEY_MAX]);

#endif
