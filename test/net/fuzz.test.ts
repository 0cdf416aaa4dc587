/**
 * Property tests: whatever bytes arrive, parseFrame returns a named status, never throws,
 * never reads outside [off, off+len), and every offset it reports for the layers its status
 * says exist lies inside the frame.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildFrame, type FrameSpec } from '../../src/net/build.js';
import { PacketInfo } from '../../src/net/packet.js';
import {
  ipv4HeaderOk,
  l4ChecksumOk,
  PARSE_ARP,
  PARSE_BAD_BOUNDS,
  PARSE_BAD_TCP_DOFF,
  PARSE_BAD_TOTLEN,
  PARSE_FRAGMENT,
  PARSE_OK_IPV4,
  PARSE_STATUS_COUNT,
  PARSE_TOO_MANY_VLANS,
  PARSE_TRUNCATED_ETH,
  PARSE_TRUNCATED_L4,
  PARSE_TRUNCATED_VLAN,
  parseFrame,
} from '../../src/net/parse.js';

/**
 * Wrap a buffer so that any indexed read outside [lo, hi) is recorded. The parse only
 * touches `buf[i]` and `buf.length`, both of which go through the proxy's get trap.
 */
function guarded(buf: Uint8Array, lo: number, hi: number, bad: number[]): Uint8Array {
  return new Proxy(buf, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && /^-?\d+$/.test(prop)) {
        const i = Number(prop);
        if (i < lo || i >= hi) bad.push(i);
        return target[i];
      }
      const v = Reflect.get(target, prop, target);
      void receiver;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** Parse frame bytes placed at `pre` inside a larger buffer, with reads guarded. */
function check(frame: Uint8Array, pre: number, gsoType: number): void {
  const buf = new Uint8Array(pre + frame.length + 7).fill(0xa5);
  buf.set(frame, pre);
  const bad: number[] = [];
  const g = guarded(buf, pre, pre + frame.length, bad);
  const info = new PacketInfo();
  info.gsoType = gsoType;
  const st = parseFrame(g, pre, frame.length, info);
  expect(Number.isInteger(st)).toBe(true);
  expect(st >= 0 && st < PARSE_STATUS_COUNT).toBe(true);
  expect(st).not.toBe(PARSE_BAD_BOUNDS);
  const start = pre;
  const end = pre + frame.length;
  const inFrame = (o: number) => o >= start && o <= end;
  if (st !== PARSE_TRUNCATED_ETH && st !== PARSE_TRUNCATED_VLAN && st !== PARSE_TOO_MANY_VLANS) {
    expect(inFrame(info.l3Off)).toBe(true);
    expect(info.l3Off).toBe(start + 14 + 4 * info.vlanCount);
  }
  const headerPresent =
    st === PARSE_OK_IPV4 ||
    st === PARSE_FRAGMENT ||
    st === PARSE_TRUNCATED_L4 ||
    st === PARSE_BAD_TCP_DOFF ||
    st === PARSE_BAD_TOTLEN;
  if (headerPresent) {
    expect(info.l3Off + info.ihl).toBeLessThanOrEqual(end);
    ipv4HeaderOk(g, info); // must stay inside the frame too
  }
  if (headerPresent && st !== PARSE_BAD_TOTLEN) {
    expect(info.l4Off).toBe(info.l3Off + info.ihl);
    expect(info.l4Len).toBeGreaterThanOrEqual(0);
    expect(info.l4Off + info.l4Len).toBeLessThanOrEqual(end);
  }
  if (st === PARSE_OK_IPV4) {
    l4ChecksumOk(g, info); // reads only [l4Off, l4Off + l4Len)
    const l4End = info.l4Off + info.l4Len;
    if (info.l4CheckOff !== -1) {
      expect(info.l4CheckOff).toBeGreaterThanOrEqual(info.l4Off);
      expect(info.l4CheckOff + 2).toBeLessThanOrEqual(l4End);
    }
    if (info.proto === 6) expect(info.l4Off + info.tcpHdrLen).toBeLessThanOrEqual(l4End);
    if (info.hasInner) {
      expect(info.innerL3Off).toBe(info.l4Off + 8);
      expect(info.innerL4Off).toBe(info.innerL3Off + info.innerIhl);
      expect(info.innerL4Off + 8).toBeLessThanOrEqual(l4End);
    }
  }
  if (st === PARSE_ARP) expect(info.l3Off + 28).toBeLessThanOrEqual(end);
  expect(bad).toEqual([]);
}

const u16 = fc.integer({ min: 0, max: 0xffff });
const addr = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join('.'));
const bytes = (max: number) => fc.uint8Array({ maxLength: max });

const l4 = fc.oneof(
  fc.record({
    tcp: fc.record({
      sport: u16,
      dport: u16,
      flags: fc.nat(255),
      options: bytes(40),
      payload: bytes(64),
    }),
  }),
  fc.record({ udp: fc.record({ sport: u16, dport: u16, payload: bytes(64) }) }),
  fc.record({ icmp: fc.record({ type: fc.constantFrom(0, 8), id: u16, payload: bytes(32) }) }),
  fc.record({
    icmp: fc.record({
      type: fc.constantFrom(3, 4, 11, 12),
      quote: fc.record({
        src: addr,
        dst: addr,
        options: bytes(12),
        udp: fc.record({ sport: u16, dport: u16, payload: bytes(16) }),
      }),
    }),
  }),
  fc.record({
    ipip: fc.record({ src: addr, dst: addr, udp: fc.record({ sport: u16, dport: u16 }) }),
  }),
);

const frameSpec: fc.Arbitrary<FrameSpec> = fc.oneof(
  fc
    .record({
      vlans: fc.array(fc.nat(4095), { maxLength: 3 }),
      padTo: fc.constantFrom(0, 60),
      src: addr,
      dst: addr,
      options: bytes(40),
      l4,
    })
    .map(({ vlans, padTo, src, dst, options, l4 }) => ({
      vlans,
      padTo,
      ip: { src, dst, options, ...l4 },
    })),
  fc
    .record({ vlans: fc.array(fc.nat(4095), { maxLength: 2 }), s: addr, t: addr })
    .map(({ vlans, s, t }) => ({ vlans, arp: { senderIp: s, targetIp: t } })),
  fc.record({ ipv6: fc.record({ nextHeader: fc.nat(255), payload: bytes(16) }) }),
);

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'lie16'; field: number; value: number }
  | { kind: 'lie8'; field: number; value: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(200), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(200) }),
  // Length fields relative to the L3 start of an untagged frame: tot_len, UDP len / TCP seq.
  fc.record({
    kind: fc.constant('lie16' as const),
    field: fc.constantFrom(16, 38, 12, 46),
    value: u16,
  }),
  // ihl/version byte, TCP doff byte, ICMP type, protocol.
  fc.record({
    kind: fc.constant('lie8' as const),
    field: fc.constantFrom(14, 46, 34, 23, 42),
    value: fc.nat(255),
  }),
);

function mutate(f: Uint8Array, ms: Mutation[]): Uint8Array {
  let g = Uint8Array.from(f);
  for (const m of ms) {
    if (m.kind === 'flip') {
      if (m.at < g.length) g[m.at] ^= 1 << m.bit;
    } else if (m.kind === 'truncate') {
      g = g.subarray(0, Math.min(m.at, g.length));
    } else if (m.kind === 'lie16') {
      if (m.field + 1 < g.length) {
        g[m.field] = m.value >>> 8;
        g[m.field + 1] = m.value & 0xff;
      }
    } else if (m.field < g.length) {
      g[m.field] = m.value;
    }
  }
  return g;
}

describe('parseFrame never misbehaves', () => {
  it('random bytes', () => {
    fc.assert(
      fc.property(bytes(120), fc.nat(9), fc.constantFrom(0, 1, 3), (f, pre, gso) =>
        check(f, pre, gso),
      ),
      { numRuns: 400 },
    );
  });

  it('random bytes that start like IPv4/VLAN/ARP frames', () => {
    const head = fc.constantFrom(
      [0x08, 0x00, 0x45],
      [0x08, 0x00, 0x46],
      [0x81, 0x00, 0, 1, 0x08, 0x00, 0x45],
      [0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x08, 0x00, 0x4f],
      [0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4],
      [0x86, 0xdd, 0x60],
    );
    fc.assert(
      fc.property(head, bytes(100), fc.nat(3), (h, tail, gso) => {
        const f = new Uint8Array(12 + h.length + tail.length);
        f.set(h, 12);
        f.set(tail, 12 + h.length);
        check(f, 3, gso);
      }),
      { numRuns: 400 },
    );
  });

  it('valid frames: parse OK (or ARP/IPv6) as built, and the header verifies', () => {
    fc.assert(
      fc.property(frameSpec, (spec) => {
        const f = buildFrame(spec);
        const info = new PacketInfo();
        const st = parseFrame(f, 0, f.length, info);
        if ((spec.vlans?.length ?? 0) > 2) {
          expect(st).toBe(PARSE_TOO_MANY_VLANS);
          return;
        }
        if (spec.ip) {
          expect(st).toBe(PARSE_OK_IPV4);
          expect(ipv4HeaderOk(f, info)).toBe(true);
          if (spec.ip.icmp?.quote) expect(info.hasInner).toBe(true);
        }
        check(f, 0, 0);
      }),
      { numRuns: 300 },
    );
  });

  it('mutated valid frames (bit flips, truncation, length-field lies)', () => {
    fc.assert(
      fc.property(
        frameSpec,
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.nat(5),
        fc.constantFrom(0, 1),
        (spec, ms, pre, gso) => check(mutate(buildFrame(spec), ms), pre, gso),
      ),
      { numRuns: 600 },
    );
  });

  it('the read guard itself catches an out-of-frame read (so the checks above can fail)', () => {
    const bad: number[] = [];
    const g = guarded(new Uint8Array(10), 2, 8, bad);
    void g[1];
    void g[5];
    void g[8];
    expect(bad).toEqual([1, 8]);
    // A frame cut short by len (bytes after it exist in the buffer) is parsed within len.
    const f = buildFrame({ ip: { src: '1.2.3.4', dst: '5.6.7.8', tcp: { sport: 1, dport: 2 } } });
    const seen: number[] = [];
    const info = new PacketInfo();
    expect(parseFrame(guarded(f, 0, 40, seen), 0, 40, info)).toBe(PARSE_BAD_TOTLEN);
    expect(seen).toEqual([]);
  });

  it('bad bounds are reported, not thrown', () => {
    const f = new Uint8Array(64);
    const info = new PacketInfo();
    for (const [off, len] of [
      [-1, 10],
      [0, -5],
      [0, 65],
      [Number.NaN, 10],
      [0, Number.POSITIVE_INFINITY],
      [63, 2],
    ]) {
      expect(parseFrame(f, off, len, info)).toBe(PARSE_BAD_BOUNDS);
    }
  });
});
