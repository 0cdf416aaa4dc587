/**
 * The live page in a real browser: Debian's chromium, headless, driven by playwright-core,
 * run inside the director's namespace (a wrapper `ip netns exec NS chromium`) so it reaches
 * `uvs run --listen` on that namespace's loopback. In the NAT lab:
 *   - the page loads with no console error;
 *   - it shows the lab's services and real servers with the numbers uvsadm prints;
 *   - it updates as traffic flows;
 *   - the packet-path view shows a NAT connection's packets both ways.
 * With UVS_SCREENSHOTS=1 it refreshes docs/images/live-page.png and packet-path.png.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabRun } from '../../src/lab/lab.js';
import { requireRoot } from '../helpers/netns.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WEB = 9181;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const work = mkdtempSync(join(tmpdir(), 'uvs-web-'));
const lab = new LabRun({
  method: 'nat',
  prefix: `uvsw${process.pid % 1000}`,
  runArgs: ['--listen', String(WEB)],
});
let browser: Browser | null = null;
let page: Page;
const consoleErrors: string[] = [];

/** Text of the page's row for real server `rs` of the service card `svc`. */
async function cell(svc: string, rs: string, cls: string): Promise<string> {
  return page
    .locator(`[data-svc="${svc}"] tr[data-rs="${rs}"] td.${cls}`)
    .innerText({ timeout: 5000 });
}

describe('the live page in chromium (NAT lab)', () => {
  beforeAll(async () => {
    requireRoot();
    await lab.up();
    await lab.configure('rr', [1, 2, 3]);
    const wrapper = join(work, 'chromium-in-ns.sh');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${lab.ns('dir')} ${CHROMIUM} "$@"\n`);
    chmodSync(wrapper, 0o755);
    browser = await chromium.launch({ executablePath: wrapper, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await lab.down();
    rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('loads with no console error and shows the services and real servers', async () => {
    await page.goto(`http://127.0.0.1:${WEB}/`);
    await page.waitForSelector('[data-svc="TCP/198.18.0.100/80"] tr[data-rs]', { timeout: 10_000 });
    expect(await page.locator('[data-svc]').count()).toBe(2);
    for (const [i, rip] of lab.rips.entries()) {
      expect(await cell('TCP/198.18.0.100/80', `${rip}:80`, 'weight')).toBe(String(i + 1));
      expect(await cell('UDP/198.18.0.100/7000', `${rip}:7000`, 'weight')).toBe(String(i + 1));
    }
    expect(consoleErrors).toEqual([]);
  });

  it('updates as traffic flows, and then shows the numbers uvsadm prints', async () => {
    const tx = () => page.locator('#summary .card').first().locator('.hint').innerText();
    const before = await tx();
    const loading = lab.load(5, 3000, 4);
    // The page changes while the load runs (the client needs a moment to start).
    let during = before;
    for (let i = 0; i < 40 && during === before; i++) {
      await sleep(250);
      during = await tx();
    }
    expect(during).not.toBe(before);
    const later = await (async () => {
      await sleep(2500); // pushes come once a second
      return tx();
    })();
    expect(later).not.toBe(during);
    if (process.env.UVS_SCREENSHOTS === '1') {
      await page.screenshot({
        path: new URL('../../docs/images/live-page.png', import.meta.url).pathname,
        fullPage: true,
      });
    }
    const r = await loading;
    expect(r.errors).toBe(0);
    // The load is over: the table holds still (entries in TIME_WAIT), the page catches up.
    await sleep(2500);
    const list = await lab.uvsadm(['-L', '-n', '-t', `${lab.info.VIP}:80`]);
    const stats = await lab.uvsadm(['-L', '-n', '-t', `${lab.info.VIP}:80`, '--stats', '--exact']);
    for (const rip of lab.rips) {
      const l = new RegExp(
        `-> ${rip.replace(/\./g, '\\.')}:80\\s+Masq\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)`,
      ).exec(list.out);
      const s = new RegExp(`-> ${rip.replace(/\./g, '\\.')}:80\\s+(\\d+)`).exec(stats.out);
      expect(l, list.out).not.toBeNull();
      expect(s, stats.out).not.toBeNull();
      const svc = 'TCP/198.18.0.100/80';
      expect(await cell(svc, `${rip}:80`, 'weight')).toBe(l![1]);
      expect(await cell(svc, `${rip}:80`, 'active')).toBe(l![2]);
      expect(await cell(svc, `${rip}:80`, 'inactive')).toBe(l![3]);
      expect(await cell(svc, `${rip}:80`, 'conns')).toBe(s![1]);
    }
    expect(consoleErrors).toEqual([]);
  }, 60_000);

  it('the packet-path view shows a NAT connection both ways, stage by stage', async () => {
    await page.click('#tab-path');
    await page.selectOption('#path-service', 'TCP/198.18.0.100/80');
    await page.fill('#path-count', '10');
    await page.click('#path-start');
    await sleep(300);
    const r = await lab.load(2, 3, 1);
    expect(r.errors).toBe(0);
    await page.waitForSelector('#path-status:text-matches("done: 10 packets")', {
      timeout: 15_000,
    });
    const conn = page.locator('.conn').first();
    // Client -> real server: the SYN scheduled, destination rewritten to a real server.
    const first = conn.locator('.dir-in .pkt').first();
    expect(await first.getAttribute('data-outcome')).toBe('nat_in');
    const firstText = await first.innerText();
    expect(firstText).toMatch(
      /SCHEDULE\s*new connection to TCP 198\.18\.0\.100:80: rr picked 198\.18\.1\.1[123]:80 \(Masq\)/i,
    );
    expect(firstText).toMatch(/destination 198\.18\.0\.100:80 -> 198\.18\.1\.1[123]:80/);
    // Real server -> client: the reply's source rewritten back to the VIP.
    const reply = conn.locator('.dir-out .pkt').first();
    expect(await reply.getAttribute('data-outcome')).toBe('nat_out');
    expect(await reply.innerText()).toMatch(/source 198\.18\.1\.1[123]:80 -> 198\.18\.0\.100:80/);
    if (process.env.UVS_SCREENSHOTS === '1') {
      await page.screenshot({
        path: new URL('../../docs/images/packet-path.png', import.meta.url).pathname,
        fullPage: true,
      });
    }
    expect(consoleErrors).toEqual([]);
  }, 60_000);
});
