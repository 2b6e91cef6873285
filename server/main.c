/* main.c - mtqd, the coordinator: options, configuration, signals. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "coordinator.h"

#define DEFAULT_URI "mongodb://127.0.0.1:27017/mtq"

static const char usage[] =
    "usage: mtqd --config FILE [--uri URI] [--log-level LEVEL]\n"
    "\n"
    "The mtq coordinator: declares the channels of the [coordinator] section,\n"
    "requeues the tasks of lost workers, releases delayed tasks, follows\n"
    "priority edits and removes finished tasks kept past their retention.\n"
    "\n"
    "  -c, --config FILE      configuration file (INI)\n"
    "      --uri URI          database URI (else $MTQ_URI, else [database] uri)\n"
    "      --log-level LEVEL  debug, info (default), warn or error\n"
    "  -h, --help             this help\n";

static const char try_help[] = "Try 'mtqd --help'.\n";

typedef struct {
  const char *config_path;
  const char *uri;
  mtq_log_level_t log_level;
} options_t;

/* Returns -1 to go on, else the exit code. */
static int parse_options(int argc, char **argv, options_t *o) {
  static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                           {"uri", required_argument, NULL, 'u'},
                                           {"log-level", required_argument, NULL, 'l'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'c':
      o->config_path = optarg;
      break;
    case 'u':
      o->uri = optarg;
      break;
    case 'l':
      if (!mtq_log_level_parse(optarg, &o->log_level)) {
        fprintf(stderr, "mtqd: unknown log level '%s' (debug, info, warn, error)\n", optarg);
        return 2;
      }
      break;
    case 'h':
      fputs(usage, stdout);
      return 0;
    case ':':
      fprintf(stderr, "mtqd: option '%s' needs an argument\n%s", argv[optind - 1], try_help);
      return 2;
    default:
      fprintf(stderr, "mtqd: unknown option '%s'\n%s", argv[optind - 1], try_help);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "mtqd: unexpected argument '%s'\n%s", argv[optind], try_help);
    return 2;
  }
  if (!o->config_path) {
    fprintf(stderr, "mtqd: --config FILE is required\n%s", try_help);
    return 2;
  }
  return -1;
}

typedef struct {
  mtq_coordinator_t *co;
  uv_signal_t sigterm, sigint;
} daemon_t;

static void on_signal(uv_signal_t *handle, int signum) {
  daemon_t *dm = handle->data;
  mtq_info("%s: stopping once the work in flight is back", strsignal(signum));
  mtq_coordinator_stop(dm->co);
  /* With our handlers gone, a second signal ends mtqd at once. */
  uv_close((uv_handle_t *)&dm->sigterm, NULL);
  uv_close((uv_handle_t *)&dm->sigint, NULL);
}

static int run(mtq_store_t *store, const mtq_coord_config_t *cfg) {
  uv_loop_t loop;
  int rc = uv_loop_init(&loop);
  if (rc != 0) {
    mtq_err("cannot start the event loop: %s", uv_strerror(rc));
    return 1;
  }
  daemon_t dm = {.co = mtq_coordinator_new(&loop, store, cfg)};
  uv_signal_init(&loop, &dm.sigterm);
  uv_signal_init(&loop, &dm.sigint);
  dm.sigterm.data = dm.sigint.data = &dm;
  uv_signal_start(&dm.sigterm, on_signal, SIGTERM);
  uv_signal_start(&dm.sigint, on_signal, SIGINT);
  mtq_coordinator_start(dm.co);
  uv_run(&loop, UV_RUN_DEFAULT);
  mtq_coordinator_destroy(dm.co);
  uv_loop_close(&loop);
  mtq_info("stopped");
  return 0;
}

int main(int argc, char **argv) {
  options_t o = {.log_level = MTQ_LOG_INFO};
  int rc = parse_options(argc, argv, &o);
  if (rc >= 0) {
    return rc;
  }
  mtq_log_init("mtqd", o.log_level);
  /* The driver writes to sockets the server may have closed. */
  signal(SIGPIPE, SIG_IGN);

  mtq_coord_config_t cfg;
  mtq_coord_config_init(&cfg);
  bson_error_t err;
  mtq_store_t *store = NULL;
  rc = 1;
  if (!mtq_coord_config_load(&cfg, o.config_path, &err)) {
    mtq_err("%s", err.message);
    goto done;
  }
  const char *env_uri = getenv("MTQ_URI");
  const char *uri = o.uri                  ? o.uri
                    : env_uri && *env_uri ? env_uri
                    : cfg.base.uri             ? cfg.base.uri
                                          : DEFAULT_URI;
  store = mtq_store_new(uri, "mtqd", &err);
  if (!store) {
    mtq_err("%s", err.message);
    goto done;
  }
  char where[512];
  mtq_uri_describe(uri, where, sizeof where);
  mtq_info("starting: database %s, lost after %lld ms, sweep every %lld ms, reconcile every %lld ms",
           where, (long long)cfg.lost_after_ms, (long long)cfg.sweep_interval_ms,
           (long long)cfg.reconcile_interval_ms);
  rc = run(store, &cfg);
done:
  mtq_store_destroy(store);
  mtq_coord_config_cleanup(&cfg);
  return rc;
}
