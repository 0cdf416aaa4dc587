/**
 * Which VRRP-held addresses this director owns right now. keepalived puts an instance's
 * virtual_ipaddress on the interface when it becomes MASTER and takes it off otherwise;
 * uvs answers ARP and ICMP echo for its VIPs itself (DirectorEnv.vips) and keeps them in its
 * own table instead, so the addresses die with the process (a SIGKILLed director leaves no
 * address behind that would keep answering ARP on the segment).
 *
 * An address is "held" when some running vrrp_instance lists it (on an interface uvs runs
 * on); it is "owned" while one of the instances that list it is MASTER. Held but not owned
 * = standby: not answered, and traffic to it is dropped as `not_master` (host-rules.ts
 * turns this into the datapath's sets). Addresses no instance holds are not gated at all.
 */
export class VipGate {
  /** address (IPv4, host order) -> instances listing it */
  private held = new Map<number, Set<string>>();
  private readonly masters = new Set<string>();
  private readonly listeners = new Set<() => void>();

  /**
   * Replaces the instances and their addresses (a start or a reload). On a start none is
   * MASTER yet; a reload names the instances that carried on as MASTER (one change, so the
   * addresses they keep are never dropped in between).
   */
  hold(
    instances: readonly { name: string; addrs: readonly number[] }[],
    masters: Iterable<string> = [],
  ): void {
    const held = new Map<number, Set<string>>();
    for (const i of instances) {
      for (const a of i.addrs) {
        const s = held.get(a) ?? new Set<string>();
        s.add(i.name);
        held.set(a, s);
      }
    }
    this.held = held;
    for (const m of masters) this.masters.add(m);
    for (const m of [...this.masters]) {
      if (!instances.some((i) => i.name === m)) this.masters.delete(m);
    }
    this.changed();
  }

  /** An instance entered or left MASTER. */
  setMaster(instance: string, master: boolean): void {
    const had = this.masters.has(instance);
    if (had === master) return;
    if (master) this.masters.add(instance);
    else this.masters.delete(instance);
    this.changed();
  }

  /** Whether VRRP gates this address at all. */
  isHeld(addr: number): boolean {
    return this.held.has(addr);
  }

  /** Held and owned: some instance listing it is MASTER. */
  isOwned(addr: number): boolean {
    const s = this.held.get(addr);
    if (s === undefined) return false;
    for (const n of s) if (this.masters.has(n)) return true;
    return false;
  }

  /** Every held address, owned or not. */
  heldAddrs(): number[] {
    return [...this.held.keys()];
  }

  /** Called after every change (VIP sets, ha_suspend). Returns the unsubscribe function. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }
}
