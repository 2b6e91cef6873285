/* segment.h - a lane's segments, its directory, and the walk over every
 * place a channel's live tasks can be (see the top of segment.c).  Private
 * to the store. */
#ifndef MTQ_STORE_SEGMENT_H
#define MTQ_STORE_SEGMENT_H

#include "store_private.h"

#define MTQ__WINDOW_S 10     /* a window of task ids' time, in seconds */
#define MTQ__SEGMENT_MAX 512 /* tasks in one private segment */
#define MTQ__SHARED_MAX 64   /* tasks one producer puts in a window's shared segment */
#define MTQ__COLL_NAME_MAX (MTQ_NAME_MAX + 64)

/* The segment an id names ("" when it names none: another program's id). */
void mtq__seg_of_id(const bson_oid_t *id, char seg[MTQ_SEG_MAX]);
/* A segment's window, -1 for the inbox (""). */
int64_t mtq__seg_window(const char *seg);
/* Chooses the segment of a new task of this producer and marks its id
 * with it (before the task is signed: the id is signed); sets task->seg. */
void mtq__seg_assign(mtq_store_t *store, mtq_task_t *task);

/* The collection of a segment ("" = the inbox), and its name. */
mongoc_collection_t *mtq__seg_coll(mtq_store_t *store, mongoc_client_t *client,
                                   const char *channel, int32_t priority, const char *seg);
void mtq__seg_coll_name(const char *channel, int32_t priority, const char *seg, char *out,
                        size_t size);
/* Lists a segment in its directory (after inserting into it). */
bool mtq__seg_list(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                   int32_t priority, const char *seg, bson_error_t *error);
/* Up to max listed segments in name order, after skipping skip. */
bool mtq__seg_dir(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                  int32_t priority, size_t skip, size_t max, char (*out)[MTQ_SEG_MAX],
                  size_t *n, bson_error_t *error);

/* Whether a segment's window ended more than a window ago: empty, it
 * leaves its directory (polls stop reading it). */
bool mtq__seg_ended(const char *seg, int64_t now_ms);
/* Whether a segment's window ended the store's retirement delay ago
 * (mtq_store_set_segment_retire): empty, its collection is dropped. */
bool mtq__seg_closed(mtq_store_t *store, const char *seg, int64_t now_ms);
/* Retires an empty segment under the segment lock: count, unlist, count
 * again, and with drop, drop the collection; *retired when it is unlisted
 * (and with drop, gone).  A non-empty one stays listed. */
bool mtq__seg_retire(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                     int32_t priority, const char *seg, bool drop, bool *retired,
                     bson_error_t *error);
/* The segment lock: mtqd's releases into a segment (any window) and its
 * retirements take turns (segment.c). */
void mtq__seg_lock(mtq_store_t *store);
void mtq__seg_unlock(mtq_store_t *store);
/* Relists non-empty segments missing from their directory and drops
 * empty closed ones. */
bool mtq__seg_orphans(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                      size_t *relisted, size_t *dropped, bson_error_t *error);

/* The walk over every collection a channel's live tasks can be in, in the
 * order tasks move through them: the delayed collection, then each
 * priority from the highest: its inbox, its side lane, its listed
 * segments in name order. */
#define MTQ__PLACES_PAGE 64
typedef struct mtq__places {
  mtq_store_t *store;
  mongoc_client_t *client;
  char channel[MTQ_NAME_MAX + 1];
  int stage;
  int32_t priority;
  char page[MTQ__PLACES_PAGE][MTQ_SEG_MAX];
  size_t n_page, i_page, skip;
  bool failed;
  /* The place last returned: */
  int32_t lane;            /* its priority; -1 for the delayed collection */
  bool moved;              /* a side lane */
  char seg[MTQ_SEG_MAX];   /* a segment; "" otherwise */
} mtq__places_t;
void mtq__places_init(mtq__places_t *it, mtq_store_t *store, mongoc_client_t *client,
                      const char *channel);
/* The next place (caller destroys), NULL at the end or on an error
 * (it->failed, *error set). */
mongoc_collection_t *mtq__places_next(mtq__places_t *it, bson_error_t *error);
/* Calls fn for every place; stops at the first false. */
typedef bool (*mtq__place_fn)(void *ctx, mongoc_collection_t *coll, const mtq__places_t *at,
                              bson_error_t *error);
bool mtq__each_place(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                     mtq__place_fn fn, void *ctx, bson_error_t *error);

#endif
