/* worker_private.h - what worker.c, job.c and heartbeat.c share; not an API.
 *
 * Threading rule: every field of mtq_worker_t belongs to the loop thread,
 * except those marked "immutable", which thread-pool work may read. */
#ifndef MTQ_WORKER_PRIVATE_H
#define MTQ_WORKER_PRIVATE_H

#include <uv.h>

#include "hostinfo.h"
#include "mtq_sign.h"
#include "mtq.h"
#include "runner.h"
#include "worker.h"

/* Backoff for retrying a database operation that failed transiently. */
#define MTQ_WORKER_BACKOFF_MIN_MS 500
#define MTQ_WORKER_BACKOFF_MAX_MS 10000
/* Threads beyond one per task slot: poll, heartbeat and spare. */
#define MTQ_WORKER_EXTRA_THREADS 4
/* A poll reads a few candidates per free slot, since other workers may win
 * some of them, but never more than this. */
#define MTQ_WORKER_POLL_PER_SLOT 4
#define MTQ_WORKER_POLL_MAX 64

typedef enum {
  MTQ_WORKER_STARTING, /* checking that the channels exist */
  MTQ_WORKER_RUNNING,  /* polling, claiming, running */
  MTQ_WORKER_DRAINING, /* stop asked: no new work, running tasks may finish */
  MTQ_WORKER_KILLING,  /* grace period over: tasks aborted and requeued */
  MTQ_WORKER_STOPPING, /* last heartbeat ("stopped"), then close */
  MTQ_WORKER_CLOSED,
} mtq_worker_phase_t;

typedef struct mtq__job mtq__job_t;

struct mtq_worker {
  uv_loop_t loop;
  const mtq_worker_config_t *cfg;      /* immutable, borrowed */
  mtq_store_t *store;           /* immutable; thread-safe */
  mtq_keyring_t *ring;          /* immutable: keys that verify tasks; NULL = none */
  mtq_hostinfo_probe_t *probe;  /* used only by the one heartbeat in flight */
  char **task_env;              /* immutable: the environment tasks inherit */
  char host[256];               /* immutable */
  int32_t pid;                  /* immutable */
  int64_t started_at_ms;        /* immutable */

  mtq_worker_phase_t phase;
  int exit_code;
  bool registered; /* reached RUNNING: a whoami document exists */
  bool abandon;    /* forced stop: outcomes not yet recorded are dropped */

  uv_signal_t sigterm, sigint;
  uv_timer_t start_timer, poll_timer, heartbeat_timer, grace_timer, lease_timer;
  int64_t start_backoff_ms;
  int64_t poll_backoff_ms; /* 0 while polls succeed */
  size_t heartbeat_failures;

  /* Thread-pool work in flight; the worker closes only when all are back. */
  bool check_in_flight, poll_in_flight, heartbeat_in_flight, renew_in_flight, final_sent;

  size_t next_channel; /* where the next poll starts, for fairness */
  mtq_poll_memo_t *memos; /* one per channel; touched only by the poll in flight */
  mtq_func_ref_t *served; /* immutable: the functions of cfg, for polls */
  /* "to.<id>": copies of redundant tasks that mtqd addressed to this worker
   * (polled first: they are often waited on); "" when the id is too long. */
  char direct[MTQ_NAME_MAX + 1];
  mtq_poll_memo_t direct_memo;
  mtq__job_t *jobs;    /* every claimed task not yet recorded */
  size_t n_jobs;       /* slots in use */
  size_t n_running;    /* child processes alive */
};

/* worker.c */
size_t mtq__worker_free_slots(const mtq_worker_t *w);
/* Arms the poll timer to fire within delay_ms (never later than it is
 * already due); no effect unless running with a free slot and no poll in
 * flight. */
void mtq__worker_schedule_poll(mtq_worker_t *w, uint64_t delay_ms);
/* Moves the shutdown along once what it waits for is done; call after any
 * job ends or thread-pool work comes back. */
void mtq__worker_advance(mtq_worker_t *w);
int64_t mtq__backoff_next(int64_t backoff_ms);

/* job.c: a claimed task from run to recorded outcome. */
/* Runs a claimed task; its contents are moved out of *task (left empty). */
void mtq__job_start(mtq_worker_t *w, mtq_task_t *task);
/* Requeues a task claimed too late (shutdown began) without running it. */
void mtq__job_give_back(mtq_worker_t *w, mtq_task_t *task);
/* Aborts every running task; each is requeued when its process is gone. */
void mtq__jobs_abort(mtq_worker_t *w);
/* Drops every outcome waiting for a retry (forced stop). */
void mtq__jobs_abandon(mtq_worker_t *w);
/* The lease timer's tick: renews the lease of every claimed task (in the
 * thread pool), stops a task whose lease is gone (cancelled, or taken back
 * by mtqd), and stops a task whose lease could not be renewed for half of
 * lease_ms, before mtqd may give it to another worker. */
void mtq__jobs_renew(mtq_worker_t *w);

/* heartbeat.c */
void mtq__heartbeat_start(mtq_worker_t *w);
void mtq__heartbeat_stop(mtq_worker_t *w);
/* Sends the last whoami document, state "stopped"; mtq__worker_advance is
 * called when it is back. */
void mtq__heartbeat_final(mtq_worker_t *w);

/* The whoami document of this worker as it is now (host figures aside),
 * state as given; w is initialised by the caller. */
void mtq__whoami_fill(const mtq_worker_t *worker, mtq_worker_state_t state, mtq_whoami_t *w);

#endif
