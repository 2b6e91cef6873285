/* test_util.h - what several unit tests share: a document from JSON text
 * the test wrote, checks cmocka does not have (among them that of a
 * refusal: mtq's error domain, a code, and the fragments its message must
 * name), and a cmocka fixture that hands each test a freshly initialised
 * object.  Header-only, static inline: each test is one executable of its
 * own. */
#ifndef MTQ_TEST_UTIL_H
#define MTQ_TEST_UTIL_H

/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "mtq_error.h"

/* cmocka 1.1.5 only compares floats; mtq's figures are doubles. */
#define assert_near(a, b) assert_true(fabs((double)(a) - (double)(b)) < 1e-9)

/* The document of JSON text written by the test; the test fails when it
 * is not JSON.  Caller destroys. */
static inline bson_t *doc_from_json(const char *json) {
  bson_error_t error;
  bson_t *doc = bson_new_from_json((const uint8_t *)json, -1, &error);
  if (!doc) {
    fail_msg("bad test JSON: %s\n  %s", error.message, json);
  }
  return doc;
}

static inline void assert_contains(const char *haystack, const char *needle) {
  if (!strstr(haystack, needle)) {
    fail_msg("\"%s\" does not mention \"%s\"", haystack, needle);
  }
}

/* error must be mtq's, with code, and its message must name each of frags
 * (a NULL-terminated list).  input, when not NULL, is what was refused:
 * it is shown if the message falls short. */
static inline void test_assert_refusal(const bson_error_t *error, uint32_t code,
                                       const char *const *frags, const char *input) {
  assert_int_equal(error->domain, MTQ_ERROR_DOMAIN);
  assert_int_equal(error->code, code);
  for (size_t i = 0; frags[i]; i++) {
    if (!strstr(error->message, frags[i])) {
      fail_msg("\"%s\" does not mention \"%s\"%s%s", error->message, frags[i],
               input ? "; input:\n" : "", input ? input : "");
    }
  }
}

/* assert_refusal(&error, code, "fragment", ...): at least one fragment. */
#define assert_refusal(error, code, ...) \
  test_assert_refusal((error), (code), (const char *const[]){__VA_ARGS__, NULL}, NULL)

/* TEST_FIXTURE(name, type, init, cleanup) defines setup_name and
 * teardown_name for cmocka_unit_test_setup_teardown: each test finds in
 * *state a type of its own, init()ed before it and cleanup()ed after. */
#define TEST_FIXTURE(name, type, init, cleanup) \
  static int setup_##name(void **state) {       \
    type *object = bson_malloc(sizeof *object); \
    init(object);                               \
    *state = object;                            \
    return 0;                                   \
  }                                             \
  static int teardown_##name(void **state) {    \
    cleanup(*state);                            \
    bson_free(*state);                          \
    return 0;                                   \
  }

#endif
