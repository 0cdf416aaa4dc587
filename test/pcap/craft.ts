/**
 * Hand-crafting capture files byte by byte, in either byte order, independently of the
 * writers under test: the readers are checked against these, and the writers' output is
 * checked against the readers and tshark.
 */

/** Appends integers in a fixed byte order. */
export class Bytes {
  private readonly out: number[] = [];
  constructor(readonly le: boolean) {}

  u8(v: number): this {
    this.out.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    const b = [v & 0xff, (v >>> 8) & 0xff];
    this.out.push(...(this.le ? b : b.reverse()));
    return this;
  }
  u32(v: number): this {
    const b = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    this.out.push(...(this.le ? b : b.reverse()));
    return this;
  }
  bytes(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.out.push(b[i] & 0xff);
    return this;
  }
  pad4(): this {
    while (this.out.length % 4 !== 0) this.out.push(0);
    return this;
  }
  get length(): number {
    return this.out.length;
  }
  toArray(): number[] {
    return this.out.slice();
  }
}

export function concat(...parts: ArrayLike<number>[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(Array.from(p), o);
    o += p.length;
  }
  return out;
}

/** A pcapng option: code, raw value (padded here). */
export function option(le: boolean, code: number, value: ArrayLike<number>): number[] {
  return new Bytes(le).u16(code).u16(value.length).bytes(value).pad4().toArray();
}

export function strOption(le: boolean, code: number, s: string): number[] {
  return option(le, code, new TextEncoder().encode(s));
}

export const END_OF_OPT = [0, 0, 0, 0];

/** A whole pcapng block: type, total length, body (padded to 4), total length. */
export function block(le: boolean, type: number, body: ArrayLike<number>): number[] {
  const b = new Bytes(le).bytes(body).pad4().toArray();
  const total = b.length + 12;
  return new Bytes(le).u32(type).u32(total).bytes(b).u32(total).toArray();
}

export function shb(le: boolean, opts: number[] = [], major = 1): number[] {
  const body = new Bytes(le)
    .u32(0x1a2b3c4d)
    .u16(major)
    .u16(0)
    .u32(0xffffffff)
    .u32(0xffffffff)
    .bytes(opts)
    .toArray();
  return block(le, 0x0a0d0d0a, body);
}

export function idb(le: boolean, linkType: number, snapLen: number, opts: number[] = []): number[] {
  return block(le, 1, new Bytes(le).u16(linkType).u16(0).u32(snapLen).bytes(opts).toArray());
}

export function epb(
  le: boolean,
  ifId: number,
  tsHi: number,
  tsLo: number,
  data: ArrayLike<number>,
  origLen = data.length,
  opts: number[] = [],
): number[] {
  const body = new Bytes(le)
    .u32(ifId)
    .u32(tsHi)
    .u32(tsLo)
    .u32(data.length)
    .u32(origLen)
    .bytes(data)
    .pad4()
    .bytes(opts)
    .toArray();
  return block(le, 6, body);
}

export function spb(le: boolean, data: ArrayLike<number>, origLen = data.length): number[] {
  return block(le, 3, new Bytes(le).u32(origLen).bytes(data).pad4().toArray());
}

/** A classic pcap file header. */
export function pcapHeader(le: boolean, nano: boolean, snapLen = 65535, linkType = 1): number[] {
  return new Bytes(le)
    .u32(nano ? 0xa1b23c4d : 0xa1b2c3d4)
    .u16(2)
    .u16(4)
    .u32(0)
    .u32(0)
    .u32(snapLen)
    .u32(linkType)
    .toArray();
}

export function pcapRecord(
  le: boolean,
  sec: number,
  frac: number,
  data: ArrayLike<number>,
  origLen = data.length,
): number[] {
  return new Bytes(le).u32(sec).u32(frac).u32(data.length).u32(origLen).bytes(data).toArray();
}

/** Deterministic pseudo-random bytes (a small LCG), so failures reproduce. */
export function pseudoBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}
