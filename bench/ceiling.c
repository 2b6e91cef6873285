/* ceiling.c - the raw rate of the database operations one task needs, as
 * the store issues them for a task that runs shorter than a lease renewal:
 * read the channel document, insert the task; poll; insert the lease and
 * the claim, mark it running, record the claim's event; insert the end
 * lock, record the end's event, insert the outcome, delete the task and the
 * lease; read the outcome. */
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

typedef struct {
  mongoc_collection_t *lane, *claims, *results, *leases, *events, *channels;
} colls_t;

static bool insert_key(mongoc_collection_t *coll, const char *key, const bson_oid_t *oid,
                       bson_error_t *e) {
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(key), "task", BCON_OID(oid), "at",
                         BCON_DATE_TIME(0));
  bool ok = mongoc_collection_insert_one(coll, doc, NULL, NULL, e);
  bson_destroy(doc);
  return ok;
}

static bool read_all(mongoc_collection_t *coll, const bson_t *filter, const bson_t *opts,
                     bson_error_t *e) {
  const bson_t *doc;
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
  while (mongoc_cursor_next(cur, &doc)) {
  }
  bool ok = !mongoc_cursor_error(cur, e);
  mongoc_cursor_destroy(cur);
  return ok;
}

static bool run_one(const colls_t *c, int i, int id) {
  mongoc_collection_t *lane = c->lane, *claims = c->claims, *results = c->results;
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
  char end_key[80], ev1[96], ev2[96];
  snprintf(end_key, sizeof end_key, "%s:end", key);
  snprintf(ev1, sizeof ev1, "%s:running", key);
  snprintf(ev2, sizeof ev2, "%s:done", key);
  bson_t *channel = BCON_NEW("_id", BCON_UTF8("ceiling"));
  bool ok = read_all(c->channels, channel, NULL, &e) &&
            mongoc_collection_insert_one(lane, task, NULL, NULL, &e) &&
            read_all(lane, poll, limit, &e) && insert_key(c->leases, key, &oid, &e) &&
            mongoc_collection_insert_one(claims, claim, NULL, NULL, &e) &&
            mongoc_collection_update_one(lane, by_id, running, NULL, NULL, &e) &&
            insert_key(c->events, ev1, &oid, &e) && insert_key(claims, end_key, &oid, &e) &&
            insert_key(c->events, ev2, &oid, &e) &&
            mongoc_collection_insert_one(results, task, NULL, NULL, &e) &&
            mongoc_collection_delete_one(lane, by_id, NULL, NULL, &e);
  bson_t *lease = BCON_NEW("_id", BCON_UTF8(key));
  ok = ok && mongoc_collection_delete_one(c->leases, lease, NULL, NULL, &e) &&
       read_all(results, by_id, NULL, &e);
  bson_destroy(lease);
  bson_destroy(channel);
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
  colls_t c = {
      .lane = mongoc_client_get_collection(client, job->db, lane_name),
      .claims = mongoc_client_get_collection(client, job->db, "ceiling.claims"),
      .results = mongoc_client_get_collection(client, job->db, "ceiling.results"),
      .leases = mongoc_client_get_collection(client, job->db, "ceiling.leases"),
      .events = mongoc_client_get_collection(client, job->db, "ceiling.events"),
      .channels = mongoc_client_get_collection(client, job->db, "ceiling.channels"),
  };
  job->ok = true;
  for (int i = 0; job->ok && i < job->n; i++) {
    job->ok = run_one(&c, i, job->id);
  }
  mongoc_collection_t *all[] = {c.lane, c.claims, c.results, c.leases, c.events, c.channels};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
    mongoc_collection_destroy(all[k]);
  }
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
