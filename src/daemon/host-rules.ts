/**
 * What the host must do for the table, kept in step with it as a follower of the control
 * plane: the nftables table that keeps the host stack off IPVS traffic (replaced in one
 * transaction when a change is prepared, so a refused ruleset refuses the change), the set
 * of VIPs the director answers ARP and ICMP echo for, and ARP for new real servers.
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
   * The datapath's VIP sets (IPv4): the table's and the config's VIPs, plus the addresses
   * VRRP holds; of those VRRP holds, only the owned ones are answered and the rest are
   * standby (traffic to them dropped as not_master). Called on every change of the table
   * and of VRRP state.
   */
  refreshVips(live: IpvsAdmin): void {
    const gate = this.opts.gate;
    this.env.vips.clear();
    this.env.standbyVips.clear();
    const all = this.vipsFor(live).flatMap((v) => (v.isV4 ? [v.v4] : []));
    for (const a of all) {
      if (gate?.isHeld(a) && !gate.isOwned(a)) this.env.standbyVips.add(a);
      else this.env.vips.add(a);
    }
  }

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
