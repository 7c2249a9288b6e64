// The lesson of a scenario and the figure that carries it: which quantity each kind of lesson measures, where
// that figure is in a run's record, and the table and chart the report leads with (report.md, report.html, the
// terminal summary and JUnit properties all take their figure from `lessonTable`).
import type * as vl from 'vega-lite';
import { type LabResults, type LessonRecord, type RunRecord, shaMatches } from './results.js';

export const LESSON_KINDS = [
  'stall',
  'reorder',
  'duplicate',
  'fragmentation',
  'overrun',
  'clients',
  'lockstep',
  'amplification',
  'plaintext',
  'goodput',
] as const;
export type LessonKind = (typeof LESSON_KINDS)[number];

type Value = number | string | null;
interface Column {
  key: string;
  title: string;
  value: (r: RunRecord, res: LabResults) => Value;
}

/** How a lesson is drawn first: bars of the figure per protocol, or a plot that fits the lesson better. */
export type LessonChart = 'bars' | 'sequence' | 'progress' | 'inout' | 'goodput';

interface LessonDef {
  title: string;
  figure: string[];
  unit: string;
  chart: LessonChart;
  columns: (res: LabResults) => Column[];
}

// ---- where the figures are in a run's record ----

/** The data direction's counters of the shaper (relay: downStats; kernel netem: down). */
function path(r: RunRecord): { packets?: number; lost?: number; duplicated?: number; reordered?: number } {
  const c = r.shaper_counters as Record<string, unknown> | null;
  if (!c || typeof c !== 'object') return {};
  const d = c.downStats as { packets?: number; lost?: number; duplicated?: number; reordered?: number } | undefined;
  if (d && typeof d.packets === 'number') return d;
  const k = c.down as { sent_packets?: number; dropped?: number } | undefined;
  if (k && typeof k.sent_packets === 'number')
    return { packets: k.sent_packets + (k.dropped ?? 0), lost: k.dropped ?? 0 };
  return {};
}
const errText = (r: RunRecord) => [r.error?.message ?? '', ...(r.observed ?? [])].join(' ');
/** Where a naive client gave up ("stalled at N of M bytes"), or null when it did not stall. */
export function stalledAt(r: RunRecord): number | null {
  const m = /stalled at (\d+) of \d+ bytes/.exec(errText(r));
  return m ? Number(m[1]) : null;
}
function socketDrops(r: RunRecord): number | null {
  if (r.socket_drops !== undefined) return r.socket_drops;
  const m = /its socket dropped (\d+) datagrams/.exec(errText(r));
  return m ? Number(m[1]) : null;
}
/** Bytes the (first) client held when it ended. */
function held(r: RunRecord, res: LabResults): number | null {
  if (r.received?.[0]) return r.received[0].bytes;
  if (shaMatches(r) && !r.error) return res.file.size_bytes;
  return stalledAt(r);
}
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const pctOf = (a: number | null, b: number) => (a === null || b <= 0 ? null : round((100 * a) / b, 1));
const fileOk = (r: RunRecord): Value => (shaMatches(r) ? 'yes' : 'NO');
/** A figure of the written file's arrival analysis; 0 for a file that is the original (nothing out of place). */
function arrival(r: RunRecord, k: 'late' | 'ahead' | 'duplicates' | 'missing'): Value {
  const a = r.received?.[0]?.arrival;
  if (a) return a[k];
  return shaMatches(r) && !r.error ? 0 : null;
}
const amp = (r: RunRecord, k: string): Value => {
  const v = (r.shaper_counters as Record<string, unknown> | null)?.[k];
  return typeof v === 'number' ? v : null;
};

const LESSONS: Record<LessonKind, LessonDef> = {
  stall: {
    title: 'datagrams of the file the client never got',
    figure: ['missing'],
    unit: 'datagrams',
    chart: 'bars',
    columns: () => [
      { key: 'missing', title: 'datagrams of the file never written', value: (r) => arrival(r, 'missing') },
      { key: 'stalled_at', title: 'stalled at (bytes)', value: (r) => stalledAt(r) ?? '—' },
      { key: 'held_pct', title: 'held (% of the file)', value: (r, res) => pctOf(held(r, res), res.file.size_bytes) },
      { key: 'path_lost', title: 'datagrams lost on the path', value: (r) => path(r).lost ?? null },
      { key: 'retransmitted', title: 'retransmitted', value: (r) => r.packets_retransmitted },
      { key: 'file_ok', title: 'file correct', value: fileOk },
    ],
  },
  reorder: {
    title: 'datagrams written out of order',
    figure: ['out_of_order'],
    unit: 'datagrams',
    chart: 'sequence',
    columns: () => [
      { key: 'out_of_order', title: 'written after a later one', value: (r) => arrival(r, 'late') },
      { key: 'jumped_ahead', title: 'jumped ahead', value: (r) => arrival(r, 'ahead') },
      { key: 'path_reordered', title: 'reordered by the path', value: (r) => path(r).reordered ?? null },
      { key: 'file_ok', title: 'file correct', value: fileOk },
    ],
  },
  duplicate: {
    title: 'duplicate datagrams written into the file',
    figure: ['duplicates_written'],
    unit: 'datagrams',
    chart: 'bars',
    columns: () => [
      { key: 'duplicates_written', title: 'duplicates written', value: (r) => arrival(r, 'duplicates') },
      { key: 'path_duplicated', title: 'duplicated by the path', value: (r) => path(r).duplicated ?? null },
      { key: 'missing', title: 'datagrams of the file never written', value: (r) => arrival(r, 'missing') },
      { key: 'file_ok', title: 'file correct', value: fileOk },
    ],
  },
  fragmentation: {
    title: 'datagrams lost, of those sent',
    figure: ['datagrams_lost_pct'],
    unit: '%',
    chart: 'bars',
    columns: () => [
      {
        key: 'datagrams_lost_pct',
        title: 'datagrams lost (%)',
        value: (r) => {
          const f = (r.shaper_counters as { fragments?: { datagrams: number; lost: number } } | null)?.fragments;
          if (f && f.datagrams > 0) return pctOf(f.lost, f.datagrams);
          const p = path(r);
          return p.packets ? pctOf(p.lost ?? 0, p.packets) : null;
        },
      },
      {
        key: 'fragmented_lost',
        title: 'fragmented datagrams lost / sent',
        value: (r) => {
          const f = (r.shaper_counters as { fragments?: { datagrams: number; lost: number } } | null)?.fragments;
          return f && f.datagrams > 0 ? `${f.lost} / ${f.datagrams}` : '—';
        },
      },
      {
        key: 'packets_lost',
        title: 'packets on the wire lost / sent',
        value: (r) => (path(r).packets !== undefined ? `${path(r).lost ?? 0} / ${path(r).packets}` : null),
      },
      { key: 'held_pct', title: 'held (% of the file)', value: (r, res) => pctOf(held(r, res), res.file.size_bytes) },
    ],
  },
  overrun: {
    title: "datagrams dropped at the receiver's socket (receive buffer full)",
    figure: ['socket_drops'],
    unit: 'datagrams',
    chart: 'bars',
    columns: () => [
      // measured at the naive client's socket only (—: not measured)
      { key: 'socket_drops', title: 'dropped at the socket', value: (r) => socketDrops(r) },
      { key: 'path_lost', title: 'lost on the path', value: (r) => path(r).lost ?? null },
      { key: 'stalled_at', title: 'stalled at (bytes)', value: (r) => stalledAt(r) ?? '—' },
      { key: 'held_pct', title: 'held (% of the file)', value: (r, res) => pctOf(held(r, res), res.file.size_bytes) },
      { key: 'file_ok', title: 'file correct', value: fileOk },
    ],
  },
  clients: {
    title: 'which client got which bytes',
    figure: [],
    unit: 'bytes',
    chart: 'bars',
    columns: (res) => {
      const n = Math.max(1, ...res.runs.map((r) => r.clients ?? r.received?.length ?? 1));
      return [
        ...Array.from(
          { length: n },
          (_, i): Column => ({
            key: `client${i + 1}_bytes`,
            title: `client ${i + 1}: bytes`,
            value: (r) => r.received?.[i]?.bytes ?? null,
          }),
        ),
        // which part of the file, where the written file was kept and compared with the original
        ...Array.from(
          { length: n },
          (_, i): Column => ({
            key: `client${i + 1}_part`,
            title: `client ${i + 1}: datagrams of the file`,
            value: (r) => {
              const f = r.received?.[i];
              const seq = f?.arrival?.sequence.filter((x) => x >= 0);
              if (f?.intact) return 'all, in order';
              if (!seq) return f && f.bytes === 0 ? 'none' : null;
              if (!seq.length) return 'none';
              return `${seq.length} of ${f!.arrival!.original_chunks}: #${Math.min(...seq)}–#${Math.max(...seq)}`;
            },
          }),
        ),
        {
          key: 'clients_ok',
          title: 'correct files',
          value: (r) => {
            const n = r.sha256_actual.split(' ').length;
            return `${r.sha256_actual.split(' ').filter((x) => x === r.sha256_expected).length} of ${n}`;
          },
        },
      ];
    },
  },
  lockstep: {
    title: 'goodput on a long round trip',
    figure: ['goodput_mbit'],
    unit: 'Mbit/s',
    chart: 'progress',
    columns: () => [
      { key: 'goodput_mbit', title: 'goodput (Mbit/s)', value: (r) => round(r.goodput_bps / 1e6, 2) },
      { key: 'duration_s', title: 'duration (s)', value: (r) => round(r.duration_ms / 1000, 2) },
      { key: 'data_packets', title: 'data packets', value: (r) => r.packets_sent },
      { key: 'file_ok', title: 'file correct', value: fileOk },
    ],
  },
  amplification: {
    title: 'bytes sent to the victim ÷ bytes of the forged request',
    figure: ['amplification'],
    unit: '×',
    chart: 'inout',
    columns: () => [
      {
        key: 'amplification',
        title: 'amplification (×)',
        value: (r) => {
          const a = amp(r, 'amplification');
          return typeof a === 'number' ? round(a, 1) : null;
        },
      },
      { key: 'request_bytes', title: 'forged request (bytes)', value: (r) => amp(r, 'request_bytes') },
      { key: 'victim_bytes', title: 'sent to the victim (bytes)', value: (r) => amp(r, 'victim_bytes') },
      { key: 'victim_datagrams', title: 'datagrams to the victim', value: (r) => amp(r, 'victim_datagrams') },
    ],
  },
  plaintext: {
    title: 'datagrams an eavesdropper reads the file in',
    figure: ['plaintext_datagrams'],
    unit: 'datagrams',
    chart: 'bars',
    columns: () => [
      {
        key: 'plaintext_datagrams',
        title: 'carrying the file in the clear',
        value: (r) => r.wire?.plaintext_file_datagrams ?? null,
      },
      { key: 'captured', title: 'datagrams captured', value: (r) => r.wire?.datagrams ?? null },
      {
        key: 'key_exchange',
        title: 'key exchange on the wire',
        value: (r) => r.wire?.key_exchange ?? (r.wire ? '—' : null),
      },
      { key: 'security', title: 'security', value: (r) => r.security || '—' },
    ],
  },
  goodput: {
    title: 'goodput against loss',
    figure: ['goodput_mbit'],
    unit: 'Mbit/s',
    chart: 'goodput',
    columns: () => [{ key: 'goodput_mbit', title: 'goodput (Mbit/s)', value: (r) => round(r.goodput_bps / 1e6, 2) }],
  },
};

/** The figure keys a lesson of this kind can name (`client<N>_bytes` for clients). */
export function lessonFigureKeys(kind: LessonKind): string[] {
  if (kind === 'clients') return ['client<N>_bytes', 'client<N>_part', 'clients_ok'];
  return LESSONS[kind]
    .columns({ runs: [], file: { size_bytes: 0, sha256: '' } } as unknown as LabResults)
    .map((c) => c.key);
}

/** The lesson record of a scenario: its declaration completed with the kind's defaults. */
export function lessonRecord(
  kind: LessonKind,
  declared?: { title?: string; figure?: string[]; unit?: string },
  source: LessonRecord['source'] = declared ? 'scenario' : 'inferred',
): LessonRecord {
  const d = LESSONS[kind];
  return {
    kind,
    title: declared?.title ?? d.title,
    figure: declared?.figure?.length ? declared.figure : d.figure,
    unit: declared?.unit ?? d.unit,
    source,
  };
}

/** The lesson of a result (results.json written before lessons existed: goodput, the old template). */
export function lessonOf(res: LabResults): LessonRecord {
  return res.lesson ?? lessonRecord('goodput', undefined, 'inferred');
}

const kindOf = (l: LessonRecord): LessonKind =>
  (LESSON_KINDS as readonly string[]).includes(l.kind) ? (l.kind as LessonKind) : 'goodput';

export function lessonChart(res: LabResults): LessonChart {
  return LESSONS[kindOf(lessonOf(res))].chart;
}

export interface LessonTable {
  lesson: LessonRecord;
  columns: Array<{ key: string; title: string }>;
  /** One row per protocol variant, in the scenario's order; numbers are the mean over repeats. */
  rows: Array<{ protocol: string; values: Record<string, Value> }>;
  /** The leading figure keys (the declared ones, or every client column for a clients lesson). */
  figure: string[];
}

/** The lesson's table: per protocol, the figures the lesson is measured in. Undefined for the goodput template. */
export function lessonTable(res: LabResults): LessonTable | undefined {
  const lesson = lessonOf(res);
  const kind = kindOf(lesson);
  if (kind === 'goodput') return undefined;
  const columns = LESSONS[kind].columns(res);
  const byProto = new Map<string, RunRecord[]>();
  for (const r of res.runs) byProto.set(r.protocol, [...(byProto.get(r.protocol) ?? []), r]);
  const rows = [...byProto].map(([protocol, rs]) => {
    const values: Record<string, Value> = {};
    for (const c of columns) {
      const vs = rs.map((r) => c.value(r, res));
      const nums = vs.filter((v): v is number => typeof v === 'number');
      values[c.key] =
        nums.length === vs.length && nums.length > 0
          ? round(nums.reduce((a, b) => a + b, 0) / nums.length, 2)
          : (vs.find((v) => v !== null) ?? null);
    }
    return { protocol, values };
  });
  const keys = new Set(columns.map((c) => c.key));
  const figure =
    kind === 'clients' && lesson.figure.length === 0
      ? columns.filter((c) => c.key.endsWith('_bytes')).map((c) => c.key)
      : lesson.figure.filter((k) => keys.has(k));
  return { lesson, columns: columns.map(({ key, title }) => ({ key, title })), rows, figure };
}

export const fmt = (v: Value): string =>
  v === null ? '—' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : String(round(v, 2))) : v;

// ---- charts (vega-lite for report.html) ----

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

/** The sequence of a written file: for each datagram in arrival order, its position in the file minus its arrival index. */
export function sequencePoints(res: LabResults): Array<{ protocol: string; arrival: number; offset: number }> {
  const out: Array<{ protocol: string; arrival: number; offset: number }> = [];
  for (const r of res.runs) {
    const seq = r.received?.[0]?.arrival?.sequence;
    if (!seq) continue;
    seq.forEach((i, j) => {
      if (i >= 0) out.push({ protocol: r.protocol, arrival: j, offset: i - j });
    });
  }
  return out;
}

/** Bytes held against time per run (the client's own record: TFTP per block, RUFT about every 100 ms). */
export function progressPoints(res: LabResults): Array<{ protocol: string; t: number; kib: number }> {
  const out: Array<{ protocol: string; t: number; kib: number }> = [];
  for (const r of res.runs) {
    const own = r.timeline.filter((e) => e.rtt_ms === undefined);
    for (const e of own.length > 1 ? own : r.timeline)
      out.push({ protocol: r.protocol, t: round(e.t_ms / 1000, 3), kib: round(e.bytes / 1024, 1) });
  }
  return out;
}

/** The vega-lite spec of the lesson's first chart, or undefined when there is nothing to draw. */
export function lessonChartSpec(res: LabResults): vl.TopLevelSpec | undefined {
  const t = lessonTable(res);
  if (!t) return undefined;
  const chart = lessonChart(res);
  const protocol = { field: 'protocol', type: 'nominal' as const, title: 'protocol', sort: null };
  if (chart === 'sequence') {
    const values = sequencePoints(res);
    if (!values.length) return undefined;
    return {
      $schema: SCHEMA,
      width: 560,
      height: 240,
      title:
        'each datagram the client wrote: its place in the file − the place it was written at (0: where it belongs)',
      data: { values },
      mark: { type: 'point', filled: true, size: 14 },
      encoding: {
        x: { field: 'arrival', type: 'quantitative', title: 'datagrams in the order they were written' },
        y: { field: 'offset', type: 'quantitative', title: 'position in the file − write position' },
        color: protocol,
      },
    };
  }
  if (chart === 'progress') {
    const values = progressPoints(res);
    if (!values.length) return undefined;
    return {
      $schema: SCHEMA,
      width: 560,
      height: 280,
      title: 'bytes received against time (a step per round trip in lockstep)',
      data: { values },
      mark: { type: 'line', interpolate: 'step-after', point: { size: 10 } },
      encoding: {
        x: { field: 't', type: 'quantitative', title: 'time (s)' },
        y: { field: 'kib', type: 'quantitative', title: 'received (KiB)' },
        color: protocol,
      },
    };
  }
  if (chart === 'inout') {
    const values = t.rows.flatMap((r) => [
      { protocol: r.protocol, what: 'in: forged request', bytes: Number(r.values.request_bytes ?? 0) },
      { protocol: r.protocol, what: 'out: to the victim', bytes: Number(r.values.victim_bytes ?? 0) },
    ]);
    return {
      $schema: SCHEMA,
      width: 560,
      height: 260,
      title: 'bytes in (the forged request) and bytes out (to the victim), per server — log scale',
      data: { values: values.map((v) => ({ ...v, bytes: Math.max(v.bytes, 1) })) },
      mark: { type: 'bar' },
      encoding: {
        x: protocol,
        xOffset: { field: 'what', type: 'nominal' },
        // a log axis has no zero: bars stand on 1 byte
        y: { field: 'bytes', type: 'quantitative', title: 'bytes', scale: { type: 'log', domainMin: 1 } },
        y2: { datum: 1 },
        color: { field: 'what', type: 'nominal', title: '', sort: 'ascending' },
      },
    };
  }
  // bars: the leading figure(s) per protocol
  const titles = new Map(t.columns.map((c) => [c.key, c.title]));
  const values = t.rows.flatMap((r) =>
    t.figure.flatMap((k) =>
      typeof r.values[k] === 'number' ? [{ protocol: r.protocol, figure: titles.get(k) ?? k, value: r.values[k] }] : [],
    ),
  );
  if (!values.length) return undefined;
  return {
    $schema: SCHEMA,
    width: 560,
    height: 240,
    title: `${t.lesson.title} (${t.lesson.unit}), per protocol`,
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      x: protocol,
      ...(t.figure.length > 1 && { xOffset: { field: 'figure', type: 'nominal' as const } }),
      y: { field: 'value', type: 'quantitative', title: t.lesson.unit },
      color: t.figure.length > 1 ? { field: 'figure', type: 'nominal', title: '' } : protocol,
    },
  };
}

// ---- the same figure in report.md, the terminal summary and JUnit ----

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** report.md's first section: the lesson, its table per protocol, and where its chart and files are. */
export function lessonMarkdown(res: LabResults): string[] {
  const t = lessonTable(res);
  if (!t) return [];
  const l = [`## Lesson: ${t.lesson.title}`, ''];
  l.push(`| protocol | ${t.columns.map((c) => cell(c.title)).join(' | ')} |`);
  l.push(`|---|${t.columns.map(() => '---').join('|')}|`);
  for (const r of t.rows)
    l.push(`| ${r.protocol} | ${t.columns.map((c) => cell(fmt(r.values[c.key] ?? null))).join(' | ')} |`);
  l.push(
    '',
    `The figure: ${t.figure.map((k) => t.columns.find((c) => c.key === k)?.title ?? k).join(', ')} (${t.lesson.unit}); ${t.lesson.source === 'scenario' ? "declared by the scenario's `lesson:`" : 'inferred from the scenario'}; charted first in report.html.`,
  );
  const files = res.runs.flatMap((r) => (r.received ?? []).filter((f) => f.file).map((f) => ({ r, f })));
  for (const { r, f } of files)
    l.push(
      `- ${r.id}${f.client > 1 || (r.received?.length ?? 0) > 1 ? ` client ${f.client}` : ''} wrote \`${f.file}\`: ${f.bytes} bytes, sha256 \`${f.sha256}\` (${f.intact ? 'the original' : 'not the original'}; compare with the original's above)`,
    );
  l.push('');
  return l;
}

/** The terminal summary's first lines: the lesson, the figure per protocol as a bar, and the plot where it has one. */
export function lessonTerminal(res: LabResults, plot: (series: number[][]) => string): string[] {
  const t = lessonTable(res);
  if (!t) return [];
  const out = [`lesson: ${t.lesson.title} (${t.lesson.unit})`];
  const nums = t.rows.flatMap((r) =>
    t.figure.map((k) => r.values[k]).filter((v): v is number => typeof v === 'number'),
  );
  const max = Math.max(1e-9, ...nums.map(Math.abs));
  const width = Math.max(...t.rows.map((r) => r.protocol.length), 8);
  for (const r of t.rows)
    for (const k of t.figure) {
      const v = r.values[k] ?? null;
      const bar = typeof v === 'number' ? '█'.repeat(Math.round((40 * Math.abs(v)) / max)) : '';
      const label = t.figure.length > 1 ? ` ${t.columns.find((c) => c.key === k)?.title ?? k}` : '';
      out.push(`  ${r.protocol.padEnd(width)}${label} ${bar} ${fmt(v)}`);
    }
  const chart = lessonChart(res);
  if (chart === 'progress') {
    const pts = progressPoints(res);
    const end = Math.max(...pts.map((p) => p.t), 0);
    const protos = [...new Set(pts.map((p) => p.protocol))];
    if (end > 0 && protos.length) {
      const series = protos.map((pr) => {
        const ps = pts.filter((p) => p.protocol === pr);
        return Array.from({ length: 60 }, (_, i) => {
          const tt = (end * i) / 59;
          return ps.filter((p) => p.t <= tt).at(-1)?.kib ?? 0;
        });
      });
      out.push(
        `KiB received against time, 0 to ${end.toFixed(1)} s: ${protos.join(', ')} (in colour order green, blue, magenta)`,
      );
      out.push(plot(series));
    }
  }
  if (chart === 'sequence') {
    const pts = sequencePoints(res);
    if (pts.length > 1) {
      const n = Math.min(60, pts.length);
      const series = Array.from({ length: n }, (_, i) => {
        const slice = pts.slice(Math.floor((i * pts.length) / n), Math.floor(((i + 1) * pts.length) / n));
        return slice.reduce((m, p) => (Math.abs(p.offset) > Math.abs(m) ? p.offset : m), 0);
      });
      out.push(
        `position in the file − write position, in the order the datagrams were written (0: in place): ${pts[0]!.protocol}`,
      );
      out.push(plot([series]));
    }
  }
  return out;
}

/** JUnit <property> elements: the lesson and its figure per protocol (name lesson.<protocol>.<figure>). */
export function lessonProperties(res: LabResults): Array<{ name: string; value: string }> {
  const t = lessonTable(res);
  if (!t) return [];
  return [
    { name: 'lesson', value: t.lesson.title },
    { name: 'lesson.kind', value: t.lesson.kind },
    { name: 'lesson.unit', value: t.lesson.unit },
    ...t.rows.flatMap((r) =>
      t.figure.map((k) => ({ name: `lesson.${r.protocol}.${k}`, value: fmt(r.values[k] ?? null) })),
    ),
  ];
}
