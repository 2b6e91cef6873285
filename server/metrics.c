/* metrics.c - what mtqd counts of its duties (README "Metrics"), in the
 * registry of its publisher (runtime/publish.h), and the upkeep of the
 * metrics collection: the leader removes the documents of processes that
 * have not written theirs for a day (gone for good: a live process writes
 * every metrics_interval_ms), once an hour.
 *
 * mtqd's counters are the coordinator's own view, labelled by channel
 * where a duty works per channel: one mtqd's leases_expired say what that
 * mtqd expired, and with several the sum over them is the cluster's. */
#include <stdio.h>

#include "coordinator_private.h"

#define PRUNE_EVERY_MS (3600 * 1000)
#define STALE_AFTER_MS (24 * 3600 * 1000)

void mtq__count(mtq_coordinator_t *co, const char *name, const char *channel,
                const char *outcome, double n) {
  const char *labels[5] = {NULL};
  size_t k = 0;
  if (channel) {
    labels[k++] = "channel";
    labels[k++] = channel;
  }
  if (outcome) {
    labels[k++] = "outcome";
    labels[k++] = outcome;
  }
  mtq_metrics_count(co->publisher.metrics, name, labels, n);
}

/* In the thread pool, after each write of the document. */
static void upkeep(mtq_publisher_t *p, void *data) {
  mtq_coordinator_t *co = data;
  bool leading = mtq__leading(co);
  mtq_metrics_set(p->metrics, "coordinator_leading", NULL, leading ? 1 : 0);
  int64_t now = mtq_now_ms();
  if (!leading || now - co->metrics_pruned_ms < PRUNE_EVERY_MS) {
    return;
  }
  size_t n = 0;
  bson_error_t err;
  if (!mtq_store_metrics_prune(co->store, now - STALE_AFTER_MS, &n, &err)) {
    mtq_warn("cannot remove stale metrics documents: %s", err.message);
    return; /* tried again after the next write */
  }
  co->metrics_pruned_ms = now;
  if (n) {
    mtq_info("removed %zu metrics document%s of processes silent for a day", n,
             n == 1 ? "" : "s");
  }
  /* The function registry's documents of workers gone for good, on the
   * same clock: each worker writes only its own, so nobody else would. */
  n = 0;
  if (!mtq_store_functions_prune(co->store, now - STALE_AFTER_MS, &n, &err)) {
    mtq_warn("cannot remove the registry documents of workers gone: %s", err.message);
  } else if (n) {
    mtq_info("removed %zu function registry document%s of workers silent for a day", n,
             n == 1 ? "" : "s");
  }
}

void mtq__metrics_init(mtq_coordinator_t *co) {
  mtq_publisher_init(&co->publisher, co->loop, co->store, "coordinator", co->cfg->id,
                     mtq_now_ms(), co->cfg->metrics_interval_ms);
  co->publisher.also = upkeep;
  co->publisher.also_data = co;
}
