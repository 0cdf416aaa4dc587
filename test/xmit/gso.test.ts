import { describe, expect, it } from 'vitest';
import { buildFrame, type Ipv4Spec } from '../../src/net/build.js';
import { rd16, rd32 } from '../../src/net/bytes.js';
import { PacketInfo } from '../../src/net/packet.js';
import { copyBytes, IpIdent, XMIT_E_INVALID, XMIT_E_SPACE } from '../../src/xmit/common.js';
import { segmentInfo, tcpSegment } from '../../src/xmit/gso.js';
import { TunOpts, tunEncap } from '../../src/xmit/tun.js';
import {
  CIP,
  EGRESS_MAC,
  expectBytes,
  frame,
  ipHeaderValid,
  l4Valid,
  mac,
  RS_MAC,
  VIP,
} from './helpers.js';

const data = (n: number) => new Uint8Array(n).map((_, i) => (i * 7 + 3) & 0xff);

const superSpec = (payload: Uint8Array, flags = 'CPAF'): Ipv4Spec => ({
  src: CIP,
  dst: VIP,
  id: 0xfffe,
  df: true,
  tos: 2,
  tcp: {
    sport: 40000,
    dport: 80,
    seq: 0xfffff000,
    ack: 77,
    flags,
    options: [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
    payload,
    csum: 'partial',
  },
});

function superPacket(payload: Uint8Array, flags?: string) {
  const p = frame({ ip: superSpec(payload, flags) });
  p.info.csumPartial = true;
  p.info.gsoType = 1;
  p.info.gsoSize = 1000;
  return p;
}

describe('tcpSegment (tcp_gso_segment)', () => {
  it('cuts 3000 bytes at MSS 1000 into the three frames the kernel would send', () => {
    const payload = data(3000);
    const p = superPacket(payload);
    const out = new Uint8Array(8000);
    const offs = new Int32Array(8);
    const lens = new Int32Array(8);
    const n = tcpSegment(p.buf, p.info, 1000, out, offs, lens, 34);
    expect(n).toBe(3);
    const flags = ['CPA'.replace('P', ''), 'A', 'PAF'];
    for (let i = 0; i < n; i++) {
      const spec = superSpec(payload.subarray(i * 1000, (i + 1) * 1000), flags[i]);
      const want = buildFrame({
        ip: {
          ...spec,
          id: (0xfffe + i) & 0xffff,
          tcp: { ...spec.tcp!, seq: (0xfffff000 + i * 1000) >>> 0, csum: 'ok' },
        },
      });
      // Headroom 34, plus up to 3 bytes that align the payload with its source.
      const start = i === 0 ? 34 : offs[i - 1] + lens[i - 1] + 34;
      expect(offs[i] - start).toBeGreaterThanOrEqual(0);
      expect(offs[i] - start).toBeLessThanOrEqual(3);
      expectBytes(out.subarray(offs[i], offs[i] + lens[i]), want);
    }
  });

  it('uneven tail, payload reassembles, checksums valid, flags placed (FIN/PSH last, CWR first)', () => {
    const payload = data(10000);
    const p = superPacket(payload);
    const out = new Uint8Array(20000);
    const offs = new Int32Array(16);
    const lens = new Int32Array(16);
    const n = tcpSegment(p.buf, p.info, 1448, out, offs, lens, 0);
    expect(n).toBe(7);
    const joined: number[] = [];
    for (let i = 0; i < n; i++) {
      const ip = offs[i] + 14;
      const tcp = ip + 20;
      expect(ipHeaderValid(out, ip)).toBe(true);
      expect(l4Valid(out, ip)).toBe(true);
      const f = out[tcp + 13];
      expect((f & 0x01) !== 0).toBe(i === n - 1);
      expect((f & 0x08) !== 0).toBe(i === n - 1);
      expect((f & 0x80) !== 0).toBe(i === 0);
      expect(f & 0x10).toBe(0x10);
      expect(rd32(out, tcp + 4)).toBe((0xfffff000 + i * 1448) >>> 0);
      expect(rd16(out, ip + 6)).toBe(0x4000);
      joined.push(...out.subarray(tcp + 32, offs[i] + lens[i]));
    }
    expect(lens[n - 1]).toBe(14 + 20 + 32 + (10000 - 6 * 1448));
    expect(Uint8Array.from(joined)).toEqual(payload);
  });

  it('a packet within one MSS yields itself with the checksum completed', () => {
    const payload = data(500);
    const p = superPacket(payload);
    const out = new Uint8Array(2000);
    const offs = new Int32Array(1);
    const lens = new Int32Array(1);
    expect(tcpSegment(p.buf, p.info, 1000, out, offs, lens, 0)).toBe(1);
    const spec = superSpec(payload);
    expectBytes(
      out.subarray(0, lens[0]),
      buildFrame({ ip: { ...spec, tcp: { ...spec.tcp!, csum: 'ok' } } }),
    );
  });

  it('segments then encapsulate: each outer header valid, DF ids 0..n-1 as GSO would give', () => {
    const p = superPacket(data(5000));
    const out = new Uint8Array(20000);
    const offs = new Int32Array(8);
    const lens = new Int32Array(8);
    const n = tcpSegment(p.buf, p.info, 1448, out, offs, lens, 20);
    expect(n).toBe(4);
    const seg = new PacketInfo();
    const opts = new TunOpts(new IpIdent());
    for (let i = 0; i < n; i++) {
      segmentInfo(p.info, out, offs[i], lens[i], seg);
      expect(seg.tcpSeq).toBe((0xfffff000 + i * 1448) >>> 0);
      const off = tunEncap(out, seg, 0x0a000101, 0x0a00010b, mac(EGRESS_MAC), mac(RS_MAC), opts, i);
      expect(off).toBe(offs[i] - 20);
      expect(ipHeaderValid(out, off + 14)).toBe(true);
      expect(rd16(out, off + 18)).toBe(i);
      expect(rd16(out, off + 16)).toBe(lens[i] - 14 + 20);
      expect(l4Valid(out, off + 34)).toBe(true);
    }
  });

  it('reports short output arrays/buffers and non-TCP input', () => {
    const p = superPacket(data(3000));
    expect(
      tcpSegment(
        p.buf,
        p.info,
        1000,
        new Uint8Array(8000),
        new Int32Array(2),
        new Int32Array(3),
        0,
      ),
    ).toBe(XMIT_E_SPACE);
    expect(
      tcpSegment(
        p.buf,
        p.info,
        1000,
        new Uint8Array(3100),
        new Int32Array(3),
        new Int32Array(3),
        0,
      ),
    ).toBe(XMIT_E_SPACE);
    expect(
      tcpSegment(p.buf, p.info, 0, new Uint8Array(8000), new Int32Array(3), new Int32Array(3), 0),
    ).toBe(XMIT_E_INVALID);
    const u = frame({ ip: { src: CIP, dst: VIP, udp: { sport: 1, dport: 2 } } });
    expect(
      tcpSegment(
        u.buf,
        u.info,
        1000,
        new Uint8Array(8000),
        new Int32Array(3),
        new Int32Array(3),
        0,
      ),
    ).toBe(XMIT_E_INVALID);
  });
});

describe('copyBytes', () => {
  it('copies across arrays and moves overlapping ranges within one array', () => {
    const a = Uint8Array.from({ length: 200 }, (_, i) => i);
    const b = new Uint8Array(200);
    copyBytes(b, 10, a, 50, 150);
    expect(Array.from(b.subarray(10, 110))).toEqual(Array.from(a.subarray(50, 150)));
    expect(b[9]).toBe(0);
    expect(b[110]).toBe(0);
    copyBytes(a, 5, a, 0, 100);
    expect(Array.from(a.subarray(5, 105))).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});
