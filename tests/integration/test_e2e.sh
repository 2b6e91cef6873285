#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_e2e.sh - the whole path once: mtqd and two workers; 20 echo tasks
# enqueued through the CLI come back with their args as their result, and
# the operator commands (wait, show, ls, stats, workers) report them.  Then
# a producer that waits for each task right after enqueueing it (the task
# finishes while mtq wait looks for it) must always get its result.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27310 300

N=20
start_mtqd
start_worker w1 4
start_worker w2 4

ids=() args=()
for ((i = 1; i <= N; i++)); do
  a="{\"i\": $i, \"name\": \"task-$i\", \"nested\": {\"list\": [$i, \"x\", null], \"flag\": $( ((i % 2)) && echo true || echo false)}}"
  id="$(enqueue --func echo --args "$a" --priority $((i % 10)))" || fail "enqueue of task $i failed"
  ids+=("$id")
  args+=("$a")
done
log "enqueued $N echo tasks"

for ((i = 0; i < N; i++)); do
  out="$(cli wait "${ids[i]}" --timeout 60)" || fail "mtq wait ${ids[i]} failed (exit $?)"
  assert_eq "$(jcanon <<<"${args[i]}")" "$(jcanon <<<"$out")" "result of task $((i + 1))"
done
log "every result equals its args"

# stats: 20 done, nothing else.
stats="$(cli --json stats)" || fail "mtq stats failed"
for s in done:$N queued:0 running:0 delayed:0 failed:0 cancelled:0; do
  assert_eq "${s#*:}" "$(jget "default.${s%%:*}" <<<"$stats")" "mtq stats default.${s%%:*}"
done
cli stats | grep -Eq "^default[[:space:]]+0[[:space:]]+0[[:space:]]+0[[:space:]]+${N}[[:space:]]" ||
  fail "mtq stats (text) does not show $N done: $(cli stats)"

# show: text and JSON.
id="${ids[4]}"
text="$(cli show "$id")" || fail "mtq show $id failed"
assert_contains "$text" "$id" "mtq show"
grep -Eq '^status[[:space:]]+done$' <<<"$text" || fail "mtq show: no 'status done' line in: $text"
json="$(cli --json show "$id")" || fail "mtq --json show $id failed"
assert_eq "$id" "$(jget _id <<<"$json")" "show _id"
assert_eq done "$(jget status <<<"$json")" "show status"
assert_eq echo "$(jget func <<<"$json")" "show func"
assert_eq 1 "$(jget attempt <<<"$json")" "show attempt"
assert_eq 5 "$(jget priority <<<"$json")" "show priority"
[[ "$(jget worker <<<"$json")" =~ ^w[12]$ ]] || fail "show worker is '$(jget worker <<<"$json")'"
assert_eq "$(jcanon <<<"${args[4]}")" "$(jget result <<<"$json" | jcanon)" "show result"

# ls --status done lists exactly the 20 tasks.
json="$(cli --json ls --status done --limit 100)" || fail "mtq ls --status done failed"
assert_eq "$N" "$(jlen . <<<"$json")" "number of tasks listed by ls --status done"
listed="$(for ((i = 0; i < N; i++)); do jget "$i._id" <<<"$json"; done | sort)"
assert_eq "$(printf '%s\n' "${ids[@]}" | sort)" "$listed" "ids listed by ls --status done"
text="$(cli ls --status done --limit 100)" || fail "mtq ls (text) failed"
for id in "${ids[@]}"; do
  grep -q "^$id .* done " <<<"$text" || fail "mtq ls --status done does not list $id as done"
done
assert_eq 0 "$(cli --json ls --status queued | jlen .)" "tasks listed by ls --status queued"

# workers: both running, and between them they ran every task.
for w in w1 w2; do
  assert_eq running "$(worker_field "$w" state)" "state of worker $w"
done
text="$(cli workers)" || fail "mtq workers failed"
for w in w1 w2; do
  grep -Eq "^${w}[[:space:]].*running" <<<"$text" || fail "mtq workers does not show $w running: $text"
done
json="$(cli --json ls --status done --limit 100)"
n1=0 n2=0
for ((i = 0; i < N; i++)); do
  case "$(jget "$i.worker" <<<"$json")" in
    w1) n1=$((n1 + 1)) ;; w2) n2=$((n2 + 1)) ;; *) fail "task $i ran on an unknown worker" ;;
  esac
done
log "tasks run: w1 $n1, w2 $n2"

# Enqueue and wait at once, as a synchronous producer does: the task moves
# from its lane to results while `mtq wait` looks for it.
M=40
bad=()
for ((i = 1; i <= M; i++)); do
  a="{\"sync\": $i}"
  id="$(enqueue --func echo --args "$a")" || fail "enqueue of sync task $i failed"
  if ! out="$(cli wait "$id" --timeout 60 2>&1)"; then
    bad+=("task $i ($id): $out")
  elif [[ "$(jcanon <<<"$out")" != "$(jcanon <<<"$a")" ]]; then
    bad+=("task $i ($id): result $out")
  fi
done
if ((${#bad[@]})); then
  printf '  %s\n' "${bad[@]}" >&2
  fail "${#bad[@]} of $M enqueue-then-wait calls did not return the result"
fi
assert_eq $((N + M)) "$(stat_count default done)" "tasks done in the end"
log "$M enqueue-then-wait calls all returned their result"
