# shellcheck shell=bash
# tests/integration/lib.sh - sourced by every integration test.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"     # BUILD_DIR REPO_ROOT
#   mtq_setup BASE_PORT LIMIT_S
#
# mtq_setup makes a temporary directory, starts a private database on the
# first free port from BASE_PORT (deploy/db.sh, data in the temporary
# directory) and arms a watchdog: the test ends itself after LIMIT_S seconds.
# On exit, whatever the reason, every process the test started is stopped,
# the database too, and the temporary directory goes; when the test failed,
# the tail of each log is printed and the logs are kept under
# BUILD_DIR/tests/integration/logs/<test>/ (MTQ_TEST_KEEP_LOGS=1 keeps them
# when it passed too).  A daemon that died during the test (unless killed on
# purpose), that does not exit 0 on SIGTERM, or whose log holds a sanitizer
# report fails the test too.
#
# The first start of FerretDB builds it (deploy/db.sh install, minutes):
# run that before the tests, or the first test may run out of time.
#
# MTQ_DB flows through to deploy/db.sh: MTQ_DB=javaserver runs the test
# against mongo-java-server instead (ctest -L javaserver), on ports 1000
# above the test's own and with its logs kept apart (TEST_NAME ends in
# -javaserver), so that both variants of a test can run at once.  Its
# memory backend loses everything when the database stops: a test that
# restarts the database (db_stop, db_start) and expects its data back sets
# MTQ_DB_RESTARTS=1 before mtq_setup, and runs on its h2 backend, whose data
# (in the test's DIR) outlives a restart.
#
# Globals set for the test: MTQ_BUILD, MTQ_ROOT, TEST_NAME, TMP, PORT, URI,
# EXEC_LOG (the side-channel log of fn/record.sh), MTQ, MTQD, MTQ_WORKER,
# DBEDIT, FN, and WORKER_PID[id], MTQD_PID.  A test may add files of its own
# to MTQ_KEEP, kept with the logs when it fails.
#
# For a test that runs its processes elsewhere (netlib.sh: network
# namespaces); the arrays are empty unless the test sets them:
#   MTQ_DB_HOST    the database's address (127.0.0.1), set before mtq_setup
#   MTQ_DB_EXEC    command prefix (array) under which the database, the CLI
#                  (cli) and dbedit run: where MTQ_DB_HOST is reachable
#   MTQ_EXEC       command prefix (array) of the daemons start_mtqd and
#                  start_worker start; it must exec the daemon in place, so
#                  that its pid is the daemon's
#   mtq_arm LIMIT_S        the clean-up trap, the watchdog and TMP, before
#                          mtq_setup (which otherwise does it itself)
#   mtq_on_cleanup [--first] CMD...
#                  CMD runs at exit after the daemons and the database
#                  stopped, or with --first before they are stopped (last
#                  registered first); its failure fails the test

set -euo pipefail
shopt -s nullglob

[[ $# -ge 2 ]] || { echo "usage: $0 BUILD_DIR REPO_ROOT" >&2; exit 2; }
MTQ_BUILD="$(cd "$1" && pwd)"
MTQ_ROOT="$(cd "$2" && pwd)"
TEST_NAME="$(basename "$0" .sh)"
# MTQ_TEST_PORT_OFFSET (default 0, a multiple of 2000) moves every test's
# ports, so that two checkouts can run their tests side by side.
MTQ__PORT_OFFSET="${MTQ_TEST_PORT_OFFSET:-0}"
[[ "$MTQ__PORT_OFFSET" =~ ^[0-9]+$ ]] || { echo "MTQ_TEST_PORT_OFFSET must be a number" >&2; exit 2; }
if [[ "${MTQ_DB:-}" == javaserver ]]; then
  TEST_NAME+="-javaserver"
  MTQ__PORT_OFFSET=$((MTQ__PORT_OFFSET + 1000))
fi

MTQ="${MTQ_CLI_BIN:-$MTQ_BUILD/cli/mtq}"
MTQD="${MTQ_MTQD_BIN:-$MTQ_BUILD/server/mtqd}"
MTQ_WORKER="${MTQ_WORKER_BIN:-$MTQ_BUILD/worker/mtq-worker}"
DBEDIT="${MTQ_DBEDIT_BIN:-$MTQ_BUILD/tests/integration/dbedit}"
FN="$MTQ_ROOT/tests/integration/fn"
DB_SH="$MTQ_ROOT/deploy/db.sh"

# The daemons and the CLI read MTQ_URI before their config: a developer's
# own setting must not point a test at a real database.
unset MTQ_URI
# libmongoc gives every process a /dev/shm/mongoc-<pid> counters file that
# only its exit removes: each daemon a test SIGKILLs would leave one behind
# (deploy/lib.sh sets the same for the scripts).
export MONGOC_DISABLE_SHM=1

TMP="" PORT="" URI="" EXEC_LOG="" MTQD_PID="" WATCHDOG_PID=""
declare -A WORKER_PID=()
MTQ_KEEP=()         # more files the test wants kept with the logs when it fails
# Not taken from the environment: the test decides where its database is.
MTQ_DB_HOST=127.0.0.1
MTQ_DB_EXEC=() MTQ_EXEC=()
MTQ_DB_RESTARTS=0 # set by a test that restarts the database (above)
# shellcheck disable=SC2034 # used through namerefs
MTQ__CLEANUP=() MTQ__CLEANUP_FIRST=() # commands of mtq_on_cleanup, run at exit
MTQ__PIDS=()        # every process started in the background, stopped in this order
declare -A MTQ__NAME=() # pid -> "mtqd" / "worker ID": daemons whose end is checked
declare -A MTQ__GONE=() # pids stopped or killed on purpose during the test
MTQ__DB_UP=0
MTQ__T0=$SECONDS

# --- reporting -----------------------------------------------------------------

log()  { printf '[%s %3ds] %s\n' "$TEST_NAME" "$((SECONDS - MTQ__T0))" "$*" >&2; }
fail() { printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2; exit 1; }

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
  [[ "$1" == "$2" ]] || fail "$3: expected '$1', got '$2'"
}

# assert_contains HAYSTACK NEEDLE WHAT (case-insensitive)
assert_contains() {
  grep -qiF -- "$2" <<<"$1" || fail "$3: '$2' not found in: $1"
}

# --- processes and clean-up -------------------------------------------------

# alive PID: the process exists and is not a zombie.
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

# task_groups PID: process groups of PID's children (a worker starts each task
# in a session of its own: when the worker dies the kernel kills the task
# process, but not what the task started in its group).
task_groups() {
  local c
  for c in $(pgrep -P "$1" 2>/dev/null || true); do
    ps -o pgid= -p "$c" 2>/dev/null | tr -d ' ' || true
  done | sort -u
}

# stop_pid PID SECONDS: SIGTERM, then SIGKILL (with its tasks) after SECONDS.
# Returns the process's exit status (137 when it needed SIGKILL).
stop_pid() {
  local pid="$1" secs="$2" groups i st=0
  if ! alive "$pid"; then
    wait "$pid" 2>/dev/null || st=$?
    return "$st"
  fi
  groups="$(task_groups "$pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    log "pid $pid still running ${secs} s after SIGTERM: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  for g in $groups $(task_groups "$pid"); do
    [[ "$g" -gt 1 ]] && kill -KILL -- "-$g" 2>/dev/null || true
  done
  wait "$pid" 2>/dev/null || st=$?
  return "$st"
}

# print_logs: the tail of every log, for a failed test.
print_logs() {
  local f n
  for f in "$TMP"/*.log "$TMP"/db/server.log; do
    [[ -s "$f" ]] || continue
    n=40
    [[ "$f" == */db/server.log ]] && n=15 # FerretDB's warnings are verbose
    printf '\n----- %s (last %d lines) -----\n' "${f#"$TMP"/}" "$n" >&2
    tail -n "$n" "$f" >&2 || true
  done
}

mtq__cleanup() {
  local rc=$? pid
  set +e
  # A signal now (the user, ctest, a watchdog firing during a slow clean-up)
  # must not cut the clean-up short: it would leave daemons, the database
  # and netlib.sh's namespaces behind.  Caught, not ignored: an ignored
  # signal would be ignored by the commands started from here on too.  Every
  # step is bounded (stop_pid, timeout).
  trap - EXIT
  trap 'echo "[$TEST_NAME] signal during the clean-up: finishing it first" >&2' INT TERM
  if [[ -n "$WATCHDOG_PID" ]]; then
    pkill -P "$WATCHDOG_PID" 2>/dev/null
    kill "$WATCHDOG_PID" 2>/dev/null
    wait "$WATCHDOG_PID" 2>/dev/null
  fi
  mtq__run_hooks MTQ__CLEANUP_FIRST || rc=1
  # Workers first (they may still be finishing against the database), mtqd
  # next, the database last.  A daemon that died during the test, or that
  # does not stop cleanly (exit 0) on SIGTERM, fails it.
  local name st
  for pid in "${MTQ__PIDS[@]}"; do
    name="${MTQ__NAME[$pid]:-}"
    if [[ -n "$name" && -z "${MTQ__GONE[$pid]:-}" ]] && ! alive "$pid"; then
      echo "[$TEST_NAME] FAIL: $name (pid $pid) exited during the test" >&2
      rc=1
      MTQ__GONE[$pid]=1
    fi
    st=0
    stop_pid "$pid" 8 || st=$?
    if [[ -n "$name" && -z "${MTQ__GONE[$pid]:-}" ]] && ((st != 0)); then
      echo "[$TEST_NAME] FAIL: $name (pid $pid) exited with status $st on SIGTERM" >&2
      rc=1
    fi
  done
  # A sanitizer build (MTQ_SANITIZE) reports into the daemons' logs.
  local f
  for f in "$TMP"/*.log; do
    if grep -Eq 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:' "$f" 2>/dev/null; then
      echo "[$TEST_NAME] FAIL: sanitizer report in ${f##*/}" >&2
      rc=1
    fi
  done
  if ((MTQ__DB_UP)); then
    mtq__db_sh 60 stop || echo "[$TEST_NAME] warning: the database did not stop cleanly" >&2
  fi
  # After the processes: what the hooks tear down (network namespaces) may
  # be what those processes need to stop cleanly.
  mtq__run_hooks MTQ__CLEANUP || rc=1
  if [[ -n "$TMP" && -d "$TMP" ]]; then
    if ((rc != 0)) || [[ "${MTQ_TEST_KEEP_LOGS:-0}" == 1 ]]; then
      ((rc == 0)) || print_logs
      local keep="$MTQ_BUILD/tests/integration/logs/$TEST_NAME"
      rm -rf "$keep" && mkdir -p "$keep" &&
        cp "$TMP"/*.log "$TMP"/*.ini "${MTQ_KEEP[@]}" "$keep"/ 2>/dev/null
      cp "$TMP"/db/server.log "$keep"/db-server.log 2>/dev/null
      echo "[$TEST_NAME] logs kept in $keep" >&2
    fi
    rm -rf "$TMP"
  fi
  if ((rc == 0)); then
    echo "[$TEST_NAME] PASS in $((SECONDS - MTQ__T0)) s"
  else
    echo "[$TEST_NAME] FAILED (exit $rc) after $((SECONDS - MTQ__T0)) s" >&2
  fi
  exit "$rc"
}

mtq__on_signal() {
  echo "[$TEST_NAME] $1 after $((SECONDS - MTQ__T0)) s: stopping" >&2
  exit 124
}

# mtq_on_cleanup [--first] CMD...: runs CMD at exit, whatever the reason
# (see above).
mtq_on_cleanup() {
  local list=MTQ__CLEANUP
  if [[ "${1:-}" == --first ]]; then
    list=MTQ__CLEANUP_FIRST
    shift
  fi
  local -n mtq__hooks="$list"
  mtq__hooks+=("$(printf '%q ' "$@")")
}

# mtq__run_hooks ARRAY: runs the commands in ARRAY, last first; fails when
# one failed.
mtq__run_hooks() {
  # shellcheck disable=SC2178 # a nameref to an array
  local -n mtq__hooks="$1"
  local i ok=0
  for ((i = ${#mtq__hooks[@]} - 1; i >= 0; i--)); do
    eval "${mtq__hooks[i]}" || {
      echo "[$TEST_NAME] FAIL: clean-up step failed: ${mtq__hooks[i]}" >&2
      ok=1
    }
  done
  return "$ok"
}

# --- set-up ------------------------------------------------------------------------

# port_open PORT: something accepts connections on MTQ_DB_HOST:PORT, seen
# from where the database runs.
port_open() {
  if ((${#MTQ_DB_EXEC[@]})); then
    # shellcheck disable=SC2016 # expanded by that bash
    "${MTQ_DB_EXEC[@]}" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$MTQ_DB_HOST" "$1" 2>/dev/null
  else
    (exec 3<>"/dev/tcp/$MTQ_DB_HOST/$1") 2>/dev/null
  fi
}

# mtq__db_sh TIMEOUT_S COMMAND: deploy/db.sh COMMAND for the test's database
# (where it runs, on its address), its output added to db-ctl.log.
mtq__db_sh() {
  local backend=()
  if [[ "$2" == start && "${MTQ_DB:-}" == javaserver && "$MTQ_DB_RESTARTS" == 1 ]]; then
    backend=(--backend h2)
  fi
  MTQ_DB_HOST="$MTQ_DB_HOST" timeout "$1" "${MTQ_DB_EXEC[@]}" bash "$DB_SH" "$2" \
    --port "$PORT" --dir "$TMP/db" "${backend[@]}" >>"$TMP/db-ctl.log" 2>&1
}

# mtq_arm LIMIT_S: the clean-up trap, the watchdog (the test ends itself
# after LIMIT_S seconds) and TMP.
mtq_arm() {
  local limit="$1"
  trap mtq__cleanup EXIT
  trap 'mtq__on_signal interrupted' INT
  trap 'mtq__on_signal "watchdog (${MTQ_LIMIT_S} s) or SIGTERM"' TERM
  MTQ_LIMIT_S="$limit"
  # The watchdog: every test stops by itself, whatever hangs.  Its output goes
  # nowhere so that a leftover sleep cannot hold ctest's pipe open.
  { sleep "$limit"; kill -TERM $$; } </dev/null >/dev/null 2>&1 &
  WATCHDOG_PID=$!

  local b
  for b in "$MTQ" "$MTQD" "$MTQ_WORKER" "$DBEDIT"; do
    [[ -x "$b" ]] || fail "$b is missing: build the project first"
  done
  [[ -x "$DB_SH" || -f "$DB_SH" ]] || fail "$DB_SH is missing"

  TMP="$(mktemp -d "${TMPDIR:-/tmp}/mtq-$TEST_NAME.XXXXXX")"
  EXEC_LOG="$TMP/executions.log"
  : >"$EXEC_LOG"
}

# mtq_setup BASE_PORT LIMIT_S: mtq_arm LIMIT_S (unless done), then the
# database.
mtq_setup() {
  local base="$(($1 + MTQ__PORT_OFFSET))" limit="$2" p
  [[ -n "$WATCHDOG_PID" ]] || mtq_arm "$limit"

  # The first free port from base; when another run takes it between the
  # check and the start, the next one.
  for ((p = base; p < base + 20; p++)); do
    port_open "$p" && continue
    PORT="$p"
    log "starting the database on port $PORT ($TMP/db)"
    MTQ__DB_UP=1
    if mtq__db_sh 600 start; then
      break
    fi
    MTQ__DB_UP=0
    port_open "$p" || fail "deploy/db.sh start failed: $(tail -n 5 "$TMP/db-ctl.log")"
    mtq__db_sh 60 stop || true
    rm -rf "$TMP/db"
    PORT=""
  done
  [[ -n "$PORT" ]] || fail "no free port in $base..$((base + 19))"
  URI="mongodb://$MTQ_DB_HOST:$PORT/mtq"
}

# db_stop / db_start: take the database down and up again (same port, same data).
db_stop() {
  mtq__db_sh 60 stop || fail "deploy/db.sh stop failed"
}
db_start() {
  mtq__db_sh 120 start || fail "deploy/db.sh start failed: $(tail -n 5 "$TMP/db-ctl.log")"
}

# --- configuration and daemons -------------------------------------------------

# ini_section NAME DEFAULTS_VAR EXTRA_LINE...: a section whose default
# "key = value" lines are left out when an extra line sets the same key.
ini_section() {
  local name="$1" line key
  local -n ini__defaults="$2"
  shift 2
  echo "[$name]"
  for line in "${ini__defaults[@]}"; do
    key="${line%%=*}"; key="${key// /}"
    if ! printf '%s\n' "$@" | grep -Eq "^[[:space:]]*${key}[[:space:]]*="; then
      echo "$line"
    fi
  done
  ((! $#)) || printf '%s\n' "$@"
}

# start_mtqd [EXTRA [coordinator] LINES...]: starts mtqd and waits until its
# channels (default, other) are declared.  MTQD_AS=NAME names its config and
# log NAME.ini and NAME.log instead of mtqd (a second coordinator);
# MTQD_PID is the last one started.  Its id is NAME too, so that two of them
# publish two metrics documents, not one.
start_mtqd() {
  local name="${MTQD_AS:-mtqd}"
  local ini="$TMP/$name.ini"
  local defaults=("id = $name" "channels = default, other" "lost_after_ms = 3000"
                  "sweep_interval_ms = 500" "reconcile_interval_ms = 1000")
  {
    printf '[database]\nuri = %s\n\n' "$URI"
    ini_section coordinator defaults "$@"
  } >"$ini"
  "${MTQ_EXEC[@]}" "$MTQD" --config "$ini" </dev/null >>"$TMP/$name.log" 2>&1 &
  MTQD_PID=$!
  MTQ__PIDS+=("$MTQD_PID")
  MTQ__NAME[$MTQD_PID]="$name"
  wait_until 30 channel_declared default || fail "$name did not declare its channels in 30 s"
  log "$name running (pid $MTQD_PID)"
}

channel_declared() { cli channels 2>/dev/null | grep -qw "$1"; }

# start_web NAME INI PORT: mtq-web with config INI in the background (log
# NAME.log), stopped before the workers and mtqd; waits until it listens on
# PORT (given 30 s).  WEB_PID is the last one started.
start_web() {
  "${MTQ_WEB_BIN:-$MTQ_BUILD/web/mtq-web}" --config "$2" </dev/null >>"$TMP/$1.log" 2>&1 &
  WEB_PID=$!
  MTQ__PIDS=("$WEB_PID" "${MTQ__PIDS[@]}")
  MTQ__NAME[$WEB_PID]="$1"
  wait_until 30 mtq__web_up "$WEB_PID" "$3" || fail "$1 did not listen on $3: $(tail -n 5 "$TMP/$1.log")"
  log "$1 running (pid $WEB_PID) on port $3"
}
mtq__web_up() { alive "$1" && port_open "$2"; }

# worker_function NAME COMMAND: every worker started from now on also serves
# function NAME (version 1) with COMMAND.
declare -A MTQ__FUNCTION=()
worker_function() { MTQ__FUNCTION[$1]="$2"; }

# start_worker ID CONCURRENCY [EXTRA [worker] LINES...]: starts a worker that
# serves record, echo, fail and notjson (and those of worker_function) on
# channel default; records its pid in WORKER_PID[ID] and waits until it has
# announced itself in whoami.
start_worker() {
  local id="$1" conc="$2"
  shift 2
  local ini="$TMP/worker-$id.ini"
  # idle_poll_ms: several tests write tasks straight into the database (an
  # outside producer, dbedit), which bumps no channel seq and sends no
  # wake-up; an idle worker finds those at its next full poll, which the
  # default (30 s) would put past their waits.  test_wake.sh sets its own.
  local defaults=("id = $id" "channels = default" "concurrency = $conc"
                  "poll_interval_ms = 100" "heartbeat_interval_ms = 500"
                  "grace_period_ms = 5000" "lease_ms = 3000" "idle_poll_ms = 1000")
  {
    printf '[database]\nuri = %s\n\n' "$URI"
    printf '[function record]\nversion = 1\ncommand = /bin/sh %s/record.sh %s\n\n' "$FN" "$EXEC_LOG"
    printf '[function echo]\nversion = 1\ncommand = /bin/sh %s/echo.sh\n\n' "$FN"
    printf '[function fail]\nversion = 1\ncommand = /bin/sh %s/fail.sh\n\n' "$FN"
    printf '[function notjson]\nversion = 1\ncommand = /bin/sh %s/notjson.sh\n\n' "$FN"
    local fn
    for fn in "${!MTQ__FUNCTION[@]}"; do
      printf '[function %s]\nversion = 1\ncommand = %s\n\n' "$fn" "${MTQ__FUNCTION[$fn]}"
    done
    ini_section worker defaults "$@"
  } >"$ini"
  "${MTQ_EXEC[@]}" "$MTQ_WORKER" --config "$ini" </dev/null >>"$TMP/worker-$id.log" 2>&1 &
  WORKER_PID[$id]=$!
  MTQ__PIDS=("${WORKER_PID[$id]}" "${MTQ__PIDS[@]}") # workers stop first
  MTQ__NAME[${WORKER_PID[$id]}]="worker $id"
  wait_until 30 announced_or_gone "$id" "${WORKER_PID[$id]}" ||
    fail "worker $id did not announce itself in 30 s"
  if ! alive "${WORKER_PID[$id]}"; then
    MTQ__GONE[${WORKER_PID[$id]}]=1 # reported here, not again at clean-up
    fail "worker $id exited at start: $(tail -n 3 "$TMP/worker-$id.log")"
  fi
  log "worker $id running (pid ${WORKER_PID[$id]}, concurrency $conc)"
}

# announced_or_gone ID PID (for wait_until): the worker announced itself, or
# its process is gone (a bad configuration), which there is no use waiting on.
announced_or_gone() { ! alive "$2" || worker_state_is "$1" running; }

# stop_worker ID: SIGTERM and wait (grace period) for a clean stop (exit 0).
stop_worker() {
  local pid="${WORKER_PID[$1]}" st=0
  MTQ__GONE[$pid]=1
  stop_pid "$pid" 15 || st=$?
  ((st == 0)) || fail "worker $1 exited with status $st on SIGTERM"
}

# crash_worker ID: what a host crash does to a worker: the worker and the
# task processes it runs (each in a process group of its own) die at once,
# by SIGKILL, without a chance to record anything.
crash_worker() {
  local pid="${WORKER_PID[$1]}" g groups
  MTQ__GONE[$pid]=1
  kill -STOP "$pid" # no new task can start while we look for its tasks
  groups="$(task_groups "$pid")"
  for g in $groups; do
    kill -KILL -- "-$g" 2>/dev/null || true
  done
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  log "worker $1 (pid $pid) and its task groups [${groups//$'\n'/ }] killed with SIGKILL"
}

# kill_worker ID: SIGKILL to the worker process alone, as when it crashes by
# itself.  Its task processes are left to the kernel, which kills them when
# their worker dies (PR_SET_PDEATHSIG, see worker/runner.h).
kill_worker() {
  local pid="${WORKER_PID[$1]}"
  MTQ__GONE[$pid]=1
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  log "worker $1 (pid $pid) killed with SIGKILL"
}

# --- the CLI and the database -----------------------------------------------------

# cli ARGS...: the mtq CLI against the test's database, bounded in time.
cli() { timeout 60 "${MTQ_DB_EXEC[@]}" "$MTQ" --uri "$URI" "$@"; }

# jget PATH < JSON: the value at a dotted path ("." = all; strings raw).
jget() { "$DBEDIT" --get "$1"; }
# jlen PATH < JSON: number of elements of the array or document at PATH.
jlen() { "$DBEDIT" --len "$1"; }
# jcanon < JSON: the JSON in one canonical form, for comparisons.
jcanon() { "$DBEDIT" --canon; }

# dbedit ARGS...: direct database edits (see dbedit.c).
dbedit() { timeout 30 "${MTQ_DB_EXEC[@]}" "$DBEDIT" --uri "$URI" "$@"; }

# lane_is ID COLLECTION: the live task is in that collection (for wait_until).
lane_is() { [[ "$(dbedit --where "$1" 2>/dev/null)" == "$2" ]]; }
# in_priority ID P [CHANNEL]: the live task is in priority P's lane of the
# channel (default): its inbox, one of its segments, or its side lane of
# tasks moved there after they were enqueued (for wait_until).
in_priority() {
  local where lane
  where="$(dbedit --where "$1" 2>/dev/null)" || return 1
  lane="q.${3:-default}.p$2"
  [[ "$where" == "$lane" || "$where" == "$lane.moved" ||
     "$where" =~ ^"$lane".w[0-9]{10}(\.[0-9a-f]{8})?$ ]]
}

# segment_of ID P [CHANNEL]: the segment collection a task id of mtq's
# names at priority P (common/store/segment.c: the window of the id's time,
# its mark in byte 8, a private segment's name in bytes 4..7); the lane's
# inbox for an id without a mark.
segment_of() {
  local id="$1" lane="q.${3:-default}.p$2" w
  w="$(printf '%010d' $((16#${id:0:8} / 10)))"
  case "${id:16:2}" in
    6d) echo "$lane.w$w" ;;
    6e) echo "$lane.w$w.${id:8:8}" ;;
    *) echo "$lane" ;;
  esac
}

# enqueue ARGS...: mtq enqueue --channel default ARGS; prints the task id.
enqueue() {
  local id
  id="$(cli enqueue --channel default "$@")" || return 1
  [[ "$id" =~ ^[0-9a-f]{24}$ ]] || { echo "enqueue printed '$id', not a task id" >&2; return 1; }
  printf '%s\n' "$id"
}

# task_field ID FIELD: one field of `mtq --json show ID`.
task_field() { cli --json show "$1" | jget "$2"; }

# task_status ID
task_status() { task_field "$1" status; }

# status_is ID STATUS (for wait_until)
status_is() { [[ "$(task_status "$1" 2>/dev/null)" == "$2" ]]; }

# workers_of ID: the workers the copies of redundant task ID went to, sorted.
workers_of() { cli show "$1" | awk '$1 == "copies[]" {print $6}' | sort; }

# stat_count CHANNEL STATUS: the count from `mtq --json stats`.
stat_count() { cli --json stats | jget "$1.$2"; }

# stat_is CHANNEL STATUS N (for wait_until)
stat_is() { [[ "$(stat_count "$1" "$2" 2>/dev/null)" == "$3" ]]; }

# worker_field ID FIELD: a field of the worker's entry in `mtq --json workers`.
worker_field() {
  local json n i
  json="$(cli --json workers)" || return 1
  n="$(jlen . <<<"$json")" || return 1
  for ((i = 0; i < n; i++)); do
    if [[ "$(jget "$i._id" <<<"$json")" == "$1" ]]; then
      jget "$i.$2" <<<"$json"
      return
    fi
  done
  return 1
}

# worker_state_is ID STATE (for wait_until): read straight from whoami by
# _id, not through `mtq workers`, which also reads every run record.
worker_state_is() {
  [[ "$(dbedit --count whoami "{\"_id\": \"$1\", \"state\": \"$2\"}" 2>/dev/null)" == 1 ]]
}

# --- commands expected to fail ---------------------------------------------------------

# problem MESSAGE: a failed expectation; fails the test (a test may redefine
# it to collect them).
problem() { fail "$*"; }

# run CMD...: runs CMD; sets RC, OUT (stdout), ERR (stderr), SECS (duration).
run() {
  local t0=$SECONDS
  set +e
  OUT="$("$@" 2>"$TMP/stderr.txt")"
  RC=$?
  set -e
  ERR="$(<"$TMP/stderr.txt")"
  SECS=$((SECONDS - t0))
}

# expect_refused WHAT RC_REGEX MESSAGE_REGEX: checks the last run.
expect_refused() {
  if ! [[ "$RC" =~ ^($2)$ ]]; then
    problem "$1: exit status $RC, expected $2 (stdout: '$OUT', stderr: '$ERR')"
  elif ! grep -Eqi -- "$3" <<<"$ERR"; then
    problem "$1: exit $RC but the message does not match /$3/: '$ERR'"
  else
    log "ok: $1 -> exit $RC: $ERR"
  fi
}

# --- waiting -------------------------------------------------------------------------

# wait_until TIMEOUT_S CMD...: polls CMD (output discarded) every 0.2 s until
# it succeeds (return 0) or TIMEOUT_S seconds have passed (return 1).  CMD
# runs in a subshell (it cannot set variables): a function called with its
# output redirected keeps the redirection while a trap runs, so a watchdog
# firing during the wait would send the clean-up's report to /dev/null.
wait_until() {
  local limit="$1" start=$SECONDS
  shift
  while ! ("$@") >/dev/null 2>&1; do
    if ((SECONDS - start >= limit)); then
      log "gave up after ${limit} s waiting for: $*"
      return 1
    fi
    sleep 0.2
  done
}

# --- the side-channel log of fn/record.sh --------------------------------------
# Lines: "<task id> <worker id> start|end <ns>".

# starts_of ID: how many times the task started.
starts_of() { awk -v id="$1" '$1 == id && $3 == "start"' "$EXEC_LOG" | wc -l; }
ends_of()   { awk -v id="$1" '$1 == id && $3 == "end"' "$EXEC_LOG" | wc -l; }
# started_by WORKER: ids of the tasks the worker started, in order.
started_by() { awk -v w="$1" '$2 == w && $3 == "start" {print $1}' "$EXEC_LOG"; }
# start_order: task ids in the order they started.
start_order() { awk '$3 == "start" {print $1}' "$EXEC_LOG"; }
