// `udplab lab --compare-shapers`: the runs under the userspace relay and under kernel netem, matched by run id,
// counted by each shaper, and the table that results.json, report.md, report.html and the terminal carry.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareShaperRuns, shaperDirection } from '../../../src/lab/fidelity.js';
import {
  type LabResults,
  type RunRecord,
  renderHtml,
  shaperComparisonTable,
  terminalSummary,
  writeReports,
} from '../../../src/report/index.js';

// what `udplab relay` prints when it closes (its Impairment's counters per direction)
const relayCounters = (upLost: number, downDup: number) => ({
  event: 'closed',
  shaper: 'userspace',
  upStats: { packets: 1000, lost: upLost, tailDropped: 0, blackedOut: 0, duplicated: 0, corrupted: 0, reordered: 7 },
  downStats: { packets: 800, lost: 80, tailDropped: 2, blackedOut: 0, duplicated: downDup, corrupted: 0, reordered: 0 },
});
// what the netns/docker runtime reads with `tc -s qdisc show` in each endpoint
const netemCounters = (dropped: number) => ({
  up: {
    where: 'ul5c',
    qdisc: 'qdisc netem 8001: root refcnt 2 limit 1000 delay 10ms loss 10%',
    sent_bytes: 1_000_000,
    sent_packets: 900,
    dropped,
    overlimits: 0,
    requeues: 0,
    backlog_bytes: 0,
    backlog_packets: 0,
    loss_pct: Math.round((10000 * dropped) / (900 + dropped)) / 100,
  },
});

function run(id: string, verdict: 'pass' | 'fail', counters: unknown, protocol = 'ruft'): RunRecord {
  return {
    id,
    protocol,
    loss_pct: null,
    repeat: 1,
    seed: 1,
    netem_up: 'delay 10ms loss 10%',
    netem_down: 'delay 10ms loss 10%',
    shaping_readback: 'read back',
    shaper_counters: counters,
    bytes: 1000,
    duration_ms: 2000,
    goodput_bps: verdict === 'pass' ? 30e6 : 3e6,
    packets_sent: 1000,
    packets_retransmitted: 100,
    retransmit_pct: 10,
    rtt_ms_min: 20,
    rtt_ms_avg: 21.5,
    rtt_ms_p99: 92.7,
    sha256_expected: 'aa',
    sha256_actual: 'aa',
    security: '',
    timeline: [],
    verdict,
    failures: verdict === 'pass' ? [] : ['goodput 3.00 Mbit/s < 20.00 Mbit/s'],
  };
}

function results(shaper: string, runs: RunRecord[]): LabResults {
  const passed = runs.filter((r) => r.verdict === 'pass').length;
  return {
    schema_version: 1,
    scenario: 'cmp',
    description: 'compared',
    source: 'cmp.yaml',
    network: 'delay 10ms loss 10%',
    started_at: '2026-12-01T10:00:00.000Z',
    finished_at: '2026-12-01T10:01:00.000Z',
    environment: { runtime: 'netns', shaper, kernel: 'Linux 6.1.0-57-amd64', node: 'v20', notices: [] },
    expect: { integrity: true, goodput_min_bps: 20e6 },
    file: { size_bytes: 1000, sha256: 'aa' },
    runs,
    summary: { runs: runs.length, passed, failed: runs.length - passed },
  };
}

const userspace = results('userspace', [
  run('ruft-r1', 'pass', relayCounters(100, 12)),
  run('ruft-r2', 'pass', relayCounters(98, 0)),
]);
const netem = results('netem', [
  run('ruft-r1', 'pass', netemCounters(100)),
  run('ruft-r2', 'fail', netemCounters(130)),
]);

describe('shaper comparison: counted per direction', () => {
  it('counts the relay from its Impairment counters and netem from tc -s qdisc, null where a shaper does not count', () => {
    expect(shaperDirection(relayCounters(100, 12), 'up')).toEqual({
      packets_in: 1000,
      packets_out: 900,
      dropped: 100,
      loss_pct: 10,
      duplicated: 0,
      reordered: 7,
    });
    // down: 800 in, 12 duplicates made, 80 lost + 2 tail-dropped → 730 out, 82 of 812 handled
    expect(shaperDirection(relayCounters(100, 12), 'down')).toMatchObject({
      packets_in: 800,
      packets_out: 730,
      dropped: 82,
      loss_pct: 10.1,
      duplicated: 12,
    });
    expect(shaperDirection(netemCounters(100), 'up')).toEqual({
      packets_in: 1000,
      packets_out: 900,
      dropped: 100,
      loss_pct: 10,
      duplicated: null,
      reordered: null,
    });
    // netem shaped nothing on the way down here (no qdisc read back): not counted, never zero
    expect(shaperDirection(netemCounters(100), 'down').packets_in).toBeNull();
    expect(shaperDirection(null, 'up').loss_pct).toBeNull();
  });

  it('matches runs by id; the same verdict quietly, a different one loudly with both failures and the counted loss', () => {
    const c = compareShaperRuns(userspace, netem);
    expect(c.rows.map((r) => [r.id, r.same_verdict])).toEqual([
      ['ruft-r1', true],
      ['ruft-r2', false],
    ]);
    expect(c.same_verdicts).toBe(1);
    expect(c.different_verdicts).toBe(1);
    expect(c.rows[0]!.difference).toBeUndefined();
    expect(c.rows[1]!.difference).toBe(
      'userspace relay pass, kernel netem fail (goodput 3.00 Mbit/s < 20.00 Mbit/s): counted loss up 9.80% (relay) vs 12.62% (netem), down 10.25% (relay) vs not counted (netem); goodput 30.00 vs 3.00 Mbit/s, retransmitted 10.0% vs 10.0%',
    );
    expect(c.userspace.summary).toEqual({ runs: 2, passed: 2, failed: 0 });
  });

  it('says when the relay did not shape a run (TCP) instead of blaming the counts', () => {
    const tcpU = results('userspace', [
      {
        ...run('tcp-r1', 'pass', undefined, 'tcp'),
        shaping_readback: 'NOT SHAPED: the userspace relay carries UDP only',
      },
    ]);
    const tcpN = results('netem', [run('tcp-r1', 'fail', netemCounters(100), 'tcp')]);
    expect(compareShaperRuns(tcpU, tcpN).rows[0]!.difference).toMatch(
      /the relay carries UDP only, so under it this run went over the clean path while netem shaped it$/,
    );
  });
});

describe('shaper comparison: rendered', () => {
  const c = compareShaperRuns(userspace, netem);
  const res: LabResults = { ...netem, shaper_comparison: c };

  it('one row per run and shaper, the difference marked, counts as in→out (loss)', () => {
    const t = shaperComparisonTable(c);
    expect(t.header).toEqual([
      'run',
      'shaper',
      'verdict',
      'Mbit/s',
      'retransmit %',
      'RTT avg ms',
      'RTT p99 ms',
      'up: in→out (loss)',
      'down: in→out (loss)',
      'dup up/down',
      'reorder up/down',
    ]);
    expect(t.rows.map((r) => r.cells.slice(0, 3))).toEqual([
      ['ruft-r1', 'userspace', 'pass'],
      ['ruft-r1', 'netem', 'pass'],
      ['ruft-r2', 'userspace', 'pass (DIFFERENT)'],
      ['ruft-r2', 'netem', 'fail (DIFFERENT)'],
    ]);
    expect(t.rows[0]!.cells.slice(7)).toEqual(['1000→900 (10.00% lost)', '800→730 (10.10% lost)', '0/12', '7/0']);
    expect(t.rows[1]!.cells.slice(7)).toEqual(['1000→900 (10.00% lost)', 'not counted', '–', '–']);
    expect(t.rows.map((r) => r.differ)).toEqual([false, false, true, true]);
    expect(t.differences).toEqual([`ruft-r2: ${c.rows[1]!.difference}`]);
  });

  it('results.json, report.md, report.html and the terminal all carry it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'udplab-cmp-'));
    try {
      await writeReports(dir, res);
      const json = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as LabResults;
      expect(json.shaper_comparison?.rows).toHaveLength(2);
      const md = readFileSync(join(dir, 'report.md'), 'utf8');
      expect(md).toContain('## Shapers compared: userspace relay and kernel netem');
      expect(md).toContain('DIFFERENT VERDICTS in 1 of 2 runs between the userspace relay and kernel netem');
      expect(md).toContain('| ruft-r2 | netem | fail (DIFFERENT) | 3.00 | 10.0 | 21.5 | 92.7 | 1030→900 (12.62% lost)');
      expect(md).toContain('- **DIFFERENT VERDICT** ruft-r2: userspace relay pass, kernel netem fail');
      const html = readFileSync(join(dir, 'report.html'), 'utf8');
      expect(html).toContain('<table id="shaper-comparison">');
      expect(html).toContain('<tr class="fail"><td>ruft-r2</td><td>netem</td><td>fail (DIFFERENT)</td>');
      const term = terminalSummary(res);
      expect(term).toMatch(/^ruft-r1 +userspace +pass +30\.00/m);
      expect(term).toContain('DIFFERENT VERDICT ruft-r2:');
      expect(term).toContain('cmp: 2/2 runs passed with the userspace relay; shaper comparison (netns');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a report without a comparison has no such section', async () => {
    expect(await renderHtml(netem)).not.toContain('shaper-comparison');
    expect(terminalSummary(netem)).not.toContain('userspace relay');
  });
});
