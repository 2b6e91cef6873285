/* registry.c - what the worker serves, kept current, and the function
 * registry told of it.
 *
 * The worker starts with the functions of its INI file and of its
 * function_dir (functions_dir.h).  Then, every sync_interval_s, a cycle of
 * the registry duty:
 *
 *   1. probe (workers with a function_dir only): the tasks of its channels
 *      that no live worker serves, read as a poll finding nothing is, with
 *      the opposite filter (mtq_store_poll_unserved), up to PROBE_ROUNDS
 *      rounds of PROBE_LIMIT tasks, each round leaving out the versions the
 *      rounds before found.  The poll itself never sees such tasks (its
 *      filter names the versions served), so nothing is added to it;
 *   2. rescan: the INI's functions and the directory, digests from the
 *      cache of unchanged files;
 *   3. the versions the probe found that the rescan did not bring: when
 *      there is a sync_command and none ran in the last sync_interval_s,
 *      the sync runs (sync.c) and, once it has ended, steps 2 and 3 again;
 *      what is still missing then is reported: a warning in the log and a
 *      "missing" document in the registry.  Such tasks stay queued: a later
 *      push may bring the version, and the next cycle syncs again;
 *   4. the registry: this worker's documents made to match (mtq_function.h:
 *      each written by its own worker only, rewritten only when it changed);
 *   5. back on the loop, a new set replaces the old (a poll in flight keeps
 *      the one it began with), the heartbeat announces it at once and the
 *      poll reads every lane again, since what it remembered as empty was
 *      empty of the old set's versions.
 *
 * A changed code file takes effect at the next task without any of this,
 * since every task executes its command afresh; the cycle only brings the
 * digest up to date.  A changed manifest takes effect at the next rescan. */
#include <string.h>

#include "functions_dir.h"
#include "sync.h"
#include "worker_private.h"

#define PROBE_LIMIT 16
#define PROBE_ROUNDS 4

/* A version some tasks want: from the probe. */
typedef struct {
  char func[MTQ_NAME_MAX + 1];
  char version[MTQ_NAME_MAX + 1];
  char channel[MTQ_NAME_MAX + 1];
  int64_t seen;
} want_t;

typedef struct {
  want_t *items;
  size_t n;
} wants_t;

typedef struct {
  char **items;
  size_t n;
} texts_t;

struct mtq__registry {
  mtq_worker_t *w;
  mtq_duty_t duty;
  mtq_digest_cache_t *cache; /* the duty's work, and mtq__registry_new */

  /* Set on the loop for the work. */
  mtq_fnset_t *cur;  /* what the poll serves now (a reference) */
  bool after_sync;   /* this run follows a sync: no probe, the wants kept */
  bool can_sync;     /* a sync may follow this run */

  /* The work's. */
  mtq_fnset_t *next;   /* the rescan's set (a reference), for the loop */
  wants_t wants;       /* the probe's, kept for the run after a sync */
  wants_t missing;     /* wants the rescan did not bring */
  texts_t problems;    /* of the rescan */
  bool want_sync;

  /* The loop's. */
  texts_t logged;        /* problems logged already: said once */
  wants_t missing_said;  /* missing versions warned of already */
  mtq_sync_t *sync;      /* running; NULL otherwise */
  bool synced;           /* a sync ran */
  uint64_t sync_loop_ms; /* uv_now when the last began */
  int64_t sync_at_ms;    /* its wall-clock time, for the registry */
  char sync_outcome[512];
  bool closed;
};

/* --- small lists ---------------------------------------------------------------- */

static void texts_push(texts_t *t, const char *s) {
  t->items = bson_realloc(t->items, (t->n + 1) * sizeof *t->items);
  t->items[t->n++] = bson_strdup(s);
}

static void texts_clear(texts_t *t) {
  for (size_t i = 0; i < t->n; i++) {
    bson_free(t->items[i]);
  }
  bson_free(t->items);
  memset(t, 0, sizeof *t);
}

static bool texts_has(const texts_t *t, const char *s) {
  for (size_t i = 0; i < t->n; i++) {
    if (strcmp(t->items[i], s) == 0) {
      return true;
    }
  }
  return false;
}

static want_t *wants_find(wants_t *l, const char *func, const char *version) {
  for (size_t i = 0; i < l->n; i++) {
    if (strcmp(l->items[i].func, func) == 0 && strcmp(l->items[i].version, version) == 0) {
      return &l->items[i];
    }
  }
  return NULL;
}

static want_t *wants_push(wants_t *l, const want_t *w) {
  l->items = bson_realloc(l->items, (l->n + 1) * sizeof *l->items);
  l->items[l->n] = *w;
  return &l->items[l->n++];
}

static void wants_clear(wants_t *l) {
  bson_free(l->items);
  memset(l, 0, sizeof *l);
}

static void on_problem(void *data, const char *message) {
  texts_push(&((mtq__registry_t *)data)->problems, message);
}

/* --- 1. the probe (thread pool) --------------------------------------------------- */

/* The versions served by live workers (this one's from cur) on channel. */
static void exclusions(const mtq__registry_t *r, const mtq_whoami_list_t *all,
                       const char *channel, mtq_func_ref_t **out, size_t *n) {
  const mtq_worker_config_t *cfg = r->w->cfg;
  size_t cap = r->cur->n + 1;
  for (size_t i = 0; i < all->n; i++) {
    cap += all->items[i].n_functions;
  }
  *out = bson_malloc0((cap + PROBE_ROUNDS * PROBE_LIMIT) * sizeof **out);
  *n = 0;
  for (size_t i = 0; i < r->cur->n; i++) {
    (*out)[(*n)++] = r->cur->served[i];
  }
  for (size_t i = 0; i < all->n; i++) {
    const mtq_whoami_t *o = &all->items[i];
    if (strcmp(o->id, cfg->worker_id) == 0 || o->state != MTQ_WORKER_STATE_RUNNING ||
        !mtq_whoami_has_channel(o, channel)) {
      continue;
    }
    for (size_t f = 0; f < o->n_functions; f++) {
      (*out)[(*n)++] = (mtq_func_ref_t){o->functions[f].name, o->functions[f].version};
    }
  }
}

static bool probe(mtq__registry_t *r, bson_error_t *error) {
  mtq_worker_t *w = r->w;
  const mtq_worker_config_t *cfg = w->cfg;
  wants_clear(&r->wants);
  mtq_whoami_list_t all;
  mtq_whoami_list_init(&all);
  bool ok = mtq_store_workers(w->store, &all, error);
  for (size_t c = 0; ok && c < cfg->n_channels; c++) {
    mtq_func_ref_t *ex;
    size_t n_ex;
    exclusions(r, &all, cfg->channels[c], &ex, &n_ex);
    size_t first = r->wants.n;
    for (int round = 0; ok && round < PROBE_ROUNDS; round++) {
      mtq_task_list_t tasks;
      mtq_task_list_init(&tasks);
      ok = mtq_store_poll_unserved(w->store, cfg->channels[c], ex, n_ex, PROBE_LIMIT,
                                   cfg->worker_id, &tasks, error);
      for (size_t t = 0; ok && t < tasks.n; t++) {
        want_t *known = wants_find(&r->wants, tasks.items[t].func, tasks.items[t].version);
        if (known) {
          known->seen++;
          continue;
        }
        want_t one = {.seen = 1};
        bson_strncpy(one.func, tasks.items[t].func, sizeof one.func);
        bson_strncpy(one.version, tasks.items[t].version, sizeof one.version);
        bson_strncpy(one.channel, cfg->channels[c], sizeof one.channel);
        wants_push(&r->wants, &one);
      }
      bool found = tasks.n > 0;
      mtq_task_list_cleanup(&tasks);
      if (!found) {
        break;
      }
      /* The next round leaves out what this one found. */
      for (size_t k = first; k < r->wants.n; k++) {
        ex[n_ex++] = (mtq_func_ref_t){r->wants.items[k].func, r->wants.items[k].version};
      }
      first = r->wants.n;
    }
    bson_free(ex);
  }
  mtq_whoami_list_cleanup(&all);
  return ok;
}

/* --- 4. the registry (thread pool) ------------------------------------------------ */

static void record_served(const mtq_function_t *f, const char *worker, mtq_function_record_t *d) {
  bson_strncpy(d->name, f->name, sizeof d->name);
  bson_strncpy(d->version, f->version, sizeof d->version);
  bson_strncpy(d->worker, worker, sizeof d->worker);
  d->state = MTQ_FUNCTION_STATE_SERVED;
  d->description = f->description ? bson_strdup(f->description) : NULL;
  d->developer = f->developer ? bson_strdup(f->developer) : NULL;
  d->contact = f->contact ? bson_strdup(f->contact) : NULL;
  size_t n = 0;
  while (f->argv[n]) {
    n++;
  }
  d->command = bson_malloc0((n + 1) * sizeof *d->command);
  for (size_t i = 0; i < n; i++) {
    d->command[i] = bson_strdup(f->argv[i]);
  }
  d->source = f->source ? bson_strdup(f->source) : NULL;
  d->from_dir = f->from_dir;
  bson_strncpy(d->digest, f->digest, sizeof d->digest);
}

/* Why a wanted version is not here, in words for the log and the registry. */
static char *missing_why(const mtq__registry_t *r, const texts_t *problems, const want_t *m) {
  const mtq_worker_config_t *cfg = r->w->cfg;
  char *vdir = bson_strdup_printf("%s/%s/%s", cfg->function_dir, m->func, m->version);
  size_t len = strlen(vdir);
  char *why = NULL;
  for (size_t i = 0; !why && i < problems->n; i++) {
    const char *p = problems->items[i];
    if (strncmp(p, vdir, len) == 0 && (p[len] == '/' || p[len] == ':')) {
      why = bson_strdup_printf("%s is refused: %s", vdir, p);
    }
  }
  if (!why && !cfg->sync_argv) {
    why = bson_strdup_printf("%s does not exist, and this worker has no sync_command", vdir);
  } else if (!why && r->synced) {
    why = bson_strdup_printf("%s does not exist after sync_command (%s)", vdir, r->sync_outcome);
  } else if (!why) {
    why = bson_strdup_printf("%s does not exist; no sync ran yet", vdir);
  }
  bson_free(vdir);
  return why;
}

static void record_missing(const mtq__registry_t *r, const want_t *m, mtq_function_record_t *d) {
  bson_strncpy(d->name, m->func, sizeof d->name);
  bson_strncpy(d->version, m->version, sizeof d->version);
  bson_strncpy(d->worker, r->w->cfg->worker_id, sizeof d->worker);
  d->state = MTQ_FUNCTION_STATE_MISSING;
  bson_strncpy(d->channel, m->channel, sizeof d->channel);
  d->tasks_seen = m->seen;
  d->last_sync_at_ms = r->synced ? r->sync_at_ms : 0;
  d->why = missing_why(r, &r->problems, m);
}

static const mtq_function_record_t *record_find(const mtq_function_record_list_t *l,
                                                const char *name, const char *version) {
  for (size_t i = 0; i < l->n; i++) {
    if (strcmp(l->items[i].name, name) == 0 && strcmp(l->items[i].version, version) == 0) {
      return &l->items[i];
    }
  }
  return NULL;
}

/* Makes this worker's documents say what it serves and (with_missing)
 * what it misses; a document that says so already is not written. */
static bool publish(mtq__registry_t *r, const mtq_fnset_t *set, bool with_missing,
                    bson_error_t *error) {
  mtq_worker_t *w = r->w;
  const char *me = w->cfg->worker_id;
  mtq_function_record_list_t have, want;
  mtq_function_record_list_init(&have);
  mtq_function_record_list_init(&want);
  bool ok = mtq_store_function_records(w->store, me, &have, error);
  for (size_t i = 0; ok && i < set->n; i++) {
    record_served(&set->items[i], me, mtq_function_record_list_push(&want));
  }
  for (size_t i = 0; ok && with_missing && i < r->missing.n; i++) {
    record_missing(r, &r->missing.items[i], mtq_function_record_list_push(&want));
  }
  int64_t now = mtq_now_ms();
  for (size_t i = 0; ok && i < want.n; i++) {
    mtq_function_record_t *d = &want.items[i];
    const mtq_function_record_t *e = record_find(&have, d->name, d->version);
    if (e && e->state == d->state) {
      d->created_at_ms = e->created_at_ms;
      d->updated_at_ms = e->updated_at_ms;
      if (mtq_function_record_same(e, d)) {
        continue;
      }
    } else {
      d->created_at_ms = now;
    }
    d->updated_at_ms = now;
    ok = mtq_store_function_record_put(w->store, d, error);
  }
  for (size_t i = 0; ok && i < have.n; i++) {
    const mtq_function_record_t *e = &have.items[i];
    bool keep = record_find(&want, e->name, e->version) ||
                (!with_missing && e->state == MTQ_FUNCTION_STATE_MISSING);
    if (!keep) {
      ok = mtq_store_function_record_delete(w->store, e->name, e->version, me, error);
    }
  }
  mtq_function_record_list_cleanup(&want);
  mtq_function_record_list_cleanup(&have);
  return ok;
}

/* --- the duty ------------------------------------------------------------------------ */

static bool registry_prepare(mtq_duty_t *d) {
  mtq__registry_t *r = d->data;
  mtq_worker_t *w = r->w;
  if (r->closed || w->phase != MTQ_WORKER_RUNNING || r->sync) {
    return false;
  }
  uint64_t every_ms = (uint64_t)w->cfg->sync_interval_s * 1000;
  r->cur = mtq_fnset_ref(w->fns);
  r->can_sync = w->cfg->sync_argv && !r->after_sync &&
                (!r->synced || uv_now(w->loop) - r->sync_loop_ms >= every_ms);
  return true;
}

static bool registry_run(mtq_duty_t *d, bson_error_t *error) {
  mtq__registry_t *r = d->data;
  const mtq_worker_config_t *cfg = r->w->cfg;
  bool ok = true;
  if (cfg->function_dir && !r->after_sync) {
    ok = probe(r, error);
  }
  texts_clear(&r->problems);
  r->next = mtq_fnset_load(cfg, r->cache, on_problem, r);
  wants_clear(&r->missing);
  for (size_t i = 0; i < r->wants.n; i++) {
    if (!mtq_fnset_find(r->next, r->wants.items[i].func, r->wants.items[i].version)) {
      wants_push(&r->missing, &r->wants.items[i]);
    }
  }
  /* Missing versions are reported once the sync that might bring them ran. */
  r->want_sync = ok && r->missing.n > 0 && r->can_sync;
  if (ok) {
    bson_error_t err;
    ok = publish(r, r->next, !r->want_sync, &err);
    if (!ok) {
      *error = err;
    }
  }
  return ok;
}

static void on_sync_done(void *data, bool ok, const char *outcome);

static void start_sync(mtq__registry_t *r) {
  mtq_worker_t *w = r->w;
  bson_string_t *what = bson_string_new(NULL);
  for (size_t i = 0; i < r->missing.n; i++) {
    bson_string_append_printf(what, "%s%s@%s", i ? ", " : "", r->missing.items[i].func,
                              r->missing.items[i].version);
  }
  bson_string_t *cmd = bson_string_new(NULL);
  for (size_t i = 0; w->cfg->sync_argv[i]; i++) {
    bson_string_append_printf(cmd, "%s%s", i ? " " : "", w->cfg->sync_argv[i]);
  }
  mtq_info("sync: running %s (tasks want %s)", cmd->str, what->str);
  bson_string_free(cmd, true);
  bson_string_free(what, true);
  r->synced = true;
  r->sync_loop_ms = uv_now(w->loop);
  r->sync_at_ms = mtq_now_ms();
  r->sync = mtq_sync_start(w->loop, w->cfg->sync_argv, w->task_env,
                           w->cfg->sync_timeout_s * 1000, on_sync_done, r);
}

static void on_sync_done(void *data, bool ok, const char *outcome) {
  mtq__registry_t *r = data;
  r->sync = NULL;
  bson_strncpy(r->sync_outcome, outcome, sizeof r->sync_outcome);
  if (!ok) {
    mtq_warn("sync: %s", outcome);
  }
  if (r->closed) {
    return;
  }
  r->after_sync = true;
  mtq_duty_arm(&r->duty, 0);
}

/* Logs what changed between the sets. */
static void log_changes(const mtq_fnset_t *old, const mtq_fnset_t *now) {
  for (size_t i = 0; i < now->n; i++) {
    const mtq_function_t *f = &now->items[i];
    const mtq_function_t *o = old ? mtq_fnset_find(old, f->name, f->version) : NULL;
    if (!o) {
      mtq_info("serving %s version %s (%s, digest %.12s)", f->name, f->version, f->source,
               f->digest);
    } else if (strcmp(o->digest, f->digest) != 0) {
      mtq_info("%s version %s changed (digest %.12s, was %.12s)", f->name, f->version, f->digest,
               o->digest);
    }
  }
  for (size_t i = 0; old && i < old->n; i++) {
    if (!mtq_fnset_find(now, old->items[i].name, old->items[i].version)) {
      mtq_info("no longer serving %s version %s (%s is gone)", old->items[i].name,
               old->items[i].version, old->items[i].source);
    }
  }
}

/* Each problem of a rescan once, while it lasts. */
static void log_problems(mtq__registry_t *r) {
  for (size_t i = 0; i < r->problems.n; i++) {
    if (!texts_has(&r->logged, r->problems.items[i])) {
      mtq_err("function refused: %s", r->problems.items[i]);
    }
  }
  texts_clear(&r->logged);
  r->logged = r->problems;
  memset(&r->problems, 0, sizeof r->problems);
}

/* Each missing version once, until it comes or is no longer wanted. */
static void log_missing(mtq__registry_t *r) {
  for (size_t i = 0; i < r->missing.n; i++) {
    const want_t *m = &r->missing.items[i];
    if (wants_find(&r->missing_said, m->func, m->version)) {
      continue;
    }
    char *why = missing_why(r, &r->logged, m);
    mtq_warn("no worker serves %s version %s, which %s%lld task(s) in channel %s want: %s; "
             "they stay queued",
             m->func, m->version, m->seen >= PROBE_LIMIT ? "at least " : "", (long long)m->seen,
             m->channel, why);
    bson_free(why);
  }
  for (size_t i = 0; i < r->missing_said.n; i++) {
    const want_t *m = &r->missing_said.items[i];
    if (!wants_find(&r->missing, m->func, m->version)) {
      mtq_info("%s version %s is no longer missing", m->func, m->version);
    }
  }
  wants_clear(&r->missing_said);
  for (size_t i = 0; i < r->missing.n; i++) {
    wants_push(&r->missing_said, &r->missing.items[i]);
  }
}

static int64_t registry_next(mtq_duty_t *d) {
  mtq__registry_t *r = d->data;
  mtq_worker_t *w = r->w;
  mtq_fnset_unref(r->cur);
  r->cur = NULL;
  if (r->next) {
    if (!mtq_fnset_same(r->next, w->fns)) {
      log_changes(w->fns, r->next);
      mtq_fnset_unref(w->fns);
      w->fns = r->next;
      w->fns_gen++;
      mtq_duty_arm_sooner(&w->heartbeat_duty, 0);
      mtq__worker_schedule_poll(w, 0);
    } else {
      mtq_fnset_unref(r->next);
    }
    r->next = NULL;
  }
  log_problems(r);
  bool after = r->after_sync;
  r->after_sync = false;
  if (r->want_sync && w->phase == MTQ_WORKER_RUNNING) {
    start_sync(r);
    return -1; /* its end arms the duty */
  }
  if (d->ok || after) {
    log_missing(r);
  }
  return w->cfg->sync_interval_s * 1000;
}

/* --- lifecycle ------------------------------------------------------------------------ */

static void log_initial(mtq__registry_t *r) {
  for (size_t i = 0; i < r->problems.n; i++) {
    mtq_err("function refused: %s", r->problems.items[i]);
  }
  texts_clear(&r->logged);
  r->logged = r->problems;
  memset(&r->problems, 0, sizeof r->problems);
}

mtq__registry_t *mtq__registry_new(mtq_worker_t *w) {
  mtq__registry_t *r = bson_malloc0(sizeof *r);
  r->w = w;
  r->cache = mtq_digest_cache_new();
  w->fns = mtq_fnset_load(w->cfg, r->cache, on_problem, r);
  log_initial(r);
  mtq_duty_init(&r->duty, w->loop, "function registry", registry_prepare, registry_run,
                registry_next, r);
  return r;
}

void mtq__registry_start(mtq__registry_t *r) { mtq_duty_arm(&r->duty, 0); }

bool mtq__registry_busy(const mtq__registry_t *r) { return mtq_duty_in_flight(&r->duty); }

void mtq__registry_close(mtq__registry_t *r) {
  r->closed = true;
  mtq_duty_close(&r->duty);
  if (r->sync) {
    mtq_sync_kill(r->sync);
  }
}

void mtq__registry_destroy(mtq__registry_t *r) {
  if (!r) {
    return;
  }
  mtq_fnset_unref(r->cur);
  mtq_fnset_unref(r->next);
  wants_clear(&r->wants);
  wants_clear(&r->missing);
  wants_clear(&r->missing_said);
  texts_clear(&r->problems);
  texts_clear(&r->logged);
  mtq_digest_cache_destroy(r->cache);
  bson_free(r);
}
