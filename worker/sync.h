/* sync.h - the worker's sync command as a child process on the loop.
 *
 * A worker with a function_dir may have a sync_command (git -C DIR pull
 * --ff-only, rsync, ...) that brings new versions into the directory.  It
 * runs like a task does (never through a shell, through mtq-exec so that it
 * dies with the worker, in a process group of its own) with stdin from
 * /dev/null; its stdout and stderr go to the worker's log, a line at a time
 * ("sync: ..."), at most MTQ_SYNC_LOG_LINES lines a run.  Past its timeout
 * the group gets SIGTERM, and SIGKILL MTQ_RUNNER_KILL_AFTER_MS later. */
#ifndef MTQ_SYNC_H
#define MTQ_SYNC_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define MTQ_SYNC_LOG_LINES 200

typedef struct mtq_sync mtq_sync_t;

/* Called once, on the loop, after every handle of the run is closed (the
 * run is freed when it returns).  ok: it exited with status 0; outcome
 * says how it ended ("exit status 0", "killed after 5 s (sync_timeout_s)",
 * "cannot start: ..."), borrowed for the call. */
typedef void (*mtq_sync_done_cb)(void *data, bool ok, const char *outcome);

/* Starts argv with env (both borrowed for the call).  Never fails
 * synchronously: a command that cannot start is reported through cb.
 * The run owns itself until cb has been called. */
mtq_sync_t *mtq_sync_start(uv_loop_t *loop, char *const *argv, char *const *env,
                           int64_t timeout_ms, mtq_sync_done_cb cb, void *data);

/* Kills the run's process group at once (a stopping worker); cb follows. */
void mtq_sync_kill(mtq_sync_t *s);

#endif
