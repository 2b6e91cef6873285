/* test_pick.c - the pick rules of redundant dispatch (server/pick.c) and
 * the canonical result hash they compare (common/canon.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pick.h"
#include "test_util.h"

#define P {MTQ_SLOT_PENDING, NULL, 0}
#define F {MTQ_SLOT_FAILED, NULL, 0}
#define OK(h, t) {MTQ_SLOT_OK, h, t}

static mtq_verdict_t decide(mtq_pick_t rule, const mtq_slot_t *s, size_t n, size_t *w) {
  *w = 99;
  return mtq_pick_decide(rule, s, n, w);
}

static void test_first(void **unused) {
  size_t w;
  mtq_slot_t waiting[] = {P, P, P};
  assert_int_equal(decide(MTQ_PICK_FIRST, waiting, 3, &w), MTQ_VERDICT_WAIT);
  mtq_slot_t two_ok[] = {OK("a", 30), P, OK("b", 20)};
  assert_int_equal(decide(MTQ_PICK_FIRST, two_ok, 3, &w), MTQ_VERDICT_DONE);
  assert_int_equal(w, 2); /* the earlier success, whatever its slot */
  mtq_slot_t some_failed[] = {F, P};
  assert_int_equal(decide(MTQ_PICK_FIRST, some_failed, 2, &w), MTQ_VERDICT_WAIT);
  mtq_slot_t all_failed[] = {F, F};
  assert_int_equal(decide(MTQ_PICK_FIRST, all_failed, 2, &w), MTQ_VERDICT_FAILED);
}

static void test_quorum_agree(void **unused) {
  size_t w;
  mtq_slot_t s[] = {OK("x", 50), P, OK("x", 40)};
  assert_int_equal(decide(MTQ_PICK_QUORUM, s, 3, &w), MTQ_VERDICT_DONE);
  assert_int_equal(w, 2);
  mtq_slot_t one[] = {OK("x", 50), P, P};
  assert_int_equal(decide(MTQ_PICK_QUORUM, one, 3, &w), MTQ_VERDICT_WAIT);
  /* 2 of 3 agree, the third failed: still a majority. */
  mtq_slot_t with_failure[] = {OK("x", 1), F, OK("x", 2)};
  assert_int_equal(decide(MTQ_PICK_QUORUM, with_failure, 3, &w), MTQ_VERDICT_DONE);
  assert_int_equal(w, 0);
}

static void test_quorum_disagree(void **unused) {
  size_t w;
  /* 3 copies, all different: no majority can form. */
  mtq_slot_t all_differ[] = {OK("x", 1), OK("y", 2), OK("z", 3)};
  assert_int_equal(decide(MTQ_PICK_QUORUM, all_differ, 3, &w), MTQ_VERDICT_CONFLICT);
  /* Two disagree, one still out: it may break the tie. */
  mtq_slot_t tie_open[] = {OK("x", 1), OK("y", 2), P};
  assert_int_equal(decide(MTQ_PICK_QUORUM, tie_open, 3, &w), MTQ_VERDICT_WAIT);
  /* 2 copies: a majority is both. */
  mtq_slot_t pair[] = {OK("x", 1), OK("y", 2)};
  assert_int_equal(decide(MTQ_PICK_QUORUM, pair, 2, &w), MTQ_VERDICT_CONFLICT);
  /* One success, the rest failed: not a disagreement, a failure. */
  mtq_slot_t lonely[] = {OK("x", 1), F, F};
  assert_int_equal(decide(MTQ_PICK_QUORUM, lonely, 3, &w), MTQ_VERDICT_FAILED);
  mtq_slot_t disagree_and_failed[] = {OK("x", 1), OK("y", 1), F};
  assert_int_equal(decide(MTQ_PICK_QUORUM, disagree_and_failed, 3, &w), MTQ_VERDICT_CONFLICT);
}

static void test_all(void **unused) {
  size_t w;
  mtq_slot_t s[] = {OK("x", 1), OK("y", 2), P};
  assert_int_equal(decide(MTQ_PICK_ALL, s, 3, &w), MTQ_VERDICT_WAIT);
  s[2] = (mtq_slot_t)OK("z", 3);
  assert_int_equal(decide(MTQ_PICK_ALL, s, 3, &w), MTQ_VERDICT_DONE);
  s[1] = (mtq_slot_t)F;
  assert_int_equal(decide(MTQ_PICK_ALL, s, 3, &w), MTQ_VERDICT_FAILED);
}

static void hash_of(const char *json, char hex[MTQ_SIG_HEX_LEN + 1]) {
  bson_t *doc = doc_from_json(json);
  mtq_result_hash(doc, hex);
  bson_destroy(doc);
}

static void test_canonical_hash(void **unused) {
  char a[65], b[65];
  hash_of("{\"x\": 1, \"y\": {\"b\": [1, 2], \"a\": \"s\"}}", a);
  hash_of("{\"y\": {\"a\": \"s\", \"b\": [1.0, {\"$numberLong\": \"2\"}]}, \"x\": 1}", b);
  assert_string_equal(a, b); /* key order and number types do not matter */
  assert_int_equal(strlen(a), 64);
  hash_of("{\"x\": 1, \"y\": {\"b\": [2, 1], \"a\": \"s\"}}", b);
  assert_string_not_equal(a, b); /* array order does */
  hash_of("{\"x\": 1.5}", a);
  hash_of("{\"x\": 1}", b);
  assert_string_not_equal(a, b);
  hash_of("{\"x\": \"1\"}", a);
  assert_string_not_equal(a, b); /* a string is not a number */
  hash_of("{}", a);
  mtq_result_hash(NULL, b);
  assert_string_equal(a, b);
  hash_of("{\"a\": {\"b\": 1}}", a);
  hash_of("{\"a.b\": 1}", b);
  assert_string_not_equal(a, b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_first),          cmocka_unit_test(test_quorum_agree),
      cmocka_unit_test(test_quorum_disagree), cmocka_unit_test(test_all),
      cmocka_unit_test(test_canonical_hash),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
