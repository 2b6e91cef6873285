/* find.c - finding a task by id wherever it is (see mtq_store_admin.h). */
#include <stddef.h>
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "segment.h"

static void found_at(mtq__place_t *place, mongoc_collection_t *coll, const char *channel,
                     int32_t lane, bool moved, const char *seg) {
  place->coll = coll;
  place->lane = lane;
  place->moved = moved;
  bson_strncpy(place->seg, seg, sizeof place->seg);
  bson_strncpy(place->channel, channel, sizeof place->channel);
}

/* The segment the id names, at each priority of each channel: one read per
 * priority finds any task of mtq's that is queued or running, whatever the
 * backlog. */
static bool in_named_segment(mtq_store_t *store, mongoc_client_t *client, char **channels,
                             const bson_oid_t *id, bson_t *doc, mtq__place_t *place,
                             bool *found, bson_error_t *error) {
  char seg[MTQ_SEG_MAX];
  mtq__seg_of_id(id, seg);
  bool ok = true;
  *found = false;
  for (size_t c = 0; ok && seg[0] && !*found && channels[c]; c++) {
    for (int32_t p = MTQ_PRIORITY_MAX; ok && !*found && p >= MTQ_PRIORITY_MIN; p--) {
      mongoc_collection_t *coll = mtq__seg_coll(store, client, channels[c], p, seg);
      ok = mtq__find_by_id(coll, id, doc, found, error);
      if (*found) {
        found_at(place, coll, channels[c], p, false, seg);
      } else {
        mongoc_collection_destroy(coll);
      }
    }
  }
  return ok;
}

typedef struct {
  const bson_oid_t *id;
  bson_t *doc;
  mtq__place_t *place;
  bool found;
} walk_t;

static bool look_in(void *ctx, mongoc_collection_t *coll, const mtq__places_t *at,
                    bson_error_t *error) {
  walk_t *w = ctx;
  if (!mtq__find_by_id(coll, w->id, w->doc, &w->found, error)) {
    return false;
  }
  if (w->found) {
    found_at(w->place, mongoc_collection_copy(coll), at->channel, at->lane, at->moved, at->seg);
  }
  return !w->found;
}

/* One pass over the places a task can be, in the order tasks move through
 * them (the named segment, then every place of every channel, then
 * dispatch, then results): every move inserts at the destination before it
 * deletes at the source, so a task moving during the pass is found further
 * on.  A move between two lanes can still slip past, hence the second pass
 * in mtq__locate(). */
static bool locate_pass(mtq_store_t *store, mongoc_client_t *client, char **channels,
                        const bson_oid_t *id, bson_t *doc, mtq__place_t *place, bool *found,
                        bson_error_t *error) {
  bool ok = in_named_segment(store, client, channels, id, doc, place, found, error);
  for (size_t c = 0; ok && !*found && channels[c]; c++) {
    walk_t w = {id, doc, place, false};
    ok = mtq__each_place(store, client, channels[c], look_in, &w, error) || w.found;
    *found = w.found;
  }
  if (ok && !*found) { /* the parent of redundant copies, while it is live */
    mongoc_collection_t *coll = mtq__coll(store, client, MTQ__DISPATCH);
    ok = mtq__find_by_id(coll, id, doc, found, error);
    if (*found) {
      place->coll = coll;
      place->lane = -1;
    } else {
      mongoc_collection_destroy(coll);
    }
  }
  if (ok && !*found) {
    mongoc_collection_t *coll = mtq__coll(store, client, "results");
    ok = mtq__find_by_id(coll, id, doc, found, error);
    if (*found) {
      place->coll = coll;
      place->lane = -1;
      place->finished = true;
    } else {
      mongoc_collection_destroy(coll);
    }
  }
  return ok;
}

/* A quarantined task's record in results (mtq__quarantine) keeps the
 * malformed original aside; readers get a failed task with its error and
 * whatever names of the original still read well. */
static bool from_quarantine(mtq_task_t *out, const bson_oid_t *id, const bson_t *doc) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, "original") || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
    return false;
  }
  mtq_task_cleanup(out);
  bson_oid_copy(id, &out->id);
  out->status = MTQ_STATE_FAILED;
  out->args = bson_new();
  static const struct {
    const char *key;
    size_t offset;
  } names[] = {{"channel", offsetof(mtq_task_t, channel)},
               {"func", offsetof(mtq_task_t, func)},
               {"version", offsetof(mtq_task_t, version)}};
  uint32_t len;
  const uint8_t *data;
  bson_t original;
  bson_iter_document(&it, &len, &data);
  if (bson_init_static(&original, data, len)) {
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
      bson_iter_t f;
      if (bson_iter_init_find(&f, &original, names[i].key) && BSON_ITER_HOLDS_UTF8(&f) &&
          mtq_name_valid(bson_iter_utf8(&f, NULL))) {
        bson_strncpy((char *)out + names[i].offset, bson_iter_utf8(&f, NULL), MTQ_NAME_MAX + 1);
      }
    }
  }
  if (bson_iter_init_find(&it, doc, "error") && BSON_ITER_HOLDS_UTF8(&it)) {
    out->error = bson_strdup(bson_iter_utf8(&it, NULL));
  }
  if (bson_iter_init_find(&it, doc, "finished_at") && BSON_ITER_HOLDS_DATE_TIME(&it)) {
    out->finished_at = bson_iter_date_time(&it);
  }
  return true;
}

bool mtq__locate(mtq_store_t *store, mongoc_client_t *client, const bson_oid_t *id,
                 mtq_task_t *out, mtq__place_t *place, bson_error_t *error) {
  char **channels = NULL;
  bson_t doc = BSON_INITIALIZER;
  bool found = false;
  memset(place, 0, sizeof *place);
  place->lane = -1;
  bool ok = mtq_store_channels(store, &channels, error);
  for (int pass = 0; ok && !found && pass < 2; pass++) {
    ok = locate_pass(store, client, channels, id, &doc, place, &found, error);
  }
  char hex[25];
  bson_oid_to_string(id, hex);
  if (ok && !found) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND, "no task %s", hex);
    ok = false;
  }
  bson_error_t perr;
  /* A live task written by another program may carry no channel: it is the
   * channel of the collection it was found in (README, "Producing tasks
   * from another language"). */
  if (ok && !mtq_task_from_bson(out, &doc, place->channel[0] ? place->channel : NULL, &perr) &&
      !(place->finished && from_quarantine(out, id, &doc))) {
    mtq_error_set(error, MTQ_ERR_INVALID, "task %s is malformed: %s", hex, perr.message);
    ok = false;
  }
  out->moved = ok && place->moved;
  if (ok) {
    bson_strncpy(out->seg, place->seg, sizeof out->seg);
  }
  if (!ok && place->coll) {
    mongoc_collection_destroy(place->coll);
    place->coll = NULL;
  }
  bson_strfreev(channels);
  bson_destroy(&doc);
  return ok;
}

bool mtq_store_find(mtq_store_t *store, const bson_oid_t *id, mtq_task_t *out,
                    bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mtq__place_t place;
  bool ok = mtq__locate(store, client, id, out, &place, error);
  if (ok) {
    mongoc_collection_destroy(place.coll);
  }
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_find_outcome(mtq_store_t *store, const bson_oid_t *id, mtq_task_t *out,
                            bool *found, bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, "results");
  bson_t doc = BSON_INITIALIZER;
  bool ok = mtq__find_by_id(coll, id, &doc, found, error);
  bson_error_t perr;
  if (ok && *found && !mtq_task_from_bson(out, &doc, NULL, &perr) &&
      !from_quarantine(out, id, &doc)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "outcome of the task is malformed: %s", perr.message);
    ok = false;
  }
  bson_destroy(&doc);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

