/* heartbeat.c - the worker's whoami document, sent every
 * heartbeat_interval_ms.
 *
 * The heartbeat is the worker's lease: a coordinator that stops seeing it
 * takes the worker's tasks back.  So it has its own timer, independent of
 * polling, and its own thread-pool slot (see UV_THREADPOOL_SIZE in
 * worker.c), and a slow database delays at most that one heartbeat: the
 * next tick is skipped while the previous one is still in flight. */
#include <string.h>

#include "worker_private.h"

typedef struct {
  uv_work_t req;
  mtq_worker_t *w;
  mtq_whoami_t doc; /* filled on the loop; the host figures in the pool */
  bool ok;
  bson_error_t error;
} heartbeat_op_t;

void mtq__whoami_fill(const mtq_worker_t *worker, mtq_worker_state_t state, mtq_whoami_t *w) {
  const mtq_worker_config_t *cfg = worker->cfg;
  bson_strncpy(w->id, cfg->worker_id, sizeof w->id);
  bson_strncpy(w->host, worker->host, sizeof w->host);
  w->pid = worker->pid;
  w->state = state;
  for (size_t i = 0; i < cfg->n_channels; i++) {
    mtq_whoami_add_channel(w, cfg->channels[i]);
  }
  for (size_t i = 0; i < cfg->n_functions; i++) {
    mtq_whoami_add_function(w, cfg->functions[i].name, cfg->functions[i].version);
  }
  for (size_t i = 0; i < cfg->n_tags; i++) {
    mtq_whoami_add_tag(w, cfg->tags[i]);
  }
  w->concurrency = cfg->concurrency;
  w->running = (int32_t)worker->n_running;
  w->started_at_ms = worker->started_at_ms;
  w->heartbeat_interval_ms = cfg->heartbeat_interval_ms;
}

static void heartbeat_work(uv_work_t *req) {
  heartbeat_op_t *op = req->data;
  mtq_hostinfo_read(op->w->probe, (int64_t)(uv_hrtime() / 1000000), &op->doc.hostinfo);
  /* Read the clock after the host figures, which may take a moment. */
  op->doc.last_seen_ms = mtq_now_ms();
  op->ok = mtq_store_heartbeat(op->w->store, &op->doc, &op->error);
}

static void heartbeat_done(uv_work_t *req, int status) {
  heartbeat_op_t *op = req->data;
  mtq_worker_t *w = op->w;
  w->heartbeat_in_flight = false;
  bool final = op->doc.state == MTQ_WORKER_STATE_STOPPED;
  if (op->ok) {
    if (w->heartbeat_failures > 0) {
      mtq_info("heartbeat sent again after %zu failure(s)", w->heartbeat_failures);
      w->heartbeat_failures = 0;
    }
  } else if (final) {
    mtq_warn("cannot record that worker %s stopped: %s", w->cfg->worker_id, op->error.message);
  } else if (w->heartbeat_failures++ == 0) {
    /* Once per outage: polls and task outcomes report it too. */
    mtq_warn("cannot send heartbeat: %s", op->error.message);
  } else {
    mtq_debug("cannot send heartbeat: %s", op->error.message);
  }
  mtq_whoami_cleanup(&op->doc);
  bson_free(op);
  mtq__worker_advance(w);
}

static void send_heartbeat(mtq_worker_t *w, mtq_worker_state_t state) {
  heartbeat_op_t *op = bson_malloc0(sizeof *op);
  op->req.data = op;
  op->w = w;
  mtq_whoami_init(&op->doc);
  mtq__whoami_fill(w, state, &op->doc);
  w->heartbeat_in_flight = true;
  uv_queue_work(&w->loop, &op->req, heartbeat_work, heartbeat_done);
}

static void on_heartbeat_timer(uv_timer_t *t) {
  mtq_worker_t *w = t->data;
  if (w->heartbeat_in_flight) {
    mtq_debug("previous heartbeat still in flight; skipping this one");
    return;
  }
  send_heartbeat(w, MTQ_WORKER_STATE_RUNNING);
}

void mtq__heartbeat_start(mtq_worker_t *w) {
  uint64_t every = (uint64_t)w->cfg->heartbeat_interval_ms;
  uv_timer_start(&w->heartbeat_timer, on_heartbeat_timer, 0, every);
}

void mtq__heartbeat_stop(mtq_worker_t *w) { uv_timer_stop(&w->heartbeat_timer); }

void mtq__heartbeat_final(mtq_worker_t *w) {
  w->final_sent = true;
  send_heartbeat(w, MTQ_WORKER_STATE_STOPPED);
}
