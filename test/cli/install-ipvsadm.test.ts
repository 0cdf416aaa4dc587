import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IPVSADM_SCRIPT_MARK, installIpvsadm } from '../../src/cli/install-ipvsadm.js';

describe('uvsadm --install-ipvsadm DIR', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'uvs-ipvsadm-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes an executable ipvsadm that passes every argument through, quoting intact', () => {
    // printf stands in for node + uvsadm: it shows exactly the words the script hands on.
    const path = installIpvsadm(dir, ['/usr/bin/printf', '[%s]\\n', "it's", 'a b']);
    expect(path).toBe(join(dir, 'ipvsadm'));
    expect(statSync(path).mode & 0o777).toBe(0o755);
    const out = execFileSync(path, ['-L', '-n', '$HOME', '*'], { cwd: '/', encoding: 'utf8' });
    expect(out).toBe("[it's]\n[a b]\n[-L]\n[-n]\n[$HOME]\n[*]\n");
    expect(readFileSync(path, 'utf8')).toContain(IPVSADM_SCRIPT_MARK);
    expect(readFileSync(path, 'utf8')).toMatch(/netlink API directly/);
  });

  it('replaces its own file but never one it did not write', () => {
    installIpvsadm(dir, ['/bin/true']);
    installIpvsadm(dir, ['/bin/false']);
    expect(readFileSync(join(dir, 'ipvsadm'), 'utf8')).toContain('exec \'/bin/false\' "$@"');
    writeFileSync(join(dir, 'ipvsadm'), '\x7fELF the real ipvsadm');
    expect(() => installIpvsadm(dir, ['/bin/true'])).toThrow(
      /exists and was not installed by uvsadm: not replaced/,
    );
    expect(readFileSync(join(dir, 'ipvsadm'), 'utf8')).toBe('\x7fELF the real ipvsadm');
  });

  it('refuses a directory that is not there', () => {
    expect(() => installIpvsadm(join(dir, 'nope'), ['/bin/true'])).toThrow(/is not a directory/);
  });
});
