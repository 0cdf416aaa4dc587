# shellcheck shell=bash
# The ECMP topology of topology.sh (`topology.sh up ecmp`): scaling out. Sourced by
# topology.sh, which provides log/die/ns_add/veth/sysctl_set/bridge_add/bridge_port/
# rp_filter_off/arp_quiet (lib.sh) and the commands.
#
# One director is not enough any more, so there are N of them (default 3), all active, in
# front of the same real servers. A router in front of them spreads the clients' packets
# over them with ECMP (equal-cost multipath: one route to the VIP with a next hop per
# director, the next hop picked per packet by a hash of its addresses and ports). Each
# director runs BIRD next to uvs and announces the VIP /32 to the router over BGP only while
# uvs runs and its service has quorum; the router's BIRD merges the equal routes into one
# multipath route in its kernel. A director that dies stops announcing (or, if the whole
# machine dies, its BGP session times out), the router drops its next hop, and that
# director's flows rehash onto the others.
#
# Those flows survive because every director makes the same choice for them: `mh`
# (Maglev hashing) over the same real servers in the same order builds the same table on
# every director, so the director that receives a flow in mid-stream sends it to the real
# server it was already talking to (with sloppy_tcp=1, uvs creates a connection entry for
# a packet that is not a SYN). Replies never cross the directors (TUN or DR: the real
# servers answer the client directly, through the router), so no director holds state the
# others would need.
#
#     PREFIX-cl            PREFIX-rt                      PREFIX-sw              PREFIX-dir1..N
#   +----------+     +------------------+         +--------------+        +--------------+
#   | client   |     | router  (BIRD)   |  eth1   | br0 (uplink) |--------| eth0 .11..   |
#   | eth0 .10 |-----| eth0 .1          |---------| 198.18.3/24  |--------| uvs + BIRD   |
#   +----------+     | ECMP VIP/32 ->   |         +--------------+        | eth1 .1..N   |
#   198.18.0.0/24    |  dir1, dir2, ... |  eth2   | br1 (servers)|--------|              |
#                    | eth2 .254        |---------| 198.18.1/24  |        +--------------+
#                    +------------------+         |              |------ PREFIX-rs1..M
#                                                 +--------------+       eth0 .11.., VIP on lo
#
#   198.18.0.0/24  client segment: client .10, router .1
#   198.18.3.0/24  uplink segment (BGP): router .1, directors .11, .12, ...
#   198.18.1.0/24  real-server segment: directors .1, .2, ...; real servers .11, .12, ...;
#                  router .254 (the real servers' gateway: their replies go straight back)
#   198.18.5.100   the VIP: on no wire; the router reaches it only through the BGP routes
#
# BIRD's files live in $UVS_LAB_RUN/PREFIX (default /run/uvs-lab/PREFIX): rt.conf and
# dirN.conf, the control sockets rt.ctl and dirN.ctl (`birdc -s FILE show route`), pid files
# and logs. `topology.sh down` ends the BIRDs with every other process in the namespaces.

ECMP_ROUTER_ASN=65000
ECMP_DIRECTOR_ASN=65001
# BGP timers, low for the lab: a director whose machine dies is noticed when no keepalive
# came for ECMP_HOLD seconds (BIRD's minimum is 3). A director whose uvs dies is noticed
# at once (its announce device disappears).
ECMP_HOLD=3
ECMP_KEEPALIVE=1
ECMP_ANNOUNCE_DEV=uvsvip0

# plan_ecmp PREFIX DIRECTORS SERVERS: every name and address (no side effects).
plan_ecmp() {
  PREFIX=$1
  DIRECTORS=$2
  SERVERS=$3
  [[ "$PREFIX" =~ ^[a-z0-9]{1,12}$ ]] || die "prefix '$PREFIX' must be 1-12 of [a-z0-9]"
  [[ "$DIRECTORS" =~ ^[1-8]$ ]] || die "--directors wants 1..8, got '$DIRECTORS'"
  [[ "$SERVERS" =~ ^[1-8]$ ]] || die "--real-servers wants 1..8, got '$SERVERS'"
  METHOD=ecmp
  FORWARD=Tunnel IPVSADM_FWD=-i
  CLIENT_NS=$PREFIX-cl RT_NS=$PREFIX-rt SW_NS=$PREFIX-sw
  CLIENT_IFACE=eth0 CLIENT_IP=198.18.0.10 CLIENT_MAC=$(mac 1 10)
  RT_CLIENT_IFACE=eth0 RT_CLIENT_IP=198.18.0.1 RT_CLIENT_MAC=$(mac 1 1)
  RT_UPLINK_IFACE=eth1 RT_UPLINK_IP=198.18.3.1 RT_UPLINK_MAC=$(mac 4 1)
  RT_RS_IFACE=eth2 RT_RS_IP=198.18.1.254 RT_RS_MAC=$(mac 2 254)
  VIP=198.18.5.100
  DIR_NSS=() DIR_UPLINK_IPS=() DIR_RS_IPS=()
  local i
  for ((i = 1; i <= DIRECTORS; i++)); do
    DIR_NSS+=("$PREFIX-dir$i")
    DIR_UPLINK_IPS+=("198.18.3.$((10 + i))")
    DIR_RS_IPS+=("198.18.1.$i")
  done
  RS_NSS=() RIPS=()
  for ((i = 1; i <= SERVERS; i++)); do
    RS_NSS+=("$PREFIX-rs$i")
    RIPS+=("198.18.1.$((10 + i))")
  done
  BIRD_DIR=${UVS_LAB_RUN:-/run/uvs-lab}/$PREFIX
  ALL_NS=("$CLIENT_NS" "$RT_NS" "$SW_NS" "${DIR_NSS[@]}" "${RS_NSS[@]}")
}

cmd_info_ecmp() {
  plan_ecmp "$@"
  local IFS=,
  cat <<EOF
METHOD=ecmp
FORWARD=$FORWARD
IPVSADM_FWD=$IPVSADM_FWD
PREFIX=$PREFIX
NAMESPACES=${ALL_NS[*]}
CLIENT_NS=$CLIENT_NS
RT_NS=$RT_NS
SW_NS=$SW_NS
CLIENT_IFACE=$CLIENT_IFACE
CLIENT_IP=$CLIENT_IP
CLIENT_MAC=$CLIENT_MAC
CLIENT_GW=$RT_CLIENT_IP
RT_CLIENT_IP=$RT_CLIENT_IP
RT_CLIENT_MAC=$RT_CLIENT_MAC
RT_UPLINK_IP=$RT_UPLINK_IP
RT_RS_IP=$RT_RS_IP
VIP=$VIP
DIRECTORS=$DIRECTORS
DIR_NSS=${DIR_NSS[*]}
DIR_IFACES=eth0,eth1
DIR_UPLINK_IPS=${DIR_UPLINK_IPS[*]}
DIR_RS_IPS=${DIR_RS_IPS[*]}
REAL_SERVERS=$SERVERS
RS_NSS=${RS_NSS[*]}
RS_IFACE=eth0
RS_GW=$RT_RS_IP
RIPS=${RIPS[*]}
ROUTER_ASN=$ECMP_ROUTER_ASN
DIRECTOR_ASN=$ECMP_DIRECTOR_ASN
BGP_HOLD=$ECMP_HOLD
BGP_KEEPALIVE=$ECMP_KEEPALIVE
ANNOUNCE_DEV=$ECMP_ANNOUNCE_DEV
BIRD_DIR=$BIRD_DIR
EOF
}

up_ecmp() {
  need_cmd bird bird2
  log "building the ecmp topology '$PREFIX' ($DIRECTORS directors, $SERVERS real servers)"
  local ns
  for ns in "${ALL_NS[@]}"; do ns_add "$ns"; done
  rm -rf "$BIRD_DIR"
  mkdir -p "$BIRD_DIR"

  wire_ecmp_client_and_router
  local i
  for ((i = 1; i <= DIRECTORS; i++)); do wire_ecmp_director "$i"; done
  for ((i = 1; i <= SERVERS; i++)); do wire_ecmp_real_server "$i"; done

  start_bird "$RT_NS" rt "$(bird_router_conf)"
  for ((i = 1; i <= DIRECTORS; i++)); do
    start_bird "${DIR_NSS[$((i - 1))]}" "dir$i" "$(bird_director_conf "$i")"
  done
}

# The client reaches everything through the router, like a client on the Internet.
# The router has three legs: clients, the directors' uplink segment, and the real servers'
# segment (only so that their replies, which bypass the directors, reach the clients).
wire_ecmp_client_and_router() {
  veth "$CLIENT_NS" "$CLIENT_IFACE" "$CLIENT_MAC" "$RT_NS" "$RT_CLIENT_IFACE" "$RT_CLIENT_MAC"
  ip -n "$CLIENT_NS" addr add "$CLIENT_IP/24" dev "$CLIENT_IFACE"
  ip -n "$CLIENT_NS" route add default via "$RT_CLIENT_IP"
  ip -n "$RT_NS" addr add "$RT_CLIENT_IP/24" dev "$RT_CLIENT_IFACE"

  # Two bridges in the switch namespace: br0 for the uplink segment, br1 for the servers.
  bridge_add "$SW_NS" br0
  bridge_add "$SW_NS" br1
  bridge_port "$RT_NS" "$RT_UPLINK_IFACE" "$RT_UPLINK_MAC" "$SW_NS" rt0 br0
  ip -n "$RT_NS" addr add "$RT_UPLINK_IP/24" dev "$RT_UPLINK_IFACE"
  bridge_port "$RT_NS" "$RT_RS_IFACE" "$RT_RS_MAC" "$SW_NS" rt1 br1
  ip -n "$RT_NS" addr add "$RT_RS_IP/24" dev "$RT_RS_IFACE"

  sysctl_set "$RT_NS" net.ipv4.ip_forward=1
  # ECMP by flow, not by host pair: hash policy 1 hashes the 5-tuple (addresses, protocol,
  # ports), so one client's connections spread over every director. With the default
  # (0, addresses only) all connections of a client would take the same director.
  sysctl_set "$RT_NS" net.ipv4.fib_multipath_hash_policy=1
  # Skip a next hop whose neighbour entry has failed (a director that stopped answering
  # ARP) even before BGP notices.
  sysctl_set "$RT_NS" net.ipv4.fib_multipath_use_neigh=1
  # Replies from the real servers carry source VIP and arrive on eth2, while the route to
  # the VIP points at the directors on eth1: strict reverse-path filtering would drop them.
  rp_filter_off "$RT_NS" "$RT_CLIENT_IFACE" "$RT_UPLINK_IFACE" "$RT_RS_IFACE"
}

# wire_ecmp_director N: director N's two legs. uvs runs on both; BIRD talks BGP on eth0.
wire_ecmp_director() {
  local n=$1 ns up_ip rs_ip
  ns=${DIR_NSS[$((n - 1))]}
  up_ip=${DIR_UPLINK_IPS[$((n - 1))]}
  rs_ip=${DIR_RS_IPS[$((n - 1))]}
  bridge_port "$ns" eth0 "$(mac 4 $((10 + n)))" "$SW_NS" "dir$n" br0
  ip -n "$ns" addr add "$up_ip/24" dev eth0
  bridge_port "$ns" eth1 "$(mac 2 "$n")" "$SW_NS" "dir${n}rs" br1
  ip -n "$ns" addr add "$rs_ip/24" dev eth1
  ip -n "$ns" route add default via "$RT_UPLINK_IP"
  # A director is not a router here (unlike the one-director labs): uvs forwards what it
  # balances itself, and replies bypass the directors. With forwarding off, a VIP packet
  # that reaches a director whose uvs just died is dropped quietly; with it on, the kernel
  # would send it back to the router, which might send it here again.
  sysctl_set "$ns" net.ipv4.ip_forward=0
}

# wire_ecmp_real_server N: as in DR/TUN - the VIP on lo, silent about it on the wire, and
# replies straight to the client through the router.
wire_ecmp_real_server() {
  local n=$1 ns rip
  ns=${RS_NSS[$((n - 1))]}
  rip=${RIPS[$((n - 1))]}
  bridge_port "$ns" eth0 "$(mac 2 $((10 + n)))" "$SW_NS" "rs$n" br1
  ip -n "$ns" addr add "$rip/24" dev eth0
  ip -n "$ns" route add default via "$RT_RS_IP"
  ip -n "$ns" addr add "$VIP/32" dev lo
  arp_quiet "$ns" eth0
  # TUN: `uvs realserver --decap` hands the inner packet to the stack through its own
  # device, while the route back to the client leaves by eth0.
  rp_filter_off "$ns" eth0
}

# start_bird NS NAME CONFIG: writes $BIRD_DIR/NAME.conf, checks it, starts BIRD in NS with
# its own control socket and pid file (BIRD forks into the background).
start_bird() {
  local ns=$1 name=$2 conf=$3
  printf '%s\n' "$conf" >"$BIRD_DIR/$name.conf"
  bird -p -c "$BIRD_DIR/$name.conf" || die "BIRD refuses $BIRD_DIR/$name.conf"
  nsx "$ns" bird -c "$BIRD_DIR/$name.conf" -s "$BIRD_DIR/$name.ctl" -P "$BIRD_DIR/$name.pid"
}

# The router's BIRD: one eBGP session per director; what they announce goes into the
# kernel as one route with a next hop per director.
bird_router_conf() {
  local i
  cat <<EOF
# uvs ecmp lab: the router ($RT_NS)
log "$BIRD_DIR/rt.log" all;
router id $RT_UPLINK_IP;

# Interfaces (and their state) from the kernel.
protocol device {
  scan time 10;
}

# Into the kernel: equally good routes to one prefix (the same VIP from several
# directors) become one route with several next hops. Without 'merge paths' BIRD would
# install only the best one and the other directors would idle.
protocol kernel {
  ipv4 {
    import none;
    export all;
  };
  merge paths yes limit 16;
}

template bgp director {
  local $RT_UPLINK_IP as $ECMP_ROUTER_ASN;
  hold time $ECMP_HOLD;
  keepalive time $ECMP_KEEPALIVE;
  connect retry time 1;
  error wait time 1, 10;
  # A director that goes away takes its routes with it at once; keeping them as stale
  # (graceful restart) would send flows to a director that is not there.
  graceful restart off;
  ipv4 {
    # Only host routes from the service range: a director cannot hijack anything else.
    import where net ~ [ 198.18.5.0/24{32,32} ];
    export none;
  };
}

EOF
  for ((i = 1; i <= DIRECTORS; i++)); do
    printf 'protocol bgp dir%d from director {\n  neighbor %s as %s;\n}\n' \
      "$i" "${DIR_UPLINK_IPS[$((i - 1))]}" "$ECMP_DIRECTOR_ASN"
  done
}

# A director's BIRD: the VIP route exists while uvs keeps its announce device up
# (`uvs run --announce uvsvip0`: a device that lives exactly as long as uvs and is up only
# while the service has quorum); BGP exports it to the router with this director as next
# hop. Nothing goes into the director's own kernel.
bird_director_conf() {
  local n=$1 up_ip
  up_ip=${DIR_UPLINK_IPS[$((n - 1))]}
  cat <<EOF
# uvs ecmp lab: director $n (${DIR_NSS[$((n - 1))]})
log "$BIRD_DIR/dir$n.log" all;
router id $up_ip;

protocol device {
  scan time 10;
}

# The VIP /32 while $ECMP_ANNOUNCE_DEV exists and is up; withdrawn within milliseconds of
# uvs setting it down (no quorum, SIGTERM) or of uvs dying (the kernel deletes the device).
protocol static vips {
  ipv4;
  route $VIP/32 via "$ECMP_ANNOUNCE_DEV";
}

protocol bgp uplink {
  local $up_ip as $ECMP_DIRECTOR_ASN;
  neighbor $RT_UPLINK_IP as $ECMP_ROUTER_ASN;
  hold time $ECMP_HOLD;
  keepalive time $ECMP_KEEPALIVE;
  connect retry time 1;
  error wait time 1, 10;
  graceful restart off;
  ipv4 {
    import none;
    export where proto = "vips";
  };
}
EOF
}
