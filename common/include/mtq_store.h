/* mtq_store.h - every MongoDB access of mtq, in one module.
 *
 * The rest of mtq speaks in tasks and workers; BSON queries live here.
 * Layout of the database (its name comes from the URI path, default "mtq"):
 *
 *   channels            one document per declared channel, _id = name
 *   q.<ch>.p<P>         live tasks (queued, running) of channel ch at priority
 *                       P (0..9): a channel is one collection per priority
 *                       level, so that a poll reads the front of a collection
 *                       instead of sorting the whole backlog (see README)
 *   q.<ch>.delayed      tasks whose not_before is in the future
 *   q.<ch>.delayed      also holds tasks in retry_wait (a failed attempt's backoff)
 *   claims              one document per ownership change, _id "<task>:<token>";
 *                       its unique _id is what makes a claim exactly-once; and
 *                       one per end of an attempt, "<task>:<token>:end": its
 *                       unique _id decides who ends it (the fencing token)
 *   leases              one document per running attempt, _id "<task>:<token>",
 *                       renewed by the holder; mtqd ends attempts whose lease
 *                       stopped being renewed
 *   events              the audit trail: one document per state transition
 *   results             the one recorded outcome of each finished task, _id = task id
 *                       (removed, with the task's claims and events, once kept
 *                       long enough: mtq_store_purge)
 *   whoami              one document per worker, _id = worker id
 *   runs                one document per ended attempt, _id "<task>:<token>": its
 *                       holder, outcome, wait and run time (capped: the last
 *                       MTQ_RUNS_MAX; mtq_store_runs, mtq_store_perf)
 *
 * Every function is thread-safe: each call takes a client from an internal
 * mongoc_client_pool_t and returns it before it returns. */
#ifndef MTQ_STORE_H
#define MTQ_STORE_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#include "mtq_sign.h"
#include "mtq_perf.h"
#include "mtq_task.h"
#include "mtq_whoami.h"

typedef struct mtq_store mtq_store_t;

/* Connects lazily (the first operation reaches the server).  appname is
 * shown in server logs.  Caller destroys.  Fails only on a malformed URI. */
mtq_store_t *mtq_store_new(const char *uri, const char *appname, bson_error_t *error);
void mtq_store_destroy(mtq_store_t *store);

/* Round trip to the server; fails with MTQ_ERR_UNAVAILABLE when unreachable. */
bool mtq_store_ping(mtq_store_t *store, bson_error_t *error);

/* Writes "host:port[,host:port...]/db" of a URI into buf, for messages and
 * logs: never the user name, password or options.  "(malformed URI)" when
 * it does not parse. */
void mtq_uri_describe(const char *uri, char *buf, size_t size);

/* Name of the database in use (borrowed). */
const char *mtq_store_db_name(const mtq_store_t *store);

/* --- channels ------------------------------------------------------------ */

/* Declares a channel: its document, its collections and their indexes.
 * Idempotent.  max_backlog: the most waiting tasks producers may add (0 =
 * no limit), kept in the channel document. */
bool mtq_store_declare_channel(mtq_store_t *store, const char *channel, int64_t max_backlog,
                               bson_error_t *error);
/* Fails with MTQ_ERR_UNKNOWN_CHANNEL when the channel was never declared. */
bool mtq_store_check_channel(mtq_store_t *store, const char *channel, bson_error_t *error);
/* Lists declared channels into a NULL-terminated array the caller frees
 * with bson_strfreev. */
bool mtq_store_channels(mtq_store_t *store, char ***names, bson_error_t *error);

/* --- producers ----------------------------------------------------------- */

/* Inserts a built task (mtq_task_build) into its channel.
 *
 * With a dedupe key, the first enqueue of a key in a channel inserts
 * dedupe/"<channel>:<key>" (its unique _id decides between concurrent
 * producers); a later one finds it, sets task->id to the first task's id
 * and *existing (may be NULL) to true, and inserts nothing.
 *
 * When the channel has a maximum backlog (mtqd's max_backlog) and holds
 * that many waiting tasks, fails with MTQ_ERR_FULL. */
bool mtq_store_enqueue(mtq_store_t *store, mtq_task_t *task, bool *existing,
                       bson_error_t *error);

/* --- workers ------------------------------------------------------------- */

/* What one poller remembers of a channel between polls: which lanes were
 * empty, and until when it may skip them.  A worker refilling one slot at a
 * time during a burst would otherwise ask all ten lanes every time; with the
 * memo it asks an empty lane again after recheck_ms (its poll interval), so
 * a task that lands in a lane found empty waits at most that long.  Zero it
 * before the first poll; use it from one thread at a time. */
typedef struct {
  int64_t recheck_ms;
  int64_t empty_until_ms[MTQ_PRIORITY_LEVELS];
} mtq_poll_memo_t;

/* Reads up to limit runnable tasks of a channel, highest priority first and
 * oldest first within a priority: status queued, is_enable true, and (when
 * n_funcs > 0) one of the given functions at its version, so that tasks a
 * worker does not serve cannot starve the ones it does.  memo may be NULL
 * (ask every lane).  Appends
 * them to out.  A document with wrong field types is not returned: it is
 * moved to results as failed, keeping the original, and logged. */
bool mtq_store_poll(mtq_store_t *store, const char *channel, const mtq_func_ref_t *funcs,
                    size_t n_funcs, size_t limit, mtq_poll_memo_t *memo, mtq_task_list_t *out,
                    bson_error_t *error);

/* Claims a polled task for worker_id, with a lease of lease_ms that the
 * worker must renew (mtq_store_renew) while the task runs.  Exactly one
 * caller wins for a given task and token, on MongoDB and on FerretDB alike;
 * a loser gets false with MTQ_ERR_CONFLICT.  On success the task is
 * running, attempt is counted, and task reflects the stored document. */
bool mtq_store_claim(mtq_store_t *store, mtq_task_t *task, const char *worker_id,
                     int64_t lease_ms, bson_error_t *error);

/* Renews the lease of a claimed task.  MTQ_ERR_CONFLICT when the lease is
 * gone: the attempt was ended by someone else (mtqd found the lease expired,
 * or an operator cancelled the task), and the holder must stop the task. */
bool mtq_store_renew(mtq_store_t *store, const mtq_task_t *task, bson_error_t *error);

/* Records the end of a run.  ok: result (borrowed, may be NULL = {}) is the
 * outcome (done).  !ok: error_text is kept with the attempt's errors; with
 * attempts left the task waits out its backoff (retry_wait), otherwise it is
 * dead.  MTQ_ERR_CONFLICT when this attempt was already ended by someone
 * else: the outcome is refused (fencing).  Safe to call again after a
 * transient error: an outcome is recorded once. */
bool mtq_store_finish(mtq_store_t *store, mtq_task_t *task, bool ok, const bson_t *result,
                      const char *error_text, bson_error_t *error);

/* Ends a claimed task as failed for good, without running it again: it can
 * never succeed as it is (its signature is missing or wrong, say). */
bool mtq_store_reject(mtq_store_t *store, mtq_task_t *task, const char *reason,
                      bson_error_t *error);

/* Gives a running task back to the queue with a new token.  count_attempt
 * false (a graceful shutdown) does not use up one of its attempts; when a
 * counted attempt was its last, the task is dead with reason as its error. */
bool mtq_store_requeue(mtq_store_t *store, mtq_task_t *task, bool count_attempt,
                       const char *reason, bson_error_t *error);

/* Upserts the worker's whoami document (borrowed). */
bool mtq_store_heartbeat(mtq_store_t *store, const mtq_whoami_t *whoami, bson_error_t *error);
/* Sets whoami.state of a worker. */
bool mtq_store_mark_worker(mtq_store_t *store, const char *worker_id, mtq_worker_state_t state,
                           bson_error_t *error);
/* Appends every whoami document with a valid worker id to out (initialised
 * by the caller). */
bool mtq_store_workers(mtq_store_t *store, mtq_whoami_list_t *out, bson_error_t *error);

/* Sets *served when some worker (live or not) has announced in whoami that
 * it serves func (any version when version is NULL) on channel. */
bool mtq_store_function_served(mtq_store_t *store, const char *channel, const char *func,
                               const char *version, bool *served, bson_error_t *error);

/* --- coordinator --------------------------------------------------------- */

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
} mtq_lease_t;

/* Reads every lease into *out (caller bson_free()s it). */
bool mtq_store_leases(mtq_store_t *store, mtq_lease_t **out, size_t *n, bson_error_t *error);
/* Ends the attempt of a lease that was not renewed in time: the task goes
 * back to the queue (or is dead when that was its last attempt), with reason
 * kept.  A leftover lease of an attempt that already ended is deleted.
 * *ended_as is the task's new state, MTQ_STATE_INVALID when nothing changed. */
bool mtq_store_expire(mtq_store_t *store, const mtq_lease_t *lease, const char *reason,
                      mtq_state_t *ended_as, bson_error_t *error);

/* Tasks of a channel that worker_id holds (status running). */
bool mtq_store_tasks_held_by(mtq_store_t *store, const char *channel, const char *worker_id,
                             mtq_task_list_t *out, bson_error_t *error);
/* Moves delayed tasks whose not_before <= now_ms into their priority lane.
 * *next_due_ms is the earliest remaining not_before (0 = none). */
bool mtq_store_release_due(mtq_store_t *store, const char *channel, int64_t now_ms,
                           int64_t *next_due_ms, size_t *released, bson_error_t *error);
/* Finds queued tasks whose priority was edited in the database so that it no
 * longer matches their lane, and moves them; quarantines malformed ones. */
bool mtq_store_reconcile(mtq_store_t *store, const char *channel, size_t *moved,
                         bson_error_t *error);

/* --- redundant dispatch (mtqd: server/dispatch.c) --------------------------- */

/* Every live parent (a task with redundancy: mtq_task_is_parent) from the
 * dispatch collection; a malformed one is quarantined. */
bool mtq_store_parents(mtq_store_t *store, mtq_task_list_t *out, bson_error_t *error);
/* "to.<worker_id>": the channel of the copies addressed to one worker. */
void mtq_direct_channel(const char *worker_id, char *out, size_t size);
/* Sends a copy of parent for slot to worker_id: a new queued task in the
 * worker's own channel (which only that worker claims), carrying parent,
 * slot and origin; *copy_id is its id. */
bool mtq_store_send_copy(mtq_store_t *store, const mtq_task_t *parent, const char *worker_id,
                         int32_t slot, bson_oid_t *copy_id, bson_error_t *error);
/* Marks a queued parent running (its copies are being sent). */
bool mtq_store_start_parent(mtq_store_t *store, mtq_task_t *parent, bson_error_t *error);
/* Writes a parent's status and copies; MTQ_ERR_NOT_FOUND when it is no
 * longer live under its token (cancelled or retried meanwhile). */
bool mtq_store_save_parent(mtq_store_t *store, const mtq_task_t *parent, bson_error_t *error);
/* Ends a running parent as done (result), failed or conflict (why), with
 * the end lock of its attempt: MTQ_ERR_CONFLICT when an operator cancelled
 * it first. */
bool mtq_store_end_parent(mtq_store_t *store, mtq_task_t *parent, mtq_state_t to,
                          const bson_t *result, const char *why, bson_error_t *error);

/* --- operators ----------------------------------------------------------- */

/* Finds a task by id wherever it is (lanes, delayed, results). */
bool mtq_store_find(mtq_store_t *store, const bson_oid_t *id, mtq_task_t *out,
                    bson_error_t *error);
/* Reads the recorded outcome of a task (one lookup by _id in results);
 * *found false while it has none. */
bool mtq_store_find_outcome(mtq_store_t *store, const bson_oid_t *id, mtq_task_t *out,
                            bool *found, bson_error_t *error);
/* Lists tasks; channel NULL = all channels, status MTQ_STATE_INVALID = all. */
bool mtq_store_list(mtq_store_t *store, const char *channel, mtq_state_t status, size_t limit,
                    mtq_task_list_t *out, bson_error_t *error);
/* Changes a waiting task's priority (moving it to its new lane at once). */
bool mtq_store_set_priority(mtq_store_t *store, const bson_oid_t *id, int32_t priority,
                            bson_error_t *error);
/* Enables or disables a waiting task. */
bool mtq_store_set_enable(mtq_store_t *store, const bson_oid_t *id, bool enable,
                          bson_error_t *error);
/* Cancels a waiting or running task (a running one's worker stops its
 * process when its next lease renewal fails); an ended task gives
 * MTQ_ERR_STATE. */
bool mtq_store_cancel(mtq_store_t *store, const bson_oid_t *id, bson_error_t *error);
/* Holds a waiting task (suspended) until mtq_store_resume. */
bool mtq_store_suspend(mtq_store_t *store, const bson_oid_t *id, bson_error_t *error);
bool mtq_store_resume(mtq_store_t *store, const bson_oid_t *id, bson_error_t *error);
/* Gives a dead or failed task a new life: queued, attempts counted from 0,
 * its earlier errors kept. */
bool mtq_store_retry(mtq_store_t *store, const bson_oid_t *id, bson_error_t *error);
/* Reads a task's transitions, oldest first, into out as { "events": [...] };
 * out is initialised by the call. */
bool mtq_store_history(mtq_store_t *store, const bson_oid_t *id, bson_t *out,
                       bson_error_t *error);
/* Counts tasks per channel and status into out:
 * { "<channel>": { "queued": n, "running": n, ... }, ... }; out initialised by the call. */
bool mtq_store_stats(mtq_store_t *store, bson_t *out, bson_error_t *error);
/* Tasks of channel not yet ended (queued, delayed, running, retry_wait,
 * ...; a redundant task counts once): what max_backlog bounds.  Cheaper than
 * mtq_store_stats, which also counts the finished tasks: a producer pacing
 * itself should ask this. */
bool mtq_store_backlog(mtq_store_t *store, const char *channel, int64_t *n, bson_error_t *error);

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

/* --- run records ----------------------------------------------------------- */

/* Run records kept: `runs` is a capped collection of about this many (on
 * FerretDB the oldest go in a background pass every minute, so it may hold
 * a minute's worth more).  Reading it is a full scan on FerretDB's SQLite
 * backend (about 1 s for 10,000 records on a small machine). */
#define MTQ_RUNS_MAX 10000

/* Reads the run records of func (NULL = every function), in no particular
 * order, into *out (caller bson_free()s it; NULL when *n is 0).  Records
 * without worker or function are skipped. */
bool mtq_store_runs(mtq_store_t *store, const char *func, mtq_run_t **out, size_t *n,
                    bson_error_t *error);

/* Reads the run records of func (NULL = every function) and computes one
 * entry per (worker, func).  *out is bson_malloc'd (caller bson_free), *n its length. */
bool mtq_store_perf(mtq_store_t *store, const char *func, mtq_perf_t **out, size_t *n,
                    bson_error_t *error);

#endif
