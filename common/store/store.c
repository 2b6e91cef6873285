/* store.c - the connection and the collections (see store_private.h). */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "segment.h"

/* How long a majority write may wait for its acknowledgement before it
 * fails (transient: the caller retries). */
#define MTQ__MAJORITY_TIMEOUT_MS 10000

static pthread_once_t mongoc_once = PTHREAD_ONCE_INIT;

/* The driver logs through its own handler to stdout/stderr; its debug and
 * trace records (server monitoring) are noise to an operator, and its
 * warnings (such as FerretDB lacking endSessions) are not actionable. */
static void driver_log(mongoc_log_level_t level, const char *domain, const char *message,
                       void *data) {
  if (level <= MONGOC_LOG_LEVEL_CRITICAL) {
    mtq_err("driver %s: %s", domain, message);
  } else if (level <= MONGOC_LOG_LEVEL_WARNING) {
    mtq_debug("driver %s: %s", domain, message);
  }
}

/* Every command a client of the pool sends is counted by name and outcome,
 * with its latency, in the store's own registry (mtq_store_db_stats): the
 * driver calls these on whichever thread used the client, so the registry
 * takes its lock.  A command that reached no server (none selectable) is
 * never sent and is not seen here; its caller's error says so. */
static void count_command(mtq_store_t *store, const char *name, const char *outcome,
                          int64_t duration_us) {
  const char *const counted[] = {"command", name, "outcome", outcome, NULL};
  const char *const timed[] = {"command", name, NULL};
  double secs = (double)duration_us / 1e6;
  mtq_metrics_count(store->db_metrics, "db_commands", counted, 1);
  mtq_metrics_count(store->db_metrics, "db_command_seconds", timed, secs);
  mtq_metrics_observe(store->db_metrics, "db_command_duration_seconds", NULL, secs);
}

static void command_succeeded(const mongoc_apm_command_succeeded_t *event) {
  count_command(mongoc_apm_command_succeeded_get_context(event),
                mongoc_apm_command_succeeded_get_command_name(event), "ok",
                mongoc_apm_command_succeeded_get_duration(event));
}

static void command_failed(const mongoc_apm_command_failed_t *event) {
  count_command(mongoc_apm_command_failed_get_context(event),
                mongoc_apm_command_failed_get_command_name(event), "error",
                mongoc_apm_command_failed_get_duration(event));
}

static void init_driver(void) {
  mongoc_log_set_handler(driver_log, NULL);
  mongoc_init();
}

mtq_store_t *mtq_store_new(const char *uri_string, const char *appname, bson_error_t *error) {
  pthread_once(&mongoc_once, init_driver);
  bson_error_t uerr;
  mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_string, &uerr);
  if (!uri) {
    mtq_error_set(error, MTQ_ERR_INVALID, "bad database URI: %s", uerr.message);
    return NULL;
  }
  /* The driver's 30 s default would make a CLI call against a stopped
   * database look like a hang; a URI that sets these keeps its own. */
  if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS)) {
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
  }
  if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS)) {
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, 3000);
  }
  if (appname && !mongoc_uri_has_option(uri, MONGOC_URI_APPNAME)) {
    mongoc_uri_set_appname(uri, appname);
  }
  mongoc_client_pool_t *pool = mongoc_client_pool_new_with_error(uri, &uerr);
  if (!pool) {
    mongoc_uri_destroy(uri);
    mtq_error_set(error, MTQ_ERR_INVALID, "bad database URI: %s", uerr.message);
    return NULL;
  }
  mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
  mtq_store_t *store = bson_malloc0(sizeof *store);
  store->pool = pool;
  store->db_metrics = mtq_metrics_new();
  /* Before the first pop: the pool hands its callbacks to every client. */
  mongoc_apm_callbacks_t *apm = mongoc_apm_callbacks_new();
  mongoc_apm_set_command_succeeded_cb(apm, command_succeeded);
  mongoc_apm_set_command_failed_cb(apm, command_failed);
  mongoc_client_pool_set_apm_callbacks(pool, apm, store);
  mongoc_apm_callbacks_destroy(apm);
  store->uri = uri;
  const char *db = mongoc_uri_get_database(uri);
  store->db_name = bson_strdup(db && *db ? db : "mtq");
  pthread_mutex_init(&store->lock, NULL);
  pthread_mutex_init(&store->segment_lock, NULL);
  return store;
}

void mtq_store_destroy(mtq_store_t *store) {
  if (!store) {
    return;
  }
  mongoc_client_pool_destroy(store->pool);
  mtq_metrics_destroy(store->db_metrics);
  mongoc_uri_destroy(store->uri);
  bson_free(store->db_name);
  bson_strfreev(store->known_channels);
  bson_free(store->segs);
  bson_free(store->recon);
  mtq__wake_cache_free(store->wake);
  pthread_mutex_destroy(&store->lock);
  pthread_mutex_destroy(&store->segment_lock);
  bson_free(store);
}

void mtq_uri_describe(const char *uri_string, char *buf, size_t size) {
  /* The driver warns about a URI it cannot parse through its log handler:
   * ours, so that the caller's message is the only one. */
  pthread_once(&mongoc_once, init_driver);
  mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_string, NULL);
  size_t off = 0;
  buf[0] = '\0';
  if (!uri) {
    snprintf(buf, size, "(malformed URI)");
    return;
  }
  for (const mongoc_host_list_t *h = mongoc_uri_get_hosts(uri); h && off < size; h = h->next) {
    off += (size_t)snprintf(buf + off, size - off, "%s%s", off ? "," : "", h->host_and_port);
  }
  if (off == 0 && mongoc_uri_get_srv_hostname(uri)) {
    off += (size_t)snprintf(buf, size, "%s", mongoc_uri_get_srv_hostname(uri));
  }
  const char *db = mongoc_uri_get_database(uri);
  if (off < size) {
    snprintf(buf + off, size - off, "/%s", db && *db ? db : "mtq");
  }
  mongoc_uri_destroy(uri);
}

const char *mtq_store_db_name(const mtq_store_t *store) { return store->db_name; }

void mtq_store_db_stats(mtq_store_t *store, bson_t *out) {
  mtq_metrics_to_bson(store->db_metrics, out);
}

mongoc_client_t *mtq__store_pop(mtq_store_t *store) { return mongoc_client_pool_pop(store->pool); }

void mtq__store_push(mtq_store_t *store, mongoc_client_t *client) {
  mongoc_client_pool_push(store->pool, client);
}

/* The collections whose records decide who owns a task: the claim and
 * end-lock records, leases, outcomes, dedupe keys, parents and the live
 * task documents; the tick records, which fire a schedule's tick once; and
 * the leadership records of the coordinators.
 * On a replica set a write acknowledged by the primary alone can be rolled
 * back by a failover, and a read can see a write that will be: either
 * could hand one task to two holders.  So these are
 * written with w: majority and read with readConcern majority.  A
 * standalone server, FerretDB and mongo-java-server take both as they
 * are (checked by the integration tests on both). */
static bool decides_ownership(const char *name) {
  static const char *const names[] = {"claims", "leases", "results", "dedupe",
                                      MTQ__DISPATCH, "ticks", "leaders"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcmp(name, names[i]) == 0) {
      return true;
    }
  }
  return strncmp(name, "q.", 2) == 0;
}

mongoc_collection_t *mtq__coll(mtq_store_t *store, mongoc_client_t *client, const char *name) {
  mongoc_collection_t *coll = mongoc_client_get_collection(client, store->db_name, name);
  if (decides_ownership(name)) {
    mongoc_write_concern_t *wc = mongoc_write_concern_new();
    mongoc_write_concern_set_wmajority(wc, MTQ__MAJORITY_TIMEOUT_MS);
    mongoc_collection_set_write_concern(coll, wc);
    mongoc_write_concern_destroy(wc);
    mongoc_read_concern_t *rc = mongoc_read_concern_new();
    mongoc_read_concern_set_level(rc, MONGOC_READ_CONCERN_LEVEL_MAJORITY);
    mongoc_collection_set_read_concern(coll, rc);
    mongoc_read_concern_destroy(rc);
  }
  return coll;
}

mongoc_collection_t *mtq__moved_lane(mtq_store_t *store, mongoc_client_t *client,
                                     const char *channel, int32_t priority) {
  char name[MTQ_NAME_MAX + 24];
  snprintf(name, sizeof name, "q.%s.p%d.moved", channel, (int)priority);
  return mtq__coll(store, client, name);
}

mongoc_collection_t *mtq__live_coll(mtq_store_t *store, mongoc_client_t *client,
                                    const char *channel, int32_t priority, bool moved,
                                    const char *seg) {
  return moved ? mtq__moved_lane(store, client, channel, priority)
               : mtq__seg_coll(store, client, channel, priority, seg);
}

mongoc_collection_t *mtq__home(mtq_store_t *store, mongoc_client_t *client,
                              const mtq_task_t *task) {
  return mtq_task_is_parent(task)
             ? mtq__coll(store, client, MTQ__DISPATCH)
             : mtq__live_coll(store, client, task->channel, task->priority, task->moved,
                              task->seg);
}

bool mtq__same_home(const mtq_task_t *a, const mtq_task_t *b) {
  return mtq_task_is_parent(a) == mtq_task_is_parent(b) && a->moved == b->moved &&
         a->priority == b->priority && strcmp(a->seg, b->seg) == 0 &&
         strcmp(a->channel, b->channel) == 0;
}

mongoc_collection_t *mtq__delayed(mtq_store_t *store, mongoc_client_t *client,
                                  const char *channel) {
  char name[MTQ_NAME_MAX + 16];
  snprintf(name, sizeof name, "q.%s.delayed", channel);
  return mtq__coll(store, client, name);
}

int mtq__server_kind(mtq_store_t *store, mongoc_client_t *client, bson_error_t *error) {
  pthread_mutex_lock(&store->lock);
  int kind = store->server_kind;
  pthread_mutex_unlock(&store->lock);
  if (kind) {
    return kind;
  }
  bson_t cmd = BSON_INITIALIZER, reply;
  BSON_APPEND_INT32(&cmd, "buildInfo", 1);
  if (mongoc_client_command_simple(client, "admin", &cmd, NULL, &reply, error)) {
    kind = bson_has_field(&reply, "ferretdbVersion") ? MTQ__SERVER_FERRETDB : MTQ__SERVER_MONGODB;
    pthread_mutex_lock(&store->lock);
    store->server_kind = kind;
    pthread_mutex_unlock(&store->lock);
  }
  bson_destroy(&reply);
  bson_destroy(&cmd);
  return kind;
}

bool mtq__find_by_id(mongoc_collection_t *coll, const bson_oid_t *id, bson_t *out, bool *found,
                     bson_error_t *error) {
  /* A filter of exactly {_id: X} is the one FerretDB's SQLite backend hands
   * to SQLite (a scan in C; its _id index goes unused); with any other key
   * FerretDB decodes and filters every document itself, several times
   * slower. */
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_OID(&filter, "_id", id);
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
  const bson_t *doc;
  *found = false;
  if (mongoc_cursor_next(cur, &doc)) {
    bson_copy_to(doc, out);
    *found = true;
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  bson_destroy(&filter);
  return ok;
}

bool mtq__token_at(mongoc_collection_t *coll, const bson_oid_t *id, int64_t *token,
                   bson_error_t *error) {
  bson_t doc = BSON_INITIALIZER;
  bool found = false;
  bson_iter_t it;
  bool ok = mtq__find_by_id(coll, id, &doc, &found, error);
  *token = found && bson_iter_init_find(&it, &doc, "token") && BSON_ITER_HOLDS_NUMBER(&it)
               ? bson_iter_as_int64(&it)
               : -1;
  /* No token (a task another program wrote, README "Producing tasks from
   * another language") is token 0, as mtq_task_from_bson reads it. */
  if (found && (!bson_iter_init_find(&it, &doc, "token") || BSON_ITER_HOLDS_NULL(&it))) {
    *token = 0;
  }
  bson_destroy(&doc);
  return ok;
}

bool mtq__each_doc(mongoc_collection_t *coll, const bson_t *filter, const bson_t *opts,
                   mtq__doc_fn fn, void *ctx, bson_error_t *error) {
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
  const bson_t *doc;
  while (mongoc_cursor_next(cur, &doc) && fn(ctx, doc)) {
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  return ok;
}

bool mtq__delete_in(mtq_store_t *store, mongoc_client_t *client, const char *name,
                    const char *field, const bson_t *ids, size_t *n, bson_error_t *error) {
  mongoc_collection_t *coll = mtq__coll(store, client, name);
  bson_t filter = BSON_INITIALIZER, in, reply;
  BSON_APPEND_DOCUMENT_BEGIN(&filter, field, &in);
  BSON_APPEND_ARRAY(&in, "$in", ids);
  bson_append_document_end(&filter, &in);
  bool ok = mongoc_collection_delete_many(coll, &filter, NULL, &reply, error);
  bson_iter_t it;
  if (ok && bson_iter_init_find(&it, &reply, "deletedCount") && BSON_ITER_HOLDS_NUMBER(&it)) {
    *n += (size_t)bson_iter_as_int64(&it);
  }
  bson_destroy(&reply);
  bson_destroy(&filter);
  mongoc_collection_destroy(coll);
  return ok;
}

bool mtq__find_into(mtq_store_t *store, const char *name, const bson_t *filter,
                    const bson_t *opts, const char *key, bson_t *out, bson_error_t *error) {
  bson_init(out);
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, name);
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
  const bson_t *doc;
  bson_t arr;
  BSON_APPEND_ARRAY_BEGIN(out, key, &arr);
  char idx[16];
  for (uint32_t n = 0; mongoc_cursor_next(cur, &doc); n++) {
    const char *k;
    bson_uint32_to_string(n, &k, idx, sizeof idx);
    BSON_APPEND_DOCUMENT(&arr, k, doc);
  }
  bson_append_array_end(out, &arr);
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

bool mtq__coll_empty(mongoc_collection_t *coll, bool *empty, bson_error_t *error) {
  bson_t filter = BSON_INITIALIZER;
  bson_t *opts = BCON_NEW("limit", BCON_INT64(1), "projection", "{", "_id", BCON_INT32(1), "}");
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
  const bson_t *doc;
  *empty = !mongoc_cursor_next(cur, &doc);
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  bson_destroy(opts);
  return ok;
}

/* How many documents coll holds, without reading them: FerretDB answers a
 * count by reading every document (about 100 us each on SQLite), but
 * $collStats' count from the table itself (under 1 us each); MongoDB and
 * other servers keep the figure in the collection's metadata. */
bool mtq__count_docs(mtq_store_t *store, mongoc_client_t *client, mongoc_collection_t *coll,
                     int64_t *n, bson_error_t *error) {
  if (mtq__server_kind(store, client, error) != MTQ__SERVER_FERRETDB) {
    *n = mongoc_collection_estimated_document_count(coll, NULL, NULL, NULL, error);
    return *n >= 0;
  }
  bson_t *pipeline = BCON_NEW("pipeline", "[", "{", "$collStats", "{", "count", "{", "}", "}",
                              "}", "]");
  mongoc_cursor_t *cur = mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
  const bson_t *doc;
  bson_iter_t it;
  *n = 0;
  if (mongoc_cursor_next(cur, &doc) && bson_iter_init_find(&it, doc, "count") &&
      BSON_ITER_HOLDS_NUMBER(&it)) {
    *n = bson_iter_as_int64(&it);
  }
  bson_error_t err;
  bool ok = !mongoc_cursor_error(cur, &err);
  /* A collection never written to does not exist yet: it holds nothing. */
  if (!ok && err.code == 26 /* NamespaceNotFound */) {
    ok = true;
  } else if (!ok && error) {
    *error = err;
  }
  mongoc_cursor_destroy(cur);
  bson_destroy(pipeline);
  return ok;
}
