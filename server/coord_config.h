/* coord_config.h - mtqd's configuration: [coordinator], besides the shared
 * [database] and [security] (mtq_config.h).
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
 *   dispatch_interval_ms = 500   ; how often redundant tasks are looked at
 *   perf_refresh_ms = 10000      ; how often placement rereads the run records
 *   segment_retire_s = 600       ; an empty lane segment is dropped this long
 *                                ; after its window ended (common/store/segment.c)
 *   id = db1                     ; its name in the metrics collection (default:
 *                                ; the host name; two mtqd on one host need two)
 *   metrics_interval_ms = 10000  ; how often its counters are published
 *
 * [worker] and [function NAME] are mtq-worker's: skipped here. */
#ifndef MTQD_COORD_CONFIG_H
#define MTQD_COORD_CONFIG_H

#include "mtq.h"

#define MTQ_RETAIN_MAX_S (10LL * 366 * 24 * 3600)
#define MTQ_RETENTION_BATCH_MAX 10000

typedef struct {
  mtq_config_t base; /* [database], [security] */
  char **channels;
  size_t n_channels;
  int64_t lost_after_ms;
  int64_t sweep_interval_ms;
  int64_t reconcile_interval_ms;
  int64_t max_backlog;          /* per channel; 0 = no limit */
  int64_t dispatch_interval_ms; /* how often mtqd looks at redundant tasks */
  int64_t perf_refresh_ms;      /* how often placement rereads the run records */
  int64_t retain_done_s;        /* 0 = keep forever */
  int64_t retain_failed_s;      /* failed, dead and cancelled; 0 = keep forever */
  int64_t retention_interval_ms;
  int64_t retention_batch;
  int64_t segment_retire_s;     /* see mtq_store_set_segment_retire */
  char *id;                     /* a valid name; default the host name */
  int64_t metrics_interval_ms;
} mtq_coord_config_t;

/* Fills *cfg with defaults. */
void mtq_coord_config_init(mtq_coord_config_t *cfg);
void mtq_coord_config_cleanup(mtq_coord_config_t *cfg);

/* The table entry of [coordinator] for mtq_config_parse, filling cfg
 * (borrowed: it must outlive the parse). */
mtq_config_section_t mtq_coord_config_section(mtq_coord_config_t *cfg);

/* Reads a file: the shared sections, [coordinator], and the worker's
 * sections skipped. */
bool mtq_coord_config_load(mtq_coord_config_t *cfg, const char *path, bson_error_t *error);

#endif
