// The seminar as a lecturer runs it on a host with Docker (#21): each teaching scenario on the docker runtime, its
// report leading with the lesson's table and chart, a figure for every protocol, every run as the page expects.
// 08 (amplification) forges from the client container (this machine's hping3 through nsenter into its network
// namespace) to the server container, and its figures are checked too. The local runtime's figures are checked
// against the pages by test/teaching/pages.test.ts.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenario, runScenario } from '../../src/lab/index.js';
import { lessonTable, writeReports } from '../../src/report/index.js';
import { runDocker } from '../helpers/docker.js';
import { tempDir } from '../helpers/tmp.js';

const DIR = 'scenarios/teaching';
const leftovers = () =>
  execFileSync('docker', ['ps', '-aq', '--filter', `label=udplab.owner=${process.pid}`])
    .toString()
    .trim();
const firstIs = (html: string, tag: string, id: string) =>
  html.indexOf(`<${tag}`) === html.indexOf(`<${tag} id="${id}"`);

describe.skipIf(!runDocker)('the teaching set on the docker runtime', () => {
  for (const f of readdirSync(DIR).filter((x) => x.endsWith('.yaml'))) {
    it(`${f}: passes in containers and its report leads with the lesson`, async () => {
      using d = tempDir();
      // a host whose rmem_max is below the 8 MiB some scenarios ask (this one: 4 MiB) runs them with the notice
      const res = await runScenario(loadScenario(join(DIR, f)), {
        runtime: 'docker',
        shaper: 'auto',
        outDir: d.path,
        allowCapped: true,
      });
      expect(res.environment.runtime).toBe('docker');
      for (const r of res.runs) expect(r.verdict, `${r.id}: ${r.failures.join('; ')}`).toBe('pass');
      await writeReports(d.path, res);
      const t = lessonTable(res);
      expect(t, 'a lesson table').toBeDefined();
      const protocols = new Set(res.runs.map((r) => r.protocol));
      expect(new Set(t!.rows.map((r) => r.protocol))).toEqual(protocols);
      const html = readFileSync(join(d.path, 'report.html'), 'utf8');
      expect(firstIs(html, 'table', 'lesson-table'), 'the first table is the lesson’s').toBe(true);
      expect(firstIs(html, 'figure', 'lesson-chart'), 'the first chart is the lesson’s').toBe(true);
      expect(readFileSync(join(d.path, 'junit.xml'), 'utf8')).toMatch(/<property name="lesson\./);
      expect(leftovers()).toBe('');
    }, 240_000);
  }

  it('08-amplification.yaml: a request forged in the client container makes naive and TFTP reflect, ruft ≤ 3×', async () => {
    const res = await runScenario(loadScenario(join(DIR, '08-amplification.yaml')), {
      runtime: 'docker',
      shaper: 'auto',
    });
    expect(res.environment.runtime).toBe('docker');
    expect(res.environment.notices.join('\n')).toMatch(/ATTACK inside the lab's containers only: amplification/);
    const counters = (id: string) =>
      res.runs.find((r) => r.protocol === id)!.shaper_counters as { amplification: number; victim_bytes: number };
    expect(counters('naive').amplification).toBeGreaterThan(1000); // the whole MiB to the victim
    expect(counters('tftp').amplification).toBeGreaterThan(10);
    expect(counters('tftp').victim_bytes).toBeLessThanOrEqual(2 * 516); // DATA 1 at most twice before an ACK
    expect(counters('ruft').amplification).toBeGreaterThan(0);
    expect(counters('ruft').amplification).toBeLessThanOrEqual(3);
    for (const r of res.runs)
      expect(r.shaping_readback).toBe("none: forged request straight to the server over the lab's internal network");
    expect(leftovers()).toBe('');
  }, 240_000);
});
