// RTT estimation and the retransmission timeout of RFC 6298:
//   first sample R: SRTT = R, RTTVAR = R/2; then RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, SRTT = 7/8 SRTT + 1/8 R;
//   RTO = SRTT + max(G, 4 RTTVAR), clamped to [minRtoMs, maxRtoMs]; backoff doubles it per expiry.
// Karn's rule: every RUFT packet number is sent once (a retransmission carries the data in a new packet),
// so an ACK names exactly one transmission and every sample is unambiguous; samples are never taken from
// a packet whose number was reused, because none is.
// Also keeps min RTT (windowed) and a log-bucket histogram for min / avg / p99 reports.

export const INITIAL_RTO_MS = 1000;

export class RttEstimator {
  srttMs: number | undefined;
  rttVarMs = 0;
  latestMs = 0;
  minMs = Number.POSITIVE_INFINITY;
  private minStampMs = 0;
  private sumMs = 0;
  samples = 0;
  private readonly buckets = new Uint32Array(64);

  constructor(
    readonly granularityMs = 1,
    readonly minRtoMs = 200,
    readonly maxRtoMs = 60_000,
    readonly minWindowMs = 10_000,
  ) {}

  update(nowMs: number, sampleMs: number): void {
    const r = Math.max(sampleMs, 0.001);
    this.latestMs = r;
    this.samples++;
    this.sumMs += r;
    this.buckets[Math.min(63, Math.max(0, Math.floor(Math.log2(r * 1000) * 2)))]!++;
    if (r <= this.minMs || nowMs - this.minStampMs > this.minWindowMs) {
      this.minMs = r;
      this.minStampMs = nowMs;
    }
    if (this.srttMs === undefined) {
      this.srttMs = r;
      this.rttVarMs = r / 2;
    } else {
      this.rttVarMs = 0.75 * this.rttVarMs + 0.25 * Math.abs(this.srttMs - r);
      this.srttMs = 0.875 * this.srttMs + 0.125 * r;
    }
  }

  /** The RTO before backoff. */
  rtoMs(): number {
    if (this.srttMs === undefined) return INITIAL_RTO_MS;
    const rto = this.srttMs + Math.max(this.granularityMs, 4 * this.rttVarMs);
    return Math.min(this.maxRtoMs, Math.max(this.minRtoMs, rto));
  }

  get avgMs(): number {
    return this.samples ? this.sumMs / this.samples : 0;
  }

  /** Approximate 99th percentile (upper edge of the log bucket). */
  get p99Ms(): number {
    if (!this.samples) return 0;
    const target = Math.ceil(this.samples * 0.99);
    let seen = 0;
    for (let i = 0; i < 64; i++) {
      seen += this.buckets[i]!;
      if (seen >= target) return 2 ** ((i + 1) / 2) / 1000;
    }
    return 0;
  }
}
