/* bench.h - what the commands of mtq-bench share.
 *
 * Every command prints "key=value" lines on stdout, which bench/run.sh
 * collects into bench/REPORT.md.  Every command is bounded in time and in
 * count, so that it finishes on a slow store too, and says how far it got. */
#ifndef MTQ_BENCH_H
#define MTQ_BENCH_H

#include <mongoc/mongoc.h>
#include <stddef.h>
#include <stdint.h>

#include "mtq.h"

typedef struct {
  const char *uri;
  const char *channel;
  const char *func;
  int64_t n;          /* tasks (ceiling, enqueue, latency) */
  int64_t to;         /* fill: the backlog to reach */
  int64_t batch;      /* tasks per call */
  int64_t segment;    /* ceiling: tasks per live collection */
  int64_t max_tasks;  /* drain: stop after this many */
  double max_s;       /* every command: stop after this long */
  int64_t repeat;     /* probe: calls of each kind */
  int64_t gap_ms;     /* latency: the most a producer waits between tasks */
  int64_t interval_ms;/* drain: between two reads */
  int64_t expect;     /* drain: the tasks in the channel at the start (-1: count them) */
} bench_opts_t;

/* Monotonic clock in microseconds. */
int64_t bench_now_us(void);
double bench_since_s(int64_t t0_us);
/* Sorts v in place and returns its q-quantile (0..1); 0 when n is 0. */
double bench_quantile(double *v, size_t n, double q);
/* Prints "mtq-bench: what: message" and exits 1. */
void bench_die(const char *what, const bson_error_t *e);
/* A client for o->uri, or exits.  Caller destroys. */
mtq_client_t *bench_client(const bench_opts_t *o);
/* The channel's tasks not yet ended (mtq_store_backlog), or exits. */
int64_t bench_backlog(mtq_store_t *store, const char *channel);
void bench_sleep_ms(int64_t ms);
/* A bare driver client for o->uri and its database (the ceiling's
 * collections, the drain's count of results), NULL on a bad URI.  Caller
 * destroys both. */
mongoc_client_t *bench_connect_raw(const bench_opts_t *o, mongoc_uri_t **uri, const char **db);

int bench_ceiling(const bench_opts_t *o); /* ceiling.c */
int bench_inserts(const bench_opts_t *o); /* ceiling.c */
int bench_fill(const bench_opts_t *o);    /* fill.c */
int bench_enqueue(const bench_opts_t *o); /* fill.c */
int bench_drain(const bench_opts_t *o);   /* drain.c */
int bench_probe(const bench_opts_t *o);   /* probe.c */
int bench_latency(const bench_opts_t *o); /* latency.c */

#endif
