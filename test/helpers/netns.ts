/**
 * Network-namespace lab for root tests: uniquely named namespaces, veth pairs, addresses,
 * commands run inside a namespace, long-running processes, and "tasks" — a TypeScript
 * function run in a child `node` process inside a namespace that reports back as JSON.
 * Everything a lab creates is removed by `lab.cleanup()` (call it in afterAll/finally),
 * and, as a safety net, on process exit, SIGINT and SIGTERM.
 *
 * Names: every namespace is `uvs<area>-<pid>-<rand>-<short>`, so parallel runs and other
 * areas never collide, and namespaces left behind by a crashed run (whose pid is gone) are
 * swept the next time a lab of the same area starts. Links are created inside the
 * namespaces (never in the host namespace), so their names need no prefix.
 *
 * A test process cannot enter a namespace itself (setns applies to the calling thread and
 * Node has many), so code that must run inside one — a packet socket, a TAP device — runs
 * as a task:
 *
 *   // test/io/ns-tasks.ts
 *   export async function rx(args: { dev: string }, ctx: TaskContext) { ...; ctx.ready(); await ctx.stopped; return {...}; }
 *   // test
 *   const t = lab.task<Result>(nsB, new URL('./ns-tasks.ts', import.meta.url), 'rx', { dev: 'v0' });
 *   await t.ready;          // the task called ctx.ready()
 *   ...traffic...
 *   t.stop();               // ctx.stopped resolves in the child
 *   const r = await t.result;
 *
 * The child runs `node --import tsx test/helpers/netns.ts` under `ip netns exec NS`; this
 * same file is the child entry point (selected by UVS_NS_CHILD=1).
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const THIS_FILE = fileURLToPath(import.meta.url);
const NETNS_DIR = '/var/run/netns';
const MARK = '@@uvs-task ';

/** Throws a clear error unless we can create namespaces (root). */
export function requireRoot(): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error(
      'this test needs root (CAP_NET_ADMIN/CAP_SYS_ADMIN) to create network namespaces; run it as root',
    );
  }
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Milliseconds before the command is killed (default 20000). */
  timeoutMs?: number;
  /** Text written to the command's stdin. */
  input?: string;
}

/** Runs a command (not in a namespace) and returns its output; rejects with stderr on failure. */
export function run(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 20_000, maxBuffer: 64 << 20, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err) {
          const e = new Error(
            `${cmd} ${args.join(' ')} failed: ${err.message.split('\n')[0]}\n${stderr}`.trim(),
          );
          reject(e);
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** What a task function receives besides its arguments. */
export interface TaskContext {
  /** Tell the parent the task is set up (resolves `task.ready` with `data`). */
  ready(data?: unknown): void;
  /** Resolves when the parent calls `task.stop()` (or goes away). */
  stopped: Promise<void>;
  /** True once `stopped` has resolved (for polling loops). */
  isStopped(): boolean;
}

export type TaskFn<A = unknown, R = unknown> = (args: A, ctx: TaskContext) => Promise<R> | R;

export interface Task<R> {
  /** Resolves when the task calls ctx.ready(); rejects if it fails first. */
  ready: Promise<unknown>;
  /** The task's return value. */
  result: Promise<R>;
  /** Asks the task to finish (resolves ctx.stopped in the child). */
  stop(): void;
  readonly pid: number;
}

export interface TaskOptions {
  /** Milliseconds before the child is killed and the task rejected (default 30000). */
  timeoutMs?: number;
}

/** A running process started by the lab. */
export interface LabProcess {
  child: ChildProcess;
  pid: number;
  /** Output collected so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or signal name) when it ends. */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

const liveLabs = new Set<Lab>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const lab of liveLabs) lab.cleanupSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const lab of liveLabs) lab.cleanupSync();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes namespaces of this area whose creating process is gone. */
function sweepStale(prefix: string): void {
  if (!existsSync(NETNS_DIR)) return;
  for (const name of readdirSync(NETNS_DIR)) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !pidAlive(pid)) {
      try {
        execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore', timeout: 10_000 });
      } catch {
        // Already gone or busy: the next sweep tries again.
      }
    }
  }
}

export class Lab {
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly procs = new Set<LabProcess>();
  private closed = false;

  /** area: a short tag for the test area ("io", "dp", "lab"...), letters/digits only. */
  constructor(area: string) {
    requireRoot();
    if (!/^[a-z0-9]{1,8}$/.test(area))
      throw new Error(`lab area must be 1-8 of [a-z0-9], got '${area}'`);
    const areaPrefix = `uvs${area}-`;
    sweepStale(areaPrefix);
    const rand = Math.random().toString(36).slice(2, 6);
    this.prefix = `${areaPrefix}${process.pid}-${rand}-`;
    liveLabs.add(this);
    installExitHooks();
  }

  /** Creates namespace `<prefix><short>` with loopback up; returns its full name. */
  async ns(short: string): Promise<string> {
    if (this.closed) throw new Error('lab is cleaned up');
    if (!/^[a-z0-9]{1,12}$/.test(short))
      throw new Error(`namespace short name must be [a-z0-9]{1,12}: '${short}'`);
    const name = this.prefix + short;
    await run('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /**
   * Creates a veth pair: `a.dev` in namespace a.ns and `b.dev` in b.ns, both up.
   * Optional MTU and MAC addresses (aa:bb:...).
   */
  async veth(
    a: { ns: string; dev: string; mac?: string },
    b: { ns: string; dev: string; mac?: string },
    opts: { mtu?: number } = {},
  ): Promise<void> {
    const args = ['-n', a.ns, 'link', 'add', a.dev];
    if (a.mac) args.push('address', a.mac);
    if (opts.mtu) args.push('mtu', String(opts.mtu));
    args.push('type', 'veth', 'peer', 'name', b.dev, 'netns', b.ns);
    if (b.mac) args.push('address', b.mac);
    if (opts.mtu) args.push('mtu', String(opts.mtu));
    await run('ip', args);
    await run('ip', ['-n', a.ns, 'link', 'set', a.dev, 'up']);
    await run('ip', ['-n', b.ns, 'link', 'set', b.dev, 'up']);
  }

  /** Adds an address (CIDR) to a device. */
  async addr(ns: string, dev: string, cidr: string): Promise<void> {
    await run('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', dev]);
  }

  /** Runs `cmd args` inside namespace `ns` and returns its output. */
  exec(ns: string, cmd: string, args: string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
  }

  /** Reads a device's MAC address (aa:bb:cc:dd:ee:ff) in a namespace. */
  async mac(ns: string, dev: string): Promise<string> {
    const { stdout } = await run('ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev]);
    const j = JSON.parse(stdout) as Array<{ address: string }>;
    return j[0].address;
  }

  /**
   * Starts a long-running `cmd args` inside `ns` (its own process group); it is killed at
   * cleanup if still running.
   */
  spawn(ns: string, cmd: string, args: string[] = [], env?: NodeJS.ProcessEnv): LabProcess {
    if (this.closed) throw new Error('lab is cleaned up');
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      env: env ?? process.env,
    });
    if (child.pid === undefined) throw new Error(`could not start ${cmd} in ${ns}`);
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      if (out.length < 1 << 20) out += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (err.length < 1 << 20) err += d;
    });
    const pid = child.pid;
    const p: LabProcess = {
      child,
      pid,
      stdout: () => out,
      stderr: () => err,
      exited: new Promise((resolve) => {
        child.on('exit', (code, signal) => {
          this.procs.delete(p);
          resolve(code ?? signal ?? -1);
        });
      }),
      kill: (signal: NodeJS.Signals = 'SIGTERM') => {
        // Negative pid: the whole process group we created (detached), nothing else.
        if (child.exitCode === null && child.signalCode === null) {
          try {
            process.kill(-pid, signal);
          } catch {
            // already gone
          }
        }
      },
    };
    this.procs.add(p);
    return p;
  }

  /**
   * Runs `exportName` from module `mod` (a .ts file) in a child node process inside `ns`.
   * The function gets (args, ctx) and its return value (JSON-serialisable) resolves
   * `result`. See the file comment for the protocol.
   */
  task<R = unknown>(
    ns: string,
    mod: URL | string,
    exportName: string,
    args: unknown = {},
    opts: TaskOptions = {},
  ): Task<R> {
    const modUrl = typeof mod === 'string' ? pathToFileURL(mod).href : mod.href;
    const proc = this.spawn(ns, process.execPath, ['--import', 'tsx', THIS_FILE], {
      ...process.env,
      UVS_NS_CHILD: '1',
      UVS_NS_MODULE: modUrl,
      UVS_NS_EXPORT: exportName,
      UVS_NS_ARGS: JSON.stringify(args),
    });
    const timeoutMs = opts.timeoutMs ?? 30_000;
    let readyResolve!: (v: unknown) => void;
    let readyReject!: (e: Error) => void;
    const ready = new Promise<unknown>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    // A test that never awaits `ready` must not see an unhandled rejection.
    ready.catch(() => {});
    const result = new Promise<R>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        fail(new Error(`task ${exportName} in ${ns} timed out after ${timeoutMs} ms`));
        proc.kill('SIGKILL');
      }, timeoutMs);
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        readyReject(e);
        reject(e);
      };
      const rl = createInterface({ input: proc.child.stdout! });
      rl.on('line', (line) => {
        if (!line.startsWith(MARK)) return;
        const msg = JSON.parse(line.slice(MARK.length)) as {
          type: string;
          data?: unknown;
          message?: string;
        };
        if (msg.type === 'ready') readyResolve(msg.data);
        else if (msg.type === 'result') {
          settled = true;
          clearTimeout(timer);
          readyResolve(undefined);
          resolve(msg.data as R);
        } else if (msg.type === 'error') {
          fail(new Error(`task ${exportName} in ${ns} failed: ${msg.message}`));
        }
      });
      void proc.exited.then((code) => {
        // Give readline a turn to deliver the last line before judging the exit.
        setImmediate(() =>
          fail(
            new Error(
              `task ${exportName} in ${ns} exited (${code}) without a result; stderr:\n${proc.stderr().slice(-4000)}`,
            ),
          ),
        );
      });
    });
    result.catch(() => {});
    return {
      ready,
      result,
      pid: proc.pid,
      stop: () => {
        if (proc.child.stdin && !proc.child.stdin.destroyed) proc.child.stdin.end('stop\n');
      },
    };
  }

  /** Removes every process and namespace this lab created. Safe to call twice. */
  async cleanup(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    liveLabs.delete(this);
    const exits: Promise<unknown>[] = [];
    for (const p of [...this.procs]) {
      p.kill('SIGKILL');
      exits.push(Promise.race([p.exited, new Promise((r) => setTimeout(r, 2000))]));
    }
    await Promise.all(exits);
    const errors: string[] = [];
    for (const ns of this.namespaces.splice(0)) {
      try {
        await run('ip', ['netns', 'del', ns], { timeoutMs: 10_000 });
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    if (errors.length) throw new Error(`lab cleanup: ${errors.join('; ')}`);
  }

  /** Synchronous last-resort cleanup for process exit and signals. */
  cleanupSync(): void {
    if (this.closed) return;
    this.closed = true;
    liveLabs.delete(this);
    for (const p of this.procs) {
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const ns of this.namespaces.splice(0)) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 });
      } catch {
        // nothing more to do at exit
      }
    }
  }
}

/** Creates a lab for test area `area` (see Lab). */
export function createLab(area: string): Lab {
  return new Lab(area);
}

// ---------------------------------------------------------------------------------------
// Child side: `UVS_NS_CHILD=1 node --import tsx test/helpers/netns.ts` inside a namespace.
// ---------------------------------------------------------------------------------------

function emit(type: string, payload: Record<string, unknown>): Promise<void> {
  return new Promise((resolve) => {
    process.stdout.write(`${MARK}${JSON.stringify({ type, ...payload })}\n`, () => resolve());
  });
}

async function childMain(): Promise<void> {
  const modUrl = process.env.UVS_NS_MODULE ?? '';
  const name = process.env.UVS_NS_EXPORT ?? '';
  let stoppedFlag = false;
  const stopped = new Promise<void>((resolve) => {
    const done = () => {
      stoppedFlag = true;
      resolve();
    };
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (d: string) => {
      if (d.includes('stop')) done();
    });
    process.stdin.on('end', done);
    process.stdin.on('error', done);
  });
  const ctx: TaskContext = {
    ready: (data?: unknown) => {
      void emit('ready', { data: data ?? null });
    },
    stopped,
    isStopped: () => stoppedFlag,
  };
  try {
    const mod = (await import(modUrl)) as Record<string, unknown>;
    const fn = mod[name];
    if (typeof fn !== 'function') throw new Error(`${modUrl} has no exported function ${name}`);
    const args = JSON.parse(process.env.UVS_NS_ARGS ?? '{}') as unknown;
    const result = await (fn as TaskFn)(args, ctx);
    await emit('result', { data: result ?? null });
    process.exit(0);
  } catch (e) {
    const err = e as Error;
    await emit('error', { message: `${err.message}\n${err.stack ?? ''}` });
    process.exit(1);
  }
}

if (process.env.UVS_NS_CHILD === '1' && process.argv[1] === THIS_FILE) {
  void childMain();
}
