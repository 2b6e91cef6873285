#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS_PER_TARGET] - builds the libFuzzer harnesses with
# clang and runs each for a bounded time (default 30 s) over a copy of its
# seed corpus (tests/fuzz/corpus/<name>/, which is never written to).
#
#   MTQ_FUZZ_BUILD_DIR   build directory (default <repo>/build-fuzz)
#   MTQ_FUZZ_CC          compiler (default clang)
#   MTQ_FUZZ_TARGETS     which harnesses (default: task json config argv whoami cron flow)
#
# Exit status: 0 when no harness crashed, 1 when one did (the input that
# crashed it is printed, with the command that replays it), 2 on a build
# failure, 77 (ctest's "skipped") when clang cannot link libFuzzer.
set -euo pipefail

secs="${1:-30}"
[[ "$secs" =~ ^[0-9]+$ ]] || { echo "usage: tests/fuzz/run.sh [SECONDS_PER_TARGET]" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${MTQ_FUZZ_BUILD_DIR:-$root/build-fuzz}"
cc="${MTQ_FUZZ_CC:-clang}"
read -r -a targets <<<"${MTQ_FUZZ_TARGETS:-task json config argv whoami cron flow}"
# libmongoc's constructor warns when it cannot have its shared-memory
# counters; mtq never reads them (see deploy/lib.sh).
export MONGOC_DISABLE_SHM=1

log() { printf '[fuzz] %s\n' "$*" >&2; }

# clang without compiler-rt (Debian: libclang-rt-14-dev) compiles but cannot
# link -fsanitize=fuzzer: report a skip rather than a failure.
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
  'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }' >"$probe/p.c"
if ! command -v "$cc" >/dev/null ||
   ! "$cc" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>"$probe/err"; then
  log "skipped: $cc cannot build a libFuzzer program (apt-get install clang libclang-rt-14-dev)"
  sed 's/^/  /' "$probe/err" >&2 2>/dev/null || true
  exit 77
fi

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  CC="$cc" cmake -S "$root" -B "$build" "${generator[@]}" -DMTQ_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$probe/configure" 2>&1 ||
    { cat "$probe/configure" >&2; rm -rf "$build"; exit 2; }
fi
log "building the harnesses in $build"
cmake --build "$build" --target fuzzers >&2 || exit 2

failed=()
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/fuzz_$t"
  seeds="$root/tests/fuzz/corpus/$t"
  work="$build/fuzz-run/$t"
  # A fresh copy each run: what the fuzzer adds stays out of the repository.
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp -R "$seeds/." "$work/corpus/"
  dict=()
  [[ -f "$root/tests/fuzz/$t.dict" ]] && dict=("-dict=$root/tests/fuzz/$t.dict")
  log "fuzz_$t for ${secs} s over $(find "$seeds" -type f | wc -l) seeds"
  rc=0
  "$bin" "$work/corpus" "${dict[@]}" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$work/artifacts/" -print_final_stats=1 >"$work/log" 2>&1 || rc=$?
  # The last status line has the totals: runs, coverage, features, exec/s.
  done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/log" | tail -n 1 || true)"
  log "  ${done_line:-no final status line (see $work/log)}"
  if ((rc != 0)); then
    failed+=("$t")
    log "  fuzz_$t FAILED (exit $rc); the end of its log ($work/log):"
    tail -n 40 "$work/log" | sed 's/^/    /' >&2
    for a in "$work"/artifacts/*; do
      [[ -e "$a" ]] || continue
      log "  crash input: $a"
      log "  replay:      $bin $a"
    done
  fi
done

if ((${#failed[@]})); then
  log "failed: ${failed[*]}"
  exit 1
fi
log "no crash in ${targets[*]}"
