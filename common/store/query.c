/* query.c - read-only views for operators: list tasks, count them (see
 * mtq_store_admin.h). */
#include <string.h>

#include "mtq_error.h"
#include "segment.h"

/* Appends up to limit - out->n tasks of coll matching filter. */
static bool list_from(mongoc_collection_t *coll, const bson_t *filter, const char *channel,
                      size_t limit, mtq_task_list_t *out, bson_error_t *error) {
  if (out->n >= limit) {
    return true;
  }
  bson_t *opts = BCON_NEW("limit", BCON_INT64((int64_t)(limit - out->n)));
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
  const bson_t *doc;
  while (out->n < limit && mongoc_cursor_next(cur, &doc)) {
    mtq_task_t *t = mtq_task_list_push(out);
    bson_error_t perr;
    if (!mtq_task_from_bson(t, doc, channel, &perr)) {
      /* A quarantined record or a hand-damaged document: list what we can. */
      mtq_task_list_pop(out);
    }
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  bson_destroy(opts);
  return ok;
}

static bool list_channel(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                         mtq_state_t status, size_t limit, mtq_task_list_t *out,
                         bson_error_t *error) {
  bson_t filter = BSON_INITIALIZER;
  bool ok = true;
  if (status == MTQ_STATE_INVALID || !mtq_state_is_terminal(status)) {
    if (status == MTQ_STATE_DISABLED) {
      BSON_APPEND_BOOL(&filter, "is_enable", false); /* a view, not a stored status */
    } else if (status != MTQ_STATE_INVALID) {
      BSON_APPEND_UTF8(&filter, "status", mtq_state_name(status));
    }
    /* The delayed collection holds delayed, retry_wait and suspended tasks;
     * the lanes hold queued, running and suspended ones. */
    bool in_delayed = status != MTQ_STATE_QUEUED && status != MTQ_STATE_RUNNING;
    bool in_lanes = status != MTQ_STATE_DELAYED && status != MTQ_STATE_RETRY_WAIT;
    mtq__places_t it;
    mtq__places_init(&it, store, client, channel);
    for (mongoc_collection_t *coll; ok && out->n < limit && (coll = mtq__places_next(&it, error));) {
      if ((it.lane < 0 && in_delayed) || (it.lane >= 0 && in_lanes)) {
        ok = list_from(coll, &filter, channel, limit, out, error);
      }
      mongoc_collection_destroy(coll);
    }
    ok = ok && !it.failed;
    bson_reinit(&filter);
  }
  if (ok && (status == MTQ_STATE_INVALID || mtq_state_is_terminal(status))) {
    BSON_APPEND_UTF8(&filter, "channel", channel);
    if (status != MTQ_STATE_INVALID) {
      BSON_APPEND_UTF8(&filter, "status", mtq_state_name(status));
    }
    mongoc_collection_t *coll = mtq__coll(store, client, "results");
    ok = list_from(coll, &filter, channel, limit, out, error);
    mongoc_collection_destroy(coll);
  }
  bson_destroy(&filter);
  return ok;
}

bool mtq_store_list(mtq_store_t *store, const char *channel, mtq_state_t status, size_t limit,
                    mtq_task_list_t *out, bson_error_t *error) {
  char **channels = NULL;
  if (channel) {
    if (!mtq_store_check_channel(store, channel, error)) {
      return false;
    }
  } else if (!mtq_store_channels(store, &channels, error)) {
    return false;
  }
  mongoc_client_t *client = mtq__store_pop(store);
  bool ok = true;
  if (channel) {
    ok = list_channel(store, client, channel, status, limit, out, error);
  }
  for (size_t i = 0; ok && channels && channels[i]; i++) {
    ok = list_channel(store, client, channels[i], status, limit, out, error);
  }
  mtq__store_push(store, client);
  bson_strfreev(channels);
  return ok;
}

/* Adds the per-status counts of coll (grouped on the server) into counts. */
/* A waiting task with is_enable false counts as disabled, as
 * mtq_task_state() names it (its stored status stays the waiting one). */
static bool count_into(mongoc_collection_t *coll, const bson_t *match, int64_t *counts,
                       bson_error_t *error) {
  bson_t *pipeline = BCON_NEW("pipeline", "[", "{", "$match", BCON_DOCUMENT(match), "}", "{",
                              "$group", "{", "_id", "{", "s", BCON_UTF8("$status"), "e",
                              BCON_UTF8("$is_enable"), "}", "n", "{", "$sum", BCON_INT32(1), "}",
                              "}", "}", "]");
  mongoc_cursor_t *cur = mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
  const bson_t *doc;
  while (mongoc_cursor_next(cur, &doc)) {
    bson_iter_t it, st, en;
    if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
        !bson_iter_recurse(&it, &st) || !bson_iter_find(&st, "s") || !BSON_ITER_HOLDS_UTF8(&st)) {
      continue;
    }
    mtq_state_t s = mtq_state_parse(bson_iter_utf8(&st, NULL));
    bool disabled = bson_iter_recurse(&it, &en) && bson_iter_find(&en, "e") &&
                    BSON_ITER_HOLDS_BOOL(&en) && !bson_iter_bool(&en);
    if (disabled && mtq_state_is_waiting(s)) {
      s = MTQ_STATE_DISABLED;
    }
    if (s != MTQ_STATE_INVALID && bson_iter_init_find(&it, doc, "n")) {
      counts[s] += bson_iter_as_int64(&it);
    }
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  bson_destroy(pipeline);
  return ok;
}

/* Adds the per-channel, per-status counts of coll into counts[c][s], in one
 * pass: results holds every finished task, and reading it once per channel
 * would cost a whole scan per channel (each worker adds one, its own
 * "to.<worker>").  Also used for the redundant tasks in dispatch. */
static bool count_by_channel(mongoc_collection_t *results, char **channels,
                          int64_t (*counts)[MTQ_STATE_COUNT], bson_error_t *error) {
  bson_t *pipeline = BCON_NEW("pipeline", "[", "{", "$group", "{", "_id", "{", "c",
                              BCON_UTF8("$channel"), "s", BCON_UTF8("$status"), "}", "n", "{",
                              "$sum", BCON_INT32(1), "}", "}", "}", "]");
  mongoc_cursor_t *cur = mongoc_collection_aggregate(results, MONGOC_QUERY_NONE, pipeline, NULL,
                                                     NULL);
  const bson_t *doc;
  while (mongoc_cursor_next(cur, &doc)) {
    bson_iter_t c, st, n;
    if (!bson_iter_init_find(&c, doc, "_id") || !BSON_ITER_HOLDS_DOCUMENT(&c) ||
        !bson_iter_init_find(&n, doc, "n")) {
      continue;
    }
    bson_iter_t id = c;
    if (!bson_iter_recurse(&id, &c) || !bson_iter_find(&c, "c") || !BSON_ITER_HOLDS_UTF8(&c) ||
        !bson_iter_recurse(&id, &st) || !bson_iter_find(&st, "s") || !BSON_ITER_HOLDS_UTF8(&st)) {
      continue;
    }
    mtq_state_t state = mtq_state_parse(bson_iter_utf8(&st, NULL));
    for (size_t i = 0; state != MTQ_STATE_INVALID && channels[i]; i++) {
      if (strcmp(channels[i], bson_iter_utf8(&c, NULL)) == 0) {
        counts[i][state] += bson_iter_as_int64(&n);
      }
    }
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  bson_destroy(pipeline);
  return ok;
}

bool mtq_store_stats(mtq_store_t *store, bson_t *out, bson_error_t *error) {
  bson_init(out);
  char **channels = NULL;
  if (!mtq_store_channels(store, &channels, error)) {
    return false;
  }
  size_t n_channels = 0;
  while (channels[n_channels]) {
    n_channels++;
  }
  int64_t(*counts)[MTQ_STATE_COUNT] = bson_malloc0((n_channels + 1) * sizeof *counts);
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *results = mtq__coll(store, client, "results");
  bool ok = count_by_channel(results, channels, counts, error);
  mongoc_collection_destroy(results);
  /* A redundant task counts once in its own channel, whatever its copies
   * (they count in their workers' channels "to.<worker>"). */
  mongoc_collection_t *dispatch = mtq__coll(store, client, MTQ__DISPATCH);
  ok = ok && count_by_channel(dispatch, channels, counts, error);
  mongoc_collection_destroy(dispatch);
  bson_t all = BSON_INITIALIZER;
  for (size_t c = 0; ok && channels[c]; c++) {
    mtq__places_t it;
    mtq__places_init(&it, store, client, channels[c]);
    for (mongoc_collection_t *coll; ok && (coll = mtq__places_next(&it, error));) {
      ok = count_into(coll, &all, counts[c], error);
      mongoc_collection_destroy(coll);
    }
    ok = ok && !it.failed;
    bson_t sub;
    BSON_APPEND_DOCUMENT_BEGIN(out, channels[c], &sub);
    for (int s = 0; s < MTQ_STATE_COUNT; s++) {
      BSON_APPEND_INT64(&sub, mtq_state_name((mtq_state_t)s), counts[c][s]);
    }
    bson_append_document_end(out, &sub);
  }
  bson_destroy(&all);
  mtq__store_push(store, client);
  bson_free(counts);
  bson_strfreev(channels);
  return ok;
}


/* A copy sent to a worker is not counted again: its parent (in dispatch, a
 * count by an equality on channel over the few tasks being dispatched)
 * stands for it. */
bool mtq__channel_backlog(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                          int64_t *n, bson_error_t *error) {
  *n = 0;
  mtq__places_t it;
  mtq__places_init(&it, store, client, channel);
  for (mongoc_collection_t *coll; (coll = mtq__places_next(&it, error));) {
    int64_t c = 0;
    bool ok = mtq__count_docs(store, client, coll, &c, error);
    mongoc_collection_destroy(coll);
    if (!ok) {
      return false;
    }
    *n += c;
  }
  if (it.failed) {
    return false;
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
  bool ok = mtq__channel_backlog(store, client, channel, n, error);
  mtq__store_push(store, client);
  return ok;
}
