/* tz.c - time zones from TZif files and POSIX TZ rules (see mtq_tz.h).
 *
 * TZif (RFC 8536): a header, a block of 32-bit data, and for version 2 and
 * later a second header, a block of 64-bit data and a footer holding a
 * POSIX TZ rule for the times after the last transition.  Only the offsets
 * matter here (no abbreviations, no leap seconds: mtq counts POSIX time). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtq_error.h"
#include "mtq_tz.h"

#define MAX_TRANSITIONS 5000 /* the largest zone has under 2,000 */
#define MAX_TYPES 256
#define MAX_FILE (1 << 20)
#define OFFSET_MAX (26 * 3600) /* |UTC offset|: real ones stay within ±15 h */

/* A POSIX rule's change date: Jn (1..365, no Feb 29), n (0..365) or
 * Mm.w.d (month, week 1..5 with 5 the last, weekday 0 = Sunday). */
typedef struct {
  char kind; /* 'J', 'N' or 'M' */
  int n, m, w, d;
  int32_t time_s; /* local time of day of the change, may be < 0 or > 24 h */
} change_t;

typedef struct {
  bool present;
  int32_t std_off, dst_off; /* seconds east of UTC */
  bool has_dst;
  change_t start, end; /* to DST, back to standard time */
} rule_t;

struct mtq_tz {
  char name[MTQ_TZ_NAME_MAX + 1];
  size_t n_trans;
  int64_t *trans;   /* transition instants, increasing */
  uint8_t *idx;     /* the type in force from each transition */
  size_t n_types;
  int32_t *type_off; /* each type's offset */
  rule_t rule;       /* after the last transition (or the whole zone) */
};

/* --- calendar -------------------------------------------------------------- */

/* Howard Hinnant's days_from_civil and civil_from_days. */
int64_t mtq_days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void mtq_civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int64_t mtq_floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

int mtq_weekday(int64_t days) {
  return (int)(((days + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
}

static int days_in_month(int64_t y, int m) {
  static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : n[m - 1];
}

/* --- POSIX TZ rules ---------------------------------------------------------- */

/* Parses [+-]hh[:mm[:ss]] with hh <= max_h into seconds. */
static bool parse_hms(const char **p, int max_h, int32_t *out) {
  const char *s = *p;
  int sign = 1;
  if (*s == '+' || *s == '-') {
    sign = *s == '-' ? -1 : 1;
    s++;
  }
  int32_t v[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) {
    if (i > 0 && *s != ':') {
      break;
    }
    if (i > 0) {
      s++;
    }
    if (*s < '0' || *s > '9') {
      return false;
    }
    int n = 0, digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 3) {
      n = n * 10 + (*s++ - '0');
      digits++;
    }
    if ((i == 0 && n > max_h) || (i > 0 && (n > 59 || digits != 2))) {
      return false;
    }
    v[i] = n;
  }
  *out = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
  *p = s;
  return true;
}

/* A zone abbreviation: 3 or more letters, or <...> of [A-Za-z0-9+-]. */
static bool parse_abbr(const char **p) {
  const char *s = *p;
  size_t n = 0;
  if (*s == '<') {
    s++;
    while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
           *s == '+' || *s == '-') {
      s++;
      n++;
    }
    if (*s != '>' || n < 3) {
      return false;
    }
    *p = s + 1;
    return true;
  }
  while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')) {
    s++;
    n++;
  }
  *p = s;
  return n >= 3;
}

static int parse_num(const char **p, int lo, int hi, bool *ok) {
  const char *s = *p;
  int n = 0, digits = 0;
  while (*s >= '0' && *s <= '9' && digits < 4) {
    n = n * 10 + (*s++ - '0');
    digits++;
  }
  *ok = *ok && digits > 0 && n >= lo && n <= hi;
  *p = s;
  return n;
}

/* Steps over ch at *p; never past the end of the text. */
static bool expect(const char **p, char ch) {
  if (**p != ch) {
    return false;
  }
  (*p)++;
  return true;
}

static bool parse_change(const char **p, change_t *c) {
  const char *s = *p;
  bool ok = true;
  if (*s == 'J') {
    s++;
    c->kind = 'J';
    c->n = parse_num(&s, 1, 365, &ok);
  } else if (*s == 'M') {
    s++;
    c->kind = 'M';
    c->m = parse_num(&s, 1, 12, &ok);
    ok = ok && expect(&s, '.');
    c->w = ok ? parse_num(&s, 1, 5, &ok) : 0;
    ok = ok && expect(&s, '.');
    c->d = ok ? parse_num(&s, 0, 6, &ok) : 0;
  } else {
    c->kind = 'N';
    c->n = parse_num(&s, 0, 365, &ok);
  }
  c->time_s = 2 * 3600;
  if (ok && *s == '/') {
    s++;
    ok = parse_hms(&s, 167, &c->time_s); /* TZif v3 allows -167..167 h */
  }
  *p = s;
  return ok;
}

static bool parse_rule(const char *text, rule_t *r) {
  const char *s = text;
  int32_t off;
  memset(r, 0, sizeof *r);
  if (!parse_abbr(&s) || !parse_hms(&s, 24, &off)) {
    return false;
  }
  r->std_off = -off; /* POSIX counts west of Greenwich */
  r->present = true;
  if (*s == '\0') {
    return true;
  }
  if (!parse_abbr(&s)) {
    return false;
  }
  r->has_dst = true;
  r->dst_off = r->std_off + 3600;
  if (*s != ',' && *s != '\0') {
    if (!parse_hms(&s, 24, &off)) {
      return false;
    }
    r->dst_off = -off;
  }
  if (*s == '\0') {
    /* No dates: POSIX leaves them to the implementation; glibc uses the
     * US rules, and so do we. */
    s = ",M3.2.0,M11.1.0";
  }
  if (!expect(&s, ',') || !parse_change(&s, &r->start) || !expect(&s, ',') ||
      !parse_change(&s, &r->end)) {
    return false;
  }
  return *s == '\0';
}

/* The day (since the epoch) on which change c falls in year y. */
static int64_t change_day(const change_t *c, int64_t y) {
  int64_t jan1 = mtq_days_from_civil(y, 1, 1);
  if (c->kind == 'J') {
    return jan1 + c->n - 1 + (is_leap(y) && c->n >= 60);
  }
  if (c->kind == 'N') {
    return jan1 + c->n;
  }
  int64_t first = mtq_days_from_civil(y, c->m, 1);
  int64_t day = first + (c->d - mtq_weekday(first) + 7) % 7 + 7 * (c->w - 1);
  while (day >= first + days_in_month(y, c->m)) {
    day -= 7; /* week 5: the last such weekday of the month */
  }
  return day;
}

/* The instants of year y's change to DST (in standard time) and back (in
 * DST). */
static int64_t rule_start(const rule_t *r, int64_t y) {
  return change_day(&r->start, y) * 86400 + r->start.time_s - r->std_off;
}
static int64_t rule_end(const rule_t *r, int64_t y) {
  return change_day(&r->end, y) * 86400 + r->end.time_s - r->dst_off;
}

/* As glibc does (tzset.c, __tz_compute): the changes of t's year (in
 * UTC); DST between them, or outside them when the change back comes first
 * in the year (the southern hemisphere). */
static int32_t rule_offset(const rule_t *r, int64_t t) {
  if (!r->has_dst) {
    return r->std_off;
  }
  int64_t y;
  int m, d;
  mtq_civil_from_days(mtq_floor_div(t, 86400), &y, &m, &d);
  int64_t a = rule_start(r, y), b = rule_end(r, y);
  bool dst = a < b ? a <= t && t < b : !(b <= t && t < a);
  return dst ? r->dst_off : r->std_off;
}

/* --- TZif ------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static int64_t be64(const uint8_t *p) { return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4)); }

static mtq_tz_t *tz_new(const char *name) {
  mtq_tz_t *tz = bson_malloc0(sizeof *tz);
  bson_strncpy(tz->name, name && *name ? name : "UTC", sizeof tz->name);
  return tz;
}

static mtq_tz_t *corrupt(mtq_tz_t *tz, const char *name, const char *why, bson_error_t *error) {
  mtq_error_set(error, MTQ_ERR_INVALID, "time zone %s: corrupt TZif data (%s)", name, why);
  mtq_tz_destroy(tz);
  return NULL;
}

mtq_tz_t *mtq_tz_parse(const char *name, const uint8_t *data, size_t len, bson_error_t *error) {
  mtq_tz_t *tz = tz_new(name);
  name = tz->name;
  if (len < 44 || memcmp(data, "TZif", 4) != 0) {
    return corrupt(tz, name, "no TZif header", error);
  }
  int version = data[4] == 0 ? 1 : data[4] - '0';
  if (version < 1 || version > 9) {
    return corrupt(tz, name, "unknown version", error);
  }
  size_t at = 0, tsize = 4;
  for (int pass = 0; pass < 2; pass++) {
    if (len - at < 44 || memcmp(data + at, "TZif", 4) != 0) {
      return corrupt(tz, name, "no TZif header", error);
    }
    uint32_t isut = be32(data + at + 20), isstd = be32(data + at + 24), leap = be32(data + at + 28);
    uint32_t timecnt = be32(data + at + 32), typecnt = be32(data + at + 36),
             charcnt = be32(data + at + 40);
    if (timecnt > MAX_TRANSITIONS || typecnt == 0 || typecnt > MAX_TYPES || charcnt > 4096 ||
        leap > 1000 || (isut && isut != typecnt) || (isstd && isstd != typecnt)) {
      return corrupt(tz, name, "counts out of range", error);
    }
    size_t body = timecnt * tsize + timecnt + typecnt * 6 + charcnt + leap * (tsize + 4) + isstd +
                  isut;
    at += 44;
    if (len - at < body) {
      return corrupt(tz, name, "truncated", error);
    }
    if (version >= 2 && pass == 0) {
      at += body; /* the 32-bit block: skipped for the 64-bit one */
      tsize = 8;
      continue;
    }
    const uint8_t *p = data + at;
    tz->n_trans = timecnt;
    tz->n_types = typecnt;
    tz->trans = bson_malloc0((timecnt + 1) * sizeof *tz->trans);
    tz->idx = bson_malloc0(timecnt + 1);
    tz->type_off = bson_malloc0(typecnt * sizeof *tz->type_off);
    for (uint32_t i = 0; i < timecnt; i++) {
      tz->trans[i] = tsize == 8 ? be64(p + i * 8) : (int32_t)be32(p + i * 4);
      if (i > 0 && tz->trans[i] <= tz->trans[i - 1]) {
        return corrupt(tz, name, "transitions out of order", error);
      }
    }
    p += timecnt * tsize;
    for (uint32_t i = 0; i < timecnt; i++) {
      if (p[i] >= typecnt) {
        return corrupt(tz, name, "type index out of range", error);
      }
      tz->idx[i] = p[i];
    }
    p += timecnt;
    for (uint32_t i = 0; i < typecnt; i++) {
      int32_t off = (int32_t)be32(p + i * 6);
      if (off < -OFFSET_MAX || off > OFFSET_MAX || p[i * 6 + 5] >= charcnt) {
        return corrupt(tz, name, "offset out of range", error);
      }
      tz->type_off[i] = off;
    }
    at += body;
    break;
  }
  if (version >= 2) {
    /* The footer: "\n" rule "\n"; an empty rule means none. */
    if (at >= len || data[at] != '\n') {
      return corrupt(tz, name, "no footer", error);
    }
    const uint8_t *s = data + at + 1, *e = memchr(s, '\n', len - at - 1);
    if (!e || e - s > 255) {
      return corrupt(tz, name, "footer not terminated", error);
    }
    if (e > s) {
      char rule[256];
      memcpy(rule, s, (size_t)(e - s));
      rule[e - s] = '\0';
      if (!parse_rule(rule, &tz->rule)) {
        return corrupt(tz, name, "footer rule malformed", error);
      }
    }
  }
  return tz;
}

mtq_tz_t *mtq_tz_from_rule(const char *rule, bson_error_t *error) {
  mtq_tz_t *tz = tz_new(rule);
  if (!rule || strlen(rule) > 255 || !parse_rule(rule, &tz->rule)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a POSIX TZ rule (e.g. CET-1CEST,M3.5.0,M10.5.0/3)",
                  rule ? rule : "");
    mtq_tz_destroy(tz);
    return NULL;
  }
  return tz;
}

static bool name_ok(const char *name) {
  if (name[0] == '/' || strstr(name, "..") || strlen(name) > MTQ_TZ_NAME_MAX) {
    return false;
  }
  for (const char *c = name; *c; c++) {
    if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
          *c == '/' || *c == '_' || *c == '+' || *c == '-')) {
      return false;
    }
  }
  return true;
}

/* Offset 0 and no DST: a rule of "UTC0". */
static const mtq_tz_t utc_zone = {.name = "UTC", .rule = {.present = true}};

const mtq_tz_t *mtq_tz_utc(void) { return &utc_zone; }

mtq_tz_t *mtq_tz_load(const char *name, const char *dir, bson_error_t *error) {
  if (!name || !*name || strcmp(name, "UTC") == 0) {
    mtq_tz_t *tz = tz_new("UTC");
    tz->rule = utc_zone.rule;
    return tz;
  }
  if (!name_ok(name)) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "'%s' is not a time zone name (an IANA name like Europe/Berlin)", name);
    return NULL;
  }
  if (!dir) {
    dir = getenv("TZDIR") && *getenv("TZDIR") ? getenv("TZDIR") : "/usr/share/zoneinfo";
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    mtq_error_set(error, errno == ENOENT || errno == ENOTDIR ? MTQ_ERR_NOT_FOUND : MTQ_ERR_INVALID,
                  "unknown time zone %s (%s: %s)", name, path, strerror(errno));
    return NULL;
  }
  uint8_t *data = bson_malloc(MAX_FILE);
  size_t len = fread(data, 1, MAX_FILE, f);
  bool big = len == MAX_FILE;
  fclose(f);
  mtq_tz_t *tz = NULL;
  if (big) {
    mtq_error_set(error, MTQ_ERR_INVALID, "time zone %s: %s is too large for a TZif file", name,
                  path);
  } else {
    tz = mtq_tz_parse(name, data, len, error);
  }
  bson_free(data);
  return tz;
}

void mtq_tz_destroy(mtq_tz_t *tz) {
  if (tz) {
    bson_free(tz->trans);
    bson_free(tz->idx);
    bson_free(tz->type_off);
    bson_free(tz);
  }
}

const char *mtq_tz_name(const mtq_tz_t *tz) { return tz->name; }

int32_t mtq_tz_offset(const mtq_tz_t *tz, int64_t t) {
  if (tz->n_trans == 0 || t >= tz->trans[tz->n_trans - 1]) {
    if (tz->rule.present) {
      return rule_offset(&tz->rule, t);
    }
    if (tz->n_trans == 0) {
      return tz->n_types ? tz->type_off[0] : 0;
    }
    return tz->type_off[tz->idx[tz->n_trans - 1]];
  }
  if (t < tz->trans[0]) {
    return tz->type_off[0]; /* RFC 8536: before the first transition, type 0 */
  }
  size_t lo = 0, hi = tz->n_trans - 1; /* trans[lo] <= t < trans[hi] */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (tz->trans[mid] <= t) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return tz->type_off[tz->idx[lo]];
}

/* Adds o to the set offs (of *n, at most max). */
static void add_offset(int32_t *offs, size_t *n, size_t max, int32_t o) {
  for (size_t k = 0; k < *n; k++) {
    if (offs[k] == o) {
      return;
    }
  }
  if (*n < max) {
    offs[(*n)++] = o;
  }
}

/* Every offset in force at some instant of [lo, hi]: the one at lo and
 * the one after each change within, from the file's transitions and the
 * rule's, so that none is missed however briefly it lasts. */
static size_t offsets_within(const mtq_tz_t *tz, int64_t lo, int64_t hi, int32_t *offs,
                             size_t max) {
  size_t n = 0;
  add_offset(offs, &n, max, mtq_tz_offset(tz, lo));
  size_t i = 0, j = tz->n_trans; /* the first transition after lo */
  while (i < j) {
    size_t mid = i + (j - i) / 2;
    if (tz->trans[mid] <= lo) {
      i = mid + 1;
    } else {
      j = mid;
    }
  }
  for (; i < tz->n_trans && tz->trans[i] <= hi; i++) {
    add_offset(offs, &n, max, mtq_tz_offset(tz, tz->trans[i]));
  }
  if (tz->rule.present && tz->rule.has_dst) {
    int64_t y0, y1;
    int m, d;
    mtq_civil_from_days(mtq_floor_div(lo, 86400), &y0, &m, &d);
    mtq_civil_from_days(mtq_floor_div(hi, 86400), &y1, &m, &d);
    for (int64_t y = y0 - 1; y <= y1 + 1; y++) {
      /* The year's changes, and its first instant, where the next year's
       * changes take over. */
      int64_t at[3] = {rule_start(&tz->rule, y), rule_end(&tz->rule, y),
                       mtq_days_from_civil(y, 1, 1) * 86400};
      for (int k = 0; k < 3; k++) {
        if (at[k] > lo && at[k] <= hi) {
          add_offset(offs, &n, max, mtq_tz_offset(tz, at[k]));
        }
      }
    }
  }
  return n;
}

int64_t mtq_tz_first_instant(const mtq_tz_t *tz, int64_t wall) {
  /* An instant t shows wall when t + offset(t) == wall, so t lies within
   * OFFSET_MAX of wall; each offset in force there gives a candidate. */
  int32_t offs[64];
  size_t n = offsets_within(tz, wall - OFFSET_MAX, wall + OFFSET_MAX, offs, 64);
  bool found = false;
  int64_t best = 0;
  int32_t lo_off = offs[0], hi_off = offs[0];
  for (size_t k = 0; k < n; k++) {
    int64_t t = wall - offs[k];
    if (mtq_tz_offset(tz, t) == offs[k] && (!found || t < best)) {
      best = t;
      found = true;
    }
    lo_off = offs[k] < lo_off ? offs[k] : lo_off;
    hi_off = offs[k] > hi_off ? offs[k] : hi_off;
  }
  if (found) {
    return best;
  }
  /* A gap: the clock jumps over wall between wall - hi_off and
   * wall - lo_off; the jump is the first instant whose wall time is past
   * wall. */
  int64_t a = wall - hi_off, b = wall - lo_off; /* local(a) < wall < local(b) */
  while (b - a > 1) {
    int64_t mid = a + (b - a) / 2;
    if (mid + mtq_tz_offset(tz, mid) > wall) {
      b = mid;
    } else {
      a = mid;
    }
  }
  return b;
}
