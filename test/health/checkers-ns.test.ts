/**
 * Every checker kind against real services in network namespaces. "dir" runs the
 * HealthMonitor (its worker thread) as the director would; "rs" (198.18.1.11, with
 * 198.18.1.12 too) runs the services, each a task process we stop and start. For each
 * kind: stopping the service takes the real server down within
 * connect_timeout*(retry+1) + delay_before_retry*retry + delay_loop, and restarting it
 * brings it back after one success (HTTP: after the failed url and a full pass of the
 * urls, as keepalived does). Slack for process scheduling: SLACK_MS.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CheckTarget } from '../../src/health/spec.js';
import type { TargetState } from '../../src/health/target-health.js';
import { toWire } from '../../src/health/wire.js';
import { createLab, type Lab, type Task } from '../helpers/netns.js';
import { writeSelfSignedCert } from '../helpers/tls-cert.js';
import { EventStream } from './events.js';
import type { MonitorArgs, ServeArgs, ServeResult } from './ns-tasks.js';
import { dns, file, http, misc, ping, smtp, target, tcp, udp, url } from './specs.js';

const TASKS = new URL('./ns-tasks.ts', import.meta.url);
const DIR_IP = '198.18.1.1';
const RS_IP = '198.18.1.11';
const RS2_IP = '198.18.1.12';
const DIR_IP6 = '2001:db8:1::1';
const RS_IP6 = '2001:db8:1::11';
const SLACK_MS = 1200;

// Fast timers for the tests: down within 1000*2 + 500*1 + 1000 = 3500 ms.
const T = {
  delayLoopMs: 1000,
  connectTimeoutMs: 1000,
  retry: 1,
  delayBeforeRetryMs: 500,
  warmupMs: 0,
};
const DOWN_BOUND =
  T.connectTimeoutMs * (T.retry + 1) + T.delayBeforeRetryMs * T.retry + T.delayLoopMs;

let lab: Lab;
let dir: string;
let rs: string;
let work: string;
let seq = 0;

beforeAll(async () => {
  lab = createLab('health');
  dir = await lab.ns('dir');
  rs = await lab.ns('rs');
  await lab.veth({ ns: dir, dev: 'v0' }, { ns: rs, dev: 'v0' });
  await lab.addr(dir, 'v0', `${DIR_IP}/24`);
  await lab.addr(rs, 'v0', `${RS_IP}/24`);
  await lab.addr(rs, 'v0', `${RS2_IP}/24`);
  for (const [ns, a] of [
    [dir, `${DIR_IP6}/64`],
    [rs, `${RS_IP6}/64`],
  ])
    await lab.exec(ns, 'ip', ['addr', 'add', a, 'dev', 'v0', 'nodad']);
  // The kernel sends at most about one ICMP error a second to a peer (icmp_ratelimit); a
  // UDP_CHECK without require_reply would take a suppressed port unreachable for success.
  // Off in the real server's namespace so every probe sees its answer.
  await lab.exec(rs, 'sysctl', ['-q', '-w', 'net.ipv4.icmp_ratelimit=0']);
  work = mkdtempSync(join(tmpdir(), 'uvs-health-'));
});

/** Measured down/up times, printed at the end (what the report quotes). */
const measured: string[] = [];

afterAll(async () => {
  if (measured.length)
    process.stdout.write(
      `health: down bound ${DOWN_BOUND} ms; measured\n  ${measured.join('\n  ')}\n`,
    );
  await lab?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Services still running: stopped after each test whatever happened. */
const running = new Set<Task<ServeResult>>();

afterEach(async () => {
  await Promise.allSettled([...running].map(stopService));
});

function startService(a: ServeArgs): Promise<Task<ServeResult>> {
  const t = lab.task<ServeResult>(
    rs,
    TASKS,
    'serve',
    { maxMs: 90_000, ...a },
    { timeoutMs: 100_000 },
  );
  running.add(t);
  return t.ready.then(() => t);
}

async function stopService(t: Task<ServeResult>): Promise<ServeResult> {
  running.delete(t);
  t.stop();
  return t.result;
}

interface Monitor {
  ev: EventStream;
  task: Task<{ snapshot: unknown[]; cpu: unknown }>;
  added: TargetState[];
  stop(): Promise<void>;
}

async function startMonitor(
  targets: CheckTarget[],
  extra: Partial<MonitorArgs> = {},
): Promise<Monitor> {
  const eventsFile = join(work, `events-${++seq}.jsonl`);
  const task = lab.task<{ snapshot: unknown[]; cpu: unknown }>(
    dir,
    TASKS,
    'monitor',
    { targets: targets.map(toWire), eventsFile, ...extra },
    { timeoutMs: 100_000 },
  );
  const report = (await task.ready) as { added: TargetState[] };
  return {
    ev: new EventStream(eventsFile),
    task,
    added: report.added,
    stop: async () => {
      task.stop();
      await task.result;
    },
  };
}

/** Stops a service, times the down transition, restarts it, times the up transition. */
async function downAndUp(
  m: Monitor,
  id: string,
  svc: Task<ServeResult>,
  restart: () => Promise<Task<ServeResult>>,
  upBound: number,
): Promise<{ down: string; svc: Task<ServeResult>; downMs: number; upMs: number }> {
  const t0 = Date.now();
  await stopService(svc);
  const down = await m.ev.waitTransition(id, 'down', t0, DOWN_BOUND + SLACK_MS + 2000);
  const downMs = down.at - t0;
  expect(downMs).toBeLessThanOrEqual(DOWN_BOUND + SLACK_MS);
  const t1 = Date.now();
  const again = await restart();
  // Timed from when the service answers again (starting its process takes a while).
  const ready = Date.now();
  const up = await m.ev.waitTransition(id, 'up', t1, upBound + SLACK_MS + 2000);
  const upMs = up.at - ready;
  expect(upMs).toBeLessThanOrEqual(upBound + SLACK_MS);
  measured.push(
    `${id} ${down.reason}: down after ${downMs} ms, up ${upMs} ms after the service was back`,
  );
  return { down: down.reason, svc: again, downMs, upMs };
}

describe('TCP_CHECK', () => {
  it('goes down when the listener stops and up when it is back', async () => {
    const svc = await startService({ kind: 'tcp', host: RS_IP, port: 80 });
    const m = await startMonitor([target('a', RS_IP, 80, [tcp(T)])]);
    try {
      expect(m.added).toEqual([{ id: 'a', alive: true, weight: 1 }]);
      await m.ev.waitLog('TCP connection to [198.18.1.11]:tcp:80 success.', 5000);
      const r = await downAndUp(
        m,
        'a',
        svc,
        () => startService({ kind: 'tcp', host: RS_IP, port: 80 }),
        T.delayLoopMs,
      );
      expect(r.down).toBe('TCP_CHECK: refused');
      expect(m.ev.logs()).toContain(
        'TCP_CHECK on service [198.18.1.11]:tcp:80 failed after 1 retries.',
      );
      await stopService(r.svc);
    } finally {
      await m.stop();
    }
  });
});

describe('HTTP_GET', () => {
  const body = 'hello from uvs\n';
  const digest = createHash('md5').update(body).digest('hex');

  it('checks status and digest, goes down and comes back after the failed url and a full pass', async () => {
    const svc = await startService({ kind: 'http', host: RS_IP, port: 80, body });
    const bad503 = await startService({ kind: 'http', host: RS_IP, port: 8080, status: 503 });
    const wrong = await startService({
      kind: 'http',
      host: RS_IP,
      port: 8081,
      body: 'something else',
    });
    const m = await startMonitor([
      target('a', RS_IP, 80, [http([url('/', { digest })], { ...T, httpProtocol: '1.1' })]),
      target('s', RS_IP, 8080, [http([url('/')], T)]),
      target('d', RS_IP, 8081, [http([url('/', { digest })], T)]),
    ]);
    try {
      await m.ev.waitLog('Remote Web server [198.18.1.11]:tcp:80 succeed on service.', 5000);
      expect((await m.ev.waitRow('s', (r) => r.state === 'down', 5000)).reason).toBe('status 503');
      expect((await m.ev.waitRow('d', (r) => r.state === 'down', 5000)).reason).toBe(
        'digest mismatch',
      );
      // One url: the failed url passes, then the full pass a delay_loop later.
      const r = await downAndUp(
        m,
        'a',
        svc,
        () => startService({ kind: 'http', host: RS_IP, port: 80, body }),
        2 * T.delayLoopMs,
      );
      expect(r.down).toBe('HTTP_GET: refused');
      const seen = await stopService(r.svc);
      expect(seen.requestLines[0]).toBe('GET / HTTP/1.1|KeepAliveClient|close');
      expect(seen.hosts[0]).toBe('198.18.1.11:80');
      expect(m.ev.logs()).toContain('MD5 digest success to [198.18.1.11]:tcp:80 url(/)');
    } finally {
      await m.stop();
      await Promise.all([stopService(bad503), stopService(wrong)]);
    }
  });
});

describe('SSL_GET', () => {
  it('speaks TLS with SNI and the virtualhost, and follows the server down and up', async () => {
    const key = join(work, 'key.pem');
    const cert = join(work, 'cert.pem');
    writeSelfSignedCert(key, cert, 'www.uvs.test');
    const start = () =>
      startService({ kind: 'https', host: RS_IP, port: 443, keyFile: key, certFile: cert });
    const svc = await start();
    const m = await startMonitor([
      target('a', RS_IP, 443, [
        http([url('/', { statusCodes: [[200, 200]] })], {
          ...T,
          ssl: true,
          enableSni: true,
          virtualhost: 'www.uvs.test',
        }),
      ]),
    ]);
    try {
      await m.ev.waitLog('Remote Web server [198.18.1.11]:tcp:443 succeed on service.', 5000);
      const r = await downAndUp(m, 'a', svc, start, 2 * T.delayLoopMs);
      expect(r.down).toBe('SSL_GET: refused');
      const seen = await stopService(r.svc);
      expect(seen.servernames).toContain('www.uvs.test');
      expect(seen.hosts[0]).toBe('www.uvs.test');
    } finally {
      await m.stop();
    }
  });
});

describe('UDP_CHECK', () => {
  it('with and without require_reply: an ICMP port unreachable takes it down', async () => {
    const start = () => startService({ kind: 'udp-echo', host: RS_IP, port: 5353 });
    const svc = await start();
    const m = await startMonitor([
      target(
        'r',
        RS_IP,
        5353,
        [udp({ ...T, payloadHex: '75 76 73', requireReply: true, replyHex: '7576XX' })],
        { protocol: 'udp' },
      ),
      target('n', RS_IP, 5353, [udp(T)], { protocol: 'udp' }),
      target(
        'bad',
        RS_IP,
        5353,
        [udp({ ...T, payloadHex: '75 76 73', requireReply: true, replyHex: '7577' })],
        { protocol: 'udp' },
      ),
    ]);
    try {
      await m.ev.waitLog('UDP connection to [198.18.1.11]:udp:5353 success.', 5000);
      expect((await m.ev.waitRow('bad', (r) => r.state === 'down', 5000)).reason).toBe(
        'reply mismatch',
      );
      const t0 = Date.now();
      const r = await downAndUp(m, 'r', svc, start, T.delayLoopMs);
      expect(r.down).toBe('UDP_CHECK: refused');
      // The one without require_reply saw the same port unreachable.
      const n = await m.ev.waitTransition('n', 'down', t0, 1000);
      expect(n.reason).toBe('UDP_CHECK: refused');
      await m.ev.waitTransition('n', 'up', t0, 5000);
      await stopService(r.svc);
    } finally {
      await m.stop();
    }
  });
});

describe('DNS_CHECK', () => {
  it('needs an answer with RCODE 0; follows the answerer down and up', async () => {
    const start = () => startService({ kind: 'dns', host: RS_IP, port: 53 });
    const svc = await start();
    const refusing = await startService({ kind: 'dns', host: RS2_IP, port: 53, rcode: 5 });
    const m = await startMonitor([
      target('a', RS_IP, 53, [dns({ ...T, type: 'A', name: 'www.uvs.test' })], { protocol: 'udp' }),
      target('r', RS2_IP, 53, [dns(T)], { protocol: 'udp' }),
    ]);
    try {
      await m.ev.waitRow('a', (r) => r.lastResult === 'ok', 5000);
      expect((await m.ev.waitRow('r', (r) => r.state === 'down', 5000)).reason).toBe('rcode 5');
      expect(m.ev.logs()).toContain(
        'DNS_CHECK ([198.18.1.12]:udp:53) read error occurred. (rcode = 5)',
      );
      const r = await downAndUp(m, 'a', svc, start, T.delayLoopMs);
      expect(r.down).toBe('DNS_CHECK: refused');
      await stopService(r.svc);
    } finally {
      await m.stop();
      await stopService(refusing);
    }
  });
});

describe('SMTP_CHECK', () => {
  it('talks 220 / HELO / 250 / QUIT and follows the server down and up', async () => {
    const start = () => startService({ kind: 'smtp', host: RS_IP, port: 25 });
    const svc = await start();
    const m = await startMonitor([target('a', RS_IP, 25, [smtp(T)])]);
    try {
      await m.ev.waitRow('a', (r) => r.lastResult === 'ok', 5000);
      const r = await downAndUp(m, 'a', svc, start, T.delayLoopMs);
      expect(r.down).toBe('SMTP_CHECK: refused');
      expect(m.ev.logs()).toContain('SMTP_CHECK Error connecting to server [198.18.1.11]:tcp:25');
      const seen = await stopService(r.svc);
      expect(seen.requestLines.slice(0, 2)).toEqual(['HELO smtpchecker.keepalived.org', 'QUIT']);
    } finally {
      await m.stop();
    }
  });
});

describe('PING_CHECK', () => {
  it('follows ICMP echo replies', async () => {
    const m = await startMonitor([target('a', RS_IP, 80, [ping(T)])]);
    const echo = (off: 0 | 1) =>
      lab.exec(rs, 'sysctl', ['-q', '-w', `net.ipv4.icmp_echo_ignore_all=${off}`]);
    try {
      await m.ev.waitLog('ICMP connection to [198.18.1.11]:tcp:80 success.', 5000);
      const t0 = Date.now();
      await echo(1);
      const down = await m.ev.waitTransition('a', 'down', t0, DOWN_BOUND + SLACK_MS + 2000);
      expect(down.at - t0).toBeLessThanOrEqual(DOWN_BOUND + SLACK_MS);
      expect(down.reason).toBe('PING_CHECK: timeout');
      const t1 = Date.now();
      await echo(0);
      const up = await m.ev.waitTransition('a', 'up', t1, T.delayLoopMs + SLACK_MS + 2000);
      expect(up.at - t1).toBeLessThanOrEqual(T.delayLoopMs + SLACK_MS);
      measured.push(
        `a ${down.reason}: down after ${down.at - t0} ms, up ${up.at - t1} ms after echo was back`,
      );
    } finally {
      await echo(0);
      await m.stop();
    }
  });
});

describe('MISC_CHECK', () => {
  it('misc_dynamic: exit 0 keeps the weight, 2..255 set it to exit-2, 1 fails', async () => {
    const code = join(work, 'code');
    const script = join(work, 'check.sh');
    writeFileSync(script, `#!/bin/sh\nexit $(cat ${code})\n`, { mode: 0o755 });
    writeFileSync(code, '0');
    const m = await startMonitor([
      target('a', RS_IP, 80, [misc([script], { ...T, dynamic: true, timeoutMs: 2000 })], {
        weight: 4,
      }),
    ]);
    try {
      await m.ev.waitLog(
        `Misc check for [[198.18.1.11]:tcp:80 VS [198.18.0.100]:tcp:80] by [${script}] succeeded.`,
        5000,
      );
      let t = Date.now();
      writeFileSync(code, '12');
      expect((await m.ev.waitTransition('a', 'weight', t, 4000)).weight).toBe(10);
      t = Date.now();
      writeFileSync(code, '255');
      expect((await m.ev.waitTransition('a', 'weight', t, 4000)).weight).toBe(253);
      t = Date.now();
      writeFileSync(code, '1');
      const down = await m.ev.waitTransition('a', 'down', t, 4000);
      expect(down.reason).toBe('MISC_CHECK: exit 1');
      t = Date.now();
      writeFileSync(code, '0');
      const up = await m.ev.waitTransition('a', 'up', t, 4000);
      expect(up.weight).toBe(4);
    } finally {
      await m.stop();
    }
  });

  it('a script that forks and hangs is killed with its children, SIGTERM then SIGKILL', async () => {
    const marker = `98${Date.now() % 100000}.5`;
    const script = join(work, 'hang.sh');
    // Ignores SIGTERM (and so do its children): only the SIGKILL 2 s later ends them.
    writeFileSync(script, `#!/bin/sh\ntrap '' TERM\nsleep ${marker} &\nsleep ${marker}\n`, {
      mode: 0o755,
    });
    const m = await startMonitor([
      target('a', RS_IP, 80, [
        misc([script], { ...T, retry: 0, delayLoopMs: 30_000, timeoutMs: 1000 }),
      ]),
    ]);
    try {
      const t0 = Date.now();
      const down = await m.ev.waitTransition('a', 'down', t0, 8000);
      expect(down.reason).toBe('MISC_CHECK: timeout');
      // bootstrap 1 s + misc_timeout 1 s + 2 s to SIGKILL
      expect(down.at - t0).toBeLessThanOrEqual(4000 + SLACK_MS);
      expect(m.ev.logs()).toContain(
        `Misc check for [[198.18.1.11]:tcp:80 VS [198.18.0.100]:tcp:80] by [${script}] timed out.`,
      );
      await new Promise((r) => setTimeout(r, 300));
      expect(processesWith(marker)).toEqual([]);
    } finally {
      await m.stop();
    }
    expect(processesWith(marker)).toEqual([]);
  });
});

describe('FILE_CHECK', () => {
  it('a non-zero value fails a weight-0 file; a weighted file adds value x weight', async () => {
    const f0 = join(work, 'state0');
    const f1 = join(work, 'state1');
    writeFileSync(f0, '0\n');
    writeFileSync(f1, '0\n');
    const m = await startMonitor([
      target('z', RS_IP, 80, [file(f0, { weight: 0 })]),
      target('w', RS_IP, 81, [file(f1, { weight: 5 })], { weight: 2 }),
    ]);
    try {
      let t = Date.now();
      writeFileSync(f0, '1\n');
      await m.ev.waitTransition('z', 'down', t, 3000);
      t = Date.now();
      writeFileSync(f0, '0\n');
      await m.ev.waitTransition('z', 'up', t, 3000);
      t = Date.now();
      writeFileSync(f1, '3\n');
      expect((await m.ev.waitTransition('w', 'weight', t, 3000)).weight).toBe(17);
      t = Date.now();
      rmSync(f1);
      expect((await m.ev.waitTransition('w', 'weight', t, 3000)).weight).toBe(2);
    } finally {
      await m.stop();
    }
  });
});

describe('IPv6', () => {
  it('HTTP_GET sends Host [addr]:port; PING_CHECK pings over ICMPv6', async () => {
    const start = () => startService({ kind: 'http', host: RS_IP6, port: 80 });
    const svc = await start();
    const m = await startMonitor([
      target('h', RS_IP6, 80, [http([url('/')], T)]),
      target('p', RS_IP6, 80, [ping(T)]),
    ]);
    try {
      await m.ev.waitLog('Remote Web server [2001:db8:1::11]:tcp:80 succeed on service.', 5000);
      await m.ev.waitLog('ICMP connection to [2001:db8:1::11]:tcp:80 success.', 5000);
      const r = await downAndUp(m, 'h', svc, start, 2 * T.delayLoopMs);
      expect(r.down).toBe('HTTP_GET: refused');
      const seen = await stopService(r.svc);
      expect(seen.hosts[0]).toBe('[2001:db8:1::11]:80');
      expect(m.ev.transitions().filter((t) => t.targetId === 'p')).toEqual([]);
    } finally {
      await m.stop();
    }
  });
});

describe('hostile servers', () => {
  it('garbage, an endless body, silence, a slowloris header, an endless SMTP line: each fails within its timeout', async () => {
    const kinds = ['garbage', 'endless', 'silent', 'slowloris'] as const;
    const svcs = await Promise.all(
      kinds.map((kind, i) => startService({ kind, host: RS_IP, port: 9000 + i })),
    );
    const smtpSvc = await startService({ kind: 'smtp-endless', host: RS_IP, port: 9025 });
    const H = { ...T, delayLoopMs: 30_000, connectTimeoutMs: 2000, retry: 0 };
    const m = await startMonitor([
      ...kinds.map((k, i) => target(k, RS_IP, 9000 + i, [http([url('/')], H)])),
      target('smtp', RS_IP, 9025, [smtp(H)]),
    ]);
    try {
      const want: Record<string, string> = {
        garbage: 'no data',
        endless: 'body over 16 MiB',
        silent: 'read timeout',
        slowloris: 'read timeout',
        smtp: 'timeout',
      };
      for (const [id, reason] of Object.entries(want)) {
        const row = await m.ev.waitRow(id, (r) => r.lastResult === 'fail', 8000);
        expect([id, row.reason]).toEqual([id, reason]);
        expect(row.latencyMs).toBeLessThanOrEqual(H.connectTimeoutMs + 250);
        expect(row.state).toBe('down');
      }
    } finally {
      await m.stop();
      await Promise.all([...svcs, smtpSvc].map(stopService));
    }
  });
});

/** Processes (any namespace) whose command line contains `marker`. */
function processesWith(marker: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,pgid,args'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(marker) && !l.includes('ps -eo'));
}
