/* test_web.c - the pure parts of mtq-web: query parameters and cursors,
 * the users file, argon2id verification, Host/Origin checks, the API's
 * JSON, the [web] section's security rules, throughput by minute. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "auth.h"
#include "json.h"
#include "mtq_perf.h"
#include "params.h"
#include "throttle.h"
#include "throughput.h"
#include "web_config.h"

/* "s3cret", hashed by mtq-web --hash-password. */
static const char known_hash[] =
    "$argon2id$v=19$m=65536,t=3,p=1$OyopH5WbeJFuVnmkV5uKHg$NYTXidPoyCu7dzM/RTs2iJ8BibDTgrZCknq0aHoXdOU";

static bool parse(mtq_web_task_query_t p, mtq_browse_t *q, const char *want_error) {
  bson_error_t error;
  bool ok = mtq_web_task_query_parse(&p, q, &error);
  if (want_error) {
    assert_false(ok);
    if (!strstr(error.message, want_error)) {
      fail_msg("'%s' lacks '%s'", error.message, want_error);
    }
  }
  return ok;
}

static void test_query_defaults(void **state) {
  mtq_browse_t q;
  assert_true(parse((mtq_web_task_query_t){0}, &q, NULL));
  assert_int_equal(q.limit, 50);
  assert_int_equal(q.key, MTQ_BROWSE_CREATED_AT);
  assert_true(q.descending);
  assert_int_equal(q.state, MTQ_STATE_INVALID);
  assert_false(q.has_after);
  assert_true(parse((mtq_web_task_query_t){.channel = "default", .state = "disabled",
                                           .func = "sq", .worker = "m1", .error = "exit code 3",
                                           .sort = "priority", .limit = "500"},
                    &q, NULL));
  assert_int_equal(q.state, MTQ_STATE_DISABLED);
  assert_int_equal(q.key, MTQ_BROWSE_PRIORITY);
  assert_false(q.descending);
  assert_int_equal(q.limit, 500);
  assert_string_equal(q.error_text, "exit code 3");
}

static void test_query_refusals(void **state) {
  mtq_browse_t q;
  parse((mtq_web_task_query_t){.limit = "0"}, &q, "limit must be");
  parse((mtq_web_task_query_t){.limit = "501"}, &q, "limit must be");
  parse((mtq_web_task_query_t){.limit = "5x"}, &q, "limit must be");
  parse((mtq_web_task_query_t){.limit = ""}, &q, "limit must be");
  parse((mtq_web_task_query_t){.limit = "-1"}, &q, "limit must be");
  parse((mtq_web_task_query_t){.sort = "name"}, &q, "sort must be");
  parse((mtq_web_task_query_t){.state = "sleeping"}, &q, "state must be");
  parse((mtq_web_task_query_t){.channel = "a b"}, &q, "channel must be a name");
  parse((mtq_web_task_query_t){.func = "$where"}, &q, "func must be a name");
  parse((mtq_web_task_query_t){.worker = ""}, &q, "worker must be a name");
  parse((mtq_web_task_query_t){.error = ""}, &q, "error must be");
  char big[MTQ_WEB_ERROR_TEXT_MAX + 2];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  parse((mtq_web_task_query_t){.error = big}, &q, "error must be");
  parse((mtq_web_task_query_t){.sort = "finished_at", .state = "queued"}, &q, "has not ended");
  parse((mtq_web_task_query_t){.cursor = "garbage"}, &q, "cursor is malformed");
  parse((mtq_web_task_query_t){.cursor = "1.5.6b1349531faf9e6b6d07d02"}, &q, "malformed");
  parse((mtq_web_task_query_t){.cursor = "9.5.6b1349531faf9e6b6d07d021"}, &q, "malformed");
  parse((mtq_web_task_query_t){.cursor = "1.-5.6b1349531faf9e6b6d07d021"}, &q, "malformed");
  /* A cursor of another sort is refused, not misread. */
  parse((mtq_web_task_query_t){.sort = "priority", .cursor = "1.5.6b1349531faf9e6b6d07d021"},
        &q, "made for sort -created_at");
  parse((mtq_web_task_query_t){.sort = "-priority", .cursor = "3.10.6b1349531faf9e6b6d07d021"},
        &q, "malformed");
}

static void test_cursor_round_trip(void **state) {
  mtq_browse_t q;
  const char *sorts[] = {"created_at", "-created_at", "priority", "-priority", "finished_at",
                         "-finished_at"};
  for (size_t i = 0; i < 6; i++) {
    assert_true(parse((mtq_web_task_query_t){.sort = sorts[i]}, &q, NULL));
    mtq_task_t t;
    mtq_task_init(&t);
    bson_oid_init_from_string(&t.id, "6b1349531faf9e6b6d07d021");
    t.priority = 7;
    t.created_at = 1796426067086;
    t.finished_at = 1796426069999;
    char cursor[MTQ_WEB_CURSOR_MAX];
    mtq_web_cursor_encode(&q, &t, cursor);
    mtq_browse_t back;
    assert_true(parse((mtq_web_task_query_t){.sort = sorts[i], .cursor = cursor}, &back, NULL));
    assert_true(back.has_after);
    assert_int_equal(back.after_value, q.key == MTQ_BROWSE_PRIORITY      ? 7
                                       : q.key == MTQ_BROWSE_FINISHED_AT ? 1796426069999
                                                                         : 1796426067086);
    assert_int_equal(bson_oid_compare(&back.after_id, &t.id), 0);
    mtq_task_cleanup(&t);
  }
}

static void test_oid(void **state) {
  bson_oid_t id;
  assert_true(mtq_web_parse_oid("6b1349531faf9e6b6d07d021", &id));
  assert_true(mtq_web_parse_oid("6B1349531FAF9E6B6D07D021", &id));
  assert_false(mtq_web_parse_oid("6b1349531faf9e6b6d07d02", &id));
  assert_false(mtq_web_parse_oid("6b1349531faf9e6b6d07d0211", &id));
  assert_false(mtq_web_parse_oid("6b1349531faf9e6b6d07d02g", &id));
  assert_false(mtq_web_parse_oid("", &id));
  assert_false(mtq_web_parse_oid(NULL, &id));
}

static void users_refused(const char *text, const char *want) {
  mtq_web_users_t u;
  bson_error_t error;
  assert_false(mtq_web_users_parse(text, strlen(text), "users", &u, &error));
  if (!strstr(error.message, want)) {
    fail_msg("'%s' lacks '%s'", error.message, want);
  }
  assert_null(u.items);
}

static void test_users(void **state) {
  char text[1024];
  snprintf(text, sizeof text, "# who may log in\n\nalice:operator:%s\n  bob:read:%s  \n",
           known_hash, known_hash);
  mtq_web_users_t u;
  bson_error_t error;
  assert_true(mtq_web_users_parse(text, strlen(text), "users", &u, &error));
  assert_int_equal(u.n, 2);
  assert_int_equal(mtq_web_users_find(&u, "alice")->role, MTQ_WEB_ROLE_OPERATOR);
  assert_int_equal(mtq_web_users_find(&u, "bob")->role, MTQ_WEB_ROLE_READ);
  assert_null(mtq_web_users_find(&u, "carol"));
  assert_ptr_equal(mtq_web_users_check(&u, "bob", "s3cret", 6), mtq_web_users_find(&u, "bob"));
  assert_null(mtq_web_users_check(&u, "bob", "s3cret!", 7));
  assert_null(mtq_web_users_check(&u, "carol", "s3cret", 6));
  mtq_web_users_free(&u);

  users_refused("alice:operator\n", "line 1: expected name:role:hash");
  users_refused("\n\nalice:admin:$argon2id$x\n", "line 3: user alice: role must be read");
  users_refused("a b:read:$argon2id$x\n", "not a valid user name");
  users_refused("alice:read:$2y$10$bcrypt\n", "must be argon2id");
  users_refused("alice:read:plain\n", "must be argon2id");
  users_refused("alice:read:$argon2id$x\nalice:operator:$argon2id$y\n", "line 2: user alice is listed twice");
  users_refused("# nobody\n", "no users");
}

static void test_password(void **state) {
  assert_true(mtq_web_password_verify(known_hash, "s3cret", 6));
  assert_false(mtq_web_password_verify(known_hash, "s3cre", 5));
  assert_false(mtq_web_password_verify(known_hash, "S3cret", 6));
  assert_false(mtq_web_password_verify("$argon2id$garbage", "s3cret", 6));
  char hash[MTQ_WEB_HASH_MAX], again[MTQ_WEB_HASH_MAX];
  bson_error_t error;
  assert_true(mtq_web_password_hash("pw", 2, hash, &error));
  assert_true(mtq_web_password_hash("pw", 2, again, &error));
  assert_true(strncmp(hash, "$argon2id$v=19$m=65536,t=3,p=1$", 31) == 0);
  assert_string_not_equal(hash, again); /* salted */
  assert_true(mtq_web_password_verify(hash, "pw", 2));
  assert_false(mtq_web_password_verify(hash, "pW", 2));
}

static void test_host_and_origin(void **state) {
  /* Loopback: only loopback names, whatever the port (DNS rebinding). */
  assert_true(mtq_web_host_allowed("127.0.0.1:8642", NULL, 0, true));
  assert_true(mtq_web_host_allowed("localhost:9999", NULL, 0, true));
  assert_true(mtq_web_host_allowed("[::1]:8642", NULL, 0, true));
  assert_true(mtq_web_host_allowed("LOCALHOST", NULL, 0, true));
  assert_false(mtq_web_host_allowed("evil.example:8642", NULL, 0, true));
  assert_false(mtq_web_host_allowed("127.0.0.1.evil.example", NULL, 0, true));
  assert_false(mtq_web_host_allowed(NULL, NULL, 0, true));
  assert_false(mtq_web_host_allowed("", NULL, 0, true));
  assert_false(mtq_web_host_allowed("[::1", NULL, 0, true));
  assert_true(mtq_web_host_allowed("mtq.example.org", NULL, 0, false));
  char *allowed[] = {"mtq.example.org"};
  assert_true(mtq_web_host_allowed("mtq.example.org:443", allowed, 1, false));
  assert_false(mtq_web_host_allowed("other.example.org", allowed, 1, false));
  assert_false(mtq_web_host_allowed("localhost", allowed, 1, true));

  assert_true(mtq_web_origin_ok(NULL, "127.0.0.1:8642", NULL));
  assert_true(mtq_web_origin_ok("http://127.0.0.1:8642", "127.0.0.1:8642", "same-origin"));
  assert_true(mtq_web_origin_ok("https://mtq.example.org", "mtq.example.org", NULL));
  assert_false(mtq_web_origin_ok("http://evil.example", "127.0.0.1:8642", NULL));
  assert_false(mtq_web_origin_ok("http://127.0.0.1:8643", "127.0.0.1:8642", NULL));
  assert_false(mtq_web_origin_ok("null", "127.0.0.1:8642", NULL));
  assert_false(mtq_web_origin_ok("http://127.0.0.1:8642", NULL, NULL));
  assert_false(mtq_web_origin_ok(NULL, "127.0.0.1:8642", "cross-site"));
  assert_false(mtq_web_origin_ok(NULL, "127.0.0.1:8642", "same-site"));
  assert_true(mtq_web_origin_ok(NULL, "127.0.0.1:8642", "none"));

  assert_true(mtq_web_secret_equal("abc", "abc"));
  assert_false(mtq_web_secret_equal("abc", "abd"));
  assert_false(mtq_web_secret_equal("abc", "abcd"));
  assert_false(mtq_web_secret_equal("", "a"));
  char hex[65], hex2[65];
  assert_true(mtq_web_random_hex(32, hex));
  assert_true(mtq_web_random_hex(32, hex2));
  assert_int_equal(strlen(hex), 64);
  assert_string_not_equal(hex, hex2);
}

static void test_json(void **state) {
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, "6b1349531faf9e6b6d07d021");
  bson_t *doc = BCON_NEW("id", BCON_OID(&oid),
                         "at", BCON_DATE_TIME(1796426067086), "pre", BCON_DATE_TIME(-1),
                         "d", BCON_DOUBLE(0.1), "w", BCON_DOUBLE(3.0), "n", BCON_INT64(1LL << 40),
                         "s", BCON_UTF8("a\"<b>&\n"), "nil", BCON_NULL, "a", "[", BCON_INT32(1),
                         BCON_BOOL(true), "]");
  char *json = mtq_web_json(doc);
  assert_string_equal(json, "{\"id\": \"6b1349531faf9e6b6d07d021\", "
                            "\"at\": \"2026-12-04T23:14:27.086Z\", "
                            "\"pre\": \"1969-12-31T23:59:59.999Z\", \"d\": 0.1, \"w\": 3.0, "
                            "\"n\": 1099511627776, "
                            "\"s\": \"a\\\"\\u003cb\\u003e\\u0026\\n\", \"nil\": null, "
                            "\"a\": [1, true]}");
  bson_free(json);
  bson_destroy(doc);
}

static void check_config(const char *ini, bool want_ok, const char *want) {
  mtq_web_config_t cfg;
  mtq_web_config_init(&cfg);
  mtq_config_section_t s = mtq_web_config_section(&cfg);
  bson_error_t error;
  bool ok = mtq_config_parse(&cfg.base, &s, 1, ini, strlen(ini), "web.ini", &error);
  struct sockaddr_storage addr;
  socklen_t len;
  bool loopback = false;
  ok = ok && mtq_web_listen_parse(cfg.listen, &addr, &len, &loopback, &error) &&
       mtq_web_config_check(&cfg, loopback, &error);
  assert_int_equal(ok, want_ok);
  if (!ok && !strstr(error.message, want)) {
    fail_msg("'%s' lacks '%s'", error.message, want);
  }
  mtq_web_config_cleanup(&cfg);
}

static void test_config_rules(void **state) {
  check_config("[web]\n", true, NULL);
  check_config("[web]\nlisten = 127.0.0.2:80\n", true, NULL);
  check_config("[web]\nlisten = [::1]:8642\n", true, NULL);
  check_config("[web]\nlisten = localhost:8642\n", true, NULL);
  check_config("[web]\nlisten = 0.0.0.0:8642\n", false, "without authentication");
  check_config("[web]\nlisten = 0.0.0.0:8642\nusers_file = /u\n", false, "without TLS");
  check_config("[web]\nlisten = 0.0.0.0:8642\nusers_file = /u\nbehind_proxy = true\n", true, NULL);
  check_config("[web]\nlisten = 0.0.0.0:8642\ntoken_file = /t\ntls_cert = /c\ntls_key = /k\n",
               true, NULL);
  check_config("[web]\nbehind_proxy = true\n", false, "behind_proxy needs authentication");
  check_config("[web]\ntls_cert = /c\n", false, "go together");
  check_config("[web]\nlisten = 127.0.0.1\n", false, "not HOST:PORT");
  check_config("[web]\nlisten = 127.0.0.1:0\n", false, "port must be");
  check_config("[web]\nlisten = 127.0.0.1:70000\n", false, "port must be");
  check_config("[web]\nlisten = example.org:80\n", false, "must be an IPv4 address");
  check_config("[web]\nmax_body_bytes = 10\n", false, "max_body_bytes");
  check_config("[web]\nstats_interval_s = 0\n", false, "stats_interval_s");
  check_config("[web]\nallowed_hosts = a.example, b<c\n", false, "not a host name");
  check_config("[web]\nlistn = 127.0.0.1:80\n", false, "unknown key 'listn'");
}

/* Logins: five failures free, then holds of 1 s doubling to 300 s; a
 * success forgets; other names are not held; at most two at once. */
static void test_throttle(void **state) {
  (void)state;
  static mtq_web_throttle_t t;
  mtq_web_throttle_init(&t);
  int64_t now = 1000000, wait;
  for (int i = 0; i < MTQ_WEB_THROTTLE_FREE; i++) {
    assert_true(mtq_web_throttle_begin(&t, "alice", now, &wait));
    mtq_web_throttle_done(&t, "alice", false, now);
  }
  assert_false(mtq_web_throttle_begin(&t, "alice", now, &wait));
  assert_int_equal(wait, MTQ_WEB_THROTTLE_FIRST_MS);
  assert_true(mtq_web_throttle_begin(&t, "bob", now, &wait));
  mtq_web_throttle_done(&t, "bob", true, now);
  now += MTQ_WEB_THROTTLE_FIRST_MS;
  assert_true(mtq_web_throttle_begin(&t, "alice", now, &wait));
  mtq_web_throttle_done(&t, "alice", false, now);
  assert_false(mtq_web_throttle_begin(&t, "alice", now + 1999, &wait));
  assert_int_equal(wait, 1);
  for (int i = 0; i < 20; i++) { /* the hold stops growing at the longest */
    now += MTQ_WEB_THROTTLE_MAX_MS;
    assert_true(mtq_web_throttle_begin(&t, "alice", now, &wait));
    mtq_web_throttle_done(&t, "alice", false, now);
  }
  assert_false(mtq_web_throttle_begin(&t, "alice", now, &wait));
  assert_int_equal(wait, MTQ_WEB_THROTTLE_MAX_MS);
  now += MTQ_WEB_THROTTLE_MAX_MS;
  assert_true(mtq_web_throttle_begin(&t, "alice", now, &wait));
  mtq_web_throttle_done(&t, "alice", true, now);
  assert_true(mtq_web_throttle_begin(&t, "alice", now, &wait)); /* forgotten */
  assert_true(mtq_web_throttle_begin(&t, "carol", now, &wait)); /* two at once */
  assert_false(mtq_web_throttle_begin(&t, "dave", now, &wait));
  assert_int_equal(wait, 1000);
  mtq_web_throttle_done(&t, "alice", true, now);
  mtq_web_throttle_done(&t, "carol", true, now);
  assert_true(mtq_web_throttle_begin(&t, "dave", now, &wait));
  mtq_web_throttle_done(&t, "dave", true, now);
  mtq_web_throttle_cleanup(&t);
}

static void test_throughput(void **state) {
  int64_t t0 = 1796426040000; /* a minute's start */
  mtq_run_t runs[] = {
      {.channel = "a", .outcome = MTQ_STATE_DONE, .at_ms = t0 + 1000},
      {.channel = "a", .outcome = MTQ_STATE_DONE, .at_ms = t0 + 59999},
      {.channel = "a", .outcome = MTQ_STATE_RETRY_WAIT, .at_ms = t0 + 5},
      {.channel = "b", .outcome = MTQ_STATE_DEAD, .at_ms = t0 + 60000},
      {.channel = "a", .outcome = MTQ_STATE_CANCELLED, .at_ms = t0 + 7},  /* left out */
      {.channel = "a", .outcome = MTQ_STATE_DONE, .at_ms = t0 - 60000},   /* too old */
  };
  bson_t out = BSON_INITIALIZER;
  mtq__web_throughput(runs, 6, t0, &out);
  char *json = mtq_web_json(&out);
  assert_string_equal(json, "{\"throughput\": ["
                            "{\"minute\": \"2026-12-04T23:14:00.000Z\", \"channel\": \"a\", "
                            "\"done\": 2, \"failed\": 1}, "
                            "{\"minute\": \"2026-12-04T23:15:00.000Z\", \"channel\": \"b\", "
                            "\"done\": 0, \"failed\": 1}]}");
  bson_free(json);
  bson_destroy(&out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_query_defaults), cmocka_unit_test(test_query_refusals),
      cmocka_unit_test(test_cursor_round_trip), cmocka_unit_test(test_oid),
      cmocka_unit_test(test_users),          cmocka_unit_test(test_password),
      cmocka_unit_test(test_host_and_origin), cmocka_unit_test(test_json),
      cmocka_unit_test(test_config_rules),   cmocka_unit_test(test_throughput),
      cmocka_unit_test(test_throttle),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
