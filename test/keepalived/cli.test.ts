/**
 * `uvs run --keepalived FILE --config-test [-i ID]`: every problem as FILE:LINE on stderr, a
 * summary on stdout, exit 0 (usable, warnings allowed) or 1.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configTest } from '../../src/keepalived/config-test.js';
import { permissiveHost } from '../../src/keepalived/host.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const SAMPLES = '/work/shared/fixtures/keepalived-samples';
const BROKEN = join(ROOT, 'test/fixtures/keepalived/broken');

function captured(file: string, configId?: string) {
  let out = '';
  let err = '';
  const { exitCode, result } = configTest({
    file,
    ...(configId !== undefined ? { configId } : {}),
    host: permissiveHost(),
    stdout: (s) => {
      out += s;
    },
    stderr: (s) => {
      err += s;
    },
  });
  return { exitCode, result, out, err };
}

describe('configTest', () => {
  it('a usable file: exit 0 and a summary of what it describes', () => {
    const r = captured(join(SAMPLES, 'keepalived.conf.HTTP_GET.port'));
    expect(r.exitCode).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toBe(
      `${join(SAMPLES, 'keepalived.conf.HTTP_GET.port')}: OK (0 warnings); 1 virtual server, 1 real server, 0 VRRP instances\n`,
    );
  });

  it('warnings alone still exit 0', () => {
    const file = join(SAMPLES, 'keepalived.conf.fwmark');
    const r = captured(file);
    expect(r.exitCode).toBe(0);
    expect(r.err).toBe(
      `${file}:7: warning: Warning: Virtual server FWM 1: protocol specified for fwmark - protocol will be ignored\n`,
    );
    expect(r.out).toMatch(/: OK \(1 warning\); 1 virtual server, 2 real servers/);
  });

  it('errors: exit 1, each problem with FILE:LINE, in file order', () => {
    const file = join(BROKEN, 'bad-values.conf');
    const r = captured(file);
    expect(r.exitCode).toBe(1);
    const lines = r.err.trimEnd().split('\n');
    expect(lines.length).toBe(r.result.errors + r.result.warnings);
    for (const l of lines) expect(l).toMatch(/^.+:\d+: (error|warning): \S/);
    expect(lines).toContain(
      `${file}:4: error: smtp_connect_timeout 'abc' must be in [0, 4294] - ignoring (invalid number 'abc')`,
    );
    const numbers = lines
      .filter((l) => l.startsWith(`${file}:`))
      .map((l) => Number(l.slice(file.length + 1).split(':')[0]));
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    expect(r.out).toMatch(/: \d+ errors, \d+ warnings?; the configuration cannot be used\n$/);
  });

  it('-i chooses the @ID lines', () => {
    const file = join(SAMPLES, 'keepalived.conf.conditional_conf');
    const high = captured(file, 'high');
    expect(high.result.config?.vrrp.instances[0].priority).toBe(170);
    const low = captured(file, 'low');
    expect(low.result.config?.vrrp.instances[0].priority).toBe(85);
  });
});

describe('uvs run --keepalived', () => {
  const uvs = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/uvs.ts', 'run', ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('--config-test: exit 1 and FILE:LINE problems for a broken file, 0 for a sample', () => {
    const bad = uvs(
      '--keepalived',
      'test/fixtures/keepalived/broken/missing-braces.conf',
      '--config-test',
    );
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(
      "test/fixtures/keepalived/broken/missing-braces.conf:4: error: Extra '}' found",
    );
    const ok = uvs(
      '--keepalived',
      join(SAMPLES, 'keepalived.conf.misc_check'),
      '--config-test',
      '-i',
      'x',
    );
    expect(ok.stdout).toContain('OK');
    expect(ok.status).toBe(0);
  }, 120_000);

  it('without --config-test a file that cannot run is refused before anything starts; --config-test needs the file', () => {
    const broken = uvs('--keepalived', 'test/fixtures/keepalived/broken/missing-braces.conf');
    expect(broken.status).toBe(1);
    expect(broken.stderr).toContain(
      "test/fixtures/keepalived/broken/missing-braces.conf:4: error: Extra '}' found",
    );
    expect(broken.stderr).toContain('cannot run this configuration');
    const pe = uvs('--keepalived', 'test/fixtures/keepalived/runtime/persistence-engine.conf');
    expect(pe.status).toBe(1);
    expect(pe.stderr).toContain(
      'test/fixtures/keepalived/runtime/persistence-engine.conf:6: error: the startup table was refused: Scheduler or persistence engine not found',
    );
    const missing = uvs('--config-test');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('--config-test needs --keepalived FILE');
    const help = uvs('--help');
    expect(help.stdout).toContain('--keepalived FILE');
    expect(help.stdout).toContain('--config-test');
  }, 120_000);
});
