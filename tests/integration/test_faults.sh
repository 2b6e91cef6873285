#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# shellcheck disable=SC2016 # "$in", "$nor"... are MongoDB operators, not expansions
# test_faults.sh - no task is lost or run twice at once while workers and the
# database fail under load.
#
# 1 mtqd and 5 workers of 4 slots run N tasks (MTQ_FAULT_TASKS, default
# 20000; fewer when ENQUEUE_S, below, runs out first) of fn/fault.sh, enqueued by faultload through the C API with at most
# about 1000 unfinished at a time.  2% of the tasks fail on their first
# attempt.  Meanwhile a chaos loop SIGKILLs a random worker every 10-20 s (the
# worker process alone: its task processes must die with it) and starts it
# again, with the same id, 2-6 s later; and once about a third of the tasks
# have run, the database is stopped for 5 s.
#
# The configuration is the contract under test: a worker holds a lease of
# lease_ms = 3000 on each task it runs and renews it; mtqd (lost_after_ms
# 3000, sweep_interval_ms 500) gives back the tasks of lost workers and of
# expired leases; tasks have max_attempts 5.  When every task is done or dead:
#   lost = tasks - done - dead - unfinished must be 0 (unfinished: still
#       live when a run is cut short by its budget, which fails the test on
#       its own), and the results must hold every
#       task id the producer got back, once, and no other;
#   overlaps (a run of a task starting while another run of it holds its
#       lock) must be 0;
#   every dead task must carry its reason (error or errors);
#   no task process may be left running 2 s after its worker was killed.
# Figures: executions (runs started), retries (executions - tasks), retry
# events (transitions running -> retry_wait or queued in the events
# collection), kills, database restarts, wall time, tasks/s; then one line
# "FAULT SUMMARY ..." to quote.  MTQ_FAULT_SEED repeats the chaos choices;
# MTQ_FAULT_BACKLOG changes the bound on unfinished tasks.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
MTQ_DB_RESTARTS=1 # db_stop, db_start: the data must outlive them
mtq_setup 27400 2340

N="${MTQ_FAULT_TASKS:-20000}"
SEED="${MTQ_FAULT_SEED:-$(($$ ^ $(date +%s)))}"
WORKERS=5
SLOTS=4
BACKLOG="${MTQ_FAULT_BACKLOG:-1000}"
MAX_ATTEMPTS=5
KILL_EVERY_S=(10 20)   # between two worker kills, at random
RESTART_AFTER_S=(2 6)  # from a kill to the restart, at random
DB_DOWN_S=5
ORPHAN_AFTER_MS=2000   # a task process of a killed worker must be gone by then
STALL_S=240            # no task finished for this long: stop waiting
RUN_LIMIT_S=2200       # from the test's start: leaves the watchdog time for the checks
# The producer stops enqueueing after ENQUEUE_S (MTQ_FAULT_ENQUEUE_S), so
# that a busy machine (the suite beside stress-ng) ends within RUN_LIMIT_S
# with fewer tasks instead of running out of time; at least MIN_TASKS must
# have gone in for the run to count.  On an idle 2-core machine all N go in
# well before it.
ENQUEUE_S="${MTQ_FAULT_ENQUEUE_S:-1500}"
MIN_TASKS="${MTQ_FAULT_MIN_TASKS:-$((N < 2000 ? N : 2000))}"
WORKER_CONFIG=("lease_ms = 3000" "poll_interval_ms = 100")
MTQD_CONFIG=("lost_after_ms = 3000" "sweep_interval_ms = 500")
# Transitions that give a task another run.
RETRY_EVENTS='{"from": "running", "to": {"$in": ["retry_wait", "queued"]}}'
# Dead tasks with neither a non-empty error nor a non-empty errors array.
DEAD_WITHOUT_REASON='{"channel": "default", "status": "dead",
  "$nor": [{"error": {"$type": "string", "$ne": ""}}, {"errors.0": {"$exists": true}}]}'

[[ "$N" =~ ^[1-9][0-9]*$ ]] || fail "MTQ_FAULT_TASKS must be a positive number, not '$N'"
[[ "$SEED" =~ ^[0-9]+$ ]] || fail "MTQ_FAULT_SEED must be a number, not '$SEED'"
[[ "$BACKLOG" =~ ^[1-9][0-9]*$ ]] || fail "MTQ_FAULT_BACKLOG must be a positive number, not '$BACKLOG'"
FAULTLOAD="${MTQ_FAULTLOAD_BIN:-$MTQ_BUILD/tests/integration/faultload}"
[[ -x "$FAULTLOAD" ]] || fail "$FAULTLOAD is missing: build the project first"
RANDOM="$SEED"

DIR="$TMP/fault"
EXEC="$DIR/exec.log" # fn/fault.sh's side channel
IDS="$DIR/ids"       # the ids faultload got back, one a line
mkdir -p "$DIR/locks"
: >"$EXEC"
: >"$IDS"
MTQ_KEEP+=("$EXEC" "$IDS")
worker_function fault "/bin/sh $FN/fault.sh $DIR"

start_mtqd "${MTQD_CONFIG[@]}"
for ((w = 1; w <= WORKERS; w++)); do
  start_worker "w$w" "$SLOTS" "${WORKER_CONFIG[@]}"
done

# --- figures and helpers ---------------------------------------------------------

KILLS=0 RESTARTS=0 DB_RESTARTS=0 ORPHANS=0
declare -A DOWN_UNTIL=() # worker id -> when (SECONDS) it is started again
declare -A ORPHAN_AT=()  # pid of a killed worker's task process -> when to check (ms)

now_ms() { echo $(($(date +%s%N) / 1000000)); }
between() { echo $(($1 + RANDOM % ($2 - $1 + 1))); }
lines_of() { grep -c "$1" "$2" || true; }

# count_of STATS_JSON STATUS: a count of channel default, 0 when the status
# is not listed.
count_of() { jget "default.$2" <<<"$1" 2>/dev/null || echo 0; }

# ours PID: a process running fault.sh for this test (its command line names
# our directory), not a recycled pid.
ours() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -qF "$DIR"; }

worker_pids() {
  local w
  for w in "${!WORKER_PID[@]}"; do
    [[ -n "${DOWN_UNTIL[$w]:-}" ]] || echo "${WORKER_PID[$w]}"
  done
}

# kill_random_worker: SIGKILL to one running worker, chosen at random; the
# task processes it ran are checked ORPHAN_AFTER_MS later.
kill_random_worker() {
  local up=() w pid c due children
  for ((w = 1; w <= WORKERS; w++)); do
    [[ -n "${DOWN_UNTIL[w$w]:-}" ]] || up+=("w$w")
  done
  ((${#up[@]})) || return 0
  w="${up[RANDOM % ${#up[@]}]}"
  pid="${WORKER_PID[$w]}"
  children="$(pgrep -P "$pid" 2>/dev/null || true)"
  kill_worker "$w"
  due=$(($(now_ms) + ORPHAN_AFTER_MS))
  for c in $children; do
    if ours "$c"; then
      ORPHAN_AT[$c]="$due"
    fi
  done
  KILLS=$((KILLS + 1))
  DOWN_UNTIL[$w]="$(($(between "${RESTART_AFTER_S[@]}") + SECONDS))"
}

# check_orphans: a task process still there when its check is due, and whose
# parent is no running worker, outlived its worker.  It is ours: kill it.
check_orphans() {
  local t now parent
  now="$(now_ms)"
  for t in "${!ORPHAN_AT[@]}"; do
    ((now >= ORPHAN_AT[$t])) || continue
    unset "ORPHAN_AT[$t]"
    if ! { alive "$t" && ours "$t"; }; then
      continue
    fi
    parent="$(awk '{print $4}' "/proc/$t/stat" 2>/dev/null)" || continue
    if ! worker_pids | grep -qx "$parent"; then
      ORPHANS=$((ORPHANS + 1))
      log "task process $t (parent $parent) outlived its killed worker by ${ORPHAN_AFTER_MS} ms"
      kill -KILL "$t" 2>/dev/null || true
    fi
  done
}

restart_due_workers() {
  local w
  for w in "${!DOWN_UNTIL[@]}"; do
    ((SECONDS >= DOWN_UNTIL[$w])) || continue
    unset "DOWN_UNTIL[$w]"
    start_worker "$w" "$SLOTS" "${WORKER_CONFIG[@]}"
    RESTARTS=$((RESTARTS + 1))
  done
}

db_outage() {
  log "stopping the database for ${DB_DOWN_S} s"
  db_stop
  sleep "$DB_DOWN_S"
  db_start
  DB_RESTARTS=$((DB_RESTARTS + 1))
  log "database started again"
}

# --- the run -------------------------------------------------------------------------

log "$N tasks, $WORKERS workers x $SLOTS slots, backlog $BACKLOG, seed $SEED"
t0=$SECONDS
"$FAULTLOAD" --uri "$URI" --func fault --tasks "$N" --max-attempts "$MAX_ATTEMPTS" \
  --backlog "$BACKLOG" --seed "$SEED" --ids "$IDS" --for "$ENQUEUE_S" \
  </dev/null 2>>"$TMP/faultload.log" &
PRODUCER_PID=$!
MTQ__PIDS=("$PRODUCER_PID" "${MTQ__PIDS[@]}") # stopped first if the test ends early

next_kill=$((SECONDS + $(between "${KILL_EVERY_S[@]}")))
last_check=0 last_report=$SECONDS last_progress=$SECONDS
finished=-1 waited_out=""
while :; do
  if [[ -n "$PRODUCER_PID" ]] && ! alive "$PRODUCER_PID"; then
    st=0
    wait "$PRODUCER_PID" || st=$?
    PRODUCER_PID=""
    ((st == 0)) || fail "faultload exited with status $st: $(tail -n 3 "$TMP/faultload.log")"
    log "producer done: $(tail -n 1 "$TMP/faultload.log")"
  fi
  check_orphans
  restart_due_workers
  if ((SECONDS >= next_kill)); then
    kill_random_worker
    next_kill=$((SECONDS + $(between "${KILL_EVERY_S[@]}")))
  fi
  if ((DB_RESTARTS == 0)) &&
    (($(lines_of '^end ' "$EXEC") >= N / 3 || SECONDS - t0 >= ENQUEUE_S / 3)); then
    db_outage
  fi
  # mtq stats reads every result: every 30 s while tasks are still being
  # enqueued (they cannot all have ended), every 5 s after.
  if ((SECONDS - last_check >= (${PRODUCER_PID:-0} ? 30 : 5))); then
    last_check=$SECONDS
    if stats="$(cli --json stats 2>/dev/null)"; then
      terminal=$(($(count_of "$stats" done) + $(count_of "$stats" dead)))
      if ((terminal != finished)); then
        finished=$terminal
        last_progress=$SECONDS
      fi
      if [[ -z "$PRODUCER_PID" ]] && ((terminal >= $(wc -l <"$IDS"))); then
        # Every task has ended; a run too short for the faults gets them now.
        if ((DB_RESTARTS == 0)); then
          db_outage
        elif ((KILLS == 0)); then
          next_kill=$SECONDS
        elif ((${#DOWN_UNTIL[@]} == 0 && ${#ORPHAN_AT[@]} == 0)); then
          break
        fi
      fi
    fi
    if ((SECONDS - last_report >= 30)); then
      last_report=$SECONDS
      log "progress: enqueued $(wc -l <"$IDS"), finished $finished, runs $(lines_of '^start ' "$EXEC")," \
        "overlaps $(lines_of '^OVERLAP ' "$EXEC"), kills $KILLS, database restarts $DB_RESTARTS"
    fi
    if ((SECONDS - last_progress >= STALL_S)); then
      waited_out="no task finished for $STALL_S s"
      break
    fi
    if ((SECONDS - MTQ__T0 >= RUN_LIMIT_S)); then
      waited_out="the run took more than $RUN_LIMIT_S s"
      break
    fi
  fi
  sleep 0.5
done
elapsed=$((SECONDS - t0))
[[ -z "$waited_out" ]] || log "stopped waiting: $waited_out"

# --- the figures ------------------------------------------------------------------------

tasks="$(wc -l <"$IDS")"
distinct="$(sort -u "$IDS" | wc -l)"
stats="$(cli --json stats)" || fail "mtq stats failed at the end"
done_n="$(count_of "$stats" done)"
dead_n="$(count_of "$stats" dead)"
# Tasks still live (a run cut short by its time budget): unfinished, not
# lost.  Lost is what is neither ended nor anywhere live.
unfinished=0
for s in queued running delayed retry_wait suspended; do
  unfinished=$((unfinished + $(count_of "$stats" "$s")))
done
lost=$((tasks - done_n - dead_n - unfinished))
dbedit --ids results --filter '{"channel": "default"}' >"$DIR/results" ||
  fail "cannot read the ids of the results"
missing="$(sort -u "$DIR/results" | comm -23 <(sort -u "$IDS") - | wc -l)"
unknown="$(sort -u "$DIR/results" | comm -13 <(sort -u "$IDS") - | wc -l)"
twice="$(sort "$DIR/results" | uniq -d | wc -l)"
no_reason="$(dbedit --count results --filter "$DEAD_WITHOUT_REASON")" ||
  fail "cannot count the dead tasks without a reason"
overlaps="$(lines_of '^OVERLAP ' "$EXEC")"
executions="$(lines_of '^start ' "$EXEC")"
retries=$((executions - tasks))
((retries >= 0)) || retries=0 # tasks not yet run (a run cut short) are no negative retries
retry_events="$(dbedit --count events --filter "$RETRY_EVENTS")" || fail "cannot count the events"
planned=$(((tasks + 42) / 50)) # n % 50 == 7 for n in 0..tasks-1
rate="$(awk -v n="$((done_n + dead_n))" -v s="$elapsed" 'BEGIN {printf "%.1f", (s > 0 ? n / s : 0)}')"
# A few of the tasks without a result, as the database has them.
for id in $(sort -u "$DIR/results" | comm -23 <(sort -u "$IDS") - | head -n 5); do
  json="$(dbedit --find "$id" 2>&1)" || true
  log "no result for task $id: status $(jget status <<<"$json" 2>/dev/null), worker" \
    "$(jget worker <<<"$json" 2>/dev/null), attempt $(jget attempt <<<"$json" 2>/dev/null)"
done
per_worker="$(awk '$1 == "start" {print $3}' "$EXEC" | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')"

echo "fault figures: tasks/s=$rate worker_restarts=$RESTARTS orphans=$ORPHANS" \
  "missing_results=$missing unknown_results=$unknown results_twice=$twice" \
  "dead_without_reason=$no_reason planned_failures=$planned distinct_ids=$distinct" \
  "runs_per_worker: $per_worker seed=$SEED"
echo "fault counts: $(jget default <<<"$stats")"
echo "FAULT SUMMARY tasks=$tasks done=$done_n dead=$dead_n unfinished=$unfinished lost=$lost overlaps=$overlaps" \
  "executions=$executions retries=$retries retry_events=$retry_events kills=$KILLS" \
  "db_restarts=$DB_RESTARTS seconds=$elapsed"

[[ -z "$waited_out" ]] || fail "not every task ended: $waited_out"
if ((tasks < N)); then
  log "the producer stopped after $ENQUEUE_S s with $tasks of $N tasks enqueued (a busy machine)"
  ((tasks >= MIN_TASKS)) || fail "only $tasks tasks enqueued in $ENQUEUE_S s, fewer than $MIN_TASKS"
else
  assert_eq "$N" "$tasks" "tasks enqueued"
fi
assert_eq "$tasks" "$distinct" "distinct task ids enqueued"
assert_eq 0 "$lost" "tasks lost (neither done nor dead)"
assert_eq 0 "$missing" "enqueued tasks without a result"
assert_eq 0 "$unknown" "results of tasks never enqueued"
assert_eq 0 "$twice" "tasks with more than one result"
assert_eq 0 "$overlaps" "runs that overlapped another run of the same task"
assert_eq 0 "$no_reason" "dead tasks without a reason"
assert_eq 0 "$ORPHANS" "task processes that outlived their killed worker"
((retries >= planned)) || fail "only $retries retries for $planned planned first-attempt failures"
((KILLS >= 1 && DB_RESTARTS >= 1)) || fail "the faults did not happen: kills $KILLS, database restarts $DB_RESTARTS"
