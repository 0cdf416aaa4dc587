/**
 * Do health checks slow forwarding down? The director runs from a keepalived.conf in the
 * NAT lab; 64-byte UDP (bench/c/udpgen, one core, as fast as it can) goes through the VIP
 * to three real servers, which count and drop it. Two configurations alternate, A B A B
 * ..., each measured for --seconds after a SIGHUP reload and a settling time:
 *
 *   A  the UDP service only (no checkers);
 *   B  the same, plus a virtual server with --targets real servers (default 1000), each
 *      with a TCP_CHECK every --delay-loop seconds (default 1). The real servers are
 *      198.18.4.1... on rs3, which owns 198.18.4.0/22 (an AnyIP local route) and accepts
 *      on port 81, so every check is a real handshake crossing the director's interface.
 *
 * Reports the forwarded packets per second (counted at the real servers) for each run, the
 * medians, B/A, and the director process's CPU (all its threads: the checkers' worker
 * thread is one of them) and the machine's load when each run started. Needs root.
 *
 *   npx tsx bench/health/forwarding.ts [--targets 1000] [--delay-loop 1] [--seconds 10] [--reps 3]
 *                                      [--out bench/results/health-forwarding-latest.json]
 *
 * The machine is shared: run it when `uptime` shows a load below 1 (each run records its
 * load), else read the numbers as an upper bound of the cost.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LabRun } from '../../src/lab/lab.js';
import { CLK_TCK, procTicks } from '../netns/sys.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const UDP_PORT = 9;
const CHECK_PORT = 81;
const FARM = 0xc6120400; // 198.18.4.0/22

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: '1000' },
    'delay-loop': { type: 'string', default: '1' },
    seconds: { type: 'string', default: '10' },
    reps: { type: 'string', default: '3' },
    settle: { type: 'string', default: '6' },
    prefix: { type: 'string', default: `uvsbhf${process.pid % 10000}` },
    out: { type: 'string', default: join(ROOT, 'bench/results/health-forwarding-latest.json') },
  },
});
const targets = Number(values.targets);
const delayLoop = Number(values['delay-loop']);
const seconds = Number(values.seconds);
const reps = Number(values.reps);
const settle = Number(values.settle);
if (!(targets >= 1 && targets <= 1020)) throw new Error('--targets wants 1..1020');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ip = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

function udpService(rips: string[], vip: string): string {
  return `
global_defs {
    router_id BENCH
}

virtual_server ${vip} ${UDP_PORT} {
    lb_algo rr
    lb_kind NAT
    protocol UDP
${rips.map((r) => `    real_server ${r} ${UDP_PORT} {\n        weight 1\n    }`).join('\n')}
}
`;
}

function checkedService(vip: string): string {
  const rs: string[] = [];
  for (let i = 1; i <= targets; i++)
    rs.push(`    real_server ${ip(FARM + i)} ${CHECK_PORT} {
        TCP_CHECK {
            connect_timeout 1
        }
    }`);
  return `
virtual_server ${vip} ${CHECK_PORT} {
    delay_loop ${delayLoop}
    lb_algo rr
    lb_kind NAT
    protocol TCP
${rs.join('\n')}
}
`;
}

interface Run {
  config: 'A' | 'B';
  pps: number;
  directorCores: number;
  load1: number;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'uvs-bench-hf-'));
  const conf = join(work, 'keepalived.conf');
  const lab = new LabRun({ method: 'nat', prefix: values.prefix, runArgs: ['--keepalived', conf] });
  const stop = () => {
    lab.down().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await lab.readPlan();
    const vip = lab.info.VIP;
    const A = udpService(lab.rips, vip);
    const B = A + checkedService(vip);
    writeFileSync(conf, A);
    const udpgen = join(work, 'udpgen');
    execFileSync('cc', ['-O2', '-Wall', '-o', udpgen, join(ROOT, 'bench/c/udpgen.c')]);
    await lab.up();
    // The check farm: rs3 owns 198.18.4.0/22 and accepts (then closes) on port 81.
    await lab.exec('rs3', ['ip', 'route', 'add', 'local', `${ip(FARM)}/22`, 'dev', 'lo']);
    await lab.exec('dir', ['ip', 'route', 'add', `${ip(FARM)}/22`, 'via', lab.rips[2]]);
    await lab.spawn(
      'check farm',
      lab.ns('rs3'),
      [
        process.execPath,
        '-e',
        `require('node:net').createServer((s) => { s.on('error', () => {}); s.destroy(); })` +
          `.listen({ port: ${CHECK_PORT}, host: '0.0.0.0', backlog: 4096 }, () => console.log('ready'));` +
          'setTimeout(() => process.exit(0), 3600e3);',
      ],
      /ready/,
    );
    for (let n = 1; n <= 3; n++) {
      const nft = (a: string[]) => lab.exec(`rs${n}`, ['nft', ...a]);
      await nft(['add', 'table', 'inet', 'sink']);
      await nft([
        'add',
        'chain',
        'inet',
        'sink',
        'in',
        '{ type filter hook input priority -10 ; }',
      ]);
      await nft([
        'add',
        'rule',
        'inet',
        'sink',
        'in',
        'udp',
        'dport',
        String(UDP_PORT),
        'counter',
        'drop',
      ]);
    }
    const sunk = async () => {
      let sum = 0;
      for (let n = 1; n <= 3; n++) {
        const r = await lab.exec(`rs${n}`, ['nft', 'list', 'chain', 'inet', 'sink', 'in']);
        sum += Number(/counter packets (\d+)/.exec(r.out)?.[1] ?? 0);
      }
      return sum;
    };
    const pid = lab.directorPid;
    if (pid === undefined) throw new Error('no director');
    const runs: Run[] = [];
    let current = 'A';
    for (let rep = 0; rep < reps; rep++) {
      for (const cfg of ['A', 'B'] as const) {
        if (cfg !== current) {
          writeFileSync(conf, cfg === 'A' ? A : B);
          const before = lab.directorOutput().split('Reloaded:').length;
          lab.reloadDirector();
          for (let i = 0; i < 300 && lab.directorOutput().split('Reloaded:').length === before; i++)
            await sleep(100);
          current = cfg;
        }
        await sleep(settle * 1000);
        if (cfg === 'B') {
          const c = await lab.ctl(['checks']);
          const up = c.out.split('\n').filter((l) => / up\s+ok /.test(l)).length;
          process.stderr.write(`B: ${up}/${targets} checkers up\n`);
        }
        const load1 = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
        const s0 = await sunk();
        const p0 = procTicks(pid) ?? 0;
        const t0 = performance.now();
        await lab.exec('client', [
          udpgen,
          'eth0',
          lab.info.DIR_CLIENT_MAC,
          lab.info.CLIENT_IP,
          vip,
          String(UDP_PORT),
          '256',
          String(seconds),
          '1000000000',
        ]);
        const secs = (performance.now() - t0) / 1000;
        await sleep(300);
        const pps = ((await sunk()) - s0) / secs;
        const directorCores = ((procTicks(pid) ?? 0) - p0) / CLK_TCK / secs;
        runs.push({ config: cfg, pps, directorCores, load1 });
        process.stderr.write(
          `${cfg} rep ${rep + 1}: ${Math.round(pps)} pps forwarded, director ${directorCores.toFixed(2)} cores, load ${load1}\n`,
        );
      }
    }
    const med = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    };
    const a = med(runs.filter((r) => r.config === 'A').map((r) => r.pps));
    const b = med(runs.filter((r) => r.config === 'B').map((r) => r.pps));
    const result = {
      when: new Date().toISOString(),
      cpus: cpus().length,
      targets,
      delayLoopS: delayLoop,
      seconds,
      reps,
      medianPpsA: Math.round(a),
      medianPpsB: Math.round(b),
      ratioBA: Number((b / a).toFixed(3)),
      runs,
    };
    const text = `${JSON.stringify(result, null, 2)}\n`;
    process.stdout.write(text);
    writeFileSync(values.out as string, text);
  } finally {
    await lab.down();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
