#!/usr/bin/env bash
# bench/flow.sh - what a flow's shard costs against a plain task, side by
# side in one run: N no-op tasks enqueued with `mtq enqueue --batch`, and a
# flow of one step of N no-op shards followed by a merge that gets all N
# outcomes, each run to its end on one worker of 8 slots with mtqd, REPS
# times interleaved.  Writes bench/runs/<date>-flow.md (medians).
#
#   bash bench/flow.sh            # N=1000 REPS=3 (about 3 minutes)
#   N=200 REPS=1 bash bench/flow.sh
#
# Every run is bounded: a wait gives up after 600 s.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=deploy/lib.sh
source "$root/deploy/lib.sh"
build=${BUILD:-$root/build}
port=${PORT:-29190}
N=${N:-1000}
REPS=${REPS:-3}
out=${OUT:-$root/bench/runs/$(date -u +%F)-flow.md}
work=$(mktemp -d /tmp/mtq-bench-flow.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$root/deploy/db.sh" stop --port "$port" --dir "$work/db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
note() { printf '[bench-flow] %s\n' "$*" >&2; }
export MONGOC_DISABLE_SHM=1

cmake --build "$build" --target mtq mtqd mtq-worker >/dev/null
"$root/deploy/db.sh" start --port "$port" --dir "$work/db" >/dev/null
uri="mongodb://127.0.0.1:$port/benchflow"
cat >"$work/d.ini" <<INI
[database]
uri = $uri
[worker]
id = b1
channels = bench
concurrency = 8
grace_period_ms = 2000
[function noop]
version = 1
command = /bin/true
[coordinator]
channels = bench
INI
mtq() { "$build/cli/mtq" --uri "$uri" "$@"; }
"$build/server/mtqd" --config "$work/d.ini" >>"$work/daemons.log" 2>&1 &
pids+=($!)
until mtq channels 2>/dev/null | grep -qx bench; do sleep 0.2; done
"$build/worker/mtq-worker" --config "$work/d.ini" >>"$work/daemons.log" 2>&1 &
pids+=($!)
until mtq workers 2>/dev/null | grep -q '^b1 .* running'; do sleep 0.2; done

for ((i = 0; i < N; i++)); do echo '{"func": "noop"}'; done >"$work/tasks.jsonl"
cat >"$work/flow.json" <<EOF
{"name": "bench", "channel": "bench", "func": "noop",
 "steps": [{"name": "shards", "shards": $N}, {"name": "merge", "after": "shards"}]}
EOF
done_count() { mtq --json stats | sed -nE 's/.*"bench" : \{[^}]*"done" : ([0-9]+).*/\1/p'; }
ms() { date +%s%3N; }

# tasks: N plain tasks, enqueue to the last one done.
run_tasks() {
  local before t0 want
  before=$(done_count)
  want=$((before + N))
  t0=$(ms)
  mtq enqueue --channel bench --batch "$work/tasks.jsonl" >/dev/null
  local deadline=$((SECONDS + 600))
  while (($(done_count) < want)); do
    ((SECONDS < deadline)) || { note "tasks did not finish in 600 s"; exit 1; }
    sleep 0.5
  done
  echo $(($(ms) - t0))
}
# flow: submit to the flow done (its N shards and the merge of their N
# outcomes), watched the same way as the tasks (the count of done tasks,
# which costs the database the same in both), then its state.
run_flow() {
  local before t0 id want
  before=$(done_count)
  want=$((before + N + 1))
  t0=$(ms)
  id=$(mtq flow submit "$work/flow.json")
  local deadline=$((SECONDS + 600))
  while (($(done_count) < want)) || ! mtq flow show "$id" | head -1 | grep -q ': done,'; do
    ((SECONDS < deadline)) || { note "the flow did not finish in 600 s"; exit 1; }
    sleep 0.5
  done
  echo "$(($(ms) - t0)) $id"
}

tasks=() flows=()
for ((r = 1; r <= REPS; r++)); do
  t=$(run_tasks)
  read -r f id <<<"$(run_flow)"
  tasks+=("$t") flows+=("$f")
  note "repetition $r: $N tasks in $t ms, a flow of $N shards and a merge in $f ms"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
mt=$(median "${tasks[@]}") mf=$(median "${flows[@]}")
cores=$(nproc)
load=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$(dirname "$out")"
cat >"$out" <<EOF
# A flow's shards against plain tasks ($(date -u +%F), \`bash bench/flow.sh\`)

Tree $(git -C "$root" rev-parse --short HEAD), FerretDB 1.24.2 on SQLite, $cores cores, load
average $load at the end. One worker of 8 slots running /bin/true, mtqd at
its defaults (the flow duty every sweep_interval_ms = 1000 ms), $N of each,
$REPS repetitions interleaved, medians.

| | per repetition (ms) | median |
|---|---|---|
| $N tasks, \`mtq enqueue --batch\` to the last one done | ${tasks[*]} | $mt ms ($(awk -v t="$mt" -v n="$N" 'BEGIN {printf "%.2f", t / n}') ms a task) |
| a flow of $N shards and a merge of their $N outcomes, submit to done | ${flows[*]} | $mf ms ($(awk -v t="$mf" -v n="$N" 'BEGIN {printf "%.2f", t / n}') ms a shard) |
| flow / tasks | | $(awk -v a="$mf" -v b="$mt" 'BEGIN {printf "%.2f", a / b}') |

Both are watched the same way, by the count of done tasks every 0.5 s
(\`mtq stats\`, which costs the database the same in both). The flow's time
includes what tasks do not have: the passes of mtqd's flow
duty between its steps (up to 1 s each: the step starts, the shards end,
the merge starts, the merge ends) and the merge itself, whose args carry
the $N outcomes.
EOF
note "wrote $out"
cat "$out"
