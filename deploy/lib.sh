# shellcheck shell=bash disable=SC2034
# deploy/lib.sh - helpers shared by the deploy scripts (sourced, not run).
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sets MTQ_ROOT (the repository) and MTQ_LOCAL (<repo>/.local, where
# everything this repository installs or runs lives).
#
# Environment knobs:
#   MTQ_DB=auto|mongod|ferretdb  which server db.sh runs (auto: mongod when
#                                it is on PATH, otherwise FerretDB)
#   MTQ_FERRETDB                 FerretDB binary (default .local/bin/ferretdb)
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
# tests/integration/schema_check.py (both run by /usr/bin/python3).
MTQ_BUILD_DEPS=(cmake ninja-build gcc pkg-config libmongoc-dev libbson-dev
                libuv1-dev libcmocka-dev libinih-dev libssl-dev clang libclang-rt-14-dev
                python3-pymongo python3-jsonschema)

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

# mongod_selected: true when db.sh should run mongod rather than FerretDB.
mongod_selected() {
  case "${MTQ_DB:-auto}" in
    mongod)   command -v mongod >/dev/null || die "MTQ_DB=mongod but no mongod on PATH"; return 0 ;;
    ferretdb) return 1 ;;
    auto)     command -v mongod >/dev/null ;;
    *)        die "MTQ_DB must be auto, mongod or ferretdb (got '${MTQ_DB}')" ;;
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

# db_server_install: makes sure db.sh has a server to run.
db_server_install() {
  if mongod_selected; then
    step_note "using $(command -v mongod)"
  else
    ferretdb_install
  fi
}
