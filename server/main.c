/* main.c - mtqd, the coordinator: options, configuration, signals. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "coordinator.h"
#include "daemon.h"

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
  mtq_daemon_t *daemon;
  mtq_coordinator_t *co;
} mtqd_t;

static void on_signal(void *data, int signum) {
  mtqd_t *m = data;
  mtq_info("%s: stopping once the work in flight is back", strsignal(signum));
  mtq_coordinator_stop(m->co);
  /* With our handlers gone, a second signal ends mtqd at once. */
  mtq_daemon_close_signals(m->daemon);
}

int main(int argc, char **argv) {
  options_t o = {.log_level = MTQ_LOG_INFO};
  int rc = parse_options(argc, argv, &o);
  if (rc >= 0) {
    return rc;
  }
  mtq_log_init("mtqd", o.log_level);

  mtq_coord_config_t cfg;
  mtq_coord_config_init(&cfg);
  bson_error_t err;
  mtq_daemon_t daemon;
  bool daemon_up = false;
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
  if (!(daemon_up = mtq_daemon_init(&daemon, uri, "mtqd", &err))) {
    mtq_err("%s", err.message);
    goto done;
  }
  char where[512];
  mtq_uri_describe(uri, where, sizeof where);
  mtq_info("starting: database %s, lost after %lld ms, sweep every %lld ms, reconcile every %lld ms",
           where, (long long)cfg.lost_after_ms, (long long)cfg.sweep_interval_ms,
           (long long)cfg.reconcile_interval_ms);
  mtqd_t m = {&daemon, mtq_coordinator_new(&daemon.loop, daemon.store, &cfg)};
  mtq_daemon_on_signal(&daemon, on_signal, &m);
  mtq_coordinator_start(m.co);
  mtq_daemon_run(&daemon);
  mtq_coordinator_destroy(m.co);
  mtq_info("stopped");
  rc = 0;
done:
  if (daemon_up) {
    mtq_daemon_destroy(&daemon);
  }
  mtq_coord_config_cleanup(&cfg);
  return rc;
}
