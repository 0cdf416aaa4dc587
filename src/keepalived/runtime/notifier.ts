/**
 * keepalived's LVS notifications: the notify_up / notify_down / quorum_up / quorum_down
 * scripts (run as keepalived runs them: their own user, else global script_user, else
 * keepalived_script when it exists, else root; refused when script security finds them
 * unsafe; in their own process group; with the arguments written in the configuration and
 * nothing added), and the lines written to global_defs notify_fifo and lvs_notify_fifo
 * (ipwrapper.c notify_fifo_vs / notify_fifo_rs):
 *
 *   VS [198.18.0.100]:tcp:80 UP
 *   RS [198.18.1.11]:tcp:80 [198.18.0.100]:tcp:80 DOWN
 *
 * A FIFO is created when missing (mode 0644, owned by its `user`), opened read-write and
 * non-blocking as keepalived opens it, so a reader that is slow or absent never stalls the
 * director: a line that does not fit is dropped and counted. A FIFO's `_script` is started
 * with the FIFO's name as its last argument and is sent SIGTERM when uvs stops, and a FIFO
 * uvs created is removed then.
 *
 * Everything here runs on the control thread, off the packet path; a script is spawned, not
 * waited for, and at most MAX_RUNNING run at once.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chownSync,
  closeSync,
  constants,
  lstatSync,
  openSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { checkScriptSecure } from '../../health/script-security.js';
import { lookupUser, type RunAs, resolveUser } from '../../health/users.js';
import type { FifoSpec, GlobalDefs, ScriptSpec } from '../model.js';

/** Notify scripts running at once, at most (a flapping server must not fork-bomb). */
export const MAX_RUNNING = 64;

const DEFAULT_SCRIPT_USER = 'keepalived_script';

interface OpenFifo {
  readonly path: string;
  readonly fd: number;
  readonly created: boolean;
  readonly key: string;
  script: ChildProcess | null;
}

function fifoKey(f: FifoSpec): string {
  return JSON.stringify([f.path, f.user, f.group, f.script?.args, f.script?.user]);
}

export class LvsNotifier {
  private readonly running = new Set<ChildProcess>();
  private readonly resolved = new Map<string, { path: string; runAs: RunAs } | null>();
  private fifos: OpenFifo[] = [];
  private dropped = 0;
  private skipped = 0;

  constructor(
    private global: GlobalDefs,
    private readonly log: (line: string) => void,
  ) {}

  /** Opens the FIFOs global_defs names (and starts their scripts). */
  open(): void {
    for (const spec of [this.global.notifyFifo, this.global.lvsNotifyFifo]) {
      if (spec?.path === undefined) continue;
      const f = this.openFifo(spec);
      if (f) this.fifos.push(f);
    }
  }

  /** A reload: new script settings; FIFOs whose settings changed are reopened. */
  reconfigure(global: GlobalDefs): void {
    this.global = global;
    this.resolved.clear();
    const wanted = [global.notifyFifo, global.lvsNotifyFifo].filter(
      (f): f is FifoSpec => f?.path !== undefined,
    );
    const keep: OpenFifo[] = [];
    for (const f of this.fifos) {
      if (wanted.some((w) => fifoKey(w) === f.key)) keep.push(f);
      else this.closeFifo(f);
    }
    this.fifos = keep;
    for (const w of wanted) {
      if (keep.some((f) => f.key === fifoKey(w))) continue;
      const f = this.openFifo(w);
      if (f) this.fifos.push(f);
    }
  }

  /** A real server went up or down (do_rs_notifies). */
  realServer(vsName: string, rsName: string, up: boolean, script: ScriptSpec | undefined): void {
    if (script) this.run(script);
    this.write(`RS ${rsName} ${vsName} ${up ? 'UP' : 'DOWN'}\n`);
  }

  /** A virtual server gained or lost quorum (do_vs_notifies). */
  virtualServer(vsName: string, up: boolean, script: ScriptSpec | undefined): void {
    if (script) this.run(script);
    this.write(`VS ${vsName} ${up ? 'UP' : 'DOWN'}\n`);
  }

  /** Lines dropped because a FIFO was full, and scripts not run because too many ran. */
  get counters(): { fifoLinesDropped: number; scriptsSkipped: number } {
    return { fifoLinesDropped: this.dropped, scriptsSkipped: this.skipped };
  }

  /**
   * Stops: waits up to `graceMs` for running notify scripts (keepalived gives its shutdown
   * notifies a second), then kills their process groups; ends the FIFO scripts and removes
   * the FIFOs uvs created.
   */
  async close(graceMs = 1000): Promise<void> {
    for (const f of this.fifos) this.closeFifo(f);
    this.fifos = [];
    const deadline = Date.now() + graceMs;
    while (this.running.size > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    for (const c of this.running) killGroup(c, 'SIGKILL');
    this.running.clear();
  }

  private write(line: string): void {
    for (const f of this.fifos) {
      try {
        writeSync(f.fd, line);
      } catch (e) {
        // EAGAIN: the reader is behind and the pipe is full; keepalived drops it too.
        if (this.dropped++ === 0)
          this.log(`notify fifo ${f.path}: ${(e as NodeJS.ErrnoException).code}; dropping lines`);
      }
    }
  }

  /** The program and user a script runs as, checked once per configuration. */
  private resolve(s: ScriptSpec): { path: string; runAs: RunAs } | null {
    const key = JSON.stringify([s.args, s.user, s.group]);
    const hit = this.resolved.get(key);
    if (hit !== undefined) return hit;
    let out: { path: string; runAs: RunAs } | null = null;
    const who = this.runAs(s);
    if (typeof who === 'string') {
      this.log(`${who} - disabling notify script ${s.args[0]}`);
    } else {
      const v = checkScriptSecure(s.args[0] ?? '', who, this.global.enableScriptSecurity);
      for (const m of v.messages) this.log(m);
      if (v.usable) out = { path: v.path, runAs: who };
    }
    this.resolved.set(key, out);
    return out;
  }

  private runAs(s: ScriptSpec): RunAs | string {
    if (s.user !== undefined) return resolveUser(s.user, s.group);
    const su = this.global.scriptUser;
    if (su) return resolveUser(su.user, su.group);
    const ks = lookupUser(DEFAULT_SCRIPT_USER);
    if (ks) return ks;
    if (this.global.enableScriptSecurity)
      return `Unable to set default user ${DEFAULT_SCRIPT_USER} for script`;
    return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  }

  /** Starts a script; `tracked` ones count towards MAX_RUNNING and are waited for at close. */
  private run(s: ScriptSpec, extra: string[] = [], tracked = true): ChildProcess | null {
    const r = this.resolve(s);
    if (r === null) return null;
    if (tracked && this.running.size >= MAX_RUNNING) {
      if (this.skipped++ === 0)
        this.log(`${MAX_RUNNING} notify scripts still running; not starting ${s.args[0]}`);
      return null;
    }
    const me = process.getuid?.();
    const same = me === r.runAs.uid && process.getgid?.() === r.runAs.gid;
    let child: ChildProcess;
    try {
      child = spawn(r.path, [...s.args.slice(1), ...extra], {
        argv0: s.args[0],
        detached: true,
        stdio: 'ignore',
        ...(same ? {} : { uid: r.runAs.uid, gid: r.runAs.gid }),
      });
    } catch (e) {
      this.log(`Error exec-ing command '${s.args[0]}': ${(e as Error).message}`);
      return null;
    }
    child.on('error', (e) => this.log(`Error exec-ing command '${s.args[0]}': ${e.message}`));
    if (tracked) {
      this.running.add(child);
      child.on('exit', () => this.running.delete(child));
    }
    child.unref();
    return child;
  }

  private openFifo(spec: FifoSpec): OpenFifo | null {
    const path = spec.path as string;
    let created = false;
    try {
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (st === undefined) {
        execFileSync('mkfifo', ['-m', '644', path], { stdio: 'ignore', timeout: 5000 });
        created = true;
        if (spec.user !== undefined) {
          const who = resolveUser(spec.user, spec.group);
          if (typeof who !== 'string') chownSync(path, who.uid, who.gid);
          else this.log(`Failed to set uid:gid for fifo ${path}: ${who}`);
        }
      } else if (!st.isFIFO()) {
        this.log(`Unable to create notify fifo ${path}: it exists and is not a fifo`);
        return null;
      }
    } catch (e) {
      this.log(`Unable to create notify fifo ${path}: ${(e as Error).message}`);
      return null;
    }
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
    } catch (e) {
      this.log(`Unable to open notify fifo ${path}: ${(e as Error).message}`);
      if (created) unlinkSync(path);
      return null;
    }
    const f: OpenFifo = { path, fd, created, key: fifoKey(spec), script: null };
    if (spec.script) f.script = this.run(spec.script, [path], false);
    return f;
  }

  private closeFifo(f: OpenFifo): void {
    if (f.script) killGroup(f.script, 'SIGTERM');
    try {
      closeSync(f.fd);
    } catch {
      // Closed already.
    }
    if (f.created) {
      try {
        unlinkSync(f.path);
      } catch {
        // Someone removed it.
      }
    }
  }
}

function killGroup(c: ChildProcess, sig: NodeJS.Signals): void {
  if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
  try {
    process.kill(-c.pid, sig);
  } catch {
    // Gone already.
  }
}
