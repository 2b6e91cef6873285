/* segment.c - a priority's lane cut into segments of bounded size.
 *
 * Why.  On FerretDB's SQLite backend a write by _id scans its collection,
 * and any filter but {_id} is applied in Go to every document read: one
 * collection per priority made a claim and an end cost time proportional
 * to the backlog (1.5 s each at 100,000 queued).  So the live tasks of a
 * priority are spread over segments, each its own collection of at most a
 * few hundred tasks, and no access of the claim path touches more than one
 * segment and a page of the directory.
 *
 * Names, for channel ch and priority P:
 *   q.<ch>.p<P>              the inbox: tasks other programs insert (README,
 *                            "Producing tasks from another language"), and
 *                            tasks whose id names no segment
 *   q.<ch>.p<P>.moved        the side lane (store_private.h)
 *   q.<ch>.p<P>.w<W>         the shared segment of window W: the seconds of
 *                            the task id's time / MTQ__WINDOW_S, 10 digits
 *   q.<ch>.p<P>.w<W>.<S>     a private segment of window W, S 8 hex digits
 *   q.<ch>.p<P>.dir          the directory: {_id: "w<W>[.<S>]"} for every
 *                            segment that may hold tasks
 *
 * Ids.  A task's ObjectId says its segment: its time gives W, byte 8 is a
 * mark (MARK_SHARED, MARK_PRIVATE) and, in a private segment, bytes 4..7
 * are S.  So `mtq show ID` reads one collection per priority, not the
 * backlog.  An id without a mark (another program's) says nothing.
 *
 * Bounds.  A producer puts at most MTQ__SHARED_MAX tasks of one window into
 * the shared segment (so that one-task producers, such as the CLI, share
 * one collection), then fills private segments of MTQ__SEGMENT_MAX each: a
 * burst of 100,000 in a few seconds from one producer is ~200 segments.
 * S starts with the millisecond of the window at which the segment was
 * opened, so that names sort by age; the rest of S is random.
 *
 * Order.  Names sort by window, so a poll that reads the directory in name
 * order reads the oldest tasks first: exactly within one producer, and to
 * within a window between producers writing at the same time.
 *
 * Listing and retirement.  Whoever inserts into a segment lists it after
 * the insert (a duplicate entry is fine).  Only two kinds of writer insert
 * into a segment: a producer, into the window of its own clock, and mtqd,
 * releasing a delayed or retried task into the segment its id names (an
 * operator's `mtq retry` and priority moves go to the side lane).  A
 * segment leaves the directory in two steps, both by mtqd and under the
 * store's segment lock (segment_lock), which its own releases take too:
 *   - unlisted once it is empty and its window ended a window ago: count,
 *     unlist, count again (an insert in between relists it).  Polls read
 *     the directory from its front, so empty segments must not pile up
 *     there: a channel that drains as fast as it fills would otherwise
 *     list hundreds of them ahead of the first task.  A producer that
 *     inserts later lists the segment again itself;
 *   - dropped once it is empty and its window ended segment_retire_s ago
 *     (10 minutes by default, mtq_store_set_segment_retire): long enough
 *     that no producer's clock is that far behind, so no producer still
 *     writes there.  FerretDB 1.24 cannot rename a collection whose name
 *     holds a dot, or a rename (to a side name, then drop) would close even
 *     that gap.
 * A scan of the collection names (mtq__seg_orphans) relists a non-empty
 * segment that is missing from the directory and drops empty closed ones,
 * so a listing lost to a crash costs a minute, not a task. */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "protocol.h"
#include "segment.h"

#define MARK_SHARED 0x6d
#define MARK_PRIVATE 0x6e

static int64_t window_of_time(int64_t seconds) { return seconds / MTQ__WINDOW_S; }

/* Windows have 10 digits until the year 5138. */
static void shared_name(int64_t window, char seg[MTQ_SEG_MAX]) {
  snprintf(seg, MTQ_SEG_MAX, "w%010u", (unsigned)(window % 10000000000LL));
}

void mtq__seg_of_id(const bson_oid_t *id, char seg[MTQ_SEG_MAX]) {
  const uint8_t *b = id->bytes;
  int64_t window = window_of_time((int64_t)bson_oid_get_time_t(id));
  if (b[8] == MARK_SHARED) {
    shared_name(window, seg);
  } else if (b[8] == MARK_PRIVATE) {
    shared_name(window, seg);
    snprintf(seg + 11, MTQ_SEG_MAX - 11, ".%02x%02x%02x%02x", b[4], b[5], b[6], b[7]);
  } else {
    seg[0] = '\0';
  }
}

int64_t mtq__seg_window(const char *seg) {
  return seg[0] == 'w' ? strtoll(seg + 1, NULL, 10) : -1;
}

/* --- choosing a segment for a new task ------------------------------------ */

/* What a producer remembers per channel and priority (store->segs). */
struct mtq__seg_slot {
  char channel[MTQ_NAME_MAX + 1];
  int32_t priority;
  int64_t window;
  int64_t in_shared;   /* tasks this producer put into the window's shared segment */
  int64_t in_private;  /* tasks in its current private segment */
  uint8_t sub[4];      /* S of that private segment */
  uint8_t opened;      /* private segments opened in this window */
  bool has_private;
};

static mtq__seg_slot_t *slot_for(mtq_store_t *store, const char *channel, int32_t priority) {
  for (size_t i = 0; i < store->n_segs; i++) {
    if (store->segs[i].priority == priority && strcmp(store->segs[i].channel, channel) == 0) {
      return &store->segs[i];
    }
  }
  store->segs = bson_realloc(store->segs, (store->n_segs + 1) * sizeof *store->segs);
  mtq__seg_slot_t *s = &store->segs[store->n_segs++];
  memset(s, 0, sizeof *s);
  bson_strncpy(s->channel, channel, sizeof s->channel);
  s->priority = priority;
  s->window = -1;
  return s;
}

void mtq__seg_assign(mtq_store_t *store, mtq_task_t *task) {
  if (mtq_task_is_parent(task)) {
    task->seg[0] = '\0'; /* lives in dispatch */
    return;
  }
  uint8_t *b = task->id.bytes;
  int64_t seconds = (int64_t)bson_oid_get_time_t(&task->id);
  int64_t window = window_of_time(seconds);
  pthread_mutex_lock(&store->lock);
  mtq__seg_slot_t *s = slot_for(store, task->channel, task->priority);
  if (s->window != window) {
    s->window = window;
    s->in_shared = 0;
    s->in_private = 0;
    s->has_private = false;
    s->opened = 0;
  }
  if (s->in_shared < MTQ__SHARED_MAX) {
    s->in_shared++;
    b[8] = MARK_SHARED;
  } else {
    if (!s->has_private || s->in_private >= MTQ__SEGMENT_MAX) {
      /* The millisecond of the window first (names sort by age), then
       * randomness against other producers opening one in the same ms. */
      int64_t ms = task->created_at > 0 ? task->created_at % (MTQ__WINDOW_S * 1000) : 0;
      s->sub[0] = (uint8_t)(ms >> 8);
      s->sub[1] = (uint8_t)ms;
      /* Then libbson's per-process random bytes of the id, this
       * producer's own (random() would repeat across processes never
       * seeded), told apart from its other segments of the window opened
       * in the same millisecond by a count. */
      s->sub[2] = b[4] ^ b[7];
      s->sub[3] = (uint8_t)((b[5] ^ b[6]) + s->opened++);
      s->has_private = true;
      s->in_private = 0;
    }
    s->in_private++;
    memcpy(b + 4, s->sub, 4);
    b[8] = MARK_PRIVATE;
  }
  pthread_mutex_unlock(&store->lock);
  mtq__seg_of_id(&task->id, task->seg);
}

/* --- collections and the directory ----------------------------------------- */

void mtq__seg_coll_name(const char *channel, int32_t priority, const char *seg, char *out,
                        size_t size) {
  if (seg && seg[0]) {
    snprintf(out, size, "q.%s.p%d.%s", channel, (int)priority, seg);
  } else {
    snprintf(out, size, "q.%s.p%d", channel, (int)priority);
  }
}

mongoc_collection_t *mtq__seg_coll(mtq_store_t *store, mongoc_client_t *client,
                                   const char *channel, int32_t priority, const char *seg) {
  char name[MTQ__COLL_NAME_MAX];
  mtq__seg_coll_name(channel, priority, seg, name, sizeof name);
  return mtq__coll(store, client, name);
}

static mongoc_collection_t *directory(mtq_store_t *store, mongoc_client_t *client,
                                      const char *channel, int32_t priority) {
  char name[MTQ__COLL_NAME_MAX];
  snprintf(name, sizeof name, "q.%s.p%d.dir", channel, (int)priority);
  return mtq__coll(store, client, name);
}

bool mtq__seg_list(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                   int32_t priority, const char *seg, bson_error_t *error) {
  if (!seg[0]) {
    return true; /* the inbox is always read */
  }
  mongoc_collection_t *dir = directory(store, client, channel, priority);
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(seg), "window", BCON_INT64(mtq__seg_window(seg)));
  bson_error_t err;
  bool ok = mongoc_collection_insert_one(dir, doc, NULL, NULL, &err) ||
            mtq_error_is_duplicate(&err);
  if (!ok && error) {
    *error = err;
  }
  bson_destroy(doc);
  mongoc_collection_destroy(dir);
  return ok;
}

static bool unlist(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                   int32_t priority, const char *seg, bson_error_t *error) {
  mongoc_collection_t *dir = directory(store, client, channel, priority);
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(seg));
  bool ok = mongoc_collection_delete_one(dir, filter, NULL, NULL, error);
  bson_destroy(filter);
  mongoc_collection_destroy(dir);
  return ok;
}

/* The segment a directory entry lists, NULL for a malformed entry. */
static const char *dir_entry(const bson_t *doc) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it)) {
    return NULL;
  }
  const char *seg = bson_iter_utf8(&it, NULL);
  return strlen(seg) < MTQ_SEG_MAX && seg[0] == 'w' ? seg : NULL;
}

bool mtq__seg_dir(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                  int32_t priority, size_t skip, size_t max, char (*out)[MTQ_SEG_MAX],
                  size_t *n, bson_error_t *error) {
  mongoc_collection_t *dir = directory(store, client, channel, priority);
  bson_t filter = BSON_INITIALIZER;
  bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}", "skip",
                          BCON_INT64((int64_t)skip), "limit", BCON_INT64((int64_t)max));
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(dir, &filter, opts, NULL);
  const bson_t *doc;
  *n = 0;
  while (*n < max && mongoc_cursor_next(cur, &doc)) {
    const char *seg = dir_entry(doc);
    if (seg) {
      bson_strncpy(out[(*n)++], seg, MTQ_SEG_MAX);
    }
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  bson_destroy(opts);
  mongoc_collection_destroy(dir);
  return ok;
}

/* --- every place of a channel -------------------------------------------- */

void mtq__places_init(mtq__places_t *it, mtq_store_t *store, mongoc_client_t *client,
                      const char *channel) {
  memset(it, 0, sizeof *it);
  it->store = store;
  it->client = client;
  bson_strncpy(it->channel, channel, sizeof it->channel);
  it->stage = 0;
  it->priority = MTQ_PRIORITY_MAX;
}

mongoc_collection_t *mtq__places_next(mtq__places_t *it, bson_error_t *error) {
  for (;;) {
    it->seg[0] = '\0';
    it->moved = false;
    if (it->failed || it->priority < MTQ_PRIORITY_MIN) {
      return NULL;
    }
    switch (it->stage) {
    case 0: /* the delayed collection, once */
      it->stage = 1;
      it->lane = -1;
      return mtq__delayed(it->store, it->client, it->channel);
    case 1: /* the inbox */
      it->stage = 2;
      it->lane = it->priority;
      return mtq__seg_coll(it->store, it->client, it->channel, it->priority, "");
    case 2: /* the side lane */
      it->stage = 3;
      it->lane = it->priority;
      it->moved = true;
      it->n_page = it->i_page = it->skip = 0;
      return mtq__moved_lane(it->store, it->client, it->channel, it->priority);
    default: /* the listed segments, a page at a time */
      if (it->i_page == it->n_page) {
        if (it->n_page < MTQ__PLACES_PAGE && it->skip > 0) {
          it->n_page = 0; /* the last page was short: done */
        } else if (!mtq__seg_dir(it->store, it->client, it->channel, it->priority, it->skip,
                                 MTQ__PLACES_PAGE, it->page, &it->n_page, error)) {
          it->failed = true;
          return NULL;
        }
        it->skip += it->n_page;
        it->i_page = 0;
        if (it->n_page == 0) {
          it->stage = 1;
          it->priority--;
          continue;
        }
      }
      it->lane = it->priority;
      bson_strncpy(it->seg, it->page[it->i_page++], sizeof it->seg);
      return mtq__seg_coll(it->store, it->client, it->channel, it->priority, it->seg);
    }
  }
}

bool mtq__each_place(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                     mtq__place_fn fn, void *ctx, bson_error_t *error) {
  mtq__places_t it;
  mtq__places_init(&it, store, client, channel);
  mongoc_collection_t *coll;
  bool ok = true;
  while (ok && (coll = mtq__places_next(&it, error))) {
    ok = fn(ctx, coll, &it, error);
    mongoc_collection_destroy(coll);
  }
  return ok && !it.failed;
}

/* --- retirement -------------------------------------------------------------- */

void mtq_store_set_segment_retire(mtq_store_t *store, int64_t seconds) {
  pthread_mutex_lock(&store->lock);
  store->segment_retire_s = seconds > 0 ? seconds : MTQ_SEGMENT_RETIRE_S;
  pthread_mutex_unlock(&store->lock);
}

static bool ended_ago(const char *seg, int64_t seconds, int64_t now_ms) {
  int64_t w = mtq__seg_window(seg);
  return w >= 0 && (w + 1) * MTQ__WINDOW_S * 1000 + seconds * 1000 < now_ms;
}

bool mtq__seg_ended(const char *seg, int64_t now_ms) {
  return ended_ago(seg, MTQ__WINDOW_S, now_ms);
}

bool mtq__seg_closed(mtq_store_t *store, const char *seg, int64_t now_ms) {
  pthread_mutex_lock(&store->lock);
  int64_t retire_s = store->segment_retire_s > 0 ? store->segment_retire_s : MTQ_SEGMENT_RETIRE_S;
  pthread_mutex_unlock(&store->lock);
  return ended_ago(seg, retire_s, now_ms);
}

bool mtq__seg_retire(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                     int32_t priority, const char *seg, bool drop, bool *retired,
                     bson_error_t *error) {
  *retired = false;
  mongoc_collection_t *coll = mtq__seg_coll(store, client, channel, priority, seg);
  pthread_mutex_lock(&store->segment_lock);
  bool empty = false;
  bool ok = mtq__coll_empty(coll, &empty, error);
  if (ok && empty) {
    ok = unlist(store, client, channel, priority, seg, error) &&
         mtq__coll_empty(coll, &empty, error);
    if (ok && !empty) {
      /* An insert came in between: it stays. */
      ok = mtq__seg_list(store, client, channel, priority, seg, error);
    } else if (ok && !drop) {
      *retired = true;
    } else if (ok) {
      bson_error_t err;
      if (mongoc_collection_drop(coll, &err) || err.code == 26 /* NamespaceNotFound */) {
        *retired = true;
      } else {
        mtq__seg_list(store, client, channel, priority, seg, NULL); /* back as it was */
        if (error) {
          *error = err;
        }
        ok = false;
      }
    }
  }
  pthread_mutex_unlock(&store->segment_lock);
  mongoc_collection_destroy(coll);
  return ok;
}

void mtq__seg_lock(mtq_store_t *store) { pthread_mutex_lock(&store->segment_lock); }
void mtq__seg_unlock(mtq_store_t *store) { pthread_mutex_unlock(&store->segment_lock); }

/* Splits "q.<ch>.p<P>.<seg>" (ch may hold dots); false for any other name. */
static bool parse_name(const char *name, char *channel, int32_t *priority, char *seg) {
  size_t len = strlen(name);
  if (len < 4 || strncmp(name, "q.", 2) != 0) {
    return false;
  }
  /* The segment is ".w<10 digits>" or ".w<10 digits>.<8 hex>" at the end. */
  const char *end = name + len;
  const char *w = NULL;
  if (len > 12 && end[-11] == 'w' && end[-12] == '.') {
    w = end - 11;
  } else if (len > 21 && end[-9] == '.' && end[-20] == 'w' && end[-21] == '.') {
    w = end - 20;
  }
  if (!w) {
    return false;
  }
  for (const char *c = w + 1; c < w + 11; c++) {
    if (*c < '0' || *c > '9') {
      return false;
    }
  }
  /* Before its "." ".p<digit>", before that the channel. */
  const char *p = w - 4;
  if (p < name + 3 || p[0] != '.' || p[1] != 'p' || p[2] < '0' || p[2] > '9' || p[3] != '.') {
    return false;
  }
  size_t ch_len = (size_t)(p - (name + 2));
  if (ch_len == 0 || ch_len > MTQ_NAME_MAX) {
    return false;
  }
  memcpy(channel, name + 2, ch_len);
  channel[ch_len] = '\0';
  *priority = p[2] - '0';
  size_t seg_len = (size_t)(end - w);
  if (seg_len >= MTQ_SEG_MAX) {
    return false;
  }
  memcpy(seg, w, seg_len);
  seg[seg_len] = '\0';
  return mtq_name_valid(channel);
}

/* A priority's directory, read whole once per scan and sorted: a lookup
 * per segment would read the directory once per segment. */
typedef struct {
  char (*names)[MTQ_SEG_MAX];
  size_t n, cap;
  bool read;
} listed_t;

static int by_name(const void *a, const void *b) { return strcmp(a, b); }

static bool add_listed(void *ctx, const bson_t *doc) {
  listed_t *l = ctx;
  const char *seg = dir_entry(doc);
  if (seg) {
    if (l->n == l->cap) {
      l->cap = l->cap ? 2 * l->cap : 64;
      l->names = bson_realloc(l->names, l->cap * sizeof *l->names);
    }
    bson_strncpy(l->names[l->n++], seg, MTQ_SEG_MAX);
  }
  return true;
}

static bool read_listed(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                        int32_t priority, listed_t *l, bson_error_t *error) {
  mongoc_collection_t *dir = directory(store, client, channel, priority);
  bson_t filter = BSON_INITIALIZER;
  bool ok = mtq__each_doc(dir, &filter, NULL, add_listed, l, error);
  mongoc_collection_destroy(dir);
  if (l->n > 0) {
    qsort(l->names, l->n, sizeof *l->names, by_name);
  }
  l->read = ok;
  return ok;
}

bool mtq__seg_orphans(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                      size_t *relisted, size_t *dropped, bson_error_t *error) {
  *relisted = *dropped = 0;
  listed_t listed[MTQ_PRIORITY_LEVELS] = {0};
  mongoc_database_t *db = mongoc_client_get_database(client, store->db_name);
  char prefix[MTQ__COLL_NAME_MAX];
  snprintf(prefix, sizeof prefix, "q.%s.p", channel);
  char **names = mongoc_database_get_collection_names_with_opts(db, NULL, error);
  mongoc_database_destroy(db);
  if (!names) {
    return false;
  }
  bool ok = true;
  int64_t now = mtq_now_ms();
  for (size_t i = 0; ok && names[i]; i++) {
    char ch[MTQ_NAME_MAX + 1], seg[MTQ_SEG_MAX];
    int32_t p;
    if (strncmp(names[i], prefix, strlen(prefix)) != 0 ||
        !parse_name(names[i], ch, &p, seg) || strcmp(ch, channel) != 0) {
      continue;
    }
    /* A listed segment is the reconcile walk's (release.c), which drops
     * it once empty: only the others are asked whether they are empty, so
     * that a scan costs a query per orphan, not per segment. */
    listed_t *l = &listed[p - MTQ_PRIORITY_MIN];
    if (!l->read && !(ok = read_listed(store, client, channel, p, l, error))) {
      break;
    }
    if (l->n > 0 && bsearch(seg, l->names, l->n, sizeof *l->names, by_name)) {
      continue;
    }
    mongoc_collection_t *coll = mtq__coll(store, client, names[i]);
    bool empty = false;
    ok = mtq__coll_empty(coll, &empty, error);
    mongoc_collection_destroy(coll);
    if (ok && !empty) {
      ok = mtq__seg_list(store, client, channel, p, seg, error);
      *relisted += ok;
      mtq_info("%s holds tasks but was not listed: listed again", names[i]);
    } else if (ok && mtq__seg_closed(store, seg, now)) {
      bool retired = false;
      ok = mtq__seg_retire(store, client, channel, p, seg, true, &retired, error);
      *dropped += retired;
    }
  }
  bson_strfreev(names);
  for (int i = 0; i < MTQ_PRIORITY_LEVELS; i++) {
    bson_free(listed[i].names);
  }
  return ok;
}
