/* ceiling.c - the batched ceiling: the fewest database round trips that
 * burn down n pre-enqueued tasks under mtq's protocol, issued in batches of
 * --batch tasks from one client, with no queue logic (no poll memo, no
 * lanes, no checks, no process run).
 *
 * The tasks are real task documents (mtq_task_build, mtq_task_to_bson),
 * inserted before the clock starts into live collections of --segment tasks
 * each (bounded, as the store keeps its own).  Then, per batch:
 *
 *   find     up to B queued tasks from the front of the current segment
 *   claim    insert B leases, insert B claims (unordered inserts),
 *            mark the B tasks running (one update command, a statement
 *            per _id),
 *            insert B events (queued -> running)
 *   end      insert B outcomes into results, insert B events (running ->
 *            done), delete the B live documents and the B leases (one
 *            delete command each, a statement per _id), insert B run
 *            records
 *
 * one read and nine writes per batch: ten round trips for B tasks.  The
 * writes are those the brief of issue 10 lists as the minimum a task needs
 * (lease insert, claim insert, mark running, events, outcome, live
 * document delete, lease delete, run record); mtq's end lock (a second
 * claim record) is not among them.  Collections are ceiling.* in the
 * database of --uri, never mtq's. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

typedef struct {
  mongoc_collection_t *leases, *claims, *events, *results, *runs;
} colls_t;

typedef struct {
  size_t n;
  bson_oid_t *ids;
  bson_t **docs; /* the tasks as found */
  char (*keys)[40];
} batch_t;

/* Inserts k documents with one unordered insert, then destroys them. */
static bool insert_all(mongoc_collection_t *coll, bson_t **docs, size_t k, bson_error_t *e) {
  bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
  bool ok = mongoc_collection_insert_many(coll, (const bson_t **)docs, k, opts, NULL, e);
  bson_destroy(opts);
  for (size_t i = 0; i < k; i++) {
    bson_destroy(docs[i]);
  }
  return ok;
}

/* One write command of the batch's statements (find_batch stops the run
 * before an empty batch), one per _id: an update with update, a delete
 * without; keys = true writes by the keys instead of the ids.  Per-_id statements, not one {_id: {$in: [...]}}: FerretDB on
 * SQLite pushes down only {_id: X} and applies $in in Go to every
 * document, and the store writes the same way (common/store/bulk.c). */
static bool write_each(mongoc_collection_t *coll, const batch_t *b, bool keys,
                       const bson_t *update, bson_error_t *e) {
  bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
  mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll, opts);
  for (size_t i = 0; i < b->n; i++) {
    bson_t filter = BSON_INITIALIZER;
    if (keys) {
      BSON_APPEND_UTF8(&filter, "_id", b->keys[i]);
    } else {
      BSON_APPEND_OID(&filter, "_id", &b->ids[i]);
    }
    if (update) {
      mongoc_bulk_operation_update_one_with_opts(bulk, &filter, update, NULL, NULL);
    } else {
      mongoc_bulk_operation_remove_one_with_opts(bulk, &filter, NULL, NULL);
    }
    bson_destroy(&filter);
  }
  bson_t reply; /* always initialised by the execute */
  bool ok = mongoc_bulk_operation_execute(bulk, &reply, e) != 0;
  bson_destroy(&reply);
  mongoc_bulk_operation_destroy(bulk);
  bson_destroy(opts);
  return ok;
}

static bool find_batch(mongoc_collection_t *live, size_t max, batch_t *b, bson_error_t *e) {
  bson_t *filter = BCON_NEW("status", BCON_UTF8("queued"), "is_enable", BCON_BOOL(true));
  bson_t *opts = BCON_NEW("limit", BCON_INT64((int64_t)max));
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(live, filter, opts, NULL);
  const bson_t *doc;
  b->n = 0;
  while (mongoc_cursor_next(cur, &doc)) {
    bson_iter_t it;
    if (b->n < max && bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &b->ids[b->n]);
      char hex[25];
      bson_oid_to_string(&b->ids[b->n], hex);
      snprintf(b->keys[b->n], sizeof b->keys[b->n], "%s:0", hex);
      b->docs[b->n++] = bson_copy(doc);
    }
  }
  bool ok = !mongoc_cursor_error(cur, e);
  mongoc_cursor_destroy(cur);
  bson_destroy(opts);
  bson_destroy(filter);
  return ok;
}

static bool claim_batch(const colls_t *c, mongoc_collection_t *live, const batch_t *b,
                        bson_error_t *e) {
  bson_t **docs = bson_malloc(b->n * sizeof *docs);
  int64_t now = mtq_now_ms();
  for (size_t i = 0; i < b->n; i++) {
    docs[i] = BCON_NEW("_id", BCON_UTF8(b->keys[i]), "task", BCON_OID(&b->ids[i]), "worker",
                       BCON_UTF8("ceiling"), "lease_ms", BCON_INT64(30000), "renewals",
                       BCON_INT64(0), "at", BCON_DATE_TIME(now));
  }
  bool ok = insert_all(c->leases, docs, b->n, e);
  for (size_t i = 0; i < b->n; i++) {
    docs[i] = BCON_NEW("_id", BCON_UTF8(b->keys[i]), "task", BCON_OID(&b->ids[i]), "by",
                       BCON_UTF8("ceiling"), "kind", BCON_UTF8("run"), "at", BCON_DATE_TIME(now));
  }
  ok = ok && insert_all(c->claims, docs, b->n, e);
  bson_t *running = BCON_NEW("$set", "{", "status", BCON_UTF8("running"), "worker",
                             BCON_UTF8("ceiling"), "claimed_at", BCON_DATE_TIME(now), "attempt",
                             BCON_INT32(1), "}");
  ok = ok && write_each(live, b, false, running, e);
  bson_destroy(running);
  for (size_t i = 0; i < b->n; i++) {
    char key[64];
    snprintf(key, sizeof key, "%s:running", b->keys[i]);
    docs[i] = BCON_NEW("_id", BCON_UTF8(key), "task", BCON_OID(&b->ids[i]), "from",
                       BCON_UTF8("queued"), "to", BCON_UTF8("running"), "by",
                       BCON_UTF8("ceiling"), "at", BCON_DATE_TIME(now));
  }
  ok = ok && insert_all(c->events, docs, b->n, e);
  bson_free(docs);
  return ok;
}

static bool end_batch(const colls_t *c, mongoc_collection_t *live, const batch_t *b,
                      bson_error_t *e) {
  bson_t **docs = bson_malloc(b->n * sizeof *docs);
  int64_t now = mtq_now_ms();
  for (size_t i = 0; i < b->n; i++) {
    docs[i] = bson_new();
    bson_copy_to_excluding_noinit(b->docs[i], docs[i], "status", "result", "finished_at", NULL);
    BSON_APPEND_UTF8(docs[i], "status", "done");
    bson_t empty = BSON_INITIALIZER;
    BSON_APPEND_DOCUMENT(docs[i], "result", &empty);
    BSON_APPEND_DATE_TIME(docs[i], "finished_at", now);
  }
  bool ok = insert_all(c->results, docs, b->n, e);
  for (size_t i = 0; i < b->n; i++) {
    char key[64];
    snprintf(key, sizeof key, "%s:done", b->keys[i]);
    docs[i] = BCON_NEW("_id", BCON_UTF8(key), "task", BCON_OID(&b->ids[i]), "from",
                       BCON_UTF8("running"), "to", BCON_UTF8("done"), "by",
                       BCON_UTF8("ceiling"), "at", BCON_DATE_TIME(now));
  }
  ok = ok && insert_all(c->events, docs, b->n, e);
  ok = ok && write_each(live, b, false, NULL, e) && write_each(c->leases, b, true, NULL, e);
  for (size_t i = 0; i < b->n; i++) {
    docs[i] = BCON_NEW("_id", BCON_UTF8(b->keys[i]), "task", BCON_OID(&b->ids[i]), "func",
                       BCON_UTF8("noop"), "worker", BCON_UTF8("ceiling"), "outcome",
                       BCON_UTF8("done"), "wait_ms", BCON_INT64(0), "run_ms", BCON_INT64(0),
                       "at", BCON_DATE_TIME(now));
  }
  ok = ok && insert_all(c->runs, docs, b->n, e);
  bson_free(docs);
  return ok;
}

/* Inserts n task documents into segments of seg, batch at a time (at most
 * 1000): the ceiling's live tasks before its clock starts, and the insert
 * ceiling's whole work. */
#define FILL_BATCH_MAX 1000
static size_t fill_segments(mongoc_client_t *client, const char *db, int64_t n, int64_t seg,
                            int64_t batch) {
  size_t nseg = (size_t)((n + seg - 1) / seg);
  size_t per = batch > 0 && batch < FILL_BATCH_MAX ? (size_t)batch : FILL_BATCH_MAX;
  bson_error_t e;
  bson_t *docs[FILL_BATCH_MAX];
  for (size_t s = 0; s < nseg; s++) {
    char name[64];
    snprintf(name, sizeof name, "ceiling.live.%zu", s);
    mongoc_collection_t *live = mongoc_client_get_collection(client, db, name);
    mongoc_collection_drop(live, NULL);
    int64_t in_seg = (int64_t)s * seg + seg <= n ? seg : n - (int64_t)s * seg;
    for (int64_t i = 0; i < in_seg;) {
      size_t k = 0;
      for (; k < per && i < in_seg; k++, i++) {
        mtq_enqueue_opts_t eo = {.channel = "ceiling", .func = "noop", .args_json = "{}"};
        mtq_task_t t;
        mtq_task_init(&t);
        if (!mtq_task_build(&t, &eo, mtq_now_ms(), &e)) {
          bench_die("build", &e);
        }
        docs[k] = bson_new();
        mtq_task_to_bson(&t, docs[k]);
        mtq_task_cleanup(&t);
      }
      if (!insert_all(live, docs, k, &e)) {
        bench_die("ceiling fill", &e);
      }
    }
    mongoc_collection_destroy(live);
  }
  return nseg;
}

/* A driver client for o->uri and its database (mtq by default), or NULL
 * after saying why.  The caller destroys both. */
int bench_ceiling(const bench_opts_t *o) {
  mongoc_uri_t *uri;
  const char *db;
  mongoc_client_t *client = bench_connect_raw(o, &uri, &db);
  if (!client) {
    return 2;
  }
  colls_t c = {
      .leases = mongoc_client_get_collection(client, db, "ceiling.leases"),
      .claims = mongoc_client_get_collection(client, db, "ceiling.claims"),
      .events = mongoc_client_get_collection(client, db, "ceiling.events"),
      .results = mongoc_client_get_collection(client, db, "ceiling.results"),
      .runs = mongoc_client_get_collection(client, db, "ceiling.runs"),
  };
  mongoc_collection_t *all[] = {c.leases, c.claims, c.events, c.results, c.runs};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    mongoc_collection_drop(all[i], NULL);
  }
  size_t nseg = fill_segments(client, db, o->n, o->segment, FILL_BATCH_MAX);
  size_t max = (size_t)o->batch;
  batch_t b = {.ids = bson_malloc(max * sizeof *b.ids), .docs = bson_malloc(max * sizeof *b.docs),
               .keys = bson_malloc(max * sizeof *b.keys)};
  bson_error_t e = {0};
  bool ok = true;
  int64_t done = 0, batches = 0, t0 = bench_now_us();
  for (size_t s = 0; ok && s < nseg && bench_since_s(t0) < o->max_s; s++) {
    char name[64];
    snprintf(name, sizeof name, "ceiling.live.%zu", s);
    mongoc_collection_t *live = mongoc_client_get_collection(client, db, name);
    while (ok && bench_since_s(t0) < o->max_s) {
      ok = find_batch(live, max, &b, &e);
      if (!ok || b.n == 0) {
        break;
      }
      ok = claim_batch(&c, live, &b, &e) && end_batch(&c, live, &b, &e);
      for (size_t i = 0; i < b.n; i++) {
        bson_destroy(b.docs[i]);
      }
      done += ok ? (int64_t)b.n : 0;
      batches++;
    }
    mongoc_collection_destroy(live);
  }
  double secs = bench_since_s(t0);
  if (!ok) {
    fprintf(stderr, "mtq-bench: ceiling: %s\n", e.message);
  }
  printf("ceiling_n=%lld\nceiling_batch=%lld\nceiling_segment=%lld\nceiling_tasks=%lld\n"
         "ceiling_round_trips=%lld\nceiling_s=%.2f\nceiling_per_s=%.1f\nceiling_complete=%s\n",
         (long long)o->n, (long long)o->batch, (long long)o->segment, (long long)done,
         (long long)batches * 10, secs, secs > 0 ? (double)done / secs : 0,
         done == o->n ? "yes" : "no");
  bson_free(b.ids);
  bson_free(b.docs);
  bson_free(b.keys);
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    mongoc_collection_destroy(all[i]);
  }
  mongoc_client_destroy(client);
  mongoc_uri_destroy(uri);
  return ok && done > 0 ? 0 : 1;
}

/* The insert ceiling: what bulk enqueue is measured against.  The same n
 * task documents (built by mtq_task_build, as a producer builds them),
 * inserted --batch at a time by unordered inserts into collections of
 * --segment, from one client with no queue logic: no channel read, no
 * back-pressure, no dedupe, no signature, no listing, no wake-up. */
int bench_inserts(const bench_opts_t *o) {
  mongoc_uri_t *uri;
  const char *db;
  mongoc_client_t *client = bench_connect_raw(o, &uri, &db);
  if (!client) {
    return 2;
  }
  int64_t t0 = bench_now_us();
  fill_segments(client, db, o->n, o->segment, o->batch);
  double secs = bench_since_s(t0);
  printf("inserts_n=%lld\ninserts_batch=%lld\ninserts_segment=%lld\ninserts_s=%.2f\n"
         "inserts_per_s=%.1f\n",
         (long long)o->n, (long long)o->batch, (long long)o->segment, secs,
         secs > 0 ? (double)o->n / secs : 0);
  mongoc_client_destroy(client);
  mongoc_uri_destroy(uri);
  return 0;
}
