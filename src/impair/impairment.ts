// The per-packet decision function: netem's semantics applied to one packet at a time.
// Order as in the kernel's netem_enqueue: duplicate? → loss? → corrupt? → queue limit → delay/reorder/rate/slot.
// A duplicate copy goes through loss, corruption and delay again (the kernel re-enqueues it with
// duplication off). Reordering needs a delay: with `reorder P`, a packet goes out at once with
// probability P (gap 1), the others wait their delay, so without a delay nothing is reordered.
// Jitter without rate reorders packets (netem's tfifo sorts by send time), as netem does.
// Lab-only additions: blackout windows (everything entering is dropped) and per-direction models.
import type { Distribution, Netem } from './netem.js';
import type { Rng } from './prng.js';

export interface Delivery {
  /** When the packet leaves the link (ms, same clock as the input). */
  atMs: number;
  /** Flip this bit of the packet when set. */
  corrupt?: { byteIndex: number; bitIndex: number };
  /** True for the extra copy made by `duplicate`. */
  duplicate: boolean;
}

export interface Blackout {
  startMs: number;
  durationMs: number;
}

export interface ImpairmentOptions {
  blackouts?: readonly Blackout[];
}

export type DropReason = 'loss' | 'limit' | 'blackout';

export interface ImpairmentStats {
  packets: number;
  lost: number;
  tailDropped: number;
  blackedOut: number;
  duplicated: number;
  corrupted: number;
  reordered: number;
}

/** netem's correlated random: next = (1-ρ)·fresh + ρ·last. */
class CorrelatedRandom {
  private last = 0;
  constructor(
    private readonly rng: Rng,
    private readonly rho: number,
  ) {}
  next(): number {
    const fresh = this.rng.next();
    if (this.rho === 0) return fresh;
    this.last = fresh * (1 - this.rho) + this.last * this.rho;
    return this.last;
  }
}

const GOOD = 0;
const BAD = 1;

export class Impairment {
  readonly stats: ImpairmentStats = {
    packets: 0,
    lost: 0,
    tailDropped: 0,
    blackedOut: 0,
    duplicated: 0,
    corrupted: 0,
    reordered: 0,
  };
  private readonly lossRand: CorrelatedRandom;
  private readonly dupRand: CorrelatedRandom;
  private readonly corruptRand: CorrelatedRandom;
  private readonly reorderRand: CorrelatedRandom;
  private readonly delayRand: CorrelatedRandom;
  private lossState = 1; // 4-state model starts in state 1 (TX in gap); Gilbert-Elliott in GOOD
  private reorderCounter = 0;
  /** Departure times of packets still held by the link (for the queue limit). */
  private readonly held: number[] = [];
  private lastDepartureMs = Number.NEGATIVE_INFINITY;
  private slotStartMs = 0;
  private slotPackets = 0;
  private slotBytes = 0;
  readonly limit: number;

  constructor(
    readonly netem: Netem,
    private readonly rng: Rng,
    private readonly options: ImpairmentOptions = {},
  ) {
    const rho = (p?: number) => (p ?? 0) / 100;
    this.lossRand = new CorrelatedRandom(rng, netem.loss?.kind === 'random' ? rho(netem.loss.corrPct) : 0);
    this.dupRand = new CorrelatedRandom(rng, rho(netem.duplicate?.corrPct));
    this.corruptRand = new CorrelatedRandom(rng, rho(netem.corrupt?.corrPct));
    this.reorderRand = new CorrelatedRandom(rng, rho(netem.reorder?.corrPct));
    this.delayRand = new CorrelatedRandom(rng, rho(netem.delay?.corrPct));
    this.limit = netem.limit ?? 1000;
    this.lossState = netem.loss?.kind === 'gemodel' ? GOOD : 1;
  }

  /**
   * Decides the fate of one packet of `sizeBytes` entering the link at `nowMs`: [] = dropped. `frameBytes` is
   * what `rate` and a slot's byte budget count (kernel netem: the whole frame, see wire.ts); the simulator's
   * links leave it at the packet's size.
   */
  decide(nowMs: number, sizeBytes: number, frameBytes = sizeBytes): Delivery[] {
    this.stats.packets++;
    this.release(nowMs);
    if (this.inBlackout(nowMs)) {
      this.stats.blackedOut++;
      return [];
    }
    const n = this.netem;
    let count = 1;
    if (n.duplicate && this.dupRand.next() < n.duplicate.pct / 100) count++;
    if (this.lossEvent()) {
      count--;
      this.stats.lost++;
    }
    if (count === 0) return [];
    const out: Delivery[] = [];
    const first = this.enqueue(nowMs, sizeBytes, frameBytes, false);
    if (first) out.push(first);
    if (count > 1) {
      this.stats.duplicated++;
      if (this.lossEvent()) this.stats.lost++;
      else {
        const copy = this.enqueue(nowMs, sizeBytes, frameBytes, true);
        if (copy) out.push(copy);
      }
    }
    return out;
  }

  private enqueue(nowMs: number, sizeBytes: number, frameBytes: number, duplicate: boolean): Delivery | undefined {
    const n = this.netem;
    let corrupt: Delivery['corrupt'];
    if (n.corrupt && this.corruptRand.next() < n.corrupt.pct / 100) {
      corrupt = { byteIndex: this.rng.int(sizeBytes), bitIndex: this.rng.int(8) };
      this.stats.corrupted++;
    }
    if (this.held.length >= this.limit) {
      this.stats.tailDropped++;
      return undefined;
    }
    let atMs: number;
    const gap = n.reorder ? (n.reorder.gap ?? 1) : 0;
    if (gap === 0 || this.reorderCounter < gap - 1 || (n.reorder?.pct ?? 0) / 100 <= this.reorderRand.next()) {
      let delayMs = this.sampleDelayMs();
      let base = nowMs;
      if (n.rate) {
        if (this.lastDepartureMs > nowMs) {
          delayMs = Math.max(0, delayMs - (this.lastDepartureMs - nowMs));
          base = this.lastDepartureMs;
        }
        delayMs += ((frameBytes + (n.rate.packetOverheadBytes ?? 0)) * 8 * 1000) / n.rate.rateBit;
      }
      atMs = this.applySlot(base + delayMs, frameBytes);
      if (n.rate) this.lastDepartureMs = atMs;
      this.reorderCounter++;
    } else {
      atMs = nowMs;
      this.reorderCounter = 0;
      if (n.delay && n.delay.delayMs > 0) this.stats.reordered++;
    }
    this.hold(atMs);
    return corrupt ? { atMs, corrupt, duplicate } : { atMs, duplicate };
  }

  private lossEvent(): boolean {
    const l = this.netem.loss;
    if (!l) return false;
    if (l.kind === 'random') return l.pct > 0 && this.lossRand.next() < l.pct / 100;
    if (l.kind === 'gemodel') {
      const p = l.p / 100;
      const r = (l.r ?? 100 - l.p) / 100;
      const lossBad = (l.lossBadPct ?? 100) / 100;
      const lossGood = (l.lossGoodPct ?? 0) / 100;
      if (this.lossState === GOOD) {
        if (this.rng.next() < p) this.lossState = BAD;
        return this.rng.next() < lossGood;
      }
      if (this.rng.next() < r) this.lossState = GOOD;
      return this.rng.next() < lossBad;
    }
    // 4-state Markov model (Salsano et al.), as the kernel's loss_4state.
    const a1 = l.p13 / 100;
    const a2 = (l.p31 ?? 100 - l.p13) / 100;
    const a3 = (l.p32 ?? 0) / 100;
    const a5 = (l.p23 ?? 100) / 100;
    const a4 = (l.p14 ?? 0) / 100;
    const rnd = this.rng.next();
    switch (this.lossState) {
      case 1:
        if (rnd < a4) {
          this.lossState = 4;
          return true;
        }
        if (rnd < a1 + a4) {
          this.lossState = 3;
          return true;
        }
        return false;
      case 2:
        if (rnd < a5) {
          this.lossState = 3;
          return true;
        }
        return false;
      case 3:
        if (rnd < a3) this.lossState = 2;
        else if (rnd < a2 + a3) this.lossState = 1;
        else return true;
        return false;
      default:
        this.lossState = 1;
        return false;
    }
  }

  private sampleDelayMs(): number {
    const d = this.netem.delay;
    if (!d) return 0;
    const sigma = d.jitterMs ?? 0;
    if (sigma === 0) return d.delayMs;
    const z = sampleStd(this.netem.distribution, this.delayRand, this.rng);
    return Math.max(0, d.delayMs + sigma * z);
  }

  private applySlot(atMs: number, sizeBytes: number): number {
    const s = this.netem.slot;
    if (!s) return atMs;
    const span = () => s.minDelayMs + this.rng.next() * ((s.maxDelayMs ?? s.minDelayMs) - s.minDelayMs);
    while (this.slotStartMs + span() < atMs && this.slotStartMs < atMs) {
      this.slotStartMs += Math.max(span(), 0.001);
      this.slotPackets = 0;
      this.slotBytes = 0;
    }
    if ((s.packets && this.slotPackets >= s.packets) || (s.bytes && this.slotBytes + sizeBytes > s.bytes)) {
      this.slotStartMs += Math.max(span(), 0.001);
      this.slotPackets = 0;
      this.slotBytes = 0;
    }
    this.slotPackets++;
    this.slotBytes += sizeBytes;
    return Math.max(atMs, this.slotStartMs);
  }

  private inBlackout(nowMs: number): boolean {
    for (const b of this.options.blackouts ?? [])
      if (nowMs >= b.startMs && nowMs < b.startMs + b.durationMs) return true;
    return false;
  }

  private hold(atMs: number): void {
    // keep `held` as a binary min-heap of departure times
    const h = this.held;
    h.push(atMs);
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (h[p]! <= h[i]!) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  private release(nowMs: number): void {
    const h = this.held;
    while (h.length > 0 && h[0]! <= nowMs) {
      const last = h.pop()!;
      if (h.length === 0) break;
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]! < h[m]!) m = l;
        if (r < h.length && h[r]! < h[m]!) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
  }

  /** Packets currently held by the link (queued or in delay). */
  get heldPackets(): number {
    return this.held.length;
  }
}

/** A standardised (mean 0, sd 1) sample of `dist`; netem's tables approximated by their analytic forms. */
function sampleStd(dist: Distribution | undefined, corr: CorrelatedRandom, rng: Rng): number {
  switch (dist ?? 'uniform') {
    case 'uniform':
      return 2 * corr.next() - 1;
    case 'normal':
      return normal(corr, rng);
    case 'pareto':
      return pareto(corr);
    case 'paretonormal':
      return 0.25 * normal(corr, rng) + 0.75 * pareto(corr);
  }
}

function normal(corr: CorrelatedRandom, rng: Rng): number {
  const u1 = Math.max(corr.next(), 1e-12);
  const u2 = rng.next();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

function pareto(corr: CorrelatedRandom): number {
  // Pareto(alpha = 3, xm = 1): mean 1.5, sd sqrt(3)/2; standardised
  const x = (1 - corr.next()) ** (-1 / 3);
  return (x - 1.5) / (Math.sqrt(3) / 2);
}
