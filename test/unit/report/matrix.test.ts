// The grading matrix from LabResults: a cell per implementation × scenario, pass only when every run passed,
// the mean goodput, and the reason of the first failing run.
import { describe, expect, it } from 'vitest';
import {
  gradingMatrix,
  type LabResults,
  matrixMarkdown,
  matrixTable,
  type RunRecord,
} from '../../../src/report/index.js';

const run = (protocol: string, repeat: number, goodput: number, failures: string[] = []): RunRecord =>
  ({
    id: `${protocol}-r${repeat}`,
    protocol,
    repeat,
    goodput_bps: goodput,
    duration_ms: 100,
    verdict: failures.length ? 'fail' : 'pass',
    failures,
  }) as RunRecord;

const results = (scenario: string, runs: RunRecord[]): LabResults =>
  ({
    scenario,
    description: '',
    network: 'loss 10%',
    environment: { runtime: 'local', shaper: 'userspace' },
    runs,
  }) as LabResults;

describe('grading matrix', () => {
  it('cells: all runs must pass; mean goodput; the first failing run gives the reason', () => {
    const m = gradingMatrix(
      [
        {
          res: results('lossy', [
            run('a', 1, 2e6),
            run('a', 2, 4e6),
            run('b', 1, 0, ['transfer failed: hung: x']),
            run('b', 2, 1e6),
          ]),
          report: 'lossy',
        },
        { res: results('clean', [run('a', 1, 8e6)]), report: 'clean' },
      ],
      [
        { label: 'a', description: '' },
        { label: 'b', description: '' },
      ],
    );
    expect(m.cells).toEqual([
      expect.objectContaining({
        implementation: 'a',
        scenario: 'lossy',
        verdict: 'pass',
        runs: 2,
        passed: 2,
        goodput_bps: 3e6,
        reason: '',
      }),
      expect.objectContaining({ implementation: 'a', scenario: 'clean', verdict: 'pass', goodput_bps: 8e6 }),
      expect.objectContaining({
        implementation: 'b',
        scenario: 'lossy',
        verdict: 'fail',
        passed: 1,
        goodput_bps: 5e5,
        reason: 'transfer failed: hung: x',
        failed_run: 'b-r1',
      }),
      expect.objectContaining({
        implementation: 'b',
        scenario: 'clean',
        verdict: 'fail',
        runs: 0,
        reason: 'not run (no run of this implementation in this shard)',
      }),
    ]);
    expect(m.summary).toEqual({ cells: 4, passed: 2, failed: 2 });
    expect(matrixMarkdown(m)).toContain('| a | pass 3.00 | pass 8.00 |\n| b | FAIL | FAIL |');
    expect(matrixTable(m).split('\n')[2]).toBe('a               pass 3.00  pass 8.00');
  });
});
