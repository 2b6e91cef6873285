/* mtq_function.h - the function registry: the documents of the `functions`
 * collection (schemas/function.schema.json), and the view of it that
 * `mtq functions` and the dashboard show.
 *
 * One document per function version and worker, _id "NAME@VERSION/WORKER",
 * written by that worker alone: FerretDB runs an update as a read and a
 * separate write, so two workers writing one shared document could each
 * lose what the other wrote (two checkouts of one version with different
 * digests, say).  With one writer per document nothing is lost, and the
 * view of a version (mtq_function_registry) is computed from all of its
 * documents and from whoami, which says which workers are alive and serve
 * it now.
 *
 *   state "served":  the worker loaded the version (its INI file or its
 *                    function_dir): description, developer, contact, the
 *                    command, the digest of the files it runs, where it
 *                    came from; created_at when the worker first served it,
 *                    updated_at when any of that last changed.
 *   state "missing": tasks in the worker's channel name a version that no
 *                    live worker serves, and the worker's sync did not
 *                    bring it: the channel, how many tasks the worker saw
 *                    (at most its probe's limit), when it last synced, why
 *                    it is missing; created_at when it was first wanted.
 *
 * Nothing here talks to the database. */
#ifndef MTQ_FUNCTION_H
#define MTQ_FUNCTION_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#include "mtq_task.h"
#include "mtq_whoami.h"

#define MTQ_DIGEST_HEX 64
/* "NAME@VERSION/WORKER" and its NUL. */
#define MTQ_FUNCTION_ID_MAX (3 * MTQ_NAME_MAX + 3)

/* X(enum suffix, stored name) */
#define MTQ_FUNCTION_STATE_MAP(X) \
  X(SERVED, "served")             \
  X(MISSING, "missing")

typedef enum {
  MTQ_FUNCTION_STATE_UNKNOWN = -1,
#define MTQ__FUNCTION_STATE_ENUM(e, s) MTQ_FUNCTION_STATE_##e,
  MTQ_FUNCTION_STATE_MAP(MTQ__FUNCTION_STATE_ENUM)
#undef MTQ__FUNCTION_STATE_ENUM
} mtq_function_state_t;

/* Stored name of a state; "unknown" otherwise.  Static string. */
const char *mtq_function_state_name(mtq_function_state_t state);

/* One document of the collection.  The char * members are owned (NULL when
 * absent); mtq_function_record_cleanup frees them. */
typedef struct {
  char name[MTQ_NAME_MAX + 1];
  char version[MTQ_NAME_MAX + 1];
  char worker[MTQ_NAME_MAX + 1];
  mtq_function_state_t state;
  int64_t created_at_ms;
  int64_t updated_at_ms;
  /* served */
  char *description;
  char *developer;
  char *contact;
  char **command; /* NULL-terminated argv */
  char *source;   /* the INI file, or the version directory */
  bool from_dir;
  char digest[MTQ_DIGEST_HEX + 1];
  /* missing */
  char channel[MTQ_NAME_MAX + 1];
  int64_t tasks_seen;
  int64_t last_sync_at_ms; /* 0: no sync ran */
  char *why;
} mtq_function_record_t;

void mtq_function_record_init(mtq_function_record_t *r);
void mtq_function_record_cleanup(mtq_function_record_t *r);
/* "NAME@VERSION/WORKER" into out (size >= MTQ_FUNCTION_ID_MAX). */
void mtq_function_record_id(const char *name, const char *version, const char *worker, char *out,
                            size_t size);

/* Appends the whole document, _id first, to doc (empty). */
void mtq_function_record_to_bson(const mtq_function_record_t *r, bson_t *doc);
/* Reads a document into r (initialised by the caller; cleaned and refilled).
 * False when its name, version, worker or state is missing or invalid; any
 * other field of the wrong type reads as absent. */
bool mtq_function_record_from_bson(mtq_function_record_t *r, const bson_t *doc);
/* Whether a and b say the same, their times aside: what decides whether a
 * worker rewrites its document (and moves updated_at). */
bool mtq_function_record_same(const mtq_function_record_t *a, const mtq_function_record_t *b);

/* A growable array of records; the list owns every one in it. */
typedef struct {
  mtq_function_record_t *items;
  size_t n;
} mtq_function_record_list_t;

void mtq_function_record_list_init(mtq_function_record_list_t *list);
/* A new initialised slot at the end (owned by the list). */
mtq_function_record_t *mtq_function_record_list_push(mtq_function_record_list_t *list);
void mtq_function_record_list_cleanup(mtq_function_record_list_t *list);

/* Orders versions as people number them: runs of digits by value
 * ("2" < "10"), the rest byte by byte.  strcmp's sign convention. */
int mtq_function_version_cmp(const char *a, const char *b);

/* The registry as one document, {"functions": [...]}, one entry per
 * function version (by name, then version), each with:
 *   name, version, description, developer, contact, command, digest (those
 *   of the newest served record), digests_agree (false when workers run
 *   different files under one version), created_at (the earliest record),
 *   updated_at (the latest),
 *   workers: [{id, live, digest, source, updated_at}]: the workers whose
 *     record says they serve it, and those whose whoami announces it
 *     without a record (workers of an older mtq); live when its whoami
 *     says running and announces the version,
 *   missing: [{worker, channel, since, last_sync_at, tasks_seen, why}]
 *     of the running workers that want it, while no live worker serves it.
 * A version whose only documents are the wants of workers that stopped is
 * left out: nobody wants it any more.
 * records and workers are borrowed; out must be empty (caller destroys). */
void mtq_function_registry(const mtq_function_record_list_t *records,
                           const mtq_whoami_list_t *workers, bson_t *out);

#endif
