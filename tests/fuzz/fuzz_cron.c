/* fuzz_cron.c - libFuzzer harness for the schedule parsers: cron
 * expressions (mtq_cron_parse, from `mtq schedule add --cron`), POSIX TZ
 * rules and TZif files (mtq_tz_from_rule, mtq_tz_parse: read from
 * /usr/share/zoneinfo, which a schedule names).
 *
 * Input: a first byte that picks the parser, then its text or bytes.
 * Besides not crashing: a cron expression accepted fires strictly after
 * the instant asked, on a whole minute, three times in a row in UTC and in
 * the zone a rule gives; a zone's first instant of a wall time is never
 * after an instant showing it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtq_cron.h"
#include "mtq_tz.h"

static void fail(const char *what, const char *text) {
  fprintf(stderr, "fuzz_cron: %s: '%s'\n", what, text);
  abort();
}

static void check_zone(const mtq_tz_t *tz, const char *text) {
  static const int64_t at[] = {-2208988800LL, 0, 1700000000, 1774746000, 4102444800LL,
                               32503680000LL};
  for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
    int64_t wall = at[k] + mtq_tz_offset(tz, at[k]);
    int64_t first = mtq_tz_first_instant(tz, wall);
    if (first > at[k]) {
      fail("the first instant of a wall time comes after one showing it", text);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 4096) {
    return 0;
  }
  char *text = malloc(size);
  memcpy(text, data + 1, size - 1);
  text[size - 1] = '\0';
  bson_error_t e;
  switch (data[0] % 3) {
  case 0: {
    mtq_cron_t c;
    if (mtq_cron_parse(&c, text, &e)) {
      const mtq_tz_t *u = mtq_tz_utc();
      int64_t t = 1700000000 + (int64_t)(data[0] / 3) * 86400 * 97;
      for (int k = 0; k < 3; k++) {
        int64_t next = 0;
        if (!mtq_cron_next(&c, u, t, &next)) {
          fail("an accepted expression never fires", text);
        }
        if (next <= t || next % 60 != 0) {
          fail("the next firing is not a whole minute after the instant", text);
        }
        t = next;
      }
    }
    break;
  }
  case 1: {
    mtq_tz_t *tz = mtq_tz_from_rule(text, &e);
    if (tz) {
      check_zone(tz, text);
      mtq_cron_t c;
      int64_t next;
      mtq_cron_parse(&c, "*/7 1-3 * * *", &e);
      if (!mtq_cron_next(&c, tz, 1774746000, &next) || next <= 1774746000) {
        fail("a daily expression does not fire in this zone", text);
      }
      mtq_tz_destroy(tz);
    }
    break;
  }
  default: {
    mtq_tz_t *tz = mtq_tz_parse("fuzz", data + 1, size - 1, &e);
    if (tz) {
      check_zone(tz, "(TZif)");
      mtq_tz_destroy(tz);
    }
    break;
  }
  }
  free(text);
  return 0;
}
