/* coordinator.c - mtqd's duties (on runtime/duty.h): start-up declarations,
 * the delayed-task and reconcile duties, and when each is due (see
 * coordinator.h).  The lost-worker sweep is in lost.c, the lease sweep in
 * leases.c, retention in retention.c, redundant dispatch in dispatch.c,
 * schedules in schedules.c, flows in flows.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "coordinator_private.h"

/* A reconcile reads every queued task of its channels; when it gets slow it
 * is spaced out so that it takes at most this share of the database's time. */
#define RECONCILE_MAX_SHARE 10 /* one tenth */

void mtq__error_prefix(bson_error_t *error, const char *fmt, ...) {
  char prefix[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  char message[sizeof error->message];
  /* A long message loses its tail, which is what a log line can spare. */
  if (snprintf(message, sizeof message, "%s: %s", prefix, error->message) >= 0) {
    memcpy(error->message, message, sizeof message);
  }
}

bool mtq__coordinator_stopping(const mtq_coordinator_t *co) {
  return atomic_load(&co->stopping);
}

/* --- declaring the channels ------------------------------------------------ */

static bool declare_run(mtq_duty_t *d, bson_error_t *error) {
  mtq_coordinator_t *co = d->data;
  while (co->n_declared < co->cfg->n_channels) {
    if (mtq__coordinator_stopping(co)) {
      return true;
    }
    const char *channel = co->cfg->channels[co->n_declared];
    if (!mtq_store_declare_channel(co->store, channel, co->cfg->max_backlog, error)) {
      mtq__error_prefix(error, "declaring channel %s", channel);
      return false;
    }
    co->n_declared++;
  }
  return true;
}

static void log_channels(const mtq_coord_config_t *cfg) {
  char list[1024] = "";
  size_t off = 0;
  for (size_t i = 0; i < cfg->n_channels && off < sizeof list; i++) {
    off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "",
                            cfg->channels[i]);
  }
  if (cfg->n_channels) {
    mtq_info("channels declared: %s", list);
  } else {
    mtq_warn("no [coordinator] channels configured: only looking after lost workers");
  }
}

static int64_t declare_next(mtq_duty_t *d) {
  mtq_coordinator_t *co = d->data;
  if (!d->ok) {
    /* Declaring channels while the database is down is retried with
     * backoff, so that mtqd waits for the database instead of spinning or
     * exiting. */
    return mtq_duty_backoff(d);
  }
  log_channels(co->cfg);
  mtq_duty_arm(&co->lost, 0);
  mtq_duty_arm(&co->leases_duty, 0);
  mtq_duty_arm(&co->release, 0);
  mtq_duty_arm(&co->reconcile, 0);
  mtq_duty_arm(&co->dispatch, 0);
  mtq_duty_arm(&co->schedules, 0);
  mtq_duty_arm(&co->flows, 0);
  mtq_duty_arm(&co->leadership, 0);
  if (mtq__retention_announce(co->cfg)) {
    mtq_duty_arm(&co->retention, 0);
  }
  return -1;
}

/* --- delayed tasks ---------------------------------------------------------- */

static bool release_run(mtq_duty_t *d, bson_error_t *error) {
  mtq_coordinator_t *co = d->data;
  bool ok = true;
  co->next_due_ms = 0;
  if (!mtq__leading(co)) {
    return true; /* the leader's: it also retires segments (segment.c) */
  }
  for (size_t i = 0; i < co->cfg->n_channels && !mtq__coordinator_stopping(co) && mtq__leading(co);
       i++) {
    const char *channel = co->cfg->channels[i];
    int64_t next_due_ms = 0;
    size_t released = 0;
    bson_error_t err;
    if (!mtq_store_release_due(co->store, channel, mtq_now_ms(), MTQD_ACTOR, &next_due_ms,
                               &released, &err)) {
      mtq__error_prefix(&err, "channel %s", channel);
      if (ok) {
        *error = err;
      }
      ok = false;
      if (mtq_error_is_transient(&err)) {
        break; /* the other channels would wait out the same timeout */
      }
      continue;
    }
    if (released) {
      mtq__count(co, "coordinator_delayed_released", channel, NULL, (double)released);
      mtq_info("released %zu delayed task%s of channel %s", released, released == 1 ? "" : "s",
               channel);
    }
    if (next_due_ms && (!co->next_due_ms || next_due_ms < co->next_due_ms)) {
      co->next_due_ms = next_due_ms;
    }
  }
  return ok;
}

/* Due again when the earliest delayed task is, but no later than a sweep
 * interval: a task enqueued with a delay in the meantime is not known here. */
static int64_t release_next(mtq_duty_t *d) {
  mtq_coordinator_t *co = d->data;
  int64_t interval_ms = co->cfg->sweep_interval_ms;
  if (!d->ok || !co->next_due_ms) {
    return interval_ms;
  }
  /* Negative means "never" to duty_done: a task due while this sweep ran
   * is due now. */
  int64_t wait_ms = co->next_due_ms - mtq_now_ms();
  return wait_ms < 0 ? 0 : wait_ms < interval_ms ? wait_ms : interval_ms;
}

/* --- reconcile ----------------------------------------------------------------- */

static bool reconcile_run(mtq_duty_t *d, bson_error_t *error) {
  mtq_coordinator_t *co = d->data;
  bool ok = true;
  for (size_t i = 0; i < co->cfg->n_channels && !mtq__coordinator_stopping(co) && mtq__leading(co);
       i++) {
    const char *channel = co->cfg->channels[i];
    size_t moved = 0;
    bson_error_t err;
    if (!mtq_store_reconcile(co->store, channel, MTQD_ACTOR, &moved, &err)) {
      mtq__error_prefix(&err, "channel %s", channel);
      if (ok) {
        *error = err;
      }
      ok = false;
      if (mtq_error_is_transient(&err)) {
        break;
      }
    }
    if (moved) {
      mtq__count(co, "coordinator_tasks_moved", channel, NULL, (double)moved);
      mtq_info("moved %zu task%s of channel %s to the lane of their new priority", moved,
               moved == 1 ? "" : "s", channel);
    }
    /* Producers read the backlog from the channel document instead of
     * counting every lane at each enqueue; it only matters with a limit. */
    int64_t backlog = 0;
    if (ok && co->cfg->max_backlog > 0 &&
        !mtq_store_publish_backlog(co->store, channel, &backlog, &err)) {
      mtq__error_prefix(&err, "counting the backlog of channel %s", channel);
      *error = err;
      ok = false;
      if (mtq_error_is_transient(&err)) {
        break;
      }
    }
  }
  return ok;
}

/* Every reconcile_interval_ms, start to start; a reconcile that took more
 * than a tenth of that stretches the period to ten times its duration. */
static int64_t reconcile_next(mtq_duty_t *d) {
  mtq_coordinator_t *co = d->data;
  int64_t interval_ms = co->cfg->reconcile_interval_ms;
  int64_t period_ms = interval_ms;
  if (!d->ok) {
    /* A failure's duration is mostly the wait for an unreachable server,
     * which says nothing about the cost of a reconcile. */
    return interval_ms;
  }
  if (d->took_ms * RECONCILE_MAX_SHARE > interval_ms) {
    period_ms = d->took_ms * RECONCILE_MAX_SHARE;
    mtq_log(co->reconcile_stretched ? MTQ_LOG_DEBUG : MTQ_LOG_INFO,
            "reconcile took %lld ms: running it every %lld ms instead of %lld ms, to keep it "
            "under a tenth of the database's time",
            (long long)d->took_ms, (long long)period_ms, (long long)interval_ms);
    co->reconcile_stretched = true;
  }
  return period_ms - d->took_ms;
}

/* --- lost workers --------------------------------------------------------------- */

/* Every sweep_interval_ms, start to start (at once after a sweep that took
 * longer: a negative delay would mean never); after a failure, a whole
 * interval from now, so that an unreachable database is not asked again the
 * moment the last attempt timed out. */
static int64_t lost_next(mtq_duty_t *d) {
  int64_t interval_ms = ((mtq_coordinator_t *)d->data)->cfg->sweep_interval_ms;
  if (!d->ok) {
    return interval_ms;
  }
  return d->took_ms < interval_ms ? interval_ms - d->took_ms : 0;
}

/* Every dispatch_interval_ms, start to start, like the sweeps. */
static int64_t dispatch_next(mtq_duty_t *d) {
  int64_t interval_ms = ((mtq_coordinator_t *)d->data)->cfg->dispatch_interval_ms;
  return d->ok && d->took_ms < interval_ms ? interval_ms - d->took_ms : interval_ms;
}

/* --- life cycle ------------------------------------------------------------------- */

mtq_coordinator_t *mtq_coordinator_new(uv_loop_t *loop, mtq_store_t *store,
                                       const mtq_coord_config_t *cfg, const mtq_keyring_t *ring) {
  mtq_coordinator_t *co = bson_malloc0(sizeof *co);
  co->loop = loop;
  co->store = store;
  mtq_store_set_segment_retire(store, cfg->segment_retire_s);
  co->cfg = cfg;
  co->ring = ring;
  atomic_init(&co->stopping, false);
  mtq_duty_init(&co->declare, loop, "declaring channels", NULL, declare_run, declare_next, co);
  mtq_duty_init(&co->lost, loop, "lost-worker sweep", NULL, mtq__lost_run, lost_next, co);
  mtq_duty_init(&co->leases_duty, loop, "lease sweep", NULL, mtq__leases_run, lost_next, co);
  mtq_duty_init(&co->release, loop, "delayed-task release", NULL, release_run, release_next, co);
  mtq_duty_init(&co->reconcile, loop, "reconcile", NULL, reconcile_run, reconcile_next, co);
  mtq_duty_init(&co->retention, loop, "retention", NULL, mtq__retention_run,
                mtq__retention_next, co);
  mtq_duty_init(&co->dispatch, loop, "redundant dispatch", NULL, mtq__dispatch_run,
                dispatch_next, co);
  mtq_duty_init(&co->schedules, loop, "schedules", NULL, mtq__schedules_run,
                mtq__schedules_next, co);
  mtq_duty_init(&co->flows, loop, "flows", NULL, mtq__flows_run, lost_next, co);
  mtq_duty_init(&co->leadership, loop, "leadership", NULL, mtq__leader_run, lost_next, co);
  mtq__leader_init(co);
  mtq__metrics_init(co);
  return co;
}

void mtq_coordinator_start(mtq_coordinator_t *co) {
  mtq_duty_arm(&co->declare, 0);
  mtq_publisher_start(&co->publisher);
}

void mtq_coordinator_stop(mtq_coordinator_t *co) {
  if (atomic_exchange(&co->stopping, true)) {
    return;
  }
  mtq_duty_t *duties[] = {&co->declare, &co->lost,      &co->leases_duty, &co->release,
                          &co->reconcile, &co->retention, &co->dispatch,   &co->schedules, &co->flows, &co->leadership};
  for (size_t i = 0; i < sizeof duties / sizeof duties[0]; i++) {
    mtq_duty_close(duties[i]);
  }
  mtq_publisher_close(&co->publisher);
}

void mtq_coordinator_destroy(mtq_coordinator_t *co) {
  if (co) {
    mtq__leader_resign(co);
    bson_free(co->watched);
    bson_free(co->leases);
    bson_free(co->perf);
    mtq_publisher_destroy(&co->publisher);
    bson_free(co);
  }
}
