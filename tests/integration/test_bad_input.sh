#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_bad_input.sh - what mtq does with bad input and a failing database.
#
# Refused at enqueue (the CLI's exit status and message): malformed JSON,
# args that are not an object, an unknown channel, a function no worker
# serves, an out-of-range priority, a bad task id, args over 1 MiB.
# Failing at run time: a function whose output is not JSON, a function that
# exits 3 (retried, then failed with its stderr), a task document damaged in
# the database (quarantined, while the worker goes on serving).
# The database going away: the CLI fails fast with a clear message, the
# daemons survive, a result produced meanwhile is kept, and work resumes
# when the database is back.  In the end the counts add up.
#
# Checks that fail are collected and reported together at the end, so that
# one defect does not hide the others.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
MTQ_DB_RESTARTS=1 # db_stop, db_start: the data must outlive them
mtq_setup 27350 400

problems=()
# Collects problems instead of failing at the first (overrides lib.sh's).
problem() {
  log "PROBLEM: $*"
  problems+=("$*")
}

# Expected final status of every task enqueued successfully.
declare -A expect=()
expect_status() { expect[$1]="$2"; }

# Every problem found about a finished task: its status and error text.
# check_task ID STATUS ERROR_REGEX WHAT
check_task() {
  local json status error
  if ! json="$(cli --json show "$1" 2>"$TMP/stderr.txt")"; then
    problem "$4: mtq show $1 failed: $(<"$TMP/stderr.txt")"
    return
  fi
  status="$(jget status <<<"$json")"
  error="$(jget error <<<"$json")"
  [[ "$status" == "$2" ]] || problem "$4: status '$status', expected '$2'"
  if [[ -n "$3" ]] && ! grep -Eqi -- "$3" <<<"$error"; then
    problem "$4: error '$error' does not match /$3/"
  fi
}

# A long reconcile interval: the damaged document below must be met by the
# worker's own poll, not by mtqd.
start_mtqd "reconcile_interval_ms = 600000"
# A lease longer than the outage below: its task must ride it out.
start_worker w1 2 "lease_ms = 60000"
W1_PID="${WORKER_PID[w1]}"

# --- refused at enqueue ----------------------------------------------------------

run cli enqueue --channel default --func echo --args '{"a": '
expect_refused "malformed --args JSON" 1 "json"
run cli enqueue --channel default --func echo --args '[1, 2]'
expect_refused "--args a JSON array" 1 "object"
run cli enqueue --channel default --func echo --args '"text"'
expect_refused "--args a JSON string" 1 "object|json"
run cli enqueue --channel nosuch --func echo
expect_refused "unknown channel" 1 "unknown channel"
run cli enqueue --channel 'bad/name' --func echo
expect_refused "invalid channel name" "1|2" "channel"
run cli enqueue --channel default --func echo --priority 42
expect_refused "priority 42" "1|2" "priority"
run cli enqueue --channel default --func echo --priority -1
expect_refused "priority -1" "1|2" "priority"
run cli enqueue --channel default --func echo --max-attempts 0
expect_refused "max-attempts 0" "1|2" "attempts"
run cli enqueue --channel default
expect_refused "no --func" 2 "func"

# A function (or version) no worker has announced is refused; --force
# queues it anyway, and an operator can cancel it.
run cli enqueue --channel default --func nosuchfn
expect_refused "function no worker serves" 1 "no worker serves.*nosuchfn"
run cli enqueue --channel default --func echo --version 2
expect_refused "version no worker serves" 1 "no worker serves.*version 2"
run cli enqueue --channel default --func nosuchfn --force
if ((RC == 0)); then
  forced="$OUT"
  expect_status "$forced" cancelled
  assert_eq queued "$(task_status "$forced")" "status of the forced task"
  cli cancel "$forced" >/dev/null || problem "mtq cancel of the forced task failed"
  check_task "$forced" cancelled "" "forced task, cancelled"
  run cli cancel "$forced"
  expect_refused "mtq cancel of a cancelled task" 1 "cancelled"
else
  problem "enqueue --force of an unserved function: exit $RC: $ERR"
fi

# Bad task ids: usage errors (2); a well-formed unknown id: not found (1).
for sub in show wait cancel disable enable; do
  run cli "$sub" nothex
  expect_refused "mtq $sub nothex" 2 "task id"
done
run cli set-priority 0123 5
expect_refused "mtq set-priority 0123 5" 2 "task id"
run cli show 000000000000000000000000
expect_refused "mtq show of an unknown id" 1 "no task|not found"

# Args over 1 MiB are refused; just under the limit they go through whole.
big="$TMP/big.json"
{ printf '{"blob": "'; head -c $((1024 * 1024 + 100)) /dev/zero | tr '\0' x; printf '"}'; } >"$big"
run cli enqueue --channel default --func echo --args - <"$big"
expect_refused "args over 1 MiB" 1 "larger than"
{ printf '{"blob": "'; head -c $((1000 * 1000)) /dev/zero | tr '\0' y; printf '"}'; } >"$big"
run cli enqueue --channel default --func echo --args - <"$big"
if ((RC == 0)); then
  expect_status "$OUT" done
  run cli wait "$OUT" --timeout 60
  [[ $RC == 0 && "$(jget blob <<<"$OUT" | tr -d '\n' | wc -c)" == 1000000 ]] ||
    problem "echo of 1,000,000-byte args: exit $RC, result not the same 1,000,000 bytes ($ERR)"
else
  problem "args of 1,000,000 bytes (under the limit) refused: exit $RC: $ERR"
fi

# --- failing at run time -------------------------------------------------------------

notjson="$(enqueue --func notjson --max-attempts 1)" || fail "enqueue notjson failed"
expect_status "$notjson" dead
failing="$(enqueue --func fail --max-attempts 2)" || fail "enqueue fail failed"
expect_status "$failing" dead

run cli wait "$notjson" --timeout 60
expect_refused "mtq wait on a task whose output is not JSON" 1 "not a JSON object"
check_task "$notjson" dead "not a JSON object" "task printing non-JSON"

run cli wait "$failing" --timeout 60
expect_refused "mtq wait on a failing task" 1 "deliberate failure"
check_task "$failing" dead "deliberate failure of task $failing attempt 2" "task exiting 3"
assert_eq 2 "$(task_field "$failing" attempt)" "attempts of the failing task"

# --- a task document damaged in the database ----------------------------------------
# Both slots of w1 are kept busy so that the task waits in its lane while it
# is edited; the worker meets it at its next poll.
busy=()
for k in 1 2; do
  id="$(enqueue --func record --args '{"sleep": 6}')" || fail "enqueue record failed"
  busy+=("$id")
  expect_status "$id" "done"
done
both_busy() { (($(started_by w1 | wc -l) >= 2)); }
wait_until 20 both_busy || fail "w1 did not start the 2 busy tasks"
damaged="$(enqueue --func echo --args '{"fine": true}')" || fail "enqueue echo failed"
expect_status "$damaged" failed
dbedit --id "$damaged" --set '{"args": "notadoc"}' >/dev/null || fail "dbedit args=notadoc failed"
[[ "$(dbedit --find "$damaged" | jget status)" == queued ]] ||
  fail "the damaged task was no longer queued when edited (was the worker idle?)"
log "task $damaged edited to args \"notadoc\" while queued"

quarantined() { dbedit --find-result "$damaged" >/dev/null; }
wait_until 30 quarantined || fail "the damaged task is still live after 30 s"
rec="$(dbedit --find-result "$damaged")"
[[ "$(jget status <<<"$rec")" == failed ]] || problem "quarantined record status '$(jget status <<<"$rec")'"
grep -q "args" <<<"$(jget error <<<"$rec")" ||
  problem "quarantine error '$(jget error <<<"$rec")' does not name 'args'"
[[ "$(jget original.args <<<"$rec")" == notadoc ]] || problem "quarantined record does not keep the original"
# The published schema describes quarantine records too (its "original"):
# checked by a validator that is not mtq's own reader.
schema_check() { /usr/bin/python3 "$MTQ_ROOT/tests/integration/schema_check.py" "$MTQ_ROOT/schemas/$1"; }
schema_check task.schema.json <<<"$rec" 2>"$TMP/schema.txt" ||
  problem "the quarantine record does not validate against task.schema.json: $(<"$TMP/schema.txt")"
log "quarantined: $(jget error <<<"$rec")"
# An operator looks at it with the CLI, as at any failed task.
check_task "$damaged" failed "args" "quarantined task (mtq show)"
run cli wait "$damaged" --timeout 10
expect_refused "mtq wait on a quarantined task" 1 "args"

alive "$W1_PID" || fail "worker w1 died after meeting the damaged task"
after="$(enqueue --func echo --args '{"after": "quarantine"}')" || fail "enqueue echo failed"
expect_status "$after" "done"
run cli wait "$after" --timeout 30
[[ $RC == 0 ]] || problem "a task after the quarantine did not complete: exit $RC: $ERR"
for id in "${busy[@]}"; do
  cli wait "$id" --timeout 30 >/dev/null || problem "busy task $id did not complete"
done

# --- the database goes away and comes back -------------------------------------------

# A task still running when the database stops: its result must be kept
# until it can be recorded.
outage="$(enqueue --func record --args '{"sleep": 8}')" || fail "enqueue record failed"
expect_status "$outage" "done"
outage_started() { (($(starts_of "$outage") >= 1)); }
wait_until 20 outage_started || fail "the outage task did not start"

t0=$SECONDS
db_stop
t_down="$(date +%s%N)"
log "database stopped (in $((SECONDS - t0)) s)"
run cli stats
expect_refused "mtq stats with the database down" 1 "reach|connect|database"
((SECS <= 12)) || problem "mtq stats took $SECS s to fail with the database down (expected ~10 s at most)"
run cli enqueue --channel default --func echo
expect_refused "mtq enqueue with the database down" 1 "reach|connect|database"
((SECS <= 12)) || problem "mtq enqueue took $SECS s to fail with the database down"
run cli show "$outage"
expect_refused "mtq show with the database down" 1 "reach|connect|database"
# The daemons keep retrying meanwhile; the outage task ends.
outage_ended() { (($(ends_of "$outage") >= 1)); }
wait_until 20 outage_ended || fail "the outage task did not end"
alive "$W1_PID" || fail "worker w1 exited while the database was down"
alive "$MTQD_PID" || fail "mtqd exited while the database was down"

t_up="$(date +%s%N)"
db_start
log "database started again"
enqueue_again() { cli enqueue --channel default --func echo --args '{"after": "outage"}' >"$TMP/id.txt"; }
wait_until 30 enqueue_again || fail "enqueue still fails 30 s after the database came back"
resumed="$(<"$TMP/id.txt")"
expect_status "$resumed" "done"
run cli wait "$resumed" --timeout 60
[[ $RC == 0 ]] || problem "a task enqueued after the outage did not complete: exit $RC: $ERR"
run cli wait "$outage" --timeout 60
[[ $RC == 0 ]] || problem "the task that ended during the outage did not end done: exit $RC: $ERR"
[[ "$(starts_of "$outage")" == 1 ]] ||
  problem "the task that ended during the outage ran $(starts_of "$outage") times, expected once"
t_end="$(awk -v id="$outage" '$1 == id && $3 == "end" {print $4}' "$EXEC_LOG")"
[[ -n "$t_end" ]] && ((t_down < t_end && t_end < t_up)) ||
  fail "the outage task did not end while the database was down (test timing): end $t_end, down $t_down..$t_up"
assert_eq "$W1_PID" "${WORKER_PID[w1]}" "w1 pid"
alive "$W1_PID" || fail "worker w1 died"
log "after the outage: new task done, the task that ended meanwhile ran once"

# Every recorded outcome validates against the published schema.
for id in "${!expect[@]}"; do
  dbedit --find-result "$id" 2>/dev/null || true
done >"$TMP/results.jsonl"
schema_check task.schema.json <"$TMP/results.jsonl" 2>"$TMP/schema.txt" ||
  problem "outcomes in results do not validate against task.schema.json: $(head -c 2000 "$TMP/schema.txt")"

# --- the counts add up --------------------------------------------------------------------

declare -A want=([queued]=0 [delayed]=0 [running]=0 [done]=0 [failed]=0 [dead]=0 [cancelled]=0)
for id in "${!expect[@]}"; do
  want[${expect[$id]}]=$((${want[${expect[$id]}]} + 1))
  if [[ "${expect[$id]}" != failed || "$id" != "$damaged" ]]; then
    s="$(task_status "$id" 2>/dev/null || echo "?")"
    [[ "$s" == "${expect[$id]}" ]] || problem "task $id is '$s', expected '${expect[$id]}'"
  fi
done
stats="$(cli --json stats)"
for s in "${!want[@]}"; do
  got="$(jget "default.$s" <<<"$stats")"
  [[ "$got" == "${want[$s]}" ]] || problem "mtq stats default.$s = $got, expected ${want[$s]}"
done
log "expected counts: $(for s in queued running "done" failed cancelled; do printf '%s=%s ' "$s" "${want[$s]}"; done)"
log "mtq stats:       $(for s in queued running "done" failed cancelled; do printf '%s=%s ' "$s" "$(jget "default.$s" <<<"$stats")"; done)"

if ((${#problems[@]})); then
  printf '[%s] %d problem(s):\n' "$TEST_NAME" "${#problems[@]}" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  fail "${#problems[@]} problem(s) found"
fi
