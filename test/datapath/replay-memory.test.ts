/**
 * `uvs replay` streams: a capture of a million frames (250,000 NAT connections of four
 * client frames each) is read, replayed and written frame by frame, and the process stays
 * under 200 MB of RSS (issue 11, finding 8: it used to load the whole capture, 1.53 GB).
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/lab/ns-process.js';
import { PcapWriter } from '../../src/pcap/pcap.js';
import { openFileSink } from '../../src/pcap/sink.js';
import { BASE_CONFIG, fromClient, IP, SERVICES } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'uvs-replay-mem-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CONNECTIONS = 250_000;
const FRAMES = 4 * CONNECTIONS;
const REPLAY = fileURLToPath(new URL('../../src/cli/replay.ts', import.meta.url));

/** Writes the capture straight to a file, one frame at a time (the test holds none of it). */
function writeCapture(path: string): void {
  const w = new PcapWriter(openFileSink(path));
  const vip = IP.vip;
  let t = 1_700_000_000_000; // ms
  for (let i = 0; i < CONNECTIONS; i++) {
    // Clients 192.0.2.20-219, ports 1024-2273: 250,000 distinct flows.
    const src = `192.0.2.${20 + (i % 200)}`;
    const sport = 1024 + Math.floor(i / 200);
    const tcp = (flags: string, seq: number, payload?: string) =>
      fromClient({ src, dst: vip, tcp: { sport, dport: 80, flags, seq, ack: 1, payload } });
    for (const f of [
      tcp('S', 100),
      tcp('A', 101),
      tcp('PA', 101, 'GET / HTTP/1.0\r\n\r\n'),
      tcp('FA', 119),
    ]) {
      t += 0.05; // 20,000 frames/s of capture time
      const sec = Math.floor(t / 1000);
      w.writePacket(f, 0, f.length, sec, Math.round((t - sec * 1000) * 1000) % 1_000_000);
    }
  }
  w.close();
}

/** Runs `uvs replay` in a fresh node and returns its summary and peak RSS (kB). */
async function runReplay(args: string[]): Promise<{ code: number; out: string; maxRssKb: number }> {
  const script = `
    const { main } = await import(${JSON.stringify(REPLAY)});
    const code = await main(${JSON.stringify(args)});
    process.stderr.write('maxrss ' + process.resourceUsage().maxRSS + '\\n');
    process.exitCode = code;`;
  const argv = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', script];
  const r = await runCommand(argv, { timeoutMs: 280_000 });
  const m = /maxrss (\d+)/.exec(r.err);
  if (m === null) throw new Error(`replay failed (${r.code}): ${r.err}`);
  return { code: r.code, out: r.out, maxRssKb: Number(m[1]) };
}

describe('uvs replay of a million frames', () => {
  it('streams: every frame is replayed and written, and RSS stays under 200 MB', async () => {
    const cfg = join(dir, 'director.conf');
    writeFileSync(cfg, BASE_CONFIG + SERVICES);
    const input = join(dir, 'in.pcap');
    const output = join(dir, 'out.pcapng');
    writeCapture(input);
    expect(statSync(input).size).toBeGreaterThan(FRAMES * 70);
    const r = await runReplay(['--config', cfg, '--json', input, output]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out) as {
      frames: number;
      written: number;
      outcomes: Record<string, number>;
    };
    expect(s.frames).toBe(FRAMES);
    expect(s.written).toBe(FRAMES);
    expect(s.outcomes).toEqual({ nat_in: FRAMES });
    expect(statSync(output).size).toBeGreaterThan(FRAMES * 100);
    console.log(
      `replay of ${FRAMES} frames: peak RSS ${Math.round(r.maxRssKb / 1024)} MB, ` +
        `capture ${Math.round(statSync(input).size / 1e6)} MB, output ${Math.round(statSync(output).size / 1e6)} MB`,
    );
    expect(r.maxRssKb).toBeLessThan(200 * 1024);
  }, 300_000);
});
