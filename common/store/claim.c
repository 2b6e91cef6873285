/* claim.c - a task's path through a worker: poll, claim, renew the lease,
 * and end the attempt (finish, reject, requeue) through the claim protocol
 * (protocol.c; see mtq_store_worker.h). */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "protocol.h"

/* What one poll asks of every collection it reads. */
typedef struct {
  mtq_store_t *store;
  mongoc_client_t *client;
  const char *channel;
  const bson_t *served;
  bool exclude; /* the tasks of none of served (mtq_store_poll_unserved) */
  bool sort; /* MongoDB: the server sorts by created_at */
  const char *by;
  mtq_poll_memo_t *memo;
  int64_t now;
} poll_t;

/* Reads up to limit runnable tasks of priority p from one collection (the
 * inbox, a segment, or with moved the side lane) into out. */
static bool poll_coll(poll_t *pl, int32_t p, bool moved, const char *seg, size_t limit,
                      mtq_task_list_t *out, bson_error_t *error) {
  mongoc_collection_t *coll = mtq__live_coll(pl->store, pl->client, pl->channel, p, moved, seg);
  bson_t *filter = BCON_NEW("status", BCON_UTF8("queued"), "is_enable", BCON_BOOL(true),
                            "priority", BCON_INT32(p));
  if (!bson_empty(pl->served)) {
    BSON_APPEND_ARRAY(filter, pl->exclude ? "$nor" : "$or", pl->served);
  }
  /* On FerretDB a sort makes the server read the whole collection; without
   * one it stops after `limit` matches, and rows come back in insertion
   * order, which is the age order we want.  MongoDB sorts a segment (a few
   * hundred documents) in memory, an inbox from its index. */
  bson_t *opts = pl->sort ? BCON_NEW("limit", BCON_INT64((int64_t)limit), "sort", "{",
                                     "created_at", BCON_INT32(1), "}")
                          : BCON_NEW("limit", BCON_INT64((int64_t)limit));
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
  const bson_t *doc;
  while (mongoc_cursor_next(cur, &doc)) {
    mtq_task_t *t = mtq_task_list_push(out);
    bson_error_t perr;
    if (!mtq_task_from_bson(t, doc, pl->channel, &perr)) {
      mtq_task_list_pop(out);
      mtq__quarantine(pl->store, pl->client, coll, doc, pl->channel, pl->by, perr.message);
    } else {
      t->moved = moved;
      bson_strncpy(t->seg, seg, sizeof t->seg);
    }
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  bson_destroy(opts);
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  return ok;
}

static int by_age(const void *a, const void *b) {
  const mtq_task_t *x = a, *y = b;
  if (x->created_at != y->created_at) {
    return x->created_at < y->created_at ? -1 : 1;
  }
  return x->moved == y->moved ? 0 : x->moved ? 1 : -1;
}

/* Whether a memo lets this poll skip a collection found empty lately; and
 * the memo's verdict after asking it. */
static bool skip(const int64_t *until, int64_t now) { return until && *until > now; }
static void remember(int64_t *until, bool empty, int64_t now, int64_t recheck_ms) {
  if (until) {
    *until = empty ? now + recheck_ms : 0;
  }
}

/* Asks the segments of one directory page for up to limit tasks, skipping
 * those whose idle time has not passed (idle NULL: asks them all). */
static bool poll_page(poll_t *pl, int32_t p, char (*segs)[MTQ_SEG_MAX], size_t n,
                      int64_t *idle, size_t limit, mtq_task_list_t *got, size_t start,
                      bool *asked, bson_error_t *error) {
  bool ok = true;
  for (size_t k = 0; ok && k < n && got->n - start < limit; k++) {
    if (idle && skip(&idle[k], pl->now)) {
      continue;
    }
    size_t before = got->n;
    *asked = true;
    ok = poll_coll(pl, p, false, segs[k], limit - (got->n - start), got, error);
    if (idle) {
      remember(&idle[k], ok && got->n == before, pl->now, pl->memo->recheck_ms);
    }
  }
  return ok;
}

/* The segments of priority p, oldest first, until limit tasks are in got.
 * The directory is read POLL_PAGE entries at a time.  The front page
 * holds the oldest tasks and is read at every poll; with a memo it is read
 * again from the memo, skipping its segments that had nothing, until
 * recheck_ms passed or none of them is left to ask.  When it has nothing
 * for this worker (its segments hold only running tasks, or tasks of
 * functions the worker does not serve, or disabled ones), up to
 * POLL_PAGES - 1 more pages are read, from where the last such poll
 * stopped (memo->resume), wrapping at the end: each poll costs a bounded
 * number of queries however long the directory is, and a servable task
 * anywhere in it is found within a few polls (memo->partial asks for them
 * soon).  Without a memo, the pages right after the front. */
#define POLL_PAGE MTQ_POLL_MEMO_SEGMENTS
#define POLL_PAGES 4
static bool poll_segments(poll_t *pl, int32_t p, size_t limit, mtq_task_list_t *got,
                          bson_error_t *error) {
  size_t i = (size_t)(p - MTQ_PRIORITY_MIN);
  mtq_poll_memo_t *memo = pl->memo;
  char local[POLL_PAGE][MTQ_SEG_MAX];
  char(*segs)[MTQ_SEG_MAX] = memo ? memo->dir[i].seg : local;
  int64_t *idle = memo ? memo->dir[i].idle_until_ms : NULL;
  size_t n = memo ? memo->dir[i].n : 0;
  size_t start = got->n;
  bool ok = true, asked = false;
  /* The front page: remembered, or read now. */
  bool fresh = !memo || memo->dir[i].until_ms <= pl->now;
  for (int pass = 0; ok && pass < 2; pass++) {
    if (fresh) {
      ok = mtq__seg_dir(pl->store, pl->client, pl->channel, p, 0, POLL_PAGE, segs, &n, error);
      if (memo) {
        memset(idle, 0, sizeof(int64_t) * POLL_PAGE);
        memo->dir[i].n = ok ? n : 0;
        memo->dir[i].until_ms = pl->now + memo->recheck_ms;
      }
    }
    ok = ok && poll_page(pl, p, segs, n, idle, limit, got, start, &asked, error);
    /* A remembered empty page is as good as a lane found empty: read
     * again after recheck_ms, not at every poll (each read of a directory
     * costs FerretDB a copy of the database's whole catalogue). */
    if (!ok || fresh || asked || got->n > start || n == 0) {
      break;
    }
    fresh = true; /* the remembered page had nothing left to ask: read it again */
  }
  if (!ok || got->n > start || n < POLL_PAGE) {
    return ok; /* found some, or the directory has no more pages */
  }
  /* Deeper, from where the last poll stopped. */
  size_t at = memo && memo->resume[i] >= POLL_PAGE ? memo->resume[i] : POLL_PAGE;
  for (int page = 1; ok && page < POLL_PAGES; page++) {
    size_t page_at = at;
    ok = mtq__seg_dir(pl->store, pl->client, pl->channel, p, at, POLL_PAGE, local, &n, error);
    ok = ok && poll_page(pl, p, local, n, NULL, limit, got, start, &asked, error);
    if (!ok) {
      break;
    }
    if (got->n > start) {
      at = page_at; /* this page may hold more: the next poll reads it again */
      break;
    }
    if (n < POLL_PAGE) {
      at = POLL_PAGE; /* the end: the next poll starts over after the front */
      break;
    }
    at += n;
  }
  if (memo && ok) {
    memo->resume[i] = at;
    memo->partial = memo->partial || (got->n == start && at > POLL_PAGE);
  }
  return ok;
}

/* One priority: its inbox, its side lane and its segments, merged by age;
 * at most limit appended to out.  The side lane is read whole up to the
 * limit and sorted, since tasks are moved into it in no order of age. */
static bool poll_priority(poll_t *pl, int32_t p, size_t limit, mtq_task_list_t *out,
                          bson_error_t *error) {
  size_t i = (size_t)(p - MTQ_PRIORITY_MIN);
  mtq_poll_memo_t *memo = pl->memo;
  int64_t *lane_until = memo ? &memo->empty_until_ms[i] : NULL;
  int64_t *moved_until = memo ? &memo->moved_empty_until_ms[i] : NULL;
  int64_t recheck = memo ? memo->recheck_ms : 0;
  mtq_task_list_t got;
  mtq_task_list_init(&got);
  bool ok = poll_segments(pl, p, limit, &got, error);
  size_t before = got.n;
  if (ok && !skip(lane_until, pl->now)) {
    ok = poll_coll(pl, p, false, "", limit, &got, error);
    remember(lane_until, ok && got.n == before, pl->now, recheck);
  }
  before = got.n;
  if (ok && !skip(moved_until, pl->now)) {
    ok = poll_coll(pl, p, true, "", limit, &got, error);
    remember(moved_until, ok && got.n == before, pl->now, recheck);
  }
  if (ok && got.n > 0) {
    qsort(got.items, got.n, sizeof *got.items, by_age);
  }
  for (size_t k = 0; k < got.n && k < limit; k++) {
    *mtq_task_list_push(out) = got.items[k]; /* moved: got must not free it */
    mtq_task_init(&got.items[k]);
  }
  mtq_task_list_cleanup(&got);
  return ok;
}

static bool poll_lanes(mtq_store_t *store, const char *channel, const mtq_func_ref_t *funcs,
                       size_t n_funcs, bool exclude, size_t limit, mtq_poll_memo_t *memo,
                       const char *by, mtq_task_list_t *out, bson_error_t *error) {
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
  poll_t pl = {store,  client, channel, &served, exclude, kind == MTQ__SERVER_MONGODB,
               by,     memo,   memo ? mtq_now_ms() : 0};
  if (memo) {
    memo->partial = false;
  }
  for (int32_t p = MTQ_PRIORITY_MAX; ok && p >= MTQ_PRIORITY_MIN && out->n - start < limit; p--) {
    if (memo && memo->only && !(memo->only & (1u << (p - MTQ_PRIORITY_MIN)))) {
      continue;
    }
    ok = poll_priority(&pl, p, limit - (out->n - start), out, error);
  }
  mtq__store_push(store, client);
  bson_destroy(&served);
  return ok;
}

bool mtq_store_poll(mtq_store_t *store, const char *channel, const mtq_func_ref_t *funcs,
                    size_t n_funcs, size_t limit, mtq_poll_memo_t *memo, const char *by,
                    mtq_task_list_t *out, bson_error_t *error) {
  return poll_lanes(store, channel, funcs, n_funcs, false, limit, memo, by, out, error);
}

bool mtq_store_poll_unserved(mtq_store_t *store, const char *channel,
                             const mtq_func_ref_t *served, size_t n_served, size_t limit,
                             const char *by, mtq_task_list_t *out, bson_error_t *error) {
  return poll_lanes(store, channel, served, n_served, true, limit, NULL, by, out, error);
}

/* --- the claim and the lease ------------------------------------------- */

/* Deletes the leases of these keys that worker holds (stale reads). */
static void drop_leases(mongoc_collection_t *leases, const bson_t *keys, const char *worker_id) {
  bson_t *filter = BCON_NEW("_id", "{", "$in", BCON_ARRAY(keys), "}", "worker",
                            BCON_UTF8(worker_id));
  mongoc_collection_delete_many(leases, filter, NULL, NULL, NULL);
  bson_destroy(filter);
}

/* 3. The documents, for polling and for people: marked running, and the
 * events.  If marking fails the task still runs: pollers meet the lease
 * and the claim, and the end of the attempt rewrites the document.  The
 * claim won makes the token ours, so on FerretDB the writes go by _id
 * alone (mtq__write_many_by_id), within one small segment each. */
static void mark_running(mtq_store_t *store, mongoc_client_t *client, mtq_task_t *tasks,
                         size_t n, const bool *claimed, const char *worker_id, int64_t now) {
  bson_t **events = bson_malloc0((n + 1) * sizeof *events);
  bson_t **updates = bson_malloc0((n + 1) * sizeof *updates);
  const bson_oid_t **ids = bson_malloc0((n + 1) * sizeof *ids);
  int64_t *tokens = bson_malloc0((n + 1) * sizeof *tokens);
  bool *done = bson_malloc0(n + 1);
  size_t n_events = 0;
  for (size_t i = 0; i < n; i++) {
    if (!claimed[i]) {
      continue;
    }
    mtq_task_t *task = &tasks[i];
    mtq_state_t from = task->status;
    task->status = MTQ_STATE_RUNNING;
    task->attempt++;
    task->claimed_at = now;
    bson_strncpy(task->worker, worker_id, sizeof task->worker);
    events[n_events] = bson_new();
    mtq__event_doc(task, from, MTQ_STATE_RUNNING, worker_id, NULL, events[n_events++]);
  }
  /* One command per collection the claimed tasks live in. */
  for (size_t i = 0; i < n; i++) {
    if (!claimed[i] || done[i]) {
      continue;
    }
    mongoc_collection_t *lane = mtq__home(store, client, &tasks[i]);
    size_t m = 0;
    for (size_t j = i; j < n; j++) {
      if (claimed[j] && !done[j] && mtq__same_home(&tasks[j], &tasks[i])) {
        done[j] = true;
        ids[m] = &tasks[j].id;
        tokens[m] = tasks[j].token;
        updates[m++] = BCON_NEW("$set", "{", "status", BCON_UTF8("running"), "worker",
                                BCON_UTF8(worker_id), "claimed_at", BCON_DATE_TIME(now),
                                "attempt", BCON_INT32(tasks[j].attempt), "}");
      }
    }
    bson_error_t uerr;
    if (!mtq__write_many_by_id(store, client, lane, ids, tokens, (const bson_t *const *)updates,
                               m, &uerr)) {
      mtq_warn("claimed %zu task(s) in %s but could not mark them running: %s", m,
               mongoc_collection_get_name(lane), uerr.message);
    }
    for (size_t k = 0; k < m; k++) {
      bson_destroy(updates[k]);
    }
    mongoc_collection_destroy(lane);
  }
  mtq__events_write(store, client, events, n_events);
  for (size_t k = 0; k < n_events; k++) {
    bson_destroy(events[k]);
  }
  bson_free(done);
  bson_free(tokens);
  bson_free(ids);
  bson_free(updates);
  bson_free(events);
}

size_t mtq_store_claim_many(mtq_store_t *store, mtq_task_t *tasks, size_t n,
                            const char *worker_id, int64_t lease_ms, bool *claimed,
                            bson_error_t *errors) {
  bson_t **docs = bson_malloc0((n + 1) * sizeof *docs);
  size_t *of = bson_malloc0((n + 1) * sizeof *of);
  bool *in = bson_malloc0(n + 1);
  bson_error_t *errs = bson_malloc0((n + 1) * sizeof *errs);
  int64_t now = mtq_now_ms();
  size_t plen = strlen(MTQ_DIRECT_PREFIX), m = 0;
  for (size_t i = 0; i < n; i++) {
    claimed[i] = false;
    mtq_task_t *task = &tasks[i];
    char key[MTQ__KEY_MAX];
    mtq__key(&task->id, task->token, NULL, key);
    /* A copy sits in its worker's own channel "to.<worker>": nobody else
     * may run it, whatever they polled. */
    if (strncmp(task->channel, MTQ_DIRECT_PREFIX, plen) == 0 &&
        strcmp(task->channel + plen, worker_id) != 0) {
      if (errors) {
        mtq_error_set(&errors[i], MTQ_ERR_CONFLICT, "task %s is addressed to worker %s, not %s",
                      key, task->channel + plen, worker_id);
      }
      continue;
    }
    /* 1. The leases first, so that every claim has a lease to expire even
     *    if the claimant dies between the two inserts.  Each _id is the
     *    claim key: of many pollers, one inserts it. */
    docs[m] = BCON_NEW("_id", BCON_UTF8(key), "task", BCON_OID(&task->id), "channel",
                       BCON_UTF8(task->channel), "priority", BCON_INT32(task->priority),
                       "token", BCON_INT64(task->token), "worker", BCON_UTF8(worker_id),
                       "lease_ms", BCON_INT64(lease_ms), "renewals", BCON_INT64(0), "moved",
                       BCON_BOOL(task->moved), "seg", BCON_UTF8(task->seg), "at",
                       BCON_DATE_TIME(now));
    of[m++] = i;
  }
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *leases = mtq__coll(store, client, "leases");
  bson_error_t err;
  mtq__insert_many(leases, (const bson_t *const *)docs, m, in, errs, &err);
  /* 2. The claim records of the leases won: permanent, so a poller that
   *    read an old token can never claim it again once its lease is gone. */
  size_t c = 0;
  for (size_t k = 0; k < m; k++) {
    bson_destroy(docs[k]);
    size_t i = of[k];
    if (!in[k]) {
      if (errors && mtq_error_is_duplicate(&errs[k])) {
        char key[MTQ__KEY_MAX];
        mtq__key(&tasks[i].id, tasks[i].token, NULL, key);
        mtq_error_set(&errors[i], MTQ_ERR_CONFLICT, "task %s was claimed by someone else first",
                      key);
      } else if (errors) {
        errors[i] = errs[k];
      }
      continue;
    }
    docs[c] = mtq__lock_doc(&tasks[i], NULL, worker_id, "run");
    of[c++] = i;
  }
  mongoc_collection_t *claims = mtq__coll(store, client, "claims");
  mtq__insert_many(claims, (const bson_t *const *)docs, c, in, errs, &err);
  mongoc_collection_destroy(claims);
  bson_t stale = BSON_INITIALIZER;
  size_t n_stale = 0, won = 0;
  for (size_t k = 0; k < c; k++) {
    size_t i = of[k];
    bson_iter_t it;
    bson_iter_init_find(&it, docs[k], "_id");
    if (in[k]) {
      claimed[i] = true;
      won++;
    } else if (mtq_error_is_duplicate(&errs[k])) {
      /* A stale read: the token was claimed long ago.  Our lease goes. */
      char idx[16];
      const char *key;
      bson_uint32_to_string((uint32_t)n_stale++, &key, idx, sizeof idx);
      BSON_APPEND_UTF8(&stale, key, bson_iter_utf8(&it, NULL));
      if (errors) {
        mtq_error_set(&errors[i], MTQ_ERR_CONFLICT, "task %s was claimed by someone else first",
                      bson_iter_utf8(&it, NULL));
      }
    } else if (errors) {
      /* The claim may have been written with its reply lost: the lease
       * stays, and mtqd, finding it unrenewed, gives the task back under a
       * new token. */
      errors[i] = errs[k];
    }
    bson_destroy(docs[k]);
  }
  if (n_stale) {
    drop_leases(leases, &stale, worker_id);
  }
  bson_destroy(&stale);
  mongoc_collection_destroy(leases);
  mark_running(store, client, tasks, n, claimed, worker_id, now);
  mtq__store_push(store, client);
  bson_free(errs);
  bson_free(in);
  bson_free(of);
  bson_free(docs);
  return won;
}

bool mtq_store_claim(mtq_store_t *store, mtq_task_t *task, const char *worker_id,
                     int64_t lease_ms, bson_error_t *error) {
  bool claimed = false;
  bson_error_t err;
  mtq_store_claim_many(store, task, 1, worker_id, lease_ms, &claimed, &err);
  if (!claimed && error) {
    *error = err;
  }
  return claimed;
}

bool mtq_store_renew(mtq_store_t *store, const mtq_task_t *task, bool *suspended,
                     bson_error_t *error) {
  char key[MTQ__KEY_MAX];
  mtq__key(&task->id, task->token, NULL, key);
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *leases = mtq__coll(store, client, "leases");
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(key));
  bson_t *upd = BCON_NEW("$inc", "{", "renewals", BCON_INT64(1), "}", "$set", "{", "renewed_at",
                         BCON_DATE_TIME(mtq_now_ms()), "}");
  /* One round trip that also says whether an operator suspended the task:
   * the renewal and the read of the lease together. */
  bson_t reply;
  bool ok = mongoc_collection_find_and_modify(leases, filter, NULL, upd, NULL, false, false, true,
                                              &reply, error);
  bson_iter_t it, v;
  bool found = ok && bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it);
  if (ok && !found) {
    mtq_error_set(error, MTQ_ERR_CONFLICT,
                  "lease %s is gone: the attempt was ended by someone else (expired or cancelled)",
                  key);
    ok = false;
  }
  if (suspended) {
    *suspended = found && bson_iter_recurse(&it, &v) && bson_iter_find(&v, "suspended") &&
                 BSON_ITER_HOLDS_BOOL(&v) && bson_iter_bool(&v);
  }
  bson_destroy(&reply);
  bson_destroy(upd);
  bson_destroy(filter);
  mongoc_collection_destroy(leases);
  mtq__store_push(store, client);
  return ok;
}

/* --- the end of an attempt, alone or in batches ----------------------------- */

/* Where one end of a batch stands. */
typedef struct {
  mtq_end_t *end;
  mtq_state_t to;
  char by[MTQ__ACTOR_MAX + 1];
  bool locked;
  mtq__ending_t ending;
} batch_end_t;

static mtq_state_t end_state(const mtq_end_t *e) {
  const mtq_task_t *t = e->task;
  switch (e->kind) {
  case MTQ_END_FINISH:
    return e->ok ? MTQ_STATE_DONE : mtq_task_may_retry(t) ? MTQ_STATE_RETRY_WAIT : MTQ_STATE_DEAD;
  case MTQ_END_REJECT:
    return MTQ_STATE_FAILED;
  default:
    return !e->count_attempt || mtq_task_may_retry(t)
               ? (e->suspended ? MTQ_STATE_SUSPENDED : MTQ_STATE_QUEUED)
               : MTQ_STATE_DEAD;
  }
}

/* 1. The end locks, all in one insert; a lock found taken is asked about
 * once more on its own (mtq__end_lock): taken by this same holder before
 * (a retry after a lost reply) it is ours, else the end is fenced off. */
static void lock_ends(mtq_store_t *store, mongoc_client_t *client, batch_end_t *b, size_t n) {
  bson_t **docs = bson_malloc0((n + 1) * sizeof *docs);
  size_t *of = bson_malloc0((n + 1) * sizeof *of);
  bool *in = bson_malloc0(n + 1);
  bson_error_t *errs = bson_malloc0((n + 1) * sizeof *errs);
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (!b[i].end->recorded && b[i].end->error.code == 0) {
      docs[m] = mtq__lock_doc(b[i].end->task, "end", b[i].by,
                              mtq_state_action(MTQ_STATE_RUNNING, b[i].to));
      of[m++] = i;
    }
  }
  mongoc_collection_t *claims = mtq__coll(store, client, "claims");
  bson_error_t err;
  mtq__insert_many(claims, (const bson_t *const *)docs, m, in, errs, &err);
  mongoc_collection_destroy(claims);
  for (size_t k = 0; k < m; k++) {
    batch_end_t *e = &b[of[k]];
    bson_destroy(docs[k]);
    if (in[k]) {
      e->locked = true;
    } else if (mtq_error_is_duplicate(&errs[k])) {
      e->locked = mtq__end_lock(store, client, e->end->task, e->by, e->to, &e->end->error);
    } else {
      e->end->error = errs[k];
    }
  }
  bson_free(errs);
  bson_free(in);
  bson_free(of);
  bson_free(docs);
}

/* The ends that are outcomes: their records in results in one insert, then
 * their live documents deleted, one command per collection.  A record
 * found there already (a retry after a lost reply, or an operator's
 * interrupted retry) goes the single way, mtq__record_outcome. */
static void record_outcomes(mtq_store_t *store, mongoc_client_t *client, batch_end_t *b,
                            size_t n) {
  bson_t **docs = bson_malloc0((n + 1) * sizeof *docs);
  size_t *of = bson_malloc0((n + 1) * sizeof *of);
  bool *in = bson_malloc0(n + 1);
  bool *gone = bson_malloc0(n + 1);
  bson_error_t *errs = bson_malloc0((n + 1) * sizeof *errs);
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    mtq_end_t *e = b[i].end;
    if (b[i].locked && mtq__end_is_outcome(b[i].to)) {
      mtq__end_outcome(&b[i].ending, e->task, e->kind == MTQ_END_FINISH && e->ok ? e->result : NULL);
      docs[m] = bson_new();
      mtq_task_to_bson(e->task, docs[m]);
      of[m++] = i;
    }
  }
  mongoc_collection_t *results = mtq__coll(store, client, "results");
  bson_error_t err;
  mtq__insert_many(results, (const bson_t *const *)docs, m, in, errs, &err);
  mongoc_collection_destroy(results);
  for (size_t k = 0; k < m; k++) {
    bson_destroy(docs[k]);
    mtq_end_t *e = b[of[k]].end;
    if (in[k]) {
      continue;
    }
    gone[k] = true; /* settled here, one way or the other */
    if (mtq_error_is_duplicate(&errs[k])) {
      mongoc_collection_t *lane = mtq__home(store, client, e->task);
      e->recorded = mtq__record_outcome(store, client, e->task, lane, &e->error);
      mongoc_collection_destroy(lane);
    } else {
      e->error = errs[k];
    }
    if (!e->recorded) {
      mtq__end_undo(&b[of[k]].ending, e->task);
    }
  }
  /* The ends of flows' tasks, for their flows (the outcomes that went in
   * one by one above noted their own). */
  const mtq_task_t **noted = bson_malloc0((m + 1) * sizeof *noted);
  size_t n_noted = 0;
  for (size_t k = 0; k < m; k++) {
    if (in[k]) {
      noted[n_noted++] = b[of[k]].end->task;
    }
  }
  mtq__flow_note_ends(store, client, noted, n_noted);
  bson_free(noted);
  /* The live documents of the records inserted, by collection. */
  const bson_oid_t **ids = bson_malloc0((n + 1) * sizeof *ids);
  int64_t *tokens = bson_malloc0((n + 1) * sizeof *tokens);
  size_t *group = bson_malloc0((n + 1) * sizeof *group);
  for (size_t k = 0; k < m; k++) {
    if (gone[k]) {
      continue;
    }
    const mtq_task_t *t = b[of[k]].end->task;
    size_t g = 0;
    for (size_t j = k; j < m; j++) {
      const mtq_task_t *u = b[of[j]].end->task;
      if (!gone[j] && mtq__same_home(u, t)) {
        gone[j] = true;
        ids[g] = &u->id;
        tokens[g] = b[of[j]].ending.before.token;
        group[g++] = j;
      }
    }
    mongoc_collection_t *lane = mtq__home(store, client, t);
    bson_error_t derr;
    bool ok = mtq__write_many_by_id(store, client, lane, ids, tokens, NULL, g, &derr);
    mongoc_collection_destroy(lane);
    for (size_t x = 0; x < g; x++) {
      mtq_end_t *e = b[of[group[x]]].end;
      e->recorded = ok;
      if (!ok) {
        /* The outcome is in results; the next try finds it there and
         * deletes the document the single way. */
        e->error = derr;
        mtq__end_undo(&b[of[group[x]]].ending, e->task);
      }
    }
  }
  bson_free(group);
  bson_free(tokens);
  bson_free(ids);
  bson_free(errs);
  bson_free(gone);
  bson_free(in);
  bson_free(of);
  bson_free(docs);
}

size_t mtq_store_end_many(mtq_store_t *store, mtq_end_t *ends, size_t n) {
  batch_end_t *b = bson_malloc0((n + 1) * sizeof *b);
  for (size_t i = 0; i < n; i++) {
    mtq_end_t *e = &ends[i];
    e->recorded = false;
    memset(&e->error, 0, sizeof e->error);
    b[i].end = e;
    b[i].to = end_state(e);
    bson_strncpy(b[i].by, e->task->worker[0] ? e->task->worker : "mtq", sizeof b[i].by);
    if (e->kind == MTQ_END_FINISH && e->ok && e->result &&
        e->result->len > MTQ_RESULT_MAX_BYTES) {
      mtq_error_set(&e->error, MTQ_ERR_TOO_LARGE, "result is %u bytes, over the limit of %d",
                    e->result->len, MTQ_RESULT_MAX_BYTES);
    }
  }
  mongoc_client_t *client = mtq__store_pop(store);
  lock_ends(store, client, b, n);
  /* 2. The events of every end won, in one insert, before any move. */
  bson_t **events = bson_malloc0((n + 1) * sizeof *events);
  size_t n_events = 0;
  for (size_t i = 0; i < n; i++) {
    if (b[i].locked) {
      const char *why = b[i].to == MTQ_STATE_DONE ? NULL : ends[i].text;
      bool count = ends[i].kind != MTQ_END_REQUEUE || ends[i].count_attempt;
      mtq__end_begin(&b[i].ending, ends[i].task, b[i].to, b[i].by, why, count);
      events[n_events] = bson_new();
      mtq__end_event(&b[i].ending, ends[i].task, events[n_events++]);
    }
  }
  mtq__events_write(store, client, events, n_events);
  for (size_t k = 0; k < n_events; k++) {
    bson_destroy(events[k]);
  }
  bson_free(events);
  /* 3. Each task to where it goes: outcomes together (record_outcomes),
   * the others one by one; then the leases of all, in one delete, and the
   * run records in one insert. */
  record_outcomes(store, client, b, n);
  for (size_t i = 0; i < n; i++) {
    if (b[i].locked && !mtq__end_is_outcome(b[i].to)) {
      ends[i].recorded = mtq__end_commit(store, client, &b[i].ending, ends[i].task, NULL,
                                         &ends[i].error);
    }
  }
  bson_t keys = BSON_INITIALIZER;
  size_t n_keys = 0, recorded = 0;
  for (size_t i = 0; i < n; i++) {
    if (ends[i].recorded) {
      char idx[16];
      const char *k;
      bson_uint32_to_string((uint32_t)n_keys++, &k, idx, sizeof idx);
      BSON_APPEND_UTF8(&keys, k, b[i].ending.lease);
      recorded++;
    }
  }
  if (n_keys) {
    mongoc_collection_t *leases = mtq__coll(store, client, "leases");
    bson_t *filter = BCON_NEW("_id", "{", "$in", BCON_ARRAY(&keys), "}");
    bson_error_t err;
    if (!mongoc_collection_delete_many(leases, filter, NULL, NULL, &err)) {
      /* Harmless: the coordinator deletes a lease whose attempt has ended. */
      mtq_debug("cannot delete %zu leases: %s", n_keys, err.message);
    }
    bson_destroy(filter);
    mongoc_collection_destroy(leases);
  }
  bson_destroy(&keys);
  mtq__run_end_t *runs = bson_malloc0((n + 1) * sizeof *runs);
  size_t n_runs = 0;
  for (size_t i = 0; i < n; i++) {
    if (ends[i].recorded) {
      mtq__ending_t *e = &b[i].ending;
      runs[n_runs++] = (mtq__run_end_t){&e->before, e->to, e->by, e->now};
    }
  }
  mtq__run_records(store, client, runs, n_runs);
  bson_free(runs);
  for (size_t i = 0; i < n; i++) {
    if (ends[i].recorded && b[i].to == MTQ_STATE_QUEUED) {
      mtq__task_touch(store, client, ends[i].task); /* back in the queue: wake.c */
    }
  }
  for (size_t i = 0; i < n; i++) {
    if (ends[i].recorded) {
      mtq__end_forget(&b[i].ending, ends[i].task);
    }
  }
  mtq__store_push(store, client);
  bson_free(b);
  return recorded;
}

bool mtq_store_finish(mtq_store_t *store, mtq_task_t *task, bool ok, const bson_t *result,
                      const char *error_text, bson_error_t *error) {
  mtq_end_t e = {.task = task, .kind = MTQ_END_FINISH, .ok = ok, .result = result,
                 .text = error_text};
  mtq_store_end_many(store, &e, 1);
  if (!e.recorded && error) {
    *error = e.error;
  }
  return e.recorded;
}

bool mtq_store_reject(mtq_store_t *store, mtq_task_t *task, const char *reason,
                      bson_error_t *error) {
  mtq_end_t e = {.task = task, .kind = MTQ_END_REJECT, .text = reason};
  mtq_store_end_many(store, &e, 1);
  if (!e.recorded && error) {
    *error = e.error;
  }
  return e.recorded;
}

bool mtq_store_requeue(mtq_store_t *store, mtq_task_t *task, bool count_attempt,
                       const char *reason, bson_error_t *error) {
  mtq_end_t e = {.task = task, .kind = MTQ_END_REQUEUE, .count_attempt = count_attempt,
                 .text = reason};
  mtq_store_end_many(store, &e, 1);
  if (!e.recorded && error) {
    *error = e.error;
  }
  return e.recorded;
}
