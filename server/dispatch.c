/* dispatch.c - redundant dispatch: a task that asks for copies (or for
 * requirements, or for a hedge) waits in the dispatch collection; this duty
 * chooses workers for its copies, sends each to its worker's own channel,
 * watches their outcomes, replaces a copy that failed, ran late or whose
 * worker was lost, and ends the task by its pick rule (pick.c).  Runs in
 * the thread pool (see coordinator.h), in the leader only (leader.c).
 *
 * A parent's record of its copies is an array in its document:
 *   {slot, id, worker, host, state, sent_at, ended_at, hash, result, error}
 * state: sent (out), done, failed (the copy ran and failed), late (past
 * its deadline: cancelled), lost (its worker was lost: cancelled), or
 * cancelled (no longer needed once the task was decided). */
#include <stdio.h>
#include <string.h>

#include "coordinator_private.h"
#include "pick.h"

/* A copy gets its timeout plus this much (to be claimed, to report) before
 * it counts as late; a lost worker is noticed by the lost-worker sweep. */
#define COPY_SLACK_MS 10000
/* Without run records, a function is assumed to take this long. */
#define DEFAULT_RUN_MS 1000.0

typedef struct {
  int32_t slot;
  bson_oid_t id;
  char worker[MTQ_NAME_MAX + 1];
  char host[256];
  char state[16];
  int64_t sent_at, ended_at;
  char hash[MTQ_SIG_HEX_LEN + 1];
  bson_t *result; /* owned; done copies */
  char *error;    /* owned */
} copy_t;

typedef struct {
  copy_t *items;
  size_t n;
} copies_t;

/* A worker placement may choose: its document, and the copies this pass
 * has given it so far. */
typedef struct {
  const mtq_whoami_t *w; /* borrowed from the pass's list */
  int32_t assigned;
} candidate_t;

/* --- the copies array ----------------------------------------------------- */

static void copies_cleanup(copies_t *cs) {
  for (size_t i = 0; i < cs->n; i++) {
    if (cs->items[i].result) {
      bson_destroy(cs->items[i].result);
    }
    bson_free(cs->items[i].error);
  }
  bson_free(cs->items);
  cs->items = NULL;
  cs->n = 0;
}

static copy_t *copies_push(copies_t *cs) {
  cs->items = bson_realloc(cs->items, (cs->n + 1) * sizeof *cs->items);
  copy_t *c = &cs->items[cs->n++];
  memset(c, 0, sizeof *c);
  return c;
}

static void read_copy(copy_t *c, bson_iter_t *sub) {
  const struct {
    const char *key;
    char *dst;
    size_t size;
  } strings[] = {{"worker", c->worker, sizeof c->worker},
                 {"host", c->host, sizeof c->host},
                 {"state", c->state, sizeof c->state},
                 {"hash", c->hash, sizeof c->hash}};
  while (bson_iter_next(sub)) {
    const char *k = bson_iter_key(sub);
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
      if (strcmp(k, strings[i].key) == 0 && BSON_ITER_HOLDS_UTF8(sub)) {
        bson_strncpy(strings[i].dst, bson_iter_utf8(sub, NULL), strings[i].size);
      }
    }
    if (strcmp(k, "slot") == 0 && BSON_ITER_HOLDS_INT32(sub)) {
      c->slot = bson_iter_int32(sub);
    } else if (strcmp(k, "id") == 0 && BSON_ITER_HOLDS_OID(sub)) {
      bson_oid_copy(bson_iter_oid(sub), &c->id);
    } else if ((strcmp(k, "sent_at") == 0 || strcmp(k, "ended_at") == 0) &&
               BSON_ITER_HOLDS_DATE_TIME(sub)) {
      *(k[0] == 's' ? &c->sent_at : &c->ended_at) = bson_iter_date_time(sub);
    } else if (strcmp(k, "result") == 0 && BSON_ITER_HOLDS_DOCUMENT(sub)) {
      uint32_t len;
      const uint8_t *data;
      bson_iter_document(sub, &len, &data);
      c->result = bson_new_from_data(data, len);
    } else if (strcmp(k, "error") == 0 && BSON_ITER_HOLDS_UTF8(sub)) {
      c->error = bson_strdup(bson_iter_utf8(sub, NULL));
    }
  }
}

static void copies_read(const mtq_task_t *parent, copies_t *cs) {
  bson_iter_t it, sub;
  if (!parent->copies || !bson_iter_init(&it, parent->copies)) {
    return;
  }
  while (bson_iter_next(&it)) {
    if (BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &sub)) {
      read_copy(copies_push(cs), &sub);
    }
  }
}

static void copies_write(const copies_t *cs, mtq_task_t *parent) {
  bson_t *arr = bson_new();
  for (size_t i = 0; i < cs->n; i++) {
    const copy_t *c = &cs->items[i];
    char key[16];
    const char *k;
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    bson_t d;
    BSON_APPEND_DOCUMENT_BEGIN(arr, k, &d);
    BSON_APPEND_INT32(&d, "slot", c->slot);
    BSON_APPEND_OID(&d, "id", &c->id);
    BSON_APPEND_UTF8(&d, "worker", c->worker);
    BSON_APPEND_UTF8(&d, "host", c->host);
    BSON_APPEND_UTF8(&d, "state", c->state);
    BSON_APPEND_DATE_TIME(&d, "sent_at", c->sent_at);
    if (c->ended_at) {
      BSON_APPEND_DATE_TIME(&d, "ended_at", c->ended_at);
    }
    if (c->hash[0]) {
      BSON_APPEND_UTF8(&d, "hash", c->hash);
    }
    if (c->result) {
      BSON_APPEND_DOCUMENT(&d, "result", c->result);
    }
    if (c->error) {
      BSON_APPEND_UTF8(&d, "error", c->error);
    }
    bson_append_document_end(arr, &d);
  }
  if (parent->copies) {
    bson_destroy(parent->copies);
  }
  parent->copies = arr;
}

static bool copy_out(const copy_t *c) { return strcmp(c->state, "sent") == 0; }

/* --- workers ---------------------------------------------------------------- */

static bool live(const candidate_t *c) { return c->w->state == MTQ_WORKER_STATE_RUNNING; }

/* Can c run a copy of parent at all: live, serving the task's channel and
 * function, meeting its requirements. */
static bool eligible(const candidate_t *c, const mtq_task_t *parent) {
  const mtq_redundancy_t *r = &parent->red;
  const mtq_whoami_t *w = c->w;
  return live(c) && mtq_whoami_has_channel(w, parent->channel) &&
         mtq_whoami_serves(w, parent->func, parent->version) &&
         (!r->need_gpu || w->hostinfo.n_gpus > 0) &&
         (r->min_mem_mb == 0 || (w->hostinfo.has_mem && w->hostinfo.mem_available_mb >= r->min_mem_mb)) &&
         (!r->tag[0] || mtq_whoami_has_tag(w, r->tag));
}

/* A host, for telling workers apart by machine: "?" when the document names none. */
static const char *host_of(const candidate_t *c) { return c->w->host[0] ? c->w->host : "?"; }

/* --- placement --------------------------------------------------------------- */

/* The expected cost of running parent on c: the function's moving average
 * of run time there (or across workers, or a default), stretched by the
 * host's load and the worker's busy slots, and divided by its success rate
 * (so a flaky worker looks slower than it is fast). */
static double cost(const mtq_coordinator_t *co, const candidate_t *c, const mtq_task_t *parent) {
  double run_ms = DEFAULT_RUN_MS, rate = 1.0;
  const mtq_whoami_t *w = c->w;
  mtq__dispatch_perf(co, w->id, parent->func, &run_ms, &rate);
  double load = w->hostinfo.cores > 0 && w->hostinfo.has_load
                    ? w->hostinfo.load[0] / w->hostinfo.cores
                    : 0.0;
  double busy = w->concurrency > 0 ? (double)(w->running + c->assigned) / w->concurrency : 0.0;
  return run_ms * (1.0 + load) * (1.0 + busy) / (rate > 0.05 ? rate : 0.05);
}

/* The best eligible worker not yet used by this task, on a host not yet
 * used when there is one; NULL when none is left. */
static candidate_t *choose(const mtq_coordinator_t *co, candidate_t *cands, size_t n,
                           const mtq_task_t *parent, const copies_t *cs) {
  candidate_t *best = NULL;
  bool best_new_host = false;
  double best_cost = 0;
  for (size_t i = 0; i < n; i++) {
    candidate_t *c = &cands[i];
    bool used = false, host_used = false;
    for (size_t j = 0; j < cs->n; j++) {
      used |= strcmp(cs->items[j].worker, c->w->id) == 0;
      host_used |= strcmp(cs->items[j].host, host_of(c)) == 0;
    }
    if (used || !eligible(c, parent)) {
      continue;
    }
    double k = cost(co, c, parent);
    if (!best || (!host_used && !best_new_host) ||
        (!host_used == best_new_host && k < best_cost)) {
      best = c;
      best_new_host = !host_used;
      best_cost = k;
    }
  }
  return best;
}

static const candidate_t *find_candidate(const candidate_t *cands, size_t n, const char *id) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(cands[i].w->id, id) == 0) {
      return &cands[i];
    }
  }
  return NULL;
}

/* Sends slot's copy to the best worker; false when no worker is eligible
 * (the slot waits) or the send failed (*error set when transient). */
static bool send_copy(mtq_coordinator_t *co, mtq_task_t *parent, copies_t *cs, int32_t slot,
                 candidate_t *cands, size_t n, bool *sent, bson_error_t *error) {
  *sent = false;
  candidate_t *c = choose(co, cands, n, parent, cs);
  if (!c) {
    return true;
  }
  bson_oid_t id;
  bson_error_t err;
  char worker[MTQ_NAME_MAX + 1];
  bson_strncpy(worker, c->w->id, sizeof worker);
  int32_t sent_slot = slot;
  if (!mtq_store_send_copy(co->store, parent, (int32_t)cs->n, worker, &sent_slot, &id, &err)) {
    if (mtq_error_is_transient(&err)) {
      *error = err;
      return false;
    }
    mtq_warn("cannot send a copy of task to worker %s: %s", c->w->id, err.message);
    return true;
  }
  if (strcmp(worker, c->w->id) != 0) {
    /* This send was made before (a leader that died before saving it):
     * it stands, to the worker it chose. */
    c = (candidate_t *)find_candidate(cands, n, worker);
  }
  mtq__count(co, "coordinator_copies_sent", parent->channel, NULL, 1);
  copy_t *cp = copies_push(cs);
  cp->slot = sent_slot;
  bson_oid_copy(&id, &cp->id);
  bson_strncpy(cp->worker, worker, sizeof cp->worker);
  bson_strncpy(cp->host, c ? host_of(c) : "?", sizeof cp->host);
  bson_strncpy(cp->state, "sent", sizeof cp->state);
  cp->sent_at = mtq_now_ms();
  if (c) {
    c->assigned++;
  }
  *sent = true;
  return true;
}

/* --- following the copies ------------------------------------------------------ */


static void copy_ended(copy_t *c, const char *state, const char *error) {
  bson_strncpy(c->state, state, sizeof c->state);
  c->ended_at = mtq_now_ms();
  if (error && !c->error) {
    c->error = bson_strndup(error, MTQ_ERROR_MAX_BYTES);
  }
}

/* Cancels an out copy; false (with *error) when the database is away.  A
 * copy that ended meanwhile is left for the next pass to read. */
static bool withdraw(mtq_coordinator_t *co, copy_t *c, const char *state, const char *why,
                     bson_error_t *error) {
  bson_error_t err;
  if (!mtq_store_cancel(co->store, &c->id, MTQD_ACTOR, &err)) {
    if (mtq_error_is_transient(&err)) {
      *error = err;
      return false;
    }
    if (err.domain == MTQ_ERROR_DOMAIN && err.code == MTQ_ERR_STATE) {
      return true; /* it ended on its own: its outcome is read next time */
    }
  }
  copy_ended(c, state, why);
  return true;
}

/* Reads the outcome of each out copy; withdraws the late ones and those of
 * lost workers.  *changed when a record changed. */
static bool follow(mtq_coordinator_t *co, const mtq_task_t *parent, copies_t *cs,
                   const candidate_t *cands, size_t n, bool *changed, bson_error_t *error) {
  int64_t now = mtq_now_ms();
  for (size_t i = 0; i < cs->n; i++) {
    copy_t *c = &cs->items[i];
    if (!copy_out(c)) {
      continue;
    }
    mtq_task_t out;
    mtq_task_init(&out);
    bool found = false;
    bool ok = mtq_store_find_outcome(co->store, &c->id, &out, &found, error);
    if (ok && found) {
      *changed = true;
      if (out.status == MTQ_STATE_DONE) {
        copy_ended(c, "done", NULL);
        c->result = out.result ? bson_copy(out.result) : bson_new();
        mtq_result_hash(c->result, c->hash);
      } else {
        copy_ended(c, "failed", out.error ? out.error : mtq_state_name(out.status));
      }
    }
    mtq_task_cleanup(&out);
    if (!ok) {
      return false;
    }
    if (found) {
      continue;
    }
    const candidate_t *w = find_candidate(cands, n, c->worker);
    char why[160];
    if (!w || !live(w)) {
      snprintf(why, sizeof why, "worker %s is %s", c->worker,
               w ? mtq_worker_state_name(w->w->state) : "gone");
      ok = withdraw(co, c, "lost", why, error);
      *changed = true;
    } else if (now - c->sent_at > (int64_t)parent->timeout_s * 1000 + COPY_SLACK_MS) {
      snprintf(why, sizeof why, "no outcome %lld s after it was sent (timeout %d s)",
               (long long)((now - c->sent_at) / 1000), parent->timeout_s);
      ok = withdraw(co, c, "late", why, error);
      *changed = true;
    }
    if (!ok) {
      return false;
    }
  }
  return true;
}

/* --- one parent ------------------------------------------------------------------ */

static int32_t slot_count(const mtq_task_t *parent, const copies_t *cs) {
  int32_t n = parent->red.copies;
  for (size_t i = 0; i < cs->n; i++) {
    if (cs->items[i].slot + 1 > n) {
      n = cs->items[i].slot + 1;
    }
  }
  return n;
}

/* The latest copy of a slot, NULL when none was sent yet. */
static copy_t *latest(copies_t *cs, int32_t slot) {
  copy_t *best = NULL;
  for (size_t i = 0; i < cs->n; i++) {
    if (cs->items[i].slot == slot && (!best || cs->items[i].sent_at >= best->sent_at)) {
      best = &cs->items[i];
    }
  }
  return best;
}

static int32_t replacements_used(const mtq_task_t *parent, const copies_t *cs) {
  int32_t sent = (int32_t)cs->n, slots = slot_count(parent, cs);
  return sent > slots ? sent - slots : 0;
}

/* Hedging: a single copy out longer than the deadline gets a second one. */
static bool maybe_hedge(mtq_coordinator_t *co, mtq_task_t *parent, copies_t *cs,
                        candidate_t *cands, size_t n, bool *changed, bson_error_t *error) {
  if (!parent->red.hedge_ms || slot_count(parent, cs) > 1) {
    return true;
  }
  copy_t *first = latest(cs, 0);
  if (!first || !copy_out(first)) {
    return true;
  }
  double deadline = (double)parent->red.hedge_ms;
  if (parent->red.hedge_ms == MTQ_HEDGE_AUTO && !mtq__dispatch_p95(co, parent->func, &deadline)) {
    return true; /* no record of the function's run times yet */
  }
  if ((double)(mtq_now_ms() - first->sent_at) < deadline) {
    return true;
  }
  bool sent;
  if (!send_copy(co, parent, cs, 1, cands, n, &sent, error)) {
    return false;
  }
  if (sent) {
    char hex[25];
    bson_oid_to_string(&parent->id, hex);
    mtq_info("task %s: hedged after %.0f ms with a copy on %s", hex, deadline,
             cs->items[cs->n - 1].worker);
    *changed = true;
  }
  return true;
}

/* The slot states for the pick rule; sends first copies and replacements
 * where a worker is free for them. */
static bool fill_slots(mtq_coordinator_t *co, mtq_task_t *parent, copies_t *cs,
                       candidate_t *cands, size_t n, mtq_slot_t *slots, int32_t nslots,
                       bool *changed, bson_error_t *error) {
  for (int32_t s = 0; s < nslots; s++) {
    copy_t *c = latest(cs, s);
    bool needs = !c || (!copy_out(c) && strcmp(c->state, "done") != 0);
    bool may = !c || replacements_used(parent, cs) < parent->red.max_replacements;
    if (needs && may) {
      bool sent;
      if (!send_copy(co, parent, cs, s, cands, n, &sent, error)) {
        return false;
      }
      *changed |= sent;
      c = latest(cs, s); /* the array may have moved */
    }
    if (c && strcmp(c->state, "done") == 0) {
      slots[s] = (mtq_slot_t){MTQ_SLOT_OK, c->hash, c->ended_at};
    } else if (!c || copy_out(c) || may) {
      slots[s] = (mtq_slot_t){MTQ_SLOT_PENDING, NULL, 0};
    } else {
      slots[s] = (mtq_slot_t){MTQ_SLOT_FAILED, NULL, 0};
    }
  }
  return true;
}

/* The result of a decided task: the winner's, or with `all` every slot's. */
static bson_t *result_of(const mtq_task_t *parent, copies_t *cs, int32_t nslots, size_t winner) {
  if (parent->red.pick != MTQ_PICK_ALL) {
    copy_t *c = latest(cs, (int32_t)winner);
    return bson_copy(c->result);
  }
  bson_t *r = bson_new(), arr;
  BSON_APPEND_ARRAY_BEGIN(r, "results", &arr);
  for (int32_t s = 0; s < nslots; s++) {
    char key[16];
    const char *k;
    bson_uint32_to_string((uint32_t)s, &k, key, sizeof key);
    BSON_APPEND_DOCUMENT(&arr, k, latest(cs, s)->result);
  }
  bson_append_array_end(r, &arr);
  return r;
}

static void why_not(const mtq_task_t *parent, const copies_t *cs, mtq_verdict_t v, char *buf,
                    size_t size) {
  const char *last = NULL;
  size_t ok = 0;
  for (size_t i = 0; i < cs->n; i++) {
    ok += strcmp(cs->items[i].state, "done") == 0;
    if (cs->items[i].error) {
      last = cs->items[i].error;
    }
  }
  if (v == MTQ_VERDICT_CONFLICT) {
    snprintf(buf, size, "copies disagree: %zu results, no %d of %d equal", ok,
             parent->red.copies / 2 + 1, parent->red.copies);
  } else {
    snprintf(buf, size, "pick %s cannot be met: %zu of %zu copies succeeded, %d replacement(s) "
             "used; last error: %s", mtq_pick_name(parent->red.pick), ok, cs->n,
             replacements_used(parent, cs), last ? last : "none");
  }
}

/* Ends the parent by its verdict: copies still out are cancelled first, so
 * that the recorded outcome shows every copy as it ended. */
static bool conclude(mtq_coordinator_t *co, mtq_task_t *parent, copies_t *cs, mtq_verdict_t v,
                     int32_t nslots, size_t winner, bson_error_t *error) {
  for (size_t i = 0; i < cs->n; i++) {
    if (copy_out(&cs->items[i]) &&
        !withdraw(co, &cs->items[i], "cancelled", "not needed: the task was decided", error)) {
      return false;
    }
  }
  copies_write(cs, parent);
  char why[512] = "";
  bson_t *result = NULL;
  mtq_state_t to = v == MTQ_VERDICT_DONE     ? MTQ_STATE_DONE
                   : v == MTQ_VERDICT_CONFLICT ? MTQ_STATE_CONFLICT
                                               : MTQ_STATE_FAILED;
  if (v == MTQ_VERDICT_DONE) {
    result = result_of(parent, cs, nslots, winner);
  } else {
    why_not(parent, cs, v, why, sizeof why);
  }
  bson_error_t err;
  bool ok = mtq_store_end_parent(co->store, parent, to, result, MTQD_ACTOR, why[0] ? why : NULL,
                                 &err);
  if (result) {
    bson_destroy(result);
  }
  char hex[25];
  bson_oid_to_string(&parent->id, hex);
  if (ok) {
    mtq_info("task %s is %s (%s, %zu copies sent)", hex, mtq_state_name(to),
             mtq_pick_name(parent->red.pick), cs->n);
  } else if (mtq_error_is_transient(&err)) {
    *error = err;
  } else {
    mtq_warn("cannot end task %s: %s", hex, err.message);
    ok = true; /* ended by someone else (cancelled): nothing more to do */
  }
  return ok;
}

static bool run_parent(mtq_coordinator_t *co, mtq_task_t *parent, candidate_t *cands, size_t n,
                       bson_error_t *error) {
  bool waiting = parent->status == MTQ_STATE_QUEUED || parent->status == MTQ_STATE_DELAYED;
  if (waiting && (!parent->is_enable || parent->not_before > mtq_now_ms())) {
    return true;
  }
  if (!waiting && parent->status != MTQ_STATE_RUNNING) {
    return true; /* suspended, or a record in an odd state: an operator's business */
  }
  copies_t cs = {0};
  copies_read(parent, &cs);
  bool changed = false, ok = true;
  if (waiting) {
    /* Not before a worker can take its first copy: an idle task stays queued. */
    candidate_t *c = choose(co, cands, n, parent, &cs);
    ok = !c || mtq_store_start_parent(co->store, parent, MTQD_ACTOR, error);
    if (!c || !ok) {
      copies_cleanup(&cs);
      return ok;
    }
  }
  ok = follow(co, parent, &cs, cands, n, &changed, error) &&
       maybe_hedge(co, parent, &cs, cands, n, &changed, error);
  int32_t nslots = slot_count(parent, &cs);
  mtq_slot_t slots[MTQ_COPIES_MAX + 1];
  ok = ok && fill_slots(co, parent, &cs, cands, n, slots, nslots, &changed, error);
  size_t winner = 0;
  mtq_verdict_t v = ok ? mtq_pick_decide(parent->red.pick, slots, (size_t)nslots, &winner)
                       : MTQ_VERDICT_WAIT;
  if (v != MTQ_VERDICT_WAIT) {
    ok = conclude(co, parent, &cs, v, nslots, winner, error);
  } else if (changed) {
    /* Saved even after a failure above: a copy sent must stay on record. */
    copies_write(&cs, parent);
    bson_error_t err;
    if (!mtq_store_save_parent(co->store, parent, &err)) {
      if (ok && mtq_error_is_transient(&err)) {
        *error = err;
        ok = false;
      } else if (!mtq_error_is_transient(&err)) {
        /* Cancelled or retried while we worked: what we sent is not needed. */
        for (size_t i = 0; i < cs.n; i++) {
          bson_error_t ignored;
          if (copy_out(&cs.items[i])) {
            withdraw(co, &cs.items[i], "cancelled", "the task was cancelled", &ignored);
          }
        }
      }
    }
  }
  copies_cleanup(&cs);
  return ok;
}

bool mtq__dispatch_run(mtq_duty_t *d, bson_error_t *error) {
  mtq_coordinator_t *co = d->data;
  if (!mtq__leading(co)) {
    return true;
  }
  mtq_task_list_t parents;
  mtq_task_list_init(&parents);
  if (!mtq_store_parents(co->store, MTQD_ACTOR, &parents, error)) {
    mtq__error_prefix(error, "reading redundant tasks");
    return false;
  }
  if (parents.n == 0) {
    mtq_task_list_cleanup(&parents);
    return true;
  }
  mtq_whoami_list_t workers;
  mtq_whoami_list_init(&workers);
  bool ok = mtq_store_workers(co->store, &workers, error);
  candidate_t *cands = bson_malloc0((workers.n ? workers.n : 1) * sizeof *cands);
  size_t n = workers.n;
  for (size_t i = 0; i < n; i++) {
    cands[i].w = &workers.items[i];
  }
  ok = ok && mtq__dispatch_perf_load(co, error);
  for (size_t i = 0; ok && i < parents.n && !mtq__coordinator_stopping(co) && mtq__leading(co);
       i++) {
    ok = run_parent(co, &parents.items[i], cands, n, error);
  }
  bson_free(cands);
  mtq_whoami_list_cleanup(&workers);
  mtq_task_list_cleanup(&parents);
  return ok;
}
