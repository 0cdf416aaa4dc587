/**
 * The packet loop: what a director thread does with its links. Read it top to bottom.
 *
 * Each link's receive watcher hands over a batch of frames (zero-copy, from the AF_PACKET
 * ring). A frame the link marks as for another host (PACKET_OTHERHOST) is dropped and
 * counted, as the kernel's ip_rcv drops it; every other frame goes through
 * `Pipeline.process`; what it transmits is queued per egress link — the frame itself,
 * rewritten in place in the ring — and each queue is sent with one batched call
 * (sendmmsg) before the batch returns to the kernel. Frames the
 * pipeline built in its scratch (ICMP answers, segments) are sent at once, since the next
 * frame reuses the scratch. A next hop without a MAC is handed to the neighbour resolver.
 * A 100 ms tick runs the connection timers and the rate estimator when no traffic does.
 *
 * The same loop runs in `uvs run` (one thread) and in each worker of `uvs run --workers N`;
 * everything else — the control socket, host rules, the config — lives around it.
 */

import { O_NO_NEIGHBOUR, V_TX } from '../datapath/outcome.js';
import type { Pipeline } from '../datapath/pipeline.js';
import { type Link, PKT_OTHERHOST, RXF_CSUM_NOT_READY, type RxBatch } from '../io/link.js';
import { AF_INET6 } from '../net/addr.js';
import type { PacketTap } from '../trace/tap.js';
import type { NeighbourResolver } from './neighbours.js';

/** Frames queued per egress link before a send is forced. */
const MAX_TX = 512;
const TICK_MS = 100;

interface TxQueue {
  buf: Uint8Array | null;
  off: Int32Array;
  len: Int32Array;
  count: number;
}

export class PacketLoop {
  private readonly queues: TxQueue[];
  private timer: NodeJS.Timeout | null = null;
  /** When the last batch started (performance.now()), and the longest gap between two. */
  private lastBatch = -1;
  private maxGap = 0;

  constructor(
    private readonly pipeline: Pipeline,
    readonly links: readonly Link[],
    private readonly neighbours: NeighbourResolver,
    /** Traces, the packet-path view and recordings (src/trace/tap.ts); null = none. */
    private readonly tap: PacketTap | null,
    /** Extra work on each tick (neighbour refresh); `now` from performance.now(). */
    private readonly onTick: (now: number) => void = () => {},
  ) {
    this.queues = links.map(() => ({
      buf: null,
      off: new Int32Array(MAX_TX),
      len: new Int32Array(MAX_TX),
      count: 0,
    }));
  }

  start(): void {
    this.links.forEach((link, i) => {
      link.start((b) => this.onBatch(i, b));
    });
    this.timer = setInterval(() => {
      const now = performance.now();
      this.pipeline.core.tick(now);
      this.onTick(now);
    }, TICK_MS);
  }

  /** Stops receiving (the links stay open until close()). */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const l of this.links) l.stop();
    this.tap?.finish();
  }

  close(): void {
    for (const l of this.links) l.close();
  }

  /**
   * The longest time (ms) between the starts of two receive batches since the last call.
   * Under steady traffic it is the longest the datapath was kept from forwarding: by a
   * page of a listing, a control command, a collection, or the host's scheduler.
   */
  takeMaxBatchGap(): number {
    const g = this.maxGap;
    this.maxGap = 0;
    return g;
  }

  /** One wake-up of link `li`: process every frame, send per egress link, then return. */
  private onBatch(li: number, b: RxBatch): void {
    const p = this.pipeline;
    const tap = this.tap;
    const now = performance.now();
    if (this.lastBatch >= 0 && now - this.lastBatch > this.maxGap) {
      this.maxGap = now - this.lastBatch;
    }
    this.lastBatch = now;
    p.core.tick(now);
    const buf = b.buf;
    for (let i = 0; i < b.count; i++) {
      // Not addressed to us (a bridge flooding another director's MAC): ignore, as a host does.
      if (((b.flags[i] >>> 8) & 0xff) === PKT_OTHERHOST) {
        p.otherHost();
        continue;
      }
      const tapping = tap !== null && tap.armed > 0;
      if (tapping) tap.before(buf, b.off[i], b.len[i], li, b.flags[i]);
      const v = p.process(
        buf,
        b.off[i],
        b.len[i],
        li,
        now,
        (b.flags[i] & RXF_CSUM_NOT_READY) !== 0,
      );
      if (v === V_TX) {
        const ol = p.outLink;
        if (p.outBuf === buf && p.outCount === 1) {
          const q = this.queues[ol];
          if (q.buf !== buf && q.count > 0) this.flush(ol);
          if (q.count === MAX_TX) this.flush(ol);
          q.buf = buf;
          q.off[q.count] = p.outOffs[0];
          q.len[q.count] = p.outLens[0];
          q.count++;
        } else {
          // Built in the pipeline's scratch, which the next frame reuses: send now.
          this.links[ol].send(p.outBuf, p.outOffs, p.outLens, p.outCount);
        }
      } else if (p.outcome === O_NO_NEIGHBOUR) {
        if (p.missAf === AF_INET6) this.neighbours.resolve6(p.missAddr6, p.missLink, now);
        else this.neighbours.resolve(p.missAddr, p.missLink, now);
      }
      if (tapping) tap.after(v, p);
    }
    for (let l = 0; l < this.queues.length; l++) if (this.queues[l].count > 0) this.flush(l);
  }

  private flush(l: number): void {
    const q = this.queues[l];
    this.links[l].send(q.buf!, q.off, q.len, q.count);
    q.count = 0;
    q.buf = null;
  }
}
