/* metrics.c - a process's counters, gauges and histograms (mtq_metrics.h).
 *
 * A registry is a flat array of series searched linearly: a process has a
 * few dozen of them (its channels times its functions, the database
 * commands it sends), events come at most a few per task, and a scan of a
 * few dozen short strings costs less than the lock around it. */
#include <pthread.h>
#include <string.h>

#include "mtq_metrics.h"

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM, KIND_COUNT } kind_t;

static const double bounds[MTQ_METRICS_N_BOUNDS] = {MTQ_METRICS_BOUNDS};

typedef struct {
  kind_t kind;
  char name[MTQ_METRICS_NAME_MAX + 1];
  size_t n_labels;
  char *keys[MTQ_METRICS_LABELS_MAX];
  char *values[MTQ_METRICS_LABELS_MAX];
  double value;                               /* counter, gauge */
  int64_t counts[MTQ_METRICS_N_BOUNDS + 1];   /* histogram: per bucket, last +Inf */
  double sum;
  int64_t count;
} series_t;

struct mtq_metrics {
  pthread_mutex_t lock;
  series_t *items;
  size_t n, cap;
};

mtq_metrics_t *mtq_metrics_new(void) {
  mtq_metrics_t *m = bson_malloc0(sizeof *m);
  pthread_mutex_init(&m->lock, NULL);
  return m;
}

void mtq_metrics_destroy(mtq_metrics_t *m) {
  if (!m) {
    return;
  }
  for (size_t i = 0; i < m->n; i++) {
    for (size_t l = 0; l < m->items[i].n_labels; l++) {
      bson_free(m->items[i].keys[l]);
      bson_free(m->items[i].values[l]);
    }
  }
  bson_free(m->items);
  pthread_mutex_destroy(&m->lock);
  bson_free(m);
}

bool mtq_metrics_name_valid(const char *s) {
  if (!s || !*s || strlen(s) > MTQ_METRICS_NAME_MAX || (*s >= '0' && *s <= '9')) {
    return false;
  }
  for (; *s; s++) {
    char c = *s;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_')) {
      return false;
    }
  }
  return true;
}

static size_t count_pairs(const char *const *labels) {
  size_t n = 0;
  while (labels && labels[2 * n] && n < MTQ_METRICS_LABELS_MAX) {
    n++;
  }
  return n;
}

static const char *or_empty(const char *s) { return s ? s : ""; }

/* other: compare against the overflow series (every value MTQ_METRICS_OTHER). */
static bool matches(const series_t *s, kind_t kind, const char *name, const char *const *labels,
                    size_t n, bool other) {
  if (s->kind != kind || s->n_labels != n || strcmp(s->name, name) != 0) {
    return false;
  }
  for (size_t l = 0; l < n; l++) {
    const char *v = other ? MTQ_METRICS_OTHER : or_empty(labels[2 * l + 1]);
    if (strcmp(s->keys[l], labels[2 * l]) != 0 || strcmp(s->values[l], v) != 0) {
      return false;
    }
  }
  return true;
}

static series_t *find(mtq_metrics_t *m, kind_t kind, const char *name, const char *const *labels,
                      size_t n, bool other) {
  for (size_t i = 0; i < m->n; i++) {
    if (matches(&m->items[i], kind, name, labels, n, other)) {
      return &m->items[i];
    }
  }
  return NULL;
}

static series_t *add(mtq_metrics_t *m, kind_t kind, const char *name, const char *const *labels,
                     size_t n, bool other) {
  if (m->n == m->cap) {
    m->cap = m->cap ? 2 * m->cap : 16;
    m->items = bson_realloc(m->items, m->cap * sizeof *m->items);
  }
  series_t *s = &m->items[m->n++];
  memset(s, 0, sizeof *s);
  s->kind = kind;
  bson_strncpy(s->name, name, sizeof s->name);
  s->n_labels = n;
  for (size_t l = 0; l < n; l++) {
    s->keys[l] = bson_strdup(labels[2 * l]);
    s->values[l] = bson_strdup(other ? MTQ_METRICS_OTHER : or_empty(labels[2 * l + 1]));
  }
  return s;
}

/* The series, created when new; past MTQ_METRICS_SERIES_MAX, the name's
 * overflow series (which may go beyond the maximum: one per name). */
static series_t *series(mtq_metrics_t *m, kind_t kind, const char *name,
                        const char *const *labels) {
  size_t n = count_pairs(labels);
  series_t *s = find(m, kind, name, labels, n, false);
  if (s) {
    return s;
  }
  if (m->n < MTQ_METRICS_SERIES_MAX) {
    return add(m, kind, name, labels, n, false);
  }
  s = find(m, kind, name, labels, n, true);
  return s ? s : add(m, kind, name, labels, n, true);
}

void mtq_metrics_count(mtq_metrics_t *m, const char *name, const char *const *labels, double n) {
  pthread_mutex_lock(&m->lock);
  series(m, KIND_COUNTER, name, labels)->value += n > 0 ? n : 0;
  pthread_mutex_unlock(&m->lock);
}

void mtq_metrics_set(mtq_metrics_t *m, const char *name, const char *const *labels, double v) {
  pthread_mutex_lock(&m->lock);
  series(m, KIND_GAUGE, name, labels)->value = v;
  pthread_mutex_unlock(&m->lock);
}

void mtq_metrics_observe(mtq_metrics_t *m, const char *name, const char *const *labels,
                         double seconds) {
  if (!(seconds > 0)) {
    seconds = 0; /* clock skew, and NaN */
  }
  size_t b = 0;
  while (b < MTQ_METRICS_N_BOUNDS && seconds > bounds[b]) {
    b++;
  }
  pthread_mutex_lock(&m->lock);
  series_t *s = series(m, KIND_HISTOGRAM, name, labels);
  s->counts[b]++;
  s->sum += seconds;
  s->count++;
  pthread_mutex_unlock(&m->lock);
}

static void append_series(const series_t *s, const char *key, bson_t *arr) {
  bson_t doc, labels, b, c;
  BSON_APPEND_DOCUMENT_BEGIN(arr, key, &doc);
  BSON_APPEND_UTF8(&doc, "name", s->name);
  BSON_APPEND_DOCUMENT_BEGIN(&doc, "labels", &labels);
  for (size_t l = 0; l < s->n_labels; l++) {
    BSON_APPEND_UTF8(&labels, s->keys[l], s->values[l]);
  }
  bson_append_document_end(&doc, &labels);
  if (s->kind != KIND_HISTOGRAM) {
    BSON_APPEND_DOUBLE(&doc, "value", s->value);
  } else {
    char idx[16];
    const char *k;
    BSON_APPEND_ARRAY_BEGIN(&doc, "bounds", &b);
    for (uint32_t i = 0; i < MTQ_METRICS_N_BOUNDS; i++) {
      bson_uint32_to_string(i, &k, idx, sizeof idx);
      BSON_APPEND_DOUBLE(&b, k, bounds[i]);
    }
    bson_append_array_end(&doc, &b);
    BSON_APPEND_ARRAY_BEGIN(&doc, "counts", &c);
    for (uint32_t i = 0; i <= MTQ_METRICS_N_BOUNDS; i++) {
      bson_uint32_to_string(i, &k, idx, sizeof idx);
      BSON_APPEND_INT64(&c, k, s->counts[i]);
    }
    bson_append_array_end(&doc, &c);
    BSON_APPEND_DOUBLE(&doc, "sum", s->sum);
    BSON_APPEND_INT64(&doc, "count", s->count);
  }
  bson_append_document_end(arr, &doc);
}

void mtq_metrics_to_bson(mtq_metrics_t *m, bson_t *doc) {
  static const char *const keys[KIND_COUNT] = {"counters", "gauges", "histograms"};
  pthread_mutex_lock(&m->lock);
  for (int kind = 0; kind < KIND_COUNT; kind++) {
    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(doc, keys[kind], &arr);
    uint32_t n = 0;
    for (size_t i = 0; i < m->n; i++) {
      if (m->items[i].kind == (kind_t)kind) {
        char idx[16];
        const char *k;
        bson_uint32_to_string(n++, &k, idx, sizeof idx);
        append_series(&m->items[i], k, &arr);
      }
    }
    bson_append_array_end(doc, &arr);
  }
  pthread_mutex_unlock(&m->lock);
}
