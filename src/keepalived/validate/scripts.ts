/**
 * Script security as keepalived checks it before running anything (notify.c
 * check_script_secure / check_security): a script is looked up (in PATH when it has no
 * `/`), must exist and be executable; one that runs as root must not be changeable by
 * anyone else (every directory on its path and the file itself owned by root, and not
 * group- or world-writable unless a sticky directory). Without `enable_script_security`,
 * keepalived refuses the whole configuration as soon as any script exists ("SECURITY
 * VIOLATION"); with it, insecure scripts are disabled.
 */
import { isAbsolute, join } from 'node:path';
import type { DiagnosticList, Loc } from '../diagnostics.js';
import type { ConfigFs } from '../grammar/files.js';
import type { HostProbe } from '../host.js';
import type { GlobalDefs, ScriptSpec } from '../model.js';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ScriptUse {
  readonly script: ScriptSpec;
  /** What it is, for messages ("misc script", "notify script"). */
  readonly role: string;
}

export interface ScriptVerdict {
  readonly found: boolean;
  readonly executable: boolean;
  readonly insecure: boolean;
  /** `</dev/tcp/...`-style "scripts" the shell runs without a file. */
  readonly system: boolean;
  readonly path?: string;
}

/** The uid a script runs as: its own user, else global script_user, else keepalived_script
 * when that user exists, else root. */
function runsAsRoot(s: ScriptSpec, global: GlobalDefs, host: HostProbe): boolean {
  const user =
    s.user ??
    global.scriptUser?.user ??
    (host.userExists('keepalived_script') ? 'keepalived_script' : 'root');
  return user === 'root';
}

export function checkScript(
  s: ScriptSpec,
  fs: ConfigFs,
  asRoot: boolean,
  pathEnv = process.env.PATH,
): ScriptVerdict {
  const cmd = s.args[0] ?? '';
  if (/^<[ \t]*\//.test(cmd))
    return { found: true, executable: true, insecure: false, system: true };
  let path: string | undefined;
  if (!cmd.includes('/')) {
    for (const dir of (pathEnv ?? DEFAULT_PATH).split(':')) {
      if (dir === '') continue;
      const p = join(dir, cmd);
      const st = fs.stat(p);
      if (st?.isFile) {
        path = p;
        break;
      }
    }
  } else {
    path = cmd;
  }
  if (path === undefined)
    return { found: false, executable: false, insecure: false, system: false };
  const real = fs.realPath(path);
  const st = real ? fs.stat(real) : null;
  if (!real || !st)
    return { found: false, executable: false, insecure: false, system: false, path };
  const executable = (st.mode & 0o111) !== 0;
  let insecure = false;
  if (executable && asRoot) {
    insecure = pathInsecure(path, fs) || (real !== path && pathInsecure(real, fs));
  }
  return { found: true, executable, insecure, system: false, path: real };
}

/** check_security(): any component not root-owned, or writable by a non-root group or by
 * everyone (directories with the sticky bit excepted). */
function pathInsecure(path: string, fs: ConfigFs): boolean {
  if (!isAbsolute(path)) return true;
  const parts = path.split('/').filter((p) => p !== '');
  let cur = '/';
  const check = (p: string, last: boolean): boolean => {
    const st = fs.lstat(p);
    if (st === null) return true;
    if (!last && !st.isDirectory && !st.isSymbolicLink) return true;
    if (st.uid !== 0) return true;
    const sticky = (st.mode & 0o1000) !== 0;
    const writable = (st.gid !== 0 && (st.mode & 0o020) !== 0) || (st.mode & 0o002) !== 0;
    if ((st.isDirectory && !sticky && writable) || (st.isFile && writable)) return true;
    return false;
  };
  if (check('/', false)) return true;
  for (let i = 0; i < parts.length; i++) {
    cur = join(cur, parts[i]);
    if (check(cur, i === parts.length - 1)) return true;
  }
  return false;
}

/**
 * Checks the scripts one keepalived process runs and reports as keepalived does: one
 * "SECURITY VIOLATION" error when scripts exist without enable_script_security; per
 * script, uvs notes a missing, non-executable or (with security on) insecure script,
 * which keepalived disables without failing the configuration test.
 */
export function checkScripts(
  uses: readonly ScriptUse[],
  process: 'checker' | 'vrrp',
  global: GlobalDefs,
  fs: ConfigFs,
  host: HostProbe,
  diags: DiagnosticList,
): void {
  let anyScript = false;
  let anyInsecure = false;
  let firstLoc: Loc | undefined;
  for (const u of uses) {
    const asRoot = runsAsRoot(u.script, global, host);
    const v = checkScript(u.script, fs, asRoot);
    const name = u.script.args[0] ?? '';
    if (u.script.user !== undefined && !host.userExists(u.script.user)) {
      diags.uvsOnly(
        'error',
        u.script.loc,
        `${u.role} ${name}: user '${u.script.user}' does not exist`,
        'check',
      );
    }
    if (v.system) continue;
    if (!v.found) {
      diags.uvsOnly(
        'warning',
        u.script.loc,
        `${u.role} ${name} not found/accessible - keepalived disables it`,
        'check',
      );
      continue;
    }
    anyScript = true;
    firstLoc ??= u.script.loc;
    if (!v.executable) {
      diags.uvsOnly(
        'warning',
        u.script.loc,
        `${u.role} ${name} is not executable - keepalived disables it`,
        'check',
      );
      continue;
    }
    if (v.insecure) {
      anyInsecure = true;
      if (global.enableScriptSecurity) {
        diags.uvsOnly(
          'warning',
          u.script.loc,
          `${u.role} ${name} could be changed by a non-root user - disabled by enable_script_security`,
          'check',
        );
      }
    }
  }
  if (anyScript && !global.enableScriptSecurity) {
    diags.error(
      firstLoc,
      `SECURITY VIOLATION - ${process === 'checker' ? 'check ' : ''}scripts are being executed but script_security not enabled.${anyInsecure ? ' There are insecure scripts.' : ''}`,
      'check',
    );
  }
}
