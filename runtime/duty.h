/* duty.h - a daemon's recurring work on a libuv loop.
 *
 * A duty is a timer armed for when the work is next due (never a fixed
 * tick), the work itself in libuv's thread pool (libmongoc is synchronous:
 * database calls never run on the loop), and its result back on the loop,
 * which decides when the duty is due again.  A duty is never in flight
 * twice.  A failure is logged once, with the delay before the next try; the
 * same failure again (the database still away) goes to debug, and the first
 * success after it is logged.  mtqd's duties (lost workers, leases, delayed
 * tasks, ...) and mtq-worker's (start check, poll, heartbeat, lease
 * renewal) all run on it.
 *
 * The caller owns the mtq_duty_t and keeps it alive until the loop is done
 * with it: close it (mtq_duty_close), then run the loop until it returns. */
#ifndef MTQ_DUTY_H
#define MTQ_DUTY_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* Backoff for retrying what failed transiently: 500 ms, doubling, at most
 * 10 s.  mtq_backoff_next(0) is the first wait. */
#define MTQ_BACKOFF_MIN_MS 500
#define MTQ_BACKOFF_MAX_MS 10000
int64_t mtq_backoff_next(int64_t backoff_ms);

typedef struct mtq_duty mtq_duty_t;

/* On the loop, when the duty is due: false skips this run (the duty then
 * waits until it is armed again).  Takes the snapshot the work needs. */
typedef bool (*mtq_duty_prepare_fn)(mtq_duty_t *d);
/* In the thread pool: store calls only, no loop calls.  Fills error (the
 * first failure) and returns false when the work failed. */
typedef bool (*mtq_duty_run_fn)(mtq_duty_t *d, bson_error_t *error);
/* On the loop once the work is back: milliseconds until the duty is due
 * again, or -1 to wait until it is armed. */
typedef int64_t (*mtq_duty_next_fn)(mtq_duty_t *d);

struct mtq_duty {
  /* Set by mtq_duty_init; data is the caller's. */
  uv_loop_t *loop;
  const char *name; /* for the log: "lease sweep" */
  mtq_duty_prepare_fn prepare;
  mtq_duty_run_fn run;
  mtq_duty_next_fn next;
  void *data;
  /* Written by the work, read on the loop once it is back (by next()). */
  bool ok;
  bson_error_t error;
  int64_t took_ms;
  /* Loop only. */
  int64_t backoff_ms; /* the current wait after failures; 0 after a success */
  uv_timer_t timer;
  uv_work_t work;
  bool in_flight;
  bool closed;
  bool failing;
  char logged[sizeof(((bson_error_t *)0)->message)]; /* the failure last logged */
};

/* prepare may be NULL.  The duty is idle until armed. */
void mtq_duty_init(mtq_duty_t *d, uv_loop_t *loop, const char *name, mtq_duty_prepare_fn prepare,
                   mtq_duty_run_fn run, mtq_duty_next_fn next, void *data);
/* Due in delay_ms (0 = on the next loop iteration), replacing when it was
 * due.  A duty in flight runs again after its work is back only if next()
 * says so. */
void mtq_duty_arm(mtq_duty_t *d, int64_t delay_ms);
/* Due within delay_ms: never later than it already is. */
void mtq_duty_arm_sooner(mtq_duty_t *d, int64_t delay_ms);
/* Work in the thread pool, not back yet. */
bool mtq_duty_in_flight(const mtq_duty_t *d);
/* The wait after this failure (mtq_backoff_next of the last one); a
 * success resets it.  For next(). */
int64_t mtq_duty_backoff(mtq_duty_t *d);
/* Stops the duty: no more runs, next() is not called for work still in
 * flight (it finishes).  The timer is closed; safe to call twice. */
void mtq_duty_close(mtq_duty_t *d);

#endif
