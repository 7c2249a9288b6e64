// Writers for what a lab run leaves behind: results.json, report.md, junit.xml, and the terminal summary
// with an asciichart of goodput against loss per protocol.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import asciichart from 'asciichart';
import { flowsLine, flowsMarkdown, flowsTerminalSeries } from './flows.js';
import { lessonMarkdown, lessonProperties, lessonTerminal } from './lesson.js';
import { FORBIDDEN, md } from './markdown.js';
import {
  type LabResults,
  netemCounters,
  type RunRecord,
  runNotes,
  shaMatches,
  shaperComparisonLine,
  shaperComparisonTable,
  unshaped,
  unshapedNote,
} from './results.js';

export function groupByPoint(runs: RunRecord[]): Map<string, Map<number, RunRecord[]>> {
  const out = new Map<string, Map<number, RunRecord[]>>();
  for (const r of runs) {
    const byLoss = out.get(r.protocol) ?? new Map<number, RunRecord[]>();
    const k = r.loss_pct ?? -1;
    byLoss.set(k, [...(byLoss.get(k) ?? []), r]);
    out.set(r.protocol, byLoss);
  }
  return out;
}

const mbit = (bps: number) => (bps / 1e6).toFixed(2);
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

export async function writeReports(dir: string, res: LabResults): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify(res, null, 2)}\n`);
  writeFileSync(join(dir, 'report.md'), reportMarkdown(res));
  writeFileSync(join(dir, 'junit.xml'), junit(res));
  const { renderHtml } = await import('./html.js');
  writeFileSync(join(dir, 'report.html'), await renderHtml(res));
}

/** Per protocol and sweep point: mean goodput as a ratio of ruft's and of the link limit rate × (1 − p). */
export function comparisonRows(
  res: LabResults,
  rateBps: number | undefined,
): Array<{ protocol: string; loss: number; ofRuft: string; ofLimit: string }> {
  const groups = groupByPoint(res.runs);
  const ruft = groups.get('ruft');
  const notShaped = new Set(res.runs.filter(unshaped).map((r) => r.protocol));
  const out: Array<{ protocol: string; loss: number; ofRuft: string; ofLimit: string }> = [];
  for (const [protocol, byLoss] of groups) {
    for (const [loss, rs] of [...byLoss].sort((a, b) => a[0] - b[0])) {
      if (notShaped.has(protocol)) {
        out.push({ protocol, loss: Math.max(loss, 0), ofRuft: 'not shaped', ofLimit: 'not shaped' });
        continue;
      }
      const g = mean(rs.map((r) => r.goodput_bps));
      const base = ruft?.get(loss);
      const ruftMean = base ? mean(base.map((r) => r.goodput_bps)) : 0;
      const l = Math.max(loss, 0);
      out.push({
        protocol,
        loss: l,
        ofRuft: ruftMean > 0 ? (g / ruftMean).toFixed(3) : '—',
        ofLimit: rateBps ? (g / (rateBps * (1 - l / 100))).toFixed(3) : '—',
      });
    }
  }
  return out;
}

/** report.md: text from outside the lab (reasons, notices, descriptions) goes through md(). */
export function reportMarkdown(res: LabResults): string {
  const l: string[] = [];
  l.push(`# ${md(res.scenario)}`, '', md(res.description), '');
  l.push(`- network: ${md(res.network)}`);
  l.push(
    `- runtime: ${res.environment.runtime}, shaper: **${res.environment.shaper}**, kernel: ${res.environment.kernel}, node ${res.environment.node}`,
  );
  for (const n of res.environment.notices) l.push(`- **NOTICE**: ${md(n)}`);
  if (unshapedNote(res)) l.push(`- **NOTICE**: ${md(unshapedNote(res))}`);
  l.push(`- file: ${res.file.size_bytes} bytes, sha256 \`${res.file.sha256}\``);
  l.push(`- result: ${res.summary.passed} of ${res.summary.runs} runs met every expectation`, '');
  l.push(...lessonMarkdown(res));
  l.push(
    '## Goodput by loss',
    '',
    '| protocol | loss | runs | mean Mbit/s | min | max | passed |',
    '|---|---|---|---|---|---|---|',
  );
  for (const [proto, byLoss] of groupByPoint(res.runs)) {
    for (const [loss, rs] of [...byLoss].sort((a, b) => a[0] - b[0])) {
      const g = rs.map((r) => r.goodput_bps);
      l.push(
        `| ${proto}${rs.some(unshaped) ? ' (not shaped)' : ''} | ${loss < 0 ? '—' : `${loss}%`} | ${rs.length} | ${mbit(mean(g))} | ${mbit(Math.min(...g))} | ${mbit(Math.max(...g))} | ${rs.filter((r) => r.verdict === 'pass').length}/${rs.length} |`,
      );
    }
  }
  l.push(
    '',
    '## Runs',
    '',
    '| run | verdict | Mbit/s | s | retransmit % | sha256 ok | notes |',
    '|---|---|---|---|---|---|---|',
  );
  for (const r of res.runs) {
    l.push(
      `| ${r.id} | ${r.verdict} | ${mbit(r.goodput_bps)} | ${(r.duration_ms / 1000).toFixed(2)} | ${r.retransmit_pct.toFixed(1)} | ${shaMatches(r) ? 'yes' : 'NO'} | ${md(runNotes(r))} |`,
    );
  }
  const withFlows = res.runs.filter((r) => r.flows);
  if (withFlows.length > 0) {
    l.push('', '## Competing flows', '');
    l.push(
      `Each flow's bytes per ${withFlows[0]!.flows!.bucket_ms} ms on the clock its client reported; "while all ran": goodput in the window where every flow was transferring, its share of their sum, and Jain's index over them (1 = equal shares). Chart: report.html.`,
      '',
    );
    for (const r of withFlows) l.push(...flowsMarkdown(r.id, r.flows!));
  }
  const shaped = res.runs.filter((r) => netemCounters(r));
  if (shaped.length > 0) {
    l.push(
      '',
      '## Kernel netem: read back, counters after',
      '',
      '| run | read back | counters after |',
      '|---|---|---|',
    );
    for (const r of shaped) l.push(`| ${r.id} | ${md(r.shaping_readback)} | ${md(netemCounters(r))} |`);
  }
  if (res.shaper_comparison) {
    const c = res.shaper_comparison;
    const t = shaperComparisonTable(c);
    l.push(
      '',
      '## Shapers compared: userspace relay and kernel netem',
      '',
      `${shaperComparisonLine(c)}. Every run ran twice on one kernel: the runs above under kernel netem, and again under the userspace relay (${c.userspace.summary.passed}/${c.userspace.summary.runs} passed). Loss is counted by each shaper (the relay's own counters; netem's \`tc -s qdisc\` per endpoint: sent + dropped → sent); duplicates and reordering only the relay counts.`,
      '',
      `| ${t.header.join(' | ')} |`,
      `|${t.header.map(() => '---').join('|')}|`,
      ...t.rows.map((r) => `| ${r.cells.map((x) => x.replace(/\|/g, '\\|')).join(' | ')} |`),
    );
    if (t.differences.length) l.push('', ...t.differences.map((d) => `- **DIFFERENT VERDICT** ${d}`));
    for (const n of c.userspace.notices)
      if (!res.environment.notices.includes(n)) l.push(`- **NOTICE** (relay runs): ${md(n)}`);
  }
  l.push('');
  return l.join('\n');
}

/**
 * Escapes text for HTML and XML (the reports, JUnit). Characters XML 1.0 forbids (C0 controls but tab, LF, CR; lone
 * surrogates) are replaced by U+FFFD: a program's stderr line with an ANSI colour code in a failure reason made the
 * whole junit.xml unreadable.
 */
export function esc(s: string): string {
  return s
    .replace(FORBIDDEN, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

export interface JunitSuite {
  name: string;
  timestamp: string;
  properties: Array<[string, string]>;
  cases: Array<{
    classname: string;
    name: string;
    timeS: number;
    failure?: { message: string; body: string };
    out: string;
  }>;
}

/** A JUnit XML document (the lab's junit.xml, the grading matrix's junit.xml). */
export function junitXml(name: string, suites: JunitSuite[]): string {
  const count = (x: JunitSuite) => ({
    tests: x.cases.length,
    failures: x.cases.filter((c) => c.failure).length,
    time: x.cases.reduce((a, c) => a + c.timeS, 0),
  });
  const all = suites.map(count);
  const body = suites.map((x, k) => {
    const n = all[k]!;
    const cases = x.cases.map((c) => {
      const fail = c.failure ? `<failure message="${esc(c.failure.message)}">${esc(c.failure.body)}</failure>` : '';
      return `    <testcase classname="${esc(c.classname)}" name="${esc(c.name)}" time="${c.timeS.toFixed(3)}">${fail}<system-out>${esc(c.out)}</system-out></testcase>`;
    });
    return `  <testsuite name="${esc(x.name)}" tests="${n.tests}" failures="${n.failures}" errors="0" skipped="0" time="${n.time.toFixed(3)}" timestamp="${x.timestamp}">
    <properties>
${x.properties.map(([k, v]) => `      <property name="${esc(k)}" value="${esc(v)}"/>`).join('\n')}
    </properties>
${cases.join('\n')}
  </testsuite>`;
  });
  const total = all.reduce(
    (a, n) => ({ tests: a.tests + n.tests, failures: a.failures + n.failures, time: a.time + n.time }),
    {
      tests: 0,
      failures: 0,
      time: 0,
    },
  );
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="${esc(name)}" tests="${total.tests}" failures="${total.failures}" time="${total.time.toFixed(3)}">
${body.join('\n')}
</testsuites>
`;
}

function junit(res: LabResults): string {
  return junitXml('udplab lab', [
    {
      name: res.scenario,
      timestamp: res.started_at,
      properties: [
        ['runtime', res.environment.runtime],
        ['shaper', res.environment.shaper],
        ['kernel', res.environment.kernel],
        ...res.environment.notices.map((n): [string, string] => ['notice', n]),
        ...lessonProperties(res).map((p): [string, string] => [p.name, p.value]),
        ...res.runs.flatMap(
          (r): Array<[string, string]> =>
            r.flows
              ? [
                  [`${r.id}.jain_index`, String(r.flows.jain_index ?? '')],
                  ...r.flows.flows.flatMap((f): Array<[string, string]> => {
                    const k = `${r.id}.${f.flow.replace(/ /g, '')}`;
                    return [
                      [`${k}.protocol`, f.protocol],
                      [`${k}.goodput_bps`, String(f.goodput_bps)],
                      [`${k}.overlap_goodput_bps`, String(f.overlap_goodput_bps ?? '')],
                      [`${k}.share`, String(f.share ?? '')],
                    ];
                  }),
                ]
              : [],
        ),
      ],
      cases: res.runs.map((r) => ({
        classname: `udplab.${res.scenario}`,
        name: `${r.protocol} loss=${r.loss_pct ?? 'scenario'} #${r.repeat}`,
        timeS: r.duration_ms / 1000,
        ...(r.verdict !== 'pass' && { failure: { message: r.failures.join('; '), body: JSON.stringify(r, null, 2) } }),
        out: `${runNotes(r)}\n${r.shaping_readback}\n${res.environment.notices.join('\n')}`,
      })),
    },
  ]);
}

/** The terminal summary: an asciichart of mean goodput vs loss per protocol, then one line per point. */
export function terminalSummary(res: LabResults): string {
  const colors = [asciichart.green, asciichart.blue, asciichart.magenta, asciichart.yellow];
  const out: string[] = lessonTerminal(res, (series) =>
    asciichart.plot(series, {
      height: 10,
      colors: colors.slice(0, series.length),
      format: (x: number) => x.toFixed(1).padStart(9),
    }),
  );
  const groups = groupByPoint(res.runs.filter((r) => !unshaped(r)));
  const series: number[][] = [];
  const labels: string[] = [];
  for (const [proto, byLoss] of groups) {
    const pts = [...byLoss].sort((a, b) => a[0] - b[0]);
    if (pts.length > 1) {
      series.push(pts.map(([, rs]) => mean(rs.map((r) => r.goodput_bps)) / 1e6));
      labels.push(`${proto}: ${pts.map(([l]) => `${l}%`).join(' ')}`);
    }
  }
  if (series.length > 0) {
    out.push('goodput (Mbit/s) against loss, left to right:');
    out.push(
      asciichart.plot(series, {
        height: 10,
        colors: colors.slice(0, series.length),
        format: (x: number) => x.toFixed(1).padStart(7),
      }),
    );
    out.push(...labels.map((l) => `  ${l}`));
  }
  for (const r of res.runs.filter((x) => x.flows?.flows.some((f) => f.series_bytes.length > 1))) {
    const { series, stepS } = flowsTerminalSeries(r.flows!);
    out.push(`${r.id}: goodput per flow (Mbit/s), ${stepS} s per column:`);
    out.push(
      asciichart.plot(series, {
        height: 10,
        colors: r.flows!.flows.map((_, i) => colors[i % colors.length]!),
        format: (x: number) => x.toFixed(1).padStart(7),
      }),
    );
    out.push(
      ...r.flows!.flows.map((f, i) => `  ${['green', 'blue', 'magenta', 'yellow'][i % 4]}: ${f.flow} (${f.protocol})`),
    );
    out.push(`  ${flowsLine(r.flows!)}`);
  }
  for (const n of res.environment.notices) out.push(`NOTICE: ${n}`);
  if (unshapedNote(res)) out.push(`NOTICE: ${unshapedNote(res)}`);
  out.push(
    `${res.scenario}: ${res.summary.passed}/${res.summary.runs} runs passed on ${res.environment.runtime} with the ${res.environment.shaper} shaper`,
  );
  if (res.shaper_comparison) {
    const c = res.shaper_comparison;
    const t = shaperComparisonTable(c);
    const widths = t.header.map((h, i) => Math.max(h.length, ...t.rows.map((r) => r.cells[i]!.length)));
    const line = (cells: string[]) =>
      cells
        .map((x, i) => x.padEnd(widths[i]!))
        .join('  ')
        .trimEnd();
    out.push(line(t.header), ...t.rows.map((r) => line(r.cells)));
    out.push(...t.differences.map((d) => `DIFFERENT VERDICT ${d}`));
    out.push(
      `${res.scenario}: ${c.userspace.summary.passed}/${c.userspace.summary.runs} runs passed with the userspace relay; ${shaperComparisonLine(c)}`,
    );
  }
  return out.join('\n');
}
