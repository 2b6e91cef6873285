/* coordinator_private.h - what the files of mtqd's duties share. */
#ifndef MTQD_COORDINATOR_PRIVATE_H
#define MTQD_COORDINATOR_PRIVATE_H

#include <stdatomic.h>

#include "coordinator.h"
#include "duty.h"
#include "mtq_perf.h"
#include "publish.h"

/* Who mtqd is in the audit trail and the claim records. */
#define MTQD_ACTOR "mtqd"

/* What the lost-worker sweep remembers of a worker between sweeps.  A
 * worker is judged by how long its last_seen has not changed on mtqd's own
 * clock, not by comparing the worker's clock with ours: a worker host whose
 * clock is behind would otherwise look lost while it heartbeats. */
typedef struct {
  char id[MTQ_NAME_MAX + 1];
  int64_t last_seen_ms;       /* as the worker wrote it, on its clock */
  int64_t unchanged_since_ms; /* mtqd's monotonic clock: when last_seen took this value */
} mtq__watched_worker_t;

/* What the lease sweep remembers of a lease between sweeps (see leases.c). */
typedef struct {
  char key[64];
  int64_t renewals;
  int64_t unchanged_since_ms; /* mtqd's monotonic clock */
} mtq__watched_lease_t;

struct mtq_coordinator {
  uv_loop_t *loop;         /* borrowed */
  mtq_store_t *store;      /* borrowed; thread-safe */
  const mtq_coord_config_t *cfg; /* borrowed; read-only */
  atomic_bool stopping;    /* read by work in the pool between store calls */

  const mtq_keyring_t *ring; /* borrowed; signs scheduled tasks; NULL = unsigned */

  mtq_duty_t declare, lost, leases_duty, release, reconcile, retention, dispatch, schedules,
      flows, leadership;
  mtq_leader_t leader; /* the leadership duty's work only */
  /* What the other duties' work reads of it (they run in other threads). */
  atomic_int_fast64_t lead_epoch, lead_renewed_ms;

  /* Each group below belongs to one duty's work; since a duty is never in
   * flight twice, and its work and its next() are ordered by libuv, they need
   * no lock. */
  size_t n_declared;
  mtq__watched_worker_t *watched; /* owned */
  size_t n_watched;
  mtq__watched_lease_t *leases; /* owned */
  size_t n_leases;
  int64_t next_due_ms; /* earliest delayed task over the channels, 0 = none */
  bool reconcile_stretched;
  mtq_perf_t *perf; /* owned; the figures from the run records last read */
  size_t n_perf;
  int64_t perf_loaded_ms; /* mtqd's monotonic clock; 0 = never */
  int64_t next_tick_ms;     /* earliest next tick over the schedules, 0 = none */
  int64_t ticks_trimmed_ms; /* when tick records were last trimmed */
  char schedule_complaint[640]; /* the last schedule that could not fire, and why */
  int64_t flows_repaired_ms;    /* when missing shard ends were last looked up */
  int64_t flows_trimmed_ms;     /* when leftover shard ends were last removed */
  /* Its counters (metrics.c): the registry is thread-safe, any duty's work
   * counts into it; metrics_pruned_ms belongs to the publisher's work. */
  mtq_publisher_t publisher;
  int64_t metrics_pruned_ms;
};

bool mtq__coordinator_stopping(const mtq_coordinator_t *co);

/* Prepends "<fmt>: " to error's message, keeping its domain and code. */
void mtq__error_prefix(bson_error_t *error, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* metrics.c: counts n for name, labelled channel and outcome when not NULL. */
void mtq__count(mtq_coordinator_t *co, const char *name, const char *channel,
                const char *outcome, double n);
/* Sets up co->publisher (started with the coordinator, closed with it). */
void mtq__metrics_init(mtq_coordinator_t *co);

/* lost.c: the lost-worker sweep (a duty's run function). */
bool mtq__lost_run(mtq_duty_t *d, bson_error_t *error);
/* leases.c: the expired-lease sweep (a duty's run function). */
bool mtq__leases_run(mtq_duty_t *d, bson_error_t *error);

/* retention.c: the retention duty.  announce logs the policy and returns
 * false when it keeps everything (the duty is then never armed). */
bool mtq__retention_announce(const mtq_coord_config_t *cfg);
bool mtq__retention_run(mtq_duty_t *d, bson_error_t *error);
int64_t mtq__retention_next(mtq_duty_t *d);

/* dispatch.c: the redundant-dispatch duty. */
bool mtq__dispatch_run(mtq_duty_t *d, bson_error_t *error);
/* schedules.c: the schedule duty. */
bool mtq__schedules_run(mtq_duty_t *d, bson_error_t *error);
int64_t mtq__schedules_next(mtq_duty_t *d);
/* leader.c: the leadership duty, and whether this mtqd leads now (for the
 * duties that only the leader runs). */
void mtq__leader_init(mtq_coordinator_t *co);
bool mtq__leader_run(mtq_duty_t *d, bson_error_t *error);
bool mtq__leading(const mtq_coordinator_t *co);
/* After the loop: hands the leadership over for another mtqd to take. */
void mtq__leader_resign(mtq_coordinator_t *co);

/* flows.c: the flow duty. */
bool mtq__flows_run(mtq_duty_t *d, bson_error_t *error);
/* perf.c: run records for placement and hedging, reread every perf_refresh_ms at most. */
bool mtq__dispatch_perf_load(mtq_coordinator_t *co, bson_error_t *error);
/* Leaves *run_ms and *rate alone when nothing is known. */
void mtq__dispatch_perf(const mtq_coordinator_t *co, const char *worker, const char *func,
                        double *run_ms, double *rate);
/* The p95 run time of func; false when too few runs are recorded. */
bool mtq__dispatch_p95(const mtq_coordinator_t *co, const char *func, double *p95_ms);

#endif
