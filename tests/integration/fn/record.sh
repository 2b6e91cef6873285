#!/bin/sh
# record.sh LOGFILE - an mtq function that records its runs in LOGFILE:
#   "<task id> <worker id> start <ns>" when it starts and
#   "<task id> <worker id> end <ns>"   when it ends,
# each line appended in one write (O_APPEND: lines from parallel runs never
# interleave).  Args {"sleep": S} makes it sleep S seconds in between;
# {"until": PATH} makes it wait (at most 600 s) until PATH exists, so that
# a test decides when the task ends instead of guessing a duration.
# Result: {"ok": true, "task": "<task id>"}.
log="${1:?usage: record.sh LOGFILE}"
args="$(cat)"
echo "$MTQ_TASK_ID $MTQ_WORKER_ID start $(date +%s%N)" >>"$log"
secs="$(printf '%s' "$args" | sed -n 's/.*"sleep"[[:space:]]*:[[:space:]]*\([0-9.]*\).*/\1/p')"
if [ -n "$secs" ]; then
  sleep "$secs"
fi
until_path="$(printf '%s' "$args" | sed -n 's/.*"until"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')"
if [ -n "$until_path" ]; then
  n=0
  while [ ! -e "$until_path" ] && [ "$n" -lt 3000 ]; do
    sleep 0.2
    n=$((n + 1))
  done
fi
echo "$MTQ_TASK_ID $MTQ_WORKER_ID end $(date +%s%N)" >>"$log"
printf '{"ok": true, "task": "%s"}\n' "$MTQ_TASK_ID"
