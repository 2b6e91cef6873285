/* whoami.c - the worker document, written and read (see mtq_whoami.h). */
#include <arpa/inet.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mtq_whoami.h"

static const char *const state_names[] = {
#define MTQ__WORKER_STATE_NAME(e, s) s,
    MTQ_WORKER_STATE_MAP(MTQ__WORKER_STATE_NAME)
#undef MTQ__WORKER_STATE_NAME
};
#define N_STATES (sizeof state_names / sizeof state_names[0])

const char *mtq_worker_state_name(mtq_worker_state_t state) {
  return state >= 0 && (size_t)state < N_STATES ? state_names[state] : "unknown";
}

static mtq_worker_state_t state_parse(const char *name) {
  for (size_t i = 0; i < N_STATES; i++) {
    if (strcmp(name, state_names[i]) == 0) {
      return (mtq_worker_state_t)i;
    }
  }
  return MTQ_WORKER_STATE_UNKNOWN;
}

void mtq_whoami_init(mtq_whoami_t *w) {
  memset(w, 0, sizeof *w);
  w->state = MTQ_WORKER_STATE_UNKNOWN;
}

static void free_names(char **list, size_t n) {
  for (size_t i = 0; i < n; i++) {
    bson_free(list[i]);
  }
  bson_free(list);
}

void mtq_whoami_cleanup(mtq_whoami_t *w) {
  free_names(w->channels, w->n_channels);
  free_names(w->tags, w->n_tags);
  bson_free(w->functions);
  mtq_whoami_init(w);
}

static void add_name(char ***list, size_t *n, const char *name) {
  *list = bson_realloc(*list, (*n + 1) * sizeof **list);
  (*list)[(*n)++] = bson_strdup(name);
}

void mtq_whoami_add_channel(mtq_whoami_t *w, const char *channel) {
  add_name(&w->channels, &w->n_channels, channel);
}

void mtq_whoami_add_tag(mtq_whoami_t *w, const char *tag) { add_name(&w->tags, &w->n_tags, tag); }

void mtq_whoami_add_function(mtq_whoami_t *w, const char *name, const char *version) {
  w->functions = bson_realloc(w->functions, (w->n_functions + 1) * sizeof *w->functions);
  mtq_whoami_func_t *f = &w->functions[w->n_functions++];
  bson_strncpy(f->name, name, sizeof f->name);
  bson_strncpy(f->version, version, sizeof f->version);
}

bool mtq_whoami_wake_parse(const char *addr, uint32_t *ip, uint16_t *port) {
  const char *colon = addr ? strrchr(addr, ':') : NULL;
  char host[16];
  size_t n = colon ? (size_t)(colon - addr) : 0;
  if (!colon || n == 0 || n >= sizeof host) {
    return false;
  }
  memcpy(host, addr, n);
  host[n] = '\0';
  struct in_addr in;
  if (inet_pton(AF_INET, host, &in) != 1) {
    return false;
  }
  /* Digits only: strtol alone would take " 7", "+7" or "7x". */
  const char *p = colon + 1;
  size_t digits = strspn(p, "0123456789");
  if (digits == 0 || digits > 5 || p[digits] != '\0') {
    return false;
  }
  long v = strtol(p, NULL, 10);
  if (v < 1 || v > 65535) {
    return false;
  }
  *ip = in.s_addr;
  *port = (uint16_t)v;
  return true;
}

bool mtq_whoami_add_wake(mtq_whoami_t *w, const char *addr) {
  uint32_t ip;
  uint16_t port;
  if (w->n_wake >= MTQ_WHOAMI_WAKE_MAX || strlen(addr) >= MTQ_WHOAMI_WAKE_SIZE ||
      !mtq_whoami_wake_parse(addr, &ip, &port)) {
    return false;
  }
  bson_strncpy(w->wake[w->n_wake++], addr, MTQ_WHOAMI_WAKE_SIZE);
  return true;
}

bool mtq_whoami_has_channel(const mtq_whoami_t *w, const char *channel) {
  for (size_t i = 0; i < w->n_channels; i++) {
    if (strcmp(w->channels[i], channel) == 0) {
      return true;
    }
  }
  return false;
}

bool mtq_whoami_has_tag(const mtq_whoami_t *w, const char *tag) {
  for (size_t i = 0; i < w->n_tags; i++) {
    if (strcmp(w->tags[i], tag) == 0) {
      return true;
    }
  }
  return false;
}

bool mtq_whoami_serves(const mtq_whoami_t *w, const char *func, const char *version) {
  for (size_t i = 0; i < w->n_functions; i++) {
    if (strcmp(w->functions[i].name, func) == 0 &&
        (!version || strcmp(w->functions[i].version, version) == 0)) {
      return true;
    }
  }
  return false;
}

/* --- writing ------------------------------------------------------------------- */

static void append_names(bson_t *doc, const char *key, char *const *names, size_t n) {
  bson_t arr;
  char buf[16];
  const char *k;
  BSON_APPEND_ARRAY_BEGIN(doc, key, &arr);
  for (size_t i = 0; i < n; i++) {
    bson_uint32_to_string((uint32_t)i, &k, buf, sizeof buf);
    BSON_APPEND_UTF8(&arr, k, names[i]);
  }
  bson_append_array_end(doc, &arr);
}

static void append_figure(bson_t *doc, const char *key, double v) {
  if (!isnan(v)) {
    BSON_APPEND_DOUBLE(doc, key, v);
  }
}

static void append_gpus(const mtq_hostinfo_t *info, bson_t *doc) {
  bson_t arr, gpu;
  BSON_APPEND_ARRAY_BEGIN(doc, "gpus", &arr);
  for (size_t i = 0; i < info->n_gpus; i++) {
    const mtq_hostinfo_gpu_t *g = &info->gpus[i];
    char key[16];
    const char *k;
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, k, &gpu);
    BSON_APPEND_INT32(&gpu, "index", g->index);
    /* A GPU name is printable ASCII in practice; anything else is dropped
     * rather than stored as invalid UTF-8. */
    if (g->name[0] && bson_utf8_validate(g->name, strlen(g->name), false)) {
      BSON_APPEND_UTF8(&gpu, "name", g->name);
    }
    append_figure(&gpu, "util_pct", g->util_pct);
    append_figure(&gpu, "mem_used_mb", g->mem_used_mb);
    append_figure(&gpu, "mem_total_mb", g->mem_total_mb);
    append_figure(&gpu, "temp_c", g->temp_c);
    bson_append_document_end(&arr, &gpu);
  }
  bson_append_array_end(doc, &arr);
}

static void append_host(const mtq_hostinfo_t *info, bson_t *doc) {
  bson_t sub;
  BSON_APPEND_INT32(doc, "cores", info->cores);
  if (info->has_load) {
    BSON_APPEND_ARRAY_BEGIN(doc, "load", &sub);
    BSON_APPEND_DOUBLE(&sub, "0", info->load[0]);
    BSON_APPEND_DOUBLE(&sub, "1", info->load[1]);
    BSON_APPEND_DOUBLE(&sub, "2", info->load[2]);
    bson_append_array_end(doc, &sub);
  }
  if (info->has_mem) {
    BSON_APPEND_DOCUMENT_BEGIN(doc, "mem", &sub);
    BSON_APPEND_INT64(&sub, "total_mb", info->mem_total_mb);
    BSON_APPEND_INT64(&sub, "available_mb", info->mem_available_mb);
    bson_append_document_end(doc, &sub);
  }
  if (info->has_disk) {
    BSON_APPEND_DOCUMENT_BEGIN(doc, "disk", &sub);
    if (info->disk_path[0] && bson_utf8_validate(info->disk_path, strlen(info->disk_path), false)) {
      BSON_APPEND_UTF8(&sub, "path", info->disk_path);
    }
    BSON_APPEND_INT64(&sub, "total_mb", info->disk_total_mb);
    BSON_APPEND_INT64(&sub, "free_mb", info->disk_free_mb);
    bson_append_document_end(doc, &sub);
  }
  if (info->has_cpu_temp) {
    BSON_APPEND_DOUBLE(doc, "cpu_temp_c", info->cpu_temp_c);
  }
  append_gpus(info, doc);
}

void mtq_whoami_to_bson(const mtq_whoami_t *w, bson_t *doc) {
  bson_t arr, sub;
  char key[16];
  const char *k;
  BSON_APPEND_UTF8(doc, "_id", w->id);
  BSON_APPEND_UTF8(doc, "host", bson_utf8_validate(w->host, strlen(w->host), false) ? w->host : "");
  BSON_APPEND_INT32(doc, "pid", w->pid);
  BSON_APPEND_UTF8(doc, "state", mtq_worker_state_name(w->state));
  append_names(doc, "channels", w->channels, w->n_channels);
  BSON_APPEND_ARRAY_BEGIN(doc, "functions", &arr);
  for (size_t i = 0; i < w->n_functions; i++) {
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, k, &sub);
    BSON_APPEND_UTF8(&sub, "name", w->functions[i].name);
    BSON_APPEND_UTF8(&sub, "version", w->functions[i].version);
    bson_append_document_end(&arr, &sub);
  }
  bson_append_array_end(doc, &arr);
  append_names(doc, "tags", w->tags, w->n_tags);
  BSON_APPEND_INT32(doc, "concurrency", w->concurrency);
  BSON_APPEND_INT32(doc, "running", w->running);
  BSON_APPEND_DATE_TIME(doc, "started_at", w->started_at_ms);
  BSON_APPEND_DATE_TIME(doc, "last_seen", w->last_seen_ms);
  BSON_APPEND_INT64(doc, "heartbeat_interval_ms", w->heartbeat_interval_ms);
  BSON_APPEND_ARRAY_BEGIN(doc, "wake", &arr);
  for (size_t i = 0; i < w->n_wake; i++) {
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    BSON_APPEND_UTF8(&arr, k, w->wake[i]);
  }
  bson_append_array_end(doc, &arr);
  append_host(&w->hostinfo, doc);
}

/* --- reading ------------------------------------------------------------------- */

static int64_t as_int(const bson_iter_t *it, int64_t dflt) {
  if (BSON_ITER_HOLDS_INT32(it) || BSON_ITER_HOLDS_INT64(it)) {
    return bson_iter_as_int64(it);
  }
  /* mongosh writes numbers as doubles. */
  if (BSON_ITER_HOLDS_DOUBLE(it) && isfinite(bson_iter_double(it)) &&
      fabs(bson_iter_double(it)) < 9.0e18) {
    return (int64_t)bson_iter_double(it);
  }
  return dflt;
}

static int32_t as_int32(const bson_iter_t *it) {
  int64_t v = as_int(it, 0);
  return v >= INT32_MIN && v <= INT32_MAX ? (int32_t)v : 0;
}

static double as_double(const bson_iter_t *it) {
  return BSON_ITER_HOLDS_NUMBER(it) ? bson_iter_as_double(it) : NAN;
}

/* A date, or a number of milliseconds (written by hand); 0 otherwise. */
static int64_t as_ms(const bson_iter_t *it) {
  return BSON_ITER_HOLDS_DATE_TIME(it) ? bson_iter_date_time(it) : as_int(it, 0);
}

/* A string that is valid UTF-8 without NUL, cut to size on a character
 * boundary; anything else leaves dst empty, as the writer would drop it. */
static void read_string(const bson_iter_t *it, char *dst, size_t size) {
  uint32_t len;
  dst[0] = '\0';
  if (!BSON_ITER_HOLDS_UTF8(it)) {
    return;
  }
  const char *s = bson_iter_utf8(it, &len);
  if (!bson_utf8_validate(s, len, false)) {
    return;
  }
  size_t n = len < size - 1 ? len : size - 1;
  while (n > 0 && n < len && ((unsigned char)s[n] & 0xC0) == 0x80) {
    n--; /* do not cut a character in two */
  }
  memcpy(dst, s, n);
  dst[n] = '\0';
}

/* The valid names of an array; anything else in it is skipped. */
static void read_names(const bson_iter_t *it, char ***list, size_t *n) {
  bson_iter_t sub;
  if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &sub)) {
    return;
  }
  while (bson_iter_next(&sub)) {
    if (BSON_ITER_HOLDS_UTF8(&sub) && mtq_name_valid(bson_iter_utf8(&sub, NULL))) {
      add_name(list, n, bson_iter_utf8(&sub, NULL));
    }
  }
}

/* The addresses that parse; anything else is skipped (a hand edit, or a
 * newer worker's IPv6 address), and so are those past the limit. */
static void read_wake(mtq_whoami_t *w, const bson_iter_t *it) {
  bson_iter_t sub;
  if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &sub)) {
    return;
  }
  while (bson_iter_next(&sub)) {
    uint32_t len;
    const char *s = BSON_ITER_HOLDS_UTF8(&sub) ? bson_iter_utf8(&sub, &len) : NULL;
    if (s && strlen(s) == len) {
      mtq_whoami_add_wake(w, s);
    }
  }
}

static void read_functions(mtq_whoami_t *w, const bson_iter_t *it) {
  bson_iter_t arr, fn;
  if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &arr)) {
    return;
  }
  while (bson_iter_next(&arr)) {
    const char *name = NULL, *version = NULL;
    if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &fn)) {
      continue;
    }
    while (bson_iter_next(&fn)) {
      const char *k = bson_iter_key(&fn);
      if (BSON_ITER_HOLDS_UTF8(&fn) && strcmp(k, "name") == 0) {
        name = bson_iter_utf8(&fn, NULL);
      } else if (BSON_ITER_HOLDS_UTF8(&fn) && strcmp(k, "version") == 0) {
        version = bson_iter_utf8(&fn, NULL);
      }
    }
    if (mtq_name_valid(name) && mtq_name_valid(version)) {
      mtq_whoami_add_function(w, name, version);
    }
  }
}

static void read_gpus(mtq_hostinfo_t *h, const bson_iter_t *it) {
  bson_iter_t arr, g;
  if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &arr)) {
    return;
  }
  while (bson_iter_next(&arr) && h->n_gpus < MTQ_HOSTINFO_MAX_GPUS) {
    if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &g)) {
      continue;
    }
    mtq_hostinfo_gpu_t *gpu = &h->gpus[h->n_gpus++];
    memset(gpu, 0, sizeof *gpu);
    gpu->util_pct = gpu->mem_used_mb = gpu->mem_total_mb = gpu->temp_c = NAN;
    while (bson_iter_next(&g)) {
      const char *k = bson_iter_key(&g);
      double *figure = strcmp(k, "util_pct") == 0       ? &gpu->util_pct
                       : strcmp(k, "mem_used_mb") == 0  ? &gpu->mem_used_mb
                       : strcmp(k, "mem_total_mb") == 0 ? &gpu->mem_total_mb
                       : strcmp(k, "temp_c") == 0       ? &gpu->temp_c
                                                        : NULL;
      if (figure) {
        *figure = as_double(&g);
      } else if (strcmp(k, "index") == 0) {
        gpu->index = as_int32(&g);
      } else if (strcmp(k, "name") == 0) {
        read_string(&g, gpu->name, sizeof gpu->name);
      }
    }
  }
}

/* {a: n, b: n}: the two numbers of a sub-document; false when it is not one. */
static bool read_pair(const bson_iter_t *it, const char *a, int64_t *va, const char *b,
                      int64_t *vb, char *path, size_t path_size) {
  bson_iter_t sub;
  if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &sub)) {
    return false;
  }
  while (bson_iter_next(&sub)) {
    const char *k = bson_iter_key(&sub);
    if (strcmp(k, a) == 0) {
      *va = as_int(&sub, 0);
    } else if (strcmp(k, b) == 0) {
      *vb = as_int(&sub, 0);
    } else if (path && strcmp(k, "path") == 0) {
      read_string(&sub, path, path_size);
    }
  }
  return true;
}

static void read_load(mtq_hostinfo_t *h, const bson_iter_t *it) {
  bson_iter_t sub;
  size_t i = 0;
  if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &sub)) {
    return;
  }
  while (i < 3 && bson_iter_next(&sub) && BSON_ITER_HOLDS_NUMBER(&sub)) {
    h->load[i++] = bson_iter_as_double(&sub);
  }
  h->has_load = i == 3;
}

static void read_field(mtq_whoami_t *w, const bson_iter_t *it) {
  const char *k = bson_iter_key(it);
  mtq_hostinfo_t *h = &w->hostinfo;
  if (strcmp(k, "host") == 0) {
    read_string(it, w->host, sizeof w->host);
  } else if (strcmp(k, "pid") == 0) {
    w->pid = as_int32(it);
  } else if (strcmp(k, "state") == 0) {
    w->state = BSON_ITER_HOLDS_UTF8(it) ? state_parse(bson_iter_utf8(it, NULL))
                                        : MTQ_WORKER_STATE_UNKNOWN;
  } else if (strcmp(k, "channels") == 0) {
    read_names(it, &w->channels, &w->n_channels);
  } else if (strcmp(k, "tags") == 0) {
    read_names(it, &w->tags, &w->n_tags);
  } else if (strcmp(k, "functions") == 0) {
    read_functions(w, it);
  } else if (strcmp(k, "concurrency") == 0) {
    w->concurrency = as_int32(it);
  } else if (strcmp(k, "running") == 0) {
    w->running = as_int32(it);
  } else if (strcmp(k, "started_at") == 0) {
    w->started_at_ms = as_ms(it);
  } else if (strcmp(k, "last_seen") == 0) {
    w->last_seen_ms = as_ms(it);
  } else if (strcmp(k, "heartbeat_interval_ms") == 0) {
    w->heartbeat_interval_ms = as_int(it, 0);
  } else if (strcmp(k, "wake") == 0) {
    read_wake(w, it);
  } else if (strcmp(k, "cores") == 0) {
    h->cores = as_int32(it);
  } else if (strcmp(k, "load") == 0) {
    read_load(h, it);
  } else if (strcmp(k, "mem") == 0) {
    h->has_mem = read_pair(it, "total_mb", &h->mem_total_mb, "available_mb",
                           &h->mem_available_mb, NULL, 0);
  } else if (strcmp(k, "disk") == 0) {
    h->has_disk = read_pair(it, "total_mb", &h->disk_total_mb, "free_mb", &h->disk_free_mb,
                            h->disk_path, sizeof h->disk_path);
  } else if (strcmp(k, "cpu_temp_c") == 0) {
    h->cpu_temp_c = as_double(it);
    h->has_cpu_temp = !isnan(h->cpu_temp_c);
  } else if (strcmp(k, "gpus") == 0) {
    read_gpus(h, it);
  }
}

bool mtq_whoami_from_bson(mtq_whoami_t *w, const bson_t *doc) {
  mtq_whoami_cleanup(w);
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it) ||
      !mtq_name_valid(bson_iter_utf8(&it, NULL))) {
    return false;
  }
  bson_strncpy(w->id, bson_iter_utf8(&it, NULL), sizeof w->id);
  if (!bson_iter_init(&it, doc)) {
    return false;
  }
  while (bson_iter_next(&it)) {
    read_field(w, &it);
  }
  return true;
}

/* --- lists --------------------------------------------------------------------- */

void mtq_whoami_list_init(mtq_whoami_list_t *list) { memset(list, 0, sizeof *list); }

mtq_whoami_t *mtq_whoami_list_push(mtq_whoami_list_t *list) {
  list->items = bson_realloc(list->items, (list->n + 1) * sizeof *list->items);
  mtq_whoami_t *w = &list->items[list->n++];
  mtq_whoami_init(w);
  return w;
}

void mtq_whoami_list_cleanup(mtq_whoami_list_t *list) {
  for (size_t i = 0; i < list->n; i++) {
    mtq_whoami_cleanup(&list->items[i]);
  }
  bson_free(list->items);
  mtq_whoami_list_init(list);
}

const mtq_whoami_t *mtq_whoami_list_find(const mtq_whoami_list_t *list, const char *id) {
  for (size_t i = 0; i < list->n; i++) {
    if (strcmp(list->items[i].id, id) == 0) {
      return &list->items[i];
    }
  }
  return NULL;
}
