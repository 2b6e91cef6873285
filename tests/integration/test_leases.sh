#!/usr/bin/env bash
# test_leases.sh - what a worker says about the leases of the tasks it holds.
#
#   1. A renewal that crosses the worker's own end of an attempt finds the
#      lease gone (the end dropped it): that is not a lost lease, and the
#      worker must not log "lease lost" for a task it then ends done itself
#      (it did 22-26 times per 1,000 short tasks).
#   2. A task claimed too long ago to start safely is given back with that
#      reason in its audit trail, not "worker shutdown".  The database is
#      made slow for the worker alone by dbproxy (a delay on every chunk it
#      forwards), so that a claim's round trips take longer than half its
#      lease while renewals still get through.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27620 300

start_mtqd

# --- 1: no "lease lost" for tasks the worker ends itself ---------------------------
# A quarter-second renewal period over short tasks makes renewals cross ends.
N=300
start_worker w1 4 "lease_ms = 1000"
ids=()
for ((i = 0; i < N; i++)); do
  ids+=("$(enqueue --func echo --args "{\"i\": $i}")") || fail "enqueue $i failed"
done
all_done() { [[ "$(cli --json stats | jget default.done)" == "$N" ]]; }
wait_until 240 all_done || fail "the $N tasks did not all end done: $(cli stats)"
lost="$(grep -c "lease lost" "$TMP/worker-w1.log" || true)"
assert_eq 0 "$lost" "\"lease lost\" lines for tasks the worker ended done itself"
refused="$(grep -c "outcome refused" "$TMP/worker-w1.log" || true)"
assert_eq 0 "$refused" "outcomes refused"
log "$N short tasks with lease_ms 1000: every one done, no lease reported lost"
stop_worker w1

# --- 2: a claim too old to start ------------------------------------------------------
# Round trips through the proxy take 2 x D.  From its claim to its start a
# task waits for the lease, the claim record, the running mark (a read and
# a write on FerretDB) and an event: about 10 x D = 3 s, beyond half of the
# lease (2 s); a renewal (one round trip, 0.6 s) stays well within its
# period (1 s).  Timing assumption: these hold with the machine's own
# latency added, up to about 0.4 s per round trip.
D=300
DELAY_FILE="$TMP/delay"
echo 0 >"$DELAY_FILE"
for ((PROXY_PORT = PORT + 30; PROXY_PORT < PORT + 50; PROXY_PORT++)); do
  port_open "$PROXY_PORT" || break
done
"$MTQ_BUILD/tests/integration/dbproxy" "$PROXY_PORT" "$PORT" "$DELAY_FILE" \
  >>"$TMP/dbproxy.log" 2>&1 &
PROXY_PID=$!
mtq_on_cleanup kill "$PROXY_PID"
wait_until 10 port_open "$PROXY_PORT" || fail "dbproxy did not listen on $PROXY_PORT"
direct_uri="$URI"
URI="mongodb://127.0.0.1:$PROXY_PORT/mtq"
start_worker w2 1 "lease_ms = 4000"
URI="$direct_uri"
echo "$D" >"$DELAY_FILE"
sleep 0.3 # the proxy rereads the file every 100 ms
slow="$(enqueue --func echo --args '{"slow": true}')" || fail "enqueue failed"
given_back() { grep -q "task $slow: claimed [0-9]* ms ago, too long to start it safely" "$TMP/worker-w2.log"; }
wait_until 60 given_back || fail "worker w2 did not give the task back as claimed too long ago"
echo 0 >"$DELAY_FILE"
run cli wait "$slow" --timeout 60
[[ $RC == 0 ]] || fail "the task given back did not end done: $ERR"
hist="$(cli show "$slow" --history)" || fail "mtq show --history failed"
grep -E "running +queued +w2 .*claimed too long before it could start" <<<"$hist" >/dev/null ||
  fail "the audit trail does not give the reason for the give-back: $hist"
if grep -q "worker shutdown" <<<"$hist"; then
  fail "the give-back is recorded as a worker shutdown: $hist"
fi
log "a claim too old to start: given back, its reason in the audit trail"
