# shellcheck shell=bash disable=SC2034 # sets lib.sh's MTQ_DB_HOST, MTQ_DB_EXEC, MTQ_EXEC
# tests/integration/netlib.sh - machines simulated by Linux network
# namespaces, for tests of several hosts.  Sourced after lib.sh:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
#   source "$(dirname "${BASH_SOURCE[0]}")/netlib.sh"
#   mtq_arm LIMIT_S                       # trap and watchdog first
#   net_setup 5                           # the hub and m1..m5
#   net_start_hub BASE_PORT [LINES...]    # database and mtqd in the hub
#   net_start_worker m1 CONC [LINES...]   # worker m1 on host m1
#
# The network: a namespace "hub" holds a bridge, br0, at 10.213.0.1/24;
# each host mI is a namespace whose eth0 (10.213.0.(10+I)/24) is the peer
# of vmI on that bridge.  The veth pairs are made inside the namespaces,
# never in the machine's own, so that no name can collide with another
# run's and deleting a namespace deletes its links.  Everything else (files,
# pids) is shared with the test: lib.sh tracks and stops the daemons as
# usual, and fn/record.sh's side-channel log works across hosts.
#
# Each process started on a host also gets a UTS namespace with the host's
# name as hostname (mtq-worker reports gethostname() as its whoami host).
#
# Namespaces are named mtqnet<PID>-hub and mtqnet<PID>-mI, PID being the
# test's shell.  They go at exit (lib.sh's mtq_on_cleanup, after the daemons
# stopped); those of a run that died without cleaning up (SIGKILL) go at the
# next net_setup, once their PID is dead.  A host still cut off at exit is
# put back first, so that its worker can stop cleanly and a failed test
# reports its own failure, not that worker's SIGKILL.
#
# Functions: net_setup N, net_exec HOST CMD..., net_cut HOST, net_restore
# HOST, net_start_hub, net_start_worker.  HOST is hub or m1..mN.
# Globals: NET_HOSTS (m1..mN), NET_HUB_ADDR.  Needs root, ip (iproute2),
# unshare and hostname: without them the test fails, it is never skipped.

NET_PREFIX="mtqnet"
NET_RUN="$NET_PREFIX$$"
NET_HUB_ADDR="10.213.0.1"
NET_HOSTS=()
NET__TEARDOWN_ARMED=0 NET__RESTORE_ARMED=0
declare -A NET__CUT=() # hosts cut off now

# net__ns HOST: the namespace of HOST.
net__ns() { printf '%s-%s\n' "$NET_RUN" "$1"; }

# net__index HOST: I of mI (1..N), or a failure.
net__index() {
  [[ "$1" =~ ^m([0-9]+)$ ]] && ((BASH_REMATCH[1] >= 1 && BASH_REMATCH[1] <= ${#NET_HOSTS[@]})) ||
    fail "netlib: no host '$1' (hosts: ${NET_HOSTS[*]})"
  printf '%s\n' "${BASH_REMATCH[1]}"
}

# net__prefix HOST: sets NET__EXEC to the command prefix that runs a command
# on HOST in place (ip netns exec and unshare exec, sh execs: the pid of the
# command is the pid of the prefix).
net__prefix() {
  if [[ "$1" == hub ]]; then
    NET__EXEC=(ip netns exec "$(net__ns hub)")
  else
    net__index "$1" >/dev/null
    NET__EXEC=(ip netns exec "$(net__ns "$1")"
               unshare --uts sh -c 'hostname "$0" && exec "$@"' "$1")
  fi
}

# net__ip ARGS...: ip, bounded in time, its error kept for the message.
net__ip() {
  local out
  out="$(timeout 10 ip "$@" 2>&1)" || { echo "ip $*: ${out:-timed out}"; return 1; }
}

# net__kill_ns NS: SIGKILLs what still runs in NS (only the processes of a
# test run live there) and deletes it.
net__kill_ns() {
  local pids
  pids="$(ip netns pids "$1" 2>/dev/null || true)"
  if [[ -n "$pids" ]]; then
    log "netlib: killing what still runs in $1: ${pids//$'\n'/ }"
    # shellcheck disable=SC2086 # one argument per pid
    kill -KILL $pids 2>/dev/null || true
  fi
  net__ip netns del "$1"
}

# net__sweep: deletes the namespaces of earlier runs whose shell is dead.
net__sweep() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ "$ns" =~ ^${NET_PREFIX}([0-9]+)- ]] || continue
    pid="${BASH_REMATCH[1]}"
    [[ "$pid" != "$$" ]] && ! kill -0 "$pid" 2>/dev/null || continue
    log "netlib: deleting $ns, left over by run $pid"
    net__kill_ns "$ns" >&2 || true # a parallel run may sweep it too
  done
}

# net_teardown: deletes this run's namespaces (run at exit by lib.sh).
# Fails when one is left.
net_teardown() {
  local ns left
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ "$ns" == "$NET_RUN"-* ]] || continue
    net__kill_ns "$ns" >&2 || true
  done
  left="$(ip netns list 2>/dev/null | awk -v p="$NET_RUN-" 'index($1, p) == 1 {print $1}')"
  [[ -z "$left" ]] || { echo "[$TEST_NAME] netlib: namespaces left: $left" >&2; return 1; }
}

# net__check_reach HOST: HOST reaches the hub (a closed port answers with a
# reset at once; an unreachable one does not answer).
net__check_reach() {
  local out
  out="$(timeout 5 ip netns exec "$(net__ns "$1")" \
           bash -c "exec 3<>/dev/tcp/$NET_HUB_ADDR/1" 2>&1)" && return 0
  grep -qi 'refused' <<<"$out" || fail "netlib: $1 cannot reach the hub at $NET_HUB_ADDR: ${out:-timed out}"
}

# net_setup N: the hub and hosts m1..mN; the database will be in the hub.
net_setup() {
  local n="$1" i ns hub err b
  [[ -n "$WATCHDOG_PID" ]] || fail "netlib: call mtq_arm before net_setup (clean-up must be armed)"
  [[ "$n" =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 200)) || fail "netlib: net_setup needs 1..200 hosts, not '$n'"
  ((EUID == 0)) || fail "netlib: network namespaces need root (euid $EUID)"
  for b in ip unshare hostname timeout; do
    command -v "$b" >/dev/null || fail "netlib: '$b' is missing"
  done
  net__sweep
  if ((!NET__TEARDOWN_ARMED)); then
    mtq_on_cleanup net_teardown # armed before the first namespace exists
    NET__TEARDOWN_ARMED=1
  fi

  hub="$(net__ns hub)"
  err="$(net__ip netns add "$hub")" || fail "netlib: cannot create network namespace $hub: $err"
  err="$(net__ip -n "$hub" link set lo up &&
         net__ip -n "$hub" link add br0 type bridge &&
         net__ip -n "$hub" addr add "$NET_HUB_ADDR/24" dev br0 &&
         net__ip -n "$hub" link set br0 up)" || fail "netlib: cannot set up the hub: $err"
  NET_HOSTS=()
  for ((i = 1; i <= n; i++)); do
    ns="$(net__ns "m$i")"
    NET_HOSTS+=("m$i")
    err="$(net__ip netns add "$ns")" || fail "netlib: cannot create network namespace $ns: $err"
    err="$(net__ip -n "$hub" link add "vm$i" type veth peer name eth0 netns "$ns" &&
           net__ip -n "$hub" link set "vm$i" master br0 up &&
           net__ip -n "$ns" link set lo up &&
           net__ip -n "$ns" addr add "10.213.0.$((10 + i))/24" dev eth0 &&
           net__ip -n "$ns" link set eth0 up)" || fail "netlib: cannot link m$i to the hub: $err"
  done
  for ((i = 1; i <= n; i++)); do
    net__check_reach "m$i"
  done
  # The database, the CLI and dbedit run in the hub, on the bridge address.
  MTQ_DB_HOST="$NET_HUB_ADDR"
  net__prefix hub
  MTQ_DB_EXEC=("${NET__EXEC[@]}")
  log "netlib: hub $hub ($NET_HUB_ADDR) and hosts ${NET_HOSTS[*]} up"
}

# net_exec HOST CMD...: runs CMD on HOST (in place: exec).
net_exec() {
  net__prefix "$1"
  shift
  "${NET__EXEC[@]}" "$@"
}

# net_cut HOST: takes HOST off the network (its link's hub end down, as when
# its cable is pulled: its eth0 loses carrier, open connections just stall).
net_cut() {
  local i err
  i="$(net__index "$1")"
  if ((!NET__RESTORE_ARMED)); then
    mtq_on_cleanup --first net__restore_cut
    NET__RESTORE_ARMED=1
  fi
  NET__CUT[$1]=1
  err="$(net__ip -n "$(net__ns hub)" link set "vm$i" down)" || fail "netlib: cannot cut $1: $err"
  log "netlib: $1 cut off"
}

# net_restore HOST: puts HOST back on the network.
net_restore() {
  local i err
  i="$(net__index "$1")"
  err="$(net__ip -n "$(net__ns hub)" link set "vm$i" up)" || fail "netlib: cannot restore $1: $err"
  unset "NET__CUT[$1]"
  log "netlib: $1 back on the network"
}

# net__restore_cut: puts back the hosts still cut off (at exit, before the
# daemons are stopped).
net__restore_cut() {
  local h
  for h in "${!NET__CUT[@]}"; do
    net__ip -n "$(net__ns hub)" link set "vm${h#m}" up >&2 && log "netlib: $h put back for the clean-up"
  done
  NET__CUT=()
}

# net_start_hub BASE_PORT [EXTRA [coordinator] LINES...]: the database (first
# free port from BASE_PORT) and mtqd, in the hub.
net_start_hub() {
  local base="$1"
  shift
  mtq_setup "$base" "$MTQ_LIMIT_S"
  net__prefix hub
  local MTQ_EXEC=("${NET__EXEC[@]}") # seen by start_mtqd
  start_mtqd "$@"
}

# net_start_worker HOST CONCURRENCY [EXTRA [worker] LINES...]: worker HOST
# (its id) on host HOST, with HOST as hostname; see start_worker.
net_start_worker() {
  local host="$1"
  shift
  net__prefix "$host"
  local MTQ_EXEC=("${NET__EXEC[@]}") # seen by start_worker
  start_worker "$host" "$@"
}
