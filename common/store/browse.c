/* browse.c - the web view's task table: one page of tasks in a chosen
 * order, filtered, with keyset paging (see mtq_store_admin.h).
 *
 * What FerretDB makes of it (README, "Polling, and what FerretDB really
 * pushes down"): every filter and sort runs inside FerretDB over every
 * document of the collection asked.  So the page is built from the
 * places tasks live in, each asked for at most limit + 1 tasks after the
 * cursor, in the page's order, and merged here:
 *
 *   - a lane's segments hold at most a few hundred tasks each and are
 *     named by the window (10 s) of their tasks' ids, in age order in the
 *     directory; so a segment whose window cannot hold a task of the page
 *     (before the cursor, or after the page already filled) is not asked,
 *     and for an order by priority a lane below (or above) the page's
 *     last priority is not either.  A page of queued tasks costs a few
 *     bounded queries however deep the backlog;
 *   - the inboxes, side lanes, delayed collection and dispatch are asked
 *     each time (small in practice; the delayed one is a scan of itself);
 *   - ended tasks are in `results`, asked once per page: on FerretDB that
 *     query scans and sorts the whole collection (measured in the README,
 *     "Web dashboard"); on MongoDB its indexes serve finished_at.
 * No skip anywhere: the cursor is the last task's (key, _id). */
#define _GNU_SOURCE /* qsort_r */
#include <stdlib.h>
#include <string.h>

#include "mtq_error.h"
#include "segment.h"

/* A task's created_at and its id's time (which names its segment) are
 * taken a moment apart by the producer; this covers them. */
#define CREATED_SLACK_MS 2000
#define WINDOW_MS (MTQ__WINDOW_S * 1000)
#define DIR_PAGE 512

typedef struct {
  const mtq_browse_t *q;
  mtq_task_list_t *page; /* sorted, at most cap */
  size_t cap;            /* limit + 1: one more tells that a next page exists */
} page_t;

static const char *key_field(const mtq_browse_t *q) {
  return q->key == MTQ_BROWSE_PRIORITY      ? "priority"
         : q->key == MTQ_BROWSE_FINISHED_AT ? "finished_at"
                                            : "created_at";
}

static int64_t key_value(const mtq_browse_t *q, const mtq_task_t *t) {
  return q->key == MTQ_BROWSE_PRIORITY      ? t->priority
         : q->key == MTQ_BROWSE_FINISHED_AT ? t->finished_at
                                            : t->created_at;
}

/* Ties on the key are broken by _id: ascending under priority (oldest
 * first, the order tasks run in), else in the key's direction. */
static bool id_descending(const mtq_browse_t *q) {
  return q->key != MTQ_BROWSE_PRIORITY && q->descending;
}

static int order(const void *a, const void *b, void *ctx) {
  const mtq_browse_t *q = ctx;
  const mtq_task_t *x = a, *y = b;
  int64_t vx = key_value(q, x), vy = key_value(q, y);
  int c = vx < vy ? -1 : vx > vy ? 1 : 0;
  if (c) {
    return q->descending ? -c : c;
  }
  c = bson_oid_compare(&x->id, &y->id);
  return id_descending(q) ? -c : c;
}

static bool page_full(const page_t *p) { return p->page->n >= p->cap; }
static const mtq_task_t *page_last(const page_t *p) { return &p->page->items[p->page->n - 1]; }

static void page_trim(page_t *p) {
  qsort_r(p->page->items, p->page->n, sizeof *p->page->items, order, (void *)p->q);
  while (p->page->n > p->cap) {
    mtq_task_list_pop(p->page);
  }
}

/* The key as stored: a date, or the priority. */
static void append_key(bson_t *doc, const char *op, const mtq_browse_t *q, int64_t v) {
  bson_t sub;
  BSON_APPEND_DOCUMENT_BEGIN(doc, key_field(q), &sub);
  if (q->key == MTQ_BROWSE_PRIORITY) {
    BSON_APPEND_INT32(&sub, op, (int32_t)v);
  } else {
    BSON_APPEND_DATE_TIME(&sub, op, v);
  }
  bson_append_document_end(doc, &sub);
}

/* The filter every place shares: func, worker, error text, and the
 * position after the cursor: (key beyond v) or (key = v and _id beyond). */
static void common_filter(const mtq_browse_t *q, bson_t *f) {
  if (q->func) {
    BSON_APPEND_UTF8(f, "func", q->func);
  }
  if (q->worker) {
    BSON_APPEND_UTF8(f, "worker", q->worker);
  }
  if (q->error_text) {
    /* A substring, any case: the text escaped into a regex. */
    bson_string_t *re = bson_string_new(NULL);
    for (const char *c = q->error_text; *c; c++) {
      if (strchr("\\^$.|?*+()[]{}", *c)) {
        bson_string_append_c(re, '\\');
      }
      bson_string_append_c(re, *c);
    }
    BSON_APPEND_REGEX(f, "error", re->str, "i");
    bson_string_free(re, true);
  }
  if (q->has_after) {
    const char *beyond = q->descending ? "$lt" : "$gt";
    bson_t or, a, b, id;
    BSON_APPEND_ARRAY_BEGIN(f, "$or", &or);
    BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &a);
    append_key(&a, beyond, q, q->after_value);
    bson_append_document_end(&or, &a);
    BSON_APPEND_DOCUMENT_BEGIN(&or, "1", &b);
    if (q->key == MTQ_BROWSE_PRIORITY) {
      BSON_APPEND_INT32(&b, "priority", (int32_t)q->after_value);
    } else {
      BSON_APPEND_DATE_TIME(&b, key_field(q), q->after_value);
    }
    BSON_APPEND_DOCUMENT_BEGIN(&b, "_id", &id);
    BSON_APPEND_OID(&id, id_descending(q) ? "$lt" : "$gt", &q->after_id);
    bson_append_document_end(&b, &id);
    bson_append_document_end(&or, &b);
    bson_append_array_end(f, &or);
  }
}

/* The state as a live place's filter.  A waiting state names enabled
 * tasks (a disabled one shows as disabled, as `mtq show` says). */
static void live_state_filter(const mtq_browse_t *q, bson_t *f) {
  if (q->state == MTQ_STATE_DISABLED) {
    BSON_APPEND_BOOL(f, "is_enable", false);
  } else if (q->state != MTQ_STATE_INVALID) {
    BSON_APPEND_UTF8(f, "status", mtq_state_name(q->state));
    if (mtq_state_is_waiting(q->state)) {
      BSON_APPEND_BOOL(f, "is_enable", true);
    }
  }
}

/* Asks one collection for the next cap tasks after the cursor in the
 * page's order and merges them in. */
static bool ask(page_t *p, mongoc_collection_t *coll, const bson_t *filter, const char *channel,
                bson_error_t *error) {
  const mtq_browse_t *q = p->q;
  bson_t *opts = BCON_NEW("sort", "{", key_field(q), BCON_INT32(q->descending ? -1 : 1), "_id",
                          BCON_INT32(id_descending(q) ? -1 : 1), "}", "limit",
                          BCON_INT64((int64_t)p->cap));
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
  const bson_t *doc;
  while (mongoc_cursor_next(cur, &doc)) {
    mtq_task_t *t = mtq_task_list_push(p->page);
    bson_error_t perr;
    if (!mtq_task_from_bson(t, doc, channel, &perr)) {
      mtq_task_list_pop(p->page); /* a quarantined record or a hand-damaged one */
    }
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  bson_destroy(opts);
  page_trim(p);
  return ok;
}

static bool ask_named(page_t *p, mtq_store_t *store, mongoc_client_t *client, const char *name,
                      const bson_t *filter, const char *channel, bson_error_t *error) {
  mongoc_collection_t *coll = mtq__coll(store, client, name);
  bool ok = ask(p, coll, filter, channel, error);
  mongoc_collection_destroy(coll);
  return ok;
}

/* Whether a segment of window w may hold a task of the page: not wholly
 * before the cursor, and not wholly after the page's last task once it is
 * full.  Under priority the bound is on the ids' time (exact: the id names
 * the segment), else on created_at (within the slack). */
typedef enum { SEG_ASK, SEG_SKIP, SEG_STOP } seg_verdict_t;

static seg_verdict_t seg_verdict(const page_t *p, int32_t priority, int64_t w) {
  const mtq_browse_t *q = p->q;
  if (w < 0) {
    return SEG_ASK; /* the inbox: no bound */
  }
  bool by_id = q->key == MTQ_BROWSE_PRIORITY;
  int64_t slack = by_id ? 0 : CREATED_SLACK_MS;
  int64_t lo = w * WINDOW_MS - slack, hi = (w + 1) * WINDOW_MS + slack; /* [lo, hi) */
  /* Under priority the segment's tasks sort by id (ascending) after their
   * priority; the bounds apply only within the cursor's or last task's
   * priority. */
  bool desc = by_id ? false : q->descending;
  if (q->has_after && (!by_id || q->after_value == priority)) {
    int64_t at = by_id ? (int64_t)bson_oid_get_time_t(&q->after_id) * 1000 : q->after_value;
    if (desc ? lo > at : hi <= at) {
      return SEG_SKIP;
    }
  }
  if (page_full(p)) {
    const mtq_task_t *last = page_last(p);
    if (!by_id || last->priority == priority) {
      int64_t at = by_id ? (int64_t)bson_oid_get_time_t(&last->id) * 1000 : last->created_at;
      if (desc ? hi <= at : lo > at) {
        return SEG_STOP; /* and every segment after it in this walk */
      }
    }
  }
  return SEG_ASK;
}

/* Every listed segment of a priority, in name (age) order. */
static bool read_dir(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                     int32_t priority, char (**out)[MTQ_SEG_MAX], size_t *n,
                     bson_error_t *error) {
  size_t cap = DIR_PAGE;
  *out = bson_malloc(cap * sizeof **out);
  *n = 0;
  for (;;) {
    size_t got;
    if (*n + DIR_PAGE > cap) {
      cap *= 2;
      *out = bson_realloc(*out, cap * sizeof **out);
    }
    if (!mtq__seg_dir(store, client, channel, priority, *n, DIR_PAGE, *out + *n, &got, error)) {
      return false;
    }
    *n += got;
    if (got < DIR_PAGE) {
      return true;
    }
  }
}

static bool browse_lane(page_t *p, mtq_store_t *store, mongoc_client_t *client,
                        const char *channel, int32_t priority, const bson_t *filter,
                        bson_error_t *error) {
  mongoc_collection_t *coll = mtq__seg_coll(store, client, channel, priority, "");
  bool ok = ask(p, coll, filter, channel, error);
  mongoc_collection_destroy(coll);
  if (ok) {
    coll = mtq__moved_lane(store, client, channel, priority);
    ok = ask(p, coll, filter, channel, error);
    mongoc_collection_destroy(coll);
  }
  char(*segs)[MTQ_SEG_MAX] = NULL;
  size_t n = 0;
  ok = ok && read_dir(store, client, channel, priority, &segs, &n, error);
  /* Newest first walks the directory from its end. */
  bool backwards = p->q->key != MTQ_BROWSE_PRIORITY && p->q->descending;
  for (size_t k = 0; ok && k < n; k++) {
    const char *seg = segs[backwards ? n - 1 - k : k];
    seg_verdict_t v = seg_verdict(p, priority, mtq__seg_window(seg));
    if (v == SEG_STOP) {
      break;
    }
    if (v == SEG_ASK) {
      coll = mtq__seg_coll(store, client, channel, priority, seg);
      ok = ask(p, coll, filter, channel, error);
      mongoc_collection_destroy(coll);
    }
  }
  bson_free(segs);
  return ok;
}

/* Whether lane priority can hold a task of the page under an order by
 * priority: not before the cursor's, not after a full page's last. */
static bool lane_wanted(const page_t *p, int32_t priority) {
  const mtq_browse_t *q = p->q;
  if (q->key != MTQ_BROWSE_PRIORITY) {
    return true;
  }
  if (q->has_after && (q->descending ? priority > q->after_value : priority < q->after_value)) {
    return false;
  }
  return !page_full(p) ||
         (q->descending ? priority >= page_last(p)->priority : priority <= page_last(p)->priority);
}

static bool browse_live(page_t *p, mtq_store_t *store, mongoc_client_t *client,
                        const char *channel, bson_error_t *error) {
  const mtq_browse_t *q = p->q;
  mtq_state_t s = q->state;
  bson_t filter = BSON_INITIALIZER;
  common_filter(q, &filter);
  live_state_filter(q, &filter);
  bool ok = true;
  /* The delayed collection holds delayed, retry_wait, and suspended or
   * disabled waiting tasks; the lanes queued, running, blocked, and
   * suspended or disabled ones. */
  bool in_delayed = s == MTQ_STATE_INVALID || s == MTQ_STATE_DELAYED ||
                    s == MTQ_STATE_RETRY_WAIT || s == MTQ_STATE_SUSPENDED ||
                    s == MTQ_STATE_DISABLED;
  bool in_lanes = s != MTQ_STATE_DELAYED && s != MTQ_STATE_RETRY_WAIT;
  if (in_delayed) {
    mongoc_collection_t *coll = mtq__delayed(store, client, channel);
    ok = ask(p, coll, &filter, channel, error);
    mongoc_collection_destroy(coll);
  }
  for (int32_t k = 0; ok && in_lanes && k < MTQ_PRIORITY_LEVELS; k++) {
    /* Highest first, as tasks run, unless the page is by ascending priority. */
    bool up = q->key == MTQ_BROWSE_PRIORITY && !q->descending;
    int32_t prio = up ? MTQ_PRIORITY_MIN + k : MTQ_PRIORITY_MAX - k;
    if (lane_wanted(p, prio)) {
      ok = browse_lane(p, store, client, channel, prio, &filter, error);
    }
  }
  bson_destroy(&filter);
  return ok;
}

bool mtq_store_browse(mtq_store_t *store, const mtq_browse_t *q, mtq_task_list_t *out, bool *more,
                      bson_error_t *error) {
  *more = false;
  if (q->limit < 1 || q->limit > MTQ_BROWSE_LIMIT_MAX) {
    mtq_error_set(error, MTQ_ERR_INVALID, "limit must be 1..%d", MTQ_BROWSE_LIMIT_MAX);
    return false;
  }
  char **channels = NULL;
  if (q->channel ? !mtq_store_check_channel(store, q->channel, error)
                 : !mtq_store_channels(store, &channels, error)) {
    return false;
  }
  page_t p = {q, out, q->limit + 1};
  bool ended = q->state == MTQ_STATE_INVALID || mtq_state_is_terminal(q->state);
  bool live = q->key != MTQ_BROWSE_FINISHED_AT &&
              (q->state == MTQ_STATE_INVALID || !mtq_state_is_terminal(q->state));
  mongoc_client_t *client = mtq__store_pop(store);
  bool ok = true;
  if (live) {
    for (size_t c = 0; ok && (q->channel ? c == 0 : channels[c] != NULL); c++) {
      ok = browse_live(&p, store, client, q->channel ? q->channel : channels[c], error);
    }
    /* Parents of redundant copies, while they are live. */
    bson_t f = BSON_INITIALIZER;
    common_filter(q, &f);
    live_state_filter(q, &f);
    if (q->channel) {
      BSON_APPEND_UTF8(&f, "channel", q->channel);
    }
    ok = ok && ask_named(&p, store, client, MTQ__DISPATCH, &f, NULL, error);
    bson_destroy(&f);
  }
  if (ok && ended) {
    bson_t f = BSON_INITIALIZER;
    common_filter(q, &f);
    if (q->channel) {
      BSON_APPEND_UTF8(&f, "channel", q->channel);
    }
    if (q->state != MTQ_STATE_INVALID) {
      BSON_APPEND_UTF8(&f, "status", mtq_state_name(q->state));
    }
    ok = ask_named(&p, store, client, "results", &f, NULL, error);
    bson_destroy(&f);
  }
  mtq__store_push(store, client);
  bson_strfreev(channels);
  if (ok && out->n > q->limit) {
    *more = true;
    while (out->n > q->limit) {
      mtq_task_list_pop(out);
    }
  }
  return ok;
}
