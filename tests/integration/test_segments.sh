#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_segments.sh - a lane cut into bounded segments (common/store/segment.c).
#
# With no worker running, one producer enqueues a burst of N tasks at
# priority 3 in one mtq_client_enqueue_many call (tests/integration/burst),
# then one task at priority 5.  Then:
#   - the burst is split: no segment holds more than 512 tasks, and there
#     are at least ceil((N - 64) / 512) private ones beside the shared one;
#   - mtq show finds a task from the middle and from the end of the burst;
#   - one worker with 4 slots runs them all: the priority-5 task among the
#     first batch, then the burst in enqueue order across segments (each
#     task starts within SLACK places of its place in the burst: a batch of
#     claims starts its tasks together, in no particular order);
#   - a task document written straight into a segment that is not listed
#     (as if its listing had been lost) is found by mtqd's scan of
#     collection names (every 60 s) and runs;
#   - once the segments are empty and their window ended segment_retire_s
#     (5 s here) ago, mtqd retires them: collections and directory entries
#     gone.
# Timing assumptions: mtqd reconciles every second (lib.sh's default
# config); retirement waits 5 s after a 10 s window; the orphan scan runs
# every 60 s.  The waits below allow at least twice that.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27700 600

N=600
SLOTS=4
SLACK=8
BURST="${MTQ_BURST_BIN:-$MTQ_BUILD/tests/integration/burst}"
[[ -x "$BURST" ]] || fail "$BURST is missing: build the project first"

start_mtqd "segment_retire_s = 5"
start_worker w1 "$SLOTS"
stop_worker w1

"$BURST" "$URI" default record 3 "$N" >"$TMP/ids" || fail "burst enqueue failed"
mapfile -t ids <"$TMP/ids"
assert_eq "$N" "${#ids[@]}" "ids printed by the burst"
high="$(enqueue --func record --priority 5)" || fail "enqueue at priority 5 failed"
log "enqueued $N tasks at priority 3 in one batch, then $high at priority 5"

# --- bounded segments ------------------------------------------------------------
dbedit --collections q.default.p3.w >"$TMP/segments" || fail "listing segments failed"
log "segments: $(tr '\n' ';' <"$TMP/segments")"
n_segs=0 total=0
while read -r name count; do
  ((count <= 512)) || fail "segment $name holds $count tasks, over 512"
  n_segs=$((n_segs + 1))
  total=$((total + count))
done <"$TMP/segments"
assert_eq "$N" "$total" "tasks in priority 3's segments"
min=$((1 + (N - 64 + 511) / 512))
((n_segs >= min)) || fail "$N tasks in $n_segs segments, expected at least $min"
for id in "${ids[N / 2]}" "${ids[N - 1]}"; do
  assert_eq queued "$(task_status "$id")" "status shown of task $id"
  in_priority "$id" 3 || fail "task $id is in $(dbedit --where "$id"), not a priority 3 segment"
done

# --- an unlisted segment ------------------------------------------------------------------
# A task document written straight into a segment that is not listed, as if
# its listing had been lost: an id of mtq's private segment kind (mark 6e
# in byte 8), of now, at priority 4.  mtqd's scan of collection names lists
# it again; it runs among the burst.
hex_time="$(printf '%08x' "$(date +%s)")"
orphan="${hex_time}00c0ffee6e000001"
lane="$(segment_of "$orphan" 4)"
[[ "$lane" == q.default.p4.w*.00c0ffee ]] || fail "segment_of gave $lane"
now_ms=$(($(date +%s) * 1000))
dbedit --insert "$lane" "{\"_id\": {\"\$oid\": \"$orphan\"}, \"func\": \"record\", \"version\": \"1\",
  \"args\": {}, \"priority\": 4, \"is_enable\": true, \"status\": \"queued\", \"token\": 0,
  \"created_at\": {\"\$date\": $now_ms}}" || fail "inserting into an unlisted segment failed"
assert_eq 0 "$(dbedit --count q.default.p4.dir)" "directory entries of priority 4"

# --- order across segments ---------------------------------------------------------
start_worker w1 "$SLOTS"
wait_until 420 stat_is default done $((N + 2)) ||
  fail "only $(stat_count default done) of $((N + 2)) tasks done after 420 s"
assert_eq done "$(task_status "$orphan")" "status of the task in an unlisted segment"
log "a task in a segment missing from the directory was listed again and ran"
order=($(start_order | grep -v "^$orphan\$"))
assert_eq $((N + 1)) "${#order[@]}" "runs but the unlisted one"
declare -A pos=()
for ((k = 0; k <= N; k++)); do
  pos[${order[k]}]=$k
done
((${pos[$high]} < SLOTS)) || fail "the priority-5 task ran as number ${pos[$high]}, not in the first batch"
for ((k = 0; k < N; k++)); do
  p=${pos[${ids[k]}]:-}
  [[ -n "$p" ]] || fail "burst task $k (${ids[k]}) never ran"
  ((p >= k - SLACK && p <= k + 1 + SLACK)) ||
    fail "burst task $k ran as number $p: not in age order across segments"
done
log "priority 5 first, then the $N burst tasks in enqueue order (within $SLACK)"

# --- retirement ------------------------------------------------------------------------
no_segments() { [[ -z "$(dbedit --collections q.default.p3.w)" ]]; }
wait_until 90 no_segments || fail "segments left 90 s after they emptied: $(dbedit --collections q.default.p3.w | tr '\n' ';')"
assert_eq 0 "$(dbedit --count q.default.p3.dir)" "directory entries left"
log "the emptied segments were retired"

log "all checks passed"
