/* coordinator.c - the duty machinery: timers, thread-pool work, start-up
 * declarations and the delayed-task and reconcile duties (see coordinator.h).
 * The lost-worker sweep is in lost.c, retention in retention.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "coordinator_private.h"

/* Declaring channels while the database is down is retried with this
 * backoff, so that mtqd waits for the database instead of spinning or
 * exiting. */
#define DECLARE_BACKOFF_MIN_MS 500
#define DECLARE_BACKOFF_MAX_MS 10000

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

/* --- the duty machinery --------------------------------------------------- */

static void duty_due(uv_timer_t *timer);

static void duty_arm(mtq__duty_t *d, int64_t delay_ms) {
  if (delay_ms < 0) {
    delay_ms = 0;
  }
  uv_timer_start(&d->timer, duty_due, (uint64_t)delay_ms, 0);
}

/* Runs in the thread pool: nothing here touches the loop. */
static void duty_work(uv_work_t *work) {
  mtq__duty_t *d = work->data;
  uint64_t started_ns = uv_hrtime();
  memset(&d->error, 0, sizeof d->error);
  d->ok = d->run(d, &d->error);
  d->took_ms = (int64_t)((uv_hrtime() - started_ns) / 1000000u);
}

/* Logs a failure once: the same message again (the database still down) goes
 * to debug, so that a long outage does not flood the log. */
static void duty_report(mtq__duty_t *d, int64_t retry_ms) {
  if (d->ok) {
    if (d->failing) {
      mtq_info("%s: working again", d->name);
    }
    d->failing = false;
    d->logged[0] = '\0';
    return;
  }
  const char *what = mtq_error_is_transient(&d->error) ? "database unreachable: " : "";
  bool repeat = d->failing && strcmp(d->logged, d->error.message) == 0;
  mtq_log(repeat ? MTQ_LOG_DEBUG : MTQ_LOG_WARN, "%s failed: %s%s (retrying in %.1f s)", d->name,
          what, d->error.message, (double)retry_ms / 1000.0);
  d->failing = true;
  memcpy(d->logged, d->error.message, sizeof d->logged);
}

static void duty_done(uv_work_t *work, int status) {
  mtq__duty_t *d = work->data;
  d->in_flight = false;
  if (status != 0 || mtq__coordinator_stopping(d->co)) {
    return;
  }
  int64_t delay_ms = d->next(d);
  duty_report(d, delay_ms < 0 ? 0 : delay_ms);
  if (delay_ms >= 0) {
    duty_arm(d, delay_ms);
  }
}

static void duty_due(uv_timer_t *timer) {
  mtq__duty_t *d = timer->data;
  if (d->in_flight || mtq__coordinator_stopping(d->co)) {
    return;
  }
  d->in_flight = true;
  d->work.data = d;
  int rc = uv_queue_work(d->co->loop, &d->work, duty_work, duty_done);
  if (rc != 0) {
    /* Cannot happen with valid arguments; retry rather than stall. */
    d->in_flight = false;
    mtq_err("%s: cannot queue work: %s", d->name, uv_strerror(rc));
    duty_arm(d, 1000);
  }
}

static void duty_init(mtq_coordinator_t *co, mtq__duty_t *d, const char *name,
                      mtq__duty_run_fn run, mtq__duty_next_fn next) {
  d->co = co;
  d->name = name;
  d->run = run;
  d->next = next;
  uv_timer_init(co->loop, &d->timer);
  d->timer.data = d;
}

/* --- declaring the channels ------------------------------------------------ */

static bool declare_run(mtq__duty_t *d, bson_error_t *error) {
  mtq_coordinator_t *co = d->co;
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

static int64_t declare_next(mtq__duty_t *d) {
  mtq_coordinator_t *co = d->co;
  if (!d->ok) {
    int64_t delay_ms = co->declare_backoff_ms;
    co->declare_backoff_ms *= 2;
    if (co->declare_backoff_ms > DECLARE_BACKOFF_MAX_MS) {
      co->declare_backoff_ms = DECLARE_BACKOFF_MAX_MS;
    }
    return delay_ms;
  }
  log_channels(co->cfg);
  duty_arm(&co->lost, 0);
  duty_arm(&co->leases_duty, 0);
  duty_arm(&co->release, 0);
  duty_arm(&co->reconcile, 0);
  duty_arm(&co->dispatch, 0);
  if (mtq__retention_announce(co->cfg)) {
    duty_arm(&co->retention, 0);
  }
  return -1;
}

/* --- delayed tasks ---------------------------------------------------------- */

static bool release_run(mtq__duty_t *d, bson_error_t *error) {
  mtq_coordinator_t *co = d->co;
  bool ok = true;
  co->next_due_ms = 0;
  for (size_t i = 0; i < co->cfg->n_channels && !mtq__coordinator_stopping(co); i++) {
    const char *channel = co->cfg->channels[i];
    int64_t next_due_ms = 0;
    size_t released = 0;
    bson_error_t err;
    if (!mtq_store_release_due(co->store, channel, mtq_now_ms(), &next_due_ms, &released, &err)) {
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
static int64_t release_next(mtq__duty_t *d) {
  mtq_coordinator_t *co = d->co;
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

static bool reconcile_run(mtq__duty_t *d, bson_error_t *error) {
  mtq_coordinator_t *co = d->co;
  bool ok = true;
  for (size_t i = 0; i < co->cfg->n_channels && !mtq__coordinator_stopping(co); i++) {
    const char *channel = co->cfg->channels[i];
    size_t moved = 0;
    bson_error_t err;
    if (!mtq_store_reconcile(co->store, channel, &moved, &err)) {
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
      mtq_info("moved %zu task%s of channel %s to the lane of their new priority", moved,
               moved == 1 ? "" : "s", channel);
    }
  }
  return ok;
}

/* Every reconcile_interval_ms, start to start; a reconcile that took more
 * than a tenth of that stretches the period to ten times its duration. */
static int64_t reconcile_next(mtq__duty_t *d) {
  mtq_coordinator_t *co = d->co;
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
static int64_t lost_next(mtq__duty_t *d) {
  int64_t interval_ms = d->co->cfg->sweep_interval_ms;
  if (!d->ok) {
    return interval_ms;
  }
  return d->took_ms < interval_ms ? interval_ms - d->took_ms : 0;
}

/* Every dispatch_interval_ms, start to start, like the sweeps. */
static int64_t dispatch_next(mtq__duty_t *d) {
  int64_t interval_ms = d->co->cfg->dispatch_interval_ms;
  return d->ok && d->took_ms < interval_ms ? interval_ms - d->took_ms : interval_ms;
}

/* --- life cycle ------------------------------------------------------------------- */

mtq_coordinator_t *mtq_coordinator_new(uv_loop_t *loop, mtq_store_t *store,
                                       const mtq_coord_config_t *cfg) {
  mtq_coordinator_t *co = bson_malloc0(sizeof *co);
  co->loop = loop;
  co->store = store;
  co->cfg = cfg;
  atomic_init(&co->stopping, false);
  co->declare_backoff_ms = DECLARE_BACKOFF_MIN_MS;
  duty_init(co, &co->declare, "declaring channels", declare_run, declare_next);
  duty_init(co, &co->lost, "lost-worker sweep", mtq__lost_run, lost_next);
  duty_init(co, &co->leases_duty, "lease sweep", mtq__leases_run, lost_next);
  duty_init(co, &co->release, "delayed-task release", release_run, release_next);
  duty_init(co, &co->reconcile, "reconcile", reconcile_run, reconcile_next);
  duty_init(co, &co->retention, "retention", mtq__retention_run, mtq__retention_next);
  duty_init(co, &co->dispatch, "redundant dispatch", mtq__dispatch_run, dispatch_next);
  return co;
}

void mtq_coordinator_start(mtq_coordinator_t *co) { duty_arm(&co->declare, 0); }

void mtq_coordinator_stop(mtq_coordinator_t *co) {
  if (atomic_exchange(&co->stopping, true)) {
    return;
  }
  mtq__duty_t *duties[] = {&co->declare, &co->lost,      &co->leases_duty,
                           &co->release, &co->reconcile, &co->retention,
                           &co->dispatch};
  for (size_t i = 0; i < sizeof duties / sizeof duties[0]; i++) {
    uv_close((uv_handle_t *)&duties[i]->timer, NULL);
  }
}

void mtq_coordinator_destroy(mtq_coordinator_t *co) {
  if (co) {
    bson_free(co->watched);
    bson_free(co->leases);
    bson_free(co->perf);
    bson_free(co);
  }
}
