/* mtq_error.h - error domain and codes shared by every mtq module.
 *
 * mtq reuses libbson's bson_error_t so that driver errors pass through
 * untouched.  Errors raised by mtq itself carry MTQ_ERROR_DOMAIN and one of
 * the codes below.  Callers tell "try again" (mtq_error_is_transient) apart
 * from "failed" (bad input, unknown name, refused transition). */
#ifndef MTQ_ERROR_H
#define MTQ_ERROR_H

#include <bson/bson.h>
#include <stdbool.h>

#define MTQ_ERROR_DOMAIN 0x4d5451u /* "MTQ" */

typedef enum {
  MTQ_ERR_INVALID = 1,     /* bad input: malformed JSON, wrong type, out of range */
  MTQ_ERR_NOT_FOUND,       /* no such task, worker or file */
  MTQ_ERR_UNKNOWN_CHANNEL, /* channel not declared by the coordinator */
  MTQ_ERR_CONFLICT,        /* someone else claimed or changed the task first */
  MTQ_ERR_STATE,           /* transition not allowed from the task's state */
  MTQ_ERR_TIMEOUT,         /* a wait ran out */
  MTQ_ERR_UNAVAILABLE,     /* database unreachable: try again later */
  MTQ_ERR_TOO_LARGE,       /* a document or payload over its limit */
  MTQ_ERR_SIGNATURE,       /* task unsigned, signed with an unknown key, or altered */
  MTQ_ERR_FULL,            /* the channel holds its maximum backlog: try again later */
} mtq_errcode_t;

/* Sets *error (which may be NULL) to an mtq error; printf-style message. */
void mtq_error_set(bson_error_t *error, mtq_errcode_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True when the operation may succeed if retried later: the database could
 * not be reached or a server selection timed out. */
bool mtq_error_is_transient(const bson_error_t *error);

/* True for a duplicate-key error from the server (code 11000). */
bool mtq_error_is_duplicate(const bson_error_t *error);

#endif
