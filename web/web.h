/* web.h - mtq-web: the dashboard's HTTP server over the admin store.
 *
 *   mtq_web_t *w = mtq_web_new(&cfg, store, &error);   // borrows both
 *   mtq_web_start(w, &loop, &error);  // the HTTP threads, the stats duty
 *   ...                               // (the loop runs the duty)
 *   mtq_web_stop(w);                  // on the loop: the threads end
 *   mtq_web_destroy(w);               // after the loop returned
 *
 * Threads: libmicrohttpd's own thread pool ([web] threads) answers
 * requests; each handler calls the store, whose every function takes a
 * client from its mongoc_client_pool_t and gives it back (mtq_store.h), so
 * handlers run side by side safely.  The counts, which scan `results`,
 * are never made by a request: a duty on the loop recounts every
 * stats_interval_s in libuv's thread pool, and requests read the copy. */
#ifndef MTQ_WEB_H
#define MTQ_WEB_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "mtq_store.h"
#include "web_config.h"

typedef struct mtq_web mtq_web_t;

/* Loads the users and token files, checks the configuration's security
 * rules (mtq_web_config_check) and the listen address.  cfg and store are
 * borrowed until mtq_web_destroy.  NULL with *error on a refusal. */
mtq_web_t *mtq_web_new(const mtq_web_config_t *cfg, mtq_store_t *store, bson_error_t *error);
/* Binds and starts serving; the stats duty runs on loop. */
bool mtq_web_start(mtq_web_t *w, uv_loop_t *loop, bson_error_t *error);
/* Stops serving (waits for requests in flight) and closes the duty. */
void mtq_web_stop(mtq_web_t *w);
void mtq_web_destroy(mtq_web_t *w);

/* A copy of the latest counts, {"<channel>": {"queued": n, ...}} as
 * mtq_store_stats makes them, into out (initialised by the call), and when
 * they were made (*at_ms, ms since the epoch).  False when none was made
 * yet (out is then empty).  For any reader (the /metrics endpoint too):
 * thread-safe, never touches the database. */
bool mtq_web_stats_copy(mtq_web_t *w, bson_t *out, int64_t *at_ms);

#endif
