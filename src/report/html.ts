// report.html: self-contained (no network), SVG charts rendered in Node by vega (vega-lite specs):
// goodput against loss per protocol with the spread over repeats and the link limit rate × (1 − p),
// retransmissions against loss, the comparison table, the per-run table and the environment with its notices.

import * as vega from 'vega';
import * as vl from 'vega-lite';
import { parseNetem } from '../impair/index.js';
import { comparisonRows, groupByPoint } from './files.js';
import { flowsLine, flowsSpec } from './flows.js';
import { fmt, lessonChartSpec, lessonTable } from './lesson.js';
import {
  type LabResults,
  type RunRecord,
  runNotes,
  shaMatches,
  shaperComparisonLine,
  shaperComparisonTable,
  unshaped,
  unshapedNote,
} from './results.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

async function svg(spec: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

/** The run to draw over time: the passing run at the highest loss, else any run with samples. */
export function timelineRun(res: LabResults): RunRecord | undefined {
  const withTl = res.runs.filter((r) => r.timeline.length > 1);
  const passing = withTl.filter((r) => r.verdict === 'pass');
  return (passing.length ? passing : withTl).sort((a, b) => (b.loss_pct ?? 0) - (a.loss_pct ?? 0))[0];
}

type TimelineEntry = RunRecord['timeline'][number];
type SenderEntry = Required<TimelineEntry>;

/** Sender samples further apart than this (1.5 × the 100 ms STATS interval) are not joined: the ones between were lost. */
const SAMPLE_GAP_MS = 150;

/** What the timeline of a run is drawn from: the complete series of bytes, and the sender samples that exist. */
export function timelineParts(run: RunRecord): { bytes: TimelineEntry[]; sender: SenderEntry[]; ownBytes: boolean } {
  const sender = run.timeline.filter((e): e is SenderEntry => e.rtt_ms !== undefined);
  const own = run.timeline.filter((e) => e.rtt_ms === undefined);
  // a get has the receiver's own record; a put (or an older results.json) only the sender's samples
  return { bytes: own.length > 1 ? own : run.timeline, sender, ownBytes: own.length > 1 };
}

/** One line of the report: what the timeline shows and how many of the sender's samples it has. */
export function timelineCaption(run: RunRecord): string {
  const { sender, ownBytes } = timelineParts(run);
  const expected = Math.max(1, Math.round(run.duration_ms / 100));
  return ownBytes
    ? `goodput from the receiving client's own record (bytes held about every 100 ms, complete); the sender's pacing rate, smoothed RTT and lost / retransmitted packets per second from its STATS samples, drawn where they arrived: ${sender.length} of about ${expected} sent arrived (STATS travel with the data and are lost with it; lines join samples at most ${SAMPLE_GAP_MS} ms apart, rates are taken over the actual interval between two samples)`
    : `the sender's own record (${sender.length} samples, about one per 100 ms): bytes acknowledged, pacing rate, smoothed RTT, and lost / retransmitted packets per second over the interval between samples`;
}

function timelineSpec(run: RunRecord): vl.TopLevelSpec {
  const { bytes, sender } = timelineParts(run);
  type Row = { t: number; t2?: number; series: string; value: number; panel: string; segment: number };
  const rows: Row[] = [];
  for (let i = 1; i < bytes.length; i++) {
    const a = bytes[i - 1]!;
    const b = bytes[i]!;
    const dt = Math.max(b.t_ms - a.t_ms, 1);
    const value = ((b.bytes - a.bytes) * 8) / dt / 1000;
    rows.push({ t: a.t_ms / 1000, series: 'goodput', value, panel: 'rate (Mbit/s)', segment: 0 });
    rows.push({ t: b.t_ms / 1000, series: 'goodput', value, panel: 'rate (Mbit/s)', segment: 0 });
  }
  let segment = 0;
  for (let i = 0; i < sender.length; i++) {
    const b = sender[i]!;
    const a = sender[i - 1];
    if (a && b.t_ms - a.t_ms > SAMPLE_GAP_MS) segment++;
    const t = b.t_ms / 1000;
    rows.push({ t, series: 'pacing (sender)', value: b.pacing_mbit, panel: 'rate (Mbit/s)', segment: segment + 1 });
    // srtt 0: no RTT sample yet when this was sent (before the first ACK), nothing to draw
    if (b.rtt_ms > 0)
      rows.push({ t, series: 'smoothed RTT (sender)', value: b.rtt_ms, panel: 'RTT (ms)', segment: segment + 1 });
    if (!a) continue;
    const dt = Math.max(b.t_ms - a.t_ms, 1) / 1000;
    const t0 = a.t_ms / 1000;
    for (const [series, d] of [
      ['lost', b.lost - a.lost],
      ['retransmitted', b.retransmitted - a.retransmitted],
    ] as const)
      rows.push({ t: t0, t2: t, series, value: Math.max(d, 0) / dt, panel: 'packets/s', segment: 0 });
  }
  const x = { field: 't', type: 'quantitative', title: 'time (s)' } as const;
  const base = (name: string) => ({ transform: [{ filter: { field: 'panel', equal: name } }] });
  const y = (name: string) => ({ field: 'value', type: 'quantitative' as const, title: name, scale: { zero: true } });
  const color = { field: 'series', type: 'nominal' as const };
  const linesAndPoints = (name: string) => ({
    width: 560,
    height: 120,
    ...base(name),
    layer: [
      {
        mark: { type: 'line' as const },
        encoding: { x, y: y(name), color, detail: { field: 'segment', type: 'nominal' as const } },
      },
      {
        transform: [{ filter: "datum.series !== 'goodput'" }],
        mark: { type: 'point' as const, filled: true, size: 36 },
        encoding: { x, y: y(name), color },
      },
    ],
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values: rows },
    resolve: { scale: { x: 'shared' } },
    vconcat: [
      linesAndPoints('rate (Mbit/s)'),
      linesAndPoints('RTT (ms)'),
      {
        width: 560,
        height: 100,
        ...base('packets/s'),
        mark: { type: 'bar', opacity: 0.6 },
        encoding: { x, x2: { field: 't2' }, y: y('packets/s'), color },
      },
    ],
  };
}

/** The bottleneck rate of the data direction, when the scenario has one. */
export function linkRateBps(res: LabResults): number | undefined {
  const n = res.runs[0]?.netem_down;
  if (!n) return undefined;
  try {
    return parseNetem(n).rate?.rateBit;
  } catch {
    return undefined;
  }
}

export async function renderHtml(res: LabResults): Promise<string> {
  const points: Array<{ protocol: string; loss: number; mean: number; min: number; max: number; retx: number }> = [];
  for (const [protocol, byLoss] of groupByPoint(res.runs.filter((r) => !unshaped(r)))) {
    for (const [loss, rs] of byLoss) {
      const g = rs.map((r) => r.goodput_bps / 1e6);
      points.push({
        protocol,
        loss: Math.max(loss, 0),
        mean: g.reduce((a, b) => a + b, 0) / g.length,
        min: Math.min(...g),
        max: Math.max(...g),
        retx: rs.reduce((a, r) => a + r.retransmit_pct, 0) / rs.length,
      });
    }
  }
  const rate = linkRateBps(res);
  const losses = [...new Set(points.map((p) => p.loss))].sort((a, b) => a - b);
  const limit = rate ? losses.map((loss) => ({ loss, limit: (rate * (1 - loss / 100)) / 1e6 })) : [];
  const x = { field: 'loss', type: 'quantitative', title: 'loss (%)' } as const;
  // nothing swept: one bar per protocol, not a "loss 0%" axis
  const swept = losses.length > 1;
  const protocol = { field: 'protocol', type: 'nominal', title: 'protocol', sort: null } as const;
  const goodputBars: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: 560,
    height: 240,
    title: 'goodput per protocol (mean; a file that arrived wrong counts 0)',
    data: { values: points },
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          x: protocol,
          y: { field: 'mean', type: 'quantitative', title: 'goodput (Mbit/s)' },
          color: protocol,
        },
      },
      {
        mark: { type: 'rule' },
        encoding: { x: protocol, y: { field: 'min', type: 'quantitative' }, y2: { field: 'max' } },
      },
    ],
  };
  const retxBars: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: 560,
    height: 200,
    title: 'retransmitted packets (%) per protocol',
    data: { values: points },
    mark: { type: 'bar' },
    encoding: { x: protocol, y: { field: 'retx', type: 'quantitative', title: 'retransmitted (%)' }, color: protocol },
  };
  const goodputSpec: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: 560,
    height: 300,
    title: 'goodput against loss (mean, min–max over repeats)',
    layer: [
      {
        data: { values: points },
        mark: { type: 'errorband', opacity: 0.25 },
        encoding: {
          x,
          y: { field: 'min', type: 'quantitative', title: 'goodput (Mbit/s)' },
          y2: { field: 'max' },
          color: { field: 'protocol' },
        },
      },
      {
        data: { values: points },
        mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'mean', type: 'quantitative' }, color: { field: 'protocol', type: 'nominal' } },
      },
      ...(limit.length
        ? [
            {
              data: { values: limit },
              mark: { type: 'line' as const, strokeDash: [6, 4], color: '#888' },
              encoding: { x, y: { field: 'limit', type: 'quantitative' as const } },
            },
          ]
        : []),
    ],
  };
  const retxSpec: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: 560,
    height: 200,
    title: 'retransmitted packets (%) against loss',
    data: { values: points },
    mark: { type: 'line', point: true },
    encoding: {
      x,
      y: { field: 'retx', type: 'quantitative', title: 'retransmitted (%)' },
      color: { field: 'protocol', type: 'nominal' },
    },
  };
  const chosen = timelineRun(res);
  const lesson = lessonTable(res);
  const lessonSpec = lessonChartSpec(res);
  const [goodputSvg, retxSvg, timelineSvg, lessonSvg] = await Promise.all([
    svg(swept ? goodputSpec : goodputBars),
    svg(swept ? retxSpec : retxBars),
    chosen ? svg(timelineSpec(chosen)) : Promise.resolve(''),
    lessonSpec ? svg(lessonSpec) : Promise.resolve(''),
  ]);
  const lessonHtml = lesson
    ? `<h2 id="lesson">Lesson: ${esc(lesson.lesson.title)}</h2>
<table id="lesson-table"><tr><th>protocol</th>${lesson.columns.map((c) => `<th>${esc(c.title)}</th>`).join('')}</tr>
${lesson.rows.map((r) => `<tr><td>${esc(r.protocol)}</td>${lesson.columns.map((c) => `<td${lesson.figure.includes(c.key) ? ' class="figure"' : ''}>${esc(fmt(r.values[c.key] ?? null))}</td>`).join('')}</tr>`).join('\n')}
</table>
${lessonSvg ? `<figure id="lesson-chart">${lessonSvg}</figure>` : '<p>(nothing to draw: the figure was not measured in these runs)</p>'}
${res.runs
  .flatMap((r) =>
    (r.received ?? [])
      .filter((f) => f.file)
      .map(
        (f) =>
          `<li><a href="${esc(f.file!)}">${esc(f.file!)}</a>: what ${esc(r.id)}${(r.received?.length ?? 0) > 1 ? ` client ${f.client}` : ''} wrote, ${f.bytes} bytes, SHA-256 <code>${f.sha256}</code> (${f.intact ? 'the original' : 'not the original'})</li>`,
      ),
  )
  .join('\n')
  .replace(/^(.+)$/s, '<ul id="received">$1</ul>')}`
    : '';
  const flowRuns = res.runs.filter((r) => r.flows);
  const flowSvgs = await Promise.all(flowRuns.map((r) => svg(flowsSpec(r.flows!) as unknown as vl.TopLevelSpec)));
  const flowsHtml = flowRuns.length
    ? `<h2 id="flows">Competing flows</h2>\n${flowRuns
        .map(
          (r, i) =>
            `<p>run <code>${esc(r.id)}</code>: ${esc(flowsLine(r.flows!))}</p>\n<table class="flows"><tr><th>flow</th><th>protocol</th><th>start s</th><th>goodput Mbit/s</th><th>while all ran Mbit/s</th><th>share</th></tr>\n${r
              .flows!.flows.map(
                (f) =>
                  `<tr><td>${esc(f.flow)}</td><td>${esc(f.protocol)}</td><td>${f.start_ms === null ? '—' : (f.start_ms / 1000).toFixed(2)}</td><td>${(f.goodput_bps / 1e6).toFixed(2)}</td><td>${f.overlap_goodput_bps === null ? '—' : (f.overlap_goodput_bps / 1e6).toFixed(2)}</td><td>${f.share === null ? '—' : `${(f.share * 100).toFixed(1)}%`}</td></tr>`,
              )
              .join('\n')}</table>\n<figure class="flows-chart" id="flows-${esc(r.id)}">${flowSvgs[i]}</figure>`,
        )
        .join('\n')}\n`
    : '';
  const env = res.environment;
  const rows = res.runs
    .map(
      (r) =>
        `<tr class="${r.verdict}"><td>${esc(r.id)}</td><td>${r.verdict}</td><td>${(r.goodput_bps / 1e6).toFixed(2)}</td><td>${(r.duration_ms / 1000).toFixed(2)}</td><td>${r.retransmit_pct.toFixed(1)}</td><td title="${esc(r.sha256_actual)}">${shaMatches(r) ? 'match' : 'MISMATCH'}</td><td>${esc(r.security)}</td><td>${esc(runNotes(r))}</td></tr>`,
    )
    .join('\n');
  const comparison = comparisonRows(res, rate)
    .map((c) => `<tr><td>${esc(c.protocol)}</td><td>${c.loss}%</td><td>${c.ofRuft}</td><td>${c.ofLimit}</td></tr>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>udplab: ${esc(res.scenario)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:1100px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}
tr.fail{background:#fdd}td.figure{font-weight:bold}.notice{background:#fff3cd;border:1px solid #e0c36c;padding:.5em;margin:.5em 0}
figure{margin:1em 0}
</style></head><body>
<h1>${esc(res.scenario)}</h1>
<p>${esc(res.description)}</p>
<p>network: <code>${esc(res.network)}</code> · file ${res.file.size_bytes} bytes, SHA-256 <code>${res.file.sha256}</code> · ${res.summary.passed}/${res.summary.runs} runs met every expectation</p>
${lessonHtml}
<h2>Environment</h2>
<p>runtime <b>${esc(env.runtime)}</b>, shaper <b>${esc(env.shaper)}</b>, kernel ${esc(env.kernel)}, node ${esc(env.node)}, started ${esc(res.started_at)}</p>
${env.notices.map((n) => `<div class="notice">NOTICE: ${esc(n)}</div>`).join('\n')}
<h2>Goodput</h2>
<figure id="goodput">${goodputSvg}</figure>
${rate ? `<p>dashed: the link limit rate × (1 − p) for rate ${(rate / 1e6).toFixed(1)} Mbit/s</p>` : '<p>(no rate in the scenario: no link-limit line)</p>'}
${unshapedNote(res) ? `<div class="notice" id="unshaped">NOTICE: ${esc(unshapedNote(res))}</div>` : ''}
<figure id="retransmissions">${retxSvg}</figure>
<h2>Timeline of one run</h2>
${chosen ? `<p>run <code>${esc(chosen.id)}</code> (${esc(chosen.netem_down)}): ${esc(timelineCaption(chosen))}</p><figure id="timeline">${timelineSvg}</figure>` : '<p>(no run recorded a timeline)</p>'}
${flowsHtml}<h2>Comparison</h2>
<table><tr><th>protocol</th><th>loss</th><th>goodput ÷ ruft</th><th>goodput ÷ link limit</th></tr>
${comparison}
</table>
${res.shaper_comparison ? compareHtml(res) : ''}<h2>Runs</h2>
<table><tr><th>run</th><th>verdict</th><th>Mbit/s</th><th>s</th><th>retransmitted %</th><th>SHA-256</th><th>security</th><th>notes</th></tr>
${rows}
</table>
</body></html>
`;
}

/** The shapers side by side (`--compare-shapers`): the same table as report.md's. */
function compareHtml(res: LabResults): string {
  const c = res.shaper_comparison!;
  const t = shaperComparisonTable(c);
  return `<h2>Shapers compared: userspace relay and kernel netem</h2>
<p>${esc(shaperComparisonLine(c))}. Runs below: kernel netem; the relay's: ${c.userspace.summary.passed}/${c.userspace.summary.runs} passed. Loss as each shaper counted it; duplicates and reordering only the relay counts.</p>
<table id="shaper-comparison"><tr>${t.header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>
${t.rows.map((r) => `<tr${r.differ ? ' class="fail"' : ''}>${r.cells.map((x) => `<td>${esc(x)}</td>`).join('')}</tr>`).join('\n')}
</table>
${t.differences.map((d) => `<div class="notice">DIFFERENT VERDICT ${esc(d)}</div>`).join('\n')}
`;
}
