// Markdown from text the lab does not control (a program's stderr in a failure reason, notices): md() keeps it one
// line and renders it as the same text — no table cell it could end, no link, image, raw HTML, code or emphasis it
// could start. The grading matrix (matrix.md) and report.md carry a hostile reason that way.
import { describe, expect, it } from 'vitest';
import { reportMarkdown } from '../../../src/report/files.js';
import { gradingMatrix, type LabResults, matrixMarkdown, type RunRecord } from '../../../src/report/index.js';
import { md } from '../../../src/report/markdown.js';

/** A failure reason a program chose: its last stderr line can hold anything. */
const HOSTILE =
  'crashed: exit code 3: | fake | cell |\n| evil | row |\n[click](https://evil.example) ![x](https://evil.example/t.png) <img src=x onerror=alert(1)> `code` **bold** ~~s~~ $x$ a\\|b <https://evil.example> &lt;b&gt; \x1b[31mred\x1b[0m';

/** The cells of a table row, split where Markdown splits them: at a `|` no backslash escapes. */
const cells = (row: string) =>
  row
    .slice(1, -1)
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
/** What Markdown renders of an escaped text: a backslash before ASCII punctuation is dropped. */
const rendered = (s: string) => s.replace(/\\([!-/:-@[-`{-~])/g, '$1');
/** Markdown syntax that would take effect: a character md() must escape, not preceded by a backslash. */
const live = /(?<!\\)[[\]()<>`*~|!$&]/;

describe('md(): text as inline Markdown', () => {
  it('one line that renders as the text itself (line breaks as spaces, control characters as U+FFFD)', () => {
    const out = md(HOSTILE);
    expect(out).not.toMatch(/[\r\n\x1b]/);
    expect(rendered(out)).toBe(HOSTILE.replace(/\n/g, ' ').replace(/\x1b/g, '\uFFFD'));
    // every syntax character is escaped (an escaped backslash counts: `\\` then the character)
    expect(out.replace(/\\[!-/:-@[-`{-~]/g, '')).not.toMatch(live);
  });
});

const run = (protocol: string, failures: string[]): RunRecord =>
  ({
    id: `${protocol}-r1`,
    protocol,
    repeat: 1,
    goodput_bps: 0,
    duration_ms: 100,
    verdict: failures.length ? 'fail' : 'pass',
    failures,
    retransmit_pct: 0,
    sha256_expected: 'aa',
    sha256_actual: 'bb',
    shaping_readback: 'userspace relay',
    shaper_counters: null,
    timeline: [],
  }) as unknown as RunRecord;

describe('a hostile reason in the reports’ Markdown', () => {
  it('matrix.md: the reason stays in its one row of four cells, as text', () => {
    const m = gradingMatrix(
      [
        {
          res: {
            scenario: 'lossy',
            description: '',
            network: 'loss 10%',
            environment: { runtime: 'local', shaper: 'userspace' },
            runs: [run('mallory', [HOSTILE])],
          } as unknown as LabResults,
          report: 'lossy',
        },
      ],
      [{ label: 'mallory', description: '' }],
    );
    const lines = matrixMarkdown(m).split('\n');
    const why = lines.slice(lines.indexOf('## Why'));
    const rows = why.filter((l) => l.startsWith('|'));
    expect(rows).toHaveLength(3); // header, rule, mallory's row: the reason added none
    const c = cells(rows[2]!);
    expect(c).toHaveLength(4);
    expect(c.slice(0, 3)).toEqual(['mallory', 'lossy', 'mallory-r1']);
    expect(rendered(c[3]!)).toBe(HOSTILE.replace(/\n/g, ' ').replace(/\x1b/g, '\uFFFD'));
    expect(c[3]!.replace(/\\[!-/:-@[-`{-~]/g, '')).not.toMatch(live);
  });

  it('report.md: the runs table and a notice carry it as text', () => {
    const res = {
      schema_version: 1,
      scenario: 'demo',
      description: 'a demo',
      source: 'demo.yaml',
      network: 'delay 10ms',
      started_at: '2026-11-27T10:00:00.000Z',
      finished_at: '2026-11-27T10:01:00.000Z',
      environment: {
        runtime: 'local',
        shaper: 'userspace',
        kernel: 'Linux',
        node: 'v24',
        notices: [`server said: ${HOSTILE}`],
      },
      expect: { integrity: true },
      file: { size_bytes: 1000, sha256: 'aa' },
      runs: [run('mallory', [HOSTILE])],
      summary: { runs: 1, passed: 0, failed: 1 },
    } as unknown as LabResults;
    const lines = reportMarkdown(res).split('\n');
    const runs = lines.slice(lines.indexOf('## Runs'));
    const rows = runs.filter((l) => l.startsWith('|'));
    expect(rows).toHaveLength(3);
    const c = cells(rows[2]!);
    expect(c).toHaveLength(7);
    expect(rendered(c[6]!)).toBe(HOSTILE.replace(/\n/g, ' ').replace(/\x1b/g, '\uFFFD'));
    const notice = lines.filter((l) => l.startsWith('- **NOTICE**'));
    expect(notice).toHaveLength(1);
    expect(notice[0]!.replace(/\\[!-/:-@[-`{-~]/g, '').slice('- **NOTICE**'.length)).not.toMatch(live);
  });
});
