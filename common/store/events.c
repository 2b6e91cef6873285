/* events.c - the audit trail: one document in `events` per change of a
 * task's state (who, when, from, to, why); `mtq show ID --history` reads it.
 *
 * An event's _id is "<task>:<token>:<to>": a token names one ownership of
 * the task, so an operation that is retried after a lost reply records its
 * transition once. */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "protocol.h"

void mtq__event_doc(const mtq_task_t *task, mtq_state_t from, mtq_state_t to, const char *by,
                    const char *why, bson_t *doc) {
  char key[MTQ__KEY_MAX];
  mtq__key(&task->id, task->token, mtq_state_name(to), key);
  BSON_APPEND_UTF8(doc, "_id", key);
  BSON_APPEND_OID(doc, "task", &task->id);
  BSON_APPEND_UTF8(doc, "channel", task->channel);
  BSON_APPEND_UTF8(doc, "from", mtq_state_name(from));
  BSON_APPEND_UTF8(doc, "to", mtq_state_name(to));
  BSON_APPEND_UTF8(doc, "by", by && *by ? by : "mtq");
  BSON_APPEND_INT32(doc, "attempt", task->attempt);
  BSON_APPEND_INT64(doc, "token", task->token);
  if (why) {
    char *cut = bson_strndup(why, MTQ_ERROR_MAX_BYTES);
    BSON_APPEND_UTF8(doc, "why", cut);
    bson_free(cut);
  }
  BSON_APPEND_DATE_TIME(doc, "at", mtq_now_ms());
}

void mtq__events_write(mtq_store_t *store, mongoc_client_t *client, bson_t *const *docs,
                       size_t n) {
  if (n == 0) {
    return;
  }
  /* A duplicate is this transition recorded by an earlier try.  The
   * transition itself is recorded in the task; an audit line that cannot be
   * written is reported, not allowed to block the queue. */
  mongoc_collection_t *events = mtq__coll(store, client, "events");
  mtq__insert_records(events, (const bson_t *const *)docs, n, "event");
  mongoc_collection_destroy(events);
}

void mtq__event(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                mtq_state_t from, mtq_state_t to, const char *by, const char *why) {
  bson_t *doc = bson_new();
  mtq__event_doc(task, from, to, by, why, doc);
  mtq__events_write(store, client, &doc, 1);
  bson_destroy(doc);
}

bool mtq_store_history(mtq_store_t *store, const bson_oid_t *id, bson_t *out,
                       bson_error_t *error) {
  bson_t *filter = BCON_NEW("task", BCON_OID(id));
  bson_t *opts = BCON_NEW("sort", "{", "at", BCON_INT32(1), "}", "projection", "{", "task",
                          BCON_INT32(0), "}");
  bool ok = mtq__find_into(store, "events", filter, opts, "events", out, error);
  bson_destroy(opts);
  bson_destroy(filter);
  return ok;
}
