/**
 * The real-server side of LVS-TUN in user space: receive the director's tunnel packets
 * (IPIP; for IPv6 services or real servers also ip6ip6, IPv6 in IPv4 and IPv4 in IPv6),
 * strip the outer header and write the inner packet (client -> VIP) into a TUN device, so
 * the host's own stack accepts it as if it had arrived on an interface and answers the
 * client directly. Stands in for the kernel's ipip, sit and ip6_tunnel modules.
 *
 * Raw sockets claiming the tunnel protocols (IPv4 4 and 41, IPv6 41 and 4) are always open
 * and always read (see raw-claim.ts: a paused one stops being a claim on Linux >= 6.9).
 * Receive paths (--rx):
 *   packet (default) — an AF_PACKET TPACKET_V2 ring on each decap interface; frames are
 *     filtered in JS (IPv4, protocol 4, outer destination local, PACKET_HOST) and the inner
 *     packets go to the TUN device straight from the ring, one batched write call per
 *     wake-up: nothing is allocated or copied per packet in user space. A netdev ingress
 *     rule (nftables) drops those same unfragmented IPIP frames after the ring has them,
 *     so the IP layer never sees them (no ICMP, no copy to the raw socket). Outer
 *     fragments pass the rule: the kernel reassembles them and the raw socket delivers the
 *     whole packet (the ring counts the pieces as `fragment`). GRO is turned off on the
 *     interfaces (a merged IPIP super-packet does not fit a ring frame, and a
 *     virtio_net_hdr cannot describe SKB_GSO_IPXIP4) and back on at stop. Without
 *     nftables it falls back to raw.
 *   raw — only the raw socket: the kernel has checked, routed and reassembled each packet,
 *     but each one costs a recvfrom and a Buffer (raw-socket allocates per packet).
 *
 * The TUN device: created with the given name, brought up, IPv6 off on it, rp_filter 0
 * on it and on conf.all (see host.ts acceptOnTun: even loose mode drops packets arriving
 * on a device without an address; the other interfaces keep their effective values).
 * accept_local is not needed (the client is not a local address).
 */
import { AfPacketLink } from '../io/afpacket.js';
import type { RxBatch } from '../io/link.js';
import { TunTapLink } from '../io/tuntap.js';
import { formatIn4, InetAddr } from '../net/addr.js';
import { IPPROTO_IPIP, IPPROTO_IPV6 } from '../net/ipproto.js';
import { D, DECAP_DROP, Decapsulator } from './decap.js';
import {
  acceptOnTun,
  defaultIfaces,
  disableRxMerging,
  HostChanges,
  hasAddr,
  ifaceExists,
  installIpipIngressDrop,
  ipv4ConfPath,
  localIpv4Addrs,
  localIpv6Addrs,
  nftTableName,
  readSysctl,
  sh,
} from './host.js';
import { openClaimSocket, type RawSocket } from './raw-claim.js';

export type RxMode = 'packet' | 'raw';

export interface DecapOptions {
  /** Interfaces to receive on (packet mode). Default: every up Ethernet interface with IPv4. */
  ifaces?: string[];
  /** TUN device name (default uvstun0). */
  tun?: string;
  /** VIPs to add to lo (each removed again at stop if we added it). */
  vips?: string[];
  /** Receive path (default 'packet'). */
  rx?: RxMode;
  /** Leave GRO/LRO alone on the interfaces (packet mode). Default false. */
  keepGro?: boolean;
  /** How often the local address set is re-read, ms (default 2000). */
  refreshMs?: number;
  /** Ring frames per interface (default 2048). */
  frameCount?: number;
  /** Log lines (default: stderr). */
  log?: (line: string) => void;
}

export const DEFAULT_TUN = 'uvstun0';
const MAX_BATCH = 256;

export class DecapServer {
  readonly decap = new Decapsulator();
  readonly ifaces: string[];
  readonly tunName: string;
  private rxMode: RxMode;
  private readonly changes = new HostChanges();
  private readonly links: AfPacketLink[] = [];
  private tun: TunTapLink | undefined;
  private readonly claims: RawSocket[] = [];
  private refresh: NodeJS.Timeout | undefined;
  private readonly log: (line: string) => void;
  private stopped = false;
  private readonly exitHook = () => {
    this.teardown();
  };
  /** Descriptor arrays for the batched TUN write (reused every batch). */
  private readonly txOff = new Int32Array(MAX_BATCH);
  private readonly txLen = new Int32Array(MAX_BATCH);

  private constructor(opts: DecapOptions) {
    this.tunName = opts.tun ?? DEFAULT_TUN;
    this.rxMode = opts.rx ?? 'packet';
    this.log = opts.log ?? ((l) => process.stderr.write(`${l}\n`));
    this.ifaces =
      this.rxMode === 'raw' ? (opts.ifaces ?? []) : (opts.ifaces ?? defaultIfaces(this.tunName));
  }

  /** The receive path in use (packet may have fallen back to raw). */
  get rx(): RxMode {
    return this.rxMode;
  }

  /** Configures the host and starts decapsulating. On failure undoes what it did, then throws. */
  static start(opts: DecapOptions = {}): DecapServer {
    const s = new DecapServer(opts);
    process.on('exit', s.exitHook);
    try {
      s.setup(opts);
    } catch (e) {
      s.teardown();
      throw e;
    }
    return s;
  }

  private setup(opts: DecapOptions): void {
    const log = this.log;
    if (this.tunName.length > 15 || !/^[A-Za-z0-9_.-]+$/.test(this.tunName)) {
      throw new Error(`bad TUN device name '${this.tunName}'`);
    }
    if (this.rxMode === 'packet') {
      if (this.ifaces.length === 0) {
        throw new Error('no interface to decapsulate on (give --iface NAME)');
      }
      for (const i of this.ifaces) {
        if (!ifaceExists(i)) throw new Error(`no such interface '${i}'`);
        if (i === this.tunName) throw new Error(`--iface ${i} is the TUN device`);
      }
    }
    const vips = (opts.vips ?? []).map((v) => InetAddr.parseOrThrow(v, 'VIP'));
    if (ifaceExists(this.tunName)) {
      throw new Error(`interface '${this.tunName}' already exists (another decapsulator?)`);
    }

    // 1. The claims on the tunnel protocols, and the path for reassembled fragments (or
    //    everything in raw mode).
    const onErr = (e: Error) => log(`uvs realserver: raw socket error: ${e.message}`);
    for (const proto of [IPPROTO_IPIP, IPPROTO_IPV6]) {
      this.claims.push(openClaimSocket(proto, false, (b) => this.onRawPacket(b), onErr));
    }
    try {
      for (const proto of [IPPROTO_IPV6, IPPROTO_IPIP]) {
        const v6 = proto === IPPROTO_IPV6;
        this.claims.push(openClaimSocket(proto, true, (b) => this.onRawPayload(b, v6), onErr));
      }
    } catch (e) {
      log(`uvs realserver: no IPv6 tunnels (${(e as Error).message})`);
    }

    // 2. The TUN device the inner packets are written into.
    const tun = new TunTapLink({ name: this.tunName, mode: 'tun', maxBatch: 1, maxFrame: 2048 });
    this.tun = tun;
    // IPv6 on, so inner IPv6 packets are accepted, but no addresses of its own (no
    // link-local, no router solicitations): the device only carries decapsulated packets.
    for (const [key, value] of [
      ['addr_gen_mode', '1'],
      ['accept_ra', '0'],
      ['disable_ipv6', '0'],
    ]) {
      try {
        this.changes.sysctl(`/proc/sys/net/ipv6/conf/${this.tunName}/${key}`, value);
      } catch {
        // IPv6 absent here: IPv4 tunnels only
      }
    }
    sh('ip', ['link', 'set', 'dev', this.tunName, 'up']);
    const oldAll = acceptOnTun(this.changes, this.tunName);
    if (oldAll > 0) {
      log(
        `uvs realserver: net.ipv4.conf.all.rp_filter ${oldAll} -> 0 (rp_filter drops packets on a ` +
          `device without an address such as ${this.tunName}); interfaces below ${oldAll} raised ` +
          'to it, so their filtering is unchanged; restored at exit',
      );
    }

    // 3. VIPs on lo, for convenience (the DR/TUN real-server recipe).
    if (vips.length > 0) {
      for (const v of vips) {
        if (hasAddr('lo', String(v))) continue;
        const cidr = `${v}/${v.bits}`;
        sh('ip', ['addr', 'add', cidr, 'dev', 'lo']);
        this.changes.push(`ip addr add ${cidr} dev lo`, () =>
          sh('ip', ['addr', 'del', cidr, 'dev', 'lo']),
        );
      }
      const ai = ipv4ConfPath('all', 'arp_ignore');
      const aa = ipv4ConfPath('all', 'arp_announce');
      if (Number(readSysctl(ai)) < 1) this.changes.sysctl(ai, '1');
      if (Number(readSysctl(aa)) < 2) this.changes.sysctl(aa, '2');
    }

    // 4. Local addresses the outer destination must be one of, kept fresh.
    this.refreshLocals();
    this.refresh = setInterval(() => this.refreshLocals(), opts.refreshMs ?? 2000);
    this.refresh.unref();

    // 5. Packet mode: GRO off, the ingress drop, then the rings.
    if (this.rxMode === 'packet') {
      const table = nftTableName(this.tunName);
      try {
        installIpipIngressDrop(this.changes, table, this.ifaces);
      } catch (e) {
        log(
          `uvs realserver: warning: cannot keep the IP layer off the tunnel packets (${(e as Error).message}); ` +
            'falling back to --rx raw',
        );
        this.rxMode = 'raw';
        return;
      }
      for (const i of this.ifaces) {
        if (opts.keepGro) continue;
        try {
          const r = disableRxMerging(this.changes, i);
          if (r.off.length > 0) {
            log(
              `uvs realserver: ${r.off.join(', ')} off on ${i} (merged IPIP super-packets cannot be read ` +
                'from a packet ring); restored at exit',
            );
          }
          if (r.fixed.length > 0) {
            log(
              `uvs realserver: warning: ${r.fixed.join(', ')} on ${i} is fixed on; merged frames will be counted as truncated`,
            );
          }
        } catch (e) {
          log(`uvs realserver: warning: could not check GRO on ${i}: ${(e as Error).message}`);
        }
      }
      const onBatch = (b: RxBatch) => this.onBatch(b);
      for (const i of this.ifaces) {
        const link = new AfPacketLink(i, {
          frameCount: opts.frameCount ?? 2048,
          maxBatch: MAX_BATCH,
          ignoreOutgoing: true,
        });
        this.links.push(link);
        link.start(onBatch);
      }
    }
  }

  /** The hot path (packet mode): one ring batch, inner packets written in one call. */
  private onBatch(b: RxBatch): void {
    const dec = this.decap;
    const buf = b.buf;
    const txOff = this.txOff;
    const txLen = this.txLen;
    let n = 0;
    for (let i = 0; i < b.count; i++) {
      const o = dec.decapFrame(buf, b.off[i], b.len[i], b.flags[i]);
      if (o !== DECAP_DROP) {
        txOff[n] = o;
        txLen[n] = dec.innerLen;
        n++;
      }
    }
    if (n > 0) this.flush(buf, n);
  }

  private flush(buf: Uint8Array, n: number): void {
    const tun = this.tun;
    if (tun === undefined) return;
    const sent = tun.send(buf, this.txOff, this.txLen, n);
    const c = this.decap.counters;
    c[D.DECAPSULATED] += sent;
    if (sent < n) c[D.TUN_WRITE_ERRORS] += n - sent;
    // Bytes: only for the ones the device took, which are the first `sent` unless a
    // write in the middle failed; close enough for a rate, exact when nothing failed.
    for (let i = 0; i < sent; i++) c[D.DECAP_BYTES] += this.txLen[i];
  }

  /** One packet from an IPv4 raw socket (outer header included): raw mode, or fragments. */
  private onRawPacket(b: Buffer): void {
    this.writeInner(b, this.decap.decapPacket(b, 0, b.length));
  }

  /** One payload from an IPv6 raw socket (no outer header): raw mode, or fragments. */
  private onRawPayload(b: Buffer, innerV6: boolean): void {
    this.writeInner(b, this.decap.decapPayload(b, 0, b.length, innerV6));
  }

  private writeInner(b: Buffer, o: number): void {
    const dec = this.decap;
    if (o === DECAP_DROP) return;
    const tun = this.tun;
    if (tun === undefined) return;
    const c = dec.counters;
    if (tun.sendOne(b, o, dec.innerLen)) {
      c[D.DECAPSULATED]++;
      c[D.DECAP_BYTES] += dec.innerLen;
    } else {
      c[D.TUN_WRITE_ERRORS]++;
    }
  }

  private refreshLocals(): void {
    try {
      this.decap.setLocalAddrs(localIpv4Addrs());
      this.decap.setLocalAddrs6(localIpv6Addrs());
    } catch (e) {
      this.log(`uvs realserver: could not read local addresses: ${(e as Error).message}`);
    }
  }

  /** The local addresses the filter currently holds (dotted quads). */
  localAddrs(): string[] {
    return this.decap.localAddrs().map(formatIn4);
  }

  /** What the daemon changed on the host (for logs and tests). */
  hostChanges(): string[] {
    return this.changes.list();
  }

  /** Link-level counters of the rings (ring drops etc.), summed over the interfaces. */
  ringDrops(): number {
    let d = 0;
    for (const l of this.links) d += l.counters().ringDrops;
    return d;
  }

  /** Stops receiving, closes everything and restores the host. Returns restore errors. */
  stop(): string[] {
    return this.teardown();
  }

  private teardown(): string[] {
    if (this.stopped) return [];
    this.stopped = true;
    process.removeListener('exit', this.exitHook);
    if (this.refresh) clearInterval(this.refresh);
    for (const l of this.links) {
      try {
        l.stop();
        l.close();
      } catch {
        // closing is best effort
      }
    }
    for (const c of this.claims.splice(0)) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
    // Restore sysctls and offloads first: the TUN device's own sysctls vanish with it.
    const errors = this.changes.restore();
    try {
      this.tun?.close();
    } catch {
      // already closed
    }
    this.tun = undefined;
    return errors;
  }
}
