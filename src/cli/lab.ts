/** `uvs lab`: the namespace lab, uvs's main job for new users (src/lab/lab.ts). */
import { parseArgs } from 'node:util';
import type { EcmpLab } from '../lab/ecmp-lab.js';
import { HaLab } from '../lab/ha-lab.js';
import { runHaScene } from '../lab/ha-scene.js';
import { runHealthScene, writeSceneConfig } from '../lab/health-scene.js';
import {
  hostPort,
  LAB_METHODS,
  type LabFamily,
  type LabMethod,
  LabRun,
  type LoadResult,
} from '../lab/lab.js';
import { runEcmpLab } from './lab-ecmp.js';

/** Where the director listens inside its namespace (relayed to the host's --web-port). */
const LAB_WEB_PORT = 9180;

const HELP = `Usage: uvs lab [--method nat|dr|tun|ecmp|all] [--family 4|6|both] [--scheduler S]
               [--duration S] [options]
       uvs lab --scene health [--method nat|dr|tun] [--duration S]
       uvs lab --scene ha [--method nat|dr]

Builds a lab of network namespaces — a client, a director and three real servers (and a
router for TUN) — runs 'uvs run' in the director, starts a small HTTP server on each real
server that answers with its own name, configures the virtual service with uvsadm, and
sends a bounded client load through the VIP. Then prints which real server answered how
many requests, the 'uvsadm -L -n --stats' table, and one connection's packet path (each hop
with its addresses before and after the director rewrote it). Everything is torn down on
exit, Ctrl-C included. Root only. Addresses are from 198.18.0.0/15 (RFC 2544) and, for
IPv6, 2001:db8::/32 (documentation); every wire carries both families.

--method ecmp is the scale-out lab: a router running BIRD spreads the clients over N
directors with ECMP; each director runs uvs (--announce) and BIRD, which announces the VIP
over BGP while uvs runs. It shows which director and which real server carries each of a
few long-lived connections, kills one director's uvs, and shows its flows moving to the
others while they keep their real servers (mh, sloppy_tcp=1). Needs BIRD (bird2).

With --scene health the director runs from a keepalived.conf (HTTP_GET on every real
server, delay_loop 1 s); midway through the load the lab kills rs2's application and
later starts it again, and shows the checker taking rs2 out and putting it back, with the
requests each real server answered before, while rs2 was out, and after.

With --scene ha two directors run uvs from a keepalived.conf each: a vrrp_sync_group (the
VIP outside, the real servers' gateway inside) and lvs_sync_daemon between them. Under a
client load (a long transfer, long-lived and new connections, a UDP stream) the lab
SIGKILLs the master and shows the backup taking over: the takeover time, the connections
each director held, and what the client saw (resets, lost datagrams, the transfer's bytes).

Options:
  --scene S         forwarding (default), health or ha
  --method M        nat, dr, tun, ecmp or all (default all: nat, dr and tun, one after
                    the other; health: nat)
  --family F        4, 6 or both (default 4; forwarding scene, nat/dr/tun): the service's
                    and the client's address family; both configures an IPv4 and an IPv6
                    service on the same real servers and loads one, then the other
  --scheduler S     IPVS scheduler (default rr; mh for ecmp): rr wrr lc wlc sed nq sh dh
                    lblc lblcr fo ovf mh twos
  --directors N     ecmp: directors behind the router (default 3, at most 8)
  --forward M       ecmp: tun (default) or dr
  --flows N         ecmp: long-lived connections to follow (default 12)
  --weights W       comma-separated weights of rs1,rs2,rs3 (default 1,1,1)
  --duration S      seconds of client load per method (default 5; health: 12, a third
                    before the kill and a third after rs2 is back)
  --requests N      stop the load after N requests (default 5000)
  --concurrency N   parallel client connections (default 4)
  --workers N       datapath worker threads for 'uvs run' (default 1)
  --no-offload      turn veth offloads (TSO/GSO/checksum) off
  --prefix P        namespace prefix (default uvslab)
  --web-port N      the director serves its live page and /metrics ('uvs run --listen'),
                    relayed to http://127.0.0.1:N/ on this host (default 9180; 0: off)
  --hold            keep the last lab running after its load, until Ctrl-C (to look at
                    the live page and the packet-path view)
  -h, --help        show this text
`;

export async function main(argv: string[]): Promise<number> {
  let v: ReturnType<typeof parse>['values'];
  try {
    v = parse(argv).values;
  } catch (e) {
    process.stderr.write(`uvs lab: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const scene = v.scene ?? 'forwarding';
  if (scene !== 'forwarding' && scene !== 'health' && scene !== 'ha') {
    process.stderr.write(`uvs lab: unknown scene '${scene}' (forwarding, health or ha)\n`);
    return 2;
  }
  if (scene === 'ha') return haScene(v);
  const methods: LabMethod[] =
    v.method === undefined || v.method === 'all'
      ? scene === 'health'
        ? ['nat']
        : [...LAB_METHODS]
      : [v.method as LabMethod];
  const fam = v.family ?? '4';
  if (fam !== '4' && fam !== '6' && fam !== 'both') {
    process.stderr.write(`uvs lab: unknown family '${fam}' (4, 6 or both)\n`);
    return 2;
  }
  if (fam !== '4' && (scene === 'health' || v.method === 'ecmp')) {
    process.stderr.write('uvs lab: --family 6 and both are for the nat, dr and tun labs\n');
    return 2;
  }
  const families: LabFamily[] = fam === 'both' ? [4, 6] : [Number(fam) as LabFamily];
  if (v.method === 'ecmp') return ecmp(v);
  if (!methods.every((m) => LAB_METHODS.includes(m))) {
    process.stderr.write(`uvs lab: unknown method '${v.method}' (nat, dr, tun, ecmp or all)\n`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('uvs lab: must run as root (network namespaces)\n');
    return 1;
  }
  const scheduler = v.scheduler ?? 'rr';
  const weights = (v.weights ?? '1,1,1').split(',').map(Number);
  const duration = Number(v.duration ?? 5);
  const requests = Number(v.requests ?? 5000);
  const concurrency = Number(v.concurrency ?? 4);
  const webPort = Number(v['web-port'] ?? 9180);
  if (![duration, requests, concurrency, ...weights].every((n) => Number.isFinite(n) && n >= 0)) {
    process.stderr.write(
      'uvs lab: --duration, --requests, --concurrency and --weights take numbers\n',
    );
    return 2;
  }
  if (!Number.isInteger(webPort) || webPort < 0 || webPort > 65535) {
    process.stderr.write('uvs lab: --web-port wants 0..65535\n');
    return 2;
  }

  let current: LabRun | null = null;
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write('\nuvs lab: interrupted, tearing down...\n');
    const c = current;
    (c ? c.down() : Promise.resolve()).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  if (scene === 'health') {
    const method = methods[0];
    const prefix = v.prefix ?? 'uvslab';
    const plan = new LabRun({ method, prefix });
    await plan.readPlan();
    const cfg = writeSceneConfig(plan.info.VIP, plan.rips);
    const lab = new LabRun({
      method,
      prefix,
      noOffload: v['no-offload'],
      runArgs: [
        '--keepalived',
        cfg.path,
        ...(v.workers !== undefined ? ['--workers', v.workers] : []),
        ...(webPort > 0 ? ['--listen', String(LAB_WEB_PORT)] : []),
      ],
      log: (l) => progress(`health: ${l}`),
    });
    current = lab;
    try {
      progress('health: building the topology and starting the director');
      const report = await runHealthScene(lab, {
        confPath: cfg.path,
        ...(v.duration !== undefined ? { before: duration / 3, after: duration / 3 } : {}),
        concurrency,
        progress: (l) => progress(`health: ${l}`),
        ...(webPort > 0
          ? {
              onUp: async () => {
                const url = await lab.exposeWeb(LAB_WEB_PORT, webPort);
                progress('');
                process.stdout.write(`\nhealth: live page ${url}  (metrics ${url}metrics)\n`);
              },
            }
          : {}),
      });
      progress('');
      process.stdout.write(`${report}\n`);
      return 0;
    } catch (e) {
      process.stdout.write(`\nhealth: FAILED: ${(e as Error).message}\n`);
      return 1;
    } finally {
      progress('health: tearing down');
      await lab
        .down()
        .catch((e: unknown) => process.stderr.write(`teardown: ${(e as Error).message}\n`));
      cfg.remove();
      progress('');
    }
  }

  let failed = 0;
  for (const method of methods) {
    if (interrupted) break;
    const lab = new LabRun({
      method,
      family: families[0],
      prefix: v.prefix ?? 'uvslab',
      noOffload: v['no-offload'],
      runArgs: [
        ...(v.workers !== undefined ? ['--workers', v.workers] : []),
        ...(webPort > 0 ? ['--listen', String(LAB_WEB_PORT)] : []),
      ],
      log: (l) => progress(`${method}: ${l}`),
    });
    current = lab;
    try {
      await runOne(lab, families, scheduler, weights, duration, requests, concurrency, webPort);
      if (v.hold && method === methods[methods.length - 1] && !interrupted) {
        process.stdout.write('\nThe lab keeps running; Ctrl-C tears it down.\n');
        await new Promise<never>(() => {});
      }
    } catch (e) {
      failed++;
      process.stdout.write(`\n${method}: FAILED: ${(e as Error).message}\n`);
    } finally {
      progress(`${method}: tearing down`);
      await lab
        .down()
        .catch((e: unknown) => process.stderr.write(`teardown: ${(e as Error).message}\n`));
      progress('');
      current = null;
    }
  }
  return failed === 0 ? 0 : 1;
}

async function runOne(
  lab: LabRun,
  families: readonly LabFamily[],
  scheduler: string,
  weights: number[],
  duration: number,
  requests: number,
  concurrency: number,
  webPort: number,
): Promise<void> {
  const m = lab.method;
  progress(`${m}: building the topology and starting the director`);
  await lab.up();
  for (const f of families) await lab.configure(scheduler, weights, [], f);
  if (webPort > 0) {
    const url = await lab.exposeWeb(LAB_WEB_PORT, webPort);
    progress('');
    process.stdout.write(`\n${m}: live page ${url}  (metrics ${url}metrics)\n`);
  }
  const i = lab.info;
  for (const f of families) {
    const vip = hostPort(lab.vipOf(f));
    const title = `${m.toUpperCase()} (${i.FORWARD}) — VIP ${vip}:80, scheduler ${scheduler}, real servers ${lab.ripsOf(f).join(' ')}`;
    const t0 = Date.now();
    const r = await lab.load(
      duration,
      requests,
      concurrency,
      (p) =>
        progress(
          `${m} IPv${f}: ${((Date.now() - t0) / 1000).toFixed(1)}s  ${p.ok} requests answered, ${p.errors} errors`,
        ),
      80,
      undefined,
      f,
    );
    progress('');
    const udp = await lab.udpRequest('hello', f);
    // One fresh connection, traced packet by packet.
    const tracing = lab.ctl(['trace', '12', '4000']);
    await new Promise((res) => setTimeout(res, 200));
    await lab.load(2, 1, 1, undefined, 80, undefined, f);
    const trace = await tracing;
    const out: string[] = [];
    out.push('', `== ${title}`, '');
    out.push(...serverTable(r, weights));
    out.push('', `UDP ${vip}:7000 answered: ${udp || '(no answer)'}`);
    out.push(
      '',
      `One connection's packets through the director (${hostPort(lab.clientOf(f))} -> ${vip}:80):`,
    );
    out.push(indent(trace.out || '(no packet traced)'));
    process.stdout.write(`${out.join('\n')}\n`);
    if (r.ok === 0) throw new Error(`no request was answered over IPv${f}`);
  }
  const stats = await lab.uvsadm(['-L', '-n', '--stats']);
  process.stdout.write(`\nuvsadm -L -n --stats\n${indent(stats.out)}`);
}

/** --method ecmp (lab-ecmp.ts). */
async function ecmp(v: ReturnType<typeof parse>['values']): Promise<number> {
  const directors = Number(v.directors ?? 3);
  const flows = Number(v.flows ?? 12);
  const seconds = Number(v.duration ?? 3);
  const forward = v.forward ?? 'tun';
  if (!Number.isInteger(directors) || directors < 2 || directors > 8) {
    process.stderr.write('uvs lab: --directors wants 2..8 for ecmp\n');
    return 2;
  }
  if (!Number.isInteger(flows) || flows < 1 || flows > 200) {
    process.stderr.write('uvs lab: --flows wants 1..200\n');
    return 2;
  }
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > 60) {
    process.stderr.write('uvs lab: --duration wants 1..60 seconds for ecmp\n');
    return 2;
  }
  if (forward !== 'tun' && forward !== 'dr') {
    process.stderr.write(`uvs lab: --forward wants tun or dr, got '${forward}'\n`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('uvs lab: must run as root (network namespaces)\n');
    return 1;
  }
  let lab: EcmpLab | null = null;
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write('\nuvs lab: interrupted, tearing down...\n');
    (lab ? lab.down() : Promise.resolve()).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await runEcmpLab({
      prefix: v.prefix ?? 'uvslab',
      directors,
      scheduler: v.scheduler ?? 'mh',
      forward,
      flows,
      seconds,
      workers: v.workers,
      noOffload: v['no-offload'],
      progress,
      onLab: (l) => {
        lab = l;
      },
    });
    return 0;
  } catch (e) {
    process.stdout.write(`\necmp: FAILED: ${(e as Error).message}\n`);
    return 1;
  }
}

function serverTable(r: LoadResult, weights: number[]): string[] {
  const names = Object.keys(r.byServer).sort();
  const rows = [`Requests per real server (${r.ok} answered, ${r.errors} errors):`];
  names.forEach((n) => {
    const c = r.byServer[n];
    const pct = r.ok > 0 ? ((100 * c) / r.ok).toFixed(1) : '0';
    const w = weights[Number(n.replace(/\D/g, '')) - 1] ?? 1;
    rows.push(`  ${n.padEnd(6)} ${String(c).padStart(7)}  ${pct.padStart(5)}%   weight ${w}`);
  });
  if (Object.keys(r.errorKinds).length > 0) rows.push(`  errors: ${JSON.stringify(r.errorKinds)}`);
  return rows;
}

function indent(s: string): string {
  return s
    .trimEnd()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')
    .concat('\n');
}

let lastLen = 0;
function progress(s: string): void {
  if (!process.stderr.isTTY) {
    if (s !== '') process.stderr.write(`${s}\n`);
    return;
  }
  process.stderr.write(`\r${s.padEnd(lastLen)}\r${s}`);
  lastLen = s.length;
  if (s === '') process.stderr.write('\r');
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      scene: { type: 'string' },
      method: { type: 'string' },
      family: { type: 'string' },
      scheduler: { type: 'string' },
      weights: { type: 'string' },
      duration: { type: 'string' },
      requests: { type: 'string' },
      concurrency: { type: 'string' },
      'no-offload': { type: 'boolean' },
      workers: { type: 'string' },
      prefix: { type: 'string' },
      'web-port': { type: 'string' },
      hold: { type: 'boolean' },
      directors: { type: 'string' },
      forward: { type: 'string' },
      flows: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

async function haScene(v: ReturnType<typeof parse>['values']): Promise<number> {
  const method = v.method ?? 'nat';
  if (method !== 'nat' && method !== 'dr') {
    process.stderr.write(`uvs lab: --scene ha runs nat or dr, not '${method}'\n`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('uvs lab: must run as root (network namespaces)\n');
    return 1;
  }
  const lab = new HaLab(v.prefix ?? 'uvsha');
  const onSignal = () => {
    process.stderr.write('\nuvs lab: interrupted, tearing down...\n');
    lab.down().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const report = await runHaScene(lab, {
      method,
      progress: (l) => process.stderr.write(`ha: ${l}\n`),
    });
    process.stdout.write(`${report}\n`);
    return 0;
  } catch (e) {
    process.stdout.write(`\nha: FAILED: ${(e as Error).message}\n`);
    return 1;
  } finally {
    process.stderr.write('ha: tearing down\n');
    await lab.down();
  }
}
