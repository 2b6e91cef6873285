/* function_doc.c - the documents of the function registry and the view of
 * them (see mtq_function.h). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "mtq_function.h"

static const char *const state_names[] = {
#define MTQ__FUNCTION_STATE_NAME(e, s) s,
    MTQ_FUNCTION_STATE_MAP(MTQ__FUNCTION_STATE_NAME)
#undef MTQ__FUNCTION_STATE_NAME
};
#define N_STATES (sizeof state_names / sizeof state_names[0])

const char *mtq_function_state_name(mtq_function_state_t state) {
  return state >= 0 && (size_t)state < N_STATES ? state_names[state] : "unknown";
}

static mtq_function_state_t state_parse(const char *name) {
  for (size_t i = 0; i < N_STATES; i++) {
    if (strcmp(name, state_names[i]) == 0) {
      return (mtq_function_state_t)i;
    }
  }
  return MTQ_FUNCTION_STATE_UNKNOWN;
}

void mtq_function_record_init(mtq_function_record_t *r) {
  memset(r, 0, sizeof *r);
  r->state = MTQ_FUNCTION_STATE_UNKNOWN;
}

static void argv_free(char **argv) {
  for (size_t i = 0; argv && argv[i]; i++) {
    bson_free(argv[i]);
  }
  bson_free(argv);
}

void mtq_function_record_cleanup(mtq_function_record_t *r) {
  bson_free(r->description);
  bson_free(r->developer);
  bson_free(r->contact);
  argv_free(r->command);
  bson_free(r->source);
  bson_free(r->why);
  mtq_function_record_init(r);
}

void mtq_function_record_id(const char *name, const char *version, const char *worker, char *out,
                            size_t size) {
  bson_snprintf(out, size, "%s@%s/%s", name, version, worker);
}

static void append_text(bson_t *doc, const char *key, const char *text) {
  if (text) {
    BSON_APPEND_UTF8(doc, key, text);
  } else {
    BSON_APPEND_NULL(doc, key);
  }
}

void mtq_function_record_to_bson(const mtq_function_record_t *r, bson_t *doc) {
  char id[MTQ_FUNCTION_ID_MAX];
  mtq_function_record_id(r->name, r->version, r->worker, id, sizeof id);
  BSON_APPEND_UTF8(doc, "_id", id);
  BSON_APPEND_UTF8(doc, "name", r->name);
  BSON_APPEND_UTF8(doc, "version", r->version);
  BSON_APPEND_UTF8(doc, "worker", r->worker);
  BSON_APPEND_UTF8(doc, "state", mtq_function_state_name(r->state));
  BSON_APPEND_DATE_TIME(doc, "created_at", r->created_at_ms);
  BSON_APPEND_DATE_TIME(doc, "updated_at", r->updated_at_ms);
  if (r->state == MTQ_FUNCTION_STATE_SERVED) {
    append_text(doc, "description", r->description);
    append_text(doc, "developer", r->developer);
    append_text(doc, "contact", r->contact);
    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(doc, "command", &arr);
    for (size_t i = 0; r->command && r->command[i]; i++) {
      char key[16];
      const char *k;
      bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
      BSON_APPEND_UTF8(&arr, k, r->command[i]);
    }
    bson_append_array_end(doc, &arr);
    append_text(doc, "source", r->source);
    BSON_APPEND_UTF8(doc, "from", r->from_dir ? "function_dir" : "config");
    BSON_APPEND_UTF8(doc, "digest", r->digest);
  } else {
    BSON_APPEND_UTF8(doc, "channel", r->channel);
    BSON_APPEND_INT64(doc, "tasks_seen", r->tasks_seen);
    mtq_bson_append_date_or_null(doc, "last_sync_at", r->last_sync_at_ms);
    append_text(doc, "why", r->why);
  }
}

/* A string field as an owned copy, NULL when absent or not a string. */
static char *text_of(const bson_t *doc, const char *key) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it)) {
    return bson_strdup(bson_iter_utf8(&it, NULL));
  }
  return NULL;
}

static bool name_of(const bson_t *doc, const char *key, char *out) {
  char *s = text_of(doc, key);
  bool ok = s && mtq_name_valid(s);
  if (ok) {
    bson_strncpy(out, s, MTQ_NAME_MAX + 1);
  }
  bson_free(s);
  return ok;
}

static int64_t date_of(const bson_t *doc, const char *key) {
  bson_iter_t it;
  return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_DATE_TIME(&it)
             ? bson_iter_date_time(&it)
             : 0;
}

static char **argv_of(const bson_t *doc, const char *key) {
  bson_iter_t it, child;
  if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_ARRAY(&it) ||
      !bson_iter_recurse(&it, &child)) {
    return NULL;
  }
  size_t n = 0;
  char **argv = bson_malloc0(sizeof *argv);
  while (bson_iter_next(&child)) {
    if (BSON_ITER_HOLDS_UTF8(&child)) {
      argv = bson_realloc(argv, (n + 2) * sizeof *argv);
      argv[n++] = bson_strdup(bson_iter_utf8(&child, NULL));
      argv[n] = NULL;
    }
  }
  return argv;
}

bool mtq_function_record_from_bson(mtq_function_record_t *r, const bson_t *doc) {
  mtq_function_record_cleanup(r);
  char *state = text_of(doc, "state");
  r->state = state ? state_parse(state) : MTQ_FUNCTION_STATE_UNKNOWN;
  bson_free(state);
  if (!name_of(doc, "name", r->name) || !name_of(doc, "version", r->version) ||
      !name_of(doc, "worker", r->worker) || r->state == MTQ_FUNCTION_STATE_UNKNOWN) {
    return false;
  }
  r->created_at_ms = date_of(doc, "created_at");
  r->updated_at_ms = date_of(doc, "updated_at");
  r->description = text_of(doc, "description");
  r->developer = text_of(doc, "developer");
  r->contact = text_of(doc, "contact");
  r->command = argv_of(doc, "command");
  r->source = text_of(doc, "source");
  char *from = text_of(doc, "from");
  r->from_dir = from && strcmp(from, "function_dir") == 0;
  bson_free(from);
  char *digest = text_of(doc, "digest");
  if (digest && strlen(digest) == MTQ_DIGEST_HEX) {
    bson_strncpy(r->digest, digest, sizeof r->digest);
  }
  bson_free(digest);
  name_of(doc, "channel", r->channel);
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, "tasks_seen") && BSON_ITER_HOLDS_NUMBER(&it)) {
    r->tasks_seen = bson_iter_as_int64(&it);
  }
  r->last_sync_at_ms = date_of(doc, "last_sync_at");
  r->why = text_of(doc, "why");
  return true;
}

static bool text_same(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool argv_same(char *const *a, char *const *b) {
  size_t i = 0;
  for (; a && b && a[i] && b[i]; i++) {
    if (strcmp(a[i], b[i]) != 0) {
      return false;
    }
  }
  return (!a || !a[i]) && (!b || !b[i]);
}

bool mtq_function_record_same(const mtq_function_record_t *a, const mtq_function_record_t *b) {
  return strcmp(a->name, b->name) == 0 && strcmp(a->version, b->version) == 0 &&
         strcmp(a->worker, b->worker) == 0 && a->state == b->state &&
         text_same(a->description, b->description) && text_same(a->developer, b->developer) &&
         text_same(a->contact, b->contact) && argv_same(a->command, b->command) &&
         text_same(a->source, b->source) && a->from_dir == b->from_dir &&
         strcmp(a->digest, b->digest) == 0 && strcmp(a->channel, b->channel) == 0 &&
         a->tasks_seen == b->tasks_seen && a->last_sync_at_ms == b->last_sync_at_ms &&
         text_same(a->why, b->why);
}

void mtq_function_record_list_init(mtq_function_record_list_t *list) {
  memset(list, 0, sizeof *list);
}

mtq_function_record_t *mtq_function_record_list_push(mtq_function_record_list_t *list) {
  list->items = bson_realloc(list->items, (list->n + 1) * sizeof *list->items);
  mtq_function_record_t *r = &list->items[list->n++];
  mtq_function_record_init(r);
  return r;
}

void mtq_function_record_list_cleanup(mtq_function_record_list_t *list) {
  for (size_t i = 0; i < list->n; i++) {
    mtq_function_record_cleanup(&list->items[i]);
  }
  bson_free(list->items);
  mtq_function_record_list_init(list);
}

int mtq_function_version_cmp(const char *a, const char *b) {
  while (*a && *b) {
    if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
      while (*a == '0') {
        a++;
      }
      while (*b == '0') {
        b++;
      }
      size_t la = 0, lb = 0;
      while (isdigit((unsigned char)a[la])) {
        la++;
      }
      while (isdigit((unsigned char)b[lb])) {
        lb++;
      }
      if (la != lb) {
        return la < lb ? -1 : 1;
      }
      int c = strncmp(a, b, la);
      if (c != 0) {
        return c;
      }
      a += la;
      b += lb;
    } else {
      if (*a != *b) {
        return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
      }
      a++;
      b++;
    }
  }
  return *a ? 1 : *b ? -1 : 0;
}

/* --- the view ------------------------------------------------------------ */

/* The records of one version, as indexes into the record list. */
typedef struct {
  const char *name;
  const char *version;
  size_t *idx;
  size_t n;
} version_t;

static int by_version(const void *x, const void *y) {
  const version_t *a = x, *b = y;
  int c = strcmp(a->name, b->name);
  return c ? c : mtq_function_version_cmp(a->version, b->version);
}

static version_t *version_find(version_t *v, size_t n, const char *name, const char *version) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(v[i].name, name) == 0 && strcmp(v[i].version, version) == 0) {
      return &v[i];
    }
  }
  return NULL;
}

static bool live_serves(const mtq_whoami_t *w, const char *name, const char *version) {
  return w && w->state == MTQ_WORKER_STATE_RUNNING && mtq_whoami_serves(w, name, version);
}

/* A missing record of a worker that runs: one that stopped wants nothing. */
static bool wants_live(const mtq_function_record_t *r, const mtq_whoami_list_t *workers) {
  const mtq_whoami_t *w = mtq_whoami_list_find(workers, r->worker);
  return r->state == MTQ_FUNCTION_STATE_MISSING && w && w->state == MTQ_WORKER_STATE_RUNNING;
}

/* Whether the view shows the version: something serves or served it, or a
 * running worker wants it. */
static bool shown(const version_t *v, const mtq_function_record_list_t *records,
                  const mtq_whoami_list_t *workers) {
  if (v->n == 0) {
    return true; /* announced in whoami */
  }
  for (size_t k = 0; k < v->n; k++) {
    const mtq_function_record_t *r = &records->items[v->idx[k]];
    if (r->state == MTQ_FUNCTION_STATE_SERVED || wants_live(r, workers)) {
      return true;
    }
  }
  return false;
}

static void append_key(bson_t *arr, uint32_t *i, bson_t *child, bool array) {
  char key[16];
  const char *k;
  bson_uint32_to_string((*i)++, &k, key, sizeof key);
  if (array) {
    BSON_APPEND_ARRAY_BEGIN(arr, k, child);
  } else {
    BSON_APPEND_DOCUMENT_BEGIN(arr, k, child);
  }
}

static void append_entry(bson_t *arr, uint32_t *slot, const version_t *v,
                         const mtq_function_record_list_t *records,
                         const mtq_whoami_list_t *workers) {
  const mtq_function_record_t *newest = NULL;
  int64_t created = 0, updated = 0;
  bool agree = true, any_live = false;
  for (size_t k = 0; k < v->n; k++) {
    const mtq_function_record_t *r = &records->items[v->idx[k]];
    created = created == 0 || (r->created_at_ms && r->created_at_ms < created) ? r->created_at_ms
                                                                               : created;
    updated = r->updated_at_ms > updated ? r->updated_at_ms : updated;
    if (r->state == MTQ_FUNCTION_STATE_SERVED) {
      if (newest && strcmp(newest->digest, r->digest) != 0) {
        agree = false;
      }
      if (!newest || r->updated_at_ms > newest->updated_at_ms) {
        newest = r;
      }
      any_live = any_live ||
                 live_serves(mtq_whoami_list_find(workers, r->worker), v->name, v->version);
    }
  }
  for (size_t i = 0; i < workers->n; i++) {
    any_live = any_live || live_serves(&workers->items[i], v->name, v->version);
  }
  bson_t e, list, one;
  append_key(arr, slot, &e, false);
  BSON_APPEND_UTF8(&e, "name", v->name);
  BSON_APPEND_UTF8(&e, "version", v->version);
  append_text(&e, "description", newest ? newest->description : NULL);
  append_text(&e, "developer", newest ? newest->developer : NULL);
  append_text(&e, "contact", newest ? newest->contact : NULL);
  if (newest && newest->command) {
    bson_t cmd;
    uint32_t c = 0;
    BSON_APPEND_ARRAY_BEGIN(&e, "command", &cmd);
    for (size_t i = 0; newest->command[i]; i++) {
      char key[16];
      const char *k;
      bson_uint32_to_string(c++, &k, key, sizeof key);
      BSON_APPEND_UTF8(&cmd, k, newest->command[i]);
    }
    bson_append_array_end(&e, &cmd);
  } else {
    BSON_APPEND_NULL(&e, "command");
  }
  append_text(&e, "digest", newest && newest->digest[0] ? newest->digest : NULL);
  BSON_APPEND_BOOL(&e, "digests_agree", agree);
  mtq_bson_append_date_or_null(&e, "created_at", created);
  mtq_bson_append_date_or_null(&e, "updated_at", updated);
  BSON_APPEND_BOOL(&e, "live", any_live);

  uint32_t n = 0;
  BSON_APPEND_ARRAY_BEGIN(&e, "workers", &list);
  for (size_t k = 0; k < v->n; k++) {
    const mtq_function_record_t *r = &records->items[v->idx[k]];
    if (r->state != MTQ_FUNCTION_STATE_SERVED) {
      continue;
    }
    append_key(&list, &n, &one, false);
    BSON_APPEND_UTF8(&one, "id", r->worker);
    BSON_APPEND_BOOL(&one, "live",
                     live_serves(mtq_whoami_list_find(workers, r->worker), v->name, v->version));
    append_text(&one, "digest", r->digest[0] ? r->digest : NULL);
    append_text(&one, "source", r->source);
    mtq_bson_append_date_or_null(&one, "updated_at", r->updated_at_ms);
    bson_append_document_end(&list, &one);
  }
  /* Workers that announce the version without a record of it. */
  for (size_t i = 0; i < workers->n; i++) {
    const mtq_whoami_t *w = &workers->items[i];
    bool recorded = false;
    for (size_t k = 0; k < v->n && !recorded; k++) {
      const mtq_function_record_t *r = &records->items[v->idx[k]];
      recorded = r->state == MTQ_FUNCTION_STATE_SERVED && strcmp(r->worker, w->id) == 0;
    }
    if (recorded || !mtq_whoami_serves(w, v->name, v->version)) {
      continue;
    }
    append_key(&list, &n, &one, false);
    BSON_APPEND_UTF8(&one, "id", w->id);
    BSON_APPEND_BOOL(&one, "live", live_serves(w, v->name, v->version));
    BSON_APPEND_NULL(&one, "digest");
    BSON_APPEND_NULL(&one, "source");
    BSON_APPEND_NULL(&one, "updated_at");
    bson_append_document_end(&list, &one);
  }
  bson_append_array_end(&e, &list);

  n = 0;
  BSON_APPEND_ARRAY_BEGIN(&e, "missing", &list);
  for (size_t k = 0; k < v->n && !any_live; k++) {
    const mtq_function_record_t *r = &records->items[v->idx[k]];
    if (!wants_live(r, workers)) {
      continue;
    }
    append_key(&list, &n, &one, false);
    BSON_APPEND_UTF8(&one, "worker", r->worker);
    BSON_APPEND_UTF8(&one, "channel", r->channel);
    BSON_APPEND_DATE_TIME(&one, "since", r->created_at_ms);
    mtq_bson_append_date_or_null(&one, "last_sync_at", r->last_sync_at_ms);
    BSON_APPEND_INT64(&one, "tasks_seen", r->tasks_seen);
    append_text(&one, "why", r->why);
    bson_append_document_end(&list, &one);
  }
  bson_append_array_end(&e, &list);
  bson_append_document_end(arr, &e);
}

void mtq_function_registry(const mtq_function_record_list_t *records,
                           const mtq_whoami_list_t *workers, bson_t *out) {
  /* Every version named by a record or announced in whoami. */
  size_t cap = records->n + 1;
  for (size_t i = 0; i < workers->n; i++) {
    cap += workers->items[i].n_functions;
  }
  version_t *v = bson_malloc0(cap * sizeof *v);
  size_t n = 0;
  for (size_t i = 0; i < records->n; i++) {
    const mtq_function_record_t *r = &records->items[i];
    version_t *e = version_find(v, n, r->name, r->version);
    if (!e) {
      e = &v[n++];
      e->name = r->name;
      e->version = r->version;
    }
    e->idx = bson_realloc(e->idx, (e->n + 1) * sizeof *e->idx);
    e->idx[e->n++] = i;
  }
  for (size_t i = 0; i < workers->n; i++) {
    const mtq_whoami_t *w = &workers->items[i];
    for (size_t f = 0; f < w->n_functions; f++) {
      if (!version_find(v, n, w->functions[f].name, w->functions[f].version)) {
        v[n].name = w->functions[f].name;
        v[n].version = w->functions[f].version;
        n++;
      }
    }
  }
  qsort(v, n, sizeof *v, by_version);
  bson_t arr;
  uint32_t slot = 0;
  BSON_APPEND_ARRAY_BEGIN(out, "functions", &arr);
  for (size_t i = 0; i < n; i++) {
    if (shown(&v[i], records, workers)) {
      append_entry(&arr, &slot, &v[i], records, workers);
    }
    bson_free(v[i].idx);
  }
  bson_append_array_end(out, &arr);
  bson_free(v);
}
