/**
 * The lab's client: a bounded HTTP load against the VIP (one new connection per request,
 * a few in parallel), counting which real server answered. Stops after `seconds` or
 * `maxRequests`, whichever comes first. Prints a JSON progress line every 500 ms and a
 * final JSON line {"done":true,...}.
 * Usage: node client-load.js VIP PORT SECONDS MAX_REQUESTS [CONCURRENCY]
 */
import { request } from 'node:http';

const [vip, port = '80', seconds = '5', maxReq = '2000', conc = '4'] = process.argv.slice(2);
if (vip === undefined) {
  process.stderr.write('usage: client-load VIP PORT SECONDS MAX_REQUESTS [CONCURRENCY]\n');
  process.exit(2);
}
const deadline = Date.now() + Number(seconds) * 1000;
const max = Number(maxReq);
const byServer: Record<string, number> = {};
let started = 0;
let ok = 0;
let errors = 0;
const errorKinds: Record<string, number> = {};

function one(): Promise<void> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: vip,
        port: Number(port),
        path: '/',
        agent: false,
        timeout: 3000,
        headers: { connection: 'close' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => {
          const name = body.trim() || '?';
          byServer[name] = (byServer[name] ?? 0) + 1;
          ok++;
          resolve();
        });
      },
    );
    const fail = (kind: string) => {
      errors++;
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
      resolve();
    };
    req.on('timeout', () => {
      req.destroy();
    });
    req.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
    req.end();
  });
}

async function worker(): Promise<void> {
  while (Date.now() < deadline && started < max) {
    started++;
    await one();
  }
}

const report = (done: boolean) =>
  process.stdout.write(`${JSON.stringify({ done, ok, errors, byServer, errorKinds })}\n`);
const timer = setInterval(() => report(false), 500);
await Promise.all(Array.from({ length: Number(conc) }, worker));
clearInterval(timer);
report(true);
