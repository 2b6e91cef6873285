/* pick.c - the pick rules of redundant dispatch (see pick.h). */
#include <string.h>

#include "pick.h"

/* The slot that succeeded first among those whose hash is hash (NULL: any). */
static size_t earliest_ok(const mtq_slot_t *slots, size_t n, const char *hash) {
  size_t best = n;
  for (size_t i = 0; i < n; i++) {
    if (slots[i].state == MTQ_SLOT_OK && (!hash || strcmp(slots[i].hash, hash) == 0) &&
        (best == n || slots[i].ended_at < slots[best].ended_at)) {
      best = i;
    }
  }
  return best;
}

static size_t agreeing(const mtq_slot_t *slots, size_t n, const char *hash) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    k += slots[i].state == MTQ_SLOT_OK && strcmp(slots[i].hash, hash) == 0;
  }
  return k;
}

static mtq_verdict_t quorum(const mtq_slot_t *slots, size_t n, size_t *winner) {
  size_t need = n / 2 + 1, pending = 0, best = 0, best_slot = n, ok = 0;
  for (size_t i = 0; i < n; i++) {
    pending += slots[i].state == MTQ_SLOT_PENDING;
    if (slots[i].state != MTQ_SLOT_OK) {
      continue;
    }
    ok++;
    size_t k = agreeing(slots, n, slots[i].hash);
    if (k > best) {
      best = k;
      best_slot = i;
    }
  }
  if (best >= need) {
    *winner = earliest_ok(slots, n, slots[best_slot].hash);
    return MTQ_VERDICT_DONE;
  }
  if (best + pending >= need) {
    return MTQ_VERDICT_WAIT;
  }
  return ok > best ? MTQ_VERDICT_CONFLICT : MTQ_VERDICT_FAILED;
}

mtq_verdict_t mtq_pick_decide(mtq_pick_t rule, const mtq_slot_t *slots, size_t n,
                              size_t *winner) {
  size_t pending = 0, failed = 0;
  for (size_t i = 0; i < n; i++) {
    pending += slots[i].state == MTQ_SLOT_PENDING;
    failed += slots[i].state == MTQ_SLOT_FAILED;
  }
  if (n == 0) {
    return MTQ_VERDICT_WAIT;
  }
  switch (rule) {
  case MTQ_PICK_FIRST:
    *winner = earliest_ok(slots, n, NULL);
    if (*winner < n) {
      return MTQ_VERDICT_DONE;
    }
    return pending ? MTQ_VERDICT_WAIT : MTQ_VERDICT_FAILED;
  case MTQ_PICK_QUORUM:
    return quorum(slots, n, winner);
  case MTQ_PICK_ALL:
    if (failed) {
      return MTQ_VERDICT_FAILED;
    }
    *winner = 0;
    return pending ? MTQ_VERDICT_WAIT : MTQ_VERDICT_DONE;
  }
  return MTQ_VERDICT_WAIT;
}
