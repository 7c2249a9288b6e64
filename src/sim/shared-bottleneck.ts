// N flows through one shared bottleneck, in virtual time: RUFT connections (the real sans-I/O Connection, a
// GET per flow, plaintext — the cipher does not change what goes on the wire's timing) and reference TCP-model
// flows (tcp-model.ts). Every data packet, from every flow, goes through one DropTailQueue (rate, drop-tail at
// queueBdp × rate × RTT), then the forward impairment (netem semantics: half the base RTT of delay and the
// random loss); ACKs and everything else the receivers send go back through the reverse impairment (the other
// half of the RTT, no loss, no rate limit). Every random choice comes from one seed: the same options give the
// same run, byte for byte.
// Measured: per-flow goodput (bytes the receiver took, in bins), Jain's index over the window after convergence,
// the time after the last start until the flows' shares stay fair, and the queueing delay packets met.
import { createRng, Impairment, type Netem } from '../impair/index.js';
import { type Compression, Connection, type DataSink, type DataSource, type Initial, Op } from '../protocol/index.js';
import { DropTailQueue, type DropTailStats } from './droptail.js';
import { EventQueue } from './event-queue.js';
import {
  TCP_MODEL_MSS,
  TCP_MODEL_WIRE_BYTES,
  TcpModelReceiver,
  TcpModelSender,
  type TcpModelStats,
} from './tcp-model.js';

/** `bg`: a RUFT GET with `background` (the LEDBAT controller, src/protocol/ledbat.ts). */
export type FlowKind = 'ruft' | 'bg' | 'tcp';

export interface FlowSpec {
  kind: FlowKind;
  /** When the flow starts (ms of virtual time). */
  startMs: number;
}

export interface BottleneckOptions {
  seed: number;
  /** Bottleneck rate in bit/s. */
  rateBit: number;
  /** Queue limit in bandwidth-delay products (rate × base RTT). */
  queueBdp: number;
  /** Base (propagation) RTT in ms, split evenly between the two directions. */
  rttMs: number;
  /** Random loss on the data direction, in percent (after the queue, netem `loss random`). */
  lossPct?: number;
  flows: FlowSpec[];
  durationMs: number;
  /** Goodput bin width (default 100 ms). */
  binMs?: number;
  /** Jain's index and the queue delay are measured from this long after the last start (default min(5 s, half of what is left)). */
  settleMs?: number;
  /** A hang guard: the run stops with `steps` reported when exceeded. */
  maxSteps?: number;
}

export interface FlowResult {
  kind: FlowKind;
  startMs: number;
  /** Bytes the receiver took over the whole run. */
  deliveredBytes: number;
  /** Goodput over the measurement window, bit/s. */
  goodputBit: number;
  /** Goodput per bin, bit/s (bins from time 0). */
  binsBit: number[];
  /** Data packets this flow offered to the bottleneck, and how many the queue dropped. */
  offeredPackets: number;
  queueDrops: number;
  /** Packets the random loss took. */
  randomDrops: number;
  /** RUFT: the controller as seen at the end of the measurement window (read-only). */
  ruft?: {
    packetsSent: number;
    packetsRetransmitted: number;
    congestionEvents: number;
    /** The controller's random-loss estimate p, averaged over the window's bins. */
    randomLossMean: number;
    /** Mean pacing rate over the window's bins, bit/s. */
    pacingBitMean: number;
    /** Mean of the bottleneck-rate estimate over the window's bins, bit/s. */
    btlBwBitMean: number;
    /** The random-loss estimate at the end of each second of the run (null before the flow sent data). */
    randomLossPerSecond: Array<number | null>;
  };
  tcp?: TcpModelStats & { cwndMean: number };
}

export interface BottleneckResult {
  seed: number;
  rateBit: number;
  queueBdp: number;
  queueLimitBytes: number;
  rttMs: number;
  lossPct: number;
  durationMs: number;
  binMs: number;
  /** The measurement window [fromMs, toMs). */
  window: { fromMs: number; toMs: number };
  flows: FlowResult[];
  /** Jain's fairness index of the flows' goodput over the window (1 = equal shares). */
  jain: number;
  /** Total goodput over the window ÷ the bottleneck rate. */
  utilization: number;
  /**
   * ms after the last flow's start until every later 1 s window has Jain ≥ 0.9 across the flows (null: never
   * within the run).
   */
  convergenceMs: number | null;
  /** Time packets waited in the queue before their serialisation, over the window: p50, p99, max (ms). */
  queueDelayMs: { p50: number; p99: number; max: number; samples: number };
  queue: DropTailStats & { queuedPackets: number; queuedBytes: number };
  steps: number;
  /** True when maxSteps ended the run before durationMs (the figures then cover less than the run). */
  stepLimitHit: boolean;
}

const CONVERGENCE_WINDOW_MS = 1000;
const CONVERGENCE_JAIN = 0.9;

type Ev =
  | { k: 'start'; f: number }
  | { k: 'ruft'; f: number; to: 'client' | 'server'; bytes: Uint8Array }
  | { k: 'seg'; f: number; seq: number }
  | { k: 'ack'; f: number; ack: number }
  | { k: 'timer'; f: number; who: 'client' | 'server' | 'tcp' };

/** Zeros of any length, never materialised beyond the largest read (a RUFT source the size of the run). */
class ZeroSource implements DataSource {
  private buf = new Uint8Array(65536);
  constructor(readonly sizeBytes: number) {}
  read(offset: number, length: number): Uint8Array {
    const n = Math.max(0, Math.min(length, this.sizeBytes - offset));
    if (n > this.buf.length) this.buf = new Uint8Array(n);
    return this.buf.subarray(0, n);
  }
}

export function jainIndex(xs: readonly number[]): number {
  if (xs.length === 0) return 1;
  let s = 0;
  let s2 = 0;
  for (const x of xs) {
    s += x;
    s2 += x * x;
  }
  return s2 === 0 ? 1 : (s * s) / (xs.length * s2);
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface RuftFlow {
  kind: 'ruft';
  client?: Connection;
  server?: Connection;
  armed: { client: number; server: number };
}
interface TcpFlow {
  kind: 'tcp';
  sender: TcpModelSender;
  receiver: TcpModelReceiver;
  armed: number;
}

export function simulateBottleneck(o: BottleneckOptions): BottleneckResult {
  const binMs = o.binMs ?? 100;
  const lossPct = o.lossPct ?? 0;
  if (o.flows.length === 0) throw new Error('the bottleneck needs at least one flow');
  if (!(o.rttMs > 0)) throw new Error(`the base RTT must be positive, got ${o.rttMs} ms`);
  if (!(o.durationMs > 0)) throw new Error(`the duration must be positive, got ${o.durationMs} ms`);
  const root = createRng(o.seed);
  const bdpBytes = (o.rateBit / 8) * (o.rttMs / 1000);
  const queueLimitBytes = Math.max(Math.round(o.queueBdp * bdpBytes), 2 * TCP_MODEL_WIRE_BYTES);
  const queue = new DropTailQueue(o.rateBit, queueLimitBytes);
  const oneWay = o.rttMs / 2;
  // the delay lines hold every packet in flight: no netem limit here, the DropTailQueue is the bottleneck
  const fwdNetem: Netem = {
    delay: { delayMs: oneWay },
    ...(lossPct > 0 && { loss: { kind: 'random', pct: lossPct } }),
    limit: 1 << 30,
  };
  const fwd = new Impairment(fwdNetem, root.fork('forward'));
  const rev = new Impairment({ delay: { delayMs: oneWay }, limit: 1 << 30 }, root.fork('reverse'));
  const q = new EventQueue<Ev>();
  const nBins = Math.ceil(o.durationMs / binMs);
  const n = o.flows.length;
  const bins = o.flows.map(() => new Float64Array(nBins));
  const delivered = new Float64Array(n);
  const offered = new Float64Array(n);
  const queueDrops = new Float64Array(n);
  const randomDrops = new Float64Array(n);
  const ccP = o.flows.map(() => new Float64Array(nBins).fill(Number.NaN));
  const ccPacing = o.flows.map(() => new Float64Array(nBins).fill(Number.NaN));
  const ccBw = o.flows.map(() => new Float64Array(nBins).fill(Number.NaN));
  const cwndBins = o.flows.map(() => new Float64Array(nBins).fill(Number.NaN));
  const lastStart = Math.max(...o.flows.map((f) => f.startMs));
  const settle = o.settleMs ?? Math.min(5000, (o.durationMs - lastStart) / 2);
  const window = { fromMs: Math.min(lastStart + settle, o.durationMs), toMs: o.durationMs };
  const waits: number[] = [];
  let now = 0;
  let steps = 0;
  let stepLimitHit = false;
  const maxSteps = o.maxSteps ?? 50_000_000;
  const binOf = (t: number) => Math.min(nBins - 1, Math.floor(t / binMs));
  const sizeBytes = Math.ceil((o.rateBit / 8) * (o.durationMs / 1000) * 2) + (1 << 20);

  const flows: Array<RuftFlow | TcpFlow> = o.flows.map((spec) =>
    spec.kind !== 'tcp'
      ? { kind: 'ruft', armed: { client: Number.NaN, server: Number.NaN } }
      : { kind: 'tcp', sender: new TcpModelSender(), receiver: new TcpModelReceiver(), armed: Number.NaN },
  );
  const rngs = o.flows.map((_, i) => ({ client: root.fork(`flow${i}:client`), server: root.fork(`flow${i}:server`) }));
  for (let i = 0; i < n; i++) q.push(o.flows[i]!.startMs, { k: 'start', f: i });

  /** A data-direction packet: the shared queue, then the forward impairment. */
  const forward = (f: number, wireBytes: number, ev: Ev) => {
    offered[f]!++;
    const a = queue.offer(now, wireBytes);
    if (!a) {
      queueDrops[f]!++;
      return;
    }
    if (now >= window.fromMs) waits.push(a.waitMs);
    const ds = fwd.decide(a.departMs, wireBytes);
    if (ds.length === 0) randomDrops[f]!++;
    for (const d of ds) q.push(d.atMs, ev);
  };
  const backward = (wireBytes: number, ev: Ev) => {
    for (const d of rev.decide(now, wireBytes)) q.push(d.atMs, ev);
  };

  const countingSink = (f: number): DataSink => ({
    write(_offset: number, data: Uint8Array) {
      delivered[f]! += data.length;
      bins[f]![binOf(now)]! += data.length;
    },
  });

  const drainRuft = (f: number, who: 'client' | 'server') => {
    const fl = flows[f] as RuftFlow;
    const c = fl[who];
    if (!c) return;
    for (let d = c.pollTransmit(now); d; d = c.pollTransmit(now)) {
      const ev: Ev = { k: 'ruft', f, to: who === 'client' ? 'server' : 'client', bytes: d };
      if (who === 'server') forward(f, d.length + 28, ev);
      else backward(d.length + 28, ev);
    }
    for (let e = c.pollEvent(); e; e = c.pollEvent()) {
      if (e.type === 'request' && who === 'server') c.accept(now, { sizeBytes, source: new ZeroSource(sizeBytes) });
      else if (e.type === 'verify') c.verified(now, true);
    }
    const s = who === 'server' ? c.sender : undefined;
    if (s) {
      const b = binOf(now);
      ccP[f]![b] = s.cc.randomLoss;
      ccPacing[f]![b] = s.cc.pacingRateBps * 8;
      ccBw[f]![b] = s.cc.btlBwBps * 8;
    }
    const t = c.pollTimeout();
    if (t !== undefined) {
      const at = Math.max(t, now);
      if (fl.armed[who] !== at) {
        fl.armed[who] = at;
        q.push(at, { k: 'timer', f, who });
      }
    } else fl.armed[who] = Number.NaN;
  };

  const drainTcp = (f: number) => {
    const fl = flows[f] as TcpFlow;
    for (let s = fl.sender.pollTransmit(now); s !== undefined; s = fl.sender.pollTransmit(now))
      forward(f, TCP_MODEL_WIRE_BYTES, { k: 'seg', f, seq: s });
    cwndBins[f]![binOf(now)] = fl.sender.cwnd;
    const t = fl.sender.pollTimeout();
    if (t !== undefined) {
      const at = Math.max(t, now);
      if (fl.armed !== at) {
        fl.armed = at;
        q.push(at, { k: 'timer', f, who: 'tcp' });
      }
    } else fl.armed = Number.NaN;
  };

  while (true) {
    const ev = q.pop();
    if (!ev || ev.atMs >= o.durationMs) break;
    if (++steps > maxSteps) {
      stepLimitHit = true;
      break;
    }
    now = ev.atMs;
    const v = ev.value;
    const fl = flows[v.f]!;
    if (v.k === 'start') {
      if (fl.kind === 'ruft') {
        const request: Initial = {
          op: Op.Get,
          resume: false,
          force: false,
          compression: 0 as Compression,
          path: `flow${v.f}.bin`,
          sizeBytes: 0,
          ranges: [],
          ...(o.flows[v.f]!.kind === 'bg' && { background: true }),
        };
        fl.client = Connection.client({ rng: rngs[v.f]!.client }, now, request, { sink: countingSink(v.f) });
        drainRuft(v.f, 'client');
      } else drainTcp(v.f);
    } else if (v.k === 'timer') {
      if (fl.kind === 'tcp') {
        if (fl.armed !== ev.atMs) continue;
        fl.armed = Number.NaN;
        fl.sender.handleTimeout(now);
        drainTcp(v.f);
      } else {
        const who = v.who as 'client' | 'server';
        if (fl.armed[who] !== ev.atMs) continue;
        fl.armed[who] = Number.NaN;
        fl[who]?.handleTimeout(now);
        drainRuft(v.f, who);
      }
    } else if (v.k === 'ruft' && fl.kind === 'ruft') {
      if (v.to === 'server') {
        if (!fl.server) {
          const server = Connection.server({ rng: rngs[v.f]!.server }, now, v.bytes);
          if (server) fl.server = server;
        } else fl.server.handleDatagram(now, v.bytes);
        drainRuft(v.f, 'server');
      } else {
        fl.client?.handleDatagram(now, v.bytes);
        drainRuft(v.f, 'client');
      }
    } else if (v.k === 'seg' && fl.kind === 'tcp') {
      const r = fl.receiver.handleSegment(v.seq);
      if (r.newlyDelivered > 0) {
        const bytes = r.newlyDelivered * TCP_MODEL_MSS;
        delivered[v.f]! += bytes;
        bins[v.f]![binOf(now)]! += bytes;
      }
      backward(52, { k: 'ack', f: v.f, ack: r.ack });
    } else if (v.k === 'ack' && fl.kind === 'tcp') {
      fl.sender.handleAck(now, v.ack);
      drainTcp(v.f);
    }
  }
  queue.advance(o.durationMs);

  const fromBin = Math.ceil(window.fromMs / binMs);
  const toBin = nBins;
  const winS = ((toBin - fromBin) * binMs) / 1000;
  const meanOver = (a: Float64Array) => {
    let s = 0;
    let k = 0;
    for (let b = fromBin; b < toBin; b++) {
      if (!Number.isNaN(a[b]!)) {
        s += a[b]!;
        k++;
      }
    }
    return k > 0 ? s / k : 0;
  };
  const perSecond = Math.max(1, Math.round(1000 / binMs));
  const lastPerSecond = (a: Float64Array) => {
    const out: Array<number | null> = [];
    let last = Number.NaN;
    for (let b = 0; b < nBins; b++) {
      if (!Number.isNaN(a[b]!)) last = a[b]!;
      if ((b + 1) % perSecond === 0 || b === nBins - 1) out.push(Number.isNaN(last) ? null : Number(last.toFixed(3)));
    }
    return out;
  };
  const flowResults: FlowResult[] = o.flows.map((spec, f) => {
    let winBytes = 0;
    for (let b = fromBin; b < toBin; b++) winBytes += bins[f]![b]!;
    const fl = flows[f]!;
    const r: FlowResult = {
      kind: spec.kind,
      startMs: spec.startMs,
      deliveredBytes: delivered[f]!,
      goodputBit: winS > 0 ? (winBytes * 8) / winS : 0,
      binsBit: Array.from(bins[f]!, (x) => Math.round((x * 8 * 1000) / binMs)),
      offeredPackets: offered[f]!,
      queueDrops: queueDrops[f]!,
      randomDrops: randomDrops[f]!,
    };
    if (fl.kind === 'ruft') {
      const s = fl.server?.sender;
      r.ruft = {
        packetsSent: s?.stats.packetsSent ?? 0,
        packetsRetransmitted: s?.stats.packetsRetransmitted ?? 0,
        congestionEvents: s?.cc.congestionEvents ?? 0,
        randomLossMean: Number(meanOver(ccP[f]!).toFixed(4)),
        pacingBitMean: Math.round(meanOver(ccPacing[f]!)),
        btlBwBitMean: Math.round(meanOver(ccBw[f]!)),
        randomLossPerSecond: lastPerSecond(ccP[f]!),
      };
    } else r.tcp = { ...fl.sender.stats, cwndMean: Number(meanOver(cwndBins[f]!).toFixed(1)) };
    return r;
  });

  // convergence: from the last start, 1 s windows stepped by one bin; the earliest start after which all pass
  const perWin = Math.max(1, Math.round(CONVERGENCE_WINDOW_MS / binMs));
  const startBin = Math.ceil(lastStart / binMs);
  let convergenceMs: number | null = null;
  for (let b = nBins - perWin; b >= startBin; b--) {
    const shares = o.flows.map((_, f) => {
      let s = 0;
      for (let k = b; k < b + perWin; k++) s += bins[f]![k]!;
      return s;
    });
    if (jainIndex(shares) < CONVERGENCE_JAIN) break;
    convergenceMs = b * binMs - lastStart;
  }
  if (convergenceMs !== null) convergenceMs = Math.max(0, convergenceMs);

  const sorted = Float64Array.from(waits).sort();
  const total = flowResults.reduce((s, r) => s + r.goodputBit, 0);
  const round = (x: number) => Number(x.toFixed(3));
  return {
    seed: o.seed,
    rateBit: o.rateBit,
    queueBdp: o.queueBdp,
    queueLimitBytes,
    rttMs: o.rttMs,
    lossPct,
    durationMs: o.durationMs,
    binMs,
    window,
    flows: flowResults,
    jain: round(jainIndex(flowResults.map((r) => r.goodputBit))),
    utilization: round(total / o.rateBit),
    convergenceMs,
    queueDelayMs: {
      p50: round(percentile(sorted, 0.5)),
      p99: round(percentile(sorted, 0.99)),
      max: round(sorted.length ? sorted[sorted.length - 1]! : 0),
      samples: sorted.length,
    },
    queue: { ...queue.stats, queuedPackets: queue.queuedPackets, queuedBytes: queue.queuedBytes },
    steps,
    stepLimitHit,
  };
}
