/** Writes raw IP packets (LINKTYPE_RAW) to a temporary pcap file for tshark to judge. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LINKTYPE_RAW, PcapWriter } from '../../src/pcap/pcap.js';
import { openFileSink } from '../../src/pcap/sink.js';

export interface TempPcap {
  path: string;
  remove(): void;
}

export function writeRawPcap(packets: readonly Uint8Array[], name = 'pkts.pcap'): TempPcap {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-ha-'));
  const path = join(dir, name);
  const w = new PcapWriter(openFileSink(path), { linkType: LINKTYPE_RAW });
  packets.forEach((p, i) => {
    w.writePacket(p, 0, p.length, 1_700_000_000 + i, 0);
  });
  w.close();
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A minimal IPv4 header + UDP header around `payload` (checksums valid). */
export function ipv4Udp(
  src: number,
  dst: number,
  sport: number,
  dport: number,
  payload: Uint8Array,
  ttl = 1,
): Uint8Array {
  const len = 20 + 8 + payload.length;
  const b = new Uint8Array(len);
  b[0] = 0x45;
  b[2] = len >> 8;
  b[3] = len & 0xff;
  b[8] = ttl;
  b[9] = 17;
  for (let i = 0; i < 4; i++) {
    b[12 + i] = (src >>> (24 - 8 * i)) & 0xff;
    b[16 + i] = (dst >>> (24 - 8 * i)) & 0xff;
  }
  b[20] = sport >> 8;
  b[21] = sport & 0xff;
  b[22] = dport >> 8;
  b[23] = dport & 0xff;
  b[24] = (8 + payload.length) >> 8;
  b[25] = (8 + payload.length) & 0xff;
  b.set(payload, 28);
  const sum16 = (off: number, n: number, init: number) => {
    let s = init;
    for (let i = 0; i < n; i += 2) s += (b[off + i] << 8) | (i + 1 < n ? b[off + i + 1] : 0);
    return s;
  };
  const fin = (s: number) => {
    while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
    return ~s & 0xffff;
  };
  const ipc = fin(sum16(0, 20, 0));
  b[10] = ipc >> 8;
  b[11] = ipc & 0xff;
  const udpLen = 8 + payload.length;
  const pseudo = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 17 + udpLen;
  let uc = fin(sum16(20, udpLen, pseudo));
  if (uc === 0) uc = 0xffff;
  b[26] = uc >> 8;
  b[27] = uc & 0xff;
  return b;
}
