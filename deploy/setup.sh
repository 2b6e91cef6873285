#!/usr/bin/env bash
# deploy/setup.sh - installs what mtq needs and builds it.
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
usage: deploy/setup.sh [--deps-only | --no-build] [--javaserver]

Prepares this machine (Debian/Ubuntu) to build, test and run mtq:
  1. installs the missing build packages with apt-get:
     ${MTQ_BUILD_DEPS[*]}
  2. builds FerretDB $MTQ_FERRETDB_VERSION into .local/bin/ferretdb when it is
     missing (skipped when mongod is on PATH and MTQ_DB is mongod or auto)
  3. with --javaserver, installs mongo-java-server into .local/javaserver/
     (and a JDK 17 and Maven with apt-get when missing): the second server
     some integration tests run on (ctest -L javaserver)
  4. builds mtq: cmake -S . -B build -G Ninja && cmake --build build
     (build directory: \$MTQ_BUILD_DIR, default <repo>/build); its tests on
     mongo-java-server are registered when a JDK 17 is found

  --deps-only   step 1 only
  --no-build    steps 1 to 3, not 4
  --javaserver  step 3 too (deploy/test.sh asks for it)
  -h, --help    this message

Every step is skipped when already done, so re-running is fast and offline.
Each step prints one line; its whole output (apt-get, go, mvn, the compiler)
is in .local/logs/packages.log, ferretdb.log, javaserver.log and build.log,
and the end of it is shown when the step fails.  MTQ_VERBOSE=1 shows it as it comes too.
EOF
}

deps=1 server=1 build=1 javaserver=0
while (($#)); do
  case "$1" in
    --deps-only)  server=0 build=0 ;;
    --javaserver) javaserver=1 ;;
    --no-build)   build=0 ;;
    -h|--help)    usage; exit 0 ;;
    *)            usage >&2; exit 2 ;;
  esac
  shift
done

# build_mtq: configures (once) and builds mtq in $MTQ_BUILD.
build_mtq() {
  if [[ -f "$MTQ_BUILD/CMakeCache.txt" ]]; then
    # Already configured: keep whatever generator it was configured with.
    cmake -S "$MTQ_ROOT" -B "$MTQ_BUILD"
  else
    cmake -S "$MTQ_ROOT" -B "$MTQ_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  cmake --build "$MTQ_BUILD"
  step_note "${MTQ_BUILD#"$MTQ_ROOT"/}/ is up to date"
}

# One line per step; what apt, dpkg, go and the compiler print goes to
# .local/logs/<step>.log.
if ((deps)); then
  step packages "build packages" apt_ensure "${MTQ_BUILD_DEPS[@]}"
fi

if ((server)); then
  step ferretdb "database server" db_server_install
fi

if ((javaserver && server)); then
  step javaserver "test server mongo-java-server" javaserver_install
fi

if ((build)); then
  step build "building mtq" build_mtq
fi
