/* schedule_doc.c - the schedule document, and a schedule's compiled times
 * (see mtq_schedule.h and schemas/schedule.schema.json). */
#include <string.h>

#include "mtq_error.h"
#include "mtq_flow.h"
#include "mtq_schedule.h"

void mtq_schedule_init(mtq_schedule_t *s) { memset(s, 0, sizeof *s); }

void mtq_schedule_cleanup(mtq_schedule_t *s) {
  if (s->task) {
    bson_destroy(s->task);
  }
  if (s->flow) {
    bson_destroy(s->flow);
  }
  mtq_schedule_init(s);
}

void mtq_schedule_to_bson(const mtq_schedule_t *s, bson_t *doc) {
  static const bson_oid_t zero;
  BSON_APPEND_UTF8(doc, "_id", s->name);
  mtq_bson_append_name_or_null(doc, "cron", s->cron);
  mtq_bson_append_name_or_null(doc, "tz", s->tz);
  if (s->every_ms) {
    BSON_APPEND_INT64(doc, "every_ms", s->every_ms);
  } else {
    BSON_APPEND_NULL(doc, "every_ms");
  }
  BSON_APPEND_DATE_TIME(doc, "anchor", s->anchor_ms);
  BSON_APPEND_BOOL(doc, "paused", s->paused);
  BSON_APPEND_BOOL(doc, "skip_if_running", s->skip_if_running);
  BSON_APPEND_DATE_TIME(doc, "since", s->since_ms);
  BSON_APPEND_DATE_TIME(doc, "created_at", s->created_at);
  mtq_bson_append_date_or_null(doc, "last_tick", s->last_tick_ms);
  if (bson_oid_equal(&s->last_task, &zero)) {
    BSON_APPEND_NULL(doc, "last_task");
  } else {
    BSON_APPEND_OID(doc, "last_task", &s->last_task);
  }
  if (s->task) {
    BSON_APPEND_DOCUMENT(doc, "task", s->task);
  }
  if (s->flow) {
    BSON_APPEND_DOCUMENT(doc, "flow", s->flow);
  }
}

/* --- reading ------------------------------------------------------------------ */

static bool field_error(bson_error_t *error, const char *key, const char *want) {
  mtq_error_set(error, MTQ_ERR_INVALID, "schedule field '%s' must be %s", key, want);
  return false;
}

/* A string of at most max - 1 bytes, or null ("" when null or absent). */
static bool read_text(const bson_t *doc, const char *key, char *dst, size_t max, bool required,
                      bson_error_t *error) {
  bson_iter_t it;
  dst[0] = '\0';
  if (!bson_iter_init_find(&it, doc, key) || BSON_ITER_HOLDS_NULL(&it)) {
    return !required || field_error(error, key, "a string");
  }
  uint32_t len;
  const char *v = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, &len) : NULL;
  if (!v || len >= max || (required && len == 0)) {
    return field_error(error, key, "a string, not too long");
  }
  memcpy(dst, v, len + 1);
  return true;
}

/* A date (or, for every_ms, an integer; 0 when null or absent). */
static bool read_ms(const bson_t *doc, const char *key, bool date, bool required, int64_t *out,
                    bson_error_t *error) {
  bson_iter_t it;
  *out = 0;
  if (!bson_iter_init_find(&it, doc, key) || BSON_ITER_HOLDS_NULL(&it)) {
    return !required || field_error(error, key, date ? "a date" : "a number");
  }
  if (date && BSON_ITER_HOLDS_DATE_TIME(&it)) {
    *out = bson_iter_date_time(&it);
    /* 1970 to 9999: tick arithmetic on anything beyond would overflow. */
    if (*out < 0 || *out > MTQ_DATE_MAX_MS) {
      return field_error(error, key, "a date from 1970 to 9999");
    }
  } else if (!date && (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it))) {
    *out = bson_iter_as_int64(&it);
  } else {
    return field_error(error, key, date ? "a date" : "a whole number");
  }
  return true;
}

static bool read_bool(const bson_t *doc, const char *key, bool *out, bson_error_t *error) {
  bson_iter_t it;
  *out = false;
  if (!bson_iter_init_find(&it, doc, key)) {
    return true;
  }
  if (!BSON_ITER_HOLDS_BOOL(&it)) {
    return field_error(error, key, "true or false");
  }
  *out = bson_iter_bool(&it);
  return true;
}

/* A flow to submit at every tick, as a flow document. */
static bool read_flow_template(mtq_schedule_t *s, const bson_iter_t *it, bson_error_t *error) {
  uint32_t len;
  const uint8_t *data;
  bson_iter_document(it, &len, &data);
  s->flow = bson_new_from_data(data, len);
  mtq_flow_t f;
  mtq_flow_init(&f);
  bson_error_t err;
  bool ok = s->flow && mtq_flow_from_bson(&f, s->flow, &err);
  mtq_flow_cleanup(&f);
  if (!ok) {
    mtq_error_set(error, MTQ_ERR_INVALID, "schedule field 'flow': %s",
                  s->flow ? err.message : "not a document");
  }
  return ok;
}

static bool read_template(mtq_schedule_t *s, const bson_t *doc, bson_error_t *error) {
  bson_iter_t it;
  bool has_flow = bson_iter_init_find(&it, doc, "flow") && !BSON_ITER_HOLDS_NULL(&it);
  if (has_flow && bson_has_field(doc, "task")) {
    return field_error(error, "task", "absent when the schedule starts a flow");
  }
  if (has_flow) {
    return BSON_ITER_HOLDS_DOCUMENT(&it) ? read_flow_template(s, &it, error)
                                         : field_error(error, "flow", "a flow document");
  }
  if (!bson_iter_init_find(&it, doc, "task") || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
    return field_error(error, "task", "a task document (or flow, a flow document)");
  }
  bson_error_t err;
  bool ok = mtq_task_template_copy(&it, &s->task, &err);
  if (!ok) {
    mtq_error_set(error, MTQ_ERR_INVALID, "schedule field 'task': %s", err.message);
  }
  return ok;
}

bool mtq_schedule_from_bson(mtq_schedule_t *s, const bson_t *doc, bson_error_t *error) {
  bson_iter_t it;
  if (!read_text(doc, "_id", s->name, sizeof s->name, true, error)) {
    return false;
  }
  if (!mtq_name_valid(s->name)) {
    return field_error(error, "_id", "a name (1-64 of A-Z a-z 0-9 _ . -)");
  }
  if (!read_text(doc, "cron", s->cron, sizeof s->cron, false, error) ||
      !read_text(doc, "tz", s->tz, sizeof s->tz, false, error) ||
      !read_ms(doc, "every_ms", false, false, &s->every_ms, error) ||
      !read_ms(doc, "anchor", true, true, &s->anchor_ms, error) ||
      !read_bool(doc, "paused", &s->paused, error) ||
      !read_bool(doc, "skip_if_running", &s->skip_if_running, error) ||
      !read_ms(doc, "since", true, true, &s->since_ms, error) ||
      !read_ms(doc, "created_at", true, true, &s->created_at, error) ||
      !read_ms(doc, "last_tick", true, false, &s->last_tick_ms, error)) {
    return false;
  }
  if (!s->cron[0] == !s->every_ms) {
    return field_error(error, "cron", "set, or every_ms, but not both");
  }
  if (s->every_ms && (s->every_ms < MTQ_EVERY_MIN_MS || s->every_ms > MTQ_EVERY_MAX_MS)) {
    return field_error(error, "every_ms", "1000 to 366 days");
  }
  memset(&s->last_task, 0, sizeof s->last_task);
  if (bson_iter_init_find(&it, doc, "last_task") && !BSON_ITER_HOLDS_NULL(&it)) {
    if (!BSON_ITER_HOLDS_OID(&it)) {
      return field_error(error, "last_task", "an ObjectId or null");
    }
    bson_oid_copy(bson_iter_oid(&it), &s->last_task);
  }
  return read_template(s, doc, error);
}

/* --- times -------------------------------------------------------------------- */

bool mtq_schedule_clock_init(mtq_schedule_clock_t *c, const mtq_schedule_t *s,
                             const char *tzdir, bson_error_t *error) {
  memset(c, 0, sizeof *c);
  if (s->every_ms) {
    c->ticks.every_ms = s->every_ms;
    c->ticks.anchor_ms = s->anchor_ms;
    return true;
  }
  if (!mtq_cron_parse(&c->cron, s->cron, error)) {
    return false;
  }
  if (s->tz[0] && strcmp(s->tz, "UTC") != 0 && !(c->tz = mtq_tz_load(s->tz, tzdir, error))) {
    return false;
  }
  c->ticks.cron = &c->cron;
  c->ticks.tz = c->tz;
  return true;
}

void mtq_schedule_clock_cleanup(mtq_schedule_clock_t *c) {
  mtq_tz_destroy(c->tz);
  memset(c, 0, sizeof *c);
}

bool mtq_schedule_due(const mtq_schedule_t *s, const mtq_schedule_clock_t *c, int64_t now_ms,
                      int64_t *tick_ms) {
  int64_t after = s->last_tick_ms > s->since_ms ? s->last_tick_ms : s->since_ms;
  return mtq_ticks_due(&c->ticks, after, now_ms, tick_ms);
}

void mtq_schedule_tick_key(const char *name, int64_t tick_ms, bool prefix,
                           char out[MTQ_TICK_KEY_MAX]) {
  snprintf(out, MTQ_TICK_KEY_MAX, "%s%s:%lld", prefix ? "schedule:" : "", name,
           (long long)tick_ms);
}
