/* test_functions.c - the function registry without a database: manifests,
 * digests and the scan of a function directory (worker/functions_dir.c,
 * compiled in), the registry's documents and their view
 * (common/model/function_doc.c).  The scan works on a scratch directory
 * under /tmp that each test makes and removes. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "functions_dir.h"
#include "mtq_function.h"
#include "test_util.h"

/* --- a scratch directory ------------------------------------------------------ */

static char scratch[64];

static int make_scratch(void **state) {
  snprintf(scratch, sizeof scratch, "/tmp/mtq-test-functions-XXXXXX");
  assert_non_null(mkdtemp(scratch));
  return 0;
}

static int drop_scratch(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
  assert_int_equal(system(cmd), 0);
  return 0;
}

/* Writes text to scratch/rel, making its folders; mode as chmod. */
static void put(const char *rel, const char *text, mode_t mode) {
  char *path = bson_strdup_printf("%s/%s", scratch, rel);
  for (char *p = path + strlen(scratch) + 1; (p = strchr(p, '/')); p++) {
    *p = '\0';
    mkdir(path, 0755);
    *p = '/';
  }
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  chmod(path, mode);
  bson_free(path);
}

/* sha256sum's digest of a shell command's output, for comparison. */
static void shell_digest(const char *cmd, char hex[65]) {
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  assert_non_null(fgets(hex, 65, p));
  pclose(p);
  hex[64] = '\0';
}

typedef struct {
  char *all[16];
  size_t n;
} problems_t;

static void on_problem(void *data, const char *message) {
  problems_t *p = data;
  if (p->n < 16) {
    p->all[p->n++] = bson_strdup(message);
  }
}

static void problems_free(problems_t *p) {
  for (size_t i = 0; i < p->n; i++) {
    bson_free(p->all[i]);
  }
  p->n = 0;
}

static bool problem_says(const problems_t *p, const char *frag) {
  for (size_t i = 0; i < p->n; i++) {
    if (strstr(p->all[i], frag)) {
      return true;
    }
  }
  return false;
}

/* --- manifests -------------------------------------------------------------------- */

static bool parse(const char *text, mtq_function_t *f, bson_error_t *error) {
  char *dir = bson_strdup_printf("%s/sq/2", scratch);
  char *path = bson_strdup_printf("%s/mtq.ini", dir);
  bool ok = mtq_fndir_manifest_parse(text, strlen(text), path, dir, "sq", "2", f, error);
  bson_free(path);
  bson_free(dir);
  return ok;
}

static void test_manifest_ok(void **unused) {
  put("sq/2/run.sh", "#!/bin/sh\necho '{}'\n", 0755);
  put("sq/2/model.bin", "weights", 0644);
  mtq_function_t f;
  bson_error_t error;
  assert_true(parse("[function]\ncommand = ./run.sh --model model.bin -v python3\n"
                    "description = squares\ndeveloper = Ada\ncontact = ada@example.com\n",
                    &f, &error));
  char *run = bson_strdup_printf("%s/sq/2/run.sh", scratch);
  char *model = bson_strdup_printf("%s/sq/2/model.bin", scratch);
  assert_string_equal(f.argv[0], run);
  assert_string_equal(f.argv[1], "--model");
  assert_string_equal(f.argv[2], model);
  assert_string_equal(f.argv[3], "-v");
  assert_string_equal(f.argv[4], "python3"); /* not in the folder: left to PATH */
  assert_null(f.argv[5]);
  assert_string_equal(f.description, "squares");
  assert_string_equal(f.developer, "Ada");
  assert_string_equal(f.contact, "ada@example.com");
  assert_true(f.from_dir);
  bson_free(run);
  bson_free(model);
  mtq_function_cleanup(&f);

  /* A program from PATH, with a script of the folder as its argument. */
  assert_true(parse("[function]\ncommand = /bin/sh run.sh\n", &f, &error));
  assert_string_equal(f.argv[0], "/bin/sh");
  assert_non_null(strstr(f.argv[1], "/sq/2/run.sh"));
  mtq_function_cleanup(&f);
}

static void expect_bad(const char *text, const char *frag1, const char *frag2) {
  mtq_function_t f;
  bson_error_t error;
  assert_false(parse(text, &f, &error));
  assert_refusal(&error, error.code, frag1, frag2);
  assert_contains(error.message, "mtq.ini");
  mtq_function_cleanup(&f);
}

static void test_manifest_bad(void **unused) {
  put("sq/2/run.sh", "#!/bin/sh\n", 0755);
  put("sq/2/data.txt", "x", 0644);
  expect_bad("[function]\ncommand = ./run.sh\ncolour = red\n", "mtq.ini:3:", "unknown key 'colour'");
  expect_bad("[function]\ndescription = x\n", "has no command", "[function]");
  expect_bad("", "has no command", "mtq.ini");
  expect_bad("[function]\ncommand = ./nothere.sh\n", "no such file", "./nothere.sh");
  expect_bad("[function]\ncommand = ./data.txt\n", "not an executable file", "data.txt");
  expect_bad("[function]\ncommand = 'unterminated\n", "unterminated", "command");
  expect_bad("[function]\ncommand =\n", "mtq.ini:2:", "empty value");
  expect_bad("[function sq]\ncommand = ./run.sh\n", "mtq.ini:1:", "unknown section");
  expect_bad("[worker]\nid = m1\n", "mtq.ini:1:", "unknown section");
  expect_bad("[database]\nuri = mongodb://x/mtq\n[function]\ncommand = ./run.sh\n",
             "holds [function] only", "mtq.ini");
  expect_bad("[function]\n  command = ./run.sh\n", "mtq.ini:2:", "indented");
}

/* --- digests ------------------------------------------------------------------------ */

static void test_digest_matches_sha256sum(void **unused) {
  put("f/1/mtq.ini", "[function]\ncommand = ./run.sh\n", 0644);
  put("f/1/run.sh", "#!/bin/sh\necho '{}'\n", 0755);
  put("f/1/lib/a.py", "print(1)\n", 0644);
  put("f/1/lib.txt", "beside lib/", 0644);
  put("f/1/.hidden", "counted too", 0644);
  char *dir = bson_strdup_printf("%s/f/1", scratch);
  char *files[] = {".hidden", "lib.txt", "lib/a.py", "mtq.ini", "run.sh"};
  char hex[65], want[65];
  bson_error_t error;
  assert_true(mtq_digest_files(NULL, dir, files, 5, hex, &error));
  char *cmd = bson_strdup_printf("cd '%s' && find -L . -type f -printf '%%P\\n' | LC_ALL=C sort | "
                                 "xargs -d '\\n' sha256sum | sha256sum",
                                 dir);
  shell_digest(cmd, want);
  assert_string_equal(hex, want);

  /* The scan finds the same files in the same order. */
  mtq_fnset_t *set = mtq_fnset_new();
  problems_t p = {0};
  mtq_fndir_scan(scratch, NULL, set, on_problem, &p);
  assert_int_equal(p.n, 0);
  assert_int_equal(set->n, 1);
  assert_string_equal(set->items[0].digest, want);
  mtq_fnset_unref(set);

  /* An INI function: the files its command names, PATH searched. */
  char *sh = bson_strdup_printf("%s/run.sh", dir);
  char *words[] = {"/bin/sh", sh};
  assert_true(mtq_digest_files(NULL, NULL, words, 2, hex, &error));
  bson_free(cmd);
  cmd = bson_strdup_printf("sha256sum /bin/sh '%s' | sha256sum", sh);
  shell_digest(cmd, want);
  assert_string_equal(hex, want);

  /* A file that cannot be read. */
  char *gone[] = {"nothere"};
  assert_false(mtq_digest_files(NULL, dir, gone, 1, hex, &error));
  assert_refusal(&error, MTQ_ERR_NOT_FOUND, "nothere");
  bson_free(sh);
  bson_free(cmd);
  bson_free(dir);
}

static void test_digest_cache_sees_changes(void **unused) {
  put("f/1/run.sh", "one\n", 0755);
  char *dir = bson_strdup_printf("%s/f/1", scratch);
  char *files[] = {"run.sh"};
  char first[65], again[65], changed[65];
  bson_error_t error;
  mtq_digest_cache_t *cache = mtq_digest_cache_new();
  mtq_worker_config_t cfg;
  mtq_worker_config_init(&cfg);
  assert_true(mtq_digest_files(cache, dir, files, 1, first, &error));
  /* A load turns the cache over: what it hashed is looked up next. */
  mtq_fnset_unref(mtq_fnset_load(&cfg, cache, NULL, NULL));
  assert_true(mtq_digest_files(cache, dir, files, 1, again, &error));
  assert_string_equal(first, again);
  put("f/1/run.sh", "two, longer\n", 0755);
  assert_true(mtq_digest_files(cache, dir, files, 1, changed, &error));
  assert_string_not_equal(first, changed);
  mtq_worker_config_cleanup(&cfg);
  mtq_digest_cache_destroy(cache);
  bson_free(dir);
}

/* --- the scan ----------------------------------------------------------------------------- */

static void test_scan(void **unused) {
  put("README", "not a function", 0644);
  put(".git/config", "skipped", 0644);
  put("sq/1/mtq.ini", "[function]\ncommand = ./run.sh\n", 0644);
  put("sq/1/run.sh", "#!/bin/sh\n", 0755);
  put("sq/2/mtq.ini", "[function]\ncommand = ./run.sh\ndescription = two\n", 0644);
  put("sq/2/run.sh", "#!/bin/sh\n", 0755);
  put("sq/NOTES", "beside the versions", 0644);
  put("sq/3/mtq.ini", "[function]\ncommand = ./run.sh\nbogus = 1\n", 0644);
  put("sq/3/run.sh", "#!/bin/sh\n", 0755);
  put("sq/4/run.sh", "#!/bin/sh\n", 0755);
  put("sq/v 5/mtq.ini", "[function]\ncommand = /bin/true\n", 0644);
  put("bad!name/1/mtq.ini", "[function]\ncommand = /bin/true\n", 0644);
  put("cube/1/mtq.ini", "[function]\ncommand = /bin/true\n", 0644);

  /* The INI's own sq version 1 wins over the directory's. */
  mtq_worker_config_t cfg;
  mtq_worker_config_init(&cfg);
  const char ini[] = "[function sq]\nversion = 1\ncommand = /bin/true\n";
  bson_error_t error;
  assert_true(mtq_worker_config_parse(&cfg, ini, sizeof ini - 1, "w.ini", &error));
  cfg.function_dir = bson_strdup(scratch);
  problems_t p = {0};
  mtq_fnset_t *set = mtq_fnset_load(&cfg, NULL, on_problem, &p);
  assert_int_equal(set->n, 3); /* sq 1 (INI), sq 2, cube 1 */
  const mtq_function_t *sq1 = mtq_fnset_find(set, "sq", "1");
  assert_non_null(sq1);
  assert_false(sq1->from_dir);
  assert_string_equal(sq1->argv[0], "/bin/true");
  assert_string_equal(sq1->source, "w.ini");
  assert_int_equal(strlen(sq1->digest), 64);
  const mtq_function_t *sq2 = mtq_fnset_find(set, "sq", "2");
  assert_non_null(sq2);
  assert_string_equal(sq2->description, "two");
  assert_non_null(mtq_fnset_find(set, "cube", "1"));
  assert_null(mtq_fnset_find(set, "sq", "3"));
  assert_ptr_equal(set->served[1].name, set->items[1].name);
  assert_true(problem_says(&p, "sq/1: sq version 1 is also a [function]"));
  assert_true(problem_says(&p, "sq/3/mtq.ini:3: [function] bogus: unknown key"));
  assert_true(problem_says(&p, "sq/4/mtq.ini: missing"));
  assert_true(problem_says(&p, "'v 5' is not a valid version"));
  assert_true(problem_says(&p, "'bad!name' is not a valid function name"));
  assert_int_equal(p.n, 5);
  problems_free(&p);

  /* Sets compare by content; a reload of the same is the same. */
  mtq_fnset_t *again = mtq_fnset_load(&cfg, NULL, on_problem, &p);
  assert_true(mtq_fnset_same(set, again));
  put("sq/2/run.sh", "#!/bin/sh\n# changed\n", 0755);
  mtq_fnset_t *changed = mtq_fnset_load(&cfg, NULL, on_problem, &p);
  assert_false(mtq_fnset_same(set, changed));
  mtq_fnset_unref(changed);
  mtq_fnset_unref(again);
  mtq_fnset_unref(mtq_fnset_ref(set)); /* one reference still held */
  assert_int_equal(set->refs, 1);
  mtq_fnset_unref(set);
  problems_free(&p);

  /* A function_dir that cannot be read costs the INI's functions nothing. */
  bson_free(cfg.function_dir);
  cfg.function_dir = bson_strdup("/nonexistent/functions");
  set = mtq_fnset_load(&cfg, NULL, on_problem, &p);
  assert_int_equal(set->n, 1);
  assert_true(problem_says(&p, "function_dir /nonexistent/functions: cannot read"));
  mtq_fnset_unref(set);
  problems_free(&p);
  mtq_worker_config_cleanup(&cfg);
}

static void test_worker_keys(void **unused) {
  mtq_worker_config_t cfg;
  bson_error_t error;
  const char ok[] = "[worker]\nfunction_dir = /opt/f\nsync_command = git -C /opt/f pull --ff-only\n"
                    "sync_interval_s = 5\nsync_timeout_s = 30\n"
                    "[function sq]\ncommand = /bin/true\ndeveloper = Ada\n";
  mtq_worker_config_init(&cfg);
  assert_true(mtq_worker_config_parse(&cfg, ok, sizeof ok - 1, "w.ini", &error));
  assert_string_equal(cfg.function_dir, "/opt/f");
  assert_string_equal(cfg.sync_argv[4], "--ff-only");
  assert_int_equal(cfg.sync_interval_s, 5);
  assert_int_equal(cfg.sync_timeout_s, 30);
  assert_string_equal(cfg.functions[0].developer, "Ada");
  mtq_worker_config_cleanup(&cfg);

  static const char *const bad[][2] = {
      {"[worker]\nsync_command = git pull\n", "sync_command needs function_dir"},
      {"[worker]\nfunction_dir = relative/path\n", "not an absolute path"},
      {"[worker]\nsync_interval_s = 0\n", "w.ini:2: [worker] sync_interval_s"},
      {"[worker]\nsync_timeout_s = 3601\n", "sync_timeout_s"},
      {"[worker]\nfunction_dir = /f\nsync_command = 'git\n", "unterminated"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mtq_worker_config_init(&cfg);
    assert_false(mtq_worker_config_parse(&cfg, bad[i][0], strlen(bad[i][0]), "w.ini", &error));
    assert_contains(error.message, bad[i][1]);
    mtq_worker_config_cleanup(&cfg);
  }
}

/* --- the registry's documents and view ------------------------------------------------------ */

static void served(mtq_function_record_t *r, const char *name, const char *version,
                   const char *worker, const char *digest, int64_t at) {
  bson_strncpy(r->name, name, sizeof r->name);
  bson_strncpy(r->version, version, sizeof r->version);
  bson_strncpy(r->worker, worker, sizeof r->worker);
  r->state = MTQ_FUNCTION_STATE_SERVED;
  r->command = bson_malloc0(2 * sizeof *r->command);
  r->command[0] = bson_strdup("/bin/true");
  r->description = bson_strdup("d");
  memset(r->digest, digest[0], 64);
  r->created_at_ms = r->updated_at_ms = at;
}

static void test_record_round_trip(void **unused) {
  mtq_function_record_t r, back;
  mtq_function_record_init(&r);
  mtq_function_record_init(&back);
  served(&r, "sq", "2", "m1", "a", 1000);
  bson_t doc = BSON_INITIALIZER;
  mtq_function_record_to_bson(&r, &doc);
  bson_iter_t it;
  assert_true(bson_iter_init_find(&it, &doc, "_id"));
  assert_string_equal(bson_iter_utf8(&it, NULL), "sq@2/m1");
  assert_true(mtq_function_record_from_bson(&back, &doc));
  assert_true(mtq_function_record_same(&r, &back));
  assert_int_equal(back.created_at_ms, 1000);
  back.last_sync_at_ms = 5; /* any field differing is a change */
  assert_false(mtq_function_record_same(&r, &back));
  bson_destroy(&doc);

  bson_t *bad = doc_from_json("{\"name\": \"sq\", \"version\": \"2\", \"worker\": \"m1\", "
                              "\"state\": \"retired\"}");
  assert_false(mtq_function_record_from_bson(&back, bad));
  bson_destroy(bad);
  bad = doc_from_json("{\"name\": \"s q\", \"version\": \"2\", \"worker\": \"m1\", "
                      "\"state\": \"served\"}");
  assert_false(mtq_function_record_from_bson(&back, bad));
  bson_destroy(bad);
  mtq_function_record_cleanup(&back);
  mtq_function_record_cleanup(&r);
}

static void test_version_order(void **unused) {
  assert_true(mtq_function_version_cmp("2", "10") < 0);
  assert_true(mtq_function_version_cmp("1.9", "1.10") < 0);
  assert_true(mtq_function_version_cmp("v2", "v2") == 0);
  assert_true(mtq_function_version_cmp("02", "2") == 0);
  assert_true(mtq_function_version_cmp("2a", "2") > 0);
  assert_true(mtq_function_version_cmp("beta", "alpha") > 0);
}

static const char *registry_text(const bson_t *reg, const char *path) {
  bson_iter_t it, found;
  if (!bson_iter_init(&it, reg) || !bson_iter_find_descendant(&it, path, &found)) {
    return NULL;
  }
  return BSON_ITER_HOLDS_UTF8(&found) ? bson_iter_utf8(&found, NULL) : NULL;
}

static bool registry_bool(const bson_t *reg, const char *path) {
  bson_iter_t it, found;
  return bson_iter_init(&it, reg) && bson_iter_find_descendant(&it, path, &found) &&
         BSON_ITER_HOLDS_BOOL(&found) && bson_iter_bool(&found);
}

static void test_registry_view(void **unused) {
  mtq_function_record_list_t records;
  mtq_function_record_list_init(&records);
  served(mtq_function_record_list_push(&records), "sq", "10", "m1", "a", 3000);
  served(mtq_function_record_list_push(&records), "sq", "2", "m1", "a", 1000);
  served(mtq_function_record_list_push(&records), "sq", "2", "m2", "b", 2000);
  mtq_function_record_t *m = mtq_function_record_list_push(&records);
  bson_strncpy(m->name, "sq", sizeof m->name);
  bson_strncpy(m->version, "3", sizeof m->version);
  bson_strncpy(m->worker, "m1", sizeof m->worker);
  bson_strncpy(m->channel, "default", sizeof m->channel);
  m->state = MTQ_FUNCTION_STATE_MISSING;
  m->tasks_seen = 4;
  m->why = bson_strdup("not there");
  m->created_at_ms = 500;
  /* A stopped worker's want is left out, and so is a version only it wants. */
  m = mtq_function_record_list_push(&records);
  bson_strncpy(m->name, "sq", sizeof m->name);
  bson_strncpy(m->version, "7", sizeof m->version);
  bson_strncpy(m->worker, "m2", sizeof m->worker);
  m->state = MTQ_FUNCTION_STATE_MISSING;

  mtq_whoami_list_t workers;
  mtq_whoami_list_init(&workers);
  mtq_whoami_t *w1 = mtq_whoami_list_push(&workers);
  bson_strncpy(w1->id, "m1", sizeof w1->id);
  w1->state = MTQ_WORKER_STATE_RUNNING;
  mtq_whoami_add_function(w1, "sq", "2");
  mtq_whoami_add_function(w1, "sq", "10");
  mtq_whoami_add_function(w1, "old", "1"); /* announced, no record */
  mtq_whoami_t *w2 = mtq_whoami_list_push(&workers);
  bson_strncpy(w2->id, "m2", sizeof w2->id);
  w2->state = MTQ_WORKER_STATE_STOPPED;
  mtq_whoami_add_function(w2, "sq", "2");

  bson_t reg = BSON_INITIALIZER;
  mtq_function_registry(&records, &workers, &reg);
  /* old 1, sq 2, sq 3, sq 10: by name, then version as people count. */
  assert_string_equal(registry_text(&reg, "functions.0.name"), "old");
  assert_string_equal(registry_text(&reg, "functions.1.version"), "2");
  assert_string_equal(registry_text(&reg, "functions.2.version"), "3");
  assert_string_equal(registry_text(&reg, "functions.3.version"), "10");
  assert_null(registry_text(&reg, "functions.4.name"));
  /* sq 2: two workers, digests differ, the newest record's digest. */
  assert_false(registry_bool(&reg, "functions.1.digests_agree"));
  assert_int_equal(registry_text(&reg, "functions.1.digest")[0], 'b');
  assert_string_equal(registry_text(&reg, "functions.1.workers.0.id"), "m1");
  assert_true(registry_bool(&reg, "functions.1.workers.0.live"));
  assert_string_equal(registry_text(&reg, "functions.1.workers.1.id"), "m2");
  assert_false(registry_bool(&reg, "functions.1.workers.1.live"));
  /* sq 3: missing, wanted by m1. */
  assert_false(registry_bool(&reg, "functions.2.live"));
  assert_string_equal(registry_text(&reg, "functions.2.missing.0.worker"), "m1");
  assert_string_equal(registry_text(&reg, "functions.2.missing.0.why"), "not there");
  /* old 1: announced only. */
  assert_string_equal(registry_text(&reg, "functions.0.workers.0.id"), "m1");
  assert_null(registry_text(&reg, "functions.0.digest"));
  bson_destroy(&reg);
  mtq_whoami_list_cleanup(&workers);
  mtq_function_record_list_cleanup(&records);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_manifest_ok, make_scratch, drop_scratch),
      cmocka_unit_test_setup_teardown(test_manifest_bad, make_scratch, drop_scratch),
      cmocka_unit_test_setup_teardown(test_digest_matches_sha256sum, make_scratch, drop_scratch),
      cmocka_unit_test_setup_teardown(test_digest_cache_sees_changes, make_scratch, drop_scratch),
      cmocka_unit_test_setup_teardown(test_scan, make_scratch, drop_scratch),
      cmocka_unit_test(test_worker_keys),
      cmocka_unit_test(test_record_round_trip),
      cmocka_unit_test(test_version_order),
      cmocka_unit_test(test_registry_view),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
