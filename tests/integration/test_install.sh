#!/usr/bin/env bash
# test_install.sh - libmtq as a library others use: `cmake --install` of the
# dev component into a scratch prefix gives libmtq.a, the public headers and
# mtq.pc; a program outside the tree (outside/producer.c, copied away from
# the sources) builds with `pkg-config --cflags --libs mtq` alone and, on a
# real server with mtqd and a worker, enqueues a task and gets its result.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
mtq_setup 27600 180

prefix="$TMP/prefix"
cmake --install "$MTQ_BUILD" --prefix "$prefix" --component dev >"$TMP/install.log" 2>&1 ||
  fail "cmake --install failed: $(tail -5 "$TMP/install.log")"
for f in include/mtq/mtq.h include/mtq/mtq_client.h lib/pkgconfig/mtq.pc; do
  [[ -f "$prefix/$f" ]] || fail "the install has no $f"
done
lib="$(find "$prefix" -name libmtq.a | head -n 1)"
[[ -n "$lib" ]] || fail "the install has no libmtq.a"
# Only the dev component: no daemon, no unit.
[[ ! -e "$prefix/bin/mtqd" ]] || fail "--component dev installed the daemons too"

work="$TMP/elsewhere"
mkdir -p "$work"
cp "$MTQ_ROOT/tests/integration/outside/producer.c" "$work/"
pcdir="$(dirname "$(find "$prefix" -name mtq.pc | head -n 1)")"
flags="$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs mtq)" ||
  fail "pkg-config does not know mtq from $pcdir"
assert_contains "$flags" "$prefix" "pkg-config flags name the install prefix"
# shellcheck disable=SC2086 # the flags are words
(cd "$work" && cc -Wall -Werror -o producer producer.c $flags) >"$TMP/cc.log" 2>&1 ||
  fail "building a program against the installed libmtq failed: $(cat "$TMP/cc.log")"
log "built outside the tree: cc producer.c $flags"

start_mtqd
start_worker w1 2
out="$("$work/producer" "$URI" default echo '{"from": "outside", "n": 7}')" ||
  fail "the outside producer failed: $out"
assert_eq '{ "from" : "outside", "n" : 7 }' "$out" "result seen by the outside producer"
log "the outside producer enqueued a task and got its result: $out"
