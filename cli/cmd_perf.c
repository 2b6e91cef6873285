/* cmd_perf.c - performance figures from run records: `mtq stats --func`
 * and the SCORE column (and "perf" field) of `mtq workers`. */
#include <string.h>

#include "cli.h"

/* The figures as JSON fields; func is left out when empty (figures over
 * every function). */
static void perf_to_bson(const mtq_perf_t *p, bson_t *doc) {
  BSON_APPEND_UTF8(doc, "worker", p->worker);
  if (p->func[0]) {
    BSON_APPEND_UTF8(doc, "func", p->func);
  }
  mtq_perf_append(p, doc);
}

static void print_perf_json(const mtq_perf_t *perf, size_t n) {
  bson_t doc = BSON_INITIALIZER, arr;
  BSON_APPEND_ARRAY_BEGIN(&doc, "perf", &arr);
  for (size_t i = 0; i < n; i++) {
    char key[16];
    const char *k;
    bson_t one;
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, k, &one);
    perf_to_bson(&perf[i], &one);
    bson_append_document_end(&arr, &one);
  }
  bson_append_array_end(&doc, &arr);
  mtq_cli_print_array(&doc, "perf", stdout);
  bson_destroy(&doc);
}

static void add_perf_row(mtq_table_t *table, const mtq_perf_t *p) {
  char runs[24], ok[24], rate[16], p50[24], p95[24], max[24], ewma[24], wait[24];
  snprintf(runs, sizeof runs, "%lld", (long long)p->n);
  snprintf(ok, sizeof ok, "%lld", (long long)p->ok);
  snprintf(rate, sizeof rate, "%.1f%%", 100.0 * p->success_rate);
  mtq_cli_format_ms((double)p->p50_ms, p50, sizeof p50);
  mtq_cli_format_ms((double)p->p95_ms, p95, sizeof p95);
  mtq_cli_format_ms((double)p->max_ms, max, sizeof max);
  mtq_cli_format_ms(p->ewma_ms, ewma, sizeof ewma);
  mtq_cli_format_ms(p->mean_wait_ms, wait, sizeof wait);
  /* Run times of a worker that finished nothing are not 0: there are none. */
  bool timed = p->ok > 0;
  const char *cells[] = {p->worker,          runs, ok, rate, timed ? p50 : NULL, timed ? p95 : NULL,
                         timed ? max : NULL, timed ? ewma : NULL, wait};
  mtq_table_add(table, cells);
}

int mtq_cli_print_perf(mtq_cli_t *cli, const char *func) {
  mtq_perf_t *perf;
  size_t n;
  bson_error_t error;
  if (!mtq_store_perf(cli->store, func, &perf, &n, &error)) {
    return mtq_cli_fail(cli, &error, "cannot read the run records of %s", func);
  }
  if (cli->json) {
    print_perf_json(perf, n);
  } else {
    static const char *const headers[] = {"WORKER", "RUNS", "OK",   "SUCCESS",  "P50",
                                          "P95",    "MAX",  "EWMA", "MEAN_WAIT"};
    mtq_table_t *table = mtq_table_new(9, headers);
    for (size_t i = 0; i < n; i++) {
      add_perf_row(table, &perf[i]);
    }
    mtq_table_print(table, stdout);
    mtq_table_destroy(table);
  }
  bson_free(perf);
  return MTQ_CLI_OK;
}

bool mtq_cli_worker_scores(const mtq_cli_t *cli, mtq_perf_t **out, size_t *n) {
  mtq_run_t *runs;
  size_t n_runs;
  bson_error_t error;
  *out = NULL;
  *n = 0;
  if (!mtq_store_runs(cli->store, NULL, &runs, &n_runs, &error)) {
    /* The workers' own figures are still worth showing. */
    fprintf(stderr, "mtq: warning: cannot read run records, no scores: %s\n", error.message);
    return false;
  }
  mtq_perf_compute(runs, n_runs, MTQ_PERF_BY_WORKER, out, n);
  bson_free(runs);
  return true;
}

void mtq_cli_format_score(const mtq_perf_t *p, char *buf, size_t size) {
  if (!p || p->n == 0) {
    snprintf(buf, size, "-");
    return;
  }
  char ewma[24] = "";
  if (p->ok > 0) {
    ewma[0] = '~';
    mtq_cli_format_ms(p->ewma_ms, ewma + 1, sizeof ewma - 1);
  }
  snprintf(buf, size, "%lld runs %.0f%% ok%s%s", (long long)p->n, 100.0 * p->success_rate,
           ewma[0] ? " " : "", ewma);
}

void mtq_cli_add_scores(const mtq_whoami_list_t *workers, const mtq_perf_t *scores, size_t n,
                        bson_t *out) {
  bson_t arr;
  bson_init(out);
  BSON_APPEND_ARRAY_BEGIN(out, "workers", &arr);
  for (size_t i = 0; i < workers->n; i++) {
    const mtq_whoami_t *w = &workers->items[i];
    char key[16];
    const char *k;
    bson_t doc, perf;
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, k, &doc);
    mtq_whoami_to_bson(w, &doc);
    const mtq_perf_t *p = mtq_perf_find(scores, n, w->id, "");
    if (p) {
      BSON_APPEND_DOCUMENT_BEGIN(&doc, "perf", &perf);
      perf_to_bson(p, &perf);
      bson_append_document_end(&doc, &perf);
    }
    bson_append_document_end(&arr, &doc);
  }
  bson_append_array_end(out, &arr);
}
