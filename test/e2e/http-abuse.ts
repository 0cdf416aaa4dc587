/**
 * Run inside the director's namespace (ip netns exec NS node --import tsx http-abuse.ts ...):
 * IDLE idle connections, SLOW slow-loris clients (headers dribbled one byte a second) and a
 * scrape storm (STORM concurrent scrapers, each up to 50 scrapes a second) against 127.0.0.1:PORT for
 * SECONDS; prints one JSON line: what was accepted, when the server cut the idle and slow
 * clients, how many scrapes succeeded and the slowest one. Everything it opens it closes.
 */
import net from 'node:net';

const [port, idle, slow, storm, seconds] = process.argv.slice(2).map(Number);
const t0 = performance.now();
const since = () => performance.now() - t0;
const sockets: net.Socket[] = [];

function open(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.on('error', reject);
    sockets.push(s);
  });
}

let idleOpen = 0;
let idleClosedAt = 0;
let idleClosed = 0;
let slowClosed = 0;
let slowClosedAt = 0;
let idleRefused = 0;

async function main() {
  const dbg = (m: string) =>
    process.env.ABUSE_DEBUG && process.stderr.write(`${Math.round(since())} ${m}\n`);
  for (let i = 0; i < idle; i++) {
    try {
      const s = await open();
      idleOpen++;
      // Read what the server may say (its 400 before it closes): a socket nobody reads never
      // sees the end of the stream.
      s.resume();
      s.on('close', () => {
        idleClosed++;
        idleClosedAt = Math.max(idleClosedAt, since());
      });
      s.on('error', () => {});
    } catch {
      idleRefused++;
    }
  }
  dbg(`idle ${idleOpen} refused ${idleRefused}`);
  const timers: NodeJS.Timeout[] = [];
  for (let i = 0; i < slow; i++) {
    const s = await open();
    s.on('error', () => {});
    s.resume();
    s.write('GET /metrics HTTP/1.1\r\nHost: uvs\r\n');
    const opened = since();
    const t = setInterval(() => {
      if (!s.destroyed) s.write('X');
    }, 1000);
    timers.push(t);
    s.on('close', () => {
      clearInterval(t);
      slowClosed++;
      slowClosedAt = Math.max(slowClosedAt, since() - opened);
    });
  }
  dbg('slow opened');
  let scrapes = 0;
  let failed = 0;
  let slowest = 0;
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: storm }, async () => {
      while (performance.now() < end) {
        const a = performance.now();
        try {
          const r = await fetch(`http://127.0.0.1:${port}/metrics`, {
            signal: AbortSignal.timeout(5000),
          });
          const text = await r.text();
          if (r.ok && text.includes('node_ipvs_backend_weight')) scrapes++;
          else failed++;
        } catch {
          failed++;
        }
        slowest = Math.max(slowest, performance.now() - a);
        // Each scraper asks 50 times a second at most: a storm, not a CPU burner on the
        // client's side of a shared machine.
        await new Promise((r) => setTimeout(r, 20));
      }
    }),
  );
  dbg(`storm done ${scrapes} ${failed}`);
  // Give the server its idle and header timeouts to cut the rest.
  const wait = t0 + (seconds + 14) * 1000 - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  for (const t of timers) clearInterval(t);
  for (const s of sockets) s.destroy();
  process.stdout.write(
    `${JSON.stringify({ idleOpen, idleRefused, idleClosed, idleClosedAt, slowClosed, slowClosedAt, scrapes, failed, slowest })}\n`,
  );
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ error: String(e) })}\n`);
});
