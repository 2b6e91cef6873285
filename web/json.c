/* json.c - BSON to the API's JSON (see json.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"

void mtq_web_iso(int64_t ms, char *buf) {
  /* Floor division, so that dates before 1970 keep a positive millisecond. */
  int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  int millis = (int)(ms - secs * 1000);
  time_t t = (time_t)secs;
  struct tm tm;
  if (!gmtime_r(&t, &tm)) {
    snprintf(buf, MTQ_WEB_ISO_SIZE, "1970-01-01T00:00:00.000Z");
    return;
  }
  snprintf(buf, MTQ_WEB_ISO_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

void mtq_web_append_date(bson_t *doc, const char *key, int64_t ms) {
  BSON_APPEND_DATE_TIME(doc, key, ms);
}

static void json_string(bson_string_t *out, const char *s, ssize_t len) {
  char *escaped = bson_utf8_escape_for_json(s, len);
  bson_string_append_c(out, '"');
  /* libbson leaves '<', '>' and '&' as they are; escaping them keeps a
   * string that reaches an HTML page by mistake from closing a tag. */
  for (const char *p = escaped ? escaped : ""; *p; p++) {
    if (*p == '<' || *p == '>' || *p == '&') {
      bson_string_append_printf(out, "\\u%04x", (unsigned)*p);
    } else {
      bson_string_append_c(out, *p);
    }
  }
  bson_string_append_c(out, '"');
  bson_free(escaped);
}

/* The shortest form that reads back as the same double; JSON has no NaN
 * or infinity, so those are null. */
static void json_double(bson_string_t *out, double v) {
  if (!isfinite(v)) {
    bson_string_append(out, "null");
    return;
  }
  char buf[40];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) {
      break;
    }
  }
  bson_string_append(out, buf);
  if (!strpbrk(buf, ".eE")) {
    bson_string_append(out, ".0");
  }
}

static void json_container(bson_string_t *out, const bson_iter_t *it, bool array) {
  bson_iter_t child;
  bson_string_append_c(out, array ? '[' : '{');
  if (bson_iter_recurse(it, &child)) {
    bool first = true;
    while (bson_iter_next(&child)) {
      if (!first) {
        bson_string_append(out, ", ");
      }
      first = false;
      if (!array) {
        json_string(out, bson_iter_key(&child), (ssize_t)bson_iter_key_len(&child));
        bson_string_append(out, ": ");
      }
      mtq_web_json_value(out, &child);
    }
  }
  bson_string_append_c(out, array ? ']' : '}');
}

/* What the API has no form of its own for (decimals, binaries, regexes,
 * timestamps): libbson's relaxed extended JSON of the value. */
static void json_by_libbson(bson_string_t *out, const bson_iter_t *it) {
  bson_t one = BSON_INITIALIZER;
  char *json = bson_append_iter(&one, "v", 1, it) ? bson_as_relaxed_extended_json(&one, NULL)
                                                   : NULL;
  static const char head[] = "{ \"v\" : ";
  size_t len = json ? strlen(json) : 0;
  if (len > sizeof head + 1 && strncmp(json, head, sizeof head - 1) == 0) {
    json[len - 2] = '\0'; /* " }" */
    bson_string_append(out, json + sizeof head - 1);
  } else {
    bson_string_append(out, "null");
  }
  bson_free(json);
  bson_destroy(&one);
}

void mtq_web_json_value(bson_string_t *out, const bson_iter_t *it) {
  switch (bson_iter_type(it)) {
  case BSON_TYPE_DOUBLE:
    json_double(out, bson_iter_double(it));
    break;
  case BSON_TYPE_UTF8: {
    uint32_t len;
    const char *s = bson_iter_utf8(it, &len);
    json_string(out, s, (ssize_t)len);
    break;
  }
  case BSON_TYPE_DOCUMENT:
  case BSON_TYPE_ARRAY:
    json_container(out, it, bson_iter_type(it) == BSON_TYPE_ARRAY);
    break;
  case BSON_TYPE_OID: {
    char hex[25];
    bson_oid_to_string(bson_iter_oid(it), hex);
    bson_string_append_printf(out, "\"%s\"", hex);
    break;
  }
  case BSON_TYPE_BOOL:
    bson_string_append(out, bson_iter_bool(it) ? "true" : "false");
    break;
  case BSON_TYPE_DATE_TIME: {
    char iso[MTQ_WEB_ISO_SIZE];
    mtq_web_iso(bson_iter_date_time(it), iso);
    bson_string_append_printf(out, "\"%s\"", iso);
    break;
  }
  case BSON_TYPE_NULL:
  case BSON_TYPE_UNDEFINED:
    bson_string_append(out, "null");
    break;
  case BSON_TYPE_INT32:
    bson_string_append_printf(out, "%d", (int)bson_iter_int32(it));
    break;
  case BSON_TYPE_INT64:
    bson_string_append_printf(out, "%lld", (long long)bson_iter_int64(it));
    break;
  default:
    json_by_libbson(out, it);
    break;
  }
}

char *mtq_web_json(const bson_t *doc) {
  bson_string_t *out = bson_string_new(NULL);
  bson_t wrapper = BSON_INITIALIZER;
  bson_iter_t it;
  BSON_APPEND_DOCUMENT(&wrapper, "d", doc);
  if (bson_iter_init_find(&it, &wrapper, "d")) {
    mtq_web_json_value(out, &it);
  }
  bson_destroy(&wrapper);
  return bson_string_free(out, false);
}
