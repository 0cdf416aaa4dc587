/**
 * What the health checkers cost: N real servers, each with a TCP_CHECK every delay_loop
 * (default 1000 servers, 1 s), checked by HealthMonitor's worker thread in a "dir"
 * namespace against a listener in an "rs" namespace that owns the whole 198.18.4.0/22 (an
 * AnyIP local route), so every check is a real handshake to its own address over a veth.
 * Reports the worker thread's CPU time (its own /proc/thread-self/schedstat, so what the
 * main thread and other threads do is not counted), the checks the listener saw, and the
 * process's resident memory.
 *
 *   npx tsx bench/health/cost.ts [--targets 1000] [--delay-loop-ms 1000] [--seconds 30] [--raw]
 *
 * --raw measures the floor instead: the same connects, made by a bare loop of
 * net.connect + destroy on one thread, with none of the checkers' bookkeeping.
 *
 * Needs root (namespaces). Creates uvsbhc-<pid>-dir/-rs and removes them on exit.
 * Measures CPU time, not throughput, so a busy machine changes the result little.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HealthMonitor } from '../../src/health/monitor.js';
import type { CheckTarget } from '../../src/health/spec.js';
import { InetAddr } from '../../src/net/addr.js';

const THIS = fileURLToPath(import.meta.url);
const BASE = 0xc6120400; // 198.18.4.0
const PORT = 80;

interface Opts {
  targets: number;
  delayLoopMs: number;
  seconds: number;
  raw: boolean;
}

function opts(argv: string[]): Opts & { role?: string } {
  const { values } = parseArgs({
    args: argv,
    options: {
      targets: { type: 'string', default: '1000' },
      'delay-loop-ms': { type: 'string', default: '1000' },
      seconds: { type: 'string', default: '30' },
      raw: { type: 'boolean', default: false },
      role: { type: 'string' },
    },
  });
  return {
    targets: Number(values.targets),
    delayLoopMs: Number(values['delay-loop-ms']),
    seconds: Number(values.seconds),
    raw: values.raw ?? false,
    role: values.role,
  };
}

/** rs side: accept and close, counting connections per reported window. */
async function server(): Promise<void> {
  let accepted = 0;
  const srv = net.createServer((s) => {
    accepted++;
    s.on('error', () => {});
    s.destroy();
  });
  srv.listen({ port: PORT, host: '0.0.0.0', backlog: 4096 });
  await new Promise((r) => srv.once('listening', r));
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line === 'count') process.stdout.write(`${JSON.stringify({ accepted })}\n`);
    if (line === 'stop') break;
  }
  srv.close();
}

/** CPU time of the calling thread, ms. */
function threadCpuMs(): number {
  return Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]) / 1e6;
}

/** dir side, --raw: connect and close at the same rate, nothing else. */
async function rawLoop(o: Opts): Promise<void> {
  let i = 0;
  const perTick = Math.max(1, Math.round(o.targets / (o.delayLoopMs / 10)));
  const tick = setInterval(() => {
    for (let k = 0; k < perTick; k++) {
      const s = net.connect({
        host: InetAddr.v4(BASE + 1 + (i++ % o.targets)).toString(),
        port: PORT,
        family: 4,
      });
      const t = setTimeout(() => s.destroy(), 1000);
      s.on('connect', () => {
        clearTimeout(t);
        s.destroy();
      });
      s.on('error', () => clearTimeout(t));
    }
  }, 10);
  await new Promise((r) => setTimeout(r, 5000));
  const c0 = threadCpuMs();
  const p0 = process.cpuUsage();
  const t0 = performance.now();
  process.stdout.write(`${JSON.stringify({ window: 'start' })}\n`);
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  const p1 = process.cpuUsage(p0);
  process.stdout.write(
    `${JSON.stringify({
      window: 'end',
      wallMs: performance.now() - t0,
      workerCpuMs: threadCpuMs() - c0,
      processCpuMs: (p1.user + p1.system) / 1000,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
      up: 0,
      downs: 0,
      meanLatencyMs: 0,
    })}\n`,
  );
  clearInterval(tick);
}

/** dir side: the monitor, sampled after a settling time. */
async function monitor(o: Opts): Promise<void> {
  if (o.raw) return rawLoop(o);
  const targets: CheckTarget[] = [];
  for (let i = 0; i < o.targets; i++) {
    targets.push({
      id: `t${i}`,
      address: InetAddr.v4(BASE + 1 + i),
      port: PORT,
      protocol: 'tcp',
      weight: 1,
      vs: '[198.18.0.100]:tcp:80',
      checkers: [
        {
          kind: 'TCP_CHECK',
          retry: 1,
          delayBeforeRetryMs: 1000,
          delayLoopMs: o.delayLoopMs,
          warmupMs: o.delayLoopMs,
          alpha: false,
          logAllFailures: false,
          connect: { connectTimeoutMs: 1000 },
        },
      ],
    });
  }
  let downs = 0;
  const m = await HealthMonitor.start({
    log: () => {},
    onTransition: (t) => void (t.change === 'down' && downs++),
  });
  await m.reload(targets);
  // Let the warmup spread the first checks, and the JIT settle.
  await new Promise((r) => setTimeout(r, 5000));
  const c0 = await m.threadCpu();
  const p0 = process.cpuUsage();
  const t0 = performance.now();
  process.stdout.write(`${JSON.stringify({ window: 'start' })}\n`);
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  const c1 = await m.threadCpu();
  const p1 = process.cpuUsage(p0);
  const wallMs = performance.now() - t0;
  const rows = await m.snapshot();
  const up = rows.filter((r) => r.state === 'up').length;
  const mean = rows.reduce((s, r) => s + (r.latencyMs ?? 0), 0) / rows.length;
  process.stdout.write(
    `${JSON.stringify({
      window: 'end',
      wallMs,
      workerCpuMs: c1.cpuMs - c0.cpuMs,
      processCpuMs: (p1.user + p1.system) / 1000,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
      up,
      downs,
      meanLatencyMs: mean,
    })}\n`,
  );
  await m.stop();
}

function sh(args: string[]): void {
  execFileSync(args[0], args.slice(1), { stdio: 'ignore' });
}

function child(
  ns: string,
  role: string,
  o: Opts,
): { proc: ChildProcess; lines: AsyncIterableIterator<string> } {
  const proc = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      process.execPath,
      '--import',
      'tsx',
      THIS,
      '--role',
      role,
      '--targets',
      String(o.targets),
      '--delay-loop-ms',
      String(o.delayLoopMs),
      '--seconds',
      String(o.seconds),
      ...(o.raw ? ['--raw'] : []),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  return { proc, lines };
}

async function next(lines: AsyncIterableIterator<string>): Promise<Record<string, unknown>> {
  const r = await lines.next();
  if (r.done) throw new Error('child ended early');
  return JSON.parse(r.value) as Record<string, unknown>;
}

async function main(): Promise<void> {
  const o = opts(process.argv.slice(2));
  if (o.role === 'server') return server();
  if (o.role === 'monitor') return monitor(o);
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces)');
  if (o.targets < 1 || o.targets > 1000) throw new Error('--targets must be 1..1000 (one /22)');
  const dir = `uvsbhc-${process.pid}-dir`;
  const rs = `uvsbhc-${process.pid}-rs`;
  const procs: ChildProcess[] = [];
  const cleanup = () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    for (const ns of [dir, rs]) {
      try {
        sh(['ip', 'netns', 'del', ns]);
      } catch {
        // not there
      }
    }
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    sh(['ip', 'netns', 'add', dir]);
    sh(['ip', 'netns', 'add', rs]);
    sh(['ip', '-n', dir, 'link', 'set', 'lo', 'up']);
    sh(['ip', '-n', rs, 'link', 'set', 'lo', 'up']);
    sh(['ip', '-n', dir, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v0', 'netns', rs]);
    sh(['ip', '-n', dir, 'link', 'set', 'v0', 'up']);
    sh(['ip', '-n', rs, 'link', 'set', 'v0', 'up']);
    sh(['ip', '-n', dir, 'addr', 'add', '198.18.3.1/24', 'dev', 'v0']);
    sh(['ip', '-n', rs, 'addr', 'add', '198.18.3.2/24', 'dev', 'v0']);
    sh(['ip', '-n', dir, 'route', 'add', '198.18.4.0/22', 'via', '198.18.3.2']);
    sh(['ip', '-n', rs, 'route', 'add', 'local', '198.18.4.0/22', 'dev', 'lo']);

    const srv = child(rs, 'server', o);
    procs.push(srv.proc);
    await next(srv.lines);
    const mon = child(dir, 'monitor', o);
    procs.push(mon.proc);
    await next(mon.lines); // window start
    srv.proc.stdin!.write('count\n');
    const a0 = (await next(srv.lines)).accepted as number;
    const end = await next(mon.lines);
    srv.proc.stdin!.write('count\n');
    const a1 = (await next(srv.lines)).accepted as number;
    srv.proc.stdin!.write('stop\n');
    const wallMs = end.wallMs as number;
    const checksPerS = ((a1 - a0) * 1000) / wallMs;
    const cpuMs = end.workerCpuMs as number;
    const share = cpuMs / wallMs;
    const who = o.raw ? 'bare net.connect loop (the floor)' : 'health checkers';
    const thread = o.raw ? 'loop thread' : 'worker thread';
    process.stdout.write(
      [
        `${who}: ${o.targets} real servers, TCP_CHECK every ${o.delayLoopMs} ms, ${Math.round(wallMs / 1000)} s measured`,
        o.raw
          ? `  connections seen by the real servers: ${checksPerS.toFixed(0)}/s`
          : `  checks seen by the real servers: ${checksPerS.toFixed(0)}/s; up ${end.up}/${o.targets}, down transitions ${end.downs}`,
        `  ${thread} CPU: ${cpuMs.toFixed(0)} ms in ${wallMs.toFixed(0)} ms = ${(share * 100).toFixed(1)}% of one core, ${((cpuMs * 1000) / Math.max(1, a1 - a0)).toFixed(1)} us per check`,
        `  whole monitor process CPU (main thread, worker, libuv): ${(((end.processCpuMs as number) / wallMs) * 100).toFixed(1)}% of one core; RSS ${(end.rssMiB as number).toFixed(0)} MiB`,
        o.raw ? '' : `  mean check latency ${(end.meanLatencyMs as number).toFixed(3)} ms`,
        '',
      ].join('\n'),
    );
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    cleanup();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`health cost: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
