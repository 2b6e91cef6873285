/* channel.c - declaring channels (their collections and indexes) and
 * reading their documents (see mtq_store.h). */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "segment.h"

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
    mongoc_collection_t *lane = mtq__seg_coll(store, client, channel, p, "");
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

bool mtq__channel_read(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                       mtq__channel_doc_t *out, bson_error_t *error) {
  mongoc_collection_t *coll = mtq__coll(store, client, "channels");
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(channel));
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
  const bson_t *doc;
  *out = (mtq__channel_doc_t){0, -1, 0};
  bool found = mongoc_cursor_next(cur, &doc);
  bson_iter_t it;
  if (found && bson_iter_init_find(&it, doc, "max_backlog") && BSON_ITER_HOLDS_NUMBER(&it)) {
    out->max_backlog = bson_iter_as_int64(&it);
  }
  if (found && bson_iter_init_find(&it, doc, "backlog") && BSON_ITER_HOLDS_NUMBER(&it)) {
    out->backlog = bson_iter_as_int64(&it);
  }
  if (found && bson_iter_init_find(&it, doc, "backlog_at") && BSON_ITER_HOLDS_DATE_TIME(&it)) {
    out->backlog_at_ms = bson_iter_date_time(&it);
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
  mtq__channel_doc_t doc;
  bool ok = mtq__channel_read(store, client, channel, &doc, error);
  mtq__store_push(store, client);
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

bool mtq_store_publish_backlog(mtq_store_t *store, const char *channel, int64_t *n,
                               bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  bool ok = mtq__channel_backlog(store, client, channel, n, error);
  if (ok) {
    /* Producers add one for each task they enqueue meanwhile (enqueue.c):
     * an enqueue between our count and this write is not in either, which
     * the producers' headroom covers. */
    mongoc_collection_t *coll = mtq__coll(store, client, "channels");
    bson_t *sel = BCON_NEW("_id", BCON_UTF8(channel));
    bson_t *upd = BCON_NEW("$set", "{", "backlog", BCON_INT64(*n), "backlog_at",
                           BCON_DATE_TIME(mtq_now_ms()), "}");
    ok = mongoc_collection_update_one(coll, sel, upd, NULL, NULL, error);
    bson_destroy(upd);
    bson_destroy(sel);
    mongoc_collection_destroy(coll);
  }
  mtq__store_push(store, client);
  return ok;
}
