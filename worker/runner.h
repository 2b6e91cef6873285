/* runner.h - runs one task as a child process on a libuv loop.
 *
 * The function's configured argv is executed directly (never through a
 * shell); nothing from the task reaches argv.  The task's args go to the
 * child's stdin as JSON; its stdout, a JSON object, is the result; the tail
 * of its stderr explains a failure.  The child leads its own process group,
 * and the whole group is killed when the task ends, times out or is aborted,
 * so that a task's own children do not outlive it.
 *
 * The child also dies with the worker: if mtq-worker is killed (SIGKILL, a
 * crash), the kernel sends the task process SIGKILL (PR_SET_PDEATHSIG), so
 * that a task whose lease then expires cannot run twice at once.  libuv has
 * no hook between fork and exec to set that, so the child is a trampoline
 * that sets it and then executes the command (exec.c), installed beside
 * mtq-worker:  mtq-exec PPID -- COMMAND [ARGS...]  */
#ifndef MTQ_RUNNER_H
#define MTQ_RUNNER_H

#include <bson/bson.h>
#include <stdint.h>
#include <uv.h>

#include "exec.h"
#include "mtq_task.h"


/* After SIGTERM, how long a task has before SIGKILL. */
#define MTQ_RUNNER_KILL_AFTER_MS 5000
/* After the child exits, how long its stdout/stderr may stay open (held by
 * a grandchild that left the process group) before they are cut off. */
#define MTQ_RUNNER_DRAIN_MS 2000

typedef enum {
  MTQ_RUNNER_OK,      /* exit 0 with a JSON object (or nothing) on stdout */
  MTQ_RUNNER_FAILED,  /* could not start, failed, timed out or wrote a bad result */
  MTQ_RUNNER_ABORTED, /* stopped by mtq_runner_abort before it ended by itself */
} mtq_runner_status_t;

typedef struct {
  mtq_runner_status_t status;
  bson_t *result;      /* MTQ_RUNNER_OK only; transferred to the callback (bson_destroy) */
  char *error;         /* otherwise: valid UTF-8, at most MTQ_ERROR_MAX_BYTES; transferred
                        * to the callback (bson_free) */
  int64_t duration_ms; /* from start to exit */
} mtq_runner_outcome_t;

typedef struct mtq_runner mtq_runner_t;

/* Called once per runner, on the loop thread, after every handle of the
 * runner is closed.  The runner is freed when the callback returns. */
typedef void (*mtq_runner_done_cb)(mtq_runner_outcome_t *outcome, void *data);

typedef struct {
  char *const *argv;     /* the function's command; borrowed for the call */
  char *const *base_env; /* NULL-terminated "NAME=VALUE" the child inherits; borrowed */
  const char *worker_id; /* for MTQ_WORKER_ID */
} mtq_runner_opts_t;

/* Starts the task (borrowed: what the runner needs is copied).  Never fails
 * synchronously: a child that cannot be started is reported through cb as
 * MTQ_RUNNER_FAILED, "cannot start <argv0>: <reason>".  The returned runner
 * is owned by itself and valid until cb has been called. */
mtq_runner_t *mtq_runner_start(uv_loop_t *loop, const mtq_runner_opts_t *opts,
                               const mtq_task_t *task, mtq_runner_done_cb cb, void *data);

/* Stops a running task: SIGTERM to its process group, SIGKILL
 * MTQ_RUNNER_KILL_AFTER_MS later.  The outcome is MTQ_RUNNER_ABORTED unless
 * the child had already exited by itself.  No effect after the child exited. */
void mtq_runner_abort(mtq_runner_t *runner);

/* Suspends a running task: SIGSTOP to its process group, and its timeout
 * clock stops.  mtq_runner_resume continues it (SIGCONT) with the rest of
 * its timeout.  No effect once it exited or is being stopped; a stop
 * (abort, timeout) of a paused task continues it so that SIGTERM reaches
 * it. */
void mtq_runner_pause(mtq_runner_t *runner);
void mtq_runner_resume(mtq_runner_t *runner);
bool mtq_runner_paused(const mtq_runner_t *runner);

/* Process id of the child (0 when it could not be started), for logs. */
int mtq_runner_pid(const mtq_runner_t *runner);

/* Finds mtq-exec beside the running executable; false (and why) when it
 * is missing: no task could start.  Call once before the first start. */
bool mtq_runner_locate(bson_error_t *error);
/* The path mtq_runner_locate found ("" before): other children of the
 * worker (its sync command, sync.c) start through it too. */
const char *mtq_runner_exec_path(void);

#endif
