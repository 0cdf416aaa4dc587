/**
 * Rough cost of `uvs realserver --decap` per packet, packet ring vs raw socket (root):
 *   node --import tsx test/realserver/measure-decap.ts [packets]
 * Builds the dir/rs pair of decap.test.ts, floods rs with IPIP-wrapped 64-byte UDP
 * datagrams from dir (an AF_PACKET socket, batches of 64), and reports for each receive
 * path how many were decapsulated, how many the ring dropped, and the daemon's CPU time
 * (user + system, from /proc/PID/stat) per decapsulated packet. The system time includes
 * the TUN write, i.e. the host stack's whole receive of the inner packet. Not a test: the
 * numbers depend on the machine (two shared cores here, the sender's softirq included).
 */
import { readFileSync } from 'node:fs';
import { createLab, type LabProcess } from '../helpers/netns.js';
import type { BlastResult } from './ns-tasks.js';

const TASKS = new URL('./ns-tasks.ts', import.meta.url);
const UVS = new URL('../../src/cli/uvs.ts', import.meta.url).pathname;
const N = Number(process.argv[2] ?? 200_000);

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  // fields 14, 15 (utime, stime) in clock ticks; rest[0] is field 3.
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / 100;
}

async function waitReady(p: LabProcess): Promise<void> {
  const end = Date.now() + 20_000;
  while (!p.stdout().includes('decapsulating IPIP on')) {
    if (Date.now() > end || p.child.exitCode !== null) throw new Error(`not ready: ${p.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main(): Promise<void> {
  const lab = createLab('rsm');
  try {
    const dir = await lab.ns('dir');
    const rs = await lab.ns('rs');
    await lab.veth({ ns: dir, dev: 'd0' }, { ns: rs, dev: 'r0' });
    await lab.addr(dir, 'd0', '198.51.100.1/24');
    await lab.addr(dir, 'lo', '203.0.113.10/32');
    await lab.addr(rs, 'r0', '198.51.100.11/24');
    await lab.addr(rs, 'lo', '192.0.2.100/32');
    await lab.exec(rs, 'ip', ['route', 'add', '203.0.113.10/32', 'via', '198.51.100.1']);
    const dirMac = await lab.mac(dir, 'd0');
    const rsMac = await lab.mac(rs, 'r0');
    for (const mode of ['packet', 'raw'] as const) {
      const p = lab.spawn(rs, process.execPath, [
        '--import',
        'tsx',
        UVS,
        'realserver',
        '--decap',
        '--iface',
        'r0',
        '--rx',
        mode,
      ]);
      await waitReady(p);
      const cpu0 = cpuMs(p.pid);
      const r = await lab.task<BlastResult>(
        dir,
        TASKS,
        'blast',
        {
          dev: 'd0',
          srcMac: dirMac,
          dstMac: rsMac,
          outerSrc: '198.51.100.1',
          outerDst: '198.51.100.11',
          innerSrc: '203.0.113.10',
          innerDst: '192.0.2.100',
          dport: 9,
          n: N,
          size: 64,
        },
        { timeoutMs: 60_000 },
      ).result;
      await new Promise((res) => setTimeout(res, 500));
      const cpu1 = cpuMs(p.pid);
      p.kill('SIGTERM');
      await p.exited;
      const line =
        p
          .stdout()
          .split('\n')
          .find((l) => l.includes('stopped')) ?? '';
      const c: Record<string, number> = {};
      for (const m of line.matchAll(/(\w+)=(\d+)/g)) c[m[1]] = Number(m[2]);
      const per = ((cpu1 - cpu0) * 1000) / Math.max(1, c.decapsulated);
      console.log(
        `${mode.padEnd(6)} offered ${r.sent} in ${r.ms.toFixed(0)} ms (${Math.round((r.sent / r.ms) * 1000)} pps); ` +
          `decapsulated ${c.decapsulated}, ring drops ${c.ring_drops}; daemon CPU ${(cpu1 - cpu0).toFixed(0)} ms = ` +
          `${per.toFixed(2)} us/packet (~${Math.round(1e6 / per)} pps per core)`,
      );
    }
  } finally {
    await lab.cleanup();
  }
}

void main();
