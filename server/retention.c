/* retention.c - the retention duty: finished tasks kept past their retention
 * ([coordinator] retain_done_s, retain_failed_s) are removed with their
 * claims and events, in batches of retention_batch, every
 * retention_interval_ms; ended flows likewise, with their events.  Runs in the thread pool (see coordinator.h).
 *
 * A pass is bounded, in batches and in time, so that a large backlog (the
 * first start after an upgrade, a retention just shortened) is worked off
 * over several passes instead of holding the database for minutes. */
#include <stdio.h>

#include "coordinator_private.h"

#define RETENTION_MAX_BATCHES 20
/* A pass starts no new batch once it has used this share of the interval. */
#define RETENTION_MAX_SHARE 10 /* one tenth */

static const char *const done_statuses[] = {"done", NULL};
/* "dead" is not an outcome mtq writes today; it is kept with the failures. */
static const char *const failed_statuses[] = {"failed", "dead", "cancelled", NULL};

static int64_t monotonic_ms(void) { return (int64_t)(uv_hrtime() / 1000000u); }

/* "7 d", "36 h", "90 s": the largest unit that divides secs. */
static void describe_secs(int64_t secs, char *buf, size_t size) {
  static const struct {
    int64_t secs;
    const char *unit;
  } units[] = {{86400, "d"}, {3600, "h"}, {60, "min"}, {1, "s"}};
  size_t u = 0;
  while (secs % units[u].secs != 0) {
    u++;
  }
  snprintf(buf, size, "%lld %s", (long long)(secs / units[u].secs), units[u].unit);
}

bool mtq__retention_announce(const mtq_coord_config_t *cfg) {
  if (!cfg->retain_done_s && !cfg->retain_failed_s) {
    mtq_info("retention off: finished tasks are kept forever");
    return false;
  }
  char done[32] = "forever", failed[32] = "forever";
  if (cfg->retain_done_s) {
    describe_secs(cfg->retain_done_s, done, sizeof done);
  }
  if (cfg->retain_failed_s) {
    describe_secs(cfg->retain_failed_s, failed, sizeof failed);
  }
  mtq_info("retention: done tasks kept %s, failed, dead and cancelled ones %s; checked every "
           "%lld ms, %lld at a time",
           done, failed, (long long)cfg->retention_interval_ms, (long long)cfg->retention_batch);
  return true;
}

bool mtq__retention_run(mtq_duty_t *d, bson_error_t *error) {
  mtq_coordinator_t *co = d->data;
  if (!mtq__leading(co)) {
    return true;
  }
  const mtq_coord_config_t *cfg = co->cfg;
  int64_t now_ms = mtq_now_ms();
  mtq_purge_rule_t rules[] = {
      {done_statuses, cfg->retain_done_s ? now_ms - cfg->retain_done_s * 1000 : 0},
      {failed_statuses, cfg->retain_failed_s ? now_ms - cfg->retain_failed_s * 1000 : 0},
  };
  int64_t started_ms = monotonic_ms();
  int64_t budget_ms = cfg->retention_interval_ms / RETENTION_MAX_SHARE;
  mtq_purged_t purged = {0};
  bool ok = true, more = true;
  int batches = 0;
  while (ok && more && batches < RETENTION_MAX_BATCHES && !mtq__coordinator_stopping(co) &&
         mtq__leading(co) &&
         (batches == 0 || monotonic_ms() - started_ms < budget_ms)) {
    ok = mtq_store_purge(co->store, rules, sizeof rules / sizeof rules[0],
                         (size_t)cfg->retention_batch, &purged, &more, error);
    batches++;
  }
  if (!ok) {
    mtq__error_prefix(error, "removing finished tasks");
  }
  size_t flows = 0;
  if (ok && !mtq__coordinator_stopping(co)) {
    ok = mtq_store_purge_flows(co->store, rules[0].before_ms, rules[1].before_ms,
                               (size_t)cfg->retention_batch, &flows, error);
    if (!ok) {
      mtq__error_prefix(error, "removing ended flows");
    } else if (flows) {
      mtq_info("removed %zu ended flow%s past retention, with their events", flows,
               flows == 1 ? "" : "s");
    }
  }
  mtq__count(co, "coordinator_retention_removed", NULL, NULL, (double)purged.tasks);
  mtq__count(co, "coordinator_flows_removed", NULL, NULL, (double)flows);
  /* What was removed before a failure is reported too: it is gone. */
  if (purged.tasks) {
    mtq_info("removed %zu finished task%s past retention, with %zu claim%s and %zu event%s "
             "(%d batch%s, %lld ms%s)",
             purged.tasks, purged.tasks == 1 ? "" : "s", purged.claims,
             purged.claims == 1 ? "" : "s", purged.events, purged.events == 1 ? "" : "s",
             batches, batches == 1 ? "" : "es", (long long)(monotonic_ms() - started_ms),
             ok && more ? "; the batch was full, the next pass goes on" : "");
  }
  return ok;
}

/* Every retention_interval_ms, start to start (at once after a pass that
 * took longer: a negative delay would mean never); after a failure, a whole
 * interval from now, so that the database is not asked again at once. */
int64_t mtq__retention_next(mtq_duty_t *d) {
  int64_t interval_ms = ((mtq_coordinator_t *)d->data)->cfg->retention_interval_ms;
  if (!d->ok) {
    return interval_ms;
  }
  return d->took_ms < interval_ms ? interval_ms - d->took_ms : 0;
}
