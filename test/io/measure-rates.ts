/**
 * Rough AF_PACKET rates on a veth pair between two namespaces (not a test; run with
 * `npx tsx test/io/measure-rates.ts [seconds]`, as root):
 *  - rx: a JS callback that only counts (each batch released when it returns), fed by a
 *    bounded 64-byte UDP flood (our own sendmmsg sender) from the peer namespace;
 *  - rx (poll): the same with a synchronous poll()/release() loop;
 *  - tx: a JS loop calling send() with 256-frame batches of 64-byte frames.
 * Prints one JSON object.
 */
import { createLab } from '../helpers/netns.js';

const TASKS = new URL('./ns-tasks.ts', import.meta.url);
const seconds = Number(process.argv[2] ?? 3);
const MAC_A = '02:00:00:00:3a:01';
const MAC_B = '02:00:00:00:3b:01';

type Rx = { frames: number; seconds: number; batches: number; wakeups: number; drops: number };
type Flood = { sent: number; seconds: number; dropped: number };

const lab = createLab('io');
try {
  const a = await lab.ns('ma');
  const b = await lab.ns('mb');
  await lab.veth({ ns: a, dev: 'v0', mac: MAC_A }, { ns: b, dev: 'v0', mac: MAC_B });
  const udp = { dstMac: MAC_B, saddr: '10.220.0.1', daddr: '10.220.0.2', port: 9 };
  const out: Record<string, unknown> = {
    seconds,
    frameBytes: 60,
    setup: 'veth pair, sender and receiver in two namespaces, one node process each',
  };
  for (const mode of ['start', 'poll'] as const) {
    const rx = lab.task<Rx>(
      b,
      TASKS,
      'rxRate',
      { dev: 'v0', seconds, mode },
      { timeoutMs: (seconds + 30) * 1000 },
    );
    await rx.ready;
    const fl = await lab.task<Flood>(
      a,
      TASKS,
      'flood',
      { dev: 'v0', ...udp, seconds, maxFrames: 50_000_000 },
      { timeoutMs: (seconds + 30) * 1000 },
    ).result;
    await new Promise((r) => setTimeout(r, 300));
    rx.stop();
    const r = await rx.result;
    out[`rx_${mode}`] = {
      framesPerSec: Math.round(r.frames / r.seconds),
      frames: r.frames,
      ringDrops: r.drops,
      framesPerBatch: +(r.frames / Math.max(1, r.batches)).toFixed(1),
      wakeups: r.wakeups,
      senderFramesPerSec: Math.round(fl.sent / fl.seconds),
      senderDropped: fl.dropped,
    };
  }
  const tx = await lab.task<{ sent: number; seconds: number; dropped: number; errors: number }>(
    a,
    TASKS,
    'txRate',
    { dev: 'v0', ...udp, seconds, batch: 256 },
    { timeoutMs: (seconds + 30) * 1000 },
  ).result;
  out.tx = {
    framesPerSec: Math.round(tx.sent / tx.seconds),
    sent: tx.sent,
    dropped: tx.dropped,
    errors: tx.errors,
  };
  console.log(JSON.stringify(out, null, 2));
} finally {
  await lab.cleanup();
}
