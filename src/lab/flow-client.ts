/**
 * The scale-out lab's client: long-lived TCP connections that keep talking, and a steady
 * stream of new ones, through the VIP — to count what a director's loss, return or a new
 * real server does to them.
 *
 * - `long` persistent HTTP/1.1 connections; each sends a request, waits for the answer (the
 *   real server's name), waits `intervalMs`, and again. A connection that is reset, closed
 *   by the peer, fails, or waits longer than `stallMs` for an answer is broken; the longest
 *   wait for an answer and every wait longer than 250 ms are recorded.
 * - `newPerSec` new connections per second (one request each, `Connection: close`), each
 *   with `newTimeoutMs` to succeed; the start time, duration and outcome of each attempt
 *   are recorded (the SYN of a flow whose director just died is retransmitted by the
 *   client's kernel after 1 s, 3 s, ...: such an attempt succeeds, late).
 *
 * Usage: node flow-client.js JSON-OPTIONS. Prints JSON lines: {"type":"ready",...} once every
 * long connection has had its first answer, {"type":"progress",...} every second, and
 * {"type":"report",...} at the end: after `seconds`, or when a line "stop" arrives on stdin;
 * a line "snapshot" prints the same report as {"type":"snapshot",...} and goes on.
 * Times are epoch milliseconds (Date.now()), comparable with the caller's clock. Every
 * number is bounded: connections, attempts (newPerSec * seconds), bytes per answer.
 */
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';

export interface FlowClientOptions {
  vip: string;
  port: number;
  /** Long-lived connections (0..2000). */
  long: number;
  /** Pause between a long connection's answer and its next request. */
  intervalMs: number;
  /** New connections per second (0..500). */
  newPerSec: number;
  /** Overall limit (1..3600). */
  seconds: number;
  /** A long connection waiting this long for an answer is broken (default 20000). */
  stallMs?: number;
  /** A new connection must have its answer within this (default 10000). */
  newTimeoutMs?: number;
}

export interface LongFlow {
  id: number;
  /** The client's port (the flow's identity on the directors). */
  lport: number;
  /** The real server that answered (first answer). */
  rs: string;
  /** Answers from another real server on the same connection (must stay 0). */
  otherRs: number;
  answers: number;
  /** open, or how it broke: reset, closed, error:CODE, stalled. */
  state: string;
  brokeAt: number | null;
  /** Longest wait for an answer (ms). */
  maxWaitMs: number;
  /** Waits over STALL_MS: [request sent, answer] epoch ms (the first 100). */
  stalls: [number, number][];
}

export interface NewAttempt {
  start: number;
  ms: number;
  ok: boolean;
  rs?: string;
  lport?: number;
  err?: string;
}

export interface FlowReport {
  type: 'report' | 'snapshot';
  started: number;
  ended: number;
  long: LongFlow[];
  attempts: NewAttempt[];
}

const MAX_ANSWER = 4096;
/** A wait for an answer longer than this is recorded (an answer normally takes ~1 ms). */
const STALL_MS = 250;

/** Parses one HTTP response at the start of `buf`: the body and its end, or null. */
function parseResponse(buf: string): { body: string; end: number } | null {
  const h = buf.indexOf('\r\n\r\n');
  if (h < 0) return null;
  const m = /\r\ncontent-length:\s*(\d+)/i.exec(buf.slice(0, h + 2));
  const len = m ? Number(m[1]) : 0;
  if (buf.length < h + 4 + len) return null;
  return { body: buf.slice(h + 4, h + 4 + len), end: h + 4 + len };
}

function request(vip: string, close: boolean): string {
  return `GET / HTTP/1.1\r\nHost: ${vip}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
}

class Long {
  readonly flow: LongFlow;
  private sock: Socket;
  private buf = '';
  private sentAt = 0;
  private waiting = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private settled = false;

  constructor(
    id: number,
    private readonly o: Required<FlowClientOptions>,
    /** Called once: at the first answer, or when the connection breaks before it. */
    private readonly onSettled: () => void,
  ) {
    this.flow = {
      id,
      lport: 0,
      rs: '',
      otherRs: 0,
      answers: 0,
      state: 'open',
      brokeAt: null,
      maxWaitMs: 0,
      stalls: [],
    };
    this.sock = connect({ host: o.vip, port: o.port });
    this.sock.setNoDelay(true);
    this.sock.setEncoding('latin1');
    this.sock.on('connect', () => {
      this.flow.lport = this.sock.localPort ?? 0;
      this.send();
    });
    this.sock.on('data', (d: string) => this.onData(d));
    this.sock.on('error', (e: NodeJS.ErrnoException) =>
      this.broke(e.code === 'ECONNRESET' ? 'reset' : `error:${e.code ?? e.message}`),
    );
    this.sock.on('end', () => this.broke('closed'));
    this.sock.on('close', () => this.broke('closed'));
  }

  private send(): void {
    if (this.stopped || this.flow.state !== 'open') return;
    this.sentAt = Date.now();
    this.waiting = true;
    this.sock.write(request(this.o.vip, false));
    this.arm(this.o.stallMs, () => {
      this.broke('stalled');
      this.sock.destroy();
    });
  }

  private onData(d: string): void {
    this.buf += d;
    if (this.buf.length > MAX_ANSWER) {
      this.broke('error:oversized answer');
      this.sock.destroy();
      return;
    }
    const r = parseResponse(this.buf);
    if (r === null || !this.waiting) return;
    this.buf = this.buf.slice(r.end);
    this.waiting = false;
    const now = Date.now();
    const wait = now - this.sentAt;
    if (wait > this.flow.maxWaitMs) this.flow.maxWaitMs = wait;
    if (wait > STALL_MS && this.flow.stalls.length < 100) this.flow.stalls.push([this.sentAt, now]);
    const rs = r.body.trim();
    if (this.flow.answers === 0) {
      this.flow.rs = rs;
      this.settle();
    } else if (rs !== this.flow.rs) {
      this.flow.otherRs++;
    }
    this.flow.answers++;
    this.arm(this.o.intervalMs, () => this.send());
  }

  private arm(ms: number, fn: () => void): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(fn, ms);
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.onSettled();
  }

  private broke(how: string): void {
    if (this.flow.state !== 'open' || this.stopped) return;
    this.flow.state = how;
    this.flow.brokeAt = Date.now();
    if (this.timer !== null) clearTimeout(this.timer);
    this.settle();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.sock.destroy();
  }
}

/** New connections still waiting for their outcome. */
let inFlight = 0;

function attempt(o: Required<FlowClientOptions>, out: NewAttempt[]): void {
  const a: NewAttempt = { start: Date.now(), ms: 0, ok: false };
  out.push(a);
  inFlight++;
  let buf = '';
  let done = false;
  const sock = connect({ host: o.vip, port: o.port });
  sock.setEncoding('latin1');
  const finish = (ok: boolean, err?: string) => {
    if (done) return;
    done = true;
    inFlight--;
    clearTimeout(timer);
    a.ms = Date.now() - a.start;
    a.ok = ok;
    if (err !== undefined) a.err = err;
    sock.destroy();
  };
  const timer = setTimeout(() => finish(false, 'timeout'), o.newTimeoutMs);
  sock.on('connect', () => {
    a.lport = sock.localPort;
    sock.write(request(o.vip, true));
  });
  sock.on('data', (d: string) => {
    buf += d;
    if (buf.length > MAX_ANSWER) return finish(false, 'oversized answer');
    const r = parseResponse(buf);
    if (r !== null) {
      a.rs = r.body.trim();
      finish(true);
    }
  });
  sock.on('error', (e: NodeJS.ErrnoException) => finish(false, e.code ?? e.message));
  sock.on('close', () => finish(false, 'closed before the answer'));
}

export async function runFlowClient(opts: FlowClientOptions): Promise<FlowReport> {
  const o: Required<FlowClientOptions> = { stallMs: 20_000, newTimeoutMs: 10_000, ...opts };
  if (!(o.long >= 0 && o.long <= 2000)) throw new Error('long: 0..2000');
  if (!(o.newPerSec >= 0 && o.newPerSec <= 500)) throw new Error('newPerSec: 0..500');
  if (!(o.seconds >= 1 && o.seconds <= 3600)) throw new Error('seconds: 1..3600');
  const started = Date.now();
  const print = (x: unknown) => process.stdout.write(`${JSON.stringify(x)}\n`);
  let settled = 0;
  const longs: Long[] = [];
  const onSettled = () => {
    if (++settled === o.long) {
      print({
        type: 'ready',
        long: longs.map((l) => ({ id: l.flow.id, lport: l.flow.lport, rs: l.flow.rs })),
      });
    }
  };
  // Open the long connections a few at a time, not as one burst of SYNs.
  for (let i = 0; i < o.long; i++) {
    longs.push(new Long(i, o, onSettled));
    if (i % 10 === 9) await new Promise((r) => setTimeout(r, 20));
  }
  if (o.long === 0) print({ type: 'ready', long: [] });

  const attempts: NewAttempt[] = [];
  const maxAttempts = Math.ceil(o.newPerSec * o.seconds);
  const newTimer =
    o.newPerSec > 0
      ? setInterval(() => {
          if (attempts.length < maxAttempts) attempt(o, attempts);
        }, 1000 / o.newPerSec)
      : null;
  const progress = setInterval(() => {
    const done = attempts.filter((a) => a.ok || a.err !== undefined);
    print({
      type: 'progress',
      t: Date.now(),
      longOpen: longs.filter((l) => l.flow.state === 'open').length,
      longBroken: longs.filter((l) => l.flow.state !== 'open').length,
      newOk: done.filter((a) => a.ok).length,
      newFailed: done.filter((a) => !a.ok).length,
    });
  }, 1000);

  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, o.seconds * 1000);
    const rl = createInterface({ input: process.stdin });
    rl.on('line', (line) => {
      const cmd = line.trim();
      if (cmd === 'stop') {
        clearTimeout(t);
        resolve();
      } else if (cmd === 'snapshot') {
        print({
          type: 'snapshot',
          started,
          ended: Date.now(),
          long: longs.map((l) => l.flow),
          attempts,
        });
      }
    });
    rl.on('close', () => {});
  });
  if (newTimer !== null) clearInterval(newTimer);
  clearInterval(progress);
  // Give attempts in flight their time to finish (bounded by their own timeout).
  const deadline = Date.now() + o.newTimeoutMs + 500;
  while (inFlight > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const ended = Date.now();
  for (const l of longs) l.stop();
  return { type: 'report', started, ended, long: longs.map((l) => l.flow), attempts };
}

const isMain = process.argv[1] !== undefined && /flow-client\.(ts|js)$/.test(process.argv[1]);
if (isMain) {
  let opts: FlowClientOptions;
  try {
    opts = JSON.parse(process.argv[2] ?? '') as FlowClientOptions;
  } catch {
    process.stderr.write('usage: flow-client JSON-OPTIONS\n');
    process.exit(2);
  }
  runFlowClient(opts).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`, () => process.exit(0));
    },
    (e: unknown) => {
      process.stderr.write(`flow-client: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
