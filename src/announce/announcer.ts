/**
 * The announcer: keeps each announce device (announce-link.ts) up exactly while uvs is
 * forwarding and the services the device follows have quorum (quorum.ts), so the routing
 * daemon next to uvs announces the VIP /32 to its router only then.
 *
 * It follows the table as a follower of the control plane: every change (uvsadm, a restore,
 * a health check, keepalived) is re-judged after it is applied. A device group's decision:
 *   - withdrawn for good once `withdraw()` ran (the director is stopping: the route goes
 *     first, then uvs drains and exits);
 *   - down when it follows no service (an empty table, or none of its VIPs has a service);
 *   - down while any followed service has no quorum;
 *   - up otherwise.
 * Device changes are made one at a time, in order, and only when the decision changes.
 */
import type { TableCommand, TableFollower } from '../control/control-plane.js';
import type { IpvsAdmin } from '../ipvs/admin.js';
import type { Service } from '../ipvs/types.js';
import { formatAddrPort, type InetAddr } from '../net/addr.js';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import { type AnnounceLink, type OpenAnnounceLink, openTunAnnounceLink } from './announce-link.js';
import type { AnnounceGroup } from './announce-spec.js';
import { type QuorumRule, usableWeight, weightQuorum } from './quorum.js';

export interface AnnounceStatus {
  /** The announce device. */
  dev: string;
  /** The VIPs it follows ("all" services when null). */
  vips: string[] | 'all';
  /** The device is up: the routing daemon announces. */
  announced: boolean;
  /** Why it is (not) announced. */
  reason: string;
  /** When `announced` last changed (ISO time), or when the announcer started. */
  since: string;
}

export interface AnnouncerOptions {
  /** Decides per service (default: keepalived's quorum 1, hysteresis 0). */
  rule?: QuorumRule;
  /** Opens a device (default: a TUN device; tests pass a fake). */
  open?: OpenAnnounceLink;
  log?: (line: string) => void;
}

interface GroupState {
  group: AnnounceGroup;
  link: AnnounceLink | null;
  /** The device state we last set (or were setting). */
  up: boolean;
  reason: string;
  since: Date;
}

export class Announcer implements TableFollower {
  readonly name = 'announcer';
  private readonly groups: GroupState[];
  private rule: QuorumRule;
  private readonly open: OpenAnnounceLink;
  private readonly log: (line: string) => void;
  /** Per service: had quorum at the last decision (for hysteresis). */
  private quorum = new WeakMap<Service, boolean>();
  private withdrawnReason: string | null = null;
  private lastTable: IpvsAdmin | null = null;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(groups: readonly AnnounceGroup[], opts: AnnouncerOptions = {}) {
    this.rule = opts.rule ?? weightQuorum();
    this.open = opts.open ?? openTunAnnounceLink;
    this.log = opts.log ?? (() => {});
    const now = new Date();
    this.groups = groups.map((group) => ({
      group,
      link: null,
      up: false,
      reason: 'not started',
      since: now,
    }));
  }

  /**
   * Creates the devices (down), then judges `table`. Throws, having left no device, when a
   * device cannot be created.
   */
  async start(table: IpvsAdmin): Promise<void> {
    try {
      for (const g of this.groups) g.link = this.open(g.group.dev);
    } catch (e) {
      this.close();
      throw e;
    }
    await this.evaluate(table);
  }

  /** Control-plane follower: judge the table the change left. */
  commit(_cmds: readonly TableCommand[], live: IpvsAdmin): Promise<void> {
    return this.evaluate(live);
  }

  /** Replaces the quorum rule (keepalived's quorum state) and judges the table again. */
  setRule(rule: QuorumRule): Promise<void> {
    this.rule = rule;
    this.quorum = new WeakMap();
    return this.reevaluate();
  }

  /** Judges the last table again (after a quorum source outside the table changed). */
  reevaluate(): Promise<void> {
    return this.lastTable === null ? Promise.resolve() : this.evaluate(this.lastTable);
  }

  /** Decides every group for `table` and sets the devices that must change. */
  evaluate(table: IpvsAdmin): Promise<void> {
    this.lastTable = table;
    const services = table.services();
    // Judge every service once per change, so hysteresis sees each change exactly once.
    const has = new Map<Service, boolean>();
    for (const s of services) {
      const ok = this.rule(s, this.quorum.get(s) ?? false);
      this.quorum.set(s, ok);
      has.set(s, ok);
    }
    const wanted = this.groups.map((g) => this.decide(g.group, services, has));
    return this.enqueue(async () => {
      for (let i = 0; i < this.groups.length; i++) await this.set(this.groups[i], wanted[i]);
    });
  }

  /**
   * Withdraws every announcement for good (the director is stopping). Resolves when the
   * devices are down.
   */
  withdraw(reason: string): Promise<void> {
    this.withdrawnReason = reason;
    return this.enqueue(async () => {
      for (const g of this.groups) await this.set(g, { up: false, reason });
    });
  }

  /** Deletes the devices: whatever they announced is withdrawn at once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const g of this.groups) {
      try {
        g.link?.close();
      } catch {
        // Already gone: nothing is announced either way.
      }
      g.link = null;
      if (g.up) g.since = new Date();
      g.up = false;
      g.reason = 'uvs stopped';
    }
  }

  status(): AnnounceStatus[] {
    return this.groups.map((g) => ({
      dev: g.group.dev,
      vips: g.group.vips === null ? 'all' : g.group.vips.map((v) => v.toString()),
      announced: g.up,
      reason: g.reason,
      since: g.since.toISOString(),
    }));
  }

  private decide(
    group: AnnounceGroup,
    services: readonly Service[],
    has: ReadonlyMap<Service, boolean>,
  ): { up: boolean; reason: string } {
    if (this.withdrawnReason !== null) return { up: false, reason: this.withdrawnReason };
    const vips = group.vips;
    const followed =
      vips === null ? services : services.filter((s) => vips.some((v) => serviceOn(s, v)));
    if (followed.length === 0) {
      return {
        up: false,
        reason: vips === null ? 'no service' : `no service on ${vips.join(', ')}`,
      };
    }
    if (vips !== null) {
      const bare = vips.filter((v) => !followed.some((s) => serviceOn(s, v)));
      if (bare.length > 0) return { up: false, reason: `no service on ${bare.join(', ')}` };
    }
    const lacking = followed.filter((s) => has.get(s) !== true);
    if (lacking.length > 0) {
      const s = lacking[0];
      const more = lacking.length > 1 ? ` (and ${lacking.length - 1} more)` : '';
      return {
        up: false,
        reason: `${describe(s)} has no quorum (usable weight ${usableWeight(s)})${more}`,
      };
    }
    return {
      up: true,
      reason: `quorum on ${followed.length} service${followed.length > 1 ? 's' : ''}`,
    };
  }

  private async set(g: GroupState, want: { up: boolean; reason: string }): Promise<void> {
    g.reason = want.reason;
    if (this.closed || g.link === null || g.up === want.up) return;
    try {
      await g.link.setUp(want.up);
      g.up = want.up;
      g.since = new Date();
      this.log(`uvs: ${want.up ? 'announcing' : 'withdrawing'} via ${g.group.dev}: ${want.reason}`);
    } catch (e) {
      // The device keeps its last state; the next change tries again.
      const why = (e as Error).message;
      g.reason = `${want.reason}; setting the device ${want.up ? 'up' : 'down'} failed: ${why}`;
      this.log(`uvs: announce device ${g.group.dev}: ${why}`);
    }
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.chain.then(step);
    this.chain = run.catch(() => {});
    return run;
  }
}

/** True when `svc` is an address service on `vip`. */
function serviceOn(svc: Service, vip: InetAddr): boolean {
  return svc.fwmark === 0 && svc.addr.equals(vip);
}

function describe(s: Service): string {
  if (s.fwmark !== 0) return `FWM ${s.fwmark}`;
  const proto =
    s.proto === IPPROTO_TCP
      ? 'TCP'
      : s.proto === IPPROTO_UDP
        ? 'UDP'
        : s.proto === IPPROTO_SCTP
          ? 'SCTP'
          : `proto ${s.proto}`;
  return `${proto} ${formatAddrPort(s.addr, s.port)}`;
}
