/**
 * Watches a director's table from inside its namespace, for tests that time a change:
 *
 *   node --import tsx test/keepalived/table-watch.ts CONTROL_NAME
 *
 * Asks `-L -n` over the control socket every 25 ms and prints one line per real server
 * line that appears or goes, with the wall-clock time it was first seen:
 * `{"at":1700000000000,"line":"-> 198.18.1.12:80 Masq 1","present":false}`. Prints
 * {"ready":true} after the first answer. Stops on SIGTERM, and by itself after 10 minutes.
 */
import { callControl } from '../../src/control/daemon-socket.js';

const [name] = process.argv.slice(2);
let last = new Set<string>();
let first = true;
const deadline = Date.now() + 10 * 60_000;
let stopped = false;
process.on('SIGTERM', () => {
  stopped = true;
});

while (!stopped && Date.now() < deadline) {
  try {
    const r = await callControl(name, { argv: ['-L', '-n'] }, 2000);
    const at = Date.now();
    const now = new Set(
      r.out
        .split('\n')
        .filter((l) => l.startsWith('  -> ') && !l.includes('RemoteAddress'))
        .map((l) => {
          const [addr, fwd, weight] = l.slice(5).trim().split(/\s+/);
          return `-> ${addr} ${fwd} ${weight}`;
        }),
    );
    if (first) process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
    for (const l of now)
      if (!last.has(l)) process.stdout.write(`${JSON.stringify({ at, line: l, present: true })}\n`);
    for (const l of last)
      if (!now.has(l)) process.stdout.write(`${JSON.stringify({ at, line: l, present: false })}\n`);
    last = now;
    first = false;
  } catch {
    // The director is restarting; ask again.
  }
  await new Promise((r) => setTimeout(r, 25));
}
process.exit(0);
