/* release.c - what the coordinator moves between a channel's collections:
 * delayed tasks that are due into their lane, and tasks whose priority was
 * edited in the database into the lane of their new priority (see
 * mtq_store_coord.h).  Each move is one of the claim protocol's
 * (mtq__move_task). */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "protocol.h"

typedef struct {
  mtq_store_t *store;
  mongoc_client_t *client;
  mongoc_collection_t *coll;
  const char *channel;
  const char *by;
  int32_t lane_priority;
  int64_t now_ms;
  int64_t next_due_ms;
  size_t count;
  size_t seen; /* documents read (reconcile) */
} sweep_t;

/* Reads a swept document into *t (initialised by the caller); a malformed
 * one is quarantined and false returned. */
static bool read_or_quarantine(sweep_t *s, const bson_t *doc, mtq_task_t *t) {
  bson_error_t err;
  if (mtq_task_from_bson(t, doc, s->channel, &err)) {
    return true;
  }
  mtq__quarantine(s->store, s->client, s->coll, doc, s->channel, s->by, err.message);
  return false;
}

/* Moves t into its priority's lane (or side lane), counting it; a move
 * someone else made first (a conflict) is theirs, anything else is
 * logged. */
static void move_counted(sweep_t *s, mtq_task_t *t, bool to_side, const char *kind) {
  bson_error_t err;
  /* Into a segment (any window): not while a retirement drops it. */
  if (!to_side) {
    mtq__seg_lock(s->store);
  }
  bool moved = mtq__move_task(s->store, s->client, t, s->coll, t->priority, to_side, s->by, kind,
                              &err);
  if (!to_side) {
    mtq__seg_unlock(s->store);
  }
  if (moved) {
    s->count++;
  } else if (err.domain != MTQ_ERROR_DOMAIN || err.code != MTQ_ERR_CONFLICT) {
    mtq_warn("cannot %s task: %s", kind, err.message);
  }
}

static bool release_one(void *ctx, const bson_t *doc) {
  sweep_t *s = ctx;
  mtq_task_t t;
  mtq_task_init(&t);
  if (!read_or_quarantine(s, doc, &t)) {
    /* quarantined */
  } else if (t.status == MTQ_STATE_SUSPENDED) {
    /* held by an operator: released by mtq resume */
  } else if (t.not_before <= s->now_ms) {
    move_counted(s, &t, false, "release");
  } else if (!s->next_due_ms || t.not_before < s->next_due_ms) {
    s->next_due_ms = t.not_before;
  }
  mtq_task_cleanup(&t);
  return true;
}

bool mtq_store_release_due(mtq_store_t *store, const char *channel, int64_t now_ms,
                           const char *by, int64_t *next_due_ms, size_t *released,
                           bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  sweep_t s = {store, client, mtq__delayed(store, client, channel), channel, by, 0, now_ms, 0, 0, 0};
  bson_t filter = BSON_INITIALIZER;
  bool ok = mtq__each_doc(s.coll, &filter, NULL, release_one, &s, error);
  bson_destroy(&filter);
  mongoc_collection_destroy(s.coll);
  if (s.count > 0) {
    mtq__channel_touch(store, client, channel);
  }
  mtq__store_push(store, client);
  *next_due_ms = s.next_due_ms;
  *released = s.count;
  return ok;
}

static bool reconcile_one(void *ctx, const bson_t *doc) {
  sweep_t *s = ctx;
  s->seen++;
  mtq_task_t t;
  mtq_task_init(&t);
  if (read_or_quarantine(s, doc, &t) && t.status == MTQ_STATE_QUEUED &&
      t.priority != s->lane_priority) {
    move_counted(s, &t, true, "move");
  }
  mtq_task_cleanup(&t);
  return true;
}

/* The reconcile of one collection: every document, each task whose
 * priority was edited moved to its new one. */
static bool reconcile_coll(sweep_t *s, bson_error_t *error) {
  bson_t filter = BSON_INITIALIZER;
  bool ok = mtq__each_doc(s->coll, &filter, NULL, reconcile_one, s, error);
  bson_destroy(&filter);
  return ok;
}

/* One segment: reconciled; or when it held nothing and its window ended,
 * unlisted, and dropped once closed (segment.c).  Whether it is empty is
 * what the reconcile read: a count would cost more than that on FerretDB
 * ($collStats lists every collection of the database). */
static bool reconcile_seg(sweep_t *s, const char *seg, size_t *docs, bson_error_t *error) {
  s->coll = mtq__seg_coll(s->store, s->client, s->channel, s->lane_priority, seg);
  int64_t now = mtq_now_ms();
  /* Closed may come before ended, with a segment_retire_s under a window. */
  bool closed = mtq__seg_closed(s->store, seg, now);
  size_t before = s->seen;
  bool ok = reconcile_coll(s, error);
  size_t n = s->seen - before;
  if (ok && n == 0 && (closed || mtq__seg_ended(seg, now))) {
    bool retired;
    ok = mtq__seg_retire(s->store, s->client, s->channel, s->lane_priority, seg, closed,
                         &retired, error);
  }
  *docs += n;
  mongoc_collection_destroy(s->coll);
  s->coll = NULL;
  return ok;
}

/* Where a channel's deep walk over its segments goes on at the next
 * reconcile, and when its collection names were last scanned. */
struct mtq__recon_at {
  char channel[MTQ_NAME_MAX + 1];
  int32_t priority;
  size_t skip;
  int64_t orphans_at_ms;
};

static mtq__recon_at_t *recon_at(mtq_store_t *store, const char *channel) {
  for (size_t i = 0; i < store->n_recon; i++) {
    if (strcmp(store->recon[i].channel, channel) == 0) {
      return &store->recon[i];
    }
  }
  store->recon = bson_realloc(store->recon, (store->n_recon + 1) * sizeof *store->recon);
  mtq__recon_at_t *r = &store->recon[store->n_recon++];
  memset(r, 0, sizeof *r);
  bson_strncpy(r->channel, channel, sizeof r->channel);
  r->priority = MTQ_PRIORITY_MAX;
  return r;
}

/* Segments of each priority reconciled at every run: what polls take next. */
#define RECONCILE_FRONT 4
/* Documents the deep walk reads per run, beyond the fronts: at a million
 * queued, a priority edit deep in the backlog is honoured within
 * backlog / RECONCILE_BUDGET runs, not never, and a run stays short. */
#define RECONCILE_BUDGET 2048
#define RECONCILE_PAGE 16
#define ORPHANS_EVERY_MS 60000

bool mtq_store_reconcile(mtq_store_t *store, const char *channel, const char *by, size_t *moved,
                         bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  bool ok = true;
  *moved = 0;
  sweep_t s = {store, client, NULL, channel, by, 0, 0, 0, 0, 0};
  char page[RECONCILE_PAGE][MTQ_SEG_MAX];
  size_t n = 0, docs = 0;
  /* Every inbox and side lane (a moved task may be edited again), and the
   * front of every priority's segments. */
  for (int32_t p = MTQ_PRIORITY_MAX; ok && p >= MTQ_PRIORITY_MIN; p--) {
    s.lane_priority = p;
    for (int side = 0; ok && side < 2; side++) {
      s.coll = mtq__live_coll(store, client, channel, p, side == 1, "");
      ok = reconcile_coll(&s, error);
      mongoc_collection_destroy(s.coll);
    }
    ok = ok && mtq__seg_dir(store, client, channel, p, 0, RECONCILE_FRONT, page, &n, error);
    for (size_t k = 0; ok && k < n; k++) {
      ok = reconcile_seg(&s, page[k], &docs, error);
    }
  }
  /* The deep walk, from where the last run stopped. */
  pthread_mutex_lock(&store->lock);
  mtq__recon_at_t at = *recon_at(store, channel);
  pthread_mutex_unlock(&store->lock);
  size_t budget = 0;
  for (int32_t laps = 0; ok && budget < RECONCILE_BUDGET && laps <= MTQ_PRIORITY_LEVELS;) {
    if (at.skip < RECONCILE_FRONT) {
      at.skip = RECONCILE_FRONT;
    }
    s.lane_priority = at.priority;
    ok = mtq__seg_dir(store, client, channel, at.priority, at.skip, RECONCILE_PAGE, page, &n,
                      error);
    for (size_t k = 0; ok && k < n && budget < RECONCILE_BUDGET; k++) {
      size_t d = docs;
      ok = reconcile_seg(&s, page[k], &docs, error);
      budget += docs - d + 1;
      at.skip++;
    }
    if (ok && n < RECONCILE_PAGE) { /* this priority's directory is done */
      at.skip = 0;
      at.priority = at.priority == MTQ_PRIORITY_MIN ? MTQ_PRIORITY_MAX : at.priority - 1;
      laps++;
    }
  }
  *moved = s.count;
  /* Now and then, the collection names themselves: a segment that holds
   * tasks but fell out of its directory is listed again (segment.c). */
  int64_t now = mtq_now_ms();
  if (ok && now - at.orphans_at_ms >= ORPHANS_EVERY_MS) {
    size_t relisted = 0, dropped = 0;
    ok = mtq__seg_orphans(store, client, channel, &relisted, &dropped, error);
    at.orphans_at_ms = ok ? now : at.orphans_at_ms;
    if (relisted > 0) {
      mtq__channel_touch(store, client, channel); /* work polls could not see */
    }
  }
  if (*moved > 0) {
    mtq__channel_touch(store, client, channel);
  }
  pthread_mutex_lock(&store->lock);
  *recon_at(store, channel) = at;
  pthread_mutex_unlock(&store->lock);
  mtq__store_push(store, client);
  return ok;
}
