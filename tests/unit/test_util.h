/* test_util.h - what several unit tests share: a document from JSON text
 * the test wrote, and checks cmocka does not have.  Header-only, static
 * inline: each test is one executable of its own. */
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

#include <bson/bson.h>

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

#endif
