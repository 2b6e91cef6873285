/* mtq_client.h - the C API for producers: enqueue a task, wait for its
 * result, find it.
 *
 *   bson_error_t err;
 *   mtq_client_t *c = mtq_client_new("mongodb://127.0.0.1:27017/mtq", &err);
 *   mtq_enqueue_opts_t o = {.channel = "default", .func = "square", .args_json = "{\"x\":3}"};
 *   bson_oid_t id;
 *   mtq_task_t t;
 *   mtq_task_init(&t);
 *   if (mtq_client_enqueue(c, &o, &id, NULL, &err) && mtq_client_wait(c, &id, 60000, &t, &err))
 *     ... t.status is DONE, FAILED, DEAD or CANCELLED; t.result / t.error ...
 *   mtq_task_cleanup(&t);
 *   mtq_client_destroy(c);
 */
#ifndef MTQ_CLIENT_H
#define MTQ_CLIENT_H

#include "mtq_sign.h"
#include "mtq_store.h"
#include "mtq_task.h"

typedef struct mtq_client mtq_client_t;

/* Caller destroys.  Fails only on a malformed URI (no server round trip). */
mtq_client_t *mtq_client_new(const char *uri, bson_error_t *error);
void mtq_client_destroy(mtq_client_t *client);

/* Validates opts, checks the channel is declared, signs the task (when a
 * keyring is set), inserts it and writes its id to *id.  *existing (may be
 * NULL) is set when opts->dedupe_key named a task enqueued before, whose id
 * is then written to *id.  MTQ_ERR_UNKNOWN_CHANNEL when the channel was
 * never declared; MTQ_ERR_FULL when it holds its maximum backlog;
 * MTQ_ERR_NOT_FOUND with opts->require_served when no worker has announced
 * the function at that version on the channel. */
bool mtq_client_enqueue(mtq_client_t *client, const mtq_enqueue_opts_t *opts, bson_oid_t *id,
                        bool *existing, bson_error_t *error);

/* At most this many tasks one task waits for. */
#define MTQ_AFTER_MAX 1000

/* Enqueues a task that waits for the n tasks of after (1..MTQ_AFTER_MAX,
 * each of which must exist): it is blocked until every one of them is
 * done, then queued; if one ends otherwise, it is cancelled and says why.
 * A flow of two steps does the waiting (mtq_flow.h: an external step of
 * the tasks waited for, a held step of this one), so mtqd drives it and a
 * crash loses nothing; *id is the task's, *flow (may be NULL) the flow's.
 * Not with a dedupe key or redundant dispatch (MTQ_ERR_INVALID).  Other
 * errors as mtq_client_enqueue's. */
bool mtq_client_enqueue_after(mtq_client_t *client, const mtq_enqueue_opts_t *opts,
                              const bson_oid_t *after, size_t n, bson_oid_t *id, bson_oid_t *flow,
                              bson_error_t *error);

/* What mtq_client_enqueue_many did with one task of a batch. */
typedef struct {
  bool ok;            /* enqueued, or (existing) found under its dedupe key */
  bool existing;      /* its dedupe key named a task enqueued before: id is that task's */
  bson_oid_t id;      /* when ok */
  bson_error_t error; /* when !ok: why this task did not go in (codes as mtq_client_enqueue's) */
} mtq_enqueue_result_t;

/* Enqueues n tasks, many per round trip (mtq_store_enqueue_many): each is
 * validated, signed, deduplicated and held against its channel's
 * max_backlog on its own, as mtq_client_enqueue would, and results[i] says
 * what became of opts[i]; a task refused does not stop the others.  Returns
 * how many went in (ok), so n means all of them. */
size_t mtq_client_enqueue_many(mtq_client_t *client, const mtq_enqueue_opts_t *opts, size_t n,
                               mtq_enqueue_result_t *results);

/* Producers sign every task they enqueue with ring's signer (mtq_sign.h);
 * the client owns ring from now on.  NULL: unsigned. */
void mtq_client_set_keyring(mtq_client_t *client, mtq_keyring_t *ring);

/* Waits until the task has finished (done, failed, dead or cancelled) or
 * timeout_ms passed (MTQ_ERR_TIMEOUT; < 0 waits forever).  Once the task is
 * found, the database going away and coming back does not end the wait.  out (initialised
 * by the caller) receives the task.  Polls by _id with a growing interval. */
bool mtq_client_wait(mtq_client_t *client, const bson_oid_t *id, int64_t timeout_ms,
                     mtq_task_t *out, bson_error_t *error);

/* Finds a task by id wherever it is, into out (initialised by the caller);
 * MTQ_ERR_NOT_FOUND when there is none. */
bool mtq_client_find(mtq_client_t *client, const bson_oid_t *id, mtq_task_t *out,
                     bson_error_t *error);

/* The store's side of an enqueue: inserts a built task (mtq_task_build)
 * into its channel, reading the channel document once.
 *
 * With a dedupe key, the first enqueue of a key in a channel inserts
 * dedupe/"<channel>:<key>" (its unique _id decides between concurrent
 * producers); a later one finds it, sets task->id to the first task's id
 * and *existing (may be NULL) to true, and inserts nothing.  Errors as
 * mtq_client_enqueue's. */
bool mtq_store_enqueue(mtq_store_t *store, mtq_task_t *task, bool require_served, bool *existing,
                       bson_error_t *error);

/* The store's side of a batch: inserts n built tasks, many per round trip,
 * as n calls of mtq_store_enqueue would (require_served, when not NULL, is
 * per task).  results[i] says what became of tasks[i] (task->id follows a
 * dedupe key as in mtq_store_enqueue); returns how many went in. */
size_t mtq_store_enqueue_many(mtq_store_t *store, mtq_task_t *tasks, size_t n,
                              const bool *require_served, mtq_enqueue_result_t *results);

/* Chooses the lane segment of a built task (mtq_task_build) and marks its
 * id with it: call it before mtq_task_sign, since the id is signed
 * (mtq_client_enqueue does).  A task enqueued without it gets its segment
 * in mtq_store_enqueue, or, when signed, the lane's inbox. */
void mtq_store_assign(mtq_store_t *store, mtq_task_t *task);

/* The client's store, for the operator calls of mtq_store_admin.h (borrowed). */
mtq_store_t *mtq_client_store(mtq_client_t *client);

#endif
