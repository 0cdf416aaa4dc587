/**
 * Micro benchmarks of the packet layer (src/net): the per-frame parse and a NAT-style
 * in-place rewrite (daddr + dport with RFC 1624 incremental IP and TCP checksum updates,
 * as ip_vs_nat_xmit + tcp_dnat_handler do). Run directly: `npx tsx bench/micro/net.ts`.
 */
import { buildFrame } from '../../src/net/build.js';
import { rd16, rd32, wr16, wr32 } from '../../src/net/bytes.js';
import { csumReplace2, csumReplace4, l4Check } from '../../src/net/checksum.js';
import { PacketInfo } from '../../src/net/packet.js';
import { ipv4HeaderOk, PARSE_OK_IPV4, parseFrame } from '../../src/net/parse.js';
import { type MicroRow, runGroup } from './harness.js';

export async function bench(): Promise<MicroRow[]> {
  const tcp = buildFrame({
    ip: {
      src: '10.0.0.1',
      dst: '10.0.0.100',
      tcp: { sport: 40000, dport: 80, flags: 'PA', seq: 1, ack: 2, payload: new Uint8Array(64) },
    },
  });
  const udp = buildFrame({
    vlans: [42],
    ip: { src: '10.0.0.1', dst: '10.0.0.100', udp: { sport: 5353, dport: 53, payload: 'query' } },
  });
  const info = new PacketInfo();
  // A sink the optimiser cannot see through, so the parse is not dead code.
  let sink = 0;

  // The rewrite toggles between two backends so every iteration really changes the bytes
  // and the checksums stay valid across iterations.
  const nat = Uint8Array.from(tcp);
  const rs = [0x0a00010b, 0x0a00010c];
  const rport = [8080, 8081];
  let k = 0;
  if (parseFrame(nat, 0, nat.length, info) !== PARSE_OK_IPV4) throw new Error('bench frame');
  const l3 = info.l3Off;
  const l4 = info.l4Off;
  const checkOff = info.l4CheckOff;

  // Each task call loops N times: tinybench's per-call timing costs tens of ns, which would
  // otherwise dominate operations this small. ns/op is divided by N (opsPerCall).
  const N = 1000;
  const rows = await runGroup(
    'net',
    {
      'parseFrame tcp': () => {
        for (let n = 0; n < N; n++) sink += parseFrame(tcp, 0, tcp.length, info) + info.l4Off;
      },
      'parseFrame udp+vlan': () => {
        for (let n = 0; n < N; n++) sink += parseFrame(udp, 0, udp.length, info) + info.l4Off;
      },
      'parseFrame + ipv4HeaderOk tcp': () => {
        for (let n = 0; n < N; n++) {
          sink += parseFrame(tcp, 0, tcp.length, info) + (ipv4HeaderOk(tcp, info) ? 1 : 0);
        }
      },
      'nat rewrite daddr+dport (incremental csums)': () => {
        for (let n = 0; n < N; n++) natRewrite();
      },
    },
    { opsPerCall: N },
  );
  if (sink === -1) console.log(sink);
  // The rewritten frame must still carry valid checksums (a wrong rewrite is no benchmark).
  if (parseFrame(nat, 0, nat.length, info) !== PARSE_OK_IPV4 || !ipv4HeaderOk(nat, info)) {
    throw new Error('nat rewrite broke the IPv4 header');
  }
  const full = l4Check(nat, l4, info.l4Len, 16, info.flow.saddr4, info.flow.daddr4, 6);
  if (full !== rd16(nat, checkOff)) throw new Error('nat rewrite broke the TCP checksum');
  return rows;

  function natRewrite(): void {
    k ^= 1;
    const oldD = rd32(nat, l3 + 16);
    const newD = rs[k];
    const oldP = rd16(nat, l4 + 2);
    const newP = rport[k];
    wr32(nat, l3 + 16, newD);
    wr16(nat, l3 + 10, csumReplace4(rd16(nat, l3 + 10), oldD, newD));
    wr16(nat, l4 + 2, newP);
    // TCP covers daddr through the pseudo-header, then the port itself.
    wr16(nat, checkOff, csumReplace2(csumReplace4(rd16(nat, checkOff), oldD, newD), oldP, newP));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await bench();
