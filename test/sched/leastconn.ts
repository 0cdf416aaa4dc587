/**
 * Straightforward reference implementations of the kernel's lc/wlc/sed/nq/fo/ovf loops,
 * written from the C with BigInt products (exact in every case), for differential tests.
 */
import type { Dest } from '../../src/ipvs/types.js';

const OVER = 2;
const oh = (d: Dest): bigint => BigInt(d.activeConns) * 256n + BigInt(d.inactConns);

export function refLc(list: Dest[]): Dest | null {
  let least: Dest | null = null;
  let loh = 0n;
  for (const d of list) {
    if (d.flags & OVER || d.weight === 0) continue;
    const doh = oh(d);
    if (!least || doh < loh) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

/** wlc (ovh = overhead) and sed (ovh = activeconns + 1) share this shape. */
export function refWeighted(list: Dest[], ovh: (d: Dest) => bigint): Dest | null {
  let i = 0;
  let least: Dest | null = null;
  for (; i < list.length; i++) {
    const d = list[i];
    if (!(d.flags & OVER) && d.weight > 0) {
      least = d;
      break;
    }
  }
  if (!least) return null;
  let loh = ovh(least);
  for (i++; i < list.length; i++) {
    const d = list[i];
    if (d.flags & OVER) continue;
    const doh = ovh(d);
    if (loh * BigInt(d.weight) > doh * BigInt(least.weight)) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

export const refWlc = (list: Dest[]): Dest | null => refWeighted(list, oh);
export const refSed = (list: Dest[]): Dest | null =>
  refWeighted(list, (d) => BigInt(d.activeConns) + 1n);

export function refNq(list: Dest[]): Dest | null {
  let least: Dest | null = null;
  let loh = 0n;
  for (const d of list) {
    if (d.flags & OVER || !d.weight) continue;
    const doh = BigInt(d.activeConns) + 1n;
    if (d.activeConns === 0) return d;
    if (!least || loh * BigInt(d.weight) > doh * BigInt(least.weight)) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

export function refFo(list: Dest[]): Dest | null {
  let h: Dest | null = null;
  let hw = 0;
  for (const d of list) {
    if (!(d.flags & OVER) && d.weight > hw) {
      h = d;
      hw = d.weight;
    }
  }
  return h;
}

export function refOvf(list: Dest[]): Dest | null {
  let h: Dest | null = null;
  let hw = 0;
  for (const d of list) {
    const w = d.weight;
    if (d.flags & OVER || d.activeConns > w || w === 0) continue;
    if (!h || w > hw) {
      h = d;
      hw = w;
    }
  }
  return h;
}
