/* worker_private.h - what the worker's files share; not an API.
 *
 *   worker.c     start, polls and claims, the shutdown sequence
 *   job.c        a claimed task from its run to its recorded outcome
 *   lease.c      renewing the leases of claimed tasks
 *   heartbeat.c  the whoami document
 *   wake.c       the wake-up socket (UDP datagrams from producers and mtqd)
 *   metrics.c    what it counts of its tasks (published by runtime/publish.c)
 *   registry.c   what it serves kept current: rescans, syncs (sync.c), the
 *                function registry (functions_dir.h)
 *
 * Threading rule: every field of mtq_worker_t belongs to the loop thread,
 * except those marked "immutable", which thread-pool work may read, and the
 * state of each duty, which only that duty's work touches while it is in
 * flight. */
#ifndef MTQ_WORKER_PRIVATE_H
#define MTQ_WORKER_PRIVATE_H

#include <uv.h>

#include "duty.h"
#include "functions_dir.h"
#include "hostinfo.h"
#include "mtq.h"
#include "publish.h"
#include "runner.h"
#include "worker.h"

/* Threads beyond one per task slot: poll, heartbeat, renewal, metrics, the
 * function registry and spare. */
#define MTQ_WORKER_EXTRA_THREADS 6
/* A poll reads a few candidates per free slot, since other workers may win
 * some of them, but never more than this. */
#define MTQ_WORKER_POLL_PER_SLOT 4
#define MTQ_WORKER_POLL_MAX 64
/* After a busy poll that found nothing while datagrams came, the wait
 * before the next (worker.c, poll_next). */
#define MTQ_WORKER_WAKE_SETTLE_MS 20
/* Every priority of a channel, as a mask of bit (P - MTQ_PRIORITY_MIN). */
#define MTQ__ALL_LANES ((uint16_t)((1u << MTQ_PRIORITY_LEVELS) - 1))

typedef enum {
  MTQ_WORKER_STARTING, /* checking that the channels exist */
  MTQ_WORKER_RUNNING,  /* polling, claiming, running */
  MTQ_WORKER_DRAINING, /* stop asked: no new work, running tasks may finish */
  MTQ_WORKER_KILLING,  /* grace period over: tasks aborted and requeued */
  MTQ_WORKER_STOPPING, /* last heartbeat ("stopped"), then close */
  MTQ_WORKER_CLOSED,
} mtq_worker_phase_t;

typedef struct mtq__job mtq__job_t;
typedef struct mtq__registry mtq__registry_t;

/* One lease to renew, as the renewal duty's work sees it. */
typedef struct {
  bson_oid_t id;
  int64_t token;
  bool ok;
  bool gone;
  bool suspended; /* an operator suspended the task (mtq suspend) */
} mtq__renewal_t;

struct mtq_worker {
  uv_loop_t *loop;                /* borrowed */
  const mtq_worker_config_t *cfg; /* immutable, borrowed */
  mtq_store_t *store;             /* immutable, borrowed; thread-safe */
  mtq_keyring_t *ring;            /* immutable: keys that verify tasks; NULL = none */
  mtq_hostinfo_probe_t *probe;    /* used only by the heartbeat's work */
  char **task_env;                /* immutable: the environment tasks inherit */
  char host[256];                 /* immutable */
  int32_t pid;                    /* immutable */
  int64_t started_at_ms;          /* immutable */
  /* What it serves now (loop): replaced by the registry's rescans, and
   * fns_gen counts the replacements.  A poll works on poll_fns, the set it
   * began with (a reference), and poll_gen is the generation its memos
   * were made for. */
  mtq_fnset_t *fns;
  uint64_t fns_gen;
  mtq_fnset_t *poll_fns;
  uint64_t poll_gen;
  mtq__registry_t *registry;
  /* "to.<id>": copies of redundant tasks that mtqd addressed to this worker
   * (polled first: they are often waited on); "" when the id is too long. */
  char direct[MTQ_NAME_MAX + 1];  /* immutable */

  mtq_worker_phase_t phase;
  int exit_code;
  bool registered; /* reached RUNNING: a whoami document exists */
  bool abandon;    /* forced stop: outcomes not yet recorded are dropped */
  uv_timer_t grace_timer;

  mtq_duty_t start_duty, poll_duty, heartbeat_duty, renew_duty;
  mtq_publisher_t publisher; /* its metrics (metrics.c); the registry is thread-safe */

  /* The start check's work. */
  const char *failed_channel; /* borrowed from the config */

  /* The poll's work (worker.c). */
  size_t next_channel;    /* where the next poll starts, for fairness */
  size_t poll_start;      /* first channel of the poll in flight */
  size_t poll_want;       /* free slots when it began */
  unsigned poll_seed;     /* rand_r state for spreading claims */
  size_t spread;          /* candidates per free slot claims spread over (claim_some) */
  mtq_task_list_t claimed;
  mtq_poll_memo_t *memos; /* one per channel */
  mtq_poll_memo_t direct_memo;

  /* The idle watch (worker.c): while the last poll found nothing, a poll
   * reads the seq of every watched channel (one small query) and reads
   * the lanes only when a seq moved, a datagram named the channel, or
   * idle_poll_ms passed since the lanes were last read. */
  const char **watch; /* immutable: cfg's channels, then direct (when it has one) */
  size_t n_watch;
  int64_t *seqs;      /* the poll's work: as last read */
  int64_t *seqs_now;  /* the poll's work: scratch */
  bool seqs_known;    /* the poll's work */
  int64_t seqs_at;    /* the poll's work: mtq_now_ms just before they were read */
  uint16_t *woken;    /* loop: priorities (bit P) datagrams named since the last poll began */
  uint16_t *need;     /* the poll's: priorities an idle poll reads, per channel */
  bool wake_pending;  /* loop: a datagram came while a poll was in flight */
  bool idle;          /* loop: the last poll of the lanes claimed nothing */
  uint64_t lanes_read_at; /* loop: uv_now of the last poll that read the lanes */
  bool poll_idle;     /* the poll in flight began idle */
  bool poll_watch;    /* the poll in flight reads the seqs first */
  bool poll_lanes;    /* the poll in flight reads lanes (set by the work too) */

  /* The wake-up socket (wake.c). */
  uv_udp_t wake_udp;
  bool wake_open;     /* wake_udp initialised, not yet closed */
  uint16_t wake_port; /* bound port; 0: no socket */
  char wake_buf[64 + 2 * MTQ_NAME_MAX];

  /* The heartbeat's work (heartbeat.c). */
  mtq_whoami_t heartbeat; /* filled on the loop; host figures in the pool */
  bool final_sent;        /* the "stopped" heartbeat is out (or back) */

  /* The renewal's work (lease.c). */
  mtq__renewal_t *renewals;
  size_t n_renewals;
  int64_t renew_sent_ms;

  mtq__job_t *jobs; /* every claimed task not yet recorded */
  size_t n_jobs;    /* slots in use */
  /* Outcomes to record (job.c): queued while a batch of them is recorded
   * in the thread pool, then recorded together in the next. */
  mtq__job_t **end_queue;
  size_t n_end_queue, cap_end_queue;
  mtq__job_t **end_batch;
  size_t n_end_batch;
  bool ending; /* a batch is in the thread pool */
  uv_work_t end_work;
  uv_timer_t end_timer; /* the first queued outcome's wait for the others */
  bool end_due;         /* that wait is over: record what is queued */
  size_t n_running; /* child processes alive */
};

/* worker.c */
size_t mtq__worker_free_slots(const mtq_worker_t *w);
/* Makes the poll due within delay_ms (never later than it already is); no
 * effect unless running with a free slot and no poll in flight. */
void mtq__worker_schedule_poll(mtq_worker_t *w, uint64_t delay_ms);
/* Moves the shutdown along once what it waits for is done; call after any
 * job ends or thread-pool work comes back. */
void mtq__worker_advance(mtq_worker_t *w);

/* A datagram named watched channel i, and the priority of its new task
 * (-1: unknown, every lane): poll now (at most one poll in flight: one
 * more follows when it came during one). */
void mtq__worker_wake(mtq_worker_t *w, size_t i, int priority);

/* wake.c: the wake-up socket on w->loop.  Open: false when wake is off or
 * the port cannot be bound (logged: the worker goes on without).  Close:
 * safe when never opened.  Announce: appends where it listens to who. */
bool mtq__wake_open(mtq_worker_t *w);
void mtq__wake_close(mtq_worker_t *w);
void mtq__wake_announce(const mtq_worker_t *w, mtq_whoami_t *who);

/* job.c: a claimed task from run to recorded outcome. */
/* Runs a claimed task; its contents are moved out of *task (left empty). */
void mtq__job_start(mtq_worker_t *w, mtq_task_t *task);
/* Requeues a task claimed too late (shutdown began) without running it. */
void mtq__job_give_back(mtq_worker_t *w, mtq_task_t *task);
/* Aborts every running task; each is requeued, with reason, when its
 * process is gone. */
void mtq__jobs_abort(mtq_worker_t *w, const char *reason);
/* Drops every outcome waiting for a retry (forced stop). */
void mtq__jobs_abandon(mtq_worker_t *w);
/* The recording's timer, with the worker. */
void mtq__jobs_init(mtq_worker_t *w, uv_loop_t *loop);
void mtq__jobs_close(mtq_worker_t *w);

/* lease.c: the renewal duty.  Renews the lease of every claimed task,
 * stops a task whose lease is gone (cancelled, or taken back by mtqd), and
 * stops a task whose lease could not be renewed for half of lease_ms,
 * before mtqd may give it to another worker. */
void mtq__lease_duty_init(mtq_worker_t *w);
/* For lease.c: the job after job in the worker's list; the job of a lease, NULL when it ended meanwhile; and what
 * the renewal found. */
mtq__job_t *mtq__job_next(mtq__job_t *job);
mtq__job_t *mtq__job_of_lease(mtq_worker_t *w, const bson_oid_t *id, int64_t token);
/* suspended: what the lease says; the job's process is stopped or
 * continued to match. */
void mtq__job_renewed(mtq__job_t *job, int64_t sent_ms, bool suspended);
void mtq__job_lease_gone(mtq__job_t *job);
/* Stops a running job whose lease went unrenewed for longer than limit_ms
 * at now_ms; false when it is not running or was renewed in time. */
bool mtq__job_check_lease(mtq__job_t *job, int64_t now_ms, int64_t limit_ms);
/* Appends the lease of every job not fenced to w->renewals. */
void mtq__jobs_leases(mtq_worker_t *w);

/* heartbeat.c: the heartbeat duty; mtq__heartbeat_final sends the last
 * whoami document, state "stopped" (mtq__worker_advance is called when it
 * is back). */
void mtq__heartbeat_duty_init(mtq_worker_t *w);
void mtq__heartbeat_final(mtq_worker_t *w);

/* metrics.c: what happened to a task, counted; run_ms: how long its
 * process ran (-1: it did not run). */
typedef enum {
  MTQ__TASK_STARTED,   /* its process started (the wait time is observed) */
  MTQ__TASK_DONE,      /* recorded done */
  MTQ__TASK_FAILED,    /* recorded failed for good (failed, dead) */
  MTQ__TASK_RETRY,     /* recorded failed, to be retried (retry_wait) */
  MTQ__TASK_REQUEUED,  /* given back (shutdown, lease not renewed, claimed too late) */
  MTQ__TASK_LEASE_LOST, /* its lease found gone: cancelled or taken back by mtqd */
  MTQ__TASK_LEASE_UNRENEWED, /* stopped: its lease could not be renewed in time */
  MTQ__TASK_REFUSED,   /* its outcome refused: the attempt was ended elsewhere */
} mtq__task_event_t;
void mtq__metrics_task(mtq_worker_t *w, const mtq_task_t *task, mtq__task_event_t ev,
                       int64_t run_ms);
/* Sets up w->publisher (started with the heartbeat, closed with it). */
void mtq__metrics_init(mtq_worker_t *w);
/* registry.c: the functions it serves, kept current.  new loads them
 * (w->fns; problems are logged) and prepares the duty; start arms its
 * first cycle; busy: its work is in the thread pool; close stops it
 * (killing a sync that runs); destroy after the loop has returned. */
mtq__registry_t *mtq__registry_new(mtq_worker_t *w);
void mtq__registry_start(mtq__registry_t *r);
bool mtq__registry_busy(const mtq__registry_t *r);
void mtq__registry_close(mtq__registry_t *r);
void mtq__registry_destroy(mtq__registry_t *r);

/* The whoami document of this worker as it is now (host figures aside),
 * state as given; w is initialised by the caller. */
void mtq__whoami_fill(const mtq_worker_t *worker, mtq_worker_state_t state, mtq_whoami_t *w);

#endif
