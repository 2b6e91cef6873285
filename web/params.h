/* params.h - the API's request parameters: the task table's query
 * (channel, state, func, worker, error, sort, limit, cursor), ids and
 * cursors.  Pure: each function checks what a client sent and says what is
 * wrong with it, for a 400. */
#ifndef MTQ_WEB_PARAMS_H
#define MTQ_WEB_PARAMS_H

#include <bson/bson.h>
#include <stdbool.h>

#include "mtq_store_admin.h"

#define MTQ_WEB_LIMIT_DEFAULT 50
#define MTQ_WEB_ERROR_TEXT_MAX 256
#define MTQ_WEB_CURSOR_MAX 64

/* A 24-hex ObjectId; false for anything else. */
bool mtq_web_parse_oid(const char *s, bson_oid_t *out);
/* The id of a path's rest "ID" or "ID/ACTION" (after /tasks/ or /flows/)
 * into *out and hex (25 bytes), and *slash at its '/' (NULL when none);
 * false when ID is not 24 hexadecimal digits. */
bool mtq_web_parse_id_path(const char *rest, bson_oid_t *out, char *hex, const char **slash);

/* The raw query parameters of GET /api/v1/tasks (NULL: not given). */
typedef struct {
  const char *channel, *state, *func, *worker, *error, *sort, *limit, *cursor;
} mtq_web_task_query_t;

/* Checks every parameter and fills *q (its strings borrowed from p):
 * names valid, state one of the task states (or "disabled"), error at
 * most MTQ_WEB_ERROR_TEXT_MAX bytes, sort one of created_at, -created_at,
 * priority, -priority, finished_at, -finished_at (default -created_at),
 * limit 1..500 (default 50), cursor one this sort made.  False with the
 * reason in *error. */
bool mtq_web_task_query_parse(const mtq_web_task_query_t *p, mtq_browse_t *q, bson_error_t *error);

/* The cursor of the position after task t in q's order into out
 * (MTQ_WEB_CURSOR_MAX bytes): "<sort>.<value>.<24 hex>". */
void mtq_web_cursor_encode(const mtq_browse_t *q, const mtq_task_t *t, char *out);
/* Reads a cursor made for q's sort into q's after fields. */
bool mtq_web_cursor_decode(const char *s, mtq_browse_t *q, bson_error_t *error);

/* A whole number in [min, max] from a string, nothing else. */
bool mtq_web_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

#endif
