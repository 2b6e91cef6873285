/* pick.h - the pick rules of redundant dispatch, as pure logic: given what
 * each slot's copy came to, is the task done (and with which copy), failed,
 * in conflict, or still waiting?  No database here (dispatch.c reads and
 * writes); tests/unit/test_pick.c checks every rule. */
#ifndef MTQD_PICK_H
#define MTQD_PICK_H

#include <stddef.h>
#include <stdint.h>

#include "mtq_task.h"

typedef enum {
  MTQ_SLOT_PENDING, /* its copy is out (or about to be sent) */
  MTQ_SLOT_OK,      /* its copy succeeded: hash and ended_at are set */
  MTQ_SLOT_FAILED,  /* its copies failed and no replacement is left */
} mtq_slot_state_t;

typedef struct {
  mtq_slot_state_t state;
  const char *hash; /* MTQ_SLOT_OK: the canonical hash of the result */
  int64_t ended_at; /* MTQ_SLOT_OK: when the copy finished */
} mtq_slot_t;

typedef enum {
  MTQ_VERDICT_WAIT,
  MTQ_VERDICT_DONE,     /* *winner: the slot whose result is the task's */
  MTQ_VERDICT_FAILED,   /* no rule can be satisfied: too many copies failed */
  MTQ_VERDICT_CONFLICT, /* quorum only: copies succeeded but disagree */
} mtq_verdict_t;

/* first: the earliest success; failed when every slot failed.
 * quorum: more than half of the slots agree (equal hash); the earliest of
 *   them is the winner; conflict when no group can reach a majority any
 *   more and at least two successes disagree, failed when the successes
 *   agree but too few slots are left.
 * all: done once every slot succeeded (winner: the first slot); failed as
 *   soon as one slot failed. */
mtq_verdict_t mtq_pick_decide(mtq_pick_t rule, const mtq_slot_t *slots, size_t n,
                              size_t *winner);

#endif
