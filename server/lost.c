/* lost.c - the lost-worker sweep: a worker that stopped heartbeating is
 * marked lost (the tasks it held come back through their leases: leases.c).
 * Runs in the
 * thread pool (see coordinator.h).
 *
 * Silence is measured on mtqd's monotonic clock, from the sweep that first
 * saw a worker's current last_seen value; so after mtqd starts, a worker
 * that was already dead is found lost_after_ms later, and a worker whose
 * host clock is off is judged correctly. */
#include <stdio.h>
#include <string.h>

#include "coordinator_private.h"

static int64_t monotonic_ms(void) { return (int64_t)(uv_hrtime() / 1000000u); }

/* This sweep's table of watched workers, replacing the last one when done. */
typedef struct {
  mtq__watched_worker_t *items;
  size_t n;
} watch_list_t;

/* Carries what the last sweep knew of w over to this sweep's table; a new
 * last_seen value starts the silence afresh.  Returns the entry. */
static mtq__watched_worker_t *watch(const mtq_coordinator_t *co, watch_list_t *list,
                                    const mtq_whoami_t *w, int64_t now_mono_ms) {
  list->items = bson_realloc(list->items, (list->n + 1) * sizeof *list->items);
  mtq__watched_worker_t *e = &list->items[list->n++];
  memset(e, 0, sizeof *e);
  bson_strncpy(e->id, w->id, sizeof e->id);
  e->last_seen_ms = w->last_seen_ms;
  e->unchanged_since_ms = now_mono_ms;
  for (size_t i = 0; i < co->n_watched; i++) {
    const mtq__watched_worker_t *old = &co->watched[i];
    if (strcmp(old->id, w->id) == 0 && old->last_seen_ms == w->last_seen_ms) {
      e->unchanged_since_ms = old->unchanged_since_ms;
    }
  }
  return e;
}

/* Marks a running worker that went silent as lost.  The tasks it held come
 * back through their leases (leases.c), which do not depend on this. */
static bool look_after(mtq_coordinator_t *co, const mtq_whoami_t *w, mtq__watched_worker_t *e,
                       int64_t now_mono_ms, bson_error_t *error) {
  int64_t silent_ms = now_mono_ms - e->unchanged_since_ms;
  if (w->state != MTQ_WORKER_STATE_RUNNING || silent_ms <= co->cfg->lost_after_ms) {
    return true;
  }
  /* The worker's own clock gives the better figure for the log when it
   * agrees with ours (and the only one right after mtqd started). */
  int64_t wall_ms = mtq_now_ms() - w->last_seen_ms;
  long long silent_s = (long long)((wall_ms > silent_ms ? wall_ms : silent_ms) / 1000);
  mtq_warn("worker %s is lost: no heartbeat for %lld s", w->id, silent_s);
  if (!mtq_store_mark_worker(co->store, w->id, MTQ_WORKER_STATE_LOST, error)) {
    mtq__error_prefix(error, "marking worker %s lost", w->id);
    return false;
  }
  mtq__count(co, "coordinator_workers_lost", NULL, NULL, 1);
  return true;
}

static bool sweep(mtq_coordinator_t *co, const mtq_whoami_list_t *workers, watch_list_t *watched,
                  bson_error_t *error) {
  int64_t now_mono_ms = monotonic_ms();
  bool ok = true;
  for (size_t i = 0; i < workers->n; i++) {
    const mtq_whoami_t *w = &workers->items[i];
    if (w->last_seen_ms <= 0) {
      mtq_debug("skipping whoami document %s: no last_seen", w->id);
      continue;
    }
    /* Every worker is watched, even after a failure, so that none loses
     * the time it has been silent. */
    mtq__watched_worker_t *e = watch(co, watched, w, now_mono_ms);
    if (ok && !mtq__coordinator_stopping(co)) {
      ok = look_after(co, w, e, now_mono_ms, error);
    }
  }
  return ok;
}

bool mtq__lost_run(mtq_duty_t *d, bson_error_t *error) {
  mtq_coordinator_t *co = d->data;
  mtq_whoami_list_t workers;
  mtq_whoami_list_init(&workers);
  if (!mtq_store_workers(co->store, &workers, error)) {
    mtq__error_prefix(error, "reading workers");
    mtq_whoami_list_cleanup(&workers);
    /* Workers cannot heartbeat while the database is unreachable either:
     * their silence is counted afresh once it is back, not from before. */
    bson_free(co->watched);
    co->watched = NULL;
    co->n_watched = 0;
    return false;
  }
  watch_list_t watched = {NULL, 0};
  bool ok = sweep(co, &workers, &watched, error);
  bson_free(co->watched);
  co->watched = watched.items;
  co->n_watched = watched.n;
  mtq_whoami_list_cleanup(&workers);
  return ok;
}
