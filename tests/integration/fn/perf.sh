#!/bin/sh
# perf.sh SECONDS - an mtq function that takes SECONDS (on its command line,
# so that two workers can serve the same function at different speeds) and
# returns {"ok": true}.  Args {"fail": true} make it fail at once (exit 3);
# {"sleep": S} make it sleep S seconds more; {"stall_once": "DIR"} makes the
# run that first creates DIR sleep 60 seconds more (a copy that hangs while
# its hedge does not).
delay="${1:?usage: perf.sh SECONDS}"
args="$(cat)"
case "$args" in
  *'"fail"'*) echo "perf.sh: deliberate failure of task $MTQ_TASK_ID" >&2; exit 3 ;;
esac
extra="$(printf '%s' "$args" | sed -n 's/.*"sleep"[[:space:]]*:[[:space:]]*\([0-9.]*\).*/\1/p')"
stall="$(printf '%s' "$args" | sed -n 's/.*"stall_once"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')"
if [ -n "$stall" ] && mkdir "$stall" 2>/dev/null; then
  sleep 60
fi
sleep "$delay"
if [ -n "$extra" ]; then
  sleep "$extra"
fi
echo '{"ok": true}'
