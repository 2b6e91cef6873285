/* test_whoami.c - the worker document: its writer and its lenient reader
 * (common/model/whoami.c).  No database. */
#include <arpa/inet.h>
#include <math.h>
#include <string.h>

#include "mtq_whoami.h"
#include "test_util.h"

/* A worker document to fill, mtq_whoami_init()ed, with the given id.  On
 * the heap: the GPU table makes it large.  Caller frees with free_whoami(). */
static mtq_whoami_t *new_whoami(const char *id) {
  mtq_whoami_t *w = bson_malloc0(sizeof *w);
  mtq_whoami_init(w);
  bson_strncpy(w->id, id, sizeof w->id);
  return w;
}

static void free_whoami(mtq_whoami_t *w) {
  mtq_whoami_cleanup(w);
  bson_free(w);
}

/* --- writing: the host figures ------------------------------------------------ */

static void test_append_full(void **unused) {
  mtq_whoami_t *w = new_whoami("m1");
  mtq_hostinfo_t *info = &w->hostinfo;
  info->cores = 8;
  info->has_load = true;
  info->load[0] = 1.5;
  info->load[1] = 1.0;
  info->load[2] = 0.5;
  info->has_mem = true;
  info->mem_total_mb = 16000;
  info->mem_available_mb = 9000;
  info->has_disk = true;
  strcpy(info->disk_path, "/var/lib/mtq");
  info->disk_total_mb = 100000;
  info->disk_free_mb = 40000;
  info->has_cpu_temp = true;
  info->cpu_temp_c = 55.0;
  info->n_gpus = 1;
  info->gpus[0].index = 0;
  strcpy(info->gpus[0].name, "Tesla T4");
  info->gpus[0].util_pct = NAN;
  info->gpus[0].mem_used_mb = 100;
  info->gpus[0].mem_total_mb = 15360;
  info->gpus[0].temp_c = 50;

  bson_t doc = BSON_INITIALIZER;
  mtq_whoami_to_bson(w, &doc);
  /* Each figure with the BSON type the readers of the document expect. */
  static const struct {
    const char *path;
    bson_type_t type;
    double number;    /* the value of a number */
    const char *utf8; /* the value of a string */
  } want[] = {
      {"cores", BSON_TYPE_INT32, 8, NULL},
      {"load.2", BSON_TYPE_DOUBLE, 0.5, NULL},
      {"mem.available_mb", BSON_TYPE_INT64, 9000, NULL},
      {"disk.path", BSON_TYPE_UTF8, 0, "/var/lib/mtq"},
      {"disk.free_mb", BSON_TYPE_INT64, 40000, NULL},
      {"cpu_temp_c", BSON_TYPE_DOUBLE, 55.0, NULL},
      {"gpus.0.name", BSON_TYPE_UTF8, 0, "Tesla T4"},
      {"gpus.0.mem_total_mb", BSON_TYPE_DOUBLE, 15360, NULL},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    bson_iter_t it, found;
    if (!bson_iter_init(&it, &doc) || !bson_iter_find_descendant(&it, want[i].path, &found)) {
      fail_msg("no %s in the document", want[i].path);
    }
    assert_int_equal(bson_iter_type(&found), want[i].type);
    if (want[i].utf8) {
      assert_string_equal(bson_iter_utf8(&found, NULL), want[i].utf8);
    } else {
      assert_near(bson_iter_as_double(&found), want[i].number);
    }
  }
  /* A figure the GPU did not report is left out, not stored as NaN. */
  bson_iter_t it, found;
  assert_true(bson_iter_init(&it, &doc));
  assert_false(bson_iter_find_descendant(&it, "gpus.0.util_pct", &found));
  bson_destroy(&doc);
  free_whoami(w);
}

static void test_append_absent_figures(void **unused) {
  mtq_whoami_t *w = new_whoami("m1");
  w->hostinfo.cores = 2;
  bson_t doc = BSON_INITIALIZER;
  mtq_whoami_to_bson(w, &doc);
  assert_true(bson_has_field(&doc, "cores"));
  assert_false(bson_has_field(&doc, "load"));
  assert_false(bson_has_field(&doc, "mem"));
  assert_false(bson_has_field(&doc, "disk"));
  assert_false(bson_has_field(&doc, "cpu_temp_c"));
  /* gpus is always there, empty when there are none. */
  bson_iter_t it;
  assert_true(bson_iter_init_find(&it, &doc, "gpus"));
  assert_true(BSON_ITER_HOLDS_ARRAY(&it));
  uint32_t len;
  const uint8_t *data;
  bson_iter_array(&it, &len, &data);
  assert_int_equal(len, 5); /* an empty BSON array */
  bson_destroy(&doc);
  free_whoami(w);
}

/* --- writing and reading back ------------------------------------------------- */

/* w, from new_whoami("m2"), with every field the reader keeps. */
static void fill(mtq_whoami_t *w) {
  bson_strncpy(w->host, "host-2", sizeof w->host);
  w->pid = 4242;
  w->state = MTQ_WORKER_STATE_RUNNING;
  mtq_whoami_add_channel(w, "default");
  mtq_whoami_add_channel(w, "gpu");
  mtq_whoami_add_function(w, "square", "1");
  mtq_whoami_add_function(w, "render", "3");
  mtq_whoami_add_tag(w, "cuda12");
  w->concurrency = 4;
  w->running = 2;
  w->started_at_ms = 1700000000000;
  w->last_seen_ms = 1700000003000;
  w->heartbeat_interval_ms = 3000;
  w->hostinfo.cores = 8;
  w->hostinfo.has_load = true;
  w->hostinfo.load[0] = 4.69;
  w->hostinfo.load[1] = 2.5;
  w->hostinfo.load[2] = 1.0;
  w->hostinfo.has_mem = true;
  w->hostinfo.mem_total_mb = 16000;
  w->hostinfo.mem_available_mb = 9000;
  w->hostinfo.n_gpus = 1;
  strcpy(w->hostinfo.gpus[0].name, "Tesla T4");
  w->hostinfo.gpus[0].util_pct = 10;
  w->hostinfo.gpus[0].mem_used_mb = NAN;
  w->hostinfo.gpus[0].mem_total_mb = 15360;
  w->hostinfo.gpus[0].temp_c = 50;
}

static void test_round_trip(void **unused) {
  mtq_whoami_t *w = new_whoami("m2"), *r = new_whoami("");
  fill(w);
  bson_t doc = BSON_INITIALIZER;
  mtq_whoami_to_bson(w, &doc);
  assert_true(mtq_whoami_from_bson(r, &doc));
  assert_string_equal(r->id, "m2");
  assert_string_equal(r->host, "host-2");
  assert_int_equal(r->pid, 4242);
  assert_int_equal(r->state, MTQ_WORKER_STATE_RUNNING);
  assert_int_equal(r->n_channels, 2);
  assert_string_equal(r->channels[1], "gpu");
  assert_true(mtq_whoami_has_channel(r, "default"));
  assert_false(mtq_whoami_has_channel(r, "batch"));
  assert_true(mtq_whoami_serves(r, "render", "3"));
  assert_true(mtq_whoami_serves(r, "render", NULL));
  assert_false(mtq_whoami_serves(r, "render", "1"));
  assert_false(mtq_whoami_serves(r, "sleep", NULL));
  assert_true(mtq_whoami_has_tag(r, "cuda12"));
  assert_int_equal(r->concurrency, 4);
  assert_int_equal(r->running, 2);
  assert_int_equal(r->started_at_ms, 1700000000000);
  assert_int_equal(r->last_seen_ms, 1700000003000);
  assert_int_equal(r->heartbeat_interval_ms, 3000);
  assert_int_equal(r->hostinfo.cores, 8);
  assert_true(r->hostinfo.has_load);
  assert_near(r->hostinfo.load[0], 4.69);
  assert_true(r->hostinfo.has_mem);
  assert_int_equal(r->hostinfo.mem_available_mb, 9000);
  assert_false(r->hostinfo.has_disk);
  assert_false(r->hostinfo.has_cpu_temp);
  assert_int_equal(r->hostinfo.n_gpus, 1);
  assert_string_equal(r->hostinfo.gpus[0].name, "Tesla T4");
  assert_true(isnan(r->hostinfo.gpus[0].mem_used_mb));
  assert_near(r->hostinfo.gpus[0].mem_total_mb, 15360);
  /* Written again, the document is the same. */
  bson_t again = BSON_INITIALIZER;
  mtq_whoami_to_bson(r, &again);
  assert_true(bson_equal(&doc, &again));
  bson_destroy(&again);
  bson_destroy(&doc);
  free_whoami(w);
  free_whoami(r);
}

static bool read_json(mtq_whoami_t *w, const char *json) {
  bson_t *doc = doc_from_json(json);
  bool ok = mtq_whoami_from_bson(w, doc);
  bson_destroy(doc);
  return ok;
}

/* Written by hand in mongosh or by another version: what has the expected
 * type is read, the rest is absent, nothing fails but a missing id. */
static void test_lenient(void **unused) {
  mtq_whoami_t *w = new_whoami("");
  assert_true(read_json(w, "{\"_id\": \"w1\", \"state\": \"resting\", \"pid\": \"12\","
                           " \"concurrency\": 3.0, \"last_seen\": 1700000000000,"
                           " \"channels\": [\"ok\", 7, \"not valid!\", \"b\"],"
                           " \"functions\": [{\"name\": \"f\"}, {\"name\": \"g\", \"version\": \"2\"}, 5],"
                           " \"load\": [1, 2], \"mem\": 12, \"cpu_temp_c\": \"hot\","
                           " \"gpus\": [{\"index\": 1.0, \"util_pct\": \"x\"}, 3]}"));
  assert_string_equal(w->id, "w1");
  assert_int_equal(w->state, MTQ_WORKER_STATE_UNKNOWN);
  assert_string_equal(mtq_worker_state_name(w->state), "unknown");
  assert_int_equal(w->pid, 0);
  assert_int_equal(w->concurrency, 3);
  assert_int_equal(w->last_seen_ms, 1700000000000);
  assert_int_equal(w->n_channels, 2);
  assert_string_equal(w->channels[0], "ok");
  assert_string_equal(w->channels[1], "b");
  assert_int_equal(w->n_functions, 1);
  assert_string_equal(w->functions[0].name, "g");
  assert_false(w->hostinfo.has_load);
  assert_false(w->hostinfo.has_mem);
  assert_false(w->hostinfo.has_cpu_temp);
  assert_int_equal(w->hostinfo.n_gpus, 1);
  assert_int_equal(w->hostinfo.gpus[0].index, 1);
  assert_true(isnan(w->hostinfo.gpus[0].util_pct));
  assert_false(read_json(w, "{\"host\": \"h\"}"));
  assert_false(read_json(w, "{\"_id\": 5}"));
  assert_false(read_json(w, "{\"_id\": \"\"}"));
  assert_false(read_json(w, "{\"_id\": \"has space\"}"));
  free_whoami(w);
}

/* The wake-up addresses: written as given, read back; what does not parse
 * as IPv4:port is skipped, and so is anything past the limit. */
static void test_wake(void **unused) {
  mtq_whoami_t *w = new_whoami("w1");
  uint32_t ip;
  uint16_t port;
  assert_true(mtq_whoami_wake_parse("10.0.0.2:4100", &ip, &port));
  assert_int_equal(port, 4100);
  assert_int_equal(ip, htonl(0x0A000002));
  const char *bad[] = {"10.0.0.2", "10.0.0.2:", "10.0.0.2:0", "10.0.0.2:65536", ":80",
                       "10.0.0:80", "10.0.0.2: 80", "10.0.0.2:+80", "10.0.0.2:80x",
                       "[::1]:80", "host:80", "1.2.3.4:123456"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_false(mtq_whoami_wake_parse(bad[i], &ip, &port));
    assert_false(mtq_whoami_add_wake(w, bad[i]));
  }
  assert_true(mtq_whoami_add_wake(w, "10.0.0.2:4100"));
  assert_true(mtq_whoami_add_wake(w, "127.0.0.1:4100"));
  bson_t doc = BSON_INITIALIZER;
  mtq_whoami_to_bson(w, &doc);
  mtq_whoami_t *r = new_whoami("");
  assert_true(mtq_whoami_from_bson(r, &doc));
  assert_int_equal(r->n_wake, 2);
  assert_string_equal(r->wake[0], "10.0.0.2:4100");
  assert_string_equal(r->wake[1], "127.0.0.1:4100");
  bson_destroy(&doc);
  assert_true(read_json(r, "{\"_id\": \"w1\", \"wake\": [\"1.2.3.4:5\", 7, \"nope\","
                           " \"::1:80\", \"5.6.7.8:9\"]}"));
  assert_int_equal(r->n_wake, 2);
  assert_string_equal(r->wake[1], "5.6.7.8:9");
  for (int i = 0; i < MTQ_WHOAMI_WAKE_MAX + 2; i++) {
    mtq_whoami_add_wake(r, "1.1.1.1:1");
  }
  assert_int_equal(r->n_wake, MTQ_WHOAMI_WAKE_MAX);
  free_whoami(r);
  free_whoami(w);
}

static void test_states(void **unused) {
  assert_string_equal(mtq_worker_state_name(MTQ_WORKER_STATE_RUNNING), "running");
  assert_string_equal(mtq_worker_state_name(MTQ_WORKER_STATE_STOPPED), "stopped");
  assert_string_equal(mtq_worker_state_name(MTQ_WORKER_STATE_LOST), "lost");
  mtq_whoami_t *w = new_whoami("");
  assert_true(read_json(w, "{\"_id\": \"w1\", \"state\": \"lost\"}"));
  assert_int_equal(w->state, MTQ_WORKER_STATE_LOST);
  free_whoami(w);
}

static void test_list(void **unused) {
  mtq_whoami_list_t list;
  mtq_whoami_list_init(&list);
  bson_strncpy(mtq_whoami_list_push(&list)->id, "a", MTQ_NAME_MAX + 1);
  bson_strncpy(mtq_whoami_list_push(&list)->id, "b", MTQ_NAME_MAX + 1);
  mtq_whoami_add_channel(&list.items[1], "default");
  assert_non_null(mtq_whoami_list_find(&list, "b"));
  assert_true(mtq_whoami_has_channel(mtq_whoami_list_find(&list, "b"), "default"));
  assert_null(mtq_whoami_list_find(&list, "c"));
  mtq_whoami_list_cleanup(&list);
  assert_int_equal(list.n, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_append_full),
      cmocka_unit_test(test_append_absent_figures),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_lenient),
      cmocka_unit_test(test_wake),
      cmocka_unit_test(test_states),
      cmocka_unit_test(test_list),
  };
  return cmocka_run_group_tests_name("whoami", tests, NULL, NULL);
}
