/* worker.c - the scheduling core of mtq-worker: startup, polling and
 * claiming, and the shutdown sequence (see worker.h).
 *
 * Nothing here ticks.  The poll timer is armed for when the next poll is
 * due: at once after a poll that claimed work while slots are still free,
 * poll_interval_ms after an empty poll, and at once when a task ends and
 * frees a slot.  Each database call runs in the thread pool; its "after"
 * callback, back on the loop, decides what is due next. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker_private.h"

extern char **environ;

static void start_check(mtq_worker_t *w);

int64_t mtq__backoff_next(int64_t backoff_ms) {
  if (backoff_ms < MTQ_WORKER_BACKOFF_MIN_MS) {
    return MTQ_WORKER_BACKOFF_MIN_MS;
  }
  return backoff_ms * 2 > MTQ_WORKER_BACKOFF_MAX_MS ? MTQ_WORKER_BACKOFF_MAX_MS : backoff_ms * 2;
}

size_t mtq__worker_free_slots(const mtq_worker_t *w) {
  size_t cap = (size_t)w->cfg->concurrency;
  return w->n_jobs >= cap ? 0 : cap - w->n_jobs;
}

/* --- startup: are the channels declared? --------------------------------- */

typedef struct {
  uv_work_t req;
  mtq_worker_t *w;
  bool ok;
  const char *channel; /* the one that failed; borrowed from the config */
  bson_error_t error;
} check_op_t;

static void check_work(uv_work_t *req) {
  check_op_t *op = req->data;
  const mtq_worker_config_t *cfg = op->w->cfg;
  op->ok = true;
  for (size_t i = 0; i < cfg->n_channels && op->ok; i++) {
    op->channel = cfg->channels[i];
    op->ok = mtq_store_check_channel(op->w->store, op->channel, &op->error);
  }
  if (op->ok && op->w->direct[0]) {
    op->channel = op->w->direct;
    op->ok = mtq_store_declare_channel(op->w->store, op->channel, 0, &op->error);
  }
}

static void on_lease_timer(uv_timer_t *t) { mtq__jobs_renew(t->data); }

static void enter_running(mtq_worker_t *w) {
  w->phase = MTQ_WORKER_RUNNING;
  w->registered = true;
  mtq_info("worker %s serving %zu channel(s) with %d slot(s)", w->cfg->worker_id,
           w->cfg->n_channels, w->cfg->concurrency);
  mtq__heartbeat_start(w);
  uint64_t every = (uint64_t)(w->cfg->lease_ms / 4);
  uv_timer_start(&w->lease_timer, on_lease_timer, every, every);
  mtq__worker_schedule_poll(w, 0);
}

static void on_start_timer(uv_timer_t *t) { start_check(t->data); }

static void check_done(uv_work_t *req, int status) {
  check_op_t *op = req->data;
  mtq_worker_t *w = op->w;
  w->check_in_flight = false;
  if (w->phase != MTQ_WORKER_STARTING) {
    /* Stopped while checking. */
  } else if (op->ok) {
    enter_running(w);
  } else if (mtq_error_is_transient(&op->error)) {
    w->start_backoff_ms = mtq__backoff_next(w->start_backoff_ms);
    mtq_warn("database unreachable (%s); retrying in %.1f s", op->error.message,
             (double)w->start_backoff_ms / 1000.0);
    uv_timer_start(&w->start_timer, on_start_timer, (uint64_t)w->start_backoff_ms, 0);
  } else {
    if (op->error.domain == MTQ_ERROR_DOMAIN && op->error.code == MTQ_ERR_UNKNOWN_CHANNEL) {
      mtq_err("%s", op->error.message);
    } else {
      mtq_err("cannot check channel %s: %s", op->channel, op->error.message);
    }
    w->exit_code = 1;
    w->phase = MTQ_WORKER_STOPPING;
  }
  bson_free(op);
  mtq__worker_advance(w);
}

static void start_check(mtq_worker_t *w) {
  check_op_t *op = bson_malloc0(sizeof *op);
  op->w = w;
  op->req.data = op;
  w->check_in_flight = true;
  uv_queue_work(&w->loop, &op->req, check_work, check_done);
}

/* --- polling and claiming ------------------------------------------------ */

typedef struct {
  uv_work_t req;
  mtq_worker_t *w;
  size_t start; /* first channel to poll */
  size_t want;  /* free slots when the poll began */
  mtq_task_list_t claimed;
  bool ok;      /* false: a transient error cut the poll short */
  bson_error_t error;
  unsigned seed; /* rand_r state for spreading claims */
} poll_op_t;

static bool serves(const mtq_worker_config_t *cfg, const mtq_task_t *task) {
  const mtq_function_t *fn = mtq_worker_config_function(cfg, task->func);
  return fn && strcmp(fn->version, task->version) == 0;
}

/* Someone else got there first, or the task changed under us: not an error. */
static bool lost_race(const bson_error_t *err) {
  return err->domain == MTQ_ERROR_DOMAIN &&
         (err->code == MTQ_ERR_CONFLICT || err->code == MTQ_ERR_STATE ||
          err->code == MTQ_ERR_NOT_FOUND);
}

/* Claims candidates in order until the poll has what it wants.  False when
 * a transient error ends the poll (op->error is set). */
static bool claim_some(poll_op_t *op, mtq_task_list_t *candidates) {
  mtq_worker_t *w = op->w;
  char oid[25];
  /* Workers polling together see the same front of a lane; if each tried
   * it in order they would all fight over its first task.  Each starts at
   * a random place among the first `want` tasks of the top priority: the
   * tasks it would take anyway, so a worker with one free slot still takes
   * the oldest, and priority order is kept. */
  size_t lead = 0;
  while (lead < candidates->n &&
         candidates->items[lead].priority == candidates->items[0].priority) {
    lead++;
  }
  size_t spread = lead < op->want ? lead : op->want;
  size_t offset = spread ? (size_t)rand_r(&op->seed) % spread : 0;
  for (size_t i = 0; i < candidates->n && op->claimed.n < op->want; i++) {
    mtq_task_t *t = &candidates->items[i < spread ? (i + offset) % spread : i];
    bson_oid_to_string(&t->id, oid);
    if (!serves(w->cfg, t)) {
      mtq_debug("skipping task %s: %s version %s is not served here", oid, t->func, t->version);
      continue;
    }
    bson_error_t err;
    if (mtq_store_claim(w->store, t, w->cfg->worker_id, w->cfg->lease_ms, &err)) {
      mtq_task_t *slot = mtq_task_list_push(&op->claimed);
      *slot = *t; /* move: the candidate list must not free what it owned */
      mtq_task_init(t);
      mtq_debug("claimed task %s (%s version %s, attempt %d)", oid, slot->func, slot->version,
                (int)slot->attempt);
    } else if (lost_race(&err)) {
      mtq_debug("task %s went to someone else: %s", oid, err.message);
    } else if (mtq_error_is_transient(&err)) {
      op->error = err;
      return false;
    } else {
      mtq_warn("cannot claim task %s: %s", oid, err.message);
    }
  }
  return true;
}

/* Claims what waits in this worker's own channel (copies mtqd sent it). */
static void poll_direct(poll_op_t *op) {
  mtq_worker_t *w = op->w;
  mtq_task_list_t candidates;
  mtq_task_list_init(&candidates);
  bson_error_t err;
  if (mtq_store_poll(w->store, w->direct, w->served, w->cfg->n_functions, op->want,
                     &w->direct_memo, &candidates, &err)) {
    op->ok = claim_some(op, &candidates);
  } else if (mtq_error_is_transient(&err)) {
    op->ok = false;
    op->error = err;
  } else {
    mtq_warn("cannot poll channel %s: %s", w->direct, err.message);
  }
  mtq_task_list_cleanup(&candidates);
}

static void poll_work(uv_work_t *req) {
  poll_op_t *op = req->data;
  mtq_worker_t *w = op->w;
  size_t n = w->cfg->n_channels;
  op->ok = true;
  if (w->direct[0]) {
    poll_direct(op);
  }
  for (size_t k = 0; k < n && op->claimed.n < op->want && op->ok; k++) {
    size_t c = (op->start + k) % n;
    const char *channel = w->cfg->channels[c];
    size_t limit = (op->want - op->claimed.n) * MTQ_WORKER_POLL_PER_SLOT;
    limit = limit > MTQ_WORKER_POLL_MAX ? MTQ_WORKER_POLL_MAX : limit;
    mtq_task_list_t candidates;
    mtq_task_list_init(&candidates);
    bson_error_t err;
    if (mtq_store_poll(w->store, channel, w->served, w->cfg->n_functions, limit,
                       &w->memos[c], &candidates, &err)) {
      op->ok = claim_some(op, &candidates);
    } else if (mtq_error_is_transient(&err)) {
      op->ok = false;
      op->error = err;
    } else {
      mtq_warn("cannot poll channel %s: %s", channel, err.message);
    }
    mtq_task_list_cleanup(&candidates);
  }
}

static void poll_done(uv_work_t *req, int status) {
  poll_op_t *op = req->data;
  mtq_worker_t *w = op->w;
  w->poll_in_flight = false;
  bool running = w->phase == MTQ_WORKER_RUNNING;
  for (size_t i = 0; i < op->claimed.n; i++) {
    if (running) {
      mtq__job_start(w, &op->claimed.items[i]);
    } else {
      mtq__job_give_back(w, &op->claimed.items[i]);
    }
  }
  uint64_t next_ms = (uint64_t)w->cfg->poll_interval_ms;
  if (!op->ok) {
    w->poll_backoff_ms = mtq__backoff_next(w->poll_backoff_ms);
    if ((uint64_t)w->poll_backoff_ms > next_ms) {
      next_ms = (uint64_t)w->poll_backoff_ms;
    }
    mtq_warn("cannot poll: %s; next try in %.1f s", op->error.message, (double)next_ms / 1000.0);
  } else {
    if (w->poll_backoff_ms) {
      mtq_info("polling works again");
      w->poll_backoff_ms = 0;
    }
    if (op->claimed.n > 0) {
      next_ms = 0; /* there was work: look for more while slots are free */
    }
  }
  mtq_task_list_cleanup(&op->claimed);
  bson_free(op);
  mtq__worker_schedule_poll(w, next_ms);
  mtq__worker_advance(w);
}

static void on_poll_timer(uv_timer_t *t) {
  mtq_worker_t *w = t->data;
  size_t want = mtq__worker_free_slots(w);
  if (w->phase != MTQ_WORKER_RUNNING || w->poll_in_flight || want == 0) {
    return;
  }
  poll_op_t *op = bson_malloc0(sizeof *op);
  op->w = w;
  op->req.data = op;
  op->want = want;
  op->start = w->next_channel++ % w->cfg->n_channels;
  op->seed = (unsigned)uv_hrtime() ^ (unsigned)getpid();
  mtq_task_list_init(&op->claimed);
  w->poll_in_flight = true;
  uv_queue_work(&w->loop, &op->req, poll_work, poll_done);
}

void mtq__worker_schedule_poll(mtq_worker_t *w, uint64_t delay_ms) {
  if (w->phase != MTQ_WORKER_RUNNING || w->poll_in_flight || mtq__worker_free_slots(w) == 0) {
    return;
  }
  if (uv_is_active((uv_handle_t *)&w->poll_timer) &&
      uv_timer_get_due_in(&w->poll_timer) <= delay_ms) {
    return;
  }
  uv_timer_start(&w->poll_timer, on_poll_timer, delay_ms, 0);
}

/* --- shutdown ------------------------------------------------------------ */

static void begin_kill(mtq_worker_t *w) {
  w->phase = MTQ_WORKER_KILLING;
  uv_timer_stop(&w->grace_timer);
  if (w->n_running > 0) {
    mtq_warn("aborting %zu running task(s); they go back to the queue", w->n_running);
  }
  mtq__jobs_abort(w);
}

static void on_grace_timer(uv_timer_t *t) {
  mtq_worker_t *w = t->data;
  mtq_warn("grace period of %lld ms is over", (long long)w->cfg->grace_period_ms);
  begin_kill(w);
  mtq__worker_advance(w);
}

static void on_signal(uv_signal_t *s, int signum) {
  mtq_worker_t *w = s->data;
  const char *name = signum == SIGINT ? "SIGINT" : "SIGTERM";
  switch (w->phase) {
  case MTQ_WORKER_STARTING:
    mtq_info("%s: stopping", name);
    uv_timer_stop(&w->start_timer);
    w->phase = MTQ_WORKER_STOPPING;
    break;
  case MTQ_WORKER_RUNNING:
    mtq_info("%s: stopping; %zu running task(s) have %lld ms to finish", name, w->n_running,
             (long long)w->cfg->grace_period_ms);
    w->phase = MTQ_WORKER_DRAINING;
    uv_timer_stop(&w->poll_timer);
    uv_timer_start(&w->grace_timer, on_grace_timer, (uint64_t)w->cfg->grace_period_ms, 0);
    break;
  case MTQ_WORKER_DRAINING:
    mtq_info("%s again: not waiting for the grace period", name);
    begin_kill(w);
    break;
  case MTQ_WORKER_KILLING:
  case MTQ_WORKER_STOPPING:
    if (!w->abandon) {
      mtq_warn("%s again: giving up on outcomes not yet recorded", name);
      w->abandon = true;
      w->exit_code = 1;
      mtq__jobs_abandon(w);
    }
    break;
  case MTQ_WORKER_CLOSED:
    break;
  }
  mtq__worker_advance(w);
}

static void close_all(mtq_worker_t *w) {
  w->phase = MTQ_WORKER_CLOSED;
  uv_close((uv_handle_t *)&w->sigterm, NULL);
  uv_close((uv_handle_t *)&w->sigint, NULL);
  uv_close((uv_handle_t *)&w->start_timer, NULL);
  uv_close((uv_handle_t *)&w->poll_timer, NULL);
  uv_close((uv_handle_t *)&w->heartbeat_timer, NULL);
  uv_close((uv_handle_t *)&w->grace_timer, NULL);
  uv_close((uv_handle_t *)&w->lease_timer, NULL);
}

void mtq__worker_advance(mtq_worker_t *w) {
  if (w->phase == MTQ_WORKER_DRAINING || w->phase == MTQ_WORKER_KILLING) {
    if (w->n_jobs > 0 || w->poll_in_flight) {
      return;
    }
    uv_timer_stop(&w->grace_timer);
    w->phase = MTQ_WORKER_STOPPING;
  }
  if (w->phase != MTQ_WORKER_STOPPING) {
    return;
  }
  mtq__heartbeat_stop(w);
  uv_timer_stop(&w->lease_timer);
  /* A late "running" heartbeat must not land after the "stopped" one. */
  if (w->n_jobs > 0 || w->check_in_flight || w->poll_in_flight || w->heartbeat_in_flight ||
      w->renew_in_flight) {
    return;
  }
  if (w->registered && !w->final_sent && !w->abandon) {
    mtq__heartbeat_final(w);
    return;
  }
  mtq_info("worker %s stopped", w->cfg->worker_id);
  close_all(w);
}

/* --- lifecycle ----------------------------------------------------------- */

mtq_worker_t *mtq_worker_new(const mtq_worker_config_t *cfg, bson_error_t *error) {
  if (!cfg->base.uri || cfg->n_channels == 0 || cfg->n_functions == 0) {
    mtq_error_set(error, MTQ_ERR_INVALID, "a worker needs a database uri, channels and functions");
    return NULL;
  }
  mtq_keyring_t *ring = NULL;
  if (!mtq_config_keyring(&cfg->base, &ring, error)) {
    return NULL;
  }
  mtq_store_t *store = mtq_store_new(cfg->base.uri, "mtq-worker", error);
  if (!store) {
    mtq_keyring_destroy(ring);
    return NULL;
  }
  mtq_worker_t *w = bson_malloc0(sizeof *w);
  w->cfg = cfg;
  w->ring = ring;
  w->memos = bson_malloc0(cfg->n_channels * sizeof *w->memos);
  w->served = bson_malloc0(cfg->n_functions * sizeof *w->served);
  for (size_t i = 0; i < cfg->n_functions; i++) {
    w->served[i] = (mtq_func_ref_t){cfg->functions[i].name, cfg->functions[i].version};
  }
  for (size_t i = 0; i < cfg->n_channels; i++) {
    w->memos[i].recheck_ms = cfg->poll_interval_ms;
  }
  w->direct_memo.recheck_ms = cfg->poll_interval_ms;
  char direct[MTQ_NAME_MAX + 8];
  mtq_direct_channel(cfg->worker_id, direct, sizeof direct);
  if (mtq_name_valid(direct)) {
    bson_strncpy(w->direct, direct, sizeof w->direct);
  } else {
    mtq_warn("worker id %s is too long for a channel of its own: it gets no redundant copies",
             cfg->worker_id);
  }
  w->store = store;
  w->probe = mtq_hostinfo_probe_new();
  if (gethostname(w->host, sizeof w->host - 1) != 0) {
    bson_strncpy(w->host, "unknown", sizeof w->host);
  }
  w->pid = (int32_t)getpid();
  w->started_at_ms = mtq_now_ms();
  w->phase = MTQ_WORKER_STARTING;

  /* Tasks inherit the environment the worker was started with, not the
   * thread-pool size set below for the worker alone. */
  size_t n = 0;
  while (environ && environ[n]) {
    n++;
  }
  w->task_env = bson_malloc0((n + 1) * sizeof *w->task_env);
  for (size_t i = 0; i < n; i++) {
    w->task_env[i] = bson_strdup(environ[i]);
  }
  /* libuv reads this once, when the first work is queued.  One thread per
   * slot lets every finishing task record its outcome at once, and the
   * extra ones keep heartbeats from waiting behind them. */
  char size[16];
  snprintf(size, sizeof size, "%d", cfg->concurrency + MTQ_WORKER_EXTRA_THREADS);
  setenv("UV_THREADPOOL_SIZE", size, 1);

  uv_loop_init(&w->loop);
  return w;
}

static void init_handle_data(mtq_worker_t *w) {
  uv_signal_init(&w->loop, &w->sigterm);
  uv_signal_init(&w->loop, &w->sigint);
  uv_timer_init(&w->loop, &w->start_timer);
  uv_timer_init(&w->loop, &w->poll_timer);
  uv_timer_init(&w->loop, &w->heartbeat_timer);
  uv_timer_init(&w->loop, &w->grace_timer);
  uv_timer_init(&w->loop, &w->lease_timer);
  w->sigterm.data = w->sigint.data = w;
  w->start_timer.data = w->poll_timer.data = w->heartbeat_timer.data = w->grace_timer.data = w;
  w->lease_timer.data = w;
}

int mtq_worker_run(mtq_worker_t *w) {
  init_handle_data(w);
  uv_signal_start(&w->sigterm, on_signal, SIGTERM);
  uv_signal_start(&w->sigint, on_signal, SIGINT);
  mtq_info("worker %s starting (pid %d, database %s)", w->cfg->worker_id, (int)w->pid,
           mtq_store_db_name(w->store));
  start_check(w);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  return w->exit_code;
}

void mtq_worker_destroy(mtq_worker_t *w) {
  if (!w) {
    return;
  }
  if (uv_loop_close(&w->loop) != 0) {
    mtq_warn("event loop closed with handles still open");
  }
  mtq_store_destroy(w->store);
  mtq_keyring_destroy(w->ring);
  mtq_hostinfo_probe_destroy(w->probe);
  bson_strfreev(w->task_env);
  bson_free(w->memos);
  bson_free(w->served);
  bson_free(w);
}
