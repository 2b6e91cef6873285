/* metrics.c - GET /metrics: Prometheus' text format 0.0.4 (metrics.h).
 *
 * What is rendered, and from where (README "Metrics"):
 *   stats (mtq_store_stats)     mtq_tasks, mtq_tasks_enqueued_total
 *   metrics/retention:<ch>      mtq_tasks_removed_total (and enqueued)
 *   whoami                      mtq_workers, mtq_worker_* (host gauges)
 *   metrics/<kind>:<name>       each process's counters, gauges and
 *                               histograms, labelled worker="name" or
 *                               coordinator="name"
 *   this process's store        its own database commands, web="host"
 * Every family is written once, with its HELP and TYPE lines, and all its
 * samples together, as the format requires. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "mtq_metrics.h"

/* --- the text format ------------------------------------------------------ */

#define LABELS_MAX (MTQ_METRICS_LABELS_MAX + 4)

typedef struct {
  const char *k[LABELS_MAX];
  const char *v[LABELS_MAX];
  size_t n;
} labels_t;

static void lab(labels_t *l, const char *k, const char *v) {
  if (l->n < LABELS_MAX) {
    l->k[l->n] = k;
    l->v[l->n] = v ? v : "";
    l->n++;
  }
}

/* HELP text escapes backslash and newline; label values also the quote. */
static void escaped(bson_string_t *out, const char *s, bool quote) {
  for (; *s; s++) {
    if (*s == '\\') {
      bson_string_append(out, "\\\\");
    } else if (*s == '\n') {
      bson_string_append(out, "\\n");
    } else if (quote && *s == '"') {
      bson_string_append(out, "\\\"");
    } else {
      bson_string_append_c(out, *s);
    }
  }
}

static void header(bson_string_t *out, const char *name, const char *type, const char *help) {
  bson_string_append_printf(out, "# HELP %s ", name);
  escaped(out, help, false);
  bson_string_append_printf(out, "\n# TYPE %s %s\n", name, type);
}

/* The shortest form that reads back as the same double. */
static void number(bson_string_t *out, double v) {
  if (isnan(v)) {
    bson_string_append(out, "NaN");
  } else if (isinf(v)) {
    bson_string_append(out, v > 0 ? "+Inf" : "-Inf");
  } else {
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v) {
      snprintf(buf, sizeof buf, "%.17g", v);
    }
    bson_string_append(out, buf);
  }
}

static void sample(bson_string_t *out, const char *name, const char *suffix, const labels_t *l,
                   const char *le, double v) {
  bson_string_append_printf(out, "%s%s", name, suffix);
  if (l->n || le) {
    bson_string_append_c(out, '{');
    for (size_t i = 0; i < l->n; i++) {
      bson_string_append_printf(out, "%s%s=\"", i ? "," : "", l->k[i]);
      escaped(out, l->v[i], true);
      bson_string_append_c(out, '"');
    }
    if (le) {
      bson_string_append_printf(out, "%sle=\"%s\"", l->n ? "," : "", le);
    }
    bson_string_append_c(out, '}');
  }
  bson_string_append_c(out, ' ');
  number(out, v);
  bson_string_append_c(out, '\n');
}

/* --- reading documents ------------------------------------------------------ */

static const char *str_at(const bson_t *doc, const char *key) {
  bson_iter_t it;
  if (doc && bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it)) {
    uint32_t len;
    const char *s = bson_iter_utf8(&it, &len);
    return bson_utf8_validate(s, len, false) ? s : NULL;
  }
  return NULL;
}

static bool num_at(const bson_t *doc, const char *key, double *v) {
  bson_iter_t it;
  if (doc && bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_NUMBER(&it)) {
    *v = bson_iter_as_double(&it);
    return true;
  }
  return false;
}

static bool date_at(const bson_t *doc, const char *key, double *secs) {
  bson_iter_t it;
  if (doc && bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_DATE_TIME(&it)) {
    *secs = (double)bson_iter_date_time(&it) / 1000.0;
    return true;
  }
  return false;
}

/* The sub-document or array at key, borrowed from doc; false when absent. */
static bool sub_at(const bson_t *doc, const char *key, bool array, bson_t *out) {
  bson_iter_t it;
  uint32_t len;
  const uint8_t *data;
  if (!doc || !bson_iter_init_find(&it, doc, key) ||
      !(array ? BSON_ITER_HOLDS_ARRAY(&it) : BSON_ITER_HOLDS_DOCUMENT(&it))) {
    return false;
  }
  if (array) {
    bson_iter_array(&it, &len, &data);
  } else {
    bson_iter_document(&it, &len, &data);
  }
  return bson_init_static(out, data, len);
}

/* --- the sources of process metrics ----------------------------------------- */

/* One process: its label (worker="m1"), its own series (body: counters,
 * gauges, histograms) and its database commands (db, the same form). */
typedef struct {
  const char *key;
  const char *name;
  bson_t body, db;
  bool has_body, has_db;
  const bson_t *doc; /* the whole document; NULL for this process */
} source_t;

typedef struct {
  source_t *items;
  size_t n;
} sources_t;

static void sources_read(const mtq_web_metrics_input_t *in, sources_t *s) {
  bson_t arr;
  bson_iter_t it;
  size_t cap = 1;
  if (sub_at(&in->metrics, "metrics", true, &arr) && bson_iter_init(&it, &arr)) {
    while (bson_iter_next(&it)) {
      cap++;
    }
  }
  s->items = bson_malloc0(cap * sizeof *s->items);
  s->n = 0;
  if (sub_at(&in->metrics, "metrics", true, &arr) && bson_iter_init(&it, &arr)) {
    while (bson_iter_next(&it)) {
      uint32_t len;
      const uint8_t *data;
      if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
        continue;
      }
      bson_iter_document(&it, &len, &data);
      source_t *src = &s->items[s->n];
      bson_t *doc = bson_new_from_data(data, len);
      const char *kind = str_at(doc, "kind"), *name = str_at(doc, "name");
      if (!doc || !kind || !name || !mtq_name_valid(name) ||
          (strcmp(kind, "worker") != 0 && strcmp(kind, "coordinator") != 0)) {
        bson_destroy(doc);
        continue;
      }
      src->doc = doc;
      src->key = strcmp(kind, "worker") == 0 ? "worker" : "coordinator";
      src->name = name;
      src->has_body = true;
      bson_init_static(&src->body, bson_get_data(doc), doc->len);
      src->has_db = sub_at(doc, "db", false, &src->db);
      s->n++;
    }
  }
  if (!in->self_name[0]) {
    return; /* no rendering process to name (a test's input) */
  }
  source_t *self = &s->items[s->n++];
  self->key = "web";
  self->name = in->self_name;
  self->has_db = bson_init_static(&self->db, bson_get_data(&in->self_db), in->self_db.len);
}

static void sources_free(sources_t *s) {
  for (size_t i = 0; i < s->n; i++) {
    if (s->items[i].doc) {
      bson_destroy((bson_t *)s->items[i].doc);
    }
  }
  bson_free(s->items);
}

/* --- what each family means -------------------------------------------------- */

typedef struct {
  const char *name; /* as published, without mtq_ and _total */
  const char *help;
} known_t;

static const known_t known[] = {
    {"tasks_started", "Task attempts whose process the worker started."},
    {"tasks_finished", "Task attempts the worker recorded done."},
    {"tasks_failed", "Task attempts the worker recorded failed for good (failed or dead: no "
                     "attempt left, rejected, or not served)."},
    {"task_retries", "Task attempts the worker recorded failed with attempts left (the task "
                     "waits out its backoff, retry_wait)."},
    {"tasks_requeued", "Tasks the worker gave back unfinished (its shutdown, a lease it could "
                       "not renew in time, a claim too old to start)."},
    {"leases_lost", "Running tasks whose lease the worker found gone: cancelled by an operator "
                    "or taken back by mtqd after the lease expired."},
    {"leases_unrenewed", "Running tasks the worker stopped because it could not renew their "
                         "lease within half of lease_ms."},
    {"outcomes_refused", "Outcomes the worker could not record because the attempt had been "
                         "ended elsewhere (fencing)."},
    {"task_run_seconds", "How long task processes ran, for attempts that ended by themselves "
                         "(done, failed, retried)."},
    {"task_wait_seconds", "How long tasks waited from when they could first run (created_at "
                          "or not_before) to their claim, per started attempt."},
    {"coordinator_leases_expired", "Leases mtqd found unrenewed for lease_ms: the task went "
                                   "back to the queue (outcome queued) or, with no attempt "
                                   "left, dead. Tasks of lost workers come back this way."},
    {"coordinator_workers_lost", "Workers mtqd marked lost (no heartbeat for lost_after_ms)."},
    {"coordinator_delayed_released", "Delayed and retry_wait tasks mtqd moved to their lane "
                                     "when due."},
    {"coordinator_tasks_moved", "Queued tasks mtqd moved to the lane of their edited priority."},
    {"coordinator_copies_sent", "Copies of redundant tasks mtqd sent to workers."},
    {"coordinator_retention_removed", "Finished tasks this mtqd removed past their retention."},
    {"coordinator_flows_removed", "Ended flows this mtqd removed past their retention."},
    {"coordinator_schedule_ticks_fired", "Ticks of recurring schedules this mtqd fired."},
    {"coordinator_flow_steps_started", "Steps of flows this mtqd started."},
    {"coordinator_leading", "1 while this mtqd leads the coordinators, else 0."},
    {"db_commands", "Database commands the process sent, by command name and outcome (error: "
                    "the server or the network failed it)."},
    {"db_command_seconds", "Time the process's database commands took, by command name."},
    {"db_command_duration_seconds", "Latency of the process's database commands."},
};

static const char *help_of(const char *name) {
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    if (strcmp(known[i].name, name) == 0) {
      return known[i].help;
    }
  }
  return "Published by an mtq process; this mtq-web does not know its meaning.";
}

/* --- process series ----------------------------------------------------------- */

typedef enum { SEC_COUNTERS, SEC_GAUGES, SEC_HISTOGRAMS } section_t;
static const char *const section_keys[] = {"counters", "gauges", "histograms"};
static const char *const section_types[] = {"counter", "gauge", "histogram"};

/* The labels of a series, checked: valid names, none of ours (the process
 * key, le), UTF-8 values, at most MTQ_METRICS_LABELS_MAX.  False: skip it. */
static bool series_labels(const bson_t *series, const source_t *src, labels_t *l) {
  bson_t labels;
  bson_iter_t it;
  l->n = 0;
  if (sub_at(series, "labels", false, &labels) && bson_iter_init(&it, &labels)) {
    while (bson_iter_next(&it)) {
      const char *k = bson_iter_key(&it);
      uint32_t len;
      if (!BSON_ITER_HOLDS_UTF8(&it) || !mtq_metrics_name_valid(k) || strcmp(k, "le") == 0 ||
          strcmp(k, src->key) == 0 || strncmp(k, "__", 2) == 0 ||
          l->n >= MTQ_METRICS_LABELS_MAX) {
        return false;
      }
      const char *v = bson_iter_utf8(&it, &len);
      if (!bson_utf8_validate(v, len, false)) {
        return false;
      }
      lab(l, k, v);
    }
  }
  lab(l, src->key, src->name);
  return true;
}

/* A histogram's buckets made cumulative: false when its bounds do not
 * rise or its counts do not fit them. */
static bool histogram_read(const bson_t *series, double *bounds, double *cum, size_t *n,
                           double *sum, double *count) {
  bson_t b, c;
  bson_iter_t it;
  size_t nb = 0, nc = 0;
  if (!sub_at(series, "bounds", true, &b) || !sub_at(series, "counts", true, &c) ||
      !num_at(series, "sum", sum) || !num_at(series, "count", count)) {
    return false;
  }
  bson_iter_init(&it, &b);
  while (bson_iter_next(&it)) {
    if (!BSON_ITER_HOLDS_NUMBER(&it) || nb >= 64) {
      return false;
    }
    bounds[nb] = bson_iter_as_double(&it);
    if (!isfinite(bounds[nb]) || (nb && bounds[nb] <= bounds[nb - 1])) {
      return false;
    }
    nb++;
  }
  double total = 0;
  bson_iter_init(&it, &c);
  while (bson_iter_next(&it)) {
    if (!BSON_ITER_HOLDS_NUMBER(&it) || nc > nb || bson_iter_as_double(&it) < 0) {
      return false;
    }
    total += bson_iter_as_double(&it);
    cum[nc++] = total;
  }
  *n = nb;
  return nc == nb + 1 && total == *count;
}

static void render_series(bson_string_t *out, const char *family, section_t sec,
                          const bson_t *series, const source_t *src) {
  labels_t l;
  if (!series_labels(series, src, &l)) {
    return;
  }
  if (sec != SEC_HISTOGRAMS) {
    double v;
    if (num_at(series, "value", &v) && (sec == SEC_GAUGES || v >= 0)) {
      sample(out, family, "", &l, NULL, v);
    }
    return;
  }
  double bounds[64], cum[65], sum, count;
  size_t nb;
  if (!histogram_read(series, bounds, cum, &nb, &sum, &count)) {
    return;
  }
  for (size_t i = 0; i < nb; i++) {
    char le[40];
    snprintf(le, sizeof le, "%.15g", bounds[i]);
    sample(out, family, "_bucket", &l, le, cum[i]);
  }
  sample(out, family, "_bucket", &l, "+Inf", count);
  sample(out, family, "_sum", &l, NULL, sum);
  sample(out, family, "_count", &l, NULL, count);
}

/* Calls fn for every series of section sec named name (NULL: any) in one
 * source's body and db. */
typedef void (*each_fn)(void *ctx, const source_t *src, const char *name, const bson_t *series);

static void each_series(const source_t *src, section_t sec, each_fn fn, void *ctx) {
  const bson_t *parts[2] = {src->has_body ? &src->body : NULL, src->has_db ? &src->db : NULL};
  for (int p = 0; p < 2; p++) {
    bson_t arr;
    bson_iter_t it;
    if (!parts[p] || !sub_at(parts[p], section_keys[sec], true, &arr) ||
        !bson_iter_init(&it, &arr)) {
      continue;
    }
    while (bson_iter_next(&it)) {
      uint32_t len;
      const uint8_t *data;
      bson_t series;
      if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
        continue;
      }
      bson_iter_document(&it, &len, &data);
      if (!bson_init_static(&series, data, len)) {
        continue;
      }
      const char *name = str_at(&series, "name");
      if (name && mtq_metrics_name_valid(name)) {
        fn(ctx, src, name, &series);
      }
    }
  }
}

/* The families of one section, in the order first seen. */
typedef struct {
  char **names;
  size_t n;
} names_t;

static void note_name(void *ctx, const source_t *src, const char *name, const bson_t *series) {
  names_t *f = ctx;
  for (size_t i = 0; i < f->n; i++) {
    if (strcmp(f->names[i], name) == 0) {
      return;
    }
  }
  f->names = bson_realloc(f->names, (f->n + 1) * sizeof *f->names);
  f->names[f->n++] = bson_strdup(name);
}

typedef struct {
  bson_string_t *out;
  const char *name;
  const char *family;
  section_t sec;
} emit_t;

static void emit_one(void *ctx, const source_t *src, const char *name, const bson_t *series) {
  emit_t *e = ctx;
  if (strcmp(name, e->name) == 0) {
    render_series(e->out, e->family, e->sec, series, src);
  }
}

/* taken: the rendered names so far; a name published as two kinds (only a
 * gauge and a histogram can collide) is rendered as the first. */
static void render_section(bson_string_t *out, const sources_t *s, section_t sec,
                           names_t *taken) {
  names_t f = {NULL, 0};
  for (size_t i = 0; i < s->n; i++) {
    each_series(&s->items[i], sec, note_name, &f);
  }
  for (size_t i = 0; i < f.n; i++) {
    char family[MTQ_METRICS_NAME_MAX + 16];
    snprintf(family, sizeof family, "mtq_%s%s", f.names[i], sec == SEC_COUNTERS ? "_total" : "");
    bool dup = false;
    for (size_t j = 0; j < taken->n && !dup; j++) {
      dup = strcmp(taken->names[j], family) == 0;
    }
    if (!dup) {
      taken->names = bson_realloc(taken->names, (taken->n + 1) * sizeof *taken->names);
      taken->names[taken->n++] = bson_strdup(family);
      header(out, family, section_types[sec], help_of(f.names[i]));
      emit_t e = {out, f.names[i], family, sec};
      for (size_t k = 0; k < s->n; k++) {
        each_series(&s->items[k], sec, emit_one, &e);
      }
    }
    bson_free(f.names[i]);
  }
  bson_free(f.names);
}

static void render_processes(bson_string_t *out, const sources_t *s) {
  static const struct {
    const char *family, *key, *help;
  } times[] = {
      {"mtq_process_start_time_seconds", "started_at",
       "When the process started (Unix time): its counters count from then; a new value is a "
       "reset."},
      {"mtq_metrics_published_timestamp_seconds", "at",
       "When the process last wrote its metrics document (Unix time); it writes one every "
       "metrics_interval_ms."},
  };
  for (size_t t = 0; t < sizeof times / sizeof times[0]; t++) {
    header(out, times[t].family, "gauge", times[t].help);
    for (size_t i = 0; i < s->n; i++) {
      double v;
      if (s->items[i].doc && date_at(s->items[i].doc, times[t].key, &v)) {
        labels_t l = {.n = 0};
        lab(&l, s->items[i].key, s->items[i].name);
        sample(out, times[t].family, "", &l, NULL, v);
      }
    }
  }
  names_t taken = {NULL, 0};
  for (int sec = SEC_COUNTERS; sec <= SEC_HISTOGRAMS; sec++) {
    render_section(out, s, (section_t)sec, &taken);
  }
  for (size_t i = 0; i < taken.n; i++) {
    bson_free(taken.names[i]);
  }
  bson_free(taken.names);
}

/* --- tasks ------------------------------------------------------------------------ */

/* What retention removed of one channel (metrics/retention:<channel>). */
static bool removed_of(const bson_t *doc, const char **channel, double *n) {
  const char *kind = str_at(doc, "kind");
  *channel = str_at(doc, "channel");
  return kind && strcmp(kind, "retention") == 0 && *channel && mtq_name_valid(*channel) &&
         num_at(doc, "removed", n) && *n >= 0;
}

/* Calls fn for each retention document of in. */
typedef void (*removed_fn)(void *ctx, const char *channel, double n);
static void each_removed(const mtq_web_metrics_input_t *in, removed_fn fn, void *ctx) {
  bson_t arr;
  bson_iter_t it;
  if (!sub_at(&in->metrics, "metrics", true, &arr) || !bson_iter_init(&it, &arr)) {
    return;
  }
  while (bson_iter_next(&it)) {
    uint32_t len;
    const uint8_t *data;
    bson_t doc;
    const char *channel;
    double n;
    if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
      bson_iter_document(&it, &len, &data);
      if (bson_init_static(&doc, data, len) && removed_of(&doc, &channel, &n)) {
        fn(ctx, channel, n);
      }
    }
  }
}

static void emit_removed(void *ctx, const char *channel, double n) {
  labels_t l = {.n = 0};
  lab(&l, "channel", channel);
  sample(ctx, "mtq_tasks_removed_total", "", &l, NULL, n);
}

typedef struct {
  const char *channel;
  double n;
} find_removed_t;

static void add_removed(void *ctx, const char *channel, double n) {
  find_removed_t *f = ctx;
  if (strcmp(f->channel, channel) == 0) {
    f->n += n;
  }
}

static void render_tasks(bson_string_t *out, const mtq_web_metrics_input_t *in,
                         const bson_t *stats, int64_t stats_at_ms) {
  header(out, "mtq_tasks_removed_total", "counter",
         "Finished tasks of the channel that mtqd's retention removed, ever (kept in the "
         "metrics collection across restarts).");
  each_removed(in, emit_removed, out);
  bson_iter_t ch, st;
  if (!stats || !bson_iter_init(&ch, stats)) {
    return;
  }
  header(out, "mtq_tasks", "gauge",
         "Tasks of the channel in each state, as last counted (mtq_tasks_counted_timestamp_"
         "seconds); ended ones until retention removes them.");
  while (bson_iter_next(&ch)) {
    if (!BSON_ITER_HOLDS_DOCUMENT(&ch) || !mtq_name_valid(bson_iter_key(&ch)) ||
        !bson_iter_recurse(&ch, &st)) {
      continue;
    }
    while (bson_iter_next(&st)) {
      if (BSON_ITER_HOLDS_NUMBER(&st) && mtq_metrics_name_valid(bson_iter_key(&st))) {
        labels_t l = {.n = 0};
        lab(&l, "channel", bson_iter_key(&ch));
        lab(&l, "state", bson_iter_key(&st));
        sample(out, "mtq_tasks", "", &l, NULL, bson_iter_as_double(&st));
      }
    }
  }
  header(out, "mtq_tasks_enqueued_total", "counter",
         "Tasks ever enqueued into the channel: those the database holds in any state plus "
         "those retention removed (a dedupe hit, a retry or a requeue is not a new task).");
  bson_iter_init(&ch, stats);
  while (bson_iter_next(&ch)) {
    if (!BSON_ITER_HOLDS_DOCUMENT(&ch) || !mtq_name_valid(bson_iter_key(&ch)) ||
        !bson_iter_recurse(&ch, &st)) {
      continue;
    }
    find_removed_t f = {bson_iter_key(&ch), 0};
    each_removed(in, add_removed, &f);
    while (bson_iter_next(&st)) {
      if (BSON_ITER_HOLDS_NUMBER(&st)) {
        f.n += bson_iter_as_double(&st);
      }
    }
    labels_t l = {.n = 0};
    lab(&l, "channel", f.channel);
    sample(out, "mtq_tasks_enqueued_total", "", &l, NULL, f.n);
  }
  header(out, "mtq_tasks_counted_timestamp_seconds", "gauge",
         "When mtq_tasks was counted (Unix time).");
  labels_t none = {.n = 0};
  sample(out, "mtq_tasks_counted_timestamp_seconds", "", &none, NULL,
         (double)stats_at_ms / 1000.0);
}

/* --- workers ----------------------------------------------------------------------- */

typedef double (*figure_fn)(const mtq_whoami_t *w, bool *has);

static double f_up(const mtq_whoami_t *w, bool *has) {
  *has = true;
  return w->state == MTQ_WORKER_STATE_RUNNING ? 1 : 0;
}
static double f_seen(const mtq_whoami_t *w, bool *has) {
  *has = w->last_seen_ms > 0;
  return (double)w->last_seen_ms / 1000.0;
}
static double f_started(const mtq_whoami_t *w, bool *has) {
  *has = w->started_at_ms > 0;
  return (double)w->started_at_ms / 1000.0;
}
static double f_slots(const mtq_whoami_t *w, bool *has) {
  *has = w->concurrency > 0;
  return w->concurrency;
}
static double f_running(const mtq_whoami_t *w, bool *has) {
  *has = true;
  return w->running;
}
static double f_cores(const mtq_whoami_t *w, bool *has) {
  *has = w->hostinfo.cores > 0;
  return w->hostinfo.cores;
}
static double f_load1(const mtq_whoami_t *w, bool *has) {
  *has = w->hostinfo.has_load;
  return w->hostinfo.load[0];
}
static double f_load5(const mtq_whoami_t *w, bool *has) {
  *has = w->hostinfo.has_load;
  return w->hostinfo.load[1];
}
static double f_load15(const mtq_whoami_t *w, bool *has) {
  *has = w->hostinfo.has_load;
  return w->hostinfo.load[2];
}
static double f_mem_total(const mtq_whoami_t *w, bool *has) {
  *has = w->hostinfo.has_mem;
  return (double)w->hostinfo.mem_total_mb * 1048576.0;
}
static double f_mem_avail(const mtq_whoami_t *w, bool *has) {
  *has = w->hostinfo.has_mem;
  return (double)w->hostinfo.mem_available_mb * 1048576.0;
}
static double f_disk_total(const mtq_whoami_t *w, bool *has) {
  *has = w->hostinfo.has_disk;
  return (double)w->hostinfo.disk_total_mb * 1048576.0;
}
static double f_disk_free(const mtq_whoami_t *w, bool *has) {
  *has = w->hostinfo.has_disk;
  return (double)w->hostinfo.disk_free_mb * 1048576.0;
}
static double f_cpu_temp(const mtq_whoami_t *w, bool *has) {
  *has = w->hostinfo.has_cpu_temp;
  return w->hostinfo.cpu_temp_c;
}

/* Figures of a worker; host ones only while it runs: a stopped or lost
 * worker's last reading describes a host nobody watches any more. */
static const struct {
  const char *family, *help;
  figure_fn fn;
  bool host;
  bool disk; /* labelled with the disk's path */
} figures[] = {
    {"mtq_worker_up", "1 while the worker's whoami says running, 0 once stopped or marked lost "
                      "by mtqd.", f_up, false, false},
    {"mtq_worker_last_heartbeat_timestamp_seconds", "The worker's last heartbeat (Unix time, "
                                                    "its clock).", f_seen, false, false},
    {"mtq_worker_start_time_seconds", "When the worker started (Unix time).", f_started, false,
     false},
    {"mtq_worker_slots", "Tasks the worker runs at once (concurrency).", f_slots, false, false},
    {"mtq_worker_running_tasks", "Tasks running on the worker at its last heartbeat.",
     f_running, false, false},
    {"mtq_worker_cores", "CPU cores of the worker's host.", f_cores, true, false},
    {"mtq_worker_load1", "1-minute load average of the worker's host.", f_load1, true, false},
    {"mtq_worker_load5", "5-minute load average of the worker's host.", f_load5, true, false},
    {"mtq_worker_load15", "15-minute load average of the worker's host.", f_load15, true, false},
    {"mtq_worker_memory_total_bytes", "Memory of the worker's host.", f_mem_total, true, false},
    {"mtq_worker_memory_available_bytes", "Memory available on the worker's host.",
     f_mem_avail, true, false},
    {"mtq_worker_disk_total_bytes", "Size of the file system of the worker's directory.",
     f_disk_total, true, true},
    {"mtq_worker_disk_free_bytes", "Free space on the file system of the worker's directory.",
     f_disk_free, true, true},
    {"mtq_worker_cpu_temperature_celsius", "CPU temperature of the worker's host.", f_cpu_temp,
     true, false},
};

static void worker_labels(const mtq_whoami_t *w, labels_t *l) {
  l->n = 0;
  lab(l, "worker", w->id);
  lab(l, "host", bson_utf8_validate(w->host, strlen(w->host), false) ? w->host : "");
}

static void render_gpus(bson_string_t *out, const mtq_whoami_list_t *workers) {
  static const struct {
    const char *family, *help;
    int which;
  } gpu[] = {
      {"mtq_worker_gpu_utilization_ratio", "GPU utilisation (0..1) of the worker's host.", 0},
      {"mtq_worker_gpu_memory_used_bytes", "GPU memory in use on the worker's host.", 1},
      {"mtq_worker_gpu_memory_total_bytes", "GPU memory of the worker's host.", 2},
      {"mtq_worker_gpu_temperature_celsius", "GPU temperature of the worker's host.", 3},
  };
  for (size_t g = 0; g < sizeof gpu / sizeof gpu[0]; g++) {
    bool any = false;
    for (size_t i = 0; i < workers->n; i++) {
      const mtq_whoami_t *w = &workers->items[i];
      if (w->state != MTQ_WORKER_STATE_RUNNING) {
        continue;
      }
      for (size_t k = 0; k < w->hostinfo.n_gpus && k < MTQ_HOSTINFO_MAX_GPUS; k++) {
        const mtq_hostinfo_gpu_t *d = &w->hostinfo.gpus[k];
        double v = gpu[g].which == 0   ? d->util_pct / 100.0
                   : gpu[g].which == 1 ? d->mem_used_mb * 1048576.0
                   : gpu[g].which == 2 ? d->mem_total_mb * 1048576.0
                                       : d->temp_c;
        if (isnan(v)) {
          continue; /* nvidia-smi said [N/A] */
        }
        if (!any) {
          header(out, gpu[g].family, "gauge", gpu[g].help);
          any = true;
        }
        char index[16];
        snprintf(index, sizeof index, "%d", (int)d->index);
        labels_t l;
        worker_labels(w, &l);
        lab(&l, "gpu", index);
        sample(out, gpu[g].family, "", &l, NULL, v);
      }
    }
  }
}

static void render_workers(bson_string_t *out, const mtq_whoami_list_t *workers) {
  header(out, "mtq_workers", "gauge",
         "Workers by the state of their whoami document (running, stopped, lost: marked by "
         "mtqd after lost_after_ms without a heartbeat).");
  static const mtq_worker_state_t states[] = {MTQ_WORKER_STATE_RUNNING, MTQ_WORKER_STATE_STOPPED,
                                              MTQ_WORKER_STATE_LOST, MTQ_WORKER_STATE_UNKNOWN};
  for (size_t s = 0; s < sizeof states / sizeof states[0]; s++) {
    size_t n = 0;
    for (size_t i = 0; i < workers->n; i++) {
      n += workers->items[i].state == states[s];
    }
    labels_t l = {.n = 0};
    lab(&l, "state", mtq_worker_state_name(states[s]));
    sample(out, "mtq_workers", "", &l, NULL, (double)n);
  }
  for (size_t f = 0; f < sizeof figures / sizeof figures[0]; f++) {
    bool any = false;
    for (size_t i = 0; i < workers->n; i++) {
      const mtq_whoami_t *w = &workers->items[i];
      bool has = false;
      double v = figures[f].fn(w, &has);
      if (!has || (figures[f].host && w->state != MTQ_WORKER_STATE_RUNNING)) {
        continue;
      }
      if (!any) {
        header(out, figures[f].family, "gauge", figures[f].help);
        any = true;
      }
      labels_t l;
      worker_labels(w, &l);
      if (figures[f].disk) {
        const char *p = w->hostinfo.disk_path;
        lab(&l, "path", bson_utf8_validate(p, strlen(p), false) ? p : "");
      }
      sample(out, figures[f].family, "", &l, NULL, v);
    }
  }
  render_gpus(out, workers);
}

/* --- the entry points -------------------------------------------------------------- */

void mtq_web_metrics_input_init(mtq_web_metrics_input_t *in) {
  memset(in, 0, sizeof *in);
  mtq_whoami_list_init(&in->workers);
  bson_init(&in->metrics);
  bson_init(&in->self_db);
}

void mtq_web_metrics_input_cleanup(mtq_web_metrics_input_t *in) {
  mtq_whoami_list_cleanup(&in->workers);
  bson_destroy(&in->metrics);
  bson_destroy(&in->self_db);
}

bool mtq_web_metrics_gather(mtq_store_t *store, mtq_web_metrics_input_t *in,
                            bson_error_t *error) {
  mtq_web_metrics_input_cleanup(in);
  mtq_web_metrics_input_init(in);
  if (gethostname(in->self_name, sizeof in->self_name - 1) != 0) {
    bson_strncpy(in->self_name, "unknown", sizeof in->self_name);
  }
  in->now_ms = mtq_now_ms();
  bson_destroy(&in->metrics);
  if (!mtq_store_metrics_read(store, &in->metrics, error)) {
    return false;
  }
  if (!mtq_store_workers(store, &in->workers, error)) {
    return false;
  }
  /* Taken last, so that it counts the two reads above. */
  mtq_store_db_stats(store, &in->self_db);
  return true;
}

void mtq_web_metrics_render(const mtq_web_metrics_input_t *in, const bson_t *stats,
                            int64_t stats_at_ms, bson_string_t *out) {
  render_tasks(out, in, stats, stats_at_ms);
  render_workers(out, &in->workers);
  sources_t s;
  sources_read(in, &s);
  render_processes(out, &s);
  sources_free(&s);
}

bool mtq_web_metrics(mtq_store_t *store, const bson_t *stats, int64_t stats_at_ms,
                     bson_string_t *out, bson_error_t *error) {
  mtq_web_metrics_input_t in;
  mtq_web_metrics_input_init(&in);
  bool ok = mtq_web_metrics_gather(store, &in, error);
  if (ok) {
    mtq_web_metrics_render(&in, stats, stats_at_ms, out);
  }
  mtq_web_metrics_input_cleanup(&in);
  return ok;
}
