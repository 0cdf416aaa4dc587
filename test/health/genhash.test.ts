/**
 * `uvs genhash` against HTTP servers in a namespace: the digest is md5sum's of the body,
 * and -- where Debian's keepalived is installed -- byte for byte keepalived's genhash's,
 * also for a chunked HTTP/1.1 body, which both digest raw (chunk framing included).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, type Lab, type Task } from '../helpers/netns.js';
import type { ServeArgs, ServeResult } from './ns-tasks.js';

const TASKS = new URL('./ns-tasks.ts', import.meta.url);
const UVS = new URL('../../src/cli/uvs.ts', import.meta.url).pathname;
const RS_IP = '198.18.2.11';
const KEEPALIVED_GENHASH = '/usr/bin/genhash';

let lab: Lab;
let dir: string;
let rs: string;
let work: string;
const services: Task<ServeResult>[] = [];

beforeAll(async () => {
  lab = createLab('genhash');
  dir = await lab.ns('dir');
  rs = await lab.ns('rs');
  await lab.veth({ ns: dir, dev: 'v0' }, { ns: rs, dev: 'v0' });
  await lab.addr(dir, 'v0', '198.18.2.1/24');
  await lab.addr(rs, 'v0', `${RS_IP}/24`);
  work = mkdtempSync(join(tmpdir(), 'uvs-genhash-'));
  const serve = async (a: ServeArgs) => {
    const t = lab.task<ServeResult>(rs, TASKS, 'serve', { maxMs: 60_000, ...a });
    services.push(t);
    await t.ready;
  };
  await serve({ kind: 'http', host: RS_IP, port: 80, body: 'hello from uvs\n' });
  await serve({
    kind: 'http',
    host: RS_IP,
    port: 81,
    body: 'The quick brown fox. ',
    bodyRepeat: 50_000,
  });
  await serve({
    kind: 'http',
    host: RS_IP,
    port: 82,
    body: 'chunk me please ',
    bodyRepeat: 100,
    chunked: true,
  });
});

afterAll(async () => {
  for (const t of services) t.stop();
  await Promise.allSettled(services.map((t) => t.result));
  await lab?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function uvsGenhash(args: string[]): Promise<string> {
  const r = await lab.exec(dir, process.execPath, ['--import', 'tsx', UVS, 'genhash', ...args]);
  return r.stdout;
}

function md5sum(body: string): string {
  const f = join(work, 'body');
  writeFileSync(f, body);
  return execFileSync('md5sum', [f], { encoding: 'utf8' }).split(' ')[0];
}

describe('uvs genhash', () => {
  it('prints the md5sum of the body', async () => {
    expect(await uvsGenhash(['-s', RS_IP, '-p', '80', '-u', '/'])).toBe(
      `${md5sum('hello from uvs\n')}\n`,
    );
    expect(await uvsGenhash(['-s', RS_IP, '-p', '81', '-u', '/big', '-P', '1.1'])).toBe(
      `${md5sum('The quick brown fox. '.repeat(50_000))}\n`,
    );
  });

  it.skipIf(!existsSync(KEEPALIVED_GENHASH))(
    "agrees with keepalived's genhash, chunked HTTP/1.1 bodies included (skipped without keepalived)",
    async () => {
      for (const [port, proto] of [
        ['80', '1.0'],
        ['81', '1.0'],
        ['82', '1.1'],
        ['82', '1.0'],
      ]) {
        const theirs = await lab.exec(dir, KEEPALIVED_GENHASH, [
          '-s',
          RS_IP,
          '-p',
          port,
          '-u',
          '/x',
          '-P',
          proto,
        ]);
        const ours = await uvsGenhash(['-s', RS_IP, '-p', port, '-u', '/x', '-P', proto]);
        expect([port, proto, ours]).toEqual([port, proto, theirs.stdout]);
        expect(ours).toMatch(/^[0-9a-f]{32}\n$/);
      }
    },
  );

  it('says so when nothing listens', async () => {
    await expect(uvsGenhash(['-s', RS_IP, '-p', '9', '-u', '/'])).rejects.toThrow(
      /uvs genhash: refused/,
    );
  });
});
