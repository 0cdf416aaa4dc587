/**
 * Micro benchmarks of the forwarders' packet work (src/xmit) on a 64-byte TCP frame:
 * NAT rewrites, DR MAC rewrite, IPIP encapsulation, plus the ICMP error builder and
 * software segmentation of a 64 KB super-packet. Run: npx tsx bench/micro/xmit.ts
 */

import { parseIn4OrThrow } from '../../src/net/addr.js';
import { buildFrame } from '../../src/net/build.js';
import { PacketInfo } from '../../src/net/packet.js';
import { parseFrame } from '../../src/net/parse.js';
import { IpIdent } from '../../src/xmit/common.js';
import { drXmit } from '../../src/xmit/dr.js';
import { tcpSegment } from '../../src/xmit/gso.js';
import { buildPortUnreach } from '../../src/xmit/icmp.js';
import { decTtl, natDnat, natSnat } from '../../src/xmit/nat.js';
import { TunOpts, tunEncap } from '../../src/xmit/tun.js';
import { tcpSegmentReference } from '../../test/xmit/gso-reference.js';
import { type MicroRow, runGroup } from './harness.js';

const CIP = '10.0.0.1';
const VIP = '10.0.0.100';
const RIP = '10.0.1.11';

/** A parsed frame placed after `headroom` bytes. */
function prepared(frame: Uint8Array, headroom: number): { buf: Uint8Array; info: PacketInfo } {
  const buf = new Uint8Array(headroom + frame.length);
  buf.set(frame, headroom);
  const info = new PacketInfo();
  const st = parseFrame(buf, headroom, frame.length, info);
  if (st !== 0) throw new Error(`bench frame did not parse (${st})`);
  return { buf, info };
}

export async function bench(): Promise<MicroRow[]> {
  // 14 + 20 + 20 + 10 = 64 bytes.
  const tcp64 = buildFrame({
    ip: {
      src: CIP,
      dst: VIP,
      ttl: 64,
      df: true,
      tcp: { sport: 40000, dport: 80, flags: 'PA', payload: '0123456789' },
    },
  });
  if (tcp64.length !== 64) throw new Error(`expected a 64-byte frame, got ${tcp64.length}`);
  const vip = parseIn4OrThrow(VIP);
  const rip = parseIn4OrThrow(RIP);
  const cip = parseIn4OrThrow(CIP);
  const srcMac = Uint8Array.of(2, 0, 0, 0, 1, 0xfe);
  const dstMac = Uint8Array.of(2, 0, 0, 0, 1, 0x11);

  const dn = prepared(tcp64, 0);
  const sn = prepared(tcp64, 0);
  const dr = prepared(tcp64, 0);
  const tt = prepared(tcp64, 0);
  const tn = prepared(tcp64, 20);
  const icmpIn = prepared(tcp64, 0);
  const opts = new TunOpts(new IpIdent());
  const ident = new IpIdent();
  const icmpOut = new Uint8Array(128);

  // A 64 KB super-packet (MSS 1448 -> 46 segments) and room for its segments.
  const big = prepared(
    buildFrame({
      ip: {
        src: CIP,
        dst: VIP,
        df: true,
        tcp: { sport: 1, dport: 80, payload: new Uint8Array(65000) },
      },
    }),
    0,
  );
  // Room for the segments, their headroom and up to 3 bytes of alignment padding each.
  const segOut = new Uint8Array(46 * (54 + 20 + 3) + 65000 + 64);
  const segOffs = new Int32Array(64);
  const segLens = new Int32Array(64);

  let flip = false;
  const rows = await runGroup('xmit', {
    // The harness's own cost per call, to read the rows below against.
    'baseline (empty task)': () => {},
    // Each call rewrites the destination (alternating VIP <-> RIP so every call changes it).
    natDnat: () => {
      flip = !flip;
      natDnat(dn.buf, dn.info, flip ? rip : vip, flip ? 8080 : 80);
    },
    natSnat: () => {
      flip = !flip;
      natSnat(sn.buf, sn.info, flip ? rip : cip, flip ? 8080 : 40000);
    },
    // The inbound NAT path; the frame is restored from the pristine copy first (a 64-byte
    // set, no allocation) so each call starts from TTL 64 and VIP:80.
    'reset+decTtl+natDnat': () => {
      tt.buf.set(tcp64);
      tt.info.flow.daddr[3] = vip;
      tt.info.flow.dport = 80;
      decTtl(tt.buf, tt.info);
      natDnat(tt.buf, tt.info, rip, 8080);
    },
    drXmit: () => {
      drXmit(dr.buf, dr.info, srcMac, dstMac);
    },
    tunEncap: () => {
      // The inner packet does not move: reset the frame to it and encapsulate again.
      tn.info.off = 20;
      tn.info.len = 64;
      tunEncap(tn.buf, tn.info, 0x0a000101, rip, srcMac, dstMac, opts);
    },
    'buildPortUnreach (64B quote)': () => {
      buildPortUnreach(icmpOut, 0, icmpIn.buf, icmpIn.info, vip, srcMac, dstMac, ident);
    },
  });
  const seg = await runGroup(
    'xmit',
    {
      // The byte-loop implementation this replaced (test/xmit/gso-reference.ts), same run.
      'tcpSegment old 64KB/1448 (per segment)': () => {
        tcpSegmentReference(big.buf, big.info, 1448, segOut, segOffs, segLens, 20);
      },
      'tcpSegment 64KB/1448 (per segment)': () => {
        tcpSegment(big.buf, big.info, 1448, segOut, segOffs, segLens, 20);
      },
    },
    { opsPerCall: 45 },
  );
  return [...rows, ...seg];
}

if (import.meta.url === `file://${process.argv[1]}`) await bench();
