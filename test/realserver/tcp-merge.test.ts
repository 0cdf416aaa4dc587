/**
 * TcpMerger: in-order segments of one connection become one super-packet with the right
 * headers, payload, virtio_net_hdr and partial checksum; everything else is written as it
 * came, in order, with a zeroed virtio_net_hdr.
 */
import { describe, expect, it } from 'vitest';
import { buildFrame } from '../../src/net/build.js';
import { rd16, rd32 } from '../../src/net/bytes.js';
import { fold16, pseudoHeaderSum, sumBytes } from '../../src/net/checksum.js';
import { M, TcpMerger, VNET_HDR_LEN } from '../../src/realserver/tcp-merge.js';

const CIP = '198.18.0.1';
const VIP = '198.18.1.100';
const TS = [1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9];

interface Written {
  bytes: Uint8Array;
  vnet: Uint8Array;
}

/** A batch: IPv4 packets laid out like ring slots (2048 apart, 10+ bytes before each). */
function batch(pkts: Uint8Array[], shift = 0): { buf: Uint8Array; offs: number[] } {
  const buf = new Uint8Array(2048 * pkts.length + 64);
  const offs: number[] = [];
  pkts.forEach((p, i) => {
    const o = 2048 * i + 34 + shift;
    buf.set(p, o);
    buf.fill(0xee, o - VNET_HDR_LEN, o); // garbage the merger must overwrite
    offs.push(o);
  });
  return { buf, offs };
}

function seg(
  seq: number,
  payload: Uint8Array,
  o: { flags?: string; options?: number[]; tos?: number; badCsum?: boolean; sport?: number } = {},
): Uint8Array {
  const f = buildFrame({
    ip: {
      src: CIP,
      dst: VIP,
      df: true,
      tos: o.tos ?? 0,
      tcp: {
        sport: o.sport ?? 40000,
        dport: 80,
        seq,
        ack: 5,
        flags: o.flags ?? 'A',
        options: o.options ?? TS,
        payload,
        csum: o.badCsum ? 'wrong' : 'ok',
      },
    },
  });
  return f.subarray(14);
}

function run(pkts: Uint8Array[], shift = 0, notReady: boolean[] = []) {
  const out: Written[] = [];
  const m = new TcpMerger((b, off, len) => {
    out.push({ bytes: b.slice(off, off + len), vnet: b.slice(off - VNET_HDR_LEN, off) });
  });
  const { buf, offs } = batch(pkts, shift);
  pkts.forEach((p, i) => {
    m.offer(buf, offs[i], p.length, notReady[i] ?? false);
  });
  m.flush();
  return { out, counters: m.counters };
}

const data = (n: number, salt: number) => new Uint8Array(n).map((_, i) => (i * 13 + salt) & 0xff);

describe('TcpMerger', () => {
  it('merges in-order segments into one super-packet (headers, payload, vnet, partial check)', () => {
    for (const shift of [0, 1, 2, 3]) {
      const pays = [data(1448, 1), data(1448, 2), data(1448, 3), data(700, 4)];
      let seq = 0xfffffc00; // wraps inside the merge
      const pkts = pays.map((p) => {
        const s = seg(seq, p);
        seq = (seq + p.length) >>> 0;
        return s;
      });
      const { out, counters } = run(pkts, shift);
      expect(out).toHaveLength(1);
      const { bytes, vnet } = out[0];
      const total = 20 + 32 + 1448 * 3 + 700;
      expect(bytes.length).toBe(total);
      expect(rd16(bytes, 2)).toBe(total);
      expect(fold16(sumBytes(bytes, 0, 20))).toBe(0xffff); // IP header checksum valid
      expect(rd32(bytes, 24)).toBe(0xfffffc00);
      expect(bytes[33]).toBe(0x10);
      expect(Buffer.compare(bytes.subarray(20, 33), pkts[0].subarray(20, 33))).toBe(0);
      const payload = Buffer.concat(pays);
      expect(Buffer.compare(bytes.subarray(52), payload)).toBe(0);
      // Check field: the folded pseudo-header sum; completing it gives a valid checksum.
      const pseudo = pseudoHeaderSum(rd32(bytes, 12), rd32(bytes, 16), 6, total - 20);
      expect(rd16(bytes, 36)).toBe(fold16(pseudo));
      const full = ~fold16(sumBytes(bytes, 20, total - 20)) & 0xffff;
      const fixed = bytes.slice();
      fixed[36] = full >>> 8;
      fixed[37] = full & 0xff;
      expect(fold16(sumBytes(fixed, 20, total - 20, pseudo))).toBe(0xffff);
      // virtio_net_hdr: NEEDS_CSUM, TCPV4, hdr_len 52, gso_size 1448, csum 20/16 (LE).
      expect(Array.from(vnet)).toEqual([1, 1, 52, 0, 1448 & 0xff, 1448 >> 8, 20, 0, 16, 0]);
      expect(counters[M.MERGED_PACKETS]).toBe(1);
      expect(counters[M.MERGED_SEGMENTS]).toBe(4);
    }
  });

  it('writes a lone segment as it came with a zeroed vnet header', () => {
    const p = seg(1, data(100, 1));
    const { out, counters } = run([p]);
    expect(out).toHaveLength(1);
    expect(Buffer.compare(out[0].bytes, p)).toBe(0);
    expect(Array.from(out[0].vnet)).toEqual(new Array(10).fill(0));
    expect(counters[M.SINGLE]).toBe(1);
  });

  it('PSH and a short segment end a merge; a gap, other options or TOS start a new one', () => {
    const a = data(1000, 1);
    const cases: Array<[Uint8Array[], number[]]> = [
      // PSH on the second: merged (2), then the third alone.
      [
        [seg(0, a), seg(1000, a, { flags: 'PA' }), seg(2000, a)],
        [2000, 1000],
      ],
      // Short second ends it: merged (2), third alone.
      [
        [seg(0, a), seg(1000, a.subarray(0, 10)), seg(1010, a)],
        [1010, 1000],
      ],
      // Gap in seq.
      [
        [seg(0, a), seg(1001, a)],
        [1000, 1000],
      ],
      // Timestamp changed.
      [
        [seg(0, a), seg(1000, a, { options: [1, 1, 8, 10, 0, 0, 0, 8, 0, 0, 0, 9] })],
        [1000, 1000],
      ],
      // TOS (e.g. a CE mark) differs.
      [
        [seg(0, a), seg(1000, a, { tos: 3 })],
        [1000, 1000],
      ],
      // Another connection between: no merge across it, order kept.
      [
        [seg(0, a), seg(0, a, { sport: 1 }), seg(1000, a)],
        [1000, 1000, 1000],
      ],
      // A bigger segment after a smaller first one.
      [
        [seg(0, a.subarray(0, 500)), seg(500, a)],
        [500, 1000],
      ],
      // SYN, FIN and pure ACKs are written alone.
      [
        [seg(0, a, { flags: 'S' }), seg(0, new Uint8Array(0)), seg(0, a, { flags: 'AF' })],
        [1000, 0, 1000],
      ],
    ];
    for (const [pkts, pays] of cases) {
      const { out } = run(pkts);
      expect(out.map((w) => w.bytes.length - 52)).toEqual(pays);
      for (const w of out) expect(rd16(w.bytes, 2)).toBe(w.bytes.length);
    }
  });

  it('verifies checksums: a bad segment is written alone, unchanged, in order', () => {
    const a = data(1000, 1);
    const bad = seg(1000, a, { badCsum: true });
    const { out, counters } = run([seg(0, a), bad, seg(2000, a), seg(3000, a)]);
    expect(out.map((w) => w.bytes.length - 52)).toEqual([1000, 1000, 2000]);
    expect(Buffer.compare(out[1].bytes, bad)).toBe(0);
    expect(counters[M.BAD_CHECKSUM]).toBe(1);
    // A bad first segment: written alone, the next one carries on.
    const r2 = run([seg(0, a, { badCsum: true }), seg(1000, a), seg(2000, a)]);
    expect(r2.out.map((w) => w.bytes.length - 52)).toEqual([1000, 2000]);
    expect(r2.counters[M.BAD_CHECKSUM]).toBe(1);
  });

  it('never merges frames whose checksum the ring reports not ready', () => {
    const a = data(1000, 1);
    const { out } = run([seg(0, a), seg(1000, a), seg(2000, a)], 0, [false, true, false]);
    expect(out.map((w) => w.bytes.length - 52)).toEqual([1000, 1000, 1000]);
  });

  it('stops before 64 KiB of IP packet', () => {
    const a = data(1448, 1);
    const pkts = Array.from({ length: 50 }, (_, i) => seg(i * 1448, a));
    const { out } = run(pkts);
    const lens = out.map((w) => w.bytes.length);
    for (const l of lens) expect(l).toBeLessThanOrEqual(65535);
    expect(lens.reduce((x, y) => x + y - 52, 0)).toBe(50 * 1448);
    expect(out[0].bytes.length).toBe(52 + 45 * 1448);
  });
});
