#!/usr/bin/env bash
# deploy/test.sh - builds mtq (deploy/setup.sh) and runs every test.
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF2
usage: deploy/test.sh [CTEST_ARGS...]

Runs deploy/setup.sh --javaserver (build packages, FerretDB, mongo-java-server,
build of mtq), then
  ctest --test-dir build --output-on-failure [CTEST_ARGS...]
i.e. the unit and the integration tests (each integration test starts its own
database with deploy/db.sh; eight of them run again on mongo-java-server,
ctest -L javaserver) and the fuzz test (tests/fuzz/run.sh, about two
minutes).  Extra arguments go to ctest, e.g. '-L unit', '-LE fuzz',
'-R worker', '-j 4'.  \$MTQ_BUILD_DIR moves the build directory.
Exit status: non-zero when the build or any test fails.
EOF2
}

case "${1:-}" in -h|--help) usage; exit 0 ;; esac

bash "$MTQ_ROOT/deploy/setup.sh" --javaserver
log "running the tests"
ctest --test-dir "$MTQ_BUILD" --output-on-failure "$@"
