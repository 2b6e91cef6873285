#!/usr/bin/env bash
# test_task_dies_with_worker.sh - a task process does not outlive its worker.
#
# A worker killed with SIGKILL (the worker process alone, not its tasks'
# process groups) must not leave its task running: once the task's lease
# expires another worker runs it again, and the two runs would overlap.  The
# kernel kills the task (PR_SET_PDEATHSIG): it must be gone within 2 s.
# On the way, a function whose command does not exist still fails with
# "cannot start <command>: <reason>".
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27380 200

PIDS="$TMP/pids"
mkdir -p "$PIDS"
MISSING=/nonexistent/mtq-no-such-command
worker_function pidsleep "/bin/sh $FN/pidsleep.sh $PIDS"
worker_function missing "$MISSING"

start_mtqd
start_worker A 2

# --- a command that does not exist -----------------------------------------------

id="$(enqueue --func missing --max-attempts 1)" || fail "enqueue missing failed"
if cli wait "$id" --timeout 30 >/dev/null 2>&1; then
  fail "task $id of a missing command succeeded"
fi
shown="$(cli --json show "$id")"
assert_contains "$shown" "cannot start $MISSING: no such file or directory" \
  "error of the task whose command is missing"
log "missing command: $(jget error <<<"$shown")"

# --- the worker dies, its task with it ---------------------------------------------

id="$(enqueue --func pidsleep)" || fail "enqueue pidsleep failed"
pid_file="$PIDS/$id.pid"
wait_until 20 test -s "$pid_file" || fail "task $id did not start in 20 s"
task_pid="$(<"$pid_file")"

# is_task_process: task_pid is still our `sleep 30`, not a recycled pid.
is_task_process() {
  alive "$task_pid" && [[ "$(tr '\0' ' ' 2>/dev/null <"/proc/$task_pid/cmdline")" == "sleep 30 " ]]
}
wait_until 5 is_task_process || fail "task process $task_pid is not running sleep 30"
# The worker started it directly (the trampoline executed the command in
# place), in a process group of its own.
ppid="$(awk '{print $4}' "/proc/$task_pid/stat")"
pgid="$(awk '{print $5}' "/proc/$task_pid/stat")"
assert_eq "${WORKER_PID[A]}" "$ppid" "parent of the task process"
assert_eq "$task_pid" "$pgid" "process group of the task process"
log "task $id runs as pid $task_pid (parent: worker A, pid $ppid)"

kill_worker A
t0="$(date +%s%N)"
gone=0
for ((i = 0; i < 40; i++)); do
  if ! is_task_process; then
    gone=1
    break
  fi
  sleep 0.05
done
ms=$((($(date +%s%N) - t0) / 1000000))
if ((!gone)); then
  # Not ours to leave behind: the orphan would sleep on after the test.
  kill -KILL "$task_pid" 2>/dev/null || true
  fail "task process $task_pid still running ${ms} ms after its worker was killed"
fi
log "task process $task_pid gone ${ms} ms after its worker was killed"
