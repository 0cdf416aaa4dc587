/**
 * The XDP decapsulator of `uvs realserver --decap --xdp` (native/xdp/decap.bpf.c): built with
 * clang when first needed and attached with iproute2, which loads BPF objects through libbpf.
 * The program strips the outer header of plain IPIP packets in the driver's receive path;
 * anything it passes on untouched reaches the raw IPPROTO_IPIP socket and the user-space
 * decapsulator (see the program's header for the rules).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type HostChanges, sh } from './host.js';

const SOURCE_REL = join('native', 'xdp', 'decap.bpf.c');

/** Finds native/xdp/decap.bpf.c above this module (from src/ and dist/src/ alike). */
function findSource(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, SOURCE_REL);
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error(`XDP program source not found (${SOURCE_REL})`);
}

/** Where Debian keeps asm/types.h for this machine (clang -target bpf does not look there). */
function archInclude(): string {
  const triple = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  return `/usr/include/${triple}`;
}

/**
 * The compiled object for the current source: cached in the temporary directory under the
 * source's hash, compiled with clang when missing. Throws with an install hint without clang
 * or libbpf's headers.
 */
export function xdpObject(): string {
  const src = findSource();
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 16);
  const obj = join(tmpdir(), `uvs-xdp-decap-${hash}.o`);
  if (existsSync(obj)) return obj;
  const tmp = `${obj}.${process.pid}`;
  try {
    execFileSync(
      'clang',
      ['-O2', '-g', '-target', 'bpf', `-I${archInclude()}`, '-c', src, '-o', tmp],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
    );
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer; message: string };
    const why =
      err.code === 'ENOENT' ? 'clang not found' : (err.stderr?.toString() || err.message).trim();
    throw new Error(
      `cannot build the XDP program (${why}); --xdp needs clang and libbpf-dev ` +
        '(apt-get install clang libbpf-dev)',
    );
  }
  renameSync(tmp, obj);
  return obj;
}

/** The program attached to one interface and the id of its local-address map. */
export interface XdpAttachment {
  iface: string;
  mode: 'xdp' | 'xdpgeneric';
  localMapId: number;
  statsMapId: number;
}

/** Names of the program's maps (BPF object names are cut at 15 bytes). */
const LOCAL_MAP = 'uvs_decap_local';
const STATS_MAP = 'uvs_decap_stats';

/**
 * Attach the program to `iface` (native XDP, else generic), recording the detach in
 * `changes`, and find its local-address map (each attachment loads its own copy).
 */
export function attachXdp(changes: HostChanges, iface: string, obj: string): XdpAttachment {
  let mode: 'xdp' | 'xdpgeneric' = 'xdp';
  try {
    sh('ip', ['link', 'set', 'dev', iface, 'xdp', 'obj', obj, 'sec', 'xdp']);
  } catch {
    mode = 'xdpgeneric';
    sh('ip', ['link', 'set', 'dev', iface, 'xdpgeneric', 'obj', obj, 'sec', 'xdp']);
  }
  changes.push(`ip link set dev ${iface} ${mode} obj ${obj}`, () =>
    sh('ip', ['link', 'set', 'dev', iface, mode, 'off']),
  );
  const link = JSON.parse(sh('ip', ['-j', '-d', 'link', 'show', 'dev', iface])) as Array<{
    xdp?: { prog?: { id?: number }; attached?: Array<{ prog?: { id?: number } }> };
  }>;
  const x = link[0]?.xdp;
  const progId = x?.prog?.id ?? x?.attached?.[0]?.prog?.id;
  if (progId === undefined) throw new Error(`${iface}: the XDP program did not attach`);
  const prog = JSON.parse(bpftool(['prog', 'show', 'id', String(progId)])) as {
    map_ids?: number[];
  };
  let localMapId = -1;
  let statsMapId = -1;
  for (const id of prog.map_ids ?? []) {
    const m = JSON.parse(bpftool(['map', 'show', 'id', String(id)])) as { name?: string };
    if (m.name === LOCAL_MAP) localMapId = id;
    if (m.name === STATS_MAP) statsMapId = id;
  }
  if (localMapId < 0 || statsMapId < 0) {
    throw new Error(`${iface}: the XDP program lacks its maps (${LOCAL_MAP}, ${STATS_MAP})`);
  }
  return { iface, mode, localMapId, statsMapId };
}

/**
 * The program's counters summed over CPUs: slot 0 decapsulated in XDP, slot 1 IPIP packets
 * passed on to the raw socket. Control plane only (one bpftool run).
 */
export function readXdpStats(a: XdpAttachment): { decapsulated: number; passed: number } {
  const rows = JSON.parse(bpftool(['map', 'dump', 'id', String(a.statsMapId)])) as Array<{
    key: string[];
    values: Array<{ value: string[] }>;
  }>;
  const sum = [0, 0];
  for (const r of rows) {
    const slot = Number.parseInt(r.key[0], 16);
    if (slot !== 0 && slot !== 1) continue;
    for (const v of r.values) {
      // A little-endian u64, byte by byte as bpftool prints it.
      let n = 0;
      for (let i = v.value.length - 1; i >= 0; i--) n = n * 256 + Number.parseInt(v.value[i], 16);
      sum[slot] += n;
    }
  }
  return { decapsulated: sum[0], passed: sum[1] };
}

/** bpftool -j, with an install hint when it is missing. */
function bpftool(args: string[]): string {
  try {
    return execFileSync('bpftool', ['-j', ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 10_000,
    });
  } catch (e) {
    const err = e as { code?: string; stderr?: string; message: string };
    if (err.code === 'ENOENT') {
      throw new Error(
        "--xdp needs bpftool to fill the program's address map (apt-get install bpftool)",
      );
    }
    throw new Error(`bpftool ${args.join(' ')}: ${(err.stderr || err.message).trim()}`);
  }
}

/** The map's key for an address (host-order u32): its four bytes in network order. */
function keyBytes(addr: number): string[] {
  return [addr >>> 24, (addr >>> 16) & 0xff, (addr >>> 8) & 0xff, addr & 0xff].map(String);
}

/**
 * Make the local-address map of `a` hold exactly `want` (host-order u32), given that it holds
 * `have`; one bpftool call per address that changed (addresses change rarely).
 */
export function syncLocalMap(
  a: XdpAttachment,
  have: ReadonlySet<number>,
  want: ReadonlySet<number>,
): void {
  const id = String(a.localMapId);
  for (const addr of want) {
    if (!have.has(addr))
      bpftool(['map', 'update', 'id', id, 'key', ...keyBytes(addr), 'value', '1']);
  }
  for (const addr of have) {
    if (want.has(addr)) continue;
    try {
      bpftool(['map', 'delete', 'id', id, 'key', ...keyBytes(addr)]);
    } catch {
      // Already absent (an earlier sync stopped half way): nothing to delete.
    }
  }
}
