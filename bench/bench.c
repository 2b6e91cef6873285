/* bench.c - mtq-bench: measures mtq against a running server.
 *
 *   mtq-bench ceiling --uri U [--n N] [--batch B] [--segment S] [--max-s T]
 *   mtq-bench inserts --uri U [--n N] [--batch B] [--segment S]
 *   mtq-bench fill    --uri U --channel C --to N [--batch B] [--max-s T]
 *   mtq-bench enqueue --uri U --channel C --n N [--batch B] [--max-s T]
 *   mtq-bench drain   --uri U --channel C [--expect N] [--max-tasks M] [--max-s T]
 *                     [--interval-ms I]
 *   mtq-bench probe   --uri U --channel C [--repeat R] [--batch B] [--max-s T]
 *   mtq-bench latency --uri U --channel C [--n N] [--gap-ms G] [--max-s T]
 *
 * Only the public API touches mtq's collections (the store's layout is not
 * the bench's business); the ceiling writes collections of its own.  The
 * workers and the coordinator are started by run.sh, not here. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

int64_t bench_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double bench_since_s(int64_t t0_us) { return (double)(bench_now_us() - t0_us) / 1e6; }

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double bench_quantile(double *v, size_t n, double q) {
  if (n == 0) {
    return 0;
  }
  qsort(v, n, sizeof *v, cmp_double);
  size_t i = (size_t)(q * (double)(n - 1) + 0.5);
  return v[i];
}

void bench_die(const char *what, const bson_error_t *e) {
  fprintf(stderr, "mtq-bench: %s: %s\n", what, e ? e->message : "failed");
  exit(1);
}

mtq_client_t *bench_client(const bench_opts_t *o) {
  bson_error_t e;
  mtq_client_t *c = mtq_client_new(o->uri, &e);
  if (!c) {
    bench_die("connect", &e);
  }
  return c;
}

int64_t bench_backlog(mtq_store_t *store, const char *channel) {
  bson_error_t e;
  int64_t n = 0;
  if (!mtq_store_backlog(store, channel, &n, &e)) {
    bench_die("backlog", &e);
  }
  return n;
}

mongoc_client_t *bench_connect_raw(const bench_opts_t *o, mongoc_uri_t **uri, const char **db) {
  *uri = mongoc_uri_new(o->uri);
  if (!*uri) {
    fprintf(stderr, "mtq-bench: bad URI\n");
    return NULL;
  }
  *db = mongoc_uri_get_database(*uri) ? mongoc_uri_get_database(*uri) : "mtq";
  return mongoc_client_new_from_uri(*uri);
}

void bench_sleep_ms(int64_t ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

static const struct {
  const char *name;
  int (*run)(const bench_opts_t *);
} commands[] = {
    {"ceiling", bench_ceiling}, {"inserts", bench_inserts}, {"fill", bench_fill},
    {"enqueue", bench_enqueue}, {"drain", bench_drain},     {"probe", bench_probe},
    {"latency", bench_latency},
};

int main(int argc, char **argv) {
  bench_opts_t o = {.channel = "bench", .func = "noop", .n = 1000, .batch = 8,
                    .segment = 1000, .max_tasks = 1000000000, .max_s = 60, .repeat = 5,
                    .gap_ms = 1000, .interval_ms = 250, .expect = -1};
  static const struct option longopts[] = {
      {"uri", required_argument, 0, 'u'},       {"channel", required_argument, 0, 'c'},
      {"func", required_argument, 0, 'f'},      {"n", required_argument, 0, 'n'},
      {"to", required_argument, 0, 't'},        {"batch", required_argument, 0, 'b'},
      {"segment", required_argument, 0, 's'},   {"max-tasks", required_argument, 0, 'm'},
      {"max-s", required_argument, 0, 'T'},     {"repeat", required_argument, 0, 'r'},
      {"gap-ms", required_argument, 0, 'g'},    {"interval-ms", required_argument, 0, 'i'},
      {"expect", required_argument, 0, 'e'},    {0, 0, 0, 0}};
  if (argc < 2) {
    fprintf(stderr, "usage: mtq-bench ceiling|inserts|fill|enqueue|drain|probe|latency --uri URI ...\n");
    return 2;
  }
  const char *cmd = argv[1];
  optind = 2;
  int ch;
  while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (ch) {
    case 'u': o.uri = optarg; break;
    case 'c': o.channel = optarg; break;
    case 'f': o.func = optarg; break;
    case 'n': o.n = atoll(optarg); break;
    case 't': o.to = atoll(optarg); break;
    case 'b': o.batch = atoll(optarg); break;
    case 's': o.segment = atoll(optarg); break;
    case 'm': o.max_tasks = atoll(optarg); break;
    case 'T': o.max_s = atof(optarg); break;
    case 'r': o.repeat = atoll(optarg); break;
    case 'g': o.gap_ms = atoll(optarg); break;
    case 'i': o.interval_ms = atoll(optarg); break;
    case 'e': o.expect = atoll(optarg); break;
    default: return 2;
    }
  }
  if (!o.uri || o.n < 1 || o.batch < 1 || o.batch > 100000 || o.segment < 1 || o.repeat < 1 ||
      o.max_s <= 0 || o.gap_ms < 0 || o.interval_ms < 1 || o.to < 0) {
    fprintf(stderr, "mtq-bench: --uri is required; counts >= 1, --batch <= 100000\n");
    return 2;
  }
  mtq_log_init("mtq-bench", MTQ_LOG_WARN);
  /* The ceiling uses the driver directly, not through libmtq's store that
   * routes driver logs; FerretDB's missing endSessions is not news here. */
  mongoc_log_set_handler(NULL, NULL);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    if (strcmp(cmd, commands[i].name) == 0) {
      return commands[i].run(&o);
    }
  }
  fprintf(stderr, "mtq-bench: unknown command '%s'\n", cmd);
  return 2;
}
