/* store.c - the connection, collections and channels (see mtq_store.h). */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "store_private.h"

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
  store->uri = uri;
  const char *db = mongoc_uri_get_database(uri);
  store->db_name = bson_strdup(db && *db ? db : "mtq");
  pthread_mutex_init(&store->lock, NULL);
  return store;
}

void mtq_store_destroy(mtq_store_t *store) {
  if (!store) {
    return;
  }
  mongoc_client_pool_destroy(store->pool);
  mongoc_uri_destroy(store->uri);
  bson_free(store->db_name);
  bson_strfreev(store->known_channels);
  pthread_mutex_destroy(&store->lock);
  bson_free(store);
}

void mtq_uri_describe(const char *uri_string, char *buf, size_t size) {
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

mongoc_client_t *mtq__store_pop(mtq_store_t *store) { return mongoc_client_pool_pop(store->pool); }

void mtq__store_push(mtq_store_t *store, mongoc_client_t *client) {
  mongoc_client_pool_push(store->pool, client);
}

mongoc_collection_t *mtq__coll(mtq_store_t *store, mongoc_client_t *client, const char *name) {
  return mongoc_client_get_collection(client, store->db_name, name);
}

mongoc_collection_t *mtq__lane(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                               int32_t priority) {
  char name[MTQ_NAME_MAX + 16];
  snprintf(name, sizeof name, "q.%s.p%d", channel, (int)priority);
  return mtq__coll(store, client, name);
}

mongoc_collection_t *mtq__home(mtq_store_t *store, mongoc_client_t *client,
                              const mtq_task_t *task) {
  return mtq_task_is_parent(task) ? mtq__coll(store, client, MTQ__DISPATCH)
                                  : mtq__lane(store, client, task->channel, task->priority);
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

bool mtq_store_ping(mtq_store_t *store, bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  bson_t cmd = BSON_INITIALIZER;
  BSON_APPEND_INT32(&cmd, "ping", 1);
  bool ok = mongoc_client_command_simple(client, "admin", &cmd, NULL, NULL, error);
  bson_destroy(&cmd);
  mtq__store_push(store, client);
  return ok;
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

/* --- channels ------------------------------------------------------------- */

static bool create_index(mongoc_collection_t *coll, const char *name, bson_t *keys,
                         bson_error_t *error) {
  bson_t cmd = BSON_INITIALIZER, indexes, index;
  BSON_APPEND_UTF8(&cmd, "createIndexes", mongoc_collection_get_name(coll));
  BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &indexes);
  BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &index);
  BSON_APPEND_DOCUMENT(&index, "key", keys);
  BSON_APPEND_UTF8(&index, "name", name);
  bson_append_document_end(&indexes, &index);
  bson_append_array_end(&cmd, &indexes);
  bool ok = mongoc_collection_write_command_with_opts(coll, &cmd, NULL, NULL, error);
  bson_destroy(&cmd);
  bson_destroy(keys);
  return ok;
}

/* Indexes serve MongoDB and FerretDB's PostgreSQL backend; FerretDB's SQLite
 * backend keeps them but only uses the _id one (see README, "Polling"). */
static bool declare_lane_indexes(mongoc_collection_t *coll, bson_error_t *error) {
  return create_index(coll, "poll",
                      BCON_NEW("status", BCON_INT32(1), "is_enable", BCON_INT32(1), "priority",
                               BCON_INT32(1), "created_at", BCON_INT32(1)),
                      error) &&
         create_index(coll, "held_by", BCON_NEW("worker", BCON_INT32(1), "status", BCON_INT32(1)),
                      error);
}

static void remember_channel(mtq_store_t *store, const char *channel) {
  pthread_mutex_lock(&store->lock);
  size_t n = 0;
  while (store->known_channels && store->known_channels[n]) {
    if (strcmp(store->known_channels[n], channel) == 0) {
      pthread_mutex_unlock(&store->lock);
      return;
    }
    n++;
  }
  store->known_channels = bson_realloc(store->known_channels, (n + 2) * sizeof(char *));
  store->known_channels[n] = bson_strdup(channel);
  store->known_channels[n + 1] = NULL;
  pthread_mutex_unlock(&store->lock);
}

static bool channel_known(mtq_store_t *store, const char *channel) {
  bool known = false;
  pthread_mutex_lock(&store->lock);
  for (size_t i = 0; store->known_channels && store->known_channels[i]; i++) {
    known = known || strcmp(store->known_channels[i], channel) == 0;
  }
  pthread_mutex_unlock(&store->lock);
  return known;
}

bool mtq_store_declare_channel(mtq_store_t *store, const char *channel, int64_t max_backlog,
                               bson_error_t *error) {
  if (!mtq_name_valid(channel)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a valid channel name", channel);
    return false;
  }
  mongoc_client_t *client = mtq__store_pop(store);
  bool ok = true;
  for (int32_t p = MTQ_PRIORITY_MIN; ok && p <= MTQ_PRIORITY_MAX; p++) {
    mongoc_collection_t *lane = mtq__lane(store, client, channel, p);
    ok = declare_lane_indexes(lane, error);
    mongoc_collection_destroy(lane);
  }
  mongoc_collection_t *coll = NULL;
  if (ok) {
    coll = mtq__delayed(store, client, channel);
    ok = create_index(coll, "due", BCON_NEW("not_before", BCON_INT32(1)), error);
    mongoc_collection_destroy(coll);
  }
  if (ok) {
    coll = mtq__coll(store, client, "events");
    ok = create_index(coll, "by_task", BCON_NEW("task", BCON_INT32(1)), error);
    mongoc_collection_destroy(coll);
    coll = mtq__coll(store, client, "results");
    ok = ok && create_index(coll, "by_channel",
                      BCON_NEW("channel", BCON_INT32(1), "status", BCON_INT32(1)), error) &&
         create_index(coll, "by_finish", BCON_NEW("finished_at", BCON_INT32(1)), error);
    mongoc_collection_destroy(coll);
  }
  if (ok) {
    /* Retention removes a finished task's claims by task (store_retention.c). */
    coll = mtq__coll(store, client, "claims");
    ok = create_index(coll, "by_task", BCON_NEW("task", BCON_INT32(1)), error);
    mongoc_collection_destroy(coll);
  }
  if (ok) {
    /* The channel document goes last: a channel that producers can see has
     * all its collections and indexes. */
    coll = mtq__coll(store, client, "channels");
    bson_t *sel = BCON_NEW("_id", BCON_UTF8(channel));
    bson_t *upd = BCON_NEW("$setOnInsert", "{", "created_at", BCON_DATE_TIME(mtq_now_ms()), "}",
                           "$set", "{", "max_backlog", BCON_INT64(max_backlog), "}");
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "upsert", true);
    ok = mongoc_collection_update_one(coll, sel, upd, &opts, NULL, error);
    bson_destroy(&opts);
    bson_destroy(upd);
    bson_destroy(sel);
    mongoc_collection_destroy(coll);
  }
  mtq__store_push(store, client);
  if (ok) {
    remember_channel(store, channel);
  }
  return ok;
}

bool mtq_store_check_channel(mtq_store_t *store, const char *channel, bson_error_t *error) {
  if (!mtq_name_valid(channel)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a valid channel name", channel ? channel : "");
    return false;
  }
  if (channel_known(store, channel)) {
    return true;
  }
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, "channels");
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(channel));
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
  const bson_t *doc;
  bool found = mongoc_cursor_next(cur, &doc);
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  if (ok && !found) {
    mtq_error_set(error, MTQ_ERR_UNKNOWN_CHANNEL,
                  "unknown channel '%s' (channels are declared by mtqd's [coordinator] channels)",
                  channel);
    return false;
  }
  if (ok) {
    remember_channel(store, channel);
  }
  return ok;
}

bool mtq_store_channels(mtq_store_t *store, char ***names, bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, "channels");
  bson_t filter = BSON_INITIALIZER;
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
  size_t n = 0;
  char **out = bson_malloc0(sizeof(char *));
  const bson_t *doc;
  while (mongoc_cursor_next(cur, &doc)) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it) &&
        mtq_name_valid(bson_iter_utf8(&it, NULL))) {
      out = bson_realloc(out, (n + 2) * sizeof(char *));
      out[n++] = bson_strdup(bson_iter_utf8(&it, NULL));
      out[n] = NULL;
    }
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  bson_destroy(&filter);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  if (!ok) {
    bson_strfreev(out);
    out = NULL;
  }
  *names = out;
  return ok;
}
