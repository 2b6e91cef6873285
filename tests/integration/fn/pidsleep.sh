#!/bin/sh
# pidsleep.sh DIR - an mtq function that writes its process id to
# DIR/<task id>.pid and then becomes `sleep 30` in the same process, so that
# a test can watch the very process its worker started.
dir="${1:?usage: pidsleep.sh DIR}"
cat >/dev/null
# Renamed into place: a reader never sees a half-written pid.
echo $$ >"$dir/$MTQ_TASK_ID.tmp" && mv "$dir/$MTQ_TASK_ID.tmp" "$dir/$MTQ_TASK_ID.pid"
exec sleep 30
