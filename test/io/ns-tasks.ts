/**
 * Task functions the io tests run inside namespaces (see test/helpers/netns.ts, Lab.task).
 * Each takes JSON arguments, calls ctx.ready() once its socket/device is open, and returns
 * a JSON result. Loops are bounded in time and count.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AfPacketLink, type AfPacketOptions, FANOUT_CBPF } from '../../src/io/afpacket.js';
import { clientAffinityProgram } from '../../src/io/fanout-bpf.js';
import {
  type Link,
  type RxBatch,
  readVnetHdr,
  VNET_HDR_LEN,
  VnetHdr,
  writeVnetNone,
} from '../../src/io/link.js';
import { PcapLink } from '../../src/io/pcap.js';
import { TunTapLink } from '../../src/io/tuntap.js';
import { csumFinish, icmpCheck, ipv4HeaderCheck, sumBytes } from '../../src/net/checksum.js';
import type { TaskContext } from '../helpers/netns.js';

/** Ethertype of the test frames (IEEE 802 local experimental 1). */
export const TEST_ETHERTYPE = 0x88b5;

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function macBytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(':').map((h) => Number.parseInt(h, 16)));
}

function ip4(s: string): number {
  const p = s.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

/** A test frame: dst, src, ethertype 0x88b5, then a 4-byte sequence number and a pattern. */
export function testFrame(dst: Uint8Array, src: Uint8Array, seq: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = TEST_ETHERTYPE >> 8;
  f[13] = TEST_ETHERTYPE & 0xff;
  new DataView(f.buffer).setUint32(14, seq);
  for (let i = 18; i < len; i++) f[i] = (seq * 7 + i) & 0xff;
  return f;
}

/** Ethernet + IPv4 + UDP frame of `len` bytes total (>= 42), checksums filled in. */
export function udpFrame(
  dst: Uint8Array,
  src: Uint8Array,
  saddr: string,
  daddr: string,
  sport: number,
  dport: number,
  len: number,
): Uint8Array {
  const f = new Uint8Array(len);
  const v = new DataView(f.buffer);
  f.set(dst, 0);
  f.set(src, 6);
  v.setUint16(12, 0x0800);
  const ipLen = len - 14;
  f[14] = 0x45;
  v.setUint16(16, ipLen);
  v.setUint16(18, sport);
  f[22] = 64;
  f[23] = 17;
  v.setUint32(26, ip4(saddr));
  v.setUint32(30, ip4(daddr));
  v.setUint16(24, ipv4HeaderCheck(f, 14, 20));
  v.setUint16(34, sport);
  v.setUint16(36, dport);
  v.setUint16(38, ipLen - 20);
  for (let i = 42; i < len; i++) f[i] = i & 0xff;
  let sum =
    (ip4(saddr) >>> 16) + (ip4(saddr) & 0xffff) + (ip4(daddr) >>> 16) + (ip4(daddr) & 0xffff);
  sum += 17 + ipLen - 20;
  sum = sumBytes(f, 34, 6, sum);
  sum = sumBytes(f, 42, len - 42, sum);
  const c = csumFinish(sum);
  v.setUint16(40, c === 0 ? 0xffff : c);
  return f;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits until `done()` or the parent stops us or `ms` pass, checking every 5 ms. */
async function waitFor(ctx: TaskContext, ms: number, done: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!done() && !ctx.isStopped() && Date.now() < end) await sleep(5);
}

function isTest(b: RxBatch, i: number, ethertype: number): boolean {
  const o = b.off[i];
  return b.len[i] >= 14 && ((b.buf[o + 12] << 8) | b.buf[o + 13]) === ethertype;
}

// ---------------------------------------------------------------------------------------

export interface RxArgs {
  dev: string;
  expect: number;
  waitMs?: number;
  keep?: number;
  ethertype?: number;
  /** Only count IPv4/UDP frames to this destination port (instead of the ethertype). */
  udpPort?: number;
  link?: AfPacketOptions;
  backend?: 'afpacket' | 'pcap';
}

export interface RxResult {
  matched: number;
  frames: string[];
  offsets: number[];
  headroomOk: boolean;
  headroom: number;
  frameSize: number;
  vnet: boolean;
  counters: Record<string, number>;
}

function matches(b: RxBatch, i: number, a: RxArgs, l2: boolean): boolean {
  if (a.udpPort !== undefined) {
    const o = b.off[i] + (l2 ? 14 : 0);
    if (l2 && !isTest(b, i, 0x0800)) return false;
    return b.buf[o + 9] === 17 && ((b.buf[o + 22] << 8) | b.buf[o + 23]) === a.udpPort;
  }
  return isTest(b, i, a.ethertype ?? TEST_ETHERTYPE);
}

/**
 * Receives until `expect` matching frames arrived (or stop/timeout) and reports them.
 * Also proves the headroom is writable scratch: it fills the headroom of every matching
 * frame with 0xee before reading the frame, so an overlap with frame data would show.
 */
export async function rx(a: RxArgs, ctx: TaskContext): Promise<RxResult> {
  const link: Link =
    a.backend === 'pcap' ? new PcapLink(a.dev) : new AfPacketLink(a.dev, a.link ?? {});
  const keep = a.keep ?? 0;
  const frames: string[] = [];
  const offsets: number[] = [];
  let matched = 0;
  let headroomOk = true;
  const pre = link.vnetHdr ? VNET_HDR_LEN : 0;
  link.start((b) => {
    for (let i = 0; i < b.count; i++) {
      if (!matches(b, i, a, link.l2)) continue;
      const o = b.off[i];
      const start = o - pre - link.headroom;
      if (start < 0) headroomOk = false;
      else b.buf.fill(0xee, start, o - pre);
      matched++;
      if (frames.length < keep) {
        frames.push(hex(b.buf.subarray(o, o + b.len[i])));
        offsets.push(o);
      }
    }
  });
  ctx.ready({ mac: hex(link.mac), ifindex: link.ifindex });
  await waitFor(ctx, a.waitMs ?? 10_000, () => matched >= a.expect);
  await sleep(100); // anything beyond `expect` (there should be nothing) is counted too
  const counters = link.counters() as unknown as Record<string, number>;
  const frameSize = link instanceof AfPacketLink ? link.frameSize : 0;
  link.close();
  return {
    matched,
    frames,
    offsets,
    headroomOk,
    headroom: link.headroom,
    frameSize,
    vnet: link.vnetHdr,
    counters,
  };
}

export interface TxArgs {
  dev: string;
  frames: string[];
  /** Send the frame list this many times (default 1), in batches of `batch` (default all). */
  repeat?: number;
  batch?: number;
  link?: AfPacketOptions;
  backend?: 'afpacket' | 'pcap';
  /** Wait for the parent's stop before sending (so receivers can be started first). */
  delayMs?: number;
}

/** Sends the given frames from one buffer with headroom, in batches; reports counts. */
export async function tx(
  a: TxArgs,
  ctx: TaskContext,
): Promise<{ sent: number; counters: Record<string, number> }> {
  const link: Link =
    a.backend === 'pcap' ? new PcapLink(a.dev) : new AfPacketLink(a.dev, a.link ?? {});
  const repeat = a.repeat ?? 1;
  const total = a.frames.length * repeat;
  const slot = 128 + Math.max(...a.frames.map((f) => f.length / 2));
  const buf = new Uint8Array(slot * a.frames.length);
  const off = new Int32Array(total);
  const len = new Int32Array(total);
  a.frames.forEach((h, k) => {
    buf.set(Buffer.from(h, 'hex'), k * slot + 64);
    if (link.vnetHdr) writeVnetNone(buf, k * slot + 64);
  });
  for (let i = 0; i < total; i++) {
    const k = i % a.frames.length;
    off[i] = k * slot + 64;
    len[i] = a.frames[k].length / 2;
  }
  ctx.ready();
  if (a.delayMs) await sleep(a.delayMs);
  const batch = a.batch ?? total;
  let sent = 0;
  for (let s = 0; s < total; s += batch)
    sent += link.send(buf, off, len, Math.min(batch, total - s), s);
  await sleep(50);
  const counters = link.counters() as unknown as Record<string, number>;
  link.close();
  return { sent, counters };
}

/**
 * PACKET_IGNORE_OUTGOING: link `quiet` (ignoreOutgoing on) sends `n` frames; it must see
 * none of them, while `loud` (ignoreOutgoing off, same device) sees all of them. `quiet`
 * transmits through the qdisc here: with PACKET_QDISC_BYPASS, frames skip
 * dev_queue_xmit_nit and no packet socket would see them at all.
 */
export async function ignoreOutgoing(
  a: { dev: string; n: number; dst: string },
  ctx: TaskContext,
): Promise<{ sent: number; quietSaw: number; loudSaw: number }> {
  const quiet = new AfPacketLink(a.dev, { ignoreOutgoing: true, qdiscBypass: false });
  const loud = new AfPacketLink(a.dev, { ignoreOutgoing: false });
  let quietSaw = 0;
  let loudSaw = 0;
  quiet.start((b) => {
    for (let i = 0; i < b.count; i++) if (isTest(b, i, TEST_ETHERTYPE)) quietSaw++;
  });
  loud.start((b) => {
    for (let i = 0; i < b.count; i++) if (isTest(b, i, TEST_ETHERTYPE)) loudSaw++;
  });
  const buf = new Uint8Array(a.n * 128);
  const off = new Int32Array(a.n);
  const len = new Int32Array(a.n).fill(100);
  for (let i = 0; i < a.n; i++) {
    buf.set(testFrame(macBytes(a.dst), quiet.mac, i, 100), i * 128);
    off[i] = i * 128;
  }
  ctx.ready();
  const sent = quiet.send(buf, off, len, a.n);
  await waitFor(ctx, 3000, () => loudSaw >= a.n);
  await sleep(200);
  quiet.close();
  loud.close();
  return { sent, quietSaw, loudSaw };
}

/** Two sockets in one PACKET_FANOUT (hash) group on `dev`; counts UDP frames to `port` each got. */
export async function fanout(
  a: { dev: string; group: number; expect: number; port: number },
  ctx: TaskContext,
): Promise<{ a: number; b: number; counters: Array<Record<string, number>> }> {
  const links = [0, 1].map(() => new AfPacketLink(a.dev, { fanout: { id: a.group } }));
  const got = [0, 0];
  const want: RxArgs = { dev: a.dev, expect: 0, udpPort: a.port };
  for (let k = 0; k < links.length; k++) {
    links[k].start((b) => {
      for (let i = 0; i < b.count; i++) if (matches(b, i, want, true)) got[k]++;
    });
  }
  ctx.ready();
  await waitFor(ctx, 10_000, () => got[0] + got[1] >= a.expect);
  await sleep(150);
  const counters = links.map((l) => l.counters() as unknown as Record<string, number>);
  for (const l of links) l.close();
  return { a: got[0], b: got[1], counters };
}

/** UDP frames to `dstMac`/`daddr`, source ports sport0.., for the fanout and flood tasks. */
function udpBatch(
  link: Link,
  a: { dstMac: string; saddr: string; daddr: string; port: number; len: number; n: number },
) {
  const slot = (64 + a.len + 63) & ~63;
  const buf = new Uint8Array(slot * a.n);
  const off = new Int32Array(a.n);
  const len = new Int32Array(a.n).fill(a.len);
  for (let i = 0; i < a.n; i++) {
    off[i] = i * slot + 64;
    buf.set(
      udpFrame(macBytes(a.dstMac), link.mac, a.saddr, a.daddr, 10000 + (i % 50000), a.port, a.len),
      off[i],
    );
  }
  return { buf, off, len };
}

export async function sendUdp(
  a: {
    dev: string;
    dstMac: string;
    saddr: string;
    daddr: string;
    port: number;
    len: number;
    n: number;
  },
  ctx: TaskContext,
): Promise<{ sent: number }> {
  const link = new AfPacketLink(a.dev, { frameCount: 64 });
  const { buf, off, len } = udpBatch(link, a);
  ctx.ready();
  const sent = link.send(buf, off, len, a.n);
  link.close();
  return { sent };
}

/**
 * Bounded flood sender for the rate measurement: 64-byte UDP frames in batches of 256
 * until `seconds` pass or `maxFrames` are sent, whichever first.
 */
export async function flood(
  a: {
    dev: string;
    dstMac: string;
    saddr: string;
    daddr: string;
    port: number;
    seconds: number;
    maxFrames: number;
  },
  ctx: TaskContext,
): Promise<{ sent: number; seconds: number; dropped: number }> {
  const link = new AfPacketLink(a.dev, { frameCount: 64 });
  const { buf, off, len } = udpBatch(link, { ...a, len: 60, n: 256 });
  ctx.ready();
  await sleep(50);
  const t0 = performance.now();
  const end = t0 + a.seconds * 1000;
  let sent = 0;
  let iter = 0;
  while (sent < a.maxFrames && !ctx.isStopped()) {
    sent += link.send(buf, off, len, 256);
    if ((++iter & 63) === 0) {
      if (performance.now() >= end) break;
      await new Promise((r) => setImmediate(r)); // let the stop message in
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const dropped = link.counters().txDropped;
  link.close();
  return { sent, seconds, dropped };
}

/** Receive rate of a JS callback that only counts (the batch is released when it returns). */
export async function rxRate(
  a: { dev: string; seconds: number; mode: 'start' | 'poll' },
  ctx: TaskContext,
): Promise<{ frames: number; seconds: number; batches: number; wakeups: number; drops: number }> {
  const link = new AfPacketLink(a.dev, {});
  let frames = 0;
  let t0 = 0;
  let tLast = 0;
  ctx.ready();
  if (a.mode === 'start') {
    link.start((b) => {
      if (t0 === 0) t0 = performance.now();
      frames += b.count;
      tLast = performance.now();
    });
    await waitFor(ctx, (a.seconds + 10) * 1000, () => false);
  } else {
    const end = Date.now() + (a.seconds + 10) * 1000;
    let spins = 0;
    while (!ctx.isStopped() && Date.now() < end) {
      const n = link.poll();
      if (n > 0) {
        if (t0 === 0) t0 = performance.now();
        frames += n;
        tLast = performance.now();
        link.release();
      } else if ((++spins & 1023) === 0) {
        await new Promise((r) => setImmediate(r));
      }
    }
  }
  const c = link.counters();
  link.close();
  return {
    frames,
    seconds: (tLast - t0) / 1000,
    batches: c.batches,
    wakeups: c.wakeups,
    drops: c.ringDrops,
  };
}

/** Transmit rate of a JS loop calling send() with 256-frame batches of 64-byte frames. */
export async function txRate(
  a: {
    dev: string;
    dstMac: string;
    saddr: string;
    daddr: string;
    port: number;
    seconds: number;
    batch: number;
  },
  ctx: TaskContext,
): Promise<{ sent: number; seconds: number; dropped: number; errors: number }> {
  const link = new AfPacketLink(a.dev, { frameCount: 64 });
  const { buf, off, len } = udpBatch(link, { ...a, len: 60, n: a.batch });
  ctx.ready();
  const t0 = performance.now();
  const end = t0 + a.seconds * 1000;
  let sent = 0;
  let iter = 0;
  for (;;) {
    sent += link.send(buf, off, len, a.batch);
    if ((++iter & 63) === 0 && performance.now() >= end) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  const c = link.counters();
  link.close();
  return { sent, seconds, dropped: c.txDropped, errors: c.txErrors };
}

// ---------------------------------------------------------------------------------------
// virtio_net_hdr / GSO
// ---------------------------------------------------------------------------------------

export interface GsoResult {
  superFrames: number;
  maxLen: number;
  gsoType: number;
  gsoSize: number;
  needsCsum: boolean;
  csumStart: number;
  csumOffset: number;
  echoed: string;
  echoSent: boolean;
  truncated: number;
}

/**
 * Watches TCP to port `port` on a vnet link; records super-packets (longer than
 * mtu + 14) and, if `echo`, transmits the first one back out of the same link, whole,
 * with its virtio_net_hdr (sent from the ring), returning its hash.
 */
export async function gsoWatch(
  a: { dev: string; port: number; expect: number; echo: boolean; waitMs?: number },
  ctx: TaskContext,
): Promise<GsoResult> {
  const link = new AfPacketLink(a.dev, { vnetHdr: true });
  const h = new VnetHdr();
  const r: GsoResult = {
    superFrames: 0,
    maxLen: 0,
    gsoType: 0,
    gsoSize: 0,
    needsCsum: false,
    csumStart: 0,
    csumOffset: 0,
    echoed: '',
    echoSent: false,
    truncated: 0,
  };
  link.start((b) => {
    for (let i = 0; i < b.count; i++) {
      const o = b.off[i];
      if (!isTest(b, i, 0x0800) || b.buf[o + 23] !== 6) continue;
      const ihl = (b.buf[o + 14] & 15) * 4;
      const dport = (b.buf[o + 14 + ihl + 2] << 8) | b.buf[o + 14 + ihl + 3];
      if (dport !== a.port || b.len[i] <= link.mtu + 14) continue;
      r.superFrames++;
      if (b.flags[i] & 4) r.truncated++;
      if (b.len[i] > r.maxLen) r.maxLen = b.len[i];
      readVnetHdr(b.buf, o, h);
      r.gsoType = h.gsoType;
      r.gsoSize = h.gsoSize;
      r.needsCsum = (h.flags & 1) !== 0;
      r.csumStart = h.csumStart;
      r.csumOffset = h.csumOffset;
      if (a.echo && !r.echoSent) {
        r.echoSent = link.sendOne(b.buf, o, b.len[i]);
        r.echoed = createHash('sha256')
          .update(b.buf.subarray(o, o + b.len[i]))
          .digest('hex');
      }
    }
  });
  ctx.ready({ mtu: link.mtu });
  await waitFor(ctx, a.waitMs ?? 15_000, () => r.superFrames >= a.expect);
  link.close();
  return r;
}

/** Records incoming frames longer than mtu + 14 on a vnet link (hash, length, gso_type). */
export async function bigRx(
  a: { dev: string; waitMs?: number },
  ctx: TaskContext,
): Promise<{ big: Array<{ sha: string; len: number; gsoType: number; gsoSize: number }> }> {
  const link = new AfPacketLink(a.dev, { vnetHdr: true });
  const h = new VnetHdr();
  const big: Array<{ sha: string; len: number; gsoType: number; gsoSize: number }> = [];
  link.start((b) => {
    for (let i = 0; i < b.count; i++) {
      const o = b.off[i];
      if (b.len[i] <= link.mtu + 14 || big.length >= 64) continue;
      readVnetHdr(b.buf, o, h);
      big.push({
        sha: createHash('sha256')
          .update(b.buf.subarray(o, o + b.len[i]))
          .digest('hex'),
        len: b.len[i],
        gsoType: h.gsoType,
        gsoSize: h.gsoSize,
      });
    }
  });
  ctx.ready();
  await waitFor(ctx, a.waitMs ?? 20_000, () => false);
  link.close();
  return { big };
}

// ---------------------------------------------------------------------------------------
// TAP and TUN: the kernel on the other side of the device answers ICMP echo
// ---------------------------------------------------------------------------------------

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: 'pipe', timeout: 10_000 });
}

/** IPv4 ICMP echo request from `src` to `dst` with id/seq and 32 bytes of payload, at off. */
function echoRequest(
  buf: Uint8Array,
  off: number,
  src: string,
  dst: string,
  id: number,
  seq: number,
): number {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const total = 20 + 8 + 32;
  buf[off] = 0x45;
  buf[off + 1] = 0;
  v.setUint16(off + 2, total);
  v.setUint16(off + 4, seq);
  v.setUint16(off + 6, 0x4000);
  buf[off + 8] = 64;
  buf[off + 9] = 1;
  v.setUint16(off + 10, 0);
  v.setUint32(off + 12, ip4(src));
  v.setUint32(off + 16, ip4(dst));
  v.setUint16(off + 10, ipv4HeaderCheck(buf, off, 20));
  const i = off + 20;
  buf[i] = 8;
  buf[i + 1] = 0;
  v.setUint16(i + 2, 0);
  v.setUint16(i + 4, id);
  v.setUint16(i + 6, seq);
  for (let k = 0; k < 32; k++) buf[i + 8 + k] = 0x40 + k;
  v.setUint16(i + 2, icmpCheck(buf, i, 40));
  return total;
}

export interface EchoResult {
  name: string;
  written: number;
  replies: number;
  replyOk: boolean;
  replyHex: string;
  headroomOk: boolean;
  counters: Record<string, number>;
}

/**
 * Opens a TAP (mode 'tap') or TUN (mode 'tun') device here, addresses it 10.201.0.1/24,
 * writes `n` ICMP echo requests from 10.201.0.2 and reads the kernel's echo replies.
 * On TAP a static neighbour entry for 10.201.0.2 lets the kernel answer without ARP.
 */
export async function tunEcho(
  a: { mode: 'tap' | 'tun'; n: number; vnetHdr?: boolean },
  ctx: TaskContext,
): Promise<EchoResult> {
  const link = new TunTapLink({ name: `uvs${a.mode}0`, mode: a.mode, vnetHdr: a.vnetHdr ?? false });
  const peerMac = Uint8Array.of(0x02, 0x55, 0x56, 0, 0, 2);
  sh('ip', ['link', 'set', link.name, 'up']);
  sh('ip', ['addr', 'add', '10.201.0.1/24', 'dev', link.name]);
  if (a.mode === 'tap') {
    sh('ip', [
      'neigh',
      'replace',
      '10.201.0.2',
      'lladdr',
      '02:55:56:00:00:02',
      'dev',
      link.name,
      'nud',
      'permanent',
    ]);
  }
  ctx.ready();
  const l2 = a.mode === 'tap' ? 14 : 0;
  const buf = new Uint8Array(256 * a.n);
  const off = new Int32Array(a.n);
  const len = new Int32Array(a.n);
  for (let s = 0; s < a.n; s++) {
    const o = s * 256 + 64;
    off[s] = o;
    if (l2) {
      buf.set(link.mac, o);
      buf.set(peerMac, o + 6);
      buf[o + 12] = 0x08;
      buf[o + 13] = 0x00;
    }
    len[s] = l2 + echoRequest(buf, o + l2, '10.201.0.2', '10.201.0.1', 0x5a5a, s + 1);
    if (link.vnetHdr) writeVnetNone(buf, o);
  }
  let replies = 0;
  let replyOk = true;
  let replyHex = '';
  let headroomOk = true;
  const pre = link.vnetHdr ? VNET_HDR_LEN : 0;
  link.start((b) => {
    for (let i = 0; i < b.count; i++) {
      const o = b.off[i] + l2;
      if (l2 && (b.buf[o - 2] !== 0x08 || b.buf[o - 1] !== 0)) continue;
      if (b.buf[o] >> 4 !== 4 || b.buf[o + 9] !== 1) continue;
      const ihl = (b.buf[o] & 15) * 4;
      if (b.buf[o + ihl] !== 0) continue; // echo reply only
      replies++;
      if (b.off[i] - pre - link.headroom < 0) headroomOk = false;
      const id = (b.buf[o + ihl + 4] << 8) | b.buf[o + ihl + 5];
      const dst = hex(b.buf.subarray(o + 16, o + 20));
      const icmpLen = ((b.buf[o + 2] << 8) | b.buf[o + 3]) - ihl;
      const ck = icmpCheck(b.buf, o + ihl, icmpLen);
      const stored = (b.buf[o + ihl + 2] << 8) | b.buf[o + ihl + 3];
      if (id !== 0x5a5a || dst !== '0ac90002' || ck !== stored) replyOk = false;
      if (!replyHex) replyHex = hex(b.buf.subarray(b.off[i], b.off[i] + b.len[i]));
    }
  });
  const written = link.send(buf, off, len, a.n);
  await waitFor(ctx, 5000, () => replies >= a.n);
  const counters = link.counters() as unknown as Record<string, number>;
  const name = link.name;
  link.close();
  return { name, written, replies, replyOk, replyHex, headroomOk, counters };
}

/** Opens an AfPacketLink with the given options and closes it again (for error tests). */
export async function openClose(a: {
  dev: string;
  link?: AfPacketOptions;
}): Promise<{ ok: boolean }> {
  const l = new AfPacketLink(a.dev, a.link ?? {});
  l.close();
  return { ok: true };
}

// ---------------------------------------------------------------------------------------
// PACKET_FANOUT_CBPF: client-affine fanout (src/io/fanout-bpf.ts)
// ---------------------------------------------------------------------------------------

/** A test frame for the fanout programs; addresses are unsigned 32-bit numbers. */
export interface FlowDesc {
  kind: 'udp' | 'tcp' | 'sctp' | 'gre' | 'icmp' | 'frag' | 'arp' | 'ipv6' | 'vlan';
  saddr: number;
  daddr: number;
  sport: number;
  dport: number;
  /** IPv4 header length in 32-bit words (default 5; 6 adds 4 bytes of NOP options). */
  ihl?: number;
  /** 'frag': fragment offset in 8-byte units (0 = first fragment, MF set). */
  fragOff?: number;
  /** 'icmp': type (3, 4, 11 quote a packet) and the quoted packet (protocol 6/17/132). */
  icmpType?: number;
  quoted?: { saddr: number; daddr: number; sport: number; dport: number; proto: number };
}

/** Marker at the end of every fanout test frame: "uvsF" + u32 sequence number. */
const FANOUT_MAGIC = 0x75767346;

export function ip4n(s: string): number {
  return ip4(s);
}

/** Appends big-endian fields to a byte list (chainable). */
class Bytes {
  readonly b: number[] = [];
  u8(...v: number[]): this {
    for (const x of v) this.b.push(x & 0xff);
    return this;
  }
  u16(...v: number[]): this {
    for (const x of v) this.u8(x >> 8, x);
    return this;
  }
  u32(...v: number[]): this {
    for (const x of v) this.u8(x >>> 24, x >>> 16, x >>> 8, x);
    return this;
  }
  pad(to: number, fill: number): this {
    while (this.b.length < to) this.b.push(fill);
    return this;
  }
}

const FLOW_PROTO: Record<FlowDesc['kind'], number> = {
  udp: 17,
  tcp: 6,
  sctp: 132,
  gre: 47,
  icmp: 1,
  frag: 17,
  vlan: 17,
  arp: 0,
  ipv6: 0,
};

/** Builds the Ethernet frame for `d`, ending with the marker and `seq`. */
export function flowFrame(d: FlowDesc, seq: number, dst: Uint8Array, src: Uint8Array): Uint8Array {
  const w = new Bytes().u8(...dst, ...src);
  if (d.kind === 'arp') {
    w.u16(0x0806, 1, 0x0800)
      .u8(6, 4)
      .u16(1)
      .u8(...src)
      .u32(d.saddr);
    w.u8(0, 0, 0, 0, 0, 0).u32(d.daddr);
  } else if (d.kind === 'ipv6') {
    w.u16(0x86dd).u32(0x60000000).u16(16).u8(17, 64);
    for (let i = 0; i < 32; i++) w.u8(0x20 + i);
    w.u16(d.sport, d.dport, 16, 0);
  } else {
    if (d.kind === 'vlan') w.u16(0x8100, 100); // 802.1Q tag, TCI 100
    w.u16(0x0800);
    const ip = w.b.length;
    const ihl = d.ihl ?? 5;
    const frag = d.kind === 'frag' ? (d.fragOff ? d.fragOff & 0x1fff : 0x2000) : 0x4000;
    w.u8(0x40 | ihl, 0)
      .u16(0, seq & 0xffff, frag)
      .u8(64, FLOW_PROTO[d.kind])
      .u16(0);
    w.u32(d.saddr, d.daddr);
    for (let i = 5; i < ihl; i++) w.u8(1, 1, 1, 1); // NOP options
    if (d.kind === 'tcp') w.u16(d.sport, d.dport).u32(seq, 0).u8(0x50, 0x02).u16(65535, 0, 0);
    else if (d.kind === 'sctp') w.u16(d.sport, d.dport).u32(0x01020304, 0);
    else if (d.kind === 'gre') w.u16(0, 0x0800);
    else if (d.kind === 'icmp') {
      const q = d.quoted ?? { saddr: 0, daddr: 0, sport: 0, dport: 0, proto: 17 };
      const type = d.icmpType ?? 3;
      w.u8(type, type === 3 ? 4 : 0).u16(0, 0, 1400);
      w.u8(0x45, 0).u16(60, 1, 0x4000).u8(63, q.proto).u16(0).u32(q.saddr, q.daddr);
      w.u16(q.sport, q.dport).u32(0);
    } else w.u16(d.sport, d.dport, 0, 0); // UDP ('udp', 'frag', 'vlan')
    w.pad(ip + 40, 0xab).u32(FANOUT_MAGIC, seq);
    const ipLen = w.b.length - ip;
    w.b[ip + 2] = ipLen >> 8;
    w.b[ip + 3] = ipLen & 0xff;
    return Uint8Array.from(w.b);
  }
  w.pad(60, 0xcd).u32(FANOUT_MAGIC, seq);
  return Uint8Array.from(w.b);
}

function operUp(dev: string): boolean {
  try {
    return readFileSync(`/sys/class/net/${dev}/operstate`, 'utf8').trim() === 'up';
  } catch {
    return false;
  }
}

/** Sequence number of a fanout test frame (or -1): the last 8 bytes are the marker + seq. */
function flowSeq(buf: Uint8Array, off: number, len: number): number {
  if (len < 22) return -1;
  const p = off + len - 8;
  const m = ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
  if (m !== FANOUT_MAGIC) return -1;
  return ((buf[p + 4] << 24) | (buf[p + 5] << 16) | (buf[p + 6] << 8) | buf[p + 7]) >>> 0;
}

/**
 * The frames of one fanout phase. vary 'src': requests from one client 198.18.0.10 with
 * n different source ports to VIP 198.18.1.1:80 (UDP, TCP, TCP with IP options, SCTP, and
 * ICMP errors from a router quoting our reply VIP -> client). vary 'dst': replies from a
 * real server 198.18.3.5:8080 to five clients 198.18.4.1-5 on n different ports (and ICMP
 * errors from the server quoting our client -> RS packet). Both end with ARP, IPv6, a
 * VLAN-tagged IPv4 frame, a first and a later IPv4 fragment and a GRE packet.
 */
export function fanoutFlows(vary: 'src' | 'dst', n: number): FlowDesc[] {
  const out: FlowDesc[] = [];
  const vip = ip4('198.18.1.1');
  const client = ip4('198.18.0.10');
  const rs = ip4('198.18.3.5');
  const kinds = ['udp', 'tcp', 'tcp', 'sctp', 'icmp'] as const;
  for (let i = 0; i < n; i++) {
    const kind = kinds[i % kinds.length];
    const ihl = i % kinds.length === 2 ? 6 : 5;
    if (vary === 'src') {
      const sport = 20000 + i * 3;
      if (kind === 'icmp') {
        const icmpType = [3, 4, 11][i % 3];
        out.push({
          kind,
          saddr: ip4('198.18.2.1'),
          daddr: vip,
          sport: 0,
          dport: 0,
          icmpType,
          quoted: { saddr: vip, daddr: client, sport: 80, dport: sport, proto: 6 },
        });
      } else out.push({ kind, saddr: client, daddr: vip, sport, dport: 80, ihl });
    } else {
      const c = ip4('198.18.4.1') + (i % 5);
      const dport = 30000 + i * 5;
      if (kind === 'icmp') {
        out.push({
          kind,
          saddr: rs,
          daddr: c,
          sport: 0,
          dport: 0,
          icmpType: 3,
          quoted: { saddr: c, daddr: rs, sport: dport, dport: 8080, proto: 17 },
        });
      } else out.push({ kind, saddr: rs, daddr: c, sport: 8080, dport, ihl });
    }
  }
  const a = vary === 'src' ? client : ip4('198.18.4.1');
  const b = vary === 'src' ? vip : rs;
  const [s, d] = vary === 'src' ? [a, b] : [b, a];
  out.push(
    { kind: 'arp', saddr: s, daddr: d, sport: 0, dport: 0 },
    { kind: 'ipv6', saddr: 0, daddr: 0, sport: 1111, dport: 2222 },
    { kind: 'vlan', saddr: s, daddr: d, sport: 3333, dport: 4444 },
    { kind: 'frag', saddr: s, daddr: d, sport: 5555, dport: 6666 },
    { kind: 'frag', saddr: s, daddr: d, sport: 0, dport: 0, fragOff: 185 },
    { kind: 'gre', saddr: s, daddr: d, sport: 0, dport: 0 },
  );
  return out;
}

export interface FanoutPhase {
  /** Sockets to open in the group (joined in this order: link k joins k-th). */
  members: number;
  /** Frames: fanoutFlows(vary, n). */
  vary: 'src' | 'dst';
  n: number;
  /** Program installed when the sockets join ('none': a CBPF group with no program). */
  program: { side: 'src' | 'dst'; withPort: boolean } | 'none';
  /** After joining, member `by` installs this program instead (setFanoutProgram). */
  replace?: { by: number; side: 'src' | 'dst'; withPort: boolean };
  /** Members (by join index) closed before the frames are sent. */
  close?: number[];
  /** Take `dev` down and up again (with the watchers running) before the frames are sent. */
  bounce?: boolean;
}

export interface FanoutPhaseResult {
  /** [seq, link join index that received it]; a frame seen twice appears twice. */
  got: Array<[number, number]>;
  sent: number;
}

/**
 * Runs fanout phases on `dev` (the frames come from a packet socket on `peer`, the other
 * end of the veth): per phase, opens the member sockets in one PACKET_FANOUT_CBPF group,
 * sends the phase's frames from the peer and records which socket got each one. Also
 * reports the errors of two calls that must fail.
 */
export async function fanoutCbpf(
  a: { dev: string; peer: string; group: number; phases: FanoutPhase[] },
  ctx: TaskContext,
): Promise<{ phases: FanoutPhaseResult[]; errors: Record<string, string> }> {
  const tx = new AfPacketLink(a.peer, { frameCount: 64 });
  const dstMac = new AfPacketLink(a.dev, { frameCount: 8 });
  const mac = dstMac.mac;
  dstMac.close();
  ctx.ready();
  const phases: FanoutPhaseResult[] = [];
  for (let pi = 0; pi < a.phases.length && !ctx.isStopped(); pi++) {
    const ph = a.phases[pi];
    const prog =
      ph.program === 'none'
        ? undefined
        : clientAffinityProgram(ph.program.side, ph.program.withPort);
    const links: AfPacketLink[] = [];
    for (let k = 0; k < ph.members; k++) {
      links.push(
        new AfPacketLink(a.dev, {
          frameCount: 1024,
          fanout: { id: a.group + pi, mode: FANOUT_CBPF, program: prog },
        }),
      );
    }
    if (ph.replace)
      links[ph.replace.by].setFanoutProgram(
        clientAffinityProgram(ph.replace.side, ph.replace.withPort),
      );
    const closed = new Set(ph.close ?? []);
    for (const k of closed) links[k].close();
    const got: Array<[number, number]> = [];
    links.forEach((l, k) => {
      if (closed.has(k)) return;
      l.start((b) => {
        for (let i = 0; i < b.count; i++) {
          const s = flowSeq(b.buf, b.off[i], b.len[i]);
          if (s >= 0) got.push([s, k]);
        }
      });
    });
    if (ph.bounce) {
      sh('ip', ['link', 'set', a.dev, 'down']);
      await sleep(50);
      sh('ip', ['link', 'set', a.dev, 'up']);
      await waitFor(ctx, 5000, () => operUp(a.dev) && operUp(a.peer));
    }
    const flows = fanoutFlows(ph.vary, ph.n);
    const frames = flows.map((d, i) => flowFrame(d, i, mac, tx.mac));
    const slot = 256;
    const buf = new Uint8Array(slot * frames.length);
    const off = new Int32Array(frames.length);
    const len = new Int32Array(frames.length);
    frames.forEach((f, i) => {
      buf.set(f, i * slot + 64);
      off[i] = i * slot + 64;
      len[i] = f.length;
    });
    let sent = 0;
    for (let s = 0; s < frames.length; s += 64)
      sent += tx.send(buf, off, len, Math.min(64, frames.length - s), s);
    await waitFor(ctx, 5000, () => got.length >= frames.length);
    await sleep(50);
    for (const l of links) l.close();
    phases.push({ got, sent });
  }
  tx.close();
  const errors: Record<string, string> = {};
  const hashLink = new AfPacketLink(a.dev, { frameCount: 8, fanout: { id: a.group + 100 } });
  try {
    hashLink.setFanoutProgram(clientAffinityProgram('src', true));
  } catch (e) {
    errors.hashGroup = (e as Error).message;
  }
  hashLink.close();
  const cbpf = new AfPacketLink(a.dev, {
    frameCount: 8,
    fanout: { id: a.group + 101, mode: FANOUT_CBPF },
  });
  // ja +5 out of the program, then ret #0: the kernel's classic BPF checker refuses it.
  const bad = new Uint8Array(16);
  const v = new DataView(bad.buffer);
  v.setUint16(0, 0x05, true);
  v.setUint32(4, 5, true);
  v.setUint16(8, 0x06, true);
  try {
    cbpf.setFanoutProgram(bad);
  } catch (e) {
    errors.badProgram = (e as Error).message;
  }
  cbpf.close();
  return { phases, errors };
}

export interface SplitRxResult {
  /** Test frames seen in each ring: their sequence number and length. */
  small: Array<{ seq: number; len: number }>;
  large: Array<{ seq: number; len: number }>;
  /** Sequence numbers in the order the link handed the frames over (both rings merged). */
  order: number[];
  maxSmall: number;
  smallSlots: number;
  largeSlots: number;
  counters: Record<string, number>;
}

/**
 * A split-ring vnet link that receives nothing until the parent stops the task (so its
 * rings fill and overflow), then polls until both rings are dry and says which ring held
 * which test frame and in which order the link handed them over, with the link's counters
 * (ring drops).
 */
export async function splitRx(
  a: { dev: string; link: AfPacketOptions },
  ctx: TaskContext,
): Promise<SplitRxResult> {
  const link = new AfPacketLink(a.dev, { ...a.link, vnetHdr: true, rxRing: 'split' });
  if (link.large === null) throw new Error('expected a split ring');
  const r: SplitRxResult = {
    small: [],
    large: [],
    order: [],
    maxSmall: link.large.maxSmall,
    smallSlots: link.frameCount,
    largeSlots: link.large.frameCount,
    counters: {},
  };
  ctx.ready({ maxSmall: link.large.maxSmall, smallSlots: link.frameCount });
  await ctx.stopped;
  for (let idle = 0; idle < 4; ) {
    const n = link.poll();
    if (n === 0) {
      idle++;
      continue;
    }
    idle = 0;
    const b = link.batch;
    for (let i = 0; i < n; i++) {
      if (!isTest(b, i, TEST_ETHERTYPE)) continue;
      const o = b.off[i];
      // Which ring: the small one comes first in the mapping (its slots fill whole blocks).
      const into = o < link.frameCount * link.frameSize ? r.small : r.large;
      r.order.push(new DataView(b.buf.buffer, b.buf.byteOffset).getUint32(o + 14));
      into.push({
        seq: new DataView(b.buf.buffer, b.buf.byteOffset).getUint32(o + 14),
        len: b.len[i],
      });
    }
  }
  r.counters = link.counters() as unknown as Record<string, number>;
  link.close();
  return r;
}
