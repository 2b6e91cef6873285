/* test_hostinfo.c - the worker's parsers of /proc files and nvidia-smi output
 * (worker/hostinfo.c).  Texts are given inline: nothing here reads the host. */
#include <math.h>
#include <string.h>

#include "hostinfo.h"
#include "test_util.h"

/* --- /proc/loadavg -------------------------------------------------------- */

static void test_loadavg(void **unused) {
  double load[3] = {-1, -1, -1};
  assert_true(mtq_hostinfo_parse_loadavg("0.52 0.58 1.59 1/467 12345\n", load));
  assert_near(load[0], 0.52);
  assert_near(load[1], 0.58);
  assert_near(load[2], 1.59);
  assert_true(mtq_hostinfo_parse_loadavg("12.00 8.50 0.00", load));
  assert_near(load[0], 12.0);
  assert_near(load[2], 0.0);
}

static void test_loadavg_refused(void **unused) {
  double load[3];
  assert_false(mtq_hostinfo_parse_loadavg("", load));
  assert_false(mtq_hostinfo_parse_loadavg("0.52 0.58", load));
  assert_false(mtq_hostinfo_parse_loadavg("0.52 x 0.59", load));
  assert_false(mtq_hostinfo_parse_loadavg("-1 0.5 0.5", load));
  assert_false(mtq_hostinfo_parse_loadavg("nan 0.5 0.5", load));
  assert_false(mtq_hostinfo_parse_loadavg("0.5 inf 0.5", load));
}

/* --- /proc/meminfo -------------------------------------------------------- */

static void expect_meminfo(const char *text, int64_t want_total, int64_t want_avail) {
  int64_t total = 0, avail = 0;
  assert_true(mtq_hostinfo_parse_meminfo(text, &total, &avail));
  assert_int_equal(total, want_total);
  assert_int_equal(avail, want_avail);
}

static void test_meminfo(void **unused) {
  static const char text[] = "MemTotal:       16314040 kB\n"
                             "MemFree:          842116 kB\n"
                             "MemAvailable:    9876543 kB\n"
                             "Buffers:          512000 kB\n"
                             "Cached:          7000000 kB\n"
                             "SwapCached:         1234 kB\n";
  expect_meminfo(text, 16314040, 9876543);
}

/* Before Linux 3.14 there is no MemAvailable: MemFree + Buffers + Cached
 * stands in, and SwapCached must not be taken for Cached. */
static void test_meminfo_old_kernel(void **unused) {
  static const char text[] = "MemTotal:        2000000 kB\n"
                             "MemFree:           100000 kB\n"
                             "SwapCached:        999999 kB\n"
                             "Buffers:            20000 kB\n"
                             "Cached:            300000 kB\n";
  expect_meminfo(text, 2000000, 100000 + 20000 + 300000);
  expect_meminfo("MemTotal: 1000 kB\nMemFree: 250 kB\n", 1000, 250);
}

static void test_meminfo_refused(void **unused) {
  int64_t total = -7, avail = -7;
  assert_false(mtq_hostinfo_parse_meminfo("", &total, &avail));
  assert_false(mtq_hostinfo_parse_meminfo("MemFree: 100 kB\nMemAvailable: 90 kB\n", &total,
                                          &avail));
  assert_false(mtq_hostinfo_parse_meminfo("MemTotal: 1000 kB\nBuffers: 5 kB\n", &total, &avail));
  /* A key is matched whole, at the start of a line. */
  assert_false(mtq_hostinfo_parse_meminfo("MemTotalX: 1000 kB\nMemAvailable: 90 kB\n", &total,
                                          &avail));
  assert_false(mtq_hostinfo_parse_meminfo("MemTotal: lots\nMemAvailable: 90 kB\n", &total,
                                          &avail));
  assert_int_equal(total, -7); /* untouched on failure */
  assert_int_equal(avail, -7);
}

/* --- thermal zones -------------------------------------------------------- */

static void test_millicelsius(void **unused) {
  double c = 0;
  assert_true(mtq_hostinfo_parse_millicelsius("45000\n", &c));
  assert_near(c, 45.0);
  assert_true(mtq_hostinfo_parse_millicelsius("45500", &c));
  assert_near(c, 45.5);
  assert_true(mtq_hostinfo_parse_millicelsius("-10000\n", &c));
  assert_near(c, -10.0);
  assert_true(mtq_hostinfo_parse_millicelsius("105000\n", &c));
  assert_near(c, 105.0);
}

static void test_millicelsius_refused(void **unused) {
  double c = 123.0;
  assert_false(mtq_hostinfo_parse_millicelsius("-273000\n", &c));
  assert_false(mtq_hostinfo_parse_millicelsius("250000\n", &c));
  assert_false(mtq_hostinfo_parse_millicelsius("", &c));
  assert_false(mtq_hostinfo_parse_millicelsius("hot\n", &c));
  assert_false(mtq_hostinfo_parse_millicelsius("45000 C\n", &c));
  assert_false(mtq_hostinfo_parse_millicelsius("45.5\n", &c));
  assert_false(mtq_hostinfo_parse_millicelsius("99999999999999999999999\n", &c));
  assert_near(c, 123.0);
}

/* --- nvidia-smi ----------------------------------------------------------- */

/* A figure nvidia-smi did not report is NaN: want NAN for those. */
static void assert_figure(double got, double want) {
  if (isnan(want)) {
    assert_true(isnan(got));
  } else {
    assert_near(got, want);
  }
}

static void expect_gpu(const mtq_hostinfo_gpu_t *gpu, int index, const char *name, double util_pct,
                       double mem_used_mb, double mem_total_mb, double temp_c) {
  assert_int_equal(gpu->index, index);
  assert_string_equal(gpu->name, name);
  assert_figure(gpu->util_pct, util_pct);
  assert_figure(gpu->mem_used_mb, mem_used_mb);
  assert_figure(gpu->mem_total_mb, mem_total_mb);
  assert_figure(gpu->temp_c, temp_c);
}

static void test_nvidia_csv(void **unused) {
  static const char text[] = "0, NVIDIA GeForce RTX 3090, 45, 1024, 24576, 60\n"
                             "1, Tesla T4, [N/A], 0, 15360, [Not Supported]\r\n";
  mtq_hostinfo_gpu_t gpus[4];
  assert_int_equal(mtq_hostinfo_parse_nvidia_csv(text, gpus, 4), 2);
  expect_gpu(&gpus[0], 0, "NVIDIA GeForce RTX 3090", 45, 1024, 24576, 60);
  expect_gpu(&gpus[1], 1, "Tesla T4", NAN, 0, 15360, NAN);
}

static void test_nvidia_csv_skips_malformed(void **unused) {
  static const char text[] = "No devices were found\n"
                             "x, NoIndex, 1, 2, 3, 4\n"
                             "-1, Negative, 1, 2, 3, 4\n"
                             "2, Five fields, 1, 2, 3\n"
                             "3, Eight, 1, 2, 3, 4, 5, 6\n"
                             "\n"
                             "4, Good, 10, 20, 30, 40\n";
  mtq_hostinfo_gpu_t gpus[8];
  assert_int_equal(mtq_hostinfo_parse_nvidia_csv(text, gpus, 8), 1);
  expect_gpu(&gpus[0], 4, "Good", 10, 20, 30, 40);
  assert_int_equal(mtq_hostinfo_parse_nvidia_csv("", gpus, 8), 0);
}

static void test_nvidia_csv_max(void **unused) {
  static const char text[] = "0, A, 1, 2, 3, 4\n1, B, 1, 2, 3, 4\n2, C, 1, 2, 3, 4\n";
  mtq_hostinfo_gpu_t gpus[3];
  memset(gpus, 0x5a, sizeof gpus);
  assert_int_equal(mtq_hostinfo_parse_nvidia_csv(text, gpus, 2), 2);
  assert_string_equal(gpus[1].name, "B");
  /* Nothing written past max. */
  assert_int_equal(gpus[2].index, 0x5a5a5a5a);
  assert_int_equal(mtq_hostinfo_parse_nvidia_csv(text, gpus, 0), 0);
}

static void test_nvidia_csv_long_name(void **unused) {
  char text[400];
  char name[200];
  memset(name, 'N', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  snprintf(text, sizeof text, "0, %s, 1, 2, 3, 4\n", name);
  mtq_hostinfo_gpu_t gpus[1];
  assert_int_equal(mtq_hostinfo_parse_nvidia_csv(text, gpus, 1), 1);
  assert_int_equal(strlen(gpus[0].name), MTQ_HOSTINFO_GPU_NAME_MAX - 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_loadavg),
      cmocka_unit_test(test_loadavg_refused),
      cmocka_unit_test(test_meminfo),
      cmocka_unit_test(test_meminfo_old_kernel),
      cmocka_unit_test(test_meminfo_refused),
      cmocka_unit_test(test_millicelsius),
      cmocka_unit_test(test_millicelsius_refused),
      cmocka_unit_test(test_nvidia_csv),
      cmocka_unit_test(test_nvidia_csv_skips_malformed),
      cmocka_unit_test(test_nvidia_csv_max),
      cmocka_unit_test(test_nvidia_csv_long_name),
  };
  return cmocka_run_group_tests_name("hostinfo", tests, NULL, NULL);
}
