/**
 * TCP_CHECK (keepalived check_tcp.c): the check passes when a TCP connection to the real
 * server (or connect_ip:connect_port) is established within connect_timeout. Nothing is
 * sent; the socket is closed at once.
 */
import { type AttemptContext, type Checker, type CheckResult, fail, pass } from '../checker.js';
import type { CheckTarget, TcpCheckSpec } from '../spec.js';
import { ConnectingChecker } from './connecting.js';
import { openStream } from './tcp-connect.js';

export class TcpChecker extends ConnectingChecker implements Checker {
  readonly kind = 'TCP_CHECK';

  constructor(
    target: CheckTarget,
    private readonly spec: TcpCheckSpec,
  ) {
    super(target, spec.connect);
  }

  async attempt(ctx: AttemptContext): Promise<CheckResult> {
    const start = performance.now();
    const o = await openStream(
      { ...this.dest, connect: this.spec.connect },
      start + this.spec.connect.connectTimeoutMs,
      ctx.signal,
    );
    if (o.ok) {
      o.socket.destroy();
      return pass(start);
    }
    if (o.bindFailed) return { ...fail(o.reason, start), noVerdict: true };
    return fail(
      o.reason,
      start,
      o.timedOut
        ? `TCP connection to ${this.label} timeout.`
        : `TCP connection to ${this.label} failed.`,
    );
  }
}
