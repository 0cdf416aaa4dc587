/**
 * The packet-path view's tracer: for the next packets of one service (or one client), what
 * the pipeline did, stage by stage — parse, connection lookup or scheduling (with the
 * scheduler's pick), the state change, the rewrite, the transmit link — with the headers as
 * received and as sent (TUN's outer header, NAT's replies, ICMP relays included). It is the
 * information `uvs ctl trace` prints, as data for the web page.
 *
 * A packet is matched before the pipeline runs, by its connection when it has one (both
 * directions of a NAT connection, ICMP errors about it) or by its destination (a new
 * connection to the service). Read-only lookups; the pipeline's own state is untouched.
 */

import type { Director } from '../datapath/director-parts.js';
import { OUTCOME_NAMES, OUTCOME_VERDICT, V_TX, VERDICT_NAMES } from '../datapath/outcome.js';
import { DIR_ICMP_IN, DIR_ICMP_OUT, DIR_IN, DIR_OUT, type Pipeline } from '../datapath/pipeline.js';
import { stateName } from '../ipvs/proto.js';
import { FWD_DROUTE, FWD_LOCAL, FWD_MASQ, FWD_TUNNEL } from '../ipvs/types.js';
import { formatAddrPort } from '../net/addr.js';
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import { type FrameHeaders, HeaderDecoder, type IpView } from './frame-headers.js';
import { type FrameFilter, FrameMatcher } from './frame-match.js';
import type { PacketTap } from './tap.js';

/** Which packets to follow: a service's, a client's, or both conditions. */
export type PathFilter = FrameFilter;

export interface PathStage {
  stage: 'parse' | 'lookup' | 'schedule' | 'state' | 'rewrite' | 'transmit' | 'pass' | 'drop';
  text: string;
}

export interface PathEvent {
  /** Order within this tracer's run. */
  seq: number;
  /** Wall-clock ms. */
  at: number;
  /** "client -> vip" of the connection: both directions of one connection share it. */
  conn: string;
  direction: 'in' | 'out' | 'icmp-in' | 'icmp-out' | 'none';
  service: string;
  scheduler: string;
  realServer: string;
  method: string;
  newConnection: boolean;
  stateBefore: string;
  stateAfter: string;
  verdict: string;
  outcome: string;
  received: FrameHeaders;
  sent: FrameHeaders[];
  stages: PathStage[];
}

/** The most packets one path trace may follow, and the longest it may run. */
export const PATH_MAX_COUNT = 200;
export const PATH_MAX_MS = 120_000;

const FWD_NAMES: Record<number, string> = {
  [FWD_MASQ]: 'Masq',
  [FWD_LOCAL]: 'Local',
  [FWD_TUNNEL]: 'Tunnel',
  [FWD_DROUTE]: 'Route',
};
const PROTO_NAMES: Record<number, string> = {
  [IPPROTO_TCP]: 'TCP',
  [IPPROTO_UDP]: 'UDP',
  [IPPROTO_SCTP]: 'SCTP',
  [IPPROTO_ICMP]: 'ICMP',
};

interface Run {
  filter: PathFilter;
  sink: (e: PathEvent) => void;
  end: () => void;
  timer: NodeJS.Timeout;
  seq: number;
}

export class PathTracer implements PacketTap {
  armed = 0;
  private run: Run | null = null;
  private readonly matcher: FrameMatcher;
  private readonly decoder = new HeaderDecoder();
  /** The frame being followed (set by before, used by after). */
  private pending: {
    received: FrameHeaders;
    conn: number;
    stateBefore: string;
  } | null = null;

  constructor(
    private readonly d: Director,
    private readonly linkName: (li: number) => string,
    private readonly onArm: () => void = () => {},
  ) {
    this.matcher = new FrameMatcher(d.core);
  }

  get running(): boolean {
    return this.run !== null;
  }

  /**
   * Follows the next `count` matching packets for at most `ms`; each goes to `sink`, then
   * `end` is called once. One run at a time: throws while one runs.
   */
  start(
    filter: PathFilter,
    count: number,
    ms: number,
    sink: (e: PathEvent) => void,
    end: () => void,
  ): void {
    if (!Number.isInteger(count) || count < 1 || count > PATH_MAX_COUNT) {
      throw new RangeError(`path trace count must be 1..${PATH_MAX_COUNT}`);
    }
    if (!Number.isInteger(ms) || ms < 1 || ms > PATH_MAX_MS) {
      throw new RangeError(`path trace time must be 1..${PATH_MAX_MS} ms`);
    }
    if (this.run !== null) throw new Error('a packet-path trace is already running');
    this.run = { filter, sink, end, timer: setTimeout(() => this.finish(), ms), seq: 0 };
    this.armed = count;
    this.onArm();
  }

  finish(): void {
    this.armed = 0;
    this.pending = null;
    const r = this.run;
    if (r === null) return;
    this.run = null;
    clearTimeout(r.timer);
    r.end();
  }

  before(buf: Uint8Array, off: number, len: number, li: number): void {
    this.pending = null;
    const r = this.run;
    if (r === null || !this.matcher.match(r.filter, buf, off, len)) return;
    const c = this.matcher.conn;
    const ct = this.d.core.ct;
    this.pending = {
      received: this.decoder.decode(buf, off, len, this.linkName(li)),
      conn: c,
      stateBefore: c >= 0 ? stateName(ct.proto(c), ct.state(c)) : '',
    };
  }

  after(v: number, pl: Pipeline): void {
    const pend = this.pending;
    const r = this.run;
    this.pending = null;
    if (pend === null || r === null) return;
    const sent: FrameHeaders[] = [];
    if (v === V_TX) {
      const link = this.linkName(pl.outLink);
      for (let i = 0; i < pl.outCount; i++) {
        sent.push(this.decoder.decode(pl.outBuf, pl.outOffs[i], pl.outLens[i], link));
      }
    }
    r.sink(this.event(r, pend, v, pl, sent));
    if (--this.armed <= 0) this.finish();
  }

  private event(
    r: Run,
    pend: { received: FrameHeaders; conn: number; stateBefore: string },
    v: number,
    pl: Pipeline,
    sent: FrameHeaders[],
  ): PathEvent {
    const core = this.d.core;
    const ct = core.ct;
    const c = pl.tConn >= 0 ? pl.tConn : pend.conn;
    const rx = pend.received;
    const e: PathEvent = {
      seq: ++r.seq,
      at: Date.now(),
      conn: '',
      direction: 'none',
      service: '',
      scheduler: '',
      realServer: '',
      method: '',
      newConnection: pl.tNew,
      stateBefore: pend.stateBefore,
      stateAfter: '',
      verdict: VERDICT_NAMES[OUTCOME_VERDICT[pl.outcome]],
      outcome: OUTCOME_NAMES[pl.outcome],
      received: rx,
      sent,
      stages: [],
    };
    const st = e.stages;
    st.push({ stage: 'parse', text: `${rx.link} in: ${summary(rx)}` });
    const live = c >= 0 && ct.isLive(c);
    if (live) {
      const proto = PROTO_NAMES[ct.proto(c)] ?? String(ct.proto(c));
      const dest = core.destById(core.destOf(c));
      const svc = dest?.svc ?? null;
      e.conn = `${formatAddrPort(ct.caddr(c), ct.cport(c))} -> ${formatAddrPort(ct.vaddr(c), ct.vport(c))}`;
      e.service =
        svc === null
          ? ''
          : svc.fwmark !== 0
            ? `FWM ${svc.fwmark}`
            : `${proto} ${formatAddrPort(svc.addr, svc.port)}`;
      e.scheduler = svc?.scheduler.name ?? '';
      e.realServer = formatAddrPort(ct.daddr(c), ct.dport(c));
      e.method = FWD_NAMES[core.fwdOf(c)] ?? '';
      e.stateAfter = stateName(ct.proto(c), ct.state(c));
      e.direction =
        pl.tDir === DIR_IN
          ? 'in'
          : pl.tDir === DIR_OUT
            ? 'out'
            : pl.tDir === DIR_ICMP_IN
              ? 'icmp-in'
              : pl.tDir === DIR_ICMP_OUT
                ? 'icmp-out'
                : 'none';
      if (pl.tNew) {
        st.push({
          stage: 'schedule',
          text: `new connection to ${e.service}: ${e.scheduler} picked ${e.realServer} (${e.method})`,
        });
      } else {
        const which =
          e.direction === 'out' || e.direction === 'icmp-out'
            ? 'reply lookup (real-server side)'
            : 'connection lookup (client side)';
        st.push({
          stage: 'lookup',
          text: `${which}: ${e.conn} via ${e.realServer} (${e.method})`,
        });
      }
      st.push({
        stage: 'state',
        text:
          e.stateBefore === '' || e.stateBefore === e.stateAfter
            ? `${e.stateAfter}${e.stateBefore === '' ? ' (new entry)' : ' (unchanged)'}`
            : `${e.stateBefore} -> ${e.stateAfter}`,
      });
    } else {
      st.push({ stage: 'lookup', text: 'no connection entry' });
    }
    if (v === V_TX && sent.length > 0) {
      st.push({ stage: 'rewrite', text: rewriteText(rx, sent[0], e.outcome) });
      st.push({
        stage: 'transmit',
        text: `${sent[0].link} out${sent.length > 1 ? ` (${sent.length} frames)` : ''} to ${sent[0].ethDst}`,
      });
    } else {
      st.push({ stage: e.verdict === 'pass' ? 'pass' : 'drop', text: e.outcome });
    }
    return e;
  }
}

function ipSummary(ip: NonNullable<FrameHeaders['ip']>): string {
  const l4 = ip.l4;
  const ports = l4?.sport !== undefined;
  const src = ports ? `${ip.src}:${l4!.sport}` : ip.src;
  const dst = ports ? `${ip.dst}:${l4!.dport}` : ip.dst;
  const flags = l4?.flags ? ` [${l4.flags}]` : '';
  const icmp = l4?.icmpType !== undefined ? ` type ${l4.icmpType} code ${l4.icmpCode}` : '';
  return `${l4?.proto ?? ''} ${src} -> ${dst}${flags}${icmp}`.trim();
}

/** One line for a frame: "TCP 198.18.0.10:33344 -> 198.18.0.100:80 [S]", IPIP[...] for TUN. */
export function summary(h: FrameHeaders): string {
  if (h.ip === undefined) return h.kind;
  if (h.inner !== undefined) return `IPIP ${h.ip.src} -> ${h.ip.dst} [ ${ipSummary(h.inner)} ]`;
  return ipSummary(h.ip);
}

/** What changed between the received frame and the first sent one. */
function rewriteText(rx: FrameHeaders, tx: FrameHeaders, outcome: string): string {
  const parts: string[] = [];
  if (tx.inner !== undefined && rx.ip !== undefined) {
    parts.push(`IPIP: outer ${tx.ip!.src} -> ${tx.ip!.dst} added (TTL ${tx.ip!.ttl})`);
  } else if (rx.ip !== undefined && tx.ip !== undefined) {
    const a = rx.ip;
    const b = tx.ip;
    if (a.src !== b.src || a.l4?.sport !== b.l4?.sport) {
      parts.push(`source ${endpoint(a.src, a.l4?.sport)} -> ${endpoint(b.src, b.l4?.sport)}`);
    }
    if (a.dst !== b.dst || a.l4?.dport !== b.l4?.dport) {
      parts.push(`destination ${endpoint(a.dst, a.l4?.dport)} -> ${endpoint(b.dst, b.l4?.dport)}`);
    }
    if (a.ttl !== b.ttl) parts.push(`TTL ${a.ttl} -> ${b.ttl}`);
    if (a.checksum !== b.checksum) parts.push(`IP checksum ${a.checksum} -> ${b.checksum}`);
    if (a.l4?.checksum !== undefined && a.l4.checksum !== b.l4?.checksum) {
      parts.push(`${a.l4.proto} checksum ${a.l4.checksum} -> ${b.l4?.checksum}`);
    }
    // NAT rewrites the quoted header's destination going out and its source coming in.
    if (rx.quoted && tx.quoted) {
      const from = quotedPair(rx.quoted);
      const to = quotedPair(tx.quoted);
      if (from !== to) parts.push(`quoted header ${from} rewritten to ${to}`);
    }
  }
  if (rx.ethDst !== tx.ethDst) parts.push(`MAC ${rx.ethDst} -> ${tx.ethDst}`);
  return `${outcome}: ${parts.length > 0 ? parts.join(', ') : 'unchanged'}`;
}

function quotedPair(q: IpView): string {
  return `${endpoint(q.src, q.l4?.sport)} -> ${endpoint(q.dst, q.l4?.dport)}`;
}

function endpoint(addr: string, port: number | undefined): string {
  return port === undefined ? addr : `${addr}:${port}`;
}
