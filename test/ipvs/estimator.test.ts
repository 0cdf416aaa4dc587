import { describe, expect, it } from 'vitest';
import { Estimator } from '../../src/ipvs/estimator.js';
import { Stats } from '../../src/ipvs/types.js';
import { IPPROTO_TCP } from '../../src/net/ipproto.js';
import { CIP, key, makeCore, RS1, SYN, tcpKey, VIP } from './helpers.js';

describe('rate estimator (ip_vs_est.c)', () => {
  it('matches a hand calculation of the fixed-point EWMA', () => {
    const s = new Stats();
    const e = new Estimator();
    e.start(s);
    e.tick(0); // phase
    // Period 1: 200 conns, 1000 packets, 150000 bytes in 2 s.
    s.conns = 200;
    s.inpkts = 1000;
    s.inbytes = 150_000;
    e.tick(2000);
    // cps: rate = 200 << 9 = 102400; avg = 0 + (102400 >> 2) = 25600; read (25600 + 511) >> 10 = 25
    // inpps: 1000 << 9 = 512000 -> avg 128000 -> (128000 + 511) >> 10 = 125
    // inbps: 150000 << 4 = 2400000 -> avg 600000 -> (600000 + 15) >> 5 = 18750
    expect([s.cps, s.inpps, s.inbps, s.outpps, s.outbps]).toEqual([25, 125, 18750, 0, 0]);
    // Period 2: no new traffic. cps avg = 25600 + ((0 - 25600) >> 2) = 19200 -> (19200+511)>>10 = 19
    // inpps avg = 128000 - 32000 = 96000 -> 94 ; inbps avg = 600000 - 150000 = 450000 -> 14062
    e.tick(4000);
    expect([s.cps, s.inpps, s.inbps]).toEqual([19, 94, 14062]);
    // Period 3: 3 conns. rate 1536; avg = 19200 + floor((1536 - 19200) / 4) = 19200 - 4416 = 14784 -> 14
    s.conns += 3;
    e.tick(6000);
    expect(s.cps).toBe(14);
    e.zero(s);
    expect([s.conns, s.cps]).toEqual([0, 0]);
    s.conns = 2;
    e.tick(8000); // 2 << 9 = 1024 -> avg 256 -> (256 + 511) >> 10 = 0
    expect(s.cps).toBe(0);
    e.stop(s);
    s.conns = 1000;
    e.tick(10_000);
    expect(s.cps).toBe(0);
  });

  it('runs every 2 s from core.tick over service, destination and global stats', () => {
    const core = makeCore();
    core.addService({ key: tcpKey(), scheduler: 'rr' });
    core.addDest(tcpKey(), { addr: RS1 });
    core.tick(0);
    for (let p = 1; p <= 40; p++)
      core.lookupIn(key(IPPROTO_TCP, CIP, p, VIP, 80), 0, SYN, 100, 1000);
    core.tick(1999);
    const svc = core.findService(tcpKey())!;
    expect(svc.stats.cps).toBe(0);
    core.tick(2000);
    // 40 conns in 2 s: 40 << 9 = 20480 -> avg 5120 -> (5120 + 511) >> 10 = 5
    expect([svc.stats.cps, svc.dests[0].stats.cps, core.stats.cps]).toEqual([5, 5, 5]);
    // 40 packets of 100 bytes: 4000 << 4 = 64000 -> avg 16000 -> (16000 + 15) >> 5 = 500
    expect(svc.stats.inbps).toBe(500);
  });
});
