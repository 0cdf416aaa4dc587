/**
 * DNS_CHECK (keepalived check_dns.c): a query for `name` of `type` (default SOA of the
 * root) over UDP; the check passes on a reply with the query's ID, the QR bit and RCODE 0.
 * Replies with another ID or without QR are ignored (the wait goes on); the answer
 * section is not looked at.
 */
import { randomInt } from 'node:crypto';
import { type AttemptContext, type Checker, type CheckResult, fail, pass } from '../checker.js';
import { buildQuery, parseHeader } from '../dns-message.js';
import type { CheckTarget, DnsCheckSpec } from '../spec.js';
import { ConnectingChecker } from './connecting.js';
import { exchangeDatagram } from './udp-socket.js';

export class DnsChecker extends ConnectingChecker implements Checker {
  readonly kind = 'DNS_CHECK';

  constructor(
    target: CheckTarget,
    private readonly spec: DnsCheckSpec,
  ) {
    super(target, spec.connect);
  }

  async attempt(ctx: AttemptContext): Promise<CheckResult> {
    const start = performance.now();
    const id = randomInt(0x10000);
    const query = buildQuery(id, this.spec.name, this.spec.type);
    let rcode = -1;
    const ev = await exchangeDatagram(
      this.dest,
      this.spec.connect,
      query,
      start + this.spec.connect.connectTimeoutMs,
      ctx.signal,
      (e) => {
        if (e.type !== 'message') return true;
        const h = parseHeader(e.data);
        if (!h || h.id !== id || !h.response) return false;
        rcode = h.rcode;
        return true;
      },
    );
    if (ev.type === 'message') {
      return rcode === 0
        ? pass(start)
        : fail(`rcode ${rcode}`, start, `read error occurred. (rcode = ${rcode})`);
    }
    if (ev.type === 'timeout') return fail('timeout', start, 'read timeout from socket');
    if (ev.type === 'error')
      return ev.bind
        ? { ...fail(ev.reason, start), noVerdict: true }
        : fail(ev.reason, start, `failed to read socket; errno (${ev.reason})`);
    return fail('stopped', start);
  }
}
