/** Loading keepalived.conf text in tests (a temp file; everything on the host "exists"). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { permissiveHost } from '../../src/keepalived/host.js';
import { loadKeepalivedConfig } from '../../src/keepalived/load.js';
import type { KeepalivedConfig } from '../../src/keepalived/model.js';

export class ConfDir {
  readonly dir = mkdtempSync(join(tmpdir(), 'uvs-kaint-'));
  private n = 0;

  /** Writes `text` to a new file and returns its path. */
  write(text: string, name = `keepalived-${++this.n}.conf`): string {
    const p = join(this.dir, name);
    writeFileSync(p, text);
    return p;
  }

  /** Reads `text` as keepalived would; throws with the diagnostics on errors. */
  load(text: string): KeepalivedConfig {
    const file = this.write(text);
    const r = loadKeepalivedConfig({ file, host: permissiveHost(), checkScripts: false });
    if (!r.config)
      throw new Error(r.diagnostics.map((d) => `${d.loc?.line}: ${d.message}`).join('\n'));
    return r.config;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
