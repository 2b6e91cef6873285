/* test_state.c - the task lifecycle table: names, terminal flags and
 * transitions (common/state.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mtq_state.h"

/* The stored names are part of the database format: a change here is a
 * migration, so they are spelled out rather than taken from the table. */
static const struct {
  mtq_state_t state;
  const char *name;
  bool terminal;
} expected[] = {
    {MTQ_STATE_QUEUED, "queued", false},   {MTQ_STATE_DELAYED, "delayed", false},
    {MTQ_STATE_RUNNING, "running", false}, {MTQ_STATE_DONE, "done", true},
    {MTQ_STATE_FAILED, "failed", true},    {MTQ_STATE_CANCELLED, "cancelled", true},
    {MTQ_STATE_RETRY_WAIT, "retry_wait", false}, {MTQ_STATE_DEAD, "dead", true},
    {MTQ_STATE_SUSPENDED, "suspended", false},   {MTQ_STATE_DISABLED, "disabled", false},
    {MTQ_STATE_CONFLICT, "conflict", true},
};
#define N_EXPECTED (sizeof expected / sizeof expected[0])

static void test_state_count(void **unused) {
  assert_int_equal(MTQ_STATE_COUNT, N_EXPECTED);
}

static void test_state_names_round_trip(void **unused) {
  for (size_t i = 0; i < N_EXPECTED; i++) {
    assert_string_equal(mtq_state_name(expected[i].state), expected[i].name);
    assert_int_equal(mtq_state_parse(expected[i].name), expected[i].state);
  }
  for (int s = 0; s < MTQ_STATE_COUNT; s++) {
    assert_int_equal(mtq_state_parse(mtq_state_name((mtq_state_t)s)), s);
  }
}

static void test_state_name_out_of_range(void **unused) {
  assert_string_equal(mtq_state_name(MTQ_STATE_INVALID), "invalid");
  assert_string_equal(mtq_state_name(MTQ_STATE_COUNT), "invalid");
  assert_string_equal(mtq_state_name((mtq_state_t)1000), "invalid");
}

static void test_state_parse_unknown(void **unused) {
  assert_int_equal(mtq_state_parse("invalid"), MTQ_STATE_INVALID);
  assert_int_equal(mtq_state_parse(""), MTQ_STATE_INVALID);
  assert_int_equal(mtq_state_parse(NULL), MTQ_STATE_INVALID);
  assert_int_equal(mtq_state_parse("QUEUED"), MTQ_STATE_INVALID);
  assert_int_equal(mtq_state_parse("queued "), MTQ_STATE_INVALID);
  assert_int_equal(mtq_state_parse("queue"), MTQ_STATE_INVALID);
  assert_int_equal(mtq_state_parse("canceled"), MTQ_STATE_INVALID);
}

static void test_state_terminal(void **unused) {
  for (size_t i = 0; i < N_EXPECTED; i++) {
    assert_int_equal(mtq_state_is_terminal(expected[i].state), expected[i].terminal);
  }
  assert_false(mtq_state_is_terminal(MTQ_STATE_INVALID));
  assert_false(mtq_state_is_terminal(MTQ_STATE_COUNT));
}

#define Q MTQ_STATE_QUEUED
#define DL MTQ_STATE_DELAYED
#define R MTQ_STATE_RUNNING
#define RW MTQ_STATE_RETRY_WAIT
#define S MTQ_STATE_SUSPENDED
#define DI MTQ_STATE_DISABLED
#define C MTQ_STATE_CANCELLED
#define DN MTQ_STATE_DONE
#define F MTQ_STATE_FAILED
#define DE MTQ_STATE_DEAD

/* The complete set of allowed edges (README, "Task lifecycle"), written out
 * again here so that a change to the table is a change to this test too. */
static const struct {
  mtq_state_t from, to;
  const char *action;
} edges[] = {
    {DL, Q, "release"}, {RW, Q, "release"}, {S, Q, "resume"},   {DI, Q, "enable"},
    {Q, R, "claim"},    {R, DN, "finish"},  {R, F, "fail"},     {R, RW, "retry"},
    {R, DE, "bury"},    {R, Q, "requeue"},  {R, C, "cancel"},   {Q, DI, "disable"},
    {DL, DI, "disable"}, {RW, DI, "disable"}, {S, DI, "disable"}, {Q, S, "suspend"},
    {DL, S, "suspend"}, {RW, S, "suspend"}, {DI, S, "suspend"}, {Q, C, "cancel"},
    {DL, C, "cancel"},  {RW, C, "cancel"},  {S, C, "cancel"},   {DI, C, "cancel"},
    {DE, Q, "retry"},   {F, Q, "retry"},    {R, MTQ_STATE_CONFLICT, "disagree"},
    {MTQ_STATE_CONFLICT, Q, "retry"},
};
#define N_EDGES (sizeof edges / sizeof edges[0])

static const char *edge_action(mtq_state_t from, mtq_state_t to) {
  for (size_t i = 0; i < N_EDGES; i++) {
    if (edges[i].from == from && edges[i].to == to) {
      return edges[i].action;
    }
  }
  return NULL;
}

static void test_state_refused_transitions(void **unused) {
  assert_false(mtq_state_can_move(DN, Q));
  assert_false(mtq_state_can_move(F, R));
  assert_false(mtq_state_can_move(C, Q));
  assert_false(mtq_state_can_move(R, DL));
  assert_false(mtq_state_can_move(Q, DN));
  assert_false(mtq_state_can_move(DL, R));
  assert_false(mtq_state_can_move(R, S)); /* a running task is cancelled, not held */
  assert_false(mtq_state_can_move(R, DI));
  assert_false(mtq_state_can_move(RW, R)); /* back in the queue first */
  assert_false(mtq_state_can_move(MTQ_STATE_INVALID, Q));
  assert_false(mtq_state_can_move(Q, MTQ_STATE_INVALID));
}

/* Exhaustive: the table allows exactly the listed edges with their actions,
 * no self-loops, and only an operator's retry leaves an ended state. */
static void test_state_transition_matrix(void **unused) {
  size_t allowed = 0;
  for (int from = 0; from < MTQ_STATE_COUNT; from++) {
    for (int to = 0; to < MTQ_STATE_COUNT; to++) {
      const char *want = edge_action((mtq_state_t)from, (mtq_state_t)to);
      const char *got = mtq_state_action((mtq_state_t)from, (mtq_state_t)to);
      if ((want == NULL) != (got == NULL) || (want && strcmp(want, got) != 0)) {
        fail_msg("%s -> %s: table says %s, expected %s", mtq_state_name((mtq_state_t)from),
                 mtq_state_name((mtq_state_t)to), got ? got : "refused",
                 want ? want : "refused");
      }
      assert_int_equal(mtq_state_can_move((mtq_state_t)from, (mtq_state_t)to), got != NULL);
      if (from == to || from == DN || from == C) {
        assert_null(got);
      }
      if (mtq_state_is_terminal((mtq_state_t)from) && got) {
        assert_string_equal(got, "retry");
      }
      allowed += got != NULL;
    }
  }
  assert_int_equal(allowed, N_EDGES);
}

static void test_state_waiting(void **unused) {
  assert_true(mtq_state_is_waiting(Q));
  assert_true(mtq_state_is_waiting(DL));
  assert_true(mtq_state_is_waiting(RW));
  assert_true(mtq_state_is_waiting(S));
  assert_true(mtq_state_is_waiting(DI));
  assert_false(mtq_state_is_waiting(R));
  assert_false(mtq_state_is_waiting(DN));
  assert_false(mtq_state_is_waiting(DE));
  assert_int_equal(mtq_state_parse("retry-wait"), RW);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_state_count),
      cmocka_unit_test(test_state_names_round_trip),
      cmocka_unit_test(test_state_name_out_of_range),
      cmocka_unit_test(test_state_parse_unknown),
      cmocka_unit_test(test_state_terminal),
      cmocka_unit_test(test_state_waiting),
      cmocka_unit_test(test_state_refused_transitions),
      cmocka_unit_test(test_state_transition_matrix),
  };
  return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
