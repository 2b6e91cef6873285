/* enqueue.c - the producer's write: a new task into its channel, with its
 * dedupe key and the channel's back-pressure (see mtq_client.h). */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "protocol.h"

/* Back-pressure without counting every lane at every enqueue.  The channel
 * document carries `backlog`: mtqd's last count of the tasks not yet ended
 * (every reconcile interval), plus one for each task producers enqueued
 * since.  Ends are subtracted only at mtqd's next count, so the figure errs
 * high; only when it comes within the headroom of max_backlog does a
 * producer count exactly.  The headroom covers the enqueues lost between
 * mtqd's count and its write, and the increments two producers racing on
 * FerretDB (where $inc is a read and a write) may lose. */
static int64_t headroom(int64_t max_backlog) {
  int64_t h = max_backlog / 10;
  return h < 1 ? 1 : h;
}

static bool room_left(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                      const mtq__channel_doc_t *ch, bson_error_t *error) {
  if (ch->max_backlog <= 0) {
    return true;
  }
  int64_t n = ch->backlog;
  if (n < 0 || n + headroom(ch->max_backlog) >= ch->max_backlog) {
    if (!mtq__channel_backlog(store, client, task->channel, &n, error)) {
      return false;
    }
  }
  if (n >= ch->max_backlog) {
    mtq_error_set(error, MTQ_ERR_FULL,
                  "channel %s is full: %lld tasks not yet ended, its max_backlog is %lld",
                  task->channel, (long long)n, (long long)ch->max_backlog);
    return false;
  }
  return true;
}

/* One more task in the channel document's backlog (best effort: mtqd's next
 * count puts it right). */
static void count_one(mtq_store_t *store, mongoc_client_t *client, const char *channel) {
  mongoc_collection_t *coll = mtq__coll(store, client, "channels");
  bson_t *sel = BCON_NEW("_id", BCON_UTF8(channel));
  bson_t *upd = BCON_NEW("$inc", "{", "backlog", BCON_INT64(1), "}");
  bson_error_t err;
  if (!mongoc_collection_update_one(coll, sel, upd, NULL, NULL, &err)) {
    mtq_debug("cannot count an enqueue into channel %s: %s", channel, err.message);
  }
  bson_destroy(upd);
  bson_destroy(sel);
  mongoc_collection_destroy(coll);
}

/* The dedupe record of task's key: inserted when the key is new, else read.
 * *first is the id of the task that holds the key. */
static bool dedupe(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                   bson_oid_t *first, bson_error_t *error) {
  char *key = bson_strdup_printf("%s:%s", task->channel, task->dedupe_key);
  mongoc_collection_t *coll = mtq__coll(store, client, "dedupe");
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(key), "task", BCON_OID(&task->id), "channel",
                         BCON_UTF8(task->channel), "at", BCON_DATE_TIME(mtq_now_ms()));
  bson_error_t err;
  bool ok = mongoc_collection_insert_one(coll, doc, NULL, NULL, &err);
  bson_oid_copy(&task->id, first);
  if (!ok && mtq_error_is_duplicate(&err)) {
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(key));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
    const bson_t *found;
    bson_iter_t it;
    if (mongoc_cursor_next(cur, &found) && bson_iter_init_find(&it, found, "task") &&
        BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), first);
      ok = true;
    } else if (!mongoc_cursor_error(cur, error)) {
      /* Removed between our insert and our read (retention): try again. */
      mtq_error_set(error, MTQ_ERR_UNAVAILABLE, "dedupe key '%s' changed meanwhile", key);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
  } else if (!ok && error) {
    *error = err;
  }
  bson_destroy(doc);
  mongoc_collection_destroy(coll);
  bson_free(key);
  return ok;
}

/* A task for a function no worker serves would wait forever: refused when
 * the producer asks, after the channel check so that its message comes
 * first. */
static bool served(mtq_store_t *store, const mtq_task_t *task, bson_error_t *error) {
  bool yes = false;
  if (!mtq_store_function_served(store, task->channel, task->func, task->version, &yes, error)) {
    return false;
  }
  if (!yes) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND,
                  "no worker serves function '%s' version %s on channel '%s'", task->func,
                  task->version, task->channel);
  }
  return yes;
}

bool mtq_store_enqueue(mtq_store_t *store, mtq_task_t *task, bool require_served, bool *existing,
                       bson_error_t *error) {
  if (existing) {
    *existing = false;
  }
  if (!mtq_name_valid(task->channel)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a valid channel name", task->channel);
    return false;
  }
  mongoc_client_t *client = mtq__store_pop(store);
  mtq__channel_doc_t ch;
  bool ok = mtq__channel_read(store, client, task->channel, &ch, error) &&
            (!require_served || served(store, task, error)) &&
            room_left(store, client, task, &ch, error);
  bson_oid_t first;
  if (ok && task->dedupe_key[0]) {
    /* The key first: a producer that dies after it leaves a key naming a
     * task that never came; the task itself is inserted right after, and
     * a re-enqueue by the same producer finds it by the key. */
    ok = dedupe(store, client, task, &first, error);
    if (ok && !bson_oid_equal(&first, &task->id)) {
      bson_oid_copy(&first, &task->id);
      if (existing) {
        *existing = true;
      }
      mtq__store_push(store, client);
      return true;
    }
  }
  if (ok) {
    /* A parent waits for its time in the dispatch collection: mtqd sends
     * its copies once not_before is due. */
    mongoc_collection_t *coll = task->status == MTQ_STATE_DELAYED && !mtq_task_is_parent(task)
                                    ? mtq__delayed(store, client, task->channel)
                                    : mtq__home(store, client, task);
    ok = mtq__insert_task(coll, task, false, error);
    mongoc_collection_destroy(coll);
  }
  if (ok && ch.max_backlog > 0) {
    count_one(store, client, task->channel);
  }
  if (ok) {
    mtq__task_touch(store, client, task);
  }
  mtq__store_push(store, client);
  return ok;
}

size_t mtq_store_enqueue_many(mtq_store_t *store, mtq_task_t *tasks, size_t n,
                              const bool *require_served, mtq_enqueue_result_t *results) {
  size_t in = 0;
  for (size_t i = 0; i < n; i++) {
    mtq_enqueue_result_t *r = &results[i];
    memset(r, 0, sizeof *r);
    r->ok = mtq_store_enqueue(store, &tasks[i], require_served && require_served[i],
                              &r->existing, &r->error);
    if (r->ok) {
      bson_oid_copy(&tasks[i].id, &r->id);
      in++;
    }
  }
  return in;
}
