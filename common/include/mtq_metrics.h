/* mtq_metrics.h - a process's own counters, gauges and histograms, Prometheus
 * style, and their document form (schemas/metrics.schema.json).
 *
 * Every long-lived mtq process counts what it sees (a worker its tasks,
 * mtqd its duties, every store its database commands) in a registry and
 * publishes it to the `metrics` collection (mtq_store_metrics_put); mtq-web
 * renders what the processes published (web/metrics.c).  A series is a
 * name and up to MTQ_METRICS_LABELS_MAX label pairs.  Counters only grow
 * while the process lives; a restart starts them at zero again, which the
 * published started_at makes visible (Prometheus' rate() treats it as a
 * reset).
 *
 * Cardinality is bounded: a registry holds at most MTQ_METRICS_SERIES_MAX
 * series; past that, a new label set of a name is counted in that name's
 * overflow series, whose every label value is MTQ_METRICS_OTHER.
 *
 * Thread-safe: every call takes the registry's lock (the store's command
 * callbacks run on whichever thread uses a client).  Nothing here talks to
 * the database. */
#ifndef MTQ_METRICS_H
#define MTQ_METRICS_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>

#define MTQ_METRICS_LABELS_MAX 4
#define MTQ_METRICS_SERIES_MAX 512
#define MTQ_METRICS_OTHER "_other"
/* A series name: [a-z_][a-z0-9_]*, at most this long (the rendered name adds
 * "mtq_" and, for a counter, "_total"). */
#define MTQ_METRICS_NAME_MAX 63

/* The upper bounds of every histogram's buckets, in seconds; a last bucket
 * (+Inf) takes the rest.  Task run and wait times, and database command
 * latencies, all fall somewhere in 5 ms .. 1 h. */
#define MTQ_METRICS_BOUNDS                                                                   \
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, \
      1800.0, 3600.0
#define MTQ_METRICS_N_BOUNDS 17

typedef struct mtq_metrics mtq_metrics_t;

/* Caller destroys. */
mtq_metrics_t *mtq_metrics_new(void);
void mtq_metrics_destroy(mtq_metrics_t *m);

/* labels: NULL, or a NULL-terminated list of name, value pairs (borrowed:
 * copied when the series is new), at most MTQ_METRICS_LABELS_MAX pairs; a
 * NULL or empty value is written as "".  name must be a valid series name
 * (a constant of the caller's); pairs beyond the maximum are dropped. */

/* Adds n (>= 0) to a counter. */
void mtq_metrics_count(mtq_metrics_t *m, const char *name, const char *const *labels, double n);
/* Sets a gauge. */
void mtq_metrics_set(mtq_metrics_t *m, const char *name, const char *const *labels, double v);
/* Adds one observation (seconds; a negative one counts as 0) to a histogram. */
void mtq_metrics_observe(mtq_metrics_t *m, const char *name, const char *const *labels,
                         double seconds);

/* Appends the registry to doc as three arrays, in the order series were
 * first used:
 *   counters:   [{name, labels: {k: v, ...}, value}]
 *   gauges:     [{name, labels, value}]
 *   histograms: [{name, labels, bounds: [le...], counts: [per bucket, the
 *                last one +Inf; not cumulative], sum, count}] */
void mtq_metrics_to_bson(mtq_metrics_t *m, bson_t *doc);

/* Whether s is a valid series or label name ([a-zA-Z_][a-zA-Z0-9_]*, at
 * most MTQ_METRICS_NAME_MAX bytes): what a renderer checks of names read
 * back from the database. */
bool mtq_metrics_name_valid(const char *s);

#endif
