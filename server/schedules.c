/* schedules.c - mtqd's schedule duty: fires the ticks of recurring
 * schedules (common/store/schedules.c).
 *
 * Safe with any number of mtqd at once: a tick is fired by the insert of
 * its record, which succeeds once, not by a lock any of them holds.  The
 * duty is due at the earliest next tick over the schedules, and no later
 * than sweep_interval_ms, so that a schedule added meanwhile is seen. */
#include <string.h>
#include <time.h>

#include "coordinator_private.h"

/* Tick records are trimmed this often. */
#define TRIM_EVERY_MS 60000

/* A schedule that cannot be compiled (a hand-edited cron or zone) is said
 * once, then at debug while the same message repeats. */
static void complain(mtq_coordinator_t *co, const char *name, const bson_error_t *err) {
  char line[sizeof co->schedule_complaint];
  snprintf(line, sizeof line, "schedule %s cannot fire: %s", name, err->message);
  bool again = strcmp(line, co->schedule_complaint) == 0;
  mtq_log(again ? MTQ_LOG_DEBUG : MTQ_LOG_WARN, "%s", line);
  memcpy(co->schedule_complaint, line, sizeof line);
}

static void say(mtq_coordinator_t *co, const mtq_schedule_t *s, int64_t tick_ms,
                const mtq_tick_t *t) {
  char when[32];
  time_t at = (time_t)(tick_ms / 1000);
  struct tm tm;
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&at, &tm));
  if (t->fired && !t->by_other) {
    char hex[25];
    bson_oid_to_string(&t->task, hex);
    mtq_info("schedule %s: tick %s fired: task %s", s->name, when, hex);
    mtq__count(co, "coordinator_schedule_ticks_fired", NULL, NULL, 1);
  } else if (t->skipped && !t->by_other) {
    mtq_info("schedule %s: tick %s skipped: %s", s->name, when, t->why);
  } else {
    mtq_debug("schedule %s: tick %s was decided by another coordinator", s->name, when);
  }
}

/* Fires what is due of one schedule; its next tick into *next_ms (0: none). */
static bool tend(mtq_coordinator_t *co, mtq_schedule_t *s, int64_t *next_ms,
                 bson_error_t *error) {
  mtq_schedule_clock_t clock;
  bson_error_t err;
  *next_ms = 0;
  if (!mtq_schedule_clock_init(&clock, s, NULL, &err)) {
    complain(co, s->name, &err);
    return true;
  }
  bool ok = true;
  int64_t now = mtq_now_ms(), tick;
  if (mtq_schedule_due(s, &clock, now, &tick)) {
    mtq_tick_t t;
    ok = mtq_store_schedule_fire(co->store, s, tick, co->ring, MTQD_ACTOR, &t, error);
    if (ok) {
      say(co, s, tick, &t);
    } else {
      mtq__error_prefix(error, "schedule %s", s->name);
    }
  }
  int64_t after = s->last_tick_ms > s->since_ms ? s->last_tick_ms : s->since_ms;
  if (!mtq_ticks_next(&clock.ticks, after > now ? after : now, next_ms)) {
    *next_ms = 0;
  }
  mtq_schedule_clock_cleanup(&clock);
  return ok;
}

bool mtq__schedules_run(mtq_duty_t *d, bson_error_t *error) {
  mtq_coordinator_t *co = d->data;
  mtq_schedule_t *list = NULL;
  size_t n = 0;
  co->next_tick_ms = 0;
  if (!mtq_store_schedules(co->store, &list, &n, error)) {
    mtq__error_prefix(error, "reading the schedules");
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < n && !mtq__coordinator_stopping(co); i++) {
    int64_t next = 0;
    bson_error_t err;
    if (list[i].paused) {
      continue;
    }
    if (!tend(co, &list[i], &next, &err)) {
      if (ok) {
        *error = err;
      }
      ok = false;
      if (mtq_error_is_transient(&err)) {
        break;
      }
    }
    if (next && (!co->next_tick_ms || next < co->next_tick_ms)) {
      co->next_tick_ms = next;
    }
  }
  int64_t now = mtq_now_ms();
  if (ok && now - co->ticks_trimmed_ms >= TRIM_EVERY_MS) {
    if (mtq_store_schedule_trim(co->store, list, n, error)) {
      co->ticks_trimmed_ms = now;
    } else {
      mtq__error_prefix(error, "trimming the tick records");
      ok = false;
    }
  }
  mtq_schedule_list_free(list, n);
  return ok;
}

/* At the earliest next tick, within sweep_interval_ms; a whole interval
 * after a failure. */
int64_t mtq__schedules_next(mtq_duty_t *d) {
  mtq_coordinator_t *co = d->data;
  int64_t interval_ms = co->cfg->sweep_interval_ms;
  if (!d->ok || !co->next_tick_ms) {
    return interval_ms;
  }
  int64_t wait_ms = co->next_tick_ms - mtq_now_ms();
  return wait_ms < 0 ? 0 : wait_ms < interval_ms ? wait_ms : interval_ms;
}
