/* mtq_store_worker.h - the store as a worker uses it: poll its channels,
 * claim a task, renew its lease, end the attempt, heartbeat.  The claim
 * protocol behind these is explained at the top of common/store/protocol.c. */
#ifndef MTQ_STORE_WORKER_H
#define MTQ_STORE_WORKER_H

#include "mtq_function.h"
#include "mtq_store.h"

/* What one poller remembers of a channel between polls: which lanes were
 * empty, and until when it may skip them; and of each priority, the front
 * of its directory of segments (common/store/segment.c) and which of those
 * segments had nothing for it.  A worker refilling one slot at a time
 * during a burst would otherwise ask every lane and the directory every
 * time; with the memo it asks an empty lane again after recheck_ms (its
 * poll interval), so a task that lands in a lane found empty waits at most
 * that long.  Zero it before the first poll; use it from one thread at a
 * time. */
#define MTQ_POLL_MEMO_SEGMENTS 16
typedef struct {
  int64_t recheck_ms;
  /* When not 0, the poll reads only the priorities whose bit is set (bit
   * p - MTQ_PRIORITY_MIN): a wake-up that names a priority. */
  uint16_t only;
  int64_t empty_until_ms[MTQ_PRIORITY_LEVELS];       /* the inboxes */
  int64_t moved_empty_until_ms[MTQ_PRIORITY_LEVELS]; /* the side lanes */
  struct {
    int64_t until_ms; /* the page below is good until then */
    size_t n;
    char seg[MTQ_POLL_MEMO_SEGMENTS][MTQ_SEG_MAX];
    int64_t idle_until_ms[MTQ_POLL_MEMO_SEGMENTS];
  } dir[MTQ_PRIORITY_LEVELS];
  /* Beyond the front page: where in each directory the next poll reads on
   * (0: from the second page), so that segments of tasks this worker
   * cannot take (other functions, disabled, running) hide nothing behind
   * them for more than a few polls.  Kept when the rest is forgotten. */
  size_t resume[MTQ_PRIORITY_LEVELS];
  /* Set by the poll: it found nothing and stopped before the end of a
   * directory, so the next poll should come soon and read on. */
  bool partial;
} mtq_poll_memo_t;

/* Reads up to limit runnable tasks of a channel, highest priority first and
 * oldest first (by created_at) within a priority, tasks moved into the
 * priority after they were enqueued included: status queued, is_enable
 * true, and (when
 * n_funcs > 0) one of the given functions at its version, so that tasks a
 * worker does not serve cannot starve the ones it does.  memo may be NULL
 * (ask every lane).  Appends
 * them to out.  A document with wrong field types is not returned: it is
 * moved to results as failed, keeping the original, and logged; by (the
 * poller) is named as who found it. */
bool mtq_store_poll(mtq_store_t *store, const char *channel, const mtq_func_ref_t *funcs,
                    size_t n_funcs, size_t limit, mtq_poll_memo_t *memo, const char *by,
                    mtq_task_list_t *out, bson_error_t *error);

/* Claims a polled task for worker_id, with a lease of lease_ms that the
 * worker must renew (mtq_store_renew) while the task runs.  Exactly one
 * caller wins for a given task and token, on MongoDB and on FerretDB alike;
 * a loser gets false with MTQ_ERR_CONFLICT.  On success the task is
 * running, attempt is counted, and task reflects the stored document. */
bool mtq_store_claim(mtq_store_t *store, mtq_task_t *task, const char *worker_id,
                     int64_t lease_ms, bson_error_t *error);

/* Claims up to n polled tasks at once, in a constant number of round trips
 * (the lease and claim records of all of them in one unordered insert
 * each: every record wins or loses on its own unique key).  claimed[i] says
 * whether tasks[i] is now this worker's (as after mtq_store_claim); errors
 * (may be NULL) says why not.  Returns how many were claimed. */
size_t mtq_store_claim_many(mtq_store_t *store, mtq_task_t *tasks, size_t n,
                            const char *worker_id, int64_t lease_ms, bool *claimed,
                            bson_error_t *errors);

/* Renews the lease of a claimed task.  MTQ_ERR_CONFLICT when the lease is
 * gone: the attempt was ended by someone else (mtqd found the lease expired,
 * or an operator cancelled the task), and the holder must stop the task.
 * *suspended (may be NULL) says whether an operator has suspended the task
 * (mtq_store_suspend): the holder stops its process until it is resumed. */
bool mtq_store_renew(mtq_store_t *store, const mtq_task_t *task, bool *suspended,
                     bson_error_t *error);

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

/* The ends of several attempts, recorded together (mtq_store_end_many). */
typedef enum {
  MTQ_END_FINISH,  /* mtq_store_finish: ok, result, text = error_text */
  MTQ_END_REJECT,  /* mtq_store_reject: text = reason */
  MTQ_END_REQUEUE, /* mtq_store_requeue: count_attempt, text = reason */
} mtq_end_kind_t;

typedef struct {
  mtq_task_t *task; /* the claimed task (updated as the single calls update it) */
  mtq_end_kind_t kind;
  bool ok;               /* FINISH: the run succeeded */
  const bson_t *result;  /* FINISH with ok: borrowed, may be NULL = {} */
  const char *text;      /* the error text or reason; may be NULL */
  bool count_attempt;    /* REQUEUE */
  bool suspended;        /* REQUEUE: it was suspended by an operator while it ran;
                          * it waits suspended, not queued */
  bool recorded;         /* out: the end is recorded */
  bson_error_t error;    /* out: why not (MTQ_ERR_CONFLICT: fenced off) */
} mtq_end_t;

/* Records n ends as the single calls would, each with the same guarantees
 * (fencing, one outcome, the audit trail), batching the writes of all of
 * them.  Returns how many were recorded; each end says for itself. */
size_t mtq_store_end_many(mtq_store_t *store, mtq_end_t *ends, size_t n);

/* The seq of each of n channels (names borrowed) into seqs[i], in one
 * read of the channels collection: a number that every write making work
 * runnable in the channel bumps (0 for a channel never bumped, or not
 * declared).  An idle worker reads it every poll interval instead of
 * polling its lanes, and polls them when a seq moved (README, "Wake-ups"). */
bool mtq_store_channel_seqs(mtq_store_t *store, const char *const *names, size_t n,
                            int64_t *seqs, bson_error_t *error);

/* The tasks of a channel that none of the given function versions would
 * take: mtq_store_poll with the opposite filter (the same lanes, pages and
 * bounds, no memo), so that a worker with a function directory learns
 * which versions tasks want that nobody serves (worker/sync.c).  It is not
 * claimed; it costs what one poll finding nothing costs, and the worker
 * asks it once per sync_interval_s. */
bool mtq_store_poll_unserved(mtq_store_t *store, const char *channel,
                             const mtq_func_ref_t *served, size_t n_served, size_t limit,
                             const char *by, mtq_task_list_t *out, bson_error_t *error);

/* The function registry's documents of one worker (worker NULL: of every
 * worker), appended to out.  Documents that do not read are skipped. */
bool mtq_store_function_records(mtq_store_t *store, const char *worker,
                                mtq_function_record_list_t *out, bson_error_t *error);
/* Writes one document of the registry (borrowed), replacing the one of its
 * _id.  Only its worker writes it, so the read-then-write of FerretDB's
 * update loses nothing. */
bool mtq_store_function_record_put(mtq_store_t *store, const mtq_function_record_t *r,
                                   bson_error_t *error);
/* Removes the document NAME@VERSION/WORKER (no error when it is gone). */
bool mtq_store_function_record_delete(mtq_store_t *store, const char *name, const char *version,
                                      const char *worker, bson_error_t *error);

/* Upserts the worker's whoami document (borrowed). */
bool mtq_store_heartbeat(mtq_store_t *store, const mtq_whoami_t *whoami, bson_error_t *error);

#endif
