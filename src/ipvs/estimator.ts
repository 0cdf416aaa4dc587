/**
 * The rate estimator of net/netfilter/ipvs/ip_vs_est.c: every 2 seconds each registered Stats
 * object gets an exponentially weighted moving average of its rates,
 *
 *   avg += (rate - avg) >> 2          (W = 1/4)
 *
 * kept in fixed point: conns and packets scaled by 2^10, bytes by 2^5. The 2-second delta is
 * turned into a per-second scaled rate by shifting one bit less: `delta << 9` (= delta * 2^10 / 2)
 * and `delta << 4` (= delta * 2^5 / 2). Reading rounds to nearest:
 *
 *   cps = (avg_cps + 0x1FF) >> 10      inbps = (avg_inbps + 0xF) >> 5
 *
 * which is what ipvsadm --rate prints. The kernel's s64 `>> 2` is an arithmetic shift (floor);
 * we use Math.floor on doubles, exact while values stay below 2^53 (bytes deltas below 2^48
 * per 2 s, i.e. far beyond any link).
 */
import type { Stats } from './types.js';

/** Estimation period, ms (the kernel's 2 * HZ). */
export const EST_PERIOD_MS = 2000;

class Entry {
  lastConns = 0;
  lastInpkts = 0;
  lastOutpkts = 0;
  lastInbytes = 0;
  lastOutbytes = 0;
  cps = 0;
  inpps = 0;
  outpps = 0;
  inbps = 0;
  outbps = 0;
  constructor(readonly stats: Stats) {
    this.sync();
  }
  /** ip_vs_zero_estimator: counters become the new reference, averages restart at 0. */
  sync(): void {
    const s = this.stats;
    this.lastConns = s.conns;
    this.lastInpkts = s.inpkts;
    this.lastOutpkts = s.outpkts;
    this.lastInbytes = s.inbytes;
    this.lastOutbytes = s.outbytes;
    this.cps = 0;
    this.inpps = 0;
    this.outpps = 0;
    this.inbps = 0;
    this.outbps = 0;
  }
}

/** avg += (rate - avg) >> 2, with the kernel's arithmetic (floor) shift. */
function ewma(avg: number, rate: number): number {
  return avg + Math.floor((rate - avg) / 4);
}

export class Estimator {
  private readonly entries: Entry[] = [];
  private next = -1;

  /** ip_vs_start_estimator: include `s` in the 2-second sampling. */
  start(s: Stats): void {
    for (const e of this.entries) if (e.stats === s) return;
    this.entries.push(new Entry(s));
  }

  /** ip_vs_stop_estimator. */
  stop(s: Stats): void {
    const i = this.entries.findIndex((e) => e.stats === s);
    if (i >= 0) this.entries.splice(i, 1);
  }

  /** ip_vs_zero_stats: zero the counters and restart the averages of `s`. */
  zero(s: Stats): void {
    s.zero();
    for (const e of this.entries) if (e.stats === s) e.sync();
  }

  /**
   * Run the estimation for every 2-second boundary passed since the last call (the first call
   * only sets the phase). A late call still runs one estimation per missed period; only the
   * first of them sees the counters' growth, as a late kernel timer would. At most 16 periods
   * are replayed; beyond that every average has decayed to its new value anyway.
   */
  tick(now: number): void {
    if (this.next < 0) {
      this.next = now + EST_PERIOD_MS;
      return;
    }
    let runs = 0;
    while (now >= this.next) {
      if (runs < 16) this.estimate();
      runs++;
      this.next += EST_PERIOD_MS;
    }
  }

  /** One run of estimation_timer() plus ip_vs_read_estimator() into Stats' rate fields. */
  estimate(): void {
    for (const e of this.entries) {
      const s = e.stats;
      e.cps = ewma(e.cps, (s.conns - e.lastConns) * 512);
      e.lastConns = s.conns;
      e.inpps = ewma(e.inpps, (s.inpkts - e.lastInpkts) * 512);
      e.lastInpkts = s.inpkts;
      e.outpps = ewma(e.outpps, (s.outpkts - e.lastOutpkts) * 512);
      e.lastOutpkts = s.outpkts;
      e.inbps = ewma(e.inbps, (s.inbytes - e.lastInbytes) * 16);
      e.lastInbytes = s.inbytes;
      e.outbps = ewma(e.outbps, (s.outbytes - e.lastOutbytes) * 16);
      e.lastOutbytes = s.outbytes;
      s.cps = Math.floor((e.cps + 0x1ff) / 1024);
      s.inpps = Math.floor((e.inpps + 0x1ff) / 1024);
      s.outpps = Math.floor((e.outpps + 0x1ff) / 1024);
      s.inbps = Math.floor((e.inbps + 0xf) / 32);
      s.outbps = Math.floor((e.outbps + 0xf) / 32);
    }
  }
}
