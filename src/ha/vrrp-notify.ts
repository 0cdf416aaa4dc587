/**
 * keepalived's notifications for a state change (keepalived/core/notify.c,
 * vrrp_notify.c):
 *   - notify_master / notify_backup / notify_fault / notify_stop: the command line as
 *     configured, no extra arguments;
 *   - notify: the command line plus `INSTANCE|GROUP` `NAME` `MASTER|BACKUP|FAULT|STOP`
 *     `PRIORITY` (groups: priority 0);
 *   - vrrp_notify_fifo: one line `INSTANCE "NAME" STATE PRIORITY` (or `GROUP ...`).
 * Scripts are started and not waited for (as keepalived), each bounded by a kill timer;
 * FIFO writes never block (a full or reader-less FIFO drops the line and counts it).
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, statSync, writeSync } from 'node:fs';
import type { NotifyScripts } from './vrrp-config.js';
import type { VrrpStateName } from './vrrp-instance.js';
import { splitCommand } from './vrrp-track.js';

/** A state change of an instance or a sync group (what the router publishes). */
export interface VrrpStateEvent {
  kind: 'instance' | 'group';
  name: string;
  from: VrrpStateName;
  to: VrrpStateName;
  /** Effective priority (groups: 0). */
  priority: number;
  /** Monotonic time of the change in microseconds. */
  atUs: number;
}

/** Starts a notify command; the default spawns it detached and kills it after 60 s. */
export type NotifyExec = (argv: string[]) => void;

const NOTIFY_KILL_MS = 60_000;

export const spawnNotify: NotifyExec = (argv) => {
  try {
    const child = spawn(argv[0], argv.slice(1), { stdio: 'ignore', detached: true });
    const t = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // finished
      }
    }, NOTIFY_KILL_MS);
    t.unref();
    child.on('exit', () => clearTimeout(t));
    child.on('error', () => clearTimeout(t));
    child.unref();
  } catch {
    // A notify script that cannot start changes nothing in VRRP.
  }
};

function stateWord(s: VrrpStateName): string {
  return s === 'INIT' ? 'INIT' : s;
}

/** The argv lists a state change runs (per-state script first, then generic notify). */
export function notifyCommands(ev: VrrpStateEvent, scripts: NotifyScripts): string[][] {
  const out: string[][] = [];
  const perState =
    ev.to === 'MASTER'
      ? scripts.master
      : ev.to === 'BACKUP'
        ? scripts.backup
        : ev.to === 'FAULT'
          ? scripts.fault
          : ev.to === 'STOP'
            ? scripts.stop
            : undefined;
  if (perState) out.push(splitCommand(perState));
  if (scripts.notify && ev.to !== 'INIT') {
    out.push([
      ...splitCommand(scripts.notify),
      ev.kind === 'group' ? 'GROUP' : 'INSTANCE',
      ev.name,
      stateWord(ev.to),
      String(ev.priority),
    ]);
  }
  return out.filter((a) => a.length > 0);
}

/** The FIFO line for a state change. */
export function fifoLine(ev: VrrpStateEvent): string {
  return `${ev.kind === 'group' ? 'GROUP' : 'INSTANCE'} "${ev.name}" ${stateWord(ev.to)} ${ev.priority}\n`;
}

/** vrrp_notify_fifo: created if missing (mkfifo), opened read-write so writes never block. */
export class NotifyFifo {
  private fd: number;
  dropped = 0;
  written = 0;

  constructor(readonly path: string) {
    if (!existsSync(path)) execFileSync('mkfifo', ['-m', '0600', path], { timeout: 5000 });
    const isFifo = statSync(path).isFIFO();
    this.fd = isFifo
      ? openSync(path, constants.O_RDWR | constants.O_NONBLOCK)
      : openSync(path, constants.O_WRONLY | constants.O_APPEND);
  }

  write(line: string): void {
    if (this.fd < 0) return;
    try {
      writeSync(this.fd, line);
      this.written++;
    } catch {
      this.dropped++;
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
