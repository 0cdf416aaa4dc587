/**
 * The bench's idle gate (bench/netns/sys.ts waitIdle) with a scripted /proc/stat, and the
 * report's loss figures (ring drops, TCP retransmits, runs on a busy machine).
 */
import { describe, expect, it } from 'vitest';
import { buildResult, markdown, type RunRecord } from '../../bench/netns/report.js';
import { CLK_TCK, type CpuTicks, waitIdle } from '../../bench/netns/sys.js';

/**
 * A /proc/stat of a 2-core machine on which window i (between ticks() calls 2i and 2i+1)
 * keeps `busy[i]` cores busy (the last value repeats), for however long the window really
 * lasted, so a slow sleep on a loaded machine does not change the figure.
 */
function scripted(busy: number[]): () => CpuTicks {
  let calls = 0;
  let total = 0;
  let idle = 0;
  let last = performance.now();
  return () => {
    const now = performance.now();
    const secs = (now - last) / 1000;
    last = now;
    const k = calls++;
    if (k % 2 === 1) {
      const b = busy[Math.min((k - 1) / 2, busy.length - 1)];
      total += 2 * secs * CLK_TCK;
      idle += (2 - b) * secs * CLK_TCK;
    }
    return { user: 0, system: 0, softirq: 0, irq: 0, idle, total };
  };
}

describe('idle gate', () => {
  it('waits through busy windows and starts once the machine is under the threshold', async () => {
    const g = await waitIdle(0.3, 5000, 20, scripted([1.5, 1.0, 0.1]));
    expect(g.idle).toBe(true);
    expect(g.busyCores).toBeLessThan(0.3);
    expect(g.busyCores).toBeGreaterThanOrEqual(0);
  });

  it('gives up after the bounded wait and reports the machine busy', async () => {
    const t0 = performance.now();
    const g = await waitIdle(0.3, 100, 20, scripted([1.8]));
    expect(g.idle).toBe(false);
    expect(g.busyCores).toBeGreaterThan(1);
    expect(g.waitedSeconds).toBeGreaterThanOrEqual(0.1);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe('report: loss per run', () => {
  const run = (path: RunRecord['path'], rep: number, extra: Partial<RunRecord>): RunRecord => ({
    rep,
    path,
    metric: 'tcp-nooff',
    offloads: 'off',
    value: 2,
    seconds: 2,
    cpu: { procCores: 1, softirqCores: 0.5, busyCores: 1.8 },
    ...extra,
  });

  it('keeps ring drops and retransmits per run and counts runs on a busy machine', () => {
    const r = buildResult({
      started: new Date(0),
      finished: new Date(1000),
      options: { duration: 2, reps: 2, rs: 2, flows: 1, connections: 1 },
      machine: { cpu: 'x', cpus: 2, kernel: 'k', node: 'n' },
      runs: [
        run('uvs-nat', 1, {
          ringDrops: 0,
          retransmits: 3,
          idle: { busyCores: 0.1, waitedSeconds: 0.5, idle: true },
        }),
        run('uvs-nat-1ring', 1, { ringDrops: 80813, retransmits: 80867 }),
        run('uvs-nat', 2, {
          ringDrops: 5,
          retransmits: 4,
          idle: { busyCores: 1.2, waitedSeconds: 20, idle: false },
        }),
        run('uvs-nat-1ring', 2, { ringDrops: 70000, retransmits: 70100 }),
        run('kernel', 1, { retransmits: 0 }),
      ],
      sessions: [],
      skipped: [],
    });
    const nat = r.summary['tcp-nooff']?.['uvs-nat'];
    expect(nat?.ringDrops).toEqual([0, 5]);
    expect(nat?.retransmits).toEqual([3, 4]);
    expect(nat?.notIdle).toBe(1);
    expect(r.summary['tcp-nooff']?.kernel?.ringDrops).toBeUndefined();
    expect(r.ratios['tcp-nooff']?.['uvs-nat-1ring']?.kernel).toBe(1);
    const md = markdown(r);
    expect(md).toContain('| tcp-nooff | uvs NAT | 0, 5 | 3, 4 | 1 |');
    expect(md).toContain('| tcp-nooff | uvs NAT, one ring | 80813, 70000 | 80867, 70100 | 0 |');
  });
});
