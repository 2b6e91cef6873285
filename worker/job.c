/* job.c - a claimed task from its run to its recorded outcome.
 *
 * A job holds one of the worker's slots from the claim until the database
 * has its outcome.  The outcome stays in memory, retried with backoff, for
 * as long as the database is unreachable: a result produced while the
 * database is down must not be lost, and keeping the slot meanwhile stops
 * the worker from taking on work it could not report either. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "worker_private.h"

typedef enum {
  JOB_RUNNING,   /* the child process is alive */
  JOB_RECORDING, /* finish or requeue in the thread pool */
  JOB_WAITING,   /* a transient failure: retry timer armed */
} job_state_t;

struct mtq__job {
  mtq__job_t *prev, *next;
  mtq_worker_t *w;
  job_state_t state;
  mtq_task_t task;
  char oid[25];
  mtq_runner_t *runner;

  /* The outcome.  requeue: give the task back instead of finishing it,
   * for requeue_reason (static string: a shutdown, a lease not renewed in
   * time, a claim too old to start).  Read by the thread pool while
   * RECORDING. */
  bool requeue;
  const char *requeue_reason;
  bool reject; /* refused unrun (bad signature): failed for good, error_text says why */
  bool ok;
  bson_t *result;
  char *error_text;

  bool op_ok;
  bson_error_t op_error;
  uv_timer_t retry_timer;
  int64_t backoff_ms;

  /* The lease.  renewed_ms: when the last renewal that succeeded was sent
   * (loop time), so that "renewed within half the lease" is measured from
   * before the database saw it.  fenced: the attempt was ended by someone
   * else; its outcome is not ours to record. */
  int64_t renewed_ms;
  bool fenced;
  /* The lease's identity, fixed at the claim: job->task changes in the
   * thread pool while the outcome is recorded, and the lease must be renewed
   * meanwhile too (a slow database must not cost the outcome). */
  bson_oid_t lease_id;
  int64_t lease_token;
  /* Suspended by an operator: its process is stopped (SIGSTOP), its slot,
   * lease and attempt kept; given back, it waits suspended. */
  bool suspended;
  int64_t run_ms; /* how long its process ran; -1 until it ran (metrics.c) */
};

static void record(mtq__job_t *job);

static mtq__job_t *job_new(mtq_worker_t *w, mtq_task_t *task) {
  mtq__job_t *job = bson_malloc0(sizeof *job);
  job->w = w;
  job->run_ms = -1;
  job->renewed_ms = (int64_t)uv_now(w->loop);
  bson_oid_copy(&task->id, &job->lease_id);
  job->lease_token = task->token;
  job->task = *task; /* move */
  mtq_task_init(task);
  bson_oid_to_string(&job->task.id, job->oid);
  uv_timer_init(w->loop, &job->retry_timer);
  job->retry_timer.data = job;
  job->next = w->jobs;
  if (w->jobs) {
    w->jobs->prev = job;
  }
  w->jobs = job;
  w->n_jobs++;
  return job;
}

static void on_job_closed(uv_handle_t *h) {
  mtq__job_t *job = h->data;
  mtq_task_cleanup(&job->task);
  if (job->result) {
    bson_destroy(job->result);
  }
  bson_free(job->error_text);
  bson_free(job);
}

/* Gives the slot back; the memory goes once the retry timer is closed. */
static void job_free(mtq__job_t *job) {
  mtq_worker_t *w = job->w;
  if (job->prev) {
    job->prev->next = job->next;
  } else {
    w->jobs = job->next;
  }
  if (job->next) {
    job->next->prev = job->prev;
  }
  w->n_jobs--;
  uv_close((uv_handle_t *)&job->retry_timer, on_job_closed);
  mtq__worker_schedule_poll(w, 0);
  mtq__worker_advance(w);
}

/* --- running ------------------------------------------------------------- */

/* The first line of an error, shortened for a log line; the database keeps
 * the whole text. */
static void error_summary(const char *text, char *out, size_t size) {
  size_t n = strcspn(text, "\n");
  if (n >= size) {
    n = size - 4;
    while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) {
      n--; /* do not cut a UTF-8 character in two */
    }
    snprintf(out, size, "%.*s...", (int)n, text);
  } else {
    snprintf(out, size, "%.*s", (int)n, text);
  }
}

static void on_runner_done(mtq_runner_outcome_t *o, void *data) {
  mtq__job_t *job = data;
  job->runner = NULL;
  job->w->n_running--;
  job->run_ms = o->duration_ms;
  double secs = (double)o->duration_ms / 1000.0;
  char summary[200];
  switch (o->status) {
  case MTQ_RUNNER_OK:
    mtq_info("task %s (%s) done in %.3f s", job->oid, job->task.func, secs);
    job->ok = true;
    job->result = o->result;
    break;
  case MTQ_RUNNER_FAILED:
    error_summary(o->error, summary, sizeof summary);
    mtq_info("task %s (%s) failed after %.3f s: %s", job->oid, job->task.func, secs, summary);
    job->error_text = o->error;
    break;
  case MTQ_RUNNER_ABORTED:
    if (!job->fenced) {
      mtq_info("task %s (%s) aborted after %.3f s; giving it back", job->oid, job->task.func,
               secs);
    }
    job->requeue = true;
    if (!job->requeue_reason) {
      job->requeue_reason = "worker shutdown";
    }
    bson_free(o->error);
    break;
  }
  if (job->fenced) {
    mtq_info("task %s: its attempt was ended elsewhere; outcome discarded", job->oid);
    job_free(job);
    return;
  }
  record(job);
}

/* With keys configured, only a task whose signature verifies runs: a task
 * edited in the database to change what runs (func, version, args,
 * timeouts) is refused and recorded as failed, never retried. */
static bool signature_ok(mtq__job_t *job) {
  const mtq_worker_config_t *cfg = job->w->cfg;
  if (mtq_keyring_empty(job->w->ring) || (!job->task.sig[0] && !cfg->base.require_signature)) {
    return true;
  }
  bson_error_t err;
  if (mtq_task_verify(job->w->ring, &job->task, &err)) {
    return true;
  }
  job->reject = true;
  job->error_text = bson_strdup_printf("rejected by worker %s: %s", cfg->worker_id, err.message);
  mtq_warn("task %s: %s", job->oid, job->error_text);
  return false;
}

void mtq__job_start(mtq_worker_t *w, mtq_task_t *task) {
  mtq__job_t *job = job_new(w, task);
  /* The lease runs from the claim, made in the thread pool; a poll slowed
   * down by the database may hand over a task whose lease nobody renewed
   * for a while.  Past half the lease mtqd may already be giving it to
   * another worker: it is not started here. */
  int64_t held_ms = mtq_now_ms() - job->task.claimed_at;
  job->renewed_ms -= held_ms > 0 ? held_ms : 0;
  if (held_ms > w->cfg->lease_ms / 2) {
    mtq_warn("task %s: claimed %lld ms ago, too long to start it safely; giving it back",
             job->oid, (long long)held_ms);
    job->requeue = true;
    job->requeue_reason = "claimed too long before it could start (worker or database slow)";
    record(job);
    return;
  }
  if (!signature_ok(job)) {
    record(job);
    return;
  }
  const mtq_function_t *fn = mtq_fnset_find(w->fns, job->task.func, job->task.version);
  if (!fn) {
    /* Polls skip such tasks, so this is a task edited between poll and
     * claim.  Failing it lets the store requeue it for a worker that does
     * serve it, if attempts remain. */
    job->error_text = bson_strdup_printf("worker %s does not serve %s version %s",
                                         w->cfg->worker_id, job->task.func, job->task.version);
    mtq_warn("task %s: %s", job->oid, job->error_text);
    record(job);
    return;
  }
  mtq_runner_opts_t opts = {
      .argv = fn->argv,
      .base_env = w->task_env,
      .worker_id = w->cfg->worker_id,
  };
  job->state = JOB_RUNNING;
  w->n_running++;
  mtq__metrics_task(w, &job->task, MTQ__TASK_STARTED, -1);
  job->runner = mtq_runner_start(w->loop, &opts, &job->task, on_runner_done, job);
  if (mtq_runner_pid(job->runner)) {
    mtq_debug("task %s (%s version %s, attempt %" PRId32 "/%" PRId32 ") started as pid %d",
              job->oid, job->task.func, job->task.version, job->task.attempt,
              job->task.max_attempts, mtq_runner_pid(job->runner));
  }
}

void mtq__job_give_back(mtq_worker_t *w, mtq_task_t *task) {
  mtq__job_t *job = job_new(w, task);
  job->requeue = true;
  job->requeue_reason = "worker shutdown";
  mtq_debug("task %s claimed as the worker stops; giving it back", job->oid);
  record(job);
}

void mtq__jobs_abort(mtq_worker_t *w, const char *reason) {
  for (mtq__job_t *job = w->jobs; job; job = job->next) {
    if (job->runner) {
      job->requeue_reason = reason;
      mtq_runner_abort(job->runner);
    }
  }
}

void mtq__jobs_abandon(mtq_worker_t *w) {
  mtq__job_t *job = w->jobs;
  while (job) {
    mtq__job_t *next = job->next;
    if (job->state == JOB_WAITING) {
      mtq_err("task %s: outcome abandoned, never recorded", job->oid);
      uv_timer_stop(&job->retry_timer);
      job_free(job);
    }
    job = next;
  }
}

/* --- recording ----------------------------------------------------------- */

/* Outcomes that finish close together are recorded together: at most this
 * many per batch, one batch in the thread pool at a time.  While other
 * tasks of the worker still run, the first outcome queued waits up to
 * END_LINGER_MS for theirs: slots of short tasks that end a few ms apart
 * are then recorded, and refilled by the next poll, in one round trip of
 * each kind instead of one each (four workers of four slots otherwise
 * write three times as often per task as one of sixteen).  A task's
 * outcome is recorded at most that much later; the last running task's
 * is not held at all. */
#define END_BATCH 64
#define END_LINGER_MS 10

static void record_batch_work(uv_work_t *req) {
  mtq_worker_t *w = req->data;
  mtq_end_t ends[END_BATCH];
  for (size_t i = 0; i < w->n_end_batch; i++) {
    mtq__job_t *job = w->end_batch[i];
    mtq_end_t *e = &ends[i];
    memset(e, 0, sizeof *e);
    e->task = &job->task;
    if (job->requeue) {
      e->kind = MTQ_END_REQUEUE;
      e->count_attempt = false;
      e->suspended = job->suspended;
      e->text = job->requeue_reason ? job->requeue_reason : "worker shutdown";
    } else if (job->reject) {
      e->kind = MTQ_END_REJECT;
      e->text = job->error_text;
    } else {
      e->kind = MTQ_END_FINISH;
      e->ok = job->ok;
      e->result = job->result;
      e->text = job->error_text;
    }
  }
  mtq_store_end_many(w->store, ends, w->n_end_batch);
  for (size_t i = 0; i < w->n_end_batch; i++) {
    w->end_batch[i]->op_ok = ends[i].recorded;
    w->end_batch[i]->op_error = ends[i].error;
  }
}

static void record_done(mtq__job_t *job);
static void record_batch_done(uv_work_t *req, int status);

static void record_kick(mtq_worker_t *w);
static void on_end_timer(uv_timer_t *t) {
  mtq_worker_t *w = t->data;
  w->end_due = true;
  record_kick(w);
}

void mtq__jobs_init(mtq_worker_t *w, uv_loop_t *loop) {
  uv_timer_init(loop, &w->end_timer);
  w->end_timer.data = w;
}

void mtq__jobs_close(mtq_worker_t *w) { uv_close((uv_handle_t *)&w->end_timer, NULL); }

/* Sends the queued outcomes as one batch, unless one is on its way or the
 * first of them still waits for the others (END_LINGER_MS). */
static void record_kick(mtq_worker_t *w) {
  if (w->ending || w->n_end_queue == 0) {
    return;
  }
  bool full = w->n_end_queue >= END_BATCH;
  if (!w->end_due && !full && w->n_running > 0 && !w->abandon &&
      w->phase == MTQ_WORKER_RUNNING) {
    if (!uv_is_active((uv_handle_t *)&w->end_timer)) {
      uv_timer_start(&w->end_timer, on_end_timer, END_LINGER_MS, 0);
    }
    return;
  }
  uv_timer_stop(&w->end_timer);
  w->end_due = false;
  if (w->abandon) {
    for (size_t i = 0; i < w->n_end_queue; i++) {
      mtq_err("task %s: outcome abandoned, never recorded", w->end_queue[i]->oid);
      job_free(w->end_queue[i]);
    }
    w->n_end_queue = 0;
    return;
  }
  size_t n = w->n_end_queue < END_BATCH ? w->n_end_queue : END_BATCH;
  w->end_batch = bson_realloc(w->end_batch, END_BATCH * sizeof *w->end_batch);
  memcpy(w->end_batch, w->end_queue, n * sizeof *w->end_queue);
  memmove(w->end_queue, w->end_queue + n, (w->n_end_queue - n) * sizeof *w->end_queue);
  w->n_end_queue -= n;
  w->n_end_batch = n;
  w->ending = true;
  w->end_work.data = w;
  uv_queue_work(w->loop, &w->end_work, record_batch_work, record_batch_done);
}

static void record_batch_done(uv_work_t *req, int status) {
  mtq_worker_t *w = req->data;
  w->ending = false;
  for (size_t i = 0; i < w->n_end_batch; i++) {
    record_done(w->end_batch[i]);
  }
  w->n_end_batch = 0;
  record_kick(w);
}

static void on_retry_timer(uv_timer_t *t) { record(t->data); }

/* What the recorded end of job was, for the worker's counters. */
static mtq__task_event_t ended_as(const mtq__job_t *job) {
  if (job->requeue) {
    return MTQ__TASK_REQUEUED;
  }
  if (job->ok) {
    return MTQ__TASK_DONE;
  }
  return job->task.status == MTQ_STATE_RETRY_WAIT ? MTQ__TASK_RETRY : MTQ__TASK_FAILED;
}

static void record_done(mtq__job_t *job) {
  mtq_worker_t *w = job->w;
  const char *what = job->requeue ? "requeue" : "record the outcome of";
  if (job->op_ok) {
    mtq__metrics_task(w, &job->task, ended_as(job), job->run_ms);
    if (job->backoff_ms > 0) {
      mtq_info("task %s: %s after retrying", job->oid,
               job->requeue ? "requeued" : "outcome recorded");
    }
    if (!job->requeue && !job->ok && job->task.status == MTQ_STATE_RETRY_WAIT) {
      mtq_info("task %s will be retried (%" PRId32 " of %" PRId32 " attempts used)", job->oid,
               job->task.attempt, job->task.max_attempts);
    }
    job_free(job);
  } else if (mtq_error_is_transient(&job->op_error) && !w->abandon) {
    job->backoff_ms = mtq_backoff_next(job->backoff_ms);
    mtq_warn("cannot %s task %s (%s); retrying in %.1f s", what, job->oid,
             job->op_error.message, (double)job->backoff_ms / 1000.0);
    job->state = JOB_WAITING;
    uv_timer_start(&job->retry_timer, on_retry_timer, (uint64_t)job->backoff_ms, 0);
  } else if (job->op_error.domain == MTQ_ERROR_DOMAIN &&
             job->op_error.code == MTQ_ERR_CONFLICT) {
    /* Fenced: the attempt was ended by someone else (mtqd found its lease
     * expired, or an operator cancelled it); a newer outcome stands. */
    mtq_warn("task %s: outcome refused: %s", job->oid, job->op_error.message);
    mtq__metrics_task(w, &job->task, MTQ__TASK_REFUSED, -1);
    job_free(job);
  } else {
    mtq_err("cannot %s task %s: %s; dropping it", what, job->oid, job->op_error.message);
    job_free(job);
  }
}

static void record(mtq__job_t *job) {
  if (job->w->abandon) {
    mtq_err("task %s: outcome abandoned, never recorded", job->oid);
    job_free(job);
    return;
  }
  mtq_worker_t *w = job->w;
  job->state = JOB_RECORDING;
  job->op_ok = false;
  memset(&job->op_error, 0, sizeof job->op_error);
  if (w->n_end_queue == w->cap_end_queue) {
    w->cap_end_queue = w->cap_end_queue ? 2 * w->cap_end_queue : 16;
    w->end_queue = bson_realloc(w->end_queue, w->cap_end_queue * sizeof *w->end_queue);
  }
  w->end_queue[w->n_end_queue++] = job;
  record_kick(w);
}

/* --- the lease (for lease.c) ----------------------------------------------- */

mtq__job_t *mtq__job_next(mtq__job_t *job) { return job->next; }

mtq__job_t *mtq__job_of_lease(mtq_worker_t *w, const bson_oid_t *id, int64_t token) {
  for (mtq__job_t *job = w->jobs; job; job = job->next) {
    if (bson_oid_equal(&job->lease_id, id) && job->lease_token == token) {
      return job;
    }
  }
  return NULL;
}

void mtq__jobs_leases(mtq_worker_t *w) {
  w->renewals = bson_realloc(w->renewals, (w->n_jobs ? w->n_jobs : 1) * sizeof *w->renewals);
  for (mtq__job_t *job = w->jobs; job && w->n_renewals < w->n_jobs; job = job->next) {
    if (!job->fenced) {
      mtq__renewal_t *r = &w->renewals[w->n_renewals++];
      r->id = job->lease_id;
      r->token = job->lease_token;
      r->ok = r->gone = false;
    }
  }
}

void mtq__job_renewed(mtq__job_t *job, int64_t sent_ms, bool suspended) {
  if (sent_ms > job->renewed_ms) {
    job->renewed_ms = sent_ms;
  }
  if (!job->runner || job->state != JOB_RUNNING || job->fenced || suspended == job->suspended) {
    return;
  }
  job->suspended = suspended;
  if (suspended) {
    mtq_runner_pause(job->runner);
    mtq_info("task %s suspended by an operator: its process (pid %d) is stopped, its slot and "
             "lease kept, its timeout clock paused",
             job->oid, mtq_runner_pid(job->runner));
  } else {
    mtq_runner_resume(job->runner);
    mtq_info("task %s resumed by an operator: its process continues", job->oid);
  }
}

void mtq__job_lease_gone(mtq__job_t *job) {
  if (job->fenced) {
    return;
  }
  job->fenced = true;
  if (job->state != JOB_RUNNING) {
    /* Recording its outcome: the end this worker is writing drops the
     * lease itself, so a renewal that crossed it finds the lease gone.  If
     * someone else ended the attempt instead, the end is refused and says
     * so ("outcome refused"). */
    mtq_debug("task %s: lease gone while its outcome is recorded", job->oid);
    return;
  }
  mtq__metrics_task(job->w, &job->task, MTQ__TASK_LEASE_LOST, -1);
  mtq_warn("task %s: lease lost (the task was cancelled or given to another worker)%s",
           job->oid, job->runner ? "; stopping it" : "");
  if (job->runner) {
    mtq_runner_abort(job->runner);
  }
}

bool mtq__job_check_lease(mtq__job_t *job, int64_t now_ms, int64_t limit_ms) {
  if (!job->runner || job->fenced || now_ms - job->renewed_ms <= limit_ms) {
    return false;
  }
  /* mtqd takes a task back once its lease has gone unrenewed for
   * lease_ms; stopping it at half that makes sure it never runs here and
   * on another worker at the same time. */
  mtq_err("task %s: lease not renewed for %lld ms (database unreachable?); stopping it", job->oid,
          (long long)(now_ms - job->renewed_ms));
  job->requeue_reason = "its worker could not renew the lease in time (database unreachable?)";
  mtq__metrics_task(job->w, &job->task, MTQ__TASK_LEASE_UNRENEWED, -1);
  mtq_runner_abort(job->runner);
  job->renewed_ms = now_ms; /* one abort is enough */
  return true;
}
