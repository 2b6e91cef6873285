#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_exactly_once.sh - under load, no task runs twice and none is lost.
#
# mtqd and 4 workers of 4 slots each, polling every 50 ms, compete for 2000
# record tasks that 4 producers enqueue in parallel while the workers run.
# The side-channel log of fn/record.sh, written by the task processes
# themselves, must show every task started exactly once; the database must
# hold one claim per task and 2000 done.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27330 900

N="${MTQ_IT_TASKS:-2000}"
PRODUCERS=4
WORKERS=4
SLOTS=4
((N % PRODUCERS == 0)) || fail "N=$N is not a multiple of $PRODUCERS"

start_mtqd
for ((w = 1; w <= WORKERS; w++)); do
  start_worker "w$w" "$SLOTS" "poll_interval_ms = 50" "lease_ms = 20000"
done

# producer K: enqueues N/PRODUCERS tasks, one CLI call each; ids to ids.K.
producer() {
  local k="$1" i id
  for ((i = 0; i < N / PRODUCERS; i++)); do
    id="$(cli enqueue --channel default --func record --args "{\"p\": $k, \"i\": $i}")" ||
      { echo "producer $k: enqueue $i failed" >&2; return 1; }
    echo "$id" >>"$TMP/ids.$k"
  done
}

t0=$SECONDS
pids=()
for ((k = 1; k <= PRODUCERS; k++)); do
  producer "$k" >/dev/null 2>>"$TMP/producers.log" &
  pids+=($!)
  MTQ__PIDS=("$!" "${MTQ__PIDS[@]}") # stopped first if the test ends early
done
for pid in "${pids[@]}"; do
  wait "$pid" || fail "a producer failed: $(tail -n 3 "$TMP/producers.log")"
done
t_enq=$((SECONDS - t0))
cat "$TMP"/ids.* >"$TMP/ids"
assert_eq "$N" "$(wc -l <"$TMP/ids")" "ids printed by the producers"
assert_eq "$N" "$(sort -u "$TMP/ids" | wc -l)" "distinct ids printed by the producers"
log "$N tasks enqueued by $PRODUCERS producers in $t_enq s; done so far: $(stat_count default done)"

# Wait for the backlog to drain, with progress; bounded.
deadline=$((SECONDS + 600))
last_report=$SECONDS
while ! stat_is default done "$N"; do
  ((SECONDS < deadline)) || fail "only $(stat_count default done) of $N done after 600 s: $(cli stats)"
  if ((SECONDS - last_report >= 15)); then
    log "progress: $(stat_count default done) done, $(stat_count default running) running, $(stat_count default queued) queued"
    last_report=$SECONDS
  fi
  sleep 1
done
elapsed=$((SECONDS - t0))

# The figures.
stats="$(cli --json stats)"
for s in failed queued running delayed cancelled; do
  assert_eq 0 "$(jget "default.$s" <<<"$stats")" "tasks $s"
done
starts="$(awk '$3 == "start"' "$EXEC_LOG" | wc -l)"
ends="$(awk '$3 == "end"' "$EXEC_LOG" | wc -l)"
distinct="$(awk '$3 == "start" {print $1}' "$EXEC_LOG" | sort -u | wc -l)"
dups="$(awk '$3 == "start" {print $1}' "$EXEC_LOG" | sort | uniq -c | awk '$1 > 1' | wc -l)"
unknown="$(awk '$3 == "start" {print $1}' "$EXEC_LOG" | sort -u | comm -13 <(sort -u "$TMP/ids") - | wc -l)"
never="$(awk '$3 == "start" {print $1}' "$EXEC_LOG" | sort -u | comm -23 <(sort -u "$TMP/ids") - | wc -l)"
claims="$(dbedit --count-claims)"
# A claim whose attempt was given back before it ran (a worker finding its
# claim too old to start safely, or a lease that expired first on a busy
# machine) leaves a running -> queued event, and the task is claimed again:
# every claim but those is one run.
given_back="$(dbedit --count events '{"from": "running", "to": "queued"}')"
per_worker="$(awk '$3 == "start" {print $2}' "$EXEC_LOG" | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')"

echo "exactly-once figures: tasks=$N executions=$starts ends=$ends distinct=$distinct" \
  "duplicates=$dups never_run=$never unknown=$unknown claims=$claims given_back=$given_back" \
  "per_worker: $per_worker enqueue=${t_enq}s total=${elapsed}s" \
  "rate=$((N / (elapsed > 0 ? elapsed : 1)))/s"

assert_eq 0 "$dups" "tasks started more than once"
assert_eq 0 "$never" "enqueued tasks never started"
assert_eq 0 "$unknown" "started tasks that were never enqueued"
assert_eq "$N" "$distinct" "distinct tasks started"
assert_eq "$N" "$starts" "executions"
assert_eq "$N" "$ends" "executions that ended"
assert_eq "$((N + given_back))" "$claims" "claims (one per task, and one per attempt given back unrun)"
for ((w = 1; w <= WORKERS; w++)); do
  assert_eq running "$(worker_field "w$w" state)" "state of worker w$w"
done
