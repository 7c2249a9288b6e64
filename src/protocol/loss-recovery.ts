// Loss recovery for the data sender: which packets are lost, and the timers that find out.
// - Time-based loss detection (RACK, RFC 9002 §6.1.2): a packet is lost when a later-sent packet was acknowledged
//   and it was sent more than lossDelay = k/8 × max(SRTT, latest RTT) ago (k starts at 9 and grows by 2 up to 24
//   each time a "lost" packet turns out to have arrived: reordering tolerance). Until then the loss timer waits.
// - Tail loss probe (RFC 8985 §7): once everything has been sent, no later packet can reveal a lost one at the
//   tail, so after 2 × SRTT (+ the receiver's 5 ms ACK delay) the newest packet is sent again; its ACK lets RACK
//   find the others. Up to two per flight, without backoff or a congestion response; the RTO stays behind them.
//   In the simulator, 20 transfers at 20% loss each way: 10 tail probes and no timeout.
// - The retransmission timeout (RFC 6298, with backoff) fires when nothing is acknowledged for RTO × 2^n: the
//   oldest outstanding packet is declared lost and up to two probes go out regardless of pacing. The losses of
//   packets sent before a timeout are not reported to the congestion controller again (the timeout answered them).
// What a lost packet's data becomes (a retransmission, a FIN to resend) is the sender's business (LossHost).
import type { CongestionControl } from './congestion.js';
import type { DeliveryRate } from './delivery-rate.js';
import type { PmtuSearch } from './pmtu-search.js';
import type { RttEstimator } from './rtt.js';
import type { SentPacket, SentPacketLog } from './sent-packets.js';

const MAX_BACKOFF_MS = 1000;

export interface LossCounters {
  packetsLost: number;
  spuriousLosses: number;
  timeouts: number;
  /** Tail loss probes sent (not timeouts: no backoff, no congestion response). */
  tailProbes: number;
}

/** The sender's side of a loss: whether it has data to send, whether its FIN is acknowledged, what a loss means. */
export interface LossHost {
  hasData(): boolean;
  allAcked(): boolean;
  onLost(p: SentPacket): void;
}

export class LossRecovery {
  /** The largest packet number the peer acknowledged (-1: none yet). */
  largestAcked = -1;
  /** Consecutive retransmission timeouts without an ACK of new data. */
  backoff = 0;
  /** Probe packets owed regardless of pacing and the window (after a timeout, a TLP, or on request). */
  probesOwed = 0;
  lastAckElicitingSentMs = 0;
  private lossTimerMs: number | undefined;
  private lossDelayEighths = 9;
  /** Tail loss probes sent since the last ACK of new data. */
  private tailProbes = 0;
  /** The highest packet number sent before the latest retransmission timeout (-1: none yet). */
  private timeoutPn = -1;
  /** Bytes declared lost (by ACKs or by the loss timer) not yet reported to the congestion controller. */
  private unreportedLostBytes = 0;

  constructor(
    private readonly log: SentPacketLog,
    private readonly rtt: RttEstimator,
    private readonly cc: CongestionControl,
    private readonly rate: DeliveryRate,
    private readonly pmtu: PmtuSearch,
    private readonly counters: LossCounters,
    private readonly host: LossHost,
  ) {}

  /** The earlier of the loss timer and the probe timeout (undefined: none armed). */
  nextTimerMs(): number | undefined {
    let t = this.lossTimerMs;
    const pto = this.ptoDeadline();
    if (pto !== undefined && (t === undefined || pto < t)) t = pto;
    return t;
  }

  private ptoDeadline(): number | undefined {
    if (this.log.bytesInFlight === 0 && !this.host.allAcked() && !this.host.hasData()) {
      // nothing outstanding and nothing to send: waiting for flow-control credit
      return this.lastAckElicitingSentMs + this.backedOffRtoMs();
    }
    if (this.log.bytesInFlight === 0) return undefined;
    const rto = this.lastAckElicitingSentMs + this.backedOffRtoMs();
    const tlp = this.tailProbeDeadline();
    return tlp !== undefined && tlp < rto ? tlp : rto;
  }

  private tailProbeDeadline(): number | undefined {
    if (this.host.hasData() || this.backoff > 0 || this.tailProbes >= 2 || this.rtt.srttMs === undefined)
      return undefined;
    return this.lastAckElicitingSentMs + 2 * this.rtt.srttMs + 5;
  }

  /**
   * RTO × 2^backoff, capped at MAX_BACKOFF_MS (1 s) or the RTO itself if larger: RFC 6298 allows 60 s, but the idle
   * timeout is 20 s and a path that comes back after a blackout should be probed within a second of its return.
   * Two small probes a second while the path is silent cost nothing. With a 4 s cap, 1 MiB over 50±10 ms with a
   * 3.5 s blackout took up to 3.6 s more than clean + blackout (the return fell just after a probe); with 1 s, 1.1 s.
   */
  private backedOffRtoMs(): number {
    return Math.min(this.rtt.rtoMs() * 2 ** Math.min(this.backoff, 16), Math.max(MAX_BACKOFF_MS, this.rtt.rtoMs()));
  }

  /** Timers: loss detection, tail loss probe and retransmission timeout. A spurious call is a no-op. */
  onTimer(nowMs: number): void {
    if (this.lossTimerMs !== undefined && nowMs >= this.lossTimerMs) {
      this.lossTimerMs = undefined;
      this.detectLosses(nowMs);
    }
    const tlp = this.log.bytesInFlight > 0 ? this.tailProbeDeadline() : undefined;
    if (tlp !== undefined && nowMs >= tlp && tlp < this.lastAckElicitingSentMs + this.backedOffRtoMs()) {
      this.tailProbes++;
      this.counters.tailProbes++;
      const newest = this.log.newestPending();
      if (newest) this.declareLost(newest);
      this.probesOwed = 1;
      this.lastAckElicitingSentMs = nowMs;
      return;
    }
    const pto = this.ptoDeadline();
    if (pto !== undefined && nowMs >= pto) {
      this.counters.timeouts++;
      this.cc.onTimeout(this.backoff === 0);
      this.backoff++;
      // what was sent before now is answered by this timeout: its losses are not reported to the estimator again,
      // and no delivery interval spans the silence (BBR restarts both clocks when nothing is known to be in flight)
      this.timeoutPn = this.log.lastSentPn;
      this.rate.restart(nowMs);
      this.pmtu.onTimeout(this.backoff);
      const oldest = this.log.oldestPending();
      if (oldest) this.declareLost(oldest);
      this.probesOwed = 2;
      this.lastAckElicitingSentMs = nowMs;
    }
  }

  /** A packet declared lost turned out to have arrived: more reordering tolerance. */
  onSpuriousLoss(): void {
    this.counters.spuriousLosses++;
    this.lossDelayEighths = Math.min(24, this.lossDelayEighths + 2);
  }

  /** An ACK acknowledged new data: the path answers, backoff and tail probes start over. */
  onNewDataAcked(): void {
    this.backoff = 0;
    this.tailProbes = 0;
  }

  /** Bytes declared lost since the last call (what the congestion controller has not yet been told). */
  takeLostBytes(): number {
    const b = this.unreportedLostBytes;
    this.unreportedLostBytes = 0;
    return b;
  }

  /** Declares lost every pending packet older than the largest acknowledged by more than the loss delay. */
  detectLosses(nowMs: number): void {
    this.lossTimerMs = undefined;
    const base = Math.max(this.rtt.srttMs ?? this.rtt.latestMs, this.rtt.latestMs);
    const lossDelay = Math.max((this.lossDelayEighths / 8) * base, 1);
    for (let i = this.log.start; i < this.log.end; i++) {
      const p = this.log.at(i);
      if (p.pn >= this.largestAcked) break;
      if (p.state !== 'pending') continue;
      const deadline = p.timeSentMs + lossDelay;
      if (nowMs >= deadline) this.declareLost(p);
      else {
        this.lossTimerMs = deadline;
        break;
      }
    }
  }

  private declareLost(p: SentPacket): void {
    if (p.state !== 'pending') return;
    p.state = 'lost';
    this.log.bytesInFlight -= p.size;
    if (p.probe) {
      // a lost probe says the size may not fit, not that the path is congested: no retransmission, no cut
      this.pmtu.onProbeLost(p.probe);
      return;
    }
    // a packet sent before a retransmission timeout: the timeout already cut the estimate once for the silence;
    // counted here too, a 3 s blackout's whole flight read as ~100% random loss or as a heavy-loss congestion round
    if (p.pn > this.timeoutPn) this.unreportedLostBytes += p.size;
    this.counters.packetsLost++;
    this.host.onLost(p);
  }
}
