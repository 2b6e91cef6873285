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
#define DL MTQ_STATE_DELAYED
#define R MTQ_STATE_RUNNING
#define RW MTQ_STATE_RETRY_WAIT
#define S MTQ_STATE_SUSPENDED
#define DI MTQ_STATE_DISABLED
#define C MTQ_STATE_CANCELLED
/* Allowed transitions, one row per edge, with the action that makes it. */
static const struct {
  mtq_state_t from, to;
  const char *action;
} transitions[] = {
    {DL, Q, "release"},    {RW, Q, "release"},    {S, Q, "resume"},      {DI, Q, "enable"},
    {Q, R, "claim"},       {R, MTQ_STATE_DONE, "finish"},                {R, MTQ_STATE_FAILED, "fail"},
    {R, RW, "retry"},      {R, MTQ_STATE_DEAD, "bury"},                  {R, Q, "requeue"},
    {Q, DI, "disable"},    {DL, DI, "disable"},   {RW, DI, "disable"},   {S, DI, "disable"},
    {Q, S, "suspend"},     {DL, S, "suspend"},    {RW, S, "suspend"},    {DI, S, "suspend"},
    {Q, C, "cancel"},      {DL, C, "cancel"},     {RW, C, "cancel"},     {S, C, "cancel"},
    {DI, C, "cancel"},     {R, C, "cancel"},      {R, MTQ_STATE_CONFLICT, "disagree"},
    {MTQ_STATE_CONFLICT, Q, "retry"},
    {R, S, "suspend"},     {S, R, "resume"},
    {MTQ_STATE_BLOCKED, Q, "unblock"},            {MTQ_STATE_BLOCKED, C, "cancel"},
    {MTQ_STATE_DEAD, Q, "retry"},                 {MTQ_STATE_FAILED, Q, "retry"},
};
#undef Q
#undef DL
#undef R
#undef RW
#undef S
#undef DI
#undef C

const char *mtq_state_name(mtq_state_t state) {
  if (state < 0 || state >= MTQ_STATE_COUNT) {
    return "invalid";
  }
  return state_names[state];
}

mtq_state_t mtq_state_parse(const char *name) {
  if (name && strcmp(name, "retry-wait") == 0) {
    return MTQ_STATE_RETRY_WAIT;
  }
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

bool mtq_state_is_waiting(mtq_state_t state) {
  return state == MTQ_STATE_QUEUED || state == MTQ_STATE_DELAYED ||
         state == MTQ_STATE_RETRY_WAIT || state == MTQ_STATE_SUSPENDED ||
         state == MTQ_STATE_DISABLED || state == MTQ_STATE_BLOCKED;
}

const char *mtq_state_action(mtq_state_t from, mtq_state_t to) {
  for (size_t i = 0; i < sizeof transitions / sizeof transitions[0]; i++) {
    if (transitions[i].from == from && transitions[i].to == to) {
      return transitions[i].action;
    }
  }
  return NULL;
}

bool mtq_state_can_move(mtq_state_t from, mtq_state_t to) {
  return mtq_state_action(from, to) != NULL;
}
