/* store_admin.c - what the coordinator and operators do to tasks: release
 * delayed ones, follow priority edits, find, list, change, cancel, count. */
#include <stddef.h>
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "store_private.h"

/* Claims the task's token for by/kind, or finds that by/kind claimed it
 * before: a move cut short (a reply lost as the database restarted) is
 * finished by the next attempt instead of leaving the task stuck under a
 * claimed token. */
static bool claim_or_resume(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                            const char *by, const char *kind, bson_error_t *error) {
  bson_error_t err;
  if (mtq__claim(store, client, task, by, kind, &err)) {
    return true;
  }
  if (err.domain != MTQ_ERROR_DOMAIN || err.code != MTQ_ERR_CONFLICT) {
    if (error) {
      *error = err;
    }
    return false;
  }
  char hex[25], key[64];
  bson_oid_to_string(&task->id, hex);
  snprintf(key, sizeof key, "%s:%lld", hex, (long long)task->token);
  mongoc_collection_t *claims = mtq__coll(store, client, "claims");
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(key), "by", BCON_UTF8(by), "kind", BCON_UTF8(kind));
  int64_t n = mongoc_collection_count_documents(claims, filter, NULL, NULL, NULL, error);
  bson_destroy(filter);
  mongoc_collection_destroy(claims);
  if (n == 0 && error) {
    *error = err;
  }
  return n > 0;
}

/* After a duplicate-key insert of task into coll: true when the document
 * there is this move's own copy (same token: an earlier, interrupted move
 * wrote it).  A document of an older token is the previous holder's, not
 * yet deleted (a worker moving its failed attempt to retry_wait inserts the
 * delayed copy before it deletes the running one): moving now and deleting
 * the source would leave only that document, which its holder is about to
 * delete.  The move then fails with MTQ_ERR_CONFLICT, to be made again. */
static bool own_copy(mongoc_collection_t *coll, const mtq_task_t *task, bson_error_t *error) {
  int64_t token;
  bool ok = mtq__token_at(coll, &task->id, &token, error);
  if (ok && token != task->token) {
    char hex[25];
    bson_oid_to_string(&task->id, hex);
    mtq_error_set(error, MTQ_ERR_CONFLICT,
                  "task %s still has a document of token %lld where it moves to", hex,
                  (long long)token);
    ok = false;
  }
  return ok;
}

/* Moves a waiting task (read from `from`) into the lane of `priority` under a
 * new token.  The claim makes the move exclusive against workers; the insert
 * tolerates a copy left by an interrupted earlier move (own_copy). */
static bool move_task(mtq_store_t *store, mongoc_client_t *client, mtq_task_t *task,
                      mongoc_collection_t *from, int32_t priority, const char *by,
                      const char *kind, bson_error_t *error) {
  if (!claim_or_resume(store, client, task, by, kind, error)) {
    return false;
  }
  if (task->status != MTQ_STATE_QUEUED) {
    mtq__event(store, client, task, task->status, MTQ_STATE_QUEUED, by, kind);
  }
  task->token++;
  task->priority = priority;
  task->status = MTQ_STATE_QUEUED;
  mongoc_collection_t *to = mtq__lane(store, client, task->channel, priority);
  bson_t doc = BSON_INITIALIZER;
  mtq_task_to_bson(task, &doc);
  bson_error_t err;
  bool ok = mongoc_collection_insert_one(to, &doc, NULL, NULL, &err);
  if (!ok && mtq_error_is_duplicate(&err)) {
    ok = own_copy(to, task, error);
  } else if (!ok && error) {
    *error = err;
  }
  bson_destroy(&doc);
  mongoc_collection_destroy(to);
  if (ok) {
    ok = mtq__write_at_token(store, client, from, &task->id, task->token - 1, NULL, error);
  }
  return ok;
}

/* Calls fn for every document of coll matching filter (borrowed); stops at
 * the first false. */
typedef bool (*doc_fn)(void *ctx, const bson_t *doc);
static bool each_doc(mongoc_collection_t *coll, const bson_t *filter, const bson_t *opts,
                     doc_fn fn, void *ctx, bson_error_t *error) {
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
  const bson_t *doc;
  while (mongoc_cursor_next(cur, &doc) && fn(ctx, doc)) {
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  return ok;
}

typedef struct {
  mtq_store_t *store;
  mongoc_client_t *client;
  mongoc_collection_t *coll;
  const char *channel;
  int32_t lane_priority;
  int64_t now_ms;
  int64_t next_due_ms;
  size_t count;
  mtq_task_list_t *out;
} sweep_t;

static bool release_one(void *ctx, const bson_t *doc) {
  sweep_t *s = ctx;
  mtq_task_t t;
  mtq_task_init(&t);
  bson_error_t err;
  if (!mtq_task_from_bson(&t, doc, s->channel, &err)) {
    mtq__quarantine(s->store, s->client, s->coll, doc, s->channel, err.message);
  } else if (t.status == MTQ_STATE_SUSPENDED) {
    /* held by an operator: released by mtq resume */
  } else if (t.not_before <= s->now_ms) {
    if (move_task(s->store, s->client, &t, s->coll, t.priority, "mtqd", "release", &err)) {
      s->count++;
    } else if (err.domain != MTQ_ERROR_DOMAIN || err.code != MTQ_ERR_CONFLICT) {
      mtq_warn("cannot release delayed task: %s", err.message);
    }
  } else if (!s->next_due_ms || t.not_before < s->next_due_ms) {
    s->next_due_ms = t.not_before;
  }
  mtq_task_cleanup(&t);
  return true;
}

bool mtq_store_release_due(mtq_store_t *store, const char *channel, int64_t now_ms,
                           int64_t *next_due_ms, size_t *released, bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  sweep_t s = {store, client, mtq__delayed(store, client, channel), channel, 0, now_ms, 0, 0, NULL};
  bson_t filter = BSON_INITIALIZER;
  bool ok = each_doc(s.coll, &filter, NULL, release_one, &s, error);
  bson_destroy(&filter);
  mongoc_collection_destroy(s.coll);
  mtq__store_push(store, client);
  *next_due_ms = s.next_due_ms;
  *released = s.count;
  return ok;
}

static bool reconcile_one(void *ctx, const bson_t *doc) {
  sweep_t *s = ctx;
  mtq_task_t t;
  mtq_task_init(&t);
  bson_error_t err;
  if (!mtq_task_from_bson(&t, doc, s->channel, &err)) {
    mtq__quarantine(s->store, s->client, s->coll, doc, s->channel, err.message);
  } else if (t.status == MTQ_STATE_QUEUED && t.priority != s->lane_priority) {
    if (move_task(s->store, s->client, &t, s->coll, t.priority, "mtqd", "move", &err)) {
      s->count++;
    } else if (err.domain != MTQ_ERROR_DOMAIN || err.code != MTQ_ERR_CONFLICT) {
      mtq_warn("cannot move re-prioritised task: %s", err.message);
    }
  }
  mtq_task_cleanup(&t);
  return true;
}

bool mtq_store_reconcile(mtq_store_t *store, const char *channel, size_t *moved,
                         bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  bool ok = true;
  *moved = 0;
  for (int32_t p = MTQ_PRIORITY_MIN; ok && p <= MTQ_PRIORITY_MAX; p++) {
    sweep_t s = {store, client, mtq__lane(store, client, channel, p), channel, p, 0, 0, 0, NULL};
    bson_t filter = BSON_INITIALIZER;
    ok = each_doc(s.coll, &filter, NULL, reconcile_one, &s, error);
    bson_destroy(&filter);
    mongoc_collection_destroy(s.coll);
    *moved += s.count;
  }
  mtq__store_push(store, client);
  return ok;
}

static bool collect_one(void *ctx, const bson_t *doc) {
  sweep_t *s = ctx;
  mtq_task_t *t = mtq_task_list_push(s->out);
  bson_error_t err;
  if (!mtq_task_from_bson(t, doc, s->channel, &err)) {
    mtq_task_list_pop(s->out);
    return true;
  }
  /* The lane a document sits in is where the store looks for it later. */
  if (s->lane_priority >= 0) {
    t->priority = s->lane_priority;
  }
  return s->count == 0 || s->out->n < s->count;
}

bool mtq_store_tasks_held_by(mtq_store_t *store, const char *channel, const char *worker_id,
                             mtq_task_list_t *out, bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  bool ok = true;
  bson_t *filter = BCON_NEW("status", BCON_UTF8("running"), "worker", BCON_UTF8(worker_id));
  for (int32_t p = MTQ_PRIORITY_MIN; ok && p <= MTQ_PRIORITY_MAX; p++) {
    sweep_t s = {store, client, mtq__lane(store, client, channel, p), channel, p, 0, 0, 0, out};
    ok = each_doc(s.coll, filter, NULL, collect_one, &s, error);
    mongoc_collection_destroy(s.coll);
  }
  bson_destroy(filter);
  mtq__store_push(store, client);
  return ok;
}

/* --- operators ------------------------------------------------------------ */

/* Where a task was found: its collection (caller destroys) and lane. */
typedef struct {
  mongoc_collection_t *coll;
  int32_t lane; /* -1: delayed, dispatch or results */
  bool finished;
  const char *channel; /* of the lane or delayed collection; NULL elsewhere */
} place_t;

/* One pass over the places a task can be, in the order tasks move through
 * them (delayed, lanes, results): every move inserts at the destination
 * before it deletes at the source, so a task moving during the pass is
 * found further on.  A move between two lanes can still slip past, hence
 * the second pass in locate(). */
static bool locate_pass(mtq_store_t *store, mongoc_client_t *client, char **channels,
                        const bson_oid_t *id, bson_t *doc, place_t *place, bool *found,
                        bson_error_t *error) {
  bool ok = true;
  *found = false;
  for (size_t c = 0; ok && !*found && channels[c]; c++) {
    for (int32_t p = MTQ_PRIORITY_MAX + 1; ok && !*found && p >= MTQ_PRIORITY_MIN; p--) {
      mongoc_collection_t *coll = p > MTQ_PRIORITY_MAX ? mtq__delayed(store, client, channels[c])
                                                       : mtq__lane(store, client, channels[c], p);
      ok = mtq__find_by_id(coll, id, doc, found, error);
      if (*found) {
        place->coll = coll;
        place->lane = p > MTQ_PRIORITY_MAX ? -1 : p;
        place->channel = channels[c];
      } else {
        mongoc_collection_destroy(coll);
      }
    }
  }
  if (ok && !*found) { /* the parent of redundant copies, while it is live */
    mongoc_collection_t *coll = mtq__coll(store, client, MTQ__DISPATCH);
    ok = mtq__find_by_id(coll, id, doc, found, error);
    if (*found) {
      place->coll = coll;
      place->lane = -1;
    } else {
      mongoc_collection_destroy(coll);
    }
  }
  if (ok && !*found) {
    mongoc_collection_t *coll = mtq__coll(store, client, "results");
    ok = mtq__find_by_id(coll, id, doc, found, error);
    if (*found) {
      place->coll = coll;
      place->lane = -1;
      place->finished = true;
    } else {
      mongoc_collection_destroy(coll);
    }
  }
  return ok;
}

/* A quarantined task's record in results (mtq__quarantine) keeps the
 * malformed original aside; readers get a failed task with its error and
 * whatever names of the original still read well. */
static bool from_quarantine(mtq_task_t *out, const bson_oid_t *id, const bson_t *doc) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, "original") || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
    return false;
  }
  mtq_task_cleanup(out);
  bson_oid_copy(id, &out->id);
  out->status = MTQ_STATE_FAILED;
  out->args = bson_new();
  static const struct {
    const char *key;
    size_t offset;
  } names[] = {{"channel", offsetof(mtq_task_t, channel)},
               {"func", offsetof(mtq_task_t, func)},
               {"version", offsetof(mtq_task_t, version)}};
  uint32_t len;
  const uint8_t *data;
  bson_t original;
  bson_iter_document(&it, &len, &data);
  if (bson_init_static(&original, data, len)) {
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
      bson_iter_t f;
      if (bson_iter_init_find(&f, &original, names[i].key) && BSON_ITER_HOLDS_UTF8(&f) &&
          mtq_name_valid(bson_iter_utf8(&f, NULL))) {
        bson_strncpy((char *)out + names[i].offset, bson_iter_utf8(&f, NULL), MTQ_NAME_MAX + 1);
      }
    }
  }
  if (bson_iter_init_find(&it, doc, "error") && BSON_ITER_HOLDS_UTF8(&it)) {
    out->error = bson_strdup(bson_iter_utf8(&it, NULL));
  }
  if (bson_iter_init_find(&it, doc, "finished_at") && BSON_ITER_HOLDS_DATE_TIME(&it)) {
    out->finished_at = bson_iter_date_time(&it);
  }
  return true;
}

static bool locate(mtq_store_t *store, mongoc_client_t *client, const bson_oid_t *id,
                   mtq_task_t *out, place_t *place, bson_error_t *error) {
  char **channels = NULL;
  bson_t doc = BSON_INITIALIZER;
  bool found = false;
  *place = (place_t){NULL, -1, false, NULL};
  bool ok = mtq_store_channels(store, &channels, error);
  for (int pass = 0; ok && !found && pass < 2; pass++) {
    ok = locate_pass(store, client, channels, id, &doc, place, &found, error);
  }
  char hex[25];
  bson_oid_to_string(id, hex);
  if (ok && !found) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND, "no task %s", hex);
    ok = false;
  }
  bson_error_t perr;
  /* A live task written by another program may carry no channel: it is the
   * channel of the collection it was found in (README, "Producing tasks
   * from another language"). */
  if (ok && !mtq_task_from_bson(out, &doc, place->channel, &perr) &&
      !(place->finished && from_quarantine(out, id, &doc))) {
    mtq_error_set(error, MTQ_ERR_INVALID, "task %s is malformed: %s", hex, perr.message);
    ok = false;
  }
  if (!ok && place->coll) {
    mongoc_collection_destroy(place->coll);
    place->coll = NULL;
  }
  place->channel = NULL; /* it was one of channels */
  bson_strfreev(channels);
  bson_destroy(&doc);
  return ok;
}

bool mtq_store_find(mtq_store_t *store, const bson_oid_t *id, mtq_task_t *out,
                    bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  place_t place;
  bool ok = locate(store, client, id, out, &place, error);
  if (ok) {
    mongoc_collection_destroy(place.coll);
  }
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_find_outcome(mtq_store_t *store, const bson_oid_t *id, mtq_task_t *out,
                            bool *found, bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, "results");
  bson_t doc = BSON_INITIALIZER;
  bool ok = mtq__find_by_id(coll, id, &doc, found, error);
  bson_error_t perr;
  if (ok && *found && !mtq_task_from_bson(out, &doc, NULL, &perr) &&
      !from_quarantine(out, id, &doc)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "outcome of the task is malformed: %s", perr.message);
    ok = false;
  }
  bson_destroy(&doc);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

static bool refuse_unless(const mtq_task_t *t, const char *what, bson_error_t *error) {
  if (mtq_state_is_waiting(t->status)) {
    return true;
  }
  char hex[25];
  bson_oid_to_string(&t->id, hex);
  mtq_error_set(error, MTQ_ERR_STATE, "task %s is %s: cannot %s it", hex,
                mtq_state_name(mtq_task_state(t)), what);
  return false;
}

static bool set_field(mongoc_collection_t *coll, const bson_oid_t *id, const char *field,
                      const bson_value_t *value, bson_error_t *error) {
  bson_t filter = BSON_INITIALIZER, upd = BSON_INITIALIZER, set;
  BSON_APPEND_OID(&filter, "_id", id);
  BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
  BSON_APPEND_VALUE(&set, field, value);
  bson_append_document_end(&upd, &set);
  bool ok = mongoc_collection_update_one(coll, &filter, &upd, NULL, NULL, error);
  bson_destroy(&upd);
  bson_destroy(&filter);
  return ok;
}

bool mtq_store_set_priority(mtq_store_t *store, const bson_oid_t *id, int32_t priority,
                            bson_error_t *error) {
  if (priority < MTQ_PRIORITY_MIN || priority > MTQ_PRIORITY_MAX) {
    mtq_error_set(error, MTQ_ERR_INVALID, "priority %d is out of range %d..%d", priority,
                  MTQ_PRIORITY_MIN, MTQ_PRIORITY_MAX);
    return false;
  }
  mongoc_client_t *client = mtq__store_pop(store);
  mtq_task_t t;
  mtq_task_init(&t);
  place_t place = {0};
  bool found = locate(store, client, id, &t, &place, error);
  bool ok = found && refuse_unless(&t, "re-prioritise", error);
  if (ok && place.lane < 0) {
    bson_value_t v = {.value_type = BSON_TYPE_INT32, .value.v_int32 = priority};
    ok = set_field(place.coll, id, "priority", &v, error); /* placed on release */
  } else if (ok && place.lane != priority) {
    ok = move_task(store, client, &t, place.coll, priority, "operator", "move", error);
  }
  if (found) {
    mongoc_collection_destroy(place.coll);
  }
  mtq_task_cleanup(&t);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_set_enable(mtq_store_t *store, const bson_oid_t *id, bool enable,
                          bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mtq_task_t t;
  mtq_task_init(&t);
  place_t place = {0};
  bool found = locate(store, client, id, &t, &place, error);
  bool ok = found;
  if (ok && enable) {
    ok = t.is_enable || mtq_task_check_move(&t, MTQ_STATE_QUEUED, "enable", error);
  } else if (ok) {
    ok = mtq_task_check_move(&t, MTQ_STATE_DISABLED, "disable", error);
  }
  if (ok && t.is_enable != enable) {
    mtq__event(store, client, &t, mtq_task_state(&t), enable ? t.status : MTQ_STATE_DISABLED,
               "operator", enable ? "enable" : "disable");
    bson_value_t v = {.value_type = BSON_TYPE_BOOL, .value.v_bool = enable};
    ok = set_field(place.coll, id, "is_enable", &v, error);
  }
  if (found) {
    mongoc_collection_destroy(place.coll);
  }
  mtq_task_cleanup(&t);
  mtq__store_push(store, client);
  return ok;
}

/* The copies of a cancelled parent that are still out go too (best effort:
 * mtqd withdraws what is left when it finds the parent gone). */
static void cancel_copies(mtq_store_t *store, const mtq_task_t *parent) {
  bson_iter_t it, f;
  if (!parent->copies || !bson_iter_init(&it, parent->copies)) {
    return;
  }
  bson_t one;
  while (mtq_bson_next_doc(&it, &one)) {
    if (bson_iter_init_find(&f, &one, "state") &&
        BSON_ITER_HOLDS_UTF8(&f) && strcmp(bson_iter_utf8(&f, NULL), "sent") == 0 &&
        bson_iter_init_find(&f, &one, "id") && BSON_ITER_HOLDS_OID(&f)) {
      bson_error_t err;
      if (!mtq_store_cancel(store, bson_iter_oid(&f), &err)) {
        mtq_debug("cannot cancel a copy of a cancelled task: %s", err.message);
      }
    }
  }
}

bool mtq_store_cancel(mtq_store_t *store, const bson_oid_t *id, bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mtq_task_t t;
  mtq_task_init(&t);
  place_t place = {0};
  bool found = locate(store, client, id, &t, &place, error);
  bool ok = found && mtq_task_check_move(&t, MTQ_STATE_CANCELLED, "cancel", error);
  if (ok && t.status == MTQ_STATE_RUNNING) {
    /* The attempt's end lock, as the holder and mtqd take it: whoever is
     * first decides.  The worker learns it at its next lease renewal and
     * stops the process. */
    ok = mtq__end_attempt(store, client, &t, MTQ_STATE_CANCELLED, "operator",
                          "cancelled by an operator while running", NULL, false, false, error);
  } else if (ok) {
    ok = mtq__claim(store, client, &t, "operator", "cancel", error);
    if (ok) {
      mtq__event(store, client, &t, mtq_task_state(&t), MTQ_STATE_CANCELLED, "operator",
                 "cancelled by an operator");
      t.status = MTQ_STATE_CANCELLED;
      t.finished_at = mtq_now_ms();
      bson_free(t.error);
      t.error = bson_strdup("cancelled by an operator");
      ok = mtq__record_outcome(store, client, &t, place.coll, error);
    }
  }
  if (found) {
    mongoc_collection_destroy(place.coll);
  }
  mtq__store_push(store, client);
  if (ok && mtq_task_is_parent(&t)) {
    cancel_copies(store, &t);
  }
  mtq_task_cleanup(&t);
  return ok;
}

/* Changes a waiting task's status in place, under a new token: the claim on
 * the old token makes the change exclusive against workers and other
 * operators. */
static bool restate(mtq_store_t *store, const bson_oid_t *id, mtq_state_t to, const char *action,
                    bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mtq_task_t t;
  mtq_task_init(&t);
  place_t place = {0};
  bool found = locate(store, client, id, &t, &place, error);
  mtq_state_t stored = to;
  if (found && to == MTQ_STATE_QUEUED) {
    /* A resumed task that sits in the delayed collection waits for its time. */
    stored = place.lane < 0 && !mtq_task_is_parent(&t)
                 ? (t.not_before > mtq_now_ms() ? MTQ_STATE_DELAYED : MTQ_STATE_RETRY_WAIT)
                 : MTQ_STATE_QUEUED;
  }
  bool ok = found && mtq_task_check_move(&t, to, action, error) &&
            mtq__claim(store, client, &t, "operator", action, error);
  if (ok) {
    mtq__event(store, client, &t, mtq_task_state(&t), to, "operator", action);
    t.token++;
    bson_t *upd = BCON_NEW("$set", "{", "status", BCON_UTF8(mtq_state_name(stored)), "token",
                           BCON_INT64(t.token), "}");
    ok = mtq__write_at_token(store, client, place.coll, id, t.token - 1, upd, error);
    bson_destroy(upd);
  }
  if (found) {
    mongoc_collection_destroy(place.coll);
  }
  mtq_task_cleanup(&t);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_suspend(mtq_store_t *store, const bson_oid_t *id, bson_error_t *error) {
  return restate(store, id, MTQ_STATE_SUSPENDED, "suspend", error);
}

bool mtq_store_resume(mtq_store_t *store, const bson_oid_t *id, bson_error_t *error) {
  return restate(store, id, MTQ_STATE_QUEUED, "resume", error);
}

bool mtq_store_retry(mtq_store_t *store, const bson_oid_t *id, bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mtq_task_t t;
  mtq_task_init(&t);
  place_t place = {0};
  bool found = locate(store, client, id, &t, &place, error);
  bool ok = found && mtq_task_check_move(&t, MTQ_STATE_QUEUED, "retry", error);
  if (ok && !place.finished) {
    mtq_error_set(error, MTQ_ERR_STATE, "task is %s: only an ended task can be retried",
                  mtq_state_name(t.status));
    ok = false;
  }
  if (ok) {
    /* "<id>:<token>:retry": one retry per ended life of the task.  A lock
     * found taken means an earlier retry was interrupted; finishing it
     * (insert tolerating the copy, then delete) is what is left to do. */
    mongoc_collection_t *claims = mtq__coll(store, client, "claims");
    char hex[25], key[80];
    bson_oid_to_string(id, hex);
    snprintf(key, sizeof key, "%s:%lld:retry", hex, (long long)t.token);
    bson_t *doc = BCON_NEW("_id", BCON_UTF8(key), "task", BCON_OID(id), "channel",
                           BCON_UTF8(t.channel), "token", BCON_INT64(t.token), "by",
                           BCON_UTF8("operator"), "kind", BCON_UTF8("retry"), "at",
                           BCON_DATE_TIME(mtq_now_ms()));
    bson_error_t err;
    if (!mongoc_collection_insert_one(claims, doc, NULL, NULL, &err) &&
        !mtq_error_is_duplicate(&err)) {
      if (error) {
        *error = err;
      }
      ok = false;
    }
    bson_destroy(doc);
    mongoc_collection_destroy(claims);
  }
  if (ok) {
    mtq__event(store, client, &t, t.status, MTQ_STATE_QUEUED, "operator", "retry");
    t.token++;
    t.status = MTQ_STATE_QUEUED;
    t.attempt = 0;
    t.is_enable = true;
    t.finished_at = 0;
    t.claimed_at = 0;
    t.not_before = 0;
    t.worker[0] = '\0';
    if (t.result) {
      bson_destroy(t.result);
      t.result = NULL;
    }
    if (t.copies) { /* a parent starts over with new copies */
      bson_destroy(t.copies);
      t.copies = NULL;
    }
    mongoc_collection_t *lane = mtq__home(store, client, &t);
    bson_t doc = BSON_INITIALIZER;
    mtq_task_to_bson(&t, &doc);
    bson_error_t err;
    ok = mongoc_collection_insert_one(lane, &doc, NULL, NULL, &err);
    if (!ok && mtq_error_is_duplicate(&err)) {
      ok = own_copy(lane, &t, error);
    } else if (!ok && error) {
      *error = err;
    }
    bson_destroy(&doc);
    mongoc_collection_destroy(lane);
    if (ok) {
      ok = mtq__write_at_token(store, client, place.coll, id, t.token - 1, NULL, error); /* the ended record */
    }
  }
  if (found) {
    mongoc_collection_destroy(place.coll);
  }
  mtq_task_cleanup(&t);
  mtq__store_push(store, client);
  return ok;
}
