/* metricsdump - prints what GET /metrics of mtq-web would serve, from the
 * database at URI: the tests' way to read the exposition without the web
 * daemon (test_metrics.sh).
 *
 *   metricsdump --uri URI [--stats]
 *
 * --stats also counts the tasks (mtq_store_stats), as the web daemon does
 * for its cache, so that mtq_tasks and mtq_tasks_enqueued_total appear.
 * Exit status 0; 1 when the database cannot be read; 2 on bad usage. */
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "mtq.h"

static int usage(const char *why) {
  fprintf(stderr, "metricsdump: %s\nusage: metricsdump --uri URI [--stats]\n", why);
  return 2;
}

int main(int argc, char **argv) {
  const char *uri = NULL;
  bool with_stats = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--uri") == 0 && i + 1 < argc) {
      uri = argv[++i];
    } else if (strcmp(argv[i], "--stats") == 0) {
      with_stats = true;
    } else {
      return usage("unknown argument");
    }
  }
  if (!uri) {
    return usage("--uri is required");
  }
  mtq_log_init("metricsdump", MTQ_LOG_WARN);
  bson_error_t error;
  mtq_store_t *store = mtq_store_new(uri, "metricsdump", &error);
  if (!store) {
    fprintf(stderr, "metricsdump: %s\n", error.message);
    return 2;
  }
  int rc = 1;
  bson_t stats = BSON_INITIALIZER;
  int64_t stats_at_ms = mtq_now_ms();
  bson_string_t *out = bson_string_new(NULL);
  if (with_stats) {
    bson_destroy(&stats);
    if (!mtq_store_stats(store, &stats, &error)) {
      fprintf(stderr, "metricsdump: cannot count the tasks: %s\n", error.message);
      goto done;
    }
  }
  if (!mtq_web_metrics(store, with_stats ? &stats : NULL, stats_at_ms, out, &error)) {
    fprintf(stderr, "metricsdump: %s\n", error.message);
    goto done;
  }
  fputs(out->str, stdout);
  rc = 0;
done:
  bson_string_free(out, true);
  bson_destroy(&stats);
  mtq_store_destroy(store);
  return rc;
}
