/**
 * Process plumbing for the namespace bench: commands with time limits, long-running
 * processes tracked by pid (and only those are ever signalled), and CPU counters read from
 * /proc. Nothing here knows about topologies or scenarios.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (killed after timeoutMs); rejects on a non-zero exit unless allowFail. */
export function exec(
  cmd: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number; allowFail?: boolean; cwd?: string } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      {
        timeout: opts.timeoutMs ?? 30_000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 << 20,
        cwd: opts.cwd,
      },
      (err, stdout, stderr) => {
        const code =
          err === null ? 0 : typeof err.code === 'number' ? err.code : err.killed ? 137 : 1;
        const r = { code, stdout: String(stdout), stderr: String(stderr) };
        if (code !== 0 && !opts.allowFail) {
          reject(
            new Error(
              `${cmd} ${args.join(' ')} failed (${err?.killed ? 'timed out' : `exit ${code}`}): ${r.stderr.trim() || r.stdout.trim()}`,
            ),
          );
        } else resolve(r);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Runs a command inside network namespace `ns`. */
export function nsExec(
  ns: string,
  argv: string[],
  opts: { input?: string; timeoutMs?: number; allowFail?: boolean; cwd?: string } = {},
): Promise<ExecResult> {
  return exec('ip', ['netns', 'exec', ns, ...argv], opts);
}

/** A long-running process we started; `stop()` signals only its pid. */
export class Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout = '';
  stderr = '';
  exited = false;
  exitCode: number | null = null;
  private readonly done: Promise<void>;

  constructor(
    readonly name: string,
    cmd: string,
    args: string[],
    cwd?: string,
  ) {
    this.child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd });
    if (this.child.pid === undefined) throw new Error(`cannot start ${name} (${cmd})`);
    this.pid = this.child.pid;
    this.child.stdout?.on('data', (d: Buffer) => {
      this.stdout = tail(this.stdout + d.toString());
    });
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr = tail(this.stderr + d.toString());
    });
    this.done = new Promise((resolve) => {
      this.child.on('exit', (code) => {
        this.exited = true;
        this.exitCode = code;
        resolve();
      });
      this.child.on('error', () => {
        this.exited = true;
        resolve();
      });
    });
    live.add(this);
    void this.done.then(() => live.delete(this));
  }

  /** Resolves when `re` appears on stdout or stderr; rejects on exit or after timeoutMs. */
  async waitFor(re: RegExp, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (re.test(this.stdout) || re.test(this.stderr)) return;
      if (this.exited)
        throw new Error(`${this.name} exited (${this.exitCode}): ${this.stderr.trim()}`);
      await sleep(50);
    }
    throw new Error(`${this.name} not ready after ${timeoutMs} ms: ${this.stderr.trim()}`);
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exited) return;
    // Children it started (e.g. the server under `timeout`) must not outlive it.
    const kids = descendants(this.pid);
    try {
      process.kill(this.pid, 'SIGTERM');
    } catch {
      return;
    }
    const t = setTimeout(() => {
      try {
        if (!this.exited) process.kill(this.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, graceMs);
    await this.done;
    clearTimeout(t);
    for (const k of kids) signal(k, 'SIGKILL');
  }

  wait(): Promise<void> {
    return this.done;
  }
}

function tail(s: string): string {
  return s.length > 65536 ? s.slice(-65536) : s;
}

/** Every Proc still running, for cleanup. */
export const live = new Set<Proc>();

/** SIGKILLs every Proc we started that is still running (synchronous, for exit handlers). */
export function killAllSync(): void {
  for (const p of live) {
    const kids = descendants(p.pid);
    signal(p.pid, 'SIGKILL');
    for (const k of kids) signal(k, 'SIGKILL');
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

/** Every descendant of `pid` (from /proc/PID/task/TID/children), children first. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number, depth: number) => {
    if (depth > 8) return;
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const t of tids) {
      let kids: number[] = [];
      try {
        kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8')
          .trim()
          .split(/\s+/)
          .filter((x) => x !== '')
          .map(Number);
      } catch {
        // thread gone
      }
      for (const k of kids) {
        out.push(k);
        walk(k, depth + 1);
      }
    }
  };
  walk(pid, 0);
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Clock ticks per second for /proc times (USER_HZ; 100 on every Linux we run on). */
export const CLK_TCK = 100;

/**
 * CPU ticks from /proc/PID/stat (all threads): utime + stime, plus cutime + cstime (the
 * children it has reaped) with `reaped`; null when it is gone.
 */
function statTicks(pid: number, reaped: boolean): number | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" of comm: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]) + (reaped ? Number(f[13]) + Number(f[14]) : 0);
  } catch {
    return null;
  }
}

/** utime + stime of `pid` in ticks (all threads), or null when it is gone. */
export function procTicks(pid: number): number | null {
  return statTicks(pid, false);
}

/**
 * CPU ticks of `pid` and everything under it: each live process's own time plus that of the
 * children it has reaped (a scraper's short-lived curl children land there); 0 for what is
 * gone.
 */
export function treeTicks(pid: number): number {
  return [pid, ...descendants(pid)].reduce((sum, p) => sum + (statTicks(p, true) ?? 0), 0);
}

/** The aggregate "cpu" line of /proc/stat, in ticks. */
export interface CpuTicks {
  user: number;
  system: number;
  softirq: number;
  irq: number;
  idle: number;
  total: number;
}

export function cpuTicks(): CpuTicks {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = v;
  return {
    user: user + nice,
    system,
    softirq,
    irq,
    idle: idle + iowait,
    total: user + nice + system + idle + iowait + irq + softirq + steal,
  };
}

/** What the idle gate saw before a measurement. */
export interface IdleGate {
  /** Non-idle cores over the last sample window (ours and everyone else's). */
  busyCores: number;
  /** Seconds spent waiting. */
  waitedSeconds: number;
  /** Whether the machine was under the threshold when the measurement started. */
  idle: boolean;
}

/**
 * Waits until the whole machine is busy on fewer than `maxBusyCores` cores, measured over
 * windows of `windowMs` from /proc/stat, for at most `maxWaitMs`. Never throws: a machine
 * that never became idle is reported (idle: false) and the measurement goes ahead, since a
 * shared machine may never be quiet and a bench that refuses to run measures nothing.
 */
export async function waitIdle(
  maxBusyCores: number,
  maxWaitMs: number,
  windowMs = 500,
  ticks: () => CpuTicks = cpuTicks,
): Promise<IdleGate> {
  const t0 = performance.now();
  let busy = Number.POSITIVE_INFINITY;
  for (;;) {
    const a = ticks();
    const w0 = performance.now();
    await sleep(windowMs);
    const b = ticks();
    const secs = (performance.now() - w0) / 1000;
    busy = (b.total - b.idle - (a.total - a.idle)) / CLK_TCK / Math.max(secs, 1e-3);
    const waited = performance.now() - t0;
    if (busy < maxBusyCores || waited >= maxWaitMs) {
      return {
        busyCores: Math.round(busy * 1000) / 1000,
        waitedSeconds: Math.round(waited / 100) / 10,
        idle: busy < maxBusyCores,
      };
    }
  }
}
