/* main.c - mtqd, the coordinator: options, configuration, signals. */
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
    "priority edits, removes finished tasks kept past their retention,\n"
    "dispatches redundant tasks and fires the ticks of schedules.\n"
    "\n"
    "  -c, --config FILE      configuration file (INI)\n"
    "      --uri URI          database URI (else $MTQ_URI, else [database] uri)\n"
    "      --log-level LEVEL  debug, info (default), warn or error\n"
    "  -h, --help             this help\n";

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
  mtq_daemon_options_t o;
  int rc = mtq_daemon_options(argc, argv, "mtqd", usage, false, &o);
  if (rc >= 0) {
    return rc;
  }
  mtq_log_init("mtqd", o.log_level);

  mtq_coord_config_t cfg;
  mtq_coord_config_init(&cfg);
  bson_error_t err;
  mtq_daemon_t daemon;
  bool daemon_up = false;
  mtq_keyring_t *ring = NULL; /* [security] keys: sign the tasks of schedules */
  rc = 1;
  if (!mtq_coord_config_load(&cfg, o.config, &err)) {
    mtq_err("%s", err.message);
    goto done;
  }
  const char *uri = mtq_daemon_uri(&o, cfg.base.uri);
  uri = uri ? uri : DEFAULT_URI;
  if (!(daemon_up = mtq_daemon_init(&daemon, uri, "mtqd", &err))) {
    mtq_err("%s", err.message);
    goto done;
  }
  char where[512];
  mtq_uri_describe(uri, where, sizeof where);
  mtq_info("starting: database %s, lost after %lld ms, sweep every %lld ms, reconcile every %lld ms",
           where, (long long)cfg.lost_after_ms, (long long)cfg.sweep_interval_ms,
           (long long)cfg.reconcile_interval_ms);
  if (!mtq_config_keyring(&cfg.base, &ring, &err)) {
    mtq_err("%s", err.message);
    goto done;
  }
  mtqd_t m = {&daemon, mtq_coordinator_new(&daemon.loop, daemon.store, &cfg, ring)};
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
  mtq_keyring_destroy(ring);
  mtq_coord_config_cleanup(&cfg);
  return rc;
}
