/* worker_config.h - mtq-worker's configuration: [worker] and its
 * [function NAME] sections, besides the shared [database] and [security]
 * (mtq_config.h).
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
 *   tags = cuda12, big           ; what redundant tasks can require (--tag)
 *   wake = true                  ; listen for wake-up datagrams (README, Wake-ups)
 *   wake_port = 0                ; their UDP port; 0: any free port
 *   idle_poll_ms = 30000         ; while idle, the lanes are read at least this
 *                                ; often; in between only the channels' seqs,
 *                                ; every poll_interval_ms
 *   metrics_interval_ms = 10000  ; how often its counters are published
 *                                ; (README, Metrics)
 *   function_dir = /opt/mtq/functions   ; NAME/VERSION/mtq.ini (functions_dir.h)
 *   sync_command = git -C /opt/mtq/functions pull --ff-only
 *   sync_interval_s = 60         ; the registry's cycle, and at most one sync in it
 *   sync_timeout_s = 120         ; a sync still running then is killed
 *
 *   [function square]            ; one section per function served
 *   version = 1
 *   command = /usr/bin/python3 /opt/mtq/square.py
 *   description = squares x      ; description, developer, contact: for the
 *   developer = Ada              ; registry (mtq functions), optional
 *   contact = ada@example.com
 *
 * [coordinator] is mtqd's: skipped here. */
#ifndef MTQ_WORKER_CONFIG_H
#define MTQ_WORKER_CONFIG_H

#include "mtq.h"

/* A function this worker serves, and the command that runs it.  Every
 * string is owned by whoever holds the struct (the config, or a function
 * set of functions_dir.h); mtq_function_cleanup frees them. */
typedef struct {
  char *name;
  char *version;
  char **argv; /* NULL-terminated, argv[0] is the program */
  /* For the registry; NULL when not given. */
  char *description;
  char *developer;
  char *contact;
  /* Where it was defined: the INI file, or the version directory. */
  char *source;
  bool from_dir;
  /* sha256 of the files it runs, 64 hex digits (functions_dir.h); "" until
   * computed. */
  char digest[65];
} mtq_function_t;

void mtq_function_cleanup(mtq_function_t *f);
/* A deep copy of src into *dst (caller cleans up). */
void mtq_function_copy(mtq_function_t *dst, const mtq_function_t *src);

typedef struct {
  mtq_config_t base; /* [database], [security] */
  char *worker_id;
  char **channels;
  size_t n_channels;
  int concurrency;
  int64_t poll_interval_ms;
  int64_t heartbeat_interval_ms;
  int64_t grace_period_ms;
  int64_t lease_ms;
  int64_t idle_poll_ms; /* an idle worker reads its lanes at least this often */
  int64_t metrics_interval_ms; /* its metrics document is written this often */
  bool wake;            /* listen for wake-up datagrams */
  int64_t wake_port;    /* their UDP port; 0: any free one */
  char **tags; /* what this worker offers (redundancy requirements name one) */
  size_t n_tags;
  mtq_function_t *functions;
  size_t n_functions;
  /* The function registry (functions_dir.h, sync.c). */
  char *function_dir;   /* NULL: functions come from the INI alone */
  char **sync_argv;     /* NULL: no sync command */
  int64_t sync_interval_s;
  int64_t sync_timeout_s;
  char *source;         /* the file the config was read from */
} mtq_worker_config_t;

/* Fills *cfg with defaults (no channels, no functions, concurrency = cores,
 * worker_id = host name). */
void mtq_worker_config_init(mtq_worker_config_t *cfg);
/* Frees everything the config owns; cfg may be reused after init. */
void mtq_worker_config_cleanup(mtq_worker_config_t *cfg);

/* The table entries of [worker] and [function NAME] for mtq_config_parse,
 * filling cfg (borrowed: it must outlive the parse).  Writes
 * MTQ_WORKER_CONFIG_SECTIONS entries to out. */
#define MTQ_WORKER_CONFIG_SECTIONS 2
void mtq_worker_config_sections(mtq_worker_config_t *cfg, mtq_config_section_t *out);
/* After a parse: every [function NAME] has a command, and sync_command
 * comes with a function_dir. */
bool mtq_worker_config_check(const mtq_worker_config_t *cfg, const char *source,
                             bson_error_t *error);

/* Parses INI text (len bytes) or a file: the shared sections, the worker's
 * own, and [coordinator] skipped. */
bool mtq_worker_config_parse(mtq_worker_config_t *cfg, const char *text, size_t len,
                             const char *source, bson_error_t *error);
bool mtq_worker_config_load(mtq_worker_config_t *cfg, const char *path, bson_error_t *error);

/* Finds a served function by name; NULL when this config does not serve it.
 * Borrowed pointer into cfg. */
const mtq_function_t *mtq_worker_config_function(const mtq_worker_config_t *cfg,
                                                 const char *name);

#endif
