#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_redundant.sh - redundant dispatch: copies on distinct workers, the
# pick rules (first, quorum, all), disagreeing copies, a copy that never
# answers and its replacement, requirements, hedging.
#
# Workers (one host here; test_multihost.sh has five):
#   w1, w2: answer -> {"v": 42}      vote -> {"v": 1} / {"v": 2}
#   w3:     answer -> {"v": 7} after 1 s (so that pick first never takes it:
#           placement may send it a copy)     vote -> {"v": 3}
#   w4:     answer -> {"v": 42}, tags "big"; hang -> {"v": 4} at once
#   w1:     hang -> sleeps 600 s (a copy that never answers in time)
#   w2, w3: hang -> {"v": 2|3} at once
#   w1:     hedge -> {"v": 1} after 12 s; w2: hedge -> {"v": 2} after 0.2 s
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27440 300

# fn VALUE SLEEP: a function script that answers {"v": VALUE} after SLEEP s.
cat >"$TMP/answer.sh" <<'SH'
#!/bin/sh
cat >/dev/null
sleep "$2"
printf '{"v": %s}\n' "$1"
SH
answer() { worker_function "$1" "/bin/sh $TMP/answer.sh $2 ${3:-0}"; }

start_mtqd "dispatch_interval_ms = 200"
answer answer 42; answer vote 1; answer hang 0 600; answer hedge 1 12
start_worker w1 2
answer vote 2; answer hang 2; answer hedge 2 0.2
start_worker w2 2
# Only w1 (slow) and w2 (fast) serve hedge: whichever gets the first copy,
# the task must end with w2's result well before w1's 12 s (long enough
# that a busy machine's slow polls and dispatch rounds do not reach it).
unset 'MTQ__FUNCTION[hedge]'
answer answer 7 1; answer vote 3; answer hang 3
start_worker w3 2
answer answer 42; answer vote 4; answer hang 4
start_worker w4 2 "tags = big"

copies_field() { cli --json show "$1" | jget "$2"; }

# --- first ------------------------------------------------------------------------------
id="$(enqueue --func answer --copies 3 --pick first)" || fail "enqueue --copies 3 failed"
out="$(cli wait "$id" --timeout 30)" || fail "first: mtq wait failed: $out"
assert_eq 42 "$(jget v <<<"$out")" "first: result"
assert_eq 3 "$(workers_of "$id" | sort -u | wc -l)" "first: distinct workers of 3 copies"
log "first: done; copies on $(workers_of "$id" | tr '\n' ' ')"

# --- quorum, agreeing ---------------------------------------------------------------------
id="$(enqueue --func answer --copies 4 --pick quorum)" || fail "enqueue quorum failed"
out="$(cli wait "$id" --timeout 30)" || fail "quorum: mtq wait failed: $out"
assert_eq 42 "$(jget v <<<"$out")" "quorum: the majority's result (3 of 4 say 42, w3 says 7)"
log "quorum: 42 by majority of 4 copies"

# --- quorum, disagreeing -------------------------------------------------------------------
id="$(enqueue --func vote --copies 3 --pick quorum)" || fail "enqueue vote failed"
run cli wait "$id" --timeout 30
expect_refused "quorum of disagreeing copies" 1 "ended in conflict"
assert_eq conflict "$(task_status "$id")" "status of a task whose copies disagree"
assert_eq 3 "$(cli show "$id" | grep -c 'copies\[\].*: done, result')" \
  "copies of the conflicted task shown with their results"
log "quorum: 3 different votes -> conflict, every copy's result in mtq show"

# --- all, with a copy that never answers ---------------------------------------------------
# w4 is stopped while the copies go out, so that they land on w1, w2 and
# w3 (w1's hangs); back, it is the one worker left for the replacement.
stop_worker w4
id="$(enqueue --func hang --copies 3 --pick all --timeout 2 --replacements 2)" ||
  fail "enqueue hang failed"
three_sent() { (($(workers_of "$1" | wc -l) == 3)); }
wait_until 20 three_sent "$id" || fail "all: 3 copies not sent in 20 s: $(cli show "$id")"
start_worker w4 2 "tags = big"
out="$(cli wait "$id" --timeout 60)" || fail "all: mtq wait failed: $out"
assert_eq 3 "$(jlen results <<<"$out")" "all: one result per slot"
show="$(cli show "$id")"
grep -q 'copies\[\].* on w1 .*: failed' <<<"$show" || fail "all: w1's hung copy not failed: $show"
grep -q 'copies\[\].* on w4 .*: done' <<<"$show" || fail "all: no replacement on w4: $show"
log "all: w1's copy timed out, replaced on w4; 3 results kept"

# --- requirements ------------------------------------------------------------------------------
id="$(enqueue --func answer --copies 1 --tag big)" || fail "enqueue --tag failed"
out="$(cli wait "$id" --timeout 30)" || fail "tag: mtq wait failed"
assert_eq w4 "$(workers_of "$id")" "the only worker with tag big ran it"
id="$(enqueue --func answer --copies 2 --tag big --pick all)" || fail "enqueue 2 copies --tag failed"
sleep 2
assert_eq running "$(task_status "$id")" "2 copies for 1 eligible worker: the second waits"
assert_eq 1 "$(workers_of "$id" | wc -l)" "copies sent with one eligible worker"
# mtq stats counts a running redundant task once, in its own channel.
assert_eq 1 "$(cli --json stats | jget default.running)" "running tasks of channel default in mtq stats"
cli cancel "$id" >/dev/null || fail "cancel of a waiting redundant task failed"
id="$(enqueue --func answer --min-mem-mb 1000000000)" || fail "enqueue --min-mem-mb failed"
sleep 2
assert_eq queued "$(task_status "$id")" "a task no worker has the memory for stays queued"
cli cancel "$id" >/dev/null || fail "cancel failed"
log "requirements: tag placed on w4 only; a second copy waits; 1 PB of memory waits"

# --- hedging -------------------------------------------------------------------------------------
t0=$SECONDS
id="$(enqueue --func hedge --hedge-after 0.5)" || fail "enqueue --hedge-after failed"
out="$(cli wait "$id" --timeout 30)" || fail "hedge: mtq wait failed"
assert_eq 2 "$(jget v <<<"$out")" "hedge: the fast worker's (w2's) result"
((SECONDS - t0 < 12)) || fail "hedge: took $((SECONDS - t0)) s, the slow copy's time"
log "hedge: done by w2 in $((SECONDS - t0)) s ($(workers_of "$id" | wc -l) copies)"

# --- bad requests -------------------------------------------------------------------------------
run cli enqueue --channel default --func answer --copies 2 --hedge-after 1
expect_refused "hedge with two copies" 1 "a hedge applies to a task of one copy"
run cli enqueue --channel default --func answer --copies 99
expect_refused "too many copies" 2 "--copies must be"
run cli enqueue --channel default --func answer --pick most
expect_refused "unknown pick rule" 2 "--pick must be"
log "redundant dispatch: all checks passed"
