// Issue #18's done-when, end to end through the CLI: `udplab lab scenarios/grading/*.yaml --protocols-from
// examples/` grades the two Python implementations in examples/. stop-and-wait passes every scenario; the seminar
// program fails every scenario that needs acknowledgements, order, checksums or per-client state, each cell with
// its reason; the CLI exits non-zero and writes the matrix (json, md, html, junit). Local runtime: all nine
// scenarios; netns runtime (root only, as test/integration/exec-netns.test.ts): clean, 10% loss, reorder, duplicate.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GRADING, gradeExamples, row, SEMINAR_REASONS } from '../helpers/grading.js';
import { tempDir } from '../helpers/tmp.js';

const ALL = readdirSync(GRADING)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.replace(/\.yaml$/, ''))
  .sort();
const root = process.getuid?.() === 0;

function expectGraded(g: Awaited<ReturnType<typeof gradeExamples>>, scenarios: string[], seminarPasses: string[]) {
  expect(g.status, g.stderr.slice(-2000)).toBe(1);
  expect(g.files).toEqual({ 'matrix.json': true, 'matrix.md': true, 'matrix.html': true, 'junit.xml': true });
  const sw = row(g, 'stop-and-wait');
  const sem = row(g, 'seminar-2021');
  expect(Object.keys(sw).sort()).toEqual(scenarios);
  expect(Object.keys(sem).sort()).toEqual(scenarios);
  for (const s of scenarios) {
    expect(sw[s], `stop-and-wait × ${s}`).toEqual(['pass', '']);
    if (seminarPasses.includes(s)) expect(sem[s], `seminar-2021 × ${s}`).toEqual(['pass', '']);
    else {
      expect(sem[s]![0], `seminar-2021 × ${s}`).toBe('fail');
      expect(sem[s]![1], `seminar-2021 × ${s}`).toMatch(SEMINAR_REASONS[s]!);
    }
  }
  const failed = scenarios.length - seminarPasses.length;
  expect(g.summary).toEqual({ cells: 2 * scenarios.length, passed: scenarios.length + seminarPasses.length, failed });
  expect(g.junit).toContain(`failures="${failed}"`);
  expect(g.stdout + g.stderr).toMatch(
    new RegExp(`${scenarios.length + seminarPasses.length}/${2 * scenarios.length} cells passed`),
  );
}

describe('grading the examples (issue #18 done-when)', () => {
  it('local runtime, every grading scenario: stop-and-wait passes all, seminar-2021 fails all but clean and 100 ms RTT', async () => {
    expect(ALL).toEqual([
      'blackout',
      'clean',
      'corrupt',
      'duplicate',
      'loss-10pct',
      'loss-2pct',
      'reorder',
      'rtt-100ms',
      'two-clients',
    ]);
    using dir = tempDir();
    const g = await gradeExamples(ALL, 'local', dir.path, 240_000);
    expectGraded(g, ALL, ['clean', 'rtt-100ms']);
  }, 300_000);

  it.skipIf(!root)(
    'netns runtime: clean, 10% loss, reorder, duplicate; no namespace left behind',
    async () => {
      const before = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
      using dir = tempDir();
      const subset = ['clean', 'duplicate', 'loss-10pct', 'reorder'];
      const g = await gradeExamples(subset, 'netns', dir.path, 180_000);
      expectGraded(g, subset, ['clean']);
      expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).toBe(before);
    },
    240_000,
  );
});
