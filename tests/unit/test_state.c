/* test_state.c - the task lifecycle table: names, terminal flags and
 * transitions (common/state.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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

/* The complete set of allowed edges; every other pair must be refused. */
static bool edge_allowed(mtq_state_t from, mtq_state_t to) {
  static const struct {
    mtq_state_t from, to;
  } edges[] = {
      {MTQ_STATE_DELAYED, MTQ_STATE_QUEUED},    {MTQ_STATE_DELAYED, MTQ_STATE_CANCELLED},
      {MTQ_STATE_QUEUED, MTQ_STATE_RUNNING},    {MTQ_STATE_QUEUED, MTQ_STATE_CANCELLED},
      {MTQ_STATE_RUNNING, MTQ_STATE_DONE},      {MTQ_STATE_RUNNING, MTQ_STATE_FAILED},
      {MTQ_STATE_RUNNING, MTQ_STATE_QUEUED},
  };
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
    if (edges[i].from == from && edges[i].to == to) {
      return true;
    }
  }
  return false;
}

static void test_state_allowed_transitions(void **unused) {
  assert_true(mtq_state_can_move(MTQ_STATE_DELAYED, MTQ_STATE_QUEUED));
  assert_true(mtq_state_can_move(MTQ_STATE_QUEUED, MTQ_STATE_RUNNING));
  assert_true(mtq_state_can_move(MTQ_STATE_RUNNING, MTQ_STATE_DONE));
  assert_true(mtq_state_can_move(MTQ_STATE_RUNNING, MTQ_STATE_FAILED));
  assert_true(mtq_state_can_move(MTQ_STATE_RUNNING, MTQ_STATE_QUEUED));
  assert_true(mtq_state_can_move(MTQ_STATE_QUEUED, MTQ_STATE_CANCELLED));
  assert_true(mtq_state_can_move(MTQ_STATE_DELAYED, MTQ_STATE_CANCELLED));
}

static void test_state_refused_transitions(void **unused) {
  assert_false(mtq_state_can_move(MTQ_STATE_DONE, MTQ_STATE_QUEUED));
  assert_false(mtq_state_can_move(MTQ_STATE_FAILED, MTQ_STATE_RUNNING));
  assert_false(mtq_state_can_move(MTQ_STATE_CANCELLED, MTQ_STATE_QUEUED));
  assert_false(mtq_state_can_move(MTQ_STATE_RUNNING, MTQ_STATE_DELAYED));
  assert_false(mtq_state_can_move(MTQ_STATE_QUEUED, MTQ_STATE_DONE));
  assert_false(mtq_state_can_move(MTQ_STATE_QUEUED, MTQ_STATE_FAILED));
  assert_false(mtq_state_can_move(MTQ_STATE_DELAYED, MTQ_STATE_RUNNING));
  /* A running task cannot be cancelled by a state write: the worker owns it. */
  assert_false(mtq_state_can_move(MTQ_STATE_RUNNING, MTQ_STATE_CANCELLED));
  assert_false(mtq_state_can_move(MTQ_STATE_INVALID, MTQ_STATE_QUEUED));
  assert_false(mtq_state_can_move(MTQ_STATE_QUEUED, MTQ_STATE_INVALID));
}

/* Exhaustive: the table allows exactly the documented edges, no self-loops,
 * and nothing ever leaves a terminal state. */
static void test_state_transition_matrix(void **unused) {
  int allowed = 0;
  for (int from = 0; from < MTQ_STATE_COUNT; from++) {
    for (int to = 0; to < MTQ_STATE_COUNT; to++) {
      bool can = mtq_state_can_move((mtq_state_t)from, (mtq_state_t)to);
      if (can != edge_allowed((mtq_state_t)from, (mtq_state_t)to)) {
        fail_msg("%s -> %s: can_move says %d", mtq_state_name((mtq_state_t)from),
                 mtq_state_name((mtq_state_t)to), can);
      }
      if (from == to || mtq_state_is_terminal((mtq_state_t)from)) {
        assert_false(can);
      }
      allowed += can;
    }
  }
  assert_int_equal(allowed, 7);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_state_count),
      cmocka_unit_test(test_state_names_round_trip),
      cmocka_unit_test(test_state_name_out_of_range),
      cmocka_unit_test(test_state_parse_unknown),
      cmocka_unit_test(test_state_terminal),
      cmocka_unit_test(test_state_allowed_transitions),
      cmocka_unit_test(test_state_refused_transitions),
      cmocka_unit_test(test_state_transition_matrix),
  };
  return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
