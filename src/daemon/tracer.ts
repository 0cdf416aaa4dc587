/**
 * `uvs ctl trace N MS`: the next N transmitted packets, each with its addresses as received
 * and as sent, and the pipeline's decisions for it. The packet loop asks `armed` once per
 * frame (one field read); only while a trace is armed are frames decoded into text, off the
 * pipeline's own PacketInfo (a private one, with parseFrame, so the trace never disturbs the
 * datapath's state).
 */

import { describeLast } from '../datapath/describe.js';
import type { Director } from '../datapath/director-parts.js';
import { V_TX } from '../datapath/outcome.js';
import { IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import { PacketInfo } from '../net/packet.js';
import {
  PARSE_ARP,
  PARSE_OK_IPV4,
  PARSE_OK_IPV6,
  parseFrame,
  parseIpv4,
  parseIpv6,
} from '../net/parse.js';
import type { PacketTap } from '../trace/tap.js';

/** The most packets one trace may collect, and the longest it may wait. */
export const TRACE_MAX_COUNT = 1000;
export const TRACE_MAX_MS = 60_000;

export class Tracer implements PacketTap {
  /** Packets still to record; the packet loop traces while this is above 0. */
  armed = 0;
  private readonly lines: string[] = [];
  private received = '';
  private readonly info = new PacketInfo();
  private pending: { resolve: (text: string) => void; timer: NodeJS.Timeout } | null = null;

  constructor(
    private readonly d: Director,
    private readonly linkName: (li: number) => string,
    /** Called when a trace arms (the packet loop's tap hub recounts). */
    private readonly onArm: () => void = () => {},
  ) {}

  /**
   * Notes "eth0 in  10.0.0.1:1234 -> 10.0.0.100:80" (IPv6: "[2001:db8::1]:1234 -> ...") for
   * a frame about to be processed.
   */
  before(buf: Uint8Array, off: number, len: number, li: number): void {
    this.received = `${this.linkName(li)} in  ${this.describe(buf, off, len)}`;
  }

  /** Records the frame if the pipeline transmitted it. */
  after(v: number): void {
    if (v !== V_TX) return;
    const p = this.d.pipeline;
    const ol = p.outLink;
    const out = this.describe(p.outBuf, p.outOffs[0], p.outLens[0]);
    this.lines.push(
      `${this.received}\n  => ${this.linkName(ol)} out ${out}\n     (${describeLast(this.d)})`,
    );
    if (--this.armed <= 0) this.finish();
  }

  /**
   * Starts a trace of `count` packets that ends after `ms` at the latest; resolves with the
   * lines. One trace at a time: a second request while one runs is refused (throws).
   */
  collect(count: number, ms: number): Promise<string> {
    if (!Number.isInteger(count) || count < 1 || count > TRACE_MAX_COUNT) {
      throw new RangeError(`trace count must be 1..${TRACE_MAX_COUNT}`);
    }
    if (!Number.isInteger(ms) || ms < 1 || ms > TRACE_MAX_MS) {
      throw new RangeError(`trace timeout must be 1..${TRACE_MAX_MS} ms`);
    }
    if (this.pending !== null) throw new Error('a trace is already running');
    this.lines.length = 0;
    this.armed = count;
    this.onArm();
    return new Promise((resolve) => {
      this.pending = { resolve, timer: setTimeout(() => this.finish(), ms) };
    });
  }

  /** Ends a running trace now (stop). */
  finish(): void {
    this.armed = 0;
    const p = this.pending;
    if (p === null) return;
    this.pending = null;
    clearTimeout(p.timer);
    p.resolve(this.lines.map((l) => `${l}\n`).join(''));
    this.lines.length = 0;
  }

  private describe(buf: Uint8Array, off: number, len: number): string {
    const info = this.info;
    const st = parseFrame(buf, off, len, info);
    if (st !== PARSE_OK_IPV4 && st !== PARSE_OK_IPV6) return st === PARSE_ARP ? 'ARP' : 'non-IP';
    const outer = endpoints(info);
    const v6 = st === PARSE_OK_IPV6;
    const p = info.proto;
    if (p !== IPPROTO_IPIP && p !== IPPROTO_IPV6) return outer;
    // A tunnel: name it by its two families and describe the inner packet.
    const name = `${p === IPPROTO_IPV6 ? '6' : '4'}in${v6 ? '6' : '4'}`;
    const end = info.l3Off + info.totLen;
    const ist =
      p === IPPROTO_IPV6
        ? parseIpv6(buf, info.l4Off, end, info)
        : parseIpv4(buf, info.l4Off, end, info);
    if (ist !== PARSE_OK_IPV4 && ist !== PARSE_OK_IPV6) return `${name}[${outer}]`;
    return `${name}[${outer}] ${endpoints(info)}`;
  }
}

function endpoints(info: PacketInfo): string {
  const ports = info.proto === IPPROTO_TCP || info.proto === IPPROTO_UDP;
  const f = info.flow;
  if (ports) return f.toString();
  return `${f.source()} -> ${f.destination()}`;
}
