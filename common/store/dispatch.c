/* dispatch.c - the database side of redundant dispatch: parents in
 * the dispatch collection, their copies in the workers' own channels.  The
 * decisions (which worker, which result) are mtqd's: server/dispatch.c. */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "mtq_store_admin.h"
#include "protocol.h"

bool mtq_store_parents(mtq_store_t *store, const char *by, mtq_task_list_t *out,
                       bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, MTQ__DISPATCH);
  bson_t filter = BSON_INITIALIZER;
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
  const bson_t *doc;
  while (mongoc_cursor_next(cur, &doc)) {
    mtq_task_t *t = mtq_task_list_push(out);
    bson_error_t perr;
    if (!mtq_task_from_bson(t, doc, NULL, &perr) || !mtq_task_is_parent(t)) {
      mtq_task_list_pop(out);
      mtq__quarantine(store, client, coll, doc, MTQ__DISPATCH, by,
                      perr.message[0] ? perr.message : "not a redundant task");
    }
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

void mtq_direct_channel(const char *worker_id, char *out, size_t size) {
  snprintf(out, size, "%s%s", MTQ_DIRECT_PREFIX, worker_id);
}

/* The record of the nth send of parent's attempt: inserted first, with the
 * copy's id, worker and slot, so that a coordinator that sends it again
 * (after the one before died between the send and saving the parent, or
 * while two thought they led) sends the same copy, not a second one.  *again
 * when it was there: *copy_id, worker and *slot are then the record's. */
static bool send_record(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *parent,
                        int32_t nth, bson_oid_t *copy_id, char *worker, int32_t *slot,
                        bool *again, bson_error_t *error) {
  char suffix[32], key[MTQ__KEY_MAX];
  snprintf(suffix, sizeof suffix, "send:%d", (int)nth);
  mtq__key(&parent->id, parent->token, suffix, key);
  mongoc_collection_t *claims = mtq__coll(store, client, "claims");
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(key), "task", BCON_OID(&parent->id), "token",
                         BCON_INT64(parent->token), "kind", BCON_UTF8("send"), "copy",
                         BCON_OID(copy_id), "worker", BCON_UTF8(worker), "slot",
                         BCON_INT32(*slot), "at", BCON_DATE_TIME(mtq_now_ms()));
  bson_error_t err;
  bool ok = mongoc_collection_insert_one(claims, doc, NULL, NULL, &err);
  *again = false;
  if (!ok && mtq_error_is_duplicate(&err)) {
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(key));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(claims, filter, NULL, NULL);
    const bson_t *found;
    bson_iter_t it;
    if (mongoc_cursor_next(cur, &found) && bson_iter_init_find(&it, found, "copy") &&
        BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), copy_id);
      if (bson_iter_init_find(&it, found, "worker") && BSON_ITER_HOLDS_UTF8(&it)) {
        bson_strncpy(worker, bson_iter_utf8(&it, NULL), MTQ_NAME_MAX + 1);
      }
      if (bson_iter_init_find(&it, found, "slot") && BSON_ITER_HOLDS_INT32(&it)) {
        *slot = bson_iter_int32(&it);
      }
      *again = ok = true;
    } else if (!mongoc_cursor_error(cur, &err)) {
      mtq_error_set(&err, MTQ_ERR_CONFLICT, "send record %s changed meanwhile", key);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
  }
  if (!ok && error) {
    *error = err;
  }
  bson_destroy(doc);
  mongoc_collection_destroy(claims);
  return ok;
}

bool mtq_store_send_copy(mtq_store_t *store, const mtq_task_t *parent, int32_t nth,
                         char worker_id[MTQ_NAME_MAX + 1], int32_t *slot, bson_oid_t *copy_id,
                         bson_error_t *error) {
  bson_oid_init(copy_id, NULL);
  bool again = false;
  mongoc_client_t *rc = mtq__store_pop(store);
  bool recorded = send_record(store, rc, parent, nth, copy_id, worker_id, slot, &again, error);
  mtq__store_push(store, rc);
  if (!recorded) {
    return false;
  }
  if (again) {
    /* Sent before: only its insert may be missing (the sender died between
     * the record and the copy); a copy that exists, or ran and ended, is
     * not sent twice. */
    mtq_task_t found;
    mtq_task_init(&found);
    bson_error_t err;
    bool there = mtq_store_find(store, copy_id, &found, &err);
    mtq_task_cleanup(&found);
    if (there) {
      return true;
    }
    if (!(err.domain == MTQ_ERROR_DOMAIN && err.code == MTQ_ERR_NOT_FOUND)) {
      if (error) {
        *error = err;
      }
      return false;
    }
  }
  char channel[MTQ_NAME_MAX + 8];
  mtq_direct_channel(worker_id, channel, sizeof channel);
  if (!mtq_name_valid(channel)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "worker id '%s' is too long for a channel of its own",
                  worker_id);
    return false;
  }
  if (!mtq_store_declare_channel(store, channel, 0, error)) {
    return false;
  }
  mtq_task_t c;
  mtq_task_init(&c);
  bson_strncpy(c.channel, channel, sizeof c.channel);
  bson_strncpy(c.func, parent->func, sizeof c.func);
  bson_strncpy(c.version, parent->version, sizeof c.version);
  c.args = parent->args; /* borrowed: c is not cleaned up */
  c.priority = parent->priority;
  c.is_enable = true;
  c.status = MTQ_STATE_QUEUED;
  c.max_attempts = parent->max_attempts; /* signed; a copy still runs once */
  c.timeout_s = parent->timeout_s;
  c.backoff_ms = parent->backoff_ms;
  c.backoff_max_ms = parent->backoff_max_ms;
  c.created_at = c.not_before = mtq_now_ms();
  bson_strncpy(c.sig_key, parent->sig_key, sizeof c.sig_key);
  bson_strncpy(c.sig, parent->sig, sizeof c.sig);
  bson_oid_copy(&parent->id, &c.parent);
  c.slot = *slot;
  bson_strncpy(c.origin, parent->channel, sizeof c.origin);
  bson_oid_copy(copy_id, &c.id);
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *lane = mtq__seg_coll(store, client, c.channel, c.priority, "");
  bool ok = mtq__insert_task(lane, &c, true, error);
  if (ok) {
    mtq__task_touch(store, client, &c);
  }
  mongoc_collection_destroy(lane);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_save_parent(mtq_store_t *store, const mtq_task_t *parent, bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, MTQ__DISPATCH);
  bson_t filter = BSON_INITIALIZER, upd = BSON_INITIALIZER, set;
  BSON_APPEND_OID(&filter, "_id", &parent->id);
  BSON_APPEND_INT64(&filter, "token", parent->token);
  BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
  BSON_APPEND_UTF8(&set, "status", mtq_state_name(parent->status));
  if (parent->claimed_at) {
    BSON_APPEND_DATE_TIME(&set, "claimed_at", parent->claimed_at);
  }
  if (parent->copies) {
    BSON_APPEND_ARRAY(&set, "copies", parent->copies);
  }
  bson_append_document_end(&upd, &set);
  bson_t reply;
  bool ok = mongoc_collection_update_one(coll, &filter, &upd, NULL, &reply, error);
  bson_iter_t it;
  if (ok && bson_iter_init_find(&it, &reply, "matchedCount") && bson_iter_as_int64(&it) == 0) {
    char hex[25];
    bson_oid_to_string(&parent->id, hex);
    mtq_error_set(error, MTQ_ERR_NOT_FOUND, "task %s is no longer waiting for its copies", hex);
    ok = false;
  }
  bson_destroy(&reply);
  bson_destroy(&upd);
  bson_destroy(&filter);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_start_parent(mtq_store_t *store, mtq_task_t *parent, const char *by,
                            bson_error_t *error) {
  mtq_state_t from = parent->status;
  parent->status = MTQ_STATE_RUNNING;
  parent->claimed_at = mtq_now_ms();
  if (!mtq_store_save_parent(store, parent, error)) {
    parent->status = from;
    return false;
  }
  mongoc_client_t *client = mtq__store_pop(store);
  mtq__event(store, client, parent, from, MTQ_STATE_RUNNING, by, "dispatching copies");
  mtq__store_push(store, client);
  return true;
}

bool mtq_store_end_parent(mtq_store_t *store, mtq_task_t *parent, mtq_state_t to,
                          const bson_t *result, const char *by, const char *why,
                          bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  bool ok = mtq__end_attempt(store, client, parent, to, by, why, result, false, false, error);
  mtq__store_push(store, client);
  return ok;
}
