// The grading matrix (`udplab lab SCENARIO… --protocols-from DIR`): implementations × scenarios, each cell
// pass/fail with the mean goodput and the reason of the first failing run — matrix.json, matrix.md, matrix.html
// and junit.xml (one testcase per cell), plus a table for the terminal. Built from the scenarios' LabResults.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { esc, junitXml } from './files.js';
import { md } from './markdown.js';
import type { LabResults } from './results.js';

export interface MatrixCell {
  implementation: string;
  scenario: string;
  verdict: 'pass' | 'fail';
  runs: number;
  passed: number;
  /** Mean goodput of its runs (a failed transfer counts 0). */
  goodput_bps: number;
  /** The first failing run's first reason ('' when every run passed). */
  reason: string;
  /** The run the reason comes from. */
  failed_run?: string;
  duration_ms: number;
}

export interface GradingMatrix {
  schema_version: 1;
  generated_at: string;
  implementations: Array<{ label: string; description: string }>;
  scenarios: Array<{
    name: string;
    description: string;
    network: string;
    runtime: string;
    shaper: string;
    report: string;
  }>;
  cells: MatrixCell[];
  summary: { cells: number; passed: number; failed: number };
}

export function gradingMatrix(
  results: Array<{ res: LabResults; report: string }>,
  implementations: Array<{ label: string; description: string }>,
): GradingMatrix {
  const cells: MatrixCell[] = [];
  for (const impl of implementations)
    for (const { res } of results) {
      const runs = res.runs.filter((r) => r.protocol === impl.label);
      const failed = runs.find((r) => r.verdict === 'fail');
      cells.push({
        implementation: impl.label,
        scenario: res.scenario,
        verdict: runs.length > 0 && !failed ? 'pass' : 'fail',
        runs: runs.length,
        passed: runs.filter((r) => r.verdict === 'pass').length,
        goodput_bps: runs.length ? Math.round(runs.reduce((a, r) => a + r.goodput_bps, 0) / runs.length) : 0,
        reason:
          runs.length === 0 ? 'not run (no run of this implementation in this shard)' : (failed?.failures[0] ?? ''),
        ...(failed && { failed_run: failed.id }),
        duration_ms: runs.reduce((a, r) => a + r.duration_ms, 0),
      });
    }
  const passed = cells.filter((c) => c.verdict === 'pass').length;
  return {
    schema_version: 1,
    generated_at: new Date().toISOString(),
    implementations,
    scenarios: results.map(({ res, report }) => ({
      name: res.scenario,
      description: res.description,
      network: res.network,
      runtime: res.environment.runtime,
      shaper: res.environment.shaper,
      report,
    })),
    cells,
    summary: { cells: cells.length, passed, failed: cells.length - passed },
  };
}

const mbit = (bps: number) => (bps / 1e6).toFixed(2);
const cellOf = (m: GradingMatrix, impl: string, scenario: string) =>
  m.cells.find((c) => c.implementation === impl && c.scenario === scenario)!;
const short = (c: MatrixCell) => (c.verdict === 'pass' ? `pass ${mbit(c.goodput_bps)}` : 'FAIL');

export function matrixMarkdown(m: GradingMatrix): string {
  const l: string[] = ['# Grading matrix', ''];
  l.push(
    `${m.summary.passed} of ${m.summary.cells} cells passed (cell: every run met the scenario's expectations; figure: mean goodput, Mbit/s).`,
    '',
  );
  l.push(`| implementation | ${m.scenarios.map((s) => md(s.name)).join(' | ')} |`);
  l.push(`|---|${m.scenarios.map(() => '---').join('|')}|`);
  for (const i of m.implementations)
    l.push(`| ${md(i.label)} | ${m.scenarios.map((s) => short(cellOf(m, i.label, s.name))).join(' | ')} |`);
  const failing = m.cells.filter((c) => c.verdict === 'fail');
  if (failing.length > 0) {
    l.push('', '## Why', '', '| implementation | scenario | run | reason |', '|---|---|---|---|');
    for (const c of failing)
      l.push(`| ${md(c.implementation)} | ${md(c.scenario)} | ${md(c.failed_run ?? '—')} | ${md(c.reason)} |`);
  }
  l.push('', '## Scenarios', '');
  for (const s of m.scenarios)
    l.push(
      `- **${md(s.name)}** (${md(s.network)}; ${s.runtime}, ${s.shaper} shaper): ${md(s.description)} — report: ${md(`${s.report}/report.html`)}`,
    );
  l.push('');
  return l.join('\n');
}

export function matrixHtml(m: GradingMatrix): string {
  const head = m.scenarios
    .map((s) => `<th title="${esc(s.network)}"><a href="${esc(s.report)}/report.html">${esc(s.name)}</a></th>`)
    .join('');
  const rows = m.implementations
    .map((i) => {
      const tds = m.scenarios
        .map((s) => {
          const c = cellOf(m, i.label, s.name);
          return `<td class="${c.verdict}" title="${esc(c.reason || `${c.passed}/${c.runs} runs passed`)}">${c.verdict === 'pass' ? `pass<br><small>${mbit(c.goodput_bps)} Mbit/s</small>` : `FAIL<br><small>${esc(c.reason)}</small>`}</td>`;
        })
        .join('');
      return `<tr><th title="${esc(i.description)}">${esc(i.label)}</th>${tds}</tr>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>udplab grading matrix</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.4em .6em;vertical-align:top;max-width:22em}td.pass{background:#e6f4ea}td.fail{background:#fce8e6}small{color:#444}</style>
</head><body>
<h1>Grading matrix</h1>
<p>${m.summary.passed} of ${m.summary.cells} cells passed. A cell passes when every run met the scenario's expectations; the figure is the mean goodput. Generated ${esc(m.generated_at)}.</p>
<table id="matrix"><thead><tr><th>implementation</th>${head}</tr></thead>
<tbody>
${rows}
</tbody></table>
</body></html>
`;
}

export function matrixJunit(m: GradingMatrix): string {
  return junitXml('udplab grading', [
    {
      name: 'grading',
      timestamp: m.generated_at,
      properties: m.scenarios.map((s): [string, string] => [
        `scenario ${s.name}`,
        `${s.network} (${s.runtime}, ${s.shaper})`,
      ]),
      cases: m.cells.map((c) => ({
        classname: `udplab.grading.${c.scenario}`,
        name: c.implementation,
        timeS: c.duration_ms / 1000,
        ...(c.verdict === 'fail' && {
          failure: { message: c.reason, body: `${c.failed_run ?? ''}: ${c.passed}/${c.runs} runs passed` },
        }),
        out: `${c.passed}/${c.runs} runs passed, mean goodput ${mbit(c.goodput_bps)} Mbit/s`,
      })),
    },
  ]);
}

/** The matrix for a terminal: one row per implementation, then the reasons of the failing cells. */
export function matrixTable(m: GradingMatrix): string {
  const cols = ['implementation', ...m.scenarios.map((s) => s.name)];
  const rows = m.implementations.map((i) => [i.label, ...m.scenarios.map((s) => short(cellOf(m, i.label, s.name)))]);
  const width = cols.map((c, k) => Math.max(c.length, ...rows.map((r) => r[k]!.length)));
  const line = (r: string[]) =>
    r
      .map((x, k) => x.padEnd(width[k]!))
      .join('  ')
      .trimEnd();
  const out = [line(cols), line(width.map((w) => '-'.repeat(w))), ...rows.map(line)];
  for (const c of m.cells.filter((x) => x.verdict === 'fail'))
    out.push(`  ${c.implementation} × ${c.scenario}: ${c.reason}`);
  out.push(`${m.summary.passed}/${m.summary.cells} cells passed`);
  return out.join('\n');
}

export function writeMatrix(dir: string, m: GradingMatrix): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'matrix.json'), `${JSON.stringify(m, null, 2)}\n`);
  writeFileSync(join(dir, 'matrix.md'), matrixMarkdown(m));
  writeFileSync(join(dir, 'matrix.html'), matrixHtml(m));
  writeFileSync(join(dir, 'junit.xml'), matrixJunit(m));
}
