#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_priority.sh - run order and the operator's hold on waiting tasks.
#
# With no worker running (w1 announced itself, then stopped), 30 record
# tasks are enqueued at priorities 0..9 (three each, mixed).  Then:
#   - 3 are disabled with `mtq disable`, 1 by a direct database edit of
#     is_enable (as an operator would in mongosh);
#   - 2 low-priority tasks get priority 9 by a direct database edit: mtqd's
#     reconcile must move them to the priority-9 lane (its side lane of tasks
#     moved in, where they keep their age);
#   - 1 priority-3 task gets priority 8 with `mtq set-priority`;
#   - 1 more task gets priority "high" (a string): it is quarantined.
# One worker with a single slot then runs the 26 enabled tasks one by one:
# the side-channel log must show them by priority, highest first, and in
# enqueue order within a priority, the moved ones included (they keep their
# age: a task moved to priority 9 runs before the priority-9 tasks enqueued
# after it); the 4 disabled tasks never run and stay
# queued until `mtq enable` lets them run.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27320 300

N=30
start_mtqd
# mtq enqueue refuses a function no worker has announced: the worker
# announces itself once, then stops until the queue is set up.
start_worker w1 1
stop_worker w1
assert_eq stopped "$(worker_field w1 state)" "state of w1 after SIGTERM"

ids=()
declare -A prio=() eff=() seq=()
for ((i = 0; i < N; i++)); do
  p=$(((i * 7) % 10))
  id="$(enqueue --func record --priority "$p")" || fail "enqueue of task $i failed"
  ids+=("$id")
  prio[$id]=$p eff[$id]=$p seq[$id]=$i
done
log "enqueued $N record tasks, priorities $(for id in "${ids[@]}"; do printf '%s' "${prio[$id]}"; done)"

# nth_with_priority P K: the K-th (0-based) task enqueued at priority P.
nth_with_priority() {
  local id k=0
  for id in "${ids[@]}"; do
    if [[ "${prio[$id]}" == "$1" ]]; then
      ((k == $2)) && { echo "$id"; return; }
      k=$((k + 1))
    fi
  done
  return 1
}

cli_disabled=("$(nth_with_priority 9 0)" "$(nth_with_priority 5 1)" "$(nth_with_priority 0 2)")
db_disabled="$(nth_with_priority 6 0)"
db_raised=("$(nth_with_priority 1 0)" "$(nth_with_priority 2 0)")
cli_raised="$(nth_with_priority 3 0)"
disabled=("${cli_disabled[@]}" "$db_disabled")

for id in "${cli_disabled[@]}"; do
  cli disable "$id" >/dev/null || fail "mtq disable $id failed"
done
dbedit --id "$db_disabled" --set '{"is_enable": false}' >/dev/null ||
  fail "dbedit is_enable=false on $db_disabled failed"
# mongosh writes numbers as doubles: one edit is 9.0, the other 9.
dbedit --id "${db_raised[0]}" --set '{"priority": 9.0}' >/dev/null || fail "dbedit priority=9.0 failed"
dbedit --id "${db_raised[1]}" --set '{"priority": 9}' >/dev/null || fail "dbedit priority=9 failed"
for id in "${db_raised[@]}"; do
  eff[$id]=9
done
# A priority of the wrong type cannot be placed in any lane: mtqd's
# reconcile quarantines the task (failed, original kept) instead.
bad_prio="$(enqueue --func record --priority 4)" || fail "enqueue failed"
dbedit --id "$bad_prio" --set '{"priority": "high"}' >/dev/null || fail "dbedit priority=high failed"
cli set-priority "$cli_raised" 8 >/dev/null || fail "mtq set-priority $cli_raised 8 failed"
eff[$cli_raised]=8
in_priority "$cli_raised" 8 ||
  fail "the task set to priority 8 is in $(dbedit --where "$cli_raised"), not priority 8's lane"
assert_eq 8 "$(task_field "$cli_raised" priority)" "priority shown after mtq set-priority"

# mtqd's reconcile (every second) moves the edited tasks to their new lane.
for id in "${db_raised[@]}"; do
  wait_until 15 in_priority "$id" 9 ||
    fail "task $id, edited to priority 9, is still in $(dbedit --where "$id")"
done
quarantined() { dbedit --find-result "$bad_prio" >/dev/null; }
wait_until 15 quarantined || fail "task $bad_prio with priority \"high\" is still live after 15 s"
rec="$(dbedit --find-result "$bad_prio")"
assert_eq failed "$(jget status <<<"$rec")" "status of the task with priority \"high\""
assert_contains "$(jget error <<<"$rec")" priority "error of the task with priority \"high\""
assert_eq high "$(jget original.priority <<<"$rec")" "original kept of the task with priority \"high\""
sleep 2 # another reconcile round: nothing else may move
for id in "${ids[@]}"; do
  in_priority "$id" "${eff[$id]}" ||
    fail "task ${seq[$id]} (priority ${eff[$id]}) is in $(dbedit --where "$id")"
done
for id in "${disabled[@]}"; do
  assert_eq false "$(task_field "$id" is_enable)" "is_enable of disabled task ${seq[$id]}"
done
log "edits applied: disabled ${disabled[*]}; raised to 9: ${db_raised[*]}; to 8: $cli_raised"

# One worker, one slot: tasks run one at a time, in the order it picks them.
start_worker w1 1
enabled=$((N - ${#disabled[@]}))
wait_until 120 stat_is default done "$enabled" ||
  fail "only $(stat_count default done) of $enabled enabled tasks done after 120 s"
sleep 2 # the disabled tasks must not run, even given time
assert_eq "$enabled" "$(stat_count default done)" "tasks done while 4 are disabled"
assert_eq "${#disabled[@]}" "$(stat_count default disabled)" "tasks counted disabled"
assert_eq 0 "$(stat_count default queued)" "tasks queued while 4 are disabled"
assert_eq 1 "$(stat_count default failed)" "tasks failed (the quarantined one)"
assert_eq 0 "$(starts_of "$bad_prio")" "runs of the quarantined task"
for id in "${disabled[@]}"; do
  assert_eq 0 "$(starts_of "$id")" "runs of disabled task ${seq[$id]}"
  assert_eq queued "$(task_status "$id")" "status of disabled task ${seq[$id]}"
done

# The order: effective priority never rises; within a priority, tasks run
# in enqueue order, the moved ones included.
order=($(start_order))
assert_eq "$enabled" "${#order[@]}" "number of runs"
assert_eq "$enabled" "$(printf '%s\n' "${order[@]}" | sort -u | wc -l)" "distinct tasks run"
shown="$(for id in "${order[@]}"; do printf '%s ' "${eff[$id]}"; done)"
log "run order by priority: $shown"
declare -A last_seq=()
prev=9
for ((k = 0; k < ${#order[@]}; k++)); do
  id="${order[k]}"
  p="${eff[$id]}"
  [[ -n "$p" ]] || fail "run $k is of an unknown task $id"
  ((p <= prev)) || fail "run $k: task ${seq[$id]} (priority $p) ran after a priority-$prev task; order: $shown"
  prev=$p
  ((${seq[$id]} > ${last_seq[$p]:--1})) ||
    fail "priority $p: task ${seq[$id]} ran after task ${last_seq[$p]}, enqueued later (not in age order); run order, as enqueue numbers: $(for x in "${order[@]}"; do printf '%s ' "${seq[$x]}"; done)"
  last_seq[$p]=${seq[$id]}
done
log "the $enabled enabled tasks ran by priority, FIFO within a priority"

# Enabling the disabled tasks lets them run, once each.
for id in "${disabled[@]}"; do
  cli enable "$id" >/dev/null || fail "mtq enable $id failed"
done
wait_until 60 stat_is default done "$N" || fail "enabled tasks did not run: $(cli stats)"
for id in "${ids[@]}"; do
  assert_eq 1 "$(starts_of "$id")" "runs of task ${seq[$id]}"
done

# A finished task is no longer the operator's to change.
id="${ids[0]}"
if cli set-priority "$id" 5 2>"$TMP/err.txt"; then fail "mtq set-priority on a done task succeeded"; fi
assert_contains "$(<"$TMP/err.txt")" done "mtq set-priority on a done task"
if cli disable "$id" 2>"$TMP/err.txt"; then fail "mtq disable on a done task succeeded"; fi
log "all $N tasks done, each run once"
