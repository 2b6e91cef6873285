/* leases.c - the lease sweep: a running task whose lease stopped being
 * renewed goes back to the queue (or is dead, when that was its last
 * attempt).  Runs in the thread pool (see coordinator.h).
 *
 * As for lost workers (lost.c), silence is measured on mtqd's monotonic
 * clock from the sweep that first saw a lease's current renewal count, so
 * host clocks do not matter; and when mtqd cannot read the leases, nobody
 * could renew them either: their silence starts afresh once the database is
 * back, so an outage does not take every running task away. */
#include <string.h>

#include "coordinator_private.h"

static int64_t monotonic_ms(void) { return (int64_t)(uv_hrtime() / 1000000u); }

/* The entry of this lease in the last sweep's table, or NULL. */
static const mtq__watched_lease_t *last_seen(const mtq_coordinator_t *co, const mtq_lease_t *l) {
  for (size_t i = 0; i < co->n_leases; i++) {
    if (strcmp(co->leases[i].key, l->key) == 0) {
      return &co->leases[i];
    }
  }
  return NULL;
}

static void forget_all(mtq_coordinator_t *co) {
  bson_free(co->leases);
  co->leases = NULL;
  co->n_leases = 0;
}

bool mtq__leases_run(mtq_duty_t *d, bson_error_t *error) {
  mtq_coordinator_t *co = d->data;
  mtq_lease_t *leases = NULL;
  size_t n = 0;
  if (!mtq_store_leases(co->store, &leases, &n, error)) {
    mtq__error_prefix(error, "reading leases");
    forget_all(co);
    return false;
  }
  int64_t now = monotonic_ms();
  mtq__watched_lease_t *table = bson_malloc0((n ? n : 1) * sizeof *table);
  bool ok = true;
  for (size_t i = 0; i < n; i++) {
    mtq__watched_lease_t *e = &table[i];
    bson_strncpy(e->key, leases[i].key, sizeof e->key);
    e->renewals = leases[i].renewals;
    e->unchanged_since_ms = now;
    const mtq__watched_lease_t *old = last_seen(co, &leases[i]);
    if (old && old->renewals == leases[i].renewals) {
      e->unchanged_since_ms = old->unchanged_since_ms;
    }
    int64_t silent_ms = now - e->unchanged_since_ms;
    if (!ok || mtq__coordinator_stopping(co) || silent_ms < leases[i].lease_ms) {
      continue;
    }
    char reason[256];
    snprintf(reason, sizeof reason, "lease expired: worker %s did not renew it for %lld ms",
             leases[i].worker[0] ? leases[i].worker : "?", (long long)silent_ms);
    mtq_state_t ended_as;
    bson_error_t err;
    if (mtq_store_expire(co->store, &leases[i], MTQD_ACTOR, reason, &ended_as, &err)) {
      if (ended_as == MTQ_STATE_QUEUED || ended_as == MTQ_STATE_DEAD) {
        mtq__count(co, "coordinator_leases_expired", leases[i].channel,
                   mtq_state_name(ended_as), 1);
      }
      if (ended_as == MTQ_STATE_QUEUED) {
        mtq_info("task %.24s (channel %s) back in the queue: %s", leases[i].key,
                 leases[i].channel, reason);
      } else if (ended_as == MTQ_STATE_DEAD) {
        mtq_warn("task %.24s (channel %s) is dead: %s, and it had no attempts left",
                 leases[i].key, leases[i].channel, reason);
      }
    } else if (mtq_error_is_transient(&err)) {
      *error = err;
      ok = false;
    } else {
      mtq_warn("cannot expire lease %s: %s", leases[i].key, err.message);
    }
  }
  bson_free(co->leases);
  co->leases = table;
  co->n_leases = n;
  if (!ok) {
    forget_all(co);
  }
  bson_free(leases);
  return ok;
}
