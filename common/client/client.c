/* client.c - the producer's API: enqueue and wait (see mtq_client.h). */
#include <string.h>
#include <time.h>

#include "mtq_client.h"
#include "mtq_error.h"
#include "mtq_flow.h"
#include "mtq_sign.h"
#include "mtq_store_admin.h"

struct mtq_client {
  mtq_store_t *store;
  mtq_keyring_t *ring; /* owned; NULL = tasks go unsigned */
};

mtq_client_t *mtq_client_new(const char *uri, bson_error_t *error) {
  mtq_store_t *store = mtq_store_new(uri, "mtq-client", error);
  if (!store) {
    return NULL;
  }
  mtq_client_t *client = bson_malloc0(sizeof *client);
  client->store = store;
  return client;
}

void mtq_client_destroy(mtq_client_t *client) {
  if (client) {
    mtq_store_destroy(client->store);
    mtq_keyring_destroy(client->ring);
    bson_free(client);
  }
}

mtq_store_t *mtq_client_store(mtq_client_t *client) { return client->store; }

void mtq_client_set_keyring(mtq_client_t *client, mtq_keyring_t *ring) {
  mtq_keyring_destroy(client->ring);
  client->ring = ring;
}

bool mtq_client_enqueue(mtq_client_t *client, const mtq_enqueue_opts_t *opts, bson_oid_t *id,
                        bool *existing, bson_error_t *error) {
  mtq_task_t task;
  mtq_task_init(&task);
  bool ok = mtq_task_build(&task, opts, mtq_now_ms(), error) &&
            (mtq_store_assign(client->store, &task), true) &&
            (mtq_keyring_empty(client->ring) || mtq_task_sign(client->ring, &task, error)) &&
            mtq_store_enqueue(client->store, &task, opts->require_served, existing, error);
  if (ok) {
    bson_oid_copy(&task.id, id);
  }
  mtq_task_cleanup(&task);
  return ok;
}

size_t mtq_client_enqueue_many(mtq_client_t *client, const mtq_enqueue_opts_t *opts, size_t n,
                               mtq_enqueue_result_t *results) {
  /* The tasks that built and signed go to the store together; results of
   * the others are written here. */
  mtq_task_t *tasks = bson_malloc0(n * sizeof *tasks + 1);
  bool *served = bson_malloc0(n * sizeof *served + 1);
  size_t *from = bson_malloc0(n * sizeof *from + 1);
  mtq_enqueue_result_t *got = bson_malloc0(n * sizeof *got + 1);
  size_t m = 0, in = 0;
  int64_t now = mtq_now_ms();
  for (size_t i = 0; i < n; i++) {
    memset(&results[i], 0, sizeof results[i]);
    mtq_task_init(&tasks[m]);
    if (mtq_task_build(&tasks[m], &opts[i], now, &results[i].error) &&
        (mtq_store_assign(client->store, &tasks[m]), true) &&
        (mtq_keyring_empty(client->ring) ||
         mtq_task_sign(client->ring, &tasks[m], &results[i].error))) {
      served[m] = opts[i].require_served;
      from[m++] = i;
    } else {
      mtq_task_cleanup(&tasks[m]);
    }
  }
  if (m > 0) {
    in = mtq_store_enqueue_many(client->store, tasks, m, served, got);
  }
  for (size_t k = 0; k < m; k++) {
    results[from[k]] = got[k];
    mtq_task_cleanup(&tasks[k]);
  }
  bson_free(got);
  bson_free(from);
  bson_free(served);
  bson_free(tasks);
  return in;
}

static void sleep_ms(int64_t ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

bool mtq_client_find(mtq_client_t *client, const bson_oid_t *id, mtq_task_t *out,
                     bson_error_t *error) {
  return mtq_store_find(client->store, id, out, error);
}

bool mtq_client_wait(mtq_client_t *client, const bson_oid_t *id, int64_t timeout_ms,
                     mtq_task_t *out, bson_error_t *error) {
  /* No change streams on FerretDB: poll by _id, quickly at first for short
   * tasks, then every 500 ms.  One full search (every place a task can be)
   * says whether the task exists at all; after it, every task ends in
   * results, so one lookup there is enough. */
  int64_t deadline = timeout_ms < 0 ? INT64_MAX : mtq_now_ms() + timeout_ms;
  int64_t interval = 5;
  if (!mtq_store_find(client->store, id, out, error)) {
    return false;
  }
  for (;;) {
    if (mtq_state_is_terminal(out->status)) {
      return true;
    }
    int64_t left = deadline - mtq_now_ms();
    if (left <= 0) {
      break;
    }
    sleep_ms(interval < left ? interval : left);
    interval = interval * 2 > 500 ? 500 : interval * 2;
    bool found = false;
    bson_error_t err;
    if (!mtq_store_find_outcome(client->store, id, out, &found, &err)) {
      if (!mtq_error_is_transient(&err)) {
        if (error) {
          *error = err;
        }
        return false;
      }
      /* The database went away after the task was found: a wait rides it
       * out (until its timeout), as the daemons do. */
      interval = 2000;
    }
  }
  /* Timed out: say where the task is now (or why that cannot be said). */
  if (!mtq_store_find(client->store, id, out, error)) {
    return false;
  }
  if (mtq_state_is_terminal(out->status)) {
    return true;
  }
  char hex[25];
  bson_oid_to_string(id, hex);
  mtq_error_set(error, MTQ_ERR_TIMEOUT, "timed out waiting for task %s (it is %s)", hex,
                mtq_state_name(out->status));
  return false;
}

/* --- a task that waits for others ----------------------------------------------- */

static bool after_exist(mtq_store_t *store, const bson_oid_t *after, size_t n,
                        bson_error_t *error) {
  for (size_t i = 0; i < n; i++) {
    mtq_task_t t;
    mtq_task_init(&t);
    bool ok = mtq_store_find(store, &after[i], &t, error);
    mtq_task_cleanup(&t);
    if (!ok) {
      if (error && error->domain == MTQ_ERROR_DOMAIN && error->code == MTQ_ERR_NOT_FOUND) {
        char hex[25];
        bson_oid_to_string(&after[i], hex);
        mtq_error_set(error, MTQ_ERR_NOT_FOUND, "no task %s to wait for", hex);
      }
      return false;
    }
  }
  return true;
}

/* The flow that holds task until the tasks of after are done. */
static void after_flow(mtq_flow_t *f, const mtq_task_t *task, const bson_oid_t *after,
                       size_t n, int64_t now) {
  bson_oid_copy(&task->flow, &f->id);
  bson_strncpy(f->name, "after", sizeof f->name);
  f->created_at = now;
  mtq_step_t *before = mtq_flow_add_step(f);
  bson_strncpy(before->name, "before", sizeof before->name);
  before->external = true;
  before->shards = (int32_t)n;
  before->tasks = bson_malloc0(n * sizeof *before->tasks);
  memcpy(before->tasks, after, n * sizeof *after);
  before->state = MTQ_STEP_RUNNING;
  before->started_at = now;
  mtq_step_t *held = mtq_flow_add_step(f);
  bson_strncpy(held->name, task->step, sizeof held->name);
  held->held = true;
  held->after[held->n_after++] = 0;
  held->tasks = bson_malloc0(sizeof *held->tasks);
  held->tasks[0] = task->id;
}

bool mtq_client_enqueue_after(mtq_client_t *client, const mtq_enqueue_opts_t *opts,
                              const bson_oid_t *after, size_t n, bson_oid_t *id, bson_oid_t *flow,
                              bson_error_t *error) {
  if (n == 0 || n > MTQ_AFTER_MAX) {
    mtq_error_set(error, MTQ_ERR_INVALID, "a task waits for 1 to %d tasks, not %zu",
                  MTQ_AFTER_MAX, n);
    return false;
  }
  if (opts->dedupe_key || opts->red.copies || opts->red.need_gpu || opts->red.min_mem_mb ||
      opts->red.tag[0] || opts->red.hedge_ms) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "a task that waits for others takes no dedupe key and no redundant dispatch");
    return false;
  }
  if (!after_exist(client->store, after, n, error)) {
    return false;
  }
  int64_t now = mtq_now_ms();
  mtq_task_t task;
  mtq_task_init(&task);
  mtq_flow_t f;
  mtq_flow_init(&f);
  bool ok = mtq_task_build(&task, opts, now, error);
  if (ok) {
    mtq_store_assign(client->store, &task);
    task.status = MTQ_STATE_BLOCKED;
    bson_oid_init(&task.flow, NULL);
    bson_strncpy(task.step, "task", sizeof task.step);
    task.shard = 0;
    task.shards = 1;
    ok = mtq_keyring_empty(client->ring) || mtq_task_sign(client->ring, &task, error);
  }
  /* The flow first: a task blocked without its flow would wait for ever,
   * a flow whose task never went in fails saying so. */
  if (ok) {
    after_flow(&f, &task, after, n, now);
    ok = mtq_store_flow_submit(client->store, &f, "producer", error);
  }
  if (ok && !mtq_store_enqueue(client->store, &task, opts->require_served, NULL, error)) {
    bson_error_t err;
    if (!mtq_store_flow_cancel(client->store, &f.id, "producer", &err)) {
      /* mtqd finds the task missing and fails the flow. */
    }
    ok = false;
  }
  if (ok) {
    *id = task.id;
    if (flow) {
      *flow = f.id;
    }
  }
  mtq_flow_cleanup(&f);
  mtq_task_cleanup(&task);
  return ok;
}
