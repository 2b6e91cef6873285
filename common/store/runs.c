/* runs.c - run records: one document in `runs` per ended attempt
 * (who held it, how long it waited and ran, how it ended), and the
 * performance figures computed from them (mtq_perf.h).
 *
 * Bounded without TTL indexes (FerretDB 1.x has none) and without work for
 * mtqd: `runs` is a capped collection of the last MTQ_RUNS_MAX records.
 * MongoDB drops the oldest at each insert; FerretDB 1.24 (SQLite and
 * PostgreSQL) drops them in a background pass every minute
 * (--test-capped-cleanup-interval), so between passes it may hold a minute's
 * worth more.  Removing them with their task in the retention purge was the
 * other way; it was not taken because on FerretDB's SQLite backend every
 * purge batch would read `runs` whole once more, and because the figures
 * would then cover however many tasks retention keeps: a read of `runs`
 * (mtq stats --func, mtq workers) is a full scan on SQLite, so its size must
 * stay small whatever the retention (see README, "Performance records"). */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "protocol.h"

/* The cap in bytes, besides MTQ_RUNS_MAX documents: generous, so that the
 * count is what binds.  FerretDB's SQLite backend counts about 700 bytes a
 * record (its JSON form), MongoDB about 300. */
#define RUNS_CAP_BYTES (32 * 1024 * 1024)

/* The server's "NamespaceExists". */
#define NAMESPACE_EXISTS 48

static bool is_namespace_exists(const bson_error_t *err) {
  return err->code == NAMESPACE_EXISTS &&
         (err->domain == MONGOC_ERROR_SERVER || err->domain == MONGOC_ERROR_QUERY ||
          err->domain == MONGOC_ERROR_COMMAND);
}

/* An operator hint for a `runs` made by someone else without a cap: it
 * would grow without bound and make every read of it slower. */
static void warn_unless_capped(mongoc_database_t *db) {
  bson_t *opts = BCON_NEW("filter", "{", "name", BCON_UTF8("runs"), "}");
  mongoc_cursor_t *cur = mongoc_database_find_collections_with_opts(db, opts);
  const bson_t *info;
  bson_iter_t it, capped;
  if (mongoc_cursor_next(cur, &info) &&
      !(bson_iter_init(&it, info) && bson_iter_find_descendant(&it, "options.capped", &capped) &&
        bson_iter_as_bool(&capped))) {
    mtq_warn("collection runs is not capped: it grows without bound; drop it (mtq creates "
             "it again, capped at %d records)",
             MTQ_RUNS_MAX);
  }
  mongoc_cursor_destroy(cur);
  bson_destroy(opts);
}

/* Creates `runs` capped, once per store: an insert into a collection that
 * does not exist would create it uncapped.  Every writer of run records
 * goes through here, so whichever comes first creates it right. */
static bool runs_declared(mtq_store_t *store, mongoc_client_t *client) {
  pthread_mutex_lock(&store->lock);
  bool done = store->runs_declared;
  pthread_mutex_unlock(&store->lock);
  if (done) {
    return true;
  }
  mongoc_database_t *db = mongoc_client_get_database(client, store->db_name);
  bson_t *cmd = BCON_NEW("create", BCON_UTF8("runs"), "capped", BCON_BOOL(true), "size",
                         BCON_INT64(RUNS_CAP_BYTES), "max", BCON_INT64(MTQ_RUNS_MAX));
  bson_error_t err;
  bool ok = mongoc_database_write_command_with_opts(db, cmd, NULL, NULL, &err);
  if (!ok && is_namespace_exists(&err)) {
    warn_unless_capped(db);
    ok = true;
  } else if (!ok) {
    mtq_warn("cannot create the capped collection runs: %s", err.message);
  }
  bson_destroy(cmd);
  mongoc_database_destroy(db);
  if (ok) {
    pthread_mutex_lock(&store->lock);
    store->runs_declared = true;
    pthread_mutex_unlock(&store->lock);
  }
  return ok;
}

static int64_t at_least_zero(int64_t ms) { return ms > 0 ? ms : 0; }

/* The run record of one attempt into doc; false when it leaves none. */
static bool run_doc(const mtq__run_end_t *r, bson_t *doc) {
  const mtq_task_t *task = r->task;
  char key[MTQ__KEY_MAX];
  mtq__key(&task->id, task->token, NULL, key);
  if (task->status != MTQ_STATE_RUNNING || !task->worker[0] || task->claimed_at <= 0) {
    /* Claimed but never marked running (its claimant died in between): no
     * holder to credit, and it did not run. */
    mtq_debug("attempt %s ended as %s without having run: no run record", key,
              mtq_state_name(r->to));
    return false;
  }
  int64_t runnable_at = task->not_before > task->created_at ? task->not_before : task->created_at;
  BSON_APPEND_UTF8(doc, "_id", key);
  BSON_APPEND_OID(doc, "task", &task->id);
  BSON_APPEND_UTF8(doc, "channel", task->channel);
  BSON_APPEND_UTF8(doc, "func", task->func);
  BSON_APPEND_UTF8(doc, "version", task->version);
  BSON_APPEND_UTF8(doc, "worker", task->worker);
  BSON_APPEND_UTF8(doc, "ended_by", r->by && *r->by ? r->by : "mtq");
  BSON_APPEND_UTF8(doc, "outcome", mtq_state_name(r->to));
  BSON_APPEND_INT32(doc, "attempt", task->attempt);
  /* Clocks of producers, workers and mtqd differ a little: a negative
   * duration is skew, not time, and is recorded as 0. */
  BSON_APPEND_INT64(doc, "wait_ms", at_least_zero(task->claimed_at - runnable_at));
  BSON_APPEND_INT64(doc, "run_ms", at_least_zero(r->end_ms - task->claimed_at));
  BSON_APPEND_DATE_TIME(doc, "at", r->end_ms);
  return true;
}

void mtq__run_records(mtq_store_t *store, mongoc_client_t *client, const mtq__run_end_t *ends,
                      size_t n) {
  bson_t **docs = bson_malloc0((n + 1) * sizeof *docs);
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    docs[m] = bson_new();
    if (run_doc(&ends[i], docs[m])) {
      m++;
    } else {
      bson_destroy(docs[m]);
    }
  }
  if (m > 0 && runs_declared(store, client)) {
    /* The _id is the attempt's: an end retried after a lost reply records
     * it once.  Like an event, the outcome is what counts; a lost figure is
     * reported, never allowed to fail the end of the attempt. */
    mongoc_collection_t *runs = mtq__coll(store, client, "runs");
    mtq__insert_records(runs, (const bson_t *const *)docs, m, "run");
    mongoc_collection_destroy(runs);
  }
  for (size_t k = 0; k < m; k++) {
    bson_destroy(docs[k]);
  }
  bson_free(docs);
}

void mtq__run_record(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                     mtq_state_t to, const char *by, int64_t end_ms) {
  mtq__run_end_t r = {task, to, by, end_ms};
  mtq__run_records(store, client, &r, 1);
}

/* --- reading ---------------------------------------------------------------- */

static int64_t number_or(const bson_t *doc, const char *key, int64_t dflt) {
  bson_iter_t it;
  return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_NUMBER(&it)
             ? bson_iter_as_int64(&it)
             : dflt;
}

static bool copy_name(const bson_t *doc, const char *key, char *dst, size_t size) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it)) {
    return false;
  }
  bson_strncpy(dst, bson_iter_utf8(&it, NULL), size);
  return dst[0] != '\0';
}

/* A record written by another (older, newer or hand-made) program: a
 * record without worker or function is of no use and skipped; a missing
 * figure is unknown (-1). */
static bool read_run(const bson_t *doc, mtq_run_t *r) {
  memset(r, 0, sizeof *r);
  if (!copy_name(doc, "worker", r->worker, sizeof r->worker) ||
      !copy_name(doc, "func", r->func, sizeof r->func)) {
    return false;
  }
  copy_name(doc, "channel", r->channel, sizeof r->channel);
  bson_iter_t it;
  r->outcome = bson_iter_init_find(&it, doc, "outcome") && BSON_ITER_HOLDS_UTF8(&it)
                   ? mtq_state_parse(bson_iter_utf8(&it, NULL))
                   : MTQ_STATE_INVALID;
  r->run_ms = number_or(doc, "run_ms", -1);
  r->wait_ms = number_or(doc, "wait_ms", -1);
  r->at_ms = bson_iter_init_find(&it, doc, "at") && BSON_ITER_HOLDS_DATE_TIME(&it)
                 ? bson_iter_date_time(&it)
                 : 0;
  return true;
}

bool mtq_store_runs(mtq_store_t *store, const char *func, mtq_run_t **out, size_t *n,
                    bson_error_t *error) {
  *out = NULL;
  *n = 0;
  if (func && !mtq_name_valid(func)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a valid function name", func);
    return false;
  }
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *runs = mtq__coll(store, client, "runs");
  /* An equality match or nothing, and no sort: all that FerretDB can serve
   * without sorting every record itself.  perf.c orders them. */
  bson_t *filter = func ? BCON_NEW("func", BCON_UTF8(func)) : bson_new();
  bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(0), "worker", BCON_INT32(1),
                          "func", BCON_INT32(1), "channel", BCON_INT32(1), "outcome", BCON_INT32(1), "run_ms",
                          BCON_INT32(1), "wait_ms", BCON_INT32(1), "at", BCON_INT32(1), "}");
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(runs, filter, opts, NULL);
  const bson_t *doc;
  size_t cap = 0;
  while (mongoc_cursor_next(cur, &doc)) {
    if (*n == cap) {
      cap = cap ? 2 * cap : 256;
      *out = bson_realloc(*out, cap * sizeof **out);
    }
    *n += read_run(doc, &(*out)[*n]) ? 1 : 0;
  }
  bool ok = !mongoc_cursor_error(cur, error);
  if (!ok) {
    bson_free(*out);
    *out = NULL;
    *n = 0;
  }
  mongoc_cursor_destroy(cur);
  bson_destroy(opts);
  bson_destroy(filter);
  mongoc_collection_destroy(runs);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_perf(mtq_store_t *store, const char *func, mtq_perf_t **out, size_t *n,
                    bson_error_t *error) {
  mtq_run_t *runs;
  size_t n_runs;
  *out = NULL;
  *n = 0;
  if (!mtq_store_runs(store, func, &runs, &n_runs, error)) {
    return false;
  }
  mtq_perf_compute(runs, n_runs, MTQ_PERF_BY_WORKER_FUNC, out, n);
  bson_free(runs);
  return true;
}
