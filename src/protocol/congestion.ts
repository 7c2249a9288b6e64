// A model-based congestion controller (BBR-style): it estimates the bottleneck rate from delivery-rate
// samples (windowed max over 10 rounds) and the path's min RTT, paces at gain × rate, and caps what is in
// flight at 2 × the estimated BDP.
// Random loss is not congestion: losses in a round whose RTT stayed near the min RTT update a random-loss
// estimate p, and the pacing rate is divided by (1 − p) (p capped at 50%) so the delivered rate holds.
// Congestion is RTT inflation: a round whose smallest RTT sample exceeds 1.25 × minRTT + 2 ms (a standing
// queue delays every packet; processing noise on a real host — a GC pause, a busy event loop — delays some;
// judged by the round's mean, 117 rounds of one 64 MiB transfer at 10% loss through the relay read as
// congestion, 66 by the minimum) and that lost packets, or a round that lost more than 60% of what it sent and
// twice the usual share, cuts the estimate by 15%. A retransmission timeout halves the estimate and starts over
// in STARTUP (the path may have changed) — once per silence: the further expiries of one silence (RTO backoff)
// learn nothing new, and halving at each of them left 1/16 of the rate after a 3 s blackout, which PROBE_BW's
// 1.25 gain, one round in eight, took 10 s and more to regrow. The sender does not report the losses of packets
// sent before a timeout (the timeout was the response to them), and marks the probes sent during a silence
// app-limited: their delivery-rate samples only count when they raise the estimate (BBR's rule).
// Modes: STARTUP (gain 2.77 until the estimate stops growing 25% per round for 3 rounds, or a round's RTT
// inflates: the queue is filling) → DRAIN
// (gain 1/2.77 until in flight ≤ BDP) → PROBE_BW (gain cycle 1.25, 0.75, 1 × 6, one phase per min RTT).

const STARTUP_GAIN = 2.77;
const CYCLE = [1.25, 0.75, 1, 1, 1, 1, 1, 1] as const;
const BW_WINDOW_ROUNDS = 10;

export type CcMode = 'startup' | 'drain' | 'probe_bw';

export interface AckSample {
  nowMs: number;
  /** Delivery rate sample in bytes per second (0 when none). */
  deliveryRateBps: number;
  rttMs: number;
  minRttMs: number;
  bytesInFlight: number;
  /** True when this ACK ended a round trip. */
  roundEnded: boolean;
  /** The rate sample comes from a packet sent while the sender had too little to send (a probe during a silence). */
  appLimited?: boolean;
  /** Bytes newly acknowledged / declared lost since the previous ACK. */
  ackedBytes: number;
  lostBytes: number;
}

export class CongestionController {
  mode: CcMode = 'startup';
  private readonly bwSamples: Array<{ round: number; bps: number }> = [];
  private round = 0;
  private fullBw = 0;
  private fullBwRounds = 0;
  private cycleIndex = 0;
  private cycleStartMs = 0;
  /** Estimated random (non-congestive) loss fraction. */
  randomLoss = 0;
  private roundLost = 0;
  private roundAcked = 0;
  private roundRttMinMs = Number.POSITIVE_INFINITY;
  private minRttMs = 0;
  congestionEvents = 0;

  constructor(
    private readonly mss: number,
    private readonly initialRateBps: number = (32 * mss) / 0.1,
  ) {}

  /** Bottleneck bandwidth estimate in bytes per second. */
  get btlBwBps(): number {
    let m = 0;
    for (const s of this.bwSamples) if (s.bps > m) m = s.bps;
    return m;
  }

  private get compensation(): number {
    return 1 / (1 - Math.min(this.randomLoss, 0.5));
  }

  get pacingRateBps(): number {
    const bw = this.btlBwBps;
    if (bw === 0) return this.initialRateBps * (this.mode === 'startup' ? STARTUP_GAIN : 1);
    const gain =
      this.mode === 'startup' ? STARTUP_GAIN : this.mode === 'drain' ? 1 / STARTUP_GAIN : CYCLE[this.cycleIndex]!;
    return Math.max(gain * bw * this.compensation, 2 * this.mss);
  }

  get cwndBytes(): number {
    const bw = this.btlBwBps;
    if (bw === 0 || this.minRttMs === 0) return 64 * this.mss;
    const bdp = (bw * this.compensation * this.minRttMs) / 1000;
    const gain = this.mode === 'startup' ? STARTUP_GAIN : 2;
    return Math.max(gain * bdp + 4 * this.mss, 8 * this.mss);
  }

  onAck(s: AckSample): void {
    this.minRttMs = s.minRttMs;
    this.roundAcked += s.ackedBytes;
    this.roundLost += s.lostBytes;
    if (s.rttMs > 0 && s.rttMs < this.roundRttMinMs) this.roundRttMinMs = s.rttMs;
    if (s.deliveryRateBps > 0 && (!s.appLimited || s.deliveryRateBps > this.btlBwBps))
      this.addSample(s.deliveryRateBps);
    if (s.roundEnded) this.endRound(s);
    if (this.mode === 'drain' && s.bytesInFlight <= (this.btlBwBps * this.compensation * this.minRttMs) / 1000) {
      this.enterProbeBw(s.nowMs);
    }
    if (this.mode === 'probe_bw' && s.nowMs - this.cycleStartMs > Math.max(this.minRttMs, 1)) {
      this.cycleIndex = (this.cycleIndex + 1) % CYCLE.length;
      this.cycleStartMs = s.nowMs;
    }
  }

  /**
   * A retransmission timeout: the path may have changed; start over from a conservative estimate. `first` is false
   * for the further expiries of the same silence (no ACK in between): those keep the estimate.
   */
  onTimeout(first = true): void {
    const bw = this.btlBwBps;
    this.bwSamples.length = 0;
    if (bw > 0) this.bwSamples.push({ round: this.round, bps: first ? bw / 2 : bw });
    this.mode = 'startup';
    this.fullBw = 0;
    this.fullBwRounds = 0;
  }

  private addSample(bps: number): void {
    this.bwSamples.push({ round: this.round, bps });
    while (this.bwSamples.length > 0 && this.bwSamples[0]!.round < this.round - BW_WINDOW_ROUNDS)
      this.bwSamples.shift();
    if (this.bwSamples.length > 256) this.bwSamples.splice(0, this.bwSamples.length - 256);
  }

  private endRound(s: AckSample): void {
    this.round++;
    const total = this.roundAcked + this.roundLost;
    const lossFrac = total > 0 ? this.roundLost / total : 0;
    const inflated = this.roundRttMinMs !== Number.POSITIVE_INFINITY && this.roundRttMinMs > 1.25 * s.minRttMs + 2;
    const heavy = this.round > 4 && lossFrac > 0.6 && lossFrac > 2 * this.randomLoss;
    const congested = (inflated && this.roundLost > 0) || heavy;
    if (congested) {
      this.congestionEvents++;
      const cut = this.btlBwBps * 0.85;
      this.bwSamples.length = 0;
      if (cut > 0) this.bwSamples.push({ round: this.round, bps: cut });
      if (this.mode === 'startup') this.mode = 'drain';
    } else if (total > 0) {
      this.randomLoss = 0.75 * this.randomLoss + 0.25 * lossFrac;
    }
    if (this.mode === 'startup' && inflated) this.mode = 'drain';
    if (this.mode === 'startup') {
      const bw = this.btlBwBps;
      if (bw >= this.fullBw * 1.25) {
        this.fullBw = bw;
        this.fullBwRounds = 0;
      } else if (++this.fullBwRounds >= 3) {
        this.mode = 'drain';
      }
    }
    this.roundAcked = 0;
    this.roundLost = 0;
    this.roundRttMinMs = Number.POSITIVE_INFINITY;
  }

  private enterProbeBw(nowMs: number): void {
    this.mode = 'probe_bw';
    this.cycleIndex = 1;
    this.cycleStartMs = nowMs;
  }
}
