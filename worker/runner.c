/* runner.c - one task as a child process (see runner.h).
 *
 * A runner owns seven libuv handles: the process, its three pipes and three
 * timers (timeout, SIGKILL escalation, output drain).  It completes when the
 * child has exited and both output pipes reached EOF (or the drain timer cut
 * them off); then it decides the outcome, closes every handle, and calls the
 * done callback from the last close callback, so that nothing of it is left
 * on the loop when the caller hears of the outcome. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "runner.h"

#define RUNNER_HANDLES 7
#define READ_CHUNK (64 * 1024)
#define TAIL_MAX MTQ_ERROR_MAX_BYTES

struct mtq_runner {
  uv_process_t process;
  uv_pipe_t in, out, err;
  uv_timer_t timeout_timer, kill_timer, drain_timer;
  uv_write_t write_req;
  int open_handles;

  mtq_runner_done_cb cb;
  void *data;
  char argv0[256];
  int32_t timeout_s;
  /* The timeout clock: what is left of it, and since when (loop time) it
   * runs; a paused task's clock does not run. */
  uint64_t timeout_left_ms, clock_since_ms;
  bool paused;
  uint64_t start_ns;
  int64_t duration_ms;

  char *args_json; /* written to stdin; bson_free */
  size_t args_len;

  bool spawned, exited, out_eof, err_eof, completing, term_sent;
  int64_t exit_status;
  int term_signal;
  char *fail;   /* failure decided by the runner itself (timeout, too large, abort) */
  bool aborted; /* fail came from mtq_runner_abort */

  char *out_buf; /* stdout so far, at most MTQ_RESULT_MAX_BYTES */
  size_t out_len, out_cap;
  bool out_overflow;
  char err_buf[2 * TAIL_MAX]; /* the last TAIL_MAX..2*TAIL_MAX bytes of stderr */
  size_t err_len;
  /* libuv calls alloc and read back to back on the loop thread, so both
   * pipes can share one read buffer. */
  char read_buf[READ_CHUNK];
};

static void complete(mtq_runner_t *r);
static void close_stdin(mtq_runner_t *r);
static void on_timeout(uv_timer_t *t);

/* --- text helpers -------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (RFC 3629), 0 when invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t left) {
  unsigned char c = s[0];
  size_t n;
  if (c < 0x80) {
    return 1;
  } else if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
  } else {
    return 0;
  }
  if (left < n) {
    return 0;
  }
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) {
      return 0;
    }
  }
  /* Overlong forms, UTF-16 surrogates, and code points past U+10FFFF. */
  if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0) || (c == 0xF0 && s[1] < 0x90) ||
      (c == 0xF4 && s[1] >= 0x90)) {
    return 0;
  }
  return n;
}

/* A task's stderr is arbitrary bytes, and its tail may start in the middle
 * of a character; the database stores only valid UTF-8.  Invalid bytes and
 * NULs become '?'.  Caller frees with bson_free. */
static char *utf8_clean(const char *text, size_t len) {
  char *out = bson_malloc(len + 1);
  const unsigned char *s = (const unsigned char *)text;
  size_t i = 0, o = 0;
  while (i < len) {
    size_t n = s[i] ? utf8_seq_len(s + i, len - i) : 0;
    if (n == 0) {
      out[o++] = '?';
      i++;
    } else {
      memcpy(out + o, s + i, n);
      o += n;
      i += n;
    }
  }
  out[o] = '\0';
  return out;
}

/* "<prefix><sep><stderr tail>", at most MTQ_ERROR_MAX_BYTES, cutting the
 * start of the tail rather than the prefix, which says what happened. */
static char *compose_error(const mtq_runner_t *r, const char *prefix, const char *sep) {
  size_t tail_len = r->err_len;
  const char *tail = r->err_buf;
  while (tail_len > 0 && (tail[tail_len - 1] == '\n' || tail[tail_len - 1] == '\r' ||
                          tail[tail_len - 1] == ' ' || tail[tail_len - 1] == '\t')) {
    tail_len--;
  }
  size_t plen = strlen(prefix);
  if (plen >= MTQ_ERROR_MAX_BYTES) {
    plen = MTQ_ERROR_MAX_BYTES - 1;
  }
  size_t slen = tail_len ? strlen(sep) : 0;
  size_t room = MTQ_ERROR_MAX_BYTES - plen;
  room = room > slen ? room - slen : 0;
  if (tail_len > room) {
    tail += tail_len - room;
    tail_len = room;
  }
  char *raw = bson_malloc(plen + slen + tail_len + 1);
  memcpy(raw, prefix, plen);
  memcpy(raw + plen, sep, slen);
  memcpy(raw + plen + slen, tail, tail_len);
  char *clean = utf8_clean(raw, plen + slen + tail_len);
  bson_free(raw);
  return clean;
}

static void tail_append(mtq_runner_t *r, const char *data, size_t n) {
  if (n >= TAIL_MAX) {
    memcpy(r->err_buf, data + n - TAIL_MAX, TAIL_MAX);
    r->err_len = TAIL_MAX;
    return;
  }
  if (r->err_len + n > sizeof r->err_buf) {
    size_t keep = TAIL_MAX - n;
    memmove(r->err_buf, r->err_buf + r->err_len - keep, keep);
    r->err_len = keep;
  }
  memcpy(r->err_buf + r->err_len, data, n);
  r->err_len += n;
}

/* --- signals ------------------------------------------------------------- */

static void signal_group(mtq_runner_t *r, int sig) {
  /* The child called setsid (UV_PROCESS_DETACHED), so its pid is its
   * process group id.  Until libuv reaps it, even a zombie leader keeps
   * that id from being reused. */
  if (kill(-r->process.pid, sig) != 0 && errno == ESRCH && !r->exited) {
    uv_process_kill(&r->process, sig);
  }
}

static void on_kill_timer(uv_timer_t *t) {
  mtq_runner_t *r = t->data;
  if (!r->exited) {
    mtq_warn("pid %d ignored SIGTERM for %d ms; sending SIGKILL", r->process.pid,
             MTQ_RUNNER_KILL_AFTER_MS);
    signal_group(r, SIGKILL);
  }
}

/* Records why the runner stops the child (the first reason wins) and
 * starts the TERM-then-KILL sequence. */
static void terminate(mtq_runner_t *r, char *reason, bool aborted) {
  if (r->exited || !r->spawned) {
    bson_free(reason);
    return;
  }
  if (!r->fail) {
    r->fail = reason;
    r->aborted = aborted;
  } else {
    bson_free(reason);
  }
  if (!r->term_sent) {
    r->term_sent = true;
    signal_group(r, SIGTERM);
    if (r->paused) {
      /* A stopped process keeps SIGTERM pending until it continues. */
      signal_group(r, SIGCONT);
      r->paused = false;
    }
    uv_timer_start(&r->kill_timer, on_kill_timer, MTQ_RUNNER_KILL_AFTER_MS, 0);
  }
}

void mtq_runner_pause(mtq_runner_t *r) {
  if (r->paused || r->exited || !r->spawned || r->term_sent) {
    return;
  }
  uint64_t now = uv_now(r->timeout_timer.loop), ran = now - r->clock_since_ms;
  r->timeout_left_ms = ran < r->timeout_left_ms ? r->timeout_left_ms - ran : 0;
  uv_timer_stop(&r->timeout_timer);
  signal_group(r, SIGSTOP);
  r->paused = true;
}

void mtq_runner_resume(mtq_runner_t *r) {
  if (!r->paused) {
    return;
  }
  r->paused = false;
  signal_group(r, SIGCONT);
  r->clock_since_ms = uv_now(r->timeout_timer.loop);
  uv_timer_start(&r->timeout_timer, on_timeout, r->timeout_left_ms, 0);
}

bool mtq_runner_paused(const mtq_runner_t *r) { return r->paused; }

void mtq_runner_abort(mtq_runner_t *runner) {
  terminate(runner, bson_strdup("aborted"), true);
}

int mtq_runner_pid(const mtq_runner_t *runner) { return runner->spawned ? runner->process.pid : 0; }

static void on_timeout(uv_timer_t *t) {
  mtq_runner_t *r = t->data;
  terminate(r, bson_strdup_printf("timed out after %" PRId32 " s", r->timeout_s), false);
}

/* --- pipes --------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  mtq_runner_t *r = h->data;
  *buf = uv_buf_init(r->read_buf, sizeof r->read_buf);
}

static void maybe_complete(mtq_runner_t *r) {
  if (r->exited && r->out_eof && r->err_eof) {
    complete(r);
  }
}

static void out_append(mtq_runner_t *r, const char *data, size_t n) {
  if (r->out_overflow) {
    return; /* keep draining so the child does not block on a full pipe */
  }
  if (r->out_len + n > MTQ_RESULT_MAX_BYTES) {
    r->out_overflow = true;
    terminate(r, bson_strdup_printf("result larger than %d bytes", MTQ_RESULT_MAX_BYTES), false);
    return;
  }
  if (r->out_len + n > r->out_cap) {
    size_t cap = r->out_cap ? r->out_cap : 4096;
    while (cap < r->out_len + n) {
      cap *= 2;
    }
    r->out_buf = bson_realloc(r->out_buf, cap);
    r->out_cap = cap;
  }
  memcpy(r->out_buf + r->out_len, data, n);
  r->out_len += n;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  mtq_runner_t *r = s->data;
  bool is_out = s == (uv_stream_t *)&r->out;
  if (nread > 0) {
    if (is_out) {
      out_append(r, buf->base, (size_t)nread);
    } else {
      tail_append(r, buf->base, (size_t)nread);
    }
    return;
  }
  if (nread == 0) {
    return; /* EAGAIN */
  }
  /* EOF, or a read error, which ends the stream just the same. */
  uv_read_stop(s);
  if (is_out) {
    r->out_eof = true;
  } else {
    r->err_eof = true;
  }
  maybe_complete(r);
}

static void on_written(uv_write_t *req, int status) {
  mtq_runner_t *r = req->data;
  bson_free(r->args_json);
  r->args_json = NULL;
  /* A child that exits without reading its args makes this EPIPE: that is
   * its business, and its exit status tells the story. */
  if (status < 0 && status != UV_ECANCELED) {
    mtq_debug("pid %d: writing args: %s", r->process.pid, uv_strerror(status));
  }
  close_stdin(r);
}

/* --- exit and completion ------------------------------------------------- */

static void on_drain_timer(uv_timer_t *t) {
  mtq_runner_t *r = t->data;
  mtq_debug("pid %d exited but its output stayed open for %d ms; cutting it off", r->process.pid,
            MTQ_RUNNER_DRAIN_MS);
  r->out_eof = r->err_eof = true;
  complete(r);
}

static void on_child_exit(uv_process_t *p, int64_t exit_status, int term_signal) {
  mtq_runner_t *r = p->data;
  r->exited = true;
  r->exit_status = exit_status;
  r->term_signal = term_signal;
  r->duration_ms = (int64_t)((uv_hrtime() - r->start_ns) / 1000000);
  uv_timer_stop(&r->timeout_timer);
  uv_timer_stop(&r->kill_timer);
  /* What the task started in the background dies with it. */
  kill(-p->pid, SIGKILL);
  uv_timer_start(&r->drain_timer, on_drain_timer, MTQ_RUNNER_DRAIN_MS, 0);
  maybe_complete(r);
}

static bool only_space(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') {
      return false;
    }
  }
  return true;
}

/* The trampoline could not execute the command: it exited with
 * MTQ_RUNNER_EXEC_FAILED after writing "cannot start <argv0>: <reason>". */
static bool exec_failed(const mtq_runner_t *r) {
  char head[sizeof r->argv0 + 16];
  int n = snprintf(head, sizeof head, "cannot start %s: ", r->argv0);
  return r->exit_status == MTQ_RUNNER_EXEC_FAILED && n > 0 && (size_t)n < sizeof head &&
         r->err_len >= (size_t)n && memcmp(r->err_buf, head, (size_t)n) == 0;
}

static void decide(mtq_runner_t *r, mtq_runner_outcome_t *o) {
  char prefix[600]; /* bson_error_t.message is 504 bytes */
  o->duration_ms = r->duration_ms;
  if (r->fail) {
    o->status = r->aborted ? MTQ_RUNNER_ABORTED : MTQ_RUNNER_FAILED;
    o->error = compose_error(r, r->fail, ": ");
    return;
  }
  o->status = MTQ_RUNNER_FAILED;
  if (r->term_signal) {
    snprintf(prefix, sizeof prefix, "killed by signal %d", r->term_signal);
    o->error = compose_error(r, prefix, ": ");
    return;
  }
  if (exec_failed(r)) {
    /* The trampoline's own message is the whole story. */
    o->error = compose_error(r, "", "");
    return;
  }
  if (r->exit_status != 0) {
    snprintf(prefix, sizeof prefix, "exit code %" PRId64, r->exit_status);
    o->error = compose_error(r, prefix, ": ");
    return;
  }
  if (r->out_overflow) {
    /* Noticed only after the child had already exited, so not in r->fail. */
    snprintf(prefix, sizeof prefix, "result larger than %d bytes", MTQ_RESULT_MAX_BYTES);
    o->error = compose_error(r, prefix, "; stderr: ");
    return;
  }
  if (only_space(r->out_buf, r->out_len)) {
    o->status = MTQ_RUNNER_OK;
    o->result = bson_new();
    return;
  }
  bson_t doc;
  bson_error_t jerr = {0};
  if (mtq_json_to_doc(r->out_buf, r->out_len, MTQ_RESULT_MAX_BYTES, &doc, &jerr)) {
    o->status = MTQ_RUNNER_OK;
    o->result = bson_copy(&doc);
  } else if (jerr.domain == MTQ_ERROR_DOMAIN && jerr.code == MTQ_ERR_TOO_LARGE) {
    snprintf(prefix, sizeof prefix, "result larger than %d bytes", MTQ_RESULT_MAX_BYTES);
    o->error = compose_error(r, prefix, "; stderr: ");
  } else {
    snprintf(prefix, sizeof prefix, "result is not a JSON object: %s", jerr.message);
    o->error = compose_error(r, prefix, "; stderr: ");
  }
  bson_destroy(&doc);
}

static void on_close(uv_handle_t *h) {
  mtq_runner_t *r = h->data;
  if (--r->open_handles > 0 || !r->completing) {
    return;
  }
  mtq_runner_outcome_t outcome = {0};
  decide(r, &outcome);
  r->cb(&outcome, r->data);
  bson_free(r->fail);
  bson_free(r->args_json);
  bson_free(r->out_buf);
  bson_free(r);
}

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h)) {
    uv_close(h, on_close);
  }
}

static void complete(mtq_runner_t *r) {
  if (r->completing) {
    return;
  }
  r->completing = true;
  close_handle((uv_handle_t *)&r->process);
  close_handle((uv_handle_t *)&r->in);
  close_handle((uv_handle_t *)&r->out);
  close_handle((uv_handle_t *)&r->err);
  close_handle((uv_handle_t *)&r->timeout_timer);
  close_handle((uv_handle_t *)&r->kill_timer);
  close_handle((uv_handle_t *)&r->drain_timer);
}

/* --- start --------------------------------------------------------------- */

static bool env_name_is(const char *entry, const char *const *names) {
  for (size_t i = 0; names[i]; i++) {
    size_t n = strlen(names[i]);
    if (strncmp(entry, names[i], n) == 0 && entry[n] == '=') {
      return true;
    }
  }
  return false;
}

/* The inherited environment plus what the task needs to know about itself.
 * Caller frees with bson_strfreev. */
static char **build_env(const mtq_runner_opts_t *opts, const mtq_task_t *task) {
  static const char *const ours[] = {"MTQ_TASK_ID", "MTQ_TASK_ATTEMPT", "MTQ_CHANNEL",
                                     "MTQ_FUNC",    "MTQ_WORKER_ID",    "MTQ_FLOW_ID",
                                     "MTQ_STEP",    "MTQ_SHARD",        "MTQ_SHARDS",
                                     NULL};
  size_t n = 0;
  while (opts->base_env && opts->base_env[n]) {
    n++;
  }
  char **env = bson_malloc0((n + 10) * sizeof *env);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!env_name_is(opts->base_env[i], ours)) {
      env[k++] = bson_strdup(opts->base_env[i]);
    }
  }
  char oid[25];
  bson_oid_to_string(&task->id, oid);
  env[k++] = bson_strdup_printf("MTQ_TASK_ID=%s", oid);
  env[k++] = bson_strdup_printf("MTQ_TASK_ATTEMPT=%" PRId32, task->attempt);
  env[k++] = bson_strdup_printf("MTQ_CHANNEL=%s", task->channel);
  env[k++] = bson_strdup_printf("MTQ_FUNC=%s", task->func);
  env[k++] = bson_strdup_printf("MTQ_WORKER_ID=%s", opts->worker_id);
  if (mtq_task_in_flow(task)) {
    bson_oid_to_string(&task->flow, oid);
    env[k++] = bson_strdup_printf("MTQ_FLOW_ID=%s", oid);
    env[k++] = bson_strdup_printf("MTQ_STEP=%s", task->step);
    env[k++] = bson_strdup_printf("MTQ_SHARD=%" PRId32, task->shard);
    env[k++] = bson_strdup_printf("MTQ_SHARDS=%" PRId32, task->shards);
  }
  env[k] = NULL;
  return env;
}

static void init_handles(uv_loop_t *loop, mtq_runner_t *r) {
  uv_pipe_init(loop, &r->in, 0);
  uv_pipe_init(loop, &r->out, 0);
  uv_pipe_init(loop, &r->err, 0);
  uv_timer_init(loop, &r->timeout_timer);
  uv_timer_init(loop, &r->kill_timer);
  uv_timer_init(loop, &r->drain_timer);
  r->in.data = r->out.data = r->err.data = r;
  r->timeout_timer.data = r->kill_timer.data = r->drain_timer.data = r;
  r->process.data = r;
  r->write_req.data = r;
  r->open_handles = RUNNER_HANDLES;
}

/* Closing stdin goes through on_close like every other handle. */
static void close_stdin(mtq_runner_t *r) {
  if (!uv_is_closing((uv_handle_t *)&r->in)) {
    uv_close((uv_handle_t *)&r->in, on_close);
  }
}

/* mtq-exec beside this executable, found by mtq_runner_locate. */
static char exec_path[4096];

bool mtq_runner_locate(bson_error_t *error) {
  char self[sizeof exec_path];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0 || (size_t)n >= sizeof self - 1) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND, "cannot read /proc/self/exe: %s",
                  n < 0 ? strerror(errno) : "path too long");
    return false;
  }
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  *slash = '\0';
  int len = snprintf(exec_path, sizeof exec_path, "%s/%s", self, MTQ_RUNNER_EXEC);
  if (len < 0 || (size_t)len >= sizeof exec_path || access(exec_path, X_OK) != 0) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND,
                  "cannot start tasks: %s is missing or not executable (it is installed "
                  "beside mtq-worker)",
                  exec_path);
    exec_path[0] = '\0';
    return false;
  }
  return true;
}

const char *mtq_runner_exec_path(void) { return exec_path; }

/* mtq-exec PPID -- COMMAND [ARGS...] (see exec.c).  The array is the
 * caller's to bson_free; its strings are borrowed from command and ppid. */
static char **trampoline_argv(char *const *command, char *ppid) {
  size_t n = 0;
  while (command[n]) {
    n++;
  }
  char **argv = bson_malloc0((n + 4) * sizeof *argv);
  argv[0] = (char *)MTQ_RUNNER_EXEC;
  argv[1] = ppid;
  argv[2] = (char *)"--";
  memcpy(argv + 3, command, n * sizeof *argv);
  return argv;
}

mtq_runner_t *mtq_runner_start(uv_loop_t *loop, const mtq_runner_opts_t *opts,
                               const mtq_task_t *task, mtq_runner_done_cb cb, void *data) {
  mtq_runner_t *r = bson_malloc0(sizeof *r);
  r->cb = cb;
  r->data = data;
  r->timeout_s = task->timeout_s > 0 ? task->timeout_s : MTQ_DEFAULT_TIMEOUT_S;
  bson_strncpy(r->argv0, opts->argv[0], sizeof r->argv0);
  /* args is a BSON document read and validated by the store, so it always
   * converts; an empty object stands in should that ever not hold. */
  r->args_json = task->args ? bson_as_relaxed_extended_json(task->args, &r->args_len) : NULL;
  if (!r->args_json) {
    r->args_json = bson_strdup("{}");
    r->args_len = 2;
  }
  init_handles(loop, r);

  uv_stdio_container_t stdio[3] = {
      {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&r->in},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&r->out},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&r->err},
  };
  char **env = build_env(opts, task);
  /* The child is mtq-exec, which sets PR_SET_PDEATHSIG and executes the
   * command.  The kernel sends that signal when the thread that forked the
   * child exits, not the process: uv_spawn runs on the loop thread, and
   * mtq-worker runs its loop on the main thread, which lives as long as the
   * worker. */
  char ppid[24];
  snprintf(ppid, sizeof ppid, "%d", (int)getpid());
  char **argv = trampoline_argv(opts->argv, ppid);
  uv_process_options_t po = {
      .exit_cb = on_child_exit,
      .file = exec_path,
      .args = argv,
      .env = env,
      .flags = UV_PROCESS_DETACHED, /* setsid: a process group of its own */
      .stdio_count = 3,
      .stdio = stdio,
  };
  r->start_ns = uv_hrtime();
  /* uv_spawn initialises the process handle even when it fails, so it is
   * closed like the others either way. */
  int rc = uv_spawn(loop, &r->process, &po);
  bson_free(argv);
  bson_strfreev(env);
  if (rc != 0) {
    /* The command itself is looked up by the trampoline; what fails here is
     * the fork, or mtq-exec. */
    bool self = rc == UV_ENOENT || rc == UV_EACCES;
    r->fail = bson_strdup_printf("cannot start %s: %s%s", r->argv0, uv_strerror(rc),
                                 self ? " (executing " MTQ_RUNNER_EXEC ")" : "");
    r->exited = r->out_eof = r->err_eof = true;
    complete(r);
    return r;
  }
  r->spawned = true;
  r->timeout_left_ms = (uint64_t)r->timeout_s * 1000;
  r->clock_since_ms = uv_now(loop);
  uv_timer_start(&r->timeout_timer, on_timeout, r->timeout_left_ms, 0);
  uv_read_start((uv_stream_t *)&r->out, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&r->err, on_alloc, on_read);
  uv_buf_t buf = uv_buf_init(r->args_json, (unsigned int)r->args_len);
  if (uv_write(&r->write_req, (uv_stream_t *)&r->in, &buf, 1, on_written) != 0) {
    close_stdin(r);
  }
  return r;
}
