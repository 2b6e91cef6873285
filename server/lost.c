/* lost.c - the lost-worker sweep: a worker that stopped heartbeating is
 * marked lost and the tasks it held go back to their queue.  Runs in the
 * thread pool (see coordinator.h).
 *
 * Silence is measured on mtqd's monotonic clock, from the sweep that first
 * saw a worker's current last_seen value; so after mtqd starts, a worker
 * that was already dead is found lost_after_ms later, and a worker whose
 * host clock is off is judged correctly. */
#include <stdio.h>
#include <string.h>

#include "coordinator_private.h"

/* A stopped or lost worker found holding nothing is asked again after this
 * long even if it did not heartbeat, in case a claim raced its last check. */
#define CLEAN_RECHECK_MS 60000

static int64_t monotonic_ms(void) { return (int64_t)(uv_hrtime() / 1000000u); }

/* The fields of a whoami document the sweep needs (borrowed from it). */
typedef struct {
  const char *id;
  const char *state;
  int64_t last_seen_ms;
} whoami_t;

static bool read_whoami(const bson_t *doc, whoami_t *w) {
  bson_iter_t it;
  memset(w, 0, sizeof *w);
  if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it)) {
    w->id = bson_iter_utf8(&it, NULL);
  }
  if (bson_iter_init_find(&it, doc, "state") && BSON_ITER_HOLDS_UTF8(&it)) {
    w->state = bson_iter_utf8(&it, NULL);
  }
  if (bson_iter_init_find(&it, doc, "last_seen")) {
    if (BSON_ITER_HOLDS_DATE_TIME(&it)) {
      w->last_seen_ms = bson_iter_date_time(&it);
    } else if (BSON_ITER_HOLDS_NUMBER(&it)) {
      w->last_seen_ms = bson_iter_as_int64(&it);
    }
  }
  /* A worker id is a name (at most 64 characters); so is a task's worker. */
  return w->id && strlen(w->id) <= MTQ_NAME_MAX && w->state && w->last_seen_ms > 0;
}

/* This sweep's table of watched workers, replacing the last one when done. */
typedef struct {
  mtq__watched_worker_t *items;
  size_t n;
} watch_list_t;

/* Carries what the last sweep knew of w over to this sweep's table; a new
 * last_seen value starts the silence afresh.  Returns the entry. */
static mtq__watched_worker_t *watch(const mtq_coordinator_t *co, watch_list_t *list,
                                    const whoami_t *w, int64_t now_mono_ms) {
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
      e->clean_at_ms = old->clean_at_ms;
    }
  }
  return e;
}

/* Requeues one held task.  Returns false only for a failure worth retrying
 * the whole sweep for (the database unreachable); *left is set when the task
 * is still held. */
static bool requeue_one(mtq_coordinator_t *co, mtq_task_t *t, const char *reason, bool *left,
                        bson_error_t *error) {
  char hex[25];
  bson_oid_to_string(&t->id, hex);
  bson_error_t err;
  if (mtq_store_requeue(co->store, t, true, reason, &err)) {
    if (t->status == MTQ_STATE_FAILED) {
      mtq_info("task %s (channel %s) failed: %s, and it had no attempts left", hex, t->channel,
               reason);
    } else {
      mtq_info("requeued task %s (channel %s, %d of %d attempts used): %s", hex, t->channel,
               (int)t->attempt, (int)t->max_attempts, reason);
    }
    return true;
  }
  if (err.domain == MTQ_ERROR_DOMAIN && err.code == MTQ_ERR_CONFLICT) {
    mtq_debug("task %s ended meanwhile: %s", hex, err.message);
    return true;
  }
  *left = true;
  if (mtq_error_is_transient(&err)) {
    *error = err;
    return false;
  }
  mtq_warn("cannot requeue task %s held by a gone worker: %s", hex, err.message);
  return true;
}

/* Requeues every task worker_id holds in any declared channel.  *clean is
 * set when it holds nothing any more. */
static bool requeue_held(mtq_coordinator_t *co, char **channels, const char *worker_id,
                         const char *reason, bool *clean, bson_error_t *error) {
  bool left = false;
  for (size_t c = 0; channels[c]; c++) {
    if (mtq__coordinator_stopping(co)) {
      left = true;
      break;
    }
    mtq_task_list_t held;
    mtq_task_list_init(&held);
    bool ok = mtq_store_tasks_held_by(co->store, channels[c], worker_id, &held, error);
    if (!ok) {
      mtq__error_prefix(error, "tasks held by %s in channel %s", worker_id, channels[c]);
    }
    for (size_t i = 0; ok && i < held.n && !mtq__coordinator_stopping(co); i++) {
      ok = requeue_one(co, &held.items[i], reason, &left, error);
    }
    mtq_task_list_cleanup(&held);
    if (!ok) {
      return false;
    }
  }
  *clean = !left;
  return true;
}

/* Looks after one worker: a running one that went silent is marked lost;
 * a lost or stopped one gives back what it still holds. */
static bool look_after(mtq_coordinator_t *co, char **channels, const whoami_t *w,
                       mtq__watched_worker_t *e, int64_t now_mono_ms, bson_error_t *error) {
  int64_t silent_ms = now_mono_ms - e->unchanged_since_ms;
  /* The worker's own clock gives the better figure for the log when it
   * agrees with ours (and the only one right after mtqd started). */
  int64_t wall_ms = mtq_now_ms() - w->last_seen_ms;
  long long silent_s = (long long)((wall_ms > silent_ms ? wall_ms : silent_ms) / 1000);
  char reason[256];
  if (strcmp(w->state, "running") == 0) {
    if (silent_ms <= co->cfg->lost_after_ms) {
      return true;
    }
    mtq_warn("worker %s is lost: no heartbeat for %lld s", w->id, silent_s);
    if (!mtq_store_mark_worker(co->store, w->id, "lost", error)) {
      mtq__error_prefix(error, "marking worker %s lost", w->id);
      return false;
    }
    snprintf(reason, sizeof reason, "worker %s lost (no heartbeat for %lld s)", w->id, silent_s);
  } else if (strcmp(w->state, "lost") == 0 || strcmp(w->state, "stopped") == 0) {
    /* A stopped worker gives its tasks back before its last heartbeat; if it
     * still holds some, it was killed on the way out. */
    if (e->clean_at_ms && now_mono_ms - e->clean_at_ms < CLEAN_RECHECK_MS) {
      return true;
    }
    if (strcmp(w->state, "lost") == 0) {
      snprintf(reason, sizeof reason, "worker %s lost (no heartbeat for %lld s)", w->id,
               silent_s);
    } else {
      snprintf(reason, sizeof reason, "worker %s stopped without giving its tasks back", w->id);
    }
  } else {
    return true;
  }
  bool clean = false;
  if (!requeue_held(co, channels, w->id, reason, &clean, error)) {
    return false;
  }
  e->clean_at_ms = clean ? now_mono_ms : 0;
  return true;
}

static bool sweep(mtq_coordinator_t *co, const bson_t *workers, char **channels,
                  watch_list_t *watched, bson_error_t *error) {
  bson_iter_t it, arr;
  if (!bson_iter_init_find(&it, workers, "workers") || !BSON_ITER_HOLDS_ARRAY(&it) ||
      !bson_iter_recurse(&it, &arr)) {
    return true;
  }
  int64_t now_mono_ms = monotonic_ms();
  bool ok = true;
  while (bson_iter_next(&arr)) {
    uint32_t len;
    const uint8_t *data;
    bson_t doc;
    whoami_t w;
    if (!BSON_ITER_HOLDS_DOCUMENT(&arr)) {
      continue;
    }
    bson_iter_document(&arr, &len, &data);
    if (!bson_init_static(&doc, data, len) || !read_whoami(&doc, &w)) {
      mtq_debug("skipping a whoami document without a valid _id, state or last_seen");
      continue;
    }
    /* Every worker is watched, even after a failure, so that none loses
     * the time it has been silent. */
    mtq__watched_worker_t *e = watch(co, watched, &w, now_mono_ms);
    if (ok && !mtq__coordinator_stopping(co)) {
      ok = look_after(co, channels, &w, e, now_mono_ms, error);
    }
  }
  return ok;
}

bool mtq__lost_run(mtq__duty_t *d, bson_error_t *error) {
  mtq_coordinator_t *co = d->co;
  bson_t workers;
  char **channels = NULL;
  if (!mtq_store_workers(co->store, &workers, error)) {
    mtq__error_prefix(error, "reading workers");
    bson_destroy(&workers);
    /* Workers cannot heartbeat while the database is unreachable either:
     * their silence is counted afresh once it is back, not from before. */
    bson_free(co->watched);
    co->watched = NULL;
    co->n_watched = 0;
    return false;
  }
  /* Every declared channel, not only ours: a worker may hold tasks of a
   * channel another coordinator declared. */
  if (!mtq_store_channels(co->store, &channels, error)) {
    mtq__error_prefix(error, "listing channels");
    bson_destroy(&workers);
    return false;
  }
  watch_list_t watched = {NULL, 0};
  bool ok = sweep(co, &workers, channels, &watched, error);
  bson_free(co->watched);
  co->watched = watched.items;
  co->n_watched = watched.n;
  bson_strfreev(channels);
  bson_destroy(&workers);
  return ok;
}
