/* mtq_sign.h - signed tasks: producers sign each task with a shared secret,
 * workers verify the signature and refuse a task whose signature is missing
 * or wrong, so that write access to the database is not enough to make a
 * worker run something.
 *
 * The signature is HMAC-SHA256, keyed with the secret named by sig.key, over
 * this message (version 1):
 *
 *   "mtq-sig-v1\n"
 *   then, for each field in this order:
 *     _id           24 lowercase hex digits of the ObjectId
 *     channel       the name
 *     func          the name
 *     version       the name
 *     args          the BSON bytes of the args document (bson_get_data)
 *     timeout_s     decimal, e.g. "3600"
 *     max_attempts  decimal, e.g. "3"
 *   the field name, ':', the length of the value in bytes as decimal, ':',
 *   the value, '\n'.   Example: "channel:7:default\n".
 *
 * The lengths make the encoding unambiguous: no two different field tuples
 * give the same message.  _id binds the signature to one task, so it cannot
 * be copied onto another document.  These are the fields that decide what
 * runs and how; priority, is_enable, status, not_before and everything mtq
 * changes while the task lives are left out, so operators can reorder,
 * pause or delay a task without the secret.  args is signed as BSON bytes:
 * mtq_task_to_bson and mtq_task_from_bson copy it unchanged, and MongoDB keeps
 * a document's field order and types.
 *
 * Rotation: put the new key and the old one in the ring and make the new
 * one the signer; tasks signed with either verify.  Drop the old key once
 * the tasks it signed are gone.
 *
 * Secrets stay inside the keyring: they are never logged and never appear
 * in an error message (key ids and file names do). */
#ifndef MTQ_SIGN_H
#define MTQ_SIGN_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtq_task.h" /* mtq_task_t, MTQ_KEY_ID_MAX, MTQ_SIG_HEX_LEN */

#define MTQ_KEY_MIN_BYTES 32   /* a secret shorter than SHA-256's output is refused */
#define MTQ_KEY_MAX_BYTES 4096 /* a key file larger than this is surely the wrong file */

typedef struct mtq_keyring mtq_keyring_t;

/* An empty ring.  Caller destroys. */
mtq_keyring_t *mtq_keyring_new(void);
/* Wipes the secrets and frees the ring; NULL is ignored. */
void mtq_keyring_destroy(mtq_keyring_t *ring);

/* Adds a copy of secret (len bytes, at least MTQ_KEY_MIN_BYTES) under
 * key_id (1..MTQ_KEY_ID_MAX of [A-Za-z0-9_.-], not already in the ring).
 * The first key added becomes the signer until mtq_keyring_set_signer. */
bool mtq_keyring_add(mtq_keyring_t *ring, const char *key_id, const uint8_t *secret, size_t len,
                     bson_error_t *error);

/* Adds the whole content of the file at path, one trailing newline ("\n"
 * or "\r\n") stripped, as mtq_keyring_add does.  Like ssh with a private
 * key, a file that group or others may read or write (mode & 077) is
 * refused, with a message naming the file and the chmod that fixes it. */
bool mtq_keyring_add_file(mtq_keyring_t *ring, const char *key_id, const char *path,
                          bson_error_t *error);

/* Makes key_id, which must be in the ring, the key that mtq_task_sign uses. */
bool mtq_keyring_set_signer(mtq_keyring_t *ring, const char *key_id, bson_error_t *error);

/* True when the ring holds no key; a NULL ring is empty. */
bool mtq_keyring_empty(const mtq_keyring_t *ring);

/* Signs task with the signer: writes its id into task->sig_key and the
 * signature into task->sig.  Sign after every change to a signed field
 * (mtq_task_build gives the task its _id). */
bool mtq_task_sign(const mtq_keyring_t *ring, mtq_task_t *task, bson_error_t *error);

/* Verifies task->sig with the key of the ring named task->sig_key (any key,
 * not only the signer).  Fails with MTQ_ERR_SIGNATURE and one of "task is
 * not signed", "unknown signing key 'ID'", "signature does not match (task
 * altered, or signed with another secret)".  ring may be NULL (no keys). */
bool mtq_task_verify(const mtq_keyring_t *ring, const mtq_task_t *task, bson_error_t *error);

/* Builds a ring from spec, "id:path[,id:path...]" as in the environment
 * variable MTQ_SIGN_KEYS, loading each file with mtq_keyring_add_file; the
 * first key signs.  A NULL or empty spec gives *out = NULL and succeeds.
 * On success the caller destroys *out. */
bool mtq_keyring_from_env(const char *spec, mtq_keyring_t **out, bson_error_t *error);

/* True for a key id: 1..MTQ_KEY_ID_MAX of [A-Za-z0-9_.-]. */
bool mtq_key_id_valid(const char *key_id);

#endif
