/* mtq_store.h - the connection to mtq's database, its channels and its
 * workers: what every program that uses the store shares.
 *
 * The store is every MongoDB access of mtq; the rest of mtq speaks in tasks
 * and workers, and BSON queries live in common/store/.  Its functions are
 * declared by who calls them:
 *
 *   mtq_client.h        producers: enqueue, wait, find
 *   mtq_store_worker.h  workers: poll, claim, renew, finish, heartbeat
 *   mtq_store_coord.h   the coordinator: leases, releases, reconcile,
 *                       redundant dispatch, retention, lost workers
 *   mtq_store_admin.h   operators: find, list, history, stats, edits, runs
 *
 * Every function is thread-safe: each call takes a client from an internal
 * mongoc_client_pool_t and returns it before it returns.  Functions that
 * record who did something take `by`, the actor named in the audit trail
 * (a worker id, "mtqd", an operator): the library names no one itself. */
#ifndef MTQ_STORE_H
#define MTQ_STORE_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#include "mtq_task.h"
#include "mtq_whoami.h"

typedef struct mtq_store mtq_store_t;

/* Connects lazily (the first operation reaches the server).  appname is
 * shown in server logs.  Caller destroys.  Fails only on a malformed URI. */
mtq_store_t *mtq_store_new(const char *uri, const char *appname, bson_error_t *error);
void mtq_store_destroy(mtq_store_t *store);

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
/* "to.<worker_id>": the channel of the copies addressed to one worker. */
void mtq_direct_channel(const char *worker_id, char *out, size_t size);

/* --- workers --------------------------------------------------------------- */

/* Appends every whoami document with a valid worker id to out (initialised
 * by the caller). */
bool mtq_store_workers(mtq_store_t *store, mtq_whoami_list_t *out, bson_error_t *error);

/* --- metrics (metrics.c; schemas/metrics.schema.json) ----------------------- */

/* The database commands this store has sent since it was made, as
 * mtq_metrics_to_bson writes them (appended to out, initialised by the
 * caller): counters db_commands {command, outcome: ok|error} and
 * db_command_seconds {command}, histogram db_command_duration_seconds.
 * Counted by the driver's command monitoring on every thread; thread-safe. */
void mtq_store_db_stats(mtq_store_t *store, bson_t *out);

/* Writes a process's metrics document (borrowed; its _id a string
 * "<kind>:<name>"), replacing the one of that _id.  One writer per
 * document (the process it names), so FerretDB's read-then-write replace
 * is safe. */
bool mtq_store_metrics_put(mtq_store_t *store, const bson_t *doc, bson_error_t *error);
/* Every document of the metrics collection into out (initialised by the
 * call) as {"metrics": [...]}: the processes' documents and the retention
 * counts (kind "retention"). */
bool mtq_store_metrics_read(mtq_store_t *store, bson_t *out, bson_error_t *error);
/* Removes the process documents (kind worker or coordinator) last written
 * before before_ms: processes gone for good.  *removed (may be NULL) says
 * how many.  The retention counts are never removed. */
bool mtq_store_metrics_prune(mtq_store_t *store, int64_t before_ms, size_t *removed,
                             bson_error_t *error);

#endif
