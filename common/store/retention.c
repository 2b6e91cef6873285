/* retention.c - removing finished tasks once they have been kept long
 * enough: their result, their claims and their events (see mtq_store_purge).
 *
 * FerretDB 1.x has no TTL indexes, so mtqd does this itself in bounded
 * batches.  On FerretDB's SQLite backend no filter but {_id: X} reaches
 * SQLite, so the expired results are found by reading results from its
 * front without a filter: rows come back in insertion order, which is (close
 * to) finish order, and the read stops at the first result finished after
 * the newest cutoff instead of going through every result kept.  MongoDB
 * serves the same walk from the by_finish index. */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "segment.h"

/* Results read per round trip of the walk. */
#define WALK_BATCH 64

/* One result chosen for removal. */
typedef struct {
  bson_oid_t id;
  char channel[MTQ_NAME_MAX + 1]; /* "" when the record names none */
  bool live;                      /* a live document of the task still exists */
} victim_t;

typedef struct {
  victim_t *items;
  size_t n;
} victims_t;

/* The cutoff that applies to a result of this status; 0 when none does. */
static int64_t cutoff_for(const mtq_purge_rule_t *rules, size_t n_rules, const char *status) {
  for (size_t r = 0; r < n_rules; r++) {
    for (const char *const *s = rules[r].statuses; rules[r].before_ms > 0 && s && *s; s++) {
      if (strcmp(*s, status) == 0) {
        return rules[r].before_ms;
      }
    }
  }
  return 0;
}

/* Reads one result of the walk.  Returns false when the walk should stop: the
 * result finished after every cutoff, so the ones behind it did too. */
static bool consider(const bson_t *doc, const mtq_purge_rule_t *rules, size_t n_rules,
                     int64_t newest_ms, victims_t *out) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, "finished_at") || !BSON_ITER_HOLDS_DATE_TIME(&it)) {
    return true; /* cannot be judged: kept */
  }
  int64_t finished_ms = bson_iter_date_time(&it);
  if (finished_ms >= newest_ms) {
    return false;
  }
  const char *status = NULL;
  if (bson_iter_init_find(&it, doc, "status") && BSON_ITER_HOLDS_UTF8(&it)) {
    status = bson_iter_utf8(&it, NULL);
  }
  int64_t before_ms = status ? cutoff_for(rules, n_rules, status) : 0;
  if (!before_ms || finished_ms >= before_ms || !bson_iter_init_find(&it, doc, "_id") ||
      !BSON_ITER_HOLDS_OID(&it)) {
    return true;
  }
  victim_t *v = &out->items[out->n++];
  memset(v, 0, sizeof *v);
  bson_oid_copy(bson_iter_oid(&it), &v->id);
  if (bson_iter_init_find(&it, doc, "channel") && BSON_ITER_HOLDS_UTF8(&it) &&
      mtq_name_valid(bson_iter_utf8(&it, NULL))) {
    bson_strncpy(v->channel, bson_iter_utf8(&it, NULL), sizeof v->channel);
  }
  return true;
}

/* Fills out with at most batch expired results, oldest first. */
static bool find_expired(mtq_store_t *store, mongoc_client_t *client,
                         const mtq_purge_rule_t *rules, size_t n_rules, int64_t newest_ms,
                         size_t batch, victims_t *out, bson_error_t *error) {
  int kind = mtq__server_kind(store, client, error);
  if (!kind) {
    return false;
  }
  bson_t filter = BSON_INITIALIZER;
  /* Small cursor batches: when nothing is due the first result read ends the
   * walk, and FerretDB decodes every document of a batch before sending it. */
  int64_t walk_batch = batch < WALK_BATCH ? (int64_t)batch : WALK_BATCH;
  bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "status", BCON_INT32(1),
                          "finished_at", BCON_INT32(1), "channel", BCON_INT32(1), "}",
                          "batchSize", BCON_INT64(walk_batch));
  if (kind == MTQ__SERVER_MONGODB) {
    /* MongoDB's natural order is not insertion order; the index is there. */
    BCON_APPEND(&filter, "finished_at", "{", "$lt", BCON_DATE_TIME(newest_ms), "}");
    BCON_APPEND(opts, "sort", "{", "finished_at", BCON_INT32(1), "}");
  }
  mongoc_collection_t *results = mtq__coll(store, client, "results");
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(results, &filter, opts, NULL);
  const bson_t *doc;
  while (out->n < batch && mongoc_cursor_next(cur, &doc) &&
         consider(doc, rules, n_rules, newest_ms, out)) {
  }
  bool ok = !mongoc_cursor_error(cur, error);
  /* Destroying the cursor ends it on the server (killCursors), which also
   * closes FerretDB's read of the table before the deletes. */
  mongoc_cursor_destroy(cur);
  mongoc_collection_destroy(results);
  bson_destroy(opts);
  bson_destroy(&filter);
  return ok;
}

/* Appends the ids of victims (of one channel when channel is not NULL, and
 * not live) to arr. Returns how many. */
static size_t append_ids(bson_t *arr, const victims_t *v, const char *channel) {
  size_t n = 0;
  for (size_t i = 0; i < v->n; i++) {
    if (v->items[i].live || (channel && strcmp(v->items[i].channel, channel) != 0)) {
      continue;
    }
    char key[16];
    const char *k;
    bson_uint32_to_string((uint32_t)n++, &k, key, sizeof key);
    BSON_APPEND_OID(arr, k, &v->items[i].id);
  }
  return n;
}

/* Marks the victims of coll's channel that still have a document in coll. */
static bool mark_live_in(mongoc_collection_t *coll, const bson_t *ids, victims_t *v,
                         bson_error_t *error) {
  bson_t filter = BSON_INITIALIZER, in;
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &in);
  BSON_APPEND_ARRAY(&in, "$in", ids);
  bson_append_document_end(&filter, &in);
  bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}");
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
  const bson_t *doc;
  while (mongoc_cursor_next(cur, &doc)) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_OID(&it)) {
      continue;
    }
    for (size_t i = 0; i < v->n; i++) {
      if (bson_oid_equal(&v->items[i].id, bson_iter_oid(&it)) && !v->items[i].live) {
        char hex[25];
        bson_oid_to_string(&v->items[i].id, hex);
        mtq_warn("task %s has an outcome in results but is still in %s: left alone, with its "
                 "claims, until that document is gone",
                 hex, mongoc_collection_get_name(coll));
        v->items[i].live = true;
      }
    }
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  bson_destroy(opts);
  bson_destroy(&filter);
  return ok;
}

/* A result whose live document was not removed (an outcome recorded by a
 * holder that died before its delete, or an interrupted cancel) belongs to a
 * task that may still be polled: its claim is all that keeps a worker from
 * running it again, so such tasks are left out of the purge.  Lanes hold only
 * live work, so these reads stay small.  (k == v->n: the inbox; v->n + 1:
 * the side lane.) */
static bool mark_live(mtq_store_t *store, mongoc_client_t *client, victims_t *v,
                      bson_error_t *error) {
  bool ok = true;
  for (size_t i = 0; ok && i < v->n; i++) {
    const char *channel = v->items[i].channel;
    bool seen = !*channel;
    for (size_t j = 0; !seen && j < i; j++) {
      seen = strcmp(v->items[j].channel, channel) == 0;
    }
    if (seen) {
      continue; /* no channel, or its collections were read already */
    }
    bson_t ids = BSON_INITIALIZER;
    append_ids(&ids, v, channel);
    /* Not every segment of the channel: those the victims' ids name (long
     * retired, mostly: a read of a missing collection is cheap), and the
     * collections that hold tasks of any id. */
    mongoc_collection_t *delayed = mtq__delayed(store, client, channel);
    ok = mark_live_in(delayed, &ids, v, error);
    mongoc_collection_destroy(delayed);
    for (int32_t p = MTQ_PRIORITY_MIN; ok && p <= MTQ_PRIORITY_MAX; p++) {
      for (size_t k = 0; ok && k <= v->n + 1; k++) {
        char seg[MTQ_SEG_MAX] = "";
        bool moved = k == v->n + 1;
        if (k < v->n) {
          mtq__seg_of_id(&v->items[k].id, seg);
          bool dup = !seg[0] || strcmp(v->items[k].channel, channel) != 0;
          for (size_t j = 0; !dup && j < k; j++) {
            char other[MTQ_SEG_MAX];
            mtq__seg_of_id(&v->items[j].id, other);
            dup = strcmp(v->items[j].channel, channel) == 0 && strcmp(other, seg) == 0;
          }
          if (dup) {
            continue;
          }
        }
        mongoc_collection_t *coll = mtq__live_coll(store, client, channel, p, moved, seg);
        ok = mark_live_in(coll, &ids, v, error);
        mongoc_collection_destroy(coll);
      }
    }
    bson_destroy(&ids);
  }
  return ok;
}

/* Counts the removed tasks by channel (metrics.c), for the figure of tasks
 * ever enqueued (README "Metrics").  Each victim not left live was in the
 * delete; should fewer results have gone than that (someone else removed
 * some meanwhile), the first `removed` of them are counted. */
static void count_removed(mtq_store_t *store, mongoc_client_t *client, victims_t *v,
                          size_t removed) {
  bool *done = bson_malloc0(v->n ? v->n : 1);
  for (size_t i = 0; i < v->n && removed; i++) {
    if (done[i] || v->items[i].live || !v->items[i].channel[0]) {
      continue;
    }
    int64_t n = 0;
    for (size_t j = i; j < v->n && removed; j++) {
      if (!done[j] && !v->items[j].live && strcmp(v->items[j].channel, v->items[i].channel) == 0) {
        done[j] = true;
        n++;
        removed--;
      }
    }
    mtq__metrics_removed(store, client, v->items[i].channel, n);
  }
  bson_free(done);
}

bool mtq_store_purge(mtq_store_t *store, const mtq_purge_rule_t *rules, size_t n_rules,
                     size_t batch, mtq_purged_t *purged, bool *more, bson_error_t *error) {
  *more = false;
  int64_t newest_ms = 0;
  for (size_t r = 0; r < n_rules; r++) {
    if (rules[r].before_ms > newest_ms) {
      newest_ms = rules[r].before_ms;
    }
  }
  if (!newest_ms || batch == 0) {
    return true; /* everything is kept */
  }
  mongoc_client_t *client = mtq__store_pop(store);
  victims_t v = {bson_malloc(batch * sizeof *v.items), 0};
  bson_t ids = BSON_INITIALIZER;
  bool ok = find_expired(store, client, rules, n_rules, newest_ms, batch, &v, error) &&
            mark_live(store, client, &v, error);
  size_t n_ids = ok ? append_ids(&ids, &v, NULL) : 0;
  size_t removed = 0;
  /* Claims and events first, the result last: a purge cut short leaves the
   * result, so the task is found expired again and the next pass finishes
   * it; and a claim is only removed while its task's outcome is on record. */
  size_t keys = 0;
  if (ok && n_ids) {
    /* Dedupe keys go with their task: the key may be used again after. */
    ok = mtq__delete_in(store, client, "dedupe", "task", &ids, &keys, error) &&
         mtq__delete_in(store, client, "claims", "task", &ids, &purged->claims, error) &&
         mtq__delete_in(store, client, "events", "task", &ids, &purged->events, error) &&
         mtq__delete_in(store, client, "results", "_id", &ids, &removed, error);
  }
  if (ok && removed) {
    count_removed(store, client, &v, removed);
  }
  purged->tasks += removed;
  purged->kept_live += ok ? v.n - n_ids : 0;
  *more = ok && v.n == batch && removed > 0;
  bson_destroy(&ids);
  bson_free(v.items);
  mtq__store_push(store, client);
  return ok;
}
