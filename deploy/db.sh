#!/usr/bin/env bash
# deploy/db.sh - runs a local MongoDB-compatible server for mtq.
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
usage: deploy/db.sh start   [--port P] [--dir DIR] [--backend B] [--pg-port Q]
       deploy/db.sh stop    [--port P] [--dir DIR]
       deploy/db.sh status  [--port P] [--dir DIR]
       deploy/db.sh install [--backend B]

Runs mongod when it is on PATH (unless MTQ_DB=ferretdb), otherwise FerretDB
$MTQ_FERRETDB_VERSION (built into .local/bin/ferretdb on first use), listening on
HOST:P only.  Defaults: HOST=127.0.0.1, P=27017, DIR=<repo>/.local/db/P.
MTQ_DB=javaserver runs mongo-java-server instead (a test server, data in
memory only: see "mongo-java-server" below).

  start    starts the server in the background (pid file and log in DIR), waits
           until it accepts connections (30 s at most) and prints its URI,
           mongodb://HOST:P/ .  Prints the URI at once if already running.
  stop     stops it (SIGTERM, SIGKILL after 20 s) and its PostgreSQL cluster.
  status   exit 0 when running, 1 when not.
  install  only installs the server (and PostgreSQL for --backend postgresql).

FerretDB backends (B):
  sqlite      (default) data in DIR/sqlite/
  postgresql  a private PostgreSQL cluster in DIR/pg/ on port Q (default
              P+10000), 127.0.0.1 and a unix socket in DIR/pg/run only,
              database 'ferretdb'; PostgreSQL is installed with apt if missing.
The backend of an existing DIR is remembered; mongod keeps its data in DIR/mongod/.
MTQ_DB_HOST=A.B.C.D listens on that IPv4 address instead of 127.0.0.1 (an
address of this network namespace, such as a test's bridge; 0.0.0.0 and
names are refused).  Give stop and status the same MTQ_DB_HOST as start.
FerretDB logs at level error (MTQ_FERRETDB_LOG_LEVEL): at warn it logs every
failed command in full, and mtq's claims fail on purpose (duplicate keys).
MTQ_FERRETDB_DEBUG_ADDR=127.0.0.1:P serves FerretDB's Prometheus metrics and
Go pprof profiles there (off by default).

mongo-java-server (MTQ_DB=javaserver):
  installed on first use into .local/javaserver/: the jars pinned in
  deploy/javaserver/pom.xml, fetched from Maven Central with mvn, and the
  launcher deploy/javaserver/MtqTestServer.java compiled with javac (a JDK
  17 and Maven are installed with apt when missing; MTQ_JAVA_HOME picks
  another JDK).  Backends (B):
    memory  (default) data in the JVM's heap only: a stop loses it
    h2      data in DIR/mongo-java-server.mv (H2's MVStore), kept across a
            stop and a start, for tests that restart the database
  It logs at level warn (MTQ_JAVASERVER_LOG_LEVEL: error, warn, info,
  debug); MTQ_JAVASERVER_HEAP (default 1g) is the JVM's -Xmx.
EOF
}

(($#)) || { usage >&2; exit 2; }
cmd="$1"; shift
case "$cmd" in
  -h|--help) usage; exit 0 ;;
  start|stop|status|install) ;;
  *) usage >&2; exit 2 ;;
esac

port=27017 dir="" backend="" pg_port=""
while (($#)); do
  case "$1" in
    --port)    port="${2:?--port needs a value}"; shift ;;
    --dir)     dir="${2:?--dir needs a value}"; shift ;;
    --backend) backend="${2:?--backend needs a value}"; shift ;;
    --pg-port) pg_port="${2:?--pg-port needs a value}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *)         usage >&2; exit 2 ;;
  esac
  shift
done
if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then die "bad port '$port'"; fi
dir="$(realpath -m "${dir:-$MTQ_LOCAL/db/$port}")"
# An IPv4 literal only: it goes into the server's command line, its URI and
# the pid check below, and a name could resolve elsewhere.  0.0.0.0 would
# put an unauthenticated server on every interface of the machine.
host="${MTQ_DB_HOST:-127.0.0.1}"
octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
[[ "$host" =~ ^($octet\.){3}$octet$ ]] || die "MTQ_DB_HOST must be an IPv4 address (A.B.C.D), not '$host'"
[[ "$host" != 0.0.0.0 ]] || die "MTQ_DB_HOST=0.0.0.0 would listen on every interface: give one address"

pidfile="$dir/server.pid"
kindfile="$dir/server.kind"   # "mongod", "ferretdb sqlite|postgresql" or "javaserver memory|h2"
logfile="$dir/server.log"
uri="mongodb://$host:$port/"
lockfd=9   # replaced by lock_dir; children started while it is held close it

# --- helpers -----------------------------------------------------------------

# port_open PORT: something listens on TCP port PORT (checked with ss, which
# does not disturb the server with probe connections; else with /dev/tcp on
# HOST).  ss looks at every address of this network namespace, not HOST
# alone: a listener on another address (0.0.0.0 above all) takes the port
# from HOST too.
port_open() {
  if command -v ss >/dev/null; then
    [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]
  else
    (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null
  fi
}

# alive PID: the process exists and is not a zombie.
alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
  [[ "$state" != Z ]]
}

# server_pid: prints the pid of this DIR's server when it is running.
server_pid() {
  local pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" || return 1
  # Guard against a recycled pid: it must be a server for this port.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
    grep -Eq "(ferretdb|mongod|MtqTestServer) .*(${host//./\\.}:$port |--port $port )" || return 1
  printf '%s\n' "$pid"
}

# wait_for_port PID PORT LOG WHAT: waits (30 s) until PORT accepts connections.
wait_for_port() {
  local pid="$1" p="$2" logf="$3" what="$4" i
  for ((i = 0; i < 150; i++)); do
    port_open "$p" && return 0
    alive "$pid" || { tail -n 20 "$logf" >&2 || true; die "$what exited during start-up (log: $logf)"; }
    sleep 0.2
  done
  tail -n 20 "$logf" >&2 || true
  die "$what does not accept connections on port $p after 30 s (log: $logf)"
}

# stop_pid PID WHAT: SIGTERM, then SIGKILL after 20 s.
stop_pid() {
  local pid="$1" what="$2" i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    alive "$pid" || return 0
    sleep 0.2
  done
  warn "$what (pid $pid) still running after 20 s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 25; i++)); do alive "$pid" || return 0; sleep 0.2; done
  die "$what (pid $pid) survived SIGKILL"
}

# --- PostgreSQL (backend for FerretDB) ------------------------------------------

pgroot="$dir/pg"
pgdata="$pgroot/data"
pgsock="$pgroot/run"
pglog="$pgroot/postgres.log"

# pg_bindir: prints the newest /usr/lib/postgresql/VERSION/bin, installing
# Debian's postgresql package when there is none.
pg_bindir() {
  local dirs=(/usr/lib/postgresql/*/bin)
  if [[ ! -x "${dirs[0]}/pg_ctl" ]]; then
    apt_ensure postgresql
    dirs=(/usr/lib/postgresql/*/bin)
  fi
  [[ -x "${dirs[0]}/pg_ctl" ]] || die "PostgreSQL binaries not found in /usr/lib/postgresql/*/bin"
  printf '%s\n' "${dirs[@]}" | sort -V | tail -n 1
}

# pg_run CMD...: runs CMD as the cluster owner (PostgreSQL refuses to run as
# root, so root hands over to the 'postgres' user).  The lock fd is closed so
# that the postmaster does not hold it.
pg_run() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@" {lockfd}>&-)
  else
    (cd / && "$@" {lockfd}>&-)
  fi
}

# pg_start: starts (initialising if needed) the cluster; sets pg_url.
pg_start() {
  local bin; bin="$(pg_bindir)"
  if [[ $EUID -eq 0 ]]; then
    getent passwd postgres >/dev/null || die "no 'postgres' user to run PostgreSQL as"
    mkdir -p "$pgroot"
    touch "$pglog"
    chown postgres: "$pgroot" "$pglog"
    chmod 700 "$pgroot"
  else
    mkdir -p "$pgroot"
  fi
  pg_run test -w "$pgroot" ||
    die "the postgres user cannot reach $pgroot (are its parent directories world-executable?)"

  if [[ ! -f "$pgdata/PG_VERSION" ]]; then
    log "initialising PostgreSQL cluster in $pgdata"
    pg_run "$bin/initdb" -D "$pgdata" -U postgres -A trust -E UTF8 --locale=C >>"$pglog" 2>&1 ||
      { tail -n 20 "$pglog" >&2; die "initdb failed (log: $pglog)"; }
  fi

  if pg_run "$bin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    pg_port="$(<"$pgroot/port")"
  else
    pg_port="${pg_port:-$((port + 10000))}"
    ((pg_port < 65536)) || die "PostgreSQL port $pg_port out of range; use --pg-port"
    port_open "$pg_port" && die "port $pg_port (for PostgreSQL) is already in use; use --pg-port"
    pg_run mkdir -p -m 700 "$pgsock"
    local sockopt="-k '$pgsock'"
    if ((${#pgsock} + 20 > 107)); then   # unix socket paths are limited to 107 bytes
      warn "$pgsock is too long for a unix socket; PostgreSQL listens on TCP only"
      sockopt="-k ''"
    fi
    log "starting PostgreSQL on 127.0.0.1:$pg_port"
    pg_run "$bin/pg_ctl" -D "$pgdata" -l "$pglog" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $pg_port $sockopt" start </dev/null >&2 ||
      { tail -n 20 "$pglog" >&2; die "PostgreSQL did not start (log: $pglog)"; }
    echo "$pg_port" >"$pgroot/port"
  fi

  local psql=("$bin/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U postgres)
  if [[ "$("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'ferretdb'")" != 1 ]]; then
    "${psql[@]}" -d postgres -c "CREATE DATABASE ferretdb" >/dev/null
  fi
  pg_url="postgres://postgres@127.0.0.1:$pg_port/ferretdb"
}

pg_stop() {
  [[ -f "$pgdata/postmaster.pid" ]] || return 0
  local bin; bin="$(pg_bindir)"
  if pg_run "$bin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    log "stopping PostgreSQL"
    pg_run "$bin/pg_ctl" -D "$pgdata" -w -t 30 -m fast stop >&2 ||
      { warn "fast shutdown failed, trying immediate"; pg_run "$bin/pg_ctl" -D "$pgdata" -m immediate stop >&2; }
  fi
}

# --- commands ------------------------------------------------------------------

# server_kind: sets db to the server start and install are about (db_kind)
# and checks --backend against it.
server_kind() {
  db="$(db_kind)"
  case "$db:$backend" in
    *:|ferretdb:sqlite|ferretdb:postgresql|javaserver:memory|javaserver:h2) ;;
    ferretdb:*)   die "the backend of FerretDB is sqlite or postgresql, not '$backend'" ;;
    javaserver:*) die "the backend of mongo-java-server is memory or h2, not '$backend'" ;;
    mongod:*)     die "mongod has no --backend" ;;
  esac
}

lock_dir() {
  mkdir -p "$dir"
  exec {lockfd}>"$dir/.lock"
  flock "$lockfd"
}

do_start() {
  local pid kind db
  server_kind
  lock_dir
  if pid="$(server_pid)"; then
    wait_for_port "$pid" "$port" "$logfile" "server"
    printf '%s\n' "$uri"
    return 0
  fi
  port_open "$port" && die "port $port is already in use by a server not started from $dir"

  local server=()
  # An existing DIR keeps the backend it was started with (a test's restart
  # must find its data where it left it).
  if [[ -z "$backend" && -f "$kindfile" ]]; then
    local was
    read -r was backend <"$kindfile" || true
    [[ "$was" == "$db" ]] || backend=""
  fi
  case "$db" in
  mongod)
    kind="mongod"
    mkdir -p "$dir/mongod"
    server=(mongod --dbpath "$dir/mongod" --bind_ip "$host" --port "$port")
    ;;
  javaserver)
    backend="${backend:-memory}"
    kind="javaserver $backend"
    javaserver_install
    # SerialGC: one GC thread on a small shared machine.  ExitOnOutOfMemory:
    # a server that ran out of heap dies (and the test says so) rather than
    # answering some requests and not others.
    server=("$(javaserver_java)" -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError
            "-Xmx${MTQ_JAVASERVER_HEAP:-1g}"
            "-Dmtq.log.level=${MTQ_JAVASERVER_LOG_LEVEL:-warn}"
            -cp "$MTQ_JAVASERVER_DIR/classes:$MTQ_JAVASERVER_DIR/lib/*"
            MtqTestServer --listen-addr="$host:$port")
    [[ "$backend" == memory ]] || server+=(--state-dir="$dir")
    ;;
  ferretdb)
    backend="${backend:-sqlite}"
    kind="ferretdb $backend"
    ferretdb_install
    server=("$MTQ_FERRETDB" --listen-addr="$host:$port" --state-dir="$dir"
            --telemetry=disable --log-level="${MTQ_FERRETDB_LOG_LEVEL:-error}"
            --debug-addr="${MTQ_FERRETDB_DEBUG_ADDR:--}")
    if [[ "$backend" == postgresql ]]; then
      pg_start
      server+=(--handler=postgresql --postgresql-url="$pg_url")
    else
      mkdir -p "$dir/sqlite"
      server+=(--handler=sqlite --sqlite-url="file:$dir/sqlite/")
    fi
    ;;
  esac

  log "starting $kind on $host:$port (dir $dir)"
  echo "--- $(date -Is) starting: ${server[*]}" >>"$logfile"
  nohup "${server[@]}" </dev/null >>"$logfile" 2>&1 {lockfd}>&- &
  pid=$!
  echo "$pid" >"$pidfile"
  echo "$kind" >"$kindfile"
  if ! (wait_for_port "$pid" "$port" "$logfile" "$kind"); then
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
    exit 1
  fi
  printf '%s\n' "$uri"
}

do_stop() {
  local pid kind="server"
  [[ -d "$dir" ]] || { log "not running (no $dir)"; return 0; }
  lock_dir
  [[ -f "$kindfile" ]] && kind="$(<"$kindfile")"
  if pid="$(server_pid)"; then
    log "stopping $kind (pid $pid)"
    stop_pid "$pid" "$kind"
  else
    log "$kind on port $port is not running"
  fi
  rm -f "$pidfile"
  pg_stop
}

do_status() {
  local pid kind="server"
  [[ -f "$kindfile" ]] && kind="$(<"$kindfile")"
  if pid="$(server_pid)"; then
    if port_open "$port"; then
      echo "running: $kind, pid $pid, $uri"
      return 0
    fi
    echo "starting or not responding: $kind, pid $pid, port $port"
    return 1
  fi
  echo "not running (port $port, dir $dir)"
  return 1
}

do_install() {
  local db
  server_kind
  db_server_install
  if [[ "$backend" == postgresql && "$db" == ferretdb ]]; then
    pg_bindir >/dev/null
  fi
}

"do_$cmd"
