/* protocol.h - the claim protocol: who may change a live task, and how an
 * attempt ends (see the top of protocol.c for the protocol itself).
 * Private to the store. */
#ifndef MTQ_STORE_PROTOCOL_H
#define MTQ_STORE_PROTOCOL_H

#include "segment.h"

/* The key of an attempt's records: "<id>:<token>", or with a suffix
 * "<id>:<token>:<suffix>" (end locks ":end", retries ":retry", events
 * ":<state>").  Leases and run records use the attempt's key itself. */
#define MTQ__KEY_MAX 96
void mtq__key(const bson_oid_t *id, int64_t token, const char *suffix, char out[MTQ__KEY_MAX]);

/* Who took a lock that someone else wanted. */
typedef struct {
  char by[MTQ__ACTOR_MAX + 1];
  char kind[32];
} mtq__holder_t;

/* Takes a lock on attempt task->token: inserts claims/{_id: key(suffix),
 * task, channel, token, by, kind, at}.  Of all callers for one key exactly
 * one succeeds, on MongoDB and FerretDB alike (an insert of an existing _id
 * fails atomically on both).  Every lock and claim record of mtq is built
 * here.  A loser gets false with MTQ_ERR_CONFLICT and, when holder is not
 * NULL, who holds it (one more read). */
bool mtq__lock(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
               const char *suffix, const char *by, const char *kind, mtq__holder_t *holder,
               bson_error_t *error);

/* The lock record mtq__lock inserts (caller destroys): for batches that
 * insert many at once. */
bson_t *mtq__lock_doc(const mtq_task_t *task, const char *suffix, const char *by,
                      const char *kind);

/* Takes the plain claim of task->token for by/kind, or finds that by/kind
 * took it before: a change cut short (a reply lost as the database
 * restarted) is finished by the next try instead of leaving the task stuck
 * under a claimed token. */
bool mtq__claim_or_resume(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                          const char *by, const char *kind, bson_error_t *error);

/* Updates (update != NULL) or deletes the document with this _id only while
 * it still carries token: a document that moved on (released, revived)
 * under a newer token is left alone. */
bool mtq__write_at_token(mtq_store_t *store, mongoc_client_t *client, mongoc_collection_t *coll,
                         const bson_oid_t *id, int64_t token, const bson_t *update,
                         bson_error_t *error);

/* Records the one outcome of a task in results (a second record of the same
 * task is a no-op), then removes the live document from where it was. */
bool mtq__record_outcome(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                         mongoc_collection_t *from, bson_error_t *error);

/* Moves a quarantined (malformed) document to results as failed, keeping it
 * whole under "original"; by is who found it. */
void mtq__quarantine(mtq_store_t *store, mongoc_client_t *client, mongoc_collection_t *from,
                     const bson_t *doc, const char *channel, const char *by, const char *reason);

/* Ends attempt task->token (the task is running under that token): takes
 * the attempt's end lock for `by` (MTQ_ERR_CONFLICT when someone else ended
 * it: fencing), records the event, then moves the task to `to`: queued (in
 * place, next token), retry_wait (to the delayed collection, after its
 * backoff), or an outcome in results (done with result, failed, dead,
 * cancelled).  why is kept as the error and, when count_attempt, appended to
 * the task's errors.  Drops the lease and writes the run record.
 * take_over: an end lock held by someone else is taken (its owner died
 * half-way: only the coordinator, on an expired lease, may say so).  On
 * failure *task is as it was, so that the caller can call again. */
bool mtq__end_attempt(mtq_store_t *store, mongoc_client_t *client, mtq_task_t *task,
                      mtq_state_t to, const char *by, const char *why, const bson_t *result,
                      bool count_attempt, bool take_over, bson_error_t *error);

/* The steps of mtq__end_attempt, for ends recorded in batches (claim.c):
 * the end lock (mtq__end_lock, or its record from mtq__lock_doc(task,
 * "end", by, mtq_state_action(RUNNING, to)) inserted with others), then
 * mtq__end_begin (the task's errors and attempt, in memory), the event
 * (mtq__end_event's document, written before the move), mtq__end_commit
 * (the move to `to`; on failure the task is as it was), the lease's delete,
 * and mtq__end_done (the run record). */
typedef struct {
  mtq_task_t before; /* the task before the end, to undo a failed one */
  mtq_state_t from, to;
  char by[MTQ__ACTOR_MAX + 1];
  const char *why;
  int64_t now;
  char lease[MTQ__KEY_MAX];
} mtq__ending_t;
bool mtq__end_lock(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                   const char *by, mtq_state_t to, bson_error_t *error);
void mtq__end_begin(mtq__ending_t *e, mtq_task_t *task, mtq_state_t to, const char *by,
                    const char *why, bool count_attempt);
void mtq__end_event(const mtq__ending_t *e, const mtq_task_t *task, bson_t *doc);
bool mtq__end_commit(mtq_store_t *store, mongoc_client_t *client, mtq__ending_t *e,
                     mtq_task_t *task, const bson_t *result, bson_error_t *error);
void mtq__end_done(mtq_store_t *store, mongoc_client_t *client, mtq__ending_t *e,
                   const mtq_task_t *task);
/* For a batch that records outcomes together (claim.c): whether `to` is an
 * outcome (recorded in results, the live document deleted); the task as
 * its outcome record (mtq__end_commit's first step for one); and the undo
 * of mtq__end_begin when the batch could not record it. */
bool mtq__end_is_outcome(mtq_state_t to);
void mtq__end_outcome(mtq__ending_t *e, mtq_task_t *task, const bson_t *result);
void mtq__end_undo(mtq__ending_t *e, mtq_task_t *task);
/* mtq__end_done without the run record (a batch writes them together). */
void mtq__end_forget(mtq__ending_t *e, const mtq_task_t *task);

/* Moves a waiting task (read from `from`) into the lane of `priority` (or,
 * to_side, its side lane: a task moved there by a priority edit keeps its
 * age, see mtq__moved_lane) under a new token, by/kind ("release", "move"):
 * the claim makes the move exclusive against workers and other movers; the
 * insert tolerates the copy an interrupted earlier move of the same token
 * left. */
bool mtq__move_task(mtq_store_t *store, mongoc_client_t *client, mtq_task_t *task,
                    mongoc_collection_t *from, int32_t priority, bool to_side, const char *by,
                    const char *kind, bson_error_t *error);

/* Inserts task (as a whole document) into coll, the one place a task
 * document is inserted; dup_ok: a document already there under this _id is
 * an earlier, interrupted attempt's and counts as written. */
bool mtq__insert_task(mongoc_collection_t *coll, const mtq_task_t *task, bool dup_ok,
                      bson_error_t *error);

/* Inserts task into coll where it moves under a new token: a document
 * already there counts as written only when it carries that same token (an
 * interrupted earlier move wrote it).  One of an older token is the
 * previous holder's, not yet deleted (a worker moving its failed attempt to
 * retry_wait inserts the delayed copy before it deletes the running one):
 * moving now and then deleting the source would leave only that document,
 * which its holder is about to delete.  Then MTQ_ERR_CONFLICT: try again. */
bool mtq__place_task(mongoc_collection_t *coll, const mtq_task_t *task, bson_error_t *error);

#endif
