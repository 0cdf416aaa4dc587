/**
 * The fuzz corpus: one valid frame of each kind a director handles - TCP to a NAT and a DR
 * service, UDP, ping, ICMP errors both ways, ARP, a VLAN-tagged frame - for a director with
 * the clients on eth0 (link 0) and the real servers on eth1 (link 1). The volume fuzz
 * (fuzz.ts) and the pipeline's property test (test/datapath/fuzz.test.ts) mutate these same
 * frames, each over its own director's addresses and services (TCP 80 and 443, UDP 7000).
 */
import { buildFrame, type FrameSpec } from '../../src/net/build.js';

export interface FuzzHosts {
  mac: { eth0: string; eth1: string; client: string; rs1: string };
  ip: { vip: string; client: string; rs1: string };
}

export interface FuzzSeed {
  frame: Uint8Array;
  /** The link it arrives on: 0 = eth0 (clients), 1 = eth1 (real servers). */
  link: number;
}

export function fuzzSeeds({ mac, ip: IP }: FuzzHosts): FuzzSeed[] {
  const c = (ip: FrameSpec['ip'], extra: Partial<FrameSpec> = {}) => ({
    frame: buildFrame({ srcMac: mac.client, dstMac: mac.eth0, ip, ...extra }),
    link: 0,
  });
  const r = (ip: FrameSpec['ip']) => ({
    frame: buildFrame({ srcMac: mac.rs1, dstMac: mac.eth1, ip }),
    link: 1,
  });
  return [
    c({ src: IP.client, dst: IP.vip, tcp: { sport: 1000, dport: 80, flags: 'S' } }),
    c({
      src: IP.client,
      dst: IP.vip,
      tcp: { sport: 1000, dport: 80, flags: 'A', payload: 'GET / HTTP/1.0\r\n\r\n' },
    }),
    c({ src: IP.client, dst: IP.vip, tcp: { sport: 1001, dport: 443, flags: 'S' } }),
    c({ src: IP.client, dst: IP.vip, udp: { sport: 1002, dport: 7000, payload: 'x'.repeat(64) } }),
    c({ src: IP.client, dst: IP.vip, icmp: { type: 8, id: 1, seq: 1 } }),
    c({
      src: IP.client,
      dst: IP.vip,
      icmp: {
        type: 3,
        code: 4,
        mtu: 1400,
        quote: { src: IP.vip, dst: IP.client, tcp: { sport: 80, dport: 1000 } },
      },
    }),
    r({ src: IP.rs1, dst: IP.client, tcp: { sport: 8080, dport: 1000, flags: 'SA' } }),
    r({
      src: IP.rs1,
      dst: IP.client,
      icmp: {
        type: 3,
        code: 3,
        quote: { src: IP.client, dst: IP.rs1, tcp: { sport: 1000, dport: 8080 } },
      },
    }),
    {
      frame: buildFrame({
        srcMac: mac.client,
        arp: { op: 'request', senderIp: IP.client, targetIp: IP.vip },
      }),
      link: 0,
    },
    c({ src: IP.client, dst: IP.vip, tcp: { sport: 1, dport: 80, flags: 'S' } }, { vlans: [5] }),
  ];
}
