/**
 * "Is this VIP ours?" — what `ha_suspend` asks. keepalived suspends a virtual server's
 * checkers while none of its addresses is configured on the box (check_api.c
 * update_checker_activity, driven by netlink address events), which with VRRP means while
 * this director is not MASTER for it.
 *
 * The keepalived runtime asks only this interface. Today the director answers it from the
 * host: a VIP is ours when it is one of the host's addresses or one uvs answers ARP for (a
 * service VIP). The HA work plugs VRRP in here: an instance's virtual addresses are ours
 * exactly while it is MASTER, and a state change calls the listeners.
 */
import type { InetAddr } from '../../net/addr.js';

export interface VipOwnership {
  /** The address is ours now. */
  owns(addr: InetAddr): boolean;
  /** Calls `listener` when the answer may have changed; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
}

/** Ownership decided by a predicate; `changed()` tells the listeners to ask again. */
export class PredicateVipOwnership implements VipOwnership {
  private readonly listeners = new Set<() => void>();

  constructor(private readonly predicate: (addr: InetAddr) => boolean) {}

  owns(addr: InetAddr): boolean {
    return this.predicate(addr);
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  changed(): void {
    for (const l of [...this.listeners]) l();
  }
}
