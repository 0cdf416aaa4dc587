/**
 * User and group names to ids, from /etc/passwd and /etc/group (Node has no getpwnam).
 * Used for MISC_CHECK's `user` and the global `script_user`.
 */
import { readFileSync } from 'node:fs';

export interface RunAs {
  uid: number;
  gid: number;
}

function readDb(path: string): string[][] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  // The databases are small; refuse to parse something absurd.
  if (text.length > 16 << 20) return [];
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

/** uid and primary gid of a user name (or numeric uid), or null. */
export function lookupUser(name: string, passwd = '/etc/passwd'): RunAs | null {
  for (const f of readDb(passwd)) {
    if (f.length >= 4 && (f[0] === name || f[2] === name))
      return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

/** gid of a group name (or numeric gid), or null. */
export function lookupGroup(name: string, group = '/etc/group'): number | null {
  for (const f of readDb(group)) {
    if (f.length >= 3 && (f[0] === name || f[2] === name)) return Number(f[2]);
  }
  return null;
}

/** Resolves `user [group]` as keepalived's set_uid_gid does; an error text when it cannot. */
export function resolveUser(user: string, group?: string): RunAs | string {
  const u = lookupUser(user);
  if (!u) return `Script user '${user}' does not exist`;
  if (group === undefined) return u;
  const g = lookupGroup(group);
  if (g === null) return `Script group '${group}' does not exist`;
  return { uid: u.uid, gid: g };
}
