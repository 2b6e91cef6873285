/* leader.c - the coordinators' leader: one mtqd at a time does the duties
 * that are not safe to run twice at once (see mtq_store_coord.h).
 *
 *   leaders/<epoch>   one record per leadership: {holder, renewals, at,
 *                     renewed_at}.  The newest epoch is the leader.
 *
 * Taking over is the insert of epoch E + 1, which succeeds once, whoever
 * tries: on FerretDB as on MongoDB no conditional update decides it.  Only
 * the holder of an epoch writes its record (renewals), so no write races
 * with another.  A candidate takes over when the newest record's renewals
 * have not moved for lost_after_ms on the candidate's own monotonic clock
 * (so clocks need not agree), or at once when it says its holder resigned.
 * A leader stops acting as one once it could not renew for lost_after_ms/2
 * (mtq_leader_active), well before anyone may take over. */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "mtq_store_coord.h"
#include "store_private.h"

#define LEADERS "leaders"
/* Epochs kept behind the newest (the rest are trimmed by the leader). */
#define KEEP_EPOCHS 16

void mtq_leader_init(mtq_leader_t *l, const char *holder, int64_t lost_after_ms) {
  memset(l, 0, sizeof *l);
  bson_strncpy(l->holder, holder, sizeof l->holder);
  l->lost_after_ms = lost_after_ms;
}

bool mtq_leader_active(const mtq_leader_t *l, int64_t mono_ms) {
  return l->epoch > 0 && mono_ms - l->renewed_ms < l->lost_after_ms / 2;
}

/* The newest leadership record: *epoch 0 when there is none. */
static bool newest(mongoc_collection_t *coll, int64_t *epoch, char *holder, size_t size,
                   int64_t *renewals, bool *resigned, bson_error_t *error) {
  bson_t *filter = bson_new();
  bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(-1), "}", "limit", BCON_INT64(1));
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
  const bson_t *doc;
  *epoch = 0;
  *renewals = 0;
  *resigned = false;
  holder[0] = '\0';
  if (mongoc_cursor_next(cur, &doc)) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_INT64(&it)) {
      *epoch = bson_iter_int64(&it);
    }
    if (bson_iter_init_find(&it, doc, "holder") && BSON_ITER_HOLDS_UTF8(&it)) {
      bson_strncpy(holder, bson_iter_utf8(&it, NULL), size);
    }
    if (bson_iter_init_find(&it, doc, "renewals") && BSON_ITER_HOLDS_NUMBER(&it)) {
      *renewals = bson_iter_as_int64(&it);
    }
    *resigned = bson_iter_init_find(&it, doc, "resigned") && BSON_ITER_HOLDS_BOOL(&it) &&
                bson_iter_bool(&it);
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  bson_destroy(opts);
  bson_destroy(filter);
  return ok;
}

/* Inserts epoch for holder (resigned: a record that hands over at once).
 * *won false when another inserted it first. */
static bool claim_epoch(mongoc_collection_t *coll, int64_t epoch, const char *holder,
                        bool resigned, bool *won, bson_error_t *error) {
  int64_t now = mtq_now_ms();
  bson_t *doc = BCON_NEW("_id", BCON_INT64(epoch), "holder", BCON_UTF8(holder), "renewals",
                         BCON_INT64(0), "resigned", BCON_BOOL(resigned), "at",
                         BCON_DATE_TIME(now), "renewed_at", BCON_DATE_TIME(now));
  bson_error_t err;
  *won = mongoc_collection_insert_one(coll, doc, NULL, NULL, &err);
  bson_destroy(doc);
  if (!*won && !mtq_error_is_duplicate(&err)) {
    if (error) {
      *error = err;
    }
    return false;
  }
  return true;
}

static bool renew(mongoc_collection_t *coll, mtq_leader_t *l, bool *kept, bson_error_t *error) {
  bson_t *filter = BCON_NEW("_id", BCON_INT64(l->epoch), "holder", BCON_UTF8(l->holder));
  bson_t *update = BCON_NEW("$inc", "{", "renewals", BCON_INT64(1), "}", "$set", "{",
                            "renewed_at", BCON_DATE_TIME(mtq_now_ms()), "}");
  bson_t reply;
  bool ok = mongoc_collection_update_one(coll, filter, update, NULL, &reply, error);
  bson_iter_t it;
  *kept = ok && bson_iter_init_find(&it, &reply, "matchedCount") && bson_iter_as_int64(&it) > 0;
  bson_destroy(&reply);
  bson_destroy(update);
  bson_destroy(filter);
  return ok;
}

static void trim(mongoc_collection_t *coll, int64_t epoch) {
  if (epoch <= KEEP_EPOCHS) {
    return;
  }
  bson_t *filter = BCON_NEW("_id", "{", "$lt", BCON_INT64(epoch - KEEP_EPOCHS), "}");
  bson_error_t err;
  if (!mongoc_collection_delete_many(coll, filter, NULL, NULL, &err)) {
    mtq_debug("cannot trim old leadership records: %s", err.message);
  }
  bson_destroy(filter);
}

bool mtq_store_lead(mtq_store_t *store, mtq_leader_t *l, int64_t mono_ms, bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, LEADERS);
  int64_t epoch, renewals;
  bool resigned;
  char holder[sizeof l->holder];
  bool ok = newest(coll, &epoch, holder, sizeof holder, &renewals, &resigned, error);
  if (ok && l->epoch && epoch == l->epoch && strcmp(holder, l->holder) == 0) {
    bool kept = false;
    ok = renew(coll, l, &kept, error);
    if (ok && kept) {
      l->renewed_ms = mono_ms;
      if (renewals % 64 == 0) {
        trim(coll, l->epoch);
      }
    } else if (ok) {
      l->epoch = 0;
    }
  } else if (ok) {
    if (l->epoch) {
      /* A newer epoch than ours: deposed (we went silent too long). */
      mtq_warn("leadership %lld was taken over by %s (epoch %lld)", (long long)l->epoch,
               holder[0] ? holder : "a resignation", (long long)epoch);
      l->epoch = 0;
    }
    if (epoch != l->seen_epoch || renewals != l->seen_renewals) {
      l->seen_epoch = epoch;
      l->seen_renewals = renewals;
      l->unchanged_since_ms = mono_ms;
      bson_strncpy(l->seen_holder, holder, sizeof l->seen_holder);
    }
    bool vacant = epoch == 0 || resigned || mono_ms - l->unchanged_since_ms >= l->lost_after_ms;
    bool won = false;
    if (vacant) {
      ok = claim_epoch(coll, epoch + 1, l->holder, false, &won, error);
    }
    if (ok && won) {
      l->epoch = epoch + 1;
      l->renewed_ms = mono_ms;
      bson_strncpy(l->seen_holder, l->holder, sizeof l->seen_holder);
    }
  }
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_resign(mtq_store_t *store, mtq_leader_t *l, bson_error_t *error) {
  if (!l->epoch) {
    return true;
  }
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, LEADERS);
  bool won = false;
  bool ok = claim_epoch(coll, l->epoch + 1, "", true, &won, error);
  l->epoch = 0;
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_leaders(mtq_store_t *store, bson_t *out, bson_error_t *error) {
  bson_t *filter = bson_new();
  bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(-1), "}", "limit", BCON_INT64(KEEP_EPOCHS));
  bool ok = mtq__find_into(store, LEADERS, filter, opts, "leaders", out, error);
  bson_destroy(opts);
  bson_destroy(filter);
  return ok;
}
