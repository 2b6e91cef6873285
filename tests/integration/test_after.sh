#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_after.sh - mtq enqueue --after: a task that waits for others.
#   1. C waits for A (2 s) and B: blocked until both are done, then runs,
#      after A ended;
#   2. D waits for a task that dies: D is cancelled, saying which;
#   3. E waits for a blocked task: the two run in turn;
#   4. a blocked task can be cancelled by an operator;
#   5. bad input is refused: no such task, a bad id, with --batch, with a
#      dedupe key or copies.
# Timing: mtqd looks every sweep_interval_ms (500 ms here); waits allow 60 s.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27860 300

start_mtqd
start_worker w1 2
start_worker w2 2

start_ns() { awk -v id="$1" '$1 == id && $3 == "start" {print $4; exit}' "$EXEC_LOG"; }
end_ns() { awk -v id="$1" '$1 == id && $3 == "end" {print $4}' "$EXEC_LOG" | tail -1; }

# --- 1. waits for two ----------------------------------------------------------------
a="$(enqueue --func record --args '{"sleep": 2}')" || fail "enqueue A"
b="$(enqueue --func record)" || fail "enqueue B"
c="$(enqueue --func record --after "$a,$b")" || fail "enqueue C --after A,B"
assert_eq blocked "$(task_status "$c")" "C right after its enqueue"
cli ls --status blocked | grep -q "^$c " || fail "mtq ls --status blocked does not list C"
[[ -n "$(task_field "$c" flow)" ]] || fail "C names no flow"
wait_until 60 status_is "$c" done || fail "C is $(task_status "$c"): $(cli show "$c")"
(($(start_ns "$c") > $(end_ns "$a"))) || fail "C started before A ended"
assert_eq 1 "$(starts_of "$c")" "runs of C"
cli show "$c" --history | grep -Eq "blocked +queued .*unblock" ||
  fail "C's history lacks the unblock: $(cli show "$c" --history)"
log "C ran after A and B were done"

# --- 2. waits for a task that dies ---------------------------------------------------------
f="$(enqueue --func fail --max-attempts 1)" || fail "enqueue F"
d="$(enqueue --func record --after "$f")" || fail "enqueue D --after F"
wait_until 60 status_is "$d" cancelled || fail "D is $(task_status "$d"): $(cli show "$d")"
assert_eq 0 "$(starts_of "$d")" "runs of D"
flow="$(task_field "$d" flow)"
assert_contains "$(cli --json flow show "$flow" | jget reason)" "step before: 1 of 1 shard failed" \
  "why D's flow failed"
assert_contains "$(task_field "$d" error)" "cancelled by mtqd: its flow $flow failed: step before" \
  "D's error"
log "D was cancelled when F died"

# --- 3. a chain of waits, 4. a cancelled blocked task ----------------------------------------
g="$(enqueue --func record --args '{"sleep": 1}')" || fail "enqueue G"
h="$(enqueue --func record --after "$g")" || fail "enqueue H --after G"
i="$(enqueue --func record --after "$h")" || fail "enqueue I --after H"
j="$(enqueue --func record --after "$g")" || fail "enqueue J --after G"
cli cancel "$j" >/dev/null || fail "cancel of the blocked J"
assert_eq cancelled "$(task_status "$j")" "J after mtq cancel"
wait_until 60 status_is "$i" done || fail "I is $(task_status "$i")"
(($(start_ns "$i") > $(end_ns "$h") && $(start_ns "$h") > $(end_ns "$g"))) ||
  fail "G, H, I did not run in turn"
sleep 1
assert_eq 0 "$(starts_of "$j")" "runs of the cancelled J"
log "G, H, I ran in turn; the cancelled J never ran"

# --- 5. refused --------------------------------------------------------------------------------
run cli enqueue --channel default --func record --after 0123456789abcdef01234567
expect_refused "waiting for no task" 1 "no task 0123456789abcdef01234567 to wait for"
run cli enqueue --channel default --func record --after "$a,nope"
expect_refused "a bad id" 2 "not a task id"
run cli enqueue --channel default --func record --after "$a" --dedupe-key k
expect_refused "with a dedupe key" 2 "takes no dedupe key"
run cli enqueue --channel default --func record --after "$a" --copies 2
expect_refused "with copies" 2 "no redundant dispatch"
run cli enqueue --channel default --batch - --after "$a" </dev/null
expect_refused "with --batch" 2 "not with --batch"
run cli enqueue --channel default --func nosuch --after "$a"
expect_refused "an unserved function" 1 "no worker serves function 'nosuch'"
