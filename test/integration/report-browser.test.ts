// report.html in a real browser: Debian's chromium driven by playwright-core (no browser download). The charts
// must render (non-empty SVG with marks) and a screenshot is saved into the report folder.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario, runScenario } from '../../src/lab/index.js';
import { writeReports } from '../../src/report/index.js';

const CHROMIUM = '/usr/bin/chromium';
const have = existsSync(CHROMIUM);
if (!have) console.warn('NOTICE: /usr/bin/chromium is missing (apt-get install chromium): the browser test is skipped');

describe.skipIf(!have && process.env.LAB_REQUIRE_DOCKER !== '1')('report.html in headless Chromium', () => {
  it('renders both charts and saves a screenshot next to the report', async () => {
    const s = parseScenario(
      'name: browser\nfile: { size: 1MiB }\nnetwork: { netem: "delay 2ms rate 50mbit" }\nsweep: { loss: [0%, 5%] }\n',
      'b.yaml',
    );
    const res = await runScenario(s, { runtime: 'local', shaper: 'auto' });
    const dir = mkdtempSync(join(tmpdir(), 'udplab-html-'));
    try {
      await writeReports(dir, res);
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
        await page.goto(`file://${join(dir, 'report.html')}`);
        const charts = await page.$$eval('figure svg', (svgs) =>
          svgs.map((svg) => ({ w: svg.getBoundingClientRect().width, marks: svg.querySelectorAll('path').length })),
        );
        expect(charts).toHaveLength(3); // goodput, retransmissions, the timeline of one run
        for (const c of charts) {
          expect(c.w).toBeGreaterThan(300);
          expect(c.marks).toBeGreaterThan(3);
        }
        expect(await page.textContent('body')).toContain('2/2 runs met every expectation');
        await page.screenshot({ path: join(dir, 'report.png'), fullPage: true });
      } finally {
        await browser.close();
      }
      expect(statSync(join(dir, 'report.png')).size).toBeGreaterThan(10_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
