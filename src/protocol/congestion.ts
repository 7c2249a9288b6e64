// A model-based congestion controller (BBR-style) with a congestion bound: it estimates the bottleneck rate from
// delivery-rate samples (windowed max over 10 rounds) and the path's min RTT, paces at gain × rate, and caps what is
// in flight at the smaller of 2 × the estimated BDP and an AIMD bound learnt from congestion (BBRv2's inflight_hi).
// Random loss is not congestion: losses in a round whose smallest RTT sample stayed near minRTT (≤ 1.25 × minRTT
// + 2 ms; a standing queue delays every packet, processing noise on a real host only some) update a random-loss
// estimate p̂, and the pacing rate and BDP are divided by (1 − p̂) (p̂ capped at 50%) so the delivered rate holds.
// Congestion is a round whose RTT is inflated and that lost more than 2% and 1.5 × p̂ of what it sent (or, at any
// RTT, more than 60% and twice p̂): it cuts the rate estimate by 15% and the in-flight bound to half of what was in
// flight (Reno's β), once per episode (the next round acknowledges packets sent before the cut). The bound grows by
// one packet per round in which it limited the sender (Reno's additive increase): RUFT flows sharing a queue run
// AIMD against each other and against TCP and converge to equal shares, and the halving empties a 1-BDP queue, so
// every flow sees the path's real minRTT again.
// Issue 22 (docs/protocol.md "Sharing a bottleneck") found the compensation running away against a drop-tail queue:
// overflow drops read as random loss raised p̂, p̂ raised the pacing, the pacing raised the drops. So the (1 − p̂)
// compensation now applies only while the previous round's RTT was near minRTT (no queue) and only once minRTT is
// validated (the flow has seen its RTT inflated and then near minRTT again: a flow that starts behind a queue other
// flows keep full measures that queue as its minRTT, sees no inflation, and would compensate for their drops); p̂
// learns only in rounds without a queue; and it resets when minRTT falls by a fifth (it was judged on a queue).
// minRTT is the controller's own: the smallest sample, replaced by the sender's 10 s windowed minimum only after
// 20 s without a sample near it (forgetting after 10 s under a queue others keep full made flows adopt the queue).
// PROBE_RTT: 5 s without a sample near minRTT (a standing queue), the window drops to 4 packets for 200 ms (or one
// minRTT) once in flight has drained to it, then PROBE_BW.
// A retransmission timeout halves the estimate and starts over in STARTUP (the path may have changed) — once per
// silence: the further expiries of one silence (RTO backoff) learn nothing new, and halving at each of them left
// 1/16 of the rate after a 3 s blackout, which PROBE_BW's 1.25 gain, one round in eight, took 10 s and more to
// regrow. The sender does not report the losses of packets sent before a timeout (the timeout was the response to
// them), and marks the probes sent during a silence app-limited: their delivery-rate samples only count when they
// raise the estimate (BBR's rule).
// Modes: STARTUP (gain 2.77 until the estimate stops growing 25% per round for 3 rounds, or a round's RTT
// inflates: the queue is filling) → DRAIN (gain 1/2.77 until in flight ≤ BDP) → PROBE_BW (gain cycle 1.25, 0.75,
// 1 × 6, one phase per min RTT) ⇄ PROBE_RTT.
// Tail drops are congestion even where the RTT never looks inflated: a flow that started behind a queue other flows
// keep full measured part of it as its minRTT, so 1.25 × that minRTT is above the full queue's RTT, and it read the
// queue's overflow as random loss and kept its rate while the others halved theirs (2 flows staggered by 2 s took 11 s
// to converge; 8 flows 3 s apart: the newest held 0.70 of the link). In PROBE_BW (from its second round: the first
// acknowledges what STARTUP sent) the controller counts the bytes of each ACK as sent at the top of its recent RTT
// range (the queue full) or below it, with the losses the ACK declared; when the top loses at more than twice the
// rest's rate, and by more than chance would give (3 standard errors of a binomial count at the rest's rate), the
// losses are the queue's: a round whose top lost > 2% (and 1.5 × the rest's rate) is congested, and p̂ learns only from
// the rest. Random loss strikes the top and the rest alike.
// Probing again: an RTT rise ends STARTUP whether or not it is the bottleneck's queue (on a busy host its own
// processing delays the ACKs; on the shaped 100 Mbit/s relay link STARTUP left at 53–57 Mbit/s), and the path can get
// faster later. PROBE_BW then regrew the estimate by 25% per 8 rounds (~400 ms at half rate there). So when a 1.25
// phase raised the estimate by ≥ 20% (it found nearly all it asked for: the pipe is not full), the next 1.25 phase
// follows the 0.75 one at once (25% per 2 rounds) — only before the flow's first congestion cut: flows sharing a
// queue see one early, and there a probe that finds 20% found it in the others' halving (without that condition
// Jain ≥ 0.95 in 19 of the fairness matrix's 33 runs instead of 22, and 8 flows staggered by 2 s fell to 0.56).

const STARTUP_GAIN = 2.77;
const CYCLE = [1.25, 0.75, 1, 1, 1, 1, 1, 1] as const;
const BW_WINDOW_ROUNDS = 10;
/** A 1.25 probe that raised the estimate by this much probes again at once (before the first congestion cut). */
const PROBE_AGAIN_GROWTH = 1.2;
/** A congested round cuts the in-flight bound to this fraction of what was in flight (Reno's β). */
const INFLIGHT_BETA = 0.5;
/** A lossy round is congestion only when its RTT is inflated and it lost more than this, and 1.5 × p̂ (BBRv2's 2%). */
const LOSS_THRESH = 0.02;
/** The controller's minRTT is replaced by the estimator's windowed one after this long without a sample near it. */
const MIN_RTT_EXPIRY_MS = 20_000;
/** No RTT sample near minRTT for this long: drain to PROBE_RTT_PACKETS packets (BBR's PROBE_RTT). */
const PROBE_RTT_INTERVAL_MS = 5000;
const PROBE_RTT_MS = 200;
const PROBE_RTT_PACKETS = 4;
/**
 * Tail drops against random loss: an ACK's bytes count as sent at the queue's top when its RTT sample is in the top
 * quarter (TOP_FRAC) of the range from minRTT to the largest sample of the last RTT_MAX_ROUNDS rounds, and that range
 * is a queue (≥ 2 ms and ≥ 10% of minRTT); the counts decay by CLASS_DECAY per round. The losses are a queue's when
 * the top's loss rate is more than twice the rest's and above it by QUEUE_LOSS_Z standard errors (a binomial count at
 * the rest's rate, over at least TOP_MIN_PACKETS packets at the top).
 */
const RTT_MAX_ROUNDS = 10;
const TOP_FRAC = 0.75;
const TOP_SPAN_MIN_MS = 2;
const TOP_SPAN_FRAC = 0.1;
const TOP_MIN_PACKETS = 20;
const QUEUE_LOSS_RATIO = 2;
const QUEUE_LOSS_Z = 3;
const CLASS_DECAY = 0.9;

export type CcMode = 'startup' | 'drain' | 'probe_bw' | 'probe_rtt';

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

/** What the sender asks of a controller: this one, or the background one (ledbat.ts). */
export interface CongestionControl {
  readonly mode: string;
  /** The random-loss estimate (0 when the controller has none). */
  readonly randomLoss: number;
  readonly congestionEvents: number;
  readonly btlBwBps: number;
  readonly pacingRateBps: number;
  readonly cwndBytes: number;
  /** The packet size its floors and initial rates count in (the sender raises it with the packet size: sender.ts). */
  mss: number;
  onAck(s: AckSample): void;
  onTimeout(first?: boolean): void;
}

export class CongestionController implements CongestionControl {
  mode: CcMode = 'startup';
  /** Delivery-rate samples; the window is bwSamples[bwHead..] (dropping from the front moves bwHead, not memory). */
  private readonly bwSamples: Array<{ round: number; bps: number }> = [];
  private bwHead = 0;
  /** The largest sample in the window, kept as they come and go (read several times per ACK: a scan cost ~4%). */
  private bwMax = 0;
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
  private roundMaxInflight = 0;
  private minRttMs = 0;
  /** The previous round's smallest RTT sample was near minRTT: no standing queue, the loss compensation applies. */
  private queueEmpty = true;
  /** Upper bound on bytes in flight learnt from congestion (BBRv2's inflight_hi; Infinity until the first). */
  inflightHiBytes = Number.POSITIVE_INFINITY;
  congestionEvents = 0;
  /** Last time an RTT sample was near minRTT (the queue was empty), and when the current PROBE_RTT ends. */
  private nearMinStampMs = 0;
  private probeRttDoneMs: number | undefined;
  probeRttCount = 0;
  private lastCutRound = Number.NEGATIVE_INFINITY;
  /** A round's RTT has been seen inflated, and later a sample near minRTT: minRTT is the empty-queue RTT. */
  private seenInflated = false;
  minValidated = false;
  /** The estimate when the current 1.25 phase began (0: none to judge). */
  private probeBaseBps = 0;
  /** Loss against queueing: the newest RTT sample, the largest of each of the last rounds, and per-class bytes. */
  private lastRttMs = 0;
  private readonly roundMaxRtt: number[] = [];
  private roundRttMaxMs = 0;
  /** Bytes are classified from this round on (the round after PROBE_BW began). */
  private classifyFromRound = 0;
  /** The largest of roundMaxRtt (kept at each round's end: read on every ACK). */
  private pastRttMaxMs = 0;
  private topBytes = 0;
  private topLost = 0;
  private lowBytes = 0;
  private lowLost = 0;
  private roundTopLost = 0;
  private roundLowLost = 0;
  /** Losses come where the RTT is at its recent top and hardly elsewhere: tail drops of a queue, not random loss. */
  queueLoss = false;

  constructor(
    public mss: number,
    private readonly initialRateBps: number = (32 * mss) / 0.1,
  ) {}

  /** Bottleneck bandwidth estimate in bytes per second. */
  get btlBwBps(): number {
    return this.bwMax;
  }

  private get compensation(): number {
    return this.queueEmpty && this.minValidated ? 1 / (1 - Math.min(this.randomLoss, 0.5)) : 1;
  }

  get pacingRateBps(): number {
    const bw = this.btlBwBps;
    if (bw === 0) return this.initialRateBps * (this.mode === 'startup' ? STARTUP_GAIN : 1);
    const gain =
      this.mode === 'startup'
        ? STARTUP_GAIN
        : this.mode === 'drain'
          ? 1 / STARTUP_GAIN
          : this.mode === 'probe_rtt'
            ? 1
            : CYCLE[this.cycleIndex]!;
    return Math.max(gain * bw * this.compensation, 2 * this.mss);
  }

  get cwndBytes(): number {
    if (this.mode === 'probe_rtt') return PROBE_RTT_PACKETS * this.mss;
    const bw = this.btlBwBps;
    if (bw === 0 || this.minRttMs === 0) return 64 * this.mss;
    const bdp = (bw * this.compensation * this.minRttMs) / 1000;
    const gain = this.mode === 'startup' ? STARTUP_GAIN : 2;
    return Math.min(Math.max(gain * bdp + 4 * this.mss, 8 * this.mss), this.inflightHiBytes);
  }

  onAck(s: AckSample): void {
    // minRTT fell a lot: the old one included a queue, and losses judged against it may have been congestion
    const m = this.trackMinRtt(s);
    if (this.minRttMs > 0 && m > 0 && m < 0.8 * this.minRttMs) this.randomLoss = 0;
    this.minRttMs = m;
    this.roundAcked += s.ackedBytes;
    this.roundLost += s.lostBytes;
    if (s.rttMs > 0 && s.rttMs < this.roundRttMinMs) this.roundRttMinMs = s.rttMs;
    if (s.rttMs > 0) {
      this.lastRttMs = s.rttMs;
      if (s.rttMs > this.roundRttMaxMs) this.roundRttMaxMs = s.rttMs;
    }
    this.classify(s.ackedBytes, s.lostBytes);
    if (s.bytesInFlight + s.ackedBytes + s.lostBytes > this.roundMaxInflight)
      this.roundMaxInflight = s.bytesInFlight + s.ackedBytes + s.lostBytes;
    if (s.deliveryRateBps > 0 && (!s.appLimited || s.deliveryRateBps > this.btlBwBps))
      this.addSample(s.deliveryRateBps);
    if (s.roundEnded) this.endRound();
    if (s.rttMs > 0 && s.rttMs <= 1.25 * this.minRttMs + 2) {
      this.nearMinStampMs = s.nowMs;
      if (this.seenInflated) this.minValidated = true;
    }
    if ((this.mode === 'probe_bw' || this.mode === 'drain') && s.nowMs - this.nearMinStampMs > PROBE_RTT_INTERVAL_MS) {
      this.mode = 'probe_rtt';
      this.probeRttCount++;
      this.probeRttDoneMs = undefined;
    }
    if (this.mode === 'probe_rtt') {
      if (this.probeRttDoneMs === undefined && s.bytesInFlight <= PROBE_RTT_PACKETS * this.mss)
        this.probeRttDoneMs = s.nowMs + Math.max(PROBE_RTT_MS, this.minRttMs);
      if (this.probeRttDoneMs !== undefined && s.nowMs >= this.probeRttDoneMs) {
        this.nearMinStampMs = s.nowMs;
        this.enterProbeBw(s.nowMs);
      }
      return;
    }
    if (this.mode === 'drain' && s.bytesInFlight <= (this.btlBwBps * this.compensation * this.minRttMs) / 1000) {
      this.enterProbeBw(s.nowMs);
    }
    if (this.mode === 'probe_bw' && s.nowMs - this.cycleStartMs > Math.max(this.minRttMs, 1)) {
      this.cycleIndex = (this.cycleIndex + 1) % CYCLE.length;
      this.cycleStartMs = s.nowMs;
      if (this.cycleIndex === 0) this.probeBaseBps = this.btlBwBps;
      else if (this.cycleIndex === 2) {
        // the 1.25 phase's samples came back during the 0.75 one: it found nearly all it asked for, so the pipe is
        // not full (STARTUP left on an RTT rise that was not the bottleneck's queue, or the path got faster): probe
        // again now instead of cruising 6 rounds — until the first congestion cut (flows sharing a queue see one)
        if (
          this.congestionEvents === 0 &&
          this.probeBaseBps > 0 &&
          this.btlBwBps >= PROBE_AGAIN_GROWTH * this.probeBaseBps
        ) {
          this.cycleIndex = 0;
          this.probeBaseBps = this.btlBwBps;
        } else this.probeBaseBps = 0;
      }
    }
  }

  /**
   * The controller's own minRTT: the smallest sample, kept until MIN_RTT_EXPIRY_MS pass without a sample near it
   * (the sender's estimator forgets after 10 s, and under a queue that other flows keep full it would then adopt
   * the queue's RTT as the path's and stop seeing congestion); then the estimator's windowed minimum.
   */
  private ownMinMs = Number.POSITIVE_INFINITY;
  private trackMinRtt(s: AckSample): number {
    if (s.rttMs > 0 && s.rttMs < this.ownMinMs) this.ownMinMs = s.rttMs;
    if (this.ownMinMs === Number.POSITIVE_INFINITY) return s.minRttMs;
    if (s.nowMs - this.nearMinStampMs > MIN_RTT_EXPIRY_MS && s.minRttMs > 0) {
      this.ownMinMs = s.minRttMs;
      this.nearMinStampMs = s.nowMs;
    }
    return this.ownMinMs;
  }

  /**
   * A retransmission timeout: the path may have changed; start over from a conservative estimate. `first` is false
   * for the further expiries of the same silence (no ACK in between): those keep the estimate.
   */
  onTimeout(first = true): void {
    const bw = this.btlBwBps;
    this.restartSamples(first ? bw / 2 : bw);
    this.mode = 'startup';
    this.fullBw = 0;
    this.fullBwRounds = 0;
  }

  private addSample(bps: number): void {
    const w = this.bwSamples;
    w.push({ round: this.round, bps });
    if (bps > this.bwMax) this.bwMax = bps;
    // samples before bwHead have left the window (older than BW_WINDOW_ROUNDS, or beyond the newest 256)
    let maxLeft = false;
    while (
      this.bwHead < w.length &&
      (w[this.bwHead]!.round < this.round - BW_WINDOW_ROUNDS || w.length - this.bwHead > 256)
    )
      if (w[this.bwHead++]!.bps === this.bwMax) maxLeft = true;
    if (maxLeft) {
      let m = 0;
      for (let i = this.bwHead; i < w.length; i++) if (w[i]!.bps > m) m = w[i]!.bps;
      this.bwMax = m;
    }
    if (this.bwHead >= 1024) {
      w.splice(0, this.bwHead);
      this.bwHead = 0;
    }
  }

  /** The window holds one sample, `bps`, from this round (none when `bps` is 0). */
  private restartSamples(bps: number): void {
    this.bwSamples.length = 0;
    this.bwHead = 0;
    this.bwMax = 0;
    if (bps > 0) {
      this.bwSamples.push({ round: this.round, bps });
      this.bwMax = bps;
    }
  }

  /** The largest RTT sample of the last RTT_MAX_ROUNDS rounds (this one included). */
  private get rttMaxMs(): number {
    return Math.max(this.pastRttMaxMs, this.roundRttMaxMs);
  }

  /** Counts acknowledged and lost bytes as sent at the top of the queue's RTT range or below it. */
  private classify(acked: number, lost: number): void {
    if (acked + lost === 0 || this.lastRttMs === 0 || this.minRttMs === 0 || this.mode !== 'probe_bw') return;
    // the first round of PROBE_BW acknowledges (and loses) what STARTUP or PROBE_RTT sent: not this mode's queue
    if (this.round < this.classifyFromRound) return;
    const max = this.rttMaxMs;
    const span = max - this.minRttMs;
    const top =
      span >= Math.max(TOP_SPAN_MIN_MS, TOP_SPAN_FRAC * this.minRttMs) &&
      this.lastRttMs >= this.minRttMs + TOP_FRAC * span;
    if (top) {
      this.topBytes += acked + lost;
      this.topLost += lost;
      this.roundTopLost += lost;
    } else {
      this.lowBytes += acked + lost;
      this.lowLost += lost;
      this.roundLowLost += lost;
    }
  }

  private endRound(): void {
    this.round++;
    const total = this.roundAcked + this.roundLost;
    const lossFrac = total > 0 ? this.roundLost / total : 0;
    const pTop = this.topBytes > 0 ? this.topLost / this.topBytes : 0;
    const pLow = this.lowBytes > 0 ? this.lowLost / this.lowBytes : 0;
    // losses at the top exceed the rest's rate by Z standard errors of a binomial count at the rest's rate
    const nTop = this.topBytes / this.mss;
    const p0 = Math.max(pLow, 0.002);
    this.queueLoss =
      nTop >= TOP_MIN_PACKETS &&
      pTop > QUEUE_LOSS_RATIO * pLow &&
      pTop - pLow > QUEUE_LOSS_Z * Math.sqrt((p0 * (1 - p0)) / nTop);
    const topFrac = total > 0 ? this.roundTopLost / total : 0;
    const inflated = this.roundRttMinMs !== Number.POSITIVE_INFINITY && this.roundRttMinMs > 1.25 * this.minRttMs + 2;
    const queueCut = this.queueLoss && topFrac > Math.max(LOSS_THRESH, 1.5 * pLow);
    const heavy = this.round > 4 && lossFrac > 0.6 && lossFrac > 2 * this.randomLoss;
    // one cut per episode: the round after a cut acknowledges packets sent before it
    const congested =
      ((inflated && lossFrac > Math.max(LOSS_THRESH, 1.5 * this.randomLoss)) || queueCut || heavy) &&
      this.round > this.lastCutRound + 1;
    if (congested) {
      this.congestionEvents++;
      this.lastCutRound = this.round;
      this.restartSamples(this.btlBwBps * 0.85);
      if (this.mode === 'startup') this.mode = 'drain';
      const base = Math.min(this.inflightHiBytes, this.roundMaxInflight);
      if (base > 0) this.inflightHiBytes = Math.max(INFLIGHT_BETA * base, 4 * this.mss);
    } else {
      if (total > 0 && !inflated)
        this.randomLoss = 0.75 * this.randomLoss + 0.25 * (this.queueLoss ? this.roundLowLost / total : lossFrac);
      if (
        this.inflightHiBytes !== Number.POSITIVE_INFINITY &&
        this.roundMaxInflight >= this.inflightHiBytes - 2 * this.mss
      )
        this.inflightHiBytes += this.mss;
    }
    this.queueEmpty = !inflated;
    if (inflated) this.seenInflated = true;
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
    this.roundTopLost = 0;
    this.roundLowLost = 0;
    this.topBytes *= CLASS_DECAY;
    this.topLost *= CLASS_DECAY;
    this.lowBytes *= CLASS_DECAY;
    this.lowLost *= CLASS_DECAY;
    this.roundMaxRtt.push(this.roundRttMaxMs);
    if (this.roundMaxRtt.length > RTT_MAX_ROUNDS) this.roundMaxRtt.shift();
    this.pastRttMaxMs = Math.max(...this.roundMaxRtt);
    this.roundRttMaxMs = 0;
    this.roundRttMinMs = Number.POSITIVE_INFINITY;
    this.roundMaxInflight = 0;
  }

  private enterProbeBw(nowMs: number): void {
    this.mode = 'probe_bw';
    this.classifyFromRound = this.round + 1;
    this.probeBaseBps = 0;
    this.cycleIndex = 1;
    this.cycleStartMs = nowMs;
  }
}
