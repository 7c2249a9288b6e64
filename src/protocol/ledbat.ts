// The background (scavenger) controller behind `--background`: LEDBAT (RFC 6817) with LEDBAT++'s slower growth
// (draft-irtf-iccrg-ledbat-plus-plus), on RTT instead of one-way delay (the receiver sends no timestamps).
// queueing delay = the smallest of the last 4 RTT samples − the smallest RTT seen (base delay). Below TARGET the
// window grows by GAIN packets per window of ACKs (GAIN = 1 / min(16, ⌈2 × TARGET / base⌉): slower than Reno's one
// packet); above TARGET it shrinks in proportion to how far above (at most by half per round trip); any loss halves
// it, once per round trip. So it fills an idle link with ~TARGET of queue and yields to a flow that builds more
// queue than TARGET — which any loss-based TCP does — and to any loss. Pacing is 1.2 × window ÷ smoothed RTT.
// Start: slow start (one packet per ACKed packet) until the queueing delay passes 3/4 of TARGET or a loss.
// No random-loss compensation: a background transfer gives way to loss, whatever caused it.
import type { AckSample, CongestionControl } from './congestion.js';

/** Target queueing delay (RFC 6817 allows ≤ 100 ms; the low end of the 25–100 ms range issue 22 names). */
export const LEDBAT_TARGET_MS = 25;
const CURRENT_FILTER = 4;
const MIN_CWND_PACKETS = 2;
const INITIAL_CWND_PACKETS = 4;

export class LedbatController implements CongestionControl {
  mode: 'startup' | 'probe_bw' = 'startup';
  /** No random-loss estimate: every loss is a reason to yield. */
  readonly randomLoss = 0;
  congestionEvents = 0;
  private cwnd: number;
  private baseMs = Number.POSITIVE_INFINITY;
  private readonly recent: number[] = [];
  private srttMs = 0;
  private lastCutMs = Number.NEGATIVE_INFINITY;
  private roundDecrease = 0;

  constructor(public mss: number) {
    this.cwnd = INITIAL_CWND_PACKETS * mss;
  }

  /** The latest queueing delay estimate (ms), for traces. */
  get queueingDelayMs(): number {
    return this.recent.length === 0 ? 0 : Math.min(...this.recent) - this.baseMs;
  }

  get cwndBytes(): number {
    return this.cwnd;
  }

  /** What the window carries per RTT (bytes per second): the counterpart of the main controller's estimate. */
  get btlBwBps(): number {
    return this.srttMs > 0 ? (this.cwnd * 1000) / this.srttMs : 0;
  }

  get pacingRateBps(): number {
    const rtt = this.srttMs > 0 ? this.srttMs : 100;
    return Math.max((1.2 * this.cwnd * 1000) / rtt, 2 * this.mss);
  }

  onAck(s: AckSample): void {
    if (s.rttMs > 0) {
      this.srttMs = this.srttMs === 0 ? s.rttMs : 0.875 * this.srttMs + 0.125 * s.rttMs;
      if (s.rttMs < this.baseMs) this.baseMs = s.rttMs;
      this.recent.push(s.rttMs);
      if (this.recent.length > CURRENT_FILTER) this.recent.shift();
    }
    if (s.lostBytes > 0) this.onLoss(s.nowMs);
    if (s.roundEnded) this.roundDecrease = 0;
    if (s.ackedBytes === 0 || this.recent.length === 0) return;
    const qd = this.queueingDelayMs;
    if (this.mode === 'startup') {
      if (qd > 0.75 * LEDBAT_TARGET_MS) this.mode = 'probe_bw';
      else {
        this.cwnd += s.ackedBytes;
        return;
      }
    }
    const gain = 1 / Math.min(16, Math.ceil((2 * LEDBAT_TARGET_MS) / Math.max(this.baseMs, 1)));
    if (qd <= LEDBAT_TARGET_MS) {
      this.cwnd += (gain * s.ackedBytes * this.mss) / this.cwnd;
    } else {
      // above target: shrink by (qd/target − 1) of what was acked, at most half a window per round trip
      const over = Math.min(1, qd / LEDBAT_TARGET_MS - 1);
      const d = Math.min(over * s.ackedBytes, Math.max(0, this.cwnd / 2 - this.roundDecrease));
      this.roundDecrease += d;
      this.cwnd -= d;
    }
    this.cwnd = Math.max(this.cwnd, MIN_CWND_PACKETS * this.mss);
  }

  private onLoss(nowMs: number): void {
    this.mode = 'probe_bw';
    if (nowMs - this.lastCutMs < Math.max(this.srttMs, 1)) return;
    this.lastCutMs = nowMs;
    this.congestionEvents++;
    this.cwnd = Math.max(this.cwnd / 2, MIN_CWND_PACKETS * this.mss);
  }

  onTimeout(first = true): void {
    if (!first) return;
    this.congestionEvents++;
    this.cwnd = MIN_CWND_PACKETS * this.mss;
    this.mode = 'probe_bw';
  }
}
