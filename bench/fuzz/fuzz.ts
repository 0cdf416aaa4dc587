/**
 * The datapath under hostile input, at volume: N frames — valid frames of every kind the
 * director handles, mutated (byte overwrites, truncation, length-field lies) or replaced
 * by random bytes — pushed through the same pipeline `uvs run` runs. Every frame must end
 * in exactly one outcome and nothing may throw; the run reports frames/s, the outcome
 * distribution and the process's memory, so a leak or a slow path under garbage shows.
 *
 * `npm run fuzz [-- --frames N --seed S]` runs it (1 M frames by default); the test suite
 * runs a smaller count.
 */

import { buildDirector } from '../../src/control/build-director.js';
import { parseConfig } from '../../src/control/config.js';
import { OUTCOME_COUNT, OUTCOME_NAMES, OUTCOME_VERDICT } from '../../src/datapath/outcome.js';
import { HEADROOM } from '../../src/datapath/pipeline.js';
import { fuzzSeeds } from './seeds.js';

const MAC = {
  eth0: '02:00:00:00:0d:00',
  eth1: '02:00:00:00:0d:01',
  client: '02:00:00:00:0c:0a',
  rs1: '02:00:00:00:0e:0b',
  rs2: '02:00:00:00:0e:0c',
};
const IP = {
  vip: '198.18.0.100',
  client: '198.18.0.10',
  rs1: '198.18.1.11',
  rs2: '198.18.1.12',
};

const CONFIG = `interface eth0 mac ${MAC.eth0} ip 198.18.0.1/24
interface eth1 mac ${MAC.eth1} ip 198.18.1.1/24
neighbor ${IP.client} ${MAC.client}
neighbor ${IP.rs1} ${MAC.rs1}
neighbor ${IP.rs2} ${MAC.rs2}
vip ${IP.vip}
-A -t ${IP.vip}:80 -s rr
-a -t ${IP.vip}:80 -r ${IP.rs2}:8080 -m
-a -t ${IP.vip}:80 -r ${IP.rs1}:8080 -m
-A -t ${IP.vip}:443 -s wlc -p 60
-a -t ${IP.vip}:443 -r ${IP.rs1}:443 -g
-A -u ${IP.vip}:7000 -s sh
-a -u ${IP.vip}:7000 -r ${IP.rs2}:7000 -i
`;

export interface FuzzResult {
  frames: number;
  seconds: number;
  framesPerSecond: number;
  outcomes: Record<string, number>;
  rssBeforeMb: number;
  rssAfterMb: number;
  heapAfterMb: number;
}

/** xorshift32: fast, seeded, good enough to pick bytes. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** Runs `frames` hostile frames through a director; throws on any broken invariant. */
export function runFuzz(frames: number, seed = 20261202): FuzzResult {
  const d = buildDirector(parseConfig(CONFIG, 'fuzz.conf'), { core: { hashSeed: seed } });
  const p = d.pipeline;
  const corpus = fuzzSeeds({ mac: MAC, ip: IP });
  const next = rng(seed);
  const buf = new Uint8Array(HEADROOM + 2048);
  const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;
  const rssBefore = process.memoryUsage().rss;
  const started = performance.now();
  let now = 0;
  for (let n = 0; n < frames; n++) {
    const pick = next();
    let len: number;
    let link: number;
    if (pick % 16 === 0) {
      // Random bytes of a random length.
      len = next() % 200;
      for (let i = 0; i < len; i++) buf[HEADROOM + i] = next();
      link = pick & 1;
    } else {
      const s = corpus[(pick >>> 4) % corpus.length];
      buf.set(s.frame, HEADROOM);
      len = s.frame.length;
      link = s.link;
      const flips = next() % 7;
      for (let i = 0; i < flips; i++) buf[HEADROOM + (next() % len)] = next();
      if (next() % 4 === 0)
        len = next() % (len + 1); // truncated
      // Otherwise the sequence/port bytes vary too, so new flows keep arriving.
      else buf[HEADROOM + 14 + 20 + 1] = n;
    }
    now += 0.05;
    const before = p.verdicts[0] + p.verdicts[1] + p.verdicts[2];
    const v = p.process(buf, HEADROOM, len, link, now);
    const after = p.verdicts[0] + p.verdicts[1] + p.verdicts[2];
    if (
      after !== before + 1 ||
      p.outcome < 0 ||
      p.outcome >= OUTCOME_COUNT ||
      OUTCOME_VERDICT[p.outcome] !== v
    ) {
      throw new Error(`frame ${n}: not exactly one outcome (verdict ${v}, outcome ${p.outcome})`);
    }
    if ((n & 0xfff) === 0) d.core.tick(now);
  }
  const seconds = (performance.now() - started) / 1000;
  const outcomes: Record<string, number> = {};
  OUTCOME_NAMES.forEach((name, i) => {
    if (p.counts[i] > 0) outcomes[name] = p.counts[i];
  });
  const mem = process.memoryUsage();
  return {
    frames,
    seconds,
    framesPerSecond: Math.round(frames / seconds),
    outcomes,
    rssBeforeMb: mb(rssBefore),
    rssAfterMb: mb(mem.rss),
    heapAfterMb: mb(mem.heapUsed),
  };
}
