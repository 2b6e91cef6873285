#!/bin/sh
# slowecho.sh - an mtq function whose result is its args, after sleeping
# args.sleep seconds (copies of one task give equal results: quorum).
args="$(cat)"
secs="$(printf '%s' "$args" | sed -n 's/.*"sleep"[[:space:]]*:[[:space:]]*\([0-9.]*\).*/\1/p')"
if [ -n "$secs" ]; then
  sleep "$secs"
fi
printf '%s\n' "$args"
