#!/usr/bin/env node
/**
 * `uvsadm`: ipvsadm's command line for a running `uvs run` daemon. The command runs in the
 * daemon (src/control/uvsadm.ts, through the daemon's one control path); this program only ships argv - and, for -R, the
 * restore lines read from stdin - over the control socket (src/control/daemon-socket.ts) and
 * prints the answer with the daemon's exit status.
 *
 * Handled here, without a daemon: -h/--help, -v/--version, command lines that do not parse
 * (same message and status as the daemon would give), `--control NAME`, which picks the
 * control socket (default: env UVS_CONTROL, else @uvs-ctl in the current network namespace),
 * and `--install-ipvsadm DIR` (install-ipvsadm.ts).
 */
import { realpathSync } from 'node:fs';
import {
  type ControlAddress,
  ControlError,
  callControl,
  controlAddress,
  controlNameFrom,
  DEFAULT_MAX_REQUEST_BYTES,
} from '../control/daemon-socket.js';
import { type Command, ParseError, PROGRAM, parseIpvsadm } from '../control/ipvsadm-parse.js';
import { usageText, versionText } from '../control/uvsadm.js';
import { installIpvsadm } from './install-ipvsadm.js';

/** ipvsadm's status when it cannot reach IPVS ("Can't initialize ipvs"). */
const EXIT_NO_DAEMON = 2;
/** A uvs option used wrongly (as ipvsadm's fail(2, ...)). */
const EXIT_USAGE = 2;
/** How long to wait for the daemon's answer (for each piece of a streamed one). */
const CALL_TIMEOUT_MS = 120_000;

/**
 * Writes one piece of a streamed answer to stdout; when stdout is full (a slow pipe), waits
 * for it to drain, so the daemon waits too and nothing piles up in between.
 */
function writeOut(s: string): Promise<void> | undefined {
  if (s.length === 0 || process.stdout.write(s)) return undefined;
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      process.stdout.off('error', onError);
      resolve();
    };
    const onError = (e: Error) => {
      process.stdout.off('drain', onDrain);
      reject(e);
    };
    process.stdout.once('drain', onDrain);
    process.stdout.once('error', onError);
  });
}

function controlHelp(addr: ControlAddress): string {
  return (
    '\n' +
    `${PROGRAM} runs each command in the uvs director daemon (\`uvs run\`), which it reaches\n` +
    `over the daemon's control socket (here ${addr.display}). The default, @uvs-ctl, is an abstract\n` +
    'unix socket of the current network namespace: `ip netns exec NS uvsadm ...` talks to the\n' +
    'daemon running in NS.\n' +
    'Control Options:\n' +
    '  --control NAME                      control socket: @name (abstract) or /path\n' +
    '                                      (default: env UVS_CONTROL, else @uvs-ctl)\n' +
    '  --install-ipvsadm DIR               write DIR/ipvsadm, a command that runs uvsadm\n' +
    '                                      (with this --control, if given)\n' +
    '\n' +
    'The installed ipvsadm replaces the ipvsadm command line and its output formats, for\n' +
    'the scripts and tools that run ipvsadm (ldirectord, for one): put DIR first on their\n' +
    "PATH. It does not reach programs that use the kernel's IPVS netlink API directly\n" +
    "(keepalived's checker, libipvs users, kube-proxy's ipvs mode). It never replaces a\n" +
    'file it did not write.\n'
  );
}

/**
 * How to run this very program again from any directory: node, its loader flags (a bare
 * `--import tsx` resolved to a file URL, so no working directory is needed), the script.
 */
function selfCommand(): string[] {
  const flags: string[] = [];
  const ea = process.execArgv;
  for (let i = 0; i < ea.length; i++) {
    const a = ea[i];
    if ((a === '--import' || a === '--loader') && i + 1 < ea.length) {
      flags.push(a, resolveSpecifier(ea[++i]));
    } else if (a.startsWith('--import=') || a.startsWith('--loader=')) {
      const eq = a.indexOf('=');
      flags.push(a.slice(0, eq), resolveSpecifier(a.slice(eq + 1)));
    } else {
      flags.push(a);
    }
  }
  return [process.execPath, ...flags, realpathSync(process.argv[1])];
}

function resolveSpecifier(spec: string): string {
  if (spec.startsWith('file:') || spec.startsWith('/')) return spec;
  try {
    return import.meta.resolve(spec);
  } catch {
    return spec;
  }
}

/** `--install-ipvsadm DIR` alone (besides --control); returns the exit status. */
function install(argv: readonly string[], control: string | undefined): number {
  const opt = '--install-ipvsadm';
  let dir: string | undefined;
  let rest = argv.length;
  if (argv[0] === opt) {
    dir = argv[1];
    rest -= 2;
  } else if (argv[0].startsWith(`${opt}=`)) {
    dir = argv[0].slice(opt.length + 1);
    rest -= 1;
  }
  if (dir === undefined || dir === '' || rest !== 0) {
    write(process.stderr, `${PROGRAM}: --install-ipvsadm takes one directory and nothing else\n`);
    return EXIT_USAGE;
  }
  const command = selfCommand();
  if (control !== undefined) command.push('--control', control);
  try {
    const path = installIpvsadm(dir, command);
    write(process.stdout, `${path}: runs ${PROGRAM} (ipvsadm's command line and output formats)\n`);
    return 0;
  } catch (e) {
    write(process.stderr, `${PROGRAM}: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
}

/** The --control value given on the command line itself, if any (not the environment's). */
function explicitControl(args: readonly string[]): string | undefined {
  let name: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--control') name = args[++i];
    else if (args[i].startsWith('--control=')) name = args[i].slice('--control='.length);
  }
  return name;
}

/** Reads all of stdin, up to `max` bytes. */
async function readStdin(max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > max) throw new Error(`restore input larger than ${max} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

function write(stream: NodeJS.WriteStream, s: string): void {
  if (s.length > 0) stream.write(s);
}

async function main(args: string[]): Promise<number> {
  let name: string;
  let argv: string[];
  let addr: ControlAddress;
  try {
    ({ name, argv } = controlNameFrom(args));
    addr = controlAddress(name);
  } catch (e) {
    write(process.stderr, `${PROGRAM}: ${(e as Error).message}\n`);
    return EXIT_NO_DAEMON;
  }
  if (argv.length > 0 && argv.some((a) => a.startsWith('--install-ipvsadm'))) {
    return install(argv, explicitControl(args));
  }

  let cmd: Command;
  try {
    cmd = parseIpvsadm(argv);
  } catch (e) {
    if (e instanceof ParseError) {
      write(process.stderr, `${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
  if (cmd.kind === 'help') {
    write(process.stdout, usageText() + controlHelp(addr));
    return 0;
  }
  if (cmd.kind === 'version') {
    write(process.stdout, versionText());
    return 0;
  }

  let stdin: string | undefined;
  if (cmd.kind === 'restore') {
    try {
      stdin = await readStdin(DEFAULT_MAX_REQUEST_BYTES - 4096);
    } catch (e) {
      write(process.stderr, `${PROGRAM}: ${(e as Error).message}\n`);
      return EXIT_NO_DAEMON;
    }
  }

  try {
    // Listings come as a stream, printed piece by piece as they arrive.
    const resp = await callControl(
      name,
      stdin === undefined ? { argv } : { argv, stdin },
      CALL_TIMEOUT_MS,
      { onOut: writeOut },
    );
    write(process.stdout, resp.out);
    write(process.stderr, resp.err);
    return resp.code;
  } catch (e) {
    const msg = e instanceof ControlError ? e.message : `control socket: ${(e as Error).message}`;
    write(process.stderr, `${PROGRAM}: ${msg}\n`);
    return EXIT_NO_DAEMON;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // exitCode, not exit(): let a large listing drain to a pipe first.
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(
      `${PROGRAM}: internal error: ${e instanceof Error ? e.message : String(e)}\n`,
    );
    process.exitCode = 1;
  },
);
