# shellcheck shell=bash disable=SC2034
# deploy/lib.sh - helpers shared by the deploy scripts (sourced, not run).
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sets MTQ_ROOT (the repository) and MTQ_LOCAL (<repo>/.local, where
# everything this repository installs or runs lives).
#
# Environment knobs:
#   MTQ_DB=auto|mongod|ferretdb|javaserver
#                                which server db.sh runs (auto: mongod when
#                                it is on PATH, otherwise FerretDB;
#                                javaserver: mongo-java-server, for tests)
#   MTQ_FERRETDB                 FerretDB binary (default .local/bin/ferretdb)
#   MTQ_JAVA_HOME                JDK (17 or later) for mongo-java-server
#                                (default: javac on PATH, else Debian's
#                                openjdk-17-jdk-headless, installed if missing)
#   MTQ_GO                       go binary (default: go on PATH, then
#                                /usr/local/go/bin/go)
#   MTQ_BUILD_DIR                CMake build directory (default <repo>/build)
#   MTQ_LOGS_DIR                 where step writes its logs (default .local/logs)
#   MTQ_VERBOSE=1                step shows its command's output as it comes

MTQ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# libmongoc initialises its shared-memory counters in a constructor, before
# main can install a log handler; when the segment cannot be had (many
# short CLI processes at once) it prints a harmless warning. mtq never reads
# those counters.
export MONGOC_DISABLE_SHM=1
MTQ_LOCAL="$MTQ_ROOT/.local"
MTQ_FERRETDB_VERSION="v1.24.2"
MTQ_FERRETDB="${MTQ_FERRETDB:-$MTQ_LOCAL/bin/ferretdb}"
MTQ_BUILD="${MTQ_BUILD_DIR:-$MTQ_ROOT/build}"

# Packages needed to build and test mtq.  clang and its compiler-rt
# (libclang-rt-14-dev on Debian 12 holds libFuzzer and the sanitizers) are
# for the fuzz test, tests/fuzz/run.sh; python3-pymongo for the producer of
# tests/integration/test_outside_client.sh and python3-jsonschema for
# tests/integration/schema_check.py (both run by /usr/bin/python3); tzdata
# for the zones that schedules name (common/model/tz.c reads its files);
# prometheus (the server and promtool) and curl for the /metrics tests
# (tests/unit/test_web_metrics.c, tests/integration/test_metrics.sh); git
# for the repository tests/integration/test_functions.sh makes and syncs;
# libmicrohttpd and libargon2 for mtq-web, and openssl (the command) for
# the self-signed certificate of tests/integration/test_web.sh; chromium and chromium-driver for
# tests/integration/test_browser.sh, which drives the dashboard in headless
# Chromium (tests/browser/).
MTQ_BUILD_DEPS=(cmake ninja-build gcc pkg-config libmongoc-dev libbson-dev
                libuv1-dev libcmocka-dev libinih-dev libssl-dev clang libclang-rt-14-dev
                python3-pymongo python3-jsonschema tzdata prometheus curl git
                libmicrohttpd-dev libargon2-dev openssl chromium chromium-driver)

log()  { printf '[mtq] %s\n' "$*" >&2; }
warn() { printf '[mtq] warning: %s\n' "$*" >&2; }
die()  { printf '[mtq] error: %s\n' "$*" >&2; exit 1; }

# --- steps: one line on the terminal, the whole output in a log ------------------

MTQ_LOGS="${MTQ_LOGS_DIR:-$MTQ_LOCAL/logs}"

# step NAME WHAT CMD...: runs CMD (a command or a function of this file) with
# its output, apt's, dpkg's and go's included, in $MTQ_LOGS/NAME.log
# (overwritten), and prints one line: "[mtq] WHAT ... NOTE (N s)", where NOTE
# is what CMD said with step_note (default "done").  When CMD fails, prints
# the end of the log and its path, and exits 1.  MTQ_VERBOSE=1 also shows the
# output as it comes.  CMD runs in a subshell with errexit: its variables do
# not outlive it.  For scripts that run with set -e.
step() {
  local name="$1" what="$2" start=$SECONDS rc=0 note
  shift 2
  mkdir -p "$MTQ_LOGS"
  local logf="$MTQ_LOGS/$name.log" notef="$MTQ_LOGS/.$name.note"
  rm -f "$notef"
  printf '# %s: %s\n# %s\n' "$(date -u +%FT%TZ)" "$what" "$*" >"$logf"
  # errexit holds inside the subshell only when it is not the left side of
  # || or &&: hence set +e around it rather than "|| rc=$?".
  set +e
  if [[ "${MTQ_VERBOSE:-0}" == 1 ]]; then
    printf '[mtq] %s (log: %s)\n' "$what" "${logf#"$MTQ_ROOT"/}" >&2
    (set -e; export MTQ__NOTE="$notef"; "$@") </dev/null 2>&1 | tee -a "$logf" >&2
    rc=${PIPESTATUS[0]}
    printf '[mtq] %s: ' "$what" >&2
  else
    printf '[mtq] %s ... ' "$what" >&2
    (set -e; export MTQ__NOTE="$notef"; "$@") </dev/null >>"$logf" 2>&1
    rc=$?
  fi
  set -e
  note="$(cat "$notef" 2>/dev/null || true)"
  rm -f "$notef"
  if ((rc != 0)); then
    printf 'failed (exit %d)\n' "$rc" >&2
    printf '%s\n' '----- last lines of the log -----' >&2
    tail -n 15 "$logf" >&2
    printf '%s\n' '---------------------------------' >&2
    die "$what failed: the whole output is in ${logf#"$MTQ_ROOT"/}"
  fi
  printf '%s (%d s)\n' "${note:-done}" "$((SECONDS - start))" >&2
}

# step_note TEXT: what the current step did, for its line on the terminal
# ("installed 3 packages", "already built"); the last note wins.  Nothing
# outside a step.
step_note() {
  if [[ -n "${MTQ__NOTE:-}" ]]; then
    printf '%s' "$*" >"$MTQ__NOTE"
  fi
}

# as_root CMD...: runs CMD as root (directly, or through sudo).
as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $*"
  fi
}

# apt_ensure PKG...: installs the Debian packages that are not installed yet.
# Runs apt-get update (once) only when something is missing, so a second run
# is fast and works offline.
apt_ensure() {
  local pkg missing=()
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    step_note "all installed"
    return 0
  fi
  command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get"
  log "installing ${missing[*]}"
  if [[ -z "${MTQ_APT_UPDATED:-}" ]]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    MTQ_APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  step_note "installed ${missing[*]}"
}

# find_go: prints a usable go binary; installs Debian's golang-go when there
# is none (GOTOOLCHAIN=auto then fetches the toolchain FerretDB's go.mod asks
# for from the Go module proxy).
find_go() {
  local go="${MTQ_GO:-}"
  [[ -n "$go" ]] || go="$(command -v go || true)"
  [[ -n "$go" ]] || { [[ -x /usr/local/go/bin/go ]] && go=/usr/local/go/bin/go; }
  if [[ -z "$go" ]]; then
    apt_ensure golang-go ca-certificates
    go="$(command -v go)" || die "go not found after installing golang-go"
  fi
  printf '%s\n' "$go"
}

# db_kind: prints which server db.sh runs: mongod, ferretdb or javaserver
# (see MTQ_DB above).  Use it as kind="$(db_kind)" under set -e, so that a
# bad MTQ_DB stops the caller.
db_kind() {
  case "${MTQ_DB:-auto}" in
    mongod)     command -v mongod >/dev/null || die "MTQ_DB=mongod but no mongod on PATH"; echo mongod ;;
    ferretdb)   echo ferretdb ;;
    javaserver) echo javaserver ;;
    auto)       if command -v mongod >/dev/null; then echo mongod; else echo ferretdb; fi ;;
    *)          die "MTQ_DB must be auto, mongod, ferretdb or javaserver (got '${MTQ_DB}')" ;;
  esac
}

ferretdb_ok() {
  local v
  [[ -x "$MTQ_FERRETDB" ]] && v="$("$MTQ_FERRETDB" --version 2>/dev/null)" &&
    [[ "$v" == *"version: $MTQ_FERRETDB_VERSION"* ]]
}

# ferretdb_install: builds FerretDB $MTQ_FERRETDB_VERSION into $MTQ_FERRETDB
# unless it is already there.  `go install ...@version` does not work here
# (it needs the module's version list, and a FerretDB built as a dependency
# has no version.txt and panics), so: download the module, copy it, write
# build/version/version.txt and build ./cmd/ferretdb as the main module.
# Serialised with flock: parallel test runs may all want it at once.
ferretdb_install() {
  if ferretdb_ok; then
    step_note "FerretDB $MTQ_FERRETDB_VERSION already built"
    return 0
  fi
  mkdir -p "$(dirname "$MTQ_FERRETDB")" "$MTQ_LOCAL"
  local lock="$MTQ_LOCAL/ferretdb-install.lock" lockfd
  exec {lockfd}>"$lock"
  flock "$lockfd"
  if ferretdb_ok; then
    step_note "FerretDB $MTQ_FERRETDB_VERSION built meanwhile by another run"
    exec {lockfd}>&-
    return 0
  fi

  local go src work start
  go="$(find_go)"
  start=$SECONDS
  log "building FerretDB $MTQ_FERRETDB_VERSION with $("$go" version | cut -d' ' -f3) (takes a few minutes the first time)"
  src="$(cd "$MTQ_LOCAL" && "$go" mod download -json "github.com/FerretDB/FerretDB@$MTQ_FERRETDB_VERSION" |
         sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -n "$src" && -d "$src" ]] || die "go mod download of FerretDB $MTQ_FERRETDB_VERSION failed"
  work="$(mktemp -d "$MTQ_LOCAL/ferretdb-src.XXXXXX")"
  cp -R "$src/." "$work/"
  chmod -R u+w "$work"
  echo "$MTQ_FERRETDB_VERSION" > "$work/build/version/version.txt"
  if ! (cd "$work" && GOFLAGS=-buildvcs=false "$go" build -o "$work/ferretdb.bin" ./cmd/ferretdb >&2); then
    rm -rf "$work"
    die "FerretDB build failed"
  fi
  mv -f "$work/ferretdb.bin" "$MTQ_FERRETDB"
  rm -rf "$work"
  ferretdb_ok || die "$MTQ_FERRETDB does not report $MTQ_FERRETDB_VERSION"
  log "FerretDB installed in $MTQ_FERRETDB ($((SECONDS - start)) s)"
  step_note "built FerretDB $MTQ_FERRETDB_VERSION into ${MTQ_FERRETDB#"$MTQ_ROOT"/}"
  exec {lockfd}>&-
}

# --- mongo-java-server (MTQ_DB=javaserver) --------------------------------------
#
# A second server for the tests: MongoDB's wire protocol in a JVM, data in
# memory (or in an H2 file, db.sh --backend h2), each write to a document
# done in one step under its collection's lock, as MongoDB does.  What it is
# made of is pinned in
# deploy/javaserver/pom.xml (jars from Maven Central) and
# deploy/javaserver/MtqTestServer.java (the launcher); the install in
# $MTQ_JAVASERVER_DIR is keyed on both files and the JDK that compiled it.

MTQ_JAVASERVER_SRC="$MTQ_ROOT/deploy/javaserver"
MTQ_JAVASERVER_DIR="$MTQ_LOCAL/javaserver"

# jdk_ok HOME: HOME is a JDK of version 17 or later (mongo-java-server
# 1.47's classes are Java 17's).
jdk_ok() {
  local v
  [[ -x "$1/bin/java" && -x "$1/bin/javac" ]] || return 1
  v="$("$1/bin/javac" -version 2>&1)" || return 1   # "javac 17.0.15"
  v="${v#javac }"
  [[ "${v%%.*}" =~ ^[0-9]+$ ]] && ((${v%%.*} >= 17))
}

# find_jdk: prints the home of a JDK 17 or later: $MTQ_JAVA_HOME, else the
# one of javac on PATH, else Debian 12's OpenJDK 17; fails when there is none.
find_jdk() {
  local home="${MTQ_JAVA_HOME:-}" javac d
  if [[ -n "$home" ]]; then
    jdk_ok "$home" || die "MTQ_JAVA_HOME=$home is not a JDK of version 17 or later"
    printf '%s\n' "$home"
    return 0
  fi
  if javac="$(command -v javac)"; then
    home="$(dirname "$(dirname "$(readlink -f "$javac")")")"
    if jdk_ok "$home"; then printf '%s\n' "$home"; return 0; fi
  fi
  for d in /usr/lib/jvm/java-17-openjdk-*; do
    if jdk_ok "$d"; then printf '%s\n' "$d"; return 0; fi
  done
  return 1
}

# javaserver_packages: installs with apt what installing mongo-java-server
# needs and this machine lacks: a JDK 17 (Debian 12's default) and Maven
# (which brings Java's CA certificates for Maven Central's TLS).
javaserver_packages() {
  local pkgs=()
  find_jdk >/dev/null || pkgs+=(openjdk-17-jdk-headless)
  command -v mvn >/dev/null || pkgs+=(maven)
  ((${#pkgs[@]} == 0)) || apt_ensure "${pkgs[@]}" ca-certificates
}

# javaserver_key JDK_HOME: what an install is made of; a change of it means
# installing again.
javaserver_key() {
  { cat "$MTQ_JAVASERVER_SRC/pom.xml" "$MTQ_JAVASERVER_SRC/MtqTestServer.java"; echo "$1"; } |
    sha256sum | cut -d' ' -f1
}

# javaserver_ok: the install is there, complete, and of the current sources.
javaserver_ok() {
  local d="$MTQ_JAVASERVER_DIR" home
  [[ -f "$d/installed" && -f "$d/java-home" && -f "$d/classes/MtqTestServer.class" ]] || return 1
  home="$(<"$d/java-home")"
  [[ -x "$home/bin/java" ]] && [[ "$(<"$d/installed")" == "$(javaserver_key "$home")" ]]
}

# javaserver_java: prints the java binary that runs the installed server.
javaserver_java() { printf '%s/bin/java\n' "$(<"$MTQ_JAVASERVER_DIR/java-home")"; }

# javaserver_install: installs mongo-java-server into $MTQ_JAVASERVER_DIR
# unless it is there: the jars of deploy/javaserver/pom.xml (mvn
# dependency:copy-dependencies, with a Maven repository of its own that is
# removed afterwards) in lib/, the launcher compiled into classes/.  Built
# aside and moved in place, so that a failed or interrupted install leaves
# nothing half-done; serialised with flock like ferretdb_install.
javaserver_install() {
  if javaserver_ok; then
    step_note "mongo-java-server already installed"
    return 0
  fi
  mkdir -p "$MTQ_LOCAL"
  local lock="$MTQ_LOCAL/javaserver-install.lock" lockfd
  exec {lockfd}>"$lock"
  flock "$lockfd"
  if javaserver_ok; then
    step_note "mongo-java-server installed meanwhile by another run"
    exec {lockfd}>&-
    return 0
  fi

  local jdk work start=$SECONDS
  javaserver_packages
  jdk="$(find_jdk)" || die "no JDK 17 or later, even after installing openjdk-17-jdk-headless"
  log "installing mongo-java-server (deploy/javaserver/pom.xml) with $("$jdk/bin/javac" -version 2>&1)"
  work="$(mktemp -d "$MTQ_LOCAL/javaserver-new.XXXXXX")"
  chmod 755 "$work"
  # Debian's mvn writes colour resets even in batch mode: its output is
  # shown, without them, only when it fails.
  if ! JAVA_HOME="$jdk" mvn -B -q --no-transfer-progress \
         -f "$MTQ_JAVASERVER_SRC/pom.xml" -Dmaven.repo.local="$work/m2" \
         dependency:copy-dependencies -DoutputDirectory="$work/lib" >"$work/mvn.log" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "$work/mvn.log" >&2
    rm -rf "$work"
    die "mvn could not fetch mongo-java-server's jars"
  fi
  rm -rf "$work/m2" "$work/mvn.log"
  if ! "$jdk/bin/javac" --release 17 -Xlint:all -Werror -d "$work/classes" -cp "$work/lib/*" \
         "$MTQ_JAVASERVER_SRC/MtqTestServer.java" >&2; then
    rm -rf "$work"
    die "javac could not compile deploy/javaserver/MtqTestServer.java"
  fi
  echo "$jdk" >"$work/java-home"
  javaserver_key "$jdk" >"$work/installed"
  rm -rf "$MTQ_JAVASERVER_DIR"
  mv "$work" "$MTQ_JAVASERVER_DIR"
  javaserver_ok || die "the install in $MTQ_JAVASERVER_DIR does not check out"
  log "mongo-java-server installed in $MTQ_JAVASERVER_DIR ($(du -sh "$MTQ_JAVASERVER_DIR" | cut -f1), $((SECONDS - start)) s)"
  step_note "installed mongo-java-server into ${MTQ_JAVASERVER_DIR#"$MTQ_ROOT"/}"
  exec {lockfd}>&-
}

# db_server_install: makes sure db.sh has a server to run.
db_server_install() {
  local kind
  kind="$(db_kind)"
  case "$kind" in
    mongod)     step_note "using $(command -v mongod)" ;;
    ferretdb)   ferretdb_install ;;
    javaserver) javaserver_install ;;
  esac
}
