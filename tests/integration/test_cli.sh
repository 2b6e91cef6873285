#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_cli.sh - what a new user trips on first in the CLI, against a real
# server: global options after the subcommand (mtq show ID --json), doubles
# in JSON printed short (a result's 0.1, a worker's load as it reported
# it), mtq ls in priority order whatever the status, mtq stats without the
# workers' own to.<worker> channels in its table, the message of a bad URI.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27480 200

start_mtqd "dispatch_interval_ms = 200"
start_worker w1 1
start_worker w2 1

# --- global options anywhere --------------------------------------------------------

id="$(enqueue --func echo --args '{"x": 0.1, "y": 4.69, "z": 1e-7, "w": 3.0, "n": 2}')" ||
  fail "enqueue failed"
cli wait "$id" --timeout 60 >/dev/null || fail "mtq wait $id failed"

before="$(cli --json show "$id" | jcanon)" || fail "mtq --json show ID failed"
for form in "show $id --json" "show --json $id" "show $id --json --history"; do
  # shellcheck disable=SC2086 # the words of the form
  run cli $form
  ((RC == 0)) || fail "mtq $form: exit $RC: $ERR"
  if [[ "$form" == *--history ]]; then
    assert_eq "$before" "$(jget task <<<"$OUT" | jcanon)" "the task of mtq $form"
    [[ "$(jlen events <<<"$OUT")" -ge 2 ]] || fail "mtq $form: no events: $OUT"
  else
    assert_eq "$before" "$(jcanon <<<"$OUT")" "mtq $form"
  fi
done
# --uri after the command, and winning over MTQ_URI as it does before it.
run env MTQ_URI=mongodb://127.0.0.1:1/mtq timeout 60 "$MTQ" ls --status done --uri "$URI" --json
((RC == 0)) || fail "mtq ls ... --uri URI (after the command) failed: exit $RC: $ERR"
assert_eq "$id" "$(jget 0._id <<<"$OUT")" "the task listed by mtq ls --uri URI after the command"
# The subcommands' own options are still theirs; mistakes still say so.
run cli ls --json=yes
expect_refused "mtq ls --json=yes" 2 "option '--json' takes no value"
run cli show "$id" --nope
expect_refused "mtq show ID --nope" 2 "unknown option '--nope'"
run cli ls --uri
expect_refused "mtq ls --uri (no value)" 2 "option '--uri' needs an argument"

# --- doubles, short ---------------------------------------------------------------------

# jq-free: the JSON text itself is what a user sees.  No number in any
# --json output may carry libbson's 20 significant digits.
long_number='[0-9]\.?[0-9]{17,}'
out="$(cli wait "$id")"
assert_eq '{ "x" : 0.1, "y" : 4.69, "z" : 1e-07, "w" : 3.0, "n" : 2 }' "$out" "mtq wait's result"
json="$(cli show "$id" --json)"
assert_contains "$json" '"result" : { "x" : 0.1, "y" : 4.69, "z" : 1e-07, "w" : 3.0, "n" : 2 }' \
  "mtq show --json's result"
grep -Eq '"\$oid" : "[0-9a-f]{24}"' <<<"$json" || fail "mtq show --json lost its {\"\$oid\": ...}: $json"
grep -Eq '"created_at" : \{ "\$date" : "[0-9T:.Z-]+" \}' <<<"$json" ||
  fail "mtq show --json lost its {\"\$date\": ...}: $json"
text="$(cli show "$id")"
grep -Eq '^result +\{ "x" : 0\.1, "y" : 4\.69,' <<<"$text" || fail "mtq show's result line: $text"

# A worker's load, as a whoami document written by hand (a worker reports
# what /proc/loadavg says, which changes): printed as given.
dbedit --insert whoami '{"_id": "fake", "host": "elsewhere", "state": "stopped",
  "load": [4.69, 0.1, 12.25], "mem": {"available_mb": 1024}, "channels": ["default"],
  "last_seen": {"$date": "2024-05-01T10:00:00.000Z"}}' >/dev/null || fail "dbedit --insert whoami failed"
json="$(cli workers --json)" || fail "mtq workers --json failed"
assert_contains "$json" '"load" : [ 4.69, 0.1, 12.25 ]' "mtq workers --json's load of a worker"
if grep -Eq "$long_number" <<<"$json"; then
  fail "mtq workers --json prints a number with 18 or more digits: $(grep -Eo "$long_number" <<<"$json" | head -3)"
fi
cli workers | grep -Eq '^fake +elsewhere +[a-z]+ .* 4\.69 ' || fail "mtq workers' LOAD1 of fake: $(cli workers)"
# ewma_ms, mean_wait_ms and success_rate are computed doubles.
json="$(cli stats --func echo --json)" || fail "mtq stats --func echo --json failed"
assert_contains "$json" '"ewma_ms" : ' "mtq stats --func --json"
if grep -Eq "$long_number" <<<"$json"; then
  fail "mtq stats --func --json prints a number with 18 or more digits: $json"
fi
log "ok: doubles print short (0.1, 4.69) in wait, show, workers and stats --func"

# --- ls: highest priority first, then oldest, done tasks too ---------------------------

# One at a time, so that they end (and enter results) in the order they
# were enqueued, which is not the priority order.
prios=(3 6 9 0 3 6 9 0)
ids=()
for p in "${prios[@]}"; do
  t="$(enqueue --func echo --args "{\"p\": $p}" --priority "$p")" || fail "enqueue failed"
  cli wait "$t" --timeout 60 >/dev/null || fail "mtq wait $t failed"
  ids+=("$t")
done
# What ls must print: by priority, and within one in the order enqueued;
# the first task of this test ($id, priority 0) is the oldest of the 0s.
want_ids=("${ids[2]}" "${ids[6]}" "${ids[1]}" "${ids[5]}" "${ids[0]}" "${ids[4]}" "$id" "${ids[3]}" "${ids[7]}")
text="$(cli ls --status done)" || fail "mtq ls --status done failed"
assert_eq "$(printf '%s\n' "${want_ids[@]}")" "$(awk 'NR > 1 {print $1}' <<<"$text")" \
  "order of mtq ls --status done (priority, then age): $text"
json="$(cli ls --status done --json)" || fail "mtq ls --status done --json failed"
got=()
for ((i = 0; i < ${#want_ids[@]}; i++)); do got+=("$(jget "$i._id" <<<"$json")"); done
assert_eq "${want_ids[*]}" "${got[*]}" "order of mtq ls --status done --json"
log "ok: mtq ls --status done lists 9 9 6 6 3 3 0 0 0, oldest first within a priority"

# --- stats: the declared channels; copies apart ----------------------------------------

text="$(cli stats)" || fail "mtq stats failed"
if grep -Eq '^to\.' <<<"$text"; then
  fail "mtq stats lists the workers' own channels in its table: $text"
fi
grep -Eq '^default ' <<<"$text" || fail "mtq stats does not list channel default: $text"
grep -Eq '^other ' <<<"$text" || fail "mtq stats does not list channel other: $text"
if grep -q "Copies of redundant tasks" <<<"$text"; then
  fail "mtq stats shows a table of copies without any: $text"
fi
# --json stays as it was: every channel, to.<worker> included.
json="$(cli --json stats)"
assert_contains "$json" '"to.w1" : {' "mtq --json stats (to.w1 kept)"
# A redundant task's two copies go to w1 and w2: then they show, apart.
red="$(enqueue --func echo --args '{"r": 1}' --copies 2 --pick all)" || fail "enqueue --copies 2 failed"
cli wait "$red" --timeout 60 >/dev/null || fail "mtq wait of the redundant task failed"
text="$(cli stats)"
grep -q "^Copies of redundant tasks" <<<"$text" || fail "mtq stats does not show the copies: $text"
for w in w1 w2; do
  grep -Eq "^$w +0 +0 +0 +1 " <<<"$text" || fail "mtq stats: no copy done by $w: $text"
done
if grep -Eq '^(to\.|fake )' <<<"$text"; then
  fail "mtq stats lists a to.<worker> channel or a worker without copies: $text"
fi
log "ok: mtq stats lists to.<worker> apart, only when they hold copies"

# --- a bad URI ------------------------------------------------------------------------

run timeout 10 "$MTQ" --uri notauri ls
expect_refused "mtq --uri notauri ls" 2 "bad database URI 'notauri' \(from --uri\): .*mongodb://"
if grep -q "for (malformed URI)" <<<"$ERR"; then
  fail "the bad URI message is still the old one: $ERR"
fi
run env MTQ_URI='mongodb://bob:hunter2@127.0.0.1:notaport/mtq' timeout 10 "$MTQ" ls
expect_refused "MTQ_URI with a bad port" 2 "bad database URI 'mongodb://bob:\*\*\*@127.0.0.1:notaport/mtq' \(from MTQ_URI\)"
if grep -q hunter2 <<<"$ERR"; then
  fail "the bad URI message shows the password: $ERR"
fi

# --- help -------------------------------------------------------------------------------

# Whole, then its head: a pipe into head can cut the help off (SIGPIPE).
cli enqueue --help >"$TMP/enqueue-help.txt" || fail "enqueue --help failed"
head -n 6 "$TMP/enqueue-help.txt" | grep -q -- '--force' || fail "enqueue --help's synopsis has no --force"
cli ls --help | grep -q "highest priority first" || fail "ls --help does not say its order"
log "ok: every CLI fix checked"
