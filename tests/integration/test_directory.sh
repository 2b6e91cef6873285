#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_directory.sh - a lane's directory of segments hides no task from a
# poll, however many segments it lists (common/store/segment.c, claim.c).
#
#   - a drained burst leaves no entries at the front of the directory:
#     mtqd unlists an empty segment once its window ended a window ago,
#     long before it drops the collection (segment_retire_s, 600 s here);
#   - a task a worker serves, behind 80 listed segments that each hold only
#     a task of a function no worker serves, runs: a poll reads the front
#     of the directory and, finding nothing there, reads on from where its
#     last poll stopped.  The 80 stay queued.  (Before, a poll read four
#     pages of 16 segments and stopped: the task never ran.)
# Timing assumptions: mtqd reconciles every second (lib.sh's config); a
# window is 10 s, so a segment is unlisted 10-20 s after it emptied and
# within a reconcile's deep walk; a poll reads 48 segments past the front
# page, once per poll_interval_ms (lib.sh: 100 ms) while it finds nothing.
# The waits below allow several times that.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27740 300

N=600
BURST="${MTQ_BURST_BIN:-$MTQ_BUILD/tests/integration/burst}"
[[ -x "$BURST" ]] || fail "$BURST is missing: build the project first"

start_mtqd
start_worker w1 4

# --- a drained burst leaves its directory -----------------------------------------
"$BURST" "$URI" default echo 3 "$N" >"$TMP/ids" || fail "burst enqueue failed"
wait_until 240 stat_is default done "$N" || fail "only $(stat_count default done) of $N tasks done after 240 s"
log "a burst of $N tasks at priority 3 ran"
dir_empty() { [[ "$(dbedit --count q.default.p3.dir)" == 0 ]]; }
wait_until 60 dir_empty ||
  fail "$(dbedit --count q.default.p3.dir) directory entries left 60 s after the burst drained"
segs="$(dbedit --collections q.default.p3.w | wc -l)"
((segs >= 1)) || fail "the emptied segments were dropped already, not only unlisted"
log "the $segs emptied segments left the directory; their collections wait for segment_retire_s"

# --- a task behind 80 segments of tasks no worker serves --------------------------
# Segments of past windows (one task each, of function "nobody"), listed as
# a producer lists them; then one echo task, enqueued now: its segment is
# the newest, the last in name order.
FILL=80
now_s="$(date +%s)"
for ((k = 0; k < FILL; k++)); do
  t=$((now_s - 20 - 10 * (FILL - k)))
  id="$(printf '%08x0000c0de6d%06x' "$t" "$k")"
  lane="$(segment_of "$id" 2)"
  seg="${lane#q.default.p2.}"
  dbedit --insert "$lane" "{\"_id\": {\"\$oid\": \"$id\"}, \"func\": \"nobody\", \"version\": \"1\",
    \"args\": {}, \"priority\": 2, \"is_enable\": true, \"status\": \"queued\", \"token\": 0,
    \"created_at\": {\"\$date\": $((t * 1000))}}" >/dev/null || fail "inserting filler task $k failed"
  dbedit --insert q.default.p2.dir "{\"_id\": \"$seg\", \"window\": $((t / 10))}" >/dev/null ||
    fail "listing filler segment $seg failed"
done
assert_eq "$FILL" "$(dbedit --count q.default.p2.dir)" "listed filler segments"
behind="$(enqueue --func echo --priority 2 --args '{"behind": true}')" || fail "enqueue behind the fillers failed"
log "$FILL listed segments of tasks no worker serves, then $behind"
wait_until 60 status_is "$behind" done ||
  fail "the task behind $FILL segments it does not serve is $(task_status "$behind") after 60 s"
log "the task behind $FILL unserved segments ran"
assert_eq "$FILL" "$(stat_count default queued)" "filler tasks still queued"
behind_seg="$(segment_of "$behind" 2)"
assert_eq "$FILL" "$(dbedit --count q.default.p2.dir "{\"_id\": {\"\$ne\": \"${behind_seg#q.default.p2.}\"}}")" \
  "filler segments still listed"

log "all checks passed"
