#!/bin/sh
# perf.sh SECONDS - an mtq function that takes SECONDS (on its command line,
# so that two workers can serve the same function at different speeds) and
# returns {"ok": true}.  Args {"fail": true} make it fail at once (exit 3);
# {"sleep": S} make it sleep S seconds more.
delay="${1:?usage: perf.sh SECONDS}"
args="$(cat)"
case "$args" in
  *'"fail"'*) echo "perf.sh: deliberate failure of task $MTQ_TASK_ID" >&2; exit 3 ;;
esac
extra="$(printf '%s' "$args" | sed -n 's/.*"sleep"[[:space:]]*:[[:space:]]*\([0-9.]*\).*/\1/p')"
sleep "$delay"
if [ -n "$extra" ]; then
  sleep "$extra"
fi
echo '{"ok": true}'
