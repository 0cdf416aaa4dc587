/**
 * The legitimate clients of the synflood measurement (synflood.ts), run inside the client
 * namespace: for SECONDS, open RATE new connections a second to DST:PORT, each sending one
 * HTTP request with `Connection: close` and waiting for the answer (at most TIMEOUT_MS,
 * which lets a dropped SYN be retransmitted once, after Linux's 1 s), and meanwhile keep
 * KEEP established connections busy, one request each every 100 ms.
 *
 * usage: legit-client DST PORT RATE SECONDS KEEP TIMEOUT_MS OUT
 * prints `ready` once the established connections are open and the new ones begin, and
 * writes to the file OUT one JSON line: {"attempts": [[startMs, latencyMs or -1], ...], "established":
 * {"connections": KEEP, "requests": N, "failures": N, "lost": N}}. startMs is Date.now()
 * at the attempt; `lost` counts established connections that died before the end.
 */
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';

const [dst, portS, rateS, secondsS, keepS, timeoutS, outFile] = process.argv.slice(2);
const port = Number(portS);
const rate = Number(rateS);
const seconds = Number(secondsS);
const keep = Number(keepS);
const timeoutMs = Number(timeoutS);
if (
  dst === undefined ||
  outFile === undefined ||
  !(port > 0 && port < 65536) ||
  !(rate > 0 && rate <= 5000) ||
  !(seconds > 0 && seconds <= 600) ||
  !(keep >= 0 && keep <= 1000) ||
  !(timeoutMs > 0 && timeoutMs <= 30_000)
) {
  process.stderr.write('usage: legit-client DST PORT RATE SECONDS KEEP TIMEOUT_MS OUT\n');
  process.exit(2);
}

const REQUEST_CLOSE = `GET / HTTP/1.1\r\nHost: ${dst}\r\nConnection: close\r\n\r\n`;
const REQUEST_KA = `GET / HTTP/1.1\r\nHost: ${dst}\r\n\r\n`;
const attempts: [number, number][] = [];
let inflight = 0;

/** One new connection: resolves with its latency (ms), or -1 (refused, reset, timed out). */
function attempt(): void {
  const start = Date.now();
  const rec: [number, number] = [start, -1];
  attempts.push(rec);
  inflight++;
  let done = false;
  const s = connect({ host: dst, port });
  const finish = (ok: boolean) => {
    if (done) return;
    done = true;
    inflight--;
    clearTimeout(t);
    if (ok) rec[1] = Date.now() - start;
    s.destroy();
  };
  const t = setTimeout(() => finish(false), timeoutMs);
  s.setNoDelay(true);
  s.on('connect', () => s.write(REQUEST_CLOSE));
  s.on('data', (d: Buffer) => {
    if (d.includes('200 OK')) finish(true);
  });
  s.on('error', () => finish(false));
  s.on('close', () => finish(false));
}

/** The established connections: each asks every 100 ms and counts what goes wrong. */
const established = { connections: keep, requests: 0, failures: 0, lost: 0 };
const kaSockets: Socket[] = [];
let stopping = false;
function keepAlive(): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: dst, port });
    kaSockets.push(s);
    let waiting = false;
    let sentAt = 0;
    let opened = false;
    s.setNoDelay(true);
    const ask = () => {
      if (stopping || s.destroyed) return;
      if (waiting) {
        // No answer within 100 ms is not yet a failure; one within 2 s is required.
        if (Date.now() - sentAt > 2000) {
          established.failures++;
          waiting = false;
        }
        return;
      }
      waiting = true;
      sentAt = Date.now();
      established.requests++;
      s.write(REQUEST_KA);
    };
    const timer = setInterval(ask, 100);
    s.on('connect', () => {
      opened = true;
      resolve();
    });
    s.on('data', (d: Buffer) => {
      if (d.includes('200 OK')) waiting = false;
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearInterval(timer);
      if (!stopping) established.lost++;
      if (!opened) resolve();
    });
  });
}

async function main(): Promise<void> {
  await Promise.all(Array.from({ length: keep }, keepAlive));
  // The harness times the phases from here.
  process.stdout.write('ready\n');
  const t0 = Date.now();
  const end = t0 + seconds * 1000;
  let sent = 0;
  // Paced by the clock, not by timers: a late tick sends what it owes (at most 1 s worth).
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const now = Date.now();
      if (now >= end) {
        clearInterval(tick);
        resolve();
        return;
      }
      const owed = Math.min(Math.floor(((now - t0) / 1000) * rate) - sent, rate);
      for (let i = 0; i < owed; i++) attempt();
      sent += Math.max(owed, 0);
    }, 5);
  });
  // The last attempts finish (or time out).
  const wait = Date.now() + timeoutMs + 100;
  while (inflight > 0 && Date.now() < wait) await new Promise((r) => setTimeout(r, 20));
  stopping = true;
  for (const s of kaSockets) s.destroy();
  // A file, not stdout: the report of a long run is larger than a pipe's reader keeps.
  writeFileSync(outFile, `${JSON.stringify({ attempts, established })}\n`);
  process.exit(0);
}

void main();
