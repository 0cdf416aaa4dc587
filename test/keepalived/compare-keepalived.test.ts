/**
 * Every keepalived sample and every broken file of ours, read by uvs and by keepalived
 * 2.2.7 (`keepalived -t -f FILE`): both must complain about the same lines, and keepalived
 * must fail exactly when uvs reports something keepalived would say.
 *
 * keepalived checks interfaces against the namespace it runs in, so both run against the
 * same network namespace: one with the interfaces the samples name (eth0..eth3, eth0.1) and
 * one with only loopback, where every interface a vrrp block names is missing.
 *
 * What is compared:
 *   - the set of FILE:LINE keepalived prints, `(FILE: Line N) ...`, against the FILE:LINE
 *     of uvs's read-phase diagnostics that keepalived also gives (uvsOnly ones are uvs's own
 *     extra advice). Files are compared by base name, as keepalived prints include paths
 *     relative to where it runs.
 *   - exit status: keepalived -t exits non-zero whenever it reported anything (warnings
 *     too); uvs must then have at least one diagnostic keepalived gives, and none when
 *     keepalived exits 0.
 * Deviations, asserted as such: see DEVIATIONS.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HostProbe, systemHost } from '../../src/keepalived/host.js';
import { type LoadResult, loadKeepalivedConfig } from '../../src/keepalived/load.js';
import { createLab, type Lab, run } from '../helpers/netns.js';

const SAMPLES = '/work/shared/fixtures/keepalived-samples';
const BROKEN = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/keepalived/broken');

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const version = (() => {
  const r = spawnSync('keepalived', ['-v'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return undefined;
  return /Keepalived v(\S+)/.exec(`${r.stdout}${r.stderr}`)?.[1];
})();
const skipReason = !isRoot
  ? 'needs root to create the network namespaces keepalived -t checks interfaces in'
  : version === undefined
    ? 'keepalived is not installed (apt-get install keepalived; netns-scripts/setup.sh does)'
    : version !== '2.2.7'
      ? `keepalived ${version} is installed; these expectations are keepalived 2.2.7's`
      : undefined;
if (skipReason) console.warn(`compare-keepalived: skipped: ${skipReason}`);

interface Case {
  readonly name: string;
  readonly file: string;
  /** 'ifs': the samples' interfaces exist; 'lo': only loopback. */
  readonly ns: 'ifs' | 'lo';
  readonly configId?: string;
}

/** Where uvs knowingly differs from keepalived 2.2.7. */
const DEVIATIONS: Record<string, string> = {
  // keepalived includes the file again and again until it runs out of file descriptors,
  // says so (at the same line as uvs), skips the include and exits 0. uvs refuses a
  // recursive include: the configuration is an error, not what the file meant.
  'recursion.conf':
    'keepalived exits 0 after running out of file descriptors; uvs rejects the recursion',
};

function cases(): Case[] {
  const samples = readdirSync(SAMPLES)
    .filter((f) => f.startsWith('keepalived.conf.'))
    .sort();
  const broken = readdirSync(BROKEN)
    .filter((f) => f.endsWith('.conf'))
    .sort();
  const list: Case[] = [];
  for (const f of samples) {
    list.push({ name: f, file: join(SAMPLES, f), ns: 'ifs' });
    list.push({ name: `${f} (loopback only)`, file: join(SAMPLES, f), ns: 'lo' });
  }
  for (const id of ['high', 'low']) {
    const f = 'keepalived.conf.conditional_conf';
    list.push({ name: `${f} -i ${id}`, file: join(SAMPLES, f), ns: 'ifs', configId: id });
  }
  for (const f of broken) list.push({ name: f, file: join(BROKEN, f), ns: 'ifs' });
  list.push({
    name: 'vrrp-bad.conf (loopback only)',
    file: join(BROKEN, 'vrrp-bad.conf'),
    ns: 'lo',
  });
  return list;
}

interface KeepalivedRun {
  readonly status: number | null;
  readonly lines: Set<string>;
  readonly output: string;
}

function keepalivedTest(ns: string, c: Case): Promise<KeepalivedRun> {
  const args = ['netns', 'exec', ns, 'keepalived', '-t', '-f', basename(c.file)];
  if (c.configId) args.push('-i', c.configId);
  return new Promise((resolve, reject) => {
    const child = spawn('ip', args, { cwd: dirname(c.file), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      const lines = new Set<string>();
      for (const l of output.split('\n')) {
        const m = /^\((?:(.+?): )?Line (\d+)\) /.exec(l);
        if (m) lines.add(`${basename(m[1] ?? c.file)}:${m[2]}`);
      }
      resolve({ status, lines, output });
    });
  });
}

/** What uvs sees of the namespace: its links, as keepalived does. */
async function hostOf(ns: string): Promise<HostProbe> {
  const { stdout } = await run('ip', ['-n', ns, '-j', 'link', 'show']);
  const links = JSON.parse(stdout) as { ifname: string; link_type: string }[];
  const names = new Set(links.map((l) => l.ifname));
  return {
    ...systemHost(),
    interfaces: () => names,
    isLoopback: (n) => links.some((l) => l.ifname === n && l.link_type === 'loopback'),
  };
}

function uvsLines(r: LoadResult): Set<string> {
  const lines = new Set<string>();
  for (const d of r.diagnostics)
    if (d.phase === 'read' && !d.uvsOnly && d.loc)
      lines.add(`${basename(d.loc.file)}:${d.loc.line}`);
  return lines;
}

describe.skipIf(skipReason !== undefined)(
  'keepalived.conf read as keepalived 2.2.7 reads it',
  () => {
    let lab: Lab;
    const namespaces: Record<Case['ns'], string> = { ifs: '', lo: '' };
    const hosts = {} as Record<Case['ns'], HostProbe>;

    beforeAll(async () => {
      lab = createLab('ka');
      namespaces.ifs = await lab.ns('ifs');
      namespaces.lo = await lab.ns('lo');
      // Only the names matter to keepalived's checks; eth0.1 is a veth too (no vlan module
      // is needed that way).
      for (const dev of ['eth0', 'eth1', 'eth2', 'eth3', 'eth0.1'])
        await lab.veth({ ns: namespaces.ifs, dev }, { ns: namespaces.ifs, dev: `p${dev}` });
      hosts.ifs = await hostOf(namespaces.ifs);
      hosts.lo = await hostOf(namespaces.lo);
    }, 60_000);

    afterAll(async () => {
      await lab?.cleanup();
    });

    it.each(cases())(
      '$name',
      async (c) => {
        const k = await keepalivedTest(namespaces[c.ns], c);
        const u = loadKeepalivedConfig({
          file: basename(c.file),
          cwd: dirname(c.file),
          host: hosts[c.ns],
          ...(c.configId ? { configId: c.configId } : {}),
        });
        const context = `keepalived said (exit ${k.status}):\n${k.output}`;
        expect([...uvsLines(u)].sort(), context).toEqual([...k.lines].sort());

        const keepalivedKinds = u.diagnostics.filter((d) => !d.uvsOnly);
        const deviation = DEVIATIONS[basename(c.file)];
        if (deviation) {
          expect(k.status, deviation).toBe(0);
          expect(u.errors, deviation).toBeGreaterThan(0);
          expect(u.config).toBeUndefined();
          return;
        }
        if (k.status === 0) {
          expect(keepalivedKinds, context).toEqual([]);
          expect(u.config).toBeDefined();
        } else {
          expect(keepalivedKinds.length, context).toBeGreaterThan(0);
        }
        // A file with errors yields no model; one with warnings only does.
        expect(u.config === undefined).toBe(u.errors > 0);
      },
      30_000,
    );
  },
);
