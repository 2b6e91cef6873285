#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_functions.sh - the function registry and the sync of a function_dir,
# with a real git repository made here (origin) and a clone the worker reads:
#   1. version 1 from the clone runs; `mtq functions` shows it with the
#      digest sha256sum computes, and the worker;
#   2. a task for version 2 waits (queued) while version-1 tasks run; the
#      worker syncs, does not find it, reports it missing (`mtq functions`,
#      `mtq show`, its log); version 2 is committed in origin; the worker
#      syncs, rescans and runs the waiting task;
#   3. a version that never comes stays missing; syncs are rate-limited
#      (counted in the log: at most one per sync_interval_s);
#   4. bad manifests are refused with file and line, and lose nothing;
#   5. a sync command that hangs is killed after sync_timeout_s while the
#      worker keeps serving;
#   6. a changed file takes effect at the next task (and its digest at the
#      next rescan);
#   7. the registry's documents match schemas/function.schema.json.
# Timing: sync_interval_s = 2 here (the default is 60), so each cycle (probe,
# sync, rescan) comes within 2 s; each wait for one allows 20-30 s.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27880 300

git_() { git -c user.name=mtq-test -c user.email=test@mtq.invalid "$@" >>"$TMP/git.log" 2>&1; }
ORIGIN="$TMP/origin"
CLONE="$TMP/clone"

# version_dir DIR NAME VERSION: a function version that prints its version.
version_dir() {
  local d="$1/functions/$2/$3"
  mkdir -p "$d"
  printf '#!/bin/sh\ncat >/dev/null\necho '"'"'{"version": "%s"}'"'"'\n' "$3" >"$d/run.sh"
  chmod +x "$d/run.sh"
  printf '[function]\ncommand = ./run.sh\ndescription = says its version\n' >"$d/mtq.ini"
  printf 'developer = Ada\ncontact = ada@example.com\n' >>"$d/mtq.ini"
}
commit_origin() { git_ -C "$ORIGIN" add -A && git_ -C "$ORIGIN" commit -qm "$1"; }

mkdir -p "$ORIGIN"
git_ -C "$ORIGIN" init -q
version_dir "$ORIGIN" square 1
echo "functions of the test" >"$ORIGIN/functions/README"
commit_origin "square version 1"
git_ clone -q "$ORIGIN" "$CLONE"
FDIR="$CLONE/functions"

digest_of() {
  (cd "$1" && find -L . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum |
    sha256sum | cut -c1-64)
}
# fn_field NAME VERSION FIELD: a field of that version's entry in `mtq --json functions`.
fn_field() {
  local json n i
  json="$(cli --json functions)" || return 1
  n="$(jlen . <<<"$json")" || return 1
  for ((i = 0; i < n; i++)); do
    if [[ "$(jget "$i.name" <<<"$json")" == "$1" && "$(jget "$i.version" <<<"$json")" == "$2" ]]; then
      jget "$i.$3" <<<"$json"
      return
    fi
  done
  return 1
}
fn_field_is() { [[ "$(fn_field "$1" "$2" "$3" 2>/dev/null)" == "$4" ]]; }
result_is() { [[ "$(task_field "$1" result.version 2>/dev/null)" == "$2" ]]; }
syncs() { grep -c 'sync: running' "$TMP/worker-$1.log" || true; }
logged() { grep -q -- "$2" "$TMP/worker-$1.log"; }

start_mtqd
start_worker w1 2 "function_dir = $FDIR" "sync_command = git -C $CLONE pull --ff-only" \
  "sync_interval_s = 2" "sync_timeout_s = 20"

# --- 1. version 1 from the directory ------------------------------------------------
id1="$(enqueue --func square --version 1)" || fail "enqueue square 1"
wait_until 30 result_is "$id1" 1 || fail "square 1: $(cli show "$id1")"
d1="$(digest_of "$FDIR/square/1")"
wait_until 20 fn_field_is square 1 digest "$d1" ||
  fail "square 1's digest is '$(fn_field square 1 digest)', sha256sum says $d1"
assert_eq w1 "$(fn_field square 1 workers.0.id)" "the worker serving square 1"
assert_eq true "$(fn_field square 1 workers.0.live)" "w1 live"
assert_eq Ada "$(fn_field square 1 developer)" "square 1's developer"
assert_eq "$FDIR/square/1/run.sh" "$(fn_field square 1 command.0)" "square 1's command, made absolute"
log "square 1 ran from the clone; registry digest $d1 = sha256sum's"

# --- 2. version 2 waits, is missing, then comes -----------------------------------------
id2="$(enqueue --func square --version 2 --force)" || fail "enqueue square 2"
for i in 1 2 3; do
  idv1="$(enqueue --func square --version 1)" || fail "enqueue square 1"
  wait_until 30 result_is "$idv1" 1 || fail "square 1 (#$i) while version 2 waits"
done
wait_until 30 fn_field_is square 2 missing.0.worker w1 ||
  fail "square 2 not reported missing: $(cli functions)"
assert_eq queued "$(task_status "$id2")" "the version-2 task while version 2 is missing"
out="$(cli functions)"
assert_contains "$out" "MISSING square version 2" "mtq functions on the missing version"
assert_contains "$out" "does not exist after sync_command (exit status 0)" "why it is missing"
assert_contains "$(cli show "$id2")" "no worker serves square version 2" "mtq show of the waiting task"
logged w1 "no worker serves square version 2" || fail "no warning in the log of w1"
((syncs_before = $(syncs w1))) || fail "w1 ran no sync for square 2"
log "square 2 waits ($syncs_before sync(s) so far), reported missing"

version_dir "$ORIGIN" square 2
commit_origin "square version 2"
wait_until 30 result_is "$id2" 2 || fail "square 2 after the push: $(cli show "$id2")"
d2="$(digest_of "$FDIR/square/2")"
wait_until 20 fn_field_is square 2 digest "$d2" || fail "square 2's digest: $(cli --json functions)"
assert_eq "" "$(fn_field square 2 missing.0.worker 2>/dev/null || true)" "square 2 missing after it came"
assert_eq "$d1" "$(fn_field square 1 digest)" "square 1's digest after the push"
logged w1 "serving square version 2" || fail "w1 did not log the new version"
log "square 2 came with the push and ran; registry: 1 ($d1) and 2 ($d2) on w1"

# --- 3. a version that never comes; syncs rate-limited ------------------------------------
id9="$(enqueue --func square --version 9 --force)" || fail "enqueue square 9"
wait_until 30 fn_field_is square 9 missing.0.worker w1 || fail "square 9 not reported missing"
s0="$(syncs w1)"
sleep 10
s1="$(syncs w1)"
n=$((s1 - s0))
((n >= 2 && n <= 6)) || fail "$n syncs in 10 s with sync_interval_s = 2 (expected 2..6)"
assert_eq queued "$(task_status "$id9")" "the square 9 task"
log "square 9 stays missing and queued; $n syncs in 10 s (interval 2 s)"

# --- 4. bad manifests ----------------------------------------------------------------
version_dir "$ORIGIN" square 3
printf '[function]\ncommand = ./run.sh\ncolour = red\n' >"$ORIGIN/functions/square/3/mtq.ini"
mkdir -p "$ORIGIN/functions/bad name/1" "$ORIGIN/functions/cube/1" "$ORIGIN/functions/cube/2" \
  "$ORIGIN/functions/cube/3" "$ORIGIN/functions/cube/4"
echo x >"$ORIGIN/functions/bad name/1/x"
printf '[function]\ndescription = no command\n' >"$ORIGIN/functions/cube/1/mtq.ini"
echo x >"$ORIGIN/functions/cube/2/notes"
printf '[function]\ncommand = ./missing.sh\n' >"$ORIGIN/functions/cube/3/mtq.ini"
printf '[database]\nuri = mongodb://elsewhere/mtq\n[function]\ncommand = /bin/true\n' \
  >"$ORIGIN/functions/cube/4/mtq.ini"
commit_origin "bad manifests"
id3="$(enqueue --func square --version 3 --force)" || fail "enqueue square 3"
for want in "square/3/mtq.ini:3: \[function\] colour: unknown key" \
  "'bad name' is not a valid function name" "cube/1/mtq.ini: \[function\] has no command" \
  "cube/2/mtq.ini: missing" "command ./missing.sh: no such file" \
  "cube/4/mtq.ini: a manifest holds \[function\] only"; do
  wait_until 30 logged w1 "$want" || fail "w1's log lacks '$want'"
done
wait_until 30 fn_field_is square 3 missing.0.worker w1 || fail "square 3 not reported missing"
assert_contains "$(fn_field square 3 missing.0.why)" "mtq.ini:3" "why square 3 is missing"
idb="$(enqueue --func square --version 2)" || fail "enqueue square 2 after the bad push"
wait_until 30 result_is "$idb" 2 || fail "square 2 after the bad manifests"
assert_eq "$d1" "$(fn_field square 1 digest)" "square 1 after the bad manifests"
log "6 bad manifests refused with file (and line); square 1 and 2 still served"

# --- 5. a sync that hangs ---------------------------------------------------------------
worker_function only2 "/bin/sh $FN/echo.sh"
mkdir -p "$TMP/empty"
start_worker w2 1 "function_dir = $TMP/empty" "sync_command = /bin/sleep 613" \
  "sync_interval_s = 2" "sync_timeout_s = 4"
sleeping() { pgrep -f "sleep 613" >/dev/null; }
wait_until 30 sleeping || fail "w2's sync did not start (square 9 is wanted)"
ido="$(enqueue --func only2 --args '{"x": 1}')" || fail "enqueue only2"
wait_until 20 status_is "$ido" done || fail "w2 did not serve while its sync hung"
wait_until 20 logged w2 "still running after 4 s (sync_timeout_s): stopping it" ||
  fail "w2's hanging sync was not stopped"
wait_until 15 logged w2 "sync: killed after 4 s (sync_timeout_s)" ||
  fail "w2 did not report its sync killed"
! sleeping || fail "the sleep of w2's sync outlived its kill"
log "w2's hanging sync killed after its 4 s timeout; w2 served only2 meanwhile"

# --- 6. a changed file takes effect at the next task --------------------------------------
printf '#!/bin/sh\ncat >/dev/null\necho '"'"'{"version": "1b"}'"'"'\n' >"$FDIR/square/1/run.sh"
idc="$(enqueue --func square --version 1)" || fail "enqueue square 1 after the change"
wait_until 30 result_is "$idc" 1b || fail "the changed run.sh did not take effect: $(cli show "$idc")"
d1b="$(digest_of "$FDIR/square/1")"
[[ "$d1b" != "$d1" ]] || fail "the digest did not change with the file"
wait_until 20 fn_field_is square 1 digest "$d1b" || fail "square 1's digest did not follow the file"
log "a changed run.sh ran at the next task; the registry's digest followed ($d1b)"

# --- 7. the documents against the schema ----------------------------------------------
dbedit --docs functions >"$TMP/functions.jsonl"
/usr/bin/python3 "$MTQ_ROOT/tests/integration/schema_check.py" "$MTQ_ROOT/schemas/function.schema.json" \
  <"$TMP/functions.jsonl" 2>"$TMP/schema.txt" || fail "schema: $(cat "$TMP/schema.txt")"
log "$(wc -l <"$TMP/functions.jsonl") functions documents match the schema"
cli functions >&2

stop_worker w2
stop_worker w1

# --- 8. the documents of a worker gone for good go -------------------------------------
# w2's whoami document is removed (as if it last heartbeat long ago); the
# leader prunes at its first metrics write after it starts, then hourly.
names_w2() {
  cli --json functions | python3 -c 'import json, sys
print(sum(w["id"] == "w2" for f in json.load(sys.stdin) for w in f["workers"]))'
}
(($(names_w2) > 0)) || fail "w2 has no registry documents to prune"
dbedit --delete whoami '{"_id": "w2"}' >/dev/null || fail "cannot remove w2's whoami document"
MTQ__GONE[$MTQD_PID]=1
stop_pid "$MTQD_PID" 15 || fail "mtqd did not stop cleanly"
start_mtqd
w2_gone() { (($(names_w2) == 0)); }
wait_until 30 w2_gone || fail "w2's registry documents were not pruned: $(cli functions)"
grep -q "function registry document.* of workers silent for a day" "$TMP/mtqd.log" ||
  fail "mtqd did not say what it pruned"
log "the registry documents of w2, gone for good, were pruned by mtqd"
log "passed"
