/* leases.c - what the coordinator does with leases: list them, and end the
 * attempt of one that stopped being renewed (see mtq_store.h, "leases"). */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "protocol.h"

static bool read_lease(const bson_t *doc, mtq_lease_t *l) {
  bson_iter_t it;
  memset(l, 0, sizeof *l);
  if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it) ||
      strlen(bson_iter_utf8(&it, NULL)) >= sizeof l->key) {
    return false;
  }
  bson_strncpy(l->key, bson_iter_utf8(&it, NULL), sizeof l->key);
  if (!bson_iter_init_find(&it, doc, "task") || !BSON_ITER_HOLDS_OID(&it)) {
    return false;
  }
  bson_oid_copy(bson_iter_oid(&it), &l->task);
  if (!bson_iter_init_find(&it, doc, "channel") || !BSON_ITER_HOLDS_UTF8(&it) ||
      !mtq_name_valid(bson_iter_utf8(&it, NULL))) {
    return false;
  }
  bson_strncpy(l->channel, bson_iter_utf8(&it, NULL), sizeof l->channel);
  if (bson_iter_init_find(&it, doc, "worker") && BSON_ITER_HOLDS_UTF8(&it)) {
    bson_strncpy(l->worker, bson_iter_utf8(&it, NULL), sizeof l->worker);
  }
#define NUM(field, dst)                                                       \
  if (!bson_iter_init_find(&it, doc, field) || !BSON_ITER_HOLDS_NUMBER(&it)) { \
    return false;                                                             \
  }                                                                           \
  dst = bson_iter_as_int64(&it);
  NUM("priority", l->priority);
  NUM("token", l->token);
  NUM("lease_ms", l->lease_ms);
  NUM("renewals", l->renewals);
#undef NUM
  l->moved = bson_iter_init_find(&it, doc, "moved") && BSON_ITER_HOLDS_BOOL(&it) &&
             bson_iter_bool(&it);
  if (bson_iter_init_find(&it, doc, "seg") && BSON_ITER_HOLDS_UTF8(&it) &&
      strlen(bson_iter_utf8(&it, NULL)) < sizeof l->seg) {
    bson_strncpy(l->seg, bson_iter_utf8(&it, NULL), sizeof l->seg);
  }
  return true;
}

bool mtq_store_leases(mtq_store_t *store, mtq_lease_t **out, size_t *n, bson_error_t *error) {
  *out = NULL;
  *n = 0;
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *leases = mtq__coll(store, client, "leases");
  bson_t filter = BSON_INITIALIZER;
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(leases, &filter, NULL, NULL);
  const bson_t *doc;
  size_t cap = 0;
  while (mongoc_cursor_next(cur, &doc)) {
    mtq_lease_t l;
    if (!read_lease(doc, &l)) {
      char *json = bson_as_relaxed_extended_json(doc, NULL);
      mtq_warn("malformed lease ignored: %.200s", json);
      bson_free(json);
      continue;
    }
    if (*n == cap) {
      cap = cap ? 2 * cap : 16;
      *out = bson_realloc(*out, cap * sizeof **out);
    }
    (*out)[(*n)++] = l;
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  mongoc_collection_destroy(leases);
  mtq__store_push(store, client);
  return ok;
}

static void delete_lease(mongoc_collection_t *leases, const char *key) {
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(key));
  mongoc_collection_delete_one(leases, filter, NULL, NULL, NULL);
  bson_destroy(filter);
}

/* True when coll holds a document with this _id (whatever its contents). */
static bool holds(mongoc_collection_t *coll, const bson_oid_t *id, bool *found,
                  bson_error_t *error) {
  bson_t doc = BSON_INITIALIZER;
  bool ok = mtq__find_by_id(coll, id, &doc, found, error);
  bson_destroy(&doc);
  return ok;
}

/* Completes an attempt whose ender died after taking its end lock: when its
 * decision reached the database (an outcome in results, or the task waiting
 * in the delayed collection), only the leftovers go; otherwise mtqd takes
 * the lock over and gives the task back, as for any expired lease. */
static bool finish_abandoned(mtq_store_t *store, mongoc_client_t *client,
                             mongoc_collection_t *lane, mongoc_collection_t *leases,
                             const mtq_lease_t *lease, mtq_task_t *t, mtq_state_t to,
                             const char *by, const char *reason, bool started,
                             mtq_state_t *ended_as, bson_error_t *error) {
  mongoc_collection_t *results = mtq__coll(store, client, "results");
  mongoc_collection_t *delayed = mtq__delayed(store, client, t->channel);
  bool in_results = false, in_delayed = false;
  bool ok = holds(results, &t->id, &in_results, error) &&
            (in_results || holds(delayed, &t->id, &in_delayed, error));
  if (ok && (in_results || in_delayed)) {
    ok = mtq__write_at_token(store, client, lane, &t->id, t->token, NULL, error);
    if (ok) {
      delete_lease(leases, lease->key);
    }
  } else if (ok) {
    ok = mtq__end_attempt(store, client, t, to, by, reason, NULL, started, true, error);
    if (ok) {
      *ended_as = to;
    }
  }
  mongoc_collection_destroy(delayed);
  mongoc_collection_destroy(results);
  return ok;
}

bool mtq_store_expire(mtq_store_t *store, const mtq_lease_t *lease, const char *by,
                      const char *reason, mtq_state_t *ended_as, bson_error_t *error) {
  *ended_as = MTQ_STATE_INVALID;
  mongoc_client_t *client = mtq__store_pop(store);
  int32_t priority = (int32_t)lease->priority;
  mongoc_collection_t *lane =
      mtq__live_coll(store, client, lease->channel, priority, lease->moved, lease->seg);
  mongoc_collection_t *leases = mtq__coll(store, client, "leases");
  bson_t doc = BSON_INITIALIZER;
  bool found = false;
  bool ok = mtq__find_by_id(lane, &lease->task, &doc, &found, error);
  mtq_task_t t;
  mtq_task_init(&t);
  bson_error_t perr;
  if (ok && !found) {
    delete_lease(leases, lease->key); /* the task has ended: a leftover lease */
  } else if (ok && !mtq_task_from_bson(&t, &doc, lease->channel, &perr)) {
    mtq__quarantine(store, client, lane, &doc, lease->channel, by, perr.message);
    delete_lease(leases, lease->key);
  } else if (ok && t.token != lease->token) {
    delete_lease(leases, lease->key); /* an older attempt's, or a stale poller's */
  } else if (ok) {
    t.moved = lease->moved; /* its home, for the end of its attempt */
    bson_strncpy(t.seg, lease->seg, sizeof t.seg);
    /* A task not marked running: its claimant died between the lease and
     * the claim, or between the claim and the mark.  In the first case the
     * claim of this token is still free, and once the lease is gone a
     * poller that read the task earlier could take it and run it beside
     * the next holder: taking that claim here closes it.  Either way the
     * task did not start: giving it back uses no attempt. */
    bool suspended = t.status == MTQ_STATE_SUSPENDED; /* suspended while it ran */
    bool started = t.status == MTQ_STATE_RUNNING || suspended;
    bson_error_t cerr;
    if (!started && !mtq__lock(store, client, &t, NULL, by, "expire", NULL, &cerr) &&
        !(cerr.domain == MTQ_ERROR_DOMAIN && cerr.code == MTQ_ERR_CONFLICT)) {
      if (error) {
        *error = cerr;
      }
      ok = false;
    }
    /* An operator's suspension outlives the worker: the task waits,
     * suspended, for `mtq resume`. */
    mtq_state_t to = !started || mtq_task_may_retry(&t)
                         ? (suspended ? MTQ_STATE_SUSPENDED : MTQ_STATE_QUEUED)
                         : MTQ_STATE_DEAD;
    if (ok && !started) {
      t.status = MTQ_STATE_RUNNING;
      t.attempt++;
    }
    bson_error_t eerr;
    bool ended = ok && mtq__end_attempt(store, client, &t, to, by, reason, NULL, started, false,
                                        &eerr);
    if (ok && !ended && eerr.domain == MTQ_ERROR_DOMAIN && eerr.code == MTQ_ERR_CONFLICT) {
      /* Someone took this attempt's end lock, yet the task still shows the
       * attempt and its lease went unrenewed: the ender died half-way. */
      ok = finish_abandoned(store, client, lane, leases, lease, &t, to, by, reason, started,
                            ended_as, error);
    } else if (ok && !ended) {
      if (error) {
        *error = eerr;
      }
      ok = false;
    } else if (ok) {
      *ended_as = to;
    }
  }
  mtq_task_cleanup(&t);
  bson_destroy(&doc);
  mongoc_collection_destroy(leases);
  mongoc_collection_destroy(lane);
  mtq__store_push(store, client);
  return ok;
}
