/* main.c - mtq-worker's command line: reads the configuration, applies the
 * overrides, and runs the worker until SIGTERM or SIGINT.
 *
 * Exit status: 0 after a clean stop, 1 for a configuration or startup
 * error, 2 for bad usage. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtq.h"
#include "runner.h"
#include "daemon.h"
#include "worker.h"

static const char usage_text[] =
    "usage: mtq-worker --config FILE [--uri URI] [--id ID] [--log-level LEVEL]\n"
    "\n"
    "Claims tasks from the channels in FILE's [worker] section and runs the\n"
    "functions of its [function NAME] sections.\n"
    "\n"
    "  -c, --config FILE      configuration file (required)\n"
    "  -u, --uri URI          database URI; overrides MTQ_URI and the file\n"
    "  -i, --id ID            worker id; overrides the file (default: host name)\n"
    "  -l, --log-level LEVEL  debug, info (default), warn or error\n"
    "  -h, --help             show this help\n";

typedef struct {
  const char *config;
  const char *uri;
  const char *id;
  mtq_log_level_t level;
} options_t;

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "mtq-worker: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\nTry 'mtq-worker --help'.\n");
  va_end(ap);
  return 2;
}

/* Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, options_t *o) {
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'}, {"uri", required_argument, NULL, 'u'},
      {"id", required_argument, NULL, 'i'},     {"log-level", required_argument, NULL, 'l'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
  };
  memset(o, 0, sizeof *o);
  o->level = MTQ_LOG_INFO;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":c:u:i:l:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'c':
      o->config = optarg;
      break;
    case 'u':
      o->uri = optarg;
      break;
    case 'i':
      o->id = optarg;
      break;
    case 'l':
      if (!mtq_log_level_parse(optarg, &o->level)) {
        return usage_error("unknown log level '%s' (debug, info, warn, error)", optarg);
      }
      break;
    case 'h':
      fputs(usage_text, stdout);
      return 0;
    case ':':
      return usage_error("%s needs a value", argv[optind - 1]);
    default:
      return usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) {
    return usage_error("unexpected argument '%s'", argv[optind]);
  }
  if (!o->config) {
    return usage_error("--config FILE is required");
  }
  if (o->id && !mtq_name_valid(o->id)) {
    return usage_error("'%s' is not a valid worker id (1-64 of A-Z a-z 0-9 _ . -)", o->id);
  }
  return -1;
}

/* Loads the file and applies the overrides; false with *error set. */
static bool load_config(const options_t *o, mtq_worker_config_t *cfg, bson_error_t *error) {
  if (!mtq_worker_config_load(cfg, o->config, error)) {
    return false;
  }
  const char *env_uri = getenv("MTQ_URI");
  const char *uri = o->uri ? o->uri : env_uri && *env_uri ? env_uri : NULL;
  if (uri) {
    bson_free(cfg->base.uri);
    cfg->base.uri = bson_strdup(uri);
  }
  if (o->id) {
    bson_free(cfg->worker_id);
    cfg->worker_id = bson_strdup(o->id);
  }
  if (!cfg->base.uri) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "%s: no database uri ([database] uri, MTQ_URI or --uri)", o->config);
    return false;
  }
  if (cfg->n_channels == 0) {
    mtq_error_set(error, MTQ_ERR_INVALID, "%s: [worker] channels lists no channel", o->config);
    return false;
  }
  if (cfg->n_functions == 0) {
    mtq_error_set(error, MTQ_ERR_INVALID, "%s: no [function NAME] section", o->config);
    return false;
  }
  return true;
}

static void on_signal(void *data, int signum) { mtq_worker_signal(data, signum); }

int main(int argc, char **argv) {
  /* A task being started (see runner.h): nothing of the worker may run
   * first, so this comes before option parsing and logging. */
  if (argc > 1 && strcmp(argv[1], MTQ_RUNNER_EXEC_FLAG) == 0) {
    mtq_runner_exec_task(argc, argv);
  }
  options_t o;
  int rc = parse_args(argc, argv, &o);
  if (rc >= 0) {
    return rc;
  }
  mtq_log_init("mtq-worker", o.level);

  mtq_worker_config_t cfg;
  mtq_worker_config_init(&cfg);
  bson_error_t error = {0};
  rc = 1;
  if (!load_config(&o, &cfg, &error)) {
    mtq_err("%s", error.message);
    goto done;
  }
  /* SIGPIPE is ignored from here (a task that exits without reading its
   * stdin must not kill the worker); libuv gives every child the default
   * dispositions again. */
  mtq_daemon_t daemon;
  if (!mtq_daemon_init(&daemon, cfg.base.uri, "mtq-worker", &error)) {
    mtq_err("%s", error.message);
    goto done;
  }
  mtq_worker_t *worker = mtq_worker_new(&daemon.loop, daemon.store, &cfg, &error);
  if (!worker) {
    mtq_err("%s", error.message);
    mtq_daemon_destroy(&daemon);
    goto done;
  }
  mtq_worker_size_threads(&cfg);
  mtq_daemon_on_signal(&daemon, on_signal, worker);
  mtq_worker_start(worker);
  mtq_daemon_run(&daemon);
  rc = mtq_worker_exit_code(worker);
  mtq_worker_destroy(worker);
  mtq_daemon_destroy(&daemon);
done:
  mtq_worker_config_cleanup(&cfg);
  return rc;
}
