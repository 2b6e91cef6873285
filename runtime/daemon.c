/* daemon.c - the loop, the store and signals of a daemon (see daemon.h). */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "mtq_error.h"
#include "mtq_log.h"

__attribute__((format(printf, 2, 3))) static int usage_error(const char *program,
                                                             const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", program);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\nTry '%s --help'.\n", program);
  va_end(ap);
  return 2;
}

int mtq_daemon_options(int argc, char **argv, const char *program, const char *usage,
                       bool with_id, mtq_daemon_options_t *o) {
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'}, {"uri", required_argument, NULL, 'u'},
      {"id", required_argument, NULL, 'i'},     {"log-level", required_argument, NULL, 'l'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
  };
  memset(o, 0, sizeof *o);
  o->log_level = MTQ_LOG_INFO;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, with_id ? ":c:u:i:l:h" : ":c:u:l:h", longopts, NULL)) !=
         -1) {
    switch (c) {
    case 'c':
      o->config = optarg;
      break;
    case 'u':
      o->uri = optarg;
      break;
    case 'i':
      if (!with_id) {
        return usage_error(program, "unknown option '--id'");
      }
      o->id = optarg;
      break;
    case 'l':
      if (!mtq_log_level_parse(optarg, &o->log_level)) {
        return usage_error(program, "unknown log level '%s' (debug, info, warn, error)", optarg);
      }
      break;
    case 'h':
      fputs(usage, stdout);
      return 0;
    case ':':
      return usage_error(program, "option '%s' needs a value", argv[optind - 1]);
    default:
      return usage_error(program, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) {
    return usage_error(program, "unexpected argument '%s'", argv[optind]);
  }
  if (!o->config) {
    return usage_error(program, "--config FILE is required");
  }
  if (o->id && !mtq_name_valid(o->id)) {
    return usage_error(program, "'%s' is not a valid worker id (1-64 of A-Z a-z 0-9 _ . -)",
                       o->id);
  }
  return -1;
}

const char *mtq_daemon_uri(const mtq_daemon_options_t *o, const char *from_file) {
  const char *env = getenv("MTQ_URI");
  return o->uri ? o->uri : env && *env ? env : from_file;
}

bool mtq_daemon_init(mtq_daemon_t *d, const char *uri, const char *appname, bson_error_t *error) {
  memset(d, 0, sizeof *d);
  /* The driver writes to sockets the server may have closed, and a task's
   * process may exit without reading its stdin. */
  signal(SIGPIPE, SIG_IGN);
  int rc = uv_loop_init(&d->loop);
  if (rc != 0) {
    mtq_error_set(error, MTQ_ERR_INVALID, "cannot start the event loop: %s", uv_strerror(rc));
    return false;
  }
  d->store = mtq_store_new(uri, appname, error);
  if (!d->store) {
    uv_loop_close(&d->loop);
    return false;
  }
  return true;
}

static void on_uv_signal(uv_signal_t *handle, int signum) {
  mtq_daemon_t *d = handle->data;
  d->on_signal(d->data, signum);
}

void mtq_daemon_on_signal(mtq_daemon_t *d, mtq_daemon_signal_fn fn, void *data) {
  d->on_signal = fn;
  d->data = data;
  uv_signal_init(&d->loop, &d->sigterm);
  uv_signal_init(&d->loop, &d->sigint);
  d->sigterm.data = d->sigint.data = d;
  uv_signal_start(&d->sigterm, on_uv_signal, SIGTERM);
  uv_signal_start(&d->sigint, on_uv_signal, SIGINT);
  /* They watch; they do not keep the loop running. */
  uv_unref((uv_handle_t *)&d->sigterm);
  uv_unref((uv_handle_t *)&d->sigint);
  d->signals_open = true;
}

void mtq_daemon_close_signals(mtq_daemon_t *d) {
  if (d->signals_open) {
    d->signals_open = false;
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
  }
}

void mtq_daemon_run(mtq_daemon_t *d) { uv_run(&d->loop, UV_RUN_DEFAULT); }

void mtq_daemon_destroy(mtq_daemon_t *d) {
  mtq_daemon_close_signals(d);
  /* Closing callbacks of the signal handles run here. */
  uv_run(&d->loop, UV_RUN_NOWAIT);
  if (uv_loop_close(&d->loop) != 0) {
    mtq_warn("event loop closed with handles still open");
  }
  mtq_store_destroy(d->store);
  d->store = NULL;
}
