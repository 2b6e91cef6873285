/* bench.h - shared helpers of mtq-bench. */
#ifndef MTQ_BENCH_H
#define MTQ_BENCH_H

#include <mongoc/mongoc.h>
#include <stddef.h>
#include <stdint.h>

/* Monotonic clock in microseconds. */
int64_t bench_now_us(void);
/* Sorts v in place and returns its q-quantile (0..1). */
double bench_quantile(double *v, size_t n, double q);

/* The bare database operations one task costs in mtq, issued directly:
 * insert task, poll (find limit 1), insert claim, mark running, read back,
 * insert result, delete, read result.  threads clients run them in parallel.
 * Prints one line and returns tasks per second. */
double bench_ceiling(const char *uri, int n, int threads);

#endif
