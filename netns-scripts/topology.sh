#!/usr/bin/env bash
# The uvs lab: one client, one director and three real servers, each in its own network
# namespace, wired for one of the three LVS forwarding methods (NAT, DR, TUN). Read it
# top to bottom as a lesson; netns-scripts/README.md has a diagram of each topology.
#
#   topology.sh up METHOD [PREFIX] [--no-offload] [--directors N] [--real-servers N]
#   topology.sh down [PREFIX]                       remove every namespace PREFIX-*
#   topology.sh info METHOD [PREFIX] [--directors N] [--real-servers N]
#   topology.sh exec [--prefix PREFIX] ROLE CMD...  run CMD in a role's namespace
#
# METHOD is nat, dr, tun or ecmp: ecmp is the scale-out site - a router with BGP and ECMP in
# front of N directors (--directors, default 3) and M real servers (--real-servers,
# default 3), all in ecmp.sh. PREFIX (default uvslab, or $UVS_LAB_PREFIX) names the
# namespaces: PREFIX-cl, PREFIX-dir, PREFIX-rs1..3, PREFIX-sw (+ PREFIX-rt for tun). It is
# 1-12 of [a-z0-9]: no dash, so that `PREFIX-*` never matches another topology's names.
# Interface names never contain the prefix (links are made inside the namespaces), so they
# are the same in every topology and always far below the kernel's 15-character limit.
#
# What uvs itself does is not set up here: the director runs `uvs` on eth0 and eth1, and
# for TUN each real server runs `uvs realserver --decap`, which creates its own uvstun0.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ecmp.sh
. "$HERE/ecmp.sh"

usage() {
  sed -n '6,9s/^#   //p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

# ecmp_args ARGS...: splits --directors/--real-servers off the arguments of up and info
# (into ECMP_DIRECTORS, ECMP_SERVERS); the rest goes to ECMP_REST.
ecmp_args() {
  ECMP_DIRECTORS=3 ECMP_SERVERS=3 ECMP_REST=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --directors | --real-servers)
        [ $# -ge 2 ] || die "$1 wants a number"
        if [ "$1" = --directors ]; then ECMP_DIRECTORS=$2; else ECMP_SERVERS=$2; fi
        shift 2
        ;;
      *)
        ECMP_REST+=("$1")
        shift
        ;;
    esac
  done
}

# ---------------------------------------------------------------------------------------
# The address plan. Only the benchmarking range 198.18.0.0/15 (RFC 2544) is used, so the lab
# can never be confused with - or leak into - a real network (192.0.2.0/24, the first
# documentation range, is in use on some hosts' own uplinks, so the lab keeps clear of it).
#
#   198.18.0.0/24    client segment: client .10, director eth0 .1, VIP .100
#   198.18.1.0/24    the director's real-server segment: director eth1 .1;
#                    NAT/DR real servers .11 .12 .13; TUN router .254
#   198.18.2.0/24    TUN only: the real servers' own subnet behind the router:
#                    router .1, real servers .11 .12 .13
#
# Every segment is dual-stack, with IPv6 from the documentation prefix 2001:db8::/32 and the
# same host numbers: 2001:db8::/64 (client ::10, director ::1, VIP ::100), 2001:db8:1::/64
# (director ::1, real servers ::11-::13, TUN router ::fe), 2001:db8:2::/64 (TUN: router ::1,
# real servers ::11-::13). Addresses are added with `nodad`: duplicate address detection
# would hold each one back for a second, and nothing else on these wires can own them.
#
# MAC addresses are stable and locally administered (02:...): 02:75:76 ("uv"), then the
# segment (01 client, 02 director's RS side, 03 TUN subnet), 00, and the host's last
# address octet - so a capture shows at a glance who sent a frame.
# ---------------------------------------------------------------------------------------
mac() { printf '02:75:76:%02x:00:%02x' "$1" "$2"; }

# plan METHOD PREFIX: set every name and address of the topology (no side effects).
plan() {
  METHOD=$1
  PREFIX=$2
  case "$METHOD" in
    nat) FORWARD=Masq IPVSADM_FWD=-m ;;
    dr) FORWARD=Route IPVSADM_FWD=-g ;;
    tun) FORWARD=Tunnel IPVSADM_FWD=-i ;;
    *) die "unknown method '$METHOD' (want nat, dr, tun or ecmp)" ;;
  esac
  [[ "$PREFIX" =~ ^[a-z0-9]{1,12}$ ]] || die "prefix '$PREFIX' must be 1-12 of [a-z0-9]"

  CLIENT_NS=$PREFIX-cl
  DIR_NS=$PREFIX-dir
  SW_NS=$PREFIX-sw
  RS_NS_1=$PREFIX-rs1 RS_NS_2=$PREFIX-rs2 RS_NS_3=$PREFIX-rs3
  RT_NS=
  [ "$METHOD" = tun ] && RT_NS=$PREFIX-rt

  CLIENT_NET=198.18.0.0/24 CLIENT_NET6=2001:db8::/64
  CLIENT_IFACE=eth0 CLIENT_IP=198.18.0.10 CLIENT_IP6=2001:db8::10 CLIENT_MAC=$(mac 1 10)
  DIR_CLIENT_IFACE=eth0 DIR_CLIENT_IP=198.18.0.1 DIR_CLIENT_IP6=2001:db8::1
  DIR_CLIENT_MAC=$(mac 1 1)
  DIR_RS_NET=198.18.1.0/24 DIR_RS_NET6=2001:db8:1::/64
  DIR_RS_IFACE=eth1 DIR_RS_IP=198.18.1.1 DIR_RS_IP6=2001:db8:1::1 DIR_RS_MAC=$(mac 2 1)
  VIP=198.18.0.100 VIP6=2001:db8::100
  RS_IFACE=eth0
  if [ "$METHOD" = tun ]; then
    RT_DIR_IFACE=eth0 RT_DIR_IP=198.18.1.254 RT_DIR_IP6=2001:db8:1::fe RT_DIR_MAC=$(mac 2 254)
    RT_RS_IFACE=eth1 RT_RS_IP=198.18.2.1 RT_RS_IP6=2001:db8:2::1 RT_RS_MAC=$(mac 3 1)
    RS_NET=198.18.2.0/24 RS_NET6=2001:db8:2::/64 RS_SEG=3
    RS_GW=$RT_RS_IP RS_GW6=$RT_RS_IP6 RS_NEXTHOP=$RT_DIR_IP RS_NEXTHOP6=$RT_DIR_IP6
  else
    RS_NET=$DIR_RS_NET RS_NET6=$DIR_RS_NET6 RS_SEG=2
    RS_GW=$DIR_RS_IP RS_GW6=$DIR_RS_IP6 RS_NEXTHOP= RS_NEXTHOP6=
  fi
  local i
  for i in 1 2 3; do
    printf -v "RIP_$i" '%s.%d' "${RS_NET%.*}" $((10 + i))
    printf -v "RIP6_$i" '%s%d' "${RS_NET6%/64}" $((10 + i))
    printf -v "RS_MAC_$i" '%s' "$(mac "$RS_SEG" $((10 + i)))"
  done
  RS_NSS=("$RS_NS_1" "$RS_NS_2" "$RS_NS_3")
  ALL_NS=("$CLIENT_NS" "$DIR_NS" "$SW_NS" "${RS_NSS[@]}")
  [ -n "$RT_NS" ] && ALL_NS+=("$RT_NS")
  return 0
}

# ---------------------------------------------------------------------------------------
# info: the plan as KEY=VALUE lines, safe to `source` (lists are comma-separated, values
# never need quoting). An empty RS_NEXTHOP means the real servers are on-link.
# ---------------------------------------------------------------------------------------
cmd_info() {
  ecmp_args "$@"
  set -- ${ECMP_REST[@]+"${ECMP_REST[@]}"}
  if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
  if [ "$1" = ecmp ]; then
    cmd_info_ecmp "${2:-$DEFAULT_PREFIX}" "$ECMP_DIRECTORS" "$ECMP_SERVERS"
    return
  fi
  plan "$1" "${2:-$DEFAULT_PREFIX}"
  local IFS=,
  cat <<EOF
METHOD=$METHOD
FORWARD=$FORWARD
IPVSADM_FWD=$IPVSADM_FWD
PREFIX=$PREFIX
NAMESPACES=${ALL_NS[*]}
CLIENT_NS=$CLIENT_NS
DIR_NS=$DIR_NS
SW_NS=$SW_NS
RT_NS=$RT_NS
RS_NS_1=$RS_NS_1
RS_NS_2=$RS_NS_2
RS_NS_3=$RS_NS_3
RS_NSS=${RS_NSS[*]}
CLIENT_NET=$CLIENT_NET
CLIENT_NET6=$CLIENT_NET6
CLIENT_IFACE=$CLIENT_IFACE
CLIENT_IP=$CLIENT_IP
CLIENT_IP6=$CLIENT_IP6
CLIENT_MAC=$CLIENT_MAC
CLIENT_GW=$DIR_CLIENT_IP
CLIENT_GW6=$DIR_CLIENT_IP6
DIR_IFACES=$DIR_CLIENT_IFACE,$DIR_RS_IFACE
DIR_CLIENT_IFACE=$DIR_CLIENT_IFACE
DIR_CLIENT_IP=$DIR_CLIENT_IP
DIR_CLIENT_IP6=$DIR_CLIENT_IP6
DIR_CLIENT_MAC=$DIR_CLIENT_MAC
DIR_RS_NET=$DIR_RS_NET
DIR_RS_NET6=$DIR_RS_NET6
DIR_RS_IFACE=$DIR_RS_IFACE
DIR_RS_IP=$DIR_RS_IP
DIR_RS_IP6=$DIR_RS_IP6
DIR_RS_MAC=$DIR_RS_MAC
VIP=$VIP
VIP6=$VIP6
RS_NET=$RS_NET
RS_NET6=$RS_NET6
RS_IFACE=$RS_IFACE
RS_GW=$RS_GW
RS_GW6=$RS_GW6
RS_NEXTHOP=$RS_NEXTHOP
RS_NEXTHOP6=$RS_NEXTHOP6
RIP_1=$RIP_1
RIP_2=$RIP_2
RIP_3=$RIP_3
RIPS=$RIP_1,$RIP_2,$RIP_3
RIP6_1=$RIP6_1
RIP6_2=$RIP6_2
RIP6_3=$RIP6_3
RIPS6=$RIP6_1,$RIP6_2,$RIP6_3
RS_MAC_1=$RS_MAC_1
RS_MAC_2=$RS_MAC_2
RS_MAC_3=$RS_MAC_3
EOF
  if [ "$METHOD" = tun ]; then
    cat <<EOF
RT_DIR_IFACE=$RT_DIR_IFACE
RT_DIR_IP=$RT_DIR_IP
RT_DIR_IP6=$RT_DIR_IP6
RT_DIR_MAC=$RT_DIR_MAC
RT_RS_IFACE=$RT_RS_IFACE
RT_RS_IP=$RT_RS_IP
RT_RS_IP6=$RT_RS_IP6
RT_RS_MAC=$RT_RS_MAC
TUN_DEV=uvstun0
EOF
  fi
}

# ---------------------------------------------------------------------------------------
# down: remove every namespace PREFIX-* (their links go with them) and anything left.
# ---------------------------------------------------------------------------------------
prefix_namespaces() {
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$1-" || true
}

teardown() {
  local prefix=$1 ns link
  for ns in $(prefix_namespaces "$prefix"); do
    kill_ns_pids "$ns"
    ip netns del "$ns" 2>/dev/null || true
  done
  # Links are never made in the host namespace, but a crashed tool might have left one
  # (or a stale name in /var/run/netns): remove whatever still carries the prefix.
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^$prefix-" || true); do
    ip link del "$link" 2>/dev/null || true
  done
  for ns in /var/run/netns/"$prefix"-*; do
    [ -e "$ns" ] || continue
    umount "$ns" 2>/dev/null || true
    rm -f "$ns" 2>/dev/null || true
  done
  # The ecmp topology's BIRD files (configs, sockets, pid files, logs).
  rm -rf "${UVS_LAB_RUN:-/run/uvs-lab}/$prefix"
}

cmd_down() {
  [ $# -le 1 ] || usage
  local prefix=${1:-$DEFAULT_PREFIX}
  [[ "$prefix" =~ ^[a-z0-9]{1,12}$ ]] || die "prefix '$prefix' must be 1-12 of [a-z0-9]"
  need_root "down $prefix"
  need_cmd ip iproute2
  teardown "$prefix"
  local left
  left=$(prefix_namespaces "$prefix")
  [ -z "$left" ] || die "could not remove: $(echo "$left" | tr '\n' ' ')"
}

# ---------------------------------------------------------------------------------------
# exec: run a command in a role's namespace.
# ---------------------------------------------------------------------------------------
cmd_exec() {
  local prefix=$DEFAULT_PREFIX
  if [ "${1:-}" = --prefix ]; then
    [ $# -ge 2 ] || usage
    prefix=$2
    shift 2
  fi
  [ $# -ge 2 ] || usage
  local role=$1
  shift
  case "$role" in
    client | cl) role=cl ;;
    director | dir) role=dir ;;
    rs[1-8] | dir[1-8] | rt | sw) ;;
    *) die "unknown role '$role' (want client, dir, dir1..8, rs1..8, rt or sw)" ;;
  esac
  [[ "$prefix" =~ ^[a-z0-9]{1,12}$ ]] || die "prefix '$prefix' must be 1-12 of [a-z0-9]"
  need_root "exec $role"
  ns_exists "$prefix-$role" || die "namespace $prefix-$role does not exist (is the topology up?)"
  exec ip netns exec "$prefix-$role" "$@"
}

# ---------------------------------------------------------------------------------------
# up: build the topology.
# ---------------------------------------------------------------------------------------
cmd_up() {
  local offload=on args=() a
  ecmp_args "$@"
  for a in ${ECMP_REST[@]+"${ECMP_REST[@]}"}; do
    case "$a" in
      --no-offload) offload=off ;;
      -*) die "unknown option '$a'" ;;
      *) args+=("$a") ;;
    esac
  done
  if [ ${#args[@]} -lt 1 ] || [ ${#args[@]} -gt 2 ]; then usage; fi
  if [ "${args[0]}" = ecmp ]; then
    plan_ecmp "${args[1]:-$DEFAULT_PREFIX}" "$ECMP_DIRECTORS" "$ECMP_SERVERS"
  else
    plan "${args[0]}" "${args[1]:-$DEFAULT_PREFIX}"
  fi

  need_root "up $METHOD $PREFIX"
  need_cmd ip iproute2
  need_cmd sysctl procps
  [ "$offload" = on ] || need_cmd ethtool ethtool
  ip netns list >/dev/null 2>&1 || die "'ip netns' does not work here (is /var/run/netns writable?)"

  # Idempotent: whatever a previous run (or a failed one) left is removed first.
  if [ -n "$(prefix_namespaces "$PREFIX")" ]; then
    log "tearing down the existing $PREFIX topology first"
    teardown "$PREFIX"
  fi
  # On any failure from here on, leave nothing half-built behind.
  trap 'on_up_exit $?' EXIT

  if [ "$METHOD" = ecmp ]; then
    up_ecmp
  else
    log "building the $METHOD topology '$PREFIX'"
    local ns
    for ns in "${ALL_NS[@]}"; do ns_add "$ns"; done

    wire_client_and_director
    wire_switch
    if [ "$METHOD" = tun ]; then wire_router; fi
    local i
    for i in 1 2 3; do setup_real_server "$i"; done
  fi

  [ "$offload" = on ] || offloads_off
  trap - EXIT
  log "up: $METHOD topology '$PREFIX' ready (offloads $offload); \`$0 info $METHOD $PREFIX\` prints the plan"
}

# on_up_exit STATUS: the EXIT trap while `up` builds; a failure removes the partial topology.
on_up_exit() {
  if [ "$1" -ne 0 ]; then
    log "up failed; removing the partial $PREFIX topology"
    teardown "$PREFIX"
  fi
}

# The client and the director's eth0: one cable, one subnet. The VIP lives in this subnet
# too, so the client reaches it by ARP, exactly as a client on a real LAN would reach a
# load-balanced address. Nobody's kernel owns the VIP on this segment: uvs answers the ARP
# for it from the director's eth0.
wire_client_and_director() {
  veth "$CLIENT_NS" "$CLIENT_IFACE" "$CLIENT_MAC" "$DIR_NS" "$DIR_CLIENT_IFACE" "$DIR_CLIENT_MAC"
  ip -n "$CLIENT_NS" addr add "$CLIENT_IP/24" dev "$CLIENT_IFACE"
  ip -n "$CLIENT_NS" addr add "$CLIENT_IP6/64" dev "$CLIENT_IFACE" nodad
  # Everything that is not on the client segment (the real servers, for a test that talks
  # to one directly) is reached through the director.
  ip -n "$CLIENT_NS" route add default via "$DIR_CLIENT_IP"
  ip -n "$CLIENT_NS" -6 route add default via "$DIR_CLIENT_IP6"

  ip -n "$DIR_NS" addr add "$DIR_CLIENT_IP/24" dev "$DIR_CLIENT_IFACE"
  ip -n "$DIR_NS" addr add "$DIR_CLIENT_IP6/64" dev "$DIR_CLIENT_IFACE" nodad
  # The VIP is deliberately NOT added to the director: if its kernel owned 198.18.0.100 it
  # would answer the client itself (a RST to every SYN uvs is forwarding, a second echo
  # reply to every ping). uvs answers ARP for the VIP and keeps the host stack off the
  # packets it forwards (nftables netdev ingress rules, src/control/nft.ts).

  # ip_forward=1 makes the director the site's router. DR and TUN real servers answer the
  # client directly (source address = VIP), and in this lab "directly" means through their
  # default gateway, which is the director (or, for TUN, a router whose gateway is the
  # director): without forwarding, every reply would die in the director's kernel and no
  # DR/TUN connection would ever complete. It is also what lets a test reach a real server
  # from the client. uvs must work whatever the value: NAT is uvs's own work either way,
  # and its nft rules stop the kernel from forwarding what uvs forwards.
  sysctl_set "$DIR_NS" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  # Reverse-path filtering off: a DR/TUN reply arrives on eth1 with source address VIP,
  # but the director's route back to the VIP points out of eth0. Strict rp_filter (1)
  # would call that a spoofed packet and drop every reply; the effective value is the
  # larger of conf/all and conf/<dev>, so both are set.
  rp_filter_off "$DIR_NS" "$DIR_CLIENT_IFACE"
}

# The switch namespace holds a Linux bridge: the director's eth1 and the real servers (or,
# for TUN, the router) plug into it, so they share one Ethernet segment. DR depends on
# that: it only rewrites the destination MAC, so the real server must be reachable at L2.
# The bridge runs without STP and with no forwarding delay, so a port forwards as soon as
# it is up (no 30 s of listening/learning).
wire_switch() {
  bridge_add "$SW_NS" br0
  bridge_port "$DIR_NS" "$DIR_RS_IFACE" "$DIR_RS_MAC" "$SW_NS" dir br0
  ip -n "$DIR_NS" addr add "$DIR_RS_IP/24" dev "$DIR_RS_IFACE"
  ip -n "$DIR_NS" addr add "$DIR_RS_IP6/64" dev "$DIR_RS_IFACE" nodad
  sysctl_set "$DIR_NS" "net.ipv4.conf.$DIR_RS_IFACE.rp_filter=0"
  if [ "$METHOD" = tun ]; then
    # TUN: a second bridge for the real servers' own subnet (the router's eth1 and rs1..3).
    bridge_add "$SW_NS" br1
  fi
}

# TUN: the real servers are not on the director's segment; IPIP exists precisely so a
# director can reach real servers anywhere IP can route. The router forwards between the
# director's segment (eth0, 198.18.1.254) and the real servers' subnet (eth1, 198.18.2.1).
wire_router() {
  bridge_port "$RT_NS" "$RT_DIR_IFACE" "$RT_DIR_MAC" "$SW_NS" rt0 br0
  bridge_port "$RT_NS" "$RT_RS_IFACE" "$RT_RS_MAC" "$SW_NS" rt1 br1
  ip -n "$RT_NS" addr add "$RT_DIR_IP/24" dev "$RT_DIR_IFACE"
  ip -n "$RT_NS" addr add "$RT_RS_IP/24" dev "$RT_RS_IFACE"
  ip -n "$RT_NS" addr add "$RT_DIR_IP6/64" dev "$RT_DIR_IFACE" nodad
  ip -n "$RT_NS" addr add "$RT_RS_IP6/64" dev "$RT_RS_IFACE" nodad
  # A router forwards; without this the real servers are an island.
  sysctl_set "$RT_NS" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  # Replies from the real servers go to the client; the router sends everything that is
  # not local to the director (the site router), which knows the client segment.
  ip -n "$RT_NS" route add default via "$DIR_RS_IP"
  ip -n "$RT_NS" -6 route add default via "$DIR_RS_IP6"
  # The replies carry source VIP (198.18.0.100) and arrive on eth1, while the router's
  # route to 198.18.0.100 is out of eth0: strict reverse-path filtering would drop them.
  rp_filter_off "$RT_NS" "$RT_DIR_IFACE" "$RT_RS_IFACE"
  # The director reaches the TUN subnet through the router. uvs encapsulates a packet to
  # RIP 198.18.2.x and must hand the frame to this next hop (198.18.1.254).
  ip -n "$DIR_NS" route add "$RS_NET" via "$RT_DIR_IP" dev "$DIR_RS_IFACE"
  ip -n "$DIR_NS" -6 route add "$RS_NET6" via "$RT_DIR_IP6" dev "$DIR_RS_IFACE"
}

# setup_real_server N: rs N's cable, address, default route, and for DR/TUN the VIP.
setup_real_server() {
  local n=$1 ns rip rip6 rsmac bridge
  ns=${RS_NSS[$((n - 1))]}
  rip=RIP_$n
  rip=${!rip}
  rip6=RIP6_$n
  rip6=${!rip6}
  rsmac=RS_MAC_$n
  rsmac=${!rsmac}
  bridge=br0
  [ "$METHOD" = tun ] && bridge=br1
  bridge_port "$ns" "$RS_IFACE" "$rsmac" "$SW_NS" "rs$n" "$bridge"
  ip -n "$ns" addr add "$rip/24" dev "$RS_IFACE"
  ip -n "$ns" addr add "$rip6/64" dev "$RS_IFACE" nodad

  # The default route: where the real server's replies go.
  #  - NAT: via the director, always. The reply (source RIP) must pass through uvs to be
  #    rewritten back to source VIP; a reply that bypassed the director would reach the
  #    client from an address it never spoke to, and the client would reset it.
  #  - DR: via the director too, but only because in this lab the director is also the
  #    site router (ip_forward=1): uvs lets these replies pass untouched, the director's
  #    kernel routes them to the client. In a real site this is any router toward the clients.
  #  - TUN: via the router, which hands them to the director-as-site-router.
  ip -n "$ns" route add default via "$RS_GW"
  ip -n "$ns" -6 route add default via "$RS_GW6"

  [ "$METHOD" = nat ] && return 0

  # DR and TUN: the real server must accept packets addressed to the VIP (uvs does not
  # rewrite the destination address), so the VIP goes on lo as a /32: local to the host,
  # but on no wire, and no subnet route to 198.18.0.0/24 comes with it.
  ip -n "$ns" addr add "$VIP/32" dev lo
  # IPv6 needs no arp_ignore: a Linux host answers a neighbour solicitation only for an
  # address on the interface it arrived on (ndisc_recv_ns), and lo is no wire.
  ip -n "$ns" addr add "$VIP6/128" dev lo
  # ...but it must never claim the VIP on the wire, or clients and the director would
  # learn "VIP is at this real server's MAC" and bypass the director (the classic "ARP
  # problem" of LVS-DR). Effective values are max(conf/all, conf/<dev>), so both are set.
  #  arp_ignore=1: answer an ARP request only when the asked-for address is configured on
  #    the interface it arrived on. The VIP is on lo, so eth0 stays silent about it.
  #  arp_announce=2: when this host sends an ARP request, use the best local address for
  #    the target's subnet as the sender address (its RIP), never the source of the packet
  #    that triggered it (the VIP, for every reply). Otherwise each ARP request the real
  #    server sends would teach its neighbours - the director included - that the VIP is
  #    at the real server's MAC.
  arp_quiet "$ns" "$RS_IFACE"

  [ "$METHOD" = tun ] && {
    # TUN: `uvs realserver --decap` reads the IPIP packets on eth0 and writes the inner
    # packet (client -> VIP) into its own device, uvstun0. Seen from the kernel, a packet
    # from the client arrives on uvstun0 while the route back to the client leaves via
    # eth0: strict rp_filter would drop it. Off in `all` and in `default` (uvstun0 is
    # created later and takes its settings from `default`).
    rp_filter_off "$ns" "$RS_IFACE"
  }
  return 0
}

# ---------------------------------------------------------------------------------------
DEFAULT_PREFIX=${UVS_LAB_PREFIX:-uvslab}
[ $# -ge 1 ] || usage
cmd=$1
shift
case "$cmd" in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  info) cmd_info "$@" ;;
  exec) cmd_exec "$@" ;;
  -h | --help | help) usage ;;
  *) die "unknown command '$cmd' (want up, down, info or exec)" ;;
esac
