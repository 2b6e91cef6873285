/* output.c - what mtq prints: text tables, JSON, times and tasks. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

struct mtq_table {
  size_t ncols;
  const char *const *headers; /* borrowed */
  char **cells;               /* owned; nrows * ncols, row by row */
  size_t nrows;
};

mtq_table_t *mtq_table_new(size_t ncols, const char *const *headers) {
  mtq_table_t *t = bson_malloc0(sizeof *t);
  t->ncols = ncols;
  t->headers = headers;
  return t;
}

void mtq_table_add(mtq_table_t *t, const char *const *cells) {
  t->cells = bson_realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof *t->cells);
  for (size_t c = 0; c < t->ncols; c++) {
    t->cells[t->nrows * t->ncols + c] = bson_strdup(cells[c] ? cells[c] : "-");
  }
  t->nrows++;
}

static void print_row(const mtq_table_t *t, const char *const *row, const size_t *width,
                      FILE *out) {
  for (size_t c = 0; c < t->ncols; c++) {
    /* The last column is not padded, so that lines carry no trailing blanks. */
    if (c + 1 < t->ncols) {
      fprintf(out, "%-*s  ", (int)width[c], row[c]);
    } else {
      fprintf(out, "%s\n", row[c]);
    }
  }
}

void mtq_table_print(const mtq_table_t *t, FILE *out) {
  size_t *width = bson_malloc0(t->ncols * sizeof *width);
  for (size_t c = 0; c < t->ncols; c++) {
    width[c] = strlen(t->headers[c]);
    for (size_t r = 0; r < t->nrows; r++) {
      size_t len = strlen(t->cells[r * t->ncols + c]);
      width[c] = len > width[c] ? len : width[c];
    }
  }
  print_row(t, t->headers, width, out);
  for (size_t r = 0; r < t->nrows; r++) {
    print_row(t, (const char *const *)&t->cells[r * t->ncols], width, out);
  }
  bson_free(width);
}

size_t mtq_table_rows(const mtq_table_t *t) { return t->nrows; }

void mtq_table_destroy(mtq_table_t *t) {
  if (!t) {
    return;
  }
  for (size_t i = 0; i < t->nrows * t->ncols; i++) {
    bson_free(t->cells[i]);
  }
  bson_free(t->cells);
  bson_free(t);
}

/* --- JSON ------------------------------------------------------------------ */

/* The CLI's JSON is libbson's relaxed extended JSON ({"$oid": ...},
 * {"$date": ...}, the same spacing), which scripts read, except for
 * doubles: libbson prints them with 20 significant digits, so a result of
 * {"x": 0.1} came out as 0.10000000000000000555.  They are printed here in
 * the shortest of %.15g, %.16g and %.17g that reads back as the same double
 * (17 digits always do), with ".0" kept on whole numbers as libbson does,
 * so that the value stays a double for a reader that cares. */

static void json_double(bson_string_t *out, double v) {
  char buf[40];
  for (int digits = 15; digits <= 17; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (strtod(buf, NULL) == v) {
      break;
    }
  }
  bson_string_append(out, buf);
  if (strspn(buf, "0123456789-") == strlen(buf)) {
    bson_string_append(out, ".0");
  }
}

/* A string as JSON (libbson's escaping); null when it is not UTF-8, which
 * libbson would have answered by printing nothing at all. */
static void json_string(bson_string_t *out, const char *s, uint32_t len) {
  char *escaped = bson_utf8_escape_for_json(s, (ssize_t)len);
  if (!escaped) {
    bson_string_append(out, "null");
    return;
  }
  bson_string_append_c(out, '"');
  bson_string_append(out, escaped);
  bson_string_append_c(out, '"');
  bson_free(escaped);
}

/* Any other value as libbson prints it: the JSON of {"v": value} without
 * its first 8 and last 2 characters. */
static void json_by_libbson(bson_string_t *out, const bson_iter_t *it) {
  static const char head[] = "{ \"v\" : ", tail[] = " }";
  bson_t one = BSON_INITIALIZER;
  char *json = bson_append_iter(&one, "v", 1, it) ? bson_as_relaxed_extended_json(&one, NULL)
                                                   : NULL;
  size_t len = json ? strlen(json) : 0;
  if (len >= sizeof head + sizeof tail - 2 && strncmp(json, head, sizeof head - 1) == 0 &&
      strcmp(json + len - (sizeof tail - 1), tail) == 0) {
    json[len - (sizeof tail - 1)] = '\0';
    bson_string_append(out, json + sizeof head - 1);
  } else {
    bson_string_append(out, "null");
  }
  bson_free(json);
  bson_destroy(&one);
}

static void json_value(bson_string_t *out, const bson_iter_t *it);

/* The document or array that it holds: { "k" : v, ... } or [ v, ... ].
 * An empty one is "{  }" or "[  ]", two blanks as libbson writes them
 * inside a document (only a whole empty document is "{ }"). */
static void json_container(bson_string_t *out, const bson_iter_t *it, bool array) {
  bson_iter_t child;
  bool first = true;
  bson_string_append(out, array ? "[" : "{");
  if (bson_iter_recurse(it, &child)) {
    while (bson_iter_next(&child)) {
      bson_string_append(out, first ? " " : ", ");
      first = false;
      if (!array) {
        json_string(out, bson_iter_key(&child), bson_iter_key_len(&child));
        bson_string_append(out, " : ");
      }
      json_value(out, &child);
    }
  }
  if (first) {
    bson_string_append(out, " ");
  }
  bson_string_append(out, array ? " ]" : " }");
}

static void json_value(bson_string_t *out, const bson_iter_t *it) {
  uint32_t len;
  const char *s;
  switch (bson_iter_type(it)) {
  case BSON_TYPE_DOUBLE:
    if (isfinite(bson_iter_double(it))) {
      json_double(out, bson_iter_double(it));
    } else {
      json_by_libbson(out, it); /* {"$numberDouble": "NaN"} and the infinities */
    }
    break;
  case BSON_TYPE_UTF8:
    s = bson_iter_utf8(it, &len);
    json_string(out, s, len);
    break;
  case BSON_TYPE_DOCUMENT:
  case BSON_TYPE_ARRAY:
    json_container(out, it, bson_iter_type(it) == BSON_TYPE_ARRAY);
    break;
  case BSON_TYPE_INT32:
    bson_string_append_printf(out, "%" PRId32, bson_iter_int32(it));
    break;
  case BSON_TYPE_INT64:
    bson_string_append_printf(out, "%" PRId64, bson_iter_int64(it));
    break;
  case BSON_TYPE_BOOL:
    bson_string_append(out, bson_iter_bool(it) ? "true" : "false");
    break;
  case BSON_TYPE_NULL:
    bson_string_append(out, "null");
    break;
  default:
    json_by_libbson(out, it); /* $oid, $date, $binary, $numberDecimal, ... */
    break;
  }
}

char *mtq_cli_json(const bson_t *doc) {
  bson_string_t *out = bson_string_new(NULL);
  bson_t holder = BSON_INITIALIZER;
  bson_iter_t it;
  /* The walk starts from an iterator on a value: hold doc in one. */
  if (bson_empty(doc)) {
    bson_string_append(out, "{ }");
  } else if (BSON_APPEND_DOCUMENT(&holder, "d", doc) && bson_iter_init_find(&it, &holder, "d")) {
    json_value(out, &it);
  } else {
    bson_string_append(out, "null");
  }
  bson_destroy(&holder);
  return bson_string_free(out, false);
}

void mtq_cli_print_doc(const bson_t *doc, FILE *out) {
  char *json = mtq_cli_json(doc);
  fprintf(out, "%s\n", json);
  bson_free(json);
}

void mtq_cli_print_json_string(const char *s, FILE *out) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"':
      fputs("\\\"", out);
      break;
    case '\\':
      fputs("\\\\", out);
      break;
    case '\n':
      fputs("\\n", out);
      break;
    case '\r':
      fputs("\\r", out);
      break;
    case '\t':
      fputs("\\t", out);
      break;
    default:
      if (*p < 0x20) {
        fprintf(out, "\\u%04x", *p);
      } else {
        fputc(*p, out);
      }
    }
  }
  fputc('"', out);
}

void mtq_cli_print_array(const bson_t *doc, const char *key, FILE *out) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_ARRAY(&it)) {
    fputs("[  ]\n", out);
    return;
  }
  bson_string_t *json = bson_string_new(NULL);
  json_value(json, &it);
  fprintf(out, "%s\n", json->str);
  bson_string_free(json, true);
}

/* --- times and tasks ---------------------------------------------------------- */

void mtq_cli_format_time(int64_t ms, char *buf, size_t size) {
  if (ms <= 0) {
    snprintf(buf, size, "-");
    return;
  }
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  if (!strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
    snprintf(buf, size, "-");
  }
}

void mtq_cli_format_ms(double ms, char *buf, size_t size) {
  if (ms < 1000) {
    snprintf(buf, size, "%.0fms", ms);
  } else if (ms < 100000) {
    snprintf(buf, size, "%.2fs", ms / 1000);
  } else {
    snprintf(buf, size, "%.0fs", ms / 1000);
  }
}

void mtq_cli_print_task_json(const mtq_task_t *task, FILE *out) {
  bson_t doc = BSON_INITIALIZER;
  mtq_task_to_bson(task, &doc);
  mtq_cli_print_doc(&doc, out);
  bson_destroy(&doc);
}

static void print_field(FILE *out, const char *name, const char *value) {
  fprintf(out, "%-13s %s\n", name, value && *value ? value : "-");
}

static void print_time_field(FILE *out, const char *name, int64_t ms) {
  char buf[64];
  mtq_cli_format_time(ms, buf, sizeof buf);
  print_field(out, name, buf);
}

static void print_doc_field(FILE *out, const char *name, const bson_t *doc) {
  char *json = doc ? mtq_cli_json(doc) : NULL;
  print_field(out, name, json);
  bson_free(json);
}

static void print_number(FILE *out, const char *name, int64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "%lld", (long long)v);
  print_field(out, name, buf);
}

static void print_oid(FILE *out, const char *name, const bson_oid_t *oid) {
  char hex[25];
  bson_oid_to_string(oid, hex);
  print_field(out, name, hex);
}

/* A string that may hold anything (a task's stderr): as a JSON string. */
static void print_quoted_field(FILE *out, const char *name, const char *s) {
  fprintf(out, "%-13s ", name);
  if (s) {
    mtq_cli_print_json_string(s, out);
    fputc('\n', out);
  } else {
    fputs("-\n", out);
  }
}

/* The retry delay's start and cap, on one line. */
static void print_backoff(FILE *out, const mtq_task_t *t) {
  char buf[64];
  snprintf(buf, sizeof buf, "%d..%d ms", (int)t->backoff_ms, (int)t->backoff_max_ms);
  print_field(out, "retry_backoff", buf);
}

/* One line per failed attempt: "attempt N on W at T: error". */
static void print_errors(FILE *out, const bson_t *errors) {
  bson_iter_t it;
  if (!errors || !bson_iter_init(&it, errors)) {
    return;
  }
  bson_t one;
  while (mtq_bson_next_doc(&it, &one)) {
    bson_iter_t f;
    int attempt = bson_iter_init_find(&f, &one, "attempt") && BSON_ITER_HOLDS_NUMBER(&f)
                      ? (int)bson_iter_as_int64(&f)
                      : 0;
    const char *worker = bson_iter_init_find(&f, &one, "worker") && BSON_ITER_HOLDS_UTF8(&f)
                             ? bson_iter_utf8(&f, NULL)
                             : "-";
    char when[64] = "-";
    if (bson_iter_init_find(&f, &one, "at") && BSON_ITER_HOLDS_DATE_TIME(&f)) {
      mtq_cli_format_time(bson_iter_date_time(&f), when, sizeof when);
    }
    fprintf(out, "%-13s attempt %d on %s at %s: ", "errors[]", attempt, worker, when);
    mtq_cli_print_json_string(bson_iter_init_find(&f, &one, "error") && BSON_ITER_HOLDS_UTF8(&f)
                                  ? bson_iter_utf8(&f, NULL)
                                  : "?",
                              out);
    fputc('\n', out);
  }
}

/* A redundant task's request, and what it requires of a worker. */
static void print_redundancy(FILE *out, const mtq_redundancy_t *r) {
  fprintf(out, "%-13s %d cop%s, pick %s, up to %d replacement(s)", "redundancy", r->copies,
          r->copies == 1 ? "y" : "ies", mtq_pick_name(r->pick), r->max_replacements);
  if (r->hedge_ms == MTQ_HEDGE_AUTO) {
    fputs(", hedged after the p95 run time", out);
  } else if (r->hedge_ms) {
    fprintf(out, ", hedged after %.1f s", (double)r->hedge_ms / 1000.0);
  }
  fputc('\n', out);
  if (r->need_gpu || r->min_mem_mb || r->tag[0]) {
    fprintf(out, "%-13s%s", "requires", r->need_gpu ? " gpu" : "");
    if (r->min_mem_mb) {
      fprintf(out, " %lld MB free", (long long)r->min_mem_mb);
    }
    if (r->tag[0]) {
      fprintf(out, " tag %s", r->tag);
    }
    fputc('\n', out);
  }
}

/* A redundant task's copies sent, one line each. */
static void print_copies(FILE *out, const bson_t *copies) {
  bson_iter_t it, f;
  if (!copies || !bson_iter_init(&it, copies)) {
    return;
  }
  /* copies[]  slot 0 on w1 (host m1): done 3f2a…  or  failed: message */
  bson_t one;
  while (mtq_bson_next_doc(&it, &one)) {
#define STR(name) (bson_iter_init_find(&f, &one, name) && BSON_ITER_HOLDS_UTF8(&f) \
                       ? bson_iter_utf8(&f, NULL) : "-")
    int slot = bson_iter_init_find(&f, &one, "slot") && BSON_ITER_HOLDS_INT32(&f)
                   ? bson_iter_int32(&f) : -1;
    char id[25] = "-";
    if (bson_iter_init_find(&f, &one, "id") && BSON_ITER_HOLDS_OID(&f)) {
      bson_oid_to_string(bson_iter_oid(&f), id);
    }
    fprintf(out, "%-13s slot %d, %s on %s (host %s): %s", "copies[]", slot, id, STR("worker"),
            STR("host"), STR("state"));
    if (strcmp(STR("hash"), "-") != 0) {
      fprintf(out, ", result %.12s", STR("hash"));
    }
    if (strcmp(STR("error"), "-") != 0) {
      fputs(": ", out);
      mtq_cli_print_json_string(STR("error"), out);
    }
#undef STR
    fputc('\n', out);
  }
}

/* The print column of MTQ_TASK_FIELDS: SHOW_<print>(out, task, key, value)
 * prints one field, value being the member itself. */
#define SHOW_TEXT(out, t, key, v) print_field(out, key, v)
#define SHOW_NUMBER(out, t, key, v) print_number(out, key, v)
#define SHOW_BOOL(out, t, key, v) print_field(out, key, (v) ? "true" : "false")
#define SHOW_TIME(out, t, key, v) print_time_field(out, key, v)
#define SHOW_JSON(out, t, key, v) print_doc_field(out, key, v)
#define SHOW_QUOTED(out, t, key, v) print_quoted_field(out, key, v)
#define SHOW_ID(out, t, key, v) print_oid(out, "id", &(v))
/* The state a person sees: a waiting task not enabled is "disabled". */
#define SHOW_STATE(out, t, key, v) print_field(out, key, mtq_state_name(mtq_task_state(t)))
#define SHOW_ERRORS(out, t, key, v) print_errors(out, v)
#define SHOW_BACKOFF(out, t, key, v) print_backoff(out, t)
#define SHOW_REDUNDANCY(out, t, key, v) print_redundancy(out, &(v))
#define SHOW_COPIES(out, t, key, v) print_copies(out, v)
#define SHOW_COPY_OF(out, t, key, v) print_oid(out, "copy_of", &(v))
#define SHOW_FLOW_ID(out, t, key, v) print_oid(out, "flow", &(v))
#define SHOW_HIDDEN(out, t, key, v) ((void)0)
/* The when column: a field printed only for the tasks it is written for. */
#define SHOWN_FOR_ALL(t) true
#define SHOWN_FOR_PARENT(t) mtq_task_is_parent(t)
#define SHOWN_FOR_COPY(t) mtq_task_is_copy(t)
#define SHOWN_FOR_FLOW(t) mtq_task_in_flow(t)

void mtq_cli_print_task_fields(const mtq_task_t *t, FILE *out) {
#define SHOW(key, member, kind, lo, hi, missing, when, print)                                      \
  if (SHOWN_FOR_##when(t)) {                                                                       \
    SHOW_##print(out, t, key, t->member);                                                          \
  }
  MTQ_TASK_FIELDS(SHOW)
#undef SHOW
}
