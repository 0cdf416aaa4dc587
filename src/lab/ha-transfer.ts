/**
 * The HA lab's traffic tools, one process per use:
 *
 *   serve PORT          a real server's TCP source: a client line `SEND BYTES RATE` gets
 *                       BYTES bytes of a fixed pseudo-random pattern, paced at RATE bytes/s
 *                       (so a transfer spans a director's failure), then the close.
 *   fetch JSON          the client side: {"vip","port","bytes","rate","timeoutMs"}; prints
 *                       {"type":"started",...} once connected, then one JSON result:
 *                       bytes received, sha256 of them and of what was sent, whether the
 *                       connection was reset, how it ended and the longest stall.
 *   udp JSON            {"vip","port","rate","seconds"}: numbered datagrams to the rs-app
 *                       UDP echo; prints the count sent, answered, lost and the longest
 *                       gap between answers (the failover's outage as UDP sees it).
 *
 * Every loop is bounded (bytes <= 1 GiB, rate, seconds, timeouts).
 */
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';

const PATTERN_LEN = (1 << 20) + 7;
const MAX_BYTES = 1 << 30;

/** The pattern both sides derive (xorshift32 from a fixed seed). */
function pattern(): Buffer {
  const b = Buffer.alloc(PATTERN_LEN);
  let x = 0x2545f491;
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** sha256 of the first `n` bytes of the endless pattern. */
export function expectedDigest(n: number): string {
  const p = pattern();
  const h = createHash('sha256');
  let left = n;
  while (left > 0) {
    const k = Math.min(left, p.length);
    h.update(p.subarray(0, k));
    left -= k;
  }
  return h.digest('hex');
}

function serve(port: number): void {
  const p = pattern();
  const server = createServer((sock) => {
    sock.on('error', () => {});
    let line = '';
    sock.on('data', function onData(d: Buffer) {
      line += d.toString('latin1');
      const nl = line.indexOf('\n');
      if (nl < 0) {
        if (line.length > 100) sock.destroy();
        return;
      }
      sock.off('data', onData);
      const m = /^SEND (\d+) (\d+)/.exec(line.slice(0, nl));
      if (!m) {
        sock.destroy();
        return;
      }
      const total = Math.min(MAX_BYTES, Number(m[1]));
      const rate = Math.max(1024, Number(m[2]));
      const tickMs = 20;
      const perTick = Math.max(1, Math.floor((rate * tickMs) / 1000));
      let sent = 0;
      let blocked = false;
      const timer = setInterval(() => {
        if (blocked) return;
        let k = Math.min(perTick, total - sent);
        while (k > 0) {
          const off = sent % p.length;
          const n = Math.min(k, p.length - off);
          blocked = !sock.write(p.subarray(off, off + n));
          sent += n;
          k -= n;
        }
        if (sent >= total) {
          clearInterval(timer);
          sock.end();
        }
      }, tickMs);
      sock.on('drain', () => {
        blocked = false;
      });
      sock.on('close', () => clearInterval(timer));
    });
  });
  server.listen(port, () => process.stdout.write('ready\n'));
}

export interface FetchOptions {
  vip: string;
  port: number;
  bytes: number;
  rate: number;
  timeoutMs: number;
}

export interface FetchResult {
  type: 'result';
  bytes: number;
  expectedBytes: number;
  sha256: string;
  expectedSha256: string;
  intact: boolean;
  reset: boolean;
  /** 'end' (the server closed after the last byte), or the error code. */
  end: string;
  startedAt: number;
  endedAt: number;
  /** Longest time without data, and when it started (epoch ms). */
  maxStallMs: number;
  stallFrom: number;
  lport: number;
}

function fetch(o: FetchOptions): void {
  const total = Math.min(MAX_BYTES, o.bytes);
  const h = createHash('sha256');
  let got = 0;
  let last = Date.now();
  let maxStall = 0;
  let stallFrom = 0;
  let done = false;
  let lport = 0;
  const startedAt = Date.now();
  const sock = connect({ host: o.vip, port: o.port }, () => {
    lport = sock.localPort ?? 0;
    process.stdout.write(`${JSON.stringify({ type: 'started', lport, at: Date.now() })}\n`);
    sock.write(`SEND ${total} ${o.rate}\n`);
  });
  const finish = (end: string) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    const r: FetchResult = {
      type: 'result',
      bytes: got,
      expectedBytes: total,
      sha256: h.digest('hex'),
      expectedSha256: expectedDigest(total),
      intact: false,
      reset: end === 'ECONNRESET',
      end,
      startedAt,
      endedAt: Date.now(),
      maxStallMs: maxStall,
      stallFrom,
      lport,
    };
    r.intact = r.bytes === total && r.sha256 === r.expectedSha256;
    process.stdout.write(`${JSON.stringify(r)}\n`);
    sock.destroy();
  };
  sock.on('data', (d: Buffer) => {
    const now = Date.now();
    if (now - last > maxStall) {
      maxStall = now - last;
      stallFrom = last;
    }
    last = now;
    got += d.length;
    h.update(d);
  });
  sock.on('end', () => finish('end'));
  sock.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
  const timer = setTimeout(() => finish('timeout'), Math.min(o.timeoutMs, 600_000));
}

export interface UdpStreamOptions {
  vip: string;
  port: number;
  rate: number;
  seconds: number;
}

function udp(o: UdpStreamOptions): void {
  const sock = createSocket('udp4');
  // ICMP port unreachable (a VIP on a host with no such service) comes back as an error on
  // a connected socket: it is a lost datagram, not the end of the stream.
  sock.on('error', () => {});
  const rate = Math.min(2000, Math.max(1, o.rate));
  const total = Math.floor(rate * Math.min(600, o.seconds));
  const answered = new Uint8Array(total);
  let sent = 0;
  let answers = 0;
  let lastAnswer = 0;
  let maxGap = 0;
  let gapFrom = 0;
  sock.on('message', (m) => {
    const seq = Number(/#(\d+)/.exec(m.toString())?.[1] ?? -1);
    if (seq < 0 || seq >= total || answered[seq]) return;
    answered[seq] = 1;
    answers++;
    const now = Date.now();
    if (lastAnswer !== 0 && now - lastAnswer > maxGap) {
      maxGap = now - lastAnswer;
      gapFrom = lastAnswer;
    }
    lastAnswer = now;
  });
  let stopAt = total;
  // A line "stop" on stdin ends the stream early (the caller's measurement is done).
  process.stdin.on('data', (d: Buffer) => {
    if (d.toString().includes('stop')) stopAt = Math.min(stopAt, sent);
  });
  sock.connect(o.port, o.vip, () => {
    const startedAt = Date.now();
    const timer = setInterval(
      () => {
        if (sent >= stopAt) {
          clearInterval(timer);
          process.stdin.pause();
          // The last answers get a second to arrive.
          setTimeout(() => {
            process.stdout.write(
              `${JSON.stringify({ type: 'result', sent, answered: answers, lost: sent - answers, maxGapMs: maxGap, gapFrom, startedAt, endedAt: Date.now() })}\n`,
            );
            sock.close();
          }, 1000);
          return;
        }
        sock.send(`#${sent}`, () => {});
        sent++;
      },
      Math.max(1, Math.floor(1000 / rate)),
    );
  });
}

const [mode, arg] = process.argv.slice(2);
if (mode === 'serve') serve(Number(arg));
else if (mode === 'fetch') fetch(JSON.parse(arg) as FetchOptions);
else if (mode === 'udp') udp(JSON.parse(arg) as UdpStreamOptions);
else {
  process.stderr.write('usage: ha-transfer serve PORT | fetch JSON | udp JSON\n');
  process.exit(2);
}
