#!/usr/bin/env bash
# test_schedule.sh - recurring schedules (mtq schedule, mtqd's schedule duty):
#   1. every bad input is refused with a clear message, and adds nothing;
#   2. an --every 2s schedule under two coordinators at once fires each tick
#      once, keeps doing so when both are SIGKILLed and one comes back, and
#      fires the ticks missed while they were down once, as one;
#   3. a coordinator that died between deciding a tick and enqueueing its
#      task (its record left without a task) is finished by the next one;
#   4. pause fires nothing, and resume fires nothing missed while paused;
#   5. --skip-if-running never lets two runs of a schedule overlap;
#   6. a cron schedule in Europe/Berlin shows its next runs at 02:30 Berlin.
# Timing: ticks are 2 s (1 s for 5) apart; each wait allows 3 ticks or more of
# slack for a loaded machine, and nothing asserts on how late a tick fired.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27780 360

start_mtqd
A=$MTQD_PID
MTQD_AS=mtqd2 start_mtqd
B=$MTQD_PID
start_worker w1 4

now_ms() { date +%s%3N; }
ticks_of() { dbedit --ids ticks --filter "{\"schedule\": \"$1\"}" | sed 's/^.*://' | sort -n; }
ntick() { ticks_of "$1" | wc -l; }
ticks_at_least() { (($(ntick "$1") >= $2)); }
# The ms of the extended-JSON date jget printed ({..."$date": "...Z"...}).
date_ms() {
  local iso
  iso="$(grep -Eo '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z' <<<"$1" | head -1)"
  [[ -n "$iso" ]] || fail "no date in: $1"
  date -d "$iso" +%s%3N
}

# --- 1. bad input ------------------------------------------------------------------
add=(cli schedule add)
task=(--channel default --func echo)
run "${add[@]}" x "${task[@]}"
expect_refused "neither --cron nor --every" 2 "give --cron or --every"
run "${add[@]}" x --cron "* * * * *" --every 5s "${task[@]}"
expect_refused "both --cron and --every" 2 "give --cron or --every"
run "${add[@]}" x --cron "61 * * * *" "${task[@]}"
expect_refused "minute 61" 2 "cron field 1 \(minute\) '61': 61 is out of range 0-59"
run "${add[@]}" x --cron "* * * *" "${task[@]}"
expect_refused "four fields" 2 "cron"
run "${add[@]}" x --cron "0 0 30 2 *" "${task[@]}"
expect_refused "February 30th" 2 "never"
run "${add[@]}" x --cron "@sometimes" "${task[@]}"
expect_refused "unknown macro" 2 "cron"
run "${add[@]}" x --cron "* * * * *" --tz Mars/Olympus "${task[@]}"
expect_refused "unknown zone" 2 "unknown time zone Mars/Olympus"
run "${add[@]}" x --cron "* * * * *" --tz ../../etc/passwd "${task[@]}"
expect_refused "zone name with .." 2 "zone"
run "${add[@]}" x --every 5s --tz Europe/Berlin "${task[@]}"
expect_refused "--tz with --every" 2 "--tz goes with --cron"
run "${add[@]}" x --every 500ms "${task[@]}"
expect_refused "--every 500ms" 2 "shorter than 1s"
run "${add[@]}" x --every soon "${task[@]}"
expect_refused "--every soon" 2 "not a duration"
run "${add[@]}" x --every 400d "${task[@]}"
expect_refused "--every 400d" 2 "longer than 366 days"
run "${add[@]}" x --every 5s --dedupe-key k "${task[@]}"
expect_refused "--dedupe-key" 2 "--dedupe-key is not an option of a schedule"
run "${add[@]}" 'bad name!' --every 5s "${task[@]}"
expect_refused "bad name" 2 "schedule name 'bad name!' must be"
run "${add[@]}" x --every 5s "${task[@]}" --args '{"x": '
expect_refused "bad args" 2 "args"
run "${add[@]}" x --every 5s --channel default
expect_refused "no --func" 2 "--channel and --func are required"
run "${add[@]}" x --every 5s --channel default --func nosuch
expect_refused "unserved function" 1 "no worker serves function 'nosuch'"
run "${add[@]}" x --every 5s --channel nosuch --func echo
expect_refused "undeclared channel" 1 "nosuch"
run cli schedule rm nosuch
expect_refused "rm of no schedule" 1 "no schedule nosuch"
run cli schedule pause nosuch
expect_refused "pause of no schedule" 1 "no schedule nosuch"
run cli schedule show nosuch
expect_refused "show of no schedule" 1 "no schedule nosuch"
run cli schedule frob
expect_refused "unknown subcommand" 2 "unknown schedule command 'frob'"
assert_eq 0 "$(dbedit --count schedules)" "schedules after the bad inputs"

# --- 2. every 2s, two coordinators, both killed, one back --------------------------
cli schedule add tick2 --every 2s --channel default --func record >/dev/null ||
  fail "schedule add tick2 failed"
run "${add[@]}" tick2 --every 2s --channel default --func record
expect_refused "a second tick2" 1 "schedule tick2 exists"
anchor_ms="$(date_ms "$(cli --json schedule show tick2 | jget anchor)")"
# Killed right after a tick was recorded whole, so that no tick is left
# half-done by the kill (section 3 makes one on purpose).
latest_whole() {
  local t
  t="$(ticks_of tick2 | tail -1)"
  (($(ntick tick2) >= 4)) &&
    [[ "$(dbedit --count ticks "{\"_id\": \"tick2:$t\", \"task\": {\"\$type\": \"objectId\"}}")" == 1 ]]
}
wait_until 30 latest_whole || fail "tick2 fired $(ntick tick2) ticks in 30 s, not 4"

kill -KILL "$A" "$B"
MTQ__GONE[$A]=1 MTQ__GONE[$B]=1
wait "$A" "$B" 2>/dev/null || true
down_ms="$(now_ms)"
before="$(ticks_of tick2)"
log "both coordinators SIGKILLed after $(wc -l <<<"$before") ticks; down for 7 s"
sleep 7
up_ms="$(now_ms)"
MTQD_AS=mtqd3 start_mtqd
started_ms="$(now_ms)"
n_before="$(wc -l <<<"$before")"
wait_until 30 ticks_at_least tick2 $((n_before + 3)) ||
  fail "tick2 fired $(($(ntick tick2) - n_before)) ticks in 30 s after the restart, not 3"

# --- 3. a tick decided but not enqueued is finished --------------------------------
# The record a coordinator leaves when it dies between its decision and the
# enqueue, for a tick 6 s ahead; the coordinator that meets it enqueues.
ahead=$(( anchor_ms + ( ( $(now_ms) - anchor_ms ) / 2000 + 3 ) * 2000 ))
dbedit --insert ticks "{\"_id\": \"tick2:$ahead\", \"schedule\": \"tick2\",
  \"tick\": {\"\$date\": $ahead}, \"decision\": \"fire\", \"task\": null, \"why\": \"\",
  \"by\": \"a coordinator that died\", \"at\": {\"\$date\": $(now_ms)}}" >/dev/null ||
  fail "cannot insert the half-done tick record"
tick_has_task() { [[ "$(dbedit --count ticks "{\"_id\": \"tick2:$ahead\", \"task\": {\"\$type\": \"objectId\"}}")" == 1 ]]; }
wait_until 30 tick_has_task || fail "the half-done tick $ahead never got its task"

# Pause, then check what tick2 did so far.
cli schedule pause tick2 >/dev/null || fail "pause tick2 failed"
paused_ms="$(now_ms)"
sleep 1 # a tick being fired as we paused lands now
all="$(ticks_of tick2)"
n_all="$(wc -l <<<"$all")"
prev="" gaps=0 big=0
while read -r t; do
  (((t - anchor_ms) % 2000 == 0)) || fail "tick $t is not anchor $anchor_ms + k * 2 s"
  if [[ -n "$prev" ]] && ((t - prev != 2000)); then
    gaps=$((gaps + 1))
    big=$((t - prev))
    after_gap="$t"
  fi
  prev="$t"
done <<<"$all"
assert_eq 1 "$gaps" "gaps between fired ticks (only the downtime's)"
# Down 7 s: the gap spans at least 2 missed ticks, whatever the phase.
((big >= 6000)) || fail "the downtime's gap is $big ms: missed ticks were fired one by one"
# The tick fired after the restart is the latest one before it, not the first missed.
((after_gap > up_ms - 2000 && after_gap <= started_ms + 2000)) ||
  fail "the first tick after the restart is $after_gap, restart at $up_ms (down at $down_ms)"
log "tick2: $n_all ticks, one gap of $big ms over the downtime, coalesced into $after_gap"

# Each fired tick has one task, and each task ran once.
decided_tasks="$(dbedit --count ticks '{"schedule": "tick2", "decision": "fire", "task": {"$type": "objectId"}}')"
assert_eq "$n_all" "$decided_tasks" "tick records of tick2 with a task"
assert_eq "$n_all" "$(dbedit --count dedupe '{"_id": {"$regex": "^default:schedule:tick2:"}}')" \
  "dedupe keys of tick2's tasks (one task per tick)"
wait_until 30 stat_is default done "$n_all" || fail "tick2's $n_all tasks did not all finish"
runs="$(awk '$3 == "start"' "$EXEC_LOG" | wc -l)"
distinct="$(awk '$3 == "start" {print $1}' "$EXEC_LOG" | sort -u | wc -l)"
assert_eq "$n_all" "$distinct" "tasks of tick2 that ran"
assert_eq "$n_all" "$runs" "runs of tick2's tasks"

# --- 4. paused: nothing; resumed: nothing missed while paused ----------------------
sleep 4
assert_eq "$n_all" "$(ntick tick2)" "ticks fired while paused"
cli schedule resume tick2 >/dev/null || fail "resume tick2 failed"
resumed_ms="$(now_ms)"
wait_until 30 ticks_at_least tick2 $((n_all + 1)) || fail "tick2 fired nothing after its resume"
first_after="$(ticks_of tick2 | tail -n +$((n_all + 1)) | head -1)"
((first_after > resumed_ms)) ||
  fail "after the resume at $resumed_ms, tick $first_after (paused at $paused_ms) fired"
cli schedule ls | grep -Eq '^tick2 +every 2s +active +default/record@1 ' ||
  fail "mtq schedule ls: $(cli schedule ls)"
# What mtq wrote is what its schemas say, read as another client would.
schema_check() { /usr/bin/python3 "$MTQ_ROOT/tests/integration/schema_check.py" "$MTQ_ROOT/schemas/$1"; }
dbedit --docs schedules | schema_check schedule.schema.json || fail "a schedule breaks schedule.schema.json"
dbedit --docs ticks | schema_check tick.schema.json || fail "a tick record breaks tick.schema.json"
cli schedule rm tick2 >/dev/null || fail "rm tick2 failed"
assert_eq 0 "$(dbedit --count ticks '{"schedule": "tick2"}')" "tick records left by rm"
log "pause fired nothing; resume fired $first_after, after $resumed_ms; rm removed the records"

# --- 5. skip if running --------------------------------------------------------------
quiet() { stat_is default queued 0 && stat_is default running 0; }
wait_until 30 quiet || fail "tick2's last tasks did not finish"
: >"$EXEC_LOG"
cli schedule add slow --every 1s --skip-if-running --channel default --func record \
  --args '{"sleep": 2.5}' >/dev/null || fail "schedule add slow failed"
wait_until 40 ticks_at_least slow 8 || fail "slow decided $(ntick slow) ticks in 40 s, not 8"
cli schedule pause slow >/dev/null
json="$(cli --json schedule show slow)"
n="$(jlen ticks <<<"$json")"
fired=0 skipped=0
for ((i = 0; i < n; i++)); do
  case "$(jget "ticks.$i.decision" <<<"$json")" in
    fire) fired=$((fired + 1)) ;;
    skip) skipped=$((skipped + 1))
          assert_contains "$(jget "ticks.$i.why" <<<"$json")" "its previous run, task" "why a tick of slow was skipped" ;;
  esac
done
((fired >= 2 && skipped >= 2)) || fail "slow: $fired ticks fired, $skipped skipped"
wait_until 30 bash -c "(( \$(grep -c ' end ' '$EXEC_LOG') == \$(grep -c ' start ' '$EXEC_LOG') ))" ||
  fail "slow's runs did not end"
# No two runs overlap: sorted by start, each starts after the one before ended.
overlaps="$(awk '$3 == "start" {s[$1] = $4} $3 == "end" {e[$1] = $4}
  END {for (id in s) print s[id], e[id]}' "$EXEC_LOG" | sort -n |
  awk 'NR > 1 && $1 < last {n++} {last = $2} END {print n + 0}')"
assert_eq 0 "$overlaps" "overlapping runs of slow"
log "slow: $fired ticks fired, $skipped skipped while the previous run went on, no overlap"

# --- 5b. a schedule of flows ----------------------------------------------------------------
cat >"$TMP/tickflow.json" <<'EOF'
{"name": "ticked", "channel": "default", "func": "record",
 "steps": [{"name": "work", "shards": 2, "args": {"sleep": 2.5}}, {"name": "sum", "after": "work"}]}
EOF
run "${add[@]}" f --every 1s --flow "$TMP/tickflow.json" --func echo
expect_refused "--flow with task options" 2 "--flow takes no task options"
printf '{"steps": [{"name": "x", "func": "nosuch", "channel": "default"}]}\n' >"$TMP/badflow.json"
run "${add[@]}" f --every 1s --flow "$TMP/badflow.json"
expect_refused "--flow with a bad flow" 1 "no worker serves function 'nosuch'"
cli schedule add flows --every 1s --skip-if-running --flow "$TMP/tickflow.json" >/dev/null ||
  fail "schedule add --flow failed"
wait_until 40 ticks_at_least flows 8 || fail "flows decided $(ntick flows) ticks in 40 s, not 8"
cli schedule pause flows >/dev/null
sleep 1
json="$(cli --json schedule show flows)"
n="$(jlen ticks <<<"$json")" fired=0 skipped=0 flow_ids=()
for ((i = 0; i < n; i++)); do
  case "$(jget "ticks.$i.decision" <<<"$json")" in
    fire) fired=$((fired + 1)) flow_ids+=("$(jget "ticks.$i.task" <<<"$json")") ;;
    skip) skipped=$((skipped + 1))
          assert_contains "$(jget "ticks.$i.why" <<<"$json")" "its previous run, flow" "why a tick of flows was skipped" ;;
  esac
done
((fired >= 2 && skipped >= 2)) || fail "flows: $fired ticks fired, $skipped skipped"
assert_eq "$fired" "$(printf '%s\n' "${flow_ids[@]}" | sort -u | wc -l)" "distinct flows of the fired ticks"
flow_done() { [[ "$(cli --json flow show "$1" | jget status)" == done ]]; }
for f in "${flow_ids[@]}"; do
  wait_until 60 flow_done "$f" || fail "the flow $f of a tick: $(cli flow show "$f")"
done
assert_eq "$(dbedit --count ticks '{"schedule": "flows", "decision": "fire"}')" \
  "$(dbedit --count flows '{"name": "ticked"}')" "flows submitted for the fired ticks (one each)"
cli schedule ls | grep -Eq '^flows +every 1s +paused +flow ticked \(2 steps\) ' ||
  fail "mtq schedule ls: $(cli schedule ls)"
log "a schedule of flows: $fired flows, one per fired tick, $skipped ticks skipped while one ran"

# --- 6. cron in a zone ------------------------------------------------------------------
cli schedule add nightly --cron "30 2 * * *" --tz Europe/Berlin --channel default --func echo \
  >/dev/null || fail "schedule add nightly failed"
json="$(cli --json schedule show nightly)"
assert_eq 5 "$(jlen next <<<"$json")" "next runs of nightly"
for ((i = 0; i < 5; i++)); do
  ms="$(date_ms "$(jget "next.$i" <<<"$json")")"
  assert_eq 02:30 "$(TZ=Europe/Berlin date -d "@$((ms / 1000))" +%H:%M)" "next run $i of nightly"
done
cli schedule show nightly | grep -Eq '^  20[0-9-]+T(00|01):30:00Z \(20[0-9-]+ 02:30 \+0[12]:00\)$' ||
  fail "mtq schedule show nightly: $(cli schedule show nightly)"
log "nightly: the next 5 runs are at 02:30 Berlin time"
