/* test_cli_json.c - the CLI's JSON printer (cli/output.c): libbson's relaxed
 * extended JSON, character for character, except that doubles come out in
 * their shortest form that reads back to the same value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The JSON of {"v": value}, as the CLI prints it. */
static char *json_of_double(double v) {
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_DOUBLE(&doc, "v", v);
  char *json = mtq_cli_json(&doc);
  bson_destroy(&doc);
  return json;
}

static void expect_double(double v, const char *want) {
  char *json = json_of_double(v);
  char *expected = bson_strdup_printf("{ \"v\" : %s }", want);
  assert_string_equal(json, expected);
  bson_free(expected);
  bson_free(json);
}

static void test_doubles_short(void **unused) {
  (void)unused;
  expect_double(0.1, "0.1");
  expect_double(4.69, "4.69");
  expect_double(0.1 + 0.2, "0.30000000000000004");
  expect_double(94.384133120000015538, "94.38413312000002");
  expect_double(2.0 / 3.0, "0.6666666666666666");
  expect_double(1e300, "1e+300");
  expect_double(-1.5e-7, "-1.5e-07");
  expect_double(123456789012.25, "123456789012.25");
}

/* Whole numbers keep ".0", as libbson writes them, so that a reader can
 * still tell a double from an integer. */
static void test_doubles_whole(void **unused) {
  (void)unused;
  expect_double(3.0, "3.0");
  expect_double(0.0, "0.0");
  expect_double(-0.0, "-0.0");
  expect_double(-42.0, "-42.0");
  expect_double(1e15, "1e+15");
}

/* Not numbers in JSON: libbson's {"$numberDouble": ...}. */
static void test_doubles_not_finite(void **unused) {
  (void)unused;
  expect_double(NAN, "{ \"$numberDouble\" : \"NaN\" }");
  expect_double(INFINITY, "{ \"$numberDouble\" : \"Infinity\" }");
  expect_double(-INFINITY, "{ \"$numberDouble\" : \"-Infinity\" }");
}

/* Every finite double printed reads back as itself (what the JSON parser of
 * a script would see), over values of every magnitude. */
static void test_doubles_round_trip(void **unused) {
  (void)unused;
  srand(7);
  for (int i = 0; i < 20000; i++) {
    uint64_t bits = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
    double v;
    memcpy(&v, &bits, sizeof v);
    if (!isfinite(v)) {
      continue;
    }
    char *json = json_of_double(v);
    bson_t back;
    bson_error_t error;
    assert_true(bson_init_from_json(&back, json, -1, &error));
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, &back, "v"));
    assert_true(BSON_ITER_HOLDS_DOUBLE(&it));
    double got = bson_iter_double(&it);
    if (memcmp(&got, &v, sizeof v) != 0) {
      fail_msg("%.17g printed as %s reads back as %.17g", v, json, got);
    }
    bson_destroy(&back);
    bson_free(json);
  }
}

/* Everything but doubles is exactly what libbson prints, so that scripts
 * written against bson_as_relaxed_extended_json keep working. */
static void test_same_as_libbson(void **unused) {
  (void)unused;
  bson_t doc = BSON_INITIALIZER, sub, arr, empty = BSON_INITIALIZER;
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, "0123456789abcdef01234567");
  BSON_APPEND_OID(&doc, "_id", &oid);
  BSON_APPEND_UTF8(&doc, "s", "quote \" backslash \\ newline \n tab \t ctl \x01 utf8 \xc3\xa9 /");
  BSON_APPEND_UTF8(&doc, "key \"quoted\"\n", "v");
  BSON_APPEND_INT32(&doc, "i32", -7);
  BSON_APPEND_INT64(&doc, "i64", INT64_C(9007199254740993));
  BSON_APPEND_BOOL(&doc, "t", true);
  BSON_APPEND_BOOL(&doc, "f", false);
  BSON_APPEND_NULL(&doc, "n");
  BSON_APPEND_DATE_TIME(&doc, "date", INT64_C(1714557600123));
  BSON_APPEND_DATE_TIME(&doc, "before_1970", -5000);
  BSON_APPEND_TIMESTAMP(&doc, "ts", 1, 2);
  BSON_APPEND_REGEX(&doc, "re", "a.b", "i");
  static const uint8_t bytes[] = {1, 2, 3};
  BSON_APPEND_BINARY(&doc, "bin", BSON_SUBTYPE_BINARY, bytes, sizeof bytes);
  BSON_APPEND_MINKEY(&doc, "min");
  BSON_APPEND_MAXKEY(&doc, "max");
  bson_decimal128_t dec;
  bson_decimal128_from_string("1.5", &dec);
  BSON_APPEND_DECIMAL128(&doc, "dec", &dec);
  BSON_APPEND_CODE(&doc, "code", "x()");
  BSON_APPEND_DOCUMENT(&doc, "empty_doc", &empty);
  BSON_APPEND_ARRAY_BEGIN(&doc, "empty_arr", &arr);
  bson_append_array_end(&doc, &arr);
  BSON_APPEND_DOCUMENT_BEGIN(&doc, "nested", &sub);
  BSON_APPEND_ARRAY_BEGIN(&sub, "list", &arr);
  BSON_APPEND_INT32(&arr, "0", 1);
  BSON_APPEND_UTF8(&arr, "1", "x");
  BSON_APPEND_NULL(&arr, "2");
  BSON_APPEND_DOCUMENT(&arr, "3", &empty);
  bson_append_array_end(&sub, &arr);
  BSON_APPEND_BOOL(&sub, "flag", true);
  bson_append_document_end(&doc, &sub);

  char *ours = mtq_cli_json(&doc);
  char *theirs = bson_as_relaxed_extended_json(&doc, NULL);
  assert_non_null(theirs);
  assert_string_equal(ours, theirs);
  bson_free(ours);
  bson_free(theirs);

  bson_t none = BSON_INITIALIZER;
  ours = mtq_cli_json(&none);
  assert_string_equal(ours, "{ }");
  bson_free(ours);
  bson_destroy(&doc);
}

/* mtq_cli_print_array: the array under a key, an empty one without it. */
static void test_print_array(void **unused) {
  (void)unused;
  bson_t doc = BSON_INITIALIZER, arr, one;
  BSON_APPEND_ARRAY_BEGIN(&doc, "workers", &arr);
  BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &one);
  BSON_APPEND_UTF8(&one, "_id", "m1");
  bson_t load;
  BSON_APPEND_ARRAY_BEGIN(&one, "load", &load);
  BSON_APPEND_DOUBLE(&load, "0", 4.69);
  BSON_APPEND_DOUBLE(&load, "1", 0.1);
  bson_append_array_end(&one, &load);
  bson_append_document_end(&arr, &one);
  bson_append_array_end(&doc, &arr);

  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  assert_non_null(out);
  mtq_cli_print_array(&doc, "workers", out);
  mtq_cli_print_array(&doc, "missing", out);
  fclose(out);
  assert_string_equal(buf, "[ { \"_id\" : \"m1\", \"load\" : [ 4.69, 0.1 ] } ]\n[  ]\n");
  free(buf);
  bson_destroy(&doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_doubles_short),      cmocka_unit_test(test_doubles_whole),
      cmocka_unit_test(test_doubles_not_finite), cmocka_unit_test(test_doubles_round_trip),
      cmocka_unit_test(test_same_as_libbson),    cmocka_unit_test(test_print_array),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
