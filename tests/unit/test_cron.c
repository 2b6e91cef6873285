/* test_cron.c - cron expressions, time zones and the ticks of schedules
 * (common/model/cron.c, tz.c, schedule.c): parsing and its errors, the
 * next firing in UTC and across the DST changes of real zones, the zone
 * offsets against glibc's localtime_r over three centuries, durations,
 * which tick is due after downtime, and the schedule document
 * (schedule_doc.c) with the template of its task. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "mtq_cron.h"
#include "mtq_error.h"
#include "mtq_schedule.h"
#include "mtq_tz.h"

/* Unix seconds of a UTC date and time. */
static int64_t utc(int y, int mo, int d, int h, int mi) {
  return mtq_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static mtq_tz_t *zone(const char *name) {
  bson_error_t e;
  mtq_tz_t *tz = mtq_tz_load(name, NULL, &e);
  if (!tz) {
    fail_msg("%s: %s", name, e.message);
  }
  return tz;
}

static int64_t next_of(const char *expr, const mtq_tz_t *tz, int64_t after) {
  mtq_cron_t c;
  bson_error_t e;
  if (!mtq_cron_parse(&c, expr, &e)) {
    fail_msg("%s: %s", expr, e.message);
  }
  int64_t t = 0;
  assert_true(mtq_cron_next(&c, tz, after, &t));
  return t;
}

static void refused(const char *expr, const char *words) {
  mtq_cron_t c;
  bson_error_t e;
  memset(&e, 0, sizeof e);
  if (mtq_cron_parse(&c, expr, &e)) {
    fail_msg("'%s' was accepted", expr);
  }
  assert_int_equal(e.domain, MTQ_ERROR_DOMAIN);
  assert_int_equal(e.code, MTQ_ERR_INVALID);
  if (!strstr(e.message, words)) {
    fail_msg("'%s': message '%s' does not say '%s'", expr, e.message, words);
  }
}

static void test_parse_errors(void **state) {
  (void)state;
  refused("", "has 0 fields");
  refused("* * * *", "has 4 fields");
  refused("* * * * * *", "more than 5 fields");
  refused("60 * * * *", "field 1 (minute) '60': 60 is out of range 0-59");
  refused("* 24 * * *", "field 2 (hour)");
  refused("* * 0 * *", "0 is out of range 1-31");
  refused("* * * 13 *", "field 4 (month)");
  refused("* * * * 8", "field 5 (day of week)");
  refused("5-1 * * * *", "must go upwards");
  refused("*/0 * * * *", "a step is a number from 1 to 59");
  refused("*/ * * * *", "a step");
  refused("1- * * * *", "a range needs an end");
  refused("1,,2 * * * *", "expected a number");
  refused("a * * * *", "expected a number");
  refused("* * * foo *", "expected a number");
  refused("1x * * * *", "unexpected character");
  refused("123 * * * *", "expected a number");
  refused("@often", "unknown cron macro");
  refused("@daily extra", "unknown cron macro");
  refused("0 0 30 2 *", "never fires");
  refused("0 0 31 4,6,9,11 *", "never fires");
  refused(NULL, "no cron expression");
  char big[400];
  memset(big, '1', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  refused(big, "longer than");
}

static void test_parse_forms(void **state) {
  (void)state;
  mtq_cron_t c;
  bson_error_t e;
  assert_true(mtq_cron_parse(&c, "*/15 9-17 * jan-MAR,dec mon-fri", &e));
  assert_true(c.minute == (1ull << 0 | 1ull << 15 | 1ull << 30 | 1ull << 45));
  assert_int_equal(c.hour, 0x3fe00); /* 9..17 */
  assert_int_equal(c.month, 1 << 1 | 1 << 2 | 1 << 3 | 1 << 12);
  assert_int_equal(c.dow, 0x3e);
  assert_true(c.dom_star);
  assert_false(c.dow_star);
  assert_true(mtq_cron_parse(&c, "  5/20  0  1  *  7 ", &e)); /* 5,25,45; Sunday as 7 */
  assert_true(c.minute == (1ull << 5 | 1ull << 25 | 1ull << 45));
  assert_int_equal(c.dow, 1);
  assert_true(mtq_cron_parse(&c, "0 0 * * 0-7", &e));
  assert_int_equal(c.dow, 0x7f);
  assert_true(mtq_cron_parse(&c, "@weekly", &e));
  assert_int_equal(c.dow, 1);
  assert_true(mtq_cron_parse(&c, "1-10/3 * * * *", &e));
  assert_true(c.minute == (1ull << 1 | 1ull << 4 | 1ull << 7 | 1ull << 10));
}

static void test_next_utc(void **state) {
  (void)state;
  mtq_tz_t *u = zone("UTC");
  assert_int_equal(next_of("*/15 * * * *", u, utc(2026, 12, 3, 10, 7)), utc(2026, 12, 3, 10, 15));
  /* Strictly after: an instant on a firing minute gives the next one. */
  assert_int_equal(next_of("*/15 * * * *", u, utc(2026, 12, 3, 10, 15)), utc(2026, 12, 3, 10, 30));
  assert_int_equal(next_of("* * * * *", u, utc(2026, 12, 3, 10, 15) + 59), utc(2026, 12, 3, 10, 16));
  assert_int_equal(next_of("0 0 1 1 *", u, utc(2026, 12, 3, 0, 0)), utc(2027, 1, 1, 0, 0));
  assert_int_equal(next_of("@hourly", u, utc(2026, 12, 31, 23, 0)), utc(2027, 1, 1, 0, 0));
  assert_int_equal(next_of("0 12 29 2 *", u, utc(2026, 3, 1, 0, 0)), utc(2028, 2, 29, 12, 0));
  assert_int_equal(next_of("0 12 29 2 *", u, utc(2097, 3, 1, 0, 0)), utc(2104, 2, 29, 12, 0));
  /* Both day fields restricted: the 13th or a Friday (2026-11-13 is one). */
  assert_int_equal(next_of("0 0 13 * 5", u, utc(2026, 12, 3, 0, 0)), utc(2026, 12, 4, 0, 0));
  assert_int_equal(next_of("0 0 13 * 5", u, utc(2026, 12, 11, 0, 0)), utc(2026, 12, 13, 0, 0));
  /* One of them '*': both must hold (Mondays only, whatever the date). */
  assert_int_equal(next_of("0 0 * * 1", u, utc(2026, 12, 3, 0, 0)), utc(2026, 12, 7, 0, 0));
  assert_int_equal(next_of("30 23 31 * *", u, utc(2026, 12, 3, 0, 0)), utc(2026, 12, 31, 23, 30));
  assert_int_equal(next_of("30 23 31 * *", u, utc(2027, 1, 31, 23, 30)), utc(2027, 3, 31, 23, 30));
  mtq_tz_destroy(u);
}

static void test_next_dst(void **state) {
  (void)state;
  mtq_tz_t *b = zone("Europe/Berlin");
  /* 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).  02:30 never
   * shows: it fires once, when the clocks jump. */
  assert_int_equal(next_of("30 2 * * *", b, utc(2026, 3, 28, 12, 0)), utc(2026, 3, 29, 1, 0));
  assert_int_equal(next_of("30 2 * * *", b, utc(2026, 3, 29, 1, 0)), utc(2026, 3, 30, 0, 30));
  assert_int_equal(next_of("0 9 * * *", b, utc(2026, 3, 28, 12, 0)), utc(2026, 3, 29, 7, 0));
  /* Every 20 minutes across the jump: 01:40 CET, then 03:00 CEST (the
   * skipped 02:00-02:40 fire together at the jump), 03:20. */
  assert_int_equal(next_of("*/20 * * * *", b, utc(2026, 3, 29, 0, 40)), utc(2026, 3, 29, 1, 0));
  assert_int_equal(next_of("*/20 * * * *", b, utc(2026, 3, 29, 1, 0)), utc(2026, 3, 29, 1, 20));
  /* 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC).  02:30 shows
   * twice and fires at the first: 00:30 UTC; the next day at 01:30 UTC. */
  assert_int_equal(next_of("30 2 * * *", b, utc(2026, 10, 24, 12, 0)), utc(2026, 10, 25, 0, 30));
  assert_int_equal(next_of("30 2 * * *", b, utc(2026, 10, 25, 0, 30)), utc(2026, 10, 26, 1, 30));
  /* The repeated hour fires nothing a second time. */
  assert_int_equal(next_of("*/30 * * * *", b, utc(2026, 10, 25, 0, 30)), utc(2026, 10, 25, 2, 0));
  assert_int_equal(next_of("0 * * * *", b, utc(2026, 10, 25, 0, 0)), utc(2026, 10, 25, 2, 0));
  /* Far beyond the file's transitions: the footer rule (CET-1CEST,...). */
  assert_int_equal(next_of("0 12 1 7 *", b, utc(2150, 1, 1, 0, 0)), utc(2150, 7, 1, 10, 0));
  mtq_tz_destroy(b);

  mtq_tz_t *s = zone("Australia/Sydney"); /* DST from October to April */
  assert_int_equal(next_of("0 12 1 1 *", s, utc(2026, 6, 1, 0, 0)), utc(2027, 1, 1, 1, 0));
  assert_int_equal(next_of("0 12 1 7 *", s, utc(2026, 6, 1, 0, 0)), utc(2026, 7, 1, 2, 0));
  mtq_tz_destroy(s);
}

/* Our offsets against glibc's, which reads the same files. */
static void against_libc(const char *name, const char *tzenv) {
  bson_error_t e;
  bool rule = strchr(name, ',') || !strchr(name, '/');
  mtq_tz_t *tz = rule ? mtq_tz_from_rule(name, &e) : mtq_tz_load(name, NULL, &e);
  if (!tz) {
    fail_msg("%s: %s", name, e.message);
  }
  setenv("TZ", tzenv, 1);
  tzset();
  srandom(42);
  for (int k = 0; k < 20000; k++) {
    /* 1900..2200, with a share of instants right at the changes.  A rule
     * alone from 1971 on: glibc applies 1970's changes to every earlier
     * year (tzset.c, compute_change), POSIX and we each year's own. */
    int64_t from = rule ? 31536000 : -2208988800LL;
    int64_t t = from + (int64_t)((double)random() / 2147483648.0 * (7258118400.0 - (double)from));
    if (k % 4 == 0) {
      t -= t % 3600;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    if (mtq_tz_offset(tz, t) != tm.tm_gmtoff) {
      fail_msg("%s at %lld: %d, glibc %ld", name, (long long)t, mtq_tz_offset(tz, t),
               tm.tm_gmtoff);
    }
    /* The first instant of a wall time shows that wall time, unless the
     * time was skipped (then the instant after it shows a later one). */
    int64_t wall = t + tm.tm_gmtoff;
    int64_t first = mtq_tz_first_instant(tz, wall);
    assert_true(first <= t);
    assert_true(first + mtq_tz_offset(tz, first) == wall);
  }
  mtq_tz_destroy(tz);
}

static void test_offsets_match_libc(void **state) {
  (void)state;
  against_libc("Europe/Berlin", "Europe/Berlin");
  against_libc("America/New_York", "America/New_York");
  against_libc("Australia/Sydney", "Australia/Sydney");
  against_libc("Asia/Kolkata", "Asia/Kolkata");
  against_libc("Australia/Lord_Howe", "Australia/Lord_Howe"); /* a 30-minute DST */
  against_libc("America/Sao_Paulo", "America/Sao_Paulo");
  against_libc("EST5EDT,M3.2.0,M11.1.0", "EST5EDT,M3.2.0,M11.1.0");
  against_libc("AEST-10AEDT,M10.1.0,M4.1.0/3", "AEST-10AEDT,M10.1.0,M4.1.0/3");
  against_libc("<+0330>-3:30", "<+0330>-3:30");
  against_libc("IST-2IDT,M3.4.4/26,M10.5.0", "IST-2IDT,M3.4.4/26,M10.5.0");
}

static void test_zone_names(void **state) {
  (void)state;
  bson_error_t e;
  assert_null(mtq_tz_load("../../etc/passwd", NULL, &e));
  assert_int_equal(e.code, MTQ_ERR_INVALID);
  assert_null(mtq_tz_load("/etc/localtime", NULL, &e));
  assert_int_equal(e.code, MTQ_ERR_INVALID);
  assert_null(mtq_tz_load("Europe/Berlin;rm", NULL, &e));
  assert_int_equal(e.code, MTQ_ERR_INVALID);
  assert_null(mtq_tz_load("Nowhere/Atlantis", NULL, &e));
  assert_int_equal(e.code, MTQ_ERR_NOT_FOUND);
  assert_non_null(strstr(e.message, "unknown time zone Nowhere/Atlantis"));
  assert_null(mtq_tz_load("Europe", NULL, &e)); /* a directory */
  assert_null(mtq_tz_from_rule("CET", &e));
  assert_null(mtq_tz_from_rule("CET-1CEST,M3.5", &e));
  assert_null(mtq_tz_from_rule("CET-1CEST,M13.5.0,M10.5.0", &e));
  mtq_tz_t *u = mtq_tz_load(NULL, NULL, &e);
  assert_string_equal(mtq_tz_name(u), "UTC");
  assert_int_equal(mtq_tz_offset(u, 0), 0);
  mtq_tz_destroy(u);
}

/* Every prefix of a real file and every single-byte change of its header
 * and counts either parses or is refused as corrupt: never a crash (the
 * suite runs under the sanitizers in the fuzz build too). */
static void test_corrupt_tzif(void **state) {
  (void)state;
  FILE *f = fopen("/usr/share/zoneinfo/Europe/Berlin", "rb");
  assert_non_null(f);
  uint8_t data[8192];
  size_t len = fread(data, 1, sizeof data, f);
  fclose(f);
  bson_error_t e;
  mtq_tz_t *whole = mtq_tz_parse("Europe/Berlin", data, len, &e);
  assert_non_null(whole);
  mtq_tz_destroy(whole);
  for (size_t n = 0; n < len; n++) {
    mtq_tz_t *tz = mtq_tz_parse("x", data, n, &e);
    if (tz) {
      mtq_tz_offset(tz, 0);
      mtq_tz_destroy(tz);
    } else {
      assert_int_equal(e.code, MTQ_ERR_INVALID);
    }
  }
  for (size_t at = 0; at < 64; at++) {
    uint8_t copy[8192];
    memcpy(copy, data, len);
    copy[at] ^= 0xff;
    mtq_tz_t *tz = mtq_tz_parse("x", copy, len, &e);
    if (tz) {
      mtq_tz_offset(tz, 1700000000);
      mtq_tz_destroy(tz);
    }
  }
}


static void test_durations(void **state) {
  (void)state;
  int64_t ms = 0;
  bson_error_t e;
  assert_true(mtq_duration_parse("90s", &ms, &e));
  assert_int_equal(ms, 90000);
  assert_true(mtq_duration_parse("1h30m", &ms, &e));
  assert_int_equal(ms, 5400000);
  assert_true(mtq_duration_parse("500ms", &ms, &e));
  assert_int_equal(ms, 500);
  assert_true(mtq_duration_parse("2d", &ms, &e));
  assert_int_equal(ms, 172800000);
  assert_true(mtq_duration_parse("1m1s1ms", &ms, &e));
  assert_int_equal(ms, 61001);
  static const char *const bad[] = {"", "90", "s", "1.5s", "5m30", "-1s", "1 s", "1w",
                                    "367d", "99999999999d", "1s ", NULL};
  for (int i = 0; bad[i]; i++) {
    memset(&e, 0, sizeof e);
    if (mtq_duration_parse(bad[i], &ms, &e)) {
      fail_msg("'%s' was accepted", bad[i]);
    }
    assert_int_equal(e.code, MTQ_ERR_INVALID);
  }
  assert_false(mtq_duration_parse(NULL, &ms, &e));
  assert_non_null(strstr(e.message, "not a duration"));
}

static void test_ticks(void **state) {
  (void)state;
  int64_t t = 0, anchor = utc(2026, 12, 3, 10, 0) * 1000 + 250;
  mtq_ticks_t every = {.every_ms = 2000, .anchor_ms = anchor};
  assert_true(mtq_ticks_next(&every, anchor - 5000, &t));
  assert_int_equal(t, anchor);
  assert_true(mtq_ticks_next(&every, anchor, &t));
  assert_int_equal(t, anchor + 2000);
  assert_true(mtq_ticks_next(&every, anchor + 3999, &t));
  assert_int_equal(t, anchor + 4000);
  /* Due: the latest tick since the last one fired; the missed ones of a
   * downtime are one tick, the latest. */
  assert_false(mtq_ticks_due(&every, anchor, anchor + 1999, &t));
  assert_true(mtq_ticks_due(&every, anchor, anchor + 2000, &t));
  assert_int_equal(t, anchor + 2000);
  assert_true(mtq_ticks_due(&every, anchor + 2000, anchor + 60500, &t));
  assert_int_equal(t, anchor + 60000);
  assert_false(mtq_ticks_due(&every, anchor + 60000, anchor + 60500, &t));
  assert_false(mtq_ticks_due(&every, anchor, anchor - 10, &t));

  mtq_cron_t c;
  bson_error_t e;
  assert_true(mtq_cron_parse(&c, "* * * * *", &e));
  mtq_ticks_t minutely = {.cron = &c};
  int64_t now = utc(2026, 12, 3, 10, 0) * 1000 + 30500;
  assert_true(mtq_ticks_due(&minutely, now - 40 * 86400000LL, now, &t)); /* 40 days down */
  assert_int_equal(t, utc(2026, 12, 3, 10, 0) * 1000);
  assert_false(mtq_ticks_due(&minutely, t, now, &t));
  assert_true(mtq_cron_parse(&c, "0 3 1 1 *", &e)); /* yearly */
  assert_true(mtq_ticks_due(&minutely, utc(2024, 6, 1, 0, 0) * 1000, now, &t));
  assert_int_equal(t, utc(2026, 1, 1, 3, 0) * 1000);
  assert_false(mtq_ticks_due(&minutely, utc(2026, 1, 1, 3, 0) * 1000, now, &t));
  mtq_tz_t *b = zone("Europe/Berlin");
  mtq_ticks_t berlin = {.cron = &c, .tz = b};
  assert_true(mtq_ticks_next(&berlin, now, &t));
  assert_int_equal(t, utc(2027, 1, 1, 2, 0) * 1000);
  mtq_tz_destroy(b);
}

/* A schedule's document: written and read back the same; every malformed
 * field refused by name; the due tick honours since (a resume). */
static void test_schedule_doc(void **state) {
  (void)state;
  mtq_enqueue_opts_t o = {.channel = "default", .func = "square", .args_json = "{\"x\": 7}",
                          .priority = 4, .delay_ms = 1500};
  mtq_task_t t;
  mtq_task_init(&t);
  bson_error_t e;
  assert_true(mtq_task_build(&t, &o, 1000000, &e));
  mtq_schedule_t s;
  mtq_schedule_init(&s);
  bson_strncpy(s.name, "nightly", sizeof s.name);
  bson_strncpy(s.cron, "30 2 * * *", sizeof s.cron);
  bson_strncpy(s.tz, "Europe/Berlin", sizeof s.tz);
  s.anchor_ms = s.since_ms = s.created_at = 1000000;
  s.skip_if_running = true;
  s.task = bson_new();
  mtq_task_to_bson(&t, s.task);

  bson_t doc = BSON_INITIALIZER;
  mtq_schedule_to_bson(&s, &doc);
  mtq_schedule_t r;
  mtq_schedule_init(&r);
  assert_true(mtq_schedule_from_bson(&r, &doc, &e));
  assert_string_equal(r.name, "nightly");
  assert_string_equal(r.cron, "30 2 * * *");
  assert_string_equal(r.tz, "Europe/Berlin");
  assert_int_equal(r.every_ms, 0);
  assert_true(r.skip_if_running);
  assert_false(r.paused);
  assert_int_equal(r.last_tick_ms, 0);
  assert_true(bson_equal(r.task, s.task));
  mtq_schedule_cleanup(&r);

  /* Each tick's task: a new id, created now, the template's delay kept,
   * the tick's dedupe key, never run. */
  mtq_task_t a, b;
  mtq_task_init(&a);
  mtq_task_init(&b);
  assert_true(mtq_task_from_template(&a, s.task, 5000000, "schedule:nightly:1", &e));
  assert_true(mtq_task_from_template(&b, s.task, 5000000, NULL, &e));
  assert_false(bson_oid_equal(&a.id, &t.id));
  assert_false(bson_oid_equal(&a.id, &b.id));
  assert_int_equal(a.created_at, 5000000);
  assert_int_equal(a.not_before, 5001500);
  assert_int_equal(a.status, MTQ_STATE_DELAYED);
  assert_int_equal(a.priority, 4);
  assert_string_equal(a.dedupe_key, "schedule:nightly:1");
  assert_string_equal(b.dedupe_key, "");
  assert_true(bson_equal(a.args, t.args));
  mtq_task_cleanup(&a);
  mtq_task_cleanup(&b);

  /* Malformed documents, each refused by the field's name. */
  static const struct {
    const char *json, *field;
  } bad[] = {
      {"{\"_id\": \"x y\"}", "_id"},
      {"{\"_id\": 5}", "_id"},
      {"{\"_id\": \"x\", \"anchor\": 5}", "anchor"},
      {"{\"_id\": \"x\", \"anchor\": {\"$date\": 1}, \"since\": {\"$date\": 1}, "
       "\"created_at\": {\"$date\": 1}, \"cron\": \"* * * * *\", \"every_ms\": 5000}",
       "cron"},
      {"{\"_id\": \"x\", \"anchor\": {\"$date\": 1}, \"since\": {\"$date\": 1}, "
       "\"created_at\": {\"$date\": 1}, \"every_ms\": 5}",
       "every_ms"},
      {"{\"_id\": \"x\", \"anchor\": {\"$date\": 1}, \"since\": {\"$date\": 1}, "
       "\"created_at\": {\"$date\": 1}, \"every_ms\": 5000, \"paused\": 1}",
       "paused"},
      {"{\"_id\": \"x\", \"anchor\": {\"$date\": 1}, \"since\": {\"$date\": 1}, "
       "\"created_at\": {\"$date\": 1}, \"every_ms\": 5000}",
       "task"},
      {"{\"_id\": \"x\", \"anchor\": {\"$date\": 1}, \"since\": {\"$date\": 1}, "
       "\"created_at\": {\"$date\": 1}, \"every_ms\": 5000, \"task\": {\"func\": 1}}",
       "task"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    bson_t *d = bson_new_from_json((const uint8_t *)bad[i].json, -1, &e);
    assert_non_null(d);
    mtq_schedule_init(&r);
    bool ok = mtq_schedule_from_bson(&r, d, &e);
    if (ok || !strstr(e.message, bad[i].field)) {
      fail_msg("%s: %s", bad[i].json, ok ? "accepted" : e.message);
    }
    mtq_schedule_cleanup(&r);
    bson_destroy(d);
  }

  /* Due: after the last tick and after since, whichever is later. */
  s.cron[0] = s.tz[0] = '\0';
  s.every_ms = 2000;
  mtq_schedule_clock_t c;
  assert_true(mtq_schedule_clock_init(&c, &s, NULL, &e));
  int64_t tick;
  assert_true(mtq_schedule_due(&s, &c, 1000000 + 9000, &tick));
  assert_int_equal(tick, 1000000 + 8000);
  s.last_tick_ms = 1000000 + 8000;
  assert_false(mtq_schedule_due(&s, &c, 1000000 + 9000, &tick));
  s.since_ms = 1000000 + 15000; /* resumed at +15 s: +10..+14 never fire */
  assert_false(mtq_schedule_due(&s, &c, 1000000 + 15500, &tick));
  assert_true(mtq_schedule_due(&s, &c, 1000000 + 16000, &tick));
  assert_int_equal(tick, 1000000 + 16000);
  mtq_schedule_clock_cleanup(&c);
  char key[MTQ_TICK_KEY_MAX];
  mtq_schedule_tick_key("nightly", 1796407856389, true, key);
  assert_string_equal(key, "schedule:nightly:1796407856389");
  mtq_schedule_tick_key("nightly", 1796407856389, false, key);
  assert_string_equal(key, "nightly:1796407856389");

  bson_destroy(&doc);
  mtq_schedule_cleanup(&s);
  mtq_task_cleanup(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_errors),       cmocka_unit_test(test_parse_forms),
      cmocka_unit_test(test_next_utc),           cmocka_unit_test(test_next_dst),
      cmocka_unit_test(test_offsets_match_libc), cmocka_unit_test(test_zone_names),
      cmocka_unit_test(test_corrupt_tzif),       cmocka_unit_test(test_durations),
      cmocka_unit_test(test_ticks),              cmocka_unit_test(test_schedule_doc),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
