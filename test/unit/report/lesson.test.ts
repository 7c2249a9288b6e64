// Reports that show the lesson (#21): for each of the nine teaching scenarios, a results.json recorded on the
// local runtime (test/fixtures/lessons/, from `udplab lab scenarios/teaching/… --runtime local`) must give a report
// whose first table and first chart are the lesson's figure per protocol — in report.html, report.md, the terminal
// summary and JUnit — and the figure must say what the page says. Also: the lesson is inferred from a scenario that
// declares none, and a declared figure must exist.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../../src/lab/index.js';
import {
  type LabResults,
  lessonChartSpec,
  lessonTable,
  renderHtml,
  terminalSummary,
  writeReports,
} from '../../../src/report/index.js';
import { tempDir } from '../../helpers/tmp.js';

const FIX = join(import.meta.dirname, '..', '..', 'fixtures', 'lessons');
const TEACHING = join(import.meta.dirname, '..', '..', '..', 'scenarios', 'teaching');
const load = (n: string): LabResults => JSON.parse(readFileSync(join(FIX, `${n}.json`), 'utf8')) as LabResults;

type Row = Record<string, number | string | null>;
/** The lesson figure per protocol as the table has it. */
function figures(res: LabResults): Record<string, Row> {
  const t = lessonTable(res)!;
  return Object.fromEntries(t.rows.map((r) => [r.protocol, r.values]));
}
const num = (v: number | string | null | undefined) => {
  expect(typeof v, `figure ${v}`).toBe('number');
  return v as number;
};

/** Each scenario: its lesson kind, the chart it leads with, and what its figure must show. */
const CASES: Array<{
  n: string;
  kind: string;
  figure: string;
  chart: (spec: Record<string, unknown>) => void;
  check: (f: Record<string, Row>, res: LabResults) => void;
}> = [
  {
    n: '01-loss',
    kind: 'stall',
    figure: 'missing',
    chart: bars,
    check: (f) => {
      expect(num(f.naive!.missing)).toBeGreaterThan(0); // lost and never sent again
      expect(f.naive!.stalled_at).toEqual(expect.any(Number));
      expect(f.ruft!.missing).toBe(0);
      expect(f.ruft!.file_ok).toBe('yes');
    },
  },
  {
    n: '02-reorder',
    kind: 'reorder',
    figure: 'out_of_order',
    chart: (s) => {
      expect(s.mark).toMatchObject({ type: 'point' });
      expect(s.encoding).toMatchObject({ x: { field: 'arrival' }, y: { field: 'offset' } });
    },
    check: (f) => {
      expect(num(f.naive!.out_of_order)).toBeGreaterThan(0);
      expect(num(f.naive!.path_reordered)).toBeGreaterThan(0);
      expect(f.naive!.file_ok).toBe('NO');
      expect(f.ruft!.out_of_order).toBe(0);
    },
  },
  {
    n: '03-duplicate',
    kind: 'duplicate',
    figure: 'duplicates_written',
    chart: bars,
    check: (f) => {
      expect(num(f.naive!.duplicates_written)).toBeGreaterThan(0);
      expect(num(f.naive!.duplicates_written)).toBeLessThanOrEqual(num(f.naive!.path_duplicated));
      expect(f.ruft!.duplicates_written).toBe(0);
    },
  },
  {
    n: '04-fragmentation',
    kind: 'fragmentation',
    figure: 'datagrams_lost_pct',
    chart: bars,
    check: (f) => {
      // 0.99^42: about a third of the 60 KB datagrams, about 1% of the 1 KB ones
      expect(num(f['naive-60k']!.datagrams_lost_pct)).toBeGreaterThan(20);
      expect(num(f['naive-1k']!.datagrams_lost_pct)).toBeLessThan(3);
      expect(f['naive-60k']!.fragmented_lost).toMatch(/^\d+ \/ \d+$/);
    },
  },
  {
    n: '05-receiver-overrun',
    kind: 'overrun',
    figure: 'socket_drops',
    chart: bars,
    check: (f, res) => {
      const naive = f['naive-rcvbuf-32k']!;
      expect(num(naive.socket_drops)).toBeGreaterThan(0);
      expect(naive.path_lost).toBe(0); // the path lost nothing
      // every datagram the file lacks was dropped at the socket
      expect(num(naive.socket_drops) * 1024).toBe(res.file.size_bytes - num(naive.stalled_at));
      expect(f.ruft!.socket_drops).toBe(null); // measured at the naive client only
      expect(f.ruft!.file_ok).toBe('yes');
    },
  },
  {
    n: '06-two-clients',
    kind: 'clients',
    figure: 'client1_bytes',
    chart: (s) => {
      bars(s);
      expect(s.encoding).toMatchObject({ xOffset: { field: 'figure' } });
    },
    check: (f, res) => {
      expect(num(f.naive!.client1_bytes) + num(f.naive!.client2_bytes)).toBeLessThan(2 * res.file.size_bytes);
      expect(f.ruft!.client1_bytes).toBe(res.file.size_bytes);
      expect(f.ruft!.client2_bytes).toBe(res.file.size_bytes);
      expect(f.ruft!.clients_ok).toBe('2 of 2');
      expect(f.ruft!.client1_part).toBe('all, in order');
      // the naive client that got data holds a stretch of the file, named by datagram
      const parts = [f.naive!.client1_part, f.naive!.client2_part].join(' ');
      expect(parts).toMatch(/\d+ of 2048: #\d+–#\d+/);
    },
  },
  {
    n: '07-tftp-lockstep',
    kind: 'lockstep',
    figure: 'goodput_mbit',
    chart: (s) => {
      expect(s.mark).toMatchObject({ type: 'line', interpolate: 'step-after' });
      expect(s.encoding).toMatchObject({ x: { field: 't' }, y: { field: 'kib' } });
    },
    check: (f) => {
      expect(num(f['tftp-window16']!.goodput_mbit)).toBeGreaterThan(5 * num(f['tftp-lockstep']!.goodput_mbit));
      expect(num(f['tftp-lockstep']!.duration_s)).toBeGreaterThan(10); // ~184 round trips of 100 ms
    },
  },
  {
    n: '08-amplification',
    kind: 'amplification',
    figure: 'amplification',
    chart: (s) => {
      expect(s.encoding).toMatchObject({ xOffset: { field: 'what' }, y: { scale: { type: 'log' } } });
    },
    check: (f) => {
      expect(num(f.naive!.amplification)).toBeGreaterThan(1000);
      expect(num(f.tftp!.amplification)).toBeGreaterThan(10);
      expect(num(f.ruft!.amplification)).toBeLessThanOrEqual(3);
    },
  },
  {
    n: '09-toy-dh',
    kind: 'plaintext',
    figure: 'plaintext_datagrams',
    chart: bars,
    check: (f) => {
      expect(num(f['naive-toy-dh']!.plaintext_datagrams)).toBeGreaterThan(50); // 64 KiB in 1 KiB datagrams
      expect(f['naive-toy-dh']!.key_exchange).toBe('"KEY" → "14"');
      expect(f.ruft!.plaintext_datagrams).toBe(0);
      expect(f.ruft!.key_exchange).toBe('—');
    },
  },
];

/** The bars of the lesson chart in report.html: each bar's aria label and drawn height in pixels. */
function drawnBars(html: string): Array<{ label: string; h: number }> {
  const fig = html.slice(html.indexOf('<figure id="lesson-chart">'));
  const svg = fig.slice(0, fig.indexOf('</figure>'));
  return [
    ...svg.matchAll(
      /aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="bar" d="M[^h]*h[^v]*v([0-9.e+-]+)/g,
    ),
  ].map((m) => ({ label: m[1]!, h: Number(m[2]) }));
}

function bars(s: Record<string, unknown>): void {
  expect(s.mark).toMatchObject({ type: 'bar' });
  expect(s.encoding).toMatchObject({ x: { field: 'protocol' } });
  expect(JSON.stringify(s)).not.toMatch(/"loss"/);
}

const lessonChartKind = (kind: string) =>
  ({ reorder: 'sequence', lockstep: 'progress', amplification: 'inout' })[kind] ?? 'bars';

describe('reports lead with the lesson (recorded teaching runs)', () => {
  it.each(CASES)(
    '$n: $kind — first table and chart are the figure, the same in report.md, terminal and JUnit',
    async (c) => {
      const res = load(c.n);
      expect(res.lesson).toMatchObject({ kind: c.kind, source: 'scenario' });
      const t = lessonTable(res)!;
      // a clients lesson leads with every client's bytes
      expect(t.figure).toEqual(c.kind === 'clients' ? ['client1_bytes', 'client2_bytes'] : [c.figure]);
      expect(t.rows.map((r) => r.protocol)).toEqual([...new Set(res.runs.map((r) => r.protocol))]);
      c.check(figures(res), res);

      const spec = lessonChartSpec(res) as unknown as Record<string, unknown>;
      c.chart(spec);

      using d = tempDir();
      await writeReports(d.path, res);
      const html = readFileSync(join(d.path, 'report.html'), 'utf8');
      // the first table and the first chart of the page are the lesson's
      expect(html.indexOf('<table')).toBe(html.indexOf('<table id="lesson-table"'));
      expect(html.indexOf('<figure')).toBe(html.indexOf('<figure id="lesson-chart"><svg'));
      expect(html).toContain(`Lesson: ${res.lesson!.title}`);
      // nothing is swept: the goodput chart is bars per protocol, no loss axis anywhere
      expect(html).not.toContain('loss (%)');
      // a bar chart draws every non-zero figure (a log scale must not lose its bars)
      if (['bars', 'inout'].includes(lessonChartKind(c.kind)))
        for (const r of t.rows)
          if (t.figure.some((k) => Number(r.values[k]) > 0))
            expect(
              drawnBars(html).some((b) => b.label.includes(`protocol: ${r.protocol};`) && b.h > 0.5),
              `${r.protocol} has a visible bar`,
            ).toBe(true);

      const md = readFileSync(join(d.path, 'report.md'), 'utf8');
      const firstTable = md.split('\n').find((l) => l.startsWith('|'))!;
      expect(firstTable).toContain(t.columns.find((x) => x.key === c.figure)!.title);
      expect(md.indexOf('## Lesson:')).toBeLessThan(md.indexOf('## Goodput by loss'));

      const term = terminalSummary(res).split('\n');
      expect(term[0]).toBe(`lesson: ${res.lesson!.title} (${res.lesson!.unit})`);
      for (const r of t.rows) {
        const v = r.values[c.figure] ?? '—';
        expect(term.some((l) => l.trimStart().startsWith(r.protocol) && l.trimEnd().endsWith(` ${v}`))).toBe(true);
      }

      const junit = readFileSync(join(d.path, 'junit.xml'), 'utf8');
      expect(junit).toContain(`<property name="lesson.kind" value="${c.kind}"/>`);
      for (const r of t.rows)
        expect(junit).toContain(
          `<property name="lesson.${r.protocol}.${c.figure}" value="${r.values[c.figure] ?? '—'}"/>`,
        );
    },
  );

  it('02, 03, 01: the naive client’s file is linked from the report with its size and SHA-256', async () => {
    for (const n of ['01-loss', '02-reorder', '03-duplicate']) {
      const res = load(n);
      const f = res.runs.find((r) => r.protocol === 'naive')!.received![0]!;
      expect(f.file).toBe('runs/naive-r1/received.bin');
      expect(f.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(f.intact).toBe(false);
      const html = await renderHtml(res);
      expect(html).toContain(`<a href="runs/naive-r1/received.bin">`);
      expect(html).toContain(`${f.bytes} bytes, SHA-256 <code>${f.sha256}</code>`);
    }
  });

  it('a results.json from before lessons (no `lesson`) keeps the goodput template', async () => {
    const res = load('02-reorder');
    delete res.lesson;
    expect(lessonTable(res)).toBeUndefined();
    const html = await renderHtml(res);
    expect(html).not.toContain('lesson-table');
    expect(html.indexOf('<figure')).toBe(html.indexOf('<figure id="goodput">'));
  });
});

describe('the lesson of a scenario', () => {
  it.each(CASES)('$n: inferred as $kind when the scenario declares none', ({ n, kind }) => {
    const text = readFileSync(join(TEACHING, `${n}.yaml`), 'utf8');
    expect(text).toMatch(/^lesson: /m);
    const without = text.replace(/^lesson: .*\n/m, '');
    const s = parseScenario(without, `${n}.yaml`);
    expect(s.lesson).toMatchObject({ kind, source: 'inferred' });
    expect(parseScenario(text, `${n}.yaml`).lesson).toMatchObject({ kind, source: 'scenario' });
  });

  it('a loss sweep is the goodput template; a declared figure must be one of the kind’s', () => {
    const base = 'name: x\nfile: { size: 1KiB }\nnetwork: { netem: "delay 5ms" }\n';
    expect(parseScenario(`${base}sweep: { loss: [0%, 5%] }\n`).lesson.kind).toBe('goodput');
    // reordering without the naive protocol: RUFT's regression runs measure goodput
    const reorder = 'name: x\nfile: { size: 1KiB }\nnetwork: { netem: "delay 10ms reorder 25% 50%" }\n';
    expect(parseScenario(reorder).lesson.kind).toBe('goodput');
    expect(parseScenario(`${reorder}protocols: [ruft, { protocol: naive, expect_failure: true }]\n`).lesson.kind).toBe(
      'reorder',
    );
    expect(parseScenario(`${base}lesson: { kind: duplicate, title: copies, unit: copies }\n`).lesson).toEqual({
      kind: 'duplicate',
      title: 'copies',
      figure: ['duplicates_written'],
      unit: 'copies',
      source: 'scenario',
    });
    expect(() => parseScenario(`${base}lesson: { kind: reorder, figure: goodput }\n`, 'x.yaml')).toThrow(
      /x\.yaml: lesson\.figure: "goodput" is not a figure of a reorder lesson \(expected out_of_order, /,
    );
    expect(() => parseScenario(`${base}lesson: { kind: magic }\n`, 'x.yaml')).toThrow(/lesson\.kind/);
  });
});
