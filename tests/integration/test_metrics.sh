#!/usr/bin/env bash
# test_metrics.sh - what GET /metrics shows, from real processes:
#   1. bad configuration and bad usage are refused with a clear message;
#   2. mtqd and two workers publish their metrics documents; w2 starts a
#      long task and is SIGKILLed: the task's lease expires (mtqd requeues
#      it, w1 runs it) and w2 is marked lost; w1 runs tasks that end done
#      and tasks that fail, are retried and die;
#   3. metricsdump's text (mtq-web's renderer) passes `promtool check
#      metrics` and holds the right numbers: finished and failed counts,
#      retries, per-function histogram counts, the expired lease, workers up
#      and lost, tasks enqueued, database command counts of every process;
#   4. mtq-web serves the same text at GET /metrics, behind a bearer token
#      (401 without it; promtool passes what it serves), and a real
#      Prometheus (Debian's /usr/bin/prometheus) scrapes it with that token
#      and gives the values back through its HTTP API.
# Timing: every process publishes every 300 ms here, mtqd marks a worker
# lost after 3 s and expires a lease after lease_ms = 3 s; each wait allows
# 30 s or more.  Prometheus scrapes every second; its start and first
# scrape are given 40 s.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27940 240

DUMP="$MTQ_BUILD/tests/integration/metricsdump"
PROMETHEUS="${MTQ_PROMETHEUS_BIN:-/usr/bin/prometheus}"
PROMTOOL="${MTQ_PROMTOOL_BIN:-promtool}"
command -v "$PROMTOOL" >/dev/null || fail "promtool not found (Debian package prometheus)"
[[ -x "$PROMETHEUS" ]] || fail "$PROMETHEUS not found (Debian package prometheus)"

dump() { timeout 30 "$DUMP" --uri "$URI" --stats; }
# value TEXT SELECTOR: the sum of the samples whose line starts with
# SELECTOR (a metric name, or a name and the start of its labels).
value() {
  awk -v sel="$2" 'index($0, sel) == 1 { s += $NF; n++ } END { if (n) print s + 0; else print "none" }' <<<"$1"
}
dump_value() { value "$(dump)" "$1"; }
dump_value_is() { [[ "$(dump_value "$1")" == "$2" ]]; }

# --- 1: bad input ---------------------------------------------------------------------
run "$DUMP"
[[ $RC == 2 && "$ERR" == *"--uri is required"* ]] || fail "metricsdump without --uri: $RC $ERR"
run "$DUMP" --uri "$URI" --bogus
[[ $RC == 2 && "$ERR" == *"unknown argument"* ]] || fail "metricsdump --bogus: $RC $ERR"
run "$DUMP" --uri "not-a-uri"
[[ $RC == 2 && "$ERR" == *"bad database URI"* ]] || fail "metricsdump with a bad URI: $RC $ERR"
printf '[database]\nuri = %s\n[worker]\nchannels = default\nmetrics_interval_ms = 5\n' "$URI" \
  >"$TMP/bad-worker.ini"
run "$MTQ_WORKER" --config "$TMP/bad-worker.ini"
[[ $RC != 0 && "$ERR" == *metrics_interval_ms* ]] ||
  fail "a worker with metrics_interval_ms = 5 was not refused clearly: $RC $ERR"
printf '[database]\nuri = %s\n[coordinator]\nid = two words\n' "$URI" >"$TMP/bad-mtqd.ini"
run "$MTQD" --config "$TMP/bad-mtqd.ini"
[[ $RC != 0 && "$ERR" == *"not a valid coordinator id"* ]] ||
  fail "mtqd with id 'two words' was not refused clearly: $RC $ERR"
run "$DUMP" --uri "$URI"
[[ $RC == 0 && "$OUT" != *mtq_tasks_started_total* ]] ||
  fail "a refused start left metrics behind: $RC $OUT"
log "bad usage and bad configuration refused, nothing published"

# --- 2: real tasks ----------------------------------------------------------------------
FAST=("metrics_interval_ms = 300")
start_mtqd "id = coord1" "${FAST[@]}"
worker_function slowecho "/bin/sh $FN/slowecho.sh"
start_worker w2 1 "${FAST[@]}"
long="$(enqueue --func slowecho --args '{"sleep": 4}')" || fail "enqueue failed"
started_on_w2() {
  dump_value_is 'mtq_tasks_started_total{channel="default",func="slowecho",version="1",worker="w2"}' 1
}
wait_until 30 started_on_w2 || fail "w2 did not publish the start of the long task: $(dump)"
crash_worker w2
start_worker w1 2 "${FAST[@]}"
ids=()
for i in 1 2 3 4 5 6; do
  ids+=("$(enqueue --func echo --args "{\"i\": $i}")") || fail "enqueue $i failed"
done
for i in 1 2; do
  ids+=("$(enqueue --func fail --max-attempts 2 --backoff 1)") || fail "enqueue fail $i failed"
done
ended() { stat_is default done 7 && stat_is default dead 2; }
wait_until 60 ended || fail "the tasks did not end (7 done, 2 dead): $(cli stats)"
wait_until 30 worker_state_is w2 lost || fail "w2 was not marked lost"
log "7 tasks done (one after its lease expired on w2), 2 dead after a retry each; w2 lost"

# --- 3: the text --------------------------------------------------------------------------
# The last counts reach the documents within a publication (300 ms).
published() {
  dump_value_is 'mtq_tasks_finished_total' 7 && dump_value_is 'mtq_tasks_failed_total' 2 &&
    dump_value_is 'mtq_coordinator_workers_lost_total' 1
}
wait_until 30 published || fail "the counts were not published: $(dump)"
mkdir -p "$TMP/www"
dump >"$TMP/www/metrics" || fail "metricsdump failed"
MTQ_KEEP+=("$TMP/www/metrics")
text="$(cat "$TMP/www/metrics")"
run "$PROMTOOL" check metrics <"$TMP/www/metrics"
[[ $RC == 0 ]] || fail "promtool check metrics refused the text: $OUT $ERR"
log "promtool check metrics: the text passes ($(wc -l <"$TMP/www/metrics") lines)"

dbedit --docs metrics >"$TMP/metrics.jsonl" || fail "cannot read the metrics collection"
/usr/bin/python3 "$MTQ_ROOT/tests/integration/schema_check.py" \
  "$MTQ_ROOT/schemas/metrics.schema.json" <"$TMP/metrics.jsonl" 2>"$TMP/schema.txt" ||
  fail "metrics documents do not validate: $(head -c 2000 "$TMP/schema.txt")"
log "the $(wc -l <"$TMP/metrics.jsonl") metrics documents validate against metrics.schema.json"

check() {
  local got
  got="$(value "$text" "$1")"
  [[ "$got" == "$2" ]] || fail "$1: $got, expected $2"
}
W1='channel="default",func='
check "mtq_tasks_finished_total{${W1}\"echo\",version=\"1\",worker=\"w1\"}" 6
check "mtq_tasks_finished_total{${W1}\"slowecho\",version=\"1\",worker=\"w1\"}" 1
check 'mtq_tasks_finished_total' 7
check "mtq_tasks_failed_total{${W1}\"fail\",version=\"1\",worker=\"w1\"}" 2
check "mtq_task_retries_total{${W1}\"fail\",version=\"1\",worker=\"w1\"}" 2
check "mtq_tasks_started_total{${W1}\"slowecho\"" 2 # once on w2, once on w1
check 'mtq_tasks_started_total' 12 # 6 echo, 4 fail attempts, 2 slowecho
# Run times of attempts that ended by themselves: w2's was killed.
check "mtq_task_run_seconds_count{${W1}\"echo\"" 6
check "mtq_task_run_seconds_count{${W1}\"fail\"" 4
check "mtq_task_run_seconds_count{${W1}\"slowecho\"" 1
check "mtq_task_run_seconds_bucket{${W1}\"slowecho\",version=\"1\",worker=\"w1\",le=\"+Inf\"}" 1
check "mtq_task_run_seconds_bucket{${W1}\"slowecho\",version=\"1\",worker=\"w1\",le=\"2.5\"}" 0
check "mtq_task_wait_seconds_count{${W1}\"echo\"" 6
check 'mtq_coordinator_leases_expired_total{channel="default",outcome="queued",coordinator="coord1"}' 1
check 'mtq_coordinator_workers_lost_total{coordinator="coord1"}' 1
check 'mtq_coordinator_leading{coordinator="coord1"}' 1
check 'mtq_workers{state="running"}' 1
check 'mtq_workers{state="lost"}' 1
check 'mtq_worker_up{worker="w1"' 1
check 'mtq_worker_up{worker="w2"' 0
check 'mtq_tasks{channel="default",state="done"}' 7
check 'mtq_tasks{channel="default",state="dead"}' 2
check 'mtq_tasks_enqueued_total{channel="default"}' 9
for who in 'worker="w1"' 'worker="w2"' 'coordinator="coord1"' 'web="'; do
  n="$(grep '^mtq_db_commands_total{' <<<"$text" | grep -F "$who" | awk '{s += $NF} END {print s + 0}')"
  ((n > 0)) || fail "no database commands counted for $who"
done
grep -q '^mtq_worker_memory_total_bytes{worker="w1"' <<<"$text" || fail "no host figures of w1"
if grep -q '^mtq_worker_load1{worker="w2"' <<<"$text"; then
  fail "host figures of the lost worker w2 are shown"
fi
log "the numbers: 7 finished, 2 failed and 2 retries, run-time histograms per function, the" \
  "expired lease, w1 up and w2 lost, 9 enqueued, database commands of every process"

# --- 4: a real Prometheus ---------------------------------------------------------------------
free_port() {
  local p
  for ((p = $1; p < $1 + 20; p++)); do
    port_open "$p" || { echo "$p"; return 0; }
  done
  return 1
}
# stop_bg PID: ends a helper process of the test, if it is still there.
stop_bg() { kill "$1" 2>/dev/null || true; }
# prom_query EXPR: the API's answer to an instant query.
prom_query() {
  curl -sfG --max-time 5 "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1"
}
# prom_value EXPR: the first value of the answer ("" when none).
prom_value() {
  prom_query "$1" | python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null
}
scraped() { [[ "$(prom_value 'up{job="mtq"}')" == 1 ]]; }
# scrape_check HOST:PORT PATH [TOKEN_FILE]: a Prometheus scraping
# http://HOST:PORT/PATH every second (with the bearer token of TOKEN_FILE);
# once a scrape succeeded, sum(mtq_tasks_finished_total) through the HTTP
# API must equal the text's.  PROM_PORT is its port.
scrape_check() {
  local target="$1" path="$2" token="${3:-}" dir="$TMP/prometheus"
  mkdir -p "$dir/data"
  cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: mtq
    metrics_path: $path
    static_configs:
      - targets: ['$target']
EOF
  if [[ -n "$token" ]]; then
    printf '    authorization:\n      type: Bearer\n      credentials_file: %s\n' "$token" \
      >>"$dir/prometheus.yml"
  fi
  PROM_PORT="$(free_port $((PORT + 60)))" || fail "no free port for Prometheus"
  "$PROMETHEUS" --config.file "$dir/prometheus.yml" --storage.tsdb.path "$dir/data" \
    --web.listen-address "127.0.0.1:$PROM_PORT" >>"$TMP/prometheus.log" 2>&1 &
  local pid=$!
  mtq_on_cleanup stop_bg "$pid"
  wait_until 40 scraped || fail "Prometheus did not scrape $target$path: $(prom_query up)"
  local got
  got="$(prom_value 'sum(mtq_tasks_finished_total)')"
  [[ "$got" == 7 ]] || fail "Prometheus says sum(mtq_tasks_finished_total) = '$got', not 7"
  got="$(prom_value 'sum(mtq_workers{state="lost"})')"
  [[ "$got" == 1 ]] || fail "Prometheus says $got lost workers, not 1"
  log "Prometheus scraped $target$path: sum(mtq_tasks_finished_total) = 7, 1 lost worker"
}
# --- 4: mtq-web's /metrics, scraped ------------------------------------------------------
umask 077
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/web-token"
umask 022
WEB_PORT="$(free_port $((PORT + 40)))" || fail "no free port for mtq-web"
cat >"$TMP/web.ini" <<EOF
[database]
uri = $URI

[web]
listen = 127.0.0.1:$WEB_PORT
token_file = $TMP/web-token
stats_interval_s = 1
EOF
start_web web "$TMP/web.ini" "$WEB_PORT"
code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$WEB_PORT/metrics")"
[[ "$code" == 401 ]] || fail "GET /metrics without the token answered $code, not 401"
web_metrics() {
  curl -sf --max-time 20 -H "Authorization: Bearer $(cat "$TMP/web-token")" \
    -D "$TMP/web-metrics.headers" "http://127.0.0.1:$WEB_PORT/metrics" -o "$TMP/web-metrics.txt"
}
# The stats cache counts within stats_interval_s of the start.
web_has_tasks() { web_metrics && grep -q '^mtq_tasks{' "$TMP/web-metrics.txt"; }
wait_until 30 web_has_tasks || fail "mtq-web's /metrics has no task counts: $(head -c 500 "$TMP/web-metrics.txt")"
grep -qi '^content-type: text/plain; version=0.0.4' "$TMP/web-metrics.headers" ||
  fail "GET /metrics: $(grep -i content-type "$TMP/web-metrics.headers")"
MTQ_KEEP+=("$TMP/web-metrics.txt")
run "$PROMTOOL" check metrics <"$TMP/web-metrics.txt"
[[ $RC == 0 ]] || fail "promtool check metrics refused mtq-web's /metrics: $OUT $ERR"
[[ "$(value "$(cat "$TMP/web-metrics.txt")" 'mtq_tasks_finished_total')" == 7 ]] ||
  fail "mtq-web's /metrics does not say 7 tasks finished"
log "mtq-web serves /metrics behind its token (401 without), and promtool passes it"
scrape_check "127.0.0.1:$WEB_PORT" /metrics "$TMP/web-token"

log "PASS"
