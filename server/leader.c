/* leader.c - mtqd's leadership duty (common/store/leader.c): every
 * sweep_interval_ms the leader renews its epoch and the others watch it,
 * taking over once it has been silent for lost_after_ms.  The duties that
 * must not run in two mtqd at once ask mtq__leading() before each run and
 * between their store calls. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "coordinator_private.h"

static int64_t monotonic_ms(void) { return (int64_t)(uv_hrtime() / 1000000u); }

void mtq__leader_init(mtq_coordinator_t *co) {
  char host[64] = "?", holder[sizeof co->leader.holder];
  gethostname(host, sizeof host - 1);
  uint32_t r[2];
  bson_oid_t oid;
  bson_oid_init(&oid, NULL); /* its random bytes tell two mtqd of one pid apart */
  memcpy(r, oid.bytes + 4, sizeof r);
  snprintf(holder, sizeof holder, "%s@%.40s:%ld:%08x", MTQD_ACTOR, host, (long)getpid(), r[0]);
  mtq_leader_init(&co->leader, holder, co->cfg->lost_after_ms);
  atomic_init(&co->lead_epoch, 0);
  atomic_init(&co->lead_renewed_ms, 0);
}

bool mtq__leading(const mtq_coordinator_t *co) {
  mtq_leader_t view = {.lost_after_ms = co->cfg->lost_after_ms,
                       .epoch = atomic_load(&co->lead_epoch),
                       .renewed_ms = atomic_load(&co->lead_renewed_ms)};
  return mtq_leader_active(&view, monotonic_ms());
}

bool mtq__leader_run(mtq_duty_t *d, bson_error_t *error) {
  mtq_coordinator_t *co = d->data;
  mtq_leader_t *l = &co->leader;
  int64_t had = l->epoch;
  char followed[sizeof l->seen_holder];
  memcpy(followed, l->seen_holder, sizeof followed);
  bool ok = mtq_store_lead(co->store, l, monotonic_ms(), error);
  atomic_store(&co->lead_epoch, l->epoch);
  atomic_store(&co->lead_renewed_ms, l->renewed_ms);
  if (!ok) {
    mtq__error_prefix(error, "leadership");
  }
  if (l->epoch && l->epoch != had) {
    mtq_info("leading the coordinators (epoch %lld, as %s)", (long long)l->epoch, l->holder);
  } else if (!l->epoch && (had || strcmp(followed, l->seen_holder) != 0)) {
    mtq_info("following %s (epoch %lld); releasing delayed tasks, reconcile, dispatch and "
             "retention are the leader's",
             l->seen_holder[0] ? l->seen_holder : "a leader that resigned",
             (long long)l->seen_epoch);
  }
  return ok;
}

void mtq__leader_resign(mtq_coordinator_t *co) {
  bson_error_t err;
  if (co->leader.epoch && !mtq_store_resign(co->store, &co->leader, &err)) {
    mtq_warn("could not hand the leadership over (another mtqd takes it after %lld ms): %s",
             (long long)co->cfg->lost_after_ms, err.message);
  } else if (atomic_load(&co->lead_epoch)) {
    mtq_info("handed the leadership over");
  }
}
