/**
 * A packet tap: something that looks at frames as the packet loop runs them through the
 * pipeline — the text trace (`uvs ctl trace`), the packet-path view of the web page, the
 * live pcapng recording (`uvs ctl record`). Taps cost the loop one field read per frame
 * while none is armed: the loop reads `armed` on the TapHub and calls nothing else.
 *
 * For each frame while armed: `before` sees the frame as received (the pipeline will rewrite
 * it in place), `after` sees the verdict with the pipeline's output fields still valid (the
 * transmitted frames are queued, not yet sent, and the scratch is not yet reused).
 */
import type { Pipeline } from '../datapath/pipeline.js';

export interface PacketTap {
  /** Above 0 while the tap wants frames. */
  readonly armed: number;
  /** A frame received on link `li` (`flags`: the link's per-frame flags) is about to be processed. */
  before(buf: Uint8Array, off: number, len: number, li: number, flags: number): void;
  /** The pipeline returned verdict `v` for that frame. */
  after(v: number, p: Pipeline): void;
  /** The loop stops: end whatever is running. */
  finish(): void;
}

/**
 * The taps of one datapath thread behind one `armed` field. A tap that arms itself calls
 * `refresh()`; a tap that runs out is noticed at the next frame.
 */
export class TapHub implements PacketTap {
  armed = 0;
  private readonly called: boolean[];

  constructor(private readonly taps: readonly PacketTap[]) {
    this.called = taps.map(() => false);
  }

  /** Recount the armed taps (call after arming one). */
  refresh(): void {
    let n = 0;
    for (const t of this.taps) if (t.armed > 0) n++;
    this.armed = n;
  }

  before(buf: Uint8Array, off: number, len: number, li: number, flags: number): void {
    let n = 0;
    for (let i = 0; i < this.taps.length; i++) {
      const t = this.taps[i];
      this.called[i] = t.armed > 0;
      if (this.called[i]) {
        t.before(buf, off, len, li, flags);
        n++;
      }
    }
    if (n === 0) this.armed = 0;
  }

  after(v: number, p: Pipeline): void {
    for (let i = 0; i < this.taps.length; i++) {
      if (this.called[i]) {
        this.called[i] = false;
        this.taps[i].after(v, p);
      }
    }
  }

  finish(): void {
    for (const t of this.taps) t.finish();
    this.armed = 0;
  }
}
