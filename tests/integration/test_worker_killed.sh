#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_worker_killed.sh - a worker dies mid-task (SIGKILL, with the task
# processes it ran, as when its host crashes).  mtqd must notice that it went
# silent (lost_after_ms 3000), mark it lost and give its tasks back to the
# queue; the other worker runs them again, as their second attempt.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27340 300

N=6
start_mtqd "lost_after_ms = 3000"
# Worker A alone first, so that it surely holds tasks when it dies.
start_worker A 2

ids=()
for ((i = 0; i < N; i++)); do
  id="$(enqueue --func record --args '{"sleep": 4}')" || fail "enqueue of task $i failed"
  ids+=("$id")
done
log "enqueued $N record tasks of 4 s each"

a_started() { (($(started_by A | wc -l) >= 2)); }
wait_until 20 a_started || fail "worker A did not start 2 tasks in 20 s"
running="$(cli --json ls --status running)"
assert_eq 2 "$(jlen . <<<"$running")" "tasks listed by ls --status running"
for k in 0 1; do
  assert_eq A "$(jget "$k.worker" <<<"$running")" "worker of running task $k"
done
crash_worker A
held=($(started_by A))
assert_eq 2 "${#held[@]}" "tasks A started before it died"
log "A held ${held[*]}"
t_crash=$SECONDS

start_worker B 2

# mtqd marks A lost after 3 s of silence.
wait_until 20 worker_state_is A lost || fail "A is '$(worker_field A state)', not lost, 20 s after its death"
log "A marked lost $((SECONDS - t_crash)) s after its death"
cli workers | grep -Eq '^A[[:space:]].*lost' || fail "mtq workers does not show A as lost: $(cli workers)"

for id in "${ids[@]}"; do
  cli wait "$id" --timeout 60 >/dev/null || fail "task $id did not end done: $(cli show "$id")"
done
log "all $N tasks done $((SECONDS - t_crash)) s after the crash"
assert_eq "$N" "$(stat_count default done)" "tasks done"
assert_eq 0 "$(stat_count default failed)" "tasks failed"

is_held() { [[ " ${held[*]} " == *" $1 "* ]]; }
for id in "${ids[@]}"; do
  json="$(cli --json show "$id")"
  assert_eq B "$(jget worker <<<"$json")" "worker of task $id"
  assert_eq done "$(jget status <<<"$json")" "status of task $id"
  a_starts="$(awk -v id="$id" '$1 == id && $2 == "A" && $3 == "start"' "$EXEC_LOG" | wc -l)"
  a_ends="$(awk -v id="$id" '$1 == id && $2 == "A" && $3 == "end"' "$EXEC_LOG" | wc -l)"
  b_starts="$(awk -v id="$id" '$1 == id && $2 == "B" && $3 == "start"' "$EXEC_LOG" | wc -l)"
  b_ends="$(awk -v id="$id" '$1 == id && $2 == "B" && $3 == "end"' "$EXEC_LOG" | wc -l)"
  if is_held "$id"; then
    assert_eq 2 "$(jget attempt <<<"$json")" "attempt of task $id, held by A"
    assert_eq "1 0 1 1" "$a_starts $a_ends $b_starts $b_ends" "A starts, A ends, B starts, B ends of task $id"
  else
    assert_eq 1 "$(jget attempt <<<"$json")" "attempt of task $id, never held by A"
    assert_eq "0 0 1 1" "$a_starts $a_ends $b_starts $b_ends" "A starts, A ends, B starts, B ends of task $id"
  fi
done
assert_eq running "$(worker_field B state)" "state of B"
assert_eq lost "$(worker_field A state)" "state of A at the end"
log "A's 2 tasks ran again on B as attempt 2; the other 4 once, on B"
