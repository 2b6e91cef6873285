/* main.c - mtq-worker's command line: reads the configuration, applies the
 * overrides, and runs the worker until SIGTERM or SIGINT.
 *
 * Exit status: 0 after a clean stop, 1 for a configuration or startup
 * error, 2 for bad usage. */
#include <malloc.h>
#include <signal.h>
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
    "functions of its [function NAME] sections and of its function_dir.\n"
    "\n"
    "  -c, --config FILE      configuration file (required)\n"
    "  -u, --uri URI          database URI; overrides MTQ_URI and the file\n"
    "  -i, --id ID            worker id; overrides the file (default: host name)\n"
    "  -l, --log-level LEVEL  debug, info (default), warn or error\n"
    "  -h, --help             show this help\n";

/* Loads the file and applies the overrides; false with *error set. */
static bool load_config(const mtq_daemon_options_t *o, mtq_worker_config_t *cfg,
                        bson_error_t *error) {
  if (!mtq_worker_config_load(cfg, o->config, error)) {
    return false;
  }
  const char *uri = mtq_daemon_uri(o, cfg->base.uri);
  if (uri && uri != cfg->base.uri) {
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
  if (cfg->n_functions == 0 && !cfg->function_dir) {
    mtq_error_set(error, MTQ_ERR_INVALID, "%s: no [function NAME] section and no function_dir",
                  o->config);
    return false;
  }
  return true;
}

static void on_signal(void *data, int signum) { mtq_worker_signal(data, signum); }

int main(int argc, char **argv) {
  /* One malloc arena, not one per thread: the worker's threads (a slot
   * each, and a few more) mostly wait on the database, and each arena of
   * its own kept some 40 KiB resident, half a MiB of an idle worker. */
  mallopt(M_ARENA_MAX, 1);
  mtq_daemon_options_t o;
  int rc = mtq_daemon_options(argc, argv, "mtq-worker", usage_text, true, &o);
  if (rc >= 0) {
    return rc;
  }
  mtq_log_init("mtq-worker", o.log_level);

  mtq_worker_config_t cfg;
  mtq_worker_config_init(&cfg);
  bson_error_t error = {0};
  rc = 1;
  if (!load_config(&o, &cfg, &error) || !mtq_runner_locate(&error)) {
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
