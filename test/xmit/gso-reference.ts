/**
 * The software segmentation uvs shipped before the copy-and-sum rewrite (src/xmit/gso.ts
 * at db32935), kept verbatim as the oracle the new tcpSegment is compared against byte for
 * byte (test/xmit/gso-differential.test.ts) and as the "old" row of bench/micro/xmit.ts:
 * a byte loop copies each segment, then a second pass computes its full checksum.
 */
import { rd16, rd32, wr16, wr32 } from '../../src/net/bytes.js';
import { ipv4HeaderCheck, l4Check } from '../../src/net/checksum.js';
import { ETH_P_IP } from '../../src/net/ethernet.js';
import { IPPROTO_TCP } from '../../src/net/ipproto.js';
import { IP_MF, IP_OFFSET, IPV4_CHECK } from '../../src/net/ipv4.js';
import type { PacketInfo } from '../../src/net/packet.js';
import { TCP_CWR, TCP_FIN, TCP_PSH } from '../../src/net/tcp.js';
import { ipEnd, XMIT_E_INVALID, XMIT_E_SPACE } from '../../src/xmit/common.js';

/** The old copyBytes across two arrays: one byte per iteration. */
function copyBytes(
  dst: Uint8Array,
  dstOff: number,
  src: Uint8Array,
  srcStart: number,
  srcEnd: number,
): void {
  const n = srcEnd - srcStart;
  for (let i = 0; i < n; i++) dst[dstOff + i] = src[srcStart + i];
}

/**
 * Split the IPv4 TCP packet described by info into segments of at most `mss` payload
 * bytes, written to `out` one after another starting at offset 0, each preceded by
 * `headroom` free bytes (room for tunEncap's outer headers): segment i starts at
 * outOffs[i] and is outLens[i] bytes long (L2 header included). `out` must not overlap
 * the input. A packet whose payload fits one MSS yields one segment (with its checksum
 * completed). Returns the number of segments, XMIT_E_INVALID for input that is not an
 * unfragmented IPv4 TCP packet or a bad mss, XMIT_E_SPACE when out / outOffs / outLens are
 * too small.
 */
export function tcpSegmentReference(
  buf: Uint8Array,
  info: PacketInfo,
  mss: number,
  out: Uint8Array,
  outOffs: Int32Array,
  outLens: Int32Array,
  headroom: number,
): number {
  if (info.etherType !== ETH_P_IP || info.proto !== IPPROTO_TCP || !(mss > 0) || headroom < 0) {
    return XMIT_E_INVALID;
  }
  const ip = info.l3Off;
  const end = ipEnd(ip, info.totLen, info.ihl, info.off, info.len);
  if (end < 0 || (info.fragField & (IP_MF | IP_OFFSET)) !== 0) return XMIT_E_INVALID;
  const tcp = info.l4Off;
  if (tcp !== ip + info.ihl || tcp + 20 > end) return XMIT_E_INVALID;
  const thl = (buf[tcp + 12] >>> 4) << 2;
  if (thl < 20 || tcp + thl > end) return XMIT_E_INVALID;

  const l2 = ip - info.off;
  const hdrs = l2 + info.ihl + thl;
  const payload = end - tcp - thl;
  const n = payload <= mss ? 1 : Math.ceil(payload / mss);
  if (n > outOffs.length || n > outLens.length) return XMIT_E_SPACE;
  if (n * (headroom + hdrs) + payload > out.length) return XMIT_E_SPACE;

  const id0 = rd16(buf, ip + 4);
  const seq0 = rd32(buf, tcp + 4);
  const flags0 = buf[tcp + 13];
  const saddr = rd32(buf, ip + 12);
  const daddr = rd32(buf, ip + 16);
  const ihl = info.ihl;
  let pos = 0;
  let done = 0;
  for (let i = 0; i < n; i++) {
    const segPay = Math.min(payload - done, mss);
    const s = pos + headroom;
    copyBytes(out, s, buf, info.off, info.off + hdrs);
    const sip = s + l2;
    const stcp = sip + ihl;
    wr16(out, sip + 2, ihl + thl + segPay);
    wr16(out, sip + 4, (id0 + i) & 0xffff);
    wr16(out, sip + IPV4_CHECK, ipv4HeaderCheck(out, sip, ihl));
    wr32(out, stcp + 4, (seq0 + done) >>> 0);
    let flags = flags0;
    if (i < n - 1) flags &= ~(TCP_FIN | TCP_PSH);
    if (i > 0) flags &= ~TCP_CWR;
    out[stcp + 13] = flags;
    const src = tcp + thl + done;
    const dst = stcp + thl;
    copyBytes(out, dst, buf, src, src + segPay);
    wr16(out, stcp + 16, l4Check(out, stcp, thl + segPay, 16, saddr, daddr, 6));
    outOffs[i] = s;
    outLens[i] = hdrs + segPay;
    pos = s + hdrs + segPay;
    done += segPay;
  }
  return n;
}
