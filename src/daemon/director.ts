/**
 * The live director: binds the pipeline to real links. One receive callback per link runs
 * every frame of a batch through Pipeline.process and sends what it says, batched per
 * egress link, before the batch goes back to the kernel. Around that loop: the timers
 * (connection expiry, rate estimation), neighbour resolution (ARP in user space), the
 * nftables table that keeps the host stack off IPVS traffic, and the control socket that
 * uvsadm talks to.
 */

import { runUvsadm } from '../cli/uvsadm-main.js';
import { applyConfig, type DirectorConfig, parseConfig } from '../control/config.js';
import {
  type ControlRequest,
  type ControlResponse,
  type ControlServer,
  serveControl,
} from '../control/daemon-socket.js';
import { type Command, parseIpvsadm } from '../control/ipvsadm-parse.js';
import { NUMERIC_RESOLVER } from '../control/names.js';
import { NftManager, nftInputFrom } from '../control/nft.js';
import { DirectorEnv } from '../datapath/env.js';
import { O_NO_NEIGHBOUR, OUTCOME_NAMES, V_TX, VERDICT_NAMES } from '../datapath/outcome.js';
import { HEADROOM, Pipeline } from '../datapath/pipeline.js';
import { describeLast } from '../datapath/replay.js';
import { applySysctls, fillEnv } from '../datapath/setup.js';
import type { AfPacketLink } from '../io/afpacket.js';
import { type Backend, openLink } from '../io/index.js';
import { type Link, RXF_CSUM_NOT_READY, type RxBatch } from '../io/link.js';
import { IpvsCore } from '../ipvs/core.js';
import { FWD_DROUTE, FWD_MASQ, FWD_TUNNEL } from '../ipvs/types.js';
import { InetAddr, formatIn4 as ipToString } from '../net/addr.js';
import { ARPOP_REQUEST, writeArp } from '../net/arp.js';
import { ETH_P_ARP, writeEthernet } from '../net/ethernet.js';
import { WorkerPool } from './pool.js';
import { type HostIface, hostInterfaces, hostNeighbours, hostRoutes } from './sysinfo.js';

export interface DirectorOptions {
  /** Interfaces to run on (default: every non-loopback interface that is up). */
  ifaces?: string[];
  /** Director config file text and name (services, vips, fwmarks, sysctls, neighbours). */
  configText?: string;
  configName?: string;
  backend?: Backend;
  /** virtio_net_hdr on AF_PACKET links: GSO super-packets pass whole (default true). */
  vnetHdr?: boolean;
  /** Control socket name (default uvs-ctl, abstract); null = none (a worker thread). */
  control?: string | null;
  /** Datapath worker threads (default 1: the datapath runs in this thread). */
  workers?: number;
  /** Fanout group of link i (worker threads join one group per interface). */
  fanoutFor?: (
    li: number,
    name: string,
  ) => { id: number; mode: number; program?: Uint8Array } | undefined;
  /** Install the nftables table (default true). */
  nft?: boolean;
  /** Connection table capacity. */
  capacity?: number;
  /** IPVS sysctls (net.ipv4.vs.*) by name, applied after the config's. */
  sysctls?: Record<string, number>;
  log?: (line: string) => void;
}

const MAX_TX = 512;
const ARP_RETRY_MS = 1000;
const ARP_REFRESH_MS = 30_000;
const TICK_MS = 100;
const BROADCAST = new Uint8Array([255, 255, 255, 255, 255, 255]);
const ZERO_MAC = new Uint8Array(6);

interface TxQueue {
  buf: Uint8Array | null;
  off: Int32Array;
  len: Int32Array;
  count: number;
}

export class LiveDirector {
  readonly core: IpvsCore;
  readonly env = new DirectorEnv();
  readonly pipeline: Pipeline;
  readonly links: Link[] = [];
  private readonly queues: TxQueue[] = [];
  private readonly cfg: DirectorConfig | null;
  private readonly nft: NftManager | null;
  private control: ControlServer | null = null;
  private pool: WorkerPool | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly arpSent = new Map<number, number>();
  private readonly arpBuf = new Uint8Array(HEADROOM + 64);
  private lastRefresh = 0;
  private readonly log: (line: string) => void;
  private readonly hostIfaces: HostIface[];
  private traceLeft = 0;
  private readonly traceLines: string[] = [];
  private stopped = false;

  constructor(private readonly opts: DirectorOptions = {}) {
    this.log = opts.log ?? ((l) => process.stderr.write(`${l}\n`));
    this.cfg =
      opts.configText !== undefined
        ? parseConfig(opts.configText, opts.configName ?? 'config')
        : null;
    this.core = new IpvsCore({ capacity: opts.capacity });
    this.pipeline = new Pipeline(this.core, this.env, {
      vnetHdr: (opts.backend ?? 'afpacket') === 'afpacket' && (opts.vnetHdr ?? true),
      trace: true,
    });
    this.nft = opts.nft === false ? null : new NftManager();

    const host = hostInterfaces();
    const wanted =
      opts.ifaces ??
      (this.cfg && this.cfg.interfaces.length > 0
        ? this.cfg.interfaces.map((i) => i.name)
        : host.filter((h) => h.up && !h.loopback).map((h) => h.name));
    if (wanted.length === 0) throw new Error('no interface to run on (none is up besides lo)');
    this.hostIfaces = wanted.map((name) => {
      const h = host.find((x) => x.name === name);
      if (h === undefined) throw new Error(`no interface '${name}' in this network namespace`);
      if (h.loopback) throw new Error(`cannot run on loopback interface '${name}'`);
      return h;
    });
  }

  /** Opens the links, applies config and rules, starts the control socket and the loop. */
  async start(): Promise<void> {
    const o = this.opts;
    for (const h of this.hostIfaces) {
      this.env.addIface({
        name: h.name,
        mac: h.mac,
        addr: h.addr,
        prefixLen: h.prefixLen,
        mtu: h.mtu,
      });
    }
    for (const r of hostRoutes()) {
      if (this.env.connectedLink(r.via) >= 0)
        this.env.addRoute({ dst: r.dst, prefixLen: r.prefixLen, via: r.via });
    }
    for (const n of hostNeighbours()) this.env.setNeighbour(n.addr, n.mac);
    if (this.cfg !== null) {
      // Interfaces come from the host; the config adds neighbours, routes, VIPs, marks.
      fillEnv(this.env, { ...this.cfg, interfaces: [] });
      applyConfig(this.cfg, this.core);
      applySysctls({ core: this.core, env: this.env, pipeline: this.pipeline }, this.cfg);
    }
    for (const [name, value] of Object.entries(o.sysctls ?? {})) this.setSysctl(name, value);
    const backend = o.backend ?? 'afpacket';
    const vnet = backend === 'afpacket' && (o.vnetHdr ?? true);
    const workers = o.workers ?? 1;
    if (workers > 1) {
      if (backend !== 'afpacket') throw new Error('--workers needs the afpacket backend');
      this.pool = await WorkerPool.start(
        workers,
        {
          ifaces: this.hostIfaces.map((h) => h.name),
          configText: o.configText,
          configName: o.configName,
          backend,
          vnetHdr: vnet,
          capacity: o.capacity,
          sysctls: o.sysctls ?? {},
          fanoutIds: this.hostIfaces.map((_, i) => ((process.pid & 0xfff) << 4) + i),
        },
        this.env,
        this.core,
      );
    } else {
      for (const [li, h] of this.hostIfaces.entries()) {
        const fanout = o.fanoutFor?.(li, h.name);
        let link: Link;
        if (backend === 'afpacket')
          link = openLink({ backend, name: h.name, vnetHdr: vnet, fanout });
        else if (backend === 'pcap') link = openLink({ backend, name: h.name });
        else throw new Error(`backend '${backend}' cannot run the director (use afpacket or pcap)`);
        this.links.push(link);
        this.queues.push({
          buf: null,
          off: new Int32Array(MAX_TX),
          len: new Int32Array(MAX_TX),
          count: 0,
        });
      }
    }
    await this.refresh();
    if (o.control !== null) {
      this.control = await serveControl(o.control ?? 'uvs-ctl', (req) => this.handle(req));
    }
    this.links.forEach((link, i) => {
      link.start((b) => this.onBatch(i, b));
    });
    this.timer = setInterval(() => this.onTimer(), TICK_MS);
    const where = this.hostIfaces.map((h) => h.name).join(', ');
    const mode = `${backend}${vnet ? ', vnet' : ''}${workers > 1 ? `, ${workers} workers` : ''}`;
    this.log(
      `uvs: director running on ${where} (${mode})${this.control ? `; control ${this.control.address}` : ''}`,
    );
  }

  /** Replaces the fanout programs of this thread's links (worker mode). */
  setFanoutPrograms(programs: Uint8Array[]): void {
    this.links.forEach((l, i) => {
      (l as AfPacketLink).setFanoutProgram(programs[i]);
    });
  }

  /** Sets one IPVS sysctl by its kernel name; unknown names and bad values are errors. */
  setSysctl(name: string, value: number): void {
    if (!Number.isInteger(value) || value < 0)
      throw new Error(`sysctl ${name}: bad value ${value}`);
    if (name === 'pmtu_disc') {
      this.pipeline.tunOpts.pmtuDisc = value !== 0;
      return;
    }
    const s = this.core.sysctl as unknown as Record<string, number>;
    if (!(name in s)) {
      throw new Error(
        `unknown sysctl '${name}' (one of ${[...Object.keys(s), 'pmtu_disc'].join(', ')})`,
      );
    }
    s[name] = value;
  }

  /** One wake-up of link `li`: process every frame, send per egress link, then return. */
  private onBatch(li: number, b: RxBatch): void {
    const p = this.pipeline;
    const now = performance.now();
    this.core.tick(now);
    const buf = b.buf;
    for (let i = 0; i < b.count; i++) {
      const tracing = this.traceLeft > 0;
      const before = tracing ? this.describeFrame(buf, b.off[i], li) : '';
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
        if (tracing) this.trace(before, buf, ol);
      } else if (p.outcome === O_NO_NEIGHBOUR) {
        this.resolve(p.missAddr, p.missLink, now);
      }
    }
    for (let l = 0; l < this.queues.length; l++) if (this.queues[l].count > 0) this.flush(l);
  }

  private flush(l: number): void {
    const q = this.queues[l];
    this.links[l].send(q.buf!, q.off, q.len, q.count);
    q.count = 0;
    q.buf = null;
  }

  private onTimer(): void {
    const now = performance.now();
    this.core.tick(now);
    if (now - this.lastRefresh > ARP_REFRESH_MS) {
      this.lastRefresh = now;
      this.arpRealServers(now, true);
    }
  }

  /** ARP for a next hop we lack (at most once a second per address). */
  private resolve(addr: number, link: number, now: number): void {
    if (this.links.length === 0) return; // the control thread of a worker pool sends nothing
    const last = this.arpSent.get(addr);
    if (last !== undefined && now - last < ARP_RETRY_MS) return;
    this.arpSent.set(addr, now);
    const ifc = this.env.ifaces[link];
    const b = this.arpBuf;
    b.fill(0);
    let o = writeEthernet(b, HEADROOM, BROADCAST, ifc.mac, ETH_P_ARP);
    o = writeArp(b, o, ARPOP_REQUEST, ifc.mac, ifc.addr, ZERO_MAC, addr);
    this.links[link].sendOne(b, HEADROOM, Math.max(60, o - HEADROOM));
  }

  /** ARP for every real server's next hop, so the first packet finds its MAC. */
  private arpRealServers(now: number, force: boolean): void {
    for (const svc of this.core.services()) {
      for (const d of svc.dests) {
        if (d.fwd !== FWD_MASQ && d.fwd !== FWD_DROUTE && d.fwd !== FWD_TUNNEL) continue;
        if (!d.addr.isV4) continue; // the datapath's neighbours are IPv4
        const rip = d.addr.v4;
        const known = this.env.resolve(rip);
        if ((!known || force) && this.env.nhLink >= 0) {
          if (force) this.arpSent.delete(this.env.nhVia || rip);
          this.resolve(this.env.nhVia || rip, this.env.nhLink, now);
        }
      }
    }
  }

  /** What the rules and VIPs depend on: services and their real servers. */
  private signature(): string {
    return this.core
      .services()
      .map(
        (s) =>
          `${s.proto}/${s.addr}/${s.port}/${s.fwmark}:${s.dests.map((d) => `${d.addr}/${d.port}/${d.fwd}`).join(',')}`,
      )
      .join(';');
  }
  private lastSignature = '';

  /** After any change of services: VIPs to answer for, nft rules, neighbour priming. */
  private async refresh(): Promise<void> {
    this.lastSignature = this.signature();
    const local = new Set(this.hostIfaces.flatMap((h) => h.addrs));
    this.env.vips.clear();
    for (const v of this.cfg?.vips ?? []) this.env.vips.add(v.addr.v4);
    for (const s of this.core.services()) {
      if (s.fwmark === 0 && s.addr.isV4 && !local.has(s.addr.v4)) this.env.vips.add(s.addr.v4);
    }
    if (this.nft !== null) {
      const input = nftInputFrom(
        {
          interfaces: this.hostIfaces.map((h) => ({ name: h.name })),
          vips: [...this.env.vips].map((addr) => ({ addr: InetAddr.v4(addr) })),
          fwmarks: this.cfg?.fwmarks ?? [],
        },
        this.core.services(),
      );
      await this.nft.apply(input);
    }
    this.arpRealServers(performance.now(), false);
  }

  /** Control requests: ipvsadm grammar, plus '@stats' and '@trace N' for the lab. */
  async handle(req: ControlRequest): Promise<ControlResponse> {
    const a = req.argv;
    const pool = this.pool;
    if (a[0] === '@stats') {
      const st = pool ? await pool.stats() : this.stats();
      return { code: 0, out: `${JSON.stringify(st)}\n`, err: '' };
    }
    if (a[0] === '@trace') {
      const count = Number(a[1] ?? 10);
      const ms = Number(a[2] ?? 5000);
      if (pool) return { code: 0, out: await pool.trace(count, ms), err: '' };
      return this.collectTrace(count, ms);
    }
    const kind = commandKind(a);
    let out = '';
    let err = '';
    const admin = pool && kind === 'list' ? await pool.admin(this.core) : this.core;
    const code = runUvsadm(a, admin, {
      out: (s) => {
        out += s;
      },
      err: (s) => {
        err += s;
      },
      stdin: req.stdin,
    });
    if (code === 0 && pool && kind === 'change') {
      // The main core accepted it: every worker applies the same command to its own table.
      const failed = await pool.broadcast(req);
      if (failed !== null) err += `uvs: workers out of step: ${failed}\n`;
    }
    if (code === 0 && this.signature() !== this.lastSignature) {
      try {
        await this.refresh();
        if (pool) await pool.updatePrograms(this.env, this.core);
      } catch (e) {
        err += `uvs: rules not updated: ${(e as Error).message}\n`;
      }
    }
    return { code, out, err };
  }

  stats(): Record<string, unknown> {
    const p = this.pipeline;
    const outcomes: Record<string, number> = {};
    OUTCOME_NAMES.forEach((n, i) => {
      if (p.counts[i] > 0) outcomes[n] = p.counts[i];
    });
    const verdicts: Record<string, number> = {};
    VERDICT_NAMES.forEach((n, i) => {
      verdicts[n] = p.verdicts[i];
    });
    return {
      connections: this.core.connCount,
      verdicts,
      outcomes,
      links: Object.fromEntries(this.links.map((l) => [l.name, l.counters()])),
    };
  }

  private describeFrame(buf: Uint8Array, off: number, li: number): string {
    const rd = (o: number) =>
      ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
    const l3 = off + 14;
    if (buf[off + 12] !== 8 || buf[off + 13] !== 0) return `${this.links[li].name}: non-IPv4`;
    const ihl = (buf[l3] & 15) * 4;
    const sp = (buf[l3 + ihl] << 8) | buf[l3 + ihl + 1];
    const dp = (buf[l3 + ihl + 2] << 8) | buf[l3 + ihl + 3];
    return `${this.links[li].name} in  ${ipToString(rd(l3 + 12))}:${sp} -> ${ipToString(rd(l3 + 16))}:${dp}`;
  }

  private trace(before: string, _buf: Uint8Array, ol: number): void {
    const p = this.pipeline;
    const f = p.outBuf;
    const o = p.outOffs[0];
    const l3 = o + 14;
    const rd = (x: number) => ((f[x] << 24) | (f[x + 1] << 16) | (f[x + 2] << 8) | f[x + 3]) >>> 0;
    let after = `${ipToString(rd(l3 + 12))} -> ${ipToString(rd(l3 + 16))}`;
    if (f[l3 + 9] === 4) {
      const in3 = l3 + (f[l3] & 15) * 4;
      const ihl = (f[in3] & 15) * 4;
      after = `IPIP[${after}] ${ipToString(rd(in3 + 12))}:${(f[in3 + ihl] << 8) | f[in3 + ihl + 1]} -> ${ipToString(rd(in3 + 16))}:${(f[in3 + ihl + 2] << 8) | f[in3 + ihl + 3]}`;
    } else if (f[l3 + 9] === 6 || f[l3 + 9] === 17) {
      const l4 = l3 + (f[l3] & 15) * 4;
      after = `${ipToString(rd(l3 + 12))}:${(f[l4] << 8) | f[l4 + 1]} -> ${ipToString(rd(l3 + 16))}:${(f[l4 + 2] << 8) | f[l4 + 3]}`;
    }
    const ctx = describeLast({ core: this.core, env: this.env, pipeline: p });
    this.traceLines.push(`${before}\n  => ${this.links[ol].name} out ${after}\n     (${ctx})`);
    this.traceLeft--;
  }

  private collectTrace(count: number, timeoutMs: number): Promise<ControlResponse> {
    this.traceLines.length = 0;
    this.traceLeft = Math.max(1, Math.min(1000, count));
    const started = Date.now();
    return new Promise((resolve) => {
      const t = setInterval(() => {
        if (this.traceLeft <= 0 || Date.now() - started > timeoutMs) {
          clearInterval(t);
          this.traceLeft = 0;
          resolve({ code: 0, out: this.traceLines.map((l) => `${l}\n`).join(''), err: '' });
        }
      }, 20);
    });
  }

  /** Stops receiving, removes the nft table and the control socket; returns the stats. */
  async stop(): Promise<Record<string, unknown>> {
    if (this.stopped) return this.stats();
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    for (const l of this.links) l.stop();
    const stats = this.pool ? await this.pool.stop() : this.stats();
    for (const l of this.links) l.close();
    await this.control?.close();
    if (this.nft?.isApplied) await this.nft.remove();
    return stats;
  }
}

/** What an ipvsadm command line does: list (read counters), change (state), or other. */
function commandKind(argv: readonly string[]): 'list' | 'change' | 'other' {
  let cmd: Command;
  try {
    cmd = parseIpvsadm(argv, { resolver: NUMERIC_RESOLVER });
  } catch {
    return 'other';
  }
  switch (cmd.kind) {
    case 'list':
    case 'save':
      return 'list';
    case 'help':
    case 'version':
    case 'start-daemon':
    case 'stop-daemon':
      return 'other';
    default:
      return 'change';
  }
}
