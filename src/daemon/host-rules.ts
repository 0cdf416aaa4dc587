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
import type { NeighbourResolver } from './neighbours.js';

export interface HostRulesOptions {
  /** The interfaces the director runs on. */
  ifaces: readonly string[];
  /** The host's own addresses: a service on one of them is the host's, not a VIP to answer. */
  localAddrs: ReadonlySet<number>;
  /** VIPs the config declares (answered even without a service). */
  configVips: readonly number[];
  /** The config's fwmark rules (nft drops what a fwmark service takes). */
  fwmarks: readonly FwmarkRule[];
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
  vipsFor(table: IpvsAdmin): Set<number> {
    const vips = new Set(this.opts.configVips);
    for (const s of table.services()) {
      if (s.fwmark === 0 && !this.opts.localAddrs.has(s.addr)) vips.add(s.addr);
    }
    return vips;
  }

  async prepare(next: IpvsAdmin): Promise<void> {
    if (this.nft === null) return;
    const input = nftInputFrom(
      {
        interfaces: this.opts.ifaces.map((name) => ({ name })),
        vips: [...this.vipsFor(next)].map((addr) => ({ addr })),
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
    const vips = this.vipsFor(live);
    this.env.vips.clear();
    for (const v of vips) this.env.vips.add(v);
    this.neighbours.primeRealServers(live, performance.now(), false);
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
