/* test_flow.c - flows without a database (common/model/flow.c,
 * flow_plan.c): the document read back the same, every malformed flow
 * refused by what is wrong, the state tables, and the plan: a chain, a
 * fan-out with and without tolerance, skipped steps, a cancel, and the same
 * facts planned twice planning the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mtq_error.h"
#include "mtq_flow.h"

#define NOW 1800000000000LL

/* A step named name with shards shards after the steps named in after
 * (comma-separated, "" for none), with a task template. */
static mtq_step_t *step(mtq_flow_t *f, const char *name, int32_t shards, const char *after) {
  mtq_step_t *s = mtq_flow_add_step(f);
  bson_strncpy(s->name, name, sizeof s->name);
  s->shards = shards;
  mtq_enqueue_opts_t o = {.channel = "default", .func = "echo"};
  mtq_task_t t;
  mtq_task_init(&t);
  bson_error_t e;
  assert_true(mtq_task_build(&t, &o, NOW, &e));
  s->task = bson_new();
  mtq_task_to_bson(&t, s->task);
  mtq_task_cleanup(&t);
  char list[256];
  bson_strncpy(list, after, sizeof list);
  for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
    long p = mtq_flow_step_index(f, tok);
    assert_true(p >= 0);
    s->after[s->n_after++] = (size_t)p;
  }
  return s;
}

/* The ends of f, nothing ended yet; free with free_ends. */
static mtq_flow_ends_t no_ends(const mtq_flow_t *f) {
  mtq_flow_ends_t e = {bson_malloc0((f->n_steps + 1) * sizeof *e.status)};
  for (size_t i = 0; i < f->n_steps; i++) {
    e.status[i] = bson_malloc((size_t)f->steps[i].shards * sizeof **e.status);
    for (int32_t k = 0; k < f->steps[i].shards; k++) {
      e.status[i][k] = MTQ_STATE_INVALID;
    }
  }
  return e;
}

static void free_ends(mtq_flow_ends_t *e, const mtq_flow_t *f) {
  for (size_t i = 0; i < f->n_steps; i++) {
    bson_free(e->status[i]);
  }
  bson_free(e->status);
}

/* Plans f and checks which steps start (names, comma-separated). */
static void plan_starts(mtq_flow_t *f, mtq_flow_ends_t *e, int64_t now, const char *want) {
  mtq_flow_plan_t p;
  mtq_flow_plan(f, e, now, &p);
  char got[512] = "";
  for (size_t k = 0; k < p.n_start; k++) {
    size_t len = strlen(got);
    snprintf(got + len, sizeof got - len, "%s%s", k ? "," : "", f->steps[p.start[k]].name);
    /* What the duty does: the step's tasks are enqueued. */
    mtq_step_t *s = &f->steps[p.start[k]];
    s->tasks = bson_malloc0((size_t)s->shards * sizeof *s->tasks);
  }
  assert_string_equal(got, want);
  mtq_flow_plan_cleanup(&p);
}

static void end_all(mtq_flow_ends_t *e, size_t step, int32_t n, mtq_state_t st) {
  for (int32_t k = 0; k < n; k++) {
    e->status[step][k] = st;
  }
}

static void test_states(void **state) {
  (void)state;
  assert_string_equal(mtq_flow_state_name(MTQ_FLOW_RUNNING), "running");
  assert_int_equal(mtq_flow_state_parse("cancelled"), MTQ_FLOW_CANCELLED);
  assert_int_equal(mtq_flow_state_parse("nope"), MTQ_FLOW_STATE_INVALID);
  assert_true(mtq_flow_state_is_terminal(MTQ_FLOW_DONE));
  assert_false(mtq_flow_state_is_terminal(MTQ_FLOW_RUNNING));
  assert_string_equal(mtq_flow_state_action(MTQ_FLOW_RUNNING, MTQ_FLOW_CANCELLED), "cancel");
  assert_null(mtq_flow_state_action(MTQ_FLOW_DONE, MTQ_FLOW_CANCELLED));
  assert_string_equal(mtq_step_state_action(MTQ_STEP_WAITING, MTQ_STEP_SKIPPED), "skip");
  assert_null(mtq_step_state_action(MTQ_STEP_DONE, MTQ_STEP_RUNNING));
  assert_int_equal(mtq_step_state_parse("skipped"), MTQ_STEP_SKIPPED);
  assert_string_equal(mtq_flow_state_name(MTQ_FLOW_STATE_COUNT), "invalid");
}

static void test_document(void **state) {
  (void)state;
  mtq_flow_t f, back;
  mtq_flow_init(&f);
  mtq_flow_init(&back);
  bson_oid_init(&f.id, NULL);
  bson_strncpy(f.name, "etl", sizeof f.name);
  f.created_at = NOW;
  step(&f, "prep", 1, "");
  mtq_step_t *p = step(&f, "predict", 20, "prep");
  p->tolerance = 0.1;
  p->state = MTQ_STEP_RUNNING;
  p->started_at = NOW + 5;
  p->tasks = bson_malloc0(20 * sizeof *p->tasks);
  for (int k = 0; k < 20; k++) {
    bson_oid_init(&p->tasks[k], NULL);
  }
  p->shards_done = 3;
  step(&f, "merge", 1, "prep,predict");
  bson_error_t e;
  assert_true(mtq_flow_validate(&f, &e));
  bson_t doc = BSON_INITIALIZER, again = BSON_INITIALIZER;
  mtq_flow_to_bson(&f, &doc);
  if (!mtq_flow_from_bson(&back, &doc, &e)) {
    fail_msg("%s", e.message);
  }
  mtq_flow_to_bson(&back, &again);
  assert_true(bson_equal(&doc, &again));
  assert_int_equal(back.n_steps, 3);
  assert_int_equal(back.steps[2].n_after, 2);
  assert_int_equal(back.steps[2].after[1], 1);
  assert_true(bson_oid_equal(&back.steps[1].tasks[19], &p->tasks[19]));
  char key[MTQ_FLOW_KEY_MAX], hex[25];
  bson_oid_to_string(&f.id, hex);
  mtq_flow_shard_key(&f.id, "predict", 19, true, key);
  char want[MTQ_FLOW_KEY_MAX];
  snprintf(want, sizeof want, "flow:%s:predict:19", hex);
  assert_string_equal(key, want);
  assert_true(strlen(key) <= MTQ_DEDUPE_KEY_MAX);
  bson_destroy(&again);
  bson_destroy(&doc);
  mtq_flow_cleanup(&back);
  mtq_flow_cleanup(&f);
}

static void test_invalid(void **state) {
  (void)state;
  static const struct {
    const char *what;
    const char *message;
  } cases[] = {
      {"no steps", "1 to 256 steps"},   {"bad name", "its name"},
      {"two names", "two steps"},       {"shards 0", "shards must be"},
      {"tolerance 2", "tolerance"},     {"itself", "after itself"},
      {"cycle", "a cycle"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mtq_flow_t f;
    mtq_flow_init(&f);
    const char *w = cases[i].what;
    if (strcmp(w, "no steps") != 0) {
      step(&f, "a", 1, "");
      step(&f, "b", 1, "a");
    }
    if (strcmp(w, "bad name") == 0) {
      bson_strncpy(f.steps[1].name, "b c", sizeof f.steps[1].name);
    } else if (strcmp(w, "two names") == 0) {
      bson_strncpy(f.steps[1].name, "a", sizeof f.steps[1].name);
    } else if (strcmp(w, "shards 0") == 0) {
      f.steps[1].shards = 0;
    } else if (strcmp(w, "tolerance 2") == 0) {
      f.steps[1].tolerance = 2;
    } else if (strcmp(w, "itself") == 0) {
      f.steps[1].after[0] = 1;
    } else if (strcmp(w, "cycle") == 0) {
      f.steps[0].after[f.steps[0].n_after++] = 1;
    }
    bson_error_t e;
    bool ok = mtq_flow_validate(&f, &e);
    if (ok || !strstr(e.message, cases[i].message)) {
      fail_msg("%s: %s", w, ok ? "accepted" : e.message);
    }
    mtq_flow_cleanup(&f);
  }
}

/* prep -> predict (4 shards) -> merge (tolerance 0.25) -> submit */
static void fan_out(mtq_flow_t *f, double tolerance) {
  mtq_flow_init(f);
  step(f, "prep", 1, "");
  step(f, "predict", 4, "prep");
  step(f, "merge", 1, "predict")->tolerance = tolerance;
  step(f, "submit", 1, "merge");
}

static void test_plan_chain_and_tolerance(void **state) {
  (void)state;
  mtq_flow_t f;
  fan_out(&f, 0.25);
  mtq_flow_ends_t e = no_ends(&f);
  plan_starts(&f, &e, NOW, "prep");
  plan_starts(&f, &e, NOW + 1, ""); /* nothing ended: nothing new */
  end_all(&e, 0, 1, MTQ_STATE_DONE);
  plan_starts(&f, &e, NOW + 2, "predict");
  assert_int_equal(f.steps[0].state, MTQ_STEP_DONE);
  e.status[1][0] = MTQ_STATE_DONE;
  e.status[1][1] = MTQ_STATE_DEAD;
  e.status[1][2] = MTQ_STATE_DONE;
  plan_starts(&f, &e, NOW + 3, ""); /* 3 of 4 ended: merge waits for the 4th */
  assert_int_equal(f.steps[1].shards_done, 2);
  assert_int_equal(f.steps[1].shards_failed, 1);
  e.status[1][3] = MTQ_STATE_DONE;
  plan_starts(&f, &e, NOW + 4, "merge"); /* 3 of 4 done: 0.25 tolerates 1 */
  assert_int_equal(f.steps[1].state, MTQ_STEP_FAILED);
  assert_int_equal(f.status, MTQ_FLOW_RUNNING);
  end_all(&e, 2, 1, MTQ_STATE_DONE);
  plan_starts(&f, &e, NOW + 5, "submit");
  end_all(&e, 3, 1, MTQ_STATE_DONE);
  plan_starts(&f, &e, NOW + 6, "");
  assert_int_equal(f.status, MTQ_FLOW_DONE);
  assert_int_equal(f.finished_at, NOW + 6);
  free_ends(&e, &f);
  mtq_flow_cleanup(&f);
}

static void test_plan_untolerated(void **state) {
  (void)state;
  mtq_flow_t f;
  fan_out(&f, 0.0);
  mtq_flow_ends_t e = no_ends(&f);
  plan_starts(&f, &e, NOW, "prep");
  end_all(&e, 0, 1, MTQ_STATE_DONE);
  plan_starts(&f, &e, NOW + 1, "predict");
  end_all(&e, 1, 4, MTQ_STATE_DONE);
  e.status[1][2] = MTQ_STATE_FAILED;
  mtq_flow_plan_t p;
  mtq_flow_plan(&f, &e, NOW + 2, &p);
  assert_int_equal(p.n_start, 0);
  assert_int_equal(f.status, MTQ_FLOW_FAILED);
  assert_non_null(strstr(f.reason, "step predict: 1 of 4 shards failed, and step merge tolerates 0"));
  assert_int_equal(f.steps[2].state, MTQ_STEP_SKIPPED);
  assert_int_equal(f.steps[3].state, MTQ_STEP_SKIPPED);
  assert_false(p.cancel_running);
  mtq_flow_plan_cleanup(&p);
  /* Planned again from the same facts: nothing more. */
  mtq_flow_plan(&f, &e, NOW + 3, &p);
  assert_false(p.changed);
  mtq_flow_plan_cleanup(&p);
  free_ends(&e, &f);
  mtq_flow_cleanup(&f);

  /* A failed leaf fails the flow; what still runs is to be cancelled. */
  mtq_flow_init(&f);
  step(&f, "a", 1, "");
  step(&f, "b", 1, "");
  e = no_ends(&f);
  plan_starts(&f, &e, NOW, "a,b");
  e.status[0][0] = MTQ_STATE_DEAD;
  mtq_flow_plan(&f, &e, NOW + 1, &p);
  assert_int_equal(f.status, MTQ_FLOW_FAILED);
  assert_non_null(strstr(f.reason, "step a failed"));
  assert_int_equal(f.steps[1].state, MTQ_STEP_CANCELLED);
  assert_true(p.cancel_running);
  mtq_flow_plan_cleanup(&p);
  free_ends(&e, &f);
  mtq_flow_cleanup(&f);
}

static void test_plan_cancel_and_twice(void **state) {
  (void)state;
  mtq_flow_t f;
  fan_out(&f, 0.0);
  mtq_flow_ends_t e = no_ends(&f);
  plan_starts(&f, &e, NOW, "prep");
  end_all(&e, 0, 1, MTQ_STATE_DONE);
  /* Two coordinators plan from the same facts: the same steps start. */
  mtq_flow_t twin;
  mtq_flow_init(&twin);
  bson_t doc = BSON_INITIALIZER;
  mtq_flow_to_bson(&f, &doc);
  bson_error_t err;
  assert_true(mtq_flow_from_bson(&twin, &doc, &err));
  plan_starts(&f, &e, NOW + 1, "predict");
  plan_starts(&twin, &e, NOW + 1, "predict");
  bson_destroy(&doc);
  mtq_flow_cleanup(&twin);
  /* Suspended: ends are counted, nothing starts. */
  end_all(&e, 1, 4, MTQ_STATE_DONE);
  f.status = MTQ_FLOW_SUSPENDED;
  plan_starts(&f, &e, NOW + 2, "");
  assert_int_equal(f.steps[1].state, MTQ_STEP_DONE);
  assert_int_equal(f.steps[2].state, MTQ_STEP_WAITING);
  f.status = MTQ_FLOW_RUNNING;
  plan_starts(&f, &e, NOW + 3, "merge");
  /* An operator's cancel: waiting steps skipped, running ones cancelled. */
  f.status = MTQ_FLOW_CANCELLED;
  f.reason = bson_strdup("cancelled by operator");
  mtq_flow_plan_t p;
  mtq_flow_plan(&f, &e, NOW + 4, &p);
  assert_true(p.cancel_running);
  assert_int_equal(f.steps[2].state, MTQ_STEP_CANCELLED);
  assert_int_equal(f.steps[3].state, MTQ_STEP_SKIPPED);
  assert_string_equal(f.reason, "cancelled by operator");
  assert_int_equal(f.finished_at, NOW + 4);
  mtq_flow_plan_cleanup(&p);
  free_ends(&e, &f);
  mtq_flow_cleanup(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_states),
      cmocka_unit_test(test_document),
      cmocka_unit_test(test_invalid),
      cmocka_unit_test(test_plan_chain_and_tolerance),
      cmocka_unit_test(test_plan_untolerated),
      cmocka_unit_test(test_plan_cancel_and_twice),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
