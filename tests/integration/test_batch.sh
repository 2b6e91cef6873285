#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_batch.sh - mtq enqueue --batch FILE|- against a real server and a
# real worker: a batch from a file and one from stdin all go in and all
# run; a file with bad lines says which and enqueues nothing; a channel
# with less room than the batch takes what fits, and the ids printed are
# exactly the tasks in the queue, the rest "-" with their line numbers; a
# dedupe key twice is one task; --wait waits for room; MTQ_SIGN_KEYS signs
# every task of a batch.  Prints the rate of
# a 2000-line batch (a figure, not a check).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27500 300

start_mtqd
start_worker w1 4
start_worker w2 4

# lines N FIRST [EXTRA]: N task lines {"args": {"i": FIRST..}, EXTRA}.
lines() {
  local i
  for ((i = $2; i < $2 + $1; i++)); do
    printf '{"args": {"i": %d}%s}\n' "$i" "${3:+, $3}"
  done
}

# ids_of TEXT: the lines of TEXT that are task ids, sorted.
ids_of() { grep -E '^[0-9a-f]{24}$' <<<"$1" | sort || true; }

# backlog_limit_is CHANNEL N (for wait_until): mtqd declared the channel
# with max_backlog N.
backlog_limit_is() {
  [[ "$(dbedit --count channels "{\"_id\": \"$1\", \"max_backlog\": $2}")" == 1 ]]
}

# queue_ids CHANNEL: the ids of every task of the channel, sorted.
queue_ids() { cli ls --channel "$1" --limit 100000 | awk 'NR > 1 {print $1}' | sort; }

# --- a file and stdin: every task line printed, every task run -----------------------

# 150 tasks each: on a busy machine two workers run some 5 echo tasks a
# second (each is a process), and all of them must run within the test's time.
file="$TMP/file.jsonl"
{
  echo '# 150 echo tasks, named by their function in the line'
  lines 75 0 '"func": "echo"'
  echo
  echo '   # an indented comment, and a blank line above'
  lines 75 75 '"func": "echo", "priority": 3'
} >"$file"
run cli enqueue --channel default --batch "$file"
((RC == 0)) || fail "mtq enqueue --batch FILE: exit $RC: $ERR"
[[ -z "$ERR" ]] || fail "mtq enqueue --batch FILE said something on stderr: $ERR"
assert_eq 150 "$(wc -l <<<"$OUT")" "lines printed for 150 task lines (and 3 others)"
from_file="$(ids_of "$OUT")"
assert_eq 150 "$(sort -u <<<"$from_file" | wc -l)" "distinct ids printed for the file"
log "150 lines from a file enqueued in $SECS s"

# From stdin, the function from the command line (every line's default).
lines 150 150 | cli enqueue --channel default --func echo --batch - >"$TMP/stdin.out" 2>"$TMP/stdin.err" ||
  fail "mtq enqueue --batch -: exit $?: $(<"$TMP/stdin.err")"
from_stdin="$(ids_of "$(<"$TMP/stdin.out")")"
assert_eq 150 "$(wc -l <"$TMP/stdin.out")" "lines printed for 150 task lines from stdin"
assert_eq 150 "$(sort -u <<<"$from_stdin" | wc -l)" "distinct ids printed for stdin"
# The order of the output is the order of the lines: line 2 of the file is
# {"i": 0}, the last of stdin {"i": 299}.
assert_eq 0 "$(task_field "$(head -n 1 <<<"$OUT")" args.i)" "args of the first id printed"
assert_eq 3 "$(task_field "$(tail -n 1 <<<"$OUT")" priority)" "priority of the last id of the file"
assert_eq 299 "$(task_field "$(tail -n 1 "$TMP/stdin.out")" args.i)" "args of the last id from stdin"

wait_until 150 stat_is default done 300 ||
  fail "the 300 tasks did not all run: $(cli stats)"
assert_eq "$(sort <<<"$from_file"$'\n'"$from_stdin")" \
  "$(cli ls --channel default --status done --limit 5000 | awk 'NR > 1 {print $1}' | sort)" \
  "the done tasks are the ids printed"
log "ok: 150 lines from a file and 150 from stdin: 300 ids printed, 300 tasks done"

# --- bad lines: each one said, nothing enqueued ------------------------------------------

bad="$TMP/bad.jsonl"
{
  echo '{"func": "echo", "args": {"n": 1}}'
  echo '{"func": "echo", "args": {"n": 2}}'
  echo '{"func": "echo", "args": {"n": 3}'          # 3: bad JSON
  echo '# a comment'
  echo '{"func": "echo", "args": {"n": 5}}'
  echo
  echo '{"func": "echo", "colour": "blue"}'          # 7: unknown key
  echo '{"func": "echo", "args": {"n": 8}}'
  echo '{"func": "echo", "priority": 12}'            # 9: out of range
  echo '{"func": "echo", "args": {"n": 10}}'
} >"$bad"
run cli enqueue --channel other --force --batch "$bad"
expect_refused "a batch with bad lines" 1 "bad\.jsonl:3: .*json"
grep -Eq "bad\.jsonl:7: unknown key 'colour'" <<<"$ERR" || fail "line 7 not reported as it should: $ERR"
grep -Eq "bad\.jsonl:9: priority .*12" <<<"$ERR" || fail "line 9 not reported as it should: $ERR"
assert_eq 3 "$(grep -Ec 'bad\.jsonl:[0-9]+:' <<<"$ERR")" "bad lines reported"
assert_contains "$ERR" "nothing enqueued" "the summary of a bad batch"
assert_eq "" "$OUT" "stdout of a batch with bad lines"
assert_eq "" "$(queue_ids other)" "tasks in channel other after a bad batch"
assert_eq 300 "$(stat_count default done)" "done tasks in default after a bad batch"
log "ok: bad JSON at line 3, an unknown key at 7, priority 12 at 9: all said, nothing enqueued"

# --- dedupe: one key twice in a batch, and the batch again ----------------------------------

dd="$TMP/dedupe.jsonl"
{
  echo '{"dedupe-key": "k1", "args": {"n": 1}}'
  echo '{"args": {"n": 2}}'
  echo '{"dedupe_key": "k1", "args": {"n": 3}}'
} >"$dd"
run cli enqueue --channel default --func echo --batch "$dd" --json
((RC == 0)) || fail "the dedupe batch: exit $RC: $ERR"
mapfile -t js <<<"$OUT"
assert_eq 3 "${#js[@]}" "JSON lines of the dedupe batch"
k1="$(jget id <<<"${js[0]}")"
assert_eq "$k1" "$(jget id <<<"${js[2]}")" "id of line 3, whose dedupe key is line 1's"
assert_eq false "$(jget existing <<<"${js[0]}")" "line 1 existing"
assert_eq true "$(jget existing <<<"${js[2]}")" "line 3 existing"
assert_eq 3 "$(jget line <<<"${js[2]}")" "the line number of the third JSON line"
[[ "$(jget id <<<"${js[1]}")" != "$k1" ]] || fail "line 2 (no key) got the id of line 1"
assert_eq 1 "$(cli wait "$k1" --timeout 60 | jget n)" "the args of the deduplicated task (line 1's)"
# Again: the key names the same task, idempotent as a single enqueue is.
run cli enqueue --channel default --func echo --batch "$dd"
((RC == 0)) || fail "the dedupe batch again: exit $RC: $ERR"
assert_eq "$k1" "$(head -n 1 <<<"$OUT")" "line 1 of the dedupe batch, again"
assert_eq "$k1" "$(tail -n 1 <<<"$OUT")" "line 3 of the dedupe batch, again"
# 303: the line without a key went in twice, line 1's key once.
wait_until 60 stat_is default done 303 || fail "not 303 done tasks: $(cli --json stats)"
log "ok: a dedupe key twice in a batch is one task, and stays one when the batch is run again"

# --- the rate of a 2000-line batch ---------------------------------------------------

# Delayed by an hour, so that no worker runs them meanwhile: the figure is
# the producer's and the database's alone.
lines 2000 0 >"$TMP/rate.jsonl"
t0=$(date +%s%N)
# Not through cli (60 s): until the store batches its writes, this takes a
# minute on a busy machine.
run timeout 150 "$MTQ" --uri "$URI" enqueue --channel default --func echo --delay 3600 \
  --batch "$TMP/rate.jsonl"
t1=$(date +%s%N)
((RC == 0)) || fail "the 2000-line batch: exit $RC: $ERR"
assert_eq 2000 "$(ids_of "$OUT" | sort -u | wc -l)" "ids printed for 2000 lines"
ms=$(((t1 - t0) / 1000000))
log "RATE: 2000 tasks enqueued by one mtq enqueue --batch in $ms ms: $((2000 * 1000 / (ms > 0 ? ms : 1))) tasks/s"

# --- a channel with less room than the batch ---------------------------------------------

# mtqd again, with room for 20 tasks a channel; "other" has no worker, so
# what goes in stays.
MTQ__GONE[$MTQD_PID]=1
stop_pid "$MTQD_PID" 15 || fail "mtqd did not stop cleanly"
start_mtqd "max_backlog = 20"
wait_until 30 backlog_limit_is other 20 ||
  fail "mtqd did not declare channel other with max_backlog 20"
full="$TMP/full.jsonl"
lines 50 0 '"channel": "other"' >"$full"
run cli enqueue --func echo --force --batch "$full"
expect_refused "a batch of 50 into room for 20" 1 "full\.jsonl:[0-9]+: channel other is full"
assert_eq 50 "$(wc -l <<<"$OUT")" "lines printed for 50 task lines"
went_in="$(ids_of "$OUT")"
n_in="$(grep -c . <<<"$went_in" || true)"
((n_in >= 1 && n_in <= 20)) || fail "$n_in tasks went into room for 20"
# Every "-" is said on stderr with its own line number, and only those.
refused_lines="$(awk '$0 == "-" {print NR}' <<<"$OUT")"
assert_eq "$((50 - n_in))" "$(grep -c . <<<"$refused_lines")" "lines printed as -"
assert_eq "$refused_lines" "$(grep -Eo '^[^ ]*full\.jsonl:[0-9]+:' <<<"$ERR" | grep -Eo '[0-9]+:$' | tr -d :)" \
  "line numbers on stderr (the lines printed as -)"
assert_contains "$ERR" "$n_in enqueued, $((50 - n_in)) refused" "the summary"
assert_eq "$went_in" "$(queue_ids other)" "tasks in channel other (the ids printed)"
log "ok: 50 lines into room for 20: $n_in ids printed, which are the tasks queued; $((50 - n_in)) refused, each said"

# --wait: the lines refused for want of room go in once room is made.
lines 3 100 '"channel": "other"' >"$TMP/wait.jsonl"
cli enqueue --func echo --force --wait --batch "$TMP/wait.jsonl" >"$TMP/wait.out" 2>"$TMP/wait.err" &
waiter=$!
wait_until 20 grep -q "waiting for room" "$TMP/wait.err" || fail "enqueue --batch --wait did not wait"
[[ ! -s "$TMP/wait.out" ]] || fail "enqueue --batch --wait printed before room was made"
for id in $(head -n 3 <<<"$went_in"); do
  cli cancel "$id" >/dev/null || fail "cancel of $id failed"
done
wait "$waiter" || fail "enqueue --batch --wait exited with $?: $(<"$TMP/wait.err")"
assert_eq 3 "$(ids_of "$(<"$TMP/wait.out")" | wc -l)" "ids printed by the batch that waited"
for id in $(<"$TMP/wait.out"); do
  assert_eq queued "$(task_status "$id")" "status of $id, enqueued after waiting"
done
log "ok: enqueue --batch --wait put its 3 tasks in once 3 were cancelled"

# --- signed: a batch signs every task, as a single enqueue does ---------------------------

for id in $(tail -n +4 <<<"$went_in") $(<"$TMP/wait.out"); do
  cli cancel "$id" >/dev/null || fail "cancel of $id failed"
done
umask 077
head -c 48 /dev/urandom | base64 >"$TMP/k1.key"
start_worker s1 2 "channels = other" "" "[security]" "keys = k1:$TMP/k1.key"
lines 3 200 '"channel": "other"' >"$TMP/signed.jsonl"
MTQ_SIGN_KEYS="k1:$TMP/k1.key" cli enqueue --func echo --batch "$TMP/signed.jsonl" >"$TMP/signed.out" ||
  fail "the signed batch failed"
for id in $(<"$TMP/signed.out"); do
  cli wait "$id" --timeout 30 >/dev/null || fail "signed task $id did not finish done: $(cli show "$id")"
done
unsigned="$(lines 1 300 '"channel": "other"' | cli enqueue --func echo --batch -)" ||
  fail "the unsigned batch failed"
run cli wait "$unsigned" --timeout 30
expect_refused "a task of an unsigned batch" 1 "rejected by worker s1: .*not signed"
log "ok: the 3 tasks of a batch signed with MTQ_SIGN_KEYS ran where signatures are required; an unsigned one did not"
