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
  bool waiting;
} expected[] = {
    {MTQ_STATE_QUEUED, "queued", false, true},
    {MTQ_STATE_DELAYED, "delayed", false, true},
    {MTQ_STATE_RUNNING, "running", false, false},
    {MTQ_STATE_DONE, "done", true, false},
    {MTQ_STATE_FAILED, "failed", true, false},
    {MTQ_STATE_CANCELLED, "cancelled", true, false},
    {MTQ_STATE_RETRY_WAIT, "retry_wait", false, true},
    {MTQ_STATE_DEAD, "dead", true, false},
    {MTQ_STATE_SUSPENDED, "suspended", false, true},
    {MTQ_STATE_DISABLED, "disabled", false, true},
    {MTQ_STATE_CONFLICT, "conflict", true, false},
    {MTQ_STATE_BLOCKED, "blocked", false, true},
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
  /* The spelling of older versions is still read. */
  assert_int_equal(mtq_state_parse("retry-wait"), MTQ_STATE_RETRY_WAIT);
}

static void test_state_name_out_of_range(void **unused) {
  assert_string_equal(mtq_state_name(MTQ_STATE_INVALID), "invalid");
  assert_string_equal(mtq_state_name(MTQ_STATE_COUNT), "invalid");
  assert_string_equal(mtq_state_name((mtq_state_t)1000), "invalid");
}

static void test_state_parse_unknown(void **unused) {
  static const char *const unknown[] = {"invalid", "",      "QUEUED",   "queued ",
                                        "queue",   NULL,    "canceled"};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    assert_int_equal(mtq_state_parse(unknown[i]), MTQ_STATE_INVALID);
  }
}

static void test_state_terminal(void **unused) {
  for (size_t i = 0; i < N_EXPECTED; i++) {
    assert_int_equal(mtq_state_is_terminal(expected[i].state), expected[i].terminal);
  }
  assert_false(mtq_state_is_terminal(MTQ_STATE_INVALID));
  assert_false(mtq_state_is_terminal(MTQ_STATE_COUNT));
}

static void test_state_waiting(void **unused) {
  for (size_t i = 0; i < N_EXPECTED; i++) {
    assert_int_equal(mtq_state_is_waiting(expected[i].state), expected[i].waiting);
  }
}

/* The complete set of allowed edges, as README.md's table of transitions
 * ("Lifecycle") gives them: row for row, the states a row starts from,
 * the one it leads to, and the name state.c gives its action.  Written the
 * README's way rather than as state.c's array of edges, so that it is a
 * second, independent statement of the lifecycle: an edge missing from
 * the table, or one it has in excess or under another action, fails the
 * matrix below. */
static const struct {
  const char *from; /* stored names, ", " between them */
  const char *to;
  const char *action;
} readme_transitions[] = {
    {"delayed, retry_wait", "queued", "release"},
    {"suspended", "queued", "resume"},
    {"disabled", "queued", "enable"},
    {"queued", "running", "claim"},
    {"running", "done", "finish"},
    {"running", "retry_wait", "retry"},
    {"running", "dead", "bury"},
    {"running", "failed", "fail"},
    {"running", "queued", "requeue"},
    {"running", "cancelled", "cancel"},
    {"running", "conflict", "disagree"},
    {"running", "suspended", "suspend"},
    {"suspended", "running", "resume"},
    {"blocked", "queued", "unblock"},
    {"blocked", "cancelled", "cancel"},
    {"queued, delayed, retry_wait, suspended", "disabled", "disable"},
    {"queued, delayed, retry_wait, disabled", "suspended", "suspend"},
    /* "any waiting state" */
    {"queued, delayed, retry_wait, suspended, disabled", "cancelled", "cancel"},
    {"dead, failed", "queued", "retry"},
    /* The README's table leaves it out: an operator retries a conflict too. */
    {"conflict", "queued", "retry"},
};

static mtq_state_t known_state(const char *name, size_t len) {
  char buf[32];
  assert_true(len < sizeof buf);
  memcpy(buf, name, len);
  buf[len] = '\0';
  mtq_state_t state = mtq_state_parse(buf);
  if (state == MTQ_STATE_INVALID) {
    fail_msg("the table of transitions names no state '%s'", buf);
  }
  return state;
}

/* Fills want[from][to] with the action of each edge of the README's table
 * (NULL where there is none); returns how many edges there are. */
static size_t readme_edges(const char *want[MTQ_STATE_COUNT][MTQ_STATE_COUNT]) {
  size_t n = 0;
  for (size_t i = 0; i < sizeof readme_transitions / sizeof readme_transitions[0]; i++) {
    const char *to_name = readme_transitions[i].to;
    mtq_state_t to = known_state(to_name, strlen(to_name));
    for (const char *from_name = readme_transitions[i].from; *from_name;) {
      size_t len = strcspn(from_name, ",");
      mtq_state_t from = known_state(from_name, len);
      if (want[from][to]) {
        fail_msg("%s -> %s is listed twice", mtq_state_name(from), mtq_state_name(to));
      }
      want[from][to] = readme_transitions[i].action;
      n++;
      from_name += len;
      from_name += strspn(from_name, ", ");
    }
  }
  return n;
}

static void test_state_refused_transitions(void **unused) {
  static const struct {
    mtq_state_t from, to;
  } refused[] = {
      {MTQ_STATE_DONE, MTQ_STATE_QUEUED},
      {MTQ_STATE_FAILED, MTQ_STATE_RUNNING},
      {MTQ_STATE_CANCELLED, MTQ_STATE_QUEUED},
      {MTQ_STATE_RUNNING, MTQ_STATE_DELAYED},
      {MTQ_STATE_QUEUED, MTQ_STATE_DONE},
      {MTQ_STATE_DELAYED, MTQ_STATE_RUNNING},
      {MTQ_STATE_RUNNING, MTQ_STATE_DISABLED},
      {MTQ_STATE_RETRY_WAIT, MTQ_STATE_RUNNING}, /* back in the queue first */
      {MTQ_STATE_INVALID, MTQ_STATE_QUEUED},
      {MTQ_STATE_QUEUED, MTQ_STATE_INVALID},
  };
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    if (mtq_state_can_move(refused[i].from, refused[i].to)) {
      fail_msg("%s -> %s is allowed", mtq_state_name(refused[i].from),
               mtq_state_name(refused[i].to));
    }
  }
}

/* Exhaustive: the table allows exactly the README's edges with their
 * actions, no self-loops, and only an operator's retry leaves an ended
 * state. */
static void test_state_transition_matrix(void **unused) {
  const char *want[MTQ_STATE_COUNT][MTQ_STATE_COUNT] = {{NULL}};
  size_t n_edges = readme_edges(want);
  size_t allowed = 0;
  for (int from = 0; from < MTQ_STATE_COUNT; from++) {
    for (int to = 0; to < MTQ_STATE_COUNT; to++) {
      const char *got = mtq_state_action((mtq_state_t)from, (mtq_state_t)to);
      if ((want[from][to] == NULL) != (got == NULL) ||
          (got && strcmp(want[from][to], got) != 0)) {
        fail_msg("%s -> %s: table says %s, expected %s", mtq_state_name((mtq_state_t)from),
                 mtq_state_name((mtq_state_t)to), got ? got : "refused",
                 want[from][to] ? want[from][to] : "refused");
      }
      assert_int_equal(mtq_state_can_move((mtq_state_t)from, (mtq_state_t)to), got != NULL);
      if (from == to || from == MTQ_STATE_DONE || from == MTQ_STATE_CANCELLED) {
        assert_null(got);
      }
      if (mtq_state_is_terminal((mtq_state_t)from) && got) {
        assert_string_equal(got, "retry");
      }
      allowed += got != NULL;
    }
  }
  assert_int_equal(allowed, n_edges);
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
