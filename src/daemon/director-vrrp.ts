/**
 * VRRP inside `uvs run --keepalived FILE`: the file's vrrp_instance / vrrp_sync_group /
 * vrrp_script blocks run in a VrrpRouter (src/ha/) over the system's raw sockets, and the
 * director follows it through one subscription to its state changes:
 *
 *   VrrpRouter ── state change ──> VipGate.setMaster ──> host rules: the datapath's VIP
 *                                  (this file)              sets (answer / not_master),
 *                                                           workers, ha_suspend
 *                              └─> onState (lvs_sync_daemon: sync master or backup)
 *
 * Addresses on interfaces uvs runs on are held by uvs itself (VipGate): answered for ARP
 * and ICMP echo by the datapath while MASTER and forgotten otherwise, never put on the
 * host's interface — so they die with the process. Addresses on other interfaces are added
 * to and removed from the host as keepalived does. GARPs go out for both.
 *
 * A reload (SIGHUP) whose VRRP half is unchanged leaves the router alone. A changed one
 * is applied as keepalived applies it (VrrpRouter.takeOver): a router for the new file, on
 * the same sockets, takes over from the running one; instances still in the file carry on
 * in their state (a MASTER keeps its VIPs and advertises with no gap, with its new
 * priority), removed ones resign (priority 0) and give their VIPs up, new ones start.
 */
import type { VrrpClock } from '../ha/vrrp-clock.js';
import type { VirtualAddress, VrrpConfig } from '../ha/vrrp-config.js';
import type { VrrpStateName } from '../ha/vrrp-instance.js';
import { SystemVrrpIo } from '../ha/vrrp-io.js';
import type { VrrpStateEvent } from '../ha/vrrp-notify.js';
import { type ReloadSummary, type VrrpIo, VrrpRouter } from '../ha/vrrp-router.js';
import type { InetAddr } from '../net/addr.js';
import type { VipGate } from './vip-gate.js';

export interface DirectorVrrpOptions {
  gate: VipGate;
  /** The interfaces the datapath runs on (their VRRP addresses are held by uvs). */
  ifaces: readonly string[];
  log: (line: string) => void;
  /** Every state change, after the gate has followed it. */
  onState?: (ev: VrrpStateEvent) => void;
  /** For tests: the system I/O to wrap (default SystemVrrpIo) and the clock. */
  io?: () => VrrpIo & { prepare?(ifs: Iterable<string>): Promise<void> };
  clock?: VrrpClock;
}

/** The router's I/O with the VIPs of uvs's interfaces kept off the host. */
class DirectorIo implements VrrpIo {
  constructor(
    private readonly inner: VrrpIo & { prepare?(ifs: Iterable<string>): Promise<void> },
    private readonly ours: ReadonlySet<string>,
  ) {}
  async prepare(ifs: Iterable<string>): Promise<void> {
    await this.inner.prepare?.(ifs);
  }
  listen(ifname: string, fn: (pkt: Uint8Array, len: number) => void): void {
    this.inner.listen(ifname, fn);
  }
  send(ifname: string, pkt: Uint8Array, dst: number): void {
    this.inner.send(ifname, pkt, dst);
  }
  primaryAddress(ifname: string): InetAddr | undefined {
    return this.inner.primaryAddress(ifname);
  }
  setAddresses(vips: readonly VirtualAddress[], present: boolean): void {
    const host = vips.filter((v) => !this.held(v));
    if (host.length > 0) this.inner.setAddresses(host, present);
  }
  sendGarp(vips: readonly VirtualAddress[], repeat: number): void {
    this.inner.sendGarp(vips, repeat);
  }
  linkUp(ifname: string): boolean {
    return this.inner.linkUp(ifname);
  }
  close(): Promise<void> | void {
    return this.inner.close();
  }
  held(v: VirtualAddress): boolean {
    return v.addr.isV4 && this.ours.has(v.dev);
  }
}

export class DirectorVrrp {
  private router: VrrpRouter | null = null;
  /** The I/O the routers share: a reload's router takes the sockets over. */
  private io: DirectorIo | null = null;
  private running: VrrpConfig | null = null;
  private readonly ours: ReadonlySet<string>;

  constructor(private readonly opts: DirectorVrrpOptions) {
    this.ours = new Set(opts.ifaces);
  }

  /** The running router (null before start or without instances). */
  get current(): VrrpRouter | null {
    return this.router;
  }

  /** State of an instance (undefined when unknown). */
  instanceState(name: string): VrrpStateName | undefined {
    return this.router?.instanceState(name);
  }

  /** Starts the router, applies a changed config to the running one (a reload); null stops it. */
  async apply(config: VrrpConfig | null): Promise<ReloadSummary | null> {
    if (config !== null && this.running !== null && same(config, this.running)) return null;
    if (config === null) {
      if (this.router !== null) await this.stop();
      this.opts.gate.hold([]);
      return null;
    }
    const prev = this.router;
    let io = this.io;
    if (prev === null || io === null) {
      const sys =
        this.opts.io?.() ??
        new SystemVrrpIo({ log: (m) => this.opts.log(`Keepalived_vrrp: ${m}`) });
      io = new DirectorIo(sys, this.ours);
      this.io = io;
    }
    await io.prepare(new Set(config.instances.map((i) => i.interface)));
    const router = new VrrpRouter(config, {
      io,
      ...(this.opts.clock ? { clock: this.opts.clock, linkPollMs: 0 } : {}),
      log: (m) => this.opts.log(`Keepalived_vrrp: ${m}`),
    });
    router.onStateChange((ev) => {
      if (ev.kind === 'instance') this.opts.gate.setMaster(ev.name, ev.to === 'MASTER');
      this.opts.onState?.(ev);
    });
    this.router = router;
    this.running = config;
    const held = config.instances.map((i) => ({
      name: i.name,
      addrs: i.virtualAddresses.filter((v) => io.held(v)).map((v) => v.addr.v4),
    }));
    if (prev === null) {
      // Held addresses start standby: nothing is answered until an instance is MASTER.
      this.opts.gate.hold(held);
      router.start();
      return null;
    }
    const summary = router.takeOver(prev);
    this.opts.log(
      `uvs: VRRP reloaded: ${summary.kept.length} instance(s) carried on, ${summary.added.length} added, ${summary.removed.length} removed`,
    );
    // The addresses the running masters hold now, in one change.
    const masters = [...router.instances.values()]
      .filter((i) => i.state === 'MASTER')
      .map((i) => i.name);
    this.opts.gate.hold(held, masters);
    return summary;
  }

  /** Clean stop: masters resign (priority 0) and give their addresses up. */
  async stop(): Promise<void> {
    const r = this.router;
    this.router = null;
    this.running = null;
    this.io = null;
    if (r === null) return;
    await r.stop();
    for (const name of r.instances.keys()) this.opts.gate.setMaster(name, false);
  }
}

function same(a: VrrpConfig, b: VrrpConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
