#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_browser.sh - the dashboard (web/assets/) in headless Chromium against
# a real mtq-web over the real database, with real tasks:
#   1. the database, mtqd, two workers (w1 on channel default; w2 on other,
#      where it runs signed tasks only, so unsigned ones end failed) and a
#      third worker killed with SIGKILL, which mtqd marks lost;
#   2. tasks that end done, dead (fail.sh, 2 attempts) and failed (unsigned),
#      one delayed an hour, one running for the whole test, three queued for
#      a function no worker serves, and three flows: one done (prep, a
#      4-shard step and another after it, a merge after both), one failed (a
#      shard fails), one running (its step waits for that function), all
#      settled before the pages;
#   3. mtq-web on a free loopback port with a users file (an operator and a
#      reader), then tests/browser/dashboard.py, which logs in through the
#      form and checks each page against what the shell read with the CLI
#      (the overview's counts equal `mtq stats --json`), disables a queued
#      task and sets a priority with the buttons (seen in the page and in
#      `mtq show`, the actor in its history), sees a refused action's
#      message, cancels one after its confirm, suspends and resumes the
#      running flow with its buttons, and
#      saves a screenshot of each page;
#   4. as the reader, no action button is shown and an action is refused.
# MTQ_DOCS_SCREENSHOTS=DIR also writes the PNGs kept in docs/ there.
# Timing: every wait is for a condition (60 s at most for what takes
# seconds); Chromium's start is a few seconds; the whole takes about 40 s.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27920 150

MTQ_WEB="${MTQ_WEB_BIN:-$MTQ_BUILD/web/mtq-web}"
PY=/usr/bin/python3
[[ -x "$MTQ_WEB" ]] || fail "$MTQ_WEB is missing: build the project first"
for b in /usr/bin/chromium /usr/bin/chromedriver "$PY"; do
  [[ -x "$b" ]] || fail "$b is missing (Debian packages chromium, chromium-driver, python3: deploy/setup.sh)"
done

worker_function shard "/bin/sh $FN/shard.sh"
worker_function slowecho "/bin/sh $FN/slowecho.sh"
start_mtqd
umask 077
head -c 48 /dev/urandom | base64 >"$TMP/k1.key"
umask 022
start_worker w1 2
start_worker w2 2 "channels = other" "" "[security]" "keys = k1:$TMP/k1.key"
start_worker w3 1
crash_worker w3

# --- 2. tasks --------------------------------------------------------------------------
ids() { local i; for ((i = 0; i < $1; i++)); do enqueue "${@:2}" || return 1; done; }
mapfile -t done_ids < <(ids 6 --func echo --args '{"n": 1}')
mapfile -t dead_ids < <(ids 2 --func fail --max-attempts 2 --backoff 0.2)
other() { cli enqueue --channel other --func echo "$@"; }
good="$(MTQ_SIGN_KEYS="k1:$TMP/k1.key" other --args '{"signed": true}')" || fail "signed enqueue"
failed_ids=("$(other --args '{"signed": false}')" "$(other --args '{"signed": false}')")
delayed="$(enqueue --func echo --delay 3600)" || fail "delayed enqueue"
running="$(enqueue --func slowecho --args '{"sleep": 300}' --priority 3)" || fail "enqueue slowecho"
# A function no worker serves (--force): these stay queued.
mapfile -t queued_ids < <(ids 3 --func report --force --priority 1 --args '{"month": 11}')
((${#done_ids[@]} == 6 && ${#dead_ids[@]} == 2 && ${#queued_ids[@]} == 3)) || fail "enqueue failed"
cat >"$TMP/flow.json" <<'EOF'
{"name": "nightly", "channel": "default", "steps": [
  {"name": "prep", "func": "echo", "args": {"day": "2026-12-04"}},
  {"name": "predict", "func": "shard", "after": "prep", "shards": 4},
  {"name": "check", "func": "echo", "after": "prep"},
  {"name": "merge", "func": "echo", "after": ["predict", "check"]}]}
EOF
flow="$(cli flow submit "$TMP/flow.json")" || fail "flow submit"
# Shard 1 fails its only attempt: the flow fails, its merge is skipped.
cat >"$TMP/failing.json" <<'EOF'
{"name": "weekly", "channel": "default", "max-attempts": 1, "steps": [
  {"name": "predict", "func": "shard", "shards": 3, "args": {"fail": 1}},
  {"name": "merge", "func": "echo", "after": "predict"}]}
EOF
failing="$(cli flow submit "$TMP/failing.json")" || fail "flow submit (failing)"
# A step of the function no worker serves: this flow runs for the whole test.
cat >"$TMP/running.json" <<'EOF'
{"name": "monthly", "channel": "default", "steps": [
  {"name": "extract", "func": "report", "force": true, "args": {"month": 12}},
  {"name": "publish", "func": "echo", "after": "extract"}]}
EOF
running_flow="$(cli flow submit "$TMP/running.json")" || fail "flow submit (running)"
flow_is() { [[ "$(cli --json flow show "$1" | jget status)" == "$2" ]]; }
step_is() { [[ "$(cli --json flow show "$1" | jget "steps.$2.state")" == "$3" ]]; }

wait_until 60 flow_is "$flow" done || fail "the flow did not end done: $(cli flow show "$flow")"
wait_until 60 flow_is "$failing" failed || fail "the failing flow is: $(cli flow show "$failing")"
wait_until 60 step_is "$running_flow" 0 running || fail "the running flow: $(cli flow show "$running_flow")"
shard_dead="$(cli --json flow show "$failing" | jget steps.0.tasks.1)"
for id in "${done_ids[@]}" "$good"; do
  wait_until 30 status_is "$id" done || fail "task $id is $(task_status "$id")"
done
for id in "${dead_ids[@]}"; do wait_until 30 status_is "$id" dead || fail "task $id is $(task_status "$id")"; done
for id in "${failed_ids[@]}"; do wait_until 30 status_is "$id" failed || fail "task $id is $(task_status "$id")"; done
wait_until 30 status_is "$running" running || fail "the slow task is $(task_status "$running")"
wait_until 30 worker_state_is w3 lost || fail "w3 was not marked lost"
wait_until 30 status_is "$shard_dead" dead || fail "the failing shard is $(task_status "$shard_dead")"
log "tasks settled: 15 done and 3 dead on default, 1 done and 2 failed on other; flows done, failed, running; w3 lost"

# --- 3. mtq-web and the browser ----------------------------------------------------------
hash_pw() { printf '%s\n' "$1" | "$MTQ_WEB" --hash-password; }
umask 077
{
  printf 'op:operator:%s\n' "$(hash_pw op-secret-1)"
  printf 'viewer:read:%s\n' "$(hash_pw viewer-secret-1)"
} >"$TMP/web-users"
umask 022
WEB_PORT=""
for ((p = PORT + 25; p < PORT + 45; p++)); do
  port_open "$p" || { WEB_PORT="$p"; break; }
done
[[ -n "$WEB_PORT" ]] || fail "no free port for mtq-web"
cat >"$TMP/web.ini" <<EOF
[database]
uri = $URI

[web]
listen = 127.0.0.1:$WEB_PORT
users_file = $TMP/web-users
stats_interval_s = 1
EOF
start_web web "$TMP/web.ini" "$WEB_PORT"
WEB="http://127.0.0.1:$WEB_PORT/"
log "mtq-web on $WEB (pid $WEB_PID)"

# What the pages must show, as the CLI reads it.
stats="$(cli --json stats)"
flow_json="$(cli --json flow show "$flow")"
steps="" edges=0
for ((i = 0; i < $(jlen steps <<<"$flow_json"); i++)); do
  name="$(jget "steps.$i.name" <<<"$flow_json")"
  steps+="${steps:+, }\"$name\": {\"state\": \"$(jget "steps.$i.state" <<<"$flow_json")\","
  steps+=" \"shards\": $(jget "steps.$i.shards" <<<"$flow_json"),"
  steps+=" \"done\": $(jget "steps.$i.shards_done" <<<"$flow_json")}"
  edges=$((edges + $(jlen "steps.$i.after" <<<"$flow_json")))
done
q() { printf '"%s"' "$1"; }
list() { local s="" x; for x in "$@"; do s+="${s:+, }$(q "$x")"; done; printf '[%s]' "$s"; }
cat >"$TMP/facts.json" <<EOF
{"stats": $stats,
 "failed": $(list "${failed_ids[@]}"), "dead": $(list "${dead_ids[@]}" "$shard_dead"),
 "dead_attempt2": $(list "${dead_ids[@]}"),
 "queued": $(list "${queued_ids[@]:0:1}"), "refuse": $(q "${queued_ids[1]}"),
 "cancel": $(q "${queued_ids[2]}"),
 "unserved": "report", "min_done": 14, "min_failed": 4,
 "workers": ["w1", "w2"], "lost": ["w3"],
 "flow": $(q "$flow"), "flow_steps": {$steps}, "flow_edges": $edges,
 "flow_failed": $(q "$failing"), "flow_failed_reason": $(q "$(cli --json flow show "$failing" | jget reason)"),
 "flow_running": $(q "$running_flow"),
 "functions": $(cli --json functions)}
EOF
MTQ_KEEP+=("$TMP/facts.json")
mkdir -p "$TMP/shots"
timeout 90 "$PY" "$MTQ_ROOT/tests/browser/dashboard.py" --url "$WEB" --facts "$TMP/facts.json" \
  --out "$TMP/shots" --mtq "$MTQ" --uri "$URI" --user op --password op-secret-1 \
  --reader viewer --reader-password viewer-secret-1 --log "$TMP/chromedriver.log" || {
  MTQ_KEEP+=("$TMP"/shots/*.png "$TMP/chromedriver.log")
  fail "the dashboard's checks failed (its screenshots are kept with the logs)"
}
for page in overview tasks task workers flows flow; do
  [[ -s "$TMP/shots/dashboard-$page.png" ]] || fail "no screenshot of the $page page"
done
log "dashboard.py: every page checked, 7 screenshots"

# --- the PNGs of docs/ -----------------------------------------------------------------------
if [[ -n "${MTQ_DOCS_SCREENSHOTS:-}" ]]; then
  timeout 60 "$PY" "$MTQ_ROOT/tests/browser/dashboard.py" --url "$WEB" \
    --screenshots "$MTQ_DOCS_SCREENSHOTS" --user op --password op-secret-1 ||
    fail "the screenshots for docs/ failed"
  log "screenshots for docs/ written to $MTQ_DOCS_SCREENSHOTS"
fi
