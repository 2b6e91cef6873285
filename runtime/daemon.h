/* daemon.h - what mtqd and mtq-worker set up the same way in main: the
 * libuv loop, the store, and signals.
 *
 *   mtq_daemon_t d;
 *   if (!mtq_daemon_init(&d, uri, "mtqd", &error)) ...
 *   thing = thing_new(&d.loop, d.store, cfg);      // borrows both
 *   mtq_daemon_on_signal(&d, on_signal, thing);    // SIGTERM, SIGINT
 *   thing_start(thing);
 *   mtq_daemon_run(&d);                            // until thing closed its handles
 *   thing_destroy(thing);
 *   mtq_daemon_destroy(&d);
 *
 * The signal handles do not keep the loop alive: the loop returns once the
 * daemon's own handles are closed. */
#ifndef MTQ_DAEMON_H
#define MTQ_DAEMON_H

#include <uv.h>

#include "mtq_log.h"
#include "mtq_store.h"

/* The command line both daemons take:
 *   -c, --config FILE  -u, --uri URI  -l, --log-level LEVEL  -h, --help
 * and, with with_id, -i, --id ID (a valid name). */
typedef struct {
  const char *config; /* required */
  const char *uri;    /* NULL: $MTQ_URI, else the file's */
  const char *id;
  mtq_log_level_t log_level; /* MTQ_LOG_INFO unless given */
} mtq_daemon_options_t;

/* Parses argv into *o.  -1 to go on; else the exit status (0 after --help
 * printed usage; 2 after a message "PROGRAM: ..." and a hint on stderr). */
int mtq_daemon_options(int argc, char **argv, const char *program, const char *usage,
                       bool with_id, mtq_daemon_options_t *o);
/* The URI to use: --uri, else $MTQ_URI (when set and not empty), else
 * from_file (NULL when there is none of them). */
const char *mtq_daemon_uri(const mtq_daemon_options_t *o, const char *from_file);

/* Called on the loop for each SIGTERM or SIGINT. */
typedef void (*mtq_daemon_signal_fn)(void *data, int signum);

typedef struct {
  uv_loop_t loop;
  mtq_store_t *store; /* owned */
  uv_signal_t sigterm, sigint;
  bool signals_open;
  mtq_daemon_signal_fn on_signal;
  void *data;
} mtq_daemon_t;

/* The loop and a store for uri (appname shows in the server's logs).
 * False with *error when the URI is malformed or the loop cannot start. */
bool mtq_daemon_init(mtq_daemon_t *d, const char *uri, const char *appname, bson_error_t *error);
/* Starts handling SIGTERM and SIGINT with fn(data, signum). */
void mtq_daemon_on_signal(mtq_daemon_t *d, mtq_daemon_signal_fn fn, void *data);
/* Stops handling them: the next one has its default effect (ends the
 * process at once). */
void mtq_daemon_close_signals(mtq_daemon_t *d);
/* Runs the loop until nothing but the signal handles is left. */
void mtq_daemon_run(mtq_daemon_t *d);
/* After run: closes what is left and frees the store. */
void mtq_daemon_destroy(mtq_daemon_t *d);

#endif
