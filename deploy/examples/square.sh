#!/bin/sh
# square.sh - example mtq function.
#   stdin:  {"x": 7}
#   stdout: {"x": 7, "square": 49}
# Bad input: a message on stderr and exit status 2.  (awk arithmetic is
# double precision: squares are exact for integers up to 94906265.)
set -eu
awk '
{ doc = doc $0 " " }
END {
  if (!match(doc, /"x"[ \t]*:[ \t]*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/)) {
    print "square: expected {\"x\": <number>} on stdin, got: " doc > "/dev/stderr"
    exit 2
  }
  x = substr(doc, RSTART, RLENGTH)
  sub(/^"x"[ \t]*:[ \t]*/, "", x)
  printf "{\"x\": %s, \"square\": %.17g}\n", x, x * x
}'
