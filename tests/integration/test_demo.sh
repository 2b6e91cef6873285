#!/usr/bin/env bash
# test_demo.sh - what a new user does first: `bash deploy/demo.sh --keep`,
# then the commands it prints to look around, run as printed from another
# directory, the direct edit among them, then the one command it prints to
# stop everything.  And deploy/lib.sh's step, through which setup.sh runs
# its installs: one line on the terminal, the output in a log that is named
# (with its last lines) when the step fails.
#
# The demo runs in the test's own directory and on a free port
# (MTQ_DEMO_DIR, --port), with what is built (--no-setup), so that it
# neither installs anything nor disturbs a demo of the user's.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_arm 150

DEMO_DIR="$TMP/demo"
DEMO_PORT=""
for ((p = 27460; p < 27480; p++)); do
  port_open "$p" || { DEMO_PORT="$p"; break; }
done
[[ -n "$DEMO_PORT" ]] || fail "no free port in 27460..27479"
demo() {
  MTQ_DEMO_DIR="$DEMO_DIR" MTQ_BUILD_DIR="$MTQ_BUILD" timeout 100 \
    bash "$MTQ_ROOT/deploy/demo.sh" "$@"
}
# Whatever happens, nothing of the demo outlives the test.
mtq_on_cleanup --first env MTQ_DEMO_DIR="$DEMO_DIR" MTQ_BUILD_DIR="$MTQ_BUILD" \
  timeout 60 bash "$MTQ_ROOT/deploy/demo.sh" --stop

# --- the demo, kept running ------------------------------------------------------

log "bash deploy/demo.sh --keep --no-setup --tasks 8 --port $DEMO_PORT"
run demo --keep --no-setup --tasks 8 --port "$DEMO_PORT"
((RC == 0)) || fail "demo.sh --keep exited $RC: $ERR"
MTQ_KEEP+=("$DEMO_DIR"/*.log)
assert_contains "$ERR" "all 8 tasks succeeded" "demo.sh's own lines"
assert_contains "$OUT" "still running" "demo.sh --keep's end"
uri="mongodb://127.0.0.1:$DEMO_PORT/mtq"
grep -qF "MTQ_URI=\"$uri\"" <<<"$OUT" || fail "the demo does not give its URI $uri: $OUT"
# The flow: 4 shards and their sum, shown done with a sum of 30.
grep -Eq '^flow [0-9a-f]{24} demo-flow: done, 2 of 2 steps done' <<<"$OUT" ||
  fail "the demo does not show its flow done: $OUT"
grep -Eq '^the sum step returned: .*"sum" : 30' <<<"$OUT" || fail "the demo's sum is not 30: $OUT"
# mtq stats in the demo: the demo channel (8 tasks and the flow's 5), no
# worker's to.<worker>.
grep -Eq '^demo[[:space:]]+0[[:space:]]+0[[:space:]]+0[[:space:]]+13[[:space:]]' <<<"$OUT" ||
  fail "the demo's mtq stats does not show 13 done: $OUT"
if grep -Eq '^to\.' <<<"$OUT"; then
  fail "the demo's mtq stats lists the workers' own channels: $OUT"
fi

pids=()
for name in m1 m2 mtqd; do
  pid="$(<"$DEMO_DIR/$name.pid")"
  alive "$pid" || fail "$name is not running after demo.sh --keep"
  pids+=("$pid")
done
port_open "$DEMO_PORT" || fail "the demo's database is not running after demo.sh --keep"
log "demo kept running: m1, m2, mtqd (pids ${pids[*]}) and the database on $DEMO_PORT"

# --- the commands it prints, as printed ---------------------------------------------

mapfile -t commands < <(sed -n 's/^  \$ //p' <<<"$OUT")
((${#commands[@]} >= 6)) || fail "the demo prints ${#commands[@]} commands to try: $OUT"
stop_cmd="${commands[-1]}"
unset 'commands[-1]'
[[ "$stop_cmd" == *"demo.sh --stop" ]] || fail "the last command is not the stop: $stop_cmd"
grep -q dbedit <<<"${commands[*]}" || fail "no direct edit among the commands: ${commands[*]}"

mkdir -p "$TMP/elsewhere"
script="$(printf '%s\n' "${commands[@]}")"
log "running them in another directory:"$'\n'"$script"
run bash -c "cd '$TMP/elsewhere' && set -euo pipefail && $script"
((RC == 0)) || fail "the commands the demo prints failed (exit $RC): $ERR"$'\n'"$OUT"
# mtq ls --status done: 8 tasks and the flow's 5 (priority 0), highest first.
prios="$(awk '$1 ~ /^[0-9a-f]+$/ && length($1) == 24 && $5 == "done" {print $4}' <<<"$OUT" |
  tr '\n' ' ')"
assert_eq "9 9 6 6 3 3 0 0 0 0 0 0 0 " "$prios" "priorities listed by the demo's mtq ls --status done"
# mtq show ID --history: the fields, then the events.
grep -Eq '^status[[:space:]]+done$' <<<"$OUT" || fail "no 'status done' from mtq show: $OUT"
grep -Eq 'running[[:space:]]+done[[:space:]]+m[12]' <<<"$OUT" || fail "no history from mtq show: $OUT"
# The delayed task, after the direct edit: listed with priority 9.
grep -Eq '^[0-9a-f]{24}[[:space:]]+demo[[:space:]]+square[[:space:]]+9[[:space:]]+delayed' <<<"$OUT" ||
  fail "the delayed task edited in the database does not list with priority 9: $OUT"
log "ok: the commands work as printed"

# --- and the one that stops it all ----------------------------------------------------

log "$stop_cmd"
run bash -c "cd '$TMP/elsewhere' && $stop_cmd"
((RC == 0)) || fail "the stop command failed (exit $RC): $ERR"
for pid in "${pids[@]}"; do
  ! alive "$pid" || fail "pid $pid still running after: $stop_cmd"
done
! port_open "$DEMO_PORT" || fail "the database still listens on $DEMO_PORT after: $stop_cmd"
run demo --stop
((RC == 0)) || fail "a second demo.sh --stop exited $RC"
assert_contains "$ERR" "no demo is running" "a second demo.sh --stop"
log "ok: $stop_cmd stopped the workers, mtqd and the database"

# --- lib.sh's step: one line, the output in a log ------------------------------------

# step runs in a script with set -e, as setup.sh does.
steps() {
  MTQ_LOGS_DIR="$TMP/logs" bash -c 'set -euo pipefail; source "$1"; shift; "$@"' \
    steps "$MTQ_ROOT/deploy/lib.sh" "$@"
}
run steps step noisy "a noisy step" bash -c 'for i in $(seq 50); do echo "go: downloading x$i"; done >&2; echo out'
((RC == 0)) || fail "a step that succeeds exited $RC: $ERR"
[[ "$ERR" =~ ^\[mtq\]\ a\ noisy\ step\ \.\.\.\ done\ \([0-9]+\ s\)$ ]] ||
  fail "a step that succeeds does not print one line: '$ERR'"
[[ -z "$OUT" ]] || fail "a step printed its command's output: $OUT"
assert_eq 50 "$(grep -c '^go: downloading' "$TMP/logs/noisy.log")" "lines of noise in the step's log"

# A command that fails half-way: errexit holds inside the step.
run steps step broken "a broken step" bash -c 'echo "E: Unable to locate package nope" >&2; exit 100'
((RC == 1)) || fail "a failing step exited $RC, expected 1: $ERR"
assert_contains "$ERR" "a broken step ... failed (exit 100)" "a failing step's line"
assert_contains "$ERR" "Unable to locate package nope" "the end of the failing step's log"
assert_contains "$ERR" "$TMP/logs/broken.log" "the log path of a failing step"
run steps step halfway "a step whose function fails half-way" \
  eval 'false; echo "should not get here"'
((RC == 1)) || fail "a step whose command fails half-way exited $RC (errexit lost?): $ERR"
if grep -q "^should not get here" "$TMP/logs/halfway.log"; then
  fail "errexit did not hold inside the step"
fi
log "ok: a step prints one line, keeps the rest in its log and names it when it fails"
