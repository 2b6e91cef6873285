#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_multihost.sh - five machines m1..m5, each a network namespace with a
# hostname of its own and one worker; the database and mtqd in a sixth, the
# hub (netlib.sh).  Mid-run m3 is cut off the network: mtqd must mark it
# lost and give back the tasks it held, which the other hosts finish (a task
# m3 held may have run twice, at-least-once; no task may be lost).  Put back
# on the network, m3 must rejoin and run tasks again.  Prints
#   MULTIHOST SUMMARY hosts=5 detect_lost_s=... requeue_done_s=... rejoin_s=...
# (rejoin_s is how soon m3's driver gets through again after the restore:
# mostly under 1.5 s, once 12 s here under a parallel ctest's load; the
# test allows 60 s.)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
source "$(dirname "${BASH_SOURCE[0]}")/netlib.sh"
mtq_arm 200

HOSTS=5 CUT=m3 BATCH1=40 BATCH2=30
net_setup "$HOSTS"
# Short settings, so that a silent host is found in seconds: mtqd marks a
# worker lost after 2 s without heartbeat (every 0.5 s) and takes a task
# back 4 s after its lease (renewed every second) was last renewed.  Not
# shorter: a worker that cannot renew for half of it stops its task, and a
# loaded machine (ctest -j) can delay a healthy worker's renewals by 1.5 s.
net_start_hub 27420 "lost_after_ms = 2000" "sweep_interval_ms = 250" "dispatch_interval_ms = 250"
worker_function slowecho "/bin/sh $FN/slowecho.sh"
for h in "${NET_HOSTS[@]}"; do
  net_start_worker "$h" 2 "heartbeat_interval_ms = 500" "lease_ms = 4000"
done

# --- helpers -------------------------------------------------------------------

# now_us: wall clock in microseconds (EPOCHREALTIME, whatever the locale's
# decimal mark).
now_us() { local t="$EPOCHREALTIME"; echo "${t/[.,]/}"; }
# secs_since T_US: seconds from T_US to now, one decimal.
secs_since() { awk -v a="$1" -v b="$(now_us)" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }

# enqueue_batch N SLEEP: N record tasks of SLEEP seconds; prints their ids.
enqueue_batch() {
  local i id
  for ((i = 0; i < $1; i++)); do
    id="$(enqueue --func record --args "{\"sleep\": $2}")" || fail "enqueue of task $i failed"
    echo "$id"
  done
}

# running_on WORKER: ids of the tasks the database shows running on WORKER.
running_on() {
  local json n i
  json="$(cli --json ls --status running --limit 1000)" || return 1
  n="$(jlen . <<<"$json")"
  for ((i = 0; i < n; i++)); do
    [[ "$(jget "$i.worker" <<<"$json")" == "$1" ]] && jget "$i._id" <<<"$json"
  done
  return 0
}

# fresh_start_on WORKER: WORKER started a task less than 0.7 s ago that has
# not ended (for wait_until): cut now, it surely still holds it.
fresh_start_on() {
  awk -v w="$1" -v now="$(date +%s%N)" '
    $2 == w && $3 == "start" { s[$1] = $4 }
    $2 == w && $3 == "end"   { delete s[$1] }
    END { for (k in s) if (now - s[k] < 700000000) found = 1; exit !found }' "$EXEC_LOG"
}

# gave_back_itself ID: a worker's log says it stopped task ID itself, its
# lease not renewed in time (its database too slow to answer, not cut off).
gave_back_itself() { grep -qF "task $1: lease not renewed" "$TMP"/worker-*.log; }

# check_once ID WHAT: task ID started once; or twice, when its worker gave
# it back itself (at-least-once as well, but not the cut's doing: counted in
# others_twice and said so).
others_twice=0
check_once() {
  local starts
  starts="$(starts_of "$1")"
  ((starts == 1)) && return 0
  if ((starts == 2)) && gave_back_itself "$1"; then
    log "task $1 ran twice: its worker gave it back itself (lease not renewed in time)"
    others_twice=$((others_twice + 1))
    return 0
  fi
  fail "task $1 ($2) started $starts times"
}

none_running_on() { [[ -z "$(running_on "$1")" ]]; }
all_done() { local id; for id in "$@"; do status_is "$id" done || return 1; done; }
in_list() { [[ " $2 " == *" $1 "* ]]; }

# --- five hosts ----------------------------------------------------------------

json="$(cli --json workers)"
assert_eq "$HOSTS" "$(jlen . <<<"$json")" "workers in whoami"
declare -A host_of=()
for ((i = 0; i < HOSTS; i++)); do
  id="$(jget "$i._id" <<<"$json")"
  assert_eq running "$(jget "$i.state" <<<"$json")" "state of worker $id"
  host_of[$id]="$(jget "$i.host" <<<"$json")"
  # The hostname of its UTS namespace, not this machine's ($(hostname)).
  assert_eq "$id" "${host_of[$id]}" "host of worker $id"
done
assert_eq "$HOSTS" "$(printf '%s\n' "${host_of[@]}" | sort -u | wc -l)" "distinct hosts"
log "mtq workers: $HOSTS running workers on hosts ${host_of[*]}"
cli workers >&2

# --- batch 1, and m3 cut off mid-run --------------------------------------------

mapfile -t batch1 < <(enqueue_batch "$BATCH1" 2)
((${#batch1[@]} == BATCH1)) || fail "enqueued ${#batch1[@]} of $BATCH1 tasks"
log "enqueued $BATCH1 record tasks of 2 s"

# Into its second round, and holding a task it just started.
m3_busy() { (($(started_by "$CUT" | wc -l) >= 3)) && fresh_start_on "$CUT"; }
wait_until 60 m3_busy || fail "$CUT did not start 3 tasks in 60 s"
net_cut "$CUT"
t_cut="$(now_us)"
# What m3 had sent before the cut is in the database after a moment; from
# then on nothing of m3 arrives, and what it shows running is what it held.
sleep 0.5
held="$(running_on "$CUT" | tr '\n' ' ')"
held="${held% }"
[[ -n "$held" ]] || fail "$CUT holds no running task in the database right after the cut"
log "$CUT held [$held] when cut off"

wait_until 30 worker_state_is "$CUT" lost || fail "$CUT is '$(worker_field "$CUT" state)', not lost, 30 s after the cut"
detect_lost_s="$(secs_since "$t_cut")"
log "$CUT marked lost $detect_lost_s s after the cut"
cli workers | grep -Eq "^${CUT}[[:space:]].*lost" || fail "mtq workers does not show $CUT lost: $(cli workers)"

wait_until 30 none_running_on "$CUT" || fail "tasks of $CUT not given back 30 s after the cut"
requeue_s="$(secs_since "$t_cut")"
log "the tasks $CUT held were back in the queue $requeue_s s after the cut"
# shellcheck disable=SC2086 # one argument per id
wait_until 60 all_done $held || fail "the tasks $CUT held are not done 60 s after the cut"
requeue_done_s="$(secs_since "$t_cut")"
log "the tasks $CUT held were done elsewhere $requeue_done_s s after the cut"

for id in "${batch1[@]}"; do
  cli wait "$id" --timeout 60 >/dev/null || fail "task $id did not end done: $(cli show "$id")"
done
assert_eq "$BATCH1" "$(stat_count default done)" "tasks done after batch 1"
log "all $BATCH1 tasks of batch 1 done"

# --- at-least-once: counted through record.sh's side channel -------------------

twice=0
cut_started=" $(started_by "$CUT" | tr '\n' ' ')"
for id in "${batch1[@]}"; do
  starts="$(starts_of "$id")" ends="$(ends_of "$id")"
  worker="$(task_field "$id" worker)"
  ((ends >= 1)) || fail "task $id is done but its function never ended (starts $starts)"
  if in_list "$id" "$held"; then
    [[ "$worker" != "$CUT" ]] || fail "task $id, held by the cut-off $CUT, is recorded done by it"
    ((starts <= 2)) || fail "task $id held by $CUT started $starts times"
    ((starts == 1)) || twice=$((twice + 1))
  elif ((starts == 2)) && in_list "$id" "$cut_started" && [[ "$worker" != "$CUT" ]]; then
    # Claimed by m3 in the instant of the cut: its running mark did not get
    # through, so it was not in the held list, yet m3 started it.
    twice=$((twice + 1))
  else
    check_once "$id" "not held by $CUT at the cut"
  fi
done
for h in "${NET_HOSTS[@]}"; do
  n="$(started_by "$h" | wc -l)"
  ((n >= 1)) || fail "host $h ran no task of batch 1"
  log "host $h started $n tasks"
done
# What became of m3's own runs of them: ended (its function finished, the
# result could not be written) or stopped by m3 when it could not renew
# their leases.
cut_ends=0
for id in $held; do
  cut_ends=$((cut_ends + $(awk -v id="$id" -v w="$CUT" '$1 == id && $2 == w && $3 == "end"' "$EXEC_LOG" | wc -l)))
done
log "every task done; $twice of the $(wc -w <<<"$held") tasks $CUT held ran twice" \
    "($cut_ends of $CUT's runs of them ended there), $others_twice others twice, the rest once"

# --- m3 back --------------------------------------------------------------------

net_restore "$CUT"
t_restore="$(now_us)"
wait_until 60 worker_state_is "$CUT" running || fail "$CUT did not rejoin 60 s after the restore: $(worker_field "$CUT" state)"
rejoin_s="$(secs_since "$t_restore")"
log "$CUT running again $rejoin_s s after the restore"

# Long enough (30 x 3 s over 10 slots) to outlast the poll backoff m3 built
# up while it was cut off (at most 10 s): its heartbeat is back at once,
# its next poll up to that much later.
mapfile -t batch2 < <(enqueue_batch "$BATCH2" 3)
for id in "${batch2[@]}"; do
  cli wait "$id" --timeout 60 >/dev/null || fail "task $id of batch 2 did not end done: $(cli show "$id")"
  check_once "$id" "of batch 2"
done
mine=0
for id in $(started_by "$CUT"); do
  in_list "$id" "${batch2[*]}" && mine=$((mine + 1))
done
((mine >= 1)) || fail "$CUT ran none of the $BATCH2 tasks of batch 2 after it rejoined"
log "$CUT ran $mine of the $BATCH2 tasks of batch 2"
assert_eq running "$(worker_field "$CUT" state)" "state of $CUT at the end"

# --- a redundant run, and a host with a copy cut off ------------------------------
# Pick all: no rule can complete without the cut-off host's slot, so its
# copy must be found lost (missed heartbeats) and replaced on another host.
# Each copy runs 10 s: the cut comes after a few `mtq show`s and a second's
# sleep, which on a loaded machine take several seconds, and it must still
# find the victim's copy running.

# copy_on TASK SLOT: the worker of the latest copy of SLOT.
copy_on() { cli show "$1" | awk -v s="$2," '$1 == "copies[]" && $3 == s {w = $6} END {print w}'; }
red=()
for i in 1 2 3; do
  red+=("$(enqueue --func slowecho --copies 3 --pick all --args "{\"sleep\": 10, \"n\": $i}")") ||
    fail "enqueue of redundant task $i failed"
done
copy_sent() { [[ -n "$(copy_on "$1" 0)" ]]; }
wait_until 20 copy_sent "${red[0]}" || fail "no copy of ${red[0]} sent in 20 s"
victim="$(copy_on "${red[0]}" 0)"
hosts_used="$(cli show "${red[0]}" | awk '$1 == "copies[]" {print $8}' | sort -u | wc -l)"
sleep 1 # its copy is running now
net_cut "$victim"
t_cut="$(now_us)"
log "3 tasks of 3 copies each (pick all: every slot must succeed); ${red[0]} on $hosts_used distinct hosts; $victim cut off"
for id in "${red[@]}"; do
  out="$(cli wait "$id" --timeout 90)" || fail "redundant task $id did not complete: $(cli show "$id")"
  assert_eq 3 "$(jlen results <<<"$out")" "results of redundant task $id"
done
red_done_s="$(secs_since "$t_cut")"
show="$(cli show "${red[0]}")"
grep -Eq "copies\[\].* on $victim .*: (lost|late|failed)" <<<"$show" ||
  fail "the copy on the cut-off $victim is not shown lost: $show"
assert_eq 4 "$(grep -c 'copies\[\]' <<<"$show")" "copies of ${red[0]}: 3 and a replacement"
log "redundant tasks completed (all 3 slots) $red_done_s s after $victim was cut off (its copy replaced)"
net_restore "$victim"
t_restore="$(now_us)"
wait_until 60 worker_state_is "$victim" running || fail "$victim did not rejoin after the redundant run"
rejoin2_s="$(secs_since "$t_restore")"
log "$victim running again $rejoin2_s s after the restore"

echo "MULTIHOST SUMMARY hosts=$HOSTS detect_lost_s=$detect_lost_s requeue_s=$requeue_s requeue_done_s=$requeue_done_s rejoin_s=$rejoin_s held=$(wc -w <<<"$held") ran_twice=$twice others_twice=$others_twice redundant_done_s=$red_done_s redundant_rejoin_s=$rejoin2_s"
