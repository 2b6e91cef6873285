/* heartbeat.c - the worker's whoami document (mtq_whoami.h), sent every
 * heartbeat_interval_ms.
 *
 * The heartbeat tells mtqd and operators that the worker is alive and what
 * its host looks like.  It is its own duty, independent of polling, with its
 * own thread-pool slot (see mtq_worker_size_threads), so a slow database
 * delays at most that one heartbeat: the next is due only once it is back. */
#include <string.h>

#include "worker_private.h"

void mtq__whoami_fill(const mtq_worker_t *worker, mtq_worker_state_t state, mtq_whoami_t *w) {
  const mtq_worker_config_t *cfg = worker->cfg;
  bson_strncpy(w->id, cfg->worker_id, sizeof w->id);
  bson_strncpy(w->host, worker->host, sizeof w->host);
  w->pid = worker->pid;
  w->state = state;
  for (size_t i = 0; i < cfg->n_channels; i++) {
    mtq_whoami_add_channel(w, cfg->channels[i]);
  }
  for (size_t i = 0; i < worker->fns->n; i++) {
    mtq_whoami_add_function(w, worker->fns->items[i].name, worker->fns->items[i].version);
  }
  for (size_t i = 0; i < cfg->n_tags; i++) {
    mtq_whoami_add_tag(w, cfg->tags[i]);
  }
  w->concurrency = cfg->concurrency;
  w->running = (int32_t)worker->n_running;
  w->started_at_ms = worker->started_at_ms;
  w->heartbeat_interval_ms = cfg->heartbeat_interval_ms;
  if (state == MTQ_WORKER_STATE_RUNNING) {
    mtq__wake_announce(worker, w);
  }
}

/* A snapshot taken on the loop: the worker's own fields, then its state. */
static bool heartbeat_prepare(mtq_duty_t *d) {
  mtq_worker_t *w = d->data;
  mtq_whoami_cleanup(&w->heartbeat);
  mtq__whoami_fill(w, w->final_sent ? MTQ_WORKER_STATE_STOPPED : MTQ_WORKER_STATE_RUNNING,
                   &w->heartbeat);
  return true;
}

static bool heartbeat_run(mtq_duty_t *d, bson_error_t *error) {
  mtq_worker_t *w = d->data;
  mtq_hostinfo_read(w->probe, (int64_t)(uv_hrtime() / 1000000), &w->heartbeat.hostinfo);
  /* Read the clock after the host figures, which may take a moment. */
  w->heartbeat.last_seen_ms = mtq_now_ms();
  return mtq_store_heartbeat(w->store, &w->heartbeat, error);
}

/* Every heartbeat_interval_ms, start to start; the last one is not repeated. */
static int64_t heartbeat_next(mtq_duty_t *d) {
  mtq_worker_t *w = d->data;
  if (w->heartbeat.state == MTQ_WORKER_STATE_STOPPED) {
    if (!d->ok) {
      mtq_warn("cannot record that worker %s stopped: %s", w->cfg->worker_id, d->error.message);
    }
    mtq__worker_advance(w);
    return -1;
  }
  mtq__worker_advance(w);
  if (w->phase == MTQ_WORKER_STOPPING || w->phase == MTQ_WORKER_CLOSED) {
    return -1; /* the final heartbeat is sent by mtq__heartbeat_final */
  }
  /* After a failure, a whole interval from now: the failure's time was
   * mostly the wait for an unreachable server. */
  int64_t every = w->cfg->heartbeat_interval_ms;
  return d->ok && d->took_ms < every ? every - d->took_ms : d->ok ? 0 : every;
}

void mtq__heartbeat_duty_init(mtq_worker_t *w) {
  mtq_duty_init(&w->heartbeat_duty, w->loop, "heartbeat", heartbeat_prepare, heartbeat_run,
                heartbeat_next, w);
}

void mtq__heartbeat_final(mtq_worker_t *w) {
  w->final_sent = true;
  mtq_duty_arm(&w->heartbeat_duty, 0);
}
