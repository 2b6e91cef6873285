/* client.c - the producer's API: enqueue and wait (see mtq_client.h). */
#include <string.h>
#include <time.h>

#include "mtq_client.h"
#include "mtq_error.h"
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
