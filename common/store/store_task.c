/* store_task.c - a task's path through the database: enqueue, poll, claim,
 * finish, requeue.
 *
 * Exactly-once claims.  FerretDB 1.x runs findAndModify and a filtered
 * update as a read followed by a separate write, so two workers can both
 * "win" the same document that way.  What it does make atomic (as MongoDB
 * does) is an insert whose _id already exists: it fails.  So every change of
 * ownership of a live task first inserts claims/{_id: "<task id>:<token>"};
 * only the inserter that succeeds may act, and the act gives the task a new
 * token (requeue, move) or ends it (outcome in results).  The task document's
 * own fields (status, worker) are a cache for polling, never the lock. */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "store_private.h"

static void claim_key(const mtq_task_t *task, char *key, size_t size) {
  char hex[25];
  bson_oid_to_string(&task->id, hex);
  snprintf(key, size, "%s:%lld", hex, (long long)task->token);
}

bool mtq__claim(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                const char *by, const char *kind, bson_error_t *error) {
  char key[64];
  claim_key(task, key, sizeof key);
  mongoc_collection_t *claims = mtq__coll(store, client, "claims");
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(key), "task", BCON_OID(&task->id), "channel",
                         BCON_UTF8(task->channel), "token", BCON_INT64(task->token), "by",
                         BCON_UTF8(by), "kind", BCON_UTF8(kind), "at",
                         BCON_DATE_TIME(mtq_now_ms()));
  bson_error_t err;
  bool ok = mongoc_collection_insert_one(claims, doc, NULL, NULL, &err);
  if (!ok && mtq_error_is_duplicate(&err)) {
    mtq_error_set(error, MTQ_ERR_CONFLICT, "task %s was claimed by someone else first", key);
  } else if (!ok && error) {
    *error = err;
  }
  bson_destroy(doc);
  mongoc_collection_destroy(claims);
  return ok;
}

static bool insert_doc(mongoc_collection_t *coll, const mtq_task_t *task, bool dup_ok,
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

static bool delete_by_id(mongoc_collection_t *coll, const bson_oid_t *id, bson_error_t *error) {
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_OID(&filter, "_id", id);
  bool ok = mongoc_collection_delete_one(coll, &filter, NULL, NULL, error);
  bson_destroy(&filter);
  return ok;
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
    BSON_APPEND_INT64(filter, "token", token); /* MongoDB: one atomic, indexed step */
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
  bson_destroy(&doc);
  ok = ok && mtq__write_at_token(store, client, from, &task->id, task->token, NULL, error);
  mongoc_collection_destroy(results);
  return ok;
}

void mtq__quarantine(mtq_store_t *store, mongoc_client_t *client, mongoc_collection_t *from,
                     const bson_t *doc, const char *channel, const char *reason) {
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
  mtq__claim(store, client, &t, "mtq", "quarantine", NULL);
  bson_t *rec = BCON_NEW("_id", BCON_OID(&t.id), "channel", BCON_UTF8(channel), "status",
                         BCON_UTF8("failed"), "error", BCON_UTF8(reason), "finished_at",
                         BCON_DATE_TIME(mtq_now_ms()), "original", BCON_DOCUMENT(doc));
  mongoc_collection_t *results = mtq__coll(store, client, "results");
  bool ok = mongoc_collection_insert_one(results, rec, NULL, NULL, &err) ||
            mtq_error_is_duplicate(&err);
  if (ok) {
    ok = delete_by_id(from, &t.id, &err);
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

/* Reads the channel's max_backlog (0 = none) from its document, which also
 * proves that the channel is declared. */
static bool channel_limit(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                          int64_t *max_backlog, bson_error_t *error) {
  mongoc_collection_t *coll = mtq__coll(store, client, "channels");
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(channel));
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
  const bson_t *doc;
  *max_backlog = 0;
  bool found = mongoc_cursor_next(cur, &doc);
  bson_iter_t it;
  if (found && bson_iter_init_find(&it, doc, "max_backlog") && BSON_ITER_HOLDS_NUMBER(&it)) {
    *max_backlog = bson_iter_as_int64(&it);
  }
  bool ok = !mongoc_cursor_error(cur, error);
  if (ok && !found) {
    mtq_error_set(error, MTQ_ERR_UNKNOWN_CHANNEL,
                  "unknown channel '%s' (channels are declared by mtqd's [coordinator] channels)",
                  channel);
    ok = false;
  }
  mongoc_cursor_destroy(cur);
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  return ok;
}

/* Tasks of the channel not yet ended: its lanes and its delayed collection,
 * by the servers' estimated counts (collection metadata on MongoDB; FerretDB
 * reads each collection, which max_backlog keeps small), and
 * its redundant tasks waiting in the dispatch collection (a count by an
 * equality on channel, over the few tasks being dispatched).  A copy sent
 * to a worker is not counted again: its parent stands for it. */
static bool channel_backlog(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                            int64_t *n, bson_error_t *error) {
  *n = 0;
  for (int32_t p = MTQ_PRIORITY_MIN; p <= MTQ_PRIORITY_MAX + 1; p++) {
    mongoc_collection_t *coll = p > MTQ_PRIORITY_MAX ? mtq__delayed(store, client, channel)
                                                     : mtq__lane(store, client, channel, p);
    int64_t c = mongoc_collection_estimated_document_count(coll, NULL, NULL, NULL, error);
    mongoc_collection_destroy(coll);
    if (c < 0) {
      return false;
    }
    *n += c;
  }
  mongoc_collection_t *dispatch = mtq__coll(store, client, MTQ__DISPATCH);
  bson_t *filter = BCON_NEW("channel", BCON_UTF8(channel));
  int64_t parents = mongoc_collection_count_documents(dispatch, filter, NULL, NULL, NULL, error);
  bson_destroy(filter);
  mongoc_collection_destroy(dispatch);
  *n += parents > 0 ? parents : 0;
  return parents >= 0;
}

bool mtq_store_backlog(mtq_store_t *store, const char *channel, int64_t *n, bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  bool ok = channel_backlog(store, client, channel, n, error);
  mtq__store_push(store, client);
  return ok;
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

bool mtq_store_enqueue(mtq_store_t *store, mtq_task_t *task, bool *existing,
                       bson_error_t *error) {
  if (existing) {
    *existing = false;
  }
  if (!mtq_name_valid(task->channel)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a valid channel name", task->channel);
    return false;
  }
  mongoc_client_t *client = mtq__store_pop(store);
  int64_t limit = 0, backlog = 0;
  bool ok = channel_limit(store, client, task->channel, &limit, error);
  if (ok && limit > 0) {
    ok = channel_backlog(store, client, task->channel, &backlog, error);
    if (ok && backlog >= limit) {
      mtq_error_set(error, MTQ_ERR_FULL,
                    "channel %s is full: %lld tasks not yet ended, its max_backlog is %lld",
                    task->channel, (long long)backlog, (long long)limit);
      ok = false;
    }
  }
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
    ok = insert_doc(coll, task, false, error);
    mongoc_collection_destroy(coll);
  }
  mtq__store_push(store, client);
  return ok;
}

/* Reads up to limit runnable tasks from one lane into out. */
static bool poll_lane(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                      int32_t priority, const bson_t *served, size_t limit, bool sort,
                      mtq_task_list_t *out, bson_error_t *error) {
  mongoc_collection_t *lane = mtq__lane(store, client, channel, priority);
  bson_t *filter = BCON_NEW("status", BCON_UTF8("queued"), "is_enable", BCON_BOOL(true),
                            "priority", BCON_INT32(priority));
  if (!bson_empty(served)) {
    BSON_APPEND_ARRAY(filter, "$or", served);
  }
  /* On FerretDB a sort makes the server read the whole lane; without one it
   * stops after `limit` matches, and rows come back in insertion order,
   * which is the age order we want.  MongoDB serves the sort from an index. */
  bson_t *opts = sort ? BCON_NEW("limit", BCON_INT64((int64_t)limit), "sort", "{", "created_at",
                                 BCON_INT32(1), "}")
                      : BCON_NEW("limit", BCON_INT64((int64_t)limit));
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(lane, filter, opts, NULL);
  const bson_t *doc;
  while (mongoc_cursor_next(cur, &doc)) {
    mtq_task_t *t = mtq_task_list_push(out);
    bson_error_t perr;
    if (!mtq_task_from_bson(t, doc, channel, &perr)) {
      mtq_task_list_pop(out);
      mtq__quarantine(store, client, lane, doc, channel, perr.message);
    }
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  bson_destroy(opts);
  bson_destroy(filter);
  mongoc_collection_destroy(lane);
  return ok;
}

bool mtq_store_poll(mtq_store_t *store, const char *channel, const mtq_func_ref_t *funcs,
                    size_t n_funcs, size_t limit, mtq_poll_memo_t *memo, mtq_task_list_t *out,
                    bson_error_t *error) {
  /* [{func: f, version: v}, ...]: the functions this worker serves. */
  bson_t served = BSON_INITIALIZER;
  for (size_t i = 0; i < n_funcs; i++) {
    char key[16];
    const char *k;
    bson_t one;
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    BSON_APPEND_DOCUMENT_BEGIN(&served, k, &one);
    BSON_APPEND_UTF8(&one, "func", funcs[i].name);
    BSON_APPEND_UTF8(&one, "version", funcs[i].version);
    bson_append_document_end(&served, &one);
  }
  mongoc_client_t *client = mtq__store_pop(store);
  int kind = mtq__server_kind(store, client, error);
  bool ok = kind != 0;
  size_t start = out->n;
  int64_t now = memo ? mtq_now_ms() : 0;
  for (int32_t p = MTQ_PRIORITY_MAX; ok && p >= MTQ_PRIORITY_MIN && out->n - start < limit; p--) {
    int64_t *until = memo ? &memo->empty_until_ms[p - MTQ_PRIORITY_MIN] : NULL;
    if (until && *until > now) {
      continue;
    }
    size_t before = out->n;
    ok = poll_lane(store, client, channel, p, &served, limit - (out->n - start),
                   kind == MTQ__SERVER_MONGODB, out, error);
    if (until) {
      *until = ok && out->n == before ? now + memo->recheck_ms : 0;
    }
  }
  mtq__store_push(store, client);
  bson_destroy(&served);
  return ok;
}

/* --- the claim and the lease ------------------------------------------- */

/* A lease has the claim's key: "<id>:<token>". */
#define lease_key claim_key

bool mtq_store_claim(mtq_store_t *store, mtq_task_t *task, const char *worker_id,
                     int64_t lease_ms, bson_error_t *error) {
  /* 1. The lease first, so that every claim has a lease to expire even if
   *    the claimant dies between the two inserts.  Its _id is the claim key:
   *    of many pollers, one inserts it. */
  char key[64];
  lease_key(task, key, sizeof key);
  /* A copy sits in its worker's own channel "to.<worker>": nobody else may
   * run it, whatever they polled. */
  size_t plen = strlen(MTQ_DIRECT_PREFIX);
  if (strncmp(task->channel, MTQ_DIRECT_PREFIX, plen) == 0 &&
      strcmp(task->channel + plen, worker_id) != 0) {
    mtq_error_set(error, MTQ_ERR_CONFLICT, "task %s is addressed to worker %s, not %s", key,
                  task->channel + plen, worker_id);
    return false;
  }
  int64_t now = mtq_now_ms();
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *leases = mtq__coll(store, client, "leases");
  bson_t *lease = BCON_NEW("_id", BCON_UTF8(key), "task", BCON_OID(&task->id), "channel",
                           BCON_UTF8(task->channel), "priority", BCON_INT32(task->priority),
                           "token", BCON_INT64(task->token), "worker", BCON_UTF8(worker_id),
                           "lease_ms", BCON_INT64(lease_ms), "renewals", BCON_INT64(0),
                           "at", BCON_DATE_TIME(now));
  bson_error_t err;
  bool ok = mongoc_collection_insert_one(leases, lease, NULL, NULL, &err);
  if (!ok && mtq_error_is_duplicate(&err)) {
    mtq_error_set(error, MTQ_ERR_CONFLICT, "task %s was claimed by someone else first", key);
  } else if (!ok && error) {
    *error = err;
  }
  /* 2. The claim record: permanent, so a poller that read an old token can
   *    never claim it again once its lease is gone. */
  bson_error_t cerr;
  if (ok && !mtq__claim(store, client, task, worker_id, "run", &cerr)) {
    ok = false;
    if (cerr.domain == MTQ_ERROR_DOMAIN && cerr.code == MTQ_ERR_CONFLICT) {
      /* A stale read: the token was claimed long ago.  Our lease goes. */
      bson_t *mine = BCON_NEW("_id", BCON_UTF8(key), "worker", BCON_UTF8(worker_id));
      mongoc_collection_delete_one(leases, mine, NULL, NULL, NULL);
      bson_destroy(mine);
    }
    /* Otherwise the claim may have been written with its reply lost: the
     * lease stays, and mtqd, finding it unrenewed, gives the task back
     * under a new token. */
    if (error) {
      *error = cerr;
    }
  }
  bson_destroy(lease);
  mongoc_collection_destroy(leases);
  if (ok) {
    /* 3. The document, for polling and for people.  If marking it fails the
     *    task still runs: pollers meet the lease and the claim, and the end
     *    of the attempt rewrites the document. */
    mtq_state_t from = task->status;
    task->status = MTQ_STATE_RUNNING;
    task->attempt++;
    task->claimed_at = now;
    bson_strncpy(task->worker, worker_id, sizeof task->worker);
    mongoc_collection_t *lane = mtq__lane(store, client, task->channel, task->priority);
    bson_t *upd = BCON_NEW("$set", "{", "status", BCON_UTF8("running"), "worker",
                           BCON_UTF8(worker_id), "claimed_at", BCON_DATE_TIME(now), "attempt",
                           BCON_INT32(task->attempt), "}");
    bson_error_t uerr;
    if (!mtq__write_at_token(store, client, lane, &task->id, task->token, upd, &uerr)) {
      mtq_warn("claimed %s but could not mark it running: %s", key, uerr.message);
    }
    mtq__event(store, client, task, from, MTQ_STATE_RUNNING, worker_id, NULL);
    bson_destroy(upd);
    mongoc_collection_destroy(lane);
  }
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_renew(mtq_store_t *store, const mtq_task_t *task, bson_error_t *error) {
  char key[64];
  lease_key(task, key, sizeof key);
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *leases = mtq__coll(store, client, "leases");
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(key));
  bson_t *upd = BCON_NEW("$inc", "{", "renewals", BCON_INT64(1), "}", "$set", "{", "renewed_at",
                         BCON_DATE_TIME(mtq_now_ms()), "}");
  bson_t reply;
  bool ok = mongoc_collection_update_one(leases, filter, upd, NULL, &reply, error);
  bson_iter_t it;
  if (ok && bson_iter_init_find(&it, &reply, "matchedCount") && bson_iter_as_int64(&it) == 0) {
    mtq_error_set(error, MTQ_ERR_CONFLICT,
                  "lease %s is gone: the attempt was ended by someone else (expired or cancelled)",
                  key);
    ok = false;
  }
  bson_destroy(&reply);
  bson_destroy(upd);
  bson_destroy(filter);
  mongoc_collection_destroy(leases);
  mtq__store_push(store, client);
  return ok;
}

/* --- the end of an attempt ------------------------------------------------ */

/* Takes the end of attempt <id>:<token>: inserts claims/"<id>:<token>:end".
 * Of the holder finishing, the coordinator expiring the lease and an
 * operator cancelling, one wins; the others get MTQ_ERR_CONFLICT, and so a
 * late result of an old holder never overwrites a newer outcome (fencing).
 * A lock that this same actor took earlier (a retry after a lost reply) is
 * accepted, so that the caller can finish what it started. */
static bool end_lock(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                     const char *by, const char *kind, bool take_over, bson_error_t *error) {
  char key[80];
  claim_key(task, key, sizeof key);
  bson_strncpy(key + strlen(key), ":end", sizeof key - strlen(key));
  mongoc_collection_t *claims = mtq__coll(store, client, "claims");
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(key), "task", BCON_OID(&task->id), "channel",
                         BCON_UTF8(task->channel), "token", BCON_INT64(task->token), "by",
                         BCON_UTF8(by), "kind", BCON_UTF8(kind), "at",
                         BCON_DATE_TIME(mtq_now_ms()));
  bson_error_t err;
  bool ok = mongoc_collection_insert_one(claims, doc, NULL, NULL, &err);
  if (!ok && mtq_error_is_duplicate(&err)) {
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(key));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(claims, filter, NULL, NULL);
    const bson_t *found;
    const char *fby = "?", *fkind = "?";
    if (mongoc_cursor_next(cur, &found)) {
      bson_iter_t it;
      if (bson_iter_init_find(&it, found, "by") && BSON_ITER_HOLDS_UTF8(&it)) {
        fby = bson_iter_utf8(&it, NULL);
      }
      if (bson_iter_init_find(&it, found, "kind") && BSON_ITER_HOLDS_UTF8(&it)) {
        fkind = bson_iter_utf8(&it, NULL);
      }
    }
    ok = strcmp(fby, by) == 0 && strcmp(fkind, kind) == 0;
    if (!ok && take_over) {
      /* The lock's owner died before it finished: the lock becomes ours, so
       * that the owner, should it come back, is refused. */
      bson_t *upd = BCON_NEW("$set", "{", "by", BCON_UTF8(by), "kind", BCON_UTF8(kind),
                             "took_over_from", BCON_UTF8(fby), "}");
      ok = mongoc_collection_update_one(claims, filter, upd, NULL, NULL, error);
      bson_destroy(upd);
    } else if (!ok) {
      mtq_error_set(error, MTQ_ERR_CONFLICT, "attempt %s was already ended (%s by %s)", key,
                    fkind, fby);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
  } else if (!ok && error) {
    *error = err;
  }
  bson_destroy(doc);
  mongoc_collection_destroy(claims);
  return ok;
}

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

/* Gives the task back to its lane, in place, with the next token. */
static bool put_back(mtq_store_t *store, mongoc_client_t *client, mongoc_collection_t *lane,
                     mtq_task_t *task, bson_error_t *error) {
  int64_t held = task->token++;
  task->status = MTQ_STATE_QUEUED;
  task->worker[0] = '\0';
  task->claimed_at = 0;
  bson_t upd = BSON_INITIALIZER, set;
  BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
  BSON_APPEND_UTF8(&set, "status", "queued");
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
  int64_t held = task->token++;
  task->status = MTQ_STATE_RETRY_WAIT;
  task->worker[0] = '\0';
  task->claimed_at = 0;
  task->not_before = mtq_now_ms() + mtq_task_backoff(task, (double)random() / 2147483648.0);
  mongoc_collection_t *delayed = mtq__delayed(store, client, task->channel);
  /* The delete names the old token: mtqd may release the task (a new
   * document in this lane, next token) the moment the insert is done. */
  bool ok = insert_doc(delayed, task, true, error) &&
            mtq__write_at_token(store, client, lane, &task->id, held, NULL, error);
  mongoc_collection_destroy(delayed);
  return ok;
}

bool mtq__end_attempt(mtq_store_t *store, mongoc_client_t *client, mtq_task_t *task,
                      mtq_state_t to, const char *by, const char *why, const bson_t *result,
                      bool count_attempt, bool take_over, bson_error_t *error) {
  mtq_state_t from = task->status;
  char lease[64];
  lease_key(task, lease, sizeof lease);
  /* What this call changes in *task, restored when it fails, so that the
   * caller can call again with the task as it was. */
  mtq_task_t before = *task;
  before.errors = task->errors ? bson_copy(task->errors) : NULL;
  before.error = task->error ? bson_strdup(task->error) : NULL;
  if (!end_lock(store, client, task, by, mtq_state_action(MTQ_STATE_RUNNING, to), take_over,
                error)) {
    return false;
  }
  int64_t now = mtq_now_ms();
  if (to != MTQ_STATE_DONE && to != MTQ_STATE_CANCELLED && why) {
    bson_free(task->error);
    task->error = bson_strndup(why, MTQ_ERROR_MAX_BYTES);
    if (count_attempt) {
      mtq_task_add_error(task, task->error, now);
    }
  }
  if (!count_attempt && task->attempt > 0 && from == MTQ_STATE_RUNNING) {
    task->attempt--;
  }
  /* The event first, under an _id of this attempt's end: a retry of this
   * call after a lost reply does not record it twice. */
  mtq__event(store, client, task, from, to, by, why);
  mongoc_collection_t *lane = mtq__home(store, client, task);
  bool ok;
  if (to == MTQ_STATE_QUEUED) {
    ok = put_back(store, client, lane, task, error);
  } else if (to == MTQ_STATE_RETRY_WAIT) {
    ok = to_retry_wait(store, client, lane, task, error);
  } else {
    task->status = to;
    task->finished_at = now;
    if (to == MTQ_STATE_DONE) {
      task->result = result ? bson_copy(result) : bson_new(); /* the old one: see below */
      bson_free(task->error);
      task->error = NULL;
    }
    ok = mtq__record_outcome(store, client, task, lane, error);
  }
  mongoc_collection_destroy(lane);
  if (ok) {
    drop_lease(store, client, lease);
    /* by may be task->worker, which giving the task back has just cleared. */
    mtq__run_record(store, client, &before, to, by == task->worker ? before.worker : by, now);
    if (before.result && before.result != task->result) {
      bson_destroy(before.result);
    }
    if (before.errors) {
      bson_destroy(before.errors);
    }
    bson_free(before.error);
  } else {
    if (task->errors) {
      bson_destroy(task->errors);
    }
    bson_free(task->error);
    if (task->result && task->result != before.result) {
      bson_destroy(task->result);
    }
    *task = before; /* args and result pointers are the ones it had */
  }
  return ok;
}

bool mtq_store_finish(mtq_store_t *store, mtq_task_t *task, bool ok, const bson_t *result,
                      const char *error_text, bson_error_t *error) {
  if (ok && result && result->len > MTQ_RESULT_MAX_BYTES) {
    mtq_error_set(error, MTQ_ERR_TOO_LARGE, "result is %u bytes, over the limit of %d",
                  result->len, MTQ_RESULT_MAX_BYTES);
    return false;
  }
  mtq_state_t to = ok                         ? MTQ_STATE_DONE
                   : mtq_task_may_retry(task) ? MTQ_STATE_RETRY_WAIT
                                              : MTQ_STATE_DEAD;
  mongoc_client_t *client = mtq__store_pop(store);
  bool r = mtq__end_attempt(store, client, task, to, task->worker, ok ? NULL : error_text,
                            result, true, false, error);
  mtq__store_push(store, client);
  return r;
}

bool mtq_store_reject(mtq_store_t *store, mtq_task_t *task, const char *reason,
                      bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  bool r = mtq__end_attempt(store, client, task, MTQ_STATE_FAILED, task->worker, reason, NULL,
                            true, false, error);
  mtq__store_push(store, client);
  return r;
}

bool mtq_store_requeue(mtq_store_t *store, mtq_task_t *task, bool count_attempt,
                       const char *reason, bson_error_t *error) {
  mtq_state_t to = !count_attempt || mtq_task_may_retry(task) ? MTQ_STATE_QUEUED
                                                                : MTQ_STATE_DEAD;
  mongoc_client_t *client = mtq__store_pop(store);
  bool r = mtq__end_attempt(store, client, task, to, task->worker[0] ? task->worker : "mtq",
                            reason, NULL, count_attempt, false, error);
  mtq__store_push(store, client);
  return r;
}
