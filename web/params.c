/* params.c - request parameters and cursors (see params.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtq_error.h"
#include "params.h"

bool mtq_web_parse_oid(const char *s, bson_oid_t *out) {
  if (!s || strlen(s) != 24) {
    return false;
  }
  for (const char *p = s; *p; p++) {
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F'))) {
      return false;
    }
  }
  bson_oid_init_from_string(out, s);
  return true;
}

bool mtq_web_parse_id_path(const char *rest, bson_oid_t *out, char *hex, const char **slash) {
  *slash = strchr(rest, '/');
  size_t n = *slash ? (size_t)(*slash - rest) : strlen(rest);
  hex[0] = '\0';
  if (n != 24) {
    return false;
  }
  memcpy(hex, rest, 24);
  hex[24] = '\0';
  return mtq_web_parse_oid(hex, out);
}

bool mtq_web_parse_int(const char *s, int64_t min, int64_t max, int64_t *out) {
  if (!s || !*s || strlen(s) > 20) {
    return false;
  }
  for (const char *p = s + (*s == '-'); *p; p++) {
    if (*p < '0' || *p > '9') {
      return false;
    }
  }
  if (s[0] == '-' && !s[1]) {
    return false;
  }
  errno = 0;
  long long v = strtoll(s, NULL, 10);
  if (errno || v < min || v > max) {
    return false;
  }
  *out = v;
  return true;
}

static const struct {
  const char *name;
  mtq_browse_key_t key;
  bool descending;
} sorts[] = {
    {"created_at", MTQ_BROWSE_CREATED_AT, false},   {"-created_at", MTQ_BROWSE_CREATED_AT, true},
    {"priority", MTQ_BROWSE_PRIORITY, false},       {"-priority", MTQ_BROWSE_PRIORITY, true},
    {"finished_at", MTQ_BROWSE_FINISHED_AT, false}, {"-finished_at", MTQ_BROWSE_FINISHED_AT, true},
};
#define N_SORTS (sizeof sorts / sizeof sorts[0])

static int sort_index(const mtq_browse_t *q) {
  for (size_t i = 0; i < N_SORTS; i++) {
    if (sorts[i].key == q->key && sorts[i].descending == q->descending) {
      return (int)i;
    }
  }
  return 0;
}

static bool name_param(const char *value, const char *what, const char **out,
                       bson_error_t *error) {
  if (!value) {
    *out = NULL;
    return true;
  }
  if (!mtq_name_valid(value)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "%s must be a name (1-64 of A-Z a-z 0-9 _ . -)", what);
    return false;
  }
  *out = value;
  return true;
}

bool mtq_web_task_query_parse(const mtq_web_task_query_t *p, mtq_browse_t *q, bson_error_t *error) {
  memset(q, 0, sizeof *q);
  q->state = MTQ_STATE_INVALID;
  q->key = MTQ_BROWSE_CREATED_AT;
  q->descending = true;
  q->limit = MTQ_WEB_LIMIT_DEFAULT;
  if (!name_param(p->channel, "channel", &q->channel, error) ||
      !name_param(p->func, "func", &q->func, error) ||
      !name_param(p->worker, "worker", &q->worker, error)) {
    return false;
  }
  if (p->state && (q->state = mtq_state_parse(p->state)) == MTQ_STATE_INVALID) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "state must be one of queued, delayed, running, done, failed, cancelled, "
                  "retry_wait, dead, suspended, disabled, conflict, blocked");
    return false;
  }
  if (p->error) {
    if (!*p->error || strlen(p->error) > MTQ_WEB_ERROR_TEXT_MAX) {
      mtq_error_set(error, MTQ_ERR_INVALID, "error must be 1 to %d bytes of text",
                    MTQ_WEB_ERROR_TEXT_MAX);
      return false;
    }
    q->error_text = p->error;
  }
  if (p->sort) {
    size_t i = 0;
    while (i < N_SORTS && strcmp(sorts[i].name, p->sort) != 0) {
      i++;
    }
    if (i == N_SORTS) {
      mtq_error_set(error, MTQ_ERR_INVALID,
                    "sort must be one of created_at, -created_at, priority, -priority, "
                    "finished_at, -finished_at");
      return false;
    }
    q->key = sorts[i].key;
    q->descending = sorts[i].descending;
  }
  if (p->limit) {
    int64_t n;
    if (!mtq_web_parse_int(p->limit, 1, MTQ_BROWSE_LIMIT_MAX, &n)) {
      mtq_error_set(error, MTQ_ERR_INVALID, "limit must be a whole number from 1 to %d",
                    MTQ_BROWSE_LIMIT_MAX);
      return false;
    }
    q->limit = (size_t)n;
  }
  if (q->key == MTQ_BROWSE_FINISHED_AT && q->state != MTQ_STATE_INVALID &&
      !mtq_state_is_terminal(q->state)) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "sort by finished_at lists ended tasks: state %s has not ended", p->state);
    return false;
  }
  return !p->cursor || mtq_web_cursor_decode(p->cursor, q, error);
}

static int64_t key_value(const mtq_browse_t *q, const mtq_task_t *t) {
  switch (q->key) {
  case MTQ_BROWSE_PRIORITY:
    return t->priority;
  case MTQ_BROWSE_FINISHED_AT:
    return t->finished_at;
  default:
    return t->created_at;
  }
}

void mtq_web_cursor_encode(const mtq_browse_t *q, const mtq_task_t *t, char *out) {
  char hex[25];
  bson_oid_to_string(&t->id, hex);
  snprintf(out, MTQ_WEB_CURSOR_MAX, "%d.%lld.%s", sort_index(q), (long long)key_value(q, t), hex);
}

bool mtq_web_cursor_decode(const char *s, mtq_browse_t *q, bson_error_t *error) {
  char buf[MTQ_WEB_CURSOR_MAX];
  bool ok = strlen(s) < sizeof buf;
  char *dot1 = NULL, *dot2 = NULL;
  if (ok) {
    bson_strncpy(buf, s, sizeof buf);
    dot1 = strchr(buf, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    ok = dot2 != NULL;
  }
  int64_t idx = -1, value = 0;
  if (ok) {
    *dot1 = *dot2 = '\0';
    ok = mtq_web_parse_int(buf, 0, (int64_t)N_SORTS - 1, &idx) &&
         mtq_web_parse_int(dot1 + 1, q->key == MTQ_BROWSE_PRIORITY ? MTQ_PRIORITY_MIN : 0,
                           q->key == MTQ_BROWSE_PRIORITY ? MTQ_PRIORITY_MAX : INT64_MAX / 2,
                           &value) &&
         mtq_web_parse_oid(dot2 + 1, &q->after_id);
  }
  if (!ok) {
    mtq_error_set(error, MTQ_ERR_INVALID, "cursor is malformed: pass back the next of a page");
    return false;
  }
  if ((int)idx != sort_index(q)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "cursor was made for sort %s, not this one",
                  sorts[idx].name);
    return false;
  }
  q->has_after = true;
  q->after_value = value;
  return true;
}
