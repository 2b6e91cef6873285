/* protocol.c - the claim protocol: every change of ownership of a live task
 * and every end of an attempt goes through here.
 *
 * Why a protocol.  FerretDB 1.x runs findAndModify and a filtered update as
 * a read followed by a separate write, so two clients can both "win" the
 * same document that way (MongoDB would not let them).  What both servers
 * make atomic is an insert whose _id already exists: it fails, also inside
 * an unordered multi-document insert, document by document.  So ownership
 * is decided by inserts of records with unique keys, never by the task
 * document's own fields, which are a cache for polling and for people.
 *
 * Tokens.  A live task carries a token, its claim generation.  Every act
 * that gives the task back to the queue (a requeue, a release, a move to
 * another lane) gives it the next token; an act that ends it records its
 * outcome.  The records of one ownership are keyed by "<id>:<token>"
 * (mtq__key):
 *
 *   claims/<id>:<token>        the claim: whoever inserts it owns the token
 *                              (a worker to run it, mtqd to release or move
 *                              it, an operator to cancel it).  Permanent, so
 *                              that a poller that read an old token can
 *                              never claim it once it has moved on.
 *   leases/<id>:<token>        a running attempt's lease, inserted by the
 *                              claiming worker just before its claim (so a
 *                              claimant that dies between the two is still
 *                              found by its unrenewed lease) and renewed
 *                              while it holds the task.
 *   claims/<id>:<token>:end    the end lock: of the holder finishing, mtqd
 *                              expiring the lease and an operator cancelling,
 *                              exactly one inserts it and may end the
 *                              attempt; the others are refused ("fencing"),
 *                              so a late result of an old holder never
 *                              overwrites a newer outcome.
 *   claims/<id>:<token>:retry  one operator retry per ended life.
 *   results/<id>               the one recorded outcome: its unique _id keeps
 *                              one outcome per task, whoever tries again.
 *   events/<id>:<token>:<to>   the audit trail (events.c): one per transition.
 *   runs/<id>:<token>          the attempt's run record (runs.c).
 *
 * Writes to the task document itself name the token they expect
 * (mtq__write_at_token), so that a document that moved on under a newer
 * token is never overwritten or deleted by an older owner.  Every move
 * inserts at its destination before it deletes at its source, so a task is
 * always somewhere; a copy an interrupted move left behind is recognised by
 * its token (mtq__place_task). */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "protocol.h"

void mtq__key(const bson_oid_t *id, int64_t token, const char *suffix, char out[MTQ__KEY_MAX]) {
  char hex[25];
  bson_oid_to_string(id, hex);
  snprintf(out, MTQ__KEY_MAX, "%s:%lld%s%s", hex, (long long)token, suffix ? ":" : "",
           suffix ? suffix : "");
}

/* --- locks ------------------------------------------------------------------ */

static void read_holder(mongoc_collection_t *claims, const char *key, mtq__holder_t *holder,
                        bson_error_t *error) {
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(key));
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(claims, filter, NULL, NULL);
  const bson_t *found;
  bson_strncpy(holder->by, "?", sizeof holder->by);
  bson_strncpy(holder->kind, "?", sizeof holder->kind);
  if (mongoc_cursor_next(cur, &found)) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, found, "by") && BSON_ITER_HOLDS_UTF8(&it)) {
      bson_strncpy(holder->by, bson_iter_utf8(&it, NULL), sizeof holder->by);
    }
    if (bson_iter_init_find(&it, found, "kind") && BSON_ITER_HOLDS_UTF8(&it)) {
      bson_strncpy(holder->kind, bson_iter_utf8(&it, NULL), sizeof holder->kind);
    }
  } else if (!mongoc_cursor_error(cur, error)) {
    /* Removed between our insert and our read: retention purged the task. */
    mtq_error_set(error, MTQ_ERR_CONFLICT, "lock %s changed meanwhile", key);
  }
  mongoc_cursor_destroy(cur);
  bson_destroy(filter);
}

bson_t *mtq__lock_doc(const mtq_task_t *task, const char *suffix, const char *by,
                      const char *kind) {
  char key[MTQ__KEY_MAX];
  mtq__key(&task->id, task->token, suffix, key);
  return BCON_NEW("_id", BCON_UTF8(key), "task", BCON_OID(&task->id), "channel",
                  BCON_UTF8(task->channel), "token", BCON_INT64(task->token), "by", BCON_UTF8(by),
                  "kind", BCON_UTF8(kind), "at", BCON_DATE_TIME(mtq_now_ms()));
}

bool mtq__lock(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
               const char *suffix, const char *by, const char *kind, mtq__holder_t *holder,
               bson_error_t *error) {
  char key[MTQ__KEY_MAX];
  mtq__key(&task->id, task->token, suffix, key);
  mongoc_collection_t *claims = mtq__coll(store, client, "claims");
  bson_t *doc = mtq__lock_doc(task, suffix, by, kind);
  bson_error_t err;
  bool ok = mongoc_collection_insert_one(claims, doc, NULL, NULL, &err);
  if (!ok && mtq_error_is_duplicate(&err)) {
    mtq_error_set(error, MTQ_ERR_CONFLICT, "task %s was claimed by someone else first", key);
    if (holder) {
      read_holder(claims, key, holder, error);
    }
  } else if (!ok && error) {
    *error = err;
  }
  bson_destroy(doc);
  mongoc_collection_destroy(claims);
  return ok;
}

static bool is_conflict(const bson_error_t *err) {
  return err->domain == MTQ_ERROR_DOMAIN && err->code == MTQ_ERR_CONFLICT;
}

bool mtq__claim_or_resume(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                          const char *by, const char *kind, bson_error_t *error) {
  mtq__holder_t holder;
  bson_error_t err = {0};
  if (mtq__lock(store, client, task, NULL, by, kind, &holder, &err)) {
    return true;
  }
  if (is_conflict(&err) && strcmp(holder.by, by) == 0 && strcmp(holder.kind, kind) == 0) {
    return true;
  }
  if (error) {
    *error = err;
  }
  return false;
}

/* The end lock of attempt task->token for by.  A lock that this same actor
 * took earlier (a retry after a lost reply) is accepted, so that the caller
 * can finish what it started. */
static bool end_lock(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                     const char *by, const char *kind, bool take_over, bson_error_t *error) {
  mtq__holder_t holder;
  bson_error_t err = {0};
  if (mtq__lock(store, client, task, "end", by, kind, &holder, &err)) {
    return true;
  }
  if (!is_conflict(&err) || strcmp(holder.by, "?") == 0) {
    if (error) {
      *error = err;
    }
    return false;
  }
  if (strcmp(holder.by, by) == 0 && strcmp(holder.kind, kind) == 0) {
    return true;
  }
  char key[MTQ__KEY_MAX];
  mtq__key(&task->id, task->token, "end", key);
  if (!take_over) {
    mtq_error_set(error, MTQ_ERR_CONFLICT, "attempt %s was already ended (%s by %s)", key,
                  holder.kind, holder.by);
    return false;
  }
  /* The lock's owner died before it finished: the lock becomes ours, so
   * that the owner, should it come back, is refused. */
  mongoc_collection_t *claims = mtq__coll(store, client, "claims");
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(key));
  bson_t *upd = BCON_NEW("$set", "{", "by", BCON_UTF8(by), "kind", BCON_UTF8(kind),
                         "took_over_from", BCON_UTF8(holder.by), "}");
  bool ok = mongoc_collection_update_one(claims, filter, upd, NULL, NULL, error);
  bson_destroy(upd);
  bson_destroy(filter);
  mongoc_collection_destroy(claims);
  return ok;
}

/* --- writing task documents --------------------------------------------------- */

bool mtq__insert_task(mongoc_collection_t *coll, const mtq_task_t *task, bool dup_ok,
                      bson_error_t *error) {
  bson_t doc = BSON_INITIALIZER;
  mtq_task_to_bson(task, &doc);
  bson_error_t err;
  bool ok = mongoc_collection_insert_one(coll, &doc, NULL, NULL, &err);
  bson_destroy(&doc);
  if (!ok && dup_ok && mtq_error_is_duplicate(&err)) {
    return true; /* an earlier, interrupted attempt already wrote it */
  }
  if (!ok && error) {
    *error = err;
  }
  return ok;
}

bool mtq__place_task(mongoc_collection_t *coll, const mtq_task_t *task, bson_error_t *error) {
  bson_t doc = BSON_INITIALIZER;
  mtq_task_to_bson(task, &doc);
  bson_error_t err;
  bool ok = mongoc_collection_insert_one(coll, &doc, NULL, NULL, &err);
  bson_destroy(&doc);
  if (ok || !mtq_error_is_duplicate(&err)) {
    if (!ok && error) {
      *error = err;
    }
    return ok;
  }
  int64_t token;
  ok = mtq__token_at(coll, &task->id, &token, error);
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

void mtq__token_filter(bson_t *filter, int64_t token) {
  if (token == 0) {
    /* Token 0 is also a document without one (written by another
     * program): {$in: [0, null]} matches a missing field too. */
    BCON_APPEND(filter, "token", "{", "$in", "[", BCON_INT64(0), BCON_NULL, "]", "}");
  } else {
    BSON_APPEND_INT64(filter, "token", token);
  }
}

bool mtq__write_at_token(mtq_store_t *store, mongoc_client_t *client, mongoc_collection_t *coll,
                         const bson_oid_t *id, int64_t token, const bson_t *update,
                         bson_error_t *error) {
  bson_t *filter = BCON_NEW("_id", BCON_OID(id));
  bool ok = true;
  if (mtq__server_kind(store, client, NULL) == MTQ__SERVER_FERRETDB) {
    /* FerretDB hands SQLite a filter only when it is exactly {_id} (SQLite
     * then scans the lane in C, its _id index unused); any other filter is
     * applied in Go to every decoded document: 34 ms instead of 13 ms for a
     * delete at 3,000 tasks.  Its filtered writes are a read and then a
     * write anyway, not one atomic step: this read by _id, token check,
     * then write by _id is the same guarantee, at the cheaper cost. */
    int64_t held;
    ok = mtq__token_at(coll, id, &held, error);
    if (!ok || held != token) {
      bson_destroy(filter);
      return ok; /* gone, or moved on under a newer token: left alone */
    }
  } else {
    mtq__token_filter(filter, token); /* MongoDB: one atomic, indexed step */
  }
  ok = update ? mongoc_collection_update_one(coll, filter, update, NULL, NULL, error)
              : mongoc_collection_delete_one(coll, filter, NULL, NULL, error);
  bson_destroy(filter);
  return ok;
}

bool mtq__record_outcome(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                         mongoc_collection_t *from, bson_error_t *error) {
  /* results/_id is the task id, so however often this runs (a retry after a
   * lost reply) a task has one recorded outcome.  Only the winner of an
   * attempt's end lock gets here, so an existing record with an older
   * token is a stale one: an operator's `mtq retry` that was interrupted
   * before it removed the dead record; it is replaced. */
  mongoc_collection_t *results = mtq__coll(store, client, "results");
  bson_t doc = BSON_INITIALIZER;
  mtq_task_to_bson(task, &doc);
  bson_error_t err;
  bool ok = mongoc_collection_insert_one(results, &doc, NULL, NULL, &err);
  if (!ok && mtq_error_is_duplicate(&err)) {
    bson_t *filter = BCON_NEW("_id", BCON_OID(&task->id), "token", "{", "$lt",
                              BCON_INT64(task->token), "}");
    ok = mongoc_collection_replace_one(results, filter, &doc, NULL, NULL, &err);
    bson_destroy(filter);
  }
  if (!ok && error) {
    *error = err;
  }
  if (ok) {
    mtq__flow_note_ends(store, client, &task, 1);
  }
  bson_destroy(&doc);
  ok = ok && mtq__write_at_token(store, client, from, &task->id, task->token, NULL, error);
  mongoc_collection_destroy(results);
  return ok;
}

void mtq__quarantine(mtq_store_t *store, mongoc_client_t *client, mongoc_collection_t *from,
                     const bson_t *doc, const char *channel, const char *by, const char *reason) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_OID(&it)) {
    mtq_err("%s: a document without an ObjectId _id cannot be quarantined (%s); left in place",
            mongoc_collection_get_name(from), reason);
    return;
  }
  /* Claimed like any ownership change, so a worker cannot run it meanwhile. */
  mtq_task_t t;
  mtq_task_init(&t);
  bson_oid_copy(bson_iter_oid(&it), &t.id);
  bson_strncpy(t.channel, channel, sizeof t.channel);
  t.token = INT64_MAX; /* a key no run can ever use */
  bson_error_t err;
  mtq__lock(store, client, &t, NULL, by, "quarantine", NULL, NULL);
  bson_t *rec = BCON_NEW("_id", BCON_OID(&t.id), "channel", BCON_UTF8(channel), "status",
                         BCON_UTF8("failed"), "error", BCON_UTF8(reason), "finished_at",
                         BCON_DATE_TIME(mtq_now_ms()), "original", BCON_DOCUMENT(doc));
  mongoc_collection_t *results = mtq__coll(store, client, "results");
  bool ok = mongoc_collection_insert_one(results, rec, NULL, NULL, &err) ||
            mtq_error_is_duplicate(&err);
  if (ok) {
    bson_t *filter = BCON_NEW("_id", BCON_OID(&t.id));
    ok = mongoc_collection_delete_one(from, filter, NULL, NULL, &err);
    bson_destroy(filter);
  }
  char hex[25];
  bson_oid_to_string(&t.id, hex);
  if (ok) {
    mtq_warn("task %s in %s is malformed (%s): moved to results as failed, original kept", hex,
             mongoc_collection_get_name(from), reason);
  } else {
    mtq_err("task %s in %s is malformed (%s) and could not be quarantined: %s", hex,
            mongoc_collection_get_name(from), reason, err.message);
  }
  bson_destroy(rec);
  mongoc_collection_destroy(results);
  mtq_task_cleanup(&t);
}

/* --- the end of an attempt ---------------------------------------------------- */

static void drop_lease(mtq_store_t *store, mongoc_client_t *client, const char *key) {
  mongoc_collection_t *leases = mtq__coll(store, client, "leases");
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(key));
  bson_error_t err;
  if (!mongoc_collection_delete_one(leases, filter, NULL, NULL, &err)) {
    /* Harmless: the coordinator deletes a lease whose attempt has ended. */
    mtq_debug("cannot delete lease %s: %s", key, err.message);
  }
  bson_destroy(filter);
  mongoc_collection_destroy(leases);
}

/* The task without a holder, in status `to` under the next token; returns
 * the token it was held under. */
static int64_t release_hold(mtq_task_t *task, mtq_state_t to) {
  int64_t held = task->token++;
  task->status = to;
  task->worker[0] = '\0';
  task->claimed_at = 0;
  return held;
}

/* Gives the task back to its lane, in place, with the next token: queued,
 * or suspended (waiting) when it was suspended while it ran. */
static bool put_back(mtq_store_t *store, mongoc_client_t *client, mongoc_collection_t *lane,
                     mtq_task_t *task, mtq_state_t to, bson_error_t *error) {
  int64_t held = release_hold(task, to);
  bson_t upd = BSON_INITIALIZER, set;
  BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
  BSON_APPEND_UTF8(&set, "status", mtq_state_name(to));
  BSON_APPEND_INT64(&set, "token", task->token);
  BSON_APPEND_INT32(&set, "attempt", task->attempt);
  BSON_APPEND_NULL(&set, "worker");
  BSON_APPEND_NULL(&set, "claimed_at");
  if (task->error) {
    BSON_APPEND_UTF8(&set, "error", task->error);
  } else {
    BSON_APPEND_NULL(&set, "error");
  }
  if (task->errors) {
    BSON_APPEND_ARRAY(&set, "errors", task->errors);
  }
  bson_append_document_end(&upd, &set);
  bool ok = mtq__write_at_token(store, client, lane, &task->id, held, &upd, error);
  bson_destroy(&upd);
  return ok;
}

/* Moves the task from its lane to the channel's delayed collection, to be
 * released by mtqd once its backoff has passed. */
static bool to_retry_wait(mtq_store_t *store, mongoc_client_t *client, mongoc_collection_t *lane,
                          mtq_task_t *task, bson_error_t *error) {
  int64_t held = release_hold(task, MTQ_STATE_RETRY_WAIT);
  task->not_before = mtq_now_ms() + mtq_task_backoff(task, (double)random() / 2147483648.0);
  mongoc_collection_t *delayed = mtq__delayed(store, client, task->channel);
  /* The delete names the old token: mtqd may release the task (a new
   * document in this lane, next token) the moment the insert is done. */
  bool ok = mtq__insert_task(delayed, task, true, error) &&
            mtq__write_at_token(store, client, lane, &task->id, held, NULL, error);
  mongoc_collection_destroy(delayed);
  return ok;
}

/* What an end changes in *task is kept in e->before (a shallow copy with
 * its own errors and error), so that a failed end leaves the task as it
 * was. */
static void before_take(mtq_task_t *b, const mtq_task_t *task) {
  *b = *task;
  b->errors = task->errors ? bson_copy(task->errors) : NULL;
  b->error = task->error ? bson_strdup(task->error) : NULL;
}

/* Success: frees what the task no longer uses. */
static void before_drop(mtq_task_t *b, const mtq_task_t *task) {
  if (b->result && b->result != task->result) {
    bson_destroy(b->result);
  }
  if (b->errors) {
    bson_destroy(b->errors);
  }
  bson_free(b->error);
}

/* Failure: the task as it was (args and result pointers are the ones it had). */
static void before_restore(mtq_task_t *b, mtq_task_t *task) {
  if (task->errors) {
    bson_destroy(task->errors);
  }
  bson_free(task->error);
  if (task->result && task->result != b->result) {
    bson_destroy(task->result);
  }
  *task = *b;
}

void mtq__end_begin(mtq__ending_t *e, mtq_task_t *task, mtq_state_t to, const char *by,
                    const char *why, bool count_attempt) {
  /* by may be task->worker, which giving the task back clears. */
  bson_strncpy(e->by, by && *by ? by : "mtq", sizeof e->by);
  e->from = task->status;
  e->to = to;
  e->why = why;
  e->now = mtq_now_ms();
  mtq__key(&task->id, task->token, NULL, e->lease);
  before_take(&e->before, task);
  if (to != MTQ_STATE_DONE && to != MTQ_STATE_CANCELLED && why) {
    bson_free(task->error);
    task->error = bson_strndup(why, MTQ_ERROR_MAX_BYTES);
    if (count_attempt) {
      mtq_task_add_error(task, task->error, e->now);
    }
  }
  if (!count_attempt && task->attempt > 0 &&
      (e->from == MTQ_STATE_RUNNING || e->from == MTQ_STATE_SUSPENDED)) {
    task->attempt--;
  }
}

void mtq__end_event(const mtq__ending_t *e, const mtq_task_t *task, bson_t *doc) {
  mtq__event_doc(task, e->from, e->to, e->by, e->why, doc);
}

bool mtq__end_is_outcome(mtq_state_t to) {
  return to != MTQ_STATE_QUEUED && to != MTQ_STATE_RETRY_WAIT && to != MTQ_STATE_SUSPENDED;
}

void mtq__end_outcome(mtq__ending_t *e, mtq_task_t *task, const bson_t *result) {
  task->status = e->to;
  task->finished_at = e->now;
  if (e->to == MTQ_STATE_DONE) {
    task->result = result ? bson_copy(result) : bson_new(); /* the old one: see before_drop */
    bson_free(task->error);
    task->error = NULL;
  }
}

void mtq__end_undo(mtq__ending_t *e, mtq_task_t *task) { before_restore(&e->before, task); }

bool mtq__end_commit(mtq_store_t *store, mongoc_client_t *client, mtq__ending_t *e,
                     mtq_task_t *task, const bson_t *result, bson_error_t *error) {
  mongoc_collection_t *lane = mtq__home(store, client, task);
  bool ok;
  if (e->to == MTQ_STATE_QUEUED || e->to == MTQ_STATE_SUSPENDED) {
    ok = put_back(store, client, lane, task, e->to, error);
  } else if (e->to == MTQ_STATE_RETRY_WAIT) {
    ok = to_retry_wait(store, client, lane, task, error);
  } else {
    mtq__end_outcome(e, task, result);
    ok = mtq__record_outcome(store, client, task, lane, error);
  }
  mongoc_collection_destroy(lane);
  if (!ok) {
    before_restore(&e->before, task);
  }
  return ok;
}

void mtq__end_forget(mtq__ending_t *e, const mtq_task_t *task) { before_drop(&e->before, task); }

void mtq__end_done(mtq_store_t *store, mongoc_client_t *client, mtq__ending_t *e,
                   const mtq_task_t *task) {
  mtq__run_record(store, client, &e->before, e->to, e->by, e->now);
  mtq__end_forget(e, task);
}

bool mtq__end_attempt(mtq_store_t *store, mongoc_client_t *client, mtq_task_t *task,
                      mtq_state_t to, const char *by, const char *why, const bson_t *result,
                      bool count_attempt, bool take_over, bson_error_t *error) {
  mtq__ending_t e;
  char who[MTQ__ACTOR_MAX + 1];
  bson_strncpy(who, by && *by ? by : "mtq", sizeof who); /* by may be task->worker */
  if (!end_lock(store, client, task, who, mtq_state_action(MTQ_STATE_RUNNING, to), take_over,
                error)) {
    return false;
  }
  mtq__end_begin(&e, task, to, who, why, count_attempt);
  /* The event first, under an _id of this attempt's end: a retry of this
   * call after a lost reply does not record it twice. */
  bson_t event = BSON_INITIALIZER;
  mtq__end_event(&e, task, &event);
  bson_t *events[1] = {&event};
  mtq__events_write(store, client, events, 1);
  bson_destroy(&event);
  if (!mtq__end_commit(store, client, &e, task, result, error)) {
    return false;
  }
  drop_lease(store, client, e.lease);
  mtq__task_touch(store, client, task);
  mtq__end_done(store, client, &e, task);
  return true;
}

bool mtq__end_lock(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                   const char *by, mtq_state_t to, bson_error_t *error) {
  return end_lock(store, client, task, by, mtq_state_action(MTQ_STATE_RUNNING, to), false, error);
}

/* --- moves ------------------------------------------------------------------- */

bool mtq__move_task(mtq_store_t *store, mongoc_client_t *client, mtq_task_t *task,
                    mongoc_collection_t *from, int32_t priority, bool to_side, const char *by,
                    const char *kind, bson_error_t *error) {
  if (!mtq__claim_or_resume(store, client, task, by, kind, error)) {
    return false;
  }
  if (task->status != MTQ_STATE_QUEUED) {
    mtq__event(store, client, task, task->status, MTQ_STATE_QUEUED, by, kind);
  }
  task->token++;
  task->priority = priority;
  task->status = MTQ_STATE_QUEUED;
  task->moved = to_side;
  /* Back into the segment its id names (its age's place in the order), or
   * the side lane; the segment is listed again after the insert, since it
   * may have been retired while the task was away. */
  if (!to_side) {
    mtq__seg_of_id(&task->id, task->seg);
  }
  mongoc_collection_t *to = mtq__home(store, client, task);
  bool ok = mtq__place_task(to, task, error) &&
            (to_side || mtq__seg_list(store, client, task->channel, priority, task->seg, error)) &&
            mtq__write_at_token(store, client, from, &task->id, task->token - 1, NULL, error);
  mongoc_collection_destroy(to);
  return ok;
}
