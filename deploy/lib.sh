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
# tests/integration/test_outside_client.sh (run by /usr/bin/python3).
MTQ_BUILD_DEPS=(cmake ninja-build gcc pkg-config libmongoc-dev libbson-dev
                libuv1-dev libcmocka-dev libinih-dev libssl-dev clang libclang-rt-14-dev
                python3-pymongo)

log()  { printf '[mtq] %s\n' "$*" >&2; }
warn() { printf '[mtq] warning: %s\n' "$*" >&2; }
die()  { printf '[mtq] error: %s\n' "$*" >&2; exit 1; }

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
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get"
  log "installing ${missing[*]}"
  if [[ -z "${MTQ_APT_UPDATED:-}" ]]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    MTQ_APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
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
  ferretdb_ok && return 0
  mkdir -p "$(dirname "$MTQ_FERRETDB")" "$MTQ_LOCAL"
  local lock="$MTQ_LOCAL/ferretdb-install.lock" lockfd
  exec {lockfd}>"$lock"
  flock "$lockfd"
  if ferretdb_ok; then exec {lockfd}>&-; return 0; fi

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
  exec {lockfd}>&-
}

# db_server_install: makes sure db.sh has a server to run.
db_server_install() {
  if mongod_selected; then
    log "using $(command -v mongod)"
  else
    ferretdb_install
  fi
}
