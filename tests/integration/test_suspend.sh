#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_suspend.sh - mtq suspend and resume of running tasks:
#   1. a task that runs 3 s with a 5 s timeout, suspended for 7 s after 1 s:
#      its process is stopped (state T) while its lease keeps being renewed
#      and its slot stays taken; resumed, it finishes done, not timed out;
#      both transitions are in the audit trail;
#   2. a suspended running task is cancelled: its stopped process dies;
#   3. a suspended running task whose worker is SIGKILLed waits suspended
#      (it does not run elsewhere) until resumed, then runs once more;
#   4. what cannot be done is refused with a clear message.
# Timing: a suspension takes effect at the worker's next lease renewal
# (lease_ms/4 = 750 ms here); each wait for it allows 20 s.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27840 300

start_mtqd
start_worker w1 1
start_worker w2 1

# pgrp_state TASK: the state letter of the process record.sh runs as for
# TASK (its process group leads with the task's pid).
task_pid() {
  local w
  for w in "${!WORKER_PID[@]}"; do
    pgrep -P "${WORKER_PID[$w]}" 2>/dev/null || true
  done | head -1
}
proc_state() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null; }
stopped() { [[ "$(proc_state "$1")" == T ]]; }
lease_renewals() { dbedit --docs leases | grep -o '"renewals" : [0-9]*' | grep -o '[0-9]*$' | head -1; }

# --- 1. suspended past its timeout, resumed, done -------------------------------------
id="$(enqueue --func record --args '{"sleep": 3}' --timeout 5 --max-attempts 1)" || fail "enqueue"
wait_until 30 status_is "$id" running || fail "the task did not start"
sleep 1
pid="$(task_pid)"
[[ -n "$pid" ]] || fail "no task process"
cli suspend "$id" >/dev/null || fail "mtq suspend of a running task failed"
assert_eq suspended "$(task_status "$id")" "status after mtq suspend"
wait_until 20 stopped "$pid" || fail "the task's process $pid is $(proc_state "$pid"), not stopped"
r0="$(lease_renewals)"
log "suspended: process $pid stopped, lease renewals at $r0"
sleep 7
stopped "$pid" || fail "the suspended process did not stay stopped"
assert_eq suspended "$(task_status "$id")" "status while suspended (past its 5 s timeout)"
(($(lease_renewals) > r0)) || fail "the lease was not renewed while suspended"
holder="$(task_field "$id" worker)"
assert_eq 1 "$(worker_field "$holder" running)" "busy slots of $holder while its task is suspended"
cli resume "$id" >/dev/null || fail "mtq resume failed"
# (sleep(1) counts the time it was stopped: it may end at once.)
continued() { ! stopped "$1"; }
wait_until 20 continued "$pid" || fail "the process did not continue"
wait_until 30 status_is "$id" done || fail "the resumed task is $(task_status "$id"): $(cli show "$id")"
assert_eq 1 "$(starts_of "$id")" "runs of the suspended task"
hist="$(cli show "$id" --history)"
for t in "running +suspended" "suspended +running" "running +done"; do
  grep -Eq "$t" <<<"$hist" || fail "history lacks '$t': $hist"
done
log "resumed after 7 s suspended, past its 5 s timeout: done, one run"

# --- 2. cancel a suspended task -----------------------------------------------------------
id="$(enqueue --func record --args '{"sleep": 30}')" || fail "enqueue"
wait_until 30 status_is "$id" running || fail "the second task did not start"
sleep 0.5
pid="$(task_pid)"
cli suspend "$id" >/dev/null || fail "suspend"
wait_until 20 stopped "$pid" || fail "not stopped"
run cli disable "$id"
expect_refused "disable of a suspended running task" 1 "is suspended while it runs"
run cli suspend "$id"
expect_refused "a second suspend" 1 "cannot suspend it"
cli cancel "$id" >/dev/null || fail "cancel of a suspended running task failed"
wait_until 20 status_is "$id" cancelled || fail "the task is $(task_status "$id")"
gone() { ! kill -0 "$1" 2>/dev/null; }
wait_until 20 gone "$pid" || fail "the cancelled task's process $pid is still there ($(proc_state "$pid"))"
log "a suspended task cancelled: its stopped process died"

# --- 3. its worker dies while it is suspended -----------------------------------------------
id="$(enqueue --func record --args '{"sleep": 1}')" || fail "enqueue"
wait_until 30 status_is "$id" running || fail "the third task did not start"
holder="$(task_field "$id" worker)"
pid="$(task_pid)"
cli suspend "$id" >/dev/null || fail "suspend"
wait_until 20 stopped "$pid" || fail "not stopped"
crash_worker "$holder"
wait_until 30 bash -c "[[ \"\$(timeout 60 '$MTQ' --uri '$URI' --json show $id | '$DBEDIT' --get worker)\" == null ]]" ||
  fail "the lease of the dead worker's task did not expire: $(cli show "$id")"
sleep 2
assert_eq suspended "$(task_status "$id")" "status after its worker died"
assert_eq 1 "$(starts_of "$id")" "runs while it waits suspended"
cli resume "$id" >/dev/null || fail "resume of the waiting task"
wait_until 30 status_is "$id" done || fail "the task is $(task_status "$id") after resume"
assert_eq 2 "$(starts_of "$id")" "runs after the resume (the first died with its worker)"
log "its worker died: it waited suspended, and ran again once resumed"

# --- 4. refused -------------------------------------------------------------------------------
run cli suspend "$id"
expect_refused "suspend of a done task" 1 "is done: cannot suspend it"
run cli resume "$id"
expect_refused "resume of a done task" 1 "is done: cannot resume it"
run cli suspend 0123456789abcdef01234567
expect_refused "suspend of no task" 1 "no task|not found"
