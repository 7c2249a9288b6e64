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
/** Reads md()'s output as Markdown does: a backslash before ASCII punctuation is that character, a code span is its
 * content as is. `text` is what it renders to; `syntax` is what stays outside code spans once escapes are taken out
 * (the characters Markdown would act on there). */
function read(s: string): { text: string; syntax: string } {
  let text = '';
  let syntax = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && /[!-/:-@[-`{-~]/.test(s[i + 1] ?? '')) text += s[++i];
    else if (c === '`' && s.indexOf('`', i + 1) > i) {
      const end = s.indexOf('`', i + 1);
      text += s.slice(i + 1, end);
      i = end;
    } else {
      text += c;
      syntax += c;
    }
  }
  return { text, syntax };
}
const rendered = (s: string) => read(s).text;
/** Markdown syntax that would take effect: a character md() must escape, not preceded by a backslash. */
const live = /[[\]()<>`*~|!$&#]/;
/** What GitHub links by itself (GFM autolinks): it must be inside a code span. */
const linkish = /:\/\/|www\.|@|mailto:/i;

describe('md(): text as inline Markdown', () => {
  it('one line that renders as the text itself (line breaks as spaces, control characters as U+FFFD)', () => {
    const out = md(HOSTILE);
    expect(out).not.toMatch(/[\r\n\x1b]/);
    expect(rendered(out)).toBe(HOSTILE.replace(/\n/g, ' ').replace(/\x1b/g, '\uFFFD'));
    // every syntax character is escaped (an escaped backslash counts: `\\` then the character), links are code
    expect(read(out).syntax).not.toMatch(live);
    expect(read(out).syntax).not.toMatch(linkish);
  });

  it.each([
    ['# a heading', '\\# a heading'],
    ['## two', '\\#\\# two'],
    ['- a list', '\\- a list'],
    ['+ a list', '\\+ a list'],
    ['  - an indented list', '  \\- an indented list'],
    ['> a quote', '\\> a quote'],
    ['1. an ordered list', '1\\. an ordered list'],
    ['12) another', '12\\) another'],
    ['=== a setext underline', '\\=== a setext underline'],
    ['a # in the middle, - and 1. too', 'a \\# in the middle, - and 1. too'],
  ])('%j starts no heading, list or quote', (text, out) => {
    expect(md(text)).toBe(out);
    expect(rendered(md(text))).toBe(text);
  });

  it('a bare link (https://, www., an e-mail address, mailto:) is a code span: the same characters, never a link', () => {
    const text = 'see https://evil.example/x, WWW.evil.example a@b.co mailto:a@b.co and (http://e.example/a_b*c)|x';
    const out = md(text);
    expect(out).toBe(
      'see `https://evil.example/x,` `WWW.evil.example` `a@b.co` `mailto:a@b.co` and `(http://e.example/a_b*c)`\\|x',
    );
    expect(rendered(out)).toBe(text);
    expect(read(out).syntax).not.toMatch(linkish);
    // a backtick next to it is escaped, outside the span
    expect(md('x`https://e.example`')).toBe('x\\``https://e.example`\\`');
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
    expect(read(c[3]!).syntax).not.toMatch(live);
    expect(read(c[3]!).syntax).not.toMatch(linkish);
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
    expect(read(notice[0]!.slice('- **NOTICE**: '.length)).syntax).not.toMatch(live);
  });
});
