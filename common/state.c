/* state.c - names and transitions of the task lifecycle (see mtq_state.h). */
#include <string.h>

#include "mtq_state.h"

static const char *const state_names[] = {
#define MTQ__STATE_NAME(e, s, t) s,
    MTQ_STATE_MAP(MTQ__STATE_NAME)
#undef MTQ__STATE_NAME
};

static const bool state_terminal[] = {
#define MTQ__STATE_TERMINAL(e, s, t) t,
    MTQ_STATE_MAP(MTQ__STATE_TERMINAL)
#undef MTQ__STATE_TERMINAL
};

#define Q MTQ_STATE_QUEUED
#define D MTQ_STATE_DELAYED
#define R MTQ_STATE_RUNNING
/* Allowed transitions, one row per edge.  Requeue (running -> queued) covers
 * a retry after a failure, a lost worker and a graceful shutdown. */
static const struct {
  mtq_state_t from, to;
} transitions[] = {
    {D, Q}, {D, MTQ_STATE_CANCELLED},                                  /* release, cancel */
    {Q, R}, {Q, MTQ_STATE_CANCELLED},                                  /* claim, cancel */
    {R, MTQ_STATE_DONE}, {R, MTQ_STATE_FAILED}, {R, Q},                /* finish, requeue */
};
#undef Q
#undef D
#undef R

const char *mtq_state_name(mtq_state_t state) {
  if (state < 0 || state >= MTQ_STATE_COUNT) {
    return "invalid";
  }
  return state_names[state];
}

mtq_state_t mtq_state_parse(const char *name) {
  for (int i = 0; name && i < MTQ_STATE_COUNT; i++) {
    if (strcmp(name, state_names[i]) == 0) {
      return (mtq_state_t)i;
    }
  }
  return MTQ_STATE_INVALID;
}

bool mtq_state_is_terminal(mtq_state_t state) {
  return state >= 0 && state < MTQ_STATE_COUNT && state_terminal[state];
}

bool mtq_state_can_move(mtq_state_t from, mtq_state_t to) {
  for (size_t i = 0; i < sizeof transitions / sizeof transitions[0]; i++) {
    if (transitions[i].from == from && transitions[i].to == to) {
      return true;
    }
  }
  return false;
}
