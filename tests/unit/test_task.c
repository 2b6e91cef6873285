/* test_task.c - building, encoding, decoding and validating task documents
 * (common/task.c).  No database: documents are built and read in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "mtq_error.h"
#include "mtq_task.h"
#include "test_util.h"

/* A fixed creation time: nothing here reads the clock except the test of
 * mtq_now_ms itself. */
#define NOW_MS INT64_C(1700000000000)

static const char name64[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char name65[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/* --- helpers -------------------------------------------------------------- */

TEST_FIXTURE(task, mtq_task_t, mtq_task_init, mtq_task_cleanup)

/* The least a valid task needs, as designated initializers (for tables of
 * options) and as a value to change. */
#define BASE_OPTS .channel = "default", .func = "square"

static mtq_enqueue_opts_t base_opts(void) {
  mtq_enqueue_opts_t o = {BASE_OPTS};
  return o;
}

/* mtq_task_build must refuse opts with code and a message mentioning frag. */
static void expect_build_fails(const mtq_enqueue_opts_t *opts, mtq_errcode_t code,
                               const char *frag) {
  mtq_task_t t;
  bson_error_t error;
  mtq_task_init(&t);
  memset(&error, 0, sizeof error);
  bool ok = mtq_task_build(&t, opts, NOW_MS, &error);
  mtq_task_cleanup(&t);
  if (ok) {
    fail_msg("build accepted (expected \"%s\")", frag);
  }
  assert_refusal(&error, code, frag);
}

static void build_ok(mtq_task_t *t, const mtq_enqueue_opts_t *opts) {
  bson_error_t error;
  if (!mtq_task_build(t, opts, NOW_MS, &error)) {
    fail_msg("build refused: %s", error.message);
  }
}

/* A valid task document, as mtq_task_to_bson writes it. */
static bson_t *valid_doc(void) {
  mtq_task_t t;
  mtq_task_init(&t);
  mtq_enqueue_opts_t o = base_opts();
  o.args_json = "{\"x\": 1}";
  build_ok(&t, &o);
  bson_t *doc = bson_new();
  mtq_task_to_bson(&t, doc);
  mtq_task_cleanup(&t);
  return doc;
}

/* valid_doc() with field replaced by whatever append() adds (or just
 * removed when append is NULL). */
typedef void (*append_fn)(bson_t *doc, const char *key);

static bson_t *doc_with(const char *field, append_fn append) {
  bson_t *base = valid_doc();
  bson_t *doc = bson_new();
  bson_copy_to_excluding_noinit(base, doc, field, NULL);
  bson_destroy(base);
  if (append) {
    append(doc, field);
  }
  return doc;
}

/* Reading doc must fail, naming field; the message must also contain frag. */
static void expect_read_fails(bson_t *doc, const char *field, const char *frag) {
  mtq_task_t t;
  bson_error_t error;
  mtq_task_init(&t);
  memset(&error, 0, sizeof error);
  bool ok = mtq_task_from_bson(&t, doc, "default", &error);
  mtq_task_cleanup(&t);
  char *json = bson_as_relaxed_extended_json(doc, NULL);
  bson_destroy(doc);
  if (ok) {
    fail_msg("accepted: %s", json);
  }
  bson_free(json);
  char quoted[80];
  snprintf(quoted, sizeof quoted, "'%s'", field);
  assert_refusal(&error, MTQ_ERR_INVALID, quoted, frag);
}

static void read_ok(mtq_task_t *t, bson_t *doc) {
  bson_error_t error;
  bool ok = mtq_task_from_bson(t, doc, "default", &error);
  bson_destroy(doc);
  if (!ok) {
    fail_msg("refused: %s", error.message);
  }
}

static void put_utf8(bson_t *d, const char *k) { BSON_APPEND_UTF8(d, k, "5"); }
static void put_bad_name(bson_t *d, const char *k) { BSON_APPEND_UTF8(d, k, "no spaces allowed"); }
static void put_int32_1(bson_t *d, const char *k) { BSON_APPEND_INT32(d, k, 1); }
static void put_int32_0(bson_t *d, const char *k) { BSON_APPEND_INT32(d, k, 0); }
static void put_int32_neg(bson_t *d, const char *k) { BSON_APPEND_INT32(d, k, -1); }
static void put_int32_10(bson_t *d, const char *k) { BSON_APPEND_INT32(d, k, 10); }
static void put_int32_1001(bson_t *d, const char *k) { BSON_APPEND_INT32(d, k, 1001); }
static void put_int64_7(bson_t *d, const char *k) { BSON_APPEND_INT64(d, k, 7); }
static void put_double_5(bson_t *d, const char *k) { BSON_APPEND_DOUBLE(d, k, 5.0); }
static void put_double_5_5(bson_t *d, const char *k) { BSON_APPEND_DOUBLE(d, k, 5.5); }
static void put_null(bson_t *d, const char *k) { BSON_APPEND_NULL(d, k); }
static void put_bool(bson_t *d, const char *k) { BSON_APPEND_BOOL(d, k, true); }
static void put_date_string(bson_t *d, const char *k) {
  BSON_APPEND_UTF8(d, k, "2024-01-01T00:00:00Z");
}
static void put_unknown_status(bson_t *d, const char *k) { BSON_APPEND_UTF8(d, k, "paused"); }
static void put_invalid_status(bson_t *d, const char *k) { BSON_APPEND_UTF8(d, k, "invalid"); }
static void put_json_string(bson_t *d, const char *k) { BSON_APPEND_UTF8(d, k, "{\"x\": 1}"); }
static void put_array(bson_t *d, const char *k) {
  bson_t arr;
  BSON_APPEND_ARRAY_BEGIN(d, k, &arr);
  BSON_APPEND_INT32(&arr, "0", 1);
  bson_append_array_end(d, &arr);
}
static void put_oid_string(bson_t *d, const char *k) {
  BSON_APPEND_UTF8(d, k, "65a1b2c3d4e5f60718293a4b");
}
static void put_doc(bson_t *d, const char *k) {
  bson_t sub;
  BSON_APPEND_DOCUMENT_BEGIN(d, k, &sub);
  BSON_APPEND_INT32(&sub, "ok", 1);
  bson_append_document_end(d, &sub);
}

/* --- mtq_name_valid ------------------------------------------------------- */

static void test_name_valid(void **unused) {
  assert_int_equal(strlen(name64), 64);
  assert_int_equal(strlen(name65), 65);
  assert_true(mtq_name_valid(name64));
  assert_false(mtq_name_valid(name65));
  assert_true(mtq_name_valid("a"));
  assert_true(mtq_name_valid("Az09_.-"));
  assert_true(mtq_name_valid("..."));
  assert_false(mtq_name_valid(""));
  assert_false(mtq_name_valid(NULL));
  assert_false(mtq_name_valid("a b"));
  assert_false(mtq_name_valid("a/b"));
  assert_false(mtq_name_valid("a$b"));
  assert_false(mtq_name_valid("a\n"));
  assert_false(mtq_name_valid("caf\xc3\xa9"));
  assert_false(mtq_name_valid("tab\there"));
}

/* --- mtq_task_init / mtq_now_ms ------------------------------------------ */

static void test_task_init(void **state) {
  mtq_task_t *t = *state;
  assert_null(t->args);
  assert_null(t->result);
  assert_null(t->error);
  assert_int_equal(t->status, MTQ_STATE_INVALID);
  assert_true(t->is_enable);
  assert_string_equal(t->channel, "");
}

static void test_now_ms(void **unused) {
  int64_t before = (int64_t)time(NULL) * 1000;
  int64_t now = mtq_now_ms();
  int64_t after = (int64_t)time(NULL) * 1000;
  assert_true(now >= before);
  assert_true(now < after + 1000);
}

/* --- mtq_task_build ------------------------------------------------------- */

static void test_build_defaults(void **state) {
  mtq_task_t *t = *state;
  mtq_enqueue_opts_t o = base_opts();
  build_ok(t, &o);
  assert_string_equal(t->channel, "default");
  assert_string_equal(t->func, "square");
  assert_string_equal(t->version, "1");
  assert_non_null(t->args);
  assert_int_equal(bson_count_keys(t->args), 0);
  assert_int_equal(t->priority, 0);
  assert_true(t->is_enable);
  assert_int_equal(t->status, MTQ_STATE_QUEUED);
  assert_int_equal(t->attempt, 0);
  assert_int_equal(t->max_attempts, MTQ_DEFAULT_MAX_ATTEMPTS);
  assert_int_equal(t->timeout_s, MTQ_DEFAULT_TIMEOUT_S);
  assert_int_equal(t->token, 0);
  assert_int_equal(t->created_at, NOW_MS);
  assert_true(t->not_before == 0 || t->not_before == NOW_MS); /* 0 = now */
  assert_int_equal(t->claimed_at, 0);
  assert_int_equal(t->finished_at, 0);
  assert_string_equal(t->worker, "");
  assert_null(t->result);
  assert_null(t->error);

  bson_oid_t zero;
  memset(&zero, 0, sizeof zero);
  assert_false(bson_oid_equal(&t->id, &zero));
  /* Every build gets its own id. */
  bson_oid_t first = t->id;
  build_ok(t, &o);
  assert_false(bson_oid_equal(&t->id, &first));
}

static void test_build_explicit(void **state) {
  mtq_task_t *t = *state;
  mtq_enqueue_opts_t o = base_opts();
  o.channel = name64;
  o.func = "resize.v2";
  o.version = "2024-01";
  o.args_json = " \n{\"w\": 640, \"nested\": {\"list\": [1, 2, {\"k\": \"v\"}]}}";
  o.priority = MTQ_PRIORITY_MAX;
  o.timeout_s = 60;
  o.max_attempts = 1000;
  build_ok(t, &o);
  assert_string_equal(t->channel, name64);
  assert_string_equal(t->func, "resize.v2");
  assert_string_equal(t->version, "2024-01");
  assert_int_equal(t->priority, 9);
  assert_int_equal(t->timeout_s, 60);
  assert_int_equal(t->max_attempts, 1000);
  assert_int_equal(t->status, MTQ_STATE_QUEUED);

  bson_iter_t it, found;
  assert_true(bson_iter_init(&it, t->args));
  assert_true(bson_iter_find_descendant(&it, "w", &found));
  assert_int_equal(bson_iter_as_int64(&found), 640);
  assert_true(bson_iter_init(&it, t->args));
  assert_true(bson_iter_find_descendant(&it, "nested.list.2.k", &found));
  assert_string_equal(bson_iter_utf8(&found, NULL), "v");
}

static void test_build_delayed(void **state) {
  mtq_task_t *t = *state;
  mtq_enqueue_opts_t o = base_opts();
  o.delay_ms = 5000;
  build_ok(t, &o);
  assert_int_equal(t->status, MTQ_STATE_DELAYED);
  assert_int_equal(t->not_before, NOW_MS + 5000);
  assert_int_equal(t->created_at, NOW_MS);

  o.delay_ms = 1;
  build_ok(t, &o);
  assert_int_equal(t->status, MTQ_STATE_DELAYED);
  assert_int_equal(t->not_before, NOW_MS + 1);
}

/* Options that are all valid but one, and what the refusal must mention. */
static void test_build_refused(void **unused) {
  static const struct {
    mtq_enqueue_opts_t opts;
    const char *frag;
  } cases[] = {
      {{.channel = NULL, .func = "square"}, "channel"},
      {{.channel = "", .func = "square"}, "channel"},
      {{.channel = "my channel", .func = "square"}, "channel 'my channel'"},
      {{.channel = name65, .func = "square"}, "channel"},
      {{.channel = "default", .func = NULL}, "function"},
      {{.channel = "default", .func = "sq/uare"}, "function 'sq/uare'"},
      {{.channel = "default", .func = "$sq"}, "function"},
      {{BASE_OPTS, .version = ""}, "version"},
      {{BASE_OPTS, .version = "1 0"}, "version '1 0'"},
      {{BASE_OPTS, .priority = MTQ_PRIORITY_MIN - 1}, "priority -1"},
      {{BASE_OPTS, .priority = MTQ_PRIORITY_MAX + 1}, "priority 10"},
      {{BASE_OPTS, .priority = INT32_MIN}, "priority"},
      {{BASE_OPTS, .delay_ms = -1}, "delay"},
      {{BASE_OPTS, .timeout_s = -5}, "timeout"},
      {{BASE_OPTS, .max_attempts = -1}, "max attempts"},
      {{BASE_OPTS, .max_attempts = 1001}, "max attempts"},
      /* A delay past a year is refused before not_before can overflow. */
      {{BASE_OPTS, .delay_ms = INT64_MAX}, "delay must be"},
      {{BASE_OPTS, .delay_ms = MTQ_MAX_DELAY_MS + 1}, "delay must be"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    expect_build_fails(&cases[i].opts, MTQ_ERR_INVALID, cases[i].frag);
  }
}

/* The bounds themselves are valid (the values just past them are refused
 * in test_build_refused). */
static void test_build_priority_range(void **state) {
  mtq_enqueue_opts_t o = base_opts();
  o.priority = MTQ_PRIORITY_MIN;
  build_ok(*state, &o);
  o.priority = MTQ_PRIORITY_MAX;
  build_ok(*state, &o);
}

static void test_build_malformed_json(void **unused) {
  /* The last two: libbson would keep the first object and drop the rest. */
  static const char *const bad[] = {"{", "{\"a\": }", "{\"a\" 1}", "{'a': 1}", "{\"a\": 1,}",
                                    "{\"a\": tru}", "{\"a\": 1}{\"b\": 2}", "{\"s\": \"}\"} x"};
  mtq_enqueue_opts_t o = base_opts();
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    o.args_json = bad[i];
    expect_build_fails(&o, MTQ_ERR_INVALID, "args: malformed JSON");
  }
}

static void test_build_args_not_an_object(void **unused) {
  static const char *const bad[] = {"[1, 2]", "[]",   "5",   "\"text\"", "null",
                                    "true",   "",     "   ", "x{}"};
  mtq_enqueue_opts_t o = base_opts();
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    o.args_json = bad[i];
    expect_build_fails(&o, MTQ_ERR_INVALID, "args: expected a JSON object");
  }
}

/* JSON {"s": "xxx...x"} with n x's is n + 13 bytes as BSON: 4 (length) +
 * 1 (type) + 2 ("s\0") + 4 (string length) + n + 1 (NUL) + 1 (end). */
static char *json_of_bson_size(size_t bson_bytes) {
  size_t n = bson_bytes - 13;
  char *json = bson_malloc(n + 16);
  memcpy(json, "{\"s\": \"", 7);
  memset(json + 7, 'x', n);
  memcpy(json + 7 + n, "\"}", 3);
  return json;
}

static void test_build_args_size_limit(void **state) {
  mtq_enqueue_opts_t o = base_opts();
  char *at_limit = json_of_bson_size(MTQ_ARGS_MAX_BYTES);
  o.args_json = at_limit;
  build_ok(*state, &o);
  assert_int_equal(((mtq_task_t *)*state)->args->len, MTQ_ARGS_MAX_BYTES);
  bson_free(at_limit);

  char *over = json_of_bson_size(MTQ_ARGS_MAX_BYTES + 1);
  o.args_json = over;
  expect_build_fails(&o, MTQ_ERR_TOO_LARGE, "args:");
  bson_free(over);
}

/* Keys MongoDB reserves, at any depth of args; the refusal names the key. */
static void test_build_reserved_field_names(void **unused) {
  static const struct {
    const char *args_json, *key;
  } cases[] = {
      {"{\"a.b\": 1}", "'a.b'"},
      {"{\".\": 1}", "'.'"},
      {"{\"$where\": \"1\"}", "'$where'"},
      {"{\"ok\": 1, \"x\": {\"$set\": 1}}", "'$set'"},
      {"{\"x\": {\"y\": {\"z.w\": 1}}}", "'z.w'"},
      {"{\"x\": [1, {\"k.j\": 2}]}", "'k.j'"},
      {"{\"x\": [[{\"$inc\": 2}]]}", "'$inc'"},
      {"{\"x\": [1, {\"$k\": 2}]}", "'$k'"},
  };
  mtq_enqueue_opts_t o = base_opts();
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    o.args_json = cases[i].args_json;
    expect_build_fails(&o, MTQ_ERR_INVALID, cases[i].key);
  }
}

static void test_build_allowed_field_names(void **state) {
  /* '$' after the first character is fine, and so is extended JSON, which
   * becomes a typed value rather than a '$' key. */
  mtq_enqueue_opts_t o = base_opts();
  o.args_json = "{\"price$\": 1, \"when\": {\"$date\": \"2024-01-01T00:00:00Z\"},"
                " \"\": 0, \"sp ace\": 2}";
  build_ok(*state, &o);
  bson_iter_t it;
  assert_true(bson_iter_init_find(&it, ((mtq_task_t *)*state)->args, "when"));
  assert_true(BSON_ITER_HOLDS_DATE_TIME(&it));
}

/* --- mtq_json_to_doc ------------------------------------------------------ */

static char *nested_json(int levels) {
  bson_string_t *s = bson_string_new("{");
  for (int i = 0; i < levels; i++) {
    bson_string_append(s, "\"a\": {");
  }
  for (int i = 0; i <= levels; i++) {
    bson_string_append(s, "}");
  }
  return bson_string_free(s, false);
}

/* Whether mtq_json_to_doc accepts all of json under a limit of max_bytes;
 * error (which may be NULL) says why not. */
static bool json_parses(const char *json, size_t max_bytes, bson_error_t *error) {
  bson_t doc;
  bool ok = mtq_json_to_doc(json, strlen(json), max_bytes, &doc, error);
  bson_destroy(&doc); /* *out is initialised even on failure */
  return ok;
}

static void test_json_to_doc(void **unused) {
  bson_t doc;
  bson_error_t error;
  const char *json = "\t\r\n {\"a\": 1, \"b\": [true, null]}";
  assert_true(mtq_json_to_doc(json, strlen(json), 1024, &doc, &error));
  assert_int_equal(bson_count_keys(&doc), 2);
  assert_true(bson_has_field(&doc, "b"));
  bson_destroy(&doc);

  /* Only len bytes are read. */
  const char *longer = "{\"a\": 1}{\"b\": 2}";
  assert_true(mtq_json_to_doc(longer, 8, 1024, &doc, &error));
  assert_false(bson_has_field(&doc, "b"));
  bson_destroy(&doc);

  /* The limit is the encoded size: {"a": 1} is 12 bytes. */
  assert_true(json_parses("{\"a\": 1}", 12, &error));
  assert_false(json_parses("{\"a\": 1}", 11, &error));
  assert_int_equal(error.code, MTQ_ERR_TOO_LARGE);

  assert_false(json_parses("[1]", 1024, &error));
  assert_int_equal(error.domain, MTQ_ERROR_DOMAIN);
  assert_int_equal(error.code, MTQ_ERR_INVALID);
  assert_false(json_parses("{\"a\":", 1024, &error));
  assert_contains(error.message, "malformed JSON");
  assert_false(json_parses("{\"a.b\": 1}", 1024, NULL));
  assert_false(json_parses("", 1024, NULL));
}

static void test_json_to_doc_depth(void **unused) {
  bson_error_t error;
  char *ok = nested_json(64);
  assert_true(json_parses(ok, 1 << 20, &error));
  bson_free(ok);
  char *deep = nested_json(65);
  assert_false(json_parses(deep, 1 << 20, &error));
  assert_refusal(&error, MTQ_ERR_INVALID, "nested deeper than 64");
  bson_free(deep);
}

/* Found by tests/fuzz/fuzz_json: libbson parses an over-long NUL inside a
 * string but cannot print the document as JSON again, which the worker does
 * to hand args to the task. */
static void test_json_to_doc_unprintable(void **unused) {
  bson_error_t error;
  assert_false(json_parses("{\"a\": \"x\xc0\x80y\"}", 1024, &error));
  assert_refusal(&error, MTQ_ERR_INVALID, "not valid UTF-8");
  /* An escaped NUL is fine: it prints as \u0000. */
  assert_true(json_parses("{\"a\": \"x\\u0000y\"}", 1024, &error));
}

/* Found by tests/fuzz/fuzz_json: a date after 9999 prints as
 * "10000-01-01T00:00:00Z", which does not parse again. */
static void test_json_to_doc_date_range(void **unused) {
  bson_error_t error;
  assert_true(json_parses("{\"at\": {\"$date\": {\"$numberLong\": \"253402300799999\"}}}", 1024,
                          &error));
  assert_false(json_parses(
      "{\"a\": [{\"at\": {\"$date\": {\"$numberLong\": \"253402300800000\"}}}]}", 1024, &error));
  assert_refusal(&error, MTQ_ERR_INVALID, "'at' is a date after the year 9999");
  /* Before 1970 prints as a number of milliseconds, and parses again. */
  assert_true(json_parses("{\"at\": {\"$date\": {\"$numberLong\": \"-62135596800000\"}}}", 1024,
                          &error));
}

/* --- mtq_task_to_bson / mtq_task_from_bson round trip --------------------- */

static void assert_same_doc(const bson_t *a, const bson_t *b) {
  if (!a || !b) {
    assert_ptr_equal(a, b);
    return;
  }
  assert_int_equal(a->len, b->len);
  assert_memory_equal(bson_get_data(a), bson_get_data(b), a->len);
}

static void assert_same_task(const mtq_task_t *a, const mtq_task_t *b) {
  assert_true(bson_oid_equal(&a->id, &b->id));
  assert_string_equal(a->channel, b->channel);
  assert_string_equal(a->func, b->func);
  assert_string_equal(a->version, b->version);
  assert_same_doc(a->args, b->args);
  assert_int_equal(a->priority, b->priority);
  assert_int_equal(a->is_enable, b->is_enable);
  assert_int_equal(a->status, b->status);
  assert_int_equal(a->attempt, b->attempt);
  assert_int_equal(a->max_attempts, b->max_attempts);
  assert_int_equal(a->timeout_s, b->timeout_s);
  assert_int_equal(a->token, b->token);
  assert_int_equal(a->not_before, b->not_before);
  assert_int_equal(a->created_at, b->created_at);
  assert_int_equal(a->claimed_at, b->claimed_at);
  assert_int_equal(a->finished_at, b->finished_at);
  assert_string_equal(a->worker, b->worker);
  assert_same_doc(a->result, b->result);
  if (a->error || b->error) {
    assert_non_null(a->error);
    assert_non_null(b->error);
    assert_string_equal(a->error, b->error);
  }
}

static void round_trip(const mtq_task_t *t) {
  bson_t doc = BSON_INITIALIZER;
  mtq_task_to_bson(t, &doc);
  mtq_task_t back;
  bson_error_t error;
  mtq_task_init(&back);
  bool ok = mtq_task_from_bson(&back, &doc, "ignored-when-doc-has-one", &error);
  bson_destroy(&doc);
  if (!ok) {
    mtq_task_cleanup(&back);
    fail_msg("round trip refused: %s", error.message);
  }
  assert_same_task(t, &back);
  mtq_task_cleanup(&back);
}

static void test_round_trip_every_field(void **state) {
  mtq_task_t *t = *state;
  mtq_enqueue_opts_t o = base_opts();
  o.channel = "gpu";
  o.func = "render";
  o.version = "3.1";
  o.args_json = "{\"scene\": \"a\", \"frames\": [1, 2, 3], \"opts\": {\"hq\": true, \"f\": 0.5}}";
  o.priority = 7;
  o.delay_ms = 2500;
  o.timeout_s = 120;
  o.max_attempts = 5;
  build_ok(t, &o);
  t->is_enable = false;
  t->status = MTQ_STATE_RUNNING;
  t->attempt = 2;
  t->token = INT64_C(1) << 40;
  t->claimed_at = NOW_MS + 3000;
  t->finished_at = NOW_MS + 9000;
  bson_strncpy(t->worker, "m1.example", sizeof t->worker);
  t->result = BCON_NEW("out", BCON_UTF8("frame.png"), "n", BCON_INT64(3));
  t->error = bson_strdup("attempt 1: exit status 2\nTraceback ...");
  round_trip(t);
}

static void test_round_trip_fresh_task(void **state) {
  /* Unset optional fields are written as null and read back as unset. */
  mtq_task_t *t = *state;
  mtq_enqueue_opts_t o = base_opts();
  build_ok(t, &o);
  round_trip(t);
}

static void test_round_trip_every_state(void **state) {
  mtq_task_t *t = *state;
  mtq_enqueue_opts_t o = base_opts();
  build_ok(t, &o);
  for (int s = 0; s < MTQ_STATE_COUNT; s++) {
    t->status = (mtq_state_t)s;
    round_trip(t);
  }
}

/* Every key of the field table, in its order. */
static const char *const table_keys[] = {
#define KEY(key, member, kind, lo, hi, missing, when, print) key,
    MTQ_TASK_FIELDS(KEY)
#undef KEY
};
#define N_TABLE_KEYS (sizeof table_keys / sizeof table_keys[0])

/* Writes t, reads it back and writes it again: the two documents must be
 * equal, and their keys in the table's order.  Each key written is marked in
 * written[]. */
static void assert_table_round_trip(const mtq_task_t *t, bool written[N_TABLE_KEYS]) {
  bson_t doc = BSON_INITIALIZER, again_doc = BSON_INITIALIZER;
  mtq_task_to_bson(t, &doc);
  mtq_task_t back;
  mtq_task_init(&back);
  bson_error_t error;
  if (!mtq_task_from_bson(&back, &doc, NULL, &error)) {
    fail_msg("refused: %s", error.message);
  }
  mtq_task_to_bson(&back, &again_doc);
  if (!bson_equal(&doc, &again_doc)) {
    char *a = bson_as_canonical_extended_json(&doc, NULL);
    char *b = bson_as_canonical_extended_json(&again_doc, NULL);
    fail_msg("round trip changed the task:\n  %s\n  %s", a, b);
  }
  bson_iter_t it;
  size_t next = 0;
  assert_true(bson_iter_init(&it, &doc));
  while (bson_iter_next(&it)) {
    while (next < N_TABLE_KEYS && strcmp(table_keys[next], bson_iter_key(&it)) != 0) {
      next++;
    }
    if (next == N_TABLE_KEYS) {
      fail_msg("field '%s' is written out of the table's order", bson_iter_key(&it));
    }
    written[next++] = true;
  }
  mtq_task_cleanup(&back);
  bson_destroy(&again_doc);
  bson_destroy(&doc);
}

/* A parent with every optional field set, a copy and a flow's shard:
 * between them every line of the table is written, and read back to the
 * same document. */
static void test_round_trip_whole_table(void **state) {
  mtq_task_t *t = *state;
  mtq_enqueue_opts_t o = base_opts();
  o.args_json = "{\"x\": 1}";
  o.dedupe_key = "order-17";
  o.red.copies = 3;
  o.red.pick = MTQ_PICK_QUORUM;
  o.red.max_replacements = 2;
  o.red.need_gpu = true;
  o.red.min_mem_mb = 512;
  bson_strncpy(o.red.tag, "big", sizeof o.red.tag);
  build_ok(t, &o);
  t->status = MTQ_STATE_RUNNING;
  t->attempt = 2;
  t->token = 5;
  t->claimed_at = NOW_MS + 1;
  t->finished_at = NOW_MS + 2;
  bson_strncpy(t->worker, "w1", sizeof t->worker);
  t->result = BCON_NEW("r", BCON_INT32(1));
  t->error = bson_strdup("exit code 3: \"boom\"\n");
  mtq_task_add_error(t, "exit code 3", NOW_MS + 2);
  bson_strncpy(t->sig_key, "k2", sizeof t->sig_key);
  memset(t->sig, 'a', MTQ_SIG_HEX_LEN);
  t->sig[MTQ_SIG_HEX_LEN] = '\0';
  t->copies = BCON_NEW("0", "{", "slot", BCON_INT32(0), "state", BCON_UTF8("sent"), "}");
  bool written[N_TABLE_KEYS] = {false};
  assert_table_round_trip(t, written);

  mtq_task_t copy;
  mtq_task_init(&copy);
  mtq_enqueue_opts_t c = base_opts();
  c.channel = "to.w1";
  build_ok(&copy, &c);
  copy.parent = t->id;
  copy.slot = 2;
  bson_strncpy(copy.origin, "default", sizeof copy.origin);
  assert_table_round_trip(&copy, written);
  mtq_task_cleanup(&copy);

  /* A shard of a flow's step. */
  mtq_task_t shard;
  mtq_task_init(&shard);
  mtq_enqueue_opts_t f = base_opts();
  build_ok(&shard, &f);
  bson_oid_init(&shard.flow, NULL);
  bson_strncpy(shard.step, "predict", sizeof shard.step);
  shard.shard = 7;
  shard.shards = 20;
  assert_table_round_trip(&shard, written);
  mtq_task_cleanup(&shard);
  for (size_t i = 0; i < N_TABLE_KEYS; i++) {
    if (!written[i]) {
      fail_msg("field '%s' of the table was never written", table_keys[i]);
    }
  }
}

static void test_to_bson_types(void **state) {
  /* The stored types matter to queries and indexes on the server side. */
  mtq_task_t *t = *state;
  mtq_enqueue_opts_t o = base_opts();
  o.delay_ms = 10;
  build_ok(t, &o);
  bson_t doc = BSON_INITIALIZER;
  mtq_task_to_bson(t, &doc);
  static const struct {
    const char *key;
    bson_type_t type;
  } want[] = {
      {"_id", BSON_TYPE_OID},          {"channel", BSON_TYPE_UTF8},
      {"func", BSON_TYPE_UTF8},        {"version", BSON_TYPE_UTF8},
      {"args", BSON_TYPE_DOCUMENT},    {"priority", BSON_TYPE_INT32},
      {"is_enable", BSON_TYPE_BOOL},   {"status", BSON_TYPE_UTF8},
      {"attempt", BSON_TYPE_INT32},    {"max_attempts", BSON_TYPE_INT32},
      {"timeout_s", BSON_TYPE_INT32},  {"token", BSON_TYPE_INT64},
      {"not_before", BSON_TYPE_DATE_TIME}, {"created_at", BSON_TYPE_DATE_TIME},
      {"claimed_at", BSON_TYPE_NULL},  {"finished_at", BSON_TYPE_NULL},
      {"worker", BSON_TYPE_NULL},      {"result", BSON_TYPE_NULL},
      {"error", BSON_TYPE_NULL},       {"backoff_ms", BSON_TYPE_INT32},
      {"backoff_max_ms", BSON_TYPE_INT32},
  };
  bson_iter_t it;
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    if (!bson_iter_init_find(&it, &doc, want[i].key)) {
      fail_msg("no field %s", want[i].key);
    }
    assert_int_equal(bson_iter_type(&it), want[i].type);
  }
  assert_int_equal(bson_count_keys(&doc), sizeof want / sizeof want[0]);
  assert_true(bson_iter_init_find(&it, &doc, "status"));
  assert_string_equal(bson_iter_utf8(&it, NULL), "delayed");
  assert_true(bson_iter_init_find(&it, &doc, "not_before"));
  assert_int_equal(bson_iter_date_time(&it), NOW_MS + 10);
  bson_destroy(&doc);
}

/* --- mtq_task_from_bson: what it refuses ---------------------------------- */

/* Each case is valid_doc() with field replaced by what put() appends: the
 * reader must refuse it, naming the field, and with frag too unless it is
 * NULL. */
static void test_from_bson_bad_values(void **unused) {
  static const struct {
    const char *field;
    append_fn put;
    const char *frag;
  } cases[] = {
      /* Of another type. */
      {"priority", put_utf8, "string"},
      {"priority", put_null, NULL},
      {"is_enable", put_int32_1, "int"},
      {"is_enable", put_utf8, NULL},
      {"status", put_unknown_status, "paused"},
      {"status", put_invalid_status, NULL},
      {"status", put_int32_1, NULL},
      {"args", put_json_string, "string"},
      {"args", put_null, NULL},
      {"args", put_array, "array"},
      {"_id", put_oid_string, "objectId"},
      {"func", put_int32_1, NULL},
      {"func", put_bad_name, "not a valid name"},
      {"version", put_null, NULL},
      {"channel", put_int32_1, NULL},
      {"worker", put_int32_1, NULL},
      {"worker", put_bad_name, NULL},
      {"result", put_utf8, NULL},
      {"error", put_int32_1, NULL},
      {"error", put_doc, NULL},
      {"token", put_utf8, NULL},
      {"attempt", put_bool, NULL},
      /* Of the right type, out of range. */
      {"priority", put_int32_10, "out of range"},
      {"priority", put_int32_neg, "out of range"},
      {"attempt", put_int32_neg, NULL},
      {"max_attempts", put_int32_0, NULL},
      {"max_attempts", put_int32_1001, NULL},
      {"timeout_s", put_int32_0, NULL},
      {"token", put_int32_neg, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    expect_read_fails(doc_with(cases[i].field, cases[i].put), cases[i].field, cases[i].frag);
  }
}

static void test_from_bson_dates(void **unused) {
  static const char *const dates[] = {"not_before", "created_at", "claimed_at", "finished_at"};
  for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
    expect_read_fails(doc_with(dates[i], put_date_string), dates[i], "a date or null");
    /* Milliseconds as a plain number are not a date either. */
    expect_read_fails(doc_with(dates[i], put_int64_7), dates[i], NULL);
  }
}

static void test_from_bson_missing_required(void **unused) {
  static const char *const required[] = {"_id",      "func",      "version", "args",
                                         "priority", "is_enable", "status"};
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
    expect_read_fails(doc_with(required[i], NULL), required[i], "missing");
  }
}

static void test_from_bson_optional_fields_default(void **state) {
  mtq_task_t *t = *state;
  bson_t *base = valid_doc();
  bson_t *doc = bson_new();
  bson_copy_to_excluding_noinit(base, doc, "channel", "attempt", "max_attempts", "timeout_s",
                                "token", "not_before", "created_at", "claimed_at", "finished_at",
                                "worker", "result", "error", NULL);
  bson_destroy(base);
  read_ok(t, doc);
  /* The channel comes from the collection the document was read from. */
  assert_string_equal(t->channel, "default");
  assert_int_equal(t->max_attempts, MTQ_DEFAULT_MAX_ATTEMPTS);
  assert_int_equal(t->timeout_s, MTQ_DEFAULT_TIMEOUT_S);
  assert_int_equal(t->attempt, 0);
  assert_int_equal(t->not_before, 0);
  assert_null(t->result);
  assert_null(t->error);
}

/* An ObjectId made at a known second: 0x65a1b2c3 is 1705095875 s. */
#define FIXED_OID "65a1b2c3d4e5f60718293a4b"
#define FIXED_OID_MS INT64_C(1705095875000)

static void put_fixed_oid(bson_t *d, const char *k) {
  bson_oid_t id;
  bson_oid_init_from_string(&id, FIXED_OID);
  BSON_APPEND_OID(d, k, &id);
}

/* valid_doc() with the fixed ObjectId and created_at replaced by what
 * created() appends (left out when NULL). */
static bson_t *doc_created(append_fn created) {
  bson_t *base = valid_doc();
  bson_t *doc = bson_new();
  put_fixed_oid(doc, "_id");
  bson_copy_to_excluding_noinit(base, doc, "_id", "created_at", NULL);
  bson_destroy(base);
  if (created) {
    created(doc, "created_at");
  }
  return doc;
}

static void put_date_now(bson_t *d, const char *k) { BSON_APPEND_DATE_TIME(d, k, NOW_MS); }

/* Another program writing only what the schema requires leaves created_at
 * out; the task was created when its ObjectId was made.  Without that, 0
 * (1970) was what a run's wait_ms counted from: about 1.8e12 ms. */
static void test_from_bson_created_at_from_id(void **state) {
  mtq_task_t *t = *state;
  read_ok(t, doc_created(NULL));
  assert_int_equal(t->created_at, FIXED_OID_MS);
  read_ok(t, doc_created(put_null));
  assert_int_equal(t->created_at, FIXED_OID_MS);
  /* A created_at that is there is kept, whatever the ObjectId says. */
  read_ok(t, doc_created(put_date_now));
  assert_int_equal(t->created_at, NOW_MS);
  /* Written back, it is a date, and reads as the same. */
  read_ok(t, doc_created(NULL));
  bson_t out = BSON_INITIALIZER;
  mtq_task_to_bson(t, &out);
  bson_iter_t it;
  assert_true(bson_iter_init_find(&it, &out, "created_at"));
  assert_true(BSON_ITER_HOLDS_DATE_TIME(&it));
  assert_int_equal(bson_iter_date_time(&it), FIXED_OID_MS);
  bson_destroy(&out);
}

/* The document README's "Producing tasks from another language" tells a
 * producer to write: the fields schemas/task.schema.json requires, nothing
 * else.  Every other field takes the default the schema gives it. */
static void test_from_bson_schema_minimal(void **state) {
  mtq_task_t *t = *state;
  bson_t *doc = bson_new();
  put_fixed_oid(doc, "_id");
  BSON_APPEND_UTF8(doc, "func", "square");
  BSON_APPEND_UTF8(doc, "version", "1");
  bson_t args;
  BSON_APPEND_DOCUMENT_BEGIN(doc, "args", &args);
  BSON_APPEND_INT32(&args, "x", 7);
  bson_append_document_end(doc, &args);
  BSON_APPEND_INT32(doc, "priority", 5);
  BSON_APPEND_BOOL(doc, "is_enable", true);
  BSON_APPEND_UTF8(doc, "status", "queued");
  bson_t *copy = bson_copy(doc);
  read_ok(t, doc);
  assert_string_equal(t->channel, "default"); /* the collection's */
  assert_int_equal(t->status, MTQ_STATE_QUEUED);
  assert_int_equal(t->priority, 5);
  assert_int_equal(t->token, 0);
  assert_int_equal(t->attempt, 0);
  assert_int_equal(t->max_attempts, MTQ_DEFAULT_MAX_ATTEMPTS);
  assert_int_equal(t->timeout_s, MTQ_DEFAULT_TIMEOUT_S);
  assert_int_equal(t->backoff_ms, MTQ_DEFAULT_BACKOFF_MS);
  assert_int_equal(t->backoff_max_ms, MTQ_DEFAULT_BACKOFF_MAX_MS);
  assert_int_equal(t->created_at, FIXED_OID_MS);
  assert_int_equal(t->not_before, 0); /* due at once */
  assert_int_equal(t->claimed_at, 0);
  assert_int_equal(t->finished_at, 0);
  assert_string_equal(t->worker, "");
  assert_null(t->result);
  assert_null(t->error);
  assert_null(t->errors);
  assert_string_equal(t->dedupe_key, "");
  assert_string_equal(t->sig, "");
  assert_false(mtq_task_is_parent(t));
  assert_false(mtq_task_is_copy(t));
  /* The defaults are values the reader accepts: written out, the task reads
   * again as the same one. */
  bson_t out = BSON_INITIALIZER, again_out = BSON_INITIALIZER;
  mtq_task_to_bson(t, &out);
  mtq_task_t again;
  mtq_task_init(&again);
  bson_error_t error;
  assert_true(mtq_task_from_bson(&again, &out, "other", &error));
  mtq_task_to_bson(&again, &again_out);
  assert_true(bson_equal(&out, &again_out));
  mtq_task_cleanup(&again);
  bson_destroy(&again_out);
  bson_destroy(&out);
  /* Each of those fields is needed: without any one, the document is refused. */
  bson_iter_t it;
  assert_true(bson_iter_init(&it, copy));
  while (bson_iter_next(&it)) {
    bson_t *less = bson_new();
    bson_copy_to_excluding_noinit(copy, less, bson_iter_key(&it), NULL);
    expect_read_fails(less, bson_iter_key(&it), "missing");
  }
  bson_destroy(copy);
}

/* mongosh writes every number as a double: a whole one is an integer. */
static void test_from_bson_whole_double(void **state) {
  mtq_task_t *t = *state;
  read_ok(t, doc_with("priority", put_double_5));
  assert_int_equal(t->priority, 5);
  read_ok(t, doc_with("max_attempts", put_double_5));
  assert_int_equal(t->max_attempts, 5);
  read_ok(t, doc_with("priority", put_int64_7));
  assert_int_equal(t->priority, 7);
  expect_read_fails(doc_with("priority", put_double_5_5), "priority", "an integer");
  expect_read_fails(doc_with("timeout_s", put_double_5_5), "timeout_s", NULL);
}

static void test_from_bson_ignores_extra_fields(void **state) {
  mtq_task_t *t = *state;
  read_ok(t, doc_with("operator_note", put_utf8));
  assert_int_equal(t->status, MTQ_STATE_QUEUED);
}

/* Reading into a task that already holds data replaces all of it. */
static void test_from_bson_reuses_task(void **state) {
  mtq_task_t *t = *state;
  mtq_enqueue_opts_t o = base_opts();
  o.args_json = "{\"old\": 1}";
  build_ok(t, &o);
  t->result = BCON_NEW("r", BCON_INT32(1));
  t->error = bson_strdup("old error");
  bson_strncpy(t->worker, "old", sizeof t->worker);
  read_ok(t, valid_doc());
  assert_true(bson_has_field(t->args, "x"));
  assert_false(bson_has_field(t->args, "old"));
  assert_null(t->result);
  assert_null(t->error);
  assert_string_equal(t->worker, "");
}

static void test_from_bson_corrupt(void **state) {
  bson_t *good = valid_doc();
  uint8_t *data = bson_malloc(good->len);
  memcpy(data, bson_get_data(good), good->len);
  data[4] = 0x7f; /* type byte of the first element: not a BSON type */
  bson_t bad;
  assert_true(bson_init_static(&bad, data, good->len));
  bson_error_t error;
  assert_false(mtq_task_from_bson(*state, &bad, "default", &error));
  bson_free(data);
  bson_destroy(good);
}

/* --- mtq_task_list -------------------------------------------------------- */

static void test_task_list(void **unused) {
  mtq_task_list_t list;
  mtq_task_list_init(&list);
  assert_int_equal(list.n, 0);
  mtq_task_list_pop(&list); /* harmless on an empty list */
  assert_int_equal(list.n, 0);

  /* Past the first growth, so items move; every one must survive it. */
  for (int i = 0; i < 40; i++) {
    mtq_task_t *t = mtq_task_list_push(&list);
    assert_ptr_equal(t, &list.items[i]);
    assert_null(t->args);
    assert_int_equal(t->status, MTQ_STATE_INVALID);
    char channel[16];
    snprintf(channel, sizeof channel, "c%d", i);
    mtq_enqueue_opts_t o = base_opts();
    o.channel = channel;
    build_ok(t, &o);
  }
  assert_int_equal(list.n, 40);
  assert_true(list.cap >= 40);
  for (int i = 0; i < 40; i++) {
    char channel[16];
    snprintf(channel, sizeof channel, "c%d", i);
    assert_string_equal(list.items[i].channel, channel);
    assert_non_null(list.items[i].args);
  }

  mtq_task_list_pop(&list);
  assert_int_equal(list.n, 39);
  assert_string_equal(list.items[38].channel, "c38");
  /* The popped slot was cleaned up (its args freed and the slot reset), not
   * just dropped from the count. */
  assert_null(list.items[39].args);
  assert_string_equal(list.items[39].channel, "");
  /* Pushing again gives an empty task there. */
  mtq_task_t *again = mtq_task_list_push(&list);
  assert_ptr_equal(again, &list.items[39]);
  assert_null(again->args);
  assert_string_equal(again->channel, "");

  mtq_task_list_cleanup(&list);
  assert_int_equal(list.n, 0);
  assert_int_equal(list.cap, 0);
  assert_null(list.items);
}

/* Retry backoff: doubles from backoff_ms, capped, jittered into [d/2, d]. */
static void test_backoff(void **unused) {
  mtq_task_t t;
  mtq_task_init(&t);
  t.backoff_ms = 1000;
  t.backoff_max_ms = 5000;
  int64_t want[] = {1000, 1000, 2000, 4000, 5000, 5000};
  for (int32_t a = 0; a <= 5; a++) {
    t.attempt = a;
    assert_int_equal(mtq_task_backoff(&t, 0.0), want[a] / 2);
    assert_true(mtq_task_backoff(&t, 0.999999) <= want[a]);
    assert_true(mtq_task_backoff(&t, 0.999999) >= want[a] - 1);
    assert_int_equal(mtq_task_backoff(&t, 5.0), want[a] / 2); /* r out of range */
  }
  t.attempt = 1000; /* no overflow however many attempts */
  assert_true(mtq_task_backoff(&t, 0.5) <= 5000);
  mtq_task_cleanup(&t);
}

static void test_errors_kept_and_round_trip(void **unused) {
  mtq_task_t t, back;
  mtq_task_init(&t);
  mtq_task_init(&back);
  mtq_enqueue_opts_t o = {.channel = "c", .func = "f", .dedupe_key = "k-1", .backoff_ms = 10,
                          .backoff_max_ms = 20};
  bson_error_t err;
  assert_true(mtq_task_build(&t, &o, 1000, &err));
  assert_int_equal(t.backoff_ms, 10);
  assert_int_equal(t.backoff_max_ms, 20);
  t.attempt = 1;
  bson_strncpy(t.worker, "w1", sizeof t.worker);
  mtq_task_add_error(&t, "boom", 2000);
  t.attempt = 2;
  mtq_task_add_error(&t, "bang", 3000);
  assert_int_equal(bson_count_keys(t.errors), 2);
  bson_t doc = BSON_INITIALIZER;
  mtq_task_to_bson(&t, &doc);
  assert_true(mtq_task_from_bson(&back, &doc, "c", &err));
  assert_string_equal(back.dedupe_key, "k-1");
  assert_int_equal(back.backoff_ms, 10);
  assert_int_equal(bson_count_keys(back.errors), 2);
  bson_iter_t it;
  assert_true(bson_iter_init(&it, back.errors));
  assert_true(bson_iter_find_descendant(&it, "1.error", &it));
  assert_string_equal(bson_iter_utf8(&it, NULL), "bang");
  bson_destroy(&doc);
  mtq_task_cleanup(&back);
  mtq_task_cleanup(&t);
}

static void test_bad_new_options(void **unused) {
  mtq_task_t t;
  mtq_task_init(&t);
  bson_error_t err;
  mtq_enqueue_opts_t o = {.channel = "c", .func = "f", .dedupe_key = ""};
  assert_false(mtq_task_build(&t, &o, 1000, &err));
  char big[MTQ_DEDUPE_KEY_MAX + 2];
  memset(big, 'k', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  o.dedupe_key = big;
  assert_false(mtq_task_build(&t, &o, 1000, &err));
  o.dedupe_key = NULL;
  o.backoff_ms = 100;
  o.backoff_max_ms = 50;
  assert_false(mtq_task_build(&t, &o, 1000, &err));
  mtq_task_cleanup(&t);
}

static void test_disabled_is_a_view(void **unused) {
  mtq_task_t t;
  mtq_task_init(&t);
  t.status = MTQ_STATE_QUEUED;
  t.is_enable = false;
  assert_int_equal(mtq_task_state(&t), MTQ_STATE_DISABLED);
  bson_error_t err;
  assert_true(mtq_task_check_move(&t, MTQ_STATE_QUEUED, "enable", &err));
  t.status = MTQ_STATE_RUNNING; /* a running task is running, whatever is_enable says */
  assert_int_equal(mtq_task_state(&t), MTQ_STATE_RUNNING);
  assert_false(mtq_task_check_move(&t, MTQ_STATE_DISABLED, "disable", &err));
  assert_int_equal(err.code, MTQ_ERR_STATE);
  assert_non_null(strstr(err.message, "is running: cannot disable"));
  mtq_task_cleanup(&t);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_task, teardown_task)
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_name_valid),
      T(test_task_init),
      cmocka_unit_test(test_now_ms),
      T(test_build_defaults),
      T(test_build_explicit),
      T(test_build_delayed),
      cmocka_unit_test(test_build_refused),
      T(test_build_priority_range),
      cmocka_unit_test(test_build_malformed_json),
      cmocka_unit_test(test_build_args_not_an_object),
      T(test_build_args_size_limit),
      cmocka_unit_test(test_build_reserved_field_names),
      T(test_build_allowed_field_names),
      cmocka_unit_test(test_json_to_doc),
      cmocka_unit_test(test_json_to_doc_depth),
      cmocka_unit_test(test_json_to_doc_unprintable),
      cmocka_unit_test(test_json_to_doc_date_range),
      T(test_round_trip_every_field),
      T(test_round_trip_fresh_task),
      T(test_round_trip_every_state),
      T(test_to_bson_types),
      T(test_round_trip_whole_table),
      cmocka_unit_test(test_from_bson_bad_values),
      cmocka_unit_test(test_from_bson_dates),
      cmocka_unit_test(test_from_bson_missing_required),
      T(test_from_bson_optional_fields_default),
      T(test_from_bson_created_at_from_id),
      T(test_from_bson_schema_minimal),
      T(test_from_bson_whole_double),
      T(test_from_bson_ignores_extra_fields),
      T(test_from_bson_reuses_task),
      T(test_from_bson_corrupt),
      cmocka_unit_test(test_task_list),
      cmocka_unit_test(test_backoff),
      cmocka_unit_test(test_errors_kept_and_round_trip),
      cmocka_unit_test(test_bad_new_options),
      cmocka_unit_test(test_disabled_is_a_view),
  };
#undef T
  return cmocka_run_group_tests_name("task", tests, NULL, NULL);
}
