#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a flow and task status here, not a keyword
# test_flow.sh - flows (mtq flow, mtqd's flow duty), driven by two mtqd at
# once throughout:
#   1. every bad flow file is refused with a clear message, and adds nothing;
#   2. a three-step chain whose middle step starts 3 s after the first ended;
#   3. a 20-shard fan-out whose shard 7 dies (its 2 attempts fail): with
#      tolerance 0.1 the merge runs and sees shard 7 missing, the flow is
#      done; without tolerance the flow fails, the merge is skipped;
#   4. a flow that survives SIGKILL of a worker (and its tasks) and of both
#      mtqd in the middle of a sharded step: every shard enqueued once,
#      every step done;
#   5. cancel: the running step's task is cancelled, the waiting ones
#      skipped, every transition in the flow's history; suspend: the
#      running step's task suspended, the next step held until resume;
#   6. the flow documents match schemas/flow.schema.json.
# Timing: the chain's offset is checked as at least 3 s (never at most);
# every wait allows 60 s or more for what takes seconds.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27800 480

worker_function shard "/bin/sh $FN/shard.sh"
start_mtqd
MTQD_AS=mtqd2 start_mtqd
start_worker w1 4
start_worker w2 4

flow_field() { cli --json flow show "$1" | jget "$2"; }
flow_is() { [[ "$(flow_field "$1" status 2>/dev/null)" == "$2" ]]; }
step_state() { flow_field "$1" "steps.$2.state"; }
# submit FILE: the flow's id.
submit() {
  local id
  id="$(cli flow submit "$1")" || return 1
  [[ "$id" =~ ^[0-9a-f]{24}$ ]] || { echo "flow submit printed '$id'" >&2; return 1; }
  printf '%s\n' "$id"
}
# start_ns TASK / end_ns TASK: from record.sh's side channel.
start_ns() { awk -v id="$1" '$1 == id && $3 == "start" {print $4; exit}' "$EXEC_LOG"; }
end_ns() { awk -v id="$1" '$1 == id && $3 == "end" {print $4}' "$EXEC_LOG" | tail -1; }

# --- 1. bad flows --------------------------------------------------------------------
bad() { # NAME MESSAGE_REGEX JSON
  printf '%s\n' "$3" >"$TMP/bad.json"
  run cli flow submit "$TMP/bad.json"
  expect_refused "$1" 1 "$2"
}
bad "not JSON" "malformed JSON|JSON" '{"steps": ['
bad "no steps" "no steps" '{"channel": "default"}'
bad "steps not a list" "steps must be a list" '{"steps": {"a": 1}}'
bad "a step without a name" "step 1: a step has no name" '{"channel": "default", "steps": [{"func": "echo"}]}'
bad "a bad step name" "step 1: name must be" '{"channel": "default", "steps": [{"name": 5, "func": "echo"}]}'
bad "two steps of one name" "two steps have that name" \
  '{"channel": "default", "steps": [{"name": "a", "func": "echo"}, {"name": "a", "func": "echo"}]}'
bad "after an unknown step" "comes after 'nope', which is no step" \
  '{"channel": "default", "steps": [{"name": "a", "func": "echo", "after": "nope"}]}'
bad "a cycle" "cycle" \
  '{"channel": "default", "steps": [{"name": "a", "func": "echo", "after": "b"}, {"name": "b", "func": "echo", "after": "a"}]}'
bad "shards 0" "shards must be a whole number from 1 to 10000" \
  '{"channel": "default", "steps": [{"name": "a", "func": "echo", "shards": 0}]}'
bad "tolerance 2" "tolerance must be a number from 0 to 1" \
  '{"channel": "default", "steps": [{"name": "a", "func": "echo", "tolerance": 2}]}'
bad "an unknown key" "unknown key 'colour'" \
  '{"channel": "default", "steps": [{"name": "a", "func": "echo", "colour": "red"}]}'
bad "a dedupe key" "dedupe-key is not an option of a flow step" \
  '{"channel": "default", "steps": [{"name": "a", "func": "echo", "dedupe-key": "k"}]}'
bad "args that hold shard" "args may not hold 'shard'" \
  '{"channel": "default", "steps": [{"name": "a", "func": "echo", "args": {"shard": 1}}]}'
bad "a bad priority" "priority must be a number" \
  '{"channel": "default", "steps": [{"name": "a", "func": "echo", "priority": "high"}]}'
bad "an unserved function" "no worker serves function 'nosuch'" \
  '{"channel": "default", "steps": [{"name": "a", "func": "nosuch"}]}'
bad "an undeclared channel" "unknown channel 'nosuch'" \
  '{"channel": "nosuch", "steps": [{"name": "a", "func": "echo"}]}'
bad "no channel" "no channel" '{"steps": [{"name": "a", "func": "echo"}]}'
run cli flow submit "$TMP/no-such-file.json"
expect_refused "a missing file" 1 "cannot open"
run cli flow show 0123456789abcdef01234567
expect_refused "show of no flow" 1 "no flow 0123456789abcdef01234567"
run cli flow cancel nope
expect_refused "cancel of a bad id" 2 "not a task id|id"
run cli flow frob
expect_refused "an unknown subcommand" 2 "unknown flow command 'frob'"
assert_eq 0 "$(dbedit --count flows)" "flows after the bad ones"

# --- 2. a chain with an offset ---------------------------------------------------------
cat >"$TMP/chain.json" <<'EOF'
{"name": "chain", "channel": "default", "func": "record",
 "steps": [{"name": "a"}, {"name": "b", "after": "a", "delay": 3}, {"name": "c", "after": "b"}]}
EOF
chain="$(submit "$TMP/chain.json")" || fail "submitting the chain failed"
wait_until 90 flow_is "$chain" done || fail "the chain is $(flow_field "$chain" status): $(cli flow show "$chain")"
ta="$(flow_field "$chain" steps.0.tasks.0)" tb="$(flow_field "$chain" steps.1.tasks.0)"
tc="$(flow_field "$chain" steps.2.tasks.0)"
gap_ms=$((($(start_ns "$tb") - $(end_ns "$ta")) / 1000000))
((gap_ms >= 2900)) || fail "step b started $gap_ms ms after a ended, not 3 s"
(($(start_ns "$tc") > $(end_ns "$tb"))) || fail "step c started before b ended"
log "chain: b started $gap_ms ms after a ended (delay 3 s), c after b"

# --- 3. fan-out, a dead shard, with and without tolerance -------------------------------
fan() { # NAME TOLERANCE
  cat >"$TMP/$1.json" <<EOF
{"name": "$1", "channel": "default", "max-attempts": 2, "backoff": 0.2,
 "steps": [{"name": "predict", "func": "shard", "shards": 20, "args": {"fail": 7}},
           {"name": "merge", "func": "echo", "after": "predict", "tolerance": $2},
           {"name": "submit", "func": "echo", "after": "merge"}]}
EOF
  submit "$TMP/$1.json"
}
tolerant="$(fan tolerant 0.1)" || fail "submitting the tolerant fan-out failed"
strict="$(fan strict 0)" || fail "submitting the strict fan-out failed"
wait_until 120 flow_is "$tolerant" done || fail "the tolerant flow: $(cli flow show "$tolerant")"
wait_until 120 flow_is "$strict" failed || fail "the strict flow: $(cli flow show "$strict")"
json="$(cli --json flow show "$tolerant")"
assert_eq 19 "$(jget steps.0.shards_done <<<"$json")" "done shards of the tolerant predict"
assert_eq 1 "$(jget steps.0.shards_failed <<<"$json")" "failed shards of the tolerant predict"
assert_eq failed "$(jget steps.0.state <<<"$json")" "the tolerant predict"
merge_task="$(jget steps.1.tasks.0 <<<"$json")"
res="$(cli --json show "$merge_task" | jget result)"
assert_eq '[7]' "$(jget parents.predict.missing <<<"$res" | tr -d ' \n')" "shards the merge sees missing"
assert_eq 19 "$(jget parents.predict.done <<<"$res")" "done shards the merge sees"
assert_eq dead "$(jget parents.predict.results.7.status <<<"$res")" "shard 7 as the merge sees it"
assert_eq 12 "$(jget parents.predict.results.12.result.shard <<<"$res")" "shard 12's result, as MTQ_SHARD said"
assert_eq 20 "$(jget parents.predict.results.12.result.shards <<<"$res")" "MTQ_SHARDS of shard 12"
assert_eq done "$(jget steps.2.state <<<"$json")" "the tolerant submit"
# The shard's own args say which shard it is.
s3="$(jget steps.0.tasks.3 <<<"$json")"
assert_eq 3 "$(cli --json show "$s3" | jget args.shard)" "args.shard of shard 3"
assert_eq 2 "$(cli --json show "$(jget steps.0.tasks.7 <<<"$json")" | jget attempt)" \
  "attempts of the dead shard 7"
json="$(cli --json flow show "$strict")"
assert_eq skipped "$(jget steps.1.state <<<"$json")" "the strict merge"
assert_eq skipped "$(jget steps.2.state <<<"$json")" "the strict submit"
assert_contains "$(jget reason <<<"$json")" "step predict: 1 of 20 shards failed, and step merge tolerates 0" \
  "why the strict flow failed"
text="$(cli flow show "$strict")"
assert_contains "$text" "failed, 0 of 3 steps done" "mtq flow show's summary"
grep -Eq '^`- merge +skipped +0/1 ' <<<"$text" || fail "mtq flow show's tree: $text"
log "fan-out: tolerance 0.1 ran the merge with shard 7 missing; without, the flow failed"

# --- 4. SIGKILL of a worker and of both coordinators mid-run -----------------------------
cat >"$TMP/survive.json" <<'EOF'
{"name": "survive", "channel": "default", "func": "record",
 "steps": [{"name": "prep"},
           {"name": "work", "after": "prep", "shards": 12, "args": {"sleep": 2}},
           {"name": "merge", "after": "work"}]}
EOF
survive="$(submit "$TMP/survive.json")" || fail "submitting the survivor failed"
work_running() { [[ "$(step_state "$survive" 1)" == running ]] && (($(grep -c ' start ' "$EXEC_LOG") > 0)); }
: >"$EXEC_LOG"
wait_until 60 work_running || fail "the survivor's work step never ran"
sleep 1
crash_worker w1
for pid in "${!MTQ__NAME[@]}"; do
  if [[ "${MTQ__NAME[$pid]}" == mtqd* ]] && alive "$pid"; then
    kill -KILL "$pid"
    MTQ__GONE[$pid]=1
  fi
done
log "killed worker w1 with its tasks, and both mtqd, in the middle of step work"
sleep 2
MTQD_AS=mtqd3 start_mtqd
MTQD_AS=mtqd4 start_mtqd
start_worker w3 4
wait_until 120 flow_is "$survive" done || fail "the survivor: $(cli flow show "$survive")"
json="$(cli --json flow show "$survive")"
for i in 0 1 2; do
  assert_eq done "$(jget "steps.$i.state" <<<"$json")" "survivor step $i"
done
assert_eq 12 "$(jget steps.1.shards_done <<<"$json")" "survivor's done shards"
assert_eq 14 "$(dbedit --count dedupe "{\"_id\": {\"\$regex\": \":flow:$survive:\"}}")" \
  "tasks enqueued for the survivor (one per shard)"
assert_eq 14 "$(dbedit --count results "{\"flow\": {\"\$oid\": \"$survive\"}}")" \
  "outcomes of the survivor's tasks"
log "survivor: done after the kills, 14 tasks for 14 shards"

# --- 5. cancel ------------------------------------------------------------------------------
cat >"$TMP/cancel.json" <<EOF
{"name": "doomed", "channel": "default", "func": "record",
 "steps": [{"name": "hold", "args": {"until": "$TMP/never"}}, {"name": "after", "after": "hold"}]}
EOF
doomed="$(submit "$TMP/cancel.json")" || fail "submitting the doomed flow failed"
hold_running() { [[ "$(step_state "$doomed" 0)" == running ]]; }
wait_until 60 hold_running || fail "the doomed flow's hold step never started"
held="$(flow_field "$doomed" steps.0.tasks.0)"
wait_until 60 status_is "$held" running || fail "the hold task never ran"
cli flow cancel "$doomed" >/dev/null || fail "mtq flow cancel failed"
run cli flow cancel "$doomed"
expect_refused "a second cancel" 1 "is cancelled: cannot cancel it"
wait_until 60 status_is "$held" cancelled || fail "the hold task is $(task_status "$held"), not cancelled"
wait_until 60 bash -c "[[ \"\$(timeout 60 '$MTQ' --uri '$URI' --json flow show $doomed | '$DBEDIT' --get finished_at)\" != null ]]" ||
  fail "the cancelled flow did not finish: $(cli flow show "$doomed")"
json="$(cli --json flow show "$doomed" --history)"
assert_eq cancelled "$(jget status <<<"$json")" "the doomed flow"
assert_eq cancelled "$(jget steps.0.state <<<"$json")" "the doomed hold step"
assert_eq skipped "$(jget steps.1.state <<<"$json")" "the doomed after step"
hist="$(cli flow show "$doomed" --history)"
for line in "\\(flow\\) +submitted -> running by operator" "hold +waiting -> running by mtqd" \
            "\\(flow\\) +running -> cancelled by operator" "hold +running -> cancelled by mtqd" \
            "after +waiting -> skipped by mtqd"; do
  grep -Eq -- "$line" <<<"$hist" || fail "history lacks /$line/: $hist"
done
cli flow ls | grep -q "$doomed" && fail "mtq flow ls lists the ended flow $doomed"
cli flow ls --all | grep -Eq "^$doomed +doomed +cancelled +0/2 " || fail "mtq flow ls --all: $(cli flow ls --all)"
log "cancel: the running task cancelled, the waiting step skipped, all in the history"

# --- 5b. suspend and resume ----------------------------------------------------------------
cat >"$TMP/pause.json" <<'EOF'
{"name": "paused", "channel": "default", "func": "record",
 "steps": [{"name": "a", "args": {"sleep": 2}}, {"name": "b", "after": "a"}]}
EOF
paused="$(submit "$TMP/pause.json")" || fail "submitting the flow to suspend failed"
a_running() { [[ "$(step_state "$paused" 0)" == running ]]; }
wait_until 60 a_running || fail "step a never started"
ta="$(flow_field "$paused" steps.0.tasks.0)"
wait_until 60 status_is "$ta" running || fail "a's task never ran"
cli flow suspend "$paused" >/dev/null || fail "mtq flow suspend failed"
assert_eq suspended "$(flow_field "$paused" status)" "the suspended flow"
assert_eq suspended "$(task_status "$ta")" "a's task in the suspended flow"
run cli flow suspend "$paused"
expect_refused "a second flow suspend" 1 "is suspended: cannot suspend it"
# a's task alone is resumed: a ends, and b is held while the flow is suspended.
sleep 1
cli resume "$ta" >/dev/null || fail "resuming a's task failed"
a_done() { [[ "$(step_state "$paused" 0)" == done ]]; }
wait_until 60 a_done || fail "step a did not end: $(cli flow show "$paused")"
sleep 2
assert_eq waiting "$(step_state "$paused" 1)" "step b while the flow is suspended"
cli flow resume "$paused" >/dev/null || fail "mtq flow resume failed"
wait_until 60 flow_is "$paused" done || fail "the resumed flow: $(cli flow show "$paused")"
hist="$(cli flow show "$paused" --history)"
for line in "\\(flow\\) +running -> suspended by operator" "\\(flow\\) +suspended -> running by operator"; do
  grep -Eq -- "$line" <<<"$hist" || fail "history lacks /$line/: $hist"
done
log "suspend: a's task suspended, b held while the flow was, then run once resumed"

# --- 6. schemas -----------------------------------------------------------------------------
schema_check() { /usr/bin/python3 "$MTQ_ROOT/tests/integration/schema_check.py" "$MTQ_ROOT/schemas/$1"; }
dbedit --docs flows | schema_check flow.schema.json || fail "a flow breaks flow.schema.json"
dbedit --docs results --filter "{\"flow\": {\"\$oid\": \"$survive\"}}" | schema_check task.schema.json ||
  fail "a flow's task breaks task.schema.json"
