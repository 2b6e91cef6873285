#!/usr/bin/env bash
# bench/run.sh [--quick] - measures the targets of issue 10 on this machine
# and writes bench/REPORT.md, with the plot bench/drain.png beside it.
#
# Starts its own FerretDB (deploy/db.sh, port 29090 unless PORT is set),
# then mtqd and workers running a no-op task (/bin/true), and runs the
# phases of mtq-bench side by side: each repetition of the throughput
# phases runs every configuration once, so that they share the machine's
# load.  The phases, in this order (an idle server first, before the big
# databases exist):
#   idle        5 workers + mtqd on an empty channel: CPU and RSS from /proc
#   latency     enqueue -> claimed on an idle worker, default poll interval
#   enqueue     one producer, mtq_client_enqueue_many; mtq enqueue --batch
#   throughput  burn-downs of pre-enqueued tasks (1x8, 1x16, 4x4, and 1x8 on
#               the baseline store) beside the batched ceiling (ceiling.c);
#               and 1x16 against 4x4 on mongo-java-server (JS=0 skips it)
#   drain       backlogs of 1k..1M: claim/end cost, then the drain rate
# Medians over REPS repetitions.  Every phase is bounded in time and in
# count (see the knobs below), so that the bench finishes on today's slow
# store too and reports how far each phase got.  Every phase uses its own database.
#
# "Today's rate" is measured in the same run: the store of BASELINE
# (default c628ce5, main before the store rewrite) is built once into
# .local/bench-baseline/REV with this bench's sources, and its burn-down is
# run beside the current one.  BASELINE=none skips it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=deploy/lib.sh
source "$root/deploy/lib.sh"

usage() {
  cat <<EOF
usage: bench/run.sh [--quick]

Writes bench/REPORT.md (REPORT=FILE elsewhere) and drain.png beside it.
  --quick   one repetition, small counts and short windows (about 10 minutes)
Knobs (environment): PHASES (a subset of "idle latency enqueue throughput
drain"), PORT, BUILD, BASELINE (a git revision or none), REPS, BURN_N,
BURN_S, CEIL_N, CEIL_SEGMENT, ENQ_N, LEVELS, LEVEL_FILL_S, DRAIN_N, DRAIN_S,
PROBE_S, LAT_N, LAT_S, IDLE_S, MTQ_CLI, CLI_BATCH_LINE, CLI_BATCH_ARGS.
EOF
}

mode=full
case "${1:-}" in
  --quick) mode=quick ;;
  "") ;;
  -h|--help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac
# pick QUICK FULL: the default of a knob in this mode.
pick() { if [[ $mode == quick ]]; then echo "$1"; else echo "$2"; fi; }

build=${BUILD:-$root/build}
port=${PORT:-29090}
report=${REPORT:-$root/bench/REPORT.md}
plot="$(dirname "$report")/drain.png"
baseline=${BASELINE:-c628ce5}
REPS=${REPS:-$(pick 1 3)}                  # repetitions of every measured phase
BURN_N=${BURN_N:-$(pick 2000 10000)}       # tasks pre-enqueued for a burn-down
BURN_S=${BURN_S:-$(pick 20 60)}            # the most a burn-down is measured for
                                           # (10,000 in 60 s is 167/s: slower fails anyway)
CEIL_N=${CEIL_N:-$BURN_N}                  # tasks of the batched ceiling
CEIL_SEGMENT=${CEIL_SEGMENT:-512}          # tasks per live collection of the ceiling (MTQ__SEGMENT_MAX)
ENQ_N=${ENQ_N:-$(pick 3000 20000)}         # tasks of one bulk enqueue
ENQ_BATCH=${ENQ_BATCH:-1000}               # tasks per mtq_client_enqueue_many
LEVELS=${LEVELS:-"1000 10000 100000 1000000"}
LEVEL_FILL_S=${LEVEL_FILL_S:-$(pick 25 480)} # the most spent filling up to a level
DRAIN_N=${DRAIN_N:-$(pick 1000 5000)}      # the most tasks one drain window counts
DRAIN_S=${DRAIN_S:-$(pick 10 60)}          # the most one drain window lasts
PROBE_S=${PROBE_S:-$(pick 10 60)}          # the most the claim/end probe of a level takes
PROBE_REPEAT=${PROBE_REPEAT:-$(pick 3 5)}
LAT_N=${LAT_N:-$(pick 30 150)}             # tasks of one latency run
LAT_S=${LAT_S:-$(pick 60 180)}             # the most one latency run takes
LAT_GAP_MS=1000                            # the worker's default poll_interval_ms
IDLE_S=${IDLE_S:-$(pick 15 60)}            # one window of the idle measurement
IDLE_SETTLE_S=$(pick 5 15)
# `mtq enqueue --batch FILE` is being written: its file is taken to hold one
# task a line as JSON with enqueue's fields; both can be changed here.
CLI_BATCH_LINE=${CLI_BATCH_LINE:-'{"channel": "bench", "func": "noop", "args": {}}'}
# --force: no worker serves the bench's database while it fills.
CLI_BATCH_ARGS=${CLI_BATCH_ARGS:---force}   # more options of that command
MTQ_CLI=${MTQ_CLI:-$build/cli/mtq}         # the mtq whose --batch is measured
PHASES=${PHASES:-"idle latency enqueue throughput drain"} # which phases run (all by default)
JS=${JS:-1}                                # throughput also on mongo-java-server (port PORT+1)

work=$(mktemp -d /tmp/mtq-bench.XXXXXX)
pids=()
js_base=""
: > "$work/commands.txt"
t_start=$SECONDS
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

cleanup() {
  stop_all
  "$root/deploy/db.sh" stop --port "$port" --dir "$work/db" >/dev/null 2>&1 || true
  if [[ -n "$js_base" ]]; then
    MTQ_DB=javaserver "$root/deploy/db.sh" stop --port "$((port + 1))" --dir "$work/jsdb" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

note() { printf '[bench] %s\n' "$*" >&2; }
# phase NAME: whether PHASES asks for it.
phase() { [[ " $PHASES " == *" $1 "* ]]; }

# --- binaries: this tree's, the baseline's, gnuplot ------------------------------

if [[ -f "$build/CMakeCache.txt" ]]; then
  cmake --build "$build" --target mtq-bench mtq-bench-floor mtq-worker mtqd mtq >"$work/build.log" 2>&1 ||
    { tail -n 20 "$work/build.log" >&2; exit 1; }
else
  bash "$root/deploy/setup.sh"
fi

# baseline_build REV: builds REV's store, worker and mtqd with this tree's
# bench sources (the bench speaks only the public API, which the rewrite
# keeps) into $MTQ_LOCAL/bench-baseline/REV, once.
baseline_build() {
  local rev="$1" dir="$MTQ_LOCAL/bench-baseline/$1" f
  if [[ ! -f "$dir/build/CMakeCache.txt" ]]; then
    rm -rf "$dir"
    mkdir -p "$dir/src"
    git -C "$root" archive "$rev" | tar -x -C "$dir/src"
    cmake -S "$dir/src" -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  # The bench's sources are always this tree's: copied when they changed.
  for f in "$root"/bench/*.c "$root"/bench/*.h "$root"/bench/CMakeLists.txt; do
    cmp -s "$f" "$dir/src/bench/${f##*/}" || cp "$f" "$dir/src/bench/"
  done
  cmake --build "$dir/build" --target mtq-bench mtq-worker mtqd
}
base_bin=""
if [[ "$baseline" != none ]]; then
  if (step bench-baseline "baseline store $baseline for today's rate" baseline_build "$baseline"); then
    base_bin="$MTQ_LOCAL/bench-baseline/$baseline/build"
  else
    note "no baseline: today's rate is not measured"
  fi
fi
have_gnuplot=0
if (step gnuplot "plot tool gnuplot-nox" apt_ensure gnuplot-nox) && command -v gnuplot >/dev/null; then
  have_gnuplot=1
fi

"$root/deploy/db.sh" start --port "$port" --dir "$work/db" >/dev/null
base="mongodb://127.0.0.1:$port"
db_pid=$(<"$work/db/server.pid")
# The second server of the test matrix, for the throughput phase: MongoDB's
# single-document atomicity and no SQLite under it, so that what is mtq's
# own scaling and what is FerretDB's cost per command can be told apart.
if phase throughput && ((JS)); then
  if MTQ_DB=javaserver "$root/deploy/db.sh" start --port "$((port + 1))" --dir "$work/jsdb" >/dev/null; then
    js_base="mongodb://127.0.0.1:$((port + 1))"
  else
    note "mongo-java-server did not start: 1x16 against 4x4 is measured on FerretDB only"
  fi
fi

# --- daemons ----------------------------------------------------------------------

# config DB ID SLOTS: a worker's (and mtqd's) ini on database DB, channel
# bench, the no-op function.  Defaults everywhere else (poll_interval_ms
# 1000 included), but a short grace period, so that stopping the workers
# between phases does not wait for the default 30 s.
config() {
  cat > "$work/$2.ini" <<INI
[database]
uri = $base/$1
[worker]
id = $2
channels = bench
concurrency = $3
grace_period_ms = 2000
[function noop]
version = 1
command = /bin/true
[coordinator]
channels = bench
INI
  echo "$work/$2.ini"
}

start() { "$@" >>"$work/daemons.log" 2>&1 & pids+=($!); }
stop_all() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
# up BIN DB WORKERS SLOTS: mtqd and WORKERS workers of SLOTS slots of the
# binaries in BIN (a build directory) on database DB.
worker_pids=()
up() {
  local bin="$1" db="$2" i
  start "$bin/server/mtqd" --config "$(config "$db" "mtqd-$db" 1)"
  mtqd_pid=${pids[-1]}
  worker_pids=()
  for i in $(seq 1 "$3"); do
    start "$bin/worker/mtq-worker" --config "$(config "$db" "w$i-$db" "$4")"
    worker_pids+=("${pids[-1]}")
  done
}

# --- running mtq-bench and collecting its figures ---------------------------------

declare -A r
# collect PREFIX < output: stores each key=value line as r[PREFIX_key]
# (fed by process substitution: a pipe would run it in a subshell).
collect() { local k v; while IFS='=' read -r k v; do r[$1_$k]=$v; echo "  $1_$k=$v" >&2; done; }
# mb BIN ARGS...: runs BIN's mtq-bench, logging the command for the report.
mb() {
  local bin="$1"; shift
  local shown="${bin#"$root"/}/bench/mtq-bench $*"
  if [[ -n "$js_base" ]]; then shown=${shown//$js_base/\$JSDB}; fi
  echo "${shown//$base/\$DB}" >> "$work/commands.txt"
  "$bin/bench/mtq-bench" "$@" || note "mtq-bench $1 exited $?"
}
# median PREFIX KEY: the median of r[PREFIX_<rep>_KEY] over the repetitions
# that produced it; empty when none did.
median() {
  local i
  for i in $(seq 1 "$REPS"); do
    if [[ -n "${r[$1_${i}_$2]:-}" ]]; then echo "${r[$1_${i}_$2]}"; fi
  done | sort -g | awk '{v[NR] = $1} END {if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'
}
# values PREFIX KEY: every repetition's value, "a / b / c".
values() {
  local i out=""
  for i in $(seq 1 "$REPS"); do out+="${out:+ / }${r[$1_${i}_$2]:-–}"; done
  echo "$out"
}

# --- idle: 5 workers and mtqd with nothing to do ----------------------------------

# ticks PID: utime + stime of PID, in clock ticks.
ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# pss_kib PID: its proportional set size, shared pages divided among their users.
pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)

if phase idle; then
note "idle: 5 workers x 4 slots + mtqd, ${REPS} windows of ${IDLE_S} s after ${IDLE_SETTLE_S} s..."
collect idle_decl < <(mb "$build" fill --uri "$base/idle" --to 0)
up "$build" idle 5 4
# Beside them, the floor: a process of libmongoc alone, connected and idle.
start "$build/bench/mtq-bench-floor" "$base/idle" "$((IDLE_SETTLE_S + REPS * (IDLE_S + 10)))"
floor_pid=${pids[-1]}
sleep "$IDLE_SETTLE_S"
for rep in $(seq 1 "$REPS"); do
  procs=("${worker_pids[@]}" "$mtqd_pid" "$db_pid")
  declare -A t0=()
  for p in "${procs[@]}"; do t0[$p]=$(ticks "$p"); done
  w0=$(date +%s.%N)
  sleep "$IDLE_S"
  w=$(awk -v a="$w0" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
  pct() { awk -v a="${t0[$1]}" -v b="$(ticks "$1")" -v hz="$hz" -v w="$w" 'BEGIN {printf "%.2f", (b - a) / hz / w * 100}'; }
  worst_cpu=0 worst_rss=0 worst_pss=0
  for p in "${worker_pids[@]}"; do
    c=$(pct "$p") m=$(rss_kib "$p") s=$(pss_kib "$p")
    worst_cpu=$(awk -v a="$c" -v b="$worst_cpu" 'BEGIN {print (a > b ? a : b)}')
    if ((m > worst_rss)); then worst_rss=$m; fi
    if ((s > worst_pss)); then worst_pss=$s; fi
  done
  collect "idle_$rep" <<EOF
window_s=$w
worker_cpu_pct=$worst_cpu
worker_rss_mib=$(awk -v k="$worst_rss" 'BEGIN {printf "%.1f", k / 1024}')
worker_pss_mib=$(awk -v k="$worst_pss" 'BEGIN {printf "%.1f", k / 1024}')
floor_rss_mib=$(awk -v k="$(rss_kib "$floor_pid")" 'BEGIN {printf "%.1f", k / 1024}')
mtqd_cpu_pct=$(pct "$mtqd_pid")
mtqd_rss_mib=$(awk -v k="$(rss_kib "$mtqd_pid")" 'BEGIN {printf "%.1f", k / 1024}')
db_cpu_pct=$(pct "$db_pid")
EOF
  unset t0
done
stop_all
fi

# --- latency: enqueue -> start on an idle worker, default poll interval ----------

if phase latency; then
note "latency: 1 worker x 8 slots, ${LAT_N} tasks a run..."
collect lat_decl < <(mb "$build" fill --uri "$base/latency" --to 0)
up "$build" latency 1 8
sleep 3
for rep in $(seq 1 "$REPS"); do
  collect "lat_$rep" < <(mb "$build" latency --uri "$base/latency" --n "$LAT_N" --gap-ms "$LAT_GAP_MS" --max-s "$LAT_S")
done
stop_all
fi

# --- bulk enqueue: one producer, no workers ----------------------------------------

mtq_cli="$MTQ_CLI"
cli_batch=0
if "$mtq_cli" enqueue --help 2>&1 | grep -q -- '--batch'; then cli_batch=1; fi
if phase enqueue; then
note "bulk enqueue: ${ENQ_N} tasks in calls of ${ENQ_BATCH} (CLI --batch: $( ((cli_batch)) && echo yes || echo absent))..."
for rep in $(seq 1 "$REPS"); do
  collect "enq_$rep" < <(mb "$build" enqueue --uri "$base/enqueue$rep" --n "$ENQ_N" --batch "$ENQ_BATCH" --max-s 300)
  # The insert ceiling beside it: the same documents, no queue logic.
  collect "ins_$rep" < <(mb "$build" inserts --uri "$base/inserts$rep" --n "$ENQ_N" --batch "$ENQ_BATCH" --segment 512)
  if ((cli_batch)); then
    awk -v n="$ENQ_N" -v line="$CLI_BATCH_LINE" 'BEGIN {for (i = 0; i < n; i++) print line}' > "$work/batch.jsonl"
    collect "clienq_decl_$rep" < <(mb "$build" fill --uri "$base/clienq$rep" --to 0)
    echo "${mtq_cli#"$root"/} --uri \$DB/clienq$rep enqueue $CLI_BATCH_ARGS --batch FILE   # $ENQ_N lines of $CLI_BATCH_LINE" >> "$work/commands.txt"
    a=$(date +%s.%N)
    # shellcheck disable=SC2086 # CLI_BATCH_ARGS is a list of options
    if "$mtq_cli" --uri "$base/clienq$rep" enqueue $CLI_BATCH_ARGS --batch "$work/batch.jsonl" >/dev/null 2>"$work/cli.err"; then
      s=$(awk -v a="$a" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
      collect "clienq_after_$rep" < <(mb "$build" fill --uri "$base/clienq$rep" --to 0)
      n_in=${r[clienq_after_${rep}_fill_backlog]:-0}
      collect "clienq_$rep" <<EOF
tasks=$n_in
s=$s
per_s=$(awk -v n="$n_in" -v s="$s" 'BEGIN {printf "%.1f", (s > 0 ? n / s : 0)}')
EOF
    else
      note "mtq enqueue --batch failed: $(tail -n 1 "$work/cli.err")"
    fi
  fi
done
fi

# --- throughput: burn-downs and the ceiling, side by side ---------------------------

# burn BIN LABEL WORKERS SLOTS REP: BURN_N tasks into a fresh database, then
# WORKERS x SLOTS, measured until the channel is empty or BURN_S passed.
burn() {
  local bin="$1" label="$2" db="burn_$2_$5"
  collect "${label}fill_$5" < <(mb "$bin" fill --uri "$base/$db" --to "$BURN_N" --batch 1000 --max-s "$LEVEL_FILL_S")
  up "$bin" "$db" "$3" "$4"
  collect "${label}_$5" < <(mb "$bin" drain --uri "$base/$db" --expect "${r[${label}fill_$5_fill_backlog]:-$BURN_N}" --max-s "$BURN_S" --interval-ms 50)
  stop_all
}
if phase throughput; then
for rep in $(seq 1 "$REPS"); do
  note "throughput, repetition $rep of $REPS: ceiling, 1x8, 1x16, 4x4${base_bin:+, baseline 1x8}..."
  collect "ceil_$rep" < <(mb "$build" ceiling --uri "$base/ceiling$rep" --n "$CEIL_N" --batch 8 --segment "$CEIL_SEGMENT" --max-s "$BURN_S")
  collect "ceil1_$rep" < <(mb "$build" ceiling --uri "$base/ceilone$rep" --n "$((CEIL_N / 5))" --batch 1 --segment "$CEIL_SEGMENT" --max-s "$BURN_S")
  burn "$build" b1x8 1 8 "$rep"
  burn "$build" b1x16 1 16 "$rep"
  burn "$build" b4x4 4 4 "$rep"
  if [[ -n "$base_bin" ]]; then burn "$base_bin" old1x8 1 8 "$rep"; fi
  if [[ -n "$js_base" ]]; then
    base=$js_base burn "$build" j1x16 1 16 "$rep"
    base=$js_base burn "$build" j4x4 4 4 "$rep"
  fi
done
fi

# --- drain rate against backlog ------------------------------------------------------

# One database filled level by level: each level is topped up from the one
# before, within LEVEL_FILL_S.  At each: the claim/end probe with nothing
# running, then REPS drain windows of 1 worker x 8 slots, each after a
# top-up to the level reached.
if phase drain; then
for level in $LEVELS; do
  note "drain at a backlog of $level..."
  collect "lvl${level}_fill" < <(mb "$build" fill --uri "$base/drain" --to "$level" --batch 2000 --max-s "$LEVEL_FILL_S")
  reached=${r[lvl${level}_fill_fill_backlog]:-0}
  ((reached > 0)) || continue
  collect "lvl${level}_probe" < <(mb "$build" probe --uri "$base/drain" --repeat "$PROBE_REPEAT" --batch 8 --max-s "$PROBE_S")
  n=$((reached / 2 < DRAIN_N ? reached / 2 : DRAIN_N))
  for rep in $(seq 1 "$REPS"); do
    collect "lvl${level}top_$rep" < <(mb "$build" fill --uri "$base/drain" --to "$reached" --batch 2000 --max-s "$LEVEL_FILL_S")
    up "$build" drain 1 8
    collect "lvl${level}_$rep" < <(mb "$build" drain --uri "$base/drain" --expect "${r[lvl${level}top_${rep}_fill_backlog]:-$reached}" --max-tasks "$n" --max-s "$DRAIN_S" --interval-ms 50)
    stop_all
  done
done
fi

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$((SECONDS - t_start))

# --- the report -------------------------------------------------------------------

num() { [[ -n "${1:-}" && "$1" != "–" ]]; }
ratio() { if num "$1" && num "$2"; then awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b}'; fi; }
# verdict MEASURED OP TARGET: pass, fail, or "not measured".
verdict() {
  if ! num "$1"; then echo "not measured"; return; fi
  awk -v m="$1" -v t="$3" -v op="$2" 'BEGIN {
    ok = (op == ">=" ? m >= t : op == "<=" ? m <= t : op == "<" ? m < t : m > t)
    print (ok ? "**pass**" : "**fail**") }'
}

b1x8=$(median b1x8 drain_per_s)
b1x16=$(median b1x16 drain_per_s)
b4x4=$(median b4x4 drain_per_s)
j1x16=$(median j1x16 drain_per_s)
j4x4=$(median j4x4 drain_per_s)
old1x8=$(median old1x8 drain_per_s)
ceil=$(median ceil ceiling_per_s)
ceil1=$(median ceil1 ceiling_per_s)
today=${old1x8:-${TODAY_RATE:-}}
first_level=${LEVELS%% *}
last_level=${LEVELS##* }
lvl_rate() { median "lvl$1" drain_per_s; }
drain_lo=$(lvl_rate "$first_level")
drain_hi=$(lvl_rate "$last_level")
reached_hi=${r[lvl${last_level}_fill_fill_backlog]:-0}
claim_lo=${r[lvl${first_level}_probe_probe_one_claim_ms]:-}
claim_hi=${r[lvl${last_level}_probe_probe_one_claim_ms]:-}
end_lo=${r[lvl${first_level}_probe_probe_one_end_ms]:-}
end_hi=${r[lvl${last_level}_probe_probe_one_end_ms]:-}
enq=$(median enq enqueue_per_s)
clienq=$(median clienq per_s)
ins=$(median ins inserts_per_s)
lat50=$(median lat start_p50_ms)
lat99=$(median lat start_p99_ms)
idle_cpu=$(median idle worker_cpu_pct)
idle_rss=$(median idle worker_rss_mib)
floor_rss=$(median idle floor_rss_mib)
db_cpu=$(median idle db_cpu_pct)
hi_note=""
if phase drain && ((reached_hi < last_level)); then hi_note=" (filled only to $reached_hi of $last_level)"; fi
# filled_verdict RATIO OP TARGET: a level not reached fails, one not measured is said so.
filled_verdict() {
  if phase drain && ((reached_hi < last_level)); then echo "**fail** (not filled)"; else verdict "$@"; fi
}

# The plot: the median drain rate at each level reached, with the spread.
for level in $LEVELS; do
  [[ -n "$(lvl_rate "$level")" ]] || continue
  lo=$(for i in $(seq 1 "$REPS"); do echo "${r[lvl${level}_${i}_drain_per_s]:-}"; done | sed '/^$/d' | sort -g | head -n1)
  hi=$(for i in $(seq 1 "$REPS"); do echo "${r[lvl${level}_${i}_drain_per_s]:-}"; done | sed '/^$/d' | sort -g | tail -n1)
  echo "${r[lvl${level}_fill_fill_backlog]} $(lvl_rate "$level") $lo $hi"
done | sort -g > "$work/drain.dat" # by the backlog reached, which a short fill may reorder
plotted=0
if ((have_gnuplot)) && [[ -s "$work/drain.dat" ]]; then
  gnuplot <<GP && plotted=1 || note "gnuplot failed"
set terminal pngcairo size 800,500 noenhanced
set output '$plot'
set title 'mtq drain rate against backlog (1 worker x 8 slots, no-op tasks, FerretDB/SQLite)'
set logscale x
set xlabel 'tasks queued in the channel'
set ylabel 'tasks/s'
set yrange [0:*]
set grid
set key bottom left
plot '$work/drain.dat' using 1:2:3:4 with yerrorlines lw 2 pt 7 title 'median (bars: min..max of ${REPS} runs)'
GP
fi

{
  echo "# mtq benchmark report (issue 10)"
  echo
  echo "Generated by \`bash bench/run.sh$( [[ $mode == quick ]] && echo ' --quick')\`$( [[ $mode == quick ]] && echo ' (quick mode: small counts, short windows: a check of the script, not figures of record)') on $(date -u '+%Y-%m-%d %H:%M UTC') in $((elapsed / 60)) min $((elapsed % 60)) s,"
  echo "tree $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- common worker server 2>/dev/null || echo ' (with uncommitted changes)')."
  echo
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, load average $load_start at the start and $load_end at the end (1, 5, 15 min);"
  echo "server: FerretDB $("$MTQ_FERRETDB" --version 2>/dev/null | awk '/version:/ {print $2; exit}') on SQLite, on loopback, started by deploy/db.sh."
  echo "Workers run a no-op task (\`/bin/true\`, one process per task) with the default configuration"
  echo "(poll_interval_ms 1000, lease_ms 30000) but grace_period_ms 2000. Every figure comes from this run;"
  echo "a figure of several runs is their median (${REPS} run$( ((REPS > 1)) && echo s) each, interleaved)."
  echo
  echo "## Targets"
  echo
  echo "| figure | target | measured | |"
  echo "|---|---|---|---|"
  echo "| burn-down of $BURN_N tasks, 1 worker × 8 slots | ≥ 10 × today's rate (${today:-not measured} tasks/s${old1x8:+, store of $baseline}) | $b1x8 tasks/s ($(ratio "$b1x8" "$today")×) | $(verdict "$(ratio "$b1x8" "$today")" ">=" 10) |"
  echo "| the same, against the batched ceiling | ≥ 0.50 of $ceil tasks/s | $(ratio "$b1x8" "$ceil") | $(verdict "$(ratio "$b1x8" "$ceil")" ">=" 0.5) |"
  echo "| 4 workers × 4 slots against 1 worker × 16 | ≥ 1.00 | $b4x4 / $b1x16 tasks/s = $(ratio "$b4x4" "$b1x16") | $(verdict "$(ratio "$b4x4" "$b1x16")" ">=" 1) |"
  if [[ -n "$j4x4" ]]; then
    echo "| the same on mongo-java-server (no SQLite under it) | (none: tells mtq's scaling from FerretDB's cost per command) | $j4x4 / $j1x16 tasks/s = $(ratio "$j4x4" "$j1x16") | |"
  fi
  echo "| drain rate at $last_level queued$hi_note against $first_level | ≥ 0.80 | $drain_hi / $drain_lo tasks/s = $(ratio "$drain_hi" "$drain_lo") | $(filled_verdict "$(ratio "$drain_hi" "$drain_lo")" ">=" 0.8) |"
  echo "| claim cost at $last_level$hi_note against $first_level | ≤ 2.00 | $claim_hi / $claim_lo ms = $(ratio "$claim_hi" "$claim_lo") | $(filled_verdict "$(ratio "$claim_hi" "$claim_lo")" "<=" 2) |"
  echo "| end cost at $last_level$hi_note against $first_level | ≤ 2.00 | $end_hi / $end_lo ms = $(ratio "$end_hi" "$end_lo") | $(filled_verdict "$(ratio "$end_hi" "$end_lo")" "<=" 2) |"
  echo "| bulk enqueue, one producer, mtq_client_enqueue_many ($ENQ_BATCH a call) | ≥ 5000 tasks/s | $enq tasks/s | $(verdict "$enq" ">=" 5000) |"
  echo "| the same, against the insert ceiling ($ins tasks/s) | (none: what the database takes) | $(ratio "$enq" "$ins") | |"
  if ((cli_batch)); then
    echo "| bulk enqueue, \`mtq enqueue --batch FILE\` ($ENQ_N tasks) | ≥ 5000 tasks/s | ${clienq:-failed} tasks/s | $(verdict "$clienq" ">=" 5000) |"
  else
    echo "| bulk enqueue, \`mtq enqueue --batch FILE\` | ≥ 5000 tasks/s | not on this tree (no --batch) | not measured |"
  fi
  echo "| enqueue → start, idle worker, default poll interval, p50 | ≤ 20 ms | $lat50 ms | $(verdict "$lat50" "<=" 20) |"
  echo "| enqueue → start, p99 | ≤ 100 ms | $lat99 ms | $(verdict "$lat99" "<=" 100) |"
  echo "| idle worker CPU (the busiest of 5) | < 1 % of a core | $idle_cpu % | $(verdict "$idle_cpu" "<" 1) |"
  echo "| idle worker resident memory (the largest of 5) | < 10 MiB | $idle_rss MiB (the driver alone: ${floor_rss:-not measured} MiB) | $(verdict "$idle_rss" "<" 10) |"
  echo "| database server CPU, 5 idle workers + mtqd | < 2 % of a core | $db_cpu % | $(verdict "$db_cpu" "<" 2) |"
  echo
  echo "## Throughput: burn-downs and the ceiling"
  echo
  echo "Each burn-down enqueues $BURN_N tasks into a fresh database (mtq-bench fill, through"
  echo "mtq_client_enqueue_many), then starts mtqd and the workers, and reads the tasks ended (the"
  echo "documents of results, by \$collStats: one query, where the backlog is one per segment) every 50 ms, or less often when a read costs more than a tenth of that. The rate is the tasks ended between the first read that"
  echo "shows a task ended (so start-up is not counted) and the read that finds all of them ended"
  echo "empty, over the time between those reads; a burn-down still running after $BURN_S s is"
  echo "measured over those $BURN_S s ($BURN_N tasks in $BURN_S s is $((BURN_N / BURN_S)) tasks/s: a store slower than that"
  echo "is cut off, and its rate is that of the start of its burn-down)."
  echo
  echo "| | tasks/s (median) | runs | tasks ended per run | emptied |"
  echo "|---|---|---|---|---|"
  for x in "b1x8:1 worker × 8 slots" "b1x16:1 worker × 16 slots" "b4x4:4 workers × 4 slots" "old1x8:1 worker × 8 slots, store of $baseline (today)" \
      "j1x16:1 worker × 16 slots, on mongo-java-server" "j4x4:4 workers × 4 slots, on mongo-java-server"; do
    k=${x%%:*}
    [[ -n "$(median "$k" drain_per_s)" ]] || continue
    echo "| ${x#*:} | $(median "$k" drain_per_s) | $(values "$k" drain_per_s) | $(values "$k" drain_tasks) | $(values "$k" drain_emptied) |"
  done
  echo "| batched ceiling, batches of 8 | $ceil | $(values ceil ceiling_per_s) | $(values ceil ceiling_tasks) | $(values ceil ceiling_complete) |"
  echo "| the same writes one task at a time | $ceil1 | $(values ceil1 ceiling_per_s) | $(values ceil1 ceiling_tasks) | $(values ceil1 ceiling_complete) |"
  echo
  echo "**The batched ceiling** (bench/ceiling.c) is the fewest round trips that burn down"
  echo "pre-enqueued tasks under mtq's protocol, from one C client with no queue logic: the same"
  echo "$CEIL_N task documents (built by mtq_task_build), in live collections of $CEIL_SEGMENT (bounded, like"
  echo "the store's segments), then per batch of 8: find 8 queued tasks; insert 8 leases; insert 8"
  echo "claims; mark the 8 running (one update, \`_id \$in\`); insert 8 events; insert 8 outcomes"
  echo "into results; insert 8 events; delete the 8 live documents; delete the 8 leases (one delete"
  echo "each, \`_id \$in\`); insert 8 run records. One read and nine writes for 8 tasks, each insert"
  echo "unordered, on collections of its own (ceiling.*). The end lock mtq inserts today"
  echo "(claims/<id>:<token>:end) is not among these writes, so the ceiling does not pay for it."
  echo "Batches of 8 because one worker × 8 slots never has more than 8 tasks to claim or end."
  echo
  echo "## Drain rate against backlog"
  echo
  if ((plotted)); then echo "![drain rate against backlog](drain.png)"; echo; fi
  echo "One database, filled level by level through mtq_client_enqueue_many (batches of 2,000, at"
  echo "most $LEVEL_FILL_S s per level; a level not reached in that time is measured where the fill stopped)."
  echo "At each level: the claim and end of one task at a time ($PROBE_REPEAT rounds, medians) and"
  echo "of 8 at a time (per task), by mtq_store_poll, mtq_store_claim_many and mtq_store_end_many with"
  echo "no daemon running (at most $PROBE_S s); then ${REPS} drain window$( ((REPS > 1)) && echo s) of mtqd +"
  echo "1 worker × 8 slots, each after a top-up to the level, each counting at most $DRAIN_N tasks"
  echo "(and at most half the level) or $DRAIN_S s, as the burn-downs do. A rate of 0 means that no task"
  echo "ended within $DRAIN_S s of the worker's start (today's store at a large backlog)."
  echo
  echo "| level | queued | fill tasks/s | drain tasks/s (median) | runs | poll ms | claim ms | end ms | claim / end ms per task, 8 at a time |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for level in $LEVELS; do
    p="lvl${level}_probe_probe"
    echo "| $level | ${r[lvl${level}_fill_fill_backlog]:-–}$( [[ "${r[lvl${level}_fill_fill_complete]:-no}" == yes ]] || echo ' (not filled)') | ${r[lvl${level}_fill_fill_per_s]:-–} | $(lvl_rate "$level") | $(values "lvl$level" drain_per_s) | ${r[${p}_one_poll_ms]:-–} | ${r[${p}_one_claim_ms]:-–} | ${r[${p}_one_end_ms]:-–} | ${r[${p}_batch_claim_ms]:-–} / ${r[${p}_batch_end_ms]:-–} (${r[${p}_batch_rounds]:-0} rounds) |"
  done
  echo
  echo "## Bulk enqueue"
  echo
  echo "$ENQ_N tasks from one producer into a fresh database with no worker, mtq_client_enqueue_many"
  echo "with $ENQ_BATCH tasks a call: $(values enq enqueue_per_s) tasks/s (median $enq)."
  echo "The insert ceiling beside each run (mtq-bench inserts: the same task documents built by"
  echo "mtq_task_build, $ENQ_BATCH to an unordered insert, into collections of 512, with no channel"
  echo "read, back-pressure, dedupe, signature, listing or wake-up): $(values ins inserts_per_s) tasks/s"
  echo "(median $ins), so mtq reaches $(ratio "$enq" "$ins") of what the database takes."
  if ((cli_batch)); then
    echo "\`mtq enqueue --batch FILE\` ($ENQ_N lines of JSON, one task each, timed with the process"
    echo "start, tasks counted by mtq_store_backlog): $(values clienq per_s) tasks/s."
  else
    echo "The CLI of this tree has no \`mtq enqueue --batch\`: not measured."
  fi
  echo
  echo "## Latency, enqueue to start"
  echo
  echo "One worker × 8 slots, idle, with the default poll interval (1000 ms). $LAT_N tasks a run, one at"
  echo "a time, each after a random pause of 0..$LAT_GAP_MS ms (so that tasks arrive at every point of"
  echo "the poll cycle) and waited for to its end; start is the task's claimed_at, enqueue its"
  echo "created_at (set before the insert)."
  echo
  echo "| | p50 | p99 | max |"
  echo "|---|---|---|---|"
  echo "| enqueue → claimed (ms), per run | $(values lat start_p50_ms) | $(values lat start_p99_ms) | $(values lat start_max_ms) |"
  echo "| enqueue → result seen by the producer (ms) | $(values lat result_p50_ms) | $(values lat result_p99_ms) | |"
  echo
  echo "## Idle"
  echo
  echo "5 workers × 4 slots and mtqd on an empty channel, measured after ${IDLE_SETTLE_S} s in ${REPS}"
  echo "window$( ((REPS > 1)) && echo s) of $IDLE_S s: CPU is utime + stime from /proc/PID/stat over the window,"
  echo "resident memory VmRSS from /proc/PID/status at its end (which counts in full every page of"
  echo "a shared library the process touched, libcrypto's 3.4 MiB first), and beside it Pss from"
  echo "/proc/PID/smaps_rollup (shared pages divided among the processes that map them)."
  echo "Beside them runs mtq-bench-floor (bench/floor.c): a program of libmongoc alone that connects,"
  echo "pings and sleeps, the least any process using this machine's MongoDB C driver keeps resident"
  echo "(the driver's automatic initialisation sets OpenSSL up before main, touching most of libcrypto)."
  echo
  echo "| | per window |"
  echo "|---|---|"
  echo "| busiest worker, % of a core | $(values idle worker_cpu_pct) |"
  echo "| largest worker, MiB resident (VmRSS) | $(values idle worker_rss_mib) |"
  echo "| largest worker, MiB proportional (Pss) | $(values idle worker_pss_mib) |"
  echo "| the driver's floor (mtq-bench-floor: libmongoc alone, connected, idle), MiB resident | $(values idle floor_rss_mib) |"
  echo "| mtqd, % of a core / MiB | $(values idle mtqd_cpu_pct) / $(values idle mtqd_rss_mib) |"
  echo "| database server (FerretDB), % of a core | $(values idle db_cpu_pct) |"
  echo
  echo "## Commands"
  echo
  echo "Quick check: \`bash bench/run.sh --quick\` (about 10 min). Full run: \`bash bench/run.sh\`"
  echo "(up to about 45 min on the new store). This run's settings: REPS=$REPS BURN_N=$BURN_N"
  echo "BURN_S=$BURN_S CEIL_N=$CEIL_N ENQ_N=$ENQ_N LEVELS=\"$LEVELS\" LEVEL_FILL_S=$LEVEL_FILL_S"
  echo "CEIL_SEGMENT=$CEIL_SEGMENT DRAIN_N=$DRAIN_N DRAIN_S=$DRAIN_S PROBE_S=$PROBE_S LAT_N=$LAT_N IDLE_S=$IDLE_S BASELINE=$baseline."
  echo "What it ran (\$DB is the bench's server, mongodb://127.0.0.1:$port$( [[ -n "$js_base" ]] && echo ", \$JSDB mongo-java-server, $js_base")):"
  echo
  echo '```'
  cat "$work/commands.txt"
  echo '```'
} > "$report"
cat "$report"
