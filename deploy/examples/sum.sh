#!/bin/sh
# sum.sh - example merge step of a flow: sums the squares its parents
# returned.  mtqd gives a step after others their outcomes on stdin:
#   {"parents": {"squares": {"shards": 4, "done": 4, "missing": [],
#     "results": [{"shard": 0, "status": "done", "result": {"x": 1, "square": 1}}, ...]}}}
#   stdout: {"sum": 30, "parts": 4, "missing": []}
# The missing shards (with a tolerance, the merge runs without them) are
# passed on as the parents listed them.
set -eu
awk '
{ doc = doc $0 " " }
END {
  sum = 0; parts = 0
  rest = doc
  while (match(rest, /"square"[ \t]*:[ \t]*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/)) {
    v = substr(rest, RSTART, RLENGTH)
    sub(/^"square"[ \t]*:[ \t]*/, "", v)
    sum += v; parts++
    rest = substr(rest, RSTART + RLENGTH)
  }
  missing = "[]"
  if (match(doc, /"missing"[ \t]*:[ \t]*\[[^]]*\]/)) {
    missing = substr(doc, RSTART, RLENGTH)
    sub(/^"missing"[ \t]*:[ \t]*/, "", missing)
  }
  printf "{\"sum\": %.17g, \"parts\": %d, \"missing\": %s}\n", sum, parts, missing
}'
