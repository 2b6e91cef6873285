/* mtq_config.h - the INI configuration file shared by mtq-worker and mtqd.
 *
 *   [database]
 *   uri = mongodb://127.0.0.1:27017/mtq
 *
 *   [worker]
 *   id = m1                      ; default: the host name
 *   channels = default, gpu
 *   concurrency = 4              ; default: number of cores
 *   poll_interval_ms = 1000
 *   heartbeat_interval_ms = 3000
 *   grace_period_ms = 30000
 *   lease_ms = 30000             ; a running task's lease: renewed every quarter
 *                                ; of it; mtqd takes the task back when it goes
 *                                ; unrenewed this long, and the worker stops a
 *                                ; task it could not renew for half of it
 *
 *   [function square]            ; one section per function served
 *   version = 1
 *   command = /usr/bin/python3 /opt/mtq/square.py
 *
 *   [coordinator]
 *   channels = default, gpu      ; channels it declares and looks after
 *   lost_after_ms = 15000
 *   sweep_interval_ms = 1000
 *   reconcile_interval_ms = 5000
 *   max_backlog = 100000         ; enqueue fails once a channel holds this many
 *                                ; tasks not yet ended (default 0: no limit)
 *   retain_done_s = 604800       ; keep done tasks 7 days (0 = forever)
 *   retain_failed_s = 2592000    ; failed, dead, cancelled: 30 days (0 = forever)
 *   retention_interval_ms = 60000
 *   retention_batch = 500        ; tasks removed per database round (1..10000)
 *
 *   [security]                   ; signed tasks (mtq_sign.h)
 *   keys = k2:/etc/mtq/k2.key, k1:/etc/mtq/k1.key   ; id:file, all accepted for verifying
 *   sign_with = k2               ; the key producers sign with; default: the first of keys
 *   require_signature = true     ; default: true when keys are set
 *
 * Parsing uses inih.  A command is split into words like a shell would
 * (quotes, backslashes) but is never run through a shell. */
#ifndef MTQ_CONFIG_H
#define MTQ_CONFIG_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtq_sign.h"

typedef struct {
  char *name;
  char *version;
  char **argv; /* NULL-terminated, argv[0] is the program */
} mtq_function_t;

typedef struct {
  char *uri;
  /* [worker] */
  char *worker_id;
  char **channels;
  size_t n_channels;
  int concurrency;
  int64_t poll_interval_ms;
  int64_t heartbeat_interval_ms;
  int64_t grace_period_ms;
  int64_t lease_ms;
  mtq_function_t *functions;
  size_t n_functions;
  char **tags; /* what this worker offers (redundancy requirements name one) */
  size_t n_tags;
  /* [coordinator] */
  char **coord_channels;
  size_t n_coord_channels;
  int64_t lost_after_ms;
  int64_t sweep_interval_ms;
  int64_t reconcile_interval_ms;
  int64_t max_backlog; /* per channel; 0 = no limit */
  int64_t dispatch_interval_ms; /* how often mtqd looks at redundant tasks */
  int64_t perf_refresh_ms;      /* how often placement rereads the run records */
  /* [security]: key_ids[i] is read from key_files[i] */
  char **key_ids;
  char **key_files;
  size_t n_keys;
  char *sign_with;        /* NULL: the first of key_ids */
  bool require_signature; /* false: unsigned tasks run too (while producers start signing) */
  int64_t retain_done_s;   /* 0 = keep forever */
  int64_t retain_failed_s; /* failed, dead and cancelled; 0 = keep forever */
  int64_t retention_interval_ms;
  int64_t retention_batch;
} mtq_config_t;

#define MTQ_RETAIN_MAX_S (10LL * 366 * 24 * 3600)
#define MTQ_RETENTION_BATCH_MAX 10000

/* Fills *cfg with defaults (no channels, no functions, concurrency = cores,
 * worker_id = host name). */
void mtq_config_init(mtq_config_t *cfg);

/* Parses INI text (text need not be NUL-terminated; len bytes are read).
 * On failure *error names the line and the problem; cfg keeps what was parsed
 * and must still be cleaned up.  source names the text in messages. */
bool mtq_config_parse(mtq_config_t *cfg, const char *text, size_t len, const char *source,
                      bson_error_t *error);

/* Reads and parses a file. */
bool mtq_config_load(mtq_config_t *cfg, const char *path, bson_error_t *error);

/* Loads the key files of [security] into a new ring (*out, which the caller
 * destroys), signing with sign_with.  No keys: *out = NULL and success. */
bool mtq_config_keyring(const mtq_config_t *cfg, mtq_keyring_t **out, bson_error_t *error);

/* Frees everything the config owns; cfg may be reused after mtq_config_init. */
void mtq_config_cleanup(mtq_config_t *cfg);

/* Finds a served function by name; NULL when this config does not serve it.
 * Borrowed pointer into cfg. */
const mtq_function_t *mtq_config_function(const mtq_config_t *cfg, const char *name);

/* Splits a command line into a NULL-terminated argv (caller frees with
 * mtq_argv_free).  Supports single quotes, double quotes and backslash; no
 * expansion of any kind. */
char **mtq_argv_split(const char *line, bson_error_t *error);
void mtq_argv_free(char **argv);

#endif
