/* test_web_metrics.c - the registry (common/model/metrics.c) and the
 * Prometheus rendering of GET /metrics (web/metrics.c, compiled in) from
 * fixed input: escaping, cumulative histograms, a reset, a lost worker,
 * documents that are not well formed; and the text passes `promtool check
 * metrics` when promtool is installed (Debian's prometheus package).  No
 * database. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "metrics.h"
#include "mtq_metrics.h"
#include "test_util.h"

/* --- the registry ----------------------------------------------------------- */

static void test_registry(void **unused) {
  mtq_metrics_t *m = mtq_metrics_new();
  const char *const a[] = {"channel", "c1", "func", "f", NULL};
  const char *const b[] = {"channel", "c2", "func", "f", NULL};
  mtq_metrics_count(m, "tasks_started", a, 1);
  mtq_metrics_count(m, "tasks_started", a, 2);
  mtq_metrics_count(m, "tasks_started", b, 1);
  mtq_metrics_count(m, "tasks_started", b, -5); /* a counter never goes down */
  mtq_metrics_set(m, "leading", NULL, 1);
  mtq_metrics_observe(m, "run_seconds", a, 0.003);
  mtq_metrics_observe(m, "run_seconds", a, 0.2);
  mtq_metrics_observe(m, "run_seconds", a, 7);
  mtq_metrics_observe(m, "run_seconds", a, 99999); /* +Inf */
  mtq_metrics_observe(m, "run_seconds", a, -1);    /* clock skew: 0 */
  bson_t doc = BSON_INITIALIZER;
  mtq_metrics_to_bson(m, &doc);
  bson_iter_t it;
  assert_true(bson_iter_init(&it, &doc) && bson_iter_find_descendant(&it, "counters.0.value", &it));
  assert_near(bson_iter_double(&it), 3);
  assert_true(bson_iter_init(&it, &doc) && bson_iter_find_descendant(&it, "counters.1.value", &it));
  assert_near(bson_iter_double(&it), 1);
  assert_true(bson_iter_init(&it, &doc) &&
              bson_iter_find_descendant(&it, "counters.1.labels.channel", &it));
  assert_string_equal(bson_iter_utf8(&it, NULL), "c2");
  assert_true(bson_iter_init(&it, &doc) && bson_iter_find_descendant(&it, "gauges.0.value", &it));
  assert_near(bson_iter_double(&it), 1);
  /* Per bucket, not cumulative: 0 and 0.003 in the first, 0.2 in <= 0.25
   * (index 5), 7 in <= 10 (index 10), 99999 in +Inf (index 17). */
  static const struct {
    const char *path;
    int64_t n;
  } want[] = {{"histograms.0.counts.0", 2}, {"histograms.0.counts.5", 1},
              {"histograms.0.counts.10", 1}, {"histograms.0.counts.17", 1},
              {"histograms.0.counts.16", 0}, {"histograms.0.count", 5}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    assert_true(bson_iter_init(&it, &doc) && bson_iter_find_descendant(&it, want[i].path, &it));
    assert_int_equal(bson_iter_as_int64(&it), want[i].n);
  }
  assert_false(bson_iter_init(&it, &doc) &&
               bson_iter_find_descendant(&it, "histograms.0.counts.18", &it));
  bson_destroy(&doc);
  mtq_metrics_destroy(m);
}

/* Past MTQ_METRICS_SERIES_MAX, new label sets go to the overflow series. */
static void test_registry_cap(void **unused) {
  mtq_metrics_t *m = mtq_metrics_new();
  for (int i = 0; i < MTQ_METRICS_SERIES_MAX + 10; i++) {
    char f[16];
    snprintf(f, sizeof f, "f%d", i);
    const char *const l[] = {"func", f, NULL};
    mtq_metrics_count(m, "tasks_started", l, 1);
  }
  bson_t doc = BSON_INITIALIZER;
  mtq_metrics_to_bson(m, &doc);
  char path[64];
  bson_iter_t it;
  snprintf(path, sizeof path, "counters.%d.labels.func", MTQ_METRICS_SERIES_MAX);
  assert_true(bson_iter_init(&it, &doc) && bson_iter_find_descendant(&it, path, &it));
  assert_string_equal(bson_iter_utf8(&it, NULL), MTQ_METRICS_OTHER);
  snprintf(path, sizeof path, "counters.%d.value", MTQ_METRICS_SERIES_MAX);
  assert_true(bson_iter_init(&it, &doc) && bson_iter_find_descendant(&it, path, &it));
  assert_near(bson_iter_double(&it), 10);
  snprintf(path, sizeof path, "counters.%d", MTQ_METRICS_SERIES_MAX + 1);
  assert_false(bson_iter_init(&it, &doc) && bson_iter_find_descendant(&it, path, &it));
  bson_destroy(&doc);
  mtq_metrics_destroy(m);
}

/* --- rendering ------------------------------------------------------------------ */

/* A worker document of the metrics collection: its counters from a real
 * registry, so that the test reads what workers write. */
static void worker_doc(bson_t *arr, const char *key, const char *name, int64_t started_at_ms,
                       double finished) {
  mtq_metrics_t *m = mtq_metrics_new();
  const char *const l[] = {"channel", "c1", "func", "sq", "version", "1", NULL};
  /* A label value that needs every escape of the format. */
  const char *const odd[] = {"channel", "c1", "func", "a\"b\\c\nd", "version", "1", NULL};
  mtq_metrics_count(m, "tasks_finished", l, finished);
  mtq_metrics_count(m, "tasks_failed", odd, 1);
  mtq_metrics_observe(m, "task_run_seconds", l, 0.003);
  mtq_metrics_observe(m, "task_run_seconds", l, 0.2);
  mtq_metrics_observe(m, "task_run_seconds", l, 7);
  bson_t doc;
  BSON_APPEND_DOCUMENT_BEGIN(arr, key, &doc);
  BSON_APPEND_UTF8(&doc, "_id", "worker:x");
  BSON_APPEND_UTF8(&doc, "kind", "worker");
  BSON_APPEND_UTF8(&doc, "name", name);
  BSON_APPEND_DATE_TIME(&doc, "at", started_at_ms + 5000);
  BSON_APPEND_DATE_TIME(&doc, "started_at", started_at_ms);
  mtq_metrics_to_bson(m, &doc);
  bson_t db;
  mtq_metrics_t *dbm = mtq_metrics_new();
  const char *const c[] = {"command", "find", "outcome", "ok", NULL};
  mtq_metrics_count(dbm, "db_commands", c, 4);
  mtq_metrics_observe(dbm, "db_command_duration_seconds", NULL, 0.002);
  BSON_APPEND_DOCUMENT_BEGIN(&doc, "db", &db);
  mtq_metrics_to_bson(dbm, &db);
  bson_append_document_end(&doc, &db);
  bson_append_document_end(arr, &doc);
  mtq_metrics_destroy(dbm);
  mtq_metrics_destroy(m);
}

static const char *const other_docs =
    "{\"kind\": \"coordinator\", \"name\": \"db1\", \"at\": {\"$date\": 1700000009000},"
    " \"started_at\": {\"$date\": 1700000000000},"
    " \"counters\": [{\"name\": \"coordinator_workers_lost\", \"labels\": {}, \"value\": 1},"
    "   {\"name\": \"coordinator_leases_expired\","
    "    \"labels\": {\"channel\": \"c1\", \"outcome\": \"queued\"}, \"value\": 2},"
    /* not rendered: a label name that is not one, a reserved one, a negative counter */
    "   {\"name\": \"tasks_started\", \"labels\": {\"bad-label\": \"x\"}, \"value\": 1},"
    "   {\"name\": \"tasks_started\", \"labels\": {\"le\": \"x\"}, \"value\": 1},"
    "   {\"name\": \"tasks_started\", \"labels\": {\"channel\": \"neg\"}, \"value\": -1},"
    "   {\"name\": \"bad name\", \"labels\": {}, \"value\": 1}],"
    " \"gauges\": [{\"name\": \"coordinator_leading\", \"labels\": {}, \"value\": 1}],"
    /* not rendered: counts that do not add up to count */
    " \"histograms\": [{\"name\": \"task_wait_seconds\", \"labels\": {\"channel\": \"z\"},"
    "   \"bounds\": [1, 2], \"counts\": [1, 1, 1], \"sum\": 3, \"count\": 4}]}";

static void fill_input(mtq_web_metrics_input_t *in, int64_t started_at_ms, double finished) {
  mtq_web_metrics_input_init(in);
  bson_strncpy(in->self_name, "webhost", sizeof in->self_name);
  mtq_whoami_t *w1 = mtq_whoami_list_push(&in->workers);
  bson_strncpy(w1->id, "w1", sizeof w1->id);
  bson_strncpy(w1->host, "h1", sizeof w1->host);
  w1->state = MTQ_WORKER_STATE_RUNNING;
  w1->concurrency = 4;
  w1->running = 2;
  w1->last_seen_ms = 1700000001000;
  w1->started_at_ms = 1700000000000;
  w1->hostinfo.cores = 8;
  w1->hostinfo.has_load = true;
  w1->hostinfo.load[0] = 1.5;
  w1->hostinfo.has_mem = true;
  w1->hostinfo.mem_total_mb = 1024;
  w1->hostinfo.mem_available_mb = 512;
  w1->hostinfo.has_disk = true;
  bson_strncpy(w1->hostinfo.disk_path, "/var/lib/mtq", sizeof w1->hostinfo.disk_path);
  w1->hostinfo.disk_total_mb = 2048;
  w1->hostinfo.disk_free_mb = 1024;
  w1->hostinfo.n_gpus = 1;
  w1->hostinfo.gpus[0].util_pct = 50;
  w1->hostinfo.gpus[0].mem_used_mb = 1;
  w1->hostinfo.gpus[0].mem_total_mb = 2;
  w1->hostinfo.gpus[0].temp_c = NAN;
  mtq_whoami_t *w2 = mtq_whoami_list_push(&in->workers);
  bson_strncpy(w2->id, "w2", sizeof w2->id);
  bson_strncpy(w2->host, "h2", sizeof w2->host);
  w2->state = MTQ_WORKER_STATE_LOST;
  w2->last_seen_ms = 1700000000500;
  w2->hostinfo.has_load = true; /* a lost worker's figures are not shown */
  w2->hostinfo.load[0] = 9;

  bson_t arr;
  BSON_APPEND_ARRAY_BEGIN(&in->metrics, "metrics", &arr);
  worker_doc(&arr, "0", "w1", started_at_ms, finished);
  bson_t *other = doc_from_json(other_docs);
  BSON_APPEND_DOCUMENT(&arr, "1", other);
  bson_destroy(other);
  bson_t *retention = doc_from_json("{\"_id\": \"retention:c1\", \"kind\": \"retention\","
                                    " \"channel\": \"c1\", \"removed\": 5}");
  BSON_APPEND_DOCUMENT(&arr, "2", retention);
  bson_destroy(retention);
  bson_t *junk = doc_from_json("{\"kind\": \"worker\", \"name\": \"not a name\"}");
  BSON_APPEND_DOCUMENT(&arr, "3", junk);
  bson_destroy(junk);
  bson_append_array_end(&in->metrics, &arr);
  mtq_metrics_t *self = mtq_metrics_new();
  const char *const c[] = {"command", "find", "outcome", "error", NULL};
  mtq_metrics_count(self, "db_commands", c, 1);
  mtq_metrics_to_bson(self, &in->self_db);
  mtq_metrics_destroy(self);
}

static char *render(int64_t started_at_ms, double finished, bool with_stats) {
  mtq_web_metrics_input_t in;
  fill_input(&in, started_at_ms, finished);
  bson_t *stats = doc_from_json("{\"c1\": {\"queued\": 2, \"done\": 3, \"failed\": 0},"
                                " \"c2\": {\"queued\": 1}}");
  bson_string_t *out = bson_string_new(NULL);
  mtq_web_metrics_render(&in, with_stats ? stats : NULL, 1700000002000, out);
  bson_destroy(stats);
  mtq_web_metrics_input_cleanup(&in);
  return bson_string_free(out, false);
}

static void assert_lacks(const char *text, const char *needle) {
  if (strstr(text, needle)) {
    fail_msg("the output holds \"%s\":\n%s", needle, text);
  }
}

/* Passes the text through `promtool check metrics` when it is installed. */
static void promtool_check(const char *text) {
  if (system("command -v promtool >/dev/null 2>&1") != 0) {
    print_message("promtool not installed: the format check is skipped\n");
    return;
  }
  char path[] = "/tmp/mtq_test_metrics_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fputs(text, f);
  fclose(f);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
  int rc = system(cmd);
  unlink(path);
  if (rc != 0) {
    fail_msg("promtool check metrics refused:\n%s", text);
  }
}

static void test_render(void **unused) {
  char *text = render(1700000000000, 3, true);
  /* Families once each, with HELP and TYPE. */
  assert_contains(text, "# TYPE mtq_tasks_finished_total counter\n");
  assert_contains(text, "# TYPE mtq_task_run_seconds histogram\n");
  assert_contains(text, "# HELP mtq_tasks_finished_total ");
  /* Labels: the series' own, then the process's. */
  assert_contains(text,
                  "mtq_tasks_finished_total{channel=\"c1\",func=\"sq\",version=\"1\","
                  "worker=\"w1\"} 3\n");
  assert_contains(text, "func=\"a\\\"b\\\\c\\nd\"");
  /* Cumulative buckets: 0.003, 0.2 and 7 seconds. */
  const char *h = "mtq_task_run_seconds_bucket{channel=\"c1\",func=\"sq\",version=\"1\","
                  "worker=\"w1\",le=";
  char want[256];
  static const struct {
    const char *le;
    int n;
  } buckets[] = {{"0.005", 1}, {"0.1", 1}, {"0.25", 2}, {"5", 2}, {"10", 3}, {"3600", 3},
                 {"+Inf", 3}};
  for (size_t i = 0; i < sizeof buckets / sizeof buckets[0]; i++) {
    snprintf(want, sizeof want, "%s\"%s\"} %d\n", h, buckets[i].le, buckets[i].n);
    assert_contains(text, want);
  }
  assert_contains(text, "mtq_task_run_seconds_count{channel=\"c1\",func=\"sq\",version=\"1\","
                        "worker=\"w1\"} 3\n");
  assert_contains(text, "mtq_task_run_seconds_sum{channel=\"c1\",func=\"sq\",version=\"1\","
                        "worker=\"w1\"} 7.203\n");
  /* Coordinator and database series. */
  assert_contains(text, "mtq_coordinator_workers_lost_total{coordinator=\"db1\"} 1\n");
  assert_contains(text, "mtq_coordinator_leases_expired_total{channel=\"c1\",outcome=\"queued\","
                        "coordinator=\"db1\"} 2\n");
  assert_contains(text, "mtq_coordinator_leading{coordinator=\"db1\"} 1\n");
  assert_contains(text, "mtq_db_commands_total{command=\"find\",outcome=\"ok\",worker=\"w1\"} 4\n");
  assert_contains(text,
                  "mtq_db_commands_total{command=\"find\",outcome=\"error\",web=\"webhost\"} 1\n");
  assert_contains(text, "mtq_db_command_duration_seconds_count{worker=\"w1\"} 1\n");
  assert_contains(text, "mtq_process_start_time_seconds{worker=\"w1\"} 1700000000\n");
  /* Tasks: counted, and enqueued = all states + removed by retention. */
  assert_contains(text, "mtq_tasks{channel=\"c1\",state=\"queued\"} 2\n");
  assert_contains(text, "mtq_tasks_removed_total{channel=\"c1\"} 5\n");
  assert_contains(text, "mtq_tasks_enqueued_total{channel=\"c1\"} 10\n");
  assert_contains(text, "mtq_tasks_enqueued_total{channel=\"c2\"} 1\n");
  assert_contains(text, "mtq_tasks_counted_timestamp_seconds 1700000002\n");
  /* Workers: one up, one lost; host figures of the running one only. */
  assert_contains(text, "mtq_workers{state=\"running\"} 1\n");
  assert_contains(text, "mtq_workers{state=\"lost\"} 1\n");
  assert_contains(text, "mtq_worker_up{worker=\"w1\",host=\"h1\"} 1\n");
  assert_contains(text, "mtq_worker_up{worker=\"w2\",host=\"h2\"} 0\n");
  assert_contains(text, "mtq_worker_load1{worker=\"w1\",host=\"h1\"} 1.5\n");
  assert_lacks(text, "mtq_worker_load1{worker=\"w2\"");
  assert_contains(text, "mtq_worker_memory_total_bytes{worker=\"w1\",host=\"h1\"} 1073741824\n");
  assert_contains(text, "mtq_worker_disk_free_bytes{worker=\"w1\",host=\"h1\","
                        "path=\"/var/lib/mtq\"} 1073741824\n");
  assert_contains(text, "mtq_worker_gpu_utilization_ratio{worker=\"w1\",host=\"h1\",gpu=\"0\"} 0.5\n");
  assert_lacks(text, "mtq_worker_gpu_temperature_celsius"); /* [N/A] */
  /* What is not well formed is left out. */
  assert_lacks(text, "bad");
  assert_lacks(text, "neg");
  assert_lacks(text, "channel=\"z\"");
  assert_lacks(text, "not a name");
  promtool_check(text);
  bson_free(text);
}

/* A worker that restarted: a new start time, counters from zero again;
 * the text says both as they are (Prometheus' rate() takes the drop as a
 * reset). */
static void test_reset(void **unused) {
  char *before = render(1700000000000, 40, true);
  char *after = render(1700000100000, 2, false);
  assert_contains(before, "mtq_process_start_time_seconds{worker=\"w1\"} 1700000000\n");
  assert_contains(before, "finished_total{channel=\"c1\",func=\"sq\",version=\"1\","
                          "worker=\"w1\"} 40\n");
  assert_contains(after, "mtq_process_start_time_seconds{worker=\"w1\"} 1700000100\n");
  assert_contains(after, "finished_total{channel=\"c1\",func=\"sq\",version=\"1\","
                         "worker=\"w1\"} 2\n");
  /* Without stats, no task counts; what retention removed is still known. */
  assert_lacks(after, "mtq_tasks{");
  assert_lacks(after, "mtq_tasks_enqueued_total");
  assert_contains(after, "mtq_tasks_removed_total{channel=\"c1\"} 5\n");
  promtool_check(after);
  bson_free(before);
  bson_free(after);
}

/* Nothing gathered: still valid text. */
static void test_empty(void **unused) {
  mtq_web_metrics_input_t in;
  mtq_web_metrics_input_init(&in);
  bson_string_t *out = bson_string_new(NULL);
  mtq_web_metrics_render(&in, NULL, 0, out);
  assert_contains(out->str, "mtq_workers{state=\"running\"} 0\n");
  promtool_check(out->str);
  bson_string_free(out, true);
  mtq_web_metrics_input_cleanup(&in);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_registry), cmocka_unit_test(test_registry_cap),
      cmocka_unit_test(test_render),   cmocka_unit_test(test_reset),
      cmocka_unit_test(test_empty),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
