/**
 * Neighbour resolution in user space: the director answers for its VIPs itself and learns
 * MACs from ARP it sees (the pipeline does that), and here asks for the MACs it lacks — a
 * next hop the pipeline could not resolve (at most once a second per address), and every
 * real server's next hop when the table changes and every 30 s, so the first packet of a
 * connection finds its MAC.
 */

import type { DirectorEnv } from '../datapath/env.js';
import { HEADROOM } from '../datapath/pipeline.js';
import type { Link } from '../io/link.js';
import type { IpvsAdmin } from '../ipvs/admin.js';
import { FWD_DROUTE, FWD_MASQ, FWD_TUNNEL } from '../ipvs/types.js';
import { ARPOP_REQUEST, writeArp } from '../net/arp.js';
import { ETH_P_ARP, writeEthernet } from '../net/ethernet.js';

const RETRY_MS = 1000;
export const REFRESH_MS = 30_000;
const BROADCAST = new Uint8Array([255, 255, 255, 255, 255, 255]);
const ZERO_MAC = new Uint8Array(6);

export class NeighbourResolver {
  private readonly sent = new Map<number, number>();
  private readonly buf = new Uint8Array(HEADROOM + 64);

  /** `links` may be empty (the control thread of a worker pool sends nothing). */
  constructor(
    private readonly env: DirectorEnv,
    private readonly links: readonly Link[],
  ) {}

  /** ARP for `addr` on link `link`, unless asked within the last second. */
  resolve(addr: number, link: number, now: number): void {
    if (this.links.length === 0) return;
    const last = this.sent.get(addr);
    if (last !== undefined && now - last < RETRY_MS) return;
    this.sent.set(addr, now);
    const ifc = this.env.ifaces[link];
    const b = this.buf;
    b.fill(0);
    let o = writeEthernet(b, HEADROOM, BROADCAST, ifc.mac, ETH_P_ARP);
    o = writeArp(b, o, ARPOP_REQUEST, ifc.mac, ifc.addr, ZERO_MAC, addr);
    this.links[link].sendOne(b, HEADROOM, Math.max(60, o - HEADROOM));
  }

  /**
   * ARP for the next hop of every real server: the unknown ones, or all of them when
   * `force` (the periodic refresh).
   */
  primeRealServers(table: IpvsAdmin, now: number, force: boolean): void {
    const env = this.env;
    for (const svc of table.services()) {
      for (const d of svc.dests) {
        if (d.fwd !== FWD_MASQ && d.fwd !== FWD_DROUTE && d.fwd !== FWD_TUNNEL) continue;
        if (!d.addr.isV4) continue; // ARP is IPv4's
        const rip = d.addr.v4;
        const known = env.resolve(rip);
        if ((!known || force) && env.nhLink >= 0) {
          const hop = env.nhVia || rip;
          if (force) this.sent.delete(hop);
          this.resolve(hop, env.nhLink, now);
        }
      }
    }
  }
}
