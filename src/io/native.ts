/**
 * The one place the native I/O addon (native/, built by `npm ci` through node-gyp) and the
 * libpcap binding (`cap`) are loaded. Everything else imports the typed handles from here.
 *
 * The addon mirrors the user-space side of the kernel's net/packet/af_packet.c (TPACKET_V2
 * rx ring, sendmmsg, fanout) and drivers/net/tun.c (TUN/TAP reads and writes); see
 * native/src/uvs_io.cc. It is context-aware, so it loads in worker_threads too.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Slots of the Float64Array counters the native side increments (see Counter in uvs_io.cc). */
export const C = {
  RX_FRAMES: 0,
  RX_BYTES: 1,
  TX_FRAMES: 2,
  TX_BYTES: 3,
  TX_ERRORS: 4,
  TX_DROPPED: 5,
  RING_DROPS: 6,
  WAKEUPS: 7,
  BATCHES: 8,
  RX_TRUNCATED: 9,
  RX_ERRORS: 10,
  COUNT: 11,
} as const;

export interface NativePacketSocketOptions {
  ifindex: number;
  frameSize?: number;
  frameCount?: number;
  reserve?: number;
  vnetHdr?: boolean;
  ignoreOutgoing?: boolean;
  qdiscBypass?: boolean;
  promisc?: boolean;
  fanoutGroup?: number;
  fanoutMode?: number;
  /** The socket's own classic BPF filter (struct sock_filter array; SO_ATTACH_FILTER before bind). */
  filter?: Uint8Array;
  /**
   * A second ring on a second socket (same options otherwise: its own slot size, depth,
   * filter and fanout group), mapped right after the first in `ring`; batches take the
   * frames of both in receive-time order.
   */
  large?: { frameSize: number; frameCount: number; filter?: Uint8Array; fanoutGroup?: number };
  sndbuf?: number;
  off: Int32Array;
  len: Int32Array;
  flags: Int32Array;
  vlan: Int32Array;
  counters: Float64Array;
}

export interface NativePacketSocket {
  readonly fd: number;
  /** External ArrayBuffer over the whole mmap'd rx ring (detached by close()). */
  readonly ring: ArrayBuffer;
  readonly frameSize: number;
  readonly frameCount: number;
  readonly headroom: number;
  rxBatch(): number;
  release(): void;
  send(buf: Uint8Array, off: Int32Array, len: Int32Array, start: number, count: number): number;
  sendOne(buf: Uint8Array, off: number, len: number): boolean;
  start(fn: (count: number) => void): void;
  stop(): void;
  readStats(): void;
  close(): void;
}

export interface NativeTunDeviceOptions {
  name?: string;
  tap: boolean;
  vnetHdr?: boolean;
  offload?: boolean;
  buf: Uint8Array;
  stride: number;
  dataOff: number;
  off: Int32Array;
  len: Int32Array;
  counters: Float64Array;
}

export interface NativeTunDevice {
  readonly fd: number;
  readonly name: string;
  rxBatch(): number;
  send(buf: Uint8Array, off: Int32Array, len: Int32Array, start: number, count: number): number;
  sendOne(buf: Uint8Array, off: number, len: number): boolean;
  start(fn: (count: number) => void): void;
  stop(): void;
  close(): void;
}

export interface NativeIfInfo {
  ifindex: number;
  mtu: number;
  flags: number;
  hwType: number;
  mac: Uint8Array;
}

export interface NativeAddon {
  PacketSocket: new (opts: NativePacketSocketOptions) => NativePacketSocket;
  TunDevice: new (opts: NativeTunDeviceOptions) => NativeTunDevice;
  ifInfo(name: string): NativeIfInfo;
  /** SO_PEERCRED of a connected unix socket's file descriptor. */
  peerCred(fd: number): { pid: number; uid: number; gid: number };
  /** malloc_trim(0): return free heap pages to the kernel. */
  trimMemory(): boolean;
  constants: {
    COUNTERS: number;
    VNET_HDR_LEN: number;
    TPACKET2_HDRLEN: number;
    TX_CHUNK: number;
    RXF_CSUM_NOT_READY: number;
    RXF_CSUM_VALID: number;
    RXF_TRUNCATED: number;
    RXF_VLAN: number;
  };
}

const require = createRequire(import.meta.url);
const ADDON_REL = join('native', 'build', 'Release', 'uvs_io.node');

/** Finds native/build/Release/uvs_io.node above this module (works from src/ and dist/src/). */
function findAddon(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, ADDON_REL);
    if (existsSync(p)) return p;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

let addon: NativeAddon | undefined;

/** The native addon; throws a clear error when it has not been built. */
export function native(): NativeAddon {
  if (addon) return addon;
  const path = findAddon();
  if (!path) {
    throw new Error(
      `uvs native I/O addon not found (${ADDON_REL}); build it with \`npm run build:native\` ` +
        '(or `npm ci`, which runs node-gyp; needs a C++ compiler and the Node headers)',
    );
  }
  const a = require(path) as NativeAddon;
  if (a.constants.COUNTERS !== C.COUNT) {
    throw new Error(
      `uvs native addon at ${path} is stale (counters ${a.constants.COUNTERS}, expected ${C.COUNT}); run \`npm run build:native\``,
    );
  }
  addon = a;
  return a;
}

/** The subset of the `cap` (libpcap) binding the pcap link uses. */
export interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Uint8Array): string;
  send(buffer: Uint8Array, nBytes: number): void;
  close(): void;
  on(event: 'packet', fn: (nbytes: number, truncated: boolean) => void): void;
  removeAllListeners(event?: string): void;
}

interface CapModule {
  Cap: new () => CapHandle;
}

let capMod: CapModule | undefined;

/** The `cap` module (libpcap through N-API-less nan bindings; main thread only). */
export function capModule(): CapModule {
  if (capMod) return capMod;
  try {
    capMod = require('cap') as CapModule;
  } catch (e) {
    throw new Error(
      `the libpcap backend needs the 'cap' package built against libpcap-dev: ${(e as Error).message}`,
    );
  }
  return capMod;
}
