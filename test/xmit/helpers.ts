/**
 * Test helpers for the xmit tests: frames built by the codec's test builder, parsed into a
 * PacketInfo with optional headroom, and independent checksum verifiers (full sums over
 * the bytes, never the incremental code under test).
 */
import { expect } from 'vitest';
import { buildFrame, type FrameSpec } from '../../src/net/build.js';
import { rd16, rd32 } from '../../src/net/bytes.js';
import { fold16, pseudoHeaderSum, sumBytes } from '../../src/net/checksum.js';
import { PacketInfo } from '../../src/net/packet.js';
import { PARSE_ARP, PARSE_FRAGMENT, PARSE_OK_IPV4, parseFrame } from '../../src/net/parse.js';

export interface Parsed {
  buf: Uint8Array;
  info: PacketInfo;
}

/** Copy `frame` into a new buffer at offset `headroom` (with `tailroom` after) and parse it. */
export function parsed(frame: Uint8Array, headroom = 0, tailroom = 0): Parsed {
  const buf = new Uint8Array(headroom + frame.length + tailroom);
  buf.set(frame, headroom);
  const info = new PacketInfo();
  const st = parseFrame(buf, headroom, frame.length, info);
  if (st !== PARSE_OK_IPV4 && st !== PARSE_ARP && st !== PARSE_FRAGMENT) {
    throw new Error(`test frame did not parse: status ${st}`);
  }
  return { buf, info };
}

/** Build and parse in one step. */
export function frame(spec: FrameSpec, headroom = 0): Parsed {
  return parsed(buildFrame(spec), headroom);
}

/** The frame bytes info describes. */
export function bytesOf(p: Parsed): Uint8Array {
  return p.buf.slice(p.info.off, p.info.off + p.info.len);
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Assert two byte arrays are equal, showing hex on failure. */
export function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(hex(actual)).toBe(hex(expected));
}

/** The IPv4 header at l3 verifies: its folded sum is 0xffff. */
export function ipHeaderValid(buf: Uint8Array, l3: number): boolean {
  const ihl = (buf[l3] & 15) * 4;
  return fold16(sumBytes(buf, l3, ihl)) === 0xffff;
}

/** The TCP/UDP segment of the IPv4 packet at l3 verifies (UDP check 0 counts as valid). */
export function l4Valid(buf: Uint8Array, l3: number): boolean {
  const ihl = (buf[l3] & 15) * 4;
  const totLen = rd16(buf, l3 + 2);
  const proto = buf[l3 + 9];
  const l4 = l3 + ihl;
  const len = totLen - ihl;
  if (proto === 17 && rd16(buf, l4 + 6) === 0) return true;
  const sum = pseudoHeaderSum(rd32(buf, l3 + 12), rd32(buf, l3 + 16), proto, len);
  return fold16(sumBytes(buf, l4, len, sum)) === 0xffff;
}

/** The ICMP message of len bytes at off verifies. */
export function icmpValid(buf: Uint8Array, off: number, len: number): boolean {
  return fold16(sumBytes(buf, off, len)) === 0xffff;
}

export function mac(s: string): Uint8Array {
  return Uint8Array.from(s.split(':').map((x) => Number.parseInt(x, 16)));
}

export const CIP = '10.0.0.1';
export const VIP = '10.0.0.100';
export const RIP = '10.0.1.11';
export const DIP = '10.0.1.1';
export const CLIENT_MAC = '02:00:00:00:00:01';
export const DIRECTOR_MAC = '02:00:00:00:00:fe';
export const RS_MAC = '02:00:00:00:01:11';
export const EGRESS_MAC = '02:00:00:00:01:fe';
