/* duty.c - a daemon's recurring work on a libuv loop (see duty.h). */
#include <string.h>

#include "duty.h"
#include "mtq_error.h"
#include "mtq_log.h"

int64_t mtq_backoff_next(int64_t backoff_ms) {
  if (backoff_ms < MTQ_BACKOFF_MIN_MS) {
    return MTQ_BACKOFF_MIN_MS;
  }
  return backoff_ms * 2 > MTQ_BACKOFF_MAX_MS ? MTQ_BACKOFF_MAX_MS : backoff_ms * 2;
}

static void duty_due(uv_timer_t *timer);

void mtq_duty_init(mtq_duty_t *d, uv_loop_t *loop, const char *name, mtq_duty_prepare_fn prepare,
                   mtq_duty_run_fn run, mtq_duty_next_fn next, void *data) {
  memset(d, 0, sizeof *d);
  d->loop = loop;
  d->name = name;
  d->prepare = prepare;
  d->run = run;
  d->next = next;
  d->data = data;
  uv_timer_init(loop, &d->timer);
  d->timer.data = d;
  d->work.data = d;
}

void mtq_duty_arm(mtq_duty_t *d, int64_t delay_ms) {
  if (d->closed) {
    return;
  }
  uv_timer_start(&d->timer, duty_due, (uint64_t)(delay_ms < 0 ? 0 : delay_ms), 0);
}

void mtq_duty_arm_sooner(mtq_duty_t *d, int64_t delay_ms) {
  if (d->closed) {
    return;
  }
  uint64_t delay = (uint64_t)(delay_ms < 0 ? 0 : delay_ms);
  if (uv_is_active((uv_handle_t *)&d->timer) && uv_timer_get_due_in(&d->timer) <= delay) {
    return;
  }
  uv_timer_start(&d->timer, duty_due, delay, 0);
}

bool mtq_duty_in_flight(const mtq_duty_t *d) { return d->in_flight; }

int64_t mtq_duty_backoff(mtq_duty_t *d) {
  d->backoff_ms = mtq_backoff_next(d->backoff_ms);
  return d->backoff_ms;
}

/* Runs in the thread pool: nothing here touches the loop. */
static void duty_work(uv_work_t *work) {
  mtq_duty_t *d = work->data;
  uint64_t started_ns = uv_hrtime();
  memset(&d->error, 0, sizeof d->error);
  d->ok = d->run(d, &d->error);
  d->took_ms = (int64_t)((uv_hrtime() - started_ns) / 1000000u);
}

/* Logs a failure once: the same message again (the database still down) goes
 * to debug, so that a long outage does not flood the log. */
static void duty_report(mtq_duty_t *d, int64_t retry_ms) {
  if (d->ok) {
    if (d->failing) {
      mtq_info("%s: working again", d->name);
    }
    d->failing = false;
    d->logged[0] = '\0';
    d->backoff_ms = 0;
    return;
  }
  const char *what = mtq_error_is_transient(&d->error) ? "database unreachable: " : "";
  bool repeat = d->failing && strcmp(d->logged, d->error.message) == 0;
  if (retry_ms >= 0) {
    mtq_log(repeat ? MTQ_LOG_DEBUG : MTQ_LOG_WARN, "%s failed: %s%s (retrying in %.1f s)", d->name,
            what, d->error.message, (double)retry_ms / 1000.0);
  } else {
    mtq_log(repeat ? MTQ_LOG_DEBUG : MTQ_LOG_WARN, "%s failed: %s%s", d->name, what,
            d->error.message);
  }
  d->failing = true;
  memcpy(d->logged, d->error.message, sizeof d->logged);
}

static void duty_done(uv_work_t *work, int status) {
  mtq_duty_t *d = work->data;
  d->in_flight = false;
  if (status != 0 || d->closed) {
    return;
  }
  int64_t delay_ms = d->next(d);
  duty_report(d, delay_ms);
  if (delay_ms >= 0) {
    mtq_duty_arm(d, delay_ms);
  }
}

static void duty_due(uv_timer_t *timer) {
  mtq_duty_t *d = timer->data;
  if (d->in_flight || d->closed || (d->prepare && !d->prepare(d))) {
    return;
  }
  d->in_flight = true;
  int rc = uv_queue_work(d->loop, &d->work, duty_work, duty_done);
  if (rc != 0) {
    /* Cannot happen with valid arguments; retry rather than stall. */
    d->in_flight = false;
    mtq_err("%s: cannot queue work: %s", d->name, uv_strerror(rc));
    mtq_duty_arm(d, 1000);
  }
}

void mtq_duty_close(mtq_duty_t *d) {
  if (d->closed) {
    return;
  }
  d->closed = true;
  uv_close((uv_handle_t *)&d->timer, NULL);
}
