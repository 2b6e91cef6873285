/* release.c - what the coordinator moves between a channel's collections:
 * delayed tasks that are due into their lane, and tasks whose priority was
 * edited in the database into the lane of their new priority (see
 * mtq_store_coord.h).  Each move is one of the claim protocol's
 * (mtq__move_task). */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "protocol.h"

typedef struct {
  mtq_store_t *store;
  mongoc_client_t *client;
  mongoc_collection_t *coll;
  const char *channel;
  const char *by;
  int32_t lane_priority;
  int64_t now_ms;
  int64_t next_due_ms;
  size_t count;
} sweep_t;

/* Reads a swept document into *t (initialised by the caller); a malformed
 * one is quarantined and false returned. */
static bool read_or_quarantine(sweep_t *s, const bson_t *doc, mtq_task_t *t) {
  bson_error_t err;
  if (mtq_task_from_bson(t, doc, s->channel, &err)) {
    return true;
  }
  mtq__quarantine(s->store, s->client, s->coll, doc, s->channel, s->by, err.message);
  return false;
}

/* Moves t into its priority's lane (or side lane), counting it; a move
 * someone else made first (a conflict) is theirs, anything else is
 * logged. */
static void move_counted(sweep_t *s, mtq_task_t *t, bool to_side, const char *kind) {
  bson_error_t err;
  if (mtq__move_task(s->store, s->client, t, s->coll, t->priority, to_side, s->by, kind, &err)) {
    s->count++;
  } else if (err.domain != MTQ_ERROR_DOMAIN || err.code != MTQ_ERR_CONFLICT) {
    mtq_warn("cannot %s task: %s", kind, err.message);
  }
}

static bool release_one(void *ctx, const bson_t *doc) {
  sweep_t *s = ctx;
  mtq_task_t t;
  mtq_task_init(&t);
  if (!read_or_quarantine(s, doc, &t)) {
    /* quarantined */
  } else if (t.status == MTQ_STATE_SUSPENDED) {
    /* held by an operator: released by mtq resume */
  } else if (t.not_before <= s->now_ms) {
    move_counted(s, &t, false, "release");
  } else if (!s->next_due_ms || t.not_before < s->next_due_ms) {
    s->next_due_ms = t.not_before;
  }
  mtq_task_cleanup(&t);
  return true;
}

bool mtq_store_release_due(mtq_store_t *store, const char *channel, int64_t now_ms,
                           const char *by, int64_t *next_due_ms, size_t *released,
                           bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  sweep_t s = {store, client, mtq__delayed(store, client, channel), channel, by, 0, now_ms, 0, 0};
  bson_t filter = BSON_INITIALIZER;
  bool ok = mtq__each_doc(s.coll, &filter, NULL, release_one, &s, error);
  bson_destroy(&filter);
  mongoc_collection_destroy(s.coll);
  if (s.count > 0) {
    mtq__channel_touch(store, client, channel);
  }
  mtq__store_push(store, client);
  *next_due_ms = s.next_due_ms;
  *released = s.count;
  return ok;
}

static bool reconcile_one(void *ctx, const bson_t *doc) {
  sweep_t *s = ctx;
  mtq_task_t t;
  mtq_task_init(&t);
  if (read_or_quarantine(s, doc, &t) && t.status == MTQ_STATE_QUEUED &&
      t.priority != s->lane_priority) {
    move_counted(s, &t, true, "move");
  }
  mtq_task_cleanup(&t);
  return true;
}

bool mtq_store_reconcile(mtq_store_t *store, const char *channel, const char *by, size_t *moved,
                         bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  bool ok = true;
  *moved = 0;
  /* Every lane and side lane: a moved task may be edited again. */
  for (size_t i = 1; ok && i < MTQ__N_PLACES; i++) {
    int32_t p;
    bool side;
    mongoc_collection_t *coll = mtq__place(store, client, channel, i, &p, &side);
    sweep_t s = {store, client, coll, channel, by, p, 0, 0, 0};
    bson_t filter = BSON_INITIALIZER;
    ok = mtq__each_doc(s.coll, &filter, NULL, reconcile_one, &s, error);
    bson_destroy(&filter);
    mongoc_collection_destroy(s.coll);
    *moved += s.count;
  }
  if (*moved > 0) {
    mtq__channel_touch(store, client, channel);
  }
  mtq__store_push(store, client);
  return ok;
}

