/**
 * SMTP_CHECK (keepalived check_smtp.c): connect, read the greeting (must be 220), send
 * "HELO <helo_name>", read the answer (must be 250), send "QUIT", read one more line (any
 * status). Each line is read into a 512-byte buffer that wraps when full, as keepalived's
 * does, so an endless line costs no memory and fails at the deadline.
 */
import type net from 'node:net';
import {
  type AttemptContext,
  type Checker,
  type CheckResult,
  fail,
  pass,
  type StopSignal,
} from '../checker.js';
import type { CheckTarget, SmtpCheckSpec } from '../spec.js';
import { ConnectingChecker } from './connecting.js';
import { openStream } from './tcp-connect.js';

/** keepalived's SMTP_BUFF_MAX. */
const LINE_BUFFER = 512;

/**
 * keepalived's smtp_get_status: three digits followed by a space or the end of the line
 * (the line has its '\n' removed but keeps a '\r', so "220\r\n" does not pass either).
 */
export function smtpStatus(line: string): number {
  const m = /^(\d{3})(?: |$)/.exec(line);
  return m ? Number(m[1]) : -1;
}

export class SmtpChecker extends ConnectingChecker implements Checker {
  readonly kind = 'SMTP_CHECK';

  constructor(
    target: CheckTarget,
    private readonly spec: SmtpCheckSpec,
  ) {
    super(target, spec.connect);
  }

  async attempt(ctx: AttemptContext): Promise<CheckResult> {
    const start = performance.now();
    const deadlineAt = start + this.spec.connect.connectTimeoutMs;
    const o = await openStream(
      { ...this.dest, connect: this.spec.connect },
      deadlineAt,
      ctx.signal,
    );
    if (!o.ok) {
      if (o.bindFailed) return { ...fail(o.reason, start), noVerdict: true };
      const what = o.timedOut ? 'Connection timeout to server' : 'Error connecting to server';
      return fail(o.reason, start, `${what} ${this.label}`);
    }
    return this.converse(o.socket, deadlineAt, ctx.signal, start);
  }

  private converse(
    sock: net.Socket,
    deadlineAt: number,
    signal: StopSignal,
    start: number,
  ): Promise<CheckResult> {
    return new Promise((resolve) => {
      let step: 'banner' | 'helo' | 'quit' = 'banner';
      let buf = '';
      let settled = false;
      const finish = (r: CheckResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.clear();
        sock.destroy();
        resolve(r);
      };
      const bad = (reason: string, words: string) =>
        finish(fail(reason, start, `${words} ${this.label}`));
      const onAbort = () => finish(fail('stopped', start));
      signal.onStop(onAbort);
      const timer = setTimeout(
        () => bad('timeout', 'Read timeout from server'),
        Math.max(0, deadlineAt - performance.now()),
      );
      const send = (text: string) =>
        sock.write(text, (e) => {
          if (e) bad('write failed', 'Write failure to server');
        });
      const onLine = (line: string) => {
        if (step === 'banner') {
          const s = smtpStatus(line);
          if (s !== 220)
            return bad(`banner ${s < 0 ? 'unreadable' : s}`, 'Bad greeting banner from server');
          step = 'helo';
          send(`HELO ${this.spec.heloName}\r\n`);
        } else if (step === 'helo') {
          const s = smtpStatus(line);
          if (s !== 250)
            return bad(`helo ${s < 0 ? 'unreadable' : s}`, 'Bad HELO response from server');
          step = 'quit';
          send('QUIT\r\n');
        } else {
          finish(pass(start));
        }
      };
      sock.setEncoding('latin1');
      sock.on('data', (chunk: string) => {
        let rest = chunk;
        while (!settled && rest.length) {
          const nl = rest.indexOf('\n');
          if (nl < 0) {
            buf += rest;
            // keepalived wraps its buffer when a line does not fit: keep only the tail.
            if (buf.length >= LINE_BUFFER - 1) buf = buf.slice(-(LINE_BUFFER - 1));
            return;
          }
          const line = (buf + rest.slice(0, nl)).slice(-(LINE_BUFFER - 1));
          // keepalived clears its buffer before reading the next answer: whatever came
          // after this line in the same read is dropped, as there.
          buf = '';
          rest = '';
          onLine(line);
        }
      });
      sock.on('end', () => bad('closed', 'Read failure from server'));
      sock.on('error', () => bad('read failed', 'Read failure from server'));
    });
  }
}
