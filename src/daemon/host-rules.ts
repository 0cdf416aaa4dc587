/**
 * What the host must do for the table, kept in step with it as a follower of the control
 * plane: the nftables table that keeps the host stack off IPVS traffic (replaced in one
 * transaction when a change is prepared, so a refused ruleset refuses the change), the set
 * of VIPs the director answers ARP / neighbour solicitations and echo for (IPv6 VIPs are
 * announced with an unsolicited neighbour advertisement), and ARP / ND for new real servers.
 */

import type { FwmarkRule } from '../control/config.js';
import type { TableFollower } from '../control/control-plane.js';
import { type NftInput, type NftManager, nftInputFrom } from '../control/nft.js';
import type { DirectorEnv } from '../datapath/env.js';
import type { IpvsAdmin } from '../ipvs/admin.js';
import { InetAddr } from '../net/addr.js';
import type { NeighbourResolver } from './neighbours.js';
import type { VipGate } from './vip-gate.js';

export interface HostRulesOptions {
  /** The interfaces the director runs on. */
  ifaces: readonly string[];
  /** The host's own IPv4 addresses: a service on one of them is the host's, not a VIP. */
  localAddrs: ReadonlySet<number>;
  /** The host's own IPv6 addresses (InetAddr.key), likewise. */
  localAddrs6?: ReadonlySet<string>;
  /** VIPs the config declares (answered even without a service). */
  configVips: readonly InetAddr[];
  /** The config's fwmark rules (nft drops what a fwmark service takes). */
  fwmarks: readonly FwmarkRule[];
  /** VRRP's say over the VIPs (answered only while their instance is MASTER). */
  gate?: VipGate;
}

export class HostRules implements TableFollower {
  readonly name = 'host rules';
  private current: NftInput | null = null;
  private previous: NftInput | null = null;

  constructor(
    private readonly env: DirectorEnv,
    private readonly nft: NftManager | null,
    private readonly neighbours: NeighbourResolver,
    private readonly opts: HostRulesOptions,
  ) {}

  /** The VIPs to answer for with `table`'s services. */
  vipsFor(table: IpvsAdmin): InetAddr[] {
    const vips = new Map<string, InetAddr>();
    for (const v of this.opts.configVips) vips.set(v.key, v);
    for (const s of table.services()) {
      if (s.fwmark !== 0) continue;
      if (s.addr.isV4 && this.opts.localAddrs.has(s.addr.v4)) continue;
      if (s.addr.isV6 && this.opts.localAddrs6?.has(s.addr.key)) continue;
      vips.set(s.addr.key, s.addr);
    }
    for (const a of this.opts.gate?.heldAddrs() ?? []) {
      const v = InetAddr.v4(a);
      vips.set(v.key, v);
    }
    return [...vips.values()];
  }

  async prepare(next: IpvsAdmin): Promise<void> {
    if (this.nft === null) return;
    const input = nftInputFrom(
      {
        interfaces: this.opts.ifaces.map((name) => ({ name })),
        vips: this.vipsFor(next).map((addr) => ({ addr })),
        fwmarks: this.opts.fwmarks,
      },
      next.services(),
    );
    this.previous = this.current;
    if (this.current !== null && JSON.stringify(input) === JSON.stringify(this.current)) return;
    await this.nft.apply(input);
    this.current = input;
  }

  async abort(): Promise<void> {
    if (this.nft === null || this.previous === this.current) return;
    if (this.previous !== null) await this.nft.apply(this.previous);
    this.current = this.previous;
  }

  commit(_cmds: unknown, live: IpvsAdmin): void {
    this.refreshVips(live);
    this.neighbours.primeRealServers(live, performance.now(), false);
  }

  /**
   * The datapath's VIP sets: IPv4 (ARP and echo answers) from the table's and the config's
   * VIPs plus the addresses VRRP holds (of those, only the owned ones are answered; the rest
   * are standby, their traffic dropped as not_master), and IPv6 (NS and echo answers).
   * Called on every change of the table and of VRRP state.
   */
  refreshVips(live: IpvsAdmin): void {
    const gate = this.opts.gate;
    const vips = this.vipsFor(live);
    this.env.vips.clear();
    this.env.standbyVips.clear();
    for (const v of vips) {
      if (!v.isV4) continue;
      if (gate?.isHeld(v.v4) && !gate.isOwned(v.v4)) this.env.standbyVips.add(v.v4);
      else this.env.vips.add(v.v4);
    }
    const v6 = vips.filter((v) => v.isV6);
    this.env.v6.setVips(v6);
    // A VIP the director takes is announced (unsolicited NA), as keepalived does.
    const fresh = v6.filter((v) => !this.announced.has(v.key));
    this.announced = new Set(v6.map((v) => v.key));
    if (fresh.length > 0) this.neighbours.announce6(fresh);
  }

  /** IPv6 VIPs already announced (keys). */
  private announced = new Set<string>();

  /** Installs the rules for the table as it is (at start). */
  async install(table: IpvsAdmin): Promise<void> {
    await this.prepare(table);
    this.commit([], table);
  }

  /** Removes the nftables table (at stop). */
  async remove(): Promise<void> {
    if (this.nft?.isApplied) await this.nft.remove();
    this.current = null;
  }
}
