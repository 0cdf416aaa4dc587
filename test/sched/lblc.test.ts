import { describe, expect, it } from 'vitest';
import { AF_INET } from '../../src/net/addr.js';
import type { LblcTable } from '../../src/sched/lblc.js';
import { makeLblc } from '../../src/sched/lblc.js';
import { conformance } from './conformance.js';
import { delDest, flow, mkService, sched, setOverload } from './helpers.js';

conformance('lblc');

const lblc = sched('lblc');
const MIN = 60_000;
const tbl = (svc: { schedData: unknown }) => svc.schedData as LblcTable;

describe('lblc (ip_vs_lblc.c)', () => {
  it('caches the wlc pick per destination IP and reuses it while not overloaded', () => {
    const svc = mkService(lblc, [1, 1, 1]);
    const [a, b] = svc.dests;
    const f = flow(1, 1, 0x0a000063);
    expect(lblc.schedule(svc, f, 0)).toBe(a);
    a.activeConns = 1; // 1 > weight 1? no -> still a
    expect(lblc.schedule(svc, f, 1)).toBe(a);
    a.activeConns = 2; // 2 > 1 and b has 0*2 < 1 -> overloaded -> wlc -> b, re-cached
    expect(lblc.schedule(svc, f, 2)).toBe(b);
    a.activeConns = 0;
    expect(lblc.schedule(svc, f, 3)).toBe(b);
    // Replacement = delete + insert: the kernel's entries counter drifts up by one.
    expect(tbl(svc).live).toBe(1);
    expect(tbl(svc).entries).toBe(2);
  });

  it('a cache hit ignores the DEST_F_OVERLOAD flag as the kernel does; removal invalidates', () => {
    const svc = mkService(lblc, [1, 1]);
    const [a, b] = svc.dests;
    const f = flow(1, 1, 0x0a000064);
    expect(lblc.schedule(svc, f, 0)).toBe(a);
    setOverload(a, true);
    expect(lblc.schedule(svc, f, 1)).toBe(a);
    delDest(svc, a);
    expect(lblc.schedule(svc, f, 2)).toBe(b);
  });

  it('expires idle entries at the full check: runs every 60 s, full check every 30th run (counter 1..30)', () => {
    const svc = mkService(lblc, [1, 1]);
    const [a] = svc.dests;
    lblc.schedule(svc, flow(1, 1, 0x0b000001), 0); // anchors the timer; run k at k minutes
    // Keep another entry alive so the table is never empty.
    for (let m = 1; m <= 1439; m++) lblc.schedule(svc, flow(1, 1, 0x0b000002), m * MIN);
    const t = tbl(svc);
    // counter starts at 1 and a full check resets it to 1: full checks at runs 30, 60, ...
    // The entry is idle exactly 24 h at run 1440 = 30 * 48, a full-check run: now >= lastuse +
    // expiration, so it goes then and not before.
    expect(t.find(AF_INET, flow(0, 0, 0x0b000001).daddr)).not.toBe(-1);
    lblc.schedule(svc, flow(1, 1, 0x0b000002), 1440 * MIN);
    expect(t.find(AF_INET, flow(0, 0, 0x0b000001).daddr)).toBe(-1);
    expect(t.live).toBe(1);
    expect(a).toBeDefined();
  });

  it('catches up over long idle gaps without walking every minute', () => {
    const svc = mkService(lblc, [1]);
    lblc.schedule(svc, flow(1, 1, 0x0c000001), 0);
    const t0 = performance.now();
    lblc.schedule(svc, flow(1, 1, 0x0c000002), 365 * 24 * 60 * MIN);
    expect(performance.now() - t0).toBeLessThan(1000); // correctness bound, not a speed target
    expect(tbl(svc).find(AF_INET, flow(0, 0, 0x0c000001).daddr)).toBe(-1);
    expect(tbl(svc).live).toBe(1);
  });

  it('honours a configured expiration and rejects a bad one', () => {
    expect(() => makeLblc({ expirationMs: 0 })).toThrow(RangeError);
    const s = makeLblc({ expirationMs: 10 * MIN });
    const svc = mkService(s, [1]);
    s.schedule(svc, flow(1, 1, 0x0d000001), 0);
    for (let m = 1; m <= 30; m++) s.schedule(svc, flow(1, 1, 0x0d000002), m * MIN);
    expect(tbl(svc).find(AF_INET, flow(0, 0, 0x0d000001).daddr)).toBe(-1); // full check at run 30 > 10 min idle
  });
});
