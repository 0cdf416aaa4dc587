/**
 * One frame through a test director's pipeline, as the replay fixture tests drive it: the
 * verdict, the named outcome, the egress link and a copy of every frame it transmits.
 */
import type { Director } from '../../src/datapath/director-parts.js';
import { OUTCOME_NAMES } from '../../src/datapath/outcome.js';
import { HEADROOM } from '../../src/datapath/pipeline.js';

export interface FrameOut {
  verdict: number;
  outcome: string;
  /** The egress link's name ('' when nothing was sent). */
  link: string;
  frames: Uint8Array[];
}

/** Processes `frame` as received on `inLink` at `now` (ms) and returns what came out. */
export function runFrame(
  d: Director,
  frame: Uint8Array,
  inLink: 'eth0' | 'eth1',
  now = 1000,
): FrameOut {
  const buf = new Uint8Array(HEADROOM + frame.length + 64);
  buf.set(frame, HEADROOM);
  const p = d.pipeline;
  const verdict = p.process(buf, HEADROOM, frame.length, d.env.linkByName(inLink), now);
  const frames: Uint8Array[] = [];
  for (let i = 0; i < p.outCount; i++) {
    frames.push(p.outBuf.slice(p.outOffs[i], p.outOffs[i] + p.outLens[i]));
  }
  return {
    verdict,
    outcome: OUTCOME_NAMES[p.outcome],
    link: p.outCount > 0 ? d.env.ifaces[p.outLink].name : '',
    frames,
  };
}
