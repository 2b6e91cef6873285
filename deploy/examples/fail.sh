#!/bin/sh
# fail.sh - example mtq function that always fails: reads its args, explains
# on stderr and exits with status 3 (mtq records the task as failed, with the
# tail of stderr as the error).
cat >/dev/null
echo "fail: this function always fails (exit status 3)" >&2
exit 3
