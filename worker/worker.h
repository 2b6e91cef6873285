/* worker.h - the mtq-worker daemon: claims tasks from its channels and runs
 * them as child processes, at most `concurrency` at a time.
 *
 * Everything happens on one libuv loop.  libmongoc is synchronous, so every
 * database call runs in libuv's thread pool and reports back to the loop;
 * the loop itself never waits for the database. */
#ifndef MTQ_WORKER_H
#define MTQ_WORKER_H

#include <bson/bson.h>

#include "worker_config.h"

typedef struct mtq_worker mtq_worker_t;

/* Prepares a worker for cfg (borrowed: must outlive the worker; cfg->base.uri
 * must be set).  Snapshots the environment that tasks will inherit, then
 * sizes libuv's thread pool (UV_THREADPOOL_SIZE) so that heartbeats always
 * find a free thread.  No database round trip yet.  Caller destroys. */
mtq_worker_t *mtq_worker_new(const mtq_worker_config_t *cfg, bson_error_t *error);

/* Runs until SIGTERM or SIGINT has been handled (tasks finished or
 * requeued) or startup failed.  Returns the process exit status: 0 after a
 * clean stop, 1 when a channel is unknown or outcomes had to be abandoned. */
int mtq_worker_run(mtq_worker_t *worker);

/* Call after mtq_worker_run has returned (or instead of it). */
void mtq_worker_destroy(mtq_worker_t *worker);

#endif
