/* flows.c - flows and the records of their shards' ends (see
 * mtq_store_admin.h, mtq_store_coord.h and mtq_flow.h).
 *
 *   flows/<id>                          the flow: its steps, their state,
 *                                       the ids of their tasks
 *   flowends/<flow>:<step>:<shard>      how one shard's task ended, inserted
 *                                       by whoever records the task's outcome
 *                                       (the worker, mtqd, an operator), in
 *                                       the same batch as the outcome; its
 *                                       unique _id keeps the first
 *   dedupe/<channel>:flow:<flow>:<step>:<shard>
 *                                       the shard's task, enqueued once
 *                                       whoever starts the step and however
 *                                       often (a coordinator that died after
 *                                       enqueueing and before writing the
 *                                       flow is finished by the next pass)
 *   events/<flow>:<step or ->:<to>      the flow's audit trail
 *
 * Why a collection of ends rather than the tasks' results: on FerretDB a
 * read of `results` by _id scans it, and it holds every finished task of
 * the retention period; flowends holds the ends of the flows not finished
 * (a flow's records go when it ends) and mtqd reads it once per pass for
 * every flow.  A record that could not be written (the recorder died
 * between the outcome and it) is repaired from `results` by mtqd. */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "mtq_store_admin.h"
#include "mtq_store_coord.h"
#include "store_private.h"

#define FLOWS "flows"
#define FLOWENDS "flowends"
/* A child's args hold its parents' results up to this size in all (the
 * rest of MTQ_ARGS_MAX_BYTES is the step's own args). */
#define PARENTS_MAX_BYTES (768 * 1024)

/* --- the audit trail ---------------------------------------------------------------- */

/* The _id names the transition ("<flow>:<step or ->:<to>"), so that a retry
 * records it once; a flow is suspended and resumed any number of times, so
 * those events also carry their moment. */
static bson_t *flow_event(const bson_oid_t *flow, const char *step, const char *from,
                          const char *to, const char *by, const char *why) {
  char hex[25], key[MTQ_NAME_MAX + 96];
  bson_oid_to_string(flow, hex);
  bool again = !step && (strcmp(to, "suspended") == 0 || strcmp(from, "suspended") == 0);
  snprintf(key, sizeof key, "%s:%s:%s", hex, step ? step : "-", to);
  if (again) {
    size_t len = strlen(key);
    snprintf(key + len, sizeof key - len, ":%lld", (long long)mtq_now_ms());
  }
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(key), "flow", BCON_OID(flow), "from", BCON_UTF8(from),
                         "to", BCON_UTF8(to), "by", BCON_UTF8(by), "at",
                         BCON_DATE_TIME(mtq_now_ms()));
  if (step) {
    BSON_APPEND_UTF8(doc, "step", step);
  }
  if (why && why[0]) {
    char *cut = bson_strndup(why, MTQ_ERROR_MAX_BYTES);
    BSON_APPEND_UTF8(doc, "why", cut);
    bson_free(cut);
  }
  return doc;
}

/* --- the operator's side -------------------------------------------------------------- */

bool mtq_store_flow_submit(mtq_store_t *store, const mtq_flow_t *f, const char *by,
                           bson_error_t *error) {
  if (!mtq_flow_validate(f, error)) {
    return false;
  }
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, FLOWS);
  bson_t doc = BSON_INITIALIZER;
  mtq_flow_to_bson(f, &doc);
  bool ok = mongoc_collection_insert_one(coll, &doc, NULL, NULL, error);
  if (ok) {
    bson_t *ev = flow_event(&f->id, NULL, "submitted", "running", by, f->name);
    mtq__events_write(store, client, &ev, 1);
    bson_destroy(ev);
  }
  bson_destroy(&doc);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

typedef struct {
  mtq_flow_t *items;
  size_t n, cap;
} gather_t;

static bool gather(void *ctx, const bson_t *doc) {
  gather_t *g = ctx;
  if (g->n == g->cap) {
    g->cap = g->cap ? 2 * g->cap : 8;
    g->items = bson_realloc(g->items, g->cap * sizeof *g->items);
  }
  mtq_flow_t *f = &g->items[g->n];
  mtq_flow_init(f);
  bson_error_t err;
  if (mtq_flow_from_bson(f, doc, &err)) {
    g->n++;
  } else {
    mtq_warn("a flow document is malformed, left alone: %s", err.message);
    mtq_flow_cleanup(f);
  }
  return true;
}

void mtq_flow_list_free(mtq_flow_t *list, size_t n) {
  for (size_t i = 0; i < n; i++) {
    mtq_flow_cleanup(&list[i]);
  }
  bson_free(list);
}

bool mtq_store_flows(mtq_store_t *store, bool unfinished, size_t limit, mtq_flow_t **out,
                     size_t *n, bson_error_t *error) {
  gather_t g = {0};
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, FLOWS);
  bson_t *filter = unfinished ? BCON_NEW("finished_at", BCON_NULL) : bson_new();
  bson_t *opts = limit ? BCON_NEW("sort", "{", "_id", BCON_INT32(-1), "}", "limit",
                                  BCON_INT64((int64_t)limit))
                       : NULL;
  bool ok = mtq__each_doc(coll, filter, opts, gather, &g, error);
  if (opts) {
    bson_destroy(opts);
  }
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  if (!ok) {
    mtq_flow_list_free(g.items, g.n);
    return false;
  }
  *out = g.items;
  *n = g.n;
  return true;
}

bool mtq_store_flow_get(mtq_store_t *store, const bson_oid_t *id, mtq_flow_t *out,
                        bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, FLOWS);
  bson_t doc;
  bool found = false;
  bool ok = mtq__find_by_id(coll, id, &doc, &found, error);
  char hex[25];
  bson_oid_to_string(id, hex);
  if (ok && !found) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND, "no flow %s", hex);
    ok = false;
  } else if (ok) {
    mtq_flow_cleanup(out);
    ok = mtq_flow_from_bson(out, &doc, error);
  }
  if (found) {
    bson_destroy(&doc);
  }
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

/* Moves flow id to state `to` by the flow's table (action names it in the
 * refusal), over the state it was read in, with its event: the flow as read
 * (status still the old one) into *f, initialised by the caller.  *moved
 * false when another changed it between the read and the write. */
static bool move_flow(mtq_store_t *store, const bson_oid_t *id, mtq_flow_state_t to,
                      const char *action, const char *reason, const char *by, mtq_flow_t *f,
                      bool *moved, bson_error_t *error) {
  *moved = false;
  if (!mtq_store_flow_get(store, id, f, error)) {
    return false;
  }
  char hex[25];
  bson_oid_to_string(id, hex);
  if (!mtq_flow_state_action(f->status, to)) {
    mtq_error_set(error, MTQ_ERR_STATE, "flow %s is %s: cannot %s it", hex,
                  mtq_flow_state_name(f->status), action);
    return false;
  }
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, FLOWS);
  bson_t *filter = BCON_NEW("_id", BCON_OID(id), "status",
                            BCON_UTF8(mtq_flow_state_name(f->status)));
  bson_t *update = reason ? BCON_NEW("$set", "{", "status", BCON_UTF8(mtq_flow_state_name(to)),
                                     "reason", BCON_UTF8(reason), "}")
                          : BCON_NEW("$set", "{", "status", BCON_UTF8(mtq_flow_state_name(to)),
                                     "}");
  bson_t reply;
  bool ok = mongoc_collection_update_one(coll, filter, update, NULL, &reply, error);
  bson_iter_t it;
  *moved = ok && bson_iter_init_find(&it, &reply, "matchedCount") && bson_iter_as_int64(&it) > 0;
  bson_destroy(&reply);
  if (*moved) {
    bson_t *ev = flow_event(id, NULL, mtq_flow_state_name(f->status), mtq_flow_state_name(to),
                            by, reason);
    mtq__events_write(store, client, &ev, 1);
    bson_destroy(ev);
  }
  bson_destroy(update);
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_flow_cancel(mtq_store_t *store, const bson_oid_t *id, const char *by,
                           bson_error_t *error) {
  mtq_flow_t f;
  mtq_flow_init(&f);
  char reason[MTQ__ACTOR_MAX + 32];
  snprintf(reason, sizeof reason, "cancelled by %s", by);
  bool moved;
  bool ok = move_flow(store, id, MTQ_FLOW_CANCELLED, "cancel", reason, by, &f, &moved, error);
  /* The tasks that run now are cancelled at once; mtqd finishes the rest
   * (skips the steps that wait, and cancels anything a crash left). */
  f.status = MTQ_FLOW_CANCELLED;
  bson_free(f.reason);
  f.reason = bson_strdup(reason);
  for (size_t i = 0; ok && i < f.n_steps; i++) {
    mtq_store_flow_cancel_step(store, &f, i, by);
  }
  mtq_flow_cleanup(&f);
  return ok;
}

bool mtq_store_flow_suspend(mtq_store_t *store, const bson_oid_t *id, bool suspend,
                            const char *by, bson_error_t *error) {
  mtq_flow_t f;
  mtq_flow_init(&f);
  mtq_flow_state_t to = suspend ? MTQ_FLOW_SUSPENDED : MTQ_FLOW_RUNNING;
  bool moved;
  bool ok = move_flow(store, id, to, suspend ? "suspend" : "resume", NULL, by, &f, &moved, error);
  char hex[25];
  bson_oid_to_string(id, hex);
  if (ok && !moved) {
    mtq_error_set(error, MTQ_ERR_CONFLICT, "flow %s changed meanwhile: try again", hex);
    ok = false;
  }
  /* The tasks of its running steps; the waiting ones are held by mtqd
   * (mtq_flow_plan starts nothing in a suspended flow). */
  for (size_t i = 0; ok && i < f.n_steps; i++) {
    const mtq_step_t *s = &f.steps[i];
    for (int32_t k = 0; s->state == MTQ_STEP_RUNNING && s->tasks && k < s->shards; k++) {
      bson_error_t err;
      bool done = suspend ? mtq_store_suspend(store, &s->tasks[k], by, &err)
                          : mtq_store_resume(store, &s->tasks[k], by, &err);
      if (!done && !(err.domain == MTQ_ERROR_DOMAIN &&
                     (err.code == MTQ_ERR_STATE || err.code == MTQ_ERR_NOT_FOUND))) {
        mtq_warn("flow %s, step %s, shard %d: cannot %s its task: %s", hex, s->name, (int)k,
                 suspend ? "suspend" : "resume", err.message);
      }
    }
  }
  mtq_flow_cleanup(&f);
  return ok;
}

void mtq_store_flow_cancel_step(mtq_store_t *store, const mtq_flow_t *f, size_t step,
                                const char *by) {
  const mtq_step_t *s = &f->steps[step];
  char hex[25];
  bson_oid_to_string(&f->id, hex);
  char *why = bson_strdup_printf("cancelled by %s: its flow %s %s%s%s", by, hex,
                                 mtq_flow_state_name(f->status), f->reason ? ": " : "",
                                 f->reason ? f->reason : "");
  for (int32_t k = 0; s->tasks && k < s->shards; k++) {
    bson_error_t err;
    if (!mtq_store_cancel_because(store, &s->tasks[k], by, why, &err) &&
        !(err.domain == MTQ_ERROR_DOMAIN &&
          (err.code == MTQ_ERR_STATE || err.code == MTQ_ERR_NOT_FOUND))) {
      mtq_debug("flow step %s, shard %d: cannot cancel its task: %s", s->name, (int)k,
                err.message);
    }
  }
  bson_free(why);
}

bool mtq_store_flow_history(mtq_store_t *store, const bson_oid_t *id, bson_t *out,
                            bson_error_t *error) {
  bson_t *filter = BCON_NEW("flow", BCON_OID(id));
  bson_t *opts = BCON_NEW("sort", "{", "at", BCON_INT32(1), "}");
  bool ok = mtq__find_into(store, "events", filter, opts, "events", out, error);
  bson_destroy(opts);
  bson_destroy(filter);
  return ok;
}

/* --- the ends of shards ----------------------------------------------------------------- */

/* The record of how a flow's task ended (it must be in a flow and ended). */
static bson_t *end_record(const mtq_task_t *t) {
  char key[MTQ_FLOW_KEY_MAX];
  mtq_flow_shard_key(&t->flow, t->step, t->shard, false, key);
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(key), "flow", BCON_OID(&t->flow), "step",
                         BCON_UTF8(t->step), "shard", BCON_INT32(t->shard), "task",
                         BCON_OID(&t->id), "status", BCON_UTF8(mtq_state_name(t->status)),
                         "finished_at", BCON_DATE_TIME(t->finished_at ? t->finished_at
                                                                      : mtq_now_ms()));
  if (t->error) {
    char *cut = bson_strndup(t->error, 512);
    BSON_APPEND_UTF8(doc, "error", cut);
    bson_free(cut);
  }
  if (t->result && t->result->len <= MTQ_FLOW_RESULT_INLINE_MAX) {
    BSON_APPEND_DOCUMENT(doc, "result", t->result);
  }
  return doc;
}

void mtq__flow_note_ends(mtq_store_t *store, mongoc_client_t *client,
                         const mtq_task_t *const *tasks, size_t n) {
  bson_t **docs = bson_malloc0((n + 1) * sizeof *docs);
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (mtq_task_in_flow(tasks[i]) && mtq_state_is_terminal(tasks[i]->status)) {
      docs[m++] = end_record(tasks[i]);
    }
  }
  if (m) {
    /* A duplicate is an end noted before (a retry); one that is lost is
     * repaired by mtqd from the outcome in results. */
    mongoc_collection_t *coll = mtq__coll(store, client, FLOWENDS);
    mtq__insert_records(coll, (const bson_t *const *)docs, m, "flow end");
    mongoc_collection_destroy(coll);
  }
  for (size_t i = 0; i < m; i++) {
    bson_destroy(docs[i]);
  }
  bson_free(docs);
}

void mtq_flow_ends_cleanup(mtq_flow_ends_t *e, const mtq_flow_t *f) {
  for (size_t i = 0; e->status && i < f->n_steps; i++) {
    bson_free(e->status[i]);
  }
  bson_free(e->status);
  e->status = NULL;
}

/* Prepares ends for f: a status array per started step, nothing ended. */
static void ends_init(mtq_flow_ends_t *e, const mtq_flow_t *f) {
  e->status = bson_malloc0((f->n_steps + 1) * sizeof *e->status);
  for (size_t i = 0; i < f->n_steps; i++) {
    const mtq_step_t *s = &f->steps[i];
    if (s->state != MTQ_STEP_WAITING) {
      e->status[i] = bson_malloc((size_t)s->shards * sizeof **e->status);
      for (int32_t k = 0; k < s->shards; k++) {
        e->status[i][k] = MTQ_STATE_INVALID;
      }
    }
  }
}

typedef struct {
  const mtq_flow_t *flows;
  size_t n;
  mtq_flow_ends_t *ends;
} bucket_t;

static bool bucket(void *ctx, const bson_t *doc) {
  bucket_t *b = ctx;
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, "flow") || !BSON_ITER_HOLDS_OID(&it)) {
    return true;
  }
  const bson_oid_t *flow = bson_iter_oid(&it);
  for (size_t i = 0; i < b->n; i++) {
    const mtq_flow_t *f = &b->flows[i];
    if (!bson_oid_equal(flow, &f->id)) {
      continue;
    }
    const char *step = bson_iter_init_find(&it, doc, "step") && BSON_ITER_HOLDS_UTF8(&it)
                           ? bson_iter_utf8(&it, NULL)
                           : "";
    int64_t shard = bson_iter_init_find(&it, doc, "shard") && BSON_ITER_HOLDS_INT32(&it)
                        ? bson_iter_int32(&it)
                        : -1;
    mtq_state_t st = bson_iter_init_find(&it, doc, "status") && BSON_ITER_HOLDS_UTF8(&it)
                         ? mtq_state_parse(bson_iter_utf8(&it, NULL))
                         : MTQ_STATE_INVALID;
    long s = mtq_flow_step_index(f, step);
    if (s >= 0 && shard >= 0 && shard < f->steps[s].shards && b->ends[i].status[s] &&
        mtq_state_is_terminal(st)) {
      b->ends[i].status[s][shard] = st;
    }
    break;
  }
  return true;
}

bool mtq_store_flow_ends(mtq_store_t *store, const mtq_flow_t *flows, size_t n,
                         mtq_flow_ends_t *ends, bson_error_t *error) {
  for (size_t i = 0; i < n; i++) {
    ends_init(&ends[i], &flows[i]);
  }
  if (n == 0) {
    return true;
  }
  /* One read for every flow: on FerretDB a filter is applied after every
   * document is read anyway. */
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, FLOWENDS);
  bson_t *filter = bson_new();
  bson_t *opts = BCON_NEW("projection", "{", "result", BCON_INT32(0), "error", BCON_INT32(0), "}");
  bucket_t b = {flows, n, ends};
  bool ok = mtq__each_doc(coll, filter, opts, bucket, &b, error);
  bson_destroy(opts);
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_flow_repair(mtq_store_t *store, const mtq_flow_t *f, const mtq_flow_ends_t *ends,
                           bool all, size_t max, size_t *repaired, bson_error_t *error) {
  *repaired = 0;
  size_t asked = 0;
  for (size_t i = 0; i < f->n_steps && asked < max; i++) {
    const mtq_step_t *s = &f->steps[i];
    if (s->state != MTQ_STEP_RUNNING || !s->tasks || !ends->status[i] || (!all && !s->external)) {
      continue;
    }
    for (int32_t k = 0; k < s->shards && asked < max; k++) {
      if (ends->status[i][k] != MTQ_STATE_INVALID) {
        continue;
      }
      asked++;
      mtq_task_t t;
      mtq_task_init(&t);
      bson_error_t err;
      bool found = mtq_store_find(store, &s->tasks[k], &t, &err);
      bool ok = found || (err.domain == MTQ_ERROR_DOMAIN && err.code == MTQ_ERR_NOT_FOUND);
      if (ok && !found) {
        /* Gone (retention removed it, or it never was): it did not end
         * done as far as anyone can tell. */
        bson_oid_copy(&s->tasks[k], &t.id);
        t.status = MTQ_STATE_FAILED;
        t.error = bson_strdup("the task is not found (removed by retention, or never enqueued)");
        found = true;
      } else if (!ok && error) {
        *error = err;
      }
      if (ok && found && mtq_state_is_terminal(t.status)) {
        /* The outcome is there and its end record is not: the recorder
         * stopped between the two. */
        bson_oid_copy(&f->id, &t.flow);
        bson_strncpy(t.step, s->name, sizeof t.step);
        t.shard = k;
        mongoc_client_t *client = mtq__store_pop(store);
        const mtq_task_t *one = &t;
        mtq__flow_note_ends(store, client, &one, 1);
        mtq__store_push(store, client);
        (*repaired)++;
      }
      mtq_task_cleanup(&t);
      if (!ok) {
        return false;
      }
    }
  }
  return true;
}

/* --- starting a step ------------------------------------------------------------------ */

/* The parents' outcomes a child's args carry: {"<step>": {shards, done,
 * missing: [k...], results: [{shard, task, status, result}...]}}, results
 * left out (ids only) beyond PARENTS_MAX_BYTES. */
typedef struct {
  const mtq_flow_t *f;
  const mtq_step_t *child;
  bson_t **per;     /* per parent (in child->after order): the records read */
  bool inline_ok;
  size_t bytes;
} parents_t;

static bool collect_parent(void *ctx, const bson_t *doc) {
  parents_t *p = ctx;
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, "step") || !BSON_ITER_HOLDS_UTF8(&it)) {
    return true;
  }
  const char *step = bson_iter_utf8(&it, NULL);
  for (size_t k = 0; k < p->child->n_after; k++) {
    if (strcmp(p->f->steps[p->child->after[k]].name, step) == 0) {
      char key[16];
      const char *kk;
      bson_uint32_to_string(bson_count_keys(p->per[k]), &kk, key, sizeof key);
      bson_append_document(p->per[k], kk, -1, doc);
      p->bytes += doc->len;
    }
  }
  return true;
}

/* Appends one parent's summary to parents: its shards in order. */
static void append_parent(bson_t *parents, const mtq_step_t *ps, const bson_t *records,
                          bool with_results) {
  bson_t sum, missing, results, r;
  int32_t done = 0;
  bson_t **by_shard = bson_malloc0(((size_t)ps->shards + 1) * sizeof *by_shard);
  bson_iter_t it, f;
  bson_t rec;
  if (bson_iter_init(&it, records)) {
    while (mtq_bson_next_doc(&it, &rec)) {
      if (bson_iter_init_find(&f, &rec, "shard") && BSON_ITER_HOLDS_INT32(&f) &&
          bson_iter_int32(&f) >= 0 && bson_iter_int32(&f) < ps->shards) {
        by_shard[bson_iter_int32(&f)] = bson_copy(&rec);
      }
    }
  }
  BSON_APPEND_DOCUMENT_BEGIN(parents, ps->name, &sum);
  BSON_APPEND_INT32(&sum, "shards", ps->shards);
  BSON_APPEND_ARRAY_BEGIN(&sum, "results", &results);
  char key[16];
  const char *k;
  for (int32_t s = 0; s < ps->shards; s++) {
    bson_uint32_to_string((uint32_t)s, &k, key, sizeof key);
    BSON_APPEND_DOCUMENT_BEGIN(&results, k, &r);
    BSON_APPEND_INT32(&r, "shard", s);
    const bson_t *d = by_shard[s];
    const char *status = "missing";
    if (d && bson_iter_init_find(&f, d, "status") && BSON_ITER_HOLDS_UTF8(&f)) {
      status = bson_iter_utf8(&f, NULL);
    }
    done += strcmp(status, "done") == 0;
    if (d && bson_iter_init_find(&f, d, "task") && BSON_ITER_HOLDS_OID(&f)) {
      BSON_APPEND_OID(&r, "task", bson_iter_oid(&f));
    } else if (ps->tasks) {
      BSON_APPEND_OID(&r, "task", &ps->tasks[s]);
    }
    BSON_APPEND_UTF8(&r, "status", status);
    if (with_results && d && bson_iter_init_find(&f, d, "result")) {
      bson_append_iter(&r, "result", -1, &f);
    }
    if (d && bson_iter_init_find(&f, d, "error") && BSON_ITER_HOLDS_UTF8(&f)) {
      bson_append_iter(&r, "error", -1, &f);
    }
    bson_append_document_end(&results, &r);
  }
  bson_append_array_end(&sum, &results);
  BSON_APPEND_INT32(&sum, "done", done);
  BSON_APPEND_ARRAY_BEGIN(&sum, "missing", &missing);
  for (int32_t s = 0, m = 0; s < ps->shards; s++) {
    const char *status = "missing";
    if (by_shard[s] && bson_iter_init_find(&f, by_shard[s], "status") &&
        BSON_ITER_HOLDS_UTF8(&f)) {
      status = bson_iter_utf8(&f, NULL);
    }
    if (strcmp(status, "done") != 0) {
      bson_uint32_to_string((uint32_t)m++, &k, key, sizeof key);
      BSON_APPEND_INT32(&missing, k, s);
    }
  }
  bson_append_array_end(&sum, &missing);
  BSON_APPEND_BOOL(&sum, "results_inline", with_results);
  bson_append_document_end(parents, &sum);
  for (int32_t s = 0; s < ps->shards; s++) {
    if (by_shard[s]) {
      bson_destroy(by_shard[s]);
    }
  }
  bson_free(by_shard);
}

/* The parents document of step s of f (empty when it has none). */
static bool parents_of(mtq_store_t *store, const mtq_flow_t *f, const mtq_step_t *s,
                       bson_t *out, bson_error_t *error) {
  bson_init(out);
  if (s->n_after == 0) {
    return true;
  }
  parents_t p = {f, s, bson_malloc0((s->n_after + 1) * sizeof *p.per), true, 0};
  for (size_t k = 0; k < s->n_after; k++) {
    p.per[k] = bson_new();
  }
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, FLOWENDS);
  bson_t *filter = BCON_NEW("flow", BCON_OID(&f->id));
  bool ok = mtq__each_doc(coll, filter, NULL, collect_parent, &p, error);
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  bool with_results = p.bytes <= PARENTS_MAX_BYTES;
  for (size_t k = 0; ok && k < s->n_after; k++) {
    append_parent(out, &f->steps[s->after[k]], p.per[k], with_results);
  }
  for (size_t k = 0; k < s->n_after; k++) {
    bson_destroy(p.per[k]);
  }
  bson_free(p.per);
  return ok;
}

/* The args of shard k: the step's own, then shard and shards (when the
 * step has more than one), then its parents' outcomes. */
static bool shard_args(mtq_task_t *t, const mtq_step_t *s, int32_t k, const bson_t *parents,
                       bson_error_t *error) {
  bson_t *args = bson_copy(t->args);
  if (s->shards > 1) {
    BSON_APPEND_INT32(args, "shard", k);
    BSON_APPEND_INT32(args, "shards", s->shards);
  }
  if (!bson_empty(parents)) {
    BSON_APPEND_DOCUMENT(args, "parents", parents);
  }
  if (args->len > MTQ_ARGS_MAX_BYTES) {
    bson_destroy(args);
    mtq_error_set(error, MTQ_ERR_TOO_LARGE, "step %s: its args with its parents' outcomes are "
                  "over %d bytes", s->name, MTQ_ARGS_MAX_BYTES);
    return false;
  }
  bson_destroy(t->args);
  t->args = args;
  return true;
}

/* A shard the queue refused for good: its end is recorded as failed, so
 * that the step ends and the flow says why. */
static void refused_shard(mtq_store_t *store, mtq_task_t *t, const bson_error_t *why) {
  t->status = MTQ_STATE_FAILED;
  t->finished_at = mtq_now_ms();
  bson_free(t->error);
  t->error = bson_strdup_printf("refused by the queue: %s", why->message);
  mongoc_client_t *client = mtq__store_pop(store);
  const mtq_task_t *one = t;
  mtq__flow_note_ends(store, client, &one, 1);
  mtq__store_push(store, client);
}

/* A held step starts by unblocking its tasks. */
static bool unblock_step(mtq_store_t *store, mtq_flow_t *f, mtq_step_t *s, const char *by,
                         bson_error_t *error) {
  for (int32_t k = 0; s->tasks && k < s->shards; k++) {
    bson_error_t err;
    if (mtq_store_unblock(store, &s->tasks[k], by, &err)) {
      continue;
    }
    if (mtq_error_is_transient(&err)) {
      if (error) {
        *error = err;
      }
      return false;
    }
    if (err.domain == MTQ_ERROR_DOMAIN && err.code == MTQ_ERR_NOT_FOUND) {
      mtq_task_t t;
      mtq_task_init(&t);
      bson_oid_copy(&s->tasks[k], &t.id);
      bson_oid_copy(&f->id, &t.flow);
      bson_strncpy(t.step, s->name, sizeof t.step);
      t.shard = k;
      refused_shard(store, &t, &err);
      mtq_task_cleanup(&t);
    }
    /* Otherwise it moved on by itself (an operator cancelled or resumed
     * it): its end is noted as any flow task's is. */
  }
  return true;
}

bool mtq_store_flow_start(mtq_store_t *store, mtq_flow_t *f, size_t step,
                          const mtq_keyring_t *ring, const char *by, bson_error_t *error) {
  mtq_step_t *s = &f->steps[step];
  if (s->held) {
    return unblock_step(store, f, s, by, error);
  }
  bson_t parents;
  if (!parents_of(store, f, s, &parents, error)) {
    bson_destroy(&parents);
    return false;
  }
  size_t n = (size_t)s->shards;
  mtq_task_t *tasks = bson_malloc0(n * sizeof *tasks);
  mtq_enqueue_result_t *res = bson_malloc0(n * sizeof *res);
  bool ok = true;
  int64_t now = mtq_now_ms();
  for (size_t k = 0; ok && k < n; k++) {
    char key[MTQ_FLOW_KEY_MAX];
    mtq_flow_shard_key(&f->id, s->name, (int32_t)k, true, key);
    mtq_task_init(&tasks[k]);
    ok = mtq_task_from_template(&tasks[k], s->task, now, key, error) &&
         shard_args(&tasks[k], s, (int32_t)k, &parents, error);
    if (ok) {
      bson_oid_copy(&f->id, &tasks[k].flow);
      bson_strncpy(tasks[k].step, s->name, sizeof tasks[k].step);
      tasks[k].shard = (int32_t)k;
      tasks[k].shards = s->shards;
      mtq_store_assign(store, &tasks[k]);
      ok = !ring || mtq_keyring_empty(ring) || mtq_task_sign(ring, &tasks[k], error);
    }
  }
  bson_destroy(&parents);
  if (ok) {
    mtq_store_enqueue_many(store, tasks, n, NULL, res);
    bson_free(s->tasks);
    s->tasks = bson_malloc0(n * sizeof *s->tasks);
    for (size_t k = 0; ok && k < n; k++) {
      if (res[k].ok) {
        s->tasks[k] = res[k].id;
      } else if (mtq_error_is_transient(&res[k].error) ||
                 (res[k].error.domain == MTQ_ERROR_DOMAIN && res[k].error.code == MTQ_ERR_FULL)) {
        /* Tried again at the next pass: the shards in are found by their
         * dedupe keys, the others go in then. */
        if (error) {
          *error = res[k].error;
        }
        ok = false;
      } else {
        s->tasks[k] = tasks[k].id;
        refused_shard(store, &tasks[k], &res[k].error);
      }
    }
  }
  for (size_t k = 0; k < n; k++) {
    mtq_task_cleanup(&tasks[k]);
  }
  bson_free(tasks);
  bson_free(res);
  return ok;
}

/* --- writing the flow ------------------------------------------------------------------ */

bool mtq_store_flow_save(mtq_store_t *store, const mtq_flow_t *f, mtq_flow_state_t was,
                         const mtq_step_state_t *steps_were, const char *by,
                         bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, FLOWS);
  bson_t doc = BSON_INITIALIZER;
  mtq_flow_to_bson(f, &doc);
  /* Only over the state it was planned from: an operator's cancel in the
   * meantime is not undone (on MongoDB; on FerretDB the filter is a read
   * before the write, and the next pass sees the cancel). */
  bson_t *filter = BCON_NEW("_id", BCON_OID(&f->id), "status",
                            BCON_UTF8(mtq_flow_state_name(was)));
  bson_t reply;
  bool ok = mongoc_collection_replace_one(coll, filter, &doc, NULL, &reply, error);
  bson_iter_t it;
  bool matched = ok && bson_iter_init_find(&it, &reply, "matchedCount") &&
                 bson_iter_as_int64(&it) > 0;
  bson_destroy(&reply);
  bson_destroy(filter);
  bson_destroy(&doc);
  mongoc_collection_destroy(coll);
  if (matched) {
    bson_t **evs = bson_malloc0((f->n_steps + 2) * sizeof *evs);
    size_t m = 0;
    for (size_t i = 0; i < f->n_steps; i++) {
      const mtq_step_t *s = &f->steps[i];
      if (s->state != steps_were[i]) {
        evs[m++] = flow_event(&f->id, s->name, mtq_step_state_name(steps_were[i]),
                              mtq_step_state_name(s->state), by, s->error);
      }
    }
    if (f->status != was) {
      evs[m++] = flow_event(&f->id, NULL, mtq_flow_state_name(was),
                            mtq_flow_state_name(f->status), by, f->reason);
    }
    mtq__events_write(store, client, evs, m);
    for (size_t i = 0; i < m; i++) {
      bson_destroy(evs[i]);
    }
    bson_free(evs);
  }
  if (matched && f->finished_at) {
    /* Ended: its shards' end records are summed up in the flow itself. */
    mongoc_collection_t *ends = mtq__coll(store, client, FLOWENDS);
    bson_t *sel = BCON_NEW("flow", BCON_OID(&f->id));
    bson_error_t err;
    if (!mongoc_collection_delete_many(ends, sel, NULL, NULL, &err)) {
      mtq_debug("cannot remove the end records of a finished flow: %s", err.message);
    }
    bson_destroy(sel);
    mongoc_collection_destroy(ends);
  }
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_flow_trim(mtq_store_t *store, const mtq_flow_t *unfinished, size_t n,
                         int64_t keep_ms, bson_error_t *error) {
  bson_t filter = BSON_INITIALIZER, flow, nin, lt;
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "flow", &flow);
  BSON_APPEND_ARRAY_BEGIN(&flow, "$nin", &nin);
  char key[16];
  for (size_t i = 0; i < n; i++) {
    const char *k;
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    BSON_APPEND_OID(&nin, k, &unfinished[i].id);
  }
  bson_append_array_end(&flow, &nin);
  bson_append_document_end(&filter, &flow);
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "finished_at", &lt);
  BSON_APPEND_DATE_TIME(&lt, "$lt", mtq_now_ms() - keep_ms);
  bson_append_document_end(&filter, &lt);
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, FLOWENDS);
  bool ok = mongoc_collection_delete_many(coll, &filter, NULL, NULL, error);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  bson_destroy(&filter);
  return ok;
}

/* --- retention ------------------------------------------------------------------------- */

typedef struct {
  int64_t done_before, failed_before;
  bson_oid_t *ids;
  size_t n, max;
} due_t;

static bool collect_due(void *ctx, const bson_t *doc) {
  due_t *d = ctx;
  bson_iter_t it;
  int64_t finished = bson_iter_init_find(&it, doc, "finished_at") && BSON_ITER_HOLDS_DATE_TIME(&it)
                         ? bson_iter_date_time(&it)
                         : 0;
  bool done = bson_iter_init_find(&it, doc, "status") && BSON_ITER_HOLDS_UTF8(&it) &&
              strcmp(bson_iter_utf8(&it, NULL), "done") == 0;
  int64_t before = done ? d->done_before : d->failed_before;
  if (finished && before && finished < before && bson_iter_init_find(&it, doc, "_id") &&
      BSON_ITER_HOLDS_OID(&it)) {
    bson_oid_copy(bson_iter_oid(&it), &d->ids[d->n++]);
  }
  return d->n < d->max;
}

bool mtq_store_purge_flows(mtq_store_t *store, int64_t done_before_ms, int64_t failed_before_ms,
                           size_t batch, size_t *purged, bson_error_t *error) {
  *purged = 0;
  due_t d = {done_before_ms, failed_before_ms, bson_malloc0((batch + 1) * sizeof *d.ids), 0,
             batch};
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *flows = mtq__coll(store, client, FLOWS);
  bson_t *filter = BCON_NEW("finished_at", "{", "$ne", BCON_NULL, "}");
  bson_t *opts = BCON_NEW("projection", "{", "status", BCON_INT32(1), "finished_at",
                          BCON_INT32(1), "}");
  bool ok = mtq__each_doc(flows, filter, opts, collect_due, &d, error);
  bson_destroy(opts);
  bson_destroy(filter);
  if (ok && d.n) {
    bson_t in = BSON_INITIALIZER, arr;
    BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
    char key[16];
    for (size_t i = 0; i < d.n; i++) {
      const char *k;
      bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
      BSON_APPEND_OID(&arr, k, &d.ids[i]);
    }
    bson_append_array_end(&in, &arr);
    /* The audit trail first: a flow is never left without it while it is
     * there to be read. */
    mongoc_collection_t *events = mtq__coll(store, client, "events");
    bson_t *sel = BCON_NEW("flow", BCON_DOCUMENT(&in));
    ok = mongoc_collection_delete_many(events, sel, NULL, NULL, error);
    bson_destroy(sel);
    mongoc_collection_destroy(events);
    sel = BCON_NEW("_id", BCON_DOCUMENT(&in));
    bson_t reply;
    ok = ok && mongoc_collection_delete_many(flows, sel, NULL, &reply, error);
    bson_iter_t it;
    if (ok && bson_iter_init_find(&it, &reply, "deletedCount")) {
      *purged = (size_t)bson_iter_as_int64(&it);
    }
    if (ok) {
      bson_destroy(&reply);
    }
    bson_destroy(sel);
    bson_destroy(&in);
  }
  mongoc_collection_destroy(flows);
  mtq__store_push(store, client);
  bson_free(d.ids);
  return ok;
}
