#!/bin/sh
# shard_square.sh - example sharded step of a flow: shard K of a step
# squares K + 1.  mtqd tells a shard which it is in its args ("shard",
# "shards") and in its environment (MTQ_SHARD, MTQ_SHARDS).
#   stdout: {"x": 3, "square": 9}    (shard 2)
set -eu
cat >/dev/null
: "${MTQ_SHARD:?shard_square.sh runs as a shard of a flow's step (MTQ_SHARD unset)}"
x=$((MTQ_SHARD + 1))
printf '{"x": %d, "square": %d}\n' "$x" "$((x * x))"
