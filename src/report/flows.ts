// Competing flows (scenario field `competing`): per-flow goodput over time in 100 ms buckets, lined up on the
// wall clock every flow's client reported (started_epoch_ms), each flow's share while all ran, and Jain's
// fairness index. Pure: the runner gives it the clients' results; the report draws and tabulates the record.

import { md } from './markdown.js';

/** One flow of a run: the run's own transfer (`run`) or a competing one. */
export interface FlowRecord {
  /** `run` or `competing N`. */
  flow: string;
  protocol: string;
  role: 'run' | 'competing';
  /** From the first flow's start (ms); null when the flow failed or reported no start time. */
  start_ms: number | null;
  end_ms: number | null;
  bytes: number;
  /** The client's own figure over its whole transfer. */
  goodput_bps: number;
  /** Over the window in which every flow was transferring; null when there is none. */
  overlap_goodput_bps: number | null;
  /** overlap_goodput_bps ÷ the sum of all flows' (0..1). */
  share: number | null;
  intact: boolean;
  error?: string;
  /** Bytes received in each bucket from the first flow's start. */
  series_bytes: number[];
}

export interface FlowsRecord {
  bucket_ms: number;
  /** The window in which every flow was transferring (ms from the first flow's start); null when none ≥ 1 bucket. */
  overlap_ms: { from: number; to: number } | null;
  /** Jain's index (Σx)² ÷ (n·Σx²) of the flows' overlap goodput: 1 = equal shares, 1/n = one flow took all. */
  jain_index: number | null;
  flows: FlowRecord[];
}

/** What the runner knows of one flow: its client's result (the timeline and start time) or its error. */
export interface FlowInput {
  flow: string;
  protocol: string;
  role: 'run' | 'competing';
  intact: boolean;
  result?: {
    bytes: number;
    duration_ms: number;
    goodput_bps: number;
    started_epoch_ms?: number;
    timeline: Array<{ t_ms: number; bytes: number; rtt_ms?: number }>;
  };
  error?: string;
}

export const FLOW_BUCKET_MS = 100;

/** Cumulative bytes at time t (ms) along points sorted by t, linear between them, flat outside. */
function cumAt(points: Array<[number, number]>, t: number): number {
  if (points.length === 0 || t <= points[0]![0]) return points[0]?.[1] ?? 0;
  for (let i = 1; i < points.length; i++) {
    const [tb, bb] = points[i]!;
    if (t <= tb) {
      const [ta, ba] = points[i - 1]!;
      return tb > ta ? ba + ((bb - ba) * (t - ta)) / (tb - ta) : bb;
    }
  }
  return points.at(-1)![1];
}

export function analyseFlows(inputs: FlowInput[], bucketMs = FLOW_BUCKET_MS): FlowsRecord {
  // each flow's cumulative bytes on the shared wall clock: its own samples (not the sender's STATS), from 0 at its
  // start to its byte count at its end
  const curves = inputs.map((f) => {
    const r = f.result;
    if (!r || r.started_epoch_ms === undefined) return undefined;
    const own = r.timeline.filter((e) => e.rtt_ms === undefined);
    const pts: Array<[number, number]> = [[r.started_epoch_ms, 0]];
    for (const e of own.length > 1 ? own : r.timeline) pts.push([r.started_epoch_ms + e.t_ms, e.bytes]);
    pts.push([r.started_epoch_ms + r.duration_ms, r.bytes]);
    pts.sort((a, b) => a[0] - b[0]);
    // cumulative bytes never fall (a resumed or reordered sample must not draw a negative rate)
    for (let i = 1; i < pts.length; i++) pts[i]![1] = Math.max(pts[i]![1], pts[i - 1]![1]);
    return { start: r.started_epoch_ms, end: r.started_epoch_ms + r.duration_ms, pts };
  });
  const known = curves.filter((c) => c !== undefined);
  const t0 = known.length ? Math.min(...known.map((c) => c.start)) : 0;
  const tEnd = known.length ? Math.max(...known.map((c) => c.end)) : 0;
  const buckets = Math.ceil((tEnd - t0) / bucketMs);
  const all = known.length === inputs.length && inputs.every((f) => f.result);
  const from = all ? Math.max(...known.map((c) => c.start)) : 0;
  const to = all ? Math.min(...known.map((c) => c.end)) : 0;
  const overlap = all && to - from >= bucketMs ? { from, to } : undefined;
  const overlapBps = curves.map((c) =>
    c && overlap
      ? ((cumAt(c.pts, overlap.to) - cumAt(c.pts, overlap.from)) * 8000) / (overlap.to - overlap.from)
      : null,
  );
  const sum = overlapBps.reduce<number>((n, x) => n + (x ?? 0), 0);
  const sq = overlapBps.reduce<number>((n, x) => n + (x ?? 0) ** 2, 0);
  const flows = inputs.map((f, i): FlowRecord => {
    const c = curves[i];
    const series = c
      ? Array.from({ length: buckets }, (_, k) => {
          const a = t0 + k * bucketMs;
          return Math.round(cumAt(c.pts, a + bucketMs) - cumAt(c.pts, a));
        })
      : [];
    const x = overlapBps[i] ?? null;
    return {
      flow: f.flow,
      protocol: f.protocol,
      role: f.role,
      start_ms: c ? Math.round(c.start - t0) : null,
      end_ms: c ? Math.round(c.end - t0) : null,
      bytes: f.result?.bytes ?? 0,
      goodput_bps: f.result?.goodput_bps ?? 0,
      overlap_goodput_bps: x === null ? null : Math.round(x),
      share: x === null || sum <= 0 ? null : Math.round((x / sum) * 1000) / 1000,
      intact: f.intact,
      ...(f.error !== undefined && { error: f.error }),
      series_bytes: series,
    };
  });
  return {
    bucket_ms: bucketMs,
    overlap_ms: overlap ? { from: Math.round(overlap.from - t0), to: Math.round(overlap.to - t0) } : null,
    jain_index: overlap && sq > 0 ? Math.round(((sum * sum) / (inputs.length * sq)) * 1000) / 1000 : null,
    flows,
  };
}

const mbit = (bps: number | null) => (bps === null ? '—' : (bps / 1e6).toFixed(2));

/** One line per run with flows: Jain's index and each flow's share (report notes, terminal, JUnit). */
export function flowsLine(f: FlowsRecord): string {
  const parts = f.flows.map(
    (x) =>
      `${x.flow} (${x.protocol}) ${mbit(x.overlap_goodput_bps)} Mbit/s${x.share === null ? '' : ` ${Math.round(x.share * 100)}%`}${x.error ? ` FAILED: ${x.error}` : ''}`,
  );
  const win = f.overlap_ms
    ? `while all ran (${(f.overlap_ms.from / 1000).toFixed(1)}–${(f.overlap_ms.to / 1000).toFixed(1)} s)`
    : 'no window in which all flows ran';
  return `flows ${win}: ${parts.join(', ')}; Jain's index ${f.jain_index ?? '—'}`;
}

/** report.md's table of the flows of a run. */
export function flowsMarkdown(runId: string, f: FlowsRecord): string[] {
  return [
    `### Flows of ${runId}`,
    '',
    `${flowsLine(f)}.`,
    '',
    '| flow | protocol | start s | end s | MB | goodput Mbit/s | while all ran Mbit/s | share | intact |',
    '|---|---|---|---|---|---|---|---|---|',
    ...f.flows.map(
      (x) =>
        `| ${x.flow} | ${x.protocol} | ${x.start_ms === null ? '—' : (x.start_ms / 1000).toFixed(2)} | ${x.end_ms === null ? '—' : (x.end_ms / 1000).toFixed(2)} | ${(x.bytes / 1e6).toFixed(2)} | ${mbit(x.goodput_bps)} | ${mbit(x.overlap_goodput_bps)} | ${x.share === null ? '—' : `${(x.share * 100).toFixed(1)}%`} | ${x.intact ? 'yes' : `NO${x.error ? ` (${md(x.error)})` : ''}`} |`,
    ),
    '',
  ];
}

/** Each flow's goodput per bucket in Mbit/s (the charts' series). */
export function flowRates(f: FlowsRecord): number[][] {
  return f.flows.map((x) => x.series_bytes.map((b) => (b * 8) / f.bucket_ms / 1000));
}

/** A vega-lite spec of the flows' goodput over time (report.html). */
export function flowsSpec(f: FlowsRecord): Record<string, unknown> {
  const rates = flowRates(f);
  const values = f.flows.flatMap((x, i) =>
    rates[i]!.map((v, k) => ({ t: ((k + 0.5) * f.bucket_ms) / 1000, mbit: v, flow: `${x.flow} (${x.protocol})` })),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `goodput per flow, ${f.bucket_ms} ms buckets`,
    width: 560,
    height: 200,
    data: { values },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: { field: 't', type: 'quantitative', title: 'time (s)' },
      y: { field: 'mbit', type: 'quantitative', title: 'goodput (Mbit/s)' },
      color: { field: 'flow', type: 'nominal' },
    },
  };
}

/** The flows' series for a terminal chart: 0.5 s means (a terminal is ~80 columns), at most 100 points. */
export function flowsTerminalSeries(f: FlowsRecord): { series: number[][]; stepS: number } {
  const rates = flowRates(f);
  const n = Math.max(0, ...rates.map((r) => r.length));
  const per = Math.max(5, Math.ceil(n / 100));
  const series = rates.map((r) =>
    Array.from({ length: Math.ceil(n / per) }, (_, k) => {
      const slice = Array.from({ length: per }, (_, j) => r[k * per + j] ?? 0);
      return slice.reduce((a, b) => a + b, 0) / per;
    }),
  );
  return { series, stepS: (per * f.bucket_ms) / 1000 };
}
