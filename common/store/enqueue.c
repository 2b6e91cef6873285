/* enqueue.c - the producer's write: a new task into its channel, with its
 * dedupe key and the channel's back-pressure (see mtq_client.h). */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "protocol.h"

/* Back-pressure without counting every lane at every enqueue.  The channel
 * document carries `backlog`: mtqd's last count of the tasks not yet ended
 * (every reconcile interval), plus one for each task producers enqueued
 * since.  Ends are subtracted only at mtqd's next count, so the figure errs
 * high; only when it comes within the headroom of max_backlog does a
 * producer count exactly.  The headroom covers the enqueues lost between
 * mtqd's count and its write, and the increments two producers racing on
 * FerretDB (where $inc is a read and a write) may lose. */
static int64_t headroom(int64_t max_backlog) {
  int64_t h = max_backlog / 10;
  return h < 1 ? 1 : h;
}

/* How many more tasks the channel takes (INT64_MAX: no limit). */
static bool room_of(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                    const mtq__channel_doc_t *ch, int64_t *room, bson_error_t *error) {
  *room = INT64_MAX;
  if (ch->max_backlog <= 0) {
    return true;
  }
  int64_t n = ch->backlog;
  if (n < 0 || n + headroom(ch->max_backlog) >= ch->max_backlog) {
    if (!mtq__channel_backlog(store, client, channel, &n, error)) {
      return false;
    }
  }
  *room = ch->max_backlog - n;
  return true;
}

/* More tasks in the channel document's backlog (best effort: mtqd's next
 * count puts it right). */
static void count_some(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                       int64_t n) {
  mongoc_collection_t *coll = mtq__coll(store, client, "channels");
  bson_t *sel = BCON_NEW("_id", BCON_UTF8(channel));
  bson_t *upd = BCON_NEW("$inc", "{", "backlog", BCON_INT64(n), "}");
  bson_error_t err;
  if (!mongoc_collection_update_one(coll, sel, upd, NULL, NULL, &err)) {
    mtq_debug("cannot count an enqueue into channel %s: %s", channel, err.message);
  }
  bson_destroy(upd);
  bson_destroy(sel);
  mongoc_collection_destroy(coll);
}

/* A task for a function no worker serves would wait forever: refused when
 * the producer asks, after the channel check so that its message comes
 * first. */
static bool served(mtq_store_t *store, const mtq_task_t *task, bson_error_t *error) {
  bool yes = false;
  if (!mtq_store_function_served(store, task->channel, task->func, task->version, &yes, error)) {
    return false;
  }
  if (!yes) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND,
                  "no worker serves function '%s' version %s on channel '%s'", task->func,
                  task->version, task->channel);
  }
  return yes;
}

/* A batch's view of one of its channels, read once. */
typedef struct {
  const char *name;
  bool ok;             /* declared, and read */
  bson_error_t error;  /* else why not */
  mtq__channel_doc_t doc;
  int64_t room;        /* tasks it still takes */
  int64_t added;
} batch_channel_t;

typedef struct {
  mtq_store_t *store;
  mongoc_client_t *client;
  mtq_task_t *tasks;
  size_t n;
  mtq_enqueue_result_t *results;
  bool *pending; /* still to insert */
  batch_channel_t *channels;
  size_t n_channels;
} batch_t;

static batch_channel_t *channel_of(batch_t *b, const char *name) {
  for (size_t i = 0; i < b->n_channels; i++) {
    if (strcmp(b->channels[i].name, name) == 0) {
      return &b->channels[i];
    }
  }
  batch_channel_t *c = &b->channels[b->n_channels++];
  memset(c, 0, sizeof *c);
  c->name = name;
  c->ok = mtq__channel_read(b->store, b->client, name, &c->doc, &c->error) &&
          room_of(b->store, b->client, name, &c->doc, &c->room, &c->error);
  return c;
}

static void refuse(batch_t *b, size_t i, const bson_error_t *why) {
  b->pending[i] = false;
  b->results[i].ok = false;
  b->results[i].error = *why;
}

/* 1. What each task's channel says: declared, served, room left. */
static void check_channels(batch_t *b, const bool *require_served) {
  for (size_t i = 0; i < b->n; i++) {
    mtq_task_t *t = &b->tasks[i];
    bson_error_t err;
    if (!mtq_name_valid(t->channel)) {
      mtq_error_set(&err, MTQ_ERR_INVALID, "'%s' is not a valid channel name", t->channel);
      refuse(b, i, &err);
      continue;
    }
    batch_channel_t *c = channel_of(b, t->channel);
    if (!c->ok) {
      refuse(b, i, &c->error);
    } else if (require_served && require_served[i] && !served(b->store, t, &err)) {
      refuse(b, i, &err);
    } else if (c->room <= 0) {
      mtq_error_set(&err, MTQ_ERR_FULL,
                    "channel %s is full: %lld tasks not yet ended, its max_backlog is %lld",
                    t->channel, (long long)(c->doc.max_backlog - c->room),
                    (long long)c->doc.max_backlog);
      refuse(b, i, &err);
    } else if (c->room != INT64_MAX) {
      c->room--;
    }
  }
}

/* 2. Dedupe keys: the records of all keys in one insert; a key that is
 * taken (by an earlier enqueue, or a task before it in this batch) names
 * the task that holds it, read back in one query.  The key goes first: a
 * producer that dies after it leaves a key naming a task that never came;
 * a re-enqueue by the same producer finds it by the key. */
static void dedupe(batch_t *b) {
  bson_t **docs = bson_malloc0((b->n + 1) * sizeof *docs);
  size_t *of = bson_malloc0((b->n + 1) * sizeof *of);
  size_t m = 0;
  for (size_t i = 0; i < b->n; i++) {
    mtq_task_t *t = &b->tasks[i];
    if (b->pending[i] && t->dedupe_key[0]) {
      char *key = bson_strdup_printf("%s:%s", t->channel, t->dedupe_key);
      docs[m] = BCON_NEW("_id", BCON_UTF8(key), "task", BCON_OID(&t->id), "channel",
                         BCON_UTF8(t->channel), "at", BCON_DATE_TIME(mtq_now_ms()));
      bson_free(key);
      of[m++] = i;
    }
  }
  if (m == 0) {
    bson_free(docs);
    bson_free(of);
    return;
  }
  mongoc_collection_t *coll = mtq__coll(b->store, b->client, "dedupe");
  bool *in = bson_malloc0(m * sizeof *in);
  bson_error_t *errs = bson_malloc0(m * sizeof *errs);
  bson_error_t err;
  mtq__insert_many(coll, (const bson_t *const *)docs, m, in, errs, &err);
  bson_t keys = BSON_INITIALIZER;
  size_t n_taken = 0;
  for (size_t k = 0; k < m; k++) {
    if (in[k]) {
      continue;
    }
    if (!mtq_error_is_duplicate(&errs[k])) {
      refuse(b, of[k], &errs[k]);
      continue;
    }
    char idx[16];
    const char *key;
    bson_iter_t it;
    bson_uint32_to_string((uint32_t)n_taken++, &key, idx, sizeof idx);
    bson_iter_init_find(&it, docs[k], "_id");
    BSON_APPEND_UTF8(&keys, key, bson_iter_utf8(&it, NULL));
  }
  if (n_taken > 0) {
    /* Who holds each taken key. */
    bson_t *filter = BCON_NEW("_id", "{", "$in", BCON_ARRAY(&keys), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
    const bson_t *found;
    bson_t holders = BSON_INITIALIZER; /* key -> task id */
    while (mongoc_cursor_next(cur, &found)) {
      bson_iter_t id, task;
      if (bson_iter_init_find(&id, found, "_id") && BSON_ITER_HOLDS_UTF8(&id) &&
          bson_iter_init_find(&task, found, "task") && BSON_ITER_HOLDS_OID(&task)) {
        BSON_APPEND_OID(&holders, bson_iter_utf8(&id, NULL), bson_iter_oid(&task));
      }
    }
    bool read_ok = !mongoc_cursor_error(cur, &err);
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    for (size_t k = 0; k < m; k++) {
      if (in[k] || !mtq_error_is_duplicate(&errs[k]) || !b->pending[of[k]]) {
        continue;
      }
      bson_iter_t key, holder;
      bson_iter_init_find(&key, docs[k], "_id");
      size_t i = of[k];
      if (read_ok && bson_iter_init_find(&holder, &holders, bson_iter_utf8(&key, NULL))) {
        b->pending[i] = false;
        b->results[i].ok = true;
        b->results[i].existing = true;
        bson_oid_copy(bson_iter_oid(&holder), &b->results[i].id);
        bson_oid_copy(bson_iter_oid(&holder), &b->tasks[i].id);
      } else {
        bson_error_t gone;
        if (read_ok) {
          /* Removed between our insert and our read (retention): try again. */
          mtq_error_set(&gone, MTQ_ERR_UNAVAILABLE, "dedupe key '%s' changed meanwhile",
                        b->tasks[i].dedupe_key);
        } else {
          gone = err;
        }
        refuse(b, i, &gone);
      }
    }
    bson_destroy(&holders);
  }
  bson_destroy(&keys);
  for (size_t k = 0; k < m; k++) {
    bson_destroy(docs[k]);
  }
  bson_free(errs);
  bson_free(in);
  mongoc_collection_destroy(coll);
  bson_free(docs);
  bson_free(of);
}

/* Where a new task goes: the delayed collection, dispatch (a parent) or
 * its segment. */
static void destination(const mtq_task_t *t, char *name, size_t size) {
  if (mtq_task_is_parent(t)) {
    snprintf(name, size, "%s", MTQ__DISPATCH);
  } else if (t->status == MTQ_STATE_DELAYED) {
    snprintf(name, size, "q.%s.delayed", t->channel);
  } else {
    mtq__seg_coll_name(t->channel, t->priority, t->seg, name, size);
  }
}

/* 3. The tasks, one unordered insert per destination collection; then the
 * segments they went into are listed (segment.c: insert, then list). */
static void insert_tasks(batch_t *b) {
  bool *done = bson_malloc0(b->n + 1);
  bson_t **docs = bson_malloc0((b->n + 1) * sizeof *docs);
  size_t *of = bson_malloc0((b->n + 1) * sizeof *of);
  bool *in = bson_malloc0(b->n + 1);
  bson_error_t *errs = bson_malloc0((b->n + 1) * sizeof *errs);
  for (size_t i = 0; i < b->n; i++) {
    if (!b->pending[i] || done[i]) {
      continue;
    }
    char name[MTQ__COLL_NAME_MAX], other[MTQ__COLL_NAME_MAX];
    destination(&b->tasks[i], name, sizeof name);
    size_t m = 0;
    for (size_t j = i; j < b->n; j++) {
      if (b->pending[j] && !done[j]) {
        destination(&b->tasks[j], other, sizeof other);
        if (strcmp(name, other) == 0) {
          docs[m] = bson_new();
          mtq_task_to_bson(&b->tasks[j], docs[m]);
          of[m++] = j;
          done[j] = true;
        }
      }
    }
    mongoc_collection_t *coll = mtq__coll(b->store, b->client, name);
    bson_error_t err;
    mtq__insert_many(coll, (const bson_t *const *)docs, m, in, errs, &err);
    mongoc_collection_destroy(coll);
    const mtq_task_t *first = &b->tasks[of[0]];
    bool any_in = false;
    for (size_t k = 0; k < m; k++) {
      size_t j = of[k];
      bson_destroy(docs[k]);
      if (!in[k]) {
        refuse(b, j, &errs[k]);
        continue;
      }
      any_in = true;
      b->pending[j] = false;
      b->results[j].ok = true;
      bson_oid_copy(&b->tasks[j].id, &b->results[j].id);
      channel_of(b, b->tasks[j].channel)->added++;
    }
    bool in_segment = first->seg[0] && first->status != MTQ_STATE_DELAYED &&
                      !mtq_task_is_parent(first);
    if (any_in && in_segment && !mtq__seg_list(b->store, b->client, first->channel, first->priority,
                                  first->seg, &err)) {
      /* The tasks are in; mtqd's scan of collection names lists a segment
       * that holds tasks within a minute (segment.c). */
      mtq_warn("could not list segment %s: %s", name, err.message);
    }
    if (any_in) {
      mtq__task_touch(b->store, b->client, first); /* idle workers: see wake.c */
    }
  }
  bson_free(errs);
  bson_free(in);
  bson_free(of);
  bson_free(docs);
  bson_free(done);
}

void mtq_store_assign(mtq_store_t *store, mtq_task_t *task) { mtq__seg_assign(store, task); }

size_t mtq_store_enqueue_many(mtq_store_t *store, mtq_task_t *tasks, size_t n,
                              const bool *require_served, mtq_enqueue_result_t *results) {
  batch_t b = {store, NULL, tasks, n, results, bson_malloc0(n + 1),
               bson_malloc0((n + 1) * sizeof(batch_channel_t)), 0};
  for (size_t i = 0; i < n; i++) {
    memset(&results[i], 0, sizeof results[i]);
    b.pending[i] = true;
    mtq_task_t *t = &tasks[i];
    /* A task built elsewhere: its segment, chosen here unless it is signed
     * (the id is signed; mtq_store_assign before signing).  A signed id
     * that names none goes to the inbox. */
    if (!t->seg[0]) {
      if (t->sig[0]) {
        mtq__seg_of_id(&t->id, t->seg);
      } else {
        mtq__seg_assign(store, t);
      }
    }
  }
  b.client = mtq__store_pop(store);
  check_channels(&b, require_served);
  dedupe(&b);
  insert_tasks(&b);
  size_t in = 0;
  for (size_t i = 0; i < n; i++) {
    in += results[i].ok;
  }
  for (size_t c = 0; c < b.n_channels; c++) {
    if (b.channels[c].ok && b.channels[c].doc.max_backlog > 0 && b.channels[c].added > 0) {
      count_some(store, b.client, b.channels[c].name, b.channels[c].added);
    }
  }
  mtq__store_push(store, b.client);
  bson_free(b.channels);
  bson_free(b.pending);
  return in;
}

bool mtq_store_enqueue(mtq_store_t *store, mtq_task_t *task, bool require_served, bool *existing,
                       bson_error_t *error) {
  mtq_enqueue_result_t r;
  mtq_store_enqueue_many(store, task, 1, &require_served, &r);
  if (existing) {
    *existing = r.existing;
  }
  if (!r.ok && error) {
    *error = r.error;
  }
  return r.ok;
}
