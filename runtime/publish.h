/* publish.h - a daemon's metrics document, written every interval_ms.
 *
 * A publisher owns the process's registry (mtq_metrics.h), where the
 * daemon counts what it sees from any thread, and a duty (duty.h) that
 * writes the metrics document of the process every interval_ms:
 *
 *   {_id: "<kind>:<name>", kind, name, host, pid, at, started_at,
 *    interval_ms, counters, gauges, histograms, db: {counters, gauges,
 *    histograms}}
 *
 * (schemas/metrics.schema.json), db being the store's command statistics
 * (mtq_store_db_stats).  Only this process writes its document, so the
 * replace is safe on FerretDB.  The first is written when the publisher
 * is armed, so a process shows up at once; what it counted after its last
 * write before it stops is not published (a restart starts from zero
 * anyway: Prometheus sees a reset).
 *
 * The caller owns the publisher and keeps it alive until the loop is done
 * with it (mtq_publisher_close, then the loop runs out). */
#ifndef MTQ_PUBLISH_H
#define MTQ_PUBLISH_H

#include "duty.h"
#include "mtq.h"
#include "mtq_metrics.h"

#define MTQ_METRICS_INTERVAL_MS 10000

typedef struct mtq_publisher mtq_publisher_t;

/* In the thread pool after each write (which may have failed): the
 * daemon's own upkeep of the collection (mtqd prunes stale documents). */
typedef void (*mtq_publisher_also_fn)(mtq_publisher_t *p, void *data);

struct mtq_publisher {
  mtq_duty_t duty;
  mtq_store_t *store;     /* borrowed */
  mtq_metrics_t *metrics; /* owned: count into it */
  char id[2 * MTQ_NAME_MAX + 16];
  char kind[16];
  char name[MTQ_HOST_MAX + 1];
  char host[MTQ_HOST_MAX + 1];
  int32_t pid;
  int64_t started_at_ms;
  int64_t interval_ms;
  mtq_publisher_also_fn also;
  void *also_data;
};

/* kind: "worker" or "coordinator"; name: the process's id (borrowed,
 * copied).  The registry is made here. */
void mtq_publisher_init(mtq_publisher_t *p, uv_loop_t *loop, mtq_store_t *store,
                        const char *kind, const char *name, int64_t started_at_ms,
                        int64_t interval_ms);
/* Writes now, then every interval_ms. */
void mtq_publisher_start(mtq_publisher_t *p);
bool mtq_publisher_in_flight(const mtq_publisher_t *p);
/* No more writes (one in flight finishes). */
void mtq_publisher_close(mtq_publisher_t *p);
/* After the loop is done with it: frees the registry. */
void mtq_publisher_destroy(mtq_publisher_t *p);

/* The document as it would be written now, into doc (initialised by the
 * caller).  For the duty, and for tests. */
void mtq_publisher_doc(mtq_publisher_t *p, int64_t now_ms, bson_t *doc);

#endif
