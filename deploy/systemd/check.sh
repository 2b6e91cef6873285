#!/usr/bin/env bash
# deploy/systemd/check.sh BUILD_DIR - installs a built tree into a scratch
# DESTDIR and checks what a systemd machine would get from it:
#
#   * `cmake --install` succeeds without a warning;
#   * systemd-analyze verify accepts mtqd.service and an instance of
#     mtq-worker@.service without a word, with the staging directory as the
#     root, so the ExecStart= binaries must be there at their installed path;
#   * systemd-analyze security --offline rates both no worse than today
#     (MTQD_MAX_EXPOSURE, WORKER_MAX_EXPOSURE below), so a sandboxing line
#     removed by mistake is noticed;
#   * systemd-sysusers creates the mtq user from the installed entry;
#   * the example configurations are installed.
#
# Nothing outside the scratch directory is changed (the build directory's
# install_manifest.txt is put back), and no service starts.
# Exit status: 0 when all is well, 1 when a check failed, 2 for bad usage,
# 77 (ctest's "skipped") when systemd-analyze or the host's units are missing.
set -euo pipefail

# The highest exposure levels allowed, in tenths as --threshold takes them:
# today's (1.3 and 4.0) plus a little room.
MTQD_MAX_EXPOSURE=15
WORKER_MAX_EXPOSURE=42

build="${1:-}"
[[ -n "$build" && -f "$build/CMakeCache.txt" ]] || {
  echo "usage: deploy/systemd/check.sh BUILD_DIR (a configured and built tree)" >&2
  exit 2
}
build="$(cd "$build" && pwd)"

log() { printf '[systemd] %s\n' "$*" >&2; }
fail() {
  log "FAILED: $1"
  [[ -s "$out" ]] && sed 's/^/  /' "$out" >&2
  exit 1
}

command -v systemd-analyze >/dev/null || { log "skipped: no systemd-analyze"; exit 77; }
# verify follows the units' dependencies (sysinit.target, network-online.target
# ...) inside the root: it gets a copy of the host's.
host_units=""
for d in /usr/lib/systemd/system /lib/systemd/system; do
  [[ -f "$d/sysinit.target" ]] && { host_units="$d"; break; }
done
[[ -n "$host_units" ]] || { log "skipped: no systemd units on this host to verify against"; exit 77; }

root="$(mktemp -d)"
out="$root.out"
# cmake --install writes install_manifest.txt into the build directory; keep
# the one of a real install (people uninstall with it).
manifest="$build/install_manifest.txt"
saved=""
if [[ -f "$manifest" ]]; then
  saved="$root.manifest"
  cp -p "$manifest" "$saved"
fi
restore_manifest() {
  if [[ -n "$saved" ]]; then mv -f "$saved" "$manifest"; else rm -f "$manifest"; fi
}
trap 'restore_manifest; rm -rf "$root" "$out"' EXIT

# --- install ----------------------------------------------------------------

DESTDIR="$root" cmake --install "$build" >"$out" 2>&1 || fail "cmake --install"
grep -qi 'warning' "$out" && fail "cmake --install warned"

unit_dir="$(find "$root" -name mtqd.service -path '*/systemd/system/*' -printf '%h\n' | head -n1)"
[[ -n "$unit_dir" ]] || fail "no mtqd.service installed"
[[ -f "$unit_dir/mtq-worker@.service" ]] || fail "no mtq-worker@.service next to mtqd.service"
log "units installed in ${unit_dir#"$root"}"

mkdir -p "$root/usr/lib/systemd/system"
cp -an "$host_units/." "$root/usr/lib/systemd/system/"

# --- systemd-analyze --------------------------------------------------------

# A template is verified through an instance; its file does not need to exist.
units=("$unit_dir/mtqd.service" "$unit_dir/mtq-worker@check.service")
limits=("$MTQD_MAX_EXPOSURE" "$WORKER_MAX_EXPOSURE")
for i in "${!units[@]}"; do
  unit="${units[$i]}"
  name="$(basename "$unit")"
  # Unknown keys and bad values are only warnings (exit status 0): any
  # output at all is a failure.
  systemd-analyze verify --root="$root" --man=no "$unit" >"$out" 2>&1 ||
    fail "systemd-analyze verify $name"
  [[ -s "$out" ]] && fail "systemd-analyze verify $name has something to say"
  log "verify $name: clean"

  systemd-analyze security --offline=yes --root="$root" --threshold="${limits[$i]}" \
    --no-pager "$unit" >"$out" 2>&1 ||
    fail "systemd-analyze security $name: exposure above ${limits[$i]}/10"
  grep -qi 'warning\|unknown\|failed' "$out" && fail "systemd-analyze security $name warned"
  log "security $name: $(grep -o 'exposure level for .*' "$out" | sed 's/^exposure level for [^:]*: //') (at most ${limits[$i]}/10)"
done

# --- the mtq user -----------------------------------------------------------

sysusers="$(find "$root" -path '*/sysusers.d/mtq.conf' | head -n1)"
[[ -n "$sysusers" ]] || fail "no sysusers.d/mtq.conf installed"
if command -v systemd-sysusers >/dev/null; then
  mkdir -p "$root/etc"
  systemd-sysusers --root="$root" "$sysusers" >"$out" 2>&1 || fail "systemd-sysusers"
  grep -q '^mtq:x:[0-9]*:[0-9]*:[^:]*:/var/lib/mtq:' "$root/etc/passwd" ||
    fail "systemd-sysusers did not create user mtq with home /var/lib/mtq"
  log "sysusers: creates user mtq"
else
  log "no systemd-sysusers: mtq.conf not tried"
fi

# --- examples ---------------------------------------------------------------

examples="$(find "$root" -path '*/mtq/examples' -type d | head -n1)"
[[ -n "$examples" ]] || fail "no examples installed"
for f in mtqd.ini m1.ini m2.ini m3.ini m4.ini m5.ini square.sh; do
  [[ -f "$examples/$f" ]] || fail "example $f not installed"
done
[[ -x "$examples/square.sh" ]] || fail "example task scripts are not executable"
log "examples installed in ${examples#"$root"}"
log "all checks passed"
