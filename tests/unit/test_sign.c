/* test_sign.c - signed tasks (common/sign.c), the sig field of the task
 * document (common/task.c) and the [security] section of the config
 * (common/config.c).  No database; key files only under mkstemp()-made
 * temporary names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mtq_config.h"
#include "mtq_error.h"
#include "mtq_sign.h"
#include "sign_private.h"
#include "test_util.h"

#define NOW_MS INT64_C(1700000000000)

/* Two 32-byte secrets, the shortest allowed. */
static const char secret1[] = "0123456789abcdef0123456789abcdef";
static const char secret2[] = "fedcba9876543210fedcba9876543210";

/* --- helpers -------------------------------------------------------------- */

static void add_ok(mtq_keyring_t *ring, const char *id, const char *secret) {
  bson_error_t error;
  if (!mtq_keyring_add(ring, id, (const uint8_t *)secret, strlen(secret), &error)) {
    fail_msg("key '%s' refused: %s", id, error.message);
  }
}

/* A ring holding k1 = secret1 only. */
static mtq_keyring_t *ring_k1(void) {
  mtq_keyring_t *ring = mtq_keyring_new();
  add_ok(ring, "k1", secret1);
  return ring;
}

static void build_ok(mtq_task_t *t, const char *args_json) {
  mtq_enqueue_opts_t o = {0};
  o.channel = "default";
  o.func = "square";
  o.args_json = args_json;
  bson_error_t error;
  mtq_task_init(t);
  if (!mtq_task_build(t, &o, NOW_MS, &error)) {
    fail_msg("build refused: %s", error.message);
  }
}

static void sign_ok(const mtq_keyring_t *ring, mtq_task_t *t) {
  bson_error_t error;
  if (!mtq_task_sign(ring, t, &error)) {
    fail_msg("sign refused: %s", error.message);
  }
}

static void verify_ok(const mtq_keyring_t *ring, const mtq_task_t *t) {
  bson_error_t error;
  if (!mtq_task_verify(ring, t, &error)) {
    fail_msg("verify refused: %s", error.message);
  }
}

static void expect_verify_refused(const mtq_keyring_t *ring, const mtq_task_t *t,
                                  const char *frag) {
  bson_error_t error;
  memset(&error, 0, sizeof error);
  if (mtq_task_verify(ring, t, &error)) {
    fail_msg("verify accepted (expected \"%s\")", frag);
  }
  assert_refusal(&error, MTQ_ERR_SIGNATURE, frag);
}

/* The task as a worker reads it back: through its document. */
static void reread(const mtq_task_t *t, mtq_task_t *back) {
  bson_t doc = BSON_INITIALIZER;
  bson_error_t error;
  mtq_task_to_bson(t, &doc);
  mtq_task_init(back);
  bool ok = mtq_task_from_bson(back, &doc, "default", &error);
  bson_destroy(&doc);
  if (!ok) {
    fail_msg("reread refused: %s", error.message);
  }
}

/* What most tests start from: the ring of k1 and a task, with room for the
 * task as a worker reads it back. */
typedef struct {
  mtq_keyring_t *ring; /* k1 = secret1 only */
  mtq_task_t t;
  mtq_task_t back;
} k1_fixture_t;

static void k1_init(k1_fixture_t *f) {
  f->ring = ring_k1();
  mtq_task_init(&f->t);
  mtq_task_init(&f->back);
}

static void k1_cleanup(k1_fixture_t *f) {
  mtq_task_cleanup(&f->back);
  mtq_task_cleanup(&f->t);
  mtq_keyring_destroy(f->ring);
}

TEST_FIXTURE(k1, k1_fixture_t, k1_init, k1_cleanup)

/* f->t built with args_json (NULL: none) and signed with k1. */
static void build_signed(k1_fixture_t *f, const char *args_json) {
  build_ok(&f->t, args_json);
  sign_ok(f->ring, &f->t);
}

/* Writes len bytes into a new temporary file with the given mode; returns
 * its path (caller unlinks and frees). */
static char *key_file(const void *content, size_t len, mode_t mode) {
  char *path = strdup("/tmp/mtq-test-key.XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, content, len), (ssize_t)len);
  assert_int_equal(fchmod(fd, mode), 0);
  close(fd);
  return path;
}

static void drop_file(char *path) {
  unlink(path);
  free(path);
}

/* --- HMAC-SHA256 ---------------------------------------------------------- */

static void hex_to_bytes(const char *hex, uint8_t *out) {
  for (size_t i = 0; hex[2 * i]; i++) {
    unsigned v;
    sscanf(hex + 2 * i, "%2x", &v);
    out[i] = (uint8_t)v;
  }
}

/* RFC 4231, test cases 1-4, 6 and 7 (5 is a truncated output). */
static void test_hmac_rfc4231(void **unused) {
  uint8_t k20b[20], k20a[20], k25[25], k131[131], d50dd[50], d50cd[50];
  memset(k20b, 0x0b, sizeof k20b);
  memset(k20a, 0xaa, sizeof k20a);
  memset(k131, 0xaa, sizeof k131);
  memset(d50dd, 0xdd, sizeof d50dd);
  memset(d50cd, 0xcd, sizeof d50cd);
  for (int i = 0; i < 25; i++) {
    k25[i] = (uint8_t)(i + 1);
  }
  static const char big6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
  static const char big7[] =
      "This is a test using a larger than block-size key and a larger than block-size data. The "
      "key needs to be hashed before being used by the HMAC algorithm.";
  const struct {
    const uint8_t *key;
    size_t key_len;
    const void *data;
    size_t data_len;
    const char *mac;
  } cases[] = {
      {k20b, 20, "Hi There", 8, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {(const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28,
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {k20a, 20, d50dd, 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {k25, 25, d50cd, 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {k131, 131, big6, strlen(big6),
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {k131, 131, big7, strlen(big7),
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t got[MTQ__HMAC_BYTES], want[MTQ__HMAC_BYTES];
    hex_to_bytes(cases[i].mac, want);
    assert_true(mtq__hmac_sha256(cases[i].key, cases[i].key_len, cases[i].data,
                                 cases[i].data_len, got));
    assert_memory_equal(got, want, MTQ__HMAC_BYTES);
  }
}

/* --- the signed message, against values computed outside mtq -------------- */

/* The task of the known answer below: every signed field fixed. */
static void known_task(mtq_task_t *t) {
  build_ok(t, "{\"x\": 7}");
  assert_true(bson_oid_is_valid("65f0c0ffee00000000000001", 24));
  bson_oid_init_from_string(&t->id, "65f0c0ffee00000000000001");
}

static void test_message_format(void **unused) {
  mtq_task_t t;
  known_task(&t);
  static const char want[] = "mtq-sig-v1\n"
                             "_id:24:65f0c0ffee00000000000001\n"
                             "channel:7:default\n"
                             "func:6:square\n"
                             "version:1:1\n"
                             "args:12:\x0c\x00\x00\x00\x10x\x00\x07\x00\x00\x00\x00\n"
                             "timeout_s:4:3600\n"
                             "max_attempts:1:3\n";
  size_t len;
  uint8_t *msg = mtq__sign_message(&t, &len);
  assert_int_equal(len, sizeof want - 1);
  assert_memory_equal(msg, want, len);
  bson_free(msg);
  mtq_task_cleanup(&t);
}

/* The expected signature was computed independently of mtq: the message
 * above written by Python's struct module, then
 *   openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef msg
 * A change here is a change of the wire format: workers would refuse every
 * task signed by an older producer. */
static void test_known_signature(void **state) {
  k1_fixture_t *f = *state;
  known_task(&f->t);
  sign_ok(f->ring, &f->t);
  assert_string_equal(f->t.sig_key, "k1");
  assert_string_equal(f->t.sig, "beb78fdb90b643d2d5ea8026aedfe9f3f8617e69409c9ad95b4521b77a79bb8a");
  verify_ok(f->ring, &f->t);
}

/* --- signing and verifying ------------------------------------------------ */

static void test_sign_verify(void **state) {
  k1_fixture_t *f = *state;
  build_signed(f, "{\"x\": 7, \"s\": \"a\"}");
  assert_string_equal(f->t.sig_key, "k1");
  assert_int_equal(strlen(f->t.sig), MTQ_SIG_HEX_LEN);
  assert_int_equal(strspn(f->t.sig, "0123456789abcdef"), MTQ_SIG_HEX_LEN);
  verify_ok(f->ring, &f->t);
  reread(&f->t, &f->back);
  verify_ok(f->ring, &f->back);
}

/* Each change to a task that a signature must catch. */
static void set_id(mtq_task_t *t) { bson_oid_init(&t->id, NULL); }
static void set_channel(mtq_task_t *t) { strcpy(t->channel, "gpu"); }
static void set_func(mtq_task_t *t) { strcpy(t->func, "cube"); }
static void set_version(mtq_task_t *t) { strcpy(t->version, "2"); }
static void set_timeout(mtq_task_t *t) { t->timeout_s++; }
static void set_max_attempts(mtq_task_t *t) { t->max_attempts++; }
static void replace_args(mtq_task_t *t, const char *json) {
  bson_destroy(t->args);
  t->args = doc_from_json(json);
}
static void set_args_value(mtq_task_t *t) { replace_args(t, "{\"x\": 8, \"s\": \"a\"}"); }
static void set_args_order(mtq_task_t *t) { replace_args(t, "{\"s\": \"a\", \"x\": 7}"); }
static void set_args_type(mtq_task_t *t) {
  replace_args(t, "{\"x\": {\"$numberLong\": \"7\"}, \"s\": \"a\"}");
}
static void set_args_extra(mtq_task_t *t) { replace_args(t, "{\"x\": 7, \"s\": \"a\", \"y\": 0}"); }
static void set_args_none(mtq_task_t *t) {
  bson_destroy(t->args);
  t->args = NULL;
}

static void test_signed_fields_tampered(void **state) {
  static const struct {
    const char *what;
    void (*change)(mtq_task_t *);
  } changes[] = {
      {"_id", set_id},
      {"channel", set_channel},
      {"func", set_func},
      {"version", set_version},
      {"timeout_s", set_timeout},
      {"max_attempts", set_max_attempts},
      {"args value", set_args_value},
      /* args is signed as BSON bytes: the same fields in another order or
       * a number of another type are a different task. */
      {"args order", set_args_order},
      {"args type", set_args_type},
      {"args extra field", set_args_extra},
      {"args removed", set_args_none},
  };
  k1_fixture_t *f = *state;
  for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
    build_signed(f, "{\"x\": 7, \"s\": \"a\"}");
    reread(&f->t, &f->back);
    changes[i].change(&f->back);
    bson_error_t error;
    if (mtq_task_verify(f->ring, &f->back, &error)) {
      fail_msg("change of %s not caught", changes[i].what);
    }
    assert_refusal(&error, MTQ_ERR_SIGNATURE, "signature does not match");
    mtq_task_cleanup(&f->back);
    mtq_task_cleanup(&f->t);
  }
}

/* Operators reorder, pause and delay tasks, and mtq moves them through
 * their states, without the secret. */
static void test_unsigned_fields_changed(void **state) {
  k1_fixture_t *f = *state;
  mtq_task_t *back = &f->back;
  build_signed(f, "{\"x\": 7}");
  reread(&f->t, back);
  back->priority = 9;
  back->is_enable = false;
  back->status = MTQ_STATE_RUNNING;
  back->attempt = 2;
  back->token = 5;
  back->not_before = NOW_MS + 60000;
  back->claimed_at = NOW_MS + 1;
  back->finished_at = NOW_MS + 2;
  strcpy(back->worker, "m2");
  back->error = bson_strdup("killed");
  back->result = doc_from_json("{\"y\": 49}");
  mtq_task_t again;
  reread(back, &again);
  verify_ok(f->ring, back);
  verify_ok(f->ring, &again);
  mtq_task_cleanup(&again);
}

static void test_unsigned_refused(void **state) {
  k1_fixture_t *f = *state;
  mtq_task_t *t = &f->t;
  build_ok(t, NULL);
  expect_verify_refused(f->ring, t, "task is not signed");
  expect_verify_refused(NULL, t, "task is not signed");
  sign_ok(f->ring, t);
  t->sig[0] = '\0';
  expect_verify_refused(f->ring, t, "task is not signed");
  sign_ok(f->ring, t);
  t->sig_key[0] = '\0';
  expect_verify_refused(f->ring, t, "task is not signed");
}

static void test_unknown_key_refused(void **state) {
  k1_fixture_t *f = *state;
  build_signed(f, NULL);
  strcpy(f->t.sig_key, "k0");
  expect_verify_refused(f->ring, &f->t, "unknown signing key 'k0'");
  strcpy(f->t.sig_key, "k1");
  expect_verify_refused(NULL, &f->t, "unknown signing key 'k1'");
}

/* The same key id with another secret, and a signature that is not even
 * the right length. */
static void test_wrong_secret_refused(void **state) {
  k1_fixture_t *f = *state;
  mtq_task_t *t = &f->t;
  mtq_keyring_t *other = mtq_keyring_new();
  add_ok(other, "k1", secret2);
  build_ok(t, NULL);
  sign_ok(other, t);
  expect_verify_refused(f->ring, t, "signature does not match (task altered, or signed with "
                                    "another secret)");
  /* Every digit counts, the last one too. */
  sign_ok(f->ring, t);
  t->sig[MTQ_SIG_HEX_LEN - 1] = t->sig[MTQ_SIG_HEX_LEN - 1] == '0' ? '1' : '0';
  expect_verify_refused(f->ring, t, "signature does not match");
  sign_ok(f->ring, t);
  t->sig[MTQ_SIG_HEX_LEN - 1] = '\0';
  expect_verify_refused(f->ring, t, "signature does not match");
  mtq_keyring_destroy(other);
}

/* Rotation: k2 is the new key.  A task signed with k1 before the switch
 * verifies while k1 stays in the ring, and not after it is dropped. */
static void test_rotation(void **unused) {
  bson_error_t error;
  mtq_task_t old_task, new_task;
  mtq_keyring_t *before = ring_k1();
  build_ok(&old_task, "{\"x\": 1}");
  sign_ok(before, &old_task);

  mtq_keyring_t *during = mtq_keyring_new();
  add_ok(during, "k2", secret2);
  add_ok(during, "k1", secret1);
  build_ok(&new_task, "{\"x\": 2}");
  sign_ok(during, &new_task);
  assert_string_equal(new_task.sig_key, "k2"); /* the first key added signs */
  verify_ok(during, &old_task);
  verify_ok(during, &new_task);
  expect_verify_refused(before, &new_task, "unknown signing key 'k2'");

  assert_true(mtq_keyring_set_signer(during, "k1", &error));
  sign_ok(during, &new_task);
  assert_string_equal(new_task.sig_key, "k1");
  assert_true(mtq_keyring_set_signer(during, "k2", &error));
  sign_ok(during, &new_task);
  assert_string_equal(new_task.sig_key, "k2");

  mtq_keyring_t *after = mtq_keyring_new();
  add_ok(after, "k2", secret2);
  verify_ok(after, &new_task);
  expect_verify_refused(after, &old_task, "unknown signing key 'k1'");

  mtq_task_cleanup(&old_task);
  mtq_task_cleanup(&new_task);
  mtq_keyring_destroy(before);
  mtq_keyring_destroy(during);
  mtq_keyring_destroy(after);
}

/* --- the keyring ---------------------------------------------------------- */

static void test_keyring_add_refused(void **unused) {
  bson_error_t error;
  mtq_keyring_t *ring = mtq_keyring_new();
  assert_true(mtq_keyring_empty(ring));
  assert_true(mtq_keyring_empty(NULL));

  static const char short_secret[] = "0123456789abcdef0123456789abcde"; /* 31 bytes */
  assert_false(mtq_keyring_add(ring, "k1", (const uint8_t *)short_secret, 31, &error));
  assert_refusal(&error, MTQ_ERR_INVALID, "'k1' is 31 bytes");
  assert_null(strstr(error.message, short_secret));
  assert_true(mtq_keyring_empty(ring));

  assert_false(mtq_keyring_add(ring, "no spaces", (const uint8_t *)secret1, 32, &error));
  assert_contains(error.message, "not a valid key id");
  char id33[34];
  memset(id33, 'a', 33);
  id33[33] = '\0';
  assert_false(mtq_keyring_add(ring, id33, (const uint8_t *)secret1, 32, &error));
  assert_false(mtq_key_id_valid(id33));
  id33[32] = '\0';
  assert_true(mtq_key_id_valid(id33));

  add_ok(ring, "k1", secret1);
  assert_false(mtq_keyring_empty(ring));
  assert_false(mtq_keyring_add(ring, "k1", (const uint8_t *)secret2, 32, &error));
  assert_contains(error.message, "'k1' is listed twice");

  assert_false(mtq_keyring_set_signer(ring, "k9", &error));
  assert_contains(error.message, "'k9'");
  mtq_keyring_destroy(ring);
  mtq_keyring_destroy(NULL);
}

static void test_sign_without_key(void **unused) {
  mtq_task_t t;
  bson_error_t error;
  mtq_keyring_t *ring = mtq_keyring_new();
  build_ok(&t, NULL);
  assert_false(mtq_task_sign(ring, &t, &error));
  assert_contains(error.message, "no signing key");
  assert_false(mtq_task_sign(NULL, &t, &error));
  assert_string_equal(t.sig, "");
  assert_string_equal(t.sig_key, "");
  mtq_task_cleanup(&t);
  mtq_keyring_destroy(ring);
}

/* f->back: f->t read back and signed again, with the secret of a key
 * file read under error (which may be NULL). */
static void resign_with_file(k1_fixture_t *f, const char *path, bson_error_t *error) {
  mtq_keyring_t *ring = mtq_keyring_new();
  if (!mtq_keyring_add_file(ring, "k1", path, error)) {
    fail_msg("%s refused: %s", path, error ? error->message : "(no error asked for)");
  }
  reread(&f->t, &f->back);
  sign_ok(ring, &f->back);
  mtq_keyring_destroy(ring);
}

/* The secret of a file is its content less one line ending. */
static void test_key_file_content(void **state) {
  static const char *const contents[] = {
      "0123456789abcdef0123456789abcdef",
      "0123456789abcdef0123456789abcdef\n",
      "0123456789abcdef0123456789abcdef\r\n",
  };
  k1_fixture_t *f = *state;
  build_signed(f, NULL);
  for (size_t i = 0; i < sizeof contents / sizeof contents[0]; i++) {
    bson_error_t error;
    char *path = key_file(contents[i], strlen(contents[i]), 0600);
    resign_with_file(f, path, &error);
    assert_string_equal(f->back.sig, f->t.sig);
    mtq_task_cleanup(&f->back);
    drop_file(path);
  }
  /* Only one line ending goes: a second newline is part of the secret. */
  static const char two[] = "0123456789abcdef0123456789abcdef\n\n";
  char *path = key_file(two, strlen(two), 0400);
  resign_with_file(f, path, NULL);
  assert_string_not_equal(f->back.sig, f->t.sig);
  drop_file(path);
}

static void expect_file_refused(const char *path, mtq_errcode_t code, const char *frag) {
  bson_error_t error;
  mtq_keyring_t *ring = mtq_keyring_new();
  if (mtq_keyring_add_file(ring, "k1", path, &error)) {
    fail_msg("%s accepted (expected \"%s\")", path, frag);
  }
  assert_true(mtq_keyring_empty(ring));
  assert_refusal(&error, code, path, frag);
  /* The secret of every file written here starts like this. */
  assert_null(strstr(error.message, "s3cr3t"));
  mtq_keyring_destroy(ring);
}

static void test_key_file_refused(void **unused) {
  static const char good[] = "s3cr3t-0123456789abcdef0123456789abcdef\n";
  static const mode_t open_modes[] = {0644, 0640, 0604, 0620, 0602, 0610, 0666};
  for (size_t i = 0; i < sizeof open_modes / sizeof open_modes[0]; i++) {
    char *path = key_file(good, strlen(good), open_modes[i]);
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", (unsigned)open_modes[i]);
    expect_file_refused(path, MTQ_ERR_INVALID, mode);
    expect_file_refused(path, MTQ_ERR_INVALID, "chmod 600");
    drop_file(path);
  }
  static const char short_secret[] = "s3cr3t-0123456789abcdef01234567\n"; /* 31 bytes + newline */
  char *path = key_file(short_secret, strlen(short_secret), 0600);
  expect_file_refused(path, MTQ_ERR_INVALID, "is 31 bytes");
  drop_file(path);
  path = key_file("", 0, 0600);
  expect_file_refused(path, MTQ_ERR_INVALID, "is 0 bytes");
  drop_file(path);
  char big[MTQ_KEY_MAX_BYTES + 2];
  memset(big, 's', sizeof big);
  path = key_file(big, sizeof big, 0600);
  expect_file_refused(path, MTQ_ERR_INVALID, "bytes; a secret must have");
  drop_file(path);

  expect_file_refused("/nonexistent/mtq/k1.key", MTQ_ERR_NOT_FOUND, "cannot open");
  expect_file_refused("/tmp", MTQ_ERR_INVALID, "not a regular file");
}

/* --- the sig field of the task document ----------------------------------- */

static void test_unsigned_document_has_no_sig(void **unused) {
  mtq_task_t t;
  bson_t doc = BSON_INITIALIZER;
  build_ok(&t, NULL);
  mtq_task_to_bson(&t, &doc);
  assert_false(bson_has_field(&doc, "sig"));
  bson_destroy(&doc);
  mtq_task_cleanup(&t);
}

/* args of every BSON type a producer or an operator may write come back
 * from the document byte for byte, and the signature with them. */
static void test_round_trip(void **state) {
  k1_fixture_t *f = *state;
  mtq_task_t *t = &f->t, *back = &f->back;
  build_ok(t, NULL);
  bson_destroy(t->args);
  t->args = doc_from_json(
      "{\"i\": 7, \"l\": {\"$numberLong\": \"9007199254740993\"}, \"d\": 0.1,"
      " \"s\": \"\xc3\xa9t\xc3\xa9\", \"n\": null, \"b\": false,"
      " \"a\": [1, \"two\", [3], {\"four\": 4}], \"o\": {\"p\": {\"q\": []}},"
      " \"dt\": {\"$date\": {\"$numberLong\": \"1700000000000\"}},"
      " \"bin\": {\"$binary\": {\"base64\": \"AAEC\", \"subType\": \"00\"}},"
      " \"oid\": {\"$oid\": \"65f0c0ffee00000000000001\"}, \"e\": {}}");
  bson_t *args = bson_copy(t->args);
  sign_ok(f->ring, t);

  bson_t doc = BSON_INITIALIZER;
  bson_iter_t it, sub;
  mtq_task_to_bson(t, &doc);
  assert_true(bson_iter_init_find(&it, &doc, "sig") && BSON_ITER_HOLDS_DOCUMENT(&it));
  assert_true(bson_iter_recurse(&it, &sub) && bson_iter_find(&sub, "key"));
  assert_string_equal(bson_iter_utf8(&sub, NULL), "k1");
  assert_true(bson_iter_recurse(&it, &sub) && bson_iter_find(&sub, "hmac"));
  assert_string_equal(bson_iter_utf8(&sub, NULL), t->sig);
  bson_destroy(&doc);

  reread(t, back);
  assert_int_equal(back->args->len, args->len);
  assert_memory_equal(bson_get_data(back->args), bson_get_data(args), args->len);
  assert_string_equal(back->sig_key, "k1");
  assert_string_equal(back->sig, t->sig);
  verify_ok(f->ring, back);
  bson_destroy(args);
}

/* FerretDB stores -0.0 as 0.0; a signed task is stored with 0.0 already,
 * so a worker reading it from FerretDB still sees what was signed. */
static void test_negative_zero(void **state) {
  k1_fixture_t *f = *state;
  build_signed(f, "{\"a\": -0.0, \"b\": {\"c\": [1.5, -0.0]}, \"d\": -2.5, \"s\": \"-0.0\"}");
  bson_t *want =
      doc_from_json("{\"a\": 0.0, \"b\": {\"c\": [1.5, 0.0]}, \"d\": -2.5, \"s\": \"-0.0\"}");
  assert_int_equal(f->t.args->len, want->len);
  assert_memory_equal(bson_get_data(f->t.args), bson_get_data(want), want->len);
  reread(&f->t, &f->back);
  verify_ok(f->ring, &f->back);
  bson_destroy(want);
}

/* A signed task document with sig replaced by the given JSON value. */
static void expect_sig_read_fails(const char *sig_json, const char *field, const char *frag) {
  k1_fixture_t f;
  k1_init(&f);
  build_signed(&f, NULL);
  bson_t full = BSON_INITIALIZER, doc = BSON_INITIALIZER;
  mtq_task_to_bson(&f.t, &full);
  bson_copy_to_excluding_noinit(&full, &doc, "sig", NULL);
  char json[256];
  snprintf(json, sizeof json, "{\"sig\": %s}", sig_json);
  bson_t *sig = doc_from_json(json);
  bson_concat(&doc, sig);
  bson_error_t error;
  bool ok = mtq_task_from_bson(&f.back, &doc, "default", &error);
  bson_destroy(sig);
  bson_destroy(&doc);
  bson_destroy(&full);
  k1_cleanup(&f);
  if (ok) {
    fail_msg("accepted sig %s", sig_json);
  }
  char quoted[40];
  snprintf(quoted, sizeof quoted, "'%s'", field);
  assert_refusal(&error, MTQ_ERR_INVALID, quoted, frag);
}

#define HEX64 "beb78fdb90b643d2d5ea8026aedfe9f3f8617e69409c9ad95b4521b77a79bb8a"

static void test_sig_wrong_types(void **unused) {
  expect_sig_read_fails("\"k1:" HEX64 "\"", "sig", "must be a document, not string");
  expect_sig_read_fails("null", "sig", "not null");
  expect_sig_read_fails("[\"k1\", \"" HEX64 "\"]", "sig", "array");
  expect_sig_read_fails("{\"hmac\": \"" HEX64 "\"}", "sig.key", "missing");
  expect_sig_read_fails("{\"key\": \"k1\"}", "sig.hmac", "missing");
  expect_sig_read_fails("{}", "sig.key", "missing");
  expect_sig_read_fails("{\"key\": 1, \"hmac\": \"" HEX64 "\"}", "sig.key", "string, not int");
  expect_sig_read_fails("{\"key\": \"k1\", \"hmac\": null}", "sig.hmac", "string, not null");
  expect_sig_read_fails("{\"key\": \"k 1\", \"hmac\": \"" HEX64 "\"}", "sig.key", "valid key id");
  expect_sig_read_fails("{\"key\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"hmac\": \"" HEX64 "\"}",
                        "sig.key", "valid key id");
  expect_sig_read_fails("{\"key\": \"k1\", \"hmac\": \"abc\"}", "sig.hmac", "64 lowercase hex");
  expect_sig_read_fails("{\"key\": \"k1\", \"hmac\": \"" HEX64 "0\"}", "sig.hmac", "hex");
  expect_sig_read_fails("{\"key\": \"k1\", \"hmac\": "
                        "\"BEB78FDB90B643D2D5EA8026AEDFE9F3F8617E69409C9AD95B4521B77A79BB8A\"}",
                        "sig.hmac", "hex");
}

/* --- [security] in the config --------------------------------------------- */

static bool parse(mtq_config_t *cfg, const char *text, bson_error_t *error) {
  mtq_config_init(cfg);
  /* [security] is read by the shared part; a worker's section is skipped. */
  static const mtq_config_section_t others[] = {{"worker", NULL, NULL, NULL}};
  return mtq_config_parse(cfg, others, 1, text, strlen(text), "test.ini", error);
}

static void test_config_security(void **unused) {
  mtq_config_t cfg;
  bson_error_t error;
  assert_true(parse(&cfg,
                    "[security]\n"
                    "keys = k2:/etc/mtq/k2.key, k1:/etc/mtq/k1.key   ; key id : file\n"
                    "sign_with = k1\n"
                    "require_signature = true\n",
                    &error));
  assert_int_equal(cfg.n_keys, 2);
  assert_string_equal(cfg.key_ids[0], "k2");
  assert_string_equal(cfg.key_files[0], "/etc/mtq/k2.key");
  assert_string_equal(cfg.key_ids[1], "k1");
  assert_string_equal(cfg.key_files[1], "/etc/mtq/k1.key");
  assert_string_equal(cfg.sign_with, "k1");
  assert_true(cfg.require_signature);
  mtq_config_cleanup(&cfg);

  /* Defaults: required once there are keys, not before; sign_with may
   * come before keys. */
  assert_true(parse(&cfg, "[security]\nkeys = k1:/k1.key\n", &error));
  assert_true(cfg.require_signature);
  assert_null(cfg.sign_with);
  mtq_config_cleanup(&cfg);
  assert_true(parse(&cfg, "[worker]\nid = m1\n", &error));
  assert_false(cfg.require_signature);
  assert_int_equal(cfg.n_keys, 0);
  mtq_config_cleanup(&cfg);
  assert_true(parse(&cfg, "[security]\nsign_with = b\nrequire_signature = no\nkeys = a:/a, b:/b\n",
                    &error));
  assert_false(cfg.require_signature);
  assert_string_equal(cfg.sign_with, "b");
  mtq_config_cleanup(&cfg);
  assert_true(parse(&cfg, "[security]\nrequire_signature = false\n", &error));
  assert_false(cfg.require_signature);
  mtq_config_cleanup(&cfg);
  /* A path may hold ':'; the id ends at the first one. */
  assert_true(parse(&cfg, "[security]\nkeys = k1:/srv/a:b/k1.key\n", &error));
  assert_string_equal(cfg.key_files[0], "/srv/a:b/k1.key");
  mtq_config_cleanup(&cfg);
}

static void expect_config_refused(const char *text, const char *frag) {
  mtq_config_t cfg;
  bson_error_t error;
  bool ok = parse(&cfg, text, &error);
  mtq_config_cleanup(&cfg);
  if (ok) {
    fail_msg("accepted:\n%s", text);
  }
  assert_refusal(&error, MTQ_ERR_INVALID, "test.ini", frag);
}

static void test_config_security_refused(void **unused) {
  expect_config_refused("[security]\nkeys = k1\n", "'k1' is not id:path");
  expect_config_refused("[security]\nkeys = k1:\n", "is not id:path");
  expect_config_refused("[security]\nkeys = :/k1.key\n", "is not id:path");
  expect_config_refused("[security]\nkeys = k 1:/k1.key\n", "is not id:path");
  expect_config_refused("[security]\nkeys = k1:/a, k1:/b\n", "'k1' is listed twice");
  expect_config_refused("[security]\nkeys = ,\n", "empty list");
  expect_config_refused("[security]\nkeys =\n", "empty list");
  expect_config_refused("[security]\nkeys = k1:/a\nsign_with = k3\n", "'k3' is not in keys");
  expect_config_refused("[security]\nsign_with = k1\n", "'k1' is not in keys");
  expect_config_refused("[security]\nkeys = k1:/a\nsign_with = k 1\n", "not a valid key id");
  expect_config_refused("[security]\nkeys = k1:/a\nrequire_signature = maybe\n",
                        "'maybe' is not true or false");
  expect_config_refused("[security]\nrequire_signature = true\n", "no keys to verify with");
  expect_config_refused("[security]\nsecret = abc\n", "unknown key 'secret' in [security]");
  expect_config_refused("[securty]\nkeys = k1:/a\n", "unknown section");
}

static void test_config_keyring(void **unused) {
  static const char s2[] = "fedcba9876543210fedcba9876543210\n";
  char *f1 = key_file(secret1, strlen(secret1), 0600);
  char *f2 = key_file(s2, strlen(s2), 0600);
  char text[512];
  mtq_config_t cfg;
  bson_error_t error;
  mtq_keyring_t *ring = (mtq_keyring_t *)&error; /* must be overwritten */

  assert_true(parse(&cfg, "[worker]\nid = m1\n", &error));
  assert_true(mtq_config_keyring(&cfg, &ring, &error));
  assert_null(ring);
  mtq_config_cleanup(&cfg);

  snprintf(text, sizeof text, "[security]\nkeys = k2:%s, k1:%s\nsign_with = k1\n", f2, f1);
  assert_true(parse(&cfg, text, &error));
  if (!mtq_config_keyring(&cfg, &ring, &error)) {
    fail_msg("keyring refused: %s", error.message);
  }
  mtq_config_cleanup(&cfg);
  mtq_task_t t;
  build_ok(&t, NULL);
  sign_ok(ring, &t);
  assert_string_equal(t.sig_key, "k1");
  mtq_keyring_t *k1 = ring_k1();
  verify_ok(k1, &t);
  mtq_keyring_destroy(k1);
  mtq_keyring_destroy(ring);

  /* Without sign_with the first key signs. */
  snprintf(text, sizeof text, "[security]\nkeys = k2:%s, k1:%s\n", f2, f1);
  assert_true(parse(&cfg, text, &error));
  assert_true(mtq_config_keyring(&cfg, &ring, &error));
  mtq_config_cleanup(&cfg);
  sign_ok(ring, &t);
  assert_string_equal(t.sig_key, "k2");
  mtq_keyring_destroy(ring);

  assert_int_equal(chmod(f1, 0644), 0);
  assert_true(parse(&cfg, text, &error));
  assert_false(mtq_config_keyring(&cfg, &ring, &error));
  assert_null(ring);
  assert_contains(error.message, f1);
  assert_contains(error.message, "too open");
  mtq_config_cleanup(&cfg);

  mtq_task_cleanup(&t);
  drop_file(f1);
  drop_file(f2);
}

/* --- MTQ_SIGN_KEYS -------------------------------------------------------- */

static void test_keyring_from_env(void **unused) {
  char *f1 = key_file(secret1, strlen(secret1), 0600);
  char *f2 = key_file(secret2, strlen(secret2), 0600);
  char spec[256];
  bson_error_t error;
  mtq_keyring_t *ring = (mtq_keyring_t *)&error;

  assert_true(mtq_keyring_from_env(NULL, &ring, &error));
  assert_null(ring);
  assert_true(mtq_keyring_from_env("", &ring, &error));
  assert_null(ring);

  snprintf(spec, sizeof spec, "k1:%s,k2:%s", f1, f2);
  if (!mtq_keyring_from_env(spec, &ring, &error)) {
    fail_msg("refused: %s", error.message);
  }
  mtq_task_t t;
  build_ok(&t, NULL);
  sign_ok(ring, &t);
  assert_string_equal(t.sig_key, "k1");
  strcpy(t.sig_key, "k2"); /* verified with k2's secret: must not match */
  expect_verify_refused(ring, &t, "signature does not match");
  mtq_task_cleanup(&t);
  mtq_keyring_destroy(ring);

  assert_false(mtq_keyring_from_env("k1", &ring, &error));
  assert_null(ring);
  assert_contains(error.message, "MTQ_SIGN_KEYS");
  assert_contains(error.message, "not id:path");
  snprintf(spec, sizeof spec, "k1:%s,k1:%s", f1, f2);
  assert_false(mtq_keyring_from_env(spec, &ring, &error));
  assert_contains(error.message, "listed twice");
  assert_false(mtq_keyring_from_env("k1:/nonexistent/k1.key", &ring, &error));
  assert_int_equal(error.code, MTQ_ERR_NOT_FOUND);
  assert_contains(error.message, "MTQ_SIGN_KEYS");
  assert_contains(error.message, "/nonexistent/k1.key");
  assert_null(ring);
  drop_file(f1);
  drop_file(f2);
}

int main(void) {
#define K1(f) cmocka_unit_test_setup_teardown(f, setup_k1, teardown_k1)
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hmac_rfc4231),
      cmocka_unit_test(test_message_format),
      K1(test_known_signature),
      K1(test_sign_verify),
      K1(test_signed_fields_tampered),
      K1(test_unsigned_fields_changed),
      K1(test_unsigned_refused),
      K1(test_unknown_key_refused),
      K1(test_wrong_secret_refused),
      cmocka_unit_test(test_rotation),
      cmocka_unit_test(test_keyring_add_refused),
      cmocka_unit_test(test_sign_without_key),
      K1(test_key_file_content),
      cmocka_unit_test(test_key_file_refused),
      cmocka_unit_test(test_unsigned_document_has_no_sig),
      K1(test_round_trip),
      K1(test_negative_zero),
      cmocka_unit_test(test_sig_wrong_types),
      cmocka_unit_test(test_config_security),
      cmocka_unit_test(test_config_security_refused),
      cmocka_unit_test(test_config_keyring),
      cmocka_unit_test(test_keyring_from_env),
  };
#undef K1
  return cmocka_run_group_tests_name("sign", tests, NULL, NULL);
}
