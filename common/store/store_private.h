/* store_private.h - what the store_*.c files share; not part of the API. */
#ifndef MTQ_STORE_PRIVATE_H
#define MTQ_STORE_PRIVATE_H

#include <mongoc/mongoc.h>
#include <pthread.h>

#include "mtq_store.h"

struct mtq_store {
  mongoc_client_pool_t *pool;
  mongoc_uri_t *uri;
  char *db_name;
  pthread_mutex_t lock;   /* guards the fields below */
  int server_kind;        /* 0 unknown, 1 MongoDB, 2 FerretDB */
  char **known_channels;  /* channels seen declared; NULL-terminated */
  bool runs_declared;     /* the capped runs collection exists (store_runs.c) */
};

#define MTQ__SERVER_MONGODB 1
#define MTQ__SERVER_FERRETDB 2

/* Borrow a client from the pool; give it back with mtq__store_push. */
mongoc_client_t *mtq__store_pop(mtq_store_t *store);
void mtq__store_push(mtq_store_t *store, mongoc_client_t *client);

/* Collections; the caller destroys what these return. */
mongoc_collection_t *mtq__coll(mtq_store_t *store, mongoc_client_t *client, const char *name);
mongoc_collection_t *mtq__lane(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                               int32_t priority);
mongoc_collection_t *mtq__delayed(mtq_store_t *store, mongoc_client_t *client,
                                  const char *channel);
/* Where a live task is when it is not delayed: its lane, or for the parent
 * of redundant copies, the dispatch collection. */
mongoc_collection_t *mtq__home(mtq_store_t *store, mongoc_client_t *client,
                               const mtq_task_t *task);
#define MTQ__DISPATCH "dispatch"

/* MongoDB or FerretDB (asks the server once); 0 when it cannot be reached. */
int mtq__server_kind(mtq_store_t *store, mongoc_client_t *client, bson_error_t *error);

/* The claim: inserts claims/{_id: "<id>:<token>"}.  Exactly one caller per
 * key succeeds; a loser gets false with MTQ_ERR_CONFLICT. */
bool mtq__claim(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                const char *by, const char *kind, bson_error_t *error);

/* Records the one outcome of a task in results (a second record of the same
 * task is a no-op), then removes the live document from where it was. */
bool mtq__record_outcome(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                         mongoc_collection_t *from, bson_error_t *error);

/* Updates (update != NULL) or deletes the document with this _id only while
 * it still carries token: a document that moved on (released, revived)
 * under a newer token is left alone. */
bool mtq__write_at_token(mtq_store_t *store, mongoc_client_t *client, mongoc_collection_t *coll,
                         const bson_oid_t *id, int64_t token, const bson_t *update,
                         bson_error_t *error);

/* Reads the document with this _id from coll into out; *found false when absent. */
/* The token of the document with this _id in coll: -1 when it is absent, 0
 * when it carries none (or null). */
bool mtq__token_at(mongoc_collection_t *coll, const bson_oid_t *id, int64_t *token,
                   bson_error_t *error);
bool mtq__find_by_id(mongoc_collection_t *coll, const bson_oid_t *id, bson_t *out, bool *found,
                     bson_error_t *error);

/* Moves a quarantined (malformed) document to results as failed, keeping it whole. */
void mtq__quarantine(mtq_store_t *store, mongoc_client_t *client, mongoc_collection_t *from,
                     const bson_t *doc, const char *channel, const char *reason);

/* Ends attempt task->token (the task is running under that token): takes
 * the attempt's end lock for `by` (MTQ_ERR_CONFLICT when someone else ended
 * it: fencing), records the event, then moves the task to `to`: queued (in
 * place, next token), retry_wait (to the delayed collection, after its
 * backoff), or an outcome in results (done with result, failed, dead,
 * cancelled).  why is kept as the error and, when count_attempt, appended to
 * the task's errors.  Drops the lease.  take_over: an end lock held by
 * someone else is taken (its owner died half-way: only mtqd, on an expired
 * lease, may say so). */
bool mtq__end_attempt(mtq_store_t *store, mongoc_client_t *client, mtq_task_t *task,
                      mtq_state_t to, const char *by, const char *why, const bson_t *result,
                      bool count_attempt, bool take_over, bson_error_t *error);

/* Appends one transition of task to the events collection (best effort:
 * a failure is logged). */
void mtq__event(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                mtq_state_t from, mtq_state_t to, const char *by, const char *why);

/* Inserts the run record of an attempt that ended as `to`, by `by`, at
 * end_ms: task is the attempt as it was while it ran (status running, its
 * holder in worker, claimed_at, token), before the end changed it.  Best
 * effort: a failure is logged.  An attempt never marked running (no holder
 * or claimed_at) leaves no record. */
void mtq__run_record(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                     mtq_state_t to, const char *by, int64_t end_ms);

#endif
