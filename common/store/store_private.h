/* store_private.h - what the store's files share; not part of the API.
 *
 * The store is every MongoDB access of mtq.  Layout of the database (its
 * name comes from the URI path, default "mtq"):
 *
 *   channels            one document per declared channel, _id = name
 *   q.<ch>.p<P>...      live tasks (queued, running) of channel ch at priority
 *                       P (0..9): each priority is cut into segments of
 *                       bounded size listed in a directory, beside an inbox
 *                       for other programs' tasks and a side lane for moved
 *                       ones, so that no access costs time proportional to
 *                       the backlog (segment.c)
 *   q.<ch>.delayed      tasks whose not_before is in the future, and tasks
 *                       in retry_wait (a failed attempt's backoff)
 *   dispatch            redundant tasks (parents) waiting for their copies
 *   claims, leases      the claim protocol's records (protocol.c)
 *   events              the audit trail: one document per state transition
 *   results             the one recorded outcome of each finished task, _id =
 *                       task id (removed, with the task's claims and events,
 *                       once kept long enough: retention.c)
 *   dedupe              producers' dedupe keys, _id "<channel>:<key>"
 *   whoami              one document per worker, _id = worker id
 *   runs                one document per ended attempt (capped: runs.c)
 *   metrics             one document per long-lived process, its counters,
 *                       and one per channel of what retention removed
 *                       (metrics.c)
 *
 * Files: store.c (connection, collections), segment.c (a lane's bounded
 * segments), bulk.c (many writes in one command), channel.c, protocol.c (the
 * claim protocol), events.c, runs.c; then one file per audience's work:
 * wake.c (telling idle workers of new work), enqueue.c (producers),
 * claim.c and whoami.c (workers), leases.c,
 * release.c, dispatch.c and retention.c (the coordinator), find.c, edit.c
 * and query.c (operators). */
#ifndef MTQ_STORE_PRIVATE_H
#define MTQ_STORE_PRIVATE_H

#include <mongoc/mongoc.h>
#include <pthread.h>

#include "mtq_client.h"
#include "mtq_metrics.h"
#include "mtq_store.h"
#include "mtq_store_admin.h"
#include "mtq_store_coord.h"
#include "mtq_store_worker.h"

struct mtq_store {
  mongoc_client_pool_t *pool;
  mongoc_uri_t *uri;
  char *db_name;
  pthread_mutex_t lock;   /* guards the fields below */
  int server_kind;        /* 0 unknown, 1 MongoDB, 2 FerretDB */
  char **known_channels;  /* channels seen declared; NULL-terminated */
  bool runs_declared;     /* the capped runs collection exists (runs.c) */
  struct mtq__seg_slot *segs; /* this producer's segments (segment.c) */
  size_t n_segs;
  int64_t segment_retire_s;      /* guarded by lock (segment.c) */
  pthread_mutex_t segment_lock; /* releases into segments vs retirement (segment.c) */
  struct mtq__recon_at *recon; /* where each channel's reconcile goes on (release.c) */
  size_t n_recon;
  struct mtq__wake_cache *wake; /* whom to wake, and the socket (wake.c) */
  mtq_metrics_t *db_metrics;    /* commands sent, by name and outcome; own lock (store.c) */
};
typedef struct mtq__seg_slot mtq__seg_slot_t;
typedef struct mtq__recon_at mtq__recon_at_t;

#define MTQ__SERVER_MONGODB 1
#define MTQ__SERVER_FERRETDB 2

/* The longest actor name ("by") a record keeps: a worker id, "mtqd", an
 * operator's name. */
#define MTQ__ACTOR_MAX 128

/* Borrow a client from the pool; give it back with mtq__store_push. */
mongoc_client_t *mtq__store_pop(mtq_store_t *store);
void mtq__store_push(mtq_store_t *store, mongoc_client_t *client);

/* Collections; the caller destroys what these return. */
mongoc_collection_t *mtq__coll(mtq_store_t *store, mongoc_client_t *client, const char *name);
mongoc_collection_t *mtq__delayed(mtq_store_t *store, mongoc_client_t *client,
                                  const char *channel);
/* A priority's side lane, q.<ch>.p<P>.moved: the tasks mtqd or an operator
 * moved into the priority after they were enqueued (a priority edit).
 * Polls read it beside the lane and take both in age order, so that a task
 * moved in is not queued behind younger ones (protocol.c, claim.c). */
mongoc_collection_t *mtq__moved_lane(mtq_store_t *store, mongoc_client_t *client,
                                     const char *channel, int32_t priority);

/* A live task's collection: the side lane when moved, else its segment
 * ("" = the inbox) of its priority. */
mongoc_collection_t *mtq__live_coll(mtq_store_t *store, mongoc_client_t *client,
                                    const char *channel, int32_t priority, bool moved,
                                    const char *seg);

/* Where a live task is when it is not delayed: its segment, inbox or side
 * lane (task->moved, task->seg), or for the parent of redundant copies,
 * the dispatch collection. */
mongoc_collection_t *mtq__home(mtq_store_t *store, mongoc_client_t *client,
                               const mtq_task_t *task);
#define MTQ__DISPATCH "dispatch"
/* Whether two live tasks have the same home (for writes grouped by it). */
bool mtq__same_home(const mtq_task_t *a, const mtq_task_t *b);

/* MongoDB or FerretDB (asks the server once); 0 when it cannot be reached. */
int mtq__server_kind(mtq_store_t *store, mongoc_client_t *client, bson_error_t *error);

/* Whether coll holds no document (or does not exist): one find of one
 * document, which FerretDB stops at the first row, where a count
 * ($collStats) lists every collection of the database and costs time in
 * proportion to them (a scan of a channel's thousands of segments would
 * cost their square). */
bool mtq__coll_empty(mongoc_collection_t *coll, bool *empty, bson_error_t *error);
/* How many documents coll holds, without reading them (0 when it does not
 * exist). */
bool mtq__count_docs(mtq_store_t *store, mongoc_client_t *client, mongoc_collection_t *coll,
                     int64_t *n, bson_error_t *error);

/* Inserts n documents in unordered commands: each goes in or fails on its
 * own (a duplicate _id or unique key, atomically, on MongoDB and FerretDB
 * alike).  inserted[i] says which; errors (may be NULL) why not.  False
 * when a command failed as a whole (*error): then nothing of it is known
 * to be in.  bulk.c */
bool mtq__insert_many(mongoc_collection_t *coll, const bson_t *const *docs, size_t n,
                      bool *inserted, bson_error_t *errors, bson_error_t *error);

/* Inserts records of what happened (events, run records: what, in the
 * log), each under an _id of its own: a duplicate is the same record from
 * an earlier try; any other failure is logged, never returned, since the
 * change they describe is recorded elsewhere.  bulk.c */
void mtq__insert_records(mongoc_collection_t *coll, const bson_t *const *docs, size_t n,
                         const char *what);

/* Updates (updates != NULL: updates[i] for ids[i]) or deletes one
 * document by _id each, in few commands.  On MongoDB each names its token
 * (tokens[i]), one atomic step as mtq__write_at_token; on FerretDB, whose
 * filtered writes are a read and a write anyway, only its _id (the filter
 * SQLite is handed): for callers whose claim or end lock of that token
 * already keeps anyone from moving the document on.  bulk.c */
bool mtq__write_many_by_id(mtq_store_t *store, mongoc_client_t *client, mongoc_collection_t *coll,
                           const bson_oid_t *const *ids, const int64_t *tokens,
                           const bson_t *const *updates, size_t n, bson_error_t *error);
/* Appends the token condition of a MongoDB write to filter: {token: T}, or
 * for token 0 a document without one too (protocol.c). */
void mtq__token_filter(bson_t *filter, int64_t token);

/* Reads the document with this _id from coll into out; *found false when absent. */
bool mtq__find_by_id(mongoc_collection_t *coll, const bson_oid_t *id, bson_t *out, bool *found,
                     bson_error_t *error);
/* The token of the document with this _id in coll: -1 when it is absent, 0
 * when it carries none (or null: a task written by another program). */
bool mtq__token_at(mongoc_collection_t *coll, const bson_oid_t *id, int64_t *token,
                   bson_error_t *error);

/* Calls fn for every document of coll matching filter (borrowed; opts may
 * be NULL); stops at the first false. */
typedef bool (*mtq__doc_fn)(void *ctx, const bson_t *doc);
bool mtq__each_doc(mongoc_collection_t *coll, const bson_t *filter, const bson_t *opts,
                   mtq__doc_fn fn, void *ctx, bson_error_t *error);

/* Notes how the tasks among tasks[0..n) that belong to a flow ended (those
 * ended for good), in flowends, for the flow's next pass (flows.c). */
void mtq__flow_note_ends(mtq_store_t *store, mongoc_client_t *client,
                         const mtq_task_t *const *tasks, size_t n);

/* delete_many {field: {$in: ids}} on collection name; adds the count to *n.
 * A collection that does not exist deletes nothing, on MongoDB and FerretDB. */
bool mtq__delete_in(mtq_store_t *store, mongoc_client_t *client, const char *name,
                    const char *field, const bson_t *ids, size_t *n, bson_error_t *error);

/* The documents of collection name matching filter (opts may be NULL), in
 * the cursor's order, into out (initialised by the call) as {key: [...]}. */
bool mtq__find_into(mtq_store_t *store, const char *name, const bson_t *filter,
                    const bson_t *opts, const char *key, bson_t *out, bson_error_t *error);

/* Appends one transition of task to the events collection (best effort:
 * a failure is logged).  events.c */
void mtq__event(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                mtq_state_t from, mtq_state_t to, const char *by, const char *why);

/* The same, in two steps for a batch: the event's document (appended to
 * doc), and the insert of many such documents.  events.c */
void mtq__event_doc(const mtq_task_t *task, mtq_state_t from, mtq_state_t to, const char *by,
                    const char *why, bson_t *doc);
void mtq__events_write(mtq_store_t *store, mongoc_client_t *client, bson_t *const *docs,
                       size_t n);

/* Inserts the run record of an attempt that ended as `to`, by `by`, at
 * end_ms: task is the attempt as it was while it ran (status running, its
 * holder in worker, claimed_at, token), before the end changed it.  Best
 * effort: a failure is logged.  An attempt never marked running (no holder
 * or claimed_at) leaves no record.  runs.c */
void mtq__run_record(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task,
                     mtq_state_t to, const char *by, int64_t end_ms);
/* The run records of many ended attempts in one insert. */
typedef struct {
  const mtq_task_t *task;
  mtq_state_t to;
  const char *by;
  int64_t end_ms;
} mtq__run_end_t;
void mtq__run_records(mtq_store_t *store, mongoc_client_t *client, const mtq__run_end_t *ends,
                      size_t n);

/* After a write that makes work runnable in channel: bumps the channel
 * document's seq (which idle workers read every poll interval) and wakes
 * the running workers that serve the channel with a datagram (mtq__wake;
 * "to.<worker>" wakes that worker only).  Best effort, never blocks on the
 * network and never fails the write: a failure costs latency only (the
 * workers' fallback polls).  wake.c */
void mtq__channel_touch(mtq_store_t *store, mongoc_client_t *client, const char *channel);
/* The datagram alone; priority -1 when the work is not one task of a known
 * priority (the worker then reads every lane of the channel). */
void mtq__wake(mtq_store_t *store, mongoc_client_t *client, const char *channel,
               int32_t priority);
/* mtq__channel_touch of the task's channel when the task, as it now is, is
 * one a worker's poll would take (queued, enabled, not a parent). */
void mtq__task_touch(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task);
/* Every worker document, just read (mtq_store_workers): whom to wake,
 * without reading whoami again for it. */
void mtq__wake_learn(mtq_store_t *store, const mtq_whoami_list_t *all);
/* Frees what wake.c keeps in a store; for mtq_store_destroy. */
void mtq__wake_cache_free(struct mtq__wake_cache *cache);

/* Adds n finished tasks of channel, removed by retention, to the count in
 * metrics/retention:<channel> (best effort: a failure is logged).  Only
 * the leading mtqd runs retention, so the count has one writer at a time
 * and FerretDB's read-then-write $inc is safe.  metrics.c */
void mtq__metrics_removed(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                          int64_t n);

/* Reads the channel's document: *max_backlog (0 = none), and proves the
 * channel is declared (MTQ_ERR_UNKNOWN_CHANNEL otherwise).  channel.c */
typedef struct {
  int64_t max_backlog;  /* 0 = no limit */
  int64_t backlog;      /* as mtqd last counted it; -1 when it never did */
  int64_t backlog_at_ms; /* when, on mtqd's clock */
} mtq__channel_doc_t;
bool mtq__channel_read(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                       mtq__channel_doc_t *out, bson_error_t *error);

/* Where a task was found: its collection (caller destroys) and lane.  find.c */
typedef struct {
  mongoc_collection_t *coll;
  int32_t lane; /* -1: delayed, dispatch or results */
  bool moved;   /* a side lane */
  char seg[MTQ_SEG_MAX]; /* its segment; "" for an inbox or elsewhere */
  bool finished;
  char channel[MTQ_NAME_MAX + 1]; /* of the lane or delayed collection; "" elsewhere */
} mtq__place_t;
/* Finds a task wherever it is (lanes, delayed, dispatch, results) and reads
 * it into out (a quarantined record reads as a failed task);
 * MTQ_ERR_NOT_FOUND when it is nowhere. */
bool mtq__locate(mtq_store_t *store, mongoc_client_t *client, const bson_oid_t *id,
                 mtq_task_t *out, mtq__place_t *place, bson_error_t *error);

/* Counts the tasks of channel not yet ended (its lanes, its delayed
 * collection, its parents in dispatch): what max_backlog bounds.  query.c */
bool mtq__channel_backlog(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                          int64_t *n, bson_error_t *error);

#endif
