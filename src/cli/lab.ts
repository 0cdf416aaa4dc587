/** `uvs lab`: the namespace lab, uvs's main job for new users (src/lab/lab.ts). */
import { parseArgs } from 'node:util';
import { LAB_METHODS, type LabMethod, LabRun, type LoadResult } from '../lab/lab.js';

/** Where the director listens inside its namespace (relayed to the host's --web-port). */
const LAB_WEB_PORT = 9180;

const HELP = `Usage: uvs lab [--method nat|dr|tun|all] [--scheduler S] [--duration S] [options]

Builds a lab of network namespaces — a client, a director and three real servers (and a
router for TUN) — runs 'uvs run' in the director, starts a small HTTP server on each real
server that answers with its own name, configures the virtual service with uvsadm, and
sends a bounded client load through the VIP. Then prints which real server answered how
many requests, the 'uvsadm -L -n --stats' table, and one connection's packet path (each hop
with its addresses before and after the director rewrote it). Everything is torn down on
exit, Ctrl-C included. Root only. Addresses are from 198.18.0.0/15 (RFC 2544).

Options:
  --method M        nat, dr, tun or all (default all: one after the other)
  --scheduler S     IPVS scheduler (default rr): rr wrr lc wlc sed nq sh dh lblc lblcr
                    fo ovf mh twos
  --weights W       comma-separated weights of rs1,rs2,rs3 (default 1,1,1)
  --duration S      seconds of client load per method (default 5)
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
  const methods: LabMethod[] =
    v.method === undefined || v.method === 'all' ? [...LAB_METHODS] : [v.method as LabMethod];
  if (!methods.every((m) => LAB_METHODS.includes(m))) {
    process.stderr.write(`uvs lab: unknown method '${v.method}' (nat, dr, tun or all)\n`);
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

  let failed = 0;
  for (const method of methods) {
    if (interrupted) break;
    const lab = new LabRun({
      method,
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
      await runOne(lab, scheduler, weights, duration, requests, concurrency, webPort);
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
  await lab.configure(scheduler, weights);
  if (webPort > 0) {
    const url = await lab.exposeWeb(LAB_WEB_PORT, webPort);
    progress('');
    process.stdout.write(`\n${m}: live page ${url}  (metrics ${url}metrics)\n`);
  }
  const i = lab.info;
  const title = `${m.toUpperCase()} (${i.FORWARD}) — VIP ${i.VIP}:80, scheduler ${scheduler}, real servers ${lab.rips.join(' ')}`;
  const t0 = Date.now();
  const r = await lab.load(duration, requests, concurrency, (p) =>
    progress(
      `${m}: ${((Date.now() - t0) / 1000).toFixed(1)}s  ${p.ok} requests answered, ${p.errors} errors`,
    ),
  );
  progress('');
  const udp = await lab.udpRequest('hello');
  // One fresh connection, traced packet by packet.
  const tracing = lab.ctl(['trace', '12', '4000']);
  await new Promise((res) => setTimeout(res, 200));
  await lab.load(2, 1, 1);
  const trace = await tracing;
  const stats = await lab.uvsadm(['-L', '-n', '--stats']);

  const out: string[] = [];
  out.push('', `== ${title}`, '');
  out.push(...serverTable(r, weights));
  out.push('', `UDP ${i.VIP}:7000 answered: ${udp || '(no answer)'}`);
  out.push('', 'uvsadm -L -n --stats', indent(stats.out));
  out.push(`One connection's packets through the director (${i.CLIENT_IP} -> ${i.VIP}:80):`);
  out.push(indent(trace.out || '(no packet traced)'));
  process.stdout.write(`${out.join('\n')}\n`);
  if (r.ok === 0) throw new Error('no request was answered');
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
      method: { type: 'string' },
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
      help: { type: 'boolean', short: 'h' },
    },
  });
}
