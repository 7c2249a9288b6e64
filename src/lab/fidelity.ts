// Shaper fidelity, measured: a probe stream (numbered UDP datagrams at a modest fixed rate) through an impairment
// and back from a reflector, counted per direction from sequence numbers (never inferred): loss, duplicates,
// reordering (a first arrival below the highest sequence already seen), one-way delay (sender and reflector
// share one monotonic clock), round-trip time per probe, and the achieved rate. `measureRelay` runs the
// userspace relay on loopback in this process; the statistics are shaper-agnostic, so kernel netem runs feed
// the same `directionStats`.
import { createSocket, type Socket } from 'node:dgram';
import { type Netem, parseNetem, printNetem } from '../impair/index.js';
import { startRelay } from '../transport/index.js';

export interface Arrival {
  /** The direction's own sequence number (probe seq up, echo seq down). */
  seq: number;
  /** When it was sent (ms, the shared monotonic clock). */
  sentAt: number;
  /** When it arrived (ms, same clock). */
  at: number;
  /** Payload bytes. */
  bytes: number;
}

export interface DirectionStats {
  sent: number;
  delivered: number;
  lost: number;
  lossPct: number;
  duplicates: number;
  duplicatePct: number;
  reordered: number;
  reorderPct: number;
  delayMedianMs: number | null;
  delayP99Ms: number | null;
  /** Wire rate of the delivered datagrams (payload + 28 bytes of IPv4/UDP headers) between first and last arrival. */
  rateBit: number | null;
}

/** Nearest-rank percentile of sorted values (p in 0..100); null when empty. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

/** Counts one direction: `sent` datagrams numbered 0..sent-1, and what arrived, in arrival order. */
export function directionStats(sent: number, arrivals: readonly Arrival[]): DirectionStats {
  const seen = new Set<number>();
  let highest = -1;
  let duplicates = 0;
  let reordered = 0;
  const delays: number[] = [];
  const firsts: Arrival[] = [];
  for (const a of arrivals) {
    if (a.seq < 0 || a.seq >= sent) continue; // not ours
    if (seen.has(a.seq)) {
      duplicates++;
      continue;
    }
    seen.add(a.seq);
    firsts.push(a);
    if (a.seq < highest) reordered++;
    else highest = a.seq;
    delays.push(a.at - a.sentAt);
  }
  delays.sort((x, y) => x - y);
  const delivered = seen.size;
  let rateBit: number | null = null;
  if (firsts.length >= 2) {
    const span = firsts[firsts.length - 1]!.at - firsts[0]!.at;
    // the first arrival opens the span: its bits are not counted
    const bits = firsts.slice(1).reduce((s, a) => s + (a.bytes + 28) * 8, 0);
    if (span > 0) rateBit = bits / (span / 1000);
  }
  const pct = (n: number, of: number) => (of > 0 ? (100 * n) / of : 0);
  return {
    sent,
    delivered,
    lost: sent - delivered,
    lossPct: pct(sent - delivered, sent),
    duplicates,
    duplicatePct: pct(duplicates, sent),
    reordered,
    reorderPct: pct(reordered, delivered),
    delayMedianMs: percentile(delays, 50),
    delayP99Ms: percentile(delays, 99),
    rateBit,
  };
}

export interface ProbeOptions {
  /** Probes sent (1..100000). */
  count: number;
  /** Probes per second (1..20000). */
  pps: number;
  /** Payload bytes per probe (40..1400). */
  bytes: number;
}

export interface ProbeResult {
  shaper: 'userspace' | 'netem';
  where: string;
  up: string;
  down: string;
  probe: ProbeOptions;
  upStats: DirectionStats;
  downStats: DirectionStats;
  rttMedianMs: number | null;
  rttP99Ms: number | null;
  /** Probes sent per second, as achieved by the sender. */
  sentPps: number;
}

export const DEFAULT_PROBE: ProbeOptions = { count: 2000, pps: 500, bytes: 200 };

const MAGIC = 0x55465031; // "UFP1"
const HEADER = 29; // magic u32, kind u8, seq u32, echoSeq u32, sentAt f64, reflAt f64

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

export function checkProbe(p: ProbeOptions): void {
  const bad = (what: string) => {
    throw new RangeError(`probe ${what}`);
  };
  if (!Number.isInteger(p.count) || p.count < 1 || p.count > 100_000) bad(`count ${p.count} (1..100000)`);
  if (!Number.isFinite(p.pps) || p.pps < 1 || p.pps > 20_000) bad(`rate ${p.pps}/s (1..20000)`);
  if (!Number.isInteger(p.bytes) || p.bytes < 40 || p.bytes > 1400) bad(`size ${p.bytes} bytes (40..1400)`);
}

function encode(bytes: number, kind: 0 | 1, seq: number, echoSeq: number, sentAt: number, reflAt: number): Buffer {
  const b = Buffer.alloc(bytes);
  b.writeUInt32BE(MAGIC, 0);
  b.writeUInt8(kind, 4);
  b.writeUInt32BE(seq, 5);
  b.writeUInt32BE(echoSeq, 9);
  b.writeDoubleBE(sentAt, 13);
  b.writeDoubleBE(reflAt, 21);
  return b;
}

function decode(b: Buffer): { kind: number; seq: number; echoSeq: number; sentAt: number; reflAt: number } | null {
  if (b.length < HEADER || b.readUInt32BE(0) !== MAGIC) return null;
  return {
    kind: b.readUInt8(4),
    seq: b.readUInt32BE(5),
    echoSeq: b.readUInt32BE(9),
    sentAt: b.readDoubleBE(13),
    reflAt: b.readDoubleBE(21),
  };
}

function bind(): Promise<Socket> {
  return new Promise((ok, fail) => {
    const s = createSocket('udp4');
    s.once('error', fail);
    s.bind(0, '127.0.0.1', () => {
      s.off('error', fail);
      s.on('error', () => {});
      ok(s);
    });
  });
}

const sleep = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));

/** The longest a datagram can stay in the impairment (delay + jitter, slot waits ignored), for the drain wait. */
function worstDelayMs(n: Netem): number {
  return (n.delay?.delayMs ?? 0) + 2 * (n.delay?.jitterMs ?? 0);
}

/**
 * The probe stream through the userspace relay, all on loopback in this process: sender → relay (up) →
 * reflector → relay (down) → sender. Bounded: `count` probes at `pps`, then a drain of twice the worst
 * delay plus the rate's queueing and one second.
 */
export async function measureRelay(
  upText: string,
  downText: string,
  probe = DEFAULT_PROBE,
  seed = 1,
): Promise<ProbeResult> {
  checkProbe(probe);
  const up = parseNetem(upText);
  const down = parseNetem(downText);
  const reflector = await bind();
  const sender = await bind();
  const relay = await startRelay({
    listenHost: '127.0.0.1',
    targetHost: '127.0.0.1',
    targetPort: reflector.address().port,
    up,
    down,
    seed,
  });
  const upArrivals: Arrival[] = [];
  const downArrivals: Arrival[] = [];
  const probeSentAt = new Float64Array(probe.count);
  const rttFirst = new Map<number, number>();
  let echoes = 0;
  reflector.on('message', (msg, from) => {
    const at = nowMs();
    const d = decode(msg);
    if (!d || d.kind !== 0) return;
    upArrivals.push({ seq: d.seq, sentAt: d.sentAt, at, bytes: msg.length });
    reflector.send(encode(msg.length, 1, d.seq, echoes++, d.sentAt, at), from.port, from.address);
  });
  sender.on('message', (msg) => {
    const at = nowMs();
    const d = decode(msg);
    if (!d || d.kind !== 1) return;
    downArrivals.push({ seq: d.echoSeq, sentAt: d.reflAt, at, bytes: msg.length });
    if (d.seq < probe.count && !rttFirst.has(d.seq)) rttFirst.set(d.seq, at - probeSentAt[d.seq]!);
  });
  try {
    const interval = 1000 / probe.pps;
    const start = nowMs();
    let seq = 0;
    // a pacing loop on a 2 ms tick: every probe due by now goes out, timestamped as it is sent
    while (seq < probe.count) {
      const due = Math.min(probe.count, Math.floor((nowMs() - start) / interval) + 1);
      for (; seq < due; seq++) {
        const t = nowMs();
        probeSentAt[seq] = t;
        sender.send(encode(probe.bytes, 0, seq, 0, t, 0), relay.port, '127.0.0.1');
      }
      if (seq < probe.count) await sleep(2);
    }
    const sendSpan = nowMs() - start;
    const wireBitsPerProbe = (probe.bytes + 28) * 8;
    const queueMs = (r?: { rateBit: number }) =>
      r ? ((probe.count * wireBitsPerProbe) / r.rateBit) * 1000 - sendSpan : 0;
    const drain =
      2 * (worstDelayMs(up) + worstDelayMs(down)) + Math.max(0, queueMs(up.rate)) + Math.max(0, queueMs(down.rate));
    await sleep(Math.min(120_000, drain + 1000));
    const rtts = [...rttFirst.values()].sort((x, y) => x - y);
    return {
      shaper: 'userspace',
      where: `host relay on loopback (${process.platform} ${process.arch}, Node ${process.version})`,
      up: printNetem(up),
      down: printNetem(down),
      probe,
      upStats: directionStats(probe.count, upArrivals),
      downStats: directionStats(echoes, downArrivals),
      rttMedianMs: percentile(rtts, 50),
      rttP99Ms: percentile(rtts, 99),
      sentPps: probe.count / (sendSpan / 1000),
    };
  } finally {
    await relay.close();
    reflector.close();
    sender.close();
  }
}

const f = (x: number | null, digits = 2) => (x === null ? '–' : x.toFixed(digits));

/** A markdown table: one row per direction and shaper, with what was configured. */
export function fidelityTable(results: readonly ProbeResult[]): string {
  const rows = [
    '| shaper | where | dir | netem | sent | loss % | dup % | reorder % | delay p50 ms | delay p99 ms | rate kbit/s |',
    '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results)
    for (const [dir, s, n] of [
      ['up', r.upStats, r.up],
      ['down', r.downStats, r.down],
    ] as const)
      rows.push(
        `| ${r.shaper} | ${r.where} | ${dir} | \`${n || '(none)'}\` | ${s.sent} | ${f(s.lossPct)} | ${f(s.duplicatePct)} | ${f(s.reorderPct)} | ${f(s.delayMedianMs)} | ${f(s.delayP99Ms)} | ${s.rateBit === null ? '–' : (s.rateBit / 1000).toFixed(0)} |`,
      );
  return rows.join('\n');
}

export interface TargetCheck {
  what: string;
  configured: number;
  measured: number;
  tolerance: number;
  ok: boolean;
}

/** The targets against what was configured: loss within ±1 pp, median one-way delay within ±1 ms. */
export function checkTargets(r: ProbeResult): TargetCheck[] {
  const out: TargetCheck[] = [];
  for (const [dir, text, s] of [
    ['up', r.up, r.upStats],
    ['down', r.down, r.downStats],
  ] as const) {
    const n = parseNetem(text);
    const lossPct = n.loss?.kind === 'random' ? n.loss.pct : n.loss ? undefined : 0;
    if (lossPct !== undefined) {
      out.push({
        what: `${dir} loss %`,
        configured: lossPct,
        measured: s.lossPct,
        tolerance: 1,
        ok: Math.abs(s.lossPct - lossPct) <= 1,
      });
    }
    if (s.delayMedianMs !== null && !n.rate && !n.slot) {
      const d = n.delay?.delayMs ?? 0;
      out.push({
        what: `${dir} delay p50 ms`,
        configured: d,
        measured: s.delayMedianMs,
        tolerance: 1,
        ok: Math.abs(s.delayMedianMs - d) <= 1,
      });
    }
  }
  return out;
}
