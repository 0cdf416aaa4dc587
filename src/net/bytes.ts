/**
 * Big-endian (network order) field access on a Uint8Array at absolute offsets.
 *
 * Byte arithmetic instead of a DataView: a DataView would have to be created per buffer
 * (an allocation) and V8 compiles these small functions to the same loads once inlined.
 * The writers rely on Uint8Array's store conversion (ToUint8: value mod 256), so a value
 * shifted right keeps only the byte that belongs at that position.
 */

/** Read an unsigned 16-bit big-endian value. */
export function rd16(buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

/** Read an unsigned 32-bit big-endian value (`>>> 0` keeps it non-negative). */
export function rd32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** Write a 16-bit big-endian value (only the low 16 bits of v are stored). */
export function wr16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 8;
  buf[off + 1] = v;
}

/** Write a 32-bit big-endian value (only the low 32 bits of v are stored). */
export function wr32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = v >>> 16;
  buf[off + 2] = v >>> 8;
  buf[off + 3] = v;
}
