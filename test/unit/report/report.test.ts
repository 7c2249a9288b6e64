import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type LabResults, mergeResults, type RunRecord, renderHtml, writeReports } from '../../../src/report/index.js';

function run(loss: number, repeat: number, goodput: number, verdict: 'pass' | 'fail' = 'pass'): RunRecord {
  return {
    id: `ruft-loss${loss}-r${repeat}`,
    protocol: 'ruft',
    loss_pct: loss,
    repeat,
    seed: repeat,
    netem_up: `delay 10ms loss ${loss}%`,
    netem_down: `delay 10ms rate 100mbit loss ${loss}%`,
    shaping_readback: 'userspace relay',
    shaper_counters: null,
    bytes: 1000,
    duration_ms: 10,
    goodput_bps: goodput,
    packets_sent: 10,
    packets_retransmitted: loss / 10,
    retransmit_pct: loss,
    rtt_ms_min: 20,
    rtt_ms_avg: 21,
    rtt_ms_p99: 25,
    sha256_expected: 'aa',
    sha256_actual: verdict === 'pass' ? 'aa' : 'bb',
    security: 'Noise_NK_25519_ChaChaPoly_SHA256',
    timeline: [0, 100, 200, 300].map((t, i) => ({
      t_ms: t,
      bytes: i * 1_000_000,
      rtt_ms: 20 + i,
      pacing_mbit: 80,
      sent: i * 900,
      lost: i * loss,
      retransmitted: i * loss,
    })),
    verdict,
    failures: verdict === 'pass' ? [] : ['SHA-256 mismatch'],
  };
}

function results(runs: RunRecord[], shard?: { index: number; count: number }): LabResults {
  const passed = runs.filter((r) => r.verdict === 'pass').length;
  return {
    schema_version: 1,
    scenario: 'demo',
    description: 'a <demo>',
    source: 'demo.yaml',
    network: 'delay 10ms',
    started_at: '2026-11-27T10:00:00.000Z',
    finished_at: '2026-11-27T10:01:00.000Z',
    ...(shard && { shard }),
    environment: {
      runtime: 'docker',
      shaper: 'userspace',
      kernel: 'Linux',
      node: 'v20',
      notices: ['FALLBACK: no sch_netem'],
    },
    expect: { integrity: true },
    file: { size_bytes: 1000, sha256: 'aa' },
    runs,
    summary: { runs: runs.length, passed, failed: runs.length - passed },
  };
}

describe('report.html', () => {
  it('is self-contained, with SVG charts, the link-limit line, notices and the run table', async () => {
    const html = await renderHtml(
      results([run(0, 1, 90e6), run(0, 2, 80e6), run(10, 1, 70e6), run(10, 2, 60e6, 'fail')]),
    );
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect((html.match(/<svg/g) ?? []).length).toBe(3);
    expect(html).toMatch(/<figure id="timeline"><svg/);
    expect(html).toContain('run <code>ruft-loss10-r1</code>'); // the passing run at the highest loss
    expect(html).toContain('link limit rate × (1 − p) for rate 100.0 Mbit/s');
    expect(html).toContain('NOTICE: FALLBACK: no sch_netem');
    expect(html).toContain('a &lt;demo&gt;');
    expect(html).toMatch(/<tr class="fail"><td>ruft-loss10-r2<\/td>/);
    // comparison: ruft ÷ ruft = 1, ÷ limit at 10% = 65 / 90
    expect(html).toContain('<td>ruft</td><td>10%</td><td>1.000</td><td>0.722</td>');
  });
});

describe('report merge', () => {
  it('joins shards of one scenario, recomputes the summary, keeps every notice', () => {
    const a = results([run(0, 1, 1), run(10, 1, 1, 'fail')], { index: 1, count: 2 });
    const b = results([run(0, 2, 1), run(10, 2, 1)], { index: 2, count: 2 });
    b.environment.notices.push('another notice');
    const m = mergeResults([a, b]);
    expect(m.summary).toEqual({ runs: 4, passed: 3, failed: 1 });
    expect(m.runs.map((r) => r.id)).toEqual(['ruft-loss0-r1', 'ruft-loss0-r2', 'ruft-loss10-r1', 'ruft-loss10-r2']);
    expect(m.shard).toBeUndefined();
    expect(m.environment.notices).toEqual(['FALLBACK: no sch_netem', 'another notice']);
    expect(() => mergeResults([a, { ...b, scenario: 'other' }])).toThrow(/different scenarios/);
  });

  it('writes all four report files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'udplab-report-'));
    try {
      await writeReports(dir, results([run(0, 1, 1)]));
      for (const f of ['results.json', 'report.md', 'junit.xml', 'report.html'])
        expect(readFileSync(join(dir, f), 'utf8').length).toBeGreaterThan(50);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('.github/workflows/lab.yml', () => {
  it('runs the real commands: sharded lab runs and a merge job', () => {
    const wf = parse(
      readFileSync(join(import.meta.dirname, '..', '..', '..', '.github', 'workflows', 'lab.yml'), 'utf8'),
    );
    expect(wf.jobs.lab.strategy.matrix.shard).toEqual([1, 2, 3]);
    const labRuns = wf.jobs.lab.steps.map((s: { run?: string }) => s.run ?? '').join('\n');
    expect(labRuns).toMatch(/npx udplab lab scenarios\/regression\/\*\.yaml .*--shard \$\{\{ matrix\.shard \}\}\/3/);
    expect(wf.jobs.merge.needs).toBe('lab');
    const mergeRuns = wf.jobs.merge.steps.map((s: { run?: string }) => s.run ?? '').join('\n');
    expect(mergeRuns).toMatch(/npx udplab report merge /);
  });
});
