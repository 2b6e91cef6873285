#!/bin/sh
# shard.sh - a shard of a flow's step: prints what its environment says it
# is, {"shard": MTQ_SHARD, "shards": MTQ_SHARDS, "flow": MTQ_FLOW_ID,
# "step": MTQ_STEP}; with args {"fail": K} the shard K fails instead
# (exit 3), every attempt, as a shard whose retries run out.
args="$(cat)"
fail="$(printf '%s' "$args" | sed -n 's/.*"fail"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p')"
if [ -n "$fail" ] && [ "$fail" = "$MTQ_SHARD" ]; then
  echo "shard $MTQ_SHARD fails on purpose" >&2
  exit 3
fi
printf '{"shard": %s, "shards": %s, "flow": "%s", "step": "%s"}\n' \
  "$MTQ_SHARD" "$MTQ_SHARDS" "$MTQ_FLOW_ID" "$MTQ_STEP"
