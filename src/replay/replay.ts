/**
 * Offline replay: frames from a capture run through the same pipeline the live director
 * runs, with the capture's timestamps as the clock; every frame the director transmits is
 * written to a pcapng file (one interface block per director interface) with a comment that
 * names the decisions taken for it. Deterministic: same inputs, same output bytes.
 *
 * Frame by frame: each is read (from memory, or from a file piece by piece:
 * src/pcap/stream.ts), processed and written before the next, so memory does not grow with
 * the capture.
 */

import { buildDirector } from '../control/build-director.js';
import type { DirectorConfig } from '../control/config.js';
import { describeLast } from '../datapath/describe.js';
import type { Director } from '../datapath/director-parts.js';
import { OUTCOME_NAMES, V_TX, VERDICT_NAMES } from '../datapath/outcome.js';
import { HEADROOM } from '../datapath/pipeline.js';
import { openCapture } from '../pcap/capture.js';
import { type CaptureReaderLike, CaptureRecord } from '../pcap/record.js';
import type { ByteSink } from '../pcap/sink.js';
import { PcapngRecorder } from '../trace/pcapng-recorder.js';

/** pcapng epb_flags reception type (bits 2-4) of a frame seen in promiscuous mode. */
const EPB_RECEPTION_PROMISCUOUS = 4;

export interface ReplayOptions {
  /** Interface frames of a classic pcap (which has none) arrived on; default: by subnet. */
  inIface?: string;
  /** Connection-hash seed (default 0, for reproducible output). */
  hashSeed?: number;
}

export interface ReplaySummary {
  frames: number;
  written: number;
  /** Frames per verdict (tx/pass/drop). */
  verdicts: Record<string, number>;
  /** Non-zero outcome counters. */
  outcomes: Record<string, number>;
}

/** Interface a frame arrived on: the pcapng if_name, the option, or the sender's subnet. */
function ingressLink(
  d: Director,
  ifName: string | undefined,
  opts: ReplayOptions,
  buf: Uint8Array,
  off: number,
  len: number,
): number {
  const env = d.env;
  const byName = (n: string): number => {
    const i = env.linkByName(n);
    if (i < 0) throw new Error(`capture interface '${n}' is not an interface of the config`);
    return i;
  };
  if (ifName !== undefined && env.linkByName(ifName) >= 0) return env.linkByName(ifName);
  if (opts.inIface !== undefined) return byName(opts.inIface);
  // Ethernet/IPv4 or IPv6 source address (untagged) on a connected subnet; else the first
  // interface.
  const f = off;
  if (len >= 34 && buf[f + 12] === 0x08 && buf[f + 13] === 0x00) {
    const s = ((buf[f + 26] << 24) | (buf[f + 27] << 16) | (buf[f + 28] << 8) | buf[f + 29]) >>> 0;
    const l = env.connectedLink(s);
    if (l >= 0) return l;
  }
  if (len >= 54 && buf[f + 12] === 0x86 && buf[f + 13] === 0xdd) {
    const w = new Int32Array(4);
    for (let i = 0; i < 4; i++) {
      const o = f + 22 + 4 * i;
      w[i] = (buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3];
    }
    const l = env.v6.connectedLink(w);
    if (l >= 0) return l;
  }
  return 0;
}

/**
 * Replay `capture` (pcap or pcapng bytes, or a reader such as openCaptureFile's) through a
 * director built from `cfg`, writing the transmitted frames to `out`. The config is applied
 * before the first frame; a capture error stops the replay at the bad record (the frames
 * before it are written).
 */
export function replay(
  cfg: DirectorConfig,
  capture: Uint8Array | CaptureReaderLike,
  out: string | ByteSink,
  opts: ReplayOptions = {},
): ReplaySummary {
  if (cfg.interfaces.length === 0) throw new Error(`${cfg.fileName}: no interface lines`);
  const d = buildDirector(cfg, {
    core: { hashSeed: opts.hashSeed ?? 0 },
    pipeline: { trace: true },
  });
  const reader = capture instanceof Uint8Array ? openCapture(capture) : capture;
  const rec = new PcapngRecorder(out);
  // Declare every director interface up front so interface ids follow the config order.
  for (const i of d.env.ifaces) rec.interfaceId(i.name);
  const buf = new Uint8Array(HEADROOM + 262144 + 64);
  const p = d.pipeline;
  const f = new CaptureRecord();
  let n = 0;
  try {
    while (reader.next(f)) {
      if (f.linkType !== 1)
        throw new Error(`frame ${n + 1}: link type ${f.linkType} is not Ethernet`);
      n++;
      const len = f.capLen;
      buf.set(f.buf.subarray(f.off, f.off + len), HEADROOM);
      const tsMs = f.tsMs;
      d.core.tick(tsMs);
      // A frame captured for another host's MAC (pcapng reception type "promiscuous").
      if (f.flags >= 0 && ((f.flags >>> 2) & 7) === EPB_RECEPTION_PROMISCUOUS) {
        p.otherHost();
        continue;
      }
      const inLink = ingressLink(d, f.ifName, opts, buf, HEADROOM, len);
      const v = p.process(buf, HEADROOM, len, inLink, tsMs);
      if (v !== V_TX) continue;
      const comment = `#${n} ${describeLast(d)}`;
      const name = d.env.ifaces[p.outLink].name;
      for (let i = 0; i < p.outCount; i++) {
        const c = p.outCount > 1 ? `${comment} (segment ${i + 1}/${p.outCount})` : comment;
        rec.record(name, p.outBuf, p.outOffs[i], p.outLens[i], c, f.tsSec, f.tsNsec);
      }
    }
  } finally {
    rec.close();
  }
  const verdicts: Record<string, number> = {};
  VERDICT_NAMES.forEach((v, i) => {
    verdicts[v] = p.verdicts[i];
  });
  const outcomes: Record<string, number> = {};
  OUTCOME_NAMES.forEach((o, i) => {
    if (p.counts[i] > 0) outcomes[o] = p.counts[i];
  });
  return { frames: n, written: rec.packets, verdicts, outcomes };
}

export function formatSummary(s: ReplaySummary): string {
  const lines = [
    `${s.frames} frames in, ${s.written} frames out`,
    `verdicts: ${Object.entries(s.verdicts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  ];
  for (const [k, v] of Object.entries(s.outcomes)) lines.push(`  ${k.padEnd(28)} ${v}`);
  return `${lines.join('\n')}\n`;
}
