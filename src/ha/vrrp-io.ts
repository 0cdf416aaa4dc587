/**
 * The system side of VRRP: raw IPv4 sockets for protocol 112, the virtual addresses on
 * their interfaces, gratuitous ARP, link state.
 *
 * Why these means:
 *   - Adverts: a raw IP socket (npm `raw-socket`) per interface, as keepalived does. The
 *     kernel validates the IP header, reassembles, and hands over only protocol 112, IP
 *     header included (we need the TTL, source and destination for the checks). IP_HDRINCL
 *     lets us write the whole header: TTL 255, TOS 0xc0, and the source we choose
 *     (unicast_src_ip or the interface's primary address) — which the v3 checksum covers.
 *     SO_BINDTODEVICE ties the socket to its interface, IP_ADD_MEMBERSHIP joins 224.0.0.18
 *     there, IP_MULTICAST_ALL 0 keeps other groups out, IP_MULTICAST_LOOP 0 keeps our own
 *     adverts out. An AF_PACKET socket would see every frame on the link; this sees only
 *     VRRP. Bounds: 4 KiB per read (the largest advert is 1064 bytes; longer ones arrive
 *     cut and are refused as bad length), a 256 KiB kernel queue, and at most
 *     `maxRxPerSecond` packets looked at per second (the rest counted and dropped).
 *   - Addresses: `ip addr add|del` (iproute2, which keepalived's package depends on too).
 *     Node has no netlink, and the rule is no policy in the native addon; a state change
 *     is rare, so a process per change costs nothing. Commands run in order, one at a
 *     time, each with a timeout; "already there"/"already gone" are not errors.
 *   - Gratuitous ARP: Ethernet frames need a packet socket; the repo's AF_PACKET binding
 *     (src/io/afpacket.ts) is opened for the burst with the smallest ring and closed.
 *   - Link state: /sys/class/net/IF/operstate, polled by the router.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { AfPacketLink } from '../io/afpacket.js';
import { AF_INET, formatIn4, InetAddr } from '../net/addr.js';
import { ARPOP_REQUEST, writeArp } from '../net/arp.js';
import { ETH_P_ARP, ETH_ZLEN, writeEthernet } from '../net/ethernet.js';
import type { VirtualAddress } from './vrrp-config.js';
import { IPPROTO_VRRP, VRRP_MCAST_V4 } from './vrrp-packet.js';
import type { VrrpIo } from './vrrp-router.js';

/** The part of raw-socket's Socket we use (it ships no types). */
interface RawSocket {
  on(event: 'message', fn: (buf: Buffer, source: string) => void): RawSocket;
  on(event: 'error', fn: (e: Error) => void): RawSocket;
  setOption(level: number, option: number, value: number): void;
  setOption(level: number, option: number, buf: Buffer, len: number): void;
  send(
    buf: Buffer,
    off: number,
    len: number,
    addr: string,
    before: (() => void) | null,
    after: (e: Error | null, bytes: number) => void,
  ): void;
  close(): RawSocket;
}

interface RawSocketModule {
  createSocket(opts: { protocol: number; bufferSize?: number }): RawSocket;
  SocketLevel: { SOL_SOCKET: number; IPPROTO_IP: number };
  SocketOption: { SO_RCVBUF: number; SO_BINDTODEVICE: number; IP_HDRINCL: number };
}

// <linux/in.h>
const IP_MULTICAST_IF = 32;
const IP_MULTICAST_LOOP = 34;
const IP_ADD_MEMBERSHIP = 35;
const IP_MULTICAST_ALL = 49;

const RX_BUFFER = 4096;
const RX_QUEUE = 256 << 10;
const IP_CMD_TIMEOUT_MS = 5000;

function rawModule(): RawSocketModule {
  const require = createRequire(import.meta.url);
  try {
    return require('raw-socket') as RawSocketModule;
  } catch (e) {
    throw new Error(
      `the 'raw-socket' package is needed for VRRP (npm ci builds it): ${(e as Error).message}`,
    );
  }
}

function ifindexOf(ifname: string): number {
  const n = Number(readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8').trim());
  if (!Number.isInteger(n) || n <= 0) throw new Error(`no interface ${ifname}`);
  return n;
}

/** struct ip_mreqn { in_addr multiaddr; in_addr address; int ifindex; } */
function mreqn(group: number, ifindex: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(group >>> 0, 0);
  b.writeInt32LE(ifindex, 8);
  return b;
}

function runIp(args: string[]): Promise<{ ok: boolean; err: string }> {
  return new Promise((resolve) => {
    execFile(
      'ip',
      args,
      { timeout: IP_CMD_TIMEOUT_MS, maxBuffer: 1 << 20 },
      (err, _out, stderr) => {
        resolve({ ok: !err, err: err ? (stderr || err.message).trim() : '' });
      },
    );
  });
}

/** `ip addr add|del` arguments for one virtual address, keepalived's defaults. */
export function ipAddrArgs(v: VirtualAddress, present: boolean): string[] {
  const args = ['addr', present ? 'add' : 'del', `${v.addr}/${v.prefixLen}`, 'dev', v.dev];
  if (present) {
    if (v.brd) args.push('broadcast', v.brd.toString());
    if (v.scope) args.push('scope', v.scope);
    if (v.label) args.push('label', v.label);
    if (v.noprefixroute) args.push('noprefixroute');
  }
  return args;
}

/** A gratuitous ARP (keepalived's form: a broadcast request for the VIP, from the VIP). */
export function garpFrame(mac: Uint8Array, vip: number): Uint8Array {
  const f = new Uint8Array(ETH_ZLEN);
  const bcast = new Uint8Array(6).fill(0xff);
  const off = writeEthernet(f, 0, bcast, mac, ETH_P_ARP);
  writeArp(f, off, ARPOP_REQUEST, mac, vip, bcast, vip);
  return f;
}

export interface SystemVrrpIoOptions {
  maxRxPerSecond?: number;
  log?: (msg: string) => void;
}

export interface SystemVrrpIoCounters {
  rxPackets: number;
  rxRateLimited: number;
  txPackets: number;
  txErrors: number;
  addressCommands: number;
  addressErrors: number;
  garpsSent: number;
  garpErrors: number;
}

/** The real VrrpIo (root or CAP_NET_RAW + CAP_NET_ADMIN). */
export class SystemVrrpIo implements VrrpIo {
  readonly counters: SystemVrrpIoCounters = {
    rxPackets: 0,
    rxRateLimited: 0,
    txPackets: 0,
    txErrors: 0,
    addressCommands: 0,
    addressErrors: 0,
    garpsSent: 0,
    garpErrors: 0,
  };
  private readonly raw = rawModule();
  private readonly sockets = new Map<string, RawSocket>();
  private readonly handlers = new Map<string, (pkt: Uint8Array, len: number) => void>();
  private readonly primaries = new Map<string, InetAddr>();
  private readonly ours = new Set<string>();
  private addrQueue: Promise<unknown> = Promise.resolve();
  private readonly maxRx: number;
  private rxWindowStart = 0;
  private rxInWindow = 0;
  private refreshTimer: ReturnType<typeof setInterval> | undefined;
  private readonly log: (msg: string) => void;
  private closed = false;
  private inFlight = 0;

  constructor(opts: SystemVrrpIoOptions = {}) {
    this.maxRx = opts.maxRxPerSecond ?? 2000;
    this.log = opts.log ?? (() => {});
  }

  /** Learns the interfaces' primary addresses (call before starting a router, again on a reload). */
  async prepare(ifnames: Iterable<string>): Promise<void> {
    for (const i of ifnames) await this.refreshPrimary(i);
    if (this.refreshTimer) return;
    this.refreshTimer = setInterval(() => {
      for (const i of this.sockets.keys()) void this.refreshPrimary(i);
    }, 2000);
    this.refreshTimer.unref();
  }

  private async refreshPrimary(ifname: string): Promise<void> {
    const r = await new Promise<string>((resolve) => {
      execFile(
        'ip',
        ['-4', '-j', 'addr', 'show', 'dev', ifname],
        { timeout: IP_CMD_TIMEOUT_MS },
        (err, out) => resolve(err ? '' : out),
      );
    });
    try {
      const j = JSON.parse(r || '[]') as Array<{
        addr_info?: Array<{ local?: string; secondary?: boolean }>;
      }>;
      const infos = j[0]?.addr_info ?? [];
      // keepalived's source: the interface's first (primary) address that is not a VIP.
      const pick =
        infos.find((a) => a.local && !a.secondary && !this.ours.has(a.local)) ??
        infos.find((a) => a.local && !this.ours.has(a.local));
      const a = pick?.local ? InetAddr.parse(pick.local) : null;
      if (a && a.af === AF_INET) this.primaries.set(ifname, a);
    } catch {
      // keep the last known address
    }
  }

  listen(ifname: string, onPacket: (pkt: Uint8Array, len: number) => void): void {
    // A reload's router listens again on the same socket: its handler replaces the old one.
    this.handlers.set(ifname, onPacket);
    if (this.sockets.has(ifname)) return;
    const r = this.raw;
    const s = r.createSocket({ protocol: IPPROTO_VRRP, bufferSize: RX_BUFFER });
    const IP = r.SocketLevel.IPPROTO_IP;
    const dev = Buffer.from(`${ifname}\0`);
    s.setOption(r.SocketLevel.SOL_SOCKET, r.SocketOption.SO_BINDTODEVICE, dev, dev.length);
    s.setOption(r.SocketLevel.SOL_SOCKET, r.SocketOption.SO_RCVBUF, RX_QUEUE);
    s.setOption(IP, r.SocketOption.IP_HDRINCL, 1);
    s.setOption(IP, IP_MULTICAST_ALL, 0);
    s.setOption(IP, IP_MULTICAST_LOOP, 0);
    const ifindex = ifindexOf(ifname);
    const mifb = mreqn(0, ifindex);
    s.setOption(IP, IP_MULTICAST_IF, mifb, mifb.length);
    const join = mreqn(VRRP_MCAST_V4, ifindex);
    s.setOption(IP, IP_ADD_MEMBERSHIP, join, join.length);
    s.on('error', (e) => this.log(`vrrp socket ${ifname}: ${e.message}`));
    s.on('message', (buf) => {
      const now = Date.now();
      if (now - this.rxWindowStart >= 1000) {
        this.rxWindowStart = now;
        this.rxInWindow = 0;
      }
      if (++this.rxInWindow > this.maxRx) {
        this.counters.rxRateLimited++;
        return;
      }
      this.counters.rxPackets++;
      this.handlers.get(ifname)?.(buf, buf.length);
    });
    this.sockets.set(ifname, s);
  }

  send(ifname: string, pkt: Uint8Array, dst: number): void {
    const s = this.sockets.get(ifname);
    if (!s) {
      this.counters.txErrors++;
      return;
    }
    const b = Buffer.from(pkt.buffer, pkt.byteOffset, pkt.byteLength);
    this.inFlight++;
    s.send(b, 0, b.length, formatIn4(dst), null, (e) => {
      this.inFlight--;
      if (e) {
        this.counters.txErrors++;
        this.log(`vrrp send on ${ifname}: ${e.message}`);
      } else this.counters.txPackets++;
    });
  }

  primaryAddress(ifname: string): InetAddr | undefined {
    return this.primaries.get(ifname);
  }

  setAddresses(vips: readonly VirtualAddress[], present: boolean): void {
    // A process per change costs ~35 ms here, and its fork blocks the loop a few ms: let
    // the advert the state machine sends in the same turn leave first (the raw socket
    // writes in the poll phase, setImmediate runs after it).
    this.addrQueue = this.addrQueue.then(() => new Promise<void>((r) => setImmediate(r)));
    for (const v of vips) {
      const key = v.addr.toString();
      if (present) this.ours.add(key);
      const args = ipAddrArgs(v, present);
      this.addrQueue = this.addrQueue.then(async () => {
        this.counters.addressCommands++;
        const r = await runIp(args);
        if (!r.ok && !/File exists|Cannot assign requested address/.test(r.err)) {
          this.counters.addressErrors++;
          this.log(`ip ${args.join(' ')}: ${r.err}`);
        }
        if (!present) this.ours.delete(key);
      });
    }
  }

  /** Resolves when every queued address change has been applied. */
  settled(): Promise<unknown> {
    return this.addrQueue;
  }

  sendGarp(vips: readonly VirtualAddress[], repeat: number): void {
    // After the addresses are up (the queue), so the kernel answers ARP for them too.
    this.addrQueue = this.addrQueue.then(() => {
      const byDev = new Map<string, VirtualAddress[]>();
      for (const v of vips) {
        if (v.addr.af !== AF_INET) continue;
        byDev.set(v.dev, [...(byDev.get(v.dev) ?? []), v]);
      }
      for (const [dev, list] of byDev) {
        let link: AfPacketLink | undefined;
        try {
          link = new AfPacketLink(dev, {
            frameCount: 8,
            frameSize: 2048,
            qdiscBypass: false,
            sndbuf: 1 << 16,
          });
          for (let i = 0; i < repeat; i++) {
            for (const v of list) {
              const f = garpFrame(link.mac, v.addr.v4);
              if (link.sendOne(f, 0, f.length)) this.counters.garpsSent++;
              else this.counters.garpErrors++;
            }
          }
        } catch (e) {
          this.counters.garpErrors++;
          this.log(`gratuitous ARP on ${dev}: ${(e as Error).message}`);
        } finally {
          link?.close();
        }
      }
    });
  }

  linkUp(ifname: string): boolean {
    try {
      const s = readFileSync(`/sys/class/net/${ifname}/operstate`, 'utf8').trim();
      return s === 'up' || s === 'unknown';
    } catch {
      return false;
    }
  }

  /** Waits for queued address changes and sends in flight (at most 2 s), then closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    const deadline = Date.now() + 2000;
    await Promise.race([this.addrQueue, new Promise((r) => setTimeout(r, 2000))]);
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
    this.handlers.clear();
  }
}
