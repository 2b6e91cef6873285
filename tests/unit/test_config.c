/* test_config.c - the INI configuration file and command splitting
 * (common/config.c).  No database, no network; files only under a
 * mkstemp()-made temporary name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord_config.h"
#include "mtq_config.h"
#include "mtq_error.h"
#include "test_util.h"
#include "worker_config.h"

/* One file read by both daemons' sections, as a machine running the
 * worker and mtqd may have: the worker's config carries the shared part. */
typedef struct {
  mtq_worker_config_t w;
  mtq_coord_config_t c;
} test_cfg_t;

static void test_cfg_init(test_cfg_t *cfg) {
  mtq_worker_config_init(&cfg->w);
  mtq_coord_config_init(&cfg->c);
}

static void test_cfg_cleanup(test_cfg_t *cfg) {
  mtq_worker_config_cleanup(&cfg->w);
  mtq_coord_config_cleanup(&cfg->c);
}

static bool test_cfg_parse(test_cfg_t *cfg, const char *text, size_t len, const char *source,
                           bson_error_t *error) {
  mtq_config_section_t table[MTQ_WORKER_CONFIG_SECTIONS + 1];
  mtq_worker_config_sections(&cfg->w, table);
  table[MTQ_WORKER_CONFIG_SECTIONS] = mtq_coord_config_section(&cfg->c);
  return mtq_config_parse(&cfg->w.base, table, MTQ_WORKER_CONFIG_SECTIONS + 1, text, len, source,
                          error) &&
         mtq_worker_config_check(&cfg->w, source, error);
}

static bool test_cfg_load(test_cfg_t *cfg, const char *path, bson_error_t *error) {
  mtq_config_section_t table[MTQ_WORKER_CONFIG_SECTIONS + 1];
  mtq_worker_config_sections(&cfg->w, table);
  table[MTQ_WORKER_CONFIG_SECTIONS] = mtq_coord_config_section(&cfg->c);
  return mtq_config_load(&cfg->w.base, table, MTQ_WORKER_CONFIG_SECTIONS + 1, path, error) &&
         mtq_worker_config_check(&cfg->w, path, error);
}

/* --- helpers -------------------------------------------------------------- */

TEST_FIXTURE(cfg, test_cfg_t, test_cfg_init, test_cfg_cleanup)

static bool parse(test_cfg_t *cfg, const char *text, bson_error_t *error) {
  memset(error, 0, sizeof *error);
  return test_cfg_parse(cfg, text, strlen(text), "test.ini", error);
}

/* Parses text that must be refused as invalid, with a message that
 * mentions each of frags (a NULL-terminated list). */
static void expect_refused_list(const char *text, const char *const *frags) {
  test_cfg_t cfg;
  bson_error_t error;
  test_cfg_init(&cfg);
  bool ok = parse(&cfg, text, &error);
  test_cfg_cleanup(&cfg);
  if (ok) {
    fail_msg("accepted:\n%s", text);
  }
  test_assert_refusal(&error, MTQ_ERR_INVALID, frags, text);
}

/* expect_refused(text, "fragment", ...): one fragment at least. */
#define expect_refused(text, ...) \
  expect_refused_list((text), (const char *const[]){__VA_ARGS__, NULL})

static void expect_accepted(test_cfg_t *cfg, const char *text) {
  bson_error_t error;
  if (!parse(cfg, text, &error)) {
    fail_msg("refused: %s\ninput:\n%s", error.message, text);
  }
}

static void assert_argv(char **argv, const char *const *want) {
  assert_non_null(argv);
  size_t i = 0;
  for (; want[i]; i++) {
    assert_non_null(argv[i]);
    assert_string_equal(argv[i], want[i]);
  }
  assert_null(argv[i]);
}

/* A list of names as the config holds it (names, n) against want
 * (NULL-terminated). */
static void assert_names(char **names, size_t n, const char *const *want) {
  size_t i = 0;
  for (; want[i]; i++) {
    assert_true(i < n);
    assert_string_equal(names[i], want[i]);
  }
  assert_int_equal(n, i);
}

static void assert_function(const mtq_function_t *f, const char *name, const char *version,
                            const char *const *argv) {
  assert_string_equal(f->name, name);
  assert_string_equal(f->version, version);
  assert_argv(f->argv, argv);
}

/* The numbers of both daemons' sections, to expect all of them at once. */
typedef struct {
  int64_t concurrency, poll_interval_ms, heartbeat_interval_ms, grace_period_ms;
  int64_t lost_after_ms, sweep_interval_ms, reconcile_interval_ms, perf_refresh_ms;
  int64_t retain_done_s, retain_failed_s, retention_interval_ms, retention_batch;
} numbers_t;

static void assert_numbers(const test_cfg_t *cfg, numbers_t want) {
#define CHECK(part, key)                                                   \
  if (cfg->part.key != want.key) {                                         \
    fail_msg("%s is %lld, expected %lld", #key, (long long)cfg->part.key, \
             (long long)want.key);                                         \
  }
  CHECK(w, concurrency)
  CHECK(w, poll_interval_ms)
  CHECK(w, heartbeat_interval_ms)
  CHECK(w, grace_period_ms)
  CHECK(c, lost_after_ms)
  CHECK(c, sweep_interval_ms)
  CHECK(c, reconcile_interval_ms)
  CHECK(c, perf_refresh_ms)
  CHECK(c, retain_done_s)
  CHECK(c, retain_failed_s)
  CHECK(c, retention_interval_ms)
  CHECK(c, retention_batch)
#undef CHECK
}

static void assert_retention(const test_cfg_t *cfg, int64_t done_s, int64_t failed_s,
                             int64_t interval_ms, int64_t batch) {
  assert_int_equal(cfg->c.retain_done_s, done_s);
  assert_int_equal(cfg->c.retain_failed_s, failed_s);
  assert_int_equal(cfg->c.retention_interval_ms, interval_ms);
  assert_int_equal(cfg->c.retention_batch, batch);
}

/* --- defaults ------------------------------------------------------------- */

static void test_defaults(void **state) {
  test_cfg_t *cfg = *state;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  assert_true(cores > 0);

  char host[256] = {0};
  assert_int_equal(gethostname(host, sizeof host - 1), 0);
  assert_non_null(cfg->w.worker_id);
  assert_string_equal(cfg->w.worker_id, host);

  assert_null(cfg->w.base.uri);
  assert_int_equal(cfg->w.n_channels, 0);
  assert_int_equal(cfg->c.n_channels, 0);
  assert_int_equal(cfg->w.n_functions, 0);
  assert_numbers(cfg, (numbers_t){
      .concurrency = cores, .poll_interval_ms = 1000, .heartbeat_interval_ms = 3000,
      .grace_period_ms = 30000, .lost_after_ms = 15000, .sweep_interval_ms = 1000,
      .reconcile_interval_ms = 5000, .perf_refresh_ms = 10000, .retain_done_s = 7 * 24 * 3600,
      .retain_failed_s = 30 * 24 * 3600, .retention_interval_ms = 60000, .retention_batch = 500});
}

static void test_empty_file_keeps_defaults(void **state) {
  test_cfg_t *cfg = *state;
  expect_accepted(cfg, "");
  expect_accepted(cfg, "; only a comment\n# and another\n\n   \n");
  assert_int_equal(cfg->w.concurrency, sysconf(_SC_NPROCESSORS_ONLN));
  assert_int_equal(cfg->w.poll_interval_ms, 1000);
  assert_int_equal(cfg->w.n_functions, 0);
  assert_null(cfg->w.base.uri);
}

static void test_cleanup_then_reuse(void **state) {
  test_cfg_t *cfg = *state;
  expect_accepted(cfg, "[worker]\nchannels = a, b\n[function f]\ncommand = /bin/true\n");
  test_cfg_cleanup(cfg);
  assert_null(cfg->w.worker_id);
  assert_null(cfg->w.channels);
  assert_int_equal(cfg->w.n_functions, 0);
  test_cfg_init(cfg);
  assert_int_equal(cfg->w.poll_interval_ms, 1000);
  assert_non_null(cfg->w.worker_id);
}

/* --- a full, valid file --------------------------------------------------- */

static const char full_config[] =
    "; mtq configuration\n"
    "[database]\n"
    "uri = mongodb://db1.example:27017,db2.example:27017/mtq?replicaSet=rs0\n"
    "\n"
    "[worker]\n"
    "id = m1                      ; default: the host name\n"
    "channels = default, gpu\n"
    "concurrency = 4\n"
    "poll_interval_ms = 250\n"
    "heartbeat_interval_ms = 2000\n"
    "grace_period_ms = 10000\n"
    "\n"
    "[function square]\n"
    "version = 2\n"
    "command = /usr/bin/python3 \"/opt/mtq/my scripts/square.py\" --mode 'fast and loose'\n"
    "\n"
    "[function render]\n"
    "command = /opt/render\\ tool/bin/render -q \"say \\\"hi\\\"\"\n"
    "\n"
    "[coordinator]\n"
    "channels = default, gpu, batch\n"
    "lost_after_ms = 20000\n"
    "sweep_interval_ms = 500\n"
    "reconcile_interval_ms = 7000\n"
    "perf_refresh_ms = 2000\n"
    "retain_done_s = 3600\n"
    "retain_failed_s = 86400\n"
    "retention_interval_ms = 30000\n"
    "retention_batch = 200\n";

static void test_full_config(void **state) {
  test_cfg_t *cfg = *state;
  expect_accepted(cfg, full_config);

  assert_string_equal(cfg->w.base.uri, "mongodb://db1.example:27017,db2.example:27017/mtq?replicaSet=rs0");
  assert_string_equal(cfg->w.worker_id, "m1");
  assert_names(cfg->w.channels, cfg->w.n_channels, (const char *const[]){"default", "gpu", NULL});
  assert_int_equal(cfg->w.n_functions, 2);
  assert_function(&cfg->w.functions[0], "square", "2",
                  (const char *const[]){"/usr/bin/python3", "/opt/mtq/my scripts/square.py",
                                        "--mode", "fast and loose", NULL});
  assert_function(&cfg->w.functions[1], "render", "1", /* the default version */
                  (const char *const[]){"/opt/render tool/bin/render", "-q", "say \"hi\"", NULL});
  assert_names(cfg->c.channels, cfg->c.n_channels,
               (const char *const[]){"default", "gpu", "batch", NULL});
  assert_numbers(cfg, (numbers_t){
      .concurrency = 4, .poll_interval_ms = 250, .heartbeat_interval_ms = 2000,
      .grace_period_ms = 10000, .lost_after_ms = 20000, .sweep_interval_ms = 500,
      .reconcile_interval_ms = 7000, .perf_refresh_ms = 2000, .retain_done_s = 3600,
      .retain_failed_s = 86400, .retention_interval_ms = 30000, .retention_batch = 200});
}

/* The text need not be NUL-terminated: only len bytes are read. */
static void test_parse_reads_only_len_bytes(void **state) {
  test_cfg_t *cfg = *state;
  static const char text[] = "[worker]\nconcurrency = 7" "99\n";
  bson_error_t error;
  assert_true(test_cfg_parse(cfg, text, strlen(text) - 3, "t", &error));
  assert_int_equal(cfg->w.concurrency, 7);
}

static void test_function_lookup(void **state) {
  test_cfg_t *cfg = *state;
  assert_null(mtq_worker_config_function(&cfg->w, "square"));
  expect_accepted(cfg, full_config);
  const mtq_function_t *sq = mtq_worker_config_function(&cfg->w, "square");
  const mtq_function_t *re = mtq_worker_config_function(&cfg->w, "render");
  assert_ptr_equal(sq, &cfg->w.functions[0]);
  assert_ptr_equal(re, &cfg->w.functions[1]);
  assert_null(mtq_worker_config_function(&cfg->w, "squar"));
  assert_null(mtq_worker_config_function(&cfg->w, "square2"));
  assert_null(mtq_worker_config_function(&cfg->w, "SQUARE"));
  assert_null(mtq_worker_config_function(&cfg->w, ""));
}

/* A function's keys may be split over two sections of the same name; the
 * later command replaces the earlier one. */
static void test_function_sections_merge(void **state) {
  test_cfg_t *cfg = *state;
  expect_accepted(cfg, "[function f]\ncommand = /bin/a\n[worker]\nconcurrency = 2\n"
                       "[function f]\nversion = v3\ncommand = /bin/b x\n");
  assert_int_equal(cfg->w.n_functions, 1);
  assert_function(&cfg->w.functions[0], "f", "v3", (const char *const[]){"/bin/b", "x", NULL});
}

/* --- channel lists -------------------------------------------------------- */

static void test_channels_with_spaces(void **state) {
  test_cfg_t *cfg = *state;
  expect_accepted(cfg, "[worker]\nchannels =   alpha ,beta,\tgamma.v2  ,  d-e_f\n");
  assert_names(cfg->w.channels, cfg->w.n_channels,
               (const char *const[]){"alpha", "beta", "gamma.v2", "d-e_f", NULL});
}

static void test_channels_key_repeated_replaces(void **state) {
  test_cfg_t *cfg = *state;
  expect_accepted(cfg, "[worker]\nchannels = a, b, c\nchannels = z\n");
  assert_names(cfg->w.channels, cfg->w.n_channels, (const char *const[]){"z", NULL});
}

static void test_channels_single(void **state) {
  test_cfg_t *cfg = *state;
  expect_accepted(cfg, "[coordinator]\nchannels = only\n");
  assert_names(cfg->c.channels, cfg->c.n_channels, (const char *const[]){"only", NULL});
  assert_int_equal(cfg->w.n_channels, 0);
}

static void test_channels_refused(void **unused) {
  expect_refused("[worker]\nchannels = a, b, a\n", "'a'", "twice", "[worker]", "channels");
  expect_refused("[coordinator]\nchannels = gpu,gpu\n", "'gpu'", "twice");
  expect_refused("[worker]\nchannels = a, b c\n", "'b c'", "not a valid name");
  expect_refused("[worker]\nchannels = a, gpu!\n", "'gpu!'");
  expect_refused("[worker]\nchannels = a, , b\n", "not a valid name");
  expect_refused("[worker]\nchannels = ,\n", "empty list");
  expect_refused("[worker]\nchannels =\n", "empty list");
  expect_refused("[coordinator]\nchannels = a/b\n", "'a/b'");
  /* 65 characters: one over MTQ_NAME_MAX. */
  expect_refused("[worker]\nchannels = "
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                 "not a valid name");
}

static void test_channel_64_chars_accepted(void **state) {
  test_cfg_t *cfg = *state;
  expect_accepted(cfg, "[worker]\nchannels = "
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
  assert_int_equal(strlen(cfg->w.channels[0]), 64);
}

/* --- bad names, unknown sections and keys -------------------------------- */

/* The wake-up keys: defaults, values, and what is refused. */
static void test_wake_keys(void **unused) {
  test_cfg_t cfg;
  bson_error_t error;
  test_cfg_init(&cfg);
  assert_true(cfg.w.wake);
  assert_int_equal(cfg.w.wake_port, 0);
  assert_int_equal(cfg.w.idle_poll_ms, 30000);
  assert_true(parse(&cfg, "[worker]\nwake = false\nwake_port = 7070\nidle_poll_ms = 5000\n", &error));
  assert_false(cfg.w.wake);
  assert_int_equal(cfg.w.wake_port, 7070);
  assert_int_equal(cfg.w.idle_poll_ms, 5000);
  test_cfg_cleanup(&cfg);
  expect_refused("[worker]\nwake_port = 65536\n", "wake_port");
  expect_refused("[worker]\nwake_port = -1\n", "wake_port");
  expect_refused("[worker]\nwake = maybe\n", "wake");
  expect_refused("[worker]\nidle_poll_ms = 0\n", "idle_poll_ms");
}

static void test_bad_names(void **unused) {
  expect_refused("[worker]\nid = m 1\n", "'m 1'", "worker id");
  expect_refused("[worker]\nid = m$1\n", "'m$1'");
  expect_refused("[function bad/name]\ncommand = /bin/true\n", "'bad/name'", "function name");
  expect_refused("[function  sq]\ncommand = /bin/true\n", "function name");
  expect_refused("[function sq]\nversion = 1 beta\ncommand = /bin/true\n", "'1 beta'", "version");
}

static void test_unknown_section(void **unused) {
  expect_refused("[workers]\nid = m1\n", "test.ini:1", "unknown section");
  expect_refused("[function]\ncommand = /bin/true\n", "test.ini:1", "unknown section");
  expect_refused("id = m1\n", "unknown section []");
  /* inih never reports a section without keys; the pre-pass does. */
  expect_refused("[worker]\nid = m1\n[bogus]\n", "test.ini:3", "unknown section");
  expect_refused("[function foo]\n", "[function foo] has no command");
}

static void test_unknown_key(void **unused) {
  expect_refused("[worker]\nconcurency = 4\n", "unknown key 'concurency' in [worker]");
  expect_refused("[database]\nurl = mongodb://x\n", "unknown key 'url' in [database]");
  expect_refused("[coordinator]\nlost_after = 5\n", "unknown key 'lost_after' in [coordinator]");
  expect_refused("[function sq]\ncmd = /bin/true\n", "unknown key 'cmd' in [function sq]");
  /* A coordinator key is not a worker key and the other way round. */
  expect_refused("[worker]\nlost_after_ms = 5000\n", "unknown key 'lost_after_ms'");
  expect_refused("[coordinator]\nconcurrency = 2\n", "unknown key 'concurrency'");
  expect_refused("[worker]\nretain_done_s = 60\n", "unknown key 'retain_done_s' in [worker]");
  expect_refused("[coordinator]\nretain_done = 60\n", "unknown key 'retain_done'");
}

static void test_error_names_source_section_and_key(void **unused) {
  expect_refused("[coordinator]\nsweep_interval_ms = soon\n", "test.ini", "[coordinator]",
                 "sweep_interval_ms", "'soon'");
}

static void test_empty_values(void **unused) {
  expect_refused("[database]\nuri =\n", "[database] uri", "empty value");
  expect_refused("[worker]\nid =\n", "worker id");
  expect_refused("[function f]\ncommand =\n", "empty command");
  expect_refused("[function f]\ncommand =   \n", "empty command");
}

static void test_syntax_error(void **unused) {
  expect_refused("[worker]\nconcurrency = 2\nthis line has no equals sign\n", "test.ini:3",
                 "syntax error");
  expect_refused("[worker\n", "test.ini:1", "without ']'");
  expect_refused("[worker\nid = m1\n", "test.ini:1", "without ']'");
  /* An indented line would be a continuation that replaces the value with
   * its last part: channels = a, then "  b", gave [b]. */
  expect_refused("[worker]\nchannels = a\n  b\n", "test.ini:3", "indented line");
}

/* inih cuts section names to 49 characters: a function name of 41 to 64
 * characters (valid elsewhere) was configured under its first 40 and then
 * reported as having no command. */
static void test_long_function_name(void **state) {
  test_cfg_t *cfg = *state;
  expect_refused("[function aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\ncommand = /bin/true\n",
                 "test.ini:1", "section name longer than 49 characters");
  expect_accepted(cfg,
                  "[function aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\ncommand = /bin/true\n");
  assert_non_null(mtq_worker_config_function(&cfg->w, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

/* Found by tests/fuzz/fuzz_config: inih also skips \r, \v and \f at the
 * start of a line, so they made continuation lines the pre-pass did not
 * refuse, and hid a [function] header from the check for a command: the
 * file was accepted with a function the worker could not run. */
static void test_other_white_space_indents(void **state) {
  expect_refused("; c/o.sx\n\v[function train]\nversion = rs\n", "test.ini:2", "indented line",
                 NULL);
  expect_refused("\r[function f]\nversion = 2\n", "test.ini:1", "indented line");
  expect_refused("[worker]\nchannels = a\n\fb\n", "test.ini:3", "indented line");
  /* Lines of white space only are still blank, CRLF still ends a line. */
  test_cfg_t *cfg = *state;
  expect_accepted(cfg, "[worker]\r\n\v\f\r\nid = m1\r\n");
  assert_string_equal(cfg->w.worker_id, "m1");
}

/* Only the first error is reported, and nothing after it is applied; what
 * came before stays in cfg. */
static void test_first_error_wins(void **state) {
  test_cfg_t *cfg = *state;
  char *host = bson_strdup(cfg->w.worker_id);
  bson_error_t error;
  assert_false(parse(cfg,
                     "[worker]\nconcurrency = 3\nbogus = 1\nalso_bogus = 2\nid = late\n"
                     "[coordinator]\nx = 1\n",
                     &error));
  assert_non_null(strstr(error.message, "'bogus'"));
  assert_null(strstr(error.message, "also_bogus"));
  assert_null(strstr(error.message, "coordinator"));
  assert_int_equal(cfg->w.concurrency, 3);
  assert_string_equal(cfg->w.worker_id, host);
  bson_free(host);
}

static void test_null_error_allowed(void **state) {
  test_cfg_t *cfg = *state;
  static const char text[] = "[worker]\nconcurrency = many\n";
  assert_false(test_cfg_parse(cfg, text, strlen(text), "t", NULL));
  assert_null(mtq_argv_split("'open", NULL));
  assert_null(mtq_argv_split("", NULL));
}

/* --- numbers -------------------------------------------------------------- */

static void test_numbers_accepted_at_bounds(void **state) {
  test_cfg_t *cfg = *state;
  expect_accepted(cfg, "[worker]\nconcurrency = 1\npoll_interval_ms = 10\n"
                       "heartbeat_interval_ms = 86400000\n");
  assert_int_equal(cfg->w.concurrency, 1);
  assert_int_equal(cfg->w.poll_interval_ms, 10);
  assert_int_equal(cfg->w.heartbeat_interval_ms, 86400000);
  expect_accepted(cfg, "[worker]\nconcurrency = 1024\n[coordinator]\nlost_after_ms = 10\n");
  assert_int_equal(cfg->w.concurrency, 1024);
  assert_int_equal(cfg->c.lost_after_ms, 10);
}

/* 0 is a valid retention (keep forever), unlike an interval. */
static void test_retention_bounds_accepted(void **state) {
  test_cfg_t *cfg = *state;
  expect_accepted(cfg, "[coordinator]\nretain_done_s = 0\nretain_failed_s = 0\n"
                       "retention_interval_ms = 10\nretention_batch = 1\n");
  assert_retention(cfg, 0, 0, 10, 1);
  expect_accepted(cfg, "[coordinator]\nretain_done_s = 316224000\nretain_failed_s = 2\n"
                       "retention_interval_ms = 86400000\nretention_batch = 10000\n");
  assert_retention(cfg, MTQ_RETAIN_MAX_S, 2, 86400000, MTQ_RETENTION_BATCH_MAX);
}

static void test_retention_refused(void **unused) {
  expect_refused("[coordinator]\nretain_done_s = -1\n", "retain_done_s", "'-1'",
                 "from 0 to 316224000");
  expect_refused("[coordinator]\nretain_failed_s = 316224001\n", "retain_failed_s");
  expect_refused("[coordinator]\nretain_done_s = 7d\n", "retain_done_s", "'7d'");
  expect_refused("[coordinator]\nretain_failed_s =\n", "retain_failed_s", "whole number");
  expect_refused("[coordinator]\nretention_interval_ms = 0\n", "retention_interval_ms",
                 "from 10 to 86400000");
  expect_refused("[coordinator]\nretention_interval_ms = 86400001\n", "retention_interval_ms");
  expect_refused("[coordinator]\nretention_batch = 0\n", "retention_batch", "from 1 to 10000");
  expect_refused("[coordinator]\nretention_batch = 10001\n", "retention_batch");
  expect_refused("[coordinator]\nretention_batch = 1e3\n", "retention_batch", "'1e3'");
}

/* The lease: at least a second; max_backlog: 0 (no limit) or more. */
static void test_lease_and_backlog(void **state) {
  test_cfg_t *cfg = *state;
  assert_int_equal(cfg->w.lease_ms, 30000);
  assert_int_equal(cfg->c.max_backlog, 0);
  expect_accepted(cfg, "[worker]\nlease_ms = 1000\n[coordinator]\nmax_backlog = 5\n");
  assert_int_equal(cfg->w.lease_ms, 1000);
  assert_int_equal(cfg->c.max_backlog, 5);
  expect_refused("[worker]\nlease_ms = 999\n", "lease_ms", "from 1000 to 86400000");
  expect_refused("[worker]\nlease_ms = 1s\n", "lease_ms", "'1s'");
  expect_refused("[coordinator]\nmax_backlog = -1\n", "max_backlog");
  expect_refused("[worker]\nmax_backlog = 5\n", "unknown key 'max_backlog' in [worker]");
}

static void test_numbers_refused(void **unused) {
  expect_refused("[worker]\nconcurrency = four\n", "'four'", "whole number");
  expect_refused("[worker]\nconcurrency = 4x\n", "'4x'");
  expect_refused("[worker]\nconcurrency = 4.0\n", "'4.0'");
  expect_refused("[worker]\nconcurrency = 0x10\n", "'0x10'");
  expect_refused("[worker]\nconcurrency = 0\n", "from 1 to 1024");
  expect_refused("[worker]\nconcurrency = 1025\n", "from 1 to 1024");
  expect_refused("[worker]\nconcurrency = -2\n", "'-2'");
  expect_refused("[worker]\nconcurrency =\n", "whole number");
  expect_refused("[worker]\npoll_interval_ms = 9\n", "poll_interval_ms", "from 10 to 86400000");
  expect_refused("[worker]\nheartbeat_interval_ms = 86400001\n", "heartbeat_interval_ms");
  expect_refused("[worker]\ngrace_period_ms = 99999999999999999999999\n", "grace_period_ms");
  expect_refused("[coordinator]\nlost_after_ms = -15000\n", "lost_after_ms");
  expect_refused("[coordinator]\nreconcile_interval_ms = 5 s\n", "reconcile_interval_ms");
}

/* --- functions ------------------------------------------------------------ */

static void test_function_without_command(void **unused) {
  expect_refused("[function lonely]\nversion = 2\n", "[function lonely] has no command");
  expect_refused("[function ok]\ncommand = /bin/true\n[function lonely]\nversion = 2\n",
                 "[function lonely]");
}

static void test_function_bad_command(void **unused) {
  expect_refused("[function f]\ncommand = /bin/echo \"unclosed\n", "unterminated", "[function f]");
}

/* --- raw text checks ------------------------------------------------------ */

/* A line "key = vvv..." of exactly len characters. */
static char *line_of(size_t len) {
  char *text = bson_malloc(len + 64);
  int n = snprintf(text, len + 64, "[database]\nuri = ");
  size_t prefix = strlen("uri = ");
  memset(text + n, 'v', len - prefix);
  strcpy(text + n + (len - prefix), "\n[worker]\nconcurrency = 2\n");
  return text;
}

static void test_line_198_chars_accepted(void **state) {
  test_cfg_t *cfg = *state;
  char *text = line_of(198);
  expect_accepted(cfg, text);
  /* Read whole, not truncated, and the lines after it are still seen. */
  assert_int_equal(strlen(cfg->w.base.uri), 198 - strlen("uri = "));
  assert_int_equal(cfg->w.concurrency, 2);
  bson_free(text);
}

static void test_line_199_chars_refused(void **unused) {
  /* 199 characters, the newline and the NUL overflow inih's 200-byte line. */
  char *text = line_of(199);
  expect_refused(text, "test.ini:2", "longer than 198");
  bson_free(text);
  /* A long comment line is refused too: inih would cut it and read the rest
   * as a line of its own. */
  char comment[260];
  memset(comment, 'c', sizeof comment);
  comment[0] = ';';
  comment[250] = '\0';
  expect_refused(comment, "test.ini:1", "longer than");
}

static void test_nul_byte_refused(void **unused) {
  static const char text[] = "[worker]\nid = m1\0evil\nconcurrency = 2\n";
  test_cfg_t cfg;
  bson_error_t error;
  test_cfg_init(&cfg);
  assert_false(test_cfg_parse(&cfg, text, sizeof text - 1, "nul.ini", &error));
  assert_refusal(&error, MTQ_ERR_INVALID, "nul.ini", "NUL");
  /* Nothing was applied. */
  assert_int_equal(cfg.w.concurrency, sysconf(_SC_NPROCESSORS_ONLN));
  test_cfg_cleanup(&cfg);
}

static void test_too_large_refused(void **state) {
  test_cfg_t *cfg = *state;
  size_t len = 1024 * 1024 + 1;
  char *text = bson_malloc(len);
  memset(text, '\n', len);
  bson_error_t error;
  assert_false(test_cfg_parse(cfg, text, len, "big.ini", &error));
  assert_int_equal(error.code, MTQ_ERR_TOO_LARGE);
  /* One byte less is within the limit (and all blank lines). */
  assert_true(test_cfg_parse(cfg, text, len - 1, "big.ini", &error));
  bson_free(text);
}

/* --- loading files -------------------------------------------------------- */

static void test_load_missing_file(void **state) {
  test_cfg_t *cfg = *state;
  bson_error_t error;
  assert_false(test_cfg_load(cfg, "/nonexistent/mtq-test/mtq.ini", &error));
  assert_refusal(&error, MTQ_ERR_NOT_FOUND, "/nonexistent/mtq-test/mtq.ini");
}

static char *write_temp(const char *text) {
  const char *dir = getenv("TMPDIR");
  char *path = bson_strdup_printf("%s/mtq-test-config-XXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  size_t len = strlen(text);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  close(fd);
  return path;
}

static void test_load_temp_file(void **state) {
  test_cfg_t *cfg = *state;
  char *path = write_temp(full_config);
  bson_error_t error;
  bool ok = test_cfg_load(cfg, path, &error);
  unlink(path);
  if (!ok) {
    bson_free(path);
    fail_msg("load failed: %s", error.message);
  }
  bson_free(path);
  assert_string_equal(cfg->w.worker_id, "m1");
  assert_int_equal(cfg->w.n_functions, 2);
  assert_non_null(mtq_worker_config_function(&cfg->w, "render"));
}

static void test_load_temp_file_error_names_path(void **state) {
  test_cfg_t *cfg = *state;
  char *path = write_temp("[worker]\nconcurrency = lots\n");
  bson_error_t error;
  bool ok = test_cfg_load(cfg, path, &error);
  unlink(path);
  assert_false(ok);
  assert_refusal(&error, MTQ_ERR_INVALID, path);
  bson_free(path);
}

/* --- mtq_argv_split ------------------------------------------------------- */

static void check_split(const char *line, const char *const *want) {
  bson_error_t error;
  char **argv = mtq_argv_split(line, &error);
  if (!argv) {
    fail_msg("split(%s) failed: %s", line, error.message);
  }
  assert_argv(argv, want);
  mtq_argv_free(argv);
}

static void check_split_fails(const char *line, const char *fragment) {
  bson_error_t error;
  memset(&error, 0, sizeof error);
  char **argv = mtq_argv_split(line, &error);
  if (argv) {
    mtq_argv_free(argv);
    fail_msg("split(%s) succeeded", line);
  }
  assert_refusal(&error, MTQ_ERR_INVALID, fragment);
}

static void test_argv_plain(void **unused) {
  check_split("/bin/echo", (const char *const[]){"/bin/echo", NULL});
  check_split("  a  b\tc \t", (const char *const[]){"a", "b", "c", NULL});
}

static void test_argv_quotes(void **unused) {
  check_split("run \"a b\" 'c d'", (const char *const[]){"run", "a b", "c d", NULL});
  check_split("x\"y z\"w", (const char *const[]){"xy zw", NULL});
  check_split("\"it's\" 'say \"hi\"'", (const char *const[]){"it's", "say \"hi\"", NULL});
  check_split("a '' b \"\"", (const char *const[]){"a", "", "b", "", NULL});
  check_split("'$HOME' \"*\" `x`", (const char *const[]){"$HOME", "*", "`x`", NULL});
}

static void test_argv_backslashes(void **unused) {
  check_split("a\\ b c", (const char *const[]){"a b", "c", NULL});
  check_split("\"a\\\"b\"", (const char *const[]){"a\"b", NULL});
  check_split("\\'x\\'", (const char *const[]){"'x'", NULL});
  check_split("'a\\b'", (const char *const[]){"a\\b", NULL}); /* literal in single quotes */
  check_split("a\\\\b", (const char *const[]){"a\\b", NULL});
  check_split("end\\", (const char *const[]){"end\\", NULL}); /* no read past the end */
}

static void test_argv_unterminated(void **unused) {
  check_split_fails("echo \"abc", "unterminated \" quote");
  check_split_fails("echo 'abc", "unterminated ' quote");
  check_split_fails("echo 'it\\'s'", "unterminated");
  check_split_fails("\"", "unterminated");
}

static void test_argv_empty(void **unused) {
  check_split_fails("", "empty command");
  check_split_fails(" \t  ", "empty command");
}

static void test_argv_many_words(void **unused) {
  const char *want[41];
  char line[200] = "";
  char words[40][4];
  for (int i = 0; i < 40; i++) {
    snprintf(words[i], sizeof words[i], "w%d", i);
    want[i] = words[i];
    strcat(line, words[i]);
    strcat(line, " ");
  }
  want[40] = NULL;
  check_split(line, want);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_cfg, teardown_cfg)
  const struct CMUnitTest tests[] = {
      T(test_defaults),
      T(test_empty_file_keeps_defaults),
      T(test_cleanup_then_reuse),
      T(test_full_config),
      T(test_parse_reads_only_len_bytes),
      T(test_function_lookup),
      T(test_function_sections_merge),
      T(test_channels_with_spaces),
      T(test_channels_key_repeated_replaces),
      T(test_channels_single),
      cmocka_unit_test(test_channels_refused),
      T(test_channel_64_chars_accepted),
      cmocka_unit_test(test_wake_keys),
      cmocka_unit_test(test_bad_names),
      cmocka_unit_test(test_unknown_section),
      cmocka_unit_test(test_unknown_key),
      cmocka_unit_test(test_error_names_source_section_and_key),
      cmocka_unit_test(test_empty_values),
      cmocka_unit_test(test_syntax_error),
      T(test_other_white_space_indents),
      T(test_long_function_name),
      T(test_first_error_wins),
      T(test_null_error_allowed),
      T(test_numbers_accepted_at_bounds),
      cmocka_unit_test(test_numbers_refused),
      T(test_lease_and_backlog),
      T(test_retention_bounds_accepted),
      cmocka_unit_test(test_retention_refused),
      cmocka_unit_test(test_function_without_command),
      cmocka_unit_test(test_function_bad_command),
      T(test_line_198_chars_accepted),
      cmocka_unit_test(test_line_199_chars_refused),
      cmocka_unit_test(test_nul_byte_refused),
      T(test_too_large_refused),
      T(test_load_missing_file),
      T(test_load_temp_file),
      T(test_load_temp_file_error_names_path),
      cmocka_unit_test(test_argv_plain),
      cmocka_unit_test(test_argv_quotes),
      cmocka_unit_test(test_argv_backslashes),
      cmocka_unit_test(test_argv_unterminated),
      cmocka_unit_test(test_argv_empty),
      cmocka_unit_test(test_argv_many_words),
  };
#undef T
  return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
