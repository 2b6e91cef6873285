#!/bin/sh
# sleep.sh - example mtq function that takes a while.
#   stdin:  {"seconds": 2.5}
#   stdout: {"slept": 2.5}
# Bad input: a message on stderr and exit status 2.
set -eu
s="$(awk '
{ doc = doc $0 " " }
END {
  if (!match(doc, /"seconds"[ \t]*:[ \t]*[0-9]+(\.[0-9]+)?/)) exit 1
  s = substr(doc, RSTART, RLENGTH)
  sub(/^"seconds"[ \t]*:[ \t]*/, "", s)
  print s
}')" || { echo 'sleep: expected {"seconds": <number>} on stdin' >&2; exit 2; }
sleep "$s"
printf '{"slept": %s}\n' "$s"
