/**
 * The table-fill sampler of the synflood measurement (synflood.ts), run inside the director
 * namespace (the uvs control socket is abstract, so per namespace): every INTERVAL_MS for
 * SECONDS it prints one JSON line with the time and the table's fill.
 *
 *   flood-sampler uvs CONTROL INTERVAL_MS SECONDS    uvs ctl stats: entries, defence state
 *   flood-sampler nft - INTERVAL_MS SECONDS          this namespace's conntrack count
 */
import { readFileSync } from 'node:fs';
import { callControl } from '../../src/control/daemon-socket.js';

const [mode, control, intervalS, secondsS] = process.argv.slice(2);
const interval = Number(intervalS);
const seconds = Number(secondsS);
if ((mode !== 'uvs' && mode !== 'nft') || !(interval >= 50) || !(seconds > 0 && seconds <= 900)) {
  process.stderr.write('usage: flood-sampler uvs|nft CONTROL INTERVAL_MS SECONDS\n');
  process.exit(2);
}

const readNum = (f: string) => {
  try {
    return Number(readFileSync(f, 'utf8').trim());
  } catch {
    return -1;
  }
};

async function sample(): Promise<Record<string, unknown>> {
  if (mode === 'nft') {
    return {
      entries: readNum('/proc/sys/net/netfilter/nf_conntrack_count'),
      capacity: readNum('/proc/sys/net/netfilter/nf_conntrack_max'),
    };
  }
  const r = await callControl(control, { argv: ['@stats'] }, 2000);
  const s = JSON.parse(r.out) as {
    connections: number;
    defense?: Record<string, number | boolean>;
    links?: Record<string, { ringDrops?: number }>;
    outcomes?: Record<string, number>;
  };
  const ringDrops = Object.values(s.links ?? {}).reduce((a, l) => a + (l.ringDrops ?? 0), 0);
  return {
    entries: s.connections,
    fill: s.defense?.fill,
    displaced: s.defense?.displaced,
    tableFull: s.defense?.tableFull,
    embryonic: s.defense?.embryonic,
    ringDrops,
    natIn: s.outcomes?.nat_in ?? 0,
  };
}

const end = Date.now() + seconds * 1000;
while (Date.now() < end) {
  const t = Date.now();
  try {
    process.stdout.write(`${JSON.stringify({ t, ...(await sample()) })}\n`);
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ t, error: (e as Error).message })}\n`);
  }
  await new Promise((r) => setTimeout(r, Math.max(0, interval - (Date.now() - t))));
}
