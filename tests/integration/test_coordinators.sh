#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task and flow status here, not a keyword
# test_coordinators.sh - no single coordinator: two mtqd, one leading.  The
# leader is SIGKILLed while a redundant task's 3 copies run, a flow's
# sharded step runs and a schedule ticks every second; the other takes over
# within lost_after_ms (3 s here) and:
#   - the redundant task ends done with exactly 3 copies, each run once
#     (nothing dispatched twice), and a new one is dispatched by the new
#     leader;
#   - the flow ends done with one task per shard;
#   - every tick of the schedule fired once (one task per tick);
#   - a delayed task is released by the new leader.
# Then a clean stop of the leader hands over at once (a resigned epoch).
# Timing: takeover is allowed 20 s (lost_after_ms is 3 s); everything else
# 60 s or more; nothing asserts an upper bound tighter than that.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27820 420

start_mtqd
A=$MTQD_PID
MTQD_AS=mtqd2 start_mtqd
B=$MTQD_PID
for w in w1 w2 w3; do
  start_worker "$w" 2
done

# leader_pid: the pid in the newest leadership's holder (mtqd@host:PID:rand).
leader_pid() { cli --json coordinators | jget 0.holder | sed -nE 's/^mtqd@[^:]*:([0-9]+):.*/\1/p'; }
leader_is() { [[ "$(leader_pid 2>/dev/null)" == "$1" ]]; }
some_leader() { [[ -n "$(leader_pid 2>/dev/null)" ]]; }
wait_until 30 some_leader || fail "no mtqd took the lead: $(cli coordinators)"
first="$(leader_pid)"
[[ "$first" == "$A" || "$first" == "$B" ]] || fail "the leader's pid $first is neither mtqd"
other=$([[ "$first" == "$A" ]] && echo "$B" || echo "$A")
log "mtqd $first leads, $other follows"
cli coordinators | grep -Eq '^1 +mtqd@.* +leader ' || fail "mtq coordinators: $(cli coordinators)"
sleep 2 # the follower has seen the leader renew
if grep -q "leading the coordinators" "$TMP/mtqd.log" && grep -q "leading the coordinators" "$TMP/mtqd2.log"; then
  fail "both mtqd say they lead"
fi

# --- the work in flight -------------------------------------------------------------
red="$(enqueue --func record --args '{"sleep": 5}' --copies 3 --pick all)" || fail "enqueue of the redundant task"
cat >"$TMP/flow.json" <<'EOF'
{"name": "through", "channel": "default", "func": "record",
 "steps": [{"name": "work", "shards": 6, "args": {"sleep": 3}}, {"name": "merge", "after": "work"}]}
EOF
flow="$(cli flow submit "$TMP/flow.json")" || fail "submitting the flow failed"
cli schedule add tick --every 1s --channel default --func echo >/dev/null || fail "schedule add failed"
copies_out() { (($(cli --json show "$red" | jlen copies) == 3)); }
wait_until 60 copies_out || fail "the 3 copies were not sent: $(cli show "$red")"
ticks() { dbedit --count ticks '{"schedule": "tick"}'; }
sleep 1.5

kill -KILL "$first"
MTQ__GONE[$first]=1
killed_ms="$(date +%s%3N)"
log "killed the leader (pid $first) with 3 copies, a flow step and a schedule in flight; $(ticks) ticks so far"
wait_until 20 leader_is "$other" || fail "mtqd $other did not take over: $(cli coordinators)"
log "mtqd $other leads $(($(date +%s%3N) - killed_ms)) ms after the kill"
cli coordinators | grep -Eq '^2 +mtqd@.* +leader ' || fail "the takeover is not epoch 2: $(cli coordinators)"

# A new redundant task and a delayed one: the new leader's to dispatch and release.
red2="$(enqueue --func echo --args '{"n": 2}' --copies 2 --pick quorum)" || fail "enqueue of the second redundant task"
late="$(enqueue --func echo --args '{"late": true}' --delay 2)" || fail "enqueue of the delayed task"

# --- what became of it -----------------------------------------------------------------
wait_until 90 status_is "$red" done || fail "the redundant task: $(cli show "$red")"
assert_eq 3 "$(cli --json show "$red" | jlen copies)" "copies of the redundant task"
assert_eq 3 "$(cli --json show "$red" | jlen result.results)" "results of the redundant task (pick all)"
copies="$(cli --json show "$red" | jget copies)"
for i in 0 1 2; do
  c="$(jget "$i.id" <<<"$copies")"
  assert_eq 1 "$(starts_of "$c")" "runs of copy $i"
done
wait_until 60 status_is "$red2" done || fail "the second redundant task: $(cli show "$red2")"
wait_until 60 status_is "$late" done || fail "the delayed task: $(cli show "$late")"
flow_is() { [[ "$(cli --json flow show "$1" | jget status 2>/dev/null)" == "$2" ]]; }
wait_until 90 flow_is "$flow" done || fail "the flow: $(cli flow show "$flow")"
assert_eq 7 "$(dbedit --count dedupe "{\"_id\": {\"\$regex\": \":flow:$flow:\"}}")" "tasks of the flow (one per shard)"
cli schedule pause tick >/dev/null
sleep 1.5
n_ticks="$(dbedit --count ticks '{"schedule": "tick", "decision": "fire"}')"
((n_ticks >= 5)) || fail "the schedule fired $n_ticks ticks"
assert_eq "$n_ticks" "$(dbedit --count dedupe '{"_id": {"$regex": "^default:schedule:tick:"}}')" \
  "tasks of the schedule's fired ticks (one per tick)"
log "after the takeover: 3 copies run once each, the flow done, $n_ticks ticks once each, the delayed task released"

# --- a clean stop hands over at once ---------------------------------------------------
MTQD_AS=mtqd3 start_mtqd
C=$MTQD_PID
sleep 1
MTQ__GONE[$other]=1
stop_pid "$other" 15 || fail "mtqd $other did not stop cleanly"
wait_until 20 leader_is "$C" || fail "mtqd $C did not take over after a clean stop: $(cli coordinators)"
cli coordinators | grep -Eq '^3 +- +resigned ' || fail "no resigned epoch after the clean stop: $(cli coordinators)"
dbedit --docs leaders | /usr/bin/python3 "$MTQ_ROOT/tests/integration/schema_check.py" "$MTQ_ROOT/schemas/leader.schema.json" ||
  fail "a leadership record breaks schemas/leader.schema.json"
log "a clean stop resigned epoch 3; mtqd $C leads"
