import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/control/control-plane.js';
import {
  type ControlHandler,
  type ControlResponse,
  type ControlServer,
  callControl,
  controlAddress,
  controlNameFrom,
  EXIT_BAD_REQUEST,
  serveControl,
} from '../../src/control/daemon-socket.js';
import { runUvsadm, usageText, versionText } from '../../src/control/uvsadm.js';
import { corePages } from '../../src/daemon/conn-pages.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { FlowKey } from '../../src/net/addr.js';
import { IPPROTO_TCP } from '../../src/net/ipproto.js';
import { createLab } from '../helpers/netns.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let seq = 0;
/** A control name no other test run uses. */
const uniqueName = (): string => `uvsnft-ctl-${process.pid}-${Date.now().toString(36)}-${seq++}`;

/** Sends raw bytes and returns whatever the server answers before closing. */
function rawCall(name: string, payload: string | Buffer, endAfter = true): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect({ path: controlAddress(name).path });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('raw call timed out'));
    }, 5000);
    s.on('connect', () => {
      s.write(payload);
      if (endAfter) s.end();
    });
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {
      // EPIPE after the server answered: what was read counts.
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

const echo: ControlHandler = (req) => ({
  code: req.argv.length,
  out: JSON.stringify(req.argv),
  err: req.stdin ?? '',
});

describe('control socket', () => {
  const servers: ControlServer[] = [];
  const serve = async (h: ControlHandler, opts = {}): Promise<string> => {
    const name = uniqueName();
    servers.push(await serveControl(name, h, opts));
    return name;
  };
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  it('round-trips a request, stdin included', async () => {
    const name = await serve(echo);
    expect(await callControl(name, { argv: ['-L', '-n'] }, 5000)).toEqual({
      code: 2,
      out: '["-L","-n"]',
      err: '',
    });
    const big = `${'-A -t 10.0.0.1:80\n'.repeat(20_000)}ünïcode\n`;
    expect(await callControl(`@${name}`, { argv: ['-R'], stdin: big }, 5000)).toEqual({
      code: 1,
      out: '["-R"]',
      err: big,
    });
  });

  it('serves concurrent clients and async handlers', async () => {
    const name = await serve(async (req) => {
      await new Promise((r) => setTimeout(r, 20));
      return { code: 0, out: req.argv.join(' '), err: '' };
    });
    const rs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => callControl(name, { argv: [String(i)] }, 5000)),
    );
    expect(rs.map((r) => r.out)).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
  });

  it('answers bad JSON and bad shapes with an error, and keeps serving', async () => {
    const name = await serve(echo);
    const r1 = JSON.parse(await rawCall(name, '{"argv": [\n')) as ControlResponse;
    expect(r1.code).toBe(EXIT_BAD_REQUEST);
    expect(r1.err).toMatch(/^uvs: bad control request: not JSON/);
    const r2 = JSON.parse(await rawCall(name, '{"argv": "-Ln"}\n')) as ControlResponse;
    expect(r2).toEqual({
      code: EXIT_BAD_REQUEST,
      out: '',
      err: 'uvs: bad control request: "argv" must be an array of strings\n',
    });
    const r3 = JSON.parse(await rawCall(name, '{"argv": [], "stdin": 5}\n')) as ControlResponse;
    expect(r3.err).toBe('uvs: bad control request: "stdin" must be a string\n');
    const r4 = JSON.parse(await rawCall(name, '')) as ControlResponse;
    expect(r4.err).toBe('uvs: bad control request: empty\n');
    // No trailing newline, then EOF: still a request.
    const r5 = JSON.parse(await rawCall(name, '{"argv":["x"]}')) as ControlResponse;
    expect(r5).toEqual({ code: 1, out: '["x"]', err: '' });
    expect((await callControl(name, { argv: [] }, 5000)).code).toBe(0);
  });

  it('refuses an oversized request without reading it all into memory', async () => {
    const name = await serve(echo, { maxRequestBytes: 1024 });
    const r = await callControl(name, { argv: ['-R'], stdin: 'x'.repeat(200_000) }, 5000);
    expect(r).toEqual({
      code: EXIT_BAD_REQUEST,
      out: '',
      err: 'uvs: control request too large (limit 1024 bytes)\n',
    });
    // Just under the limit still works.
    const ok = await callControl(name, { argv: ['a'], stdin: 'y'.repeat(900) }, 5000);
    expect(ok.code).toBe(1);
  });

  it('reports a throwing handler as an internal error', async () => {
    const name = await serve(() => {
      throw new Error('boom');
    });
    expect(await callControl(name, { argv: [] }, 5000)).toEqual({
      code: 1,
      out: '',
      err: 'uvs: internal error: boom\n',
    });
    const name2 = await serve(() => ({ code: 'x' }) as unknown as ControlResponse);
    expect((await callControl(name2, { argv: [] }, 5000)).err).toMatch(/bad response/);
  });

  it('says clearly when no daemon listens', async () => {
    const name = uniqueName();
    await expect(callControl(name, { argv: ['-Ln'] }, 2000)).rejects.toMatchObject({
      code: 'ENOSERVER',
      message: `no uvs daemon is listening on @${name} in this network namespace (start it with \`uvs run\`)`,
    });
    await expect(callControl('/nonexistent/uvs.sock', { argv: [] }, 2000)).rejects.toMatchObject({
      code: 'ENOSERVER',
    });
  });

  it('times out on a daemon that never answers', async () => {
    const name = await serve(() => new Promise<ControlResponse>(() => {}));
    await expect(callControl(name, { argv: [] }, 200)).rejects.toMatchObject({
      code: 'ETIMEDOUT',
    });
  });

  it('refuses a second daemon on the same name', async () => {
    const name = await serve(echo);
    await expect(serveControl(name, echo)).rejects.toThrow(
      `another uvs daemon is already listening on @${name}`,
    );
  });

  it('serves on a filesystem path with mode 0600 and replaces a stale socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvsnft-'));
    try {
      const path = join(dir, 'ctl.sock');
      const s1 = await serveControl(path, echo);
      expect((statSync(path).mode & 0o777).toString(8)).toBe('600');
      expect((await callControl(path, { argv: ['a'] }, 5000)).out).toBe('["a"]');
      await expect(serveControl(path, echo)).rejects.toThrow(/already listening/);
      await s1.close();
      // A stale socket file (daemon gone) is replaced.
      const s2 = await serveControl(path, echo);
      servers.push(s2);
      expect((await callControl(path, { argv: ['b'] }, 5000)).out).toBe('["b"]');
    } finally {
      for (const s of servers.splice(0)) await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('picks the name from --control, then UVS_CONTROL, then uvs-ctl', () => {
    expect(controlNameFrom(['-Ln'], {})).toEqual({ name: 'uvs-ctl', argv: ['-Ln'] });
    expect(controlNameFrom(['-Ln'], { UVS_CONTROL: 'x' })).toEqual({ name: 'x', argv: ['-Ln'] });
    expect(controlNameFrom(['--control', 'y', '-Ln'], { UVS_CONTROL: 'x' })).toEqual({
      name: 'y',
      argv: ['-Ln'],
    });
    expect(controlNameFrom(['-L', '--control=@z', '-n'], {})).toEqual({
      name: '@z',
      argv: ['-L', '-n'],
    });
    expect(() => controlNameFrom(['--control'], {})).toThrow(/needs a socket name/);
    expect(controlAddress('@a')).toEqual({ path: '\0a', display: '@a', abstract: true });
    expect(controlAddress('/run/u.sock')).toEqual({
      path: '/run/u.sock',
      display: '/run/u.sock',
      abstract: false,
    });
    expect(() => controlAddress('@')).toThrow(/empty/);
    expect(() => controlAddress('x'.repeat(107))).toThrow(/too long/);
  });
});

interface Ran {
  code: number | null;
  out: string;
  err: string;
}

/** Runs src/cli/uvsadm.ts (through tsx) as a child process. */
function uvsadm(args: string[], env: NodeJS.ProcessEnv, stdin?: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/uvsadm.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
    child.stdin.end(stdin ?? '');
  });
}

describe('streamed answers', () => {
  const servers: ControlServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });
  /** A handler that writes `n` pieces, then answers with `tail`; records what write() said. */
  const pieces = (n: number, size: number, said: boolean[]): ControlHandler => {
    return async (req, reply) => {
      for (let i = 0; i < n; i++) {
        const ok = await reply.write(`${String(i).padStart(6, '0')}${'x'.repeat(size - 7)}\n`);
        said.push(ok);
        if (!ok) break;
      }
      return { code: 3, out: 'tail\n', err: req.stream ? 'streamed\n' : 'whole\n' };
    };
  };
  const expected = (n: number, size: number) =>
    Array.from({ length: n }, (_, i) => `${String(i).padStart(6, '0')}${'x'.repeat(size - 7)}\n`);

  it('comes piece by piece to a client that asks, and whole to one that does not', async () => {
    const name = uniqueName();
    const said: boolean[] = [];
    servers.push(await serveControl(name, pieces(200, 1000, said)));
    const got: string[] = [];
    const r = await callControl(name, { argv: ['-Lnc'] }, 5000, {
      onOut: (piece) => {
        got.push(piece);
      },
    });
    expect(r).toEqual({ code: 3, out: 'tail\n', err: 'streamed\n' });
    expect(got).toEqual(expected(200, 1000));
    // The same handler, to a client of the one-answer protocol.
    const whole = await callControl(name, { argv: ['-Lnc'] }, 5000);
    expect(whole).toEqual({
      code: 3,
      out: `${expected(200, 1000).join('')}tail\n`,
      err: 'whole\n',
    });
    expect(said.every((x) => x)).toBe(true);
  });

  it('waits for a slow reader instead of piling the answer up', async () => {
    const name = uniqueName();
    const said: boolean[] = [];
    servers.push(await serveControl(name, pieces(64, 256 << 10, said)));
    let taken = 0;
    let maxAhead = 0;
    const r = await callControl(name, { argv: ['x'] }, 10_000, {
      onOut: async (piece) => {
        expect(piece).toBe(expected(64, 256 << 10)[taken]);
        taken++;
        // How far the server got ahead of this reader: bounded by the socket buffers.
        maxAhead = Math.max(maxAhead, said.length - taken);
        await new Promise((res) => setTimeout(res, 5));
      },
    });
    expect(r.code).toBe(3);
    expect(taken).toBe(64);
    expect(maxAhead).toBeLessThan(40);
  });

  it('stops the handler when the reader stops reading (at the deadline) or goes away', async () => {
    const name = uniqueName();
    const said: boolean[] = [];
    servers.push(
      await serveControl(name, pieces(10_000, 64 << 10, said), { requestTimeoutMs: 300 }),
    );
    const s = connect({ path: controlAddress(name).path });
    s.on('error', () => {});
    await new Promise<void>((res) => s.on('connect', () => res()));
    s.write(`${JSON.stringify({ argv: ['x'], stream: true })}\n`);
    s.pause(); // and never read
    const t0 = Date.now();
    while (said[said.length - 1] !== false && Date.now() - t0 < 5000) {
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(said[said.length - 1]).toBe(false);
    expect(said.length).toBeLessThan(1000); // it stopped long before the end
    s.destroy();
  });
});

describe('uvsadm -c through a paged table', () => {
  /** An io that gathers out(); flush() (when given) takes what was gathered as a piece. */
  const capture = () => {
    let out = '';
    const pieces: string[] = [];
    return {
      io: {
        out: (x: string) => {
          out += x;
        },
        err: () => {},
      },
      flush: async () => {
        pieces.push(out);
        out = '';
        return true;
      },
      text: () => pieces.join('') + out,
      pieces,
    };
  };

  it('prints the same listing in pieces as at once', async () => {
    const core = new IpvsCore({ capacity: 4096, hashSeed: 1 });
    const plane = new ControlPlane(core);
    const setup = capture();
    await runUvsadm(['-A', '-t', '10.0.0.100:80', '-s', 'rr'], plane, setup.io);
    await runUvsadm(['-a', '-t', '10.0.0.100:80', '-r', '10.0.0.11:80', '-m'], plane, setup.io);
    const k = new FlowKey();
    for (let i = 0; i < 2500; i++) {
      k.setV4(IPPROTO_TCP, 0xc0a80000 + (i >>> 4), 1024 + (i & 15), 0x0a000064, 80);
      expect(core.lookupIn(k, 0, 0x02, 60, 0)).toBeGreaterThanOrEqual(0);
    }
    const whole = capture();
    await runUvsadm(['-L', '-n', '-c'], plane, whole.io);
    const paged = capture();
    const target = {
      view: () => core,
      apply: plane.apply.bind(plane),
      connections: () => corePages(core, 300),
    };
    expect(await runUvsadm(['-L', '-n', '-c'], target, { ...paged.io, flush: paged.flush })).toBe(
      0,
    );
    expect(paged.pieces.length).toBeGreaterThan(8);
    expect(paged.text()).toBe(whole.text());
    expect(whole.text().split('\n').length).toBe(2500 + 3);
  });
});

describe('uvsadm executable against an in-process daemon', () => {
  const name = uniqueName();
  const env = { UVS_CONTROL: name };
  let server: ControlServer;
  const core = new IpvsCore({ capacity: 4096 });

  beforeAll(async () => {
    const plane = new ControlPlane(core);
    server = await serveControl(name, async (req) => {
      let out = '';
      let err = '';
      const code = await runUvsadm(req.argv, plane, {
        out: (s) => {
          out += s;
        },
        err: (s) => {
          err += s;
        },
        stdin: req.stdin,
      });
      return { code, out, err };
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('changes and lists the daemon table, with ipvsadm exit codes', async () => {
    expect(await uvsadm(['-A', '-t', '10.0.0.100:80', '-s', 'rr'], env)).toEqual({
      code: 0,
      out: '',
      err: '',
    });
    expect(
      (await uvsadm(['-a', '-t', '10.0.0.100:80', '-r', '10.0.0.11:8080', '-m', '-w', '3'], env))
        .code,
    ).toBe(0);
    // -R reads its lines from stdin.
    const restored = await uvsadm(
      ['-R'],
      env,
      '-A -u 10.0.0.100:53 -s wlc\n-a -u 10.0.0.100:53 -r 10.0.0.12:53 -g\n',
    );
    expect(restored).toEqual({ code: 0, out: '', err: '' });
    expect(await uvsadm(['-Ln'], env)).toEqual({
      code: 0,
      out:
        'IP Virtual Server version 1.2.1 (size=4096)\n' +
        'Prot LocalAddress:Port Scheduler Flags\n' +
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
        'TCP  10.0.0.100:80 rr\n' +
        '  -> 10.0.0.11:8080               Masq    3      0          0         \n' +
        'UDP  10.0.0.100:53 wlc\n' +
        '  -> 10.0.0.12:53                 Route   1      0          0         \n',
      err: '',
    });
    // A failed operation: ipvsadm's message and status 255.
    expect(await uvsadm(['--control', name, '-A', '-t', '10.0.0.100:80'], {})).toEqual({
      code: 255,
      out: '',
      err: 'Service already exists\n',
    });
    // Listing a service that does not exist: status 1.
    const missing = await uvsadm(['-L', '-n', '-t', '10.0.0.200:80'], env);
    expect(missing.code).toBe(1);
    expect(missing.err).toBe('No such service\n');
  });

  it('works without a daemon for help, version and bad command lines', async () => {
    const none = { UVS_CONTROL: uniqueName() };
    const help = await uvsadm(['-h'], none);
    expect(help.code).toBe(0);
    expect(help.out.startsWith(usageText())).toBe(true);
    expect(help.out).toContain('`uvs run`');
    expect(help.out).toContain('control socket');
    expect(await uvsadm(['--version'], none)).toEqual({ code: 0, out: versionText(), err: '' });
    const bad = await uvsadm(['-A', '-t'], none);
    expect(bad.code).not.toBe(0);
    expect(bad.err.length).toBeGreaterThan(0);
    expect(bad.err).not.toContain('daemon');
    expect(await uvsadm(['-Ln'], none)).toEqual({
      code: 2,
      out: '',
      err: `uvsadm: no uvs daemon is listening on @${none.UVS_CONTROL} in this network namespace (start it with \`uvs run\`)\n`,
    });
  });
});

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

describe.skipIf(!isRoot)('control socket and network namespaces', () => {
  it('an abstract control socket is not reachable from another network namespace', async () => {
    const name = uniqueName();
    const server = await serveControl(name, echo);
    const lab = createLab('nftctl');
    try {
      const ns = await lab.ns('other');
      const cli = fileURLToPath(new URL('../../src/cli/uvsadm.ts', import.meta.url));
      const err = await lab
        .exec(ns, process.execPath, ['--import', 'tsx', cli, '--control', name, '-Ln'])
        .then(
          () => '',
          (e: Error) => e.message,
        );
      expect(err).toContain(
        `uvsadm: no uvs daemon is listening on @${name} in this network namespace`,
      );
      // The same name answers in this namespace.
      expect((await callControl(name, { argv: ['-Ln'] }, 5000)).out).toBe('["-Ln"]');
    } finally {
      await server.close();
      await lab.cleanup();
    }
  });
});
