/**
 * Connection entries by protocol and state, counted without stalling the datapath. Counting
 * is one pass over the connection table's flag words; on a million-entry table that pass
 * takes tens of milliseconds, too long to run on the forwarding thread at every scrape or
 * push. So a large table is counted in slices: the packet loop's 100 ms tick scans the next
 * SLICE slots, and a reading returns the last complete pass (about 6 s old at most on a
 * million slots; none, `ready` false, until the first pass ends). Slicing runs only while
 * someone reads (for WATCH_MS after a reading); a small table is counted at once when read.
 */
import type { IpvsCore } from '../ipvs/core.js';
import { CONN_F_INACTIVE, CONN_F_LIVE, CONN_F_TEMPLATE, TCP_S_LAST } from '../ipvs/proto.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';

/** TCP state s at index s (0..10), UDP at STATE_UDP, every other protocol at STATE_OTHER. */
export const STATE_UDP = TCP_S_LAST;
export const STATE_OTHER = TCP_S_LAST + 1;
export const STATE_SLOTS = TCP_S_LAST + 2;

/** Slots counted per tick (about half a millisecond). */
const SLICE = 16_384;
/** A table up to this many slots is counted whole when read. */
const WHOLE = 65_536;
/** Slicing goes on this long after the last reading. */
const WATCH_MS = 10_000;

export interface ConnCounts {
  /** False until a large table's first pass completes (the counts are then zero). */
  ready: boolean;
  /** Connection entries (not templates) by state slot. */
  states: number[];
  active: number;
  inactive: number;
  templates: number;
}

function emptyCounts(): ConnCounts {
  return {
    ready: true,
    states: new Array<number>(STATE_SLOTS).fill(0),
    active: 0,
    inactive: 0,
    templates: 0,
  };
}

/** Counts slots [from, to) of the core's table into `c`. */
function countSlots(core: IpvsCore, from: number, to: number, c: ConnCounts): void {
  const ct = core.ct;
  for (let i = from; i < to; i++) {
    const f = ct.flags(i);
    if ((f & CONN_F_LIVE) === 0) continue;
    if ((f & CONN_F_TEMPLATE) !== 0) {
      c.templates++;
      continue;
    }
    if ((f & CONN_F_INACTIVE) !== 0) c.inactive++;
    else c.active++;
    const p = ct.proto(i);
    if (p === IPPROTO_TCP) {
      const s = ct.state(i);
      c.states[s < TCP_S_LAST ? s : 0]++;
    } else if (p === IPPROTO_UDP) c.states[STATE_UDP]++;
    else c.states[STATE_OTHER]++;
  }
}

/** Every slot counted now (tests, small tables). */
export function countConnections(core: IpvsCore): ConnCounts {
  const c = emptyCounts();
  countSlots(core, 0, core.ct.highWater, c);
  return c;
}

export class ConnScanner {
  private last: ConnCounts | null = null;
  private partial = emptyCounts();
  private cursor = 0;
  private watchUntil = Number.NEGATIVE_INFINITY;

  constructor(private readonly core: IpvsCore) {}

  /** The counts for a reading at `now` (performance.now() ms). */
  read(now: number): ConnCounts {
    this.watchUntil = now + WATCH_MS;
    if (this.core.ct.highWater <= WHOLE) return countConnections(this.core);
    // A large table is never counted at once: until the first pass ends, say so.
    return this.last ?? { ...emptyCounts(), ready: false };
  }

  /** The packet loop's tick: one slice while someone reads. */
  tick(now: number): void {
    if (now > this.watchUntil) return;
    const hw = this.core.ct.highWater;
    if (hw <= WHOLE) return;
    const to = Math.min(hw, this.cursor + SLICE);
    countSlots(this.core, this.cursor, to, this.partial);
    this.cursor = to;
    if (to >= hw) {
      this.last = this.partial;
      this.partial = emptyCounts();
      this.cursor = 0;
    }
  }
}
