/**
 * Neighbour resolution in user space: the director answers for its VIPs itself and learns
 * MACs from ARP and neighbour discovery it sees (the pipeline does that), and here asks for
 * the MACs it lacks — ARP requests for IPv4, neighbour solicitations (to the solicited-node
 * group) for IPv6 — for a next hop the pipeline could not resolve (at most once a second
 * per address), and every real server's next hop when the table changes and every 30 s,
 * so the first packet of a connection finds its MAC. It also announces IPv6 VIPs the
 * director takes with an unsolicited neighbour advertisement (what keepalived sends for
 * its IPv6 addresses, the counterpart of a gratuitous ARP).
 */

import type { DirectorEnv } from '../datapath/env.js';
import { Addr6Table } from '../datapath/env6.js';
import { HEADROOM } from '../datapath/pipeline.js';
import type { Link } from '../io/link.js';
import type { IpvsAdmin } from '../ipvs/admin.js';
import { FWD_DROUTE, FWD_MASQ, FWD_TUNNEL } from '../ipvs/types.js';
import type { InetAddr } from '../net/addr.js';
import { ARPOP_REQUEST, writeArp } from '../net/arp.js';
import { ETH_P_ARP, writeEthernet } from '../net/ethernet.js';
import { buildNs, buildUnsolicitedNa } from '../xmit/nd.js';

const RETRY_MS = 1000;
export const REFRESH_MS = 30_000;
const BROADCAST = new Uint8Array([255, 255, 255, 255, 255, 255]);
const ZERO_MAC = new Uint8Array(6);

export class NeighbourResolver {
  private readonly sent = new Map<number, number>();
  private readonly buf = new Uint8Array(HEADROOM + 128);
  /** When each IPv6 address was last solicited (slot of sent6 -> ms). */
  private readonly sent6 = new Addr6Table(1024);
  private readonly sent6At = new Float64Array(this.sent6.slots);
  private readonly words = new Int32Array(4);

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
   * A neighbour solicitation for `w` (four words) on link `link`, unless one was sent within
   * the last second; from the director's IPv6 address on that link (none: nothing sent).
   */
  resolve6(w: ArrayLike<number>, link: number, now: number, force = false): void {
    if (this.links.length === 0 || !this.env.v6.hasAddr(link)) return;
    let i = this.sent6.slotFor(w, 0);
    if (i < 0) {
      this.sent6.clear();
      i = this.sent6.slotFor(w, 0);
    }
    if (!force && this.sent6At[i] !== 0 && now - this.sent6At[i] < RETRY_MS) return;
    this.sent6At[i] = now;
    const ifc = this.env.ifaces[link];
    const b = this.buf;
    b.fill(0);
    const n = buildNs(b, HEADROOM, ifc.mac, this.env.v6.srcOf(link), w);
    this.links[link].sendOne(b, HEADROOM, n);
  }

  /**
   * An unsolicited neighbour advertisement for each IPv6 VIP, on the links whose prefix
   * holds it (on every link with an IPv6 address when none does).
   */
  announce6(vips: readonly InetAddr[]): void {
    if (this.links.length === 0) return;
    const env6 = this.env.v6;
    const w = this.words;
    for (const v of vips) {
      if (!v.isV6) continue;
      v.copyTo(w);
      const on = env6.connectedLink(w);
      for (let li = 0; li < this.links.length; li++) {
        if (on >= 0 ? li !== on : !env6.hasAddr(li)) continue;
        const b = this.buf;
        b.fill(0);
        const n = buildUnsolicitedNa(b, HEADROOM, this.env.ifaces[li].mac, w, env6.routerFlag);
        this.links[li].sendOne(b, HEADROOM, n);
      }
    }
  }

  /**
   * ARP (IPv4) or solicit (IPv6) for the next hop of every real server: the unknown ones,
   * or all of them when `force` (the periodic refresh).
   */
  primeRealServers(table: IpvsAdmin, now: number, force: boolean): void {
    const env = this.env;
    const w = this.words;
    for (const svc of table.services()) {
      for (const d of svc.dests) {
        if (d.fwd !== FWD_MASQ && d.fwd !== FWD_DROUTE && d.fwd !== FWD_TUNNEL) continue;
        if (d.addr.isV6) {
          d.addr.copyTo(w);
          const known = env.resolve6(w);
          if ((!known || force) && env.nhLink >= 0) {
            this.resolve6(env.v6.nhViaSet ? env.v6.nhVia : w, env.nhLink, now, force);
          }
          continue;
        }
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
