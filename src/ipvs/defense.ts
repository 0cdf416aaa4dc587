/**
 * The kernel's defences against a connection table that runs out of room
 * (Documentation/networking/ipvs-sysctl.rst; ip_vs_ctl.c update_defense_level, ip_vs_core.c
 * ip_vs_todrop, ip_vs_conn.c todrop_entry): three sysctls, each 0 (never), 1 or 2
 * (automatic: on while available memory is below `amemthresh`, and the sysctl itself reads 2
 * while it is on, 1 while it is off) or 3 (always):
 *
 *   drop_entry  once a second, scan 1/32 of the connection hash table and drop entries a
 *               flood leaves behind: SYN_RECV/SYNACK entries, childless persistence
 *               templates never assured, and (1 in N, N = 1..8 by how few packets they
 *               carried) entries idle for 60 s with at most 8 inbound packets
 *   drop_packet drop 1 of every `rate` new connections, rate = amemthresh / (amemthresh -
 *               availmem) in the automatic modes, am_droprate in mode 3
 *   secure_tcp  use tcp_states_dos, the stricter TCP state table (proto.ts)
 *
 * ## Available memory in uvs
 * The kernel measures free and buffered system memory in pages. uvs's connection memory is
 * the table it allocated at start — `capacity` slots of B bytes each (the typed arrays of
 * the table, its timers and the embryonic list: IpvsCore.bytesPerConnection(), about 112) —
 * so its available memory is the free part of that table, in 4 KiB pages:
 *
 *   availmem = floor((capacity - entries) * B / 4096)
 *
 * amemthresh keeps its unit (pages) and default (1024 pages, 4 MiB): the automatic modes
 * turn on when fewer than amemthresh * 4096 / B free slots remain — about 37,000 at B = 112,
 * so above ~96.4% fill for the default 1 M-entry table. A table smaller than amemthresh pages
 * (about 37,000 slots) is always below the threshold, as a kernel on a machine with less
 * free memory than amemthresh would be.
 *
 * This class holds the state update_defense_level keeps in struct netns_ipvs; the core
 * calls `update` once a second (and when a defence sysctl is written) and walks its own
 * table for drop_entry.
 */

/** The sysctls the defences read (net.ipv4.vs.*). */
export interface DefenseSysctl {
  drop_entry: number;
  drop_packet: number;
  secure_tcp: number;
  amemthresh: number;
  am_droprate: number;
}

/** How often the kernel re-evaluates the defences (DEFENSE_TIMER_PERIOD, 1 * HZ). */
export const DEFENSE_PERIOD_MS = 1000;
/** The kernel's page: the unit of amemthresh and availmem. */
export const PAGE_BYTES = 4096;
/** todrop_entry: an entry that carried a packet in the last 60 s is never dropped. */
export const TODROP_IDLE_MS = 60_000;

export class Defense {
  /** ipvs->dropentry: the drop_entry scan runs at each update. */
  dropEntry = false;
  /** ipvs->drop_rate: one of every dropRate new connections is dropped; 0 = none. */
  dropRate = 0;
  private dropCounter = 0;
  /** ipvs->old_secure_tcp: the secure_tcp value at the previous update. */
  private oldSecureTcp = 0;
  /** Whether the TCP state table in force is tcp_states_dos. */
  secureTcp = false;
  /** Available memory at the last update, in pages (see the header). */
  availmem = 0;
  /** todrop_entry's counters, one per inbound packet count 1..8. */
  private readonly entryCounters = new Int8Array(8);

  /**
   * update_defense_level: decide from `availmem` (pages) what is on, moving the automatic
   * sysctls between 1 and 2 in `s` exactly as the kernel rewrites its own. Returns true
   * when the TCP state table changed (ip_vs_protocol_timeout_change).
   */
  update(s: DefenseSysctl, availmem: number): boolean {
    this.availmem = availmem;
    const thresh = Math.max(s.amemthresh, 0);
    const nomem = availmem < thresh;

    switch (s.drop_entry) {
      case 0:
        this.dropEntry = false;
        break;
      case 1:
        this.dropEntry = nomem;
        if (nomem) s.drop_entry = 2;
        break;
      case 2:
        this.dropEntry = nomem;
        if (!nomem) s.drop_entry = 1;
        break;
      case 3:
        this.dropEntry = true;
        break;
    }

    switch (s.drop_packet) {
      case 0:
        this.dropRate = 0;
        break;
      case 1:
      case 2:
        if (nomem) {
          this.dropCounter = Math.trunc(thresh / (thresh - availmem));
          this.dropRate = this.dropCounter;
          s.drop_packet = 2;
        } else {
          this.dropRate = 0;
          s.drop_packet = 1;
        }
        break;
      case 3:
        this.dropRate = s.am_droprate;
        break;
    }

    let change = -1;
    const old = this.oldSecureTcp;
    switch (s.secure_tcp) {
      case 0:
        if (old >= 2) change = 0;
        break;
      case 1:
      case 2:
        if (nomem) {
          if (old < 2) change = 1;
          s.secure_tcp = 2;
        } else {
          if (old >= 2) change = 0;
          s.secure_tcp = 1;
        }
        break;
      case 3:
        if (old < 2) change = 1;
        break;
    }
    this.oldSecureTcp = s.secure_tcp;
    if (change < 0) return false;
    const on = s.secure_tcp > 1;
    const changed = on !== this.secureTcp;
    this.secureTcp = on;
    return changed;
  }

  /** ip_vs_todrop: whether the drop_packet defence drops this new connection. */
  todrop(): boolean {
    if (this.dropRate === 0) return false;
    if (--this.dropCounter > 0) return false;
    this.dropCounter = this.dropRate;
    return true;
  }

  /**
   * todrop_entry's rate, for an entry idle for 60 s: entries with 1..8 inbound packets are
   * dropped one in `in_pkts` (the fewer packets, the likelier), others never.
   */
  todropEntry(inPkts: number): boolean {
    if (inPkts < 1 || inPkts > 8) return false;
    const i = inPkts - 1;
    if (--this.entryCounters[i] > 0) return false;
    this.entryCounters[i] = i + 1;
    return true;
  }
}
