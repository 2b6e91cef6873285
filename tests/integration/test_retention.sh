#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_retention.sh - mtqd removes finished tasks with their claims and
# events once they have been kept long enough (done: 2 s; failed and
# cancelled: 4 s), in batches of 50 every 0.5 s.  A task still waiting
# (disabled, delayed) or running is never touched, nor its claim, nor its
# events, however old it is.  A backlog left while mtqd was down goes in
# several batches.  An ended flow goes with its events; a running one stays.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27390 300

N=200 NFAIL=3
DONE_S=2 FAILED_S=4
start_mtqd "retain_done_s = $DONE_S" "retain_failed_s = $FAILED_S" \
  "retention_interval_ms = 500" "retention_batch = 50"

# count COLLECTION [FILTER]: number of documents (0 for a missing collection).
count() { dbedit --count "$@"; }
# count_is N COLLECTION [FILTER] (for wait_until)
count_is() {
  local n="$1"
  shift
  [[ "$(count "$@" 2>/dev/null)" == "$n" ]]
}
# shellcheck disable=SC2016 # $oid is a JSON key, not a variable
of_task() { printf '{"task": {"$oid": "%s"}}' "$1"; }
now_ms() { date +%s%3N; }
# add_event ID: one event of the task, shaped like those mtq records.
add_event() {
  dbedit --insert events "{\"task\": {\"\$oid\": \"$1\"}, \"channel\": \"default\",
    \"from\": \"queued\", \"to\": \"running\", \"by\": \"test\", \"why\": \"test\",
    \"at\": {\"\$date\": {\"\$numberLong\": \"$(now_ms)\"}}}" || fail "cannot insert an event"
}
# worker_done FUNC OUTCOME N: the worker log shows N runs of FUNC ending so.
worker_done() { (($(grep -c "($1) $2" "$TMP/worker-$WID.log" || true) >= $3)); }

# --- one task: kept for its retention, not a moment less ----------------------
# (no events collection yet: retention must not mind it missing)
WID=w1
start_worker w1 4
t_enq=$(now_ms)
id="$(enqueue --func echo --args '{"phase": 1}')" || fail "enqueue failed"
cli wait "$id" --timeout 60 >/dev/null || fail "mtq wait $id failed"
# The task finished after t_enq, so until t_enq + DONE_S it is younger than
# its retention: every look until then must find it, with its claim.
looks=0
while (($(now_ms) - t_enq < DONE_S * 1000 - 200)); do
  dbedit --find-result "$id" >/dev/null 2>&1 ||
    fail "result of $id gone $(($(now_ms) - t_enq)) ms after its enqueue (retention ${DONE_S} s)"
  # two claims per run: the claim to run it and the end of the attempt
  assert_eq 2 "$(count claims "$(of_task "$id")")" "claims of $id while kept"
  looks=$((looks + 1))
  sleep 0.2
done
wait_until 15 count_is 0 results || fail "result of $id still there $(($(now_ms) - t_enq)) ms on"
gone_ms=$(($(now_ms) - t_enq))
assert_eq 0 "$(count claims "$(of_task "$id")")" "claims of $id once removed"
log "one done task: found in $looks looks up to ${DONE_S} s, removed with its claim ${gone_ms} ms after enqueue"
stop_worker w1

# --- tasks that must survive: disabled, delayed, running ----------------------
# Enqueued while no worker runs, so that none is claimed before it is
# disabled.  Each gets an event at once, as a task's first event would be.
disabled=()
for i in 1 2 3; do
  d="$(enqueue --func echo --args "{\"disabled\": $i}" --priority 9)" || fail "enqueue failed"
  add_event "$d"
  cli disable "$d" >/dev/null || fail "mtq disable $d failed"
  disabled+=("$d")
done
delayed="$(enqueue --func echo --args '{"delayed": true}' --delay 3600)" || fail "enqueue failed"
add_event "$delayed"
# Runs well past both retentions, and past the bulk even on a loaded machine
# (200 echo tasks took 22 s at load 20 on 2 cores); highest priority, so it
# starts first.
# It runs until the test says (the file release_long), however long the
# rest takes on a busy machine.
long="$(enqueue --func record --args "{\"until\": \"$TMP/release_long\"}" --priority 9)" ||
  fail "enqueue failed"
add_event "$long"
cancelled="$(enqueue --func echo --args '{"cancelled": true}' --priority 0)" || fail "enqueue failed"
add_event "$cancelled"
cli cancel "$cancelled" >/dev/null || fail "mtq cancel $cancelled failed"

# --- the bulk: N echo tasks, then NFAIL failing ones (lowest priority: last) ----
ids=()
for ((i = 1; i <= N; i++)); do
  ids+=("$(enqueue --func echo --args "{\"i\": $i}" --priority 5)") || fail "enqueue $i failed"
  ((i != 1 && i != N)) || add_event "${ids[i - 1]}"
done
fails=()
for ((i = 1; i <= NFAIL; i++)); do
  fails+=("$(enqueue --func fail --max-attempts 1 --priority 0)") || fail "enqueue fail $i failed"
done
add_event "${fails[0]}"
log "enqueued $N echo and $NFAIL failing tasks; 3 disabled, 1 delayed, 1 long, 1 cancelled"

WID=w2
start_worker w2 4
wait_until 120 worker_done echo done "$N" || fail "the $N echo tasks did not all run"
wait_until 60 worker_done fail failed "$NFAIL" || fail "the $NFAIL failing tasks did not all fail"
t_ran=$(now_ms)
log "all $N + $NFAIL ran"
assert_eq running "$(task_status "$long")" "status of the long task"

# Done tasks go DONE_S after they finished; the failures, which ran last,
# are then younger than FAILED_S and still kept.
wait_until 30 count_is 0 results '{"status": "done"}' || fail "done results left: $(count results '{"status": "done"}')"
t_done=$(now_ms)
assert_eq "$NFAIL" "$(count results '{"status": "dead"}')" "dead results (failed, no attempts left) once done ones are gone"
for f in "${fails[@]}"; do
  assert_eq 2 "$(count claims "$(of_task "$f")")" "claims of failed task $f while kept"
done
assert_eq 0 "$(count events "$(of_task "${ids[0]}")")" "events of the first done task"
assert_eq 0 "$(count events "$(of_task "${ids[N - 1]}")")" "events of the last done task"
# mtq records the claim and the end (dead); add_event gave one more
assert_eq 3 "$(count events "$(of_task "${fails[0]}")")" "events of a failed task while kept"
log "done results removed $((t_done - t_ran)) ms after the last task ran; failed ones kept"

wait_until 30 count_is 0 results || fail "results left: $(count results)"
t_failed=$(now_ms)
log "failed and cancelled results removed $((t_failed - t_ran)) ms after the last task ran"
assert_eq 0 "$(count events "$(of_task "${fails[0]}")")" "events of a removed failed task"
assert_eq 0 "$(count events "$(of_task "$cancelled")")" "events of the removed cancelled task"
assert_eq 0 "$(count claims "$(of_task "$cancelled")")" "claims of the removed cancelled task"

# The long task has run for longer than both retentions: still running,
# its claim and its event untouched.
assert_eq running "$(task_status "$long")" "status of the long task after the purge"
assert_eq 1 "$(count claims "$(of_task "$long")")" "claims of the running task"
assert_eq 2 "$(count events "$(of_task "$long")")" "events of the running task"
assert_eq 1 "$(count claims)" "claims left (the running task's)"

# Once it ends it is kept DONE_S like any other, then removed.
touch "$TMP/release_long"
wait_until 90 worker_done record done 1 || fail "the long task did not finish"
t_long=$(now_ms)
wait_until 30 count_is 0 claims || fail "claims left: $(count claims)"
wait_until 10 count_is 0 results || fail "results left: $(count results)"
assert_eq 0 "$(count events "$(of_task "$long")")" "events of the long task once removed"
log "long task removed $(($(now_ms) - t_long)) ms after it ended"

# Waiting tasks are all still there as they were, with their events.
for d in "${disabled[@]}"; do
  json="$(cli --json show "$d")" || fail "disabled task $d is gone"
  assert_eq queued "$(jget status <<<"$json")" "status of disabled task $d"
  assert_eq false "$(jget is_enable <<<"$json")" "is_enable of disabled task $d"
  assert_eq 2 "$(count events "$(of_task "$d")")" "events of disabled task $d"
done
assert_eq delayed "$(task_status "$delayed")" "status of the delayed task"
assert_eq 1 "$(count events "$(of_task "$delayed")")" "events of the delayed task"
assert_eq 7 "$(count events)" "events left (the waiting tasks')"

# --- a backlog: tasks that finished while mtqd was down go in several batches ---
MTQ__GONE[$MTQD_PID]=1
stop_pid "$MTQD_PID" 15 || fail "mtqd did not stop cleanly"
for ((i = 1; i <= N; i++)); do
  enqueue --func echo --args "{\"backlog\": $i}" >/dev/null || fail "enqueue $i failed"
done
wait_until 120 worker_done echo done $((2 * N)) || fail "the backlog did not run"
sleep "$DONE_S"
assert_eq "$N" "$(count results)" "results kept while mtqd is down"
t_start=$(now_ms)
start_mtqd "retain_done_s = $DONE_S" "retain_failed_s = $FAILED_S" \
  "retention_interval_ms = 500" "retention_batch = 50"
wait_until 30 count_is 0 results || fail "backlog results left: $(count results)"
assert_eq 0 "$(count claims)" "claims left after the backlog"
log "backlog of $N removed $(($(now_ms) - t_start)) ms after mtqd was started"
# 200 at 50 a batch: in 4 batches at least, and on FerretDB at least one pass
# ended on a full batch and the next went on.  How many batches fit in one pass
# (it starts none after a tenth of retention_interval_ms) depends on the
# server's speed: mongo-java-server removes the 200 in one pass of 5 batches.
batches="$(awk '/retention: done tasks kept/ {n = 0} # this mtqd, not the first one
                /past retention/ && match($0, /\([0-9]+ batch/) {n += substr($0, RSTART + 1, RLENGTH - 7)}
                END {print n + 0}' "$TMP/mtqd.log")"
((batches >= N / 50)) || fail "the backlog of $N went in $batches batches of 50, expected $((N / 50)) at least"
if ! grep -q "the batch was full, the next pass goes on" "$TMP/mtqd.log"; then
  [[ "${MTQ_DB:-}" == javaserver ]] || fail "no pass ended on a full batch of the backlog"
  log "the backlog went in $batches batches, all in one pass (mongo-java-server is fast enough)"
fi

grep -q "removed [0-9]* finished task" "$TMP/mtqd.log" || fail "mtqd did not log what it removed"
if grep -q "retention failed" "$TMP/mtqd.log"; then
  fail "retention failed: $(grep "retention failed" "$TMP/mtqd.log" | head -n 1)"
fi
grep "removed [0-9]* finished task" "$TMP/mtqd.log" | sed 's/^/  /' >&2

# --- flows: an ended flow goes with its events, a running one stays -----------------
printf '{"channel": "default", "func": "echo", "steps": [{"name": "a"}, {"name": "b", "after": "a"}]}\n' \
  >"$TMP/quick.json"
printf '{"channel": "default", "func": "record", "steps": [{"name": "hold", "args": {"until": "%s"}}]}\n' \
  "$TMP/release-hold" >"$TMP/held.json"
quick="$(cli flow submit "$TMP/quick.json")" || fail "submitting a flow failed"
held="$(cli flow submit "$TMP/held.json")" || fail "submitting a second flow failed"
flow_ended() { [[ "$(cli --json flow show "$1" | jget status)" == done ]]; }
wait_until 60 flow_ended "$quick" || fail "the quick flow did not end: $(cli flow show "$quick")"
(($(count events "{\"flow\": {\"\$oid\": \"$quick\"}}") >= 6)) || fail "the quick flow has no history"
wait_until 30 count_is 0 flows "{\"_id\": {\"\$oid\": \"$quick\"}}" || fail "the ended flow was kept"
assert_eq 0 "$(count events "{\"flow\": {\"\$oid\": \"$quick\"}}")" "events of the removed flow"
sleep $((DONE_S + 1))
assert_eq 1 "$(count flows "{\"_id\": {\"\$oid\": \"$held\"}}")" "the running flow, older than retention"
touch "$TMP/release-hold"
log "an ended flow went with its events; a running one stayed"
