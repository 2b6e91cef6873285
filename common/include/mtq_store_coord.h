/* mtq_store_coord.h - the store as the coordinator (mtqd) uses it: expire
 * the leases of attempts nobody renews, release delayed tasks, follow
 * priority edits, dispatch redundant copies, purge old outcomes, mark lost
 * workers.  `by` names the coordinator in the audit trail. */
#ifndef MTQ_STORE_COORD_H
#define MTQ_STORE_COORD_H

#include "mtq_flow.h"
#include "mtq_schedule.h"
#include "mtq_sign.h"
#include "mtq_store.h"

/* --- leases and delayed tasks ---------------------------------------------- */

/* A running attempt's lease, as the coordinator reads it. */
typedef struct {
  char key[64]; /* "<task>:<token>" */
  bson_oid_t task;
  char channel[MTQ_NAME_MAX + 1];
  char worker[MTQ_NAME_MAX + 1];
  int64_t priority;
  int64_t token;
  int64_t lease_ms; /* how long it may go unrenewed */
  int64_t renewals; /* grows with every renewal */
  bool moved;       /* the task is in its priority's side lane (see mtq_task_t) */
  char seg[MTQ_SEG_MAX]; /* else its segment (mtq_task_t) */
} mtq_lease_t;

/* Reads every lease into *out (caller bson_free()s it). */
bool mtq_store_leases(mtq_store_t *store, mtq_lease_t **out, size_t *n, bson_error_t *error);
/* Ends the attempt of a lease that was not renewed in time: the task goes
 * back to the queue (or is dead when that was its last attempt), with reason
 * kept.  A leftover lease of an attempt that already ended is deleted.
 * *ended_as is the task's new state, MTQ_STATE_INVALID when nothing changed. */
bool mtq_store_expire(mtq_store_t *store, const mtq_lease_t *lease, const char *by,
                      const char *reason, mtq_state_t *ended_as, bson_error_t *error);

/* Moves delayed tasks whose not_before <= now_ms into their priority lane.
 * *next_due_ms is the earliest remaining not_before (0 = none). */
bool mtq_store_release_due(mtq_store_t *store, const char *channel, int64_t now_ms,
                           const char *by, int64_t *next_due_ms, size_t *released,
                           bson_error_t *error);
/* How long after its window ended an empty lane segment is dropped by
 * mtq_store_reconcile (default MTQ_SEGMENT_RETIRE_S): longer than any
 * producer's clock may be behind, since a producer writes into the window
 * of its own clock (common/store/segment.c). */
#define MTQ_SEGMENT_RETIRE_S 600
void mtq_store_set_segment_retire(mtq_store_t *store, int64_t seconds);

/* Finds queued tasks whose priority was edited in the database so that it no
 * longer matches their lane, and moves them; quarantines malformed ones. */
bool mtq_store_reconcile(mtq_store_t *store, const char *channel, const char *by, size_t *moved,
                         bson_error_t *error);
/* Counts the tasks of channel not yet ended (*n) and writes the count into
 * the channel document, where producers read it for max_backlog instead of
 * counting every lane themselves (see common/store/enqueue.c). */
bool mtq_store_publish_backlog(mtq_store_t *store, const char *channel, int64_t *n,
                               bson_error_t *error);

/* --- redundant dispatch (mtqd: server/dispatch.c) --------------------------- */

/* Every live parent (a task with redundancy: mtq_task_is_parent) from the
 * dispatch collection; a malformed one is quarantined. */
bool mtq_store_parents(mtq_store_t *store, const char *by, mtq_task_list_t *out,
                       bson_error_t *error);
/* Sends the nth copy of parent's attempt (nth: the copies it has recorded
 * so far) for *slot to worker_id: a new queued task in the worker's own
 * channel (which only that worker claims), carrying parent, slot and
 * origin; *copy_id is its id.  The send is recorded first
 * (claims/<parent>:<token>:send:<nth>): when the nth send was made before,
 * by a coordinator that died before saving the parent or by a second one,
 * that send is kept (sent again only if its copy never went in) and
 * worker_id, *slot and *copy_id say which it was. */
bool mtq_store_send_copy(mtq_store_t *store, const mtq_task_t *parent, int32_t nth,
                         char worker_id[MTQ_NAME_MAX + 1], int32_t *slot, bson_oid_t *copy_id,
                         bson_error_t *error);
/* Marks a queued parent running (its copies are being sent). */
bool mtq_store_start_parent(mtq_store_t *store, mtq_task_t *parent, const char *by,
                            bson_error_t *error);
/* Writes a parent's status and copies; MTQ_ERR_NOT_FOUND when it is no
 * longer live under its token (cancelled or retried meanwhile). */
bool mtq_store_save_parent(mtq_store_t *store, const mtq_task_t *parent, bson_error_t *error);
/* Ends a running parent as done (result), failed or conflict (why), with
 * the end lock of its attempt: MTQ_ERR_CONFLICT when an operator cancelled
 * it first. */
bool mtq_store_end_parent(mtq_store_t *store, mtq_task_t *parent, mtq_state_t to,
                          const bson_t *result, const char *by, const char *why,
                          bson_error_t *error);

/* --- retention ----------------------------------------------------------- */

/* Finished tasks of these outcomes (statuses stored in results, such as
 * "done", "failed", "dead", "cancelled"; NULL-terminated, borrowed) whose
 * finished_at is before before_ms are due for removal; before_ms 0 keeps them. */
typedef struct {
  const char *const *statuses;
  int64_t before_ms;
} mtq_purge_rule_t;

/* What purges removed, added up over calls. */
typedef struct {
  size_t tasks;     /* results */
  size_t claims;
  size_t events;
  size_t kept_live; /* due, but a live document of the task still exists */
} mtq_purged_t;

/* Removes at most batch finished tasks that a rule makes due, oldest first:
 * their claims and events (by task), then their results.  A task whose
 * result is not recorded is never touched, nor one whose live document still
 * exists.  Counts are added to *purged (caller zeroes it).  *more is set when
 * the batch was full and made progress: calling again may remove more.  A
 * missing events collection is no error. */
bool mtq_store_purge(mtq_store_t *store, const mtq_purge_rule_t *rules, size_t n_rules,
                     size_t batch, mtq_purged_t *purged, bool *more, bson_error_t *error);

/* Removes at most batch ended flows, with their events: done ones that
 * finished before done_before_ms, failed and cancelled ones before
 * failed_before_ms (0: kept forever); *purged says how many.  Their tasks
 * go by the tasks' own retention. */
bool mtq_store_purge_flows(mtq_store_t *store, int64_t done_before_ms, int64_t failed_before_ms,
                           size_t batch, size_t *purged, bson_error_t *error);

/* --- schedules ------------------------------------------------------------------ */

/* What became of a tick (mtq_store_schedule_fire). */
typedef struct {
  bool fired;      /* its task is in the queue (task) */
  bool skipped;    /* not fired: the previous run was not over, or the task was
                    * refused (why) */
  bool by_other;   /* another coordinator had decided it first */
  bson_oid_t task; /* fired: the task */
  char why[640];   /* skipped: why */
} mtq_tick_t;

/* Fires the tick of schedule s at tick_ms, exactly once whoever calls it and
 * however often: the record ticks/"<name>:<tick_ms>", whose insert succeeds
 * once, decides between firing and skipping (skip_if_running and the
 * previous task not ended), and the task goes in with the dedupe key
 * "schedule:<name>:<tick_ms>", so that a caller that died between the two
 * is finished by the next.  A task the queue refuses (channel full or
 * unknown) makes the tick skipped, with why.  Signed with ring when it is
 * not NULL or empty.  Then the schedule's last tick moves on to tick_ms
 * (s too).  A transient failure leaves the tick to be tried again. */
bool mtq_store_schedule_fire(mtq_store_t *store, mtq_schedule_t *s, int64_t tick_ms,
                             const mtq_keyring_t *ring, const char *by, mtq_tick_t *out,
                             bson_error_t *error);
/* Removes the tick records of s older than MTQ_TICK_KEEP_MS before its last
 * tick, and those of schedules that no longer exist (names: the schedules
 * there are, borrowed). */
bool mtq_store_schedule_trim(mtq_store_t *store, const mtq_schedule_t *list, size_t n,
                             bson_error_t *error);

/* --- flows ------------------------------------------------------------------------ */

/* How the shards of each of flows[0..n) ended, into ends[0..n) (each freed
 * with mtq_flow_ends_cleanup): one read of the flowends records. */
bool mtq_store_flow_ends(mtq_store_t *store, const mtq_flow_t *flows, size_t n,
                         mtq_flow_ends_t *ends, bson_error_t *error);
void mtq_flow_ends_cleanup(mtq_flow_ends_t *e, const mtq_flow_t *f);
/* Looks up, for at most max shards of f's running steps without an end
 * record, their task, and writes the record of those that ended (a
 * recorder that died between the outcome and the record; an external
 * step's tasks, which are not the flow's); a task not found is recorded
 * failed.  all false: the external steps only.  *repaired says how many. */
bool mtq_store_flow_repair(mtq_store_t *store, const mtq_flow_t *f, const mtq_flow_ends_t *ends,
                           bool all, size_t max, size_t *repaired, bson_error_t *error);
/* Enqueues the tasks of step `step` of f (mtq_flow_plan put it running):
 * one per shard from its template, each with the dedupe key
 * flow:<flow>:<step>:<shard> (so that however often this runs, a shard has
 * one task), its args with shard and shards and its parents' outcomes
 * (parents: {"<step>": {shards, done, missing, results}}), signed with ring
 * when there is one; their ids into the step's tasks.  A shard the queue
 * refuses for good (its channel unknown) is recorded failed; a full channel
 * or a transient failure fails the call, to be tried again.  A held step
 * unblocks its tasks instead (by names the actor). */
bool mtq_store_flow_start(mtq_store_t *store, mtq_flow_t *f, size_t step,
                          const mtq_keyring_t *ring, const char *by, bson_error_t *error);
/* A blocked task (mtq enqueue --after) goes to the queue: the state table's
 * unblock, under a new token, as an operator's resume is. */
bool mtq_store_unblock(mtq_store_t *store, const bson_oid_t *id, const char *by,
                       bson_error_t *error);
/* Writes f as planned from status `was` and step states steps_were (one per
 * step): the document, if its status is still `was`; an event per change;
 * once it has ended, the removal of its end records. */
bool mtq_store_flow_save(mtq_store_t *store, const mtq_flow_t *f, mtq_flow_state_t was,
                         const mtq_step_state_t *steps_were, const char *by,
                         bson_error_t *error);
/* Removes end records older than keep_ms whose flow is not among the
 * unfinished ones given (a shard that ended after its flow did). */
bool mtq_store_flow_trim(mtq_store_t *store, const mtq_flow_t *unfinished, size_t n,
                         int64_t keep_ms, bson_error_t *error);

/* --- the leader (leader.c) ---------------------------------------------------------- */

/* What one coordinator knows of the leadership.  The duties that are not
 * safe to run twice at once (releasing delayed tasks and retiring segments,
 * reconcile, redundant dispatch, retention) run only in the leader; the
 * others (lost workers, leases, schedules, flows) are safe anywhere. */
typedef struct {
  char holder[MTQ_NAME_MAX + 64]; /* who we are: "mtqd@host:pid:random" */
  int64_t lost_after_ms;          /* a leader silent this long is replaced */
  int64_t epoch;                  /* the leadership we hold; 0 = none */
  int64_t renewed_ms;             /* our monotonic clock at our last renewal */
  /* The newest leadership as we last saw it, and since when (our monotonic
   * clock) its renewals have not moved. */
  int64_t seen_epoch, seen_renewals, unchanged_since_ms;
  char seen_holder[MTQ_NAME_MAX + 64];
} mtq_leader_t;

void mtq_leader_init(mtq_leader_t *l, const char *holder, int64_t lost_after_ms);
/* Whether l may act as the leader at mono_ms: it holds an epoch and renewed
 * it within lost_after_ms / 2 (so it stops well before another may take
 * over, even when it cannot reach the database to learn that). */
bool mtq_leader_active(const mtq_leader_t *l, int64_t mono_ms);
/* One round, every so often (well within lost_after_ms / 2): the leader
 * renews its epoch; another coordinator watches it and, once its renewals
 * have not moved for lost_after_ms on mono_ms's clock (at once when it
 * resigned or there is none), inserts the next epoch, which one of them
 * wins. */
bool mtq_store_lead(mtq_store_t *store, mtq_leader_t *l, int64_t mono_ms, bson_error_t *error);
/* Hands the leadership over at once (a clean stop): a next epoch held by no
 * one, which any coordinator takes at its next round. */
bool mtq_store_resign(mtq_store_t *store, mtq_leader_t *l, bson_error_t *error);
/* The newest leadership records, newest first, into out (initialised by
 * the call) as {"leaders": [{_id: epoch, holder, renewals, at, renewed_at,
 * resigned}]}. */
bool mtq_store_leaders(mtq_store_t *store, bson_t *out, bson_error_t *error);

/* --- workers ------------------------------------------------------------------ */

/* Sets whoami.state of a worker (MTQ_WORKER_STATE_LOST when it went silent). */
bool mtq_store_mark_worker(mtq_store_t *store, const char *worker_id, mtq_worker_state_t state,
                           bson_error_t *error);

/* Removes the function registry's documents of workers gone for good: no
 * whoami document, or none seen since before_ms.  A worker that comes back
 * writes its documents again within a sync_interval_s.  *removed (may be
 * NULL) says how many. */
bool mtq_store_functions_prune(mtq_store_t *store, int64_t before_ms, size_t *removed,
                               bson_error_t *error);

#endif
