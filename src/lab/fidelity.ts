// Shaper fidelity, measured: a probe stream (numbered UDP datagrams at a modest fixed rate) through an impairment
// and back from a reflector, counted per direction from sequence numbers (never inferred): loss, duplicates,
// reordering (a first arrival below the highest sequence already seen), one-way delay (sender and reflector
// share one monotonic clock), round-trip time per probe, and the achieved rate. `measureRelay` runs the
// userspace relay on loopback in this process; the statistics are shaper-agnostic, so kernel netem runs feed
// the same `directionStats`.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { release } from 'node:os';
import { promisify } from 'node:util';
import { ipUdpHeaderBytes, type Netem, parseNetem, printNetem, udpFrameBytes } from '../impair/index.js';
import {
  type LabResults,
  type RunRecord,
  type ShaperComparison,
  type ShaperComparisonRow,
  type ShaperDirection,
  type ShaperSide,
  unshaped,
} from '../report/index.js';
import { startRelay } from '../transport/index.js';
import { ProcessHost } from './runtimes/host.js';
import type { NetemCounters } from './shapers/counters.js';
import { netemShaper } from './shapers/netem.js';
import { planShaping } from './shapers/plan.js';

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
  /** Wire rate of the delivered datagrams (payload + IPv4/UDP headers, src/impair/wire.ts) between first and last arrival. */
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
    const bits = firsts.slice(1).reduce((s, a) => s + (a.bytes + ipUdpHeaderBytes(4)) * 8, 0);
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

function encode(
  bytes: number,
  kind: 0 | 1 | 2 | 3,
  seq: number,
  echoSeq: number,
  sentAt: number,
  reflAt: number,
): Buffer {
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

function bind(host = '127.0.0.1'): Promise<Socket> {
  return new Promise((ok, fail) => {
    const s = createSocket('udp4');
    s.once('error', fail);
    s.bind(0, host, () => {
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

/** How long to wait after the last probe: twice the worst delay each way, the rate's queueing, and one second. */
export function drainMs(up: Netem, down: Netem, probe: ProbeOptions): number {
  const sendSpan = (probe.count / probe.pps) * 1000;
  const bits = probe.count * udpFrameBytes(probe.bytes, 4) * 8;
  const queueMs = (r?: { rateBit: number }) => (r ? Math.max(0, (bits / r.rateBit) * 1000 - sendSpan) : 0);
  return Math.min(120_000, 2 * (worstDelayMs(up) + worstDelayMs(down)) + queueMs(up.rate) + queueMs(down.rate) + 1000);
}

export interface Reflector {
  port: number;
  /** Probes as they arrived (the up direction). */
  arrivals: Arrival[];
  /** Echoes sent, numbered 0..echoes-1 (the down direction's `sent`). */
  echoes(): number;
  close(): void;
}

/** Echoes every probe copy it receives, numbered in its own sequence and stamped with its receive time. */
export async function startReflector(host = '127.0.0.1'): Promise<Reflector> {
  const socket = await bind(host);
  const arrivals: Arrival[] = [];
  let echoes = 0;
  socket.on('message', (msg, from) => {
    const at = nowMs();
    const d = decode(msg);
    if (!d) return;
    // a warm-up probe (kind 2) is echoed (kind 3) and not counted: it resolves ARP and wakes the path first
    if (d.kind === 2) socket.send(encode(msg.length, 3, d.seq, 0, d.sentAt, at), from.port, from.address);
    if (d.kind !== 0) return;
    arrivals.push({ seq: d.seq, sentAt: d.sentAt, at, bytes: msg.length });
    socket.send(encode(msg.length, 1, d.seq, echoes++, d.sentAt, at), from.port, from.address);
  });
  return { port: socket.address().port, arrivals, echoes: () => echoes, close: () => socket.close() };
}

export interface SenderRecord {
  /** Echoes as they arrived (the down direction), numbered by the reflector. */
  arrivals: Arrival[];
  /** Round-trip time of each probe's first echo. */
  rtts: number[];
  sentPps: number;
}

/** Sends `count` probes at `pps` to host:port from `bindHost`, then waits `drain` ms for the echoes. Bounded. */
export async function sendProbes(
  host: string,
  port: number,
  probe: ProbeOptions,
  drain: number,
  bindHost = '127.0.0.1',
): Promise<SenderRecord> {
  checkProbe(probe);
  const sender = await bind(bindHost);
  const arrivals: Arrival[] = [];
  const probeSentAt = new Float64Array(probe.count);
  const rttFirst = new Map<number, number>();
  let warm = false;
  sender.on('message', (msg) => {
    const at = nowMs();
    const d = decode(msg);
    if (d?.kind === 3) warm = true;
    if (d?.kind !== 1) return;
    arrivals.push({ seq: d.echoSeq, sentAt: d.reflAt, at, bytes: msg.length });
    if (d.seq < probe.count && !rttFirst.has(d.seq)) rttFirst.set(d.seq, at - probeSentAt[d.seq]!);
  });
  try {
    // warm-up: uncounted probes every 50 ms until one comes back (ARP, a relay's upstream socket, a cold JIT),
    // for at most 10 s; then a quiet 200 ms plus the path's delay so no warm-up probe is still in flight
    const warmStart = nowMs();
    for (let i = 0; !warm && i < 200; i++) {
      sender.send(encode(probe.bytes, 2, i, 0, nowMs(), 0), port, host);
      await sleep(50);
    }
    await sleep(200 + Math.min(10_000, nowMs() - warmStart));
    const interval = 1000 / probe.pps;
    const start = nowMs();
    let seq = 0;
    // a pacing loop on a 2 ms tick: every probe due by now goes out, timestamped as it is sent
    while (seq < probe.count) {
      const due = Math.min(probe.count, Math.floor((nowMs() - start) / interval) + 1);
      for (; seq < due; seq++) {
        const t = nowMs();
        probeSentAt[seq] = t;
        sender.send(encode(probe.bytes, 0, seq, 0, t, 0), port, host);
      }
      if (seq < probe.count) await sleep(2);
    }
    const sendSpan = nowMs() - start;
    await sleep(Math.min(120_000, drain));
    return { arrivals, rtts: [...rttFirst.values()], sentPps: probe.count / (sendSpan / 1000) };
  } finally {
    sender.close();
  }
}

/** The result from both ends' records (counted, never inferred). */
export function probeResult(
  shaper: ProbeResult['shaper'],
  where: string,
  up: Netem,
  down: Netem,
  probe: ProbeOptions,
  upArrivals: readonly Arrival[],
  echoes: number,
  s: SenderRecord,
): ProbeResult {
  const rtts = [...s.rtts].sort((x, y) => x - y);
  return {
    shaper,
    where,
    up: printNetem(up),
    down: printNetem(down),
    probe,
    upStats: directionStats(probe.count, upArrivals),
    downStats: directionStats(echoes, s.arrivals),
    rttMedianMs: percentile(rtts, 50),
    rttP99Ms: percentile(rtts, 99),
    sentPps: s.sentPps,
  };
}

const host = () => `${process.platform} ${process.arch}, kernel ${release()}, Node ${process.version}`;

/**
 * The probe stream through the userspace relay, all on loopback in this process: sender → relay (up) →
 * reflector → relay (down) → sender. The netem goes through the lab's shaping plan, as for the kernel.
 */
export async function measureRelay(
  upText: string,
  downText: string,
  probe = DEFAULT_PROBE,
  seed = 1,
): Promise<ProbeResult> {
  checkProbe(probe);
  const up = planShaping('up', parseNetem(upText)).netem;
  const down = planShaping('down', parseNetem(downText)).netem;
  const reflector = await startReflector();
  try {
    const relay = await startRelay({ targetHost: '127.0.0.1', targetPort: reflector.port, up, down, seed });
    try {
      const s = await sendProbes('127.0.0.1', relay.port, probe, drainMs(up, down, probe));
      const where = `userspace relay on loopback (${host()})`;
      return probeResult('userspace', where, up, down, probe, reflector.arrivals, reflector.echoes(), s);
    } finally {
      await relay.close();
    }
  } finally {
    reflector.close();
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

/** The issue's targets against what was configured: loss within ±1 pp, median one-way delay within ±1 ms. */
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

const execP = promisify(execFile);

async function run(cmd: string, args: string[]): Promise<string> {
  return (await execP(cmd, args, { timeout: 15_000 })).stdout;
}

/** Reads one JSON line from a child's stdout (bounded by `ms`), or fails with what it printed. */
function jsonLine(child: ChildProcess, ms: number): Promise<unknown> {
  return new Promise((ok, fail) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`probe endpoint: no answer in ${ms} ms: ${err.trim()}`)), ms);
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        try {
          ok(JSON.parse(out.slice(0, nl)));
        } catch (e) {
          fail(e);
        }
        out = out.slice(nl + 1);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`probe endpoint exited (${code}): ${err.trim()}`));
    });
  });
}

/**
 * The same probe stream through kernel netem: two network namespaces joined by a veth pair (10.78.<k>.1 sender ⟷
 * 10.78.<k>.2 reflector), netem on the sender's end (up) and the reflector's end (down) through the Shaper seam
 * (`netemShaper.apply` over a ProcessHost behind `ip netns exec NS`; its read-back of the up end is in `where`), the
 * endpoints started with `ip netns exec` as `udplab fidelity-endpoint` (`cli`: how to run udplab). Root, Linux
 * with sch_netem. The namespaces (udplab-<pid>-{c,s}, which the lab's sweep also recognises) are deleted and the
 * endpoints ended even on failure. Send and receive times come from CLOCK_MONOTONIC, shared by both namespaces.
 */
export async function measureKernelNetem(
  upText: string,
  downText: string,
  cli: string[],
  probe = DEFAULT_PROBE,
): Promise<ProbeResult> {
  checkProbe(probe);
  const up = planShaping('up', parseNetem(upText)).netem;
  const down = planShaping('down', parseNetem(downText)).netem;
  const k = process.pid % 250;
  const cns = `udplab-${process.pid}-c`;
  const sns = `udplab-${process.pid}-s`;
  const cdev = `ulf${k}c`;
  const sdev = `ulf${k}s`;
  const [caddr, saddr] = [`10.78.${k}.1`, `10.78.${k}.2`];
  const children: ChildProcess[] = [];
  let readback = '';
  try {
    await run('ip', ['netns', 'add', cns]);
    await run('ip', ['netns', 'add', sns]);
    await run('ip', ['link', 'add', cdev, 'netns', cns, 'type', 'veth', 'peer', 'name', sdev, 'netns', sns]);
    for (const [ns, dev, addr, n, dir] of [
      [cns, cdev, caddr, up, 'up'],
      [sns, sdev, saddr, down, 'down'],
    ] as const) {
      await run('ip', ['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev]);
      await run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      // the Shaper seam: `tc` in the namespace (`ip netns exec NS`), a refusal is one E_SHAPER line in tc's words
      const host = new ProcessHost(`netns ${ns}`, addr, ['ip', 'netns', 'exec', ns]);
      const show = await netemShaper.apply(host, dev, dir, n);
      if (dir === 'up') readback = show;
    }
    const spawnIn = (ns: string, args: string[]) => {
      const c = spawn('ip', ['netns', 'exec', ns, ...cli, 'fidelity-endpoint', ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      children.push(c);
      return c;
    };
    const refl = spawnIn(sns, ['reflect', saddr]);
    const reflOut = jsonLine(refl, 300_000);
    const ready = (await reflOut) as { port: number };
    const reflDone = jsonLine(refl, 600_000);
    const drain = drainMs(up, down, probe);
    const send = spawnIn(cns, [
      'send',
      `${saddr}:${ready.port}`,
      caddr,
      String(probe.count),
      String(probe.pps),
      String(probe.bytes),
      String(Math.round(drain)),
    ]);
    const s = (await jsonLine(send, 300_000 + (probe.count / probe.pps) * 1000 + drain)) as SenderRecord;
    refl.stdin?.end(); // the reflector prints what it received and exits
    const r = (await reflDone) as { arrivals: Arrival[]; echoes: number };
    const where = `kernel netem on a veth pair between namespaces (${host()}; up qdisc: ${readback.trim()})`;
    return probeResult('netem', where, up, down, probe, r.arrivals, r.echoes, s);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await run('ip', ['netns', 'del', cns]).catch(() => undefined);
    await run('ip', ['netns', 'del', sns]).catch(() => undefined);
  }
}

/** `udplab fidelity-endpoint reflect HOST` | `send HOST:PORT BIND COUNT PPS BYTES DRAIN`: one JSON line each. */
export async function runEndpoint(args: string[]): Promise<void> {
  if (args[0] === 'reflect') {
    const r = await startReflector(args[1]);
    process.stdout.write(`${JSON.stringify({ port: r.port })}\n`);
    await new Promise<void>((ok) => {
      process.stdin.on('end', ok);
      process.stdin.on('close', ok);
      process.stdin.resume();
    });
    r.close();
    process.stdout.write(`${JSON.stringify({ arrivals: r.arrivals, echoes: r.echoes() })}\n`);
    return;
  }
  if (args[0] === 'send') {
    const [hostPort, bindHost, count, pps, bytes, drain] = args.slice(1);
    const [h, p] = hostPort!.split(':');
    const probe = { count: Number(count), pps: Number(pps), bytes: Number(bytes) };
    const s = await sendProbes(h!, Number(p), probe, Number(drain), bindHost);
    process.stdout.write(`${JSON.stringify(s)}\n`);
    return;
  }
  throw new RangeError(`fidelity-endpoint: reflect HOST | send HOST:PORT BIND COUNT PPS BYTES DRAIN`);
}

// ---- lab runs under both shapers (`udplab lab --compare-shapers`): the shapers' own counters, side by side ----

interface RelayCounters {
  upStats?: {
    packets: number;
    lost: number;
    tailDropped: number;
    blackedOut: number;
    duplicated: number;
    reordered: number;
  };
  downStats?: RelayCounters['upStats'];
}

const pctOf = (n: number, of: number) => (of > 0 ? Math.round((10000 * n) / of) / 100 : 0);
const NONE: ShaperDirection = {
  packets_in: null,
  packets_out: null,
  dropped: null,
  loss_pct: null,
  duplicated: null,
  reordered: null,
};

/**
 * One direction as the shaper counted it. The relay's report (`upStats`/`downStats` of the Impairment): in =
 * datagrams (or IP fragments) met, out = in + duplicated − lost − tail-dropped − blacked out. Kernel netem's (`{ up,
 * down }` from `tc -s qdisc`): out = `Sent … pkt`, dropped = `dropped`, in = both (a duplicate netem makes is
 * enqueued again, so it is in both); netem does not count duplicates or reordering.
 */
export function shaperDirection(counters: unknown, dir: 'up' | 'down'): ShaperDirection {
  if (!counters || typeof counters !== 'object') return NONE;
  const relay = (counters as RelayCounters)[dir === 'up' ? 'upStats' : 'downStats'];
  if (relay && typeof relay.packets === 'number') {
    const dropped = relay.lost + relay.tailDropped + relay.blackedOut;
    const handled = relay.packets + relay.duplicated;
    return {
      packets_in: relay.packets,
      packets_out: handled - dropped,
      dropped,
      loss_pct: pctOf(dropped, handled),
      duplicated: relay.duplicated,
      reordered: relay.reordered,
    };
  }
  const k = (counters as Record<string, NetemCounters | undefined>)[dir];
  if (k && typeof k.sent_packets === 'number')
    return {
      packets_in: k.sent_packets + k.dropped,
      packets_out: k.sent_packets,
      dropped: k.dropped,
      loss_pct: k.loss_pct,
      duplicated: null,
      reordered: null,
    };
  return NONE;
}

function side(r: RunRecord): ShaperSide {
  return {
    verdict: r.verdict,
    failures: r.failures,
    goodput_bps: r.goodput_bps,
    retransmit_pct: r.retransmit_pct,
    duration_ms: r.duration_ms,
    rtt_ms_avg: r.rtt_ms_avg,
    rtt_ms_p99: r.rtt_ms_p99,
    not_shaped: unshaped(r),
    up: shaperDirection(r.shaper_counters, 'up'),
    down: shaperDirection(r.shaper_counters, 'down'),
  };
}

const lossText = (d: ShaperDirection) => (d.loss_pct === null ? 'not counted' : `${f(d.loss_pct)}%`);

/** Why two verdicts differ, for people: who failed on what, and what each shaper counted. */
export function verdictDifference(u: ShaperSide, n: ShaperSide): string {
  const who = (name: string, s: ShaperSide) =>
    `${name} ${s.verdict}${s.failures.length ? ` (${s.failures.join('; ')})` : ''}`;
  const loss = (['up', 'down'] as const)
    .map((d) => `${d} ${lossText(u[d])} (relay) vs ${lossText(n[d])} (netem)`)
    .join(', ');
  const why = u.not_shaped
    ? 'the relay carries UDP only, so under it this run went over the clean path while netem shaped it'
    : `counted loss ${loss}; goodput ${(u.goodput_bps / 1e6).toFixed(2)} vs ${(n.goodput_bps / 1e6).toFixed(2)} Mbit/s, retransmitted ${u.retransmit_pct.toFixed(1)}% vs ${n.retransmit_pct.toFixed(1)}%`;
  return `${who('userspace relay', u)}, ${who('kernel netem', n)}: ${why}`;
}

/** The runs of one scenario under the relay and under kernel netem (same plan, same kernel), matched by run id. */
export function compareShaperRuns(userspace: LabResults, netem: LabResults): ShaperComparison {
  const ids = [...new Set([...netem.runs.map((r) => r.id), ...userspace.runs.map((r) => r.id)])];
  const rows: ShaperComparisonRow[] = ids.map((id) => {
    const u = userspace.runs.find((r) => r.id === id);
    const n = netem.runs.find((r) => r.id === id);
    const us = u ? side(u) : null;
    const ns = n ? side(n) : null;
    const same = us !== null && ns !== null && us.verdict === ns.verdict;
    return {
      id,
      protocol: (u ?? n)!.protocol,
      userspace: us,
      netem: ns,
      same_verdict: same,
      ...(!same && {
        difference: us && ns ? verdictDifference(us, ns) : `only the ${us ? 'userspace relay' : 'kernel netem'} ran it`,
      }),
    };
  });
  const different = rows.filter((r) => !r.same_verdict).length;
  return {
    runtime: netem.environment.runtime,
    kernel: netem.environment.kernel,
    rows,
    same_verdicts: rows.length - different,
    different_verdicts: different,
    userspace: { notices: userspace.environment.notices, summary: userspace.summary, runs: userspace.runs },
  };
}
