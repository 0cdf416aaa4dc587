# shellcheck shell=bash
# Plumbing for topology.sh: messages, prerequisite checks, and small wrappers around
# `ip netns`. Nothing here knows about NAT, DR or TUN; the lesson is in topology.sh.
#
# Every link is created *inside* a namespace (`ip -n NS link add ... peer ... netns OTHER`),
# never in the host namespace, so deleting the namespaces deletes every link, and the
# interface names (eth0, eth1, br0, ...) never need the topology's prefix in them.

# Messages go to stderr so that stdout stays clean for `info` (which callers source).
log() { printf 'topology: %s\n' "$*" >&2; }
die() {
  printf 'topology: error: %s\n' "$*" >&2
  exit 1
}

# need_root: creating namespaces, links and sysctls needs CAP_NET_ADMIN and CAP_SYS_ADMIN.
need_root() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces need CAP_NET_ADMIN/CAP_SYS_ADMIN); try: sudo $0 $*"
}

# need_cmd PROG PACKAGE: fail early and say which Debian package provides PROG.
need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH; install the Debian package '$2' (or run netns-scripts/setup.sh)"
}

# ns_exists NAME: true when `ip netns` knows NAME.
ns_exists() {
  [ -e "/var/run/netns/$1" ] || ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF -- "$1"
}

# nsx NS CMD...: run CMD inside namespace NS.
nsx() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

# sysctl_set NS KEY=VALUE...: set sysctls inside NS (net.* sysctls are per namespace).
sysctl_set() {
  local ns=$1
  shift
  nsx "$ns" sysctl -qw "$@" >/dev/null
}

# ns_add NAME: a fresh namespace with loopback up and quiet IPv6.
# The lab's wires carry both families. IPv6 is kept quiet (before any link exists, through
# `default`) so they carry little besides what a lesson is about: no duplicate address
# detection (nothing else on these wires can own an address, and DAD would hold each one
# back for a second), no router solicitations, no router advertisements taken. Each link
# keeps its link-local address: neighbour discovery for traffic the kernel forwards picks
# a link-local source for its solicitations, and without one it never resolves.
ns_add() {
  ip netns add "$1"
  ip -n "$1" link set lo up
  sysctl_set "$1" net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
    net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.default.router_solicitations=0 \
    net.ipv6.conf.default.dad_transmits=0 net.ipv6.conf.all.dad_transmits=0
}

# VETHS collects "NS DEV" for every veth end we create (for --no-offload).
VETHS=()

# veth NS_A DEV_A MAC_A NS_B DEV_B MAC_B: one veth pair (a virtual cable) from DEV_A in
# NS_A to DEV_B in NS_B, both ends up. An empty MAC leaves the kernel's random one.
veth() {
  local nsa=$1 deva=$2 maca=$3 nsb=$4 devb=$5 macb=$6
  local a=(-n "$nsa" link add "$deva") b=(type veth peer name "$devb")
  [ -n "$maca" ] && a+=(address "$maca")
  [ -n "$macb" ] && b+=(address "$macb")
  ip "${a[@]}" "${b[@]}" netns "$nsb"
  ip -n "$nsa" link set "$deva" up
  ip -n "$nsb" link set "$devb" up
  VETHS+=("$nsa $deva" "$nsb $devb")
}

# bridge_add NS BR: a Linux bridge BR in NS, up, without STP and with no forwarding delay,
# so a port forwards as soon as it is up (no 30 s of listening/learning).
bridge_add() {
  ip -n "$1" link add "$2" type bridge stp_state 0 forward_delay 0
  ip -n "$1" link set "$2" up
}

# bridge_port NS DEV MAC SW PORT BR: a cable from DEV (MAC) in NS to PORT of bridge BR in
# the switch namespace SW (PORT takes the kernel's random MAC).
bridge_port() {
  veth "$1" "$2" "$3" "$4" "$5" ""
  ip -n "$4" link set "$5" master "$6"
}

# rp_filter_off NS DEV...: no reverse-path filtering in NS - on conf/all and conf/default
# (for devices made later) and on each DEV, since the effective value is the larger of
# conf/all and conf/<dev>.
rp_filter_off() {
  local ns=$1 dev keys=(net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0)
  shift
  for dev in "$@"; do keys+=("net.ipv4.conf.$dev.rp_filter=0"); done
  sysctl_set "$ns" "${keys[@]}"
}

# arp_quiet NS DEV: NS answers ARP on DEV only for addresses on DEV (arp_ignore=1) and asks
# from its best address on the target's subnet (arp_announce=2), on conf/all and on DEV:
# a host with a VIP on lo never claims it on the wire.
arp_quiet() {
  sysctl_set "$1" net.ipv4.conf.all.arp_ignore=1 "net.ipv4.conf.$2.arp_ignore=1" \
    net.ipv4.conf.all.arp_announce=2 "net.ipv4.conf.$2.arp_announce=2"
}

# offloads_off: switch off segmentation and checksum offloads on every veth end we made.
# With them on (the veth default) the kernel passes 64 KB TCP "super-packets" (GSO/GRO) and
# leaves checksums to be filled in later (CHECKSUM_PARTIAL); benchmarks compare both.
offloads_off() {
  local entry ns dev
  for entry in "${VETHS[@]}"; do
    ns=${entry% *}
    dev=${entry#* }
    nsx "$ns" ethtool -K "$dev" tso off gso off gro off tx off rx off >/dev/null 2>&1 ||
      die "ethtool -K $dev (in $ns) failed"
  done
}

# kill_ns_pids NS: end the processes still running inside NS (by pid, TERM then KILL).
# A namespace with a process in it outlives `ip netns del` (and so do its links), so a
# daemon left running in the lab would leave the topology half alive.
kill_ns_pids() {
  local ns=$1 pids pid _
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [ -n "$pids" ] || return 0
  log "ending processes in $ns: $(echo "$pids" | tr '\n' ' ')"
  for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] || return 0
    sleep 0.1
  done
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
}
