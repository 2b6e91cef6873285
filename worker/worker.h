/* worker.h - the mtq-worker daemon: claims tasks from its channels and runs
 * them as child processes, at most `concurrency` at a time.
 *
 * Everything happens on one libuv loop.  libmongoc is synchronous, so every
 * database call runs in libuv's thread pool and reports back to the loop;
 * the loop itself never waits for the database.  Its recurring work (the
 * start check, polls, heartbeats, lease renewals) runs as duties
 * (runtime/duty.h). */
#ifndef MTQ_WORKER_H
#define MTQ_WORKER_H

#include <bson/bson.h>
#include <uv.h>

#include "worker_config.h"

typedef struct mtq_worker mtq_worker_t;

/* Sizes libuv's thread pool for a worker of cfg (UV_THREADPOOL_SIZE: one
 * thread per slot, so that every finishing task records its outcome at
 * once, and spares so that heartbeats never wait behind them).  Call after
 * mtq_worker_new (whose snapshot of the environment tasks inherit must not
 * carry it) and before the loop runs any work. */
void mtq_worker_size_threads(const mtq_worker_config_t *cfg);

/* Prepares a worker for cfg on loop with store (all borrowed: they must
 * outlive the worker).  Snapshots the environment that tasks will inherit.
 * No database round trip yet.  Caller destroys. */
mtq_worker_t *mtq_worker_new(uv_loop_t *loop, mtq_store_t *store,
                             const mtq_worker_config_t *cfg, bson_error_t *error);

/* Starts: checks its channels (retrying while the database is away), then
 * polls.  Returns at once: the loop does the work, until the worker has
 * stopped and closed every handle. */
void mtq_worker_start(mtq_worker_t *worker);

/* A stop signal.  The first lets running tasks finish within
 * grace_period_ms, the second aborts them (they go back to the queue), the
 * third gives up on outcomes not yet recorded. */
void mtq_worker_signal(mtq_worker_t *worker, int signum);

/* The process exit status once the loop has returned: 0 after a clean stop,
 * 1 when a channel is unknown or outcomes had to be abandoned. */
int mtq_worker_exit_code(const mtq_worker_t *worker);

/* Call after the loop has returned. */
void mtq_worker_destroy(mtq_worker_t *worker);

#endif
