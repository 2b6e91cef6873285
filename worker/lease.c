/* lease.c - renewing the leases of claimed tasks, every lease_ms/4.
 *
 * A claimed task's lease (leases/<task>:<token>) is what tells mtqd that its
 * holder is alive: mtqd gives the task back once the lease has gone
 * unrenewed for lease_ms.  So this worker renews every lease it holds,
 * running or recording, and stops a task itself once it could not renew it
 * for half of lease_ms: before mtqd may give it to another worker, so that
 * it never runs twice at once.  A lease found gone means someone else ended
 * the attempt (mtqd on an expired lease, or an operator's cancel): the task
 * is stopped and its outcome will be refused.  A lease an operator marked
 * suspended (mtq suspend) stops the task's process until the mark goes;
 * it is renewed all the while. */
#include <string.h>

#include "worker_private.h"

static int64_t every_ms(const mtq_worker_t *w) { return w->cfg->lease_ms / 4; }

static bool renew_prepare(mtq_duty_t *d) {
  mtq_worker_t *w = d->data;
  int64_t now = (int64_t)uv_now(w->loop);
  for (mtq__job_t *job = w->jobs; job; job = mtq__job_next(job)) {
    mtq__job_check_lease(job, now, w->cfg->lease_ms / 2);
  }
  w->n_renewals = 0;
  mtq__jobs_leases(w);
  if (w->n_renewals == 0) {
    mtq_duty_arm(d, every_ms(w)); /* nothing to renew now; look again later */
    return false;
  }
  w->renew_sent_ms = now;
  return true;
}

static bool renew_run(mtq_duty_t *d, bson_error_t *error) {
  mtq_worker_t *w = d->data;
  for (size_t i = 0; i < w->n_renewals; i++) {
    mtq__renewal_t *r = &w->renewals[i];
    mtq_task_t t;
    mtq_task_init(&t);
    t.id = r->id;
    t.token = r->token;
    bson_error_t err;
    r->ok = mtq_store_renew(w->store, &t, &r->suspended, &err);
    r->gone = !r->ok && err.domain == MTQ_ERROR_DOMAIN && err.code == MTQ_ERR_CONFLICT;
    if (!r->ok && !r->gone && mtq_error_is_transient(&err)) {
      /* The database is away: the rest would wait out the same timeout. */
      for (size_t j = i + 1; j < w->n_renewals; j++) {
        w->renewals[j].ok = w->renewals[j].gone = false;
      }
      *error = err;
      return false;
    }
  }
  return true;
}

static int64_t renew_next(mtq_duty_t *d) {
  mtq_worker_t *w = d->data;
  for (size_t i = 0; i < w->n_renewals; i++) {
    mtq__job_t *job = mtq__job_of_lease(w, &w->renewals[i].id, w->renewals[i].token);
    if (!job) {
      continue; /* ended meanwhile */
    }
    if (w->renewals[i].ok) {
      mtq__job_renewed(job, w->renew_sent_ms, w->renewals[i].suspended);
    } else if (w->renewals[i].gone) {
      mtq__job_lease_gone(job);
    }
  }
  mtq__worker_advance(w);
  if (w->phase == MTQ_WORKER_CLOSED) {
    return -1;
  }
  /* A failure is retried at the same pace, a whole period from now: the
   * lease limit counts, not a backoff. */
  int64_t every = every_ms(w);
  return d->ok && d->took_ms < every ? every - d->took_ms : d->ok ? 0 : every;
}

void mtq__lease_duty_init(mtq_worker_t *w) {
  mtq_duty_init(&w->renew_duty, w->loop, "lease renewal", renew_prepare, renew_run, renew_next,
                w);
}
