/**
 * VrrpRouter: runs a resolved VrrpConfig — its instances, sync groups, vrrp_scripts and
 * tracked interfaces — over a `VrrpIo` (packets, addresses, ARP, link state) and a clock.
 *
 * The director subscribes with `onStateChange(fn)` and gets every instance and group
 * transition (the VIP-ownership wiring is that one subscription); `instanceState(name)`
 * answers "do we own this instance's VIPs now". Notify scripts and the notify FIFO are
 * driven from the same events.
 *
 * Every received packet is checked by the codec (vrrp-packet.ts) and counted by reason in
 * `rxCounters`; only 'ok' adverts reach an instance.
 */
import { AF_INET, type InetAddr } from '../net/addr.js';
import { monotonicClock, type VrrpClock } from './vrrp-clock.js';
import type {
  TrackInterfaceRef,
  TrackScriptRef,
  VirtualAddress,
  VrrpConfig,
  VrrpInstanceConfig,
} from './vrrp-config.js';
import { type InstanceHost, VrrpInstance, type VrrpStateName } from './vrrp-instance.js';
import {
  fifoLine,
  type NotifyExec,
  NotifyFifo,
  notifyCommands,
  spawnNotify,
  type VrrpStateEvent,
} from './vrrp-notify.js';
import {
  type AdvertExpectation,
  buildIpv4Advert,
  checkIpv4Advert,
  passwordBytes,
  ReceivedAdvert,
  VRRP_AUTH_NONE,
  VRRP_AUTH_PASS,
  VRRP_MCAST_V4,
  VRRP_RX_REASONS,
  type VrrpRxReason,
} from './vrrp-packet.js';
import { VrrpSyncGroup } from './vrrp-sync-group.js';
import {
  type CheckStatus,
  type ScriptRunner,
  ScriptTracker,
  spawnScript,
  type TrackLink,
  trackContribution,
  trackFaults,
} from './vrrp-track.js';

/** What the router needs from the system (the real one is vrrp-io.ts). */
export interface VrrpIo {
  /** Start receiving adverts on `ifname`; each IPv4 packet (header included) goes to onPacket. */
  listen(ifname: string, onPacket: (pkt: Uint8Array, len: number) => void): void;
  /** Send a whole IPv4 packet (IP header built by us) out of `ifname` to `dst`. */
  send(ifname: string, pkt: Uint8Array, dst: number): void;
  /** The interface's primary IPv4 address (keepalived's default advert source). */
  primaryAddress(ifname: string): InetAddr | undefined;
  /** Add (present) or remove the addresses on their interfaces. */
  setAddresses(vips: readonly VirtualAddress[], present: boolean): void;
  /** Gratuitous ARP: `repeat` per address, from the interface's MAC. */
  sendGarp(vips: readonly VirtualAddress[], repeat: number): void;
  /** Link state (operationally up) of an interface. */
  linkUp(ifname: string): boolean;
  /** Releases sockets after pending sends and address changes (bounded). */
  close(): Promise<void> | void;
}

export interface VrrpRouterOptions {
  io: VrrpIo;
  clock?: VrrpClock;
  runScript?: ScriptRunner;
  runNotify?: NotifyExec;
  /** How often link state is polled for track_interface and the instances' own interfaces. */
  linkPollMs?: number;
  log?: (msg: string) => void;
}

/** What a reload did to the instances (by name). */
export interface ReloadSummary {
  /** Carried on in their state. */
  kept: string[];
  /** Started afresh. */
  added: string[];
  /** Stopped. */
  removed: string[];
}

/** keepalived's vrrp_exist: the same virtual router in the old and the new file. */
function sameVirtualRouter(a: VrrpInstanceConfig, b: VrrpInstanceConfig): boolean {
  if (a.vrid !== b.vrid || a.interface !== b.interface) return false;
  if ((a.unicastPeers.length === 0) !== (b.unicastPeers.length === 0)) return false;
  if (a.unicastPeers.length === 0) return true;
  return String(a.unicastSrcIp ?? '') === String(b.unicastSrcIp ?? '');
}

interface ScriptUse {
  inst: VrrpInstance;
  link: TrackLink;
}

export class VrrpRouter {
  readonly instances = new Map<string, VrrpInstance>();
  readonly groups = new Map<string, VrrpSyncGroup>();
  readonly scripts = new Map<string, ScriptTracker>();
  /** Received packets by check result. */
  readonly rxCounters = Object.fromEntries(VRRP_RX_REASONS.map((r) => [r, 0])) as Record<
    VrrpRxReason,
    number
  >;
  /** Adverts we could not send (no source address yet, or the socket refused). */
  txErrors = 0;
  private readonly clock: VrrpClock;
  private readonly io: VrrpIo;
  private readonly runNotify: NotifyExec;
  private readonly listeners = new Set<(ev: VrrpStateEvent) => void>();
  private readonly byIfVrid = new Map<string, VrrpInstance>();
  private readonly expectations = new Map<VrrpInstance, AdvertExpectation>();
  private readonly scriptUses = new Map<string, ScriptUse[]>();
  private readonly ifUses = new Map<string, ScriptUse[]>();
  private readonly linkState = new Map<string, boolean>();
  private readonly fifo: NotifyFifo | undefined;
  private readonly rxOut = new ReceivedAdvert();
  private linkTimer: ReturnType<typeof setInterval> | undefined;
  private readonly log: (msg: string) => void;
  private started = false;

  constructor(
    readonly config: VrrpConfig,
    opts: VrrpRouterOptions,
  ) {
    this.clock = opts.clock ?? monotonicClock;
    this.io = opts.io;
    this.runNotify = opts.runNotify ?? spawnNotify;
    this.log = opts.log ?? (() => {});
    const host: InstanceHost = {
      clock: this.clock,
      sendAdvert: (inst, prio) => this.sendAdvert(inst, prio),
      setVips: (inst, present) => this.io.setAddresses(inst.cfg.virtualAddresses, present),
      sendGarp: (inst, repeat) => this.io.sendGarp(inst.cfg.virtualAddresses, repeat),
      stateChanged: (inst, from, to) => this.instanceChanged(inst, from, to),
      localAddress: (inst) => this.localAddress(inst.cfg),
    };
    for (const ic of config.instances) {
      const inst = new VrrpInstance(ic, host);
      this.instances.set(ic.name, inst);
      this.byIfVrid.set(`${ic.interface}/${ic.vrid}`, inst);
      this.expectations.set(inst, {
        version: ic.version,
        intervalCs: ic.advertIntervalMs / 10,
        authType: ic.authPass !== undefined ? VRRP_AUTH_PASS : VRRP_AUTH_NONE,
        password: ic.authPass !== undefined ? passwordBytes(ic.authPass) : undefined,
        vips: ic.virtualAddresses.map((v) => v.addr),
        peers: ic.unicastPeers,
        checkUnicastSrc: ic.checkUnicastSrc,
        checkVips: true,
      });
    }
    for (const gc of config.syncGroups) {
      const members = gc.members.map((m) => this.instances.get(m)!);
      const g = new VrrpSyncGroup(gc, members, (grp, from, to) => this.groupChanged(grp, from, to));
      this.groups.set(gc.name, g);
    }
    for (const sc of config.scripts) {
      this.scripts.set(
        sc.name,
        new ScriptTracker(sc, this.clock, opts.runScript ?? spawnScript, (t, from) =>
          this.scriptChanged(t, from),
        ),
      );
    }
    // Who tracks what, with which weight: instance refs, then group refs on every member.
    for (const inst of this.instances.values()) {
      this.addScriptRefs(inst, inst.cfg.trackScripts);
      this.addIfRefs(inst, inst.cfg.trackInterfaces);
      if (!inst.cfg.dontTrackPrimary)
        this.addIfRefs(inst, [{ name: inst.cfg.interface, weight: 0 }]);
    }
    for (const g of this.groups.values()) {
      for (const m of g.members) {
        this.addScriptRefs(m, g.cfg.trackScripts);
        this.addIfRefs(m, g.cfg.trackInterfaces);
      }
    }
    this.fifo = config.global.notifyFifo ? new NotifyFifo(config.global.notifyFifo) : undefined;
    this.linkPollMs = opts.linkPollMs ?? 500;
  }

  private readonly linkPollMs: number;

  private addScriptRefs(inst: VrrpInstance, refs: readonly TrackScriptRef[]): void {
    for (const r of refs) {
      const sc = this.scripts.get(r.script);
      if (!sc) continue;
      const link = { weight: r.weight ?? sc.cfg.weight, reverse: r.reverse ?? sc.cfg.reverse };
      const uses = this.scriptUses.get(r.script) ?? [];
      uses.push({ inst, link });
      this.scriptUses.set(r.script, uses);
    }
  }

  private addIfRefs(inst: VrrpInstance, refs: readonly TrackInterfaceRef[]): void {
    for (const r of refs) {
      const uses = this.ifUses.get(r.name) ?? [];
      if (uses.some((u) => u.inst === inst)) continue;
      uses.push({ inst, link: { weight: r.weight ?? 0, reverse: r.reverse ?? false } });
      this.ifUses.set(r.name, uses);
    }
  }

  /** Subscribes to state changes; returns the unsubscribe function. */
  onStateChange(fn: (ev: VrrpStateEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The instance's state (undefined for an unknown name). */
  instanceState(name: string): VrrpStateName | undefined {
    return this.instances.get(name)?.state;
  }

  private emit(ev: VrrpStateEvent, notify: VrrpInstanceConfig['notify']): void {
    this.log(`${ev.kind} ${ev.name}: ${ev.from} -> ${ev.to} (priority ${ev.priority})`);
    for (const argv of notifyCommands(ev, notify)) this.runNotify(argv);
    if (ev.to !== 'INIT') this.fifo?.write(fifoLine(ev));
    for (const fn of this.listeners) {
      try {
        fn(ev);
      } catch (e) {
        this.log(`state listener failed: ${(e as Error).message}`);
      }
    }
  }

  private instanceChanged(inst: VrrpInstance, from: VrrpStateName, to: VrrpStateName): void {
    const ev: VrrpStateEvent = {
      kind: 'instance',
      name: inst.name,
      from,
      to,
      priority: inst.effectivePriority,
      atUs: this.clock.nowUs(),
    };
    this.emit(ev, inst.cfg.notify);
  }

  private groupChanged(g: VrrpSyncGroup, from: VrrpStateName, to: VrrpStateName): void {
    const ev: VrrpStateEvent = {
      kind: 'group',
      name: g.name,
      from,
      to,
      priority: 0,
      atUs: this.clock.nowUs(),
    };
    this.emit(ev, g.cfg.notify);
  }

  private localAddress(ic: VrrpInstanceConfig): InetAddr | undefined {
    return ic.unicastSrcIp ?? this.io.primaryAddress(ic.interface);
  }

  private sendAdvert(inst: VrrpInstance, priority: number): void {
    const ic = inst.cfg;
    const src = this.localAddress(ic);
    if (!src || src.af !== AF_INET) {
      if (this.txErrors++ === 0)
        this.log(`${ic.name}: no IPv4 source address on ${ic.interface}: adverts not sent`);
      return;
    }
    const spec = {
      version: ic.version,
      vrid: ic.vrid,
      priority,
      intervalCs: ic.advertIntervalMs / 10,
      addresses: ic.virtualAddresses.map((v) => v.addr),
      authType: ic.authPass !== undefined ? VRRP_AUTH_PASS : VRRP_AUTH_NONE,
      password: ic.authPass !== undefined ? passwordBytes(ic.authPass) : undefined,
    };
    const checksum = ic.v3ChecksumAsV2 ? ('no-pseudo' as const) : ('pseudo' as const);
    try {
      if (ic.unicastPeers.length === 0) {
        this.io.send(
          ic.interface,
          buildIpv4Advert(spec, src.v4, VRRP_MCAST_V4, { checksum }),
          VRRP_MCAST_V4,
        );
      } else {
        for (const p of ic.unicastPeers) {
          const pkt = buildIpv4Advert(spec, src.v4, p.address.v4, { checksum, ttl: ic.unicastTtl });
          this.io.send(ic.interface, pkt, p.address.v4);
        }
      }
    } catch (e) {
      this.txErrors++;
      this.log(`${ic.name}: advert not sent: ${(e as Error).message}`);
    }
  }

  /** A packet from `ifname` (the I/O calls this). Never throws. */
  receive(ifname: string, pkt: Uint8Array, len: number): VrrpRxReason {
    const out = this.rxOut;
    let target: VrrpInstance | undefined;
    const reason = checkIpv4Advert(
      pkt,
      len,
      (vrid) => {
        target = this.byIfVrid.get(`${ifname}/${vrid}`);
        if (!target) return undefined;
        const exp = this.expectations.get(target)!;
        // skip_check_adv_addr: the known master's adverts skip the address checks.
        const known =
          target.cfg.skipCheckAdvAddr &&
          target.masterAddress !== undefined &&
          len >= 20 &&
          target.masterAddress.v4 ===
            ((pkt[12] << 24) | (pkt[13] << 16) | (pkt[14] << 8) | pkt[15]) >>> 0;
        exp.checkVips = !known;
        return exp;
      },
      out,
    );
    this.rxCounters[reason]++;
    if (reason === 'ok' && target) target.onAdvert(out);
    return reason;
  }

  private applyTracking(inst: VrrpInstance): void {
    let total = inst.basePriority;
    for (const [name, uses] of this.scriptUses) {
      const st = this.scripts.get(name)!.status;
      for (const u of uses) if (u.inst === inst) total += trackContribution(u.link, st);
    }
    for (const [ifname, uses] of this.ifUses) {
      const st: CheckStatus = (this.linkState.get(ifname) ?? true) ? 'ok' : 'failed';
      for (const u of uses) if (u.inst === inst) total += trackContribution(u.link, st);
    }
    inst.setTotalPriority(total);
  }

  private scriptChanged(t: ScriptTracker, from: CheckStatus): void {
    for (const u of this.scriptUses.get(t.cfg.name) ?? []) {
      this.trackerChanged(u, from, t.status);
    }
  }

  private trackerChanged(u: ScriptUse, from: CheckStatus, to: CheckStatus): void {
    if (u.link.weight !== 0) {
      this.applyTracking(u.inst);
      return;
    }
    const wasFault = trackFaults(u.link, from);
    const isFault = trackFaults(u.link, to);
    if (from === 'init') {
      if (isFault) u.inst.down();
      u.inst.initDone();
    } else if (!wasFault && isFault) u.inst.down();
    else if (wasFault && !isFault) u.inst.up();
  }

  private pollLinks(): void {
    for (const [ifname, uses] of this.ifUses) {
      const up = this.io.linkUp(ifname);
      const prev = this.linkState.get(ifname) ?? true;
      if (up === prev) continue;
      this.linkState.set(ifname, up);
      this.log(`interface ${ifname} is ${up ? 'up' : 'down'}`);
      for (const u of uses) {
        this.trackerChanged(u, prev ? 'ok' : 'failed', up ? 'ok' : 'failed');
      }
    }
  }

  /** Opens the sockets, starts the scripts and the instances. */
  start(): void {
    this.begin(null);
  }

  /**
   * A reload (keepalived's reload_vrrp_thread: clear_diff_vrrp, restore_vrrp_state,
   * clear_diff_script, vrrp_init_state): this router, built from the new file over the
   * same I/O, takes over from `prev`, which stops. An instance of the new file that is the
   * same virtual router as one of `prev` (keepalived's vrrp_exist: interface, VRID, and
   * unicast or not, from the same unicast source) carries on in its state with the new
   * settings — a MASTER keeps its addresses (those the new file dropped are removed, those
   * it added are put up and announced) and advertises at once. Instances only `prev` had
   * stop as on a shutdown (a MASTER resigns with priority 0 and gives its addresses up);
   * new ones start as on a start. A vrrp_script of the same name keeps its result, a
   * vrrp_sync_group of the same name its state.
   */
  takeOver(prev: VrrpRouter): ReloadSummary {
    const pairs = new Map<VrrpInstance, VrrpInstance>();
    const kept = new Set<VrrpInstance>();
    for (const inst of this.instances.values()) {
      const old = [...prev.instances.values()].find(
        (o) => !kept.has(o) && sameVirtualRouter(o.cfg, inst.cfg),
      );
      if (old) {
        pairs.set(inst, old);
        kept.add(old);
      }
    }
    const summary: ReloadSummary = {
      kept: [...pairs.keys()].map((i) => i.name),
      added: [...this.instances.values()].filter((i) => !pairs.has(i)).map((i) => i.name),
      removed: [...prev.instances.values()].filter((o) => !kept.has(o)).map((o) => o.name),
    };
    const groupStates = new Map([...prev.groups].map(([n, g]) => [n, g.state]));
    for (const [name, t] of this.scripts) {
      const old = prev.scripts.get(name);
      if (old) t.carryOn(old);
    }
    prev.retire(kept);
    // The addresses of carried-on masters: the file's changes applied to the interface.
    for (const [inst, old] of pairs) {
      if (!old.vipSet) continue;
      const key = (v: VirtualAddress) => `${v.addr}/${v.prefixLen} ${v.dev}`;
      const now = new Set(inst.cfg.virtualAddresses.map(key));
      const before = new Set(old.cfg.virtualAddresses.map(key));
      const gone = old.cfg.virtualAddresses.filter((v) => !now.has(key(v)));
      const added = inst.cfg.virtualAddresses.filter((v) => !before.has(key(v)));
      if (gone.length > 0) this.io.setAddresses(gone, false);
      if (added.length > 0) {
        this.io.setAddresses(added, true);
        if (inst.cfg.garpMasterRepeat > 0) this.io.sendGarp(added, inst.cfg.garpMasterRepeat);
      }
    }
    this.begin({ pairs, groupStates });
    return summary;
  }

  /** Stops what a successor router did not take over (see takeOver). */
  private retire(kept: ReadonlySet<VrrpInstance>): void {
    if (!this.started) return;
    this.started = false;
    if (this.linkTimer) clearInterval(this.linkTimer);
    for (const s of this.scripts.values()) s.stop();
    for (const inst of this.instances.values()) {
      if (kept.has(inst)) inst.retire();
      else inst.stop();
    }
    this.fifo?.close();
  }

  private begin(
    reload: {
      pairs: Map<VrrpInstance, VrrpInstance>;
      groupStates: Map<string, VrrpStateName>;
    } | null,
  ): void {
    if (this.started) return;
    this.started = true;
    const ifaces = new Set([...this.instances.values()].map((i) => i.cfg.interface));
    for (const ifname of ifaces) {
      this.io.listen(ifname, (pkt, len) => this.receive(ifname, pkt, len));
    }
    // Initial tracker state (keepalived initialise_tracking_priorities).
    for (const [ifname, uses] of this.ifUses) {
      const up = this.io.linkUp(ifname);
      this.linkState.set(ifname, up);
      if (!up)
        for (const u of uses)
          if (u.link.weight === 0 && trackFaults(u.link, 'failed')) u.inst.faultCount++;
    }
    for (const [name, uses] of this.scriptUses) {
      const st = this.scripts.get(name)!.status;
      for (const u of uses) {
        if (u.link.weight !== 0) continue;
        if (st === 'init') u.inst.initPending++;
        else if (trackFaults(u.link, st)) u.inst.faultCount++;
      }
    }
    for (const inst of this.instances.values()) this.applyTracking(inst);
    if (reload) {
      for (const g of this.groups.values()) {
        const was = reload.groupStates.get(g.name);
        if (was !== undefined && was !== 'STOP') g.state = was;
      }
    }
    for (const inst of this.instances.values()) {
      const old = reload?.pairs.get(inst);
      if (old) inst.resume(old);
      else inst.start();
    }
    for (const g of this.groups.values()) {
      if (reload?.groupStates.has(g.name)) g.resume();
      else g.settle();
    }
    for (const s of this.scripts.values()) s.start();
    if (this.linkPollMs > 0) {
      this.linkTimer = setInterval(() => this.pollLinks(), this.linkPollMs);
      this.linkTimer.unref?.();
    }
  }

  /**
   * Clean stop: masters resign with priority 0 and drop their addresses; all go STOP.
   * Resolves once the I/O has sent the last adverts and applied the address removals.
   */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    if (this.linkTimer) clearInterval(this.linkTimer);
    for (const s of this.scripts.values()) s.stop();
    for (const inst of this.instances.values()) inst.stop();
    for (const g of this.groups.values()) g.stop();
    this.fifo?.close();
    await this.io.close();
  }

  /** Plain numbers for metrics and tests. */
  counters(): {
    rx: Record<VrrpRxReason, number>;
    txErrors: number;
    instances: Record<string, VrrpInstance['stats'] & { state: VrrpStateName; priority: number }>;
  } {
    const instances: Record<
      string,
      VrrpInstance['stats'] & { state: VrrpStateName; priority: number }
    > = {};
    for (const [n, i] of this.instances) {
      instances[n] = { ...i.stats, state: i.state, priority: i.effectivePriority };
    }
    return { rx: { ...this.rxCounters }, txErrors: this.txErrors, instances };
  }
}
