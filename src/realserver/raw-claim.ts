/**
 * A raw IPPROTO_IPIP socket (the `raw-socket` package). With no ipip module, the kernel
 * has no handler for protocol 4, and net/ipv4/ip_input.c ip_protocol_deliver_rcu answers
 * such a packet with ICMP protocol-unreachable unless raw_local_deliver found a raw socket
 * for the protocol (`raw` non-zero: the packet is consumed quietly). This socket is that
 * claim, and it must be read: since Linux 6.9 ("ipv4: raw: check sk->sk_rcvbuf earlier")
 * raw_v4_input skips a socket whose receive queue is full without counting it as a
 * delivery, so a paused socket stops being a claim after a few packets and the ICMP
 * errors come back (seen here on 6.18 after the third packet).
 *
 * What it receives is the whole IPv4 packet, outer header included, after the kernel has
 * checked it, routed it as local and reassembled fragments. raw-socket reads one packet
 * per recvfrom into its own buffer and hands it out as a new Buffer (plus a source
 * address string): fine for the rare packets that take this path in packet mode
 * (fragments, tunnels on other interfaces), one allocation per packet in raw mode.
 */
import { createRequire } from 'node:module';
import { IPPROTO_IPIP } from '../net/ipproto.js';

/** The part of raw-socket's Socket we use (it has no TypeScript types of its own). */
export interface RawSocket {
  on(event: 'message', fn: (buf: Buffer, source: string) => void): RawSocket;
  on(event: 'error', fn: (e: Error) => void): RawSocket;
  on(event: 'close', fn: () => void): RawSocket;
  pauseRecv(): RawSocket;
  resumeRecv(): RawSocket;
  setOption(level: number, option: number, value: number): void;
  close(): RawSocket;
}

interface RawSocketModule {
  createSocket(opts: { protocol: number; addressFamily?: number; bufferSize?: number }): RawSocket;
  AddressFamily: { IPv4: number; IPv6: number };
  SocketLevel: { SOL_SOCKET: number };
  SocketOption: { SO_RCVBUF: number };
}

const require = createRequire(import.meta.url);
let mod: RawSocketModule | undefined;

function rawSocketModule(): RawSocketModule {
  if (mod) return mod;
  try {
    mod = require('raw-socket') as RawSocketModule;
  } catch (e) {
    throw new Error(
      `the 'raw-socket' package is needed to claim IP protocol 4 (npm ci builds it with node-gyp): ${(e as Error).message}`,
    );
  }
  return mod;
}

/**
 * Opens a raw IPv4 socket for protocol 4 that hands every packet to `onMessage` (buffers
 * of up to 64 KiB, a 4 MiB receive queue). Needs CAP_NET_RAW.
 */
export function openIpipSocket(
  onMessage: (buf: Buffer) => void,
  onError?: (e: Error) => void,
): RawSocket {
  return openClaimSocket(IPPROTO_IPIP, false, onMessage, onError);
}

/**
 * A raw socket claiming IP protocol `proto` for IPv4 (`v6` false: 4 = IPIP, 41 = IPv6 in
 * IPv4, which the sit module would take) or for IPv6 (41 = ip6ip6, 4 = IPv4 in IPv6, which
 * ip6_tunnel would take). Without a claim the kernel answers each such packet with ICMP
 * protocol unreachable (IPv4) or ICMPv6 parameter problem, unknown next header
 * (ip6_protocol_deliver_rcu). An IPv4 raw socket hands over the whole packet, an IPv6 one
 * only the payload after the IPv6 header and its extension headers.
 */
export function openClaimSocket(
  proto: number,
  v6: boolean,
  onMessage: (buf: Buffer) => void,
  onError?: (e: Error) => void,
): RawSocket {
  const m = rawSocketModule();
  const s = m.createSocket({
    protocol: proto,
    addressFamily: v6 ? m.AddressFamily.IPv6 : m.AddressFamily.IPv4,
    bufferSize: 65536,
  });
  s.on('error', (e) => onError?.(e));
  // Capped by net.core.rmem_max; enough to ride out a burst of fragments.
  s.setOption(m.SocketLevel.SOL_SOCKET, m.SocketOption.SO_RCVBUF, 4 << 20);
  s.on('message', (buf) => onMessage(buf));
  return s;
}
