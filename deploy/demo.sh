#!/usr/bin/env bash
# deploy/demo.sh - end-to-end demo: a database, a coordinator, two workers and
# a batch of tasks, all on this machine; everything is stopped at the end,
# unless --keep leaves it running for the user to look around (then --stop).
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT="${MTQ_DEMO_PORT:-27018}"
TASKS=20
BACKEND=sqlite
KEEP=0
STOP=0
SETUP=1

usage() {
  cat <<EOF
usage: bash deploy/demo.sh [--keep] [--tasks N] [--port P] [--backend sqlite|postgresql]
                           [--no-setup]
       bash deploy/demo.sh --stop

Runs deploy/setup.sh (one line per step, their output in .local/logs/), then,
with everything under .local/demo/:
  - starts a database on 127.0.0.1:$PORT (deploy/db.sh, fresh each run),
  - starts the coordinator (build/server/mtqd) declaring channel 'demo',
  - starts two workers, m1 and m2, with 2 slots each, serving the functions
    of deploy/examples/ (square, sleep, fail),
  - enqueues $TASKS 'square' tasks with various priorities (one delayed by 2 s),
    waits for each and prints inputs and results,
  - submits a flow (4 shards of shard_square, then sum, which adds them up),
    prints 'mtq flow show' and the sum, then 'mtq stats' and 'mtq workers',
  - stops the workers, the coordinator and the database; with --keep, leaves
    them running and prints how to look around with mtq.
Logs: .local/demo/*.log.  Exit status 0 only when every task succeeded and
the flow's sum is 30.

  --keep      leave the database, mtqd and the workers running at the end
  --stop      stop what a --keep run left running, and exit
  --tasks N   number of tasks (default $TASKS)
  --port P    database port (default $PORT, or \$MTQ_DEMO_PORT)
  --backend B FerretDB backend, sqlite (default) or postgresql (deploy/db.sh)
  --no-setup  skip deploy/setup.sh and use what is built already
\$MTQ_DEMO_DIR moves .local/demo/ (give --stop the same).
EOF
}

while (($#)); do
  case "$1" in
    --keep)     KEEP=1 ;;
    --stop)     STOP=1 ;;
    --no-setup) SETUP=0 ;;
    --tasks)    TASKS="${2:?--tasks needs a value}"; shift ;;
    --port)     PORT="${2:?--port needs a value}"; shift ;;
    --backend)  BACKEND="${2:?--backend needs a value}"; shift ;;
    -h|--help)  usage; exit 0 ;;
    *)          usage >&2; exit 2 ;;
  esac
  shift
done
if ! [[ "$TASKS" =~ ^[0-9]+$ ]] || ((TASKS < 1)); then die "--tasks must be a positive number"; fi

DEMO="$(realpath -m "${MTQ_DEMO_DIR:-$MTQ_LOCAL/demo}")"
URI="mongodb://127.0.0.1:$PORT/mtq"
BUILD="$MTQ_BUILD"
MTQ="$BUILD/cli/mtq"
MTQD="$BUILD/server/mtqd"
WORKER="$BUILD/worker/mtq-worker"
DBEDIT="$BUILD/tests/integration/dbedit"
EXAMPLES="$MTQ_ROOT/deploy/examples"
DB_SH="$MTQ_ROOT/deploy/db.sh"
DAEMONS=(m1 m2 mtqd)   # stop order: workers first
unset MTQ_URI          # the daemons and the CLI would prefer it to their config

mtq() { "$MTQ" --uri "$URI" "$@"; }

# shown PATH: PATH as the user can type it: relative to the repository when
# the demo runs from its top, absolute otherwise.
shown() {
  if [[ "$PWD" == "$MTQ_ROOT" && "$1" == "$MTQ_ROOT"/* ]]; then
    printf '%s\n' "${1#"$MTQ_ROOT"/}"
  else
    printf '%s\n' "$1"
  fi
}

# stop_command: the one command that stops a kept demo, from any directory.
stop_command() {
  local env=""
  [[ -z "${MTQ_DEMO_DIR:-}" ]] || env="MTQ_DEMO_DIR=$(printf '%q' "$DEMO") "
  printf '%sbash %s --stop\n' "$env" "$MTQ_ROOT/deploy/demo.sh"
}

# --- daemons ---------------------------------------------------------------------

alive() {
  kill -0 "$1" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

# start_daemon NAME CMD...: runs CMD in the background, log in NAME.log.
start_daemon() {
  local name="$1"; shift
  "$@" </dev/null >>"$DEMO/$name.log" 2>&1 &
  echo $! >"$DEMO/$name.pid"
  log "started $name (pid $!, log $(shown "$DEMO/$name.log"))"
}

# stop_daemon NAME: SIGTERM, SIGKILL after 15 s.  Also cleans up after an
# earlier run that was killed before its own clean-up, or kept (--keep).
stop_daemon() {
  local name="$1" pidfile="$DEMO/$1.pid" pid i
  [[ -f "$pidfile" ]] || return 0
  pid="$(<"$pidfile")"
  if alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -Eq 'mtqd|mtq-worker'; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 75; i++)); do alive "$pid" || break; sleep 0.2; done
    if alive "$pid"; then
      warn "$name (pid $pid) still running after 15 s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped $name"
  fi
  rm -f "$pidfile"
}

# demo_port: the port of the database of the last run, which an earlier run
# given another --port recorded.
demo_port() {
  if [[ -f "$DEMO/port" ]]; then cat "$DEMO/port"; else echo "$PORT"; fi
}

stop_all() {
  local name
  for name in "${DAEMONS[@]}"; do stop_daemon "$name"; done
  if [[ -d "$DEMO/db" ]]; then
    bash "$DB_SH" stop --port "$(demo_port)" --dir "$DEMO/db" || true
  fi
}

# running: a daemon or the database of an earlier run is still up.
running() {
  local name
  for name in "${DAEMONS[@]}"; do
    [[ -f "$DEMO/$name.pid" ]] && alive "$(<"$DEMO/$name.pid")" && return 0
  done
  [[ -d "$DEMO/db" ]] &&
    bash "$DB_SH" status --port "$(demo_port)" --dir "$DEMO/db" >/dev/null 2>&1
}

if ((STOP)); then
  if running; then
    stop_all
    log "the demo is stopped"
  else
    log "no demo is running (in $(shown "$DEMO"))"
  fi
  exit 0
fi

# on_exit: stops everything, unless a --keep run got to its end (whether or
# not every task succeeded: what failed is worth a look too) or the end
# stopped it already.
STOP_AT_EXIT=1
on_exit() {
  local rc=$?
  trap - EXIT
  if ((STOP_AT_EXIT)); then
    log "stopping the demo"
    stop_all
  fi
  exit "$rc"
}

# --- set up ---------------------------------------------------------------------

if ((SETUP)); then
  bash "$MTQ_ROOT/deploy/setup.sh"
fi
for b in "$MTQ" "$MTQD" "$WORKER"; do
  [[ -x "$b" ]] || die "$b was not built (bash deploy/setup.sh builds it)"
done

mkdir -p "$DEMO"
if running; then
  log "stopping what an earlier run left running"
fi
stop_all >/dev/null 2>&1
rm -rf "$DEMO/db" "$DEMO"/*.log "$DEMO"/*.err
trap on_exit EXIT
# An interrupted run stops everything, --keep or not.
trap 'STOP_AT_EXIT=1; exit 130' INT
trap 'STOP_AT_EXIT=1; exit 143' TERM

echo "$PORT" >"$DEMO/port"
bash "$DB_SH" start --port "$PORT" --dir "$DEMO/db" --backend "$BACKEND" >/dev/null

cat >"$DEMO/mtqd.ini" <<EOF
; written by deploy/demo.sh
[database]
uri = $URI

[coordinator]
channels = demo
lost_after_ms = 5000
EOF

for id in m1 m2; do
  cat >"$DEMO/$id.ini" <<EOF
; written by deploy/demo.sh
[database]
uri = $URI

[worker]
id = $id
channels = demo
concurrency = 2
poll_interval_ms = 200
heartbeat_interval_ms = 1000
grace_period_ms = 5000

[function square]
version = 1
command = $EXAMPLES/square.sh

[function sleep]
version = 1
command = $EXAMPLES/sleep.sh

[function fail]
version = 1
command = $EXAMPLES/fail.sh

[function shard_square]
version = 1
command = $EXAMPLES/shard_square.sh

[function sum]
version = 1
command = $EXAMPLES/sum.sh
EOF
done

# check_daemon NAME: dies, showing its log, when NAME has exited.
check_daemon() {
  alive "$(<"$DEMO/$1.pid")" && return 0
  tail -n 20 "$DEMO/$1.log" >&2 || true
  die "$1 exited (log: $(shown "$DEMO/$1.log"))"
}

start_daemon mtqd "$MTQD" --config "$DEMO/mtqd.ini" --uri "$URI"
# Workers refuse channels that are not declared yet: wait for the coordinator.
for ((try = 0; ; try++)); do
  mtq channels 2>/dev/null | grep -qx demo && break
  check_daemon mtqd
  ((try < 100)) || die "mtqd did not declare channel 'demo' within 20 s"
  sleep 0.2
done
start_daemon m1 "$WORKER" --config "$DEMO/m1.ini" --uri "$URI"
start_daemon m2 "$WORKER" --config "$DEMO/m2.ini" --uri "$URI"
# mtq enqueue refuses a function that no worker has announced yet: wait
# until both have (on a loaded machine half a second is not enough).
for ((try = 0; ; try++)); do
  (($(mtq workers 2>/dev/null | awk '$3 == "running"' | wc -l) >= 2)) && break
  check_daemon m1
  check_daemon m2
  ((try < 100)) || die "the workers did not announce themselves within 20 s"
  sleep 0.2
done

# --- tasks ------------------------------------------------------------------------

# enqueue N PRIORITY DELAY: prints the new task's id.
enqueue() {
  local opts=(--channel demo --func square --args "{\"x\": $1}" --priority "$2")
  (($3 > 0)) && opts+=(--delay "$3")
  mtq enqueue "${opts[@]}"
}

log "enqueuing $TASKS tasks"
ids=() prios=() delays=()
for ((n = 1; n <= TASKS; n++)); do
  prio=$(((n % 4) * 3))                  # 3, 6, 9, 0, 3, ...
  delay=0
  ((n == TASKS)) && delay=2
  id="$(enqueue "$n" "$prio" "$delay")" || die "cannot enqueue task $n"
  ids+=("$id") prios+=("$prio") delays+=("$delay")
done

log "waiting for the results"
failed=0
printf '\n%4s  %8s  %5s  %-24s  %s\n' x priority delay task result
for ((i = 0; i < TASKS; i++)); do
  n=$((i + 1))
  if result="$(mtq wait "${ids[i]}" --timeout 60 2>"$DEMO/wait.err")"; then
    # shellcheck disable=SC2016  # "$number..." is extended JSON, not a variable
    square="$(sed -nE 's/.*"square" *: *(\{ *"\$number[A-Za-z]+" *: *")?(-?[0-9.eE+]+).*/\2/p' <<<"$result")"
    if [[ "$square" != "$((n * n))" ]]; then
      result="WRONG: $result"
      failed=$((failed + 1))
    fi
  else
    result="FAILED: $(tr '\n' ' ' <"$DEMO/wait.err")"
    failed=$((failed + 1))
  fi
  printf '%4s  %8s  %5s  %-24s  %s\n' "$n" "${prios[i]}" "${delays[i]}s" "${ids[i]}" "$result"
done

# --- a flow ------------------------------------------------------------------------

# Four shards square 1..4 on both workers; the merge sums them (30) and would
# run without one of them (tolerance 0.25).
cat >"$DEMO/flow.json" <<'EOF'
{"name": "demo-flow", "channel": "demo",
 "steps": [{"name": "squares", "func": "shard_square", "shards": 4},
           {"name": "sum", "func": "sum", "after": "squares", "tolerance": 0.25}]}
EOF
log "submitting a flow: 4 shards, then their sum"
flow="$(mtq flow submit "$DEMO/flow.json")" || die "cannot submit the demo flow"
# flow_state: the first line of mtq flow show says "flow ID NAME: STATE, ...".
flow_state() { mtq flow show "$flow" | sed -nE '1s/^flow [0-9a-f]+ [^:]*: ([a-z]+),.*/\1/p'; }
for ((try = 0; ; try++)); do
  state="$(flow_state)"
  [[ "$state" == running ]] || break
  ((try < 300)) || die "the demo flow did not end within 60 s"
  sleep 0.2
done
printf '\n$ mtq flow show %s\n' "$flow"
mtq flow show "$flow"
sum_task="$(mtq --json flow show "$flow" | grep -oE '[0-9a-f]{24}' | tail -1)" || true
sum_result="$(mtq wait "$sum_task" --timeout 30 2>/dev/null)" || sum_result=""
printf '\nthe sum step returned: %s\n' "${sum_result:-nothing}"
if [[ "$state" != done ]] || ! grep -Eq '"sum" *: *30([^0-9]|$)' <<<"$sum_result"; then
  failed=$((failed + 1))
  log "the demo flow ended ${state:-?}, its sum: ${sum_result:-none}"
fi

printf '\n$ mtq stats\n'
mtq stats
printf '\n$ mtq workers\n'
mtq workers
echo

# look_around: what to try with the demo still running.  Every line that
# starts with "  $ " is a command that works as printed, in this order, from
# any directory (tests/integration/test_demo.sh runs them).
look_around() {
  local edit="mtq set-priority \"\$id\" 9"
  if [[ -x "$DBEDIT" ]]; then
    edit="$DBEDIT --uri \"\$MTQ_URI\" --id \"\$id\" --set '{\"priority\": 9}'"
  fi
  cat <<EOF
The database, mtqd and the workers m1 and m2 are still running.  Look around:

  \$ export PATH="$BUILD/cli:\$PATH" MTQ_URI="$URI"
  \$ mtq ls --status done          # highest priority first, then oldest
  \$ mtq show ${ids[0]} --history     # a task, and every change of its state
  \$ mtq flow show $flow --history   # the flow's steps as a tree, and its audit trail

A task delayed by 10 minutes, then a direct edit of its priority in the
database, as an operator would make it (mtq set-priority ID 9 does the same
through mtq's checks):

  \$ id=\$(mtq enqueue --channel demo --func square --args '{"x": 12}' --delay 600)
  \$ $edit
  \$ mtq ls --status delayed            # priority 9 now

Every command: mtq help.  Logs: $(shown "$DEMO")/*.log.  To stop it all:

  \$ $(stop_command)

EOF
}

if ((KEEP)); then
  STOP_AT_EXIT=0
  look_around
fi
if ((failed > 0)); then
  die "$failed of $TASKS tasks did not succeed (logs in $(shown "$DEMO")/)"
fi
log "all $TASKS tasks succeeded"
if ((!KEEP)); then
  log "stopping the demo"
  stop_all
  STOP_AT_EXIT=0
  log "to look around with mtq afterwards, run: bash $(shown "$MTQ_ROOT/deploy/demo.sh") --keep"
fi
