/* flow.c - the flow document and its state tables (see mtq_flow.h and
 * schemas/flow.schema.json). */
#include <string.h>

#include "mtq_error.h"
#include "mtq_flow.h"
#include "mtq_schedule.h"

/* --- state tables ----------------------------------------------------------------- */

static const char *const flow_names[] = {
#define MTQ__FLOW_NAME(e, s, t) s,
    MTQ_FLOW_STATE_MAP(MTQ__FLOW_NAME)
#undef MTQ__FLOW_NAME
};
static const bool flow_terminal[] = {
#define MTQ__FLOW_TERMINAL(e, s, t) t,
    MTQ_FLOW_STATE_MAP(MTQ__FLOW_TERMINAL)
#undef MTQ__FLOW_TERMINAL
};
static const char *const step_names[] = {
#define MTQ__STEP_NAME(e, s, t) s,
    MTQ_STEP_STATE_MAP(MTQ__STEP_NAME)
#undef MTQ__STEP_NAME
};
static const bool step_terminal[] = {
#define MTQ__STEP_TERMINAL(e, s, t) t,
    MTQ_STEP_STATE_MAP(MTQ__STEP_TERMINAL)
#undef MTQ__STEP_TERMINAL
};

typedef struct {
  int from, to;
  const char *action;
} edge_t;

/* Every change of a flow's state, and of a step's, with its action. */
static const edge_t flow_edges[] = {
    {MTQ_FLOW_RUNNING, MTQ_FLOW_DONE, "finish"},
    {MTQ_FLOW_RUNNING, MTQ_FLOW_FAILED, "fail"},
    {MTQ_FLOW_RUNNING, MTQ_FLOW_CANCELLED, "cancel"},
    {MTQ_FLOW_RUNNING, MTQ_FLOW_SUSPENDED, "suspend"},
    {MTQ_FLOW_SUSPENDED, MTQ_FLOW_RUNNING, "resume"},
    {MTQ_FLOW_SUSPENDED, MTQ_FLOW_CANCELLED, "cancel"},
    {MTQ_FLOW_SUSPENDED, MTQ_FLOW_FAILED, "fail"},
    {MTQ_FLOW_SUSPENDED, MTQ_FLOW_DONE, "finish"},
};
static const edge_t step_edges[] = {
    {MTQ_STEP_WAITING, MTQ_STEP_RUNNING, "start"},
    {MTQ_STEP_WAITING, MTQ_STEP_SKIPPED, "skip"},
    {MTQ_STEP_RUNNING, MTQ_STEP_DONE, "finish"},
    {MTQ_STEP_RUNNING, MTQ_STEP_FAILED, "fail"},
    {MTQ_STEP_RUNNING, MTQ_STEP_CANCELLED, "cancel"},
};

static const char *edge_action(const edge_t *edges, size_t n, int from, int to) {
  for (size_t i = 0; i < n; i++) {
    if (edges[i].from == from && edges[i].to == to) {
      return edges[i].action;
    }
  }
  return NULL;
}

static int parse_name(const char *const *names, int n, const char *name) {
  for (int i = 0; name && i < n; i++) {
    if (strcmp(names[i], name) == 0) {
      return i;
    }
  }
  return -1;
}

const char *mtq_flow_state_name(mtq_flow_state_t s) {
  return s >= 0 && s < MTQ_FLOW_STATE_COUNT ? flow_names[s] : "invalid";
}
mtq_flow_state_t mtq_flow_state_parse(const char *name) {
  return (mtq_flow_state_t)parse_name(flow_names, MTQ_FLOW_STATE_COUNT, name);
}
bool mtq_flow_state_is_terminal(mtq_flow_state_t s) {
  return s >= 0 && s < MTQ_FLOW_STATE_COUNT && flow_terminal[s];
}
const char *mtq_flow_state_action(mtq_flow_state_t from, mtq_flow_state_t to) {
  return edge_action(flow_edges, sizeof flow_edges / sizeof flow_edges[0], from, to);
}
const char *mtq_step_state_name(mtq_step_state_t s) {
  return s >= 0 && s < MTQ_STEP_STATE_COUNT ? step_names[s] : "invalid";
}
mtq_step_state_t mtq_step_state_parse(const char *name) {
  return (mtq_step_state_t)parse_name(step_names, MTQ_STEP_STATE_COUNT, name);
}
bool mtq_step_state_is_terminal(mtq_step_state_t s) {
  return s >= 0 && s < MTQ_STEP_STATE_COUNT && step_terminal[s];
}
const char *mtq_step_state_action(mtq_step_state_t from, mtq_step_state_t to) {
  return edge_action(step_edges, sizeof step_edges / sizeof step_edges[0], from, to);
}

/* --- the flow in memory ------------------------------------------------------------ */

void mtq_flow_init(mtq_flow_t *f) {
  memset(f, 0, sizeof *f);
  f->status = MTQ_FLOW_RUNNING;
}

void mtq_flow_cleanup(mtq_flow_t *f) {
  for (size_t i = 0; i < f->n_steps; i++) {
    mtq_step_t *s = &f->steps[i];
    if (s->task) {
      bson_destroy(s->task);
    }
    bson_free(s->tasks);
    bson_free(s->error);
  }
  bson_free(f->steps);
  bson_free(f->reason);
  mtq_flow_init(f);
}

mtq_step_t *mtq_flow_add_step(mtq_flow_t *f) {
  f->steps = bson_realloc(f->steps, (f->n_steps + 1) * sizeof *f->steps);
  mtq_step_t *s = &f->steps[f->n_steps++];
  memset(s, 0, sizeof *s);
  s->shards = 1;
  s->state = MTQ_STEP_WAITING;
  return s;
}

long mtq_flow_step_index(const mtq_flow_t *f, const char *name) {
  for (size_t i = 0; i < f->n_steps; i++) {
    if (strcmp(f->steps[i].name, name) == 0) {
      return (long)i;
    }
  }
  return -1;
}

/* Depth-first search for a cycle through step i (mark: 0 new, 1 on the
 * path, 2 done). */
static bool cycles(const mtq_flow_t *f, size_t i, char *mark, size_t *at) {
  mark[i] = 1;
  for (size_t k = 0; k < f->steps[i].n_after; k++) {
    size_t p = f->steps[i].after[k];
    if (mark[p] == 1 || (mark[p] == 0 && cycles(f, p, mark, at))) {
      *at = mark[p] == 1 ? p : *at;
      return true;
    }
  }
  mark[i] = 2;
  return false;
}

bool mtq_flow_validate(const mtq_flow_t *f, bson_error_t *error) {
  if (f->n_steps == 0 || f->n_steps > MTQ_FLOW_STEPS_MAX) {
    mtq_error_set(error, MTQ_ERR_INVALID, "a flow has 1 to %d steps, not %zu", MTQ_FLOW_STEPS_MAX,
                  f->n_steps);
    return false;
  }
  for (size_t i = 0; i < f->n_steps; i++) {
    const mtq_step_t *s = &f->steps[i];
    if (!mtq_name_valid(s->name)) {
      mtq_error_set(error, MTQ_ERR_INVALID,
                    "step %zu: its name '%s' must be 1-64 of A-Z a-z 0-9 _ . -", i + 1, s->name);
      return false;
    }
    if (mtq_flow_step_index(f, s->name) != (long)i) {
      mtq_error_set(error, MTQ_ERR_INVALID, "step %s: two steps have that name", s->name);
      return false;
    }
    if (s->shards < 1 || s->shards > MTQ_FLOW_SHARDS_MAX) {
      mtq_error_set(error, MTQ_ERR_INVALID, "step %s: shards must be 1 to %d, not %d", s->name,
                    MTQ_FLOW_SHARDS_MAX, s->shards);
      return false;
    }
    if (!(s->tolerance >= 0 && s->tolerance <= 1)) {
      mtq_error_set(error, MTQ_ERR_INVALID, "step %s: tolerance must be 0 to 1", s->name);
      return false;
    }
    if (!s->task && !s->external && !s->held) {
      mtq_error_set(error, MTQ_ERR_INVALID, "step %s: no task", s->name);
      return false;
    }
    if ((s->external || s->held) && !s->tasks) {
      mtq_error_set(error, MTQ_ERR_INVALID, "step %s: an %s step names its tasks", s->name,
                    s->external ? "external" : "held");
      return false;
    }
    if (s->external && s->n_after) {
      mtq_error_set(error, MTQ_ERR_INVALID, "step %s: an external step comes after nothing",
                    s->name);
      return false;
    }
    for (size_t k = 0; k < s->n_after; k++) {
      if (s->after[k] >= f->n_steps || s->after[k] == i) {
        mtq_error_set(error, MTQ_ERR_INVALID, "step %s: comes after %s", s->name,
                      s->after[k] == i ? "itself" : "a step that does not exist");
        return false;
      }
    }
  }
  char *mark = bson_malloc0(f->n_steps);
  size_t at = 0;
  bool cyclic = false;
  for (size_t i = 0; i < f->n_steps && !cyclic; i++) {
    cyclic = mark[i] == 0 && cycles(f, i, mark, &at);
  }
  bson_free(mark);
  if (cyclic) {
    mtq_error_set(error, MTQ_ERR_INVALID, "step %s: its after leads back to it (a cycle)",
                  f->steps[at].name);
    return false;
  }
  return true;
}

void mtq_flow_shard_key(const bson_oid_t *flow, const char *step, int32_t shard, bool prefix,
                        char out[MTQ_FLOW_KEY_MAX]) {
  char hex[25];
  bson_oid_to_string(flow, hex);
  snprintf(out, MTQ_FLOW_KEY_MAX, "%s%s:%s:%d", prefix ? "flow:" : "", hex, step, (int)shard);
}

/* --- the document ------------------------------------------------------------------- */

static void step_to_bson(const mtq_flow_t *f, const mtq_step_t *s, bson_t *doc) {
  bson_t arr;
  char key[16];
  const char *k;
  BSON_APPEND_UTF8(doc, "name", s->name);
  BSON_APPEND_ARRAY_BEGIN(doc, "after", &arr);
  for (size_t i = 0; i < s->n_after; i++) {
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    BSON_APPEND_UTF8(&arr, k, f->steps[s->after[i]].name);
  }
  bson_append_array_end(doc, &arr);
  BSON_APPEND_INT32(doc, "shards", s->shards);
  BSON_APPEND_DOUBLE(doc, "tolerance", s->tolerance);
  if (s->task) {
    BSON_APPEND_DOCUMENT(doc, "task", s->task);
  }
  if (s->external) {
    BSON_APPEND_BOOL(doc, "external", true);
  }
  if (s->held) {
    BSON_APPEND_BOOL(doc, "held", true);
  }
  BSON_APPEND_UTF8(doc, "state", mtq_step_state_name(s->state));
  mtq_bson_append_date_or_null(doc, "started_at", s->started_at);
  mtq_bson_append_date_or_null(doc, "ended_at", s->ended_at);
  if (s->tasks) {
    BSON_APPEND_ARRAY_BEGIN(doc, "tasks", &arr);
    for (int32_t i = 0; i < s->shards; i++) {
      bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
      BSON_APPEND_OID(&arr, k, &s->tasks[i]);
    }
    bson_append_array_end(doc, &arr);
  } else {
    BSON_APPEND_NULL(doc, "tasks");
  }
  BSON_APPEND_INT32(doc, "shards_done", s->shards_done);
  BSON_APPEND_INT32(doc, "shards_failed", s->shards_failed);
  mtq_bson_append_name_or_null(doc, "error", s->error);
}

void mtq_flow_to_bson(const mtq_flow_t *f, bson_t *doc) {
  BSON_APPEND_OID(doc, "_id", &f->id);
  mtq_bson_append_name_or_null(doc, "name", f->name);
  BSON_APPEND_UTF8(doc, "status", mtq_flow_state_name(f->status));
  mtq_bson_append_name_or_null(doc, "reason", f->reason);
  BSON_APPEND_DATE_TIME(doc, "created_at", f->created_at);
  mtq_bson_append_date_or_null(doc, "finished_at", f->finished_at);
  bson_t arr, step;
  char key[16];
  const char *k;
  BSON_APPEND_ARRAY_BEGIN(doc, "steps", &arr);
  for (size_t i = 0; i < f->n_steps; i++) {
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, k, &step);
    step_to_bson(f, &f->steps[i], &step);
    bson_append_document_end(&arr, &step);
  }
  bson_append_array_end(doc, &arr);
}

/* --- reading it ---------------------------------------------------------------------- */

static bool bad(bson_error_t *error, const char *where, const char *key, const char *want) {
  mtq_error_set(error, MTQ_ERR_INVALID, "flow%s%s: field '%s' must be %s", where[0] ? " " : "",
                where, key, want);
  return false;
}

/* The value of key in doc, or NULL (absent or null). */
static bool find(const bson_t *doc, const char *key, bson_iter_t *it) {
  return bson_iter_init_find(it, doc, key) && !BSON_ITER_HOLDS_NULL(it);
}

static bool read_text(const bson_t *doc, const char *key, const char *where, char **out,
                      bson_error_t *error) {
  bson_iter_t it;
  *out = NULL;
  if (!find(doc, key, &it)) {
    return true;
  }
  if (!BSON_ITER_HOLDS_UTF8(&it)) {
    return bad(error, where, key, "a string or null");
  }
  *out = bson_strdup(bson_iter_utf8(&it, NULL));
  return true;
}

static bool read_date(const bson_t *doc, const char *key, const char *where, bool required,
                      int64_t *out, bson_error_t *error) {
  bson_iter_t it;
  *out = 0;
  if (!find(doc, key, &it)) {
    return !required || bad(error, where, key, "a date");
  }
  if (!BSON_ITER_HOLDS_DATE_TIME(&it) || bson_iter_date_time(&it) < 0 ||
      bson_iter_date_time(&it) > MTQ_DATE_MAX_MS) {
    return bad(error, where, key, "a date from 1970 to 9999");
  }
  *out = bson_iter_date_time(&it);
  return true;
}

static bool read_int(const bson_t *doc, const char *key, const char *where, int64_t lo,
                     int64_t hi, int32_t *out, bson_error_t *error) {
  bson_iter_t it;
  if (!find(doc, key, &it)) {
    return true; /* the default stays */
  }
  if (!BSON_ITER_HOLDS_NUMBER(&it) || bson_iter_as_int64(&it) < lo ||
      bson_iter_as_int64(&it) > hi) {
    char want[64];
    snprintf(want, sizeof want, "a whole number from %lld to %lld", (long long)lo, (long long)hi);
    return bad(error, where, key, want);
  }
  *out = (int32_t)bson_iter_as_int64(&it);
  return true;
}

static bool read_state(const bson_t *doc, const char *where, mtq_step_state_t *out,
                       bson_error_t *error) {
  bson_iter_t it;
  if (!find(doc, "state", &it)) {
    return true;
  }
  *out = BSON_ITER_HOLDS_UTF8(&it) ? mtq_step_state_parse(bson_iter_utf8(&it, NULL))
                                   : MTQ_STEP_STATE_INVALID;
  return *out != MTQ_STEP_STATE_INVALID || bad(error, where, "state", "a step state");
}

/* The names of a step's parents, resolved once every step is read. */
static bool read_after(const bson_t *doc, mtq_step_t *s, bson_t *names, bson_error_t *error) {
  bson_iter_t it, arr;
  if (!find(doc, "after", &it)) {
    return true;
  }
  if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr)) {
    return bad(error, s->name, "after", "an array of step names");
  }
  while (bson_iter_next(&arr)) {
    if (!BSON_ITER_HOLDS_UTF8(&arr) || s->n_after == MTQ_FLOW_AFTER_MAX) {
      return bad(error, s->name, "after", "at most 32 step names");
    }
    char key[16];
    const char *k;
    bson_uint32_to_string((uint32_t)bson_count_keys(names), &k, key, sizeof key);
    BSON_APPEND_UTF8(names, k, bson_iter_utf8(&arr, NULL));
    s->n_after++;
  }
  return true;
}

static bool read_tasks(const bson_t *doc, mtq_step_t *s, bson_error_t *error) {
  bson_iter_t it, arr;
  if (!find(doc, "tasks", &it)) {
    return true;
  }
  if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr)) {
    return bad(error, s->name, "tasks", "an array of ObjectIds");
  }
  s->tasks = bson_malloc0((size_t)s->shards * sizeof *s->tasks);
  int32_t n = 0;
  while (bson_iter_next(&arr)) {
    if (!BSON_ITER_HOLDS_OID(&arr) || n == s->shards) {
      return bad(error, s->name, "tasks", "one ObjectId per shard");
    }
    bson_oid_copy(bson_iter_oid(&arr), &s->tasks[n++]);
  }
  return n == s->shards || bad(error, s->name, "tasks", "one ObjectId per shard");
}

static bool read_step(const bson_t *doc, mtq_step_t *s, bson_t *names, bson_error_t *error) {
  bson_iter_t it;
  if (!find(doc, "name", &it) || !BSON_ITER_HOLDS_UTF8(&it) ||
      bson_iter_utf8_len_unsafe(&it) > MTQ_NAME_MAX) {
    return bad(error, "", "steps[].name", "a name");
  }
  bson_strncpy(s->name, bson_iter_utf8(&it, NULL), sizeof s->name);
  if (!read_int(doc, "shards", s->name, 1, MTQ_FLOW_SHARDS_MAX, &s->shards, error) ||
      !read_state(doc, s->name, &s->state, error) ||
      !read_date(doc, "started_at", s->name, false, &s->started_at, error) ||
      !read_date(doc, "ended_at", s->name, false, &s->ended_at, error) ||
      !read_int(doc, "shards_done", s->name, 0, MTQ_FLOW_SHARDS_MAX, &s->shards_done, error) ||
      !read_int(doc, "shards_failed", s->name, 0, MTQ_FLOW_SHARDS_MAX, &s->shards_failed,
                error) ||
      !read_text(doc, "error", s->name, &s->error, error) ||
      !read_after(doc, s, names, error) || !read_tasks(doc, s, error)) {
    return false;
  }
  if (find(doc, "tolerance", &it)) {
    if (!BSON_ITER_HOLDS_NUMBER(&it)) {
      return bad(error, s->name, "tolerance", "a number from 0 to 1");
    }
    s->tolerance = bson_iter_as_double(&it);
  }
  s->external = find(doc, "external", &it) && BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
  s->held = find(doc, "held", &it) && BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
  if ((s->external || s->held) && !find(doc, "task", &it)) {
    return true;
  }
  if (!find(doc, "task", &it) || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
    return bad(error, s->name, "task", "a task document");
  }
  bson_error_t err;
  if (!mtq_task_template_copy(&it, &s->task, &err)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "flow step %s: field 'task': %s", s->name,
                  err.message);
    return false;
  }
  return true;
}

/* Turns every step's parent names (in order, in names) into indexes. */
static bool resolve_after(mtq_flow_t *f, const bson_t *names, bson_error_t *error) {
  bson_iter_t it;
  if (!bson_iter_init(&it, names)) {
    return false;
  }
  for (size_t i = 0; i < f->n_steps; i++) {
    mtq_step_t *s = &f->steps[i];
    for (size_t k = 0; k < s->n_after; k++) {
      if (!bson_iter_next(&it)) {
        return false;
      }
      long p = mtq_flow_step_index(f, bson_iter_utf8(&it, NULL));
      if (p < 0) {
        mtq_error_set(error, MTQ_ERR_INVALID, "flow step %s: comes after '%s', which is no step",
                      s->name, bson_iter_utf8(&it, NULL));
        return false;
      }
      s->after[k] = (size_t)p;
    }
  }
  return true;
}

bool mtq_flow_from_bson(mtq_flow_t *f, const bson_t *doc, bson_error_t *error) {
  bson_iter_t it, arr;
  if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_OID(&it)) {
    return bad(error, "", "_id", "an ObjectId");
  }
  bson_oid_copy(bson_iter_oid(&it), &f->id);
  char *name = NULL;
  if (!read_text(doc, "name", "", &name, error)) {
    return false;
  }
  bool name_ok = !name || (strlen(name) <= MTQ_NAME_MAX && mtq_name_valid(name));
  if (name_ok && name) {
    bson_strncpy(f->name, name, sizeof f->name);
  }
  bson_free(name);
  if (!name_ok) {
    return bad(error, "", "name", "a name (1-64 of A-Z a-z 0-9 _ . -) or null");
  }
  if (!find(doc, "status", &it) || !BSON_ITER_HOLDS_UTF8(&it) ||
      (f->status = mtq_flow_state_parse(bson_iter_utf8(&it, NULL))) == MTQ_FLOW_STATE_INVALID) {
    return bad(error, "", "status", "a flow state");
  }
  if (!read_text(doc, "reason", "", &f->reason, error) ||
      !read_date(doc, "created_at", "", true, &f->created_at, error) ||
      !read_date(doc, "finished_at", "", false, &f->finished_at, error)) {
    return false;
  }
  if (!find(doc, "steps", &it) || !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr)) {
    return bad(error, "", "steps", "an array of steps");
  }
  bson_t names = BSON_INITIALIZER, step;
  bool ok = true;
  while (ok && bson_iter_next(&arr)) {
    if (f->n_steps == MTQ_FLOW_STEPS_MAX || !BSON_ITER_HOLDS_DOCUMENT(&arr)) {
      ok = bad(error, "", "steps", "at most 256 documents");
      break;
    }
    uint32_t len;
    const uint8_t *data;
    bson_iter_document(&arr, &len, &data);
    ok = bson_init_static(&step, data, len) &&
         read_step(&step, mtq_flow_add_step(f), &names, error);
  }
  ok = ok && resolve_after(f, &names, error) && mtq_flow_validate(f, error);
  bson_destroy(&names);
  return ok;
}
