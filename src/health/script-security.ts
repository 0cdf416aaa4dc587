/**
 * keepalived's check_script_secure (core/notify.c), for MISC_CHECK scripts: find the
 * script (a bare name is looked up in PATH), make sure the user it runs as may execute it,
 * and, when it runs with root's rights (as uid or gid 0, or set-uid/set-gid root), make
 * sure no part of its path -- "/" down to the file, and the same for the file a symbolic
 * link leads to -- can be changed by anyone but root: owned by root, and neither group
 * (unless the group is root) nor others may write (directories with the sticky bit are
 * fine). With `enable_script_security` an unsafe script is disabled; without it the
 * problem is only logged, as keepalived does.
 */
import { lstatSync, realpathSync, type Stats, statSync } from 'node:fs';
import type { RunAs } from './users.js';

export interface ScriptVerdict {
  /** The program to run (bare names resolved through PATH, symbolic links kept). */
  path: string;
  /** Run it: found, executable by the user, and not disabled by script security. */
  usable: boolean;
  /** Found to be writable by non-root (logged; disables it with script security). */
  insecure: boolean;
  /** keepalived's log lines for what was found. */
  messages: string[];
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** keepalived's is_executable: may `who` execute a file with these stats. */
export function isExecutable(st: Stats, who: RunAs): boolean {
  const m = st.mode;
  if (who.uid === 0) return (m & 0o111) !== 0;
  if (st.uid === who.uid) return (m & 0o100) !== 0;
  if (st.gid === who.gid) return (m & 0o010) !== 0;
  return (m & 0o001) !== 0;
}

function findInPath(file: string, who: RunAs, messages: string[]): string | 'EACCES' | null {
  let denied = false;
  for (const dir of (process.env.PATH || DEFAULT_PATH).split(':')) {
    const candidate = `${dir || '.'}/${file}`;
    let st: Stats;
    try {
      st = statSync(candidate);
    } catch {
      continue;
    }
    if (st.isFile() && isExecutable(st, who)) {
      messages.push(
        `WARNING - script \`${file}\` resolved by path search to \`${candidate}\`. Please specify full path.`,
      );
      return candidate;
    }
    denied = true;
  }
  return denied ? 'EACCES' : null;
}

/** The first directory above `file` that `who` may not search, or null. */
function unsearchableDir(file: string, who: RunAs): string | null {
  const parts = file.split('/').filter(Boolean).slice(0, -1);
  for (let i = 0; i <= parts.length; i++) {
    const dir = `/${parts.slice(0, i).join('/')}`;
    try {
      if (!isExecutable(statSync(dir), who)) return dir;
    } catch {
      return dir;
    }
  }
  return null;
}

/** check_security: every component of `path`, "/" first. */
function pathComponentsSafe(
  path: string,
  scriptSecurity: boolean,
  messages: string[],
): 'ok' | 'insecure' | 'inhibit' | 'notfound' {
  const parts = path.split('/').filter(Boolean);
  const prefixes = ['/'];
  for (let i = 0; i < parts.length; i++) prefixes.push(`/${parts.slice(0, i + 1).join('/')}`);
  for (let i = 0; i < prefixes.length; i++) {
    const last = i === prefixes.length - 1;
    let st: Stats;
    try {
      st = lstatSync(prefixes[i]);
    } catch {
      messages.push(`check_script_secure could not find script '${path}' - disabling`);
      return 'notfound';
    }
    if ((!last && !st.isDirectory()) || (last && !st.isFile() && !st.isSymbolicLink())) {
      messages.push(`Wrong file type found in script path '${path}'.`);
      return 'inhibit';
    }
    const sticky = (st.mode & 0o1000) !== 0;
    const groupWrite = st.gid !== 0 && (st.mode & 0o020) !== 0;
    const otherWrite = (st.mode & 0o002) !== 0;
    if (
      st.uid !== 0 ||
      (((st.isDirectory() && !sticky) || st.isFile()) && (groupWrite || otherWrite))
    ) {
      messages.push(
        `Unsafe permissions found for script '${path}'${scriptSecurity ? ' - disabling' : ''}.`,
      );
      return scriptSecurity ? 'inhibit' : 'insecure';
    }
  }
  return 'ok';
}

export function checkScriptSecure(
  argv0: string,
  who: RunAs,
  scriptSecurity: boolean,
): ScriptVerdict {
  const messages: string[] = [];
  const out = (path: string, usable: boolean, insecure = false): ScriptVerdict => ({
    path,
    usable,
    insecure,
    messages,
  });
  let path = argv0;
  if (!argv0.includes('/')) {
    const found = findInPath(argv0, who, messages);
    if (found === null || found === 'EACCES') {
      messages.push(
        found === 'EACCES'
          ? `Permissions failure for script ${argv0} in path - disabling`
          : `Cannot find script ${argv0} in path - disabling`,
      );
      return out(argv0, false);
    }
    path = found;
  }
  let real: string;
  try {
    real = realpathSync(path);
  } catch (e) {
    messages.push(`Script ${path} cannot be accessed - ${(e as Error).message}`);
    return out(path, false);
  }
  // keepalived resolves the path as the script's user (seteuid); we are root, so check
  // that the user may search every directory on the way.
  const blocked = who.uid === 0 ? null : unsearchableDir(real, who);
  if (blocked) {
    messages.push(`Script ${path} cannot be accessed - Permission denied (${blocked})`);
    return out(path, false);
  }
  let st: Stats;
  try {
    st = statSync(real);
  } catch {
    messages.push(`Unable to access script \`${path}\` - disabling`);
    return out(path, false);
  }
  if (!isExecutable(st, who)) {
    messages.push(
      `WARNING - script '${path}' is not executable for uid:gid ${who.uid}:${who.gid} - disabling.`,
    );
    return out(path, false);
  }
  const rootRights =
    who.uid === 0 ||
    who.gid === 0 ||
    (st.uid === 0 && (st.mode & 0o4100) === 0o4100) ||
    (st.gid === 0 && (st.mode & 0o2010) === 0o2010);
  if (!rootRights) return out(path, true);
  let verdict = pathComponentsSafe(path, scriptSecurity, messages);
  if (verdict === 'ok' && real !== path)
    verdict = pathComponentsSafe(real, scriptSecurity, messages);
  if (verdict === 'inhibit') messages.push(`Disabling misc script ${path} due to insecure`);
  if (verdict === 'notfound')
    messages.push(`Disabling misc script ${path} since not found/accessible`);
  return out(path, verdict === 'ok' || verdict === 'insecure', verdict !== 'ok');
}
