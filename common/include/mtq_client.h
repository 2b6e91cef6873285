/* mtq_client.h - the C API for producers: enqueue a task, wait for its result.
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

#include "mtq_store.h"
#include "mtq_task.h"

typedef struct mtq_client mtq_client_t;

/* Caller destroys.  Fails only on a malformed URI (no server round trip). */
mtq_client_t *mtq_client_new(const char *uri, bson_error_t *error);
void mtq_client_destroy(mtq_client_t *client);

/* Validates opts, checks the channel is declared, signs the task (when a
 * keyring is set), inserts it and writes its id to *id.  *existing (may be
 * NULL) is set when opts->dedupe_key named a task enqueued before, whose id
 * is then written to *id.  MTQ_ERR_FULL when the channel holds its maximum
 * backlog. */
bool mtq_client_enqueue(mtq_client_t *client, const mtq_enqueue_opts_t *opts, bson_oid_t *id,
                        bool *existing, bson_error_t *error);

/* Producers sign every task they enqueue with ring's signer (mtq_sign.h);
 * the client owns ring from now on.  NULL: unsigned. */
typedef struct mtq_keyring mtq_keyring_t;
void mtq_client_set_keyring(mtq_client_t *client, mtq_keyring_t *ring);

/* Waits until the task has finished (done, failed, dead or cancelled) or
 * timeout_ms passed (MTQ_ERR_TIMEOUT; < 0 waits forever).  Once the task is
 * found, the database going away and coming back does not end the wait.  out (initialised
 * by the caller) receives the task.  Polls by _id with a growing interval. */
bool mtq_client_wait(mtq_client_t *client, const bson_oid_t *id, int64_t timeout_ms,
                     mtq_task_t *out, bson_error_t *error);

/* The client's store, for the operator calls of mtq_store.h (borrowed). */
mtq_store_t *mtq_client_store(mtq_client_t *client);

#endif
