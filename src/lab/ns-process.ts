/**
 * Processes in the lab's namespaces, remembered by pid: start one and wait for its ready
 * line, run a command to completion, stop one by signal. `ip netns exec` execs the command
 * in place, so the pid of the child is the pid of the program itself (uvs, BIRD's parent,
 * a real-server app) and a signal to it reaches exactly that program.
 */
import { type ChildProcess, spawn } from 'node:child_process';

export interface CmdResult {
  code: number;
  out: string;
  err: string;
}

export interface NsProcess {
  readonly name: string;
  readonly ns: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything it printed so far (stdout and stderr, capped at 1 MB). */
  output(): string;
  /** Resolves with the exit code (128 + n for a signal). */
  readonly exited: Promise<number>;
  /** Epoch ms of the exit, once it exited. */
  exitedAt: number | null;
}

const MAX_OUTPUT = 1 << 20;

/** Starts `argv` in namespace `ns` and waits until its output matches `ready`. */
export async function spawnInNs(
  name: string,
  ns: string,
  argv: string[],
  ready: RegExp,
  timeoutMs = 30_000,
): Promise<NsProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const p: NsProcess = {
    name,
    ns,
    child,
    pid: child.pid ?? -1,
    output: () => output,
    exitedAt: null,
    exited: new Promise((res) =>
      child.on('exit', (c, sig) => {
        p.exitedAt = Date.now();
        res(c ?? (sig ? 128 + signalNumber(sig) : 1));
      }),
    ),
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} not ready after ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    );
    const onData = (d: Buffer) => {
      if (output.length < MAX_OUTPUT) output += d.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.exited.then((c) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${c}) before it was ready:\n${output}`));
    });
  }).catch((e: unknown) => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw e;
  });
  return p;
}

/** Sends `signal`, waits for the exit (SIGKILL after `timeoutMs`); resolves the exit code. */
export async function stopProcess(
  p: NsProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  timeoutMs = 10_000,
): Promise<number> {
  if (p.exitedAt === null) p.child.kill(signal);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  try {
    return await p.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `argv` in namespace `ns` to completion (killed after `timeoutMs`). */
export function execInNs(
  ns: string,
  argv: string[],
  stdin?: string,
  timeoutMs = 30_000,
): Promise<CmdResult> {
  return runCommand(['ip', 'netns', 'exec', ns, ...argv], {
    stdin,
    timeoutMs,
    maxOutput: MAX_OUTPUT,
  });
}

/**
 * Runs `argv` to completion with `stdin` as its input (none: an empty one), SIGKILLed after
 * `timeoutMs`; keeps the first `maxOutput` characters or so of stdout and of stderr (default
 * all). A program that cannot be started resolves with code 127, as in a shell.
 */
export function runCommand(
  argv: readonly string[],
  opts: { stdin?: string; timeoutMs: number; maxOutput?: number },
): Promise<CmdResult> {
  const max = opts.maxOutput ?? Number.POSITIVE_INFINITY;
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      if (out.length < max) out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < max) err += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 127, out, err: `${err}${e.message}` });
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, out, err });
    });
    // A command that exits without reading its input must not fail the caller (EPIPE).
    child.stdin.on('error', () => {});
    child.stdin.end(opts.stdin ?? '');
  });
}

function signalNumber(sig: NodeJS.Signals): number {
  return sig === 'SIGKILL' ? 9 : sig === 'SIGTERM' ? 15 : sig === 'SIGINT' ? 2 : 0;
}
