#!/usr/bin/env bash
# shellcheck disable=SC1010 # "done" is a task status here, not a keyword
# test_web.sh - mtq-web against a real database, mtqd and a worker:
#   1. start refusals: a public listen address without auth, or with auth
#      but without TLS; a users file readable by others;
#   2. loopback without users: the anonymous operator session, every read
#      endpoint, counts equal to `mtq stats --json`, filters, paging, an
#      action taking effect with "web" in the audit trail, a refused
#      transition (409) that changes nothing, unknown id 404, malformed
#      ids and parameters 400, a 1 MiB body 413, POST without CSRF 403,
#      a foreign Origin and a foreign Host 403;
#   3. TLS (a self-signed certificate made here) with users: 401 before
#      login and for a POST without cookie, a wrong password, the read role
#      refused an action (403), the operator's action in the audit trail
#      as web:alice, the cookie Secure, the bearer token;
#   4. no secret in any response (every body is kept and grepped).
# Timing: the stats duty runs every second; waits allow 20-30 s.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27900 240

WEB="$MTQ_BUILD/web/mtq-web"
[[ -x "$WEB" ]] || fail "$WEB is missing: build the project first"
command -v curl >/dev/null || fail "curl is missing (deploy/lib.sh installs it)"
command -v openssl >/dev/null || fail "openssl is missing (deploy/lib.sh installs it)"
WPORT=$((PORT + 50)) TPORT=$((PORT + 51))
BODIES="$TMP/bodies.txt" # every response body, for the secret check
: >"$BODIES"
MTQ_KEEP+=("$BODIES")

start_mtqd
start_worker w1 2

# req METHOD URL [curl args...]: sets CODE and BODY (also kept in BODIES).
req() {
  local method="$1" url="$2"
  shift 2
  local out
  out="$(curl -s -k -o "$TMP/body" -w '%{http_code}' -X "$method" "$@" "$url")" || out=000
  CODE="$out"
  BODY="$(<"$TMP/body")"
  printf '%s %s -> %s %s\n' "$method" "$url" "$CODE" "$BODY" >>"$BODIES"
}
expect() { # expect CODE WHAT [BODY_REGEX]
  [[ "$CODE" == "$1" ]] || fail "$2: HTTP $CODE, expected $1: $BODY"
  [[ -z "${3:-}" ]] || grep -Eq -- "$3" <<<"$BODY" || fail "$2: body does not match /$3/: $BODY"
  log "ok: $2 -> $CODE"
}
j() { jget "$1" <<<"$BODY"; }
page_ids() { python3 -c 'import json, sys; print("\n".join(sorted(t["_id"] for t in json.load(sys.stdin)["tasks"])))' <<<"$BODY"; }

# --- 1. start refusals ----------------------------------------------------------------------
base_ini() { printf '[database]\nuri = %s\n\n[web]\nstats_interval_s = 1\n' "$URI"; }
{ base_ini; echo "listen = 0.0.0.0:$WPORT"; } >"$TMP/public.ini"
run timeout 20 "$WEB" --config "$TMP/public.ini"
expect_refused "public listen without auth" 1 "refusing to listen on 0.0.0.0:$WPORT without authentication"
echo "x:read:\$argon2id\$v=19\$m=65536,t=3,p=1\$AAAA\$BBBB" >"$TMP/users-open"
chmod 644 "$TMP/users-open"
{ base_ini; echo "listen = 0.0.0.0:$WPORT"; echo "users_file = $TMP/users-open"; } >"$TMP/public2.ini"
run timeout 20 "$WEB" --config "$TMP/public2.ini"
expect_refused "public listen with auth, no TLS" 1 "without TLS"
{ base_ini; echo "listen = 127.0.0.1:$WPORT"; echo "users_file = $TMP/users-open"; } >"$TMP/open.ini"
run timeout 20 "$WEB" --config "$TMP/open.ini"
expect_refused "users file readable by others" 1 "must not be readable by others"
port_open "$WPORT" && fail "a refused mtq-web listens on $WPORT"

# --- 2. loopback, no users ------------------------------------------------------------------
{ base_ini; echo "listen = 127.0.0.1:$WPORT"; } >"$TMP/web.ini"
start_web web "$TMP/web.ini" "$WPORT"
W="http://127.0.0.1:$WPORT"

done_id="$(enqueue --func record --args '{"n": 1}')"
dead_id="$(enqueue --func fail --max-attempts 1)"
delayed_id="$(enqueue --func record --delay 600)"
for i in 1 2 3 4 5; do enqueue --func record --args "{\"n\": $i}" >/dev/null; done
wait_until 30 status_is "$done_id" done || fail "task did not end done"
wait_until 30 status_is "$dead_id" dead || fail "failing task did not end dead"
wait_until 30 stat_is default done 6 || fail "tasks did not end: $(cli stats)"

req GET "$W/"
expect 200 "index page" "<html"
req GET "$W/assets/index.html"
expect 200 "an asset"
hdrs="$(curl -s -D - -o /dev/null "$W/")"
for h in "Content-Security-Policy: default-src 'self'" "X-Content-Type-Options: nosniff" \
         "X-Frame-Options: DENY" "Referrer-Policy: no-referrer" "Content-Type: text/html"; do
  grep -qi "$h" <<<"$hdrs" || fail "security header '$h' missing: $hdrs"
done
req GET "$W/assets/nothing.js"
expect 404 "unknown asset"
# The registry as `mtq functions --json` gives it; /metrics in Prometheus'
# text (test_metrics.sh checks its numbers and scrapes it).
req GET "$W/api/v1/functions"
expect 200 "the function registry" '"name": "record"'
[[ "$(j functions.0.name)" == "$(cli --json functions | jget 0.name)" ]] ||
  fail "/api/v1/functions and mtq functions differ: $BODY"
req GET "$W/metrics"
expect 200 "GET /metrics" '^# HELP mtq_'
req POST "$W/metrics"
expect 405 "POST /metrics"
req GET "$W/api/v1/session" -c "$TMP/jar"
expect 200 "anonymous session" '"role": "operator"'
csrf="$(j csrf)"
[[ "$csrf" =~ ^[0-9a-f]{64}$ ]] || fail "csrf token '$csrf'"
grep -q "mtq_session" "$TMP/jar" || fail "no session cookie"
grep -qi "HttpOnly.*mtq_session\|#HttpOnly_127" "$TMP/jar" || fail "the cookie is not HttpOnly: $(cat "$TMP/jar")"

# Counts equal the CLI's, once both read the same moment.
same_counts() {
  local a b
  a="$(curl -s "$W/api/v1/stats" | jget channels | jcanon)"
  b="$(cli --json stats | jcanon)"
  [[ "$a" == "$b" ]]
}
wait_until 20 same_counts || fail "stats differ: $(curl -s "$W/api/v1/stats") vs $(cli --json stats)"
req GET "$W/api/v1/stats"
expect 200 "stats" '"at": "20[0-9-]+T[0-9:.]+Z"'
assert_eq 6 "$(j channels.default.done)" "done count"
req GET "$W/api/v1/overview"
expect 200 "overview" '"throughput": \['
assert_eq w1 "$(j workers.0._id)" "overview's worker"
req GET "$W/api/v1/workers"
expect 200 "workers" '"lost": false'
grep -q '"perf": {"runs"' <<<"$BODY" || fail "no perf figures: $BODY"
req GET "$W/api/v1/channels"
expect 200 "channels" '"default"'
req GET "$W/api/v1/flows"
expect 200 "flows" '"flows": \['

# The task table: filters, sorts, paging.
req GET "$W/api/v1/tasks?state=dead&func=fail"
expect 200 "dead tasks" "\"_id\": \"$dead_id\""
assert_eq 1 "$(jlen tasks <<<"$BODY")" "dead tasks listed"
req GET "$W/api/v1/tasks?error=DELIBERATE%20failure"
expect 200 "error text filter" "\"_id\": \"$dead_id\""
req GET "$W/api/v1/tasks?state=done&worker=w1&sort=-finished_at&limit=4"
expect 200 "done by w1, newest first"
assert_eq 4 "$(jlen tasks <<<"$BODY")" "first page"
next="$(j next)"
[[ "$next" != null && -n "$next" ]] || fail "no next cursor: $BODY"
first_ids="$(page_ids)"
req GET "$W/api/v1/tasks?state=done&worker=w1&sort=-finished_at&limit=4&cursor=$next"
expect 200 "second page"
assert_eq 2 "$(jlen tasks <<<"$BODY")" "second page"
assert_eq null "$(j next)" "no third page"
second_ids="$(page_ids)"
[[ -z "$(comm -12 <(echo "$first_ids") <(echo "$second_ids"))" ]] || fail "pages overlap"
req GET "$W/api/v1/tasks?sort=-priority&limit=500"
expect 200 "every task" '"next": null'
assert_eq 8 "$(jlen tasks <<<"$BODY")" "all tasks, live and ended"
req GET "$W/api/v1/tasks/$dead_id"
expect 200 "one task" '"history": \[\{'
assert_eq dead "$(j task.status)" "task's status"
grep -q "deliberate failure" <<<"$(j task.errors)" || fail "errors of each attempt missing: $BODY"

# Bad requests: 4xx, and nothing changes.
req GET "$W/api/v1/tasks/000000000000000000000000"
expect 404 "unknown id" '"error": "no task'
req GET "$W/api/v1/tasks/xyz"
expect 400 "malformed id" '"error"'
req GET "$W/api/v1/tasks?limit=0"
expect 400 "limit 0" 'limit must be'
req GET "$W/api/v1/tasks?sort=name"
expect 400 "bad sort" 'sort must be'
req GET "$W/api/v1/tasks?state=sleeping"
expect 400 "bad state" 'state must be'
req GET "$W/api/v1/tasks?cursor=1.2.3"
expect 400 "bad cursor" 'cursor is malformed'
req GET "$W/api/v1/tasks?colour=red"
expect 400 "unknown parameter" "unknown parameter 'colour'"
req GET "$W/api/v1/tasks?channel=nosuch"
expect 404 "unknown channel"
req GET "$W/api/v1/nothing"
expect 404 "unknown endpoint"
req DELETE "$W/api/v1/tasks/$dead_id"
expect 405 "DELETE"

H=(-b "$TMP/jar" -H "X-CSRF-Token: $csrf")
req POST "$W/api/v1/tasks/$delayed_id/suspend" -b "$TMP/jar"
expect 403 "POST without the CSRF token" "X-CSRF-Token"
req POST "$W/api/v1/tasks/$delayed_id/suspend" -H "X-CSRF-Token: $csrf"
expect 403 "POST without the cookie" "no session"
req POST "$W/api/v1/tasks/$delayed_id/suspend" "${H[@]}" -H "Origin: http://evil.example"
expect 403 "foreign Origin" "cross-origin"
req POST "$W/api/v1/tasks/$delayed_id/suspend" "${H[@]}" -H "Host: evil.example:$WPORT"
expect 403 "foreign Host (DNS rebinding)" "Host"
assert_eq delayed "$(task_status "$delayed_id")" "status after refused POSTs"

head -c $((1024 * 1024)) /dev/zero | tr '\0' 'x' >"$TMP/big"
req POST "$W/api/v1/tasks/$delayed_id/priority" "${H[@]}" --data-binary "@$TMP/big"
expect 413 "1 MiB body" "larger than"
req POST "$W/api/v1/tasks/$delayed_id/priority" "${H[@]}" -d '{"priority": 12}'
expect 400 "priority 12" "whole number 0..9"
req POST "$W/api/v1/tasks/$delayed_id/priority" "${H[@]}" -d '{"priority": "high"}'
expect 400 "priority as text"
req POST "$W/api/v1/tasks/$delayed_id/priority" "${H[@]}" -d 'not json'
expect 400 "malformed JSON"
req POST "$W/api/v1/tasks/$delayed_id/explode" "${H[@]}"
expect 404 "unknown action"
assert_eq 0 "$(task_field "$delayed_id" priority)" "priority after refusals"

req POST "$W/api/v1/tasks/$delayed_id/suspend" "${H[@]}" -H "Origin: http://127.0.0.1:$WPORT"
expect 200 "suspend" '"status": "suspended"'
assert_eq suspended "$(task_status "$delayed_id")" "status after the web's suspend"
cli show "$delayed_id" --history | grep -Eq "suspended.*web|web.*suspended" ||
  fail "audit trail lacks the web actor: $(cli show "$delayed_id" --history)"
req POST "$W/api/v1/tasks/$delayed_id/priority" "${H[@]}" -d '{"priority": 7}'
expect 200 "priority of a suspended task" '"priority": 7'
req POST "$W/api/v1/tasks/$done_id/cancel" "${H[@]}"
expect 409 "cancel of a done task" "cannot cancel"
assert_eq done "$(task_status "$done_id")" "done task after a refused cancel"
req POST "$W/api/v1/tasks/$dead_id/retry" "${H[@]}"
expect 200 "retry of a dead task" '"status": "(queued|running|dead)"'
ran_twice() { [[ "$(cli --json show "$dead_id" | jlen errors)" == 2 ]] && status_is "$dead_id" dead; }
wait_until 30 ran_twice || fail "retried task did not run again: $(cli show "$dead_id")"
req POST "$W/api/v1/logout" "${H[@]}"
expect 200 "logout"
req POST "$W/api/v1/tasks/$delayed_id/resume" "${H[@]}"
expect 403 "POST after logout" "no session"

# --- 3. TLS and users -------------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
  -keyout "$TMP/web.key" -out "$TMP/web.crt" >/dev/null 2>&1 || fail "openssl req"
chmod 600 "$TMP/web.key"
alice="$(printf 'alice-pw-1' | "$WEB" --hash-password)" || fail "--hash-password"
bob="$(printf 'bob-pw-2' | "$WEB" --hash-password)"
printf 'alice:operator:%s\nbob:read:%s\n' "$alice" "$bob" >"$TMP/users"
chmod 600 "$TMP/users"
token="$(openssl rand -hex 32)"
echo "$token" >"$TMP/token"
chmod 600 "$TMP/token"
{ base_ini; echo "listen = 127.0.0.1:$TPORT"; echo "users_file = $TMP/users"
  echo "token_file = $TMP/token"; echo "tls_cert = $TMP/web.crt"; echo "tls_key = $TMP/web.key"
} >"$TMP/tls.ini"
start_web web-tls "$TMP/tls.ini" "$TPORT"
T="https://127.0.0.1:$TPORT"
curl -s --cacert "$TMP/web.crt" "$T/api/v1/session" >/dev/null || fail "TLS handshake with the test's certificate"
req GET "http://127.0.0.1:$TPORT/api/v1/session"
[[ "$CODE" != 200 ]] || fail "plain HTTP answered on the TLS port"
req GET "$T/api/v1/stats"
expect 401 "stats before login" "log in"
req POST "$T/api/v1/tasks/$delayed_id/resume"
expect 401 "POST without cookie, auth on" "no session"
login() { # login USER PASSWORD JAR
  req GET "$T/api/v1/session" -c "$3"
  local c
  c="$(j csrf)"
  req POST "$T/api/v1/login" -b "$3" -c "$3" -H "X-CSRF-Token: $c" \
    -d "{\"user\": \"$1\", \"password\": \"$2\"}"
}
login alice wrong "$TMP/jar-a"
expect 401 "wrong password" "wrong user name or password"
login nobody alice-pw-1 "$TMP/jar-a"
expect 401 "unknown user" "wrong user name or password"
# Guessing is slowed per name: five failures in a row are free, then the
# name is held (1 s, doubling); other names are not.
for i in 2 3 4 5; do
  login nobody "guess-$i" "$TMP/jar-a"
  expect 401 "guess $i as nobody" "wrong user name or password"
done
req GET "$T/api/v1/session" -c "$TMP/jar-g"
req POST "$T/api/v1/login" -b "$TMP/jar-g" -c "$TMP/jar-g" -H "X-CSRF-Token: $(j csrf)" \
  -D "$TMP/held.headers" -d '{"user": "nobody", "password": "guess-6"}'
expect 429 "a sixth guess at once" "too many login attempts"
grep -qi '^retry-after: 1' "$TMP/held.headers" || fail "no Retry-After: $(cat "$TMP/held.headers")"
sleep 1.2 # the hold is 1 s
login nobody guess-7 "$TMP/jar-a"
expect 401 "a guess after the hold" "wrong user name or password"
login bob bob-pw-2 "$TMP/jar-b"
expect 200 "bob logs in" '"role": "read"'
grep -q "TRUE.*mtq_session" "$TMP/jar-b" || fail "the cookie is not Secure under TLS: $(cat "$TMP/jar-b")"
bcsrf="$(j csrf)"
req GET "$T/api/v1/stats" -b "$TMP/jar-b"
expect 200 "stats as bob"
req POST "$T/api/v1/tasks/$delayed_id/resume" -b "$TMP/jar-b" -H "X-CSRF-Token: $bcsrf"
expect 403 "read role acting" "read role may not act"
assert_eq suspended "$(task_status "$delayed_id")" "status after bob's refused resume"
login alice alice-pw-1 "$TMP/jar-a"
expect 200 "alice logs in" '"role": "operator"'
acsrf="$(j csrf)"
req POST "$T/api/v1/tasks/$delayed_id/disable" -b "$TMP/jar-a" -H "X-CSRF-Token: $acsrf"
expect 200 "alice disables" '"state": "disabled"'
req POST "$T/api/v1/tasks/$delayed_id/retry" -b "$TMP/jar-a" -H "X-CSRF-Token: $acsrf"
expect 409 "retry of a waiting task" "only an ended task"
req POST "$T/api/v1/tasks/$delayed_id/enable" -b "$TMP/jar-a" -H "X-CSRF-Token: $acsrf"
expect 200 "alice enables" '"is_enable": true'
cli show "$delayed_id" --history | grep -q "web:alice" ||
  fail "audit trail lacks web:alice: $(cli show "$delayed_id" --history)"
req POST "$T/api/v1/tasks/$delayed_id/cancel" -H "Authorization: Bearer wrong$token"
expect 401 "wrong bearer token"
req GET "$T/api/v1/workers" -H "Authorization: Bearer $token"
expect 200 "bearer token read"
req POST "$T/api/v1/tasks/$delayed_id/cancel" -H "Authorization: Bearer $token"
expect 200 "bearer token action" '"status": "cancelled"'
cli show "$delayed_id" --history | grep -q "web:token" || fail "audit trail lacks web:token"

# --- 4. no secret in any response ---------------------------------------------------------------
for secret in "$token" "argon2id" "alice-pw-1" "bob-pw-2" "PRIVATE KEY" "mongodb://" \
              "${alice##*\$}" "${bob##*\$}"; do
  ! grep -qF -- "$secret" "$BODIES" || fail "a response holds a secret ($secret)"
done
log "no secret in $(wc -l <"$BODIES") responses"
