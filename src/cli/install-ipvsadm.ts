/**
 * `uvsadm --install-ipvsadm DIR`: an `ipvsadm` command in DIR that runs uvsadm, so scripts
 * and tools that call `ipvsadm` and read what it prints (ldirectord, cron jobs, monitoring
 * checks) drive a uvs director unchanged once DIR comes first on their PATH, or once the
 * file is bind-mounted over /usr/sbin/ipvsadm in a private mount namespace.
 *
 * What it replaces is the ipvsadm *command line and its output formats*. Programs that talk
 * to the kernel's IPVS netlink API themselves — keepalived's checker, anything linked with
 * libipvs, kube-proxy in ipvs mode — never run ipvsadm and are not redirected by it.
 *
 * The file is a small shell script (not a symlink): it names node and the uvsadm program by
 * absolute path, so it works whatever PATH and working directory the caller has. It never
 * replaces a file it did not write, so a real ipvsadm in DIR is safe.
 */
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The line that marks a file as written by this installer. */
export const IPVSADM_SCRIPT_MARK = '# uvs: ipvsadm served by uvsadm';

/** POSIX shell single quoting. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The script's text: run `command` (node, its flags, the uvsadm program) with the arguments. */
export function ipvsadmScript(command: readonly string[]): string {
  return (
    '#!/bin/sh\n' +
    `${IPVSADM_SCRIPT_MARK} (uvsadm --install-ipvsadm).\n` +
    "# Replaces the ipvsadm command line and its output formats. Programs that use the kernel's\n" +
    "# IPVS netlink API directly (keepalived's checker, libipvs users, kube-proxy's ipvs mode)\n" +
    '# do not run ipvsadm and are not redirected by this file.\n' +
    `exec ${command.map(shellQuote).join(' ')} "$@"\n`
  );
}

/**
 * Writes DIR/ipvsadm (mode 0755) running `command`; returns its path. Throws with a message
 * ready to print when DIR is not a directory or DIR/ipvsadm exists and is not ours.
 */
export function installIpvsadm(dir: string, command: readonly string[]): string {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new Error(`${dir} is not a directory`);
  const target = join(dir, 'ipvsadm');
  if (existsSync(target)) {
    let text = '';
    try {
      text = readFileSync(target, 'utf8');
    } catch {
      text = '';
    }
    if (!text.includes(IPVSADM_SCRIPT_MARK)) {
      throw new Error(`${target} exists and was not installed by uvsadm: not replaced`);
    }
  }
  // Write next to the target and rename: a caller running ipvsadm meanwhile sees the old
  // file or the new one, never half of one.
  const tmp = join(dir, `.ipvsadm.uvs-${process.pid}`);
  writeFileSync(tmp, ipvsadmScript(command), { mode: 0o755 });
  chmodSync(tmp, 0o755); // whatever the umask
  renameSync(tmp, target);
  return target;
}
