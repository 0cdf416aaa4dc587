/**
 * A dual-stack director for the IPv6 datapath tests (documentation prefixes only):
 *
 *   client 2001:db8::10 / 192.0.2.10 --- eth0 2001:db8::1 / 192.0.2.1 [director]
 *       eth1 2001:db8:1::1 / 198.51.100.1 --- rs1 2001:db8:1::11 / 198.51.100.11
 *                                             rs2 2001:db8:1::12 / 198.51.100.12
 *   VIPs 2001:db8::100 and 192.0.2.100 (answered by uvs)
 */
import { parseConfig } from '../../src/control/config.js';
import { buildFrame, type Ip6Spec, type Ipv4Spec } from '../../src/net/build.js';
import { MAC } from './fixtures.js';

export { MAC };

export const IP6 = {
  eth0: '2001:db8::1',
  eth1: '2001:db8:1::1',
  vip: '2001:db8::100',
  client: '2001:db8::10',
  rs1: '2001:db8:1::11',
  rs2: '2001:db8:1::12',
};
export const IP4 = {
  eth0: '192.0.2.1',
  eth1: '198.51.100.1',
  vip: '192.0.2.100',
  client: '192.0.2.10',
  rs1: '198.51.100.11',
  rs2: '198.51.100.12',
};

export const BASE6 = `# dual-stack test director
interface eth0 mac ${MAC.eth0} ip ${IP4.eth0}/24 ip ${IP6.eth0}/64
interface eth1 mac ${MAC.eth1} ip ${IP4.eth1}/24 ip ${IP6.eth1}/64
neighbor ${IP6.client} ${MAC.client}
neighbor ${IP6.rs1} ${MAC.rs1}
neighbor ${IP6.rs2} ${MAC.rs2}
neighbor ${IP4.client} ${MAC.client}
neighbor ${IP4.rs1} ${MAC.rs1}
neighbor ${IP4.rs2} ${MAC.rs2}
vip ${IP6.vip}
vip ${IP4.vip}
`;

/**
 * NAT66 on :80 (rr over rs1:8080, rs2:8080), DR on :443 (rs1), ip6ip6 on udp :7000 (rs2),
 * IPv6-in-IPv4 on udp :7001 (rs2's IPv4 address), and IPv4-in-IPv6 for the IPv4 VIP's udp
 * :7002 (rs2's IPv6 address).
 */
export const SERVICES6 = `-A -t [${IP6.vip}]:80 -s rr
-a -t [${IP6.vip}]:80 -r [${IP6.rs2}]:8080 -m
-a -t [${IP6.vip}]:80 -r [${IP6.rs1}]:8080 -m
-A -t [${IP6.vip}]:443 -s rr
-a -t [${IP6.vip}]:443 -r ${IP6.rs1} -g
-A -u [${IP6.vip}]:7000 -s rr
-a -u [${IP6.vip}]:7000 -r ${IP6.rs2} -i
-A -u [${IP6.vip}]:7001 -s rr
-a -u [${IP6.vip}]:7001 -r ${IP4.rs2} -i
-A -u ${IP4.vip}:7002 -s rr
-a -u ${IP4.vip}:7002 -r ${IP6.rs2} -i
`;

export function config6(extra = '') {
  return parseConfig(BASE6 + SERVICES6 + extra, 'test6.conf');
}

/** An IPv6 frame from the client to the director's eth0. */
export function fromClient6(ip6: Ip6Spec): Uint8Array {
  return buildFrame({ srcMac: MAC.client, dstMac: MAC.eth0, ip6 });
}

/** An IPv6 frame from a real server to the director's eth1. */
export function fromRs6(rs: 'rs1' | 'rs2', ip6: Ip6Spec): Uint8Array {
  return buildFrame({ srcMac: MAC[rs], dstMac: MAC.eth1, ip6 });
}

/** The IPv6 frame the director sends the client from its eth0. */
export function toClient6(ip6: Ip6Spec): Uint8Array {
  return buildFrame({ srcMac: MAC.eth0, dstMac: MAC.client, ip6 });
}

/** The IPv6 frame the director sends a real server from its eth1. */
export function toRs6(rs: 'rs1' | 'rs2', ip6: Ip6Spec): Uint8Array {
  return buildFrame({ srcMac: MAC.eth1, dstMac: MAC[rs], ip6 });
}

/**
 * A neighbour solicitation from the client's MAC for `target`, sent to the solicited-node
 * group of the VIP by default; `withLinkAddr` adds the source link-layer address option
 * (a DAD probe from :: has none).
 */
export function neighbourSolicitation(
  target: string,
  src = IP6.client,
  dst = 'ff02::1:ff00:100',
  withLinkAddr = true,
): Uint8Array {
  return buildFrame({
    srcMac: MAC.client,
    dstMac: '33:33:ff:00:01:00',
    ip6: {
      src,
      dst,
      hopLimit: 255,
      icmp6: {
        type: 135,
        target,
        payload: withLinkAddr ? [1, 1, 2, 0, 0, 0, 0x0c, 0x0a] : undefined,
      },
    },
  });
}

/** An IPv4 frame from the client to the director's eth0. */
export function fromClient4(ip: Ipv4Spec): Uint8Array {
  return buildFrame({ srcMac: MAC.client, dstMac: MAC.eth0, ip });
}
