/* sign_private.h - what sign.c shares with config.c and the unit tests; not
 * part of the API. */
#ifndef MTQ_SIGN_PRIVATE_H
#define MTQ_SIGN_PRIVATE_H

#include "mtq_sign.h"

#define MTQ__HMAC_BYTES 32 /* SHA-256 output */

/* The message a task's signature covers (format in mtq_sign.h).  Returns
 * bytes the caller frees with bson_free; *len gets their count. */
uint8_t *mtq__sign_message(const mtq_task_t *task, size_t *len);

/* HMAC-SHA256 of msg under key into out. */
bool mtq__hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len,
                      uint8_t out[MTQ__HMAC_BYTES]);

/* Splits "id:path[, id:path...]" into two lists of n strings, appended to
 * *ids and *files (which may start NULL with *n = 0).  Paths may contain ':'
 * (the id ends at the first one) but not ','.  The caller frees every
 * string and both arrays with bson_free, also after a failure. */
bool mtq__key_spec_parse(const char *spec, char ***ids, char ***files, size_t *n,
                         bson_error_t *error);

/* A ring of the n key files, signing with signer (NULL: the first).  On
 * success the caller destroys *out. */
bool mtq__keyring_load(char *const *ids, char *const *files, size_t n, const char *signer,
                       mtq_keyring_t **out, bson_error_t *error);

#endif
