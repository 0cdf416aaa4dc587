/**
 * UDP_CHECK (keepalived check_udp.c, layer4.c udp_socket_state): send the payload (32
 * random bytes when none is configured) on a connected socket. Without require_reply the
 * check passes unless an ICMP error comes back before connect_timeout -- silence is
 * success. With require_reply a reply must arrive within connect_timeout, its length
 * within min/max_reply_length, and, when a reply pattern is given, match it on the
 * shorter of the two lengths (X nibbles match anything).
 */
import { randomBytes } from 'node:crypto';
import { type AttemptContext, type Checker, type CheckResult, fail, pass } from '../checker.js';
import { type HexPattern, matchesPrefix, parseHexString } from '../hex.js';
import type { CheckTarget, UdpCheckSpec } from '../spec.js';
import { ConnectingChecker } from './connecting.js';
import { exchangeDatagram } from './udp-socket.js';

/** keepalived's UDP_BUFSIZE of random bytes when no payload is configured. */
const RANDOM_PAYLOAD_BYTES = 32;

export class UdpChecker extends ConnectingChecker implements Checker {
  readonly kind = 'UDP_CHECK';
  private readonly payload: Uint8Array | null;
  private readonly reply: HexPattern | null;

  constructor(
    target: CheckTarget,
    private readonly spec: UdpCheckSpec,
  ) {
    super(target, spec.connect);
    this.payload = spec.payloadHex ? (parseHexString(spec.payloadHex)?.bytes ?? null) : null;
    this.reply = spec.replyHex ? parseHexString(spec.replyHex, true) : null;
  }

  async attempt(ctx: AttemptContext): Promise<CheckResult> {
    const start = performance.now();
    const payload = this.payload ?? randomBytes(RANDOM_PAYLOAD_BYTES);
    let verdict: CheckResult | null = null;
    const failed = `UDP connection to ${this.label} failed.`;
    const ev = await exchangeDatagram(
      this.dest,
      this.spec.connect,
      payload,
      start + this.spec.connect.connectTimeoutMs,
      ctx.signal,
      (e) => {
        if (e.type !== 'message') return true;
        verdict = this.judge(e.data, start);
        return true;
      },
    );
    if (verdict) return verdict;
    switch (ev.type) {
      case 'timeout':
        return this.spec.requireReply ? fail('no reply', start, failed) : pass(start);
      case 'error':
        return ev.bind
          ? { ...fail(ev.reason, start), noVerdict: true }
          : fail(ev.reason, start, failed);
      default:
        return fail('stopped', start);
    }
  }

  private judge(data: Buffer, start: number): CheckResult {
    if (!this.spec.requireReply) return pass(start);
    const mismatch = `UDP check to ${this.label} reply data mismatch.`;
    if (data.length < this.spec.minReplyLength || data.length > this.spec.maxReplyLength)
      return fail(`reply length ${data.length}`, start, mismatch);
    if (this.reply && !matchesPrefix(data, this.reply))
      return fail('reply mismatch', start, mismatch);
    return pass(start);
  }
}
