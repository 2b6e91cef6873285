#!/bin/sh
# fail.sh - an mtq function that always fails (exit 3) with a message on stderr.
cat >/dev/null
echo "fail.sh: deliberate failure of task $MTQ_TASK_ID attempt $MTQ_TASK_ATTEMPT" >&2
exit 3
