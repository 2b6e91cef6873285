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
  mtq__whoami_t in; /* a snapshot taken on the loop */
  bool ok;
  bson_error_t error;
} heartbeat_op_t;

void mtq__whoami_build(const mtq__whoami_t *in, const mtq_hostinfo_t *host, bson_t *doc) {
  const mtq_worker_config_t *cfg = in->cfg;
  bson_t arr, sub;
  char key[16];
  const char *k;

  BSON_APPEND_UTF8(doc, "_id", cfg->worker_id);
  BSON_APPEND_UTF8(doc, "host", in->host);
  BSON_APPEND_INT32(doc, "pid", in->pid);
  BSON_APPEND_UTF8(doc, "state", in->state);
  BSON_APPEND_ARRAY_BEGIN(doc, "channels", &arr);
  for (size_t i = 0; i < cfg->n_channels; i++) {
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    BSON_APPEND_UTF8(&arr, k, cfg->channels[i]);
  }
  bson_append_array_end(doc, &arr);
  BSON_APPEND_ARRAY_BEGIN(doc, "functions", &arr);
  for (size_t i = 0; i < cfg->n_functions; i++) {
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, k, &sub);
    BSON_APPEND_UTF8(&sub, "name", cfg->functions[i].name);
    BSON_APPEND_UTF8(&sub, "version", cfg->functions[i].version);
    bson_append_document_end(&arr, &sub);
  }
  bson_append_array_end(doc, &arr);
  BSON_APPEND_ARRAY_BEGIN(doc, "tags", &arr);
  for (size_t i = 0; i < cfg->n_tags; i++) {
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    BSON_APPEND_UTF8(&arr, k, cfg->tags[i]);
  }
  bson_append_array_end(doc, &arr);
  BSON_APPEND_INT32(doc, "concurrency", cfg->concurrency);
  BSON_APPEND_INT32(doc, "running", in->running);
  BSON_APPEND_DATE_TIME(doc, "started_at", in->started_at_ms);
  BSON_APPEND_DATE_TIME(doc, "last_seen", in->now_ms);
  BSON_APPEND_INT64(doc, "heartbeat_interval_ms", cfg->heartbeat_interval_ms);
  mtq_hostinfo_append(host, doc);
}

static void heartbeat_work(uv_work_t *req) {
  heartbeat_op_t *op = req->data;
  mtq_hostinfo_t *host = bson_malloc(sizeof *host);
  mtq_hostinfo_read(op->w->probe, (int64_t)(uv_hrtime() / 1000000), host);
  /* Read the clock after the host figures, which may take a moment. */
  op->in.now_ms = mtq_now_ms();
  bson_t doc = BSON_INITIALIZER;
  mtq__whoami_build(&op->in, host, &doc);
  op->ok = mtq_store_heartbeat(op->w->store, &doc, &op->error);
  bson_destroy(&doc);
  bson_free(host);
}

static void heartbeat_done(uv_work_t *req, int status) {
  heartbeat_op_t *op = req->data;
  mtq_worker_t *w = op->w;
  w->heartbeat_in_flight = false;
  bool final = strcmp(op->in.state, "stopped") == 0;
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
  bson_free(op);
  mtq__worker_advance(w);
}

static void send_heartbeat(mtq_worker_t *w, const char *state) {
  heartbeat_op_t *op = bson_malloc0(sizeof *op);
  op->req.data = op;
  op->w = w;
  op->in.cfg = w->cfg;
  op->in.host = w->host;
  op->in.pid = w->pid;
  op->in.state = state;
  op->in.running = (int32_t)w->n_running;
  op->in.started_at_ms = w->started_at_ms;
  w->heartbeat_in_flight = true;
  uv_queue_work(&w->loop, &op->req, heartbeat_work, heartbeat_done);
}

static void on_heartbeat_timer(uv_timer_t *t) {
  mtq_worker_t *w = t->data;
  if (w->heartbeat_in_flight) {
    mtq_debug("previous heartbeat still in flight; skipping this one");
    return;
  }
  send_heartbeat(w, "running");
}

void mtq__heartbeat_start(mtq_worker_t *w) {
  uint64_t every = (uint64_t)w->cfg->heartbeat_interval_ms;
  uv_timer_start(&w->heartbeat_timer, on_heartbeat_timer, 0, every);
}

void mtq__heartbeat_stop(mtq_worker_t *w) { uv_timer_stop(&w->heartbeat_timer); }

void mtq__heartbeat_final(mtq_worker_t *w) {
  w->final_sent = true;
  send_heartbeat(w, "stopped");
}
