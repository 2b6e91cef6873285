/* sync.c - the worker's sync command as a child process (see sync.h).
 *
 * A run owns four handles: the process, the pipe its stdout and stderr
 * share, the timeout timer and the SIGKILL timer.  It ends when the process
 * has exited and the pipe reached EOF (or a drain of MTQ_RUNNER_DRAIN_MS
 * ran out, when a grandchild that left the group holds it open); then every
 * handle is closed and the callback is called from the last close. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mtq.h"
#include "runner.h"
#include "sync.h"

#define SYNC_HANDLES 4
#define SYNC_LINE_MAX 400

struct mtq_sync {
  uv_process_t process;
  uv_pipe_t out;
  uv_timer_t timeout_timer, kill_timer;
  int open_handles;
  mtq_sync_done_cb cb;
  void *data;
  int64_t timeout_ms;
  uint64_t start_ns;
  bool process_init; /* uv_spawn was called: the process handle must be closed */
  bool spawned, exited, eof, finishing, timed_out, killed;
  int64_t exit_status;
  int term_signal;
  char *fail; /* could not start: why */
  char line[SYNC_LINE_MAX + 1];
  size_t line_len;
  int lines_logged;
  bool cut;
  char read_buf[4096];
};

static void on_close(uv_handle_t *h) {
  mtq_sync_t *s = h->data;
  if (--s->open_handles > 0) {
    return;
  }
  char outcome[512];
  bool ok = false;
  if (s->fail) {
    snprintf(outcome, sizeof outcome, "cannot start: %s", s->fail);
  } else if (s->timed_out) {
    snprintf(outcome, sizeof outcome, "killed after %lld s (sync_timeout_s)",
             (long long)(s->timeout_ms / 1000));
  } else if (s->term_signal) {
    snprintf(outcome, sizeof outcome, "killed by signal %d", s->term_signal);
  } else {
    snprintf(outcome, sizeof outcome, "exit status %lld", (long long)s->exit_status);
    ok = s->exit_status == 0;
  }
  s->cb(s->data, ok, outcome);
  bson_free(s->fail);
  bson_free(s);
}

static void finish(mtq_sync_t *s) {
  if (s->finishing) {
    return;
  }
  s->finishing = true;
  if (s->line_len > 0 && !s->cut) {
    s->line[s->line_len] = '\0';
    mtq_info("sync: %s", s->line);
  }
  if (s->process_init) {
    uv_close((uv_handle_t *)&s->process, on_close);
  } else {
    s->open_handles--;
  }
  uv_close((uv_handle_t *)&s->out, on_close);
  uv_close((uv_handle_t *)&s->timeout_timer, on_close);
  uv_close((uv_handle_t *)&s->kill_timer, on_close);
}

/* One line of output into the log; beyond MTQ_SYNC_LOG_LINES, one notice. */
static void log_line(mtq_sync_t *s) {
  s->line[s->line_len] = '\0';
  s->line_len = 0;
  if (s->cut) {
    return;
  }
  if (s->lines_logged++ >= MTQ_SYNC_LOG_LINES) {
    mtq_info("sync: (more output, not logged)");
    s->cut = true;
    return;
  }
  mtq_info("sync: %s", s->line);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  mtq_sync_t *s = h->data;
  (void)suggested;
  *buf = uv_buf_init(s->read_buf, sizeof s->read_buf);
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf) {
  mtq_sync_t *s = stream->data;
  if (n < 0) {
    uv_read_stop(stream);
    s->eof = true;
    if (s->exited) {
      finish(s);
    }
    return;
  }
  for (ssize_t i = 0; i < n; i++) {
    char c = buf->base[i];
    if (c == '\n') {
      log_line(s);
    } else if (c != '\r') {
      if (s->line_len == SYNC_LINE_MAX) {
        log_line(s); /* a long line is logged in pieces */
      }
      s->line[s->line_len++] = c;
    }
  }
}

static void on_kill_timer(uv_timer_t *t) {
  mtq_sync_t *s = t->data;
  if (!s->exited) {
    mtq_warn("sync: still running %d ms after SIGTERM: SIGKILL", MTQ_RUNNER_KILL_AFTER_MS);
    uv_kill(-s->process.pid, SIGKILL);
  } else {
    finish(s); /* the drain ran out: a grandchild holds the output open */
  }
}

static void on_timeout(uv_timer_t *t) {
  mtq_sync_t *s = t->data;
  if (s->exited) {
    return;
  }
  mtq_warn("sync: still running after %lld s (sync_timeout_s): stopping it",
           (long long)(s->timeout_ms / 1000));
  s->timed_out = true;
  uv_kill(-s->process.pid, SIGTERM);
  uv_timer_start(&s->kill_timer, on_kill_timer, MTQ_RUNNER_KILL_AFTER_MS, 0);
}

static void on_sync_exit(uv_process_t *p, int64_t status, int term_signal) {
  mtq_sync_t *s = p->data;
  s->exited = true;
  s->exit_status = status;
  s->term_signal = term_signal;
  uv_timer_stop(&s->timeout_timer);
  double secs = (double)(uv_hrtime() - s->start_ns) / 1e9;
  if (term_signal) {
    mtq_info("sync: ended by signal %d after %.1f s", term_signal, secs);
  } else {
    mtq_info("sync: exit status %lld after %.1f s", (long long)status, secs);
  }
  /* Whatever is left in the group (a child that ignored the end) goes. */
  uv_kill(-p->pid, SIGKILL);
  if (s->eof) {
    finish(s);
  } else {
    uv_timer_stop(&s->kill_timer);
    uv_timer_start(&s->kill_timer, on_kill_timer, MTQ_RUNNER_DRAIN_MS, 0);
  }
}

mtq_sync_t *mtq_sync_start(uv_loop_t *loop, char *const *argv, char *const *env,
                           int64_t timeout_ms, mtq_sync_done_cb cb, void *data) {
  mtq_sync_t *s = bson_malloc0(sizeof *s);
  s->cb = cb;
  s->data = data;
  s->timeout_ms = timeout_ms;
  s->open_handles = SYNC_HANDLES;
  uv_pipe_init(loop, &s->out, 0);
  uv_timer_init(loop, &s->timeout_timer);
  uv_timer_init(loop, &s->kill_timer);
  s->process.data = s->out.data = s->timeout_timer.data = s->kill_timer.data = s;

  /* One pipe for both streams, so that the log keeps their order. */
  uv_file fds[2];
  int rc = uv_pipe(fds, UV_NONBLOCK_PIPE, 0);
  if (rc != 0) {
    s->fail = bson_strdup_printf("pipe: %s", uv_strerror(rc));
    s->exited = s->eof = true;
    finish(s);
    return s;
  }
  uv_pipe_open(&s->out, fds[0]);
  uv_stdio_container_t stdio[3] = {
      {.flags = UV_IGNORE},
      {.flags = UV_INHERIT_FD, .data.fd = fds[1]},
      {.flags = UV_INHERIT_FD, .data.fd = fds[1]},
  };
  size_t n = 0;
  while (argv[n]) {
    n++;
  }
  char ppid[24];
  snprintf(ppid, sizeof ppid, "%d", (int)getpid());
  char **args = bson_malloc0((n + 4) * sizeof *args);
  args[0] = (char *)MTQ_RUNNER_EXEC;
  args[1] = ppid;
  args[2] = (char *)"--";
  memcpy(args + 3, argv, n * sizeof *args);
  uv_process_options_t po = {
      .exit_cb = on_sync_exit,
      .file = mtq_runner_exec_path(),
      .args = args,
      .env = (char **)env,
      .flags = UV_PROCESS_DETACHED,
      .stdio_count = 3,
      .stdio = stdio,
  };
  s->start_ns = uv_hrtime();
  /* uv_spawn initialises the handle even when it fails. */
  s->process_init = true;
  rc = uv_spawn(loop, &s->process, &po);
  s->process.data = s;
  close(fds[1]);
  bson_free(args);
  if (rc != 0) {
    s->fail = bson_strdup_printf("%s: %s", argv[0], uv_strerror(rc));
    s->exited = s->eof = true;
    finish(s);
    return s;
  }
  s->spawned = true;
  uv_read_start((uv_stream_t *)&s->out, on_alloc, on_read);
  uv_timer_start(&s->timeout_timer, on_timeout, (uint64_t)timeout_ms, 0);
  return s;
}

void mtq_sync_kill(mtq_sync_t *s) {
  if (s->spawned && !s->exited && !s->killed) {
    s->killed = true;
    uv_kill(-s->process.pid, SIGKILL);
  }
}
