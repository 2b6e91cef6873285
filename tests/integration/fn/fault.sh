#!/bin/sh
# fault.sh DIR - the function of test_faults.sh.  Args {"n": N, "ms": MS}.
#
# Appends to DIR/exec.log, each line in one write (O_APPEND: lines of
# parallel runs never interleave):
#   "start <task> <worker> <attempt>"   when it starts,
#   "OVERLAP <task> <worker>"           when another run of the same task holds
#                                       its lock at that moment,
#   "end <task> <worker>"               when it ends by itself (success or not).
# The lock is an exclusive flock on DIR/locks/<task>, taken without waiting;
# the kernel drops it when the process dies, so a killed run leaves none.
# It sleeps MS milliseconds, then prints {"n": N}.  Tasks with N % 50 == 7
# (2%) fail on their first attempt, to exercise retries.
dir="${1:?usage: fault.sh DIR}"
log="$dir/exec.log"
args="$(cat)"
field() { printf '%s' "$args" | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p"; }
n="$(field n)"
ms="$(field ms)"
exec 9>"$dir/locks/$MTQ_TASK_ID"
if ! flock -n 9; then
  echo "OVERLAP $MTQ_TASK_ID $MTQ_WORKER_ID" >>"$log"
fi
echo "start $MTQ_TASK_ID $MTQ_WORKER_ID $MTQ_TASK_ATTEMPT" >>"$log"
# The sleep must not hold the lock (fd 9) should this shell be killed first.
sleep "$(printf '0.%03d' "${ms:-0}")" 9>&-
echo "end $MTQ_TASK_ID $MTQ_WORKER_ID" >>"$log"
if [ $((${n:-0} % 50)) -eq 7 ] && [ "$MTQ_TASK_ATTEMPT" = 1 ]; then
  echo "fault.sh: planned failure of task n=$n on its first attempt" >&2
  exit 1
fi
printf '{"n": %s}\n' "$n"
