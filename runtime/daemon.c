/* daemon.c - the loop, the store and signals of a daemon (see daemon.h). */
#include <signal.h>
#include <string.h>

#include "daemon.h"
#include "mtq_error.h"
#include "mtq_log.h"

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
