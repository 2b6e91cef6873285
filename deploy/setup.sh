#!/usr/bin/env bash
# deploy/setup.sh - installs what mtq needs and builds it.
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
usage: deploy/setup.sh [--deps-only | --no-build]

Prepares this machine (Debian/Ubuntu) to build, test and run mtq:
  1. installs the missing build packages with apt-get:
     ${MTQ_BUILD_DEPS[*]}
  2. builds FerretDB $MTQ_FERRETDB_VERSION into .local/bin/ferretdb when it is
     missing (skipped when mongod is on PATH and MTQ_DB is mongod or auto)
  3. builds mtq: cmake -S . -B build -G Ninja && cmake --build build
     (build directory: \$MTQ_BUILD_DIR, default <repo>/build)

  --deps-only   step 1 only
  --no-build    steps 1 and 2, not 3
  -h, --help    this message

Every step is skipped when already done, so re-running is fast and offline.
EOF
}

deps=1 server=1 build=1
while (($#)); do
  case "$1" in
    --deps-only) server=0 build=0 ;;
    --no-build)  build=0 ;;
    -h|--help)   usage; exit 0 ;;
    *)           usage >&2; exit 2 ;;
  esac
  shift
done

if ((deps)); then
  log "checking build packages"
  apt_ensure "${MTQ_BUILD_DEPS[@]}"
fi

if ((server)); then
  log "checking database server"
  db_server_install
fi

if ((build)); then
  builddir="$MTQ_BUILD"
  log "building mtq in $builddir"
  if [[ -f "$builddir/CMakeCache.txt" ]]; then
    # Already configured: keep whatever generator it was configured with.
    cmake -S "$MTQ_ROOT" -B "$builddir"
  else
    cmake -S "$MTQ_ROOT" -B "$builddir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  cmake --build "$builddir"
  log "build done"
fi
