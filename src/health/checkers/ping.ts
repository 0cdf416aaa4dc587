/**
 * PING_CHECK (keepalived check_ping.c): one ICMP (ICMPv6) echo; a reply within
 * connect_timeout passes.
 *
 * Node has no ICMP sockets. The repository's `raw-socket` addon would give one, but it is
 * not context-aware: loaded in the health worker thread it works, and the process then
 * crashes (SIGSEGV) when the worker exits -- measured, so it cannot run in the checkers'
 * thread. uvs therefore runs iputils' `ping` (Debian iputils-ping, installed by
 * netns-scripts/setup.sh): it uses an unprivileged ICMP datagram socket (or raw as root),
 * honours bind_if/bindto (-I) and fwmark (-m), and like a MISC_CHECK script runs in its
 * own process group and is killed if it outlives the deadline. The cost is a process per
 * attempt, acceptable for PING_CHECK's usual handful of servers.
 */
import { spawn } from 'node:child_process';
import { type AttemptContext, type Checker, type CheckResult, fail, pass } from '../checker.js';
import type { CheckTarget, PingCheckSpec } from '../spec.js';
import { ConnectingChecker } from './connecting.js';

export const PING_PROGRAM = 'ping';
const OUTPUT_LIMIT = 4096;

export class PingChecker extends ConnectingChecker implements Checker {
  readonly kind = 'PING_CHECK';
  private readonly vs: string;

  constructor(
    target: CheckTarget,
    private readonly spec: PingCheckSpec,
  ) {
    super(target, spec.connect);
    this.vs = target.vs;
  }

  /** The ping command line for one echo within `timeoutMs`. */
  args(timeoutMs: number): string[] {
    const c = this.spec.connect;
    const a = [
      this.dest.addr.isV6 ? '-6' : '-4',
      '-n',
      '-c',
      '1',
      '-W',
      (timeoutMs / 1000).toFixed(3),
    ];
    const from = c.bindIf ?? c.bindTo?.toString();
    if (from) a.push('-I', from);
    if (c.fwmark) a.push('-m', String(c.fwmark));
    a.push(this.dest.addr.toString());
    return a;
  }

  attempt(ctx: AttemptContext): Promise<CheckResult> {
    const start = performance.now();
    const timeoutMs = this.spec.connect.connectTimeoutMs;
    const timeoutLine = `ICMP connection to address ${this.dest.addr.toString()} timeout.`;
    const failedLine = `ICMP connection to ${this.label} of ${this.vs} failed.`;
    return new Promise((resolve) => {
      let out = '';
      let settled = false;
      const child = spawn(PING_PROGRAM, this.args(timeoutMs), {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, LC_ALL: 'C' },
      });
      const collect = (d: Buffer) => {
        if (out.length < OUTPUT_LIMIT)
          out += d.toString('latin1').slice(0, OUTPUT_LIMIT - out.length);
      };
      child.stdout?.on('data', collect);
      child.stderr?.on('data', collect);
      const kill = () => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // gone
        }
      };
      const finish = (r: CheckResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ctx.signal.clear();
        kill();
        resolve(r);
      };
      const onAbort = () => finish(fail('stopped', start));
      ctx.signal.onStop(onAbort);
      // ping stops itself at -W; this is the backstop for a ping that does not.
      const timer = setTimeout(() => finish(fail('timeout', start, timeoutLine)), timeoutMs + 1000);
      child.on('error', (e: NodeJS.ErrnoException) =>
        finish(fail(`cannot run ping: ${e.code ?? e.message}`, start, failedLine)),
      );
      child.on('close', (code) => {
        if (code === 0) finish(pass(start));
        else if (/unreachable/i.test(out)) {
          const why = /network is unreachable|net unreachable/i.test(out)
            ? 'network unreachable'
            : 'host unreachable';
          finish(fail(why, start, failedLine));
        } else if (code === 1) finish(fail('timeout', start, timeoutLine));
        else finish(fail(pingError(out), start, failedLine));
      });
    });
  }
}

function pingError(out: string): string {
  const line = out.split('\n').find((l) => l.trim()) ?? 'ping failed';
  return line
    .replace(/^ping: /, '')
    .trim()
    .slice(0, 60)
    .toLowerCase();
}
