// The result model of a lab run: results.json, schema version 1 (docs/lab.md documents every field).
import { type FlowsRecord, flowsLine } from './flows.js';
export const RESULTS_SCHEMA_VERSION = 1;

/** One direction of what the userspace relay itself added in a run (src/lab/relay-overhead.ts). */
export interface RelayOverheadDirection {
  /** Releases measured. */
  releases: number;
  /** Release lateness beyond the schedule of the impairment model (ms; bucket upper bounds, ≤ 25% high). */
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  /** Kernel drops at the relay's receiving sockets in this direction; null: unknown (not Linux). */
  socket_drops: number | null;
  send_errors: number;
  /** The configured delay of this direction (ms), for the threshold. */
  configured_delay_ms: number;
}

export interface RelayOverhead {
  up: RelayOverheadDirection;
  down: RelayOverheadDirection;
  /** The relay process's event-loop delay p99 (ms): a datagram waits up to this in its socket queue before the
   * relay sees it, on top of the lateness (which starts when the relay sees it). */
  event_loop_delay_p99_ms: number;
  /** True when drops > 0, send errors > 0, or a direction's p99 lateness > 1 ms + 10% of its configured delay. */
  loud: boolean;
}

/**
 * The byte cross-check of a run (src/lab/shapers/crossed.ts): the bytes the shaper counted server→client against the
 * least the run's intact files need (½ × min(file size, its deflate size) each).
 */
export interface CrossedRecord {
  /** The verdict rests on it (users' programs: exec, image); for udplab's own protocols it is an observation. */
  judged: boolean;
  /** What the shaper counted server→client; null when it reported no counters (then `skipped` says why). */
  down_bytes: number | null;
  needed_bytes: number;
  /** Clients (and competing flows) whose file arrived intact. */
  intact_clients: number;
  /** What counted them, e.g. `netem on ul3s`. */
  where?: string;
  /** down_bytes ≥ needed_bytes; null: not checked. */
  ok: boolean | null;
  skipped?: string;
}

export interface RunRecord {
  id: string;
  protocol: string;
  loss_pct: number | null;
  repeat: number;
  seed: number;
  netem_up: string;
  netem_down: string;
  /** What the shaper said it applied (tc qdisc show, or the relay's own report). */
  shaping_readback: string;
  /**
   * The shaper's counters after the run (relay: packets, lost, duplicated, …; kernel netem: `{ up, down }`, each
   * from `tc -s qdisc show` inside its endpoint: sent bytes/packets, dropped, overlimits, requeues, backlog,
   * loss_pct = dropped ÷ (sent + dropped)).
   */
  shaper_counters: unknown;
  /**
   * Userspace relay runs only: what the relay itself added, per direction (release lateness beyond the configured
   * delay p50/p99/max in ms, kernel drops at its own sockets before shaping, failed sends) and `loud` when that
   * is over the limit (drops, or p99 > 1 ms + 10% of the configured delay). Absent under kernel netem.
   */
  relay_overhead?: RelayOverhead;
  /** The byte cross-check: did the intact files cross the shaped path? (absent: a run not transferred, e.g. NOT RUN). */
  crossed?: CrossedRecord;
  bytes: number;
  duration_ms: number;
  goodput_bps: number;
  packets_sent: number;
  packets_retransmitted: number;
  retransmit_pct: number;
  rtt_ms_min: number;
  rtt_ms_avg: number;
  rtt_ms_p99: number;
  sha256_expected: string;
  sha256_actual: string;
  security: string;
  /**
   * The run over time (from the client's --json), for the timeline chart. A get: the client's own record of the
   * bytes it holds about every 100 ms (complete), with the sender's STATS samples where they arrived (the entries
   * with rtt_ms, pacing_mbit and the cumulative sent / lost / retransmitted; STATS are lost with the data).
   */
  timeline: Array<{
    t_ms: number;
    bytes: number;
    rtt_ms?: number;
    pacing_mbit?: number;
    sent?: number;
    lost?: number;
    retransmitted?: number;
  }>;
  verdict: 'pass' | 'fail';
  failures: string[];
  /** A teaching run whose failure is the lesson: it passes when the transfer goes wrong, and says how. */
  expected_failure?: boolean;
  /** What went wrong in an expected failure; in an attack run, the figure measured. */
  observed?: string[];
  /** Concurrent clients in this run (bytes and goodput are their sum; sha256_actual lists one per client). */
  clients?: number;
  /** The packet capture of this run, in the report folder. */
  capture?: string;
  /** Crash faults injected in this run (SIGKILL, restart, resume). */
  /** Competing flows (scenario field `competing`): per-flow goodput over time, shares, Jain's index. */
  flows?: FlowsRecord;
  faults?: Array<{
    at_pct: number;
    kill: 'server' | 'client';
    killed_at_pct: number;
    promoted_early: boolean;
    restarted: boolean;
  }>;
  error?: { code: string; message: string };
  /**
   * What each client wrote, kept in the report folder where the lesson is the file's content (the naive client):
   * `file` relative to the report folder, its size and SHA-256, and where the datagrams it holds sit in the original.
   */
  received?: ReceivedFile[];
  /** Datagrams the client's kernel dropped at its socket, its receive buffer full (naive client, Linux). */
  socket_drops?: number;
  /** What the run's capture shows an eavesdropper (from the .pcap): datagrams, those carrying the file in the clear, the toy key exchange. */
  wire?: { datagrams: number; plaintext_file_datagrams: number; key_exchange?: string };
}

/** A client's written file, compared chunk by chunk with the original (see src/lab/arrival.ts). */
/** What a client that writes datagrams in arrival order wrote, placed chunk by chunk in the original (lab/arrival.ts). */
export interface ArrivalAnalysis {
  /** Chunk size the file was cut into (the datagram payload the client wrote). */
  chunk_bytes: number;
  /** Chunks of the original file. */
  original_chunks: number;
  /** Chunks the client wrote. */
  written_chunks: number;
  /** Written chunks at the offset they have in the original. */
  in_place: number;
  /** Written chunks that arrived after a chunk from further on in the file (the reordered ones). */
  late: number;
  /** Written chunks that arrived ahead of a gap (a chunk before them still to come, or lost): the ones that jumped. */
  ahead: number;
  /** Written chunks that had been written before (duplicates). */
  duplicates: number;
  /** Chunks of the original the client never wrote. */
  missing: number;
  /** Written chunks that are no chunk of the original (cut datagrams, another file). */
  foreign: number;
  /** For each written chunk in order, its index in the original (-1: foreign); at most 20,000 entries. */
  sequence: number[];
}

export interface ReceivedFile {
  client: number;
  file?: string;
  bytes: number;
  sha256: string;
  intact: boolean;
  arrival?: ArrivalAnalysis;
}

/** What a scenario teaches (its `lesson:`, or inferred from its impairments and protocols): which figure leads the report. */
export interface LessonRecord {
  kind: string;
  title: string;
  /** The keys of the lesson table's figures that lead (bars, terminal, JUnit properties). */
  figure: string[];
  unit: string;
  source: 'scenario' | 'inferred';
}

export interface LabResults {
  schema_version: number;
  scenario: string;
  description: string;
  source: string;
  network: string;
  started_at: string;
  finished_at: string;
  shard?: { index: number; count: number };
  environment: {
    runtime: string;
    shaper: string;
    kernel: string;
    node: string;
    notices: string[];
  };
  expect: { integrity: boolean; goodput_min_bps?: number; duration_max_ms?: number };
  file: { size_bytes: number; sha256: string };
  /** The lesson the report leads with (absent in results written before lessons: inferred when read). */
  lesson?: LessonRecord;
  runs: RunRecord[];
  summary: { runs: number; passed: number; failed: number };
  /**
   * `udplab lab --compare-shapers` (or `compare_shapers: true`): every run ran twice on the same kernel and
   * runtime, under kernel netem (`runs` above, the reference) and under the userspace relay (here), side by side.
   */
  shaper_comparison?: ShaperComparison;
}

/** One direction of one run as its shaper counted it; null where that shaper does not count it. */
export interface ShaperDirection {
  /** Packets that met the shaper (relay: datagrams in; netem: sent + dropped by the qdisc). */
  packets_in: number | null;
  /** Packets it let through (relay: in − dropped + duplicated; netem: `Sent … pkt`). */
  packets_out: number | null;
  /** Dropped by loss, queue limit or blackout. */
  dropped: number | null;
  /** dropped ÷ (packets the shaper handled), in percent. */
  loss_pct: number | null;
  /** Extra copies made (relay only: netem's counters do not say). */
  duplicated: number | null;
  /** Packets sent ahead of the delayed ones (relay only). */
  reordered: number | null;
}

/** One run under one shaper, as the comparison shows it. */
export interface ShaperSide {
  verdict: 'pass' | 'fail';
  failures: string[];
  goodput_bps: number;
  retransmit_pct: number;
  duration_ms: number;
  /** The client's RTT (it records min, mean and p99; no median). */
  rtt_ms_avg: number;
  rtt_ms_p99: number;
  /** The run was meant to be impaired but went over the clean path (TCP under the relay). */
  not_shaped: boolean;
  up: ShaperDirection;
  down: ShaperDirection;
}

export interface ShaperComparisonRow {
  id: string;
  protocol: string;
  userspace: ShaperSide | null;
  netem: ShaperSide | null;
  same_verdict: boolean;
  /** Why the verdicts differ, for people (absent when they agree). */
  difference?: string;
}

export interface ShaperComparison {
  runtime: string;
  kernel: string;
  rows: ShaperComparisonRow[];
  same_verdicts: number;
  different_verdicts: number;
  /** The relay's own results: its notices, summary and run records. */
  userspace: { notices: string[]; summary: { runs: number; passed: number; failed: number }; runs: RunRecord[] };
}

const num = (x: number | null, digits = 2) => (x === null ? '–' : x.toFixed(digits));
const dirCell = (d: ShaperDirection) =>
  d.packets_in === null ? 'not counted' : `${d.packets_in}→${d.packets_out} (${num(d.loss_pct)}% lost)`;
const pair = (a: number | null, b: number | null) => (a === null && b === null ? '–' : `${a ?? '–'}/${b ?? '–'}`);

/**
 * The shaper comparison as a table, for report.md, report.html and the terminal alike: one row per run and
 * shaper, then one line per run whose verdicts differ (with why).
 */
export function shaperComparisonTable(c: ShaperComparison): {
  header: string[];
  rows: Array<{ cells: string[]; differ: boolean }>;
  differences: string[];
} {
  const header = [
    'run',
    'shaper',
    'verdict',
    'Mbit/s',
    'retransmit %',
    'RTT avg ms',
    'RTT p99 ms',
    'up: in→out (loss)',
    'down: in→out (loss)',
    'dup up/down',
    'reorder up/down',
  ];
  const rows: Array<{ cells: string[]; differ: boolean }> = [];
  for (const r of c.rows)
    for (const [name, side] of [
      ['userspace', r.userspace],
      ['netem', r.netem],
    ] as const) {
      if (!side) {
        rows.push({ cells: [r.id, name, 'not run', '', '', '', '', '', '', '', ''], differ: !r.same_verdict });
        continue;
      }
      rows.push({
        differ: !r.same_verdict,
        cells: [
          r.id,
          name,
          `${side.verdict}${r.same_verdict ? '' : ' (DIFFERENT)'}`,
          `${(side.goodput_bps / 1e6).toFixed(2)}${side.not_shaped ? ' (not shaped)' : ''}`,
          side.retransmit_pct.toFixed(1),
          side.rtt_ms_avg.toFixed(1),
          side.rtt_ms_p99.toFixed(1),
          dirCell(side.up),
          dirCell(side.down),
          pair(side.up.duplicated, side.down.duplicated),
          pair(side.up.reordered, side.down.reordered),
        ],
      });
    }
  const differences = c.rows.filter((r) => !r.same_verdict).map((r) => `${r.id}: ${r.difference ?? 'verdicts differ'}`);
  return { header, rows, differences };
}

/** One line: how many runs got the same verdict under both shapers. */
export function shaperComparisonLine(c: ShaperComparison): string {
  const n = c.rows.length;
  return c.different_verdicts === 0
    ? `shaper comparison (${c.runtime}, kernel ${c.kernel}): the same verdict under the userspace relay and kernel netem in all ${n} runs`
    : `shaper comparison (${c.runtime}, kernel ${c.kernel}): DIFFERENT VERDICTS in ${c.different_verdicts} of ${n} runs between the userspace relay and kernel netem`;
}

/**
 * A run the scenario meant to impair that ran on the clean path instead: TCP under the userspace relay (it
 * carries UDP only; kernel netem shapes TCP). Its goodput compares nothing, so charts leave it out and say so.
 */
export function unshaped(r: RunRecord): boolean {
  return r.shaping_readback.startsWith('NOT SHAPED') && (r.netem_down !== '' || r.netem_up !== '');
}

/** One sentence naming the protocols whose runs were not shaped ('' when every run was). */
export function unshapedNote(res: LabResults): string {
  const protos = [...new Set(res.runs.filter(unshaped).map((r) => r.protocol))];
  if (!protos.length) return '';
  return `${protos.join(', ')} not drawn and not compared: the ${res.environment.shaper} shaper does not shape ${protos.join(', ')} (the userspace relay carries UDP only), so those runs went over the clean path and their goodput (in the runs table) says nothing about this network; kernel netem shapes TCP (the docker runtime on a kernel with sch_netem, --runtime netns, or npm run lab:vm).`;
}

/** Did every client write the original file? */
export function shaMatches(r: RunRecord): boolean {
  return r.sha256_actual.split(' ').every((x) => x === r.sha256_expected);
}

/** What a run's notes say of the byte cross-check ('' when nothing is worth saying; its failure is in `failures`). */
export function crossedNote(c: CrossedRecord | undefined): string {
  if (!c) return '';
  if (c.ok === null && c.judged) return `byte cross-check skipped: ${c.skipped}`;
  if (c.ok === false && !c.judged)
    return `only ${c.down_bytes} bytes crossed the shaper server→client, fewer than the ${c.needed_bytes} the byte cross-check expects (${c.where}; an observation for udplab's own protocol)`;
  return '';
}

/** The notes of a run, for people: failures, the lesson it showed, the first error, the capture. */
export function runNotes(r: RunRecord): string {
  return [
    ...r.failures,
    ...(r.observed ?? []).map((o) => (r.expected_failure ? `expected to go wrong, and did: ${o}` : o)),
    r.error && !r.expected_failure ? `${r.error.code}: ${r.error.message}` : '',
    crossedNote(r.crossed),
    r.clients ? `${r.clients} clients at once` : '',
    r.capture ? `capture: ${r.capture}` : '',
    r.flows ? flowsLine(r.flows) : '',
    r.faults?.length
      ? `faults: ${r.faults.map((f) => `${f.kill} killed at ${f.killed_at_pct}%${f.restarted ? ', restarted' : ''}`).join(', ')}`
      : '',
  ]
    .filter(Boolean)
    .join('; ');
}

/** Kernel netem's counters of a run, for people ('' when the run has none): "up (client eth0): 1031 sent, 52 dropped (4.8%); …". */
export function netemCounters(r: RunRecord): string {
  const c = r.shaper_counters as Record<string, unknown> | null;
  if (!c || typeof c !== 'object') return '';
  const dirs = (['up', 'down'] as const).flatMap((d) => {
    const x = c[d] as { where?: string; sent_packets?: number; dropped?: number; loss_pct?: number } | undefined;
    return x && typeof x.sent_packets === 'number'
      ? [`${d} (${x.where}): ${x.sent_packets} sent, ${x.dropped} dropped (${x.loss_pct}%)`]
      : [];
  });
  return dirs.join('; ');
}
