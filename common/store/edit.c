/* edit.c - what operators change in a waiting or running task: priority,
 * enable, cancel, suspend, resume, retry (see mtq_store_admin.h).  Every
 * change goes through the state table (mtq_task_check_move) and, where it
 * changes the owner of a live task, through the claim protocol; `by` names
 * the operator in the audit trail. */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "protocol.h"

/* One edit: the task as found, where it was, and the client it uses. */
typedef struct {
  mtq_store_t *store;
  mongoc_client_t *client;
  mtq_task_t t;
  mtq__place_t place;
  bool found;
} edit_t;

static bool edit_open(edit_t *e, mtq_store_t *store, const bson_oid_t *id, bson_error_t *error) {
  memset(e, 0, sizeof *e);
  e->store = store;
  e->client = mtq__store_pop(store);
  mtq_task_init(&e->t);
  e->found = mtq__locate(store, e->client, id, &e->t, &e->place, error);
  return e->found;
}

static void edit_close(edit_t *e) {
  if (e->found) {
    mongoc_collection_destroy(e->place.coll);
  }
  mtq_task_cleanup(&e->t);
  mtq__store_push(e->store, e->client);
}

/* Whether t is suspended while its worker holds it (its attempt's lease
 * kept), rather than waiting suspended. */
static bool held_suspended(const mtq_task_t *t) {
  return t->status == MTQ_STATE_SUSPENDED && t->worker[0] && t->claimed_at;
}

static bool refuse_unless_waiting(const mtq_task_t *t, const char *what, bson_error_t *error) {
  if (mtq_state_is_waiting(t->status) && !held_suspended(t)) {
    return true;
  }
  char hex[25];
  bson_oid_to_string(&t->id, hex);
  mtq_error_set(error, MTQ_ERR_STATE, "task %s is %s%s: cannot %s it", hex,
                mtq_state_name(mtq_task_state(t)),
                held_suspended(t) ? " while it runs (resume or cancel it)" : "", what);
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
                            const char *by, bson_error_t *error) {
  if (priority < MTQ_PRIORITY_MIN || priority > MTQ_PRIORITY_MAX) {
    mtq_error_set(error, MTQ_ERR_INVALID, "priority %d is out of range %d..%d", priority,
                  MTQ_PRIORITY_MIN, MTQ_PRIORITY_MAX);
    return false;
  }
  edit_t e;
  bool ok = edit_open(&e, store, id, error) && refuse_unless_waiting(&e.t, "re-prioritise", error);
  if (ok && e.place.lane < 0) {
    bson_value_t v = {.value_type = BSON_TYPE_INT32, .value.v_int32 = priority};
    ok = set_field(e.place.coll, id, "priority", &v, error); /* placed on release */
  } else if (ok && e.place.lane != priority) {
    ok = mtq__move_task(store, e.client, &e.t, e.place.coll, priority, true, by, "move", error);
  }
  if (ok) {
    mtq__task_touch(store, e.client, &e.t);
  }
  edit_close(&e);
  return ok;
}

bool mtq_store_set_enable(mtq_store_t *store, const bson_oid_t *id, bool enable, const char *by,
                          bson_error_t *error) {
  edit_t e;
  bool ok = edit_open(&e, store, id, error) &&
            (!held_suspended(&e.t) ||
             refuse_unless_waiting(&e.t, enable ? "enable" : "disable", error));
  if (ok && enable) {
    ok = e.t.is_enable || mtq_task_check_move(&e.t, MTQ_STATE_QUEUED, "enable", error);
  } else if (ok) {
    ok = mtq_task_check_move(&e.t, MTQ_STATE_DISABLED, "disable", error);
  }
  if (ok && e.t.is_enable != enable) {
    mtq__event(store, e.client, &e.t, mtq_task_state(&e.t),
               enable ? e.t.status : MTQ_STATE_DISABLED, by, enable ? "enable" : "disable");
    bson_value_t v = {.value_type = BSON_TYPE_BOOL, .value.v_bool = enable};
    ok = set_field(e.place.coll, id, "is_enable", &v, error);
  }
  if (ok && enable) {
    mtq__channel_touch(store, e.client, e.t.channel);
  }
  edit_close(&e);
  return ok;
}

/* The copies of a cancelled parent that are still out go too (best effort:
 * mtqd withdraws what is left when it finds the parent gone). */
static void cancel_copies(mtq_store_t *store, const mtq_task_t *parent, const char *by) {
  bson_iter_t it, f;
  if (!parent->copies || !bson_iter_init(&it, parent->copies)) {
    return;
  }
  bson_t one;
  while (mtq_bson_next_doc(&it, &one)) {
    if (bson_iter_init_find(&f, &one, "state") && BSON_ITER_HOLDS_UTF8(&f) &&
        strcmp(bson_iter_utf8(&f, NULL), "sent") == 0 && bson_iter_init_find(&f, &one, "id") &&
        BSON_ITER_HOLDS_OID(&f)) {
      bson_error_t err;
      if (!mtq_store_cancel(store, bson_iter_oid(&f), by, &err)) {
        mtq_debug("cannot cancel a copy of a cancelled task: %s", err.message);
      }
    }
  }
}

bool mtq_store_cancel(mtq_store_t *store, const bson_oid_t *id, const char *by,
                      bson_error_t *error) {
  return mtq_store_cancel_because(store, id, by, NULL, error);
}

bool mtq_store_cancel_because(mtq_store_t *store, const bson_oid_t *id, const char *by,
                              const char *why, bson_error_t *error) {
  edit_t e;
  bool ok = edit_open(&e, store, id, error) &&
            mtq_task_check_move(&e.t, MTQ_STATE_CANCELLED, "cancel", error);
  mtq_task_t *t = &e.t;
  if (ok && (t->status == MTQ_STATE_RUNNING || held_suspended(t))) {
    /* The attempt's end lock, as the holder and mtqd take it: whoever is
     * first decides.  The worker learns it at its next lease renewal and
     * stops the process (a suspended one too). */
    ok = mtq__end_attempt(store, e.client, t, MTQ_STATE_CANCELLED, by,
                          why ? why : "cancelled by an operator while running", NULL, false,
                          false, error);
  } else if (ok) {
    ok = mtq__lock(store, e.client, t, NULL, by, "cancel", NULL, error);
    if (ok) {
      mtq__event(store, e.client, t, mtq_task_state(t), MTQ_STATE_CANCELLED, by,
                 why ? why : "cancelled by an operator");
      t->status = MTQ_STATE_CANCELLED;
      t->finished_at = mtq_now_ms();
      bson_free(t->error);
      t->error = bson_strdup(why ? why : "cancelled by an operator");
      ok = mtq__record_outcome(store, e.client, t, e.place.coll, error);
    }
  }
  bool parent = ok && mtq_task_is_parent(t);
  mtq_task_t copy;
  mtq_task_init(&copy);
  if (parent) {
    copy.copies = t->copies; /* kept past edit_close */
    t->copies = NULL;
  }
  edit_close(&e);
  if (parent) {
    cancel_copies(store, &copy, by);
  }
  mtq_task_cleanup(&copy);
  return ok;
}

/* Changes a waiting task's status in place, under a new token: the claim on
 * the old token makes the change exclusive against workers and other
 * operators. */
static bool restate(mtq_store_t *store, const bson_oid_t *id, mtq_state_t to, const char *action,
                    const char *by, bson_error_t *error) {
  edit_t e;
  bool ok = edit_open(&e, store, id, error);
  mtq_state_t stored = to;
  if (ok && to == MTQ_STATE_QUEUED) {
    /* A resumed task that sits in the delayed collection waits for its time. */
    stored = e.place.lane < 0 && !mtq_task_is_parent(&e.t)
                 ? (e.t.not_before > mtq_now_ms() ? MTQ_STATE_DELAYED : MTQ_STATE_RETRY_WAIT)
                 : MTQ_STATE_QUEUED;
  }
  ok = ok && mtq_task_check_move(&e.t, to, action, error) &&
       mtq__lock(store, e.client, &e.t, NULL, by, action, NULL, error);
  if (ok) {
    mtq__event(store, e.client, &e.t, mtq_task_state(&e.t), to, by, action);
    e.t.token++;
    bson_t *upd = BCON_NEW("$set", "{", "status", BCON_UTF8(mtq_state_name(stored)), "token",
                           BCON_INT64(e.t.token), "}");
    ok = mtq__write_at_token(store, e.client, e.place.coll, id, e.t.token - 1, upd, error);
    bson_destroy(upd);
  }
  if (ok && stored == MTQ_STATE_QUEUED) {
    mtq__channel_touch(store, e.client, e.t.channel);
  }
  edit_close(&e);
  return ok;
}

/* A running task held by a worker is suspended and resumed in place, under
 * its token: the flag on its lease tells its worker, at its next renewal,
 * to stop (SIGSTOP) or continue (SIGCONT) the process; the lease, the slot
 * and the attempt stay the worker's. */
static bool hold_running(mtq_store_t *store, edit_t *e, bool suspend, const char *by,
                         bson_error_t *error) {
  mtq_task_t *t = &e->t;
  char key[MTQ__KEY_MAX];
  mtq__key(&t->id, t->token, NULL, key);
  mongoc_collection_t *leases = mtq__coll(store, e->client, "leases");
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(key));
  bson_t *upd = BCON_NEW("$set", "{", "suspended", BCON_BOOL(suspend), "}");
  bson_t reply;
  bool ok = mongoc_collection_update_one(leases, filter, upd, NULL, &reply, error);
  bson_iter_t it;
  char hex[25];
  bson_oid_to_string(&t->id, hex);
  if (ok && bson_iter_init_find(&it, &reply, "matchedCount") && bson_iter_as_int64(&it) == 0) {
    mtq_error_set(error, MTQ_ERR_CONFLICT, "task %s ended its attempt meanwhile", hex);
    ok = false;
  }
  bson_destroy(&reply);
  bson_destroy(upd);
  bson_destroy(filter);
  mongoc_collection_destroy(leases);
  mtq_state_t to = suspend ? MTQ_STATE_SUSPENDED : MTQ_STATE_RUNNING;
  if (ok) {
    upd = BCON_NEW("$set", "{", "status", BCON_UTF8(mtq_state_name(to)), "}");
    ok = mtq__write_at_token(store, e->client, e->place.coll, &t->id, t->token, upd, error);
    bson_destroy(upd);
  }
  if (ok) {
    char why[MTQ_NAME_MAX + 64];
    snprintf(why, sizeof why, "%s by an operator while running on %s",
             suspend ? "suspended" : "resumed", t->worker[0] ? t->worker : "its worker");
    /* A task may be suspended and resumed many times within one token,
     * and running is also the claim's event: each of these is its own. */
    bson_t *doc = bson_new();
    mtq__event_doc(t, t->status, to, by, why, doc);
    char each[MTQ__KEY_MAX + 32];
    bson_iter_t id_it;
    snprintf(each, sizeof each, "%s:%lld",
             bson_iter_init_find(&id_it, doc, "_id") ? bson_iter_utf8(&id_it, NULL) : "?",
             (long long)mtq_now_ms());
    bson_t *keyed = BCON_NEW("_id", BCON_UTF8(each));
    bson_copy_to_excluding_noinit(doc, keyed, "_id", NULL);
    mtq__events_write(store, e->client, &keyed, 1);
    bson_destroy(keyed);
    bson_destroy(doc);
  }
  return ok;
}

bool mtq_store_suspend(mtq_store_t *store, const bson_oid_t *id, const char *by,
                       bson_error_t *error) {
  edit_t e;
  bool ok = edit_open(&e, store, id, error);
  if (ok && e.t.status != MTQ_STATE_RUNNING) {
    edit_close(&e);
    return restate(store, id, MTQ_STATE_SUSPENDED, "suspend", by, error);
  }
  ok = ok && mtq_task_check_move(&e.t, MTQ_STATE_SUSPENDED, "suspend", error) &&
       hold_running(store, &e, true, by, error);
  edit_close(&e);
  return ok;
}

bool mtq_store_unblock(mtq_store_t *store, const bson_oid_t *id, const char *by,
                       bson_error_t *error) {
  return restate(store, id, MTQ_STATE_QUEUED, "unblock", by, error);
}

bool mtq_store_resume(mtq_store_t *store, const bson_oid_t *id, const char *by,
                      bson_error_t *error) {
  edit_t e;
  bool ok = edit_open(&e, store, id, error);
  if (ok && !held_suspended(&e.t)) {
    edit_close(&e);
    return restate(store, id, MTQ_STATE_QUEUED, "resume", by, error);
  }
  ok = ok && mtq_task_check_move(&e.t, MTQ_STATE_RUNNING, "resume", error) &&
       hold_running(store, &e, false, by, error);
  edit_close(&e);
  return ok;
}

/* A task of an ended life back to its first: queued, attempts from 0. */
static void reset_for_retry(mtq_task_t *t) {
  t->token++;
  t->status = MTQ_STATE_QUEUED;
  t->attempt = 0;
  t->is_enable = true;
  t->finished_at = 0;
  t->claimed_at = 0;
  t->not_before = 0;
  t->worker[0] = '\0';
  if (t->result) {
    bson_destroy(t->result);
    t->result = NULL;
  }
  if (t->copies) { /* a parent starts over with new copies */
    bson_destroy(t->copies);
    t->copies = NULL;
  }
}

bool mtq_store_retry(mtq_store_t *store, const bson_oid_t *id, const char *by,
                     bson_error_t *error) {
  edit_t e;
  bool ok = edit_open(&e, store, id, error) &&
            mtq_task_check_move(&e.t, MTQ_STATE_QUEUED, "retry", error);
  if (ok && !e.place.finished) {
    mtq_error_set(error, MTQ_ERR_STATE, "task is %s: only an ended task can be retried",
                  mtq_state_name(e.t.status));
    ok = false;
  }
  /* "<id>:<token>:retry": one retry per ended life of the task.  A lock
   * found taken means an earlier retry was interrupted; finishing it
   * (insert tolerating the copy, then delete) is what is left to do. */
  bson_error_t err = {0};
  if (ok && !mtq__lock(store, e.client, &e.t, "retry", by, "retry", NULL, &err) &&
      !(err.domain == MTQ_ERROR_DOMAIN && err.code == MTQ_ERR_CONFLICT)) {
    if (error) {
      *error = err;
    }
    ok = false;
  }
  if (ok) {
    mtq__event(store, e.client, &e.t, e.t.status, MTQ_STATE_QUEUED, by, "retry");
    reset_for_retry(&e.t);
    /* To the side lane, where it keeps its age: only mtqd inserts into a
     * segment of a past window (segment.c, retirement). */
    e.t.moved = true;
    e.t.seg[0] = '\0';
    mongoc_collection_t *lane = mtq__home(store, e.client, &e.t);
    ok = mtq__place_task(lane, &e.t, error) &&
         mtq__write_at_token(store, e.client, e.place.coll, id, e.t.token - 1, NULL,
                             error); /* the ended record */
    mongoc_collection_destroy(lane);
  }
  if (ok) {
    mtq__task_touch(store, e.client, &e.t);
  }
  edit_close(&e);
  return ok;
}
