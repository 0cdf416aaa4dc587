/**
 * `uvs ctl record` without a network: the datapath's recorder around the pipeline, its chunks
 * written by the RecordingWriter, the file read back by tshark: one interface per link and
 * direction, each frame as received and as sent, commented with its decisions, partial
 * checksums completed, no malformed frame or bad checksum; the filter and the count hold.
 */
import { mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDirector } from '../../src/control/build-director.js';
import type { Director } from '../../src/datapath/director-parts.js';
import { HEADROOM } from '../../src/datapath/pipeline.js';
import { RXF_CSUM_NOT_READY } from '../../src/io/link.js';
import { InetAddr } from '../../src/net/addr.js';
import { IPPROTO_TCP } from '../../src/net/ipproto.js';
import type { FrameFilter } from '../../src/trace/frame-match.js';
import { LiveRecorder } from '../../src/trace/live-recorder.js';
import { RecordingWriter } from '../../src/trace/recording-writer.js';
import { config, fromClient, fromRs, IP } from '../datapath/fixtures.js';
import { tsharkExpertProblems, tsharkFields } from '../helpers/tshark.js';

const work = mkdtempSync(join(tmpdir(), 'uvs-rec-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let clock = 1_000;

function send(d: Director, r: LiveRecorder, frame: Uint8Array, link: string, partial = false) {
  clock += 10;
  const buf = new Uint8Array(HEADROOM + frame.length + 64);
  buf.set(frame, HEADROOM);
  const li = d.env.linkByName(link);
  d.core.tick(clock);
  const tapping = r.armed > 0;
  if (tapping) r.before(buf, HEADROOM, frame.length, li, partial ? RXF_CSUM_NOT_READY : 0);
  const v = d.pipeline.process(buf, HEADROOM, frame.length, li, clock, partial);
  if (tapping) r.after(v, d.pipeline);
}

function recording(name: string, count: number, filter: FrameFilter = {}) {
  const d = buildDirector(config(), { pipeline: { trace: true } });
  const path = join(work, name);
  const w = new RecordingWriter(
    path,
    d.env.ifaces.map((i) => i.name),
    count,
  );
  let ended = 0;
  const r = new LiveRecorder(d, false);
  r.start(count, 10_000, filter, {
    chunk: (b) => w.chunk(b),
    end: () => {
      ended++;
    },
  });
  return { d, r, w, path, ended: () => ended };
}

const syn = (sport: number, dport = 80, src = IP.client) =>
  fromClient({ src, dst: IP.vip, tcp: { sport, dport, flags: 'S', seq: 1, payload: 'hi' } });

describe('live recording', () => {
  it('writes NAT both ways and TUN, commented, one interface per link and direction', async () => {
    const { d, r, w, path, ended } = recording('nat.pcapng', 3);
    send(d, r, syn(40000), 'eth0');
    send(
      d,
      r,
      fromRs('rs1', {
        src: IP.rs1,
        dst: IP.client,
        tcp: { sport: 8080, dport: 40000, flags: 'SA', seq: 9, ack: 2, csum: 'partial' },
      }),
      'eth1',
      true,
    );
    send(
      d,
      r,
      fromClient({ src: IP.client, dst: IP.vip, udp: { sport: 5000, dport: 7000, payload: 'x' } }),
      'eth0',
    );
    expect(ended()).toBe(1);
    expect(r.running).toBe(false);
    // Past the count: nothing more is recorded.
    send(d, r, syn(40001), 'eth0');
    const sum = w.close();
    expect(sum).toMatchObject({ received: 3, sent: 3 });
    expect(statSync(path).mode & 0o777).toBe(0o600);

    expect(await tsharkExpertProblems(path)).toEqual([]);
    const rows = await tsharkFields(path, [
      'frame.interface_name',
      'frame.p2p_dir',
      'ip.src',
      'ip.dst',
      'frame.comment',
    ]);
    expect(rows.map((x) => x.slice(0, 4))).toEqual([
      ['eth0-in', '1', IP.client, IP.vip],
      ['eth1-out', '0', IP.client, IP.rs1],
      ['eth1-in', '1', IP.rs1, IP.client],
      ['eth0-out', '0', IP.vip, IP.client],
      ['eth0-in', '1', IP.client, IP.vip],
      // TUN: outer then inner header
      ['eth1-out', '0', `${IP.eth1},${IP.client}`, `${IP.rs2},${IP.vip}`],
    ]);
    expect(rows[0][4]).toMatch(/^received; /);
    expect(rows[1][4]).toMatch(/^sent; /);
    expect(rows[1][4]).toContain(`${IP.rs1}`);
  });

  it('keeps only the frames of the service it was given, both directions', async () => {
    const filter = {
      service: { proto: IPPROTO_TCP, addr: InetAddr.parseOrThrow(IP.vip), port: 80 },
    };
    const { d, r, w, path } = recording('svc.pcapng', 10, filter);
    send(d, r, syn(40000, 443), 'eth0'); // DR service: not recorded
    send(d, r, syn(40001), 'eth0');
    send(
      d,
      r,
      fromRs('rs1', {
        src: IP.rs1,
        dst: IP.client,
        tcp: { sport: 8080, dport: 40001, flags: 'SA', seq: 9, ack: 2 },
      }),
      'eth1',
    );
    r.finish();
    expect(w.close()).toMatchObject({ received: 2, sent: 2 });
    const rows = await tsharkFields(path, ['tcp.srcport', 'tcp.dstport']);
    expect(rows).toEqual([
      ['40001', '80'],
      ['40001', '8080'],
      ['8080', '40001'],
      ['80', '40001'],
    ]);
  });

  it('refuses to write through a symlink', () => {
    const target = join(work, 'target');
    writeFileSync(target, 'keep');
    const link = join(work, 'link.pcapng');
    symlinkSync(target, link);
    expect(() => new RecordingWriter(link, ['eth0'])).toThrow(/ELOOP/);
  });
});
