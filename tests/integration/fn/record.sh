#!/bin/sh
# record.sh LOGFILE - an mtq function that records its runs in LOGFILE:
#   "<task id> <worker id> start <ns>" when it starts and
#   "<task id> <worker id> end <ns>"   when it ends,
# each line appended in one write (O_APPEND: lines from parallel runs never
# interleave).  Args {"sleep": S} makes it sleep S seconds in between.
# Result: {"ok": true, "task": "<task id>"}.
log="${1:?usage: record.sh LOGFILE}"
args="$(cat)"
echo "$MTQ_TASK_ID $MTQ_WORKER_ID start $(date +%s%N)" >>"$log"
secs="$(printf '%s' "$args" | sed -n 's/.*"sleep"[[:space:]]*:[[:space:]]*\([0-9.]*\).*/\1/p')"
if [ -n "$secs" ]; then
  sleep "$secs"
fi
echo "$MTQ_TASK_ID $MTQ_WORKER_ID end $(date +%s%N)" >>"$log"
printf '{"ok": true, "task": "%s"}\n' "$MTQ_TASK_ID"
