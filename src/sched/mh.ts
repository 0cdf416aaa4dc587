/**
 * mh — Maglev hashing: every destination gets a preference list of table slots
 * (offset + j * skip mod M) and the slots are filled in turns, `turns` slots per dest per round
 * by weight; a connection goes to lookup[hsiphash(saddr [+ sport with mh-port]) % M]. An
 * unusable pick (weight <= 0 or overloaded) gives none unless mh-fallback (SVC_F_SCHED1).
 * Mirrors net/netfilter/ipvs/ip_vs_mh.c.
 *
 * Exact kernel details kept here:
 *  - M = primes[CONFIG_IP_VS_MH_TAB_INDEX - 8] (default index 12 -> 4093); MH_TAB_BITS =
 *    index / 2 (6) caps weights: rshift = max(0, fls(maxw / gcd) - MH_TAB_BITS).
 *  - hash keys are fixed (generate_hash_secret): hash1 = {2654435761, 2654435761},
 *    hash2 = {2654446892, 2654446892}, each an unsigned long (u64) on 64-bit kernels.
 *  - key of a dest / a client: v = offset + ntohs(port) + ntohl(addr_fold) (u32), hsiphash(&v,
 *    4); addr_fold is the IPv4 address or the XOR of an IPv6 address's four words.
 *  - offset = h1 % M, skip = h2 % (M - 1) + 1; turns = ((lw / gcd) >> rshift) ?: (lw != 0).
 *  - weights are dest->last_weight: the last non-zero weight set (a dest quiesced to 0 keeps its
 *    slots). We track it here per dest: set on add, updated on edits to a non-zero weight.
 *  - fallback: for offset 0..M-1, roffset = (offset + ihash) % M and the slot is
 *    hsiphash(roffset + port + addr) % M — a rehash per step, not a walk.
 *  - the lookup table is not cleared before a refill (populate overwrites all M slots), is
 *    cleared when no dest has a positive last_weight, and is left as it was when there are more
 *    dests than slots (the kernel's reassign returns -EINVAL and nobody looks).
 */
import {
  type Dest,
  type Scheduler,
  type Service,
  SVC_F_SCHED_MH_FALLBACK,
  SVC_F_SCHED_MH_PORT,
} from '../ipvs/types.js';
import { AF_INET, type FlowKey, foldWords } from '../net/addr.js';
import { eligible, gcd } from './common.js';
import { hsiphash1u32, type SipKey, sipKey } from './hash.js';

/** The primes ip_vs_mh.c picks the table size from. */
const PRIMES = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071] as const;

/** generate_hash_secret: fixed keys, k0 = k1 = 2654435761 / 2654446892 (upper halves 0). */
const HASH1: SipKey = sipKey(0, 2654435761, 0, 2654435761);
const HASH2: SipKey = sipKey(0, 2654446892, 0, 2654446892);

export interface MhOptions {
  /** CONFIG_IP_VS_MH_TAB_INDEX, 8..17 (default 12: 4093 slots). */
  tabIndex?: number;
}

/** fls(x): 1-based index of the most significant set bit, 0 for 0. */
function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

export class MhState {
  readonly size: number;
  readonly tabBits: number;
  readonly lookup: (Dest | null)[];
  /** dest->last_weight as the kernel keeps it (off the hot path). */
  readonly lastWeight = new Map<Dest, number>();
  gcd = 0;
  rshift = 0;

  constructor(size: number, tabBits: number) {
    this.size = size;
    this.tabBits = tabBits;
    this.lookup = new Array<Dest | null>(size).fill(null);
  }

  /** Track last_weight: __ip_vs_update_dest sets it on add or when the new weight != 0. */
  trackWeights(list: readonly Dest[]): void {
    const seen = new Set<Dest>();
    for (const d of list) {
      seen.add(d);
      if (!this.lastWeight.has(d) || d.weight !== 0) this.lastWeight.set(d, d.weight);
    }
    for (const d of this.lastWeight.keys()) if (!seen.has(d)) this.lastWeight.delete(d);
  }

  /** ip_vs_mh_dest_changed: gcd, rshift, then reassign (permutate + populate). */
  rebuild(list: readonly Dest[]): void {
    this.trackWeights(list);
    const lw = (d: Dest): number => this.lastWeight.get(d) ?? 0;
    // ip_vs_mh_gcd_weight: gcd of positive last weights, 0 when none.
    let g = 0;
    let maxw = 0;
    for (const d of list) {
      const w = lw(d);
      if (w > 0) g = g > 0 ? gcd(w, g) : w;
      if (w > maxw) maxw = w;
    }
    this.gcd = g;
    // ip_vs_mh_shift_weight
    this.rshift = g < 1 ? 0 : Math.max(0, fls(Math.trunc(maxw / g)) - this.tabBits);
    const M = this.size;
    if (list.length > M) return; // -EINVAL: table left as it was
    if (g < 1) {
      this.lookup.fill(null); // ip_vs_mh_reset
      return;
    }
    // ip_vs_mh_permutate
    const n = list.length;
    const perm = new Uint32Array(n);
    const skip = new Uint32Array(n);
    const turns = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const d = list[i];
      const v = ((d.port & 0xffff) + d.addr.fold) >>> 0;
      perm[i] = hsiphash1u32(v, HASH1) % M;
      skip[i] = (hsiphash1u32(v, HASH2) % (M - 1)) + 1;
      const w = lw(d);
      const t = Math.trunc(w / g) >> this.rshift;
      turns[i] = t !== 0 ? t : w !== 0 ? 1 : 0;
    }
    // ip_vs_mh_populate
    const used = new Uint8Array(M);
    let filled = 0;
    let dtCount = 0;
    for (;;) {
      for (let i = 0; i < n; ) {
        if (turns[i] < 1) {
          i++;
          continue;
        }
        let c = perm[i];
        while (used[c] !== 0) {
          c += skip[i];
          if (c >= M) c -= M;
        }
        perm[i] = c;
        used[c] = 1;
        this.lookup[c] = list[i];
        if (++filled === M) return;
        if (++dtCount >= turns[i]) {
          dtCount = 0;
          i++;
        }
      }
    }
  }
}

/** Build the mh scheduler for a table size (the registry holds the default, 4093). */
export function makeMh(opts: MhOptions = {}): Scheduler {
  const idx = opts.tabIndex ?? 12;
  if (!Number.isInteger(idx) || idx < 8 || idx > 17) {
    throw new RangeError(`mh: tabIndex must be an integer 8..17, got ${idx}`);
  }
  const size = PRIMES[idx - 8];
  const tabBits = idx >> 1;

  const state = (svc: Service): MhState => {
    let s = svc.schedData as MhState | null;
    if (!(s instanceof MhState) || s.size !== size) {
      s = new MhState(size, tabBits);
      s.rebuild(svc.dests);
      svc.schedData = s;
    }
    return s;
  };

  return {
    name: 'mh',
    initService(svc: Service): void {
      const s = new MhState(size, tabBits);
      s.rebuild(svc.dests);
      svc.schedData = s;
    },
    doneService(svc: Service): void {
      svc.schedData = null;
    },
    onDestChange(svc: Service): void {
      state(svc).rebuild(svc.dests);
    },
    schedule(svc: Service, flow: FlowKey, _now: number): Dest | null {
      const lookup = state(svc).lookup;
      const port = (svc.flags & SVC_F_SCHED_MH_PORT) !== 0 ? flow.sport & 0xffff : 0;
      // An IPv4 address is its own fold (word 3), read inline: this runs per new connection.
      const s = flow.saddr;
      const key = (port + (flow.af === AF_INET ? s[3] : foldWords(flow.af, s))) >>> 0;
      const ihash = hsiphash1u32(key, HASH1) % size;
      let d = lookup[ihash];
      if (d === null) return null;
      if (eligible(d)) return d;
      if ((svc.flags & SVC_F_SCHED_MH_FALLBACK) === 0) return null;
      for (let offset = 0; offset < size; offset++) {
        const roffset = (offset + ihash) % size;
        d = lookup[hsiphash1u32((roffset + key) >>> 0, HASH1) % size];
        if (d === null) break;
        if (eligible(d)) return d;
      }
      return null;
    },
  };
}

export const mh: Scheduler = makeMh();
