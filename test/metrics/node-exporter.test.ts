/**
 * node_exporter parity without a network: the table of node_exporter's own ipvs fixture,
 * loaded into uvs, must give exactly the node_ipvs_* text node_exporter prints for it
 * (collector/fixtures/ip_vs_result.txt), and uvs's /proc files must be the kernel's bytes.
 */
import { describe, expect, it } from 'vitest';
import { DirectorEnv } from '../../src/datapath/env.js';
import { Pipeline } from '../../src/datapath/pipeline.js';
import { formatExposition, formatValue } from '../../src/metrics/exposition.js';
import { nodeIpvsFamilies } from '../../src/metrics/ipvs-families.js';
import { formatProcConn, formatProcIpVs, formatProcIpVsStats } from '../../src/metrics/procfs.js';
import { directorTotals, readSingleThread } from '../../src/metrics/reading.js';
import { InetAddr } from '../../src/net/addr.js';
import { fixture, loadProcStats, loadProcTable } from './proc-table.js';

function readingOf(tableText: string, statsText: string) {
  const core = loadProcTable(tableText);
  loadProcStats(core, statsText);
  return readSingleThread(new Pipeline(core, new DirectorEnv()), core, []);
}

describe('node_exporter ipvs collector parity', () => {
  it('prints the node_ipvs_* series node_exporter prints for its fixture, byte for byte', () => {
    const r = readingOf(
      fixture('node_exporter.proc.net.ip_vs'),
      fixture('node_exporter.proc.net.ip_vs_stats'),
    );
    expect(formatExposition(nodeIpvsFamilies(r))).toBe(fixture('node_exporter.ip_vs_result.txt'));
  });

  it('formats values as Go does', () => {
    expect(formatValue(23765872)).toBe('2.3765872e+07');
    expect(formatValue(89991519156915)).toBe('8.9991519156915e+13');
    expect(formatValue(321)).toBe('321');
    expect(formatValue(123456)).toBe('123456');
    expect(formatValue(1e6)).toBe('1e+06');
    expect(formatValue(0.25)).toBe('0.25');
    expect(formatValue(0.00001)).toBe('1e-05');
    expect(formatValue(Number.NaN)).toBe('NaN');
  });
});

describe('/proc/net/ip_vs* in the kernel formats', () => {
  it('ip_vs: the kernel lines of node_exporter fixture, trailing spaces included', () => {
    const text = fixture('node_exporter.proc.net.ip_vs');
    const r = readingOf(text, fixture('node_exporter.proc.net.ip_vs_stats'));
    // The fixture's FWM line was edited by hand (three trailing spaces); the kernel's
    // "FWM  %08X %s %s" with no ops flag leaves one.
    const kernel = text.replace('FWM  10001000 wlc   \n', 'FWM  10001000 wlc \n');
    expect(formatProcIpVs(r.tableSize, r.services)).toBe(kernel);
  });

  it('ip_vs: IPv6 services in [%pI6] form (procfs fixture, trailing spaces stripped there)', () => {
    const text = fixture('procfs.proc.net.ip_vs');
    const r = readingOf(text, fixture('procfs.proc.net.ip_vs_stats'));
    const ours = formatProcIpVs(r.tableSize, r.services)
      .split('\n')
      .map((l) => l.trimEnd())
      .join('\n');
    expect(ours).toBe(text);
  });

  it('ip_vs_stats: totals and rates in hex, as the fixture', () => {
    const stats = fixture('node_exporter.proc.net.ip_vs_stats');
    const r = readingOf(fixture('node_exporter.proc.net.ip_vs'), stats);
    expect(formatProcIpVsStats(directorTotals(r))).toBe(stats);
  });

  it('ip_vs_conn: one line per entry, IPv4 in hex, IPv6 as %pI6', () => {
    const v4 = formatProcConn({
      af: 2,
      proto: 6,
      caddr: InetAddr.parseOrThrow('198.18.0.10'),
      cport: 33344,
      vaddr: InetAddr.parseOrThrow('198.18.0.100'),
      vport: 80,
      daddr: InetAddr.parseOrThrow('198.18.1.12'),
      dport: 80,
      state: 'ESTABLISHED',
      expiresMs: 899_500,
      template: false,
      fwmark: 0,
    });
    expect(v4).toBe('TCP C612000A 8240 C6120064 0050 C612010C 0050 ESTABLISHED     899\n');
    const v6 = formatProcConn({
      af: 10,
      proto: 17,
      caddr: InetAddr.parseOrThrow('2001:db8::10'),
      cport: 5000,
      vaddr: InetAddr.parseOrThrow('2001:db8::100'),
      vport: 53,
      daddr: InetAddr.parseOrThrow('2001:db8:1::11'),
      dport: 53,
      state: 'UDP',
      expiresMs: 299_999,
      template: false,
      fwmark: 0,
    });
    expect(v6).toBe(
      'UDP 2001:0db8:0000:0000:0000:0000:0000:0010 1388 2001:0db8:0000:0000:0000:0000:0000:0100 0035 2001:0db8:0001:0000:0000:0000:0000:0011 0035 UDP             299\n',
    );
  });
});
