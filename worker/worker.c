/* worker.c - the scheduling core of mtq-worker: the start check, polling and
 * claiming, and the shutdown sequence (see worker.h).
 *
 * Nothing here ticks.  The poll is a duty (runtime/duty.h) armed for when
 * the next poll is due: at once after a poll that claimed work while slots
 * are still free, poll_interval_ms after an empty poll, and at once when a
 * task ends and frees a slot or a wake-up datagram names a channel.  Its
 * work runs in the thread pool; back on the loop, its next() starts what it
 * claimed and decides when it is due.
 *
 * An idle worker (its last poll claimed nothing) does not read its lanes
 * at every poll: that is ten lanes and ten side lanes per channel, every
 * poll_interval_ms, for nothing.  It reads the seq of its channels instead
 * (one query; every write that makes work runnable bumps it), and reads
 * the lanes of a channel whose seq moved, or that a datagram named, and all
 * of them every idle_poll_ms in case a write bumped no seq (a task inserted
 * by another program, an edit made in the database). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker_private.h"

extern char **environ;

size_t mtq__worker_free_slots(const mtq_worker_t *w) {
  size_t cap = (size_t)w->cfg->concurrency;
  return w->n_jobs >= cap ? 0 : cap - w->n_jobs;
}

/* --- startup: are the channels declared? --------------------------------- */

static bool start_run(mtq_duty_t *d, bson_error_t *error) {
  mtq_worker_t *w = d->data;
  const mtq_worker_config_t *cfg = w->cfg;
  for (size_t i = 0; i < cfg->n_channels; i++) {
    w->failed_channel = cfg->channels[i];
    if (!mtq_store_check_channel(w->store, w->failed_channel, error)) {
      return false;
    }
  }
  w->failed_channel = w->direct;
  return !w->direct[0] || mtq_store_declare_channel(w->store, w->direct, 0, error);
}

static void enter_running(mtq_worker_t *w) {
  w->phase = MTQ_WORKER_RUNNING;
  w->registered = true;
  mtq_info("worker %s serving %zu channel(s) with %d slot(s)", w->cfg->worker_id,
           w->cfg->n_channels, w->cfg->concurrency);
  mtq_duty_arm(&w->heartbeat_duty, 0);
  mtq_publisher_start(&w->publisher);
  mtq_duty_arm(&w->renew_duty, w->cfg->lease_ms / 4);
  mtq__registry_start(w->registry);
  mtq__worker_schedule_poll(w, 0);
}

static int64_t start_next(mtq_duty_t *d) {
  mtq_worker_t *w = d->data;
  if (w->phase != MTQ_WORKER_STARTING) {
    return -1; /* stopped while checking */
  }
  if (d->ok) {
    enter_running(w);
    return -1;
  }
  if (mtq_error_is_transient(&d->error)) {
    return mtq_duty_backoff(d);
  }
  /* Cannot go on (an unknown channel): said here, once, and the worker stops. */
  if (d->error.domain == MTQ_ERROR_DOMAIN && d->error.code == MTQ_ERR_UNKNOWN_CHANNEL) {
    mtq_err("%s", d->error.message);
  } else {
    mtq_err("cannot check channel %s: %s", w->failed_channel, d->error.message);
  }
  w->exit_code = 1;
  w->phase = MTQ_WORKER_STOPPING;
  mtq__worker_advance(w);
  return -1;
}

/* --- polling and claiming ------------------------------------------------ */

static bool serves(const mtq_worker_t *w, const mtq_task_t *task) {
  return mtq_fnset_find(w->poll_fns, task->func, task->version) != NULL;
}

/* Someone else got there first, or the task changed under us: not an error. */
static bool lost_race(const bson_error_t *err) {
  return err->domain == MTQ_ERROR_DOMAIN &&
         (err->code == MTQ_ERR_CONFLICT || err->code == MTQ_ERR_STATE ||
          err->code == MTQ_ERR_NOT_FOUND);
}

/* Claims candidates in order until the poll has what it wants.  False when
 * a transient error ends the poll (*error is set). */
static bool claim_some(mtq_worker_t *w, mtq_task_list_t *candidates, bson_error_t *error) {
  char oid[25];
  /* Workers polling together see the same front of a lane; if each tried
   * it in order they would all fight over its first tasks, and each loser
   * pays a claim and a poll more.  So a worker that lost races lately
   * (w->spread > 1) starts at a random place among the first spread x
   * want candidates of the top priority and takes want from there, on
   * the same priority still, and within a few dozen tasks of the oldest
   * (which no two workers polling together can both get anyway).  A
   * worker that wins what it tries, a lone one for one, takes the oldest
   * in order. */
  size_t lead = 0;
  while (lead < candidates->n &&
         candidates->items[lead].priority == candidates->items[0].priority) {
    lead++;
  }
  size_t spread = w->poll_want * w->spread;
  spread = lead < spread ? lead : spread;
  size_t offset = spread > w->poll_want ? (size_t)rand_r(&w->poll_seed) % spread : 0;
  /* The candidates served here, in that order, claimed a batch at a time
   * (one claim of many: a constant number of round trips) until the poll
   * has what it wants or none is left. */
  mtq_task_t **order = bson_malloc0((candidates->n + 1) * sizeof *order);
  size_t n = 0;
  for (size_t i = 0; i < candidates->n; i++) {
    mtq_task_t *t = &candidates->items[i < spread ? (i + offset) % spread : i];
    if (serves(w, t)) {
      order[n++] = t;
    } else {
      bson_oid_to_string(&t->id, oid);
      mtq_debug("skipping task %s: %s version %s is not served here", oid, t->func, t->version);
    }
  }
  mtq_task_t *batch = bson_malloc0((w->poll_want + 1) * sizeof *batch);
  bool *won = bson_malloc0(w->poll_want + 1);
  bson_error_t *errs = bson_malloc0((w->poll_want + 1) * sizeof *errs);
  bool ok = true, lost = false;
  for (size_t next = 0; ok && next < n && w->claimed.n < w->poll_want;) {
    size_t k = w->poll_want - w->claimed.n;
    k = k < n - next ? k : n - next;
    for (size_t j = 0; j < k; j++) {
      batch[j] = *order[next + j]; /* move: the candidate list must not free it */
      mtq_task_init(order[next + j]);
    }
    next += k;
    mtq_store_claim_many(w->store, batch, k, w->cfg->worker_id, w->cfg->lease_ms, won, errs);
    for (size_t j = 0; j < k; j++) {
      mtq_task_t *t = &batch[j];
      bson_oid_to_string(&t->id, oid);
      if (won[j]) {
        mtq_task_t *slot = mtq_task_list_push(&w->claimed);
        *slot = *t;
        mtq_task_init(t);
        mtq_debug("claimed task %s (%s version %s, attempt %d)", oid, slot->func,
                  slot->version, (int)slot->attempt);
        continue;
      }
      if (lost_race(&errs[j])) {
        lost = true;
        mtq_debug("task %s went to someone else: %s", oid, errs[j].message);
      } else if (mtq_error_is_transient(&errs[j])) {
        *error = errs[j];
        ok = false;
      } else {
        mtq_warn("cannot claim task %s: %s", oid, errs[j].message);
      }
      mtq_task_cleanup(t);
    }
  }
  /* Lost races: spread wider next time; none: narrow back towards order. */
  if (lost) {
    w->spread = w->spread * 2 > MTQ_WORKER_POLL_PER_SLOT ? MTQ_WORKER_POLL_PER_SLOT : w->spread * 2;
  } else if (n > 0 && w->spread > 1) {
    w->spread /= 2;
  }
  bson_free(errs);
  bson_free(won);
  bson_free(batch);
  bson_free(order);
  return ok;
}

/* Polls one channel for up to limit candidates and claims some.  False when
 * a transient error ends the poll. */
static bool poll_channel(mtq_worker_t *w, const char *channel, size_t limit,
                         mtq_poll_memo_t *memo, bson_error_t *error) {
  mtq_task_list_t candidates;
  mtq_task_list_init(&candidates);
  bson_error_t err;
  bool ok = true;
  if (w->poll_fns->n == 0) {
    return true; /* no filter would mean every function: nothing to poll for yet */
  }
  if (mtq_store_poll(w->store, channel, w->poll_fns->served, w->poll_fns->n, limit, memo,
                     w->cfg->worker_id, &candidates, &err)) {
    ok = claim_some(w, &candidates, error);
  } else if (mtq_error_is_transient(&err)) {
    *error = err;
    ok = false;
  } else {
    mtq_warn("cannot poll channel %s: %s", channel, err.message);
  }
  mtq_task_list_cleanup(&candidates);
  return ok;
}

static mtq_poll_memo_t *memo_of(mtq_worker_t *w, size_t i) {
  return i < w->cfg->n_channels ? &w->memos[i] : &w->direct_memo;
}

/* The memo of watched channel i: its lanes are asked again at the next
 * poll; where its scans of the directories got to is kept. */
static void forget_empty(mtq_worker_t *w, size_t i) {
  mtq_poll_memo_t *m = memo_of(w, i);
  int64_t recheck = m->recheck_ms;
  size_t resume[MTQ_PRIORITY_LEVELS];
  memcpy(resume, m->resume, sizeof resume);
  memset(m, 0, sizeof *m);
  m->recheck_ms = recheck;
  memcpy(m->resume, resume, sizeof resume);
}

/* Whether a poll stopped short of the end of a directory with nothing
 * found: the next poll must read on, so the worker is not idle yet. */
static bool scan_unfinished(mtq_worker_t *w) {
  for (size_t i = 0; i < w->n_watch; i++) {
    if (memo_of(w, i)->partial) {
      return true;
    }
  }
  return false;
}

/* Decides, on the loop, what the poll reads.  Not idle: every lane, as
 * the memos allow.  Idle: the seqs, then the lanes of a channel whose seq
 * moved, of one a datagram named, or all of them when idle_poll_ms passed.
 * Datagrams that name only a priority skip the seqs: the lanes they name
 * are read at once, and the seqs at the next poll. */
static void plan_poll(mtq_worker_t *w) {
  bool overdue = uv_now(w->loop) - w->lanes_read_at >= (uint64_t)w->cfg->idle_poll_ms;
  bool whole = overdue, any = overdue;
  for (size_t i = 0; i < w->n_watch; i++) {
    uint16_t woken = w->woken[i];
    /* The fallback skips the worker's own channel: only mtqd writes there,
     * and each of its writes bumps the seq and sends a datagram; were both
     * lost, mtqd replaces a copy that is late. */
    bool fallback = overdue && i < w->cfg->n_channels;
    w->need[i] = !w->idle || fallback ? MTQ__ALL_LANES : woken;
    whole = whole || woken == MTQ__ALL_LANES;
    any = any || woken;
    w->woken[i] = 0;
  }
  w->wake_pending = false;
  w->poll_idle = w->idle;
  w->poll_watch = w->idle && (whole || !any);
  w->poll_lanes = !w->idle || any;
}

/* In the work: reads the seqs into seqs_now, noting when. */
static bool read_seqs(mtq_worker_t *w, int64_t *at, bson_error_t *error) {
  *at = mtq_now_ms();
  return mtq_store_channel_seqs(w->store, w->watch, w->n_watch, w->seqs_now, error);
}

static void keep_seqs(mtq_worker_t *w, int64_t at) {
  memcpy(w->seqs, w->seqs_now, w->n_watch * sizeof *w->seqs);
  w->seqs_known = true;
  w->seqs_at = at;
}

/* In the work: reads the seqs; a channel whose seq moved has all its lanes
 * read.  The seqs are read before the lanes, so a write after this read
 * moves them again. */
static bool watch_seqs(mtq_worker_t *w, bson_error_t *error) {
  int64_t at;
  if (!read_seqs(w, &at, error)) {
    return false;
  }
  for (size_t i = 0; i < w->n_watch; i++) {
    if (!w->seqs_known || w->seqs_now[i] != w->seqs[i]) {
      w->need[i] = MTQ__ALL_LANES;
      w->poll_lanes = true;
    }
  }
  keep_seqs(w, at);
  return true;
}

/* A mark of the memo that says "found empty until *until", set at or after
 * since: good for another recheck_ms from now. */
static void hold(int64_t *until, int64_t since, int64_t now, int64_t recheck_ms) {
  if (*until != 0 && *until - recheck_ms >= since) {
    *until = now + recheck_ms;
  }
}

/* Busy, a worker asks the lanes it found empty again every recheck_ms:
 * per channel ten directories, ten side lanes and ten inboxes, which is
 * most of what several busy workers ask.  Directories and side lanes are
 * written only by mtq (a producer listing a segment, a move, a release),
 * and each such write is followed by a bump of the channel's seq (wake.c);
 * the worker's own channel only by mtqd, which bumps it too.  So once per
 * recheck_ms a busy worker reads the seqs (one query), and where a seq has
 * not moved since the read before, what was found empty after that read
 * stays so for another recheck_ms.  The inboxes of the other channels are
 * asked as before: other programs insert there and bump nothing (README,
 * "Producing tasks from another language"). */
static bool hold_quiet_lanes(mtq_worker_t *w, bson_error_t *error) {
  int64_t now = mtq_now_ms(), at;
  if (w->seqs_known && now < w->seqs_at + w->cfg->poll_interval_ms) {
    return true;
  }
  if (!read_seqs(w, &at, error)) {
    return false;
  }
  for (size_t i = 0; w->seqs_known && i < w->n_watch; i++) {
    if (w->seqs_now[i] != w->seqs[i]) {
      /* Moved: a directory or side lane may have changed since the memo
       * read it.  The new seq is kept below, so this move would be hidden
       * from the seq check once idle (a segment listed after the memo's
       * directory page was read stayed unseen until idle_poll_ms): the
       * memo of this channel is dropped instead, and this poll reads its
       * lanes again after this read of the seqs. */
      forget_empty(w, i);
      continue;
    }
    mtq_poll_memo_t *m = memo_of(w, i);
    bool own = i >= w->cfg->n_channels;
    for (size_t p = 0; p < MTQ_PRIORITY_LEVELS; p++) {
      if (m->dir[p].n == 0) {
        hold(&m->dir[p].until_ms, w->seqs_at, at, m->recheck_ms);
      }
      hold(&m->moved_empty_until_ms[p], w->seqs_at, at, m->recheck_ms);
      if (own) {
        hold(&m->empty_until_ms[p], w->seqs_at, at, m->recheck_ms);
      }
    }
  }
  keep_seqs(w, at);
  return true;
}

/* Polls watched channel i as the plan says.  An idle worker reads what it
 * needs and nothing else: all lanes (its memo forgotten, since lanes found
 * empty a while ago are what changed), or only the priorities a datagram
 * named, by marking the others empty in the memo for this one poll. */
static bool poll_watched(mtq_worker_t *w, size_t i, size_t limit, bson_error_t *error) {
  uint16_t need = w->need[i];
  mtq_poll_memo_t *m = memo_of(w, i);
  const char *channel = w->watch[i];
  if (!w->poll_idle) {
    return poll_channel(w, channel, limit, m, error);
  }
  if (need == 0) {
    return true;
  }
  forget_empty(w, i);
  for (size_t p = 0; need != MTQ__ALL_LANES && p < MTQ_PRIORITY_LEVELS; p++) {
    if (!(need & (1u << p))) {
      m->empty_until_ms[p] = m->moved_empty_until_ms[p] = INT64_MAX;
    }
  }
  /* The priorities not named are not read at all, their segments either. */
  m->only = need == MTQ__ALL_LANES ? 0 : need;
  bool ok = poll_channel(w, channel, limit, m, error);
  m->only = 0;
  /* The lanes not read were empty at the last full read and no datagram
   * named them: as good as found empty now, so the poll right after a
   * claim skips them as it skips lanes it found empty itself.  Should one
   * have filled meanwhile, its seq moved, and the first seq check once
   * idle again reads the whole channel. */
  int64_t until = mtq_now_ms() + m->recheck_ms;
  for (size_t p = 0; p < MTQ_PRIORITY_LEVELS; p++) {
    if (m->empty_until_ms[p] == INT64_MAX) {
      m->empty_until_ms[p] = until;
    }
    if (m->moved_empty_until_ms[p] == INT64_MAX) {
      m->moved_empty_until_ms[p] = until;
    }
  }
  return ok;
}

static bool poll_prepare(mtq_duty_t *d) {
  mtq_worker_t *w = d->data;
  size_t want = mtq__worker_free_slots(w);
  if (w->phase != MTQ_WORKER_RUNNING || want == 0) {
    return false;
  }
  if (w->poll_gen != w->fns_gen) {
    /* What the memos found empty was empty of the old set's versions. */
    for (size_t i = 0; i < w->n_watch; i++) {
      mtq_poll_memo_t *m = memo_of(w, i);
      int64_t recheck = m->recheck_ms;
      memset(m, 0, sizeof *m);
      m->recheck_ms = recheck;
    }
    w->idle = false;
    w->poll_gen = w->fns_gen;
  }
  w->poll_fns = mtq_fnset_ref(w->fns);
  plan_poll(w);
  w->poll_want = want;
  w->poll_start = w->next_channel++ % w->cfg->n_channels;
  w->poll_seed = (unsigned)uv_hrtime() ^ (unsigned)getpid();
  mtq_task_list_init(&w->claimed);
  return true;
}

static bool poll_run(mtq_duty_t *d, bson_error_t *error) {
  mtq_worker_t *w = d->data;
  size_t n = w->cfg->n_channels;
  if (w->poll_watch && !watch_seqs(w, error)) {
    return false;
  }
  if (!w->poll_lanes) {
    return true;
  }
  if (!w->poll_idle && !hold_quiet_lanes(w, error)) {
    return false;
  }
  /* Copies mtqd sent this worker come first: they are often waited on. */
  if (w->direct[0] && !poll_watched(w, n, w->poll_want, error)) {
    return false;
  }
  for (size_t k = 0; k < n && w->claimed.n < w->poll_want; k++) {
    size_t c = (w->poll_start + k) % n;
    size_t limit = (w->poll_want - w->claimed.n) * MTQ_WORKER_POLL_PER_SLOT;
    limit = limit > MTQ_WORKER_POLL_MAX ? MTQ_WORKER_POLL_MAX : limit;
    if (!poll_watched(w, c, limit, error)) {
      return false;
    }
  }
  return true;
}

static int64_t poll_next(mtq_duty_t *d) {
  mtq_worker_t *w = d->data;
  bool running = w->phase == MTQ_WORKER_RUNNING;
  size_t claimed = w->claimed.n;
  for (size_t i = 0; i < claimed; i++) {
    if (running) {
      mtq__job_start(w, &w->claimed.items[i]);
    } else {
      mtq__job_give_back(w, &w->claimed.items[i]);
    }
  }
  mtq_task_list_cleanup(&w->claimed);
  mtq_fnset_unref(w->poll_fns);
  w->poll_fns = NULL;
  if (d->ok && w->poll_lanes) {
    w->idle = claimed == 0 && !scan_unfinished(w);
    w->lanes_read_at = uv_now(w->loop);
  }
  int64_t next_ms = w->cfg->poll_interval_ms;
  if (!d->ok) {
    int64_t backoff = mtq_duty_backoff(d);
    next_ms = backoff > next_ms ? backoff : next_ms;
  } else if (claimed > 0) {
    next_ms = 0; /* there was work: look for more while slots are free */
  } else if (w->wake_pending) {
    /* Word of work came during the poll.  Idle, that is the latency that
     * counts: at once.  Busy, datagrams come as fast as producers write
     * and would make polls back to back: a short pause gathers them. */
    next_ms = w->poll_idle ? 0 : MTQ_WORKER_WAKE_SETTLE_MS;
  }
  mtq__worker_advance(w);
  if (!running || mtq__worker_free_slots(w) == 0) {
    /* A job that ends arms it again; a stopping worker does not poll. */
    return d->ok ? -1 : next_ms;
  }
  return next_ms;
}

void mtq__worker_schedule_poll(mtq_worker_t *w, uint64_t delay_ms) {
  if (w->phase != MTQ_WORKER_RUNNING || mtq_duty_in_flight(&w->poll_duty) ||
      mtq__worker_free_slots(w) == 0) {
    return;
  }
  mtq_duty_arm_sooner(&w->poll_duty, (int64_t)delay_ms);
}

void mtq__worker_wake(mtq_worker_t *w, size_t i, int priority) {
  w->woken[i] |= priority >= MTQ_PRIORITY_MIN && priority <= MTQ_PRIORITY_MAX
                     ? (uint16_t)(1u << (priority - MTQ_PRIORITY_MIN))
                     : MTQ__ALL_LANES;
  w->wake_pending = true; /* seen by poll_next when a poll is in flight */
  mtq__worker_schedule_poll(w, 0);
}

/* --- shutdown ------------------------------------------------------------ */

static void begin_kill(mtq_worker_t *w) {
  w->phase = MTQ_WORKER_KILLING;
  uv_timer_stop(&w->grace_timer);
  if (w->n_running > 0) {
    mtq_warn("aborting %zu running task(s); they go back to the queue", w->n_running);
  }
  mtq__jobs_abort(w, "worker shutdown");
}

static void on_grace_timer(uv_timer_t *t) {
  mtq_worker_t *w = t->data;
  mtq_warn("grace period of %lld ms is over", (long long)w->cfg->grace_period_ms);
  begin_kill(w);
  mtq__worker_advance(w);
}

void mtq_worker_signal(mtq_worker_t *w, int signum) {
  const char *name = signum == SIGINT ? "SIGINT" : "SIGTERM";
  switch (w->phase) {
  case MTQ_WORKER_STARTING:
    mtq_info("%s: stopping", name);
    w->phase = MTQ_WORKER_STOPPING;
    break;
  case MTQ_WORKER_RUNNING:
    mtq_info("%s: stopping; %zu running task(s) have %lld ms to finish", name, w->n_running,
             (long long)w->cfg->grace_period_ms);
    w->phase = MTQ_WORKER_DRAINING;
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

static bool any_in_flight(const mtq_worker_t *w) {
  return mtq_duty_in_flight(&w->start_duty) || mtq_duty_in_flight(&w->poll_duty) ||
         mtq_duty_in_flight(&w->heartbeat_duty) || mtq_duty_in_flight(&w->renew_duty) ||
         mtq__registry_busy(w->registry);
}

static void close_all(mtq_worker_t *w) {
  w->phase = MTQ_WORKER_CLOSED;
  mtq_duty_close(&w->start_duty);
  mtq_duty_close(&w->poll_duty);
  mtq_duty_close(&w->heartbeat_duty);
  mtq_duty_close(&w->renew_duty);
  mtq_publisher_close(&w->publisher);
  mtq__registry_close(w->registry);
  mtq__wake_close(w);
  uv_close((uv_handle_t *)&w->grace_timer, NULL);
  mtq__jobs_close(w);
}

void mtq__worker_advance(mtq_worker_t *w) {
  if (w->phase == MTQ_WORKER_DRAINING || w->phase == MTQ_WORKER_KILLING) {
    if (w->n_jobs > 0 || mtq_duty_in_flight(&w->poll_duty)) {
      return;
    }
    uv_timer_stop(&w->grace_timer);
    w->phase = MTQ_WORKER_STOPPING;
  }
  if (w->phase != MTQ_WORKER_STOPPING) {
    return;
  }
  /* A late "running" heartbeat must not land after the "stopped" one. */
  if (w->n_jobs > 0 || any_in_flight(w)) {
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

void mtq_worker_size_threads(const mtq_worker_config_t *cfg) {
  /* libuv reads this once, when the first work is queued. */
  char size[16];
  snprintf(size, sizeof size, "%d", cfg->concurrency + MTQ_WORKER_EXTRA_THREADS);
  setenv("UV_THREADPOOL_SIZE", size, 1);
}

/* Tasks inherit the environment the worker was started with (taken before
 * mtq_worker_size_threads sets the pool size for the worker alone). */
static char **snapshot_env(void) {
  size_t n = 0;
  while (environ && environ[n]) {
    n++;
  }
  char **env = bson_malloc0((n + 1) * sizeof *env);
  for (size_t i = 0; i < n; i++) {
    env[i] = bson_strdup(environ[i]);
  }
  return env;
}

mtq_worker_t *mtq_worker_new(uv_loop_t *loop, mtq_store_t *store,
                             const mtq_worker_config_t *cfg, bson_error_t *error) {
  if (cfg->n_channels == 0 || (cfg->n_functions == 0 && !cfg->function_dir)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "a worker needs channels and functions");
    return NULL;
  }
  mtq_keyring_t *ring = NULL;
  if (!mtq_config_keyring(&cfg->base, &ring, error)) {
    return NULL;
  }
  mtq_worker_t *w = bson_malloc0(sizeof *w);
  w->loop = loop;
  w->store = store;
  w->cfg = cfg;
  w->ring = ring;
  w->memos = bson_malloc0(cfg->n_channels * sizeof *w->memos);
  w->spread = 1;
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
  w->watch = bson_malloc0((cfg->n_channels + 1) * sizeof *w->watch);
  for (size_t i = 0; i < cfg->n_channels; i++) {
    w->watch[w->n_watch++] = cfg->channels[i];
  }
  if (w->direct[0]) {
    w->watch[w->n_watch++] = w->direct;
  }
  w->seqs = bson_malloc0(w->n_watch * sizeof *w->seqs);
  w->seqs_now = bson_malloc0(w->n_watch * sizeof *w->seqs_now);
  w->woken = bson_malloc0(w->n_watch * sizeof *w->woken);
  w->need = bson_malloc0(w->n_watch * sizeof *w->need);
  w->probe = mtq_hostinfo_probe_new();
  if (gethostname(w->host, sizeof w->host - 1) != 0) {
    bson_strncpy(w->host, "unknown", sizeof w->host);
  }
  w->pid = (int32_t)getpid();
  w->started_at_ms = mtq_now_ms();
  w->phase = MTQ_WORKER_STARTING;
  w->task_env = snapshot_env();
  mtq_task_list_init(&w->claimed);
  mtq_whoami_init(&w->heartbeat);
  w->registry = mtq__registry_new(w);
  if (w->fns->n == 0) {
    mtq_warn("%s: no function to serve yet; the worker waits for one in %s", cfg->source,
             cfg->function_dir);
  }
  mtq_duty_init(&w->start_duty, loop, "checking channels", NULL, start_run, start_next, w);
  mtq_duty_init(&w->poll_duty, loop, "poll", poll_prepare, poll_run, poll_next, w);
  mtq__heartbeat_duty_init(w);
  mtq__lease_duty_init(w);
  mtq__metrics_init(w);
  uv_timer_init(loop, &w->grace_timer);
  w->grace_timer.data = w;
  mtq__jobs_init(w, loop);
  return w;
}

void mtq_worker_start(mtq_worker_t *w) {
  mtq_info("worker %s starting (pid %d, database %s)", w->cfg->worker_id, (int)w->pid,
           mtq_store_db_name(w->store));
  mtq__wake_open(w);
  mtq_duty_arm(&w->start_duty, 0);
}

int mtq_worker_exit_code(const mtq_worker_t *w) { return w->exit_code; }

void mtq_worker_destroy(mtq_worker_t *w) {
  if (!w) {
    return;
  }
  mtq_keyring_destroy(w->ring);
  mtq_hostinfo_probe_destroy(w->probe);
  mtq_publisher_destroy(&w->publisher);
  bson_strfreev(w->task_env);
  mtq_task_list_cleanup(&w->claimed);
  mtq_whoami_cleanup(&w->heartbeat);
  bson_free(w->renewals);
  bson_free(w->end_queue);
  bson_free(w->end_batch);
  bson_free(w->memos);
  bson_free(w->watch);
  bson_free(w->seqs);
  bson_free(w->seqs_now);
  bson_free(w->woken);
  bson_free(w->need);
  mtq__registry_destroy(w->registry);
  mtq_fnset_unref(w->fns);
  mtq_fnset_unref(w->poll_fns);
  bson_free(w);
}
