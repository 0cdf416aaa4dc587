/**
 * `uvs run --keepalived FILE` end to end in the NAT lab: a client, the director and three
 * real servers running real services (the lab's HTTP + UDP echo, and HTTPS, DNS and SMTP
 * from rs-service.ts). For each checker kind: stopping the service on rs2 takes it out of
 * the table within connect_timeout*(retry+1) + delay_before_retry*retry + delay_loop (plus
 * SLACK_MS for a shared machine), and from then on no new connection reaches rs2 (client
 * SYNs counted at rs2 by an nftables counter) while a client load runs; restarting it brings
 * rs2 back. Then inhibit_on_failure (a transfer to the inhibited server finishes), quorum
 * and the sorry server (with their scripts and lvs_notify_fifo lines), misc_dynamic
 * weights, a SIGHUP reload under a long transfer, and the README's config at startup.
 * Configurations change by SIGHUP between tests; each test waits for its table first.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabRun } from '../../src/lab/lab.js';
import { FifoReader } from '../helpers/fifo-reader.js';
import { requireRoot } from '../helpers/netns.js';
import { writeSelfSignedCert } from '../helpers/tls-cert.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SLACK_MS = 2000;
const VIP = '198.18.0.100';
const RIPS = ['198.18.1.11', '198.18.1.12', '198.18.1.13'];
/** rs-app's /slow: 40 chunks of 32 KiB, one every 200 ms. */
const SLOW_BYTES = 40 * 32 * 1024;
const CLIENT = '198.18.0.10';
const SERVICE = fileURLToPath(new URL('./rs-service.ts', import.meta.url));
const WATCH = fileURLToPath(new URL('./table-watch.ts', import.meta.url));
const README = fileURLToPath(new URL('../../README.md', import.meta.url));

/** Fast timers: down within 1*(1+1) + 0.5*1 + 1 = 3.5 s. */
const T = { delayLoop: 1, connectTimeout: 1, retry: 1, delayBeforeRetry: 0.5 };
const DOWN_BOUND_MS =
  1000 * (T.connectTimeout * (T.retry + 1) + T.delayBeforeRetry * T.retry + T.delayLoop);

const work = mkdtempSync(join(tmpdir(), 'uvs-kans-'));
const conf = join(work, 'keepalived.conf');
const lab = new LabRun({
  method: 'nat',
  prefix: `uvska${process.pid % 10000}`,
  runArgs: ['--keepalived', conf, '--sysctl', 'expire_nodest_conn=1'],
});
type Proc = Awaited<ReturnType<LabRun['spawn']>>;
const services: Proc[] = [];
const measured: string[] = [];

function globalDefs(extra = ''): string {
  return `global_defs {
    router_id UVS_NS_TEST
    enable_script_security
    script_user root
    ${extra}
}
`;
}

/** A virtual server on VIP:80 whose real servers each get `checker(n)` (n = 1..3). */
function vsConf(
  checker: (n: number) => string,
  vsExtra = '',
  rsExtra = (_n: number) => '',
): string {
  const rs = RIPS.map(
    (ip, i) => `
    real_server ${ip} 80 {
        weight 1
        ${rsExtra(i + 1)}
        ${checker(i + 1)}
    }`,
  ).join('\n');
  return virtualServer(
    80,
    `    ${vsExtra}
    ${rs}`,
  );
}

/** A virtual server on VIP:`port` (rr, NAT, TCP, the test's delay_loop) with `body` inside. */
function virtualServer(port: number, body: string): string {
  return `
virtual_server ${VIP} ${port} {
    delay_loop ${T.delayLoop}
    lb_algo rr
    lb_kind NAT
    protocol TCP
${body}
}
`;
}

function timers(): string {
  return `connect_timeout ${T.connectTimeout}
            retry ${T.retry}
            delay_before_retry ${T.delayBeforeRetry}
            warmup 0`;
}

const tcpCheck = () => `TCP_CHECK {
            ${timers()}
        }`;

/** The client fetches rs-app's /slow through the VIP: "<bytes> <HTTP status>" on stdout. */
function slowDownload() {
  return lab.exec('client', [
    'curl',
    '-s',
    '-o',
    '/dev/null',
    '-w',
    '%{size_download} %{http_code}',
    '--max-time',
    '25',
    `http://${VIP}/slow`,
  ]);
}

async function table(): Promise<string> {
  const r = await lab.uvsadm(['-L', '-n']);
  if (r.code !== 0) throw new Error(`uvsadm -L -n: ${r.err}`);
  return r.out;
}

/** The weight of a real server in the VIP:port service, or null when it is not in. */
function weightIn(out: string, ip: string, port = 80): number | null {
  const lines = out.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`TCP  ${VIP}:${port} `));
  if (at < 0) return null;
  for (let i = at + 1; i < lines.length && lines[i].startsWith('  ->'); i++) {
    const m = /^ {2}-> (\S+)\s+\S+\s+(\d+)/.exec(lines[i]);
    if (m?.[1].startsWith(`${ip}:`)) return Number(m[2]);
  }
  return null;
}

/** Polls until `pred` holds; returns the milliseconds it took. */
async function waitFor(what: string, pred: () => Promise<boolean>, ms: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await pred()) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

let watcher: Proc;

/**
 * When the table watcher (table-watch.ts, in the director's namespace) first saw a real
 * server line for `dest` ("198.18.1.12:80") appear or go, at or after `since`.
 */
async function tableEvent(
  dest: string,
  present: boolean,
  since: number,
  ms: number,
): Promise<number> {
  let at = 0;
  await waitFor(
    `${dest} ${present ? 'in' : 'out of'} the table`,
    async () => {
      for (const line of watcher.output.split('\n')) {
        if (!line.startsWith('{"at"')) continue;
        const e = JSON.parse(line) as { at: number; line: string; present: boolean };
        if (e.at >= since && e.present === present && e.line.startsWith(`-> ${dest} `)) {
          at = e.at;
          return true;
        }
      }
      return false;
    },
    ms,
  );
  return at;
}

/** Client SYNs that reached real server n (an nftables counter in its namespace). */
async function syns(n: number): Promise<number> {
  const r = await lab.exec(`rs${n}`, ['nft', 'list', 'chain', 'inet', 'uvscount', 'in']);
  const m = /counter packets (\d+)/.exec(r.out);
  if (!m) throw new Error(`no counter in rs${n}: ${r.out}${r.err}`);
  return Number(m[1]);
}

/** Writes the file, sends SIGHUP and waits until the director says it reloaded. */
async function reload(text: string): Promise<void> {
  writeFileSync(conf, text);
  const count = () => lab.directorOutput().split('Reloaded:').length;
  const before = count();
  lab.reloadDirector();
  await waitFor('the reload', async () => count() > before, 15_000);
  const out = lab.directorOutput();
  const last = out.slice(out.lastIndexOf('Reloading '));
  if (last.includes('Reload refused')) throw new Error(`reload refused:\n${last}`);
}

/** Waits until every real server is in with every checker up (each has run once). */
async function allHealthy(kind: string): Promise<void> {
  await waitFor(
    `all real servers healthy under ${kind}`,
    async () => {
      const out = await table();
      if (!RIPS.every((ip) => (weightIn(out, ip) ?? 0) > 0)) return false;
      const c = await lab.ctl(['checks']);
      const rows = c.out.split('\n').filter((l) => l.includes(` ${kind}`));
      return rows.length >= 3 && rows.every((l) => / up\s+ok /.test(l));
    },
    30_000,
  );
}

async function startService(kind: 'https' | 'dns' | 'smtp', n: number, port: number) {
  const args = [process.execPath, '--import', 'tsx', SERVICE, kind, String(port)];
  if (kind === 'https') args.push(join(work, 'key.pem'), join(work, 'cert.pem'));
  const p = await lab.spawn(`${kind} rs${n}`, lab.ns(`rs${n}`), args, /^ready/m);
  services.push(p);
  return p;
}

async function stopProc(p: Proc): Promise<void> {
  p.child.kill('SIGKILL');
  await p.exited;
}

beforeAll(async () => {
  requireRoot();
  writeFileSync(conf, globalDefs() + vsConf(tcpCheck));
  writeSelfSignedCert(join(work, 'key.pem'), join(work, 'cert.pem'), 'rs.test');
  await lab.up();
  watcher = await lab.spawn(
    'table watcher',
    lab.ns('dir'),
    [process.execPath, '--import', 'tsx', WATCH, lab.control],
    /"ready"/,
  );
  for (let n = 1; n <= 3; n++) {
    const ns = `rs${n}`;
    const nft = (args: string[]) => lab.exec(ns, ['nft', ...args]);
    await nft(['add', 'table', 'inet', 'uvscount']);
    await nft([
      'add',
      'chain',
      'inet',
      'uvscount',
      'in',
      '{ type filter hook input priority -10 ; }',
    ]);
    const r = await nft([
      'add',
      'rule',
      'inet',
      'uvscount',
      'in',
      'ip',
      'saddr',
      CLIENT,
      'tcp',
      'dport',
      '80',
      'tcp',
      'flags',
      '&',
      '(syn|ack)',
      '==',
      'syn',
      'counter',
    ]);
    if (r.code !== 0) throw new Error(`nft counter in ${ns}: ${r.err}`);
  }
}, 180_000);

afterAll(async () => {
  if (measured.length > 0)
    process.stdout.write(
      `keepalived runtime: down bound ${DOWN_BOUND_MS} ms (+${SLACK_MS} slack); measured\n  ${measured.join('\n  ')}\n`,
    );
  await lab.down();
  rmSync(work, { recursive: true, force: true });
}, 120_000);

interface Kind {
  kind: string;
  conf: () => string;
  stop: () => Promise<void>;
  start: () => Promise<void>;
  /** Successes needed to come back (HTTP: the failed url, then a full pass). */
  upChecks?: number;
  /** More slack than SLACK_MS, and why. */
  slackMs?: number;
  before?: () => Promise<void>;
  after?: () => Promise<void>;
}

const extra: Proc[] = [];
const app = { stop: () => lab.stopApp(2), start: () => lab.startApp(2) };

function serviceKind(
  kind: string,
  svc: 'https' | 'dns' | 'smtp',
  port: number,
  checker: () => string,
): Kind {
  return {
    kind,
    conf: () => globalDefs() + vsConf(checker),
    before: async () => {
      for (let n = 1; n <= 3; n++) extra[n] = await startService(svc, n, port);
    },
    stop: () => stopProc(extra[2]),
    start: async () => {
      extra[2] = await startService(svc, 2, port);
    },
    after: async () => {
      for (let n = 1; n <= 3; n++) if (extra[n]) await stopProc(extra[n]);
    },
  };
}

const trackFile = (n: number) => join(work, `rs${n}.state`);

const KINDS: Kind[] = [
  { kind: 'TCP_CHECK', conf: () => globalDefs() + vsConf(tcpCheck), ...app },
  {
    kind: 'HTTP_GET',
    conf: () =>
      globalDefs() +
      vsConf(
        () => `HTTP_GET {
            url {
                path /
                status_code 200
            }
            ${timers()}
        }`,
      ),
    upChecks: 2,
    ...app,
  },
  serviceKind(
    'SSL_GET',
    'https',
    443,
    () => `SSL_GET {
            url {
                path /
                status_code 200
            }
            connect_port 443
            ${timers()}
        }`,
  ),
  {
    kind: 'MISC_CHECK',
    conf: () =>
      globalDefs() +
      vsConf(
        (n) => `MISC_CHECK {
            misc_path "/usr/bin/curl -sf -m 1 -o /dev/null http://${RIPS[n - 1]}:80/"
            misc_timeout 2
            retry ${T.retry}
            delay_before_retry ${T.delayBeforeRetry}
            warmup 0
        }`,
      ),
    ...app,
  },
  {
    kind: 'UDP_CHECK',
    conf: () =>
      globalDefs() +
      vsConf(
        () => `UDP_CHECK {
            connect_port 7000
            payload 68656c6c6f0a
            require_reply
            ${timers()}
        }`,
      ),
    ...app,
  },
  serviceKind(
    'DNS_CHECK',
    'dns',
    53,
    () => `DNS_CHECK {
            connect_port 53
            type A
            name rs.test
            ${timers()}
        }`,
  ),
  serviceKind(
    'SMTP_CHECK',
    'smtp',
    25,
    () => `SMTP_CHECK {
            connect_port 25
            ${timers()}
        }`,
  ),
  {
    kind: 'PING_CHECK',
    // Every attempt is an iputils ping process (docs/health-checks.md): two of them start
    // before the server is down, each a fork and exec on a busy two-core machine.
    slackMs: 3500,
    conf: () =>
      globalDefs() +
      vsConf(
        () => `PING_CHECK {
            ${timers()}
        }`,
      ),
    stop: async () => {
      const nft = (a: string[]) => lab.exec('rs2', ['nft', ...a]);
      await nft(['add', 'table', 'inet', 'uvsping']);
      await nft([
        'add',
        'chain',
        'inet',
        'uvsping',
        'in',
        '{ type filter hook input priority -20 ; }',
      ]);
      await nft(['add', 'rule', 'inet', 'uvsping', 'in', 'icmp', 'type', 'echo-request', 'drop']);
    },
    start: async () => {
      await lab.exec('rs2', ['nft', 'delete', 'table', 'inet', 'uvsping']);
    },
  },
  {
    kind: 'FILE_CHECK',
    conf: () =>
      `${globalDefs()}${[1, 2, 3]
        .map((n) => `track_file rs${n}file {\n    file ${trackFile(n)}\n    weight 0\n}\n`)
        .join('')}${vsConf(
        (n) => `FILE_CHECK {
            track_file rs${n}file
        }`,
      )}`,
    before: async () => {
      for (let n = 1; n <= 3; n++) writeFileSync(trackFile(n), '0\n');
    },
    stop: async () => writeFileSync(trackFile(2), '1\n'),
    start: async () => writeFileSync(trackFile(2), '0\n'),
  },
];

describe('keepalived runtime in the NAT lab', () => {
  for (const k of KINDS) {
    it(`${k.kind}: a stopped service takes rs2 out in bound, no new connection reaches it, and it comes back`, async () => {
      await k.before?.();
      try {
        await reload(k.conf());
        await allHealthy(k.kind);
        // Stop the service once the load is running and rs2 has answered some of it.
        let flowing!: () => void;
        const started = new Promise<void>((r) => {
          flowing = r;
        });
        const load = lab.load(10, 100_000, 4, (p) => {
          if ((p.byServer.rs2 ?? 0) >= 20) flowing();
        });
        await started;
        const stopAt = Date.now();
        await k.stop();
        const goneAt = await tableEvent(`${RIPS[1]}:80`, false, stopAt, DOWN_BOUND_MS + 15_000);
        const took = goneAt - stopAt;
        const c1 = await syns(2);
        const c1At = Date.now() - goneAt;
        await sleep(3000);
        const c2 = await syns(2);
        const r = await load;
        await k.start();
        const startAt = Date.now();
        const upBound = (k.upChecks ?? 1) * 1000 * (T.delayLoop + T.connectTimeout);
        const backAt = await tableEvent(`${RIPS[1]}:80`, true, startAt, upBound + 15_000);
        const back = backAt - startAt;
        const after = await lab.load(3, 100_000, 4);
        measured.push(
          `${k.kind}: out ${took} ms after the stop, back ${back} ms after the start; client SYNs at rs2 from ${c1At} ms after removal for 3 s: ${c2 - c1}; load ${r.ok} ok ${r.errors} errors ${JSON.stringify(r.byServer)} ${JSON.stringify(r.errorKinds)}, then ${JSON.stringify(after.byServer)}`,
        );
        expect(took).toBeLessThanOrEqual(DOWN_BOUND_MS + (k.slackMs ?? SLACK_MS));
        expect(c2 - c1).toBe(0);
        expect(r.ok).toBeGreaterThan(0);
        expect(back).toBeLessThanOrEqual(upBound + SLACK_MS);
        expect(after.byServer.rs2 ?? 0).toBeGreaterThan(0);
        const log = lab.directorOutput();
        expect(log).toContain(`Removing service [${RIPS[1]}]:tcp:80 from VS [${VIP}]:tcp:80`);
        expect(log).toContain(`Adding service [${RIPS[1]}]:tcp:80 to VS [${VIP}]:tcp:80`);
      } finally {
        await k.after?.();
      }
    }, 90_000);
  }

  it('uvs ctl checks lists every checker with its state, last result, reason and failures', async () => {
    await reload(globalDefs() + vsConf(tcpCheck));
    await allHealthy('TCP_CHECK');
    await lab.stopApp(2);
    try {
      await waitFor(
        'rs2 down in ctl checks',
        async () => / down\s+fail\s+refused/.test((await lab.ctl(['checks'])).out),
        DOWN_BOUND_MS + SLACK_MS,
      );
      const out = (await lab.ctl(['checks'])).out;
      const head = out.split('\n')[0];
      expect(head).toMatch(
        /^REAL SERVER\s+VIRTUAL SERVICE\s+RS\s+WEIGHT\s+CHECKER\s+STATE\s+LAST\s+REASON\s+LATENCY\s+FAILS\s+SINCE$/,
      );
      const row = out.split('\n').find((l) => l.startsWith(`[${RIPS[1]}]:tcp:80`));
      expect(row).toMatch(/down\s+1\s+TCP_CHECK\s+down\s+fail\s+refused\s+\S+\s+[1-9]\d*\s+\d{4}-/);
      expect(out).toMatch(new RegExp(`\\[${VIP}\\]:tcp:80\\s+up\\s+2/3\\s+2\\s+1\\+0\\s+-`));
    } finally {
      await lab.startApp(2);
    }
  }, 60_000);

  it('inhibit_on_failure: the server stays at weight 0, new connections avoid it, a transfer to it finishes', async () => {
    const flag = join(work, 'flag.sh');
    writeFileSync(flag, `#!/bin/sh\ntest ! -e ${work}/down.$1\n`);
    chmodSync(flag, 0o755);
    await reload(
      globalDefs() +
        vsConf(
          (n) => `MISC_CHECK {
            misc_path "${flag} rs${n}"
            misc_timeout 2
            warmup 0
        }`,
          '',
          () => 'inhibit_on_failure',
        ),
    );
    await allHealthy('MISC_CHECK');
    // Three slow 1.25 MiB downloads (8 s each): rr gives one to each real server.
    const downloads = [0, 1, 2].map(async (i) => {
      await sleep(i * 200);
      return slowDownload();
    });
    await sleep(1500);
    writeFileSync(join(work, 'down.rs2'), '');
    try {
      await waitFor(
        'rs2 at weight 0',
        async () => weightIn(await table(), RIPS[1]) === 0,
        DOWN_BOUND_MS + SLACK_MS,
      );
      // The inhibited server keeps its entry (weight 0, not removed) and its connections:
      // the transfer rr gave it finishes intact below. (Its ActiveConn at this moment depends
      // on how long detection took on a loaded machine, so it is not asserted.)
      const rs2 = (await table()).split('\n').find((l) => l.includes(`${RIPS[1]}:80`)) ?? '';
      expect(rs2).toMatch(/Masq\s+0\s/);
      const during = await lab.load(2, 400, 4);
      expect(during.byServer.rs2 ?? 0).toBe(0);
      expect(during.ok).toBeGreaterThan(0);
      const results = await Promise.all(downloads);
      expect(results.map((r) => r.out.trim())).toEqual([
        `${SLOW_BYTES} 200`,
        `${SLOW_BYTES} 200`,
        `${SLOW_BYTES} 200`,
      ]);
      expect(lab.directorOutput()).toContain(
        `Disabling service [${RIPS[1]}]:tcp:80 of VS [${VIP}]:tcp:80`,
      );
    } finally {
      rmSync(join(work, 'down.rs2'), { force: true });
    }
    await waitFor('rs2 enabled again', async () => weightIn(await table(), RIPS[1]) === 1, 10_000);
  }, 90_000);

  it('quorum lost swaps in the sorry server (scripts, FIFO lines), quorum gained swaps it out', async () => {
    const note = join(work, 'note.sh');
    const notes = join(work, 'notes');
    writeFileSync(note, `#!/bin/sh\necho "$@" >> ${notes}\n`);
    chmodSync(note, 0o755);
    const fifo = join(work, 'lvs.fifo');
    await reload(
      globalDefs(`lvs_notify_fifo ${fifo}`) +
        virtualServer(
          80,
          `    quorum 2
    quorum_up "${note} quorum up"
    quorum_down "${note} quorum down"
    sorry_server ${RIPS[2]} 8080
${[0, 1]
  .map(
    (i) => `    real_server ${RIPS[i]} 80 {
        notify_down "${note} rs${i + 1} down"
        ${tcpCheck()}
    }`,
  )
  .join('\n')}`,
        ),
    );
    const reader = new FifoReader(fifo);
    try {
      await waitFor(
        'rs1 and rs2 in',
        async () => {
          const t = await table();
          return weightIn(t, RIPS[0]) === 1 && weightIn(t, RIPS[1]) === 1;
        },
        15_000,
      );
      // What the reload itself announced is not what this test is about.
      await sleep(500);
      writeFileSync(notes, '');
      reader.read();
      await lab.stopApp(1);
      await waitFor(
        'the sorry server in',
        async () => {
          const t = await table();
          return weightIn(t, RIPS[2]) === 1 && weightIn(t, RIPS[1]) === null;
        },
        DOWN_BOUND_MS + SLACK_MS,
      );
      const sorry = await lab.load(2, 300, 2);
      expect(Object.keys(sorry.byServer)).toEqual(['rs3']);
      await lab.startApp(1);
      await waitFor(
        'quorum back',
        async () => {
          const t = await table();
          return weightIn(t, RIPS[0]) === 1 && weightIn(t, RIPS[2]) === null;
        },
        10_000,
      );
      const back = await lab.load(2, 300, 2);
      expect(Object.keys(back.byServer).sort()).toEqual(['rs1', 'rs2']);
      await waitFor(
        'the scripts',
        async () => {
          try {
            return readFileSync(notes, 'utf8').includes('quorum up');
          } catch {
            return false;
          }
        },
        5000,
      );
      expect(readFileSync(notes, 'utf8').trim().split('\n')).toEqual([
        'rs1 down',
        'quorum down',
        'quorum up',
      ]);
      const lines = reader.read(8192).trim().split('\n');
      expect(lines).toEqual([
        `RS [${RIPS[0]}]:tcp:80 [${VIP}]:tcp:80 DOWN`,
        `VS [${VIP}]:tcp:80 DOWN`,
        `RS [${RIPS[0]}]:tcp:80 [${VIP}]:tcp:80 UP`,
        `VS [${VIP}]:tcp:80 UP`,
      ]);
      const log = lab.directorOutput();
      expect(log).toContain(`Lost quorum 2-0=2 > 1 for VS [${VIP}]:tcp:80`);
      expect(log).toContain(`Adding sorry server [${RIPS[2]}]:tcp:8080 to VS [${VIP}]:tcp:80`);
      expect(log).toContain(`Gained quorum 2+0=2 <= 2 for VS [${VIP}]:tcp:80`);
    } finally {
      reader.close();
    }
  }, 90_000);

  it('misc_dynamic: the exit code sets the weight (exit-2), exit 1 takes the server out', async () => {
    const w = join(work, 'weight.sh');
    writeFileSync(w, `#!/bin/sh\nexit $(cat ${work}/w.$1)\n`);
    chmodSync(w, 0o755);
    for (const n of [1, 2, 3]) writeFileSync(join(work, `w.rs${n}`), '0\n');
    await reload(
      globalDefs() +
        vsConf(
          (n) => `MISC_CHECK {
            misc_path "${w} rs${n}"
            misc_timeout 2
            misc_dynamic
            warmup 0
        }`,
        ),
    );
    await allHealthy('MISC_CHECK');
    writeFileSync(join(work, 'w.rs2'), '5\n');
    await waitFor('rs2 at weight 3', async () => weightIn(await table(), RIPS[1]) === 3, 10_000);
    const l = await lab.load(3, 600, 4);
    // wrr is not in use (rr), but the weight is what ipvsadm shows: check the line.
    expect(l.ok).toBeGreaterThan(0);
    expect(lab.directorOutput()).toContain(
      `Changing weight from 1 to 3 for active service [${RIPS[1]}]:tcp:80 of VS [${VIP}]:tcp:80`,
    );
    writeFileSync(join(work, 'w.rs2'), '1\n');
    await waitFor('rs2 out', async () => weightIn(await table(), RIPS[1]) === null, 10_000);
    writeFileSync(join(work, 'w.rs2'), '0\n');
    await waitFor('rs2 back', async () => weightIn(await table(), RIPS[1]) !== null, 10_000);
  }, 90_000);

  it('SIGHUP reload keeps a long transfer alive and adds the new service', async () => {
    await reload(globalDefs() + vsConf(tcpCheck));
    await allHealthy('TCP_CHECK');
    const transfer = slowDownload();
    await sleep(1500);
    await reload(
      globalDefs() +
        vsConf(tcpCheck) +
        virtualServer(
          8080,
          `    real_server ${RIPS[0]} 8080 {
        ${tcpCheck()}
    }`,
        ),
    );
    await waitFor(
      'the new service',
      async () => (await table()).includes(`TCP  ${VIP}:8080 rr`),
      10_000,
    );
    expect((await transfer).out.trim()).toBe(`${SLOW_BYTES} 200`);
    const l = await lab.load(2, 100, 2, undefined, 8080);
    expect(Object.keys(l.byServer)).toEqual(['rs1']);
  }, 90_000);

  it("the README's keepalived.conf runs as is: its startup table and checks", async () => {
    const text = readFileSync(README, 'utf8');
    const at = text.indexOf('## Coming from keepalived');
    const blocks = text.slice(at).split('```');
    const readmeConf = blocks.find((b) => b.startsWith('\n! keepalived.conf'));
    if (readmeConf === undefined) throw new Error('no keepalived.conf block in the README');
    writeFileSync(conf, readmeConf.slice(1));
    await lab.stopDirector();
    await lab.startDirector();
    await waitFor(
      'the README table with every server in',
      async () => {
        const t = await table();
        return (
          weightIn(t, RIPS[0]) === 2 &&
          weightIn(t, RIPS[1]) === 1 &&
          weightIn(t, RIPS[2]) === 1 &&
          t.includes(`UDP  ${VIP}:7000 rr`)
        );
      },
      20_000,
    );
    const t = await table();
    expect(t).toContain(`TCP  ${VIP}:80 wrr`);
    const timeouts = await lab.uvsadm(['-L', '--timeout']);
    expect(timeouts.out).toContain('Timeout (tcp tcpfin udp): 900 120 300');
    // The first datagram may find the new director still resolving the real server's MAC.
    let answer = '';
    for (let i = 0; i < 3 && answer === ''; i++) answer = await lab.udpRequest('hello');
    expect(answer).toMatch(/^rs[12] hello$/);
    const checks = (await lab.ctl(['checks'])).out;
    expect(checks).toContain('HTTP_GET /');
    expect(checks).toContain('UDP_CHECK');
  }, 90_000);
});
