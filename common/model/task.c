/* task.c - the task: building it from a producer's options, its lifecycle
 * checks, backoff and errors, lists of tasks.  Its document form (the
 * field table, BSON in and out) is in task_doc.c. */
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "mtq_error.h"
#include "mtq_sign.h"
#include "mtq_task.h"

#define MAX_DEPTH 64
#define MAX_JSON_DATE_MS INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

int64_t mtq_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool mtq_name_valid(const char *name) {
  size_t len = name ? strlen(name) : 0;
  if (len == 0 || len > MTQ_NAME_MAX) {
    return false;
  }
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '-' || c == '.')) {
      return false;
    }
  }
  return true;
}

char *mtq_trim(char *s) {
  while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
    s++;
  }
  size_t len = strlen(s);
  while (len > 0 && strchr(" \t\r\n", s[len - 1])) {
    s[--len] = '\0';
  }
  return s;
}

void mtq_task_init(mtq_task_t *task) {
  memset(task, 0, sizeof *task);
  task->status = MTQ_STATE_INVALID;
  task->is_enable = true;
}

void mtq_task_cleanup(mtq_task_t *task) {
  if (task->args) {
    bson_destroy(task->args);
  }
  if (task->result) {
    bson_destroy(task->result);
  }
  bson_free(task->error);
  if (task->errors) {
    bson_destroy(task->errors);
  }
  if (task->copies) {
    bson_destroy(task->copies);
  }
  mtq_task_init(task);
}

bool mtq_task_is_parent(const mtq_task_t *task) { return task->red.copies > 0; }

bool mtq_task_in_flow(const mtq_task_t *task) {
  static const bson_oid_t zero;
  return !bson_oid_equal(&task->flow, &zero);
}

bool mtq_task_is_copy(const mtq_task_t *task) {
  static const bson_oid_t zero;
  return !bson_oid_equal(&task->parent, &zero);
}

bool mtq_task_may_retry(const mtq_task_t *task) {
  return !mtq_task_is_copy(task) && task->attempt < task->max_attempts;
}

static const char *const pick_names[] = {"first", "quorum", "all"};

const char *mtq_pick_name(mtq_pick_t pick) {
  return pick >= MTQ_PICK_FIRST && pick <= MTQ_PICK_ALL ? pick_names[pick] : "invalid";
}

bool mtq_pick_parse(const char *name, mtq_pick_t *out) {
  for (int i = MTQ_PICK_FIRST; name && i <= MTQ_PICK_ALL; i++) {
    if (strcmp(name, pick_names[i]) == 0) {
      *out = (mtq_pick_t)i;
      return true;
    }
  }
  return false;
}

/* Checks a producer's redundancy request and fills task->red from it. */
static bool build_redundancy(mtq_task_t *task, const mtq_redundancy_t *r, bson_error_t *error) {
  bool wants = r->copies || r->hedge_ms || r->need_gpu || r->min_mem_mb || r->tag[0];
  if (!wants) {
    return true;
  }
  if (r->copies < 0 || r->copies > MTQ_COPIES_MAX || r->max_replacements < 0 ||
      r->max_replacements > MTQ_REPLACEMENTS_MAX || r->min_mem_mb < 0 ||
      (r->hedge_ms < 0 && r->hedge_ms != MTQ_HEDGE_AUTO) || r->pick < MTQ_PICK_FIRST ||
      r->pick > MTQ_PICK_ALL) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "copies must be 1..%d, replacements 0..%d, memory and hedge deadline not "
                  "negative",
                  MTQ_COPIES_MAX, MTQ_REPLACEMENTS_MAX);
    return false;
  }
  if (r->tag[0] && !mtq_name_valid(r->tag)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "tag '%s' is not a valid name", r->tag);
    return false;
  }
  task->red = *r;
  if (task->red.copies == 0) {
    task->red.copies = 1; /* requirements or a hedge alone: one copy, placed */
  }
  if (task->red.hedge_ms && (task->red.copies != 1 || task->red.pick != MTQ_PICK_FIRST)) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "a hedge applies to a task of one copy picked first (got %d copies, pick %s)",
                  task->red.copies, mtq_pick_name(task->red.pick));
    return false;
  }
  return true;
}

/* MongoDB and FerretDB both refuse, or treat specially, field names that
 * start with '$' or contain '.'; refusing them here gives a clear message
 * instead of a server error, and bounds the nesting depth. */
static bool check_keys(const bson_t *doc, const char *what, int depth, bson_error_t *error) {
  if (depth > MAX_DEPTH) {
    mtq_error_set(error, MTQ_ERR_INVALID, "%s: nested deeper than %d levels", what, MAX_DEPTH);
    return false;
  }
  bson_iter_t it;
  if (!bson_iter_init(&it, doc)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "%s: corrupt BSON", what);
    return false;
  }
  while (bson_iter_next(&it)) {
    const char *key = bson_iter_key(&it);
    if (key[0] == '$' || strchr(key, '.')) {
      mtq_error_set(error, MTQ_ERR_INVALID,
                    "%s: field name '%s' may not start with '$' or contain '.'", what, key);
      return false;
    }
    /* libbson prints a later date as an ISO string with a five-digit year,
     * which its own parser refuses: a task echoing it would fail. */
    if (BSON_ITER_HOLDS_DATE_TIME(&it) && bson_iter_date_time(&it) > MAX_JSON_DATE_MS) {
      mtq_error_set(error, MTQ_ERR_INVALID, "%s: field '%s' is a date after the year 9999", what,
                    key);
      return false;
    }
    if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
      uint32_t len;
      const uint8_t *data;
      bson_t sub;
      if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
        bson_iter_document(&it, &len, &data);
      } else {
        bson_iter_array(&it, &len, &data);
      }
      if (!bson_init_static(&sub, data, len) || !check_keys(&sub, what, depth + 1, error)) {
        if (!error || !error->code) {
          mtq_error_set(error, MTQ_ERR_INVALID, "%s: corrupt BSON", what);
        }
        return false;
      }
    }
  }
  return true;
}

/* Index just past the JSON object starting at json[i] ('{'), or len when it
 * does not close.  Strings and escapes are skipped so braces inside them do
 * not count. */
static size_t object_end(const char *json, size_t len, size_t i) {
  int depth = 0;
  bool in_string = false;
  for (; i < len; i++) {
    char c = json[i];
    if (in_string) {
      if (c == '\\') {
        i++;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      depth++;
    } else if ((c == '}' || c == ']') && --depth == 0) {
      return i + 1;
    }
  }
  return len;
}

bool mtq_json_to_doc(const char *json, size_t len, size_t max_bytes, bson_t *out,
                     bson_error_t *error) {
  bson_init(out);
  size_t i = 0;
  while (i < len && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r')) {
    i++;
  }
  if (i == len || json[i] != '{') {
    mtq_error_set(error, MTQ_ERR_INVALID, "expected a JSON object ({...})");
    return false;
  }
  /* libbson parses the first object and ignores a second one: refuse
   * anything but white space after the object. */
  for (size_t j = object_end(json, len, i); j < len; j++) {
    if (json[j] != ' ' && json[j] != '\t' && json[j] != '\n' && json[j] != '\r') {
      mtq_error_set(error, MTQ_ERR_INVALID, "malformed JSON: text after the object at offset %zu",
                    j);
      return false;
    }
  }
  bson_error_t perr;
  bson_destroy(out);
  if (!bson_init_from_json(out, json, (ssize_t)len, &perr)) {
    bson_init(out);
    mtq_error_set(error, MTQ_ERR_INVALID, "malformed JSON: %s", perr.message);
    return false;
  }
  if (out->len > max_bytes) {
    mtq_error_set(error, MTQ_ERR_TOO_LARGE, "document is %u bytes, larger than the limit of %zu",
                  out->len, max_bytes);
    return false;
  }
  if (!check_keys(out, "document", 0, error)) {
    return false;
  }
  /* libbson's parser takes an over-long NUL ("\xc0\x80", as Java writes
   * one) inside a string, but cannot print it back: the worker would hand
   * the task {} instead of its args, and the CLI would have nothing to show.
   * What does not print is refused here, where the sender still hears of it. */
  char *printed = bson_as_relaxed_extended_json(out, NULL);
  if (!printed) {
    mtq_error_set(error, MTQ_ERR_INVALID, "malformed JSON: a string is not valid UTF-8");
    return false;
  }
  bson_free(printed);
  return true;
}

static bool copy_name(char *dst, const char *src, const char *what, bson_error_t *error) {
  if (!mtq_name_valid(src)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "%s '%s' is not valid (1-64 of A-Z a-z 0-9 _ . -)", what,
                  src ? src : "");
    return false;
  }
  bson_strncpy(dst, src, MTQ_NAME_MAX + 1);
  return true;
}

bool mtq_task_build(mtq_task_t *task, const mtq_enqueue_opts_t *opts, int64_t now_ms,
                    bson_error_t *error) {
  if (!copy_name(task->channel, opts->channel, "channel", error) ||
      !copy_name(task->func, opts->func, "function", error) ||
      !copy_name(task->version, opts->version ? opts->version : "1", "version", error)) {
    return false;
  }
  if (opts->priority < MTQ_PRIORITY_MIN || opts->priority > MTQ_PRIORITY_MAX) {
    mtq_error_set(error, MTQ_ERR_INVALID, "priority %d is out of range %d..%d", opts->priority,
                  MTQ_PRIORITY_MIN, MTQ_PRIORITY_MAX);
    return false;
  }
  if (opts->delay_ms < 0 || opts->delay_ms > MTQ_MAX_DELAY_MS || opts->timeout_s < 0 ||
      opts->max_attempts < 0 || opts->max_attempts > MTQ_MAX_ATTEMPTS) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "delay must be 0..%lld s, timeout not negative, max attempts 0..%d",
                  (long long)(MTQ_MAX_DELAY_MS / 1000), MTQ_MAX_ATTEMPTS);
    return false;
  }
  if (opts->backoff_ms < 0 || opts->backoff_max_ms < 0 ||
      (opts->backoff_ms && opts->backoff_max_ms && opts->backoff_max_ms < opts->backoff_ms)) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "retry backoff must be positive and its maximum not below its start");
    return false;
  }
  if (opts->dedupe_key && (!opts->dedupe_key[0] ||
                           strlen(opts->dedupe_key) > MTQ_DEDUPE_KEY_MAX ||
                           !bson_utf8_validate(opts->dedupe_key, strlen(opts->dedupe_key), false))) {
    mtq_error_set(error, MTQ_ERR_INVALID, "dedupe key must be 1..%d bytes of UTF-8",
                  MTQ_DEDUPE_KEY_MAX);
    return false;
  }
  if (!build_redundancy(task, &opts->red, error)) {
    return false;
  }
  const char *json = opts->args_json ? opts->args_json : "{}";
  bson_t args;
  bson_error_t jerr;
  if (!mtq_json_to_doc(json, strlen(json), MTQ_ARGS_MAX_BYTES, &args, &jerr)) {
    bson_destroy(&args);
    mtq_error_set(error, jerr.code, "args: %s", jerr.message);
    return false;
  }
  if (task->args) {
    bson_destroy(task->args);
  }
  task->args = bson_copy(&args);
  bson_destroy(&args);
  bson_oid_init(&task->id, NULL);
  task->priority = opts->priority;
  task->is_enable = true;
  task->status = opts->delay_ms > 0 ? MTQ_STATE_DELAYED : MTQ_STATE_QUEUED;
  task->attempt = 0;
  task->max_attempts = opts->max_attempts ? opts->max_attempts : MTQ_DEFAULT_MAX_ATTEMPTS;
  task->timeout_s = opts->timeout_s ? opts->timeout_s : MTQ_DEFAULT_TIMEOUT_S;
  task->token = 0;
  task->backoff_ms = opts->backoff_ms ? opts->backoff_ms : MTQ_DEFAULT_BACKOFF_MS;
  task->backoff_max_ms = opts->backoff_max_ms ? opts->backoff_max_ms
                                              : BSON_MAX(task->backoff_ms, MTQ_DEFAULT_BACKOFF_MAX_MS);
  bson_strncpy(task->dedupe_key, opts->dedupe_key ? opts->dedupe_key : "",
               sizeof task->dedupe_key);
  task->created_at = now_ms;
  task->not_before = now_ms + opts->delay_ms;
  return true;
}

bool mtq_task_from_template(mtq_task_t *task, const bson_t *tmpl, int64_t now_ms,
                            const char *dedupe_key, bson_error_t *error) {
  if (!mtq_task_from_bson(task, tmpl, NULL, error)) {
    return false;
  }
  int64_t delay_ms = task->not_before > task->created_at ? task->not_before - task->created_at : 0;
  if (dedupe_key && strlen(dedupe_key) > MTQ_DEDUPE_KEY_MAX) {
    mtq_error_set(error, MTQ_ERR_INVALID, "dedupe key must be 1..%d bytes", MTQ_DEDUPE_KEY_MAX);
    return false;
  }
  bson_oid_init(&task->id, NULL);
  task->status = delay_ms > 0 ? MTQ_STATE_DELAYED : MTQ_STATE_QUEUED;
  task->attempt = 0;
  task->token = 0;
  task->created_at = now_ms;
  task->not_before = now_ms + delay_ms;
  task->claimed_at = task->finished_at = 0;
  task->worker[0] = task->sig_key[0] = task->sig[0] = task->seg[0] = '\0';
  task->moved = false;
  if (task->result) {
    bson_destroy(task->result);
    task->result = NULL;
  }
  bson_free(task->error);
  task->error = NULL;
  if (task->errors) {
    bson_destroy(task->errors);
    task->errors = NULL;
  }
  if (task->copies) {
    bson_destroy(task->copies);
    task->copies = NULL;
  }
  if (dedupe_key) {
    bson_strncpy(task->dedupe_key, dedupe_key, sizeof task->dedupe_key);
  }
  return true;
}

bool mtq_task_template_copy(const bson_iter_t *it, bson_t **out, bson_error_t *error) {
  uint32_t len;
  const uint8_t *data;
  bson_iter_document(it, &len, &data);
  *out = data ? bson_new_from_data(data, len) : NULL;
  mtq_task_t t;
  mtq_task_init(&t);
  bool ok = *out && mtq_task_from_bson(&t, *out, NULL, error);
  mtq_task_cleanup(&t);
  if (!*out) {
    mtq_error_set(error, MTQ_ERR_INVALID, "not a document");
  } else if (!ok) {
    bson_destroy(*out);
    *out = NULL;
  }
  return ok;
}

mtq_state_t mtq_task_state(const mtq_task_t *task) {
  if (!task->is_enable && mtq_state_is_waiting(task->status)) {
    return MTQ_STATE_DISABLED;
  }
  return task->status;
}

bool mtq_task_check_move(const mtq_task_t *task, mtq_state_t to, const char *action,
                         bson_error_t *error) {
  mtq_state_t from = mtq_task_state(task);
  if (mtq_state_can_move(from, to)) {
    return true;
  }
  char hex[25];
  bson_oid_to_string(&task->id, hex);
  mtq_error_set(error, MTQ_ERR_STATE, "task %s is %s: cannot %s it", hex, mtq_state_name(from),
                action);
  return false;
}

int64_t mtq_task_backoff(const mtq_task_t *task, double r) {
  int64_t base = task->backoff_ms > 0 ? task->backoff_ms : MTQ_DEFAULT_BACKOFF_MS;
  int64_t cap = task->backoff_max_ms > 0 ? task->backoff_max_ms : MTQ_DEFAULT_BACKOFF_MAX_MS;
  int64_t d = base;
  for (int32_t i = 1; i < task->attempt && d < cap; i++) {
    d *= 2;
  }
  d = BSON_MIN(d, cap);
  if (r < 0 || r >= 1) {
    r = 0;
  }
  return d / 2 + (int64_t)((double)(d - d / 2) * r);
}

void mtq_task_add_error(mtq_task_t *task, const char *error_text, int64_t at_ms) {
  bson_t *arr = bson_new();
  uint32_t n = 0;
  bson_iter_t it;
  if (task->errors && bson_iter_init(&it, task->errors)) {
    /* Keeps the last MTQ_MAX_ATTEMPTS entries: an operator's retries of a
     * dead task must not grow the document without bound. */
    uint32_t total = bson_count_keys(task->errors), skip = 0;
    if (total >= MTQ_MAX_ATTEMPTS) {
      skip = total - MTQ_MAX_ATTEMPTS + 1;
    }
    while (bson_iter_next(&it)) {
      if (skip) {
        skip--;
        continue;
      }
      char key[16];
      const char *k;
      bson_uint32_to_string(n++, &k, key, sizeof key);
      bson_append_iter(arr, k, -1, &it);
    }
  }
  char key[16];
  const char *k;
  bson_uint32_to_string(n, &k, key, sizeof key);
  bson_t one;
  BSON_APPEND_DOCUMENT_BEGIN(arr, k, &one);
  BSON_APPEND_INT32(&one, "attempt", task->attempt);
  if (task->worker[0]) {
    BSON_APPEND_UTF8(&one, "worker", task->worker);
  } else {
    BSON_APPEND_NULL(&one, "worker");
  }
  BSON_APPEND_UTF8(&one, "error", error_text ? error_text : "failed");
  BSON_APPEND_DATE_TIME(&one, "at", at_ms);
  bson_append_document_end(arr, &one);
  if (task->errors) {
    bson_destroy(task->errors);
  }
  task->errors = arr;
}

void mtq_bson_append_date_or_null(bson_t *doc, const char *key, int64_t ms) {
  if (ms) {
    BSON_APPEND_DATE_TIME(doc, key, ms);
  } else {
    BSON_APPEND_NULL(doc, key);
  }
}

void mtq_bson_append_name_or_null(bson_t *doc, const char *key, const char *text) {
  if (text && text[0]) {
    BSON_APPEND_UTF8(doc, key, text);
  } else {
    BSON_APPEND_NULL(doc, key);
  }
}

bool mtq_bson_next_doc(bson_iter_t *it, bson_t *doc) {
  while (bson_iter_next(it)) {
    uint32_t len;
    const uint8_t *data;
    if (!BSON_ITER_HOLDS_DOCUMENT(it)) {
      continue;
    }
    bson_iter_document(it, &len, &data);
    if (bson_init_static(doc, data, len)) {
      return true;
    }
  }
  return false;
}

/* --- lists ---------------------------------------------------------------- */

void mtq_task_list_init(mtq_task_list_t *list) { memset(list, 0, sizeof *list); }

mtq_task_t *mtq_task_list_push(mtq_task_list_t *list) {
  if (list->n == list->cap) {
    list->cap = list->cap ? list->cap * 2 : 16;
    list->items = bson_realloc(list->items, list->cap * sizeof *list->items);
  }
  mtq_task_t *t = &list->items[list->n++];
  mtq_task_init(t);
  return t;
}

void mtq_task_list_pop(mtq_task_list_t *list) {
  if (list->n) {
    mtq_task_cleanup(&list->items[--list->n]);
  }
}

void mtq_task_list_cleanup(mtq_task_list_t *list) {
  for (size_t i = 0; i < list->n; i++) {
    mtq_task_cleanup(&list->items[i]);
  }
  bson_free(list->items);
  mtq_task_list_init(list);
}
