/**
 * The live director, `uvs run`: puts the rooms together. The packet loop (packet-loop.ts)
 * forwards, in this thread or in N worker threads (pool.ts); around it:
 *
 *   control socket (requests.ts) ─> uvsadm ─> ControlPlane.apply ─┬─> this thread's core
 *   (first: the single-instance claim)                           ├─> host rules: nftables,
 *                                                                │   VIPs, ARP (host-rules.ts)
 *                                                                └─> every worker (pool.ts)
 *
 * Start order: take the namespace's director lock and the control socket (a second
 * director stops here, having touched nothing), build the network view and the table from
 * the config, remove a stale nftables table and install the host rules (guarded: they die
 * with this process), start the workers, then forward, and only then announce the VIPs
 * (--announce, src/announce/). Stop order is the reverse: the announcements go first, and
 * drain() (--drain-seconds, drain.ts) keeps forwarding a while after they went.
 */
import { type AnnounceGroup, checkAnnounceGroups } from '../announce/announce-spec.js';
import { Announcer } from '../announce/announcer.js';
import type { QuorumRule } from '../announce/quorum.js';
import { applyConfig, type DirectorConfig, parseConfig } from '../control/config.js';
import { ControlPlane } from '../control/control-plane.js';
import { type ControlServer, controlAddress, serveControl } from '../control/daemon-socket.js';
import { NftManager } from '../control/nft.js';
import type { UvsadmTarget } from '../control/uvsadm.js';
import type { SyncDaemonRequest } from '../ha/sync-config.js';
import type { Backend } from '../io/index.js';
import { KeepalivedRuntime, type ReloadOutcome } from '../keepalived/runtime/runtime.js';
import { PredicateVipOwnership } from '../keepalived/runtime/vip-ownership.js';
import { vrrpConfigOf } from '../keepalived/runtime/vrrp-input.js';
import type { ListenAddress } from '../web/listen-address.js';
import { corePages } from './conn-pages.js';
import { DatapathThread, hostEnv, type RxRingOptions, tableDigest } from './datapath-thread.js';
import { DirectorVrrp } from './director-vrrp.js';
import { type DirectorStatus, Drain } from './drain.js';
import { tuneHeapForForwarding } from './heap.js';
import { HostRules } from './host-rules.js';
import { claimDirectorLock, type InstanceLock } from './instance-lock.js';
import { DirectorObserver, type RecordRequest } from './observer.js';
import { WorkerPool } from './pool.js';
import { handleRequest } from './requests.js';
import { SyncDaemons } from './sync-daemons.js';
import { type HostIface, hostInterfaces } from './sysinfo.js';
import { VipGate } from './vip-gate.js';

export interface DirectorOptions {
  /** Interfaces to run on (default: every non-loopback interface that is up). */
  ifaces?: string[];
  /** Director config file text and name (services, vips, fwmarks, sysctls, neighbours). */
  configText?: string;
  configName?: string;
  backend?: Backend;
  /** virtio_net_hdr on AF_PACKET links: GSO super-packets pass whole (default true). */
  vnetHdr?: boolean;
  /** AF_PACKET receive rings of vnet links (default: split by frame size). */
  rxRing?: RxRingOptions;
  /** Control socket name (default uvs-ctl, abstract); null = none. */
  control?: string | null;
  /** Datapath worker threads (default 1: the datapath runs in this thread). */
  workers?: number;
  /** Install the nftables table (default true). */
  nft?: boolean;
  /** Connection table capacity. */
  capacity?: number;
  /** IPVS sysctls (net.ipv4.vs.*) by name, applied after the config's. */
  sysctls?: Record<string, number>;
  /** Serve /metrics and the live page here (off when absent). */
  listen?: ListenAddress;
  /** Keep DIR/net/ip_vs, ip_vs_stats, ip_vs_conn in the kernel's formats (off when absent). */
  procfs?: string;
  /** Announce devices that follow the services' quorum (--announce; src/announce/). */
  announce?: AnnounceGroup[];
  /** The quorum rule for the announce devices (default: keepalived's, quorum 1). */
  quorum?: QuorumRule;
  /** Seconds drain() keeps forwarding after withdrawing (--drain-seconds; default 0). */
  drainSeconds?: number;
  /** Run keepalived's LVS half from this keepalived.conf (src/keepalived/runtime). */
  keepalived?: { file: string; configId?: string | null };
  log?: (line: string) => void;
}

export class LiveDirector {
  private readonly cfg: DirectorConfig | null;
  private readonly hostIfaces: HostIface[];
  private readonly log: (line: string) => void;
  private thread: DatapathThread | null = null;
  private plane: ControlPlane | null = null;
  private hostRules: HostRules | null = null;
  private pool: WorkerPool | null = null;
  private control: ControlServer | null = null;
  private lock: InstanceLock | null = null;
  private observer: DirectorObserver | null = null;
  private announcer: Announcer | null = null;
  private readonly drainer: Drain;
  private keepalived: KeepalivedRuntime | null = null;
  /** VRRP's say over the VIPs (empty without --keepalived vrrp_instance blocks). */
  readonly gate = new VipGate();
  private vrrp: DirectorVrrp | null = null;
  /** ipvsadm --start-daemon and keepalived's lvs_sync_daemon. */
  private sync: SyncDaemons | null = null;
  private syncFollow: Promise<void> = Promise.resolve();
  private stopped = false;
  /** The live page's address when --listen is on. */
  webUrl: string | null = null;

  constructor(private readonly opts: DirectorOptions = {}) {
    tuneHeapForForwarding();
    this.log = opts.log ?? ((l) => process.stderr.write(`${l}\n`));
    this.cfg =
      opts.configText !== undefined
        ? parseConfig(opts.configText, opts.configName ?? 'config')
        : null;
    const backend = opts.backend ?? 'afpacket';
    if (backend !== 'afpacket' && backend !== 'pcap') {
      throw new Error(`backend '${backend}' cannot run the director (use afpacket or pcap)`);
    }
    if ((opts.workers ?? 1) > 1 && backend !== 'afpacket') {
      throw new Error('--workers needs the afpacket backend');
    }
    checkAnnounceGroups(opts.announce ?? []);
    if ((opts.announce ?? []).length > 0) {
      this.announcer = new Announcer(opts.announce ?? [], { rule: opts.quorum, log: this.log });
    }
    this.drainer = new Drain(opts.drainSeconds ?? 0, this.announcer, this.log);
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

  /** Claims the control socket, builds everything, and starts forwarding. */
  async start(): Promise<void> {
    const o = this.opts;
    let ready!: () => void;
    const started = new Promise<void>((resolve) => {
      ready = resolve;
    });
    // The single-instance decisions come first: a refused start touches no host state.
    const control = o.control === null ? '(none)' : controlAddress(o.control ?? 'uvs-ctl').display;
    this.lock = await claimDirectorLock({ control });
    try {
      if (o.control !== null) {
        this.control = await serveControl(o.control ?? 'uvs-ctl', async (req, reply) => {
          await started;
          return handleRequest(this.requests(), req, reply);
        });
      }
      await this.build();
      this.observer = new DirectorObserver(this.thread!, this.pool, this.log);
      if (this.keepalived !== null) this.observer.addHealth(this.keepalived);
      this.webUrl = await this.observer.start({ listen: o.listen, procfs: o.procfs });
    } catch (e) {
      await this.stop();
      throw e;
    }
    ready();
    const backend = o.backend ?? 'afpacket';
    const vnet = backend === 'afpacket' && (o.vnetHdr ?? true);
    const workers = o.workers ?? 1;
    const where = this.hostIfaces.map((h) => h.name).join(', ');
    const mode = `${backend}${vnet ? ', vnet' : ''}${workers > 1 ? `, ${workers} workers` : ''}`;
    const ka = o.keepalived ? `; keepalived ${o.keepalived.file}` : '';
    this.log(
      `uvs: director running on ${where} (${mode})${this.control ? `; control ${this.control.address}` : ''}${ka}`,
    );
    if (this.webUrl !== null)
      this.log(`uvs: metrics at ${this.webUrl}metrics, live page at ${this.webUrl}`);
    if (o.procfs !== undefined) this.log(`uvs: IPVS /proc files in ${o.procfs}/net`);
  }

  /**
   * Metrics, the live page, the /proc files and recordings: where the health checks, VRRP and
   * sync add their collectors (observe.addHealth / addVrrp / addSync). Null before start().
   */
  get observe(): DirectorObserver | null {
    return this.observer;
  }

  private async build(): Promise<void> {
    const o = this.opts;
    const backend = o.backend ?? 'afpacket';
    const vnet = backend === 'afpacket' && (o.vnetHdr ?? true);
    const workers = o.workers ?? 1;
    const t = new DatapathThread({
      env: hostEnv(this.hostIfaces, this.cfg),
      cfg: this.cfg,
      backend,
      vnetHdr: vnet,
      rxRing: o.rxRing,
      capacity: o.capacity,
      sysctls: o.sysctls ?? {},
      links: workers === 1,
    });
    this.thread = t;
    if (this.cfg !== null) applyConfig(this.cfg, t.core);
    const plane = new ControlPlane(t.core);
    this.plane = plane;
    const nft = o.nft === false ? null : new NftManager({ guard: true });
    if (nft !== null && (await nft.removeStale())) {
      this.log('uvs: removed the nftables table of a director that died');
    }
    this.hostRules = new HostRules(t.env, nft, t.neighbours, {
      ifaces: this.hostIfaces.map((h) => h.name),
      localAddrs: new Set(this.hostIfaces.flatMap((h) => h.addrs)),
      localAddrs6: new Set(this.hostIfaces.flatMap((h) => h.addrs6.map((a) => a.addr.key))),
      configVips: (this.cfg?.vips ?? []).map((v) => v.addr),
      fwmarks: this.cfg?.fwmarks ?? [],
      gate: this.gate,
    });
    await this.hostRules.install(t.core);
    plane.follow(this.hostRules);
    if (workers > 1) {
      this.pool = await WorkerPool.start(
        workers,
        {
          ifaces: this.hostIfaces.map((h) => h.name),
          configText: o.configText,
          configName: o.configName,
          backend,
          vnetHdr: vnet,
          rxRing: o.rxRing,
          capacity: o.capacity,
          sysctls: o.sysctls ?? {},
          // Two groups per interface (small- and large-slot rings), 16 interfaces per pid.
          fanoutIds: this.hostIfaces.map((_, i) => ((process.pid & 0x7ff) << 5) + 2 * i),
          largeFanoutIds: this.hostIfaces.map((_, i) => ((process.pid & 0x7ff) << 5) + 2 * i + 1),
        },
        t.env,
        t.core,
      );
      plane.follow(this.pool);
    }
    this.sync = new SyncDaemons({
      core: this.pool ? null : t.core,
      pool: this.pool,
      log: this.log,
    });
    if (o.keepalived) {
      // ha_suspend asks whether a VIP is ours: on the host, or answered by uvs.
      const local = new Set(this.hostIfaces.flatMap((h) => h.addrs));
      const vips = new PredicateVipOwnership(
        (a) => a.isV4 && (local.has(a.v4) || t.env.vips.has(a.v4)),
      );
      plane.follow({ name: 'vip ownership', commit: () => vips.changed() });
      // VRRP state moves the VIPs: the datapath's sets, the workers', then ha_suspend.
      const hostRules = this.hostRules;
      this.gate.onChange(() => {
        hostRules.refreshVips(t.core);
        this.pool?.pushVips().catch((e: Error) => this.log(`uvs: workers' VIPs: ${e.message}`));
        vips.changed();
      });
      this.keepalived = await KeepalivedRuntime.start({
        file: o.keepalived.file,
        ...(o.keepalived.configId !== undefined ? { configId: o.keepalived.configId } : {}),
        plane,
        vips,
        log: this.log,
        extraCheck: (c) => {
          const r = vrrpConfigOf(c);
          return r.ok ? [] : r.problems;
        },
      });
      this.vrrp = new DirectorVrrp({
        gate: this.gate,
        ifaces: this.hostIfaces.map((h) => h.name),
        log: this.log,
        onState: (ev) => {
          if (ev.kind !== 'instance') return;
          // One switch at a time, in the order the states changed.
          this.syncFollow = this.syncFollow
            .then(() => this.followSyncInstance(ev.name, ev.to))
            .catch((e: Error) => this.log(`uvs: lvs_sync_daemon: ${e.message}`));
        },
      });
      await this.applyVrrp();
      // keepalived leaves marking to iptables; uvs marks what --config's fwmark lines match.
      const marks = new Set((this.cfg?.fwmarks ?? []).map((f) => f.mark));
      for (const s of t.core.services())
        if (s.fwmark !== 0 && !marks.has(s.fwmark))
          this.log(
            `uvs: no 'fwmark ${s.fwmark}' line in --config: nothing reaches FWM ${s.fwmark}`,
          );
    }
    t.loop.start();
    if (this.announcer !== null) {
      plane.follow(this.announcer);
      await this.announcer.start(t.core);
    }
  }

  /** SIGHUP with --keepalived: reload the file (null without one). */
  async reloadKeepalived(): Promise<ReloadOutcome | null> {
    if (!this.keepalived) return null;
    const syncBefore = this.syncRequest();
    const r = await this.keepalived.reload();
    if (!r.ok) return r;
    await this.applyVrrp();
    // keepalived's lvs_syncd daemon_set_reload: the sync daemon runs on untouched across a
    // reload whose lvs_sync_daemon line is the same; a changed line restarts it with the
    // new settings, in the state of its instance now; a removed one stops it.
    const syncAfter = this.syncRequest();
    if (JSON.stringify(syncBefore) !== JSON.stringify(syncAfter)) {
      this.syncFollow = this.syncFollow
        .then(() => this.resyncDaemon(syncBefore !== null))
        .catch((e: Error) => this.log(`uvs: lvs_sync_daemon: ${e.message}`));
      await this.syncFollow;
    }
    return r;
  }

  /** The running file's lvs_sync_daemon as a sync daemon request, with its instance. */
  private syncRequest():
    | (Omit<SyncDaemonRequest, 'state'> & { instance: string | undefined })
    | null {
    const sd = this.keepalived?.running.global.lvsSyncDaemon;
    if (!sd) return null;
    return {
      instance: sd.vrrpInstance ?? this.keepalived?.running.vrrp.instances[0]?.name,
      ifname: sd.interface,
      ...(sd.syncId !== undefined ? { syncId: sd.syncId } : {}),
      ...(sd.maxLen !== undefined ? { maxLen: sd.maxLen } : {}),
      ...(sd.port !== undefined ? { port: sd.port } : {}),
      ...(sd.ttl !== undefined ? { ttl: sd.ttl } : {}),
      ...(sd.group !== undefined ? { group: sd.group.toString() } : {}),
    };
  }

  /** After a reload changed lvs_sync_daemon: stop what the old line ran, follow the new one. */
  private async resyncDaemon(hadLine: boolean): Promise<void> {
    const sync = this.sync;
    if (!sync) return;
    if (hadLine) {
      for (const s of ['master', 'backup'] as const) if (sync.isRunning(s)) await sync.stop(s);
    }
    const req = this.syncRequest();
    if (req?.instance === undefined) return;
    const state = this.vrrp?.instanceState(req.instance);
    if (state !== undefined) await this.followSyncInstance(req.instance, state);
  }

  /**
   * keepalived's lvs_sync_daemon: the sync daemon follows its VRRP instance — master while
   * the instance is MASTER, backup otherwise (BACKUP, FAULT), none once it stopped (as
   * vrrp.c's ipvs_syncd_master / ipvs_syncd_backup switch the kernel's daemons).
   */
  private async followSyncInstance(instance: string, state: string): Promise<void> {
    const sd = this.syncRequest();
    const sync = this.sync;
    if (!sd || !sync) return;
    const { instance: inst, ...req } = sd;
    if (instance !== inst) return;
    const want = state === 'MASTER' ? 'master' : state === 'STOP' ? null : 'backup';
    for (const s of ['master', 'backup'] as const) {
      if (s !== want && sync.isRunning(s)) await sync.stop(s);
    }
    if (want !== null && !sync.isRunning(want)) {
      const err = await sync.start({ state: want, ...req });
      if (err !== null) this.log(`uvs: lvs_sync_daemon: ${want}: ${err}`);
    }
  }

  /** Runs the VRRP half of the keepalived file now running (checked when it was loaded). */
  private async applyVrrp(): Promise<void> {
    if (!this.keepalived || !this.vrrp) return;
    const r = vrrpConfigOf(this.keepalived.running);
    if (!r.ok) throw new Error(r.problems.join('\n'));
    await this.vrrp.apply(r.config);
    // The nftables rules cover the held addresses (ICMP echo to them is uvs's to answer).
    if (this.hostRules && this.thread) await this.hostRules.install(this.thread.core);
  }

  /** The VRRP router running in this director (null without vrrp_instance blocks). */
  get vrrpRouter() {
    return this.vrrp?.current ?? null;
  }

  /** What the control socket serves. */
  private requests() {
    const t = this.thread!;
    const plane = this.plane!;
    const pool = this.pool;
    const target: UvsadmTarget = {
      view: () => (pool ? pool.admin(t.core) : t.core),
      apply: (cmds) => plane.apply(cmds),
      ...(this.sync ? { daemons: this.sync } : {}),
      // Listed page by page between packet batches, here or in each worker.
      connections: () => (pool ? pool.connectionPages() : corePages(t.core)),
    };
    const sync = this.sync;
    return {
      target,
      stats: async () => {
        const base = pool ? { table: tableDigest(t.core), ...(await pool.stats()) } : t.stats();
        const daemons = sync ? await sync.counters() : {};
        const vrrp = this.vrrp?.current?.counters();
        return {
          ...base,
          ...(Object.keys(daemons).length > 0 ? { sync: daemons } : {}),
          ...(vrrp ? { vrrp } : {}),
        };
      },
      trace: (count: number, ms: number) =>
        pool ? pool.trace(count, ms) : t.tracer.collect(count, ms),
      record: (req: RecordRequest) => this.observer!.record(req),
      status: () => this.status(),
      checks: async () => (this.keepalived ? this.keepalived.checksReport() : null),
    };
  }

  /** State, drain and announcements, for `uvs ctl status`. */
  status(): DirectorStatus {
    return this.drainer.status();
  }

  /**
   * The first half of a clean stop: withdraw every announcement, then keep forwarding for
   * the drain seconds (see drain.ts). Call stop() after it.
   */
  drain(): Promise<void> {
    return this.drainer.run();
  }

  /** Ends a running drain now. */
  cutDrainShort(): void {
    this.drainer.cutShort();
  }

  /** Stops forwarding, the workers, the control socket and the host rules; returns the stats. */
  async stop(): Promise<Record<string, unknown>> {
    const t = this.thread;
    if (this.stopped) return t?.stats() ?? {};
    this.stopped = true;
    this.drainer.stopping();
    // Routes first: the router must stop choosing us before we stop forwarding.
    this.announcer?.close();
    // Resign first (priority 0): the peer takes the VIPs over at once.
    await this.vrrp?.stop();
    await this.sync?.close();
    await this.keepalived?.stop();
    await this.observer?.stop();
    t?.loop.stop();
    const stats = this.pool ? await this.pool.stop() : (t?.stats() ?? {});
    t?.loop.close();
    await this.control?.close();
    await this.hostRules?.remove();
    await this.lock?.release();
    return stats;
  }
}
