/**
 * Task functions the realserver tests run inside namespaces (test/helpers/netns.ts
 * Lab.task). Bounded in time and count; each calls ctx.ready() once set up.
 */

import { createSocket } from 'node:dgram';
import { createServer, type Socket } from 'node:net';
import { AfPacketLink } from '../../src/io/afpacket.js';
import type { RxBatch } from '../../src/io/link.js';
import { buildFrame } from '../../src/net/build.js';
import type { TaskContext } from '../helpers/netns.js';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function ip(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** What the probe saw of one received IPv4 frame. */
export interface Seen {
  src: string;
  dst: string;
  proto: number;
  sport?: number;
  dport?: number;
  tcpFlags?: number;
  icmpType?: number;
  icmpCode?: number;
  /** ICMP errors: protocol of the quoted datagram. */
  quotedProto?: number;
  /** UDP payload as UTF-8. */
  payload?: string;
}

function describe(b: Uint8Array, o: number, len: number): Seen | undefined {
  if (len < 34 || b[o + 12] !== 0x08 || b[o + 13] !== 0x00) return undefined;
  const l3 = o + 14;
  const ihl = (b[l3] & 15) * 4;
  const tot = (b[l3 + 2] << 8) | b[l3 + 3];
  const proto = b[l3 + 9];
  const s: Seen = { src: ip(b, l3 + 12), dst: ip(b, l3 + 16), proto };
  const l4 = l3 + ihl;
  if (proto === 6 || proto === 17) {
    s.sport = (b[l4] << 8) | b[l4 + 1];
    s.dport = (b[l4 + 2] << 8) | b[l4 + 3];
  }
  if (proto === 6) s.tcpFlags = b[l4 + 13];
  if (proto === 17) s.payload = Buffer.from(b.subarray(l4 + 8, l3 + tot)).toString('utf8');
  if (proto === 1) {
    s.icmpType = b[l4];
    s.icmpCode = b[l4 + 1];
    if (s.icmpType === 3) s.quotedProto = b[l4 + 8 + 9];
  }
  return s;
}

export interface ProbeArgs {
  dev: string;
  /** Frames (hex) to send once the socket is open. */
  frames: string[];
  /** How long to listen after sending, ms. */
  waitMs: number;
  /** Stop early once a frame from this source address arrived (optional). */
  until?: string;
}

/**
 * Opens an AF_PACKET link on `dev`, sends the frames, then records every IPv4 frame
 * received for `waitMs` (at most 100).
 */
export async function probe(a: ProbeArgs, ctx: TaskContext): Promise<Seen[]> {
  const link = new AfPacketLink(a.dev, { frameCount: 256 });
  const seen: Seen[] = [];
  let done = false;
  const take = (b: RxBatch) => {
    for (let i = 0; i < b.count && seen.length < 100; i++) {
      const s = describe(b.buf, b.off[i], b.len[i]);
      if (s) {
        seen.push(s);
        if (a.until !== undefined && s.src === a.until) done = true;
      }
    }
  };
  try {
    link.start(take);
    ctx.ready();
    for (const h of a.frames) {
      const f = Uint8Array.from(Buffer.from(h, 'hex'));
      if (!link.sendOne(f, 0, f.length)) throw new Error('probe: send failed');
    }
    const end = Date.now() + a.waitMs;
    while (!done && Date.now() < end) await sleep(5);
  } finally {
    link.close();
  }
  return seen;
}

export interface ServersArgs {
  vip: string;
  udpPort: number;
  tcpPort: number;
}

export interface ServersResult {
  udpEchoed: number;
  tcpAccepted: number;
}

/** A UDP echo server and a TCP listener on the VIP, until stopped. */
export async function servers(a: ServersArgs, ctx: TaskContext): Promise<ServersResult> {
  let udpEchoed = 0;
  let tcpAccepted = 0;
  const udp = createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    udpEchoed++;
    udp.send(msg, rinfo.port, rinfo.address);
  });
  await new Promise<void>((res, rej) => {
    udp.once('error', rej);
    udp.bind(a.udpPort, a.vip, () => res());
  });
  const sockets = new Set<Socket>();
  const tcp = createServer((s) => {
    tcpAccepted++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((res, rej) => {
    tcp.once('error', rej);
    tcp.listen(a.tcpPort, a.vip, () => res());
  });
  ctx.ready();
  await ctx.stopped;
  for (const s of sockets) s.destroy();
  udp.close();
  await new Promise<void>((r) => tcp.close(() => r()));
  return { udpEchoed, tcpAccepted };
}

export interface BlastArgs {
  dev: string;
  srcMac: string;
  dstMac: string;
  outerSrc: string;
  outerDst: string;
  innerSrc: string;
  innerDst: string;
  dport: number;
  /** Frames to send in total. */
  n: number;
  /** UDP payload bytes. */
  size: number;
  /** Pause between batches of 64, microseconds (0 = as fast as the socket takes them). */
  gapUs?: number;
}

export interface BlastResult {
  sent: number;
  ms: number;
}

/**
 * Sends `n` IPIP-encapsulated UDP datagrams as fast as it can (batches of 64 through one
 * AF_PACKET socket), cycling the source port over 256 values. For rate measurements.
 */
export async function blast(a: BlastArgs, ctx: TaskContext): Promise<BlastResult> {
  const link = new AfPacketLink(a.dev, { frameCount: 64 });
  const B = 64;
  const proto = buildFrame({
    srcMac: a.srcMac,
    dstMac: a.dstMac,
    ip: {
      src: a.outerSrc,
      dst: a.outerDst,
      ipip: {
        src: a.innerSrc,
        dst: a.innerDst,
        udp: { sport: 40000, dport: a.dport, payload: new Uint8Array(a.size) },
      },
    },
  });
  const L = proto.length;
  // 256 variants (source ports 40000..40255), each with valid checksums.
  const frames = new Uint8Array(L * 256);
  for (let v = 0; v < 256; v++) {
    frames.set(
      buildFrame({
        srcMac: a.srcMac,
        dstMac: a.dstMac,
        ip: {
          src: a.outerSrc,
          dst: a.outerDst,
          ipip: {
            src: a.innerSrc,
            dst: a.innerDst,
            udp: { sport: 40000 + v, dport: a.dport, payload: new Uint8Array(a.size) },
          },
        },
      }),
      v * L,
    );
  }
  const off = new Int32Array(B);
  const len = new Int32Array(B).fill(L);
  ctx.ready();
  let sent = 0;
  let k = 0;
  const t0 = process.hrtime.bigint();
  const deadline = Date.now() + 20_000;
  try {
    while (sent < a.n && Date.now() < deadline) {
      const m = Math.min(B, a.n - sent);
      for (let i = 0; i < m; i++) {
        off[i] = (k & 255) * L;
        k++;
      }
      const s = link.send(frames, off, len, m);
      sent += s;
      if (s < m) await new Promise((r) => setImmediate(r));
      else if (a.gapUs) await sleep(a.gapUs / 1000);
    }
  } finally {
    link.close();
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { sent, ms };
}
