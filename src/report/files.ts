// Writers for what a lab run leaves behind: results.json, report.md, junit.xml, and the terminal summary
// with an asciichart of goodput against loss per protocol.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import asciichart from 'asciichart';
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
  writeFileSync(join(dir, 'report.md'), markdown(res));
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

function markdown(res: LabResults): string {
  const l: string[] = [];
  l.push(`# ${res.scenario}`, '', res.description, '');
  l.push(`- network: ${res.network}`);
  l.push(
    `- runtime: ${res.environment.runtime}, shaper: **${res.environment.shaper}**, kernel: ${res.environment.kernel}, node ${res.environment.node}`,
  );
  for (const n of res.environment.notices) l.push(`- **NOTICE**: ${n}`);
  if (unshapedNote(res)) l.push(`- **NOTICE**: ${unshapedNote(res)}`);
  l.push(`- file: ${res.file.size_bytes} bytes, sha256 \`${res.file.sha256}\``);
  l.push(`- result: ${res.summary.passed} of ${res.summary.runs} runs met every expectation`, '');
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
      `| ${r.id} | ${r.verdict} | ${mbit(r.goodput_bps)} | ${(r.duration_ms / 1000).toFixed(2)} | ${r.retransmit_pct.toFixed(1)} | ${shaMatches(r) ? 'yes' : 'NO'} | ${runNotes(r).replace(/\|/g, '\\|')} |`,
    );
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
    for (const r of shaped)
      l.push(`| ${r.id} | ${r.shaping_readback.replace(/\|/g, '\\|')} | ${netemCounters(r).replace(/\|/g, '\\|')} |`);
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
      if (!res.environment.notices.includes(n)) l.push(`- **NOTICE** (relay runs): ${n}`);
  }
  l.push('');
  return l.join('\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function junit(res: LabResults): string {
  const cases = res.runs.map((r) => {
    const name = `${r.protocol} loss=${r.loss_pct ?? 'scenario'} #${r.repeat}`;
    const body =
      r.verdict === 'pass'
        ? ''
        : `<failure message="${esc(r.failures.join('; '))}">${esc(JSON.stringify(r, null, 2))}</failure>`;
    return `    <testcase classname="udplab.${esc(res.scenario)}" name="${esc(name)}" time="${(r.duration_ms / 1000).toFixed(3)}">${body}<system-out>${esc(`${runNotes(r)}\n${r.shaping_readback}\n${res.environment.notices.join('\n')}`)}</system-out></testcase>`;
  });
  const failures = res.runs.filter((r) => r.verdict === 'fail').length;
  const time = res.runs.reduce((a, r) => a + r.duration_ms, 0) / 1000;
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="udplab lab" tests="${res.runs.length}" failures="${failures}" time="${time.toFixed(3)}">
  <testsuite name="${esc(res.scenario)}" tests="${res.runs.length}" failures="${failures}" errors="0" skipped="0" time="${time.toFixed(3)}" timestamp="${res.started_at}">
    <properties>
      <property name="runtime" value="${esc(res.environment.runtime)}"/>
      <property name="shaper" value="${esc(res.environment.shaper)}"/>
      <property name="kernel" value="${esc(res.environment.kernel)}"/>
${res.environment.notices.map((n) => `      <property name="notice" value="${esc(n)}"/>`).join('\n')}
    </properties>
${cases.join('\n')}
  </testsuite>
</testsuites>
`;
}

/** The terminal summary: an asciichart of mean goodput vs loss per protocol, then one line per point. */
export function terminalSummary(res: LabResults): string {
  const out: string[] = [];
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
    const colors = [asciichart.green, asciichart.blue, asciichart.magenta, asciichart.yellow];
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
