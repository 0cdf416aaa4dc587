/**
 * Property tests through the whole pipeline: random bytes and mutated valid frames (bit
 * flips, truncation, length-field lies) never throw, and every frame ends in exactly one
 * verdict, with an outcome that belongs to it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildDirector } from '../../src/control/build-director.js';
import { OUTCOME_COUNT, OUTCOME_VERDICT } from '../../src/datapath/outcome.js';
import { HEADROOM } from '../../src/datapath/pipeline.js';
import { buildFrame } from '../../src/net/build.js';
import { config, fromClient, fromRs, IP, MAC } from './fixtures.js';

const seeds: Uint8Array[] = [
  fromClient({ src: IP.client, dst: IP.vip, tcp: { sport: 1000, dport: 80, flags: 'S' } }),
  fromClient({ src: IP.client, dst: IP.vip, tcp: { sport: 1001, dport: 443, flags: 'S' } }),
  fromClient({ src: IP.client, dst: IP.vip, udp: { sport: 1002, dport: 7000, payload: 'x' } }),
  fromClient({ src: IP.client, dst: IP.vip, icmp: { type: 8, id: 1, seq: 1 } }),
  fromClient({
    src: IP.client,
    dst: IP.vip,
    icmp: {
      type: 3,
      code: 4,
      mtu: 1400,
      quote: { src: IP.vip, dst: IP.client, tcp: { sport: 80, dport: 1000 } },
    },
  }),
  fromRs('rs1', { src: IP.rs1, dst: IP.client, tcp: { sport: 8080, dport: 1000, flags: 'SA' } }),
  fromRs('rs1', {
    src: IP.rs1,
    dst: IP.client,
    icmp: {
      type: 3,
      code: 3,
      quote: { src: IP.client, dst: IP.rs1, tcp: { sport: 1000, dport: 8080 } },
    },
  }),
  buildFrame({ srcMac: MAC.client, arp: { op: 'request', senderIp: IP.client, targetIp: IP.vip } }),
  buildFrame({
    srcMac: MAC.client,
    dstMac: MAC.eth0,
    vlans: [5],
    ip: { src: IP.client, dst: IP.vip, tcp: { sport: 1, dport: 80, flags: 'S' } },
  }),
];

const mutated = fc
  .tuple(
    fc.constantFrom(...seeds),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    fc.option(fc.nat(), { nil: undefined }),
  )
  .map(([seed, flips, cut]) => {
    const f = Uint8Array.from(seed);
    for (const [pos, v] of flips) f[pos % f.length] = v;
    return cut === undefined ? f : f.subarray(0, cut % (f.length + 1));
  });

const random = fc.uint8Array({ minLength: 0, maxLength: 200 });

describe('pipeline under hostile input', () => {
  it('never throws and ends every frame in exactly one verdict', () => {
    const d = buildDirector(config(), { core: { hashSeed: 7 }, pipeline: { trace: true } });
    const p = d.pipeline;
    const buf = new Uint8Array(HEADROOM + 4096);
    let frames = 0;
    let now = 0;
    fc.assert(
      fc.property(fc.oneof(mutated, random), fc.integer({ min: 0, max: 1 }), (frame, link) => {
        buf.fill(0);
        buf.set(frame, HEADROOM);
        const before = p.verdicts.reduce((a, b) => a + b, 0);
        now += 10;
        const v = p.process(buf, HEADROOM, frame.length, link, now);
        frames++;
        expect(p.verdicts.reduce((a, b) => a + b, 0)).toBe(before + 1);
        expect(p.outcome).toBeGreaterThanOrEqual(0);
        expect(p.outcome).toBeLessThan(OUTCOME_COUNT);
        expect(OUTCOME_VERDICT[p.outcome]).toBe(v);
        for (let i = 0; i < p.outCount; i++) {
          expect(p.outOffs[i]).toBeGreaterThanOrEqual(0);
          expect(p.outOffs[i] + p.outLens[i]).toBeLessThanOrEqual(p.outBuf.length);
        }
      }),
      { numRuns: 3000, seed: 20261121 },
    );
    expect(p.verdicts.reduce((a, b) => a + b, 0)).toBe(frames);
  });
});
