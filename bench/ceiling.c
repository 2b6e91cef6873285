/* ceiling.c - the raw rate of the database operations one task needs. */
#include <pthread.h>
#include <stdio.h>

#include "bench.h"

typedef struct {
  mongoc_client_pool_t *pool;
  const char *db;
  int n;
  int id;
  bool ok;
} ceiling_job_t;

static bool run_one(mongoc_collection_t *lane, mongoc_collection_t *claims,
                    mongoc_collection_t *results, int i, int id) {
  bson_oid_t oid;
  bson_oid_init(&oid, NULL);
  bson_error_t e;
  bson_t *task = BCON_NEW("_id", BCON_OID(&oid), "func", BCON_UTF8("noop"), "version",
                          BCON_UTF8("1"), "args", "{", "i", BCON_INT32(i), "}", "priority",
                          BCON_INT32(0), "is_enable", BCON_BOOL(true), "status",
                          BCON_UTF8("queued"), "token", BCON_INT64(0), "created_at",
                          BCON_DATE_TIME(0));
  bson_t *by_id = BCON_NEW("_id", BCON_OID(&oid));
  bson_t *poll = BCON_NEW("status", BCON_UTF8("queued"), "is_enable", BCON_BOOL(true), "priority",
                          BCON_INT32(0));
  bson_t *limit = BCON_NEW("limit", BCON_INT64(1));
  char key[64], hex[25];
  bson_oid_to_string(&oid, hex);
  snprintf(key, sizeof key, "%s:0", hex);
  bson_t *claim = BCON_NEW("_id", BCON_UTF8(key), "task", BCON_OID(&oid));
  bson_t *running = BCON_NEW("$set", "{", "status", BCON_UTF8("running"), "worker",
                             BCON_UTF8("bench"), "}");
  bool ok = mongoc_collection_insert_one(lane, task, NULL, NULL, &e);
  const bson_t *doc;
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(lane, poll, limit, NULL);
  while (ok && mongoc_cursor_next(cur, &doc)) {
  }
  ok = ok && !mongoc_cursor_error(cur, &e);
  mongoc_cursor_destroy(cur);
  ok = ok && mongoc_collection_insert_one(claims, claim, NULL, NULL, &e) &&
       mongoc_collection_update_one(lane, by_id, running, NULL, NULL, &e);
  cur = mongoc_collection_find_with_opts(lane, by_id, NULL, NULL);
  while (ok && mongoc_cursor_next(cur, &doc)) {
  }
  mongoc_cursor_destroy(cur);
  ok = ok && mongoc_collection_insert_one(results, task, NULL, NULL, &e) &&
       mongoc_collection_delete_one(lane, by_id, NULL, NULL, &e);
  cur = mongoc_collection_find_with_opts(results, by_id, NULL, NULL);
  while (ok && mongoc_cursor_next(cur, &doc)) {
  }
  mongoc_cursor_destroy(cur);
  if (!ok) {
    fprintf(stderr, "ceiling: %s\n", e.message);
  }
  bson_destroy(task);
  bson_destroy(by_id);
  bson_destroy(poll);
  bson_destroy(limit);
  bson_destroy(claim);
  bson_destroy(running);
  return ok;
}

static void *ceiling_thread(void *arg) {
  ceiling_job_t *job = arg;
  mongoc_client_t *client = mongoc_client_pool_pop(job->pool);
  char lane_name[64];
  snprintf(lane_name, sizeof lane_name, "ceiling.lane%d", job->id);
  mongoc_collection_t *lane = mongoc_client_get_collection(client, job->db, lane_name);
  mongoc_collection_t *claims = mongoc_client_get_collection(client, job->db, "ceiling.claims");
  mongoc_collection_t *results = mongoc_client_get_collection(client, job->db, "ceiling.results");
  job->ok = true;
  for (int i = 0; job->ok && i < job->n; i++) {
    job->ok = run_one(lane, claims, results, i, job->id);
  }
  mongoc_collection_destroy(lane);
  mongoc_collection_destroy(claims);
  mongoc_collection_destroy(results);
  mongoc_client_pool_push(job->pool, client);
  return NULL;
}

double bench_ceiling(const char *uri_string, int n, int threads) {
  mongoc_uri_t *uri = mongoc_uri_new(uri_string);
  mongoc_client_pool_t *pool = mongoc_client_pool_new(uri);
  const char *db = mongoc_uri_get_database(uri) ? mongoc_uri_get_database(uri) : "mtq";
  pthread_t tids[64];
  ceiling_job_t jobs[64];
  int64_t t0 = bench_now_us();
  for (int t = 0; t < threads; t++) {
    jobs[t] = (ceiling_job_t){pool, db, n / threads, t, false};
    pthread_create(&tids[t], NULL, ceiling_thread, &jobs[t]);
  }
  bool ok = true;
  for (int t = 0; t < threads; t++) {
    pthread_join(tids[t], NULL);
    ok = ok && jobs[t].ok;
  }
  double secs = (double)(bench_now_us() - t0) / 1e6;
  double rate = ok ? (double)(n / threads * threads) / secs : 0;
  mongoc_client_pool_destroy(pool);
  mongoc_uri_destroy(uri);
  return rate;
}
