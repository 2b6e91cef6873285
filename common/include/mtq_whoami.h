/* mtq_whoami.h - the worker document: one per worker in the `whoami`
 * collection, replaced at every heartbeat (schemas/worker.schema.json).
 *
 * The worker writes it (mtq_whoami_to_bson); mtqd's lost-worker sweep and
 * its dispatcher, and the CLI, read it (mtq_whoami_from_bson).  The reader
 * is lenient: a document written by another version of mtq, or edited by
 * hand, gives what it can, and a figure that is missing or of another type
 * reads as absent.  Nothing here talks to the database. */
#ifndef MTQ_WHOAMI_H
#define MTQ_WHOAMI_H

#include <bson/bson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtq_task.h"

#define MTQ_HOST_MAX 255
#define MTQ_HOSTINFO_MAX_GPUS 16
#define MTQ_HOSTINFO_GPU_NAME_MAX 96
/* Where a worker listens for wake-up datagrams: "IPv4:port" strings, at
 * most this many ("255.255.255.255:65535" and its NUL fit in the size). */
#define MTQ_WHOAMI_WAKE_MAX 16
#define MTQ_WHOAMI_WAKE_SIZE 24

/* One GPU; a figure nvidia-smi reports as "[N/A]" is NAN. */
typedef struct {
  int32_t index;
  char name[MTQ_HOSTINFO_GPU_NAME_MAX];
  double util_pct;
  double mem_used_mb;
  double mem_total_mb;
  double temp_c;
} mtq_hostinfo_gpu_t;

/* One reading of a worker's host.  A has_* flag is false when that figure
 * could not be read; the figure is then left out of the document. */
typedef struct {
  int32_t cores; /* 0: unknown */
  bool has_load;
  double load[3]; /* 1, 5 and 15 minute load averages */
  bool has_mem;
  int64_t mem_total_mb;
  int64_t mem_available_mb;
  bool has_disk;
  char disk_path[PATH_MAX];
  int64_t disk_total_mb;
  int64_t disk_free_mb;
  bool has_cpu_temp;
  double cpu_temp_c;
  size_t n_gpus;
  mtq_hostinfo_gpu_t gpus[MTQ_HOSTINFO_MAX_GPUS];
} mtq_hostinfo_t;

/* X(enum suffix, stored name) */
#define MTQ_WORKER_STATE_MAP(X) \
  X(RUNNING, "running")         \
  X(STOPPED, "stopped")         \
  X(LOST, "lost")

typedef enum {
  MTQ_WORKER_STATE_UNKNOWN = -1, /* a state this version does not know, or none */
#define MTQ__WORKER_STATE_ENUM(e, s) MTQ_WORKER_STATE_##e,
  MTQ_WORKER_STATE_MAP(MTQ__WORKER_STATE_ENUM)
#undef MTQ__WORKER_STATE_ENUM
} mtq_worker_state_t;

/* Stored name of a state; "unknown" for MTQ_WORKER_STATE_UNKNOWN.  Static string. */
const char *mtq_worker_state_name(mtq_worker_state_t state);

/* A function and version a worker serves. */
typedef struct {
  char name[MTQ_NAME_MAX + 1];
  char version[MTQ_NAME_MAX + 1];
} mtq_whoami_func_t;

typedef struct {
  char id[MTQ_NAME_MAX + 1];
  char host[MTQ_HOST_MAX + 1]; /* "" when unknown */
  int32_t pid;                 /* 0: unknown */
  mtq_worker_state_t state;
  char **channels; /* owned, n_channels names */
  size_t n_channels;
  mtq_whoami_func_t *functions; /* owned */
  size_t n_functions;
  char **tags; /* owned */
  size_t n_tags;
  int32_t concurrency; /* 0: unknown */
  int32_t running;     /* tasks running at the last heartbeat */
  int64_t started_at_ms;
  int64_t last_seen_ms; /* the worker's clock; 0: never */
  int64_t heartbeat_interval_ms;
  /* The addresses its wake-up socket listens on (worker/wake.c): every
   * non-loopback IPv4 address of its host, then 127.0.0.1, all with the
   * same port.  None when wake-ups are off. */
  char wake[MTQ_WHOAMI_WAKE_MAX][MTQ_WHOAMI_WAKE_SIZE];
  size_t n_wake;
  mtq_hostinfo_t hostinfo;
} mtq_whoami_t;

/* Zeroes *w (state unknown).  Use mtq_whoami_cleanup to free what it owns. */
void mtq_whoami_init(mtq_whoami_t *w);
void mtq_whoami_cleanup(mtq_whoami_t *w);

/* Appends names to the lists of w (copies; borrowed arguments). */
void mtq_whoami_add_channel(mtq_whoami_t *w, const char *channel);
void mtq_whoami_add_function(mtq_whoami_t *w, const char *name, const char *version);
void mtq_whoami_add_tag(mtq_whoami_t *w, const char *tag);
/* Appends a wake-up address "A.B.C.D:PORT" (port 1..65535); false, and
 * nothing added, when it is not one or the list is full. */
bool mtq_whoami_add_wake(mtq_whoami_t *w, const char *addr);
/* Parses "A.B.C.D:PORT" into *ip (network order) and *port (host order);
 * false when it is not one.  What add_wake accepts. */
bool mtq_whoami_wake_parse(const char *addr, uint32_t *ip, uint16_t *port);

/* Appends the whole document (with _id) to doc, which must be empty. */
void mtq_whoami_to_bson(const mtq_whoami_t *w, bson_t *doc);

/* Reads a whoami document into w (initialised by the caller; cleaned and
 * refilled).  False only when it has no valid worker id as _id; every other
 * field is read when it has the expected type and left absent otherwise. */
bool mtq_whoami_from_bson(mtq_whoami_t *w, const bson_t *doc);

/* What the document says the worker offers. */
bool mtq_whoami_has_channel(const mtq_whoami_t *w, const char *channel);
bool mtq_whoami_has_tag(const mtq_whoami_t *w, const char *tag);
/* func at version (any version when version is NULL). */
bool mtq_whoami_serves(const mtq_whoami_t *w, const char *func, const char *version);

/* A growable array of worker documents; the list owns every one in it. */
typedef struct {
  mtq_whoami_t *items;
  size_t n;
} mtq_whoami_list_t;

void mtq_whoami_list_init(mtq_whoami_list_t *list);
/* A new initialised slot at the end (owned by the list). */
mtq_whoami_t *mtq_whoami_list_push(mtq_whoami_list_t *list);
void mtq_whoami_list_cleanup(mtq_whoami_list_t *list);
/* The worker of that id, NULL when the list has none (borrowed). */
const mtq_whoami_t *mtq_whoami_list_find(const mtq_whoami_list_t *list, const char *id);

#endif
