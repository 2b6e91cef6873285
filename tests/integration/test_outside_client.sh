#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_outside_client.sh - tasks from a producer that is not mtq.  A Python
# program (pymongo: Debian's python3-pymongo, run by /usr/bin/python3, not
# whatever python3 is first on PATH) inserts tasks with only the fields
# schemas/task.schema.json requires straight into q.default.p<N>: README's
# example ("Producing tasks from another language") as it is written there,
# and a batch whose fields are read from the schema's "required" list for a
# task (its "else" branch; the "then" branch is a quarantine record).  A
# real worker runs them, and each must end done in results with its lane
# document gone (mtq ls --status queued and mtq stats count none queued);
# its run record's wait_ms must be small, not counted from 1970; mtq show
# must show it.  A task no worker serves stays queued meanwhile: mtq show
# reads it with the schema's defaults, and mtq set-priority and mtq cancel
# move and end it without leaving a lane document behind.
#
# Checks that fail are collected and reported together at the end, so that
# one defect does not hide the others.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

PYTHON=/usr/bin/python3
"$PYTHON" -c 'import pymongo' 2>/dev/null ||
  fail "$PYTHON cannot import pymongo: apt-get install python3-pymongo (deploy/setup.sh does)"
mtq_setup 27460 240

problems=()
problem() {
  log "PROBLEM: $*"
  problems+=("$*")
}

N=12
SCHEMA="$MTQ_ROOT/schemas/task.schema.json"
# README's example enqueues square; here echo.sh serves it (its result is
# its args), which is all this test needs of a function.
worker_function square "/bin/sh $FN/echo.sh"
start_mtqd
start_worker w1 2

# --- the producer ------------------------------------------------------------

# README's example, taken from README and pointed at the test's database.
example="$TMP/readme_example.py"
awk '/^## Producing tasks from another language/ {s = 1; next}
     s && /^## / {exit}
     s && /^```python$/ {p = 1; next}
     p && /^```$/ {exit}
     p' "$MTQ_ROOT/README.md" >"$example"
grep -q 'insert_one' "$example" || fail "no pymongo example in README's 'Producing tasks from another language'"
sed -i "s|mongodb://127.0.0.1:27017/mtq|$URI|" "$example"

# A batch: every field the schema requires, and no other.
producer="$TMP/producer.py"
cat >"$producer" <<'EOF'
"""producer.py URI SCHEMA FUNC VERSION N: inserts N tasks of FUNC VERSION with
only the fields SCHEMA requires into q.default.p<priority>; prints their ids."""
import json
import sys

from bson import ObjectId
from pymongo import MongoClient

uri, schema, func, version, n = sys.argv[1:6]
# The schema describes queued tasks and quarantine records (if "original"
# then ... else ...); a producer writes the task branch.
required = sorted(json.load(open(schema))["else"]["required"])
db = MongoClient(uri).get_default_database()
for i in range(int(n)):
    task = {"_id": ObjectId(), "func": func, "version": version,
            "args": {"i": i, "by": "pymongo"}, "priority": i % 10,
            "is_enable": True, "status": "queued"}
    if sorted(task) != required:
        sys.exit("producer.py: the schema requires %s, not %s" % (required, sorted(task)))
    db["q.default.p%d" % task["priority"]].insert_one(task)
    print(task["_id"])
EOF

t0_ms=$(($(date +%s) * 1000))
readme_id="$(timeout 60 "$PYTHON" "$example")" || fail "README's example failed: $readme_id"
[[ "$readme_id" =~ ^[0-9a-f]{24}$ ]] || fail "README's example printed '$readme_id', not a task id"
batch="$(timeout 60 "$PYTHON" "$producer" "$URI" "$SCHEMA" echo 1 "$N")" ||
  fail "producer.py failed: $batch"
mapfile -t ids <<<"$batch"
((${#ids[@]} == N)) || fail "producer.py inserted ${#ids[@]} tasks, not $N"
log "README's example inserted $readme_id; producer.py inserted $N schema-minimal tasks"

# --- each task runs, ends done, and leaves nothing in its lane ---------------------

lane_gone() { ! dbedit --where "$1" >/dev/null 2>&1; }
all_lanes_gone() {
  local id
  for id; do lane_gone "$id" || return 1; done
}
ended() { [[ "$(dbedit --count results "{\"_id\": {\"\$oid\": \"$1\"}}")" == 1 ]]; }
all_ended() {
  local id
  for id; do ended "$id" || return 1; done
}
# iso_date < JSON: the ISO time of an extended-JSON date ({"$date": "..."}).
iso_date() { sed -nE 's/.*"\$date" *: *"([^"]+)".*/\1/p'; }

check_done() { # ID EXPECTED_RESULT_JSON
  local id="$1" out rec wait text
  if ! out="$(cli wait "$id" --timeout 5 2>&1)"; then
    problem "task $id: mtq wait failed: $out"
    return
  fi
  [[ "$(jcanon <<<"$out")" == "$(jcanon <<<"$2")" ]] ||
    problem "task $id: result $out, expected $2"
  if ! rec="$(dbedit --find-result "$id")"; then
    problem "task $id: no document in results"
  elif [[ "$(jget status <<<"$rec")" != done ]]; then
    problem "task $id: status '$(jget status <<<"$rec")' in results, expected done"
  fi
  lane_gone "$id" ||
    problem "task $id: done, but its lane document is still in $(dbedit --where "$id"): $(dbedit --find "$id")"
  # One run record, waiting from its creation (the ObjectId's time).
  wait="$(dbedit --count runs "{\"task\": {\"\$oid\": \"$id\"}, \"wait_ms\": {\"\$gte\": 0, \"\$lt\": 30000}}")"
  if [[ "$wait" != 1 ]]; then
    if [[ "$(dbedit --count runs "{\"task\": {\"\$oid\": \"$id\"}, \"wait_ms\": {\"\$gt\": 1000000000000}}")" == 1 ]]; then
      problem "task $id: its run record's wait_ms is over 1e12 ms: counted from 1970"
    else
      problem "task $id: $wait run records with a wait_ms under 30 s, expected 1"
    fi
  fi
  if ! text="$(cli show "$id")"; then
    problem "task $id: mtq show failed"
  else
    grep -Eq '^status[[:space:]]+done$' <<<"$text" || problem "task $id: mtq show: no 'status done'"
    grep -Eq '^created_at[[:space:]]+[0-9]{4}-' <<<"$text" ||
      problem "task $id: mtq show: no created_at date in: $text"
  fi
}

# One deadline for them all: a task left behind (its lane document) is
# reported below rather than waited for task by task.
all=("$readme_id" "${ids[@]}")
wait_until 90 all_ended "${all[@]}" || log "not every task has an outcome after 90 s"
wait_until 10 all_lanes_gone "${all[@]}" || log "lane documents left after 10 s"
check_done "$readme_id" '{"x": 7}'
for ((i = 0; i < N; i++)); do
  check_done "${ids[i]}" "{\"i\": $i, \"by\": \"pymongo\"}"
done
log "checked the $((N + 1)) tasks one by one"

json="$(cli --json show "${ids[3]}")" || problem "mtq --json show ${ids[3]} failed"
for f in func:echo version:1 channel:default priority:3 attempt:1 token:0 max_attempts:3 timeout_s:3600; do
  [[ "$(jget "${f%%:*}" <<<"$json")" == "${f#*:}" ]] ||
    problem "mtq --json show: ${f%%:*} is '$(jget "${f%%:*}" <<<"$json")', expected '${f#*:}'"
done
[[ -n "$(jget created_at <<<"$json" | iso_date)" ]] ||
  problem "mtq --json show: created_at is not a date: $(jget created_at <<<"$json")"

queued="$(cli --json ls --status queued | jlen .)"
[[ "$queued" == 0 ]] || problem "mtq ls --status queued lists $queued tasks, expected none"
stats="$(cli --json stats)" || problem "mtq stats failed"
[[ "$(jget default.queued <<<"$stats")" == 0 ]] ||
  problem "mtq stats counts $(jget default.queued <<<"$stats") queued, expected 0"
[[ "$(jget default.done <<<"$stats")" == $((N + 1)) ]] ||
  problem "mtq stats counts $(jget default.done <<<"$stats") done, expected $((N + 1))"

# --- a task no worker serves: shown, moved and cancelled -------------------------

waiting="$(timeout 60 "$PYTHON" "$producer" "$URI" "$SCHEMA" echo 9 1)" ||
  fail "producer.py failed (version 9)"
lane="$(dbedit --where "$waiting")" || fail "task $waiting of version 9 is in no lane"
text="$(cli show "$waiting")" || fail "mtq show $waiting failed"
for line in 'channel +default' 'status +queued' 'token +0' 'attempt +0' 'max_attempts +3' 'timeout_s +3600' \
            'retry_backoff +1000\.\.300000 ms' 'created_at +[0-9]{4}-'; do
  grep -Eq "^$line" <<<"$text" || problem "mtq show of a waiting outside task: no /$line/ in: $text"
done
# Its ObjectId was made after t0 (to the second): so is its created_at.
created="$(cli --json show "$waiting" | jget created_at | iso_date)"
created_ms="$(date -d "${created:-1970-01-01T00:00:00Z}" +%s)000"
((created_ms >= t0_ms - 1000 && created_ms <= $(date +%s)000)) ||
  problem "created_at of the waiting task is '$created', not the time it was inserted"

cli set-priority "$waiting" 7 >/dev/null || problem "mtq set-priority $waiting 7 failed"
in_priority "$waiting" 7 ||
  problem "after set-priority 7 the task is in '$(dbedit --where "$waiting")', not priority 7's lane"
[[ "$(dbedit --count "$lane" "{\"_id\": {\"\$oid\": \"$waiting\"}}")" == 0 ]] ||
  problem "after set-priority 7 the task is still in $lane too"
cli cancel "$waiting" >/dev/null || problem "mtq cancel $waiting failed"
[[ "$(jget status <<<"$(dbedit --find-result "$waiting")")" == cancelled ]] ||
  problem "the cancelled outside task is not cancelled in results"
wait_until 10 lane_gone "$waiting" ||
  problem "the cancelled outside task is still in $(dbedit --where "$waiting")"
queued="$(cli --json ls --status queued | jlen .)"
[[ "$queued" == 0 ]] || problem "after the cancel mtq ls --status queued lists $queued tasks"

if ((${#problems[@]})); then
  printf '  - %s\n' "${problems[@]}" >&2
  fail "${#problems[@]} problem(s) with tasks from an outside producer"
fi
log "every outside task ran or ended, each once, leaving no lane document"
