/* metrics.c - what the worker counts of its tasks (README "Metrics"), in
 * the registry of its publisher (runtime/publish.h), which writes them to
 * the metrics collection every metrics_interval_ms.
 *
 * Every series is labelled channel, func and version.  A copy of a
 * redundant task counts under its parent's channel (origin), not its own
 * "to.<worker>": the channel an operator enqueued into, and one label
 * value less per worker.  The functions and versions a worker runs are
 * those its configuration serves (a task of another is failed unrun, and
 * counted under its own names), so the label sets are bounded by the
 * configuration; the registry's cap bounds the rest. */
#include "worker_private.h"

static const char *const names[] = {
    [MTQ__TASK_STARTED] = "tasks_started",
    [MTQ__TASK_DONE] = "tasks_finished",
    [MTQ__TASK_FAILED] = "tasks_failed",
    [MTQ__TASK_RETRY] = "task_retries",
    [MTQ__TASK_REQUEUED] = "tasks_requeued",
    [MTQ__TASK_LEASE_LOST] = "leases_lost",
    [MTQ__TASK_LEASE_UNRENEWED] = "leases_unrenewed",
    [MTQ__TASK_REFUSED] = "outcomes_refused",
};

void mtq__metrics_task(mtq_worker_t *w, const mtq_task_t *t, mtq__task_event_t ev,
                       int64_t run_ms) {
  const char *channel = mtq_task_is_copy(t) && t->origin[0] ? t->origin : t->channel;
  const char *const labels[] = {"channel", channel, "func", t->func, "version", t->version, NULL};
  mtq_metrics_t *m = w->publisher.metrics;
  mtq_metrics_count(m, names[ev], labels, 1);
  if (ev == MTQ__TASK_STARTED && t->claimed_at > 0) {
    /* As the run records count it (README "Performance records"): from
     * when it could first have run to its claim. */
    int64_t ready = t->not_before > t->created_at ? t->not_before : t->created_at;
    mtq_metrics_observe(m, "task_wait_seconds", labels, (double)(t->claimed_at - ready) / 1e3);
  }
  /* Only runs that ended by themselves say how long the function takes:
   * an aborted one was cut short. */
  if ((ev == MTQ__TASK_DONE || ev == MTQ__TASK_FAILED || ev == MTQ__TASK_RETRY) && run_ms >= 0) {
    mtq_metrics_observe(m, "task_run_seconds", labels, (double)run_ms / 1e3);
  }
}

void mtq__metrics_init(mtq_worker_t *w) {
  mtq_publisher_init(&w->publisher, w->loop, w->store, "worker", w->cfg->worker_id,
                     w->started_at_ms, w->cfg->metrics_interval_ms);
}
