/**
 * Format detection and the uniform reading entry points: openCapture() returns the right
 * reader for a file's magic, readCapture() yields one self-contained CaptureFrame per packet.
 *
 *   pcap    a1 b2 c3 d4 / a1 b2 3c 4d (big-endian writer) or d4 c3 b2 a1 / 4d 3c b2 a1
 *   pcapng  0a 0d 0d 0a (the SHB type, a palindrome so it reads the same in both orders)
 */
import { CaptureFormatError } from './errors.js';
import { PCAP_MAGIC_NS, PCAP_MAGIC_US, PcapReader } from './pcap.js';
import { BLOCK_SHB, PcapngReader } from './pcapng.js';
import { type CaptureFrame, CaptureRecord } from './record.js';

export type CaptureFormat = 'pcap' | 'pcapng';

/** The format a file's first four bytes announce, or null. */
export function detectFormat(bytes: Uint8Array): CaptureFormat | null {
  if (bytes.length < 4) return null;
  const v = new DataView(bytes.buffer, bytes.byteOffset, 4);
  if (v.getUint32(0, true) === BLOCK_SHB) return 'pcapng';
  const le = v.getUint32(0, true);
  const be = v.getUint32(0, false);
  for (const m of [le, be]) if (m === PCAP_MAGIC_US || m === PCAP_MAGIC_NS) return 'pcap';
  return null;
}

/** A reader for `bytes` chosen by magic; throws CaptureFormatError for anything else. */
export function openCapture(bytes: Uint8Array): PcapReader | PcapngReader {
  const f = detectFormat(bytes);
  if (f === 'pcap') return new PcapReader(bytes);
  if (f === 'pcapng') return new PcapngReader(bytes);
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new CaptureFormatError(
    'capture',
    0,
    `unknown magic [${head}]: neither pcap (a1b2c3d4/a1b23c4d) nor pcapng (0a0d0d0a)`,
  );
}

/**
 * Every packet of a pcap or pcapng file, one new CaptureFrame each (data is a view into
 * `bytes`). Convenient for tests and tools; the zero-allocation path is
 * `openCapture(bytes).next(rec)` with one reused CaptureRecord.
 */
export function* readCapture(bytes: Uint8Array): Generator<CaptureFrame, void, undefined> {
  const reader = openCapture(bytes);
  const rec = new CaptureRecord();
  while (reader.next(rec)) yield rec.toFrame();
}
