/* schedules.c - recurring schedules and the records that fire each tick once
 * (see mtq_store_admin.h and mtq_store_coord.h).
 *
 *   schedules/<name>           the schedule: when it ticks, the template of
 *                              its task, its last tick (schedule_doc.c)
 *   ticks/<name>:<tick ms>     the decision of one tick: fire or skip.  Its
 *                              unique _id is what makes a tick fire once,
 *                              however many coordinators try it and
 *                              whichever of them dies half-way; its task
 *                              goes in with the dedupe key
 *                              schedule:<name>:<tick ms>, so that the next
 *                              one to try finishes an interrupted fire
 *                              without a second task.
 *
 * The schedule's last tick is a cache that saves work: on FerretDB its
 * update is a read and a write, so two coordinators may move it back a
 * tick, and the next pass then meets that tick's record again.  Records are
 * therefore kept MTQ_TICK_KEEP_MS past the last tick. */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "mtq_store_admin.h"
#include "mtq_store_coord.h"
#include "store_private.h"

#define SCHEDULES "schedules"
#define TICKS "ticks"

/* --- the operator's side ------------------------------------------------------ */

bool mtq_store_schedule_add(mtq_store_t *store, const mtq_schedule_t *s, bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, SCHEDULES);
  bson_t doc = BSON_INITIALIZER;
  mtq_schedule_to_bson(s, &doc);
  bson_error_t err;
  bool ok = mongoc_collection_insert_one(coll, &doc, NULL, NULL, &err);
  if (!ok && mtq_error_is_duplicate(&err)) {
    mtq_error_set(error, MTQ_ERR_CONFLICT, "schedule %s exists (remove it first)", s->name);
  } else if (!ok && error) {
    *error = err;
  }
  bson_destroy(&doc);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

typedef struct {
  mtq_schedule_t *items;
  size_t n, cap;
  const char *only; /* a name wanted, or NULL for all */
  bson_error_t bad; /* why the one wanted is malformed */
  bool was_bad;
} gather_t;

static bool gather(void *ctx, const bson_t *doc) {
  gather_t *g = ctx;
  if (g->n == g->cap) {
    g->cap = g->cap ? 2 * g->cap : 8;
    g->items = bson_realloc(g->items, g->cap * sizeof *g->items);
  }
  mtq_schedule_t *s = &g->items[g->n];
  mtq_schedule_init(s);
  bson_error_t err;
  if (mtq_schedule_from_bson(s, doc, &err)) {
    g->n++;
    return true;
  }
  bson_iter_t it;
  const char *name = bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it)
                         ? bson_iter_utf8(&it, NULL)
                         : "?";
  if (g->only) {
    mtq_error_set(&g->bad, MTQ_ERR_INVALID, "schedule %s is malformed: %s", name, err.message);
    g->was_bad = true;
  } else {
    mtq_warn("schedule %s is malformed, left alone: %s", name, err.message);
  }
  mtq_schedule_cleanup(s);
  return true;
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const mtq_schedule_t *)a)->name, ((const mtq_schedule_t *)b)->name);
}

static bool read_schedules(mtq_store_t *store, gather_t *g, bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, SCHEDULES);
  bson_t *filter = g->only ? BCON_NEW("_id", BCON_UTF8(g->only)) : bson_new();
  bool ok = mtq__each_doc(coll, filter, NULL, gather, g, error);
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  if (ok && g->n > 1) {
    qsort(g->items, g->n, sizeof *g->items, by_name);
  }
  return ok;
}

void mtq_schedule_list_free(mtq_schedule_t *list, size_t n) {
  for (size_t i = 0; i < n; i++) {
    mtq_schedule_cleanup(&list[i]);
  }
  bson_free(list);
}

bool mtq_store_schedules(mtq_store_t *store, mtq_schedule_t **out, size_t *n,
                         bson_error_t *error) {
  gather_t g = {0};
  if (!read_schedules(store, &g, error)) {
    mtq_schedule_list_free(g.items, g.n);
    return false;
  }
  *out = g.items;
  *n = g.n;
  return true;
}

bool mtq_store_schedule_get(mtq_store_t *store, const char *name, mtq_schedule_t *out,
                            bson_error_t *error) {
  gather_t g = {.only = name};
  bool ok = read_schedules(store, &g, error);
  if (ok && g.was_bad) {
    if (error) {
      *error = g.bad;
    }
    ok = false;
  } else if (ok && g.n == 0) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND, "no schedule %s", name);
    ok = false;
  } else if (ok) {
    mtq_schedule_cleanup(out);
    *out = g.items[0];
    g.n = 0;
  }
  mtq_schedule_list_free(g.items, g.n);
  return ok;
}

/* One update of schedule name; MTQ_ERR_NOT_FOUND when it matched nothing. */
static bool update_schedule(mtq_store_t *store, mongoc_client_t *client, const bson_t *filter,
                            const bson_t *update, bool must_match, const char *name,
                            bson_error_t *error) {
  mongoc_collection_t *coll = mtq__coll(store, client, SCHEDULES);
  bson_t reply;
  bool ok = mongoc_collection_update_one(coll, filter, update, NULL, &reply, error);
  bson_iter_t it;
  if (ok && must_match && bson_iter_init_find(&it, &reply, "matchedCount") &&
      bson_iter_as_int64(&it) == 0) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND, "no schedule %s", name);
    ok = false;
  }
  bson_destroy(&reply);
  mongoc_collection_destroy(coll);
  return ok;
}

bool mtq_store_schedule_pause(mtq_store_t *store, const char *name, bool paused, int64_t now_ms,
                              bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(name));
  bson_t *update = paused ? BCON_NEW("$set", "{", "paused", BCON_BOOL(true), "}")
                          : BCON_NEW("$set", "{", "paused", BCON_BOOL(false), "since",
                                     BCON_DATE_TIME(now_ms), "}");
  bool ok = update_schedule(store, client, filter, update, true, name, error);
  bson_destroy(update);
  bson_destroy(filter);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_schedule_remove(mtq_store_t *store, const char *name, bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, SCHEDULES);
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(name));
  bson_t reply;
  bool ok = mongoc_collection_delete_one(coll, filter, NULL, &reply, error);
  bson_iter_t it;
  if (ok && bson_iter_init_find(&it, &reply, "deletedCount") && bson_iter_as_int64(&it) == 0) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND, "no schedule %s", name);
    ok = false;
  }
  bson_destroy(&reply);
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  if (ok) {
    /* Best effort: mtqd's trim removes the records of schedules that are
     * gone anyway. */
    mongoc_collection_t *ticks = mtq__coll(store, client, TICKS);
    bson_t *sel = BCON_NEW("schedule", BCON_UTF8(name));
    bson_error_t err;
    if (!mongoc_collection_delete_many(ticks, sel, NULL, NULL, &err)) {
      mtq_debug("cannot remove the tick records of schedule %s: %s", name, err.message);
    }
    bson_destroy(sel);
    mongoc_collection_destroy(ticks);
  }
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_schedule_ticks(mtq_store_t *store, const char *name, size_t limit, bson_t *out,
                              bson_error_t *error) {
  bson_t *filter = BCON_NEW("schedule", BCON_UTF8(name));
  bson_t *opts = BCON_NEW("sort", "{", "tick", BCON_INT32(-1), "}", "limit",
                          BCON_INT64((int64_t)limit));
  bool ok = mtq__find_into(store, TICKS, filter, opts, "ticks", out, error);
  bson_destroy(opts);
  bson_destroy(filter);
  return ok;
}

/* --- firing a tick (mtqd) -------------------------------------------------------- */

/* The decision already recorded for a tick: skip, or fire (and its task, if
 * it went in). */
typedef struct {
  bool skip;
  bool has_task;
  bson_oid_t task; /* the task it enqueued, or the flow it submitted */
  bson_oid_t flow; /* a schedule of flows: the id its flow takes, chosen by the decider */
  char why[640];
} decision_t;

static bool read_decision(mongoc_collection_t *ticks, const char *key, decision_t *d,
                          bson_error_t *error) {
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(key));
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(ticks, filter, NULL, NULL);
  const bson_t *doc;
  bool ok = true;
  memset(d, 0, sizeof *d);
  if (mongoc_cursor_next(cur, &doc)) {
    bson_iter_t it;
    d->skip = bson_iter_init_find(&it, doc, "decision") && BSON_ITER_HOLDS_UTF8(&it) &&
              strcmp(bson_iter_utf8(&it, NULL), "skip") == 0;
    if (bson_iter_init_find(&it, doc, "task") && BSON_ITER_HOLDS_OID(&it)) {
      d->has_task = true;
      bson_oid_copy(bson_iter_oid(&it), &d->task);
    }
    if (bson_iter_init_find(&it, doc, "flow") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &d->flow);
    }
    if (bson_iter_init_find(&it, doc, "why") && BSON_ITER_HOLDS_UTF8(&it)) {
      bson_strncpy(d->why, bson_iter_utf8(&it, NULL), sizeof d->why);
    }
  } else if (!mongoc_cursor_error(cur, error)) {
    /* Trimmed between our insert and our read: the tick is long past. */
    d->skip = true;
    bson_strncpy(d->why, "its record is gone", sizeof d->why);
  } else {
    ok = false;
  }
  mongoc_cursor_destroy(cur);
  bson_destroy(filter);
  return ok;
}

/* Whether the previous run of s is still going: its task found and not
 * ended (a task retention removed is over). */
static bool previous_running(mtq_store_t *store, const mtq_schedule_t *s, bool *running,
                             char *why, size_t size, bson_error_t *error) {
  static const bson_oid_t zero;
  *running = false;
  if (!s->skip_if_running || bson_oid_equal(&s->last_task, &zero)) {
    return true;
  }
  bson_error_t err;
  bool ok = true;
  char hex[25];
  bson_oid_to_string(&s->last_task, hex);
  if (s->flow) {
    mtq_flow_t f;
    mtq_flow_init(&f);
    if (mtq_store_flow_get(store, &s->last_task, &f, &err)) {
      *running = !mtq_flow_state_is_terminal(f.status);
      snprintf(why, size, "its previous run, flow %s, is %s", hex, mtq_flow_state_name(f.status));
    } else if (!(err.domain == MTQ_ERROR_DOMAIN && err.code == MTQ_ERR_NOT_FOUND)) {
      if (error) {
        *error = err;
      }
      ok = false;
    }
    mtq_flow_cleanup(&f);
    return ok;
  }
  mtq_task_t t;
  mtq_task_init(&t);
  if (mtq_store_find(store, &s->last_task, &t, &err)) {
    *running = !mtq_state_is_terminal(t.status);
    snprintf(why, size, "its previous run, task %s, is %s", hex,
             mtq_state_name(mtq_task_state(&t)));
  } else if (!(err.domain == MTQ_ERROR_DOMAIN && err.code == MTQ_ERR_NOT_FOUND)) {
    if (error) {
      *error = err;
    }
    ok = false;
  }
  mtq_task_cleanup(&t);
  return ok;
}

/* Inserts the tick's record with our decision, or reads the decision that
 * another caller recorded first. */
static bool decide(mongoc_collection_t *ticks, const mtq_schedule_t *s, int64_t tick_ms,
                   const char *key, bool skip, const char *why, const char *by, decision_t *d,
                   mtq_tick_t *out, bson_error_t *error) {
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(key), "schedule", BCON_UTF8(s->name), "tick",
                         BCON_DATE_TIME(tick_ms), "decision", BCON_UTF8(skip ? "skip" : "fire"),
                         "task", BCON_NULL, "why", BCON_UTF8(why), "by", BCON_UTF8(by), "at",
                         BCON_DATE_TIME(mtq_now_ms()));
  /* A flow's id is chosen with the decision: whoever submits it, and
   * however often, submits that one flow (its _id is unique). */
  bson_oid_t flow;
  bson_oid_init(&flow, NULL);
  if (s->flow) {
    BSON_APPEND_OID(doc, "flow", &flow);
  }
  bson_error_t err;
  bool ok = mongoc_collection_insert_one(ticks, doc, NULL, NULL, &err);
  bson_destroy(doc);
  if (ok) {
    memset(d, 0, sizeof *d);
    d->skip = skip;
    d->flow = flow;
    bson_strncpy(d->why, why, sizeof d->why);
    return true;
  }
  if (!mtq_error_is_duplicate(&err)) {
    if (error) {
      *error = err;
    }
    return false;
  }
  out->by_other = true;
  return read_decision(ticks, key, d, error);
}

/* Enqueues the tick's task (or finds it, through its dedupe key). */
static bool enqueue_tick(mtq_store_t *store, const mtq_schedule_t *s, int64_t tick_ms,
                         const mtq_keyring_t *ring, mtq_tick_t *out, bson_error_t *error) {
  char dedupe[MTQ_TICK_KEY_MAX];
  mtq_schedule_tick_key(s->name, tick_ms, true, dedupe);
  mtq_task_t task;
  mtq_task_init(&task);
  bson_error_t err;
  bool ok = mtq_task_from_template(&task, s->task, mtq_now_ms(), dedupe, &err) &&
            (mtq_store_assign(store, &task), true) &&
            (!ring || mtq_keyring_empty(ring) || mtq_task_sign(ring, &task, &err)) &&
            mtq_store_enqueue(store, &task, false, NULL, &err);
  if (ok) {
    out->fired = true;
    out->task = task.id;
  } else if (mtq_error_is_transient(&err)) {
    if (error) {
      *error = err;
    }
  } else {
    /* The queue will not take it (full, not declared, a template a newer
     * version reads differently): the tick is skipped, and says why. */
    out->skipped = true;
    snprintf(out->why, sizeof out->why, "its task was refused: %s", err.message);
    ok = true;
  }
  mtq_task_cleanup(&task);
  return ok;
}

/* Submits the tick's flow under the id its record chose (or finds it
 * submitted already: the same _id). */
static bool submit_tick_flow(mtq_store_t *store, const mtq_schedule_t *s, const bson_oid_t *id,
                             const char *by, mtq_tick_t *out, bson_error_t *error) {
  static const bson_oid_t zero;
  mtq_flow_t f;
  mtq_flow_init(&f);
  bson_error_t err;
  if (bson_oid_equal(id, &zero)) {
    out->skipped = true;
    snprintf(out->why, sizeof out->why, "its record names no flow (decided before the "
             "schedule started flows)");
    return true;
  }
  bool ok = mtq_flow_from_bson(&f, s->flow, &err);
  if (ok) {
    bson_oid_copy(id, &f.id);
    f.created_at = mtq_now_ms();
    ok = mtq_store_flow_submit(store, &f, by, &err) ||
         mtq_error_is_duplicate(&err);
  }
  if (ok) {
    out->fired = true;
    out->task = *id;
  } else if (mtq_error_is_transient(&err)) {
    if (error) {
      *error = err;
    }
  } else {
    out->skipped = true;
    snprintf(out->why, sizeof out->why, "its flow was refused: %s", err.message);
    ok = true;
  }
  mtq_flow_cleanup(&f);
  return ok;
}

/* Records what became of a fired tick in its record (its task, or why it
 * was refused), best effort: it is for people reading `mtq schedule show`. */
static void note_outcome(mongoc_collection_t *ticks, const char *key, const mtq_tick_t *out) {
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(key));
  bson_t *update = out->fired
                       ? BCON_NEW("$set", "{", "task", BCON_OID(&out->task), "}")
                       : BCON_NEW("$set", "{", "decision", BCON_UTF8("skip"), "why",
                                  BCON_UTF8(out->why), "}");
  bson_error_t err;
  if (!mongoc_collection_update_one(ticks, filter, update, NULL, NULL, &err)) {
    mtq_debug("cannot note the outcome of tick %s: %s", key, err.message);
  }
  bson_destroy(update);
  bson_destroy(filter);
}

/* Moves the schedule's last tick on to tick_ms, never back (on MongoDB; on
 * FerretDB the filter is read before the write, see the top). */
static bool advance(mtq_store_t *store, mongoc_client_t *client, mtq_schedule_t *s,
                    int64_t tick_ms, const mtq_tick_t *out, bson_error_t *error) {
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(s->name), "$or", "[", "{", "last_tick", BCON_NULL,
                            "}", "{", "last_tick", "{", "$lt", BCON_DATE_TIME(tick_ms), "}", "}",
                            "]");
  bson_t *update = out->fired ? BCON_NEW("$set", "{", "last_tick", BCON_DATE_TIME(tick_ms),
                                         "last_task", BCON_OID(&out->task), "}")
                              : BCON_NEW("$set", "{", "last_tick", BCON_DATE_TIME(tick_ms), "}");
  bool ok = update_schedule(store, client, filter, update, false, s->name, error);
  bson_destroy(update);
  bson_destroy(filter);
  if (ok && tick_ms > s->last_tick_ms) {
    s->last_tick_ms = tick_ms;
    if (out->fired) {
      s->last_task = out->task;
    }
  }
  return ok;
}

bool mtq_store_schedule_fire(mtq_store_t *store, mtq_schedule_t *s, int64_t tick_ms,
                             const mtq_keyring_t *ring, const char *by, mtq_tick_t *out,
                             bson_error_t *error) {
  memset(out, 0, sizeof *out);
  char why[256] = "";
  bool running = false;
  if (!previous_running(store, s, &running, why, sizeof why, error)) {
    return false;
  }
  char key[MTQ_TICK_KEY_MAX];
  mtq_schedule_tick_key(s->name, tick_ms, false, key);
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *ticks = mtq__coll(store, client, TICKS);
  decision_t d;
  bool ok = decide(ticks, s, tick_ms, key, running, running ? why : "", by, &d, out, error);
  if (ok && d.skip) {
    out->skipped = true;
    bson_strncpy(out->why, d.why, sizeof out->why);
  } else if (ok && d.has_task) {
    out->fired = true;
    out->task = d.task;
  } else if (ok) {
    /* Ours to fire, or another's that stopped half-way: the dedupe key
     * makes a second enqueue find the first task, the flow's _id a second
     * submit find the first flow. */
    ok = s->flow ? submit_tick_flow(store, s, &d.flow, by, out, error)
                 : enqueue_tick(store, s, tick_ms, ring, out, error);
    if (ok) {
      note_outcome(ticks, key, out);
    }
  }
  ok = ok && advance(store, client, s, tick_ms, out, error);
  mongoc_collection_destroy(ticks);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_schedule_trim(mtq_store_t *store, const mtq_schedule_t *list, size_t n,
                             bson_error_t *error) {
  bson_t filter = BSON_INITIALIZER, or, nin, gone, names;
  BSON_APPEND_ARRAY_BEGIN(&filter, "$or", &or);
  BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &gone);
  BSON_APPEND_DOCUMENT_BEGIN(&gone, "schedule", &nin);
  BSON_APPEND_ARRAY_BEGIN(&nin, "$nin", &names);
  char key[16];
  for (size_t i = 0; i < n; i++) {
    const char *k;
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    BSON_APPEND_UTF8(&names, k, list[i].name);
  }
  bson_append_array_end(&nin, &names);
  bson_append_document_end(&gone, &nin);
  bson_append_document_end(&or, &gone);
  for (size_t i = 0, at = 1; i < n; i++) {
    if (list[i].last_tick_ms <= MTQ_TICK_KEEP_MS) {
      continue;
    }
    const char *k;
    bson_uint32_to_string((uint32_t)at++, &k, key, sizeof key);
    bson_t old, lt;
    BSON_APPEND_DOCUMENT_BEGIN(&or, k, &old);
    BSON_APPEND_UTF8(&old, "schedule", list[i].name);
    BSON_APPEND_DOCUMENT_BEGIN(&old, "tick", &lt);
    BSON_APPEND_DATE_TIME(&lt, "$lt", list[i].last_tick_ms - MTQ_TICK_KEEP_MS);
    bson_append_document_end(&old, &lt);
    bson_append_document_end(&or, &old);
  }
  bson_append_array_end(&filter, &or);
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *ticks = mtq__coll(store, client, TICKS);
  bool ok = mongoc_collection_delete_many(ticks, &filter, NULL, NULL, error);
  mongoc_collection_destroy(ticks);
  mtq__store_push(store, client);
  bson_destroy(&filter);
  return ok;
}
