/**
 * A small director topology shared by the datapath tests:
 *
 *   client 192.0.2.10 --- eth0 192.0.2.1 [director] eth1 198.51.100.1 --- rs1 198.51.100.11
 *                         (VIP 192.0.2.100 answered by uvs)                rs2 198.51.100.12
 */
import { parseConfig } from '../../src/control/config.js';
import { buildFrame, type FrameSpec } from '../../src/net/build.js';

export const MAC = {
  eth0: '02:00:00:00:0d:00',
  eth1: '02:00:00:00:0d:01',
  client: '02:00:00:00:0c:0a',
  rs1: '02:00:00:00:0e:0b',
  rs2: '02:00:00:00:0e:0c',
};
export const IP = {
  eth0: '192.0.2.1',
  eth1: '198.51.100.1',
  vip: '192.0.2.100',
  client: '192.0.2.10',
  rs1: '198.51.100.11',
  rs2: '198.51.100.12',
};

export const BASE_CONFIG = `# test director
interface eth0 mac ${MAC.eth0} ip ${IP.eth0}/24
interface eth1 mac ${MAC.eth1} ip ${IP.eth1}/24
neighbor ${IP.client} ${MAC.client}
neighbor ${IP.rs1} ${MAC.rs1}
neighbor ${IP.rs2} ${MAC.rs2}
vip ${IP.vip}
`;

/**
 * NAT on :80 (rr over rs1:8080, rs2:8080), DR on :443 (rs1), TUN on udp :7000 (rs2).
 * rs2 is added before rs1 because the kernel puts a new destination at the head of the
 * service's list (list_add_rcu): rs1 is first in list order, so rr picks it first.
 */
export const SERVICES = `-A -t ${IP.vip}:80 -s rr
-a -t ${IP.vip}:80 -r ${IP.rs2}:8080 -m
-a -t ${IP.vip}:80 -r ${IP.rs1}:8080 -m
-A -t ${IP.vip}:443 -s rr
-a -t ${IP.vip}:443 -r ${IP.rs1}:443 -g
-A -u ${IP.vip}:7000 -s rr
-a -u ${IP.vip}:7000 -r ${IP.rs2}:7000 -i
`;

export function config(extra = '') {
  return parseConfig(BASE_CONFIG + SERVICES + extra, 'test.conf');
}

/** A frame from the client to the director's eth0. */
export function fromClient(ip: FrameSpec['ip'], extra: Partial<FrameSpec> = {}): Uint8Array {
  return buildFrame({ srcMac: MAC.client, dstMac: MAC.eth0, ip, ...extra });
}

/** A frame from a real server to the director's eth1. */
export function fromRs(rs: 'rs1' | 'rs2', ip: FrameSpec['ip']): Uint8Array {
  return buildFrame({ srcMac: MAC[rs], dstMac: MAC.eth1, ip });
}

/** The frame the director sends the client from its eth0. */
export function toClient(ip: FrameSpec['ip']): Uint8Array {
  return buildFrame({ srcMac: MAC.eth0, dstMac: MAC.client, ip });
}

/** The frame the director sends a real server from its eth1. */
export function toRs(rs: 'rs1' | 'rs2', ip: FrameSpec['ip']): Uint8Array {
  return buildFrame({ srcMac: MAC.eth1, dstMac: MAC[rs], ip });
}
