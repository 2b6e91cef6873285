/* throughput.h - attempts ended per minute and channel (pure). */
#ifndef MTQ_WEB_THROUGHPUT_H
#define MTQ_WEB_THROUGHPUT_H

#include <bson/bson.h>

#include "mtq_perf.h"

/* Appends "throughput": [{"minute": date, "channel": "...", "done": n,
 * "failed": n}, ...] to out, oldest minute first, from the n run records
 * that ended at since_ms or later.  done counts attempts that ended done;
 * failed every other end (retry_wait, dead, failed, requeued) except those
 * stopped from outside (cancelled, suspended), which are left out. */
void mtq__web_throughput(const mtq_run_t *runs, size_t n, int64_t since_ms, bson_t *out);

#endif
