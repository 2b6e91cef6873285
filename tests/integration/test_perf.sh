#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_perf.sh - run records and the figures computed from them.  Two
# workers serve the same function, one fast and one 0.5 s slower; after a
# batch, `mtq stats --func` shows both, their runs adding up to the batch,
# the slow one's p50 higher.  A failing task lowers its worker's success
# rate; tasks of one copy each are placed on the fast worker; a hedge after
# the function's observed p95 rescues a stalled run; a task whose
# worker is killed mid-run leaves a record of the attempt that mtqd ended
# when its lease expired.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27430 200

N=30
start_mtqd "perf_refresh_ms = 200"
# slow announces itself first: placement sees it first, and would keep it
# on a tie.
worker_function perf "/bin/sh $FN/perf.sh 0.5"
start_worker slow 2
worker_function perf "/bin/sh $FN/perf.sh 0"
start_worker fast 2

for ((i = 0; i < N; i++)); do
  enqueue --func perf --args "{\"i\": $i}" >/dev/null || fail "enqueue of task $i failed"
done
log "enqueued $N perf tasks"
wait_until 90 stat_is default done "$N" || fail "$N tasks not done in 90 s: $(cli stats)"

# perf_of WORKER FIELD: a field of WORKER's entry in `mtq --json stats --func perf`.
perf_of() {
  local json n i
  json="$(cli --json stats --func perf)" || return 1
  n="$(jlen . <<<"$json")"
  for ((i = 0; i < n; i++)); do
    if [[ "$(jget "$i.worker" <<<"$json")" == "$1" ]]; then
      jget "$i.$2" <<<"$json"
      return
    fi
  done
  return 1
}

json="$(cli --json stats --func perf)" || fail "mtq stats --func perf failed"
assert_eq 2 "$(jlen . <<<"$json")" "workers in mtq stats --func perf"
runs_fast="$(perf_of fast runs)" runs_slow="$(perf_of slow runs)"
assert_eq "$N" $((runs_fast + runs_slow)) "runs of fast ($runs_fast) + slow ($runs_slow)"
((runs_slow > 0)) || fail "the slow worker ran none of the $N tasks"
for w in fast slow; do
  assert_eq "$(perf_of "$w" runs)" "$(perf_of "$w" ok)" "runs done by $w"
  rate="$(perf_of "$w" success_rate)"
  awk -v r="$rate" 'BEGIN { exit !(r == 1) }' || fail "success rate of $w is $rate, not 1"
  assert_eq perf "$(perf_of "$w" func)" "func of $w's figures"
done
p50_fast="$(perf_of fast p50_ms)" p50_slow="$(perf_of slow p50_ms)"
((p50_slow >= 500)) || fail "slow worker's p50 is $p50_slow ms, its runs sleep 500 ms"
((p50_slow > p50_fast + 300)) || fail "p50 slow $p50_slow ms, fast $p50_fast ms: not 0.5 s apart"
log "figures after the batch:"
cli stats --func perf >&2
assert_eq "$N" "$(dbedit --count runs)" "run records after $N tasks"

# A failing task (one attempt): its worker's success rate drops below 1.
bad="$(enqueue --func perf --args '{"fail": true}' --max-attempts 1)" || fail "enqueue failed"
wait_until 30 status_is "$bad" dead || fail "failing task is $(task_status "$bad"), not dead"
w="$(task_field "$bad" worker)"
[[ "$w" == fast || "$w" == slow ]] || fail "the failing task ran on '$w'"
rate="$(perf_of "$w" success_rate)"
awk -v r="$rate" 'BEGIN { exit !(r < 1) }' || fail "success rate of $w is $rate after a failure"
assert_eq 1 "$(dbedit --count runs "{\"task\": {\"\$oid\": \"$bad\"}, \"outcome\": \"dead\", \"worker\": \"$w\", \"ended_by\": \"$w\"}")" \
  "run record of the failed attempt"
log "failing task ran on $w: success rate $rate"

# mtq workers: a score for both.
text="$(cli workers)" || fail "mtq workers failed"
for w in fast slow; do
  grep -Eq "^${w}[[:space:]].*[0-9]+ runs [0-9]+% ok" <<<"$text" || fail "no score for $w in: $text"
done
assert_eq "$((N + 1))" "$(($(worker_field fast perf.runs) + $(worker_field slow perf.runs)))" \
  "runs in mtq --json workers"

# Placement: tasks of one copy, one after another (so that neither worker
# is busy), each go to the worker whose record makes it the cheaper: fast,
# 0.5 s quicker per run, even if the failing task above was its.
P=5
for ((i = 0; i < P; i++)); do
  id="$(enqueue --func perf --copies 1)" || fail "enqueue --copies 1 failed"
  cli wait "$id" --timeout 30 >/dev/null || fail "placed task $id: mtq wait failed"
  assert_eq fast "$(workers_of "$id")" "worker of placed task $i (slow's p50 $p50_slow ms, fast's $p50_fast ms)"
done
log "placement: $P tasks of one copy all went to fast"

# Hedging by observed run times: the first copy (on fast) stalls; past the
# function's p95 (slow's, about 0.5 s) mtqd sends a second copy, to slow,
# whose result ends the task; the stalled copy is cancelled and, stopped
# from outside, not counted in fast's runs.
t0=$SECONDS
id="$(enqueue --func perf --hedge-after auto --args "{\"stall_once\": \"$TMP/stall\"}")" ||
  fail "enqueue --hedge-after auto failed"
cli wait "$id" --timeout 30 >/dev/null || fail "hedged task $id: mtq wait failed"
((SECONDS - t0 < 20)) || fail "hedged task took $((SECONDS - t0)) s, its stalled copy's time"
assert_eq "fast slow" "$(workers_of "$id" | tr '\n' ' ' | sed 's/ $//')" "workers of the hedged task"
cancelled_runs() { [[ "$(dbedit --count runs '{"outcome": "cancelled"}')" == "$1" ]]; }
wait_until 10 cancelled_runs 1 || fail "no run record of the cancelled stalled copy"
log "hedge: stalled copy on fast, slow's answer in $((SECONDS - t0)) s"

# A worker killed mid-task: mtqd ends the attempt when its lease expires
# (lease_ms 3000), and that attempt too has its record, credited to the
# dead holder.
hang="$(enqueue --func perf --args '{"sleep": 60}' --max-attempts 1)" || fail "enqueue failed"
wait_until 20 status_is "$hang" running || fail "task $hang did not start"
holder="$(task_field "$hang" worker)"
kill_worker "$holder"
wait_until 30 status_is "$hang" dead || fail "task $hang is $(task_status "$hang") 30 s after its worker died"
rec="$(dbedit --count runs "{\"task\": {\"\$oid\": \"$hang\"}}")"
assert_eq 1 "$rec" "run records of task $hang"
filter="{\"task\": {\"\$oid\": \"$hang\"}, \"worker\": \"$holder\", \"ended_by\": \"mtqd\","
filter+=" \"outcome\": {\"\$in\": [\"queued\", \"dead\"]}}"
assert_eq 1 "$(dbedit --count runs "$filter")" "run record of the expired attempt (by mtqd, queued or dead)"
assert_eq "$((N + 3 + P))" "$(($(perf_of fast runs) + $(perf_of slow runs)))" \
  "runs in the end (the cancelled copy not counted)"
log "expired attempt of $hang recorded for $holder"
cli stats --func perf >&2
