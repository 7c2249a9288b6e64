// RTT estimation and the retransmission timeout of RFC 6298:
//   first sample R: SRTT = R, RTTVAR = R/2; then RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, SRTT = 7/8 SRTT + 1/8 R;
//   RTO = SRTT + max(G, 4 RTTVAR), clamped to [minRtoMs, maxRtoMs]; backoff doubles it per expiry.
// Karn's rule: every RUFT packet number is sent once (a retransmission carries the data in a new packet),
// so an ACK names exactly one transmission and every sample is unambiguous; samples are never taken from
// a packet whose number was reused, because none is.
// Also keeps min RTT (windowed) and a log-bucket histogram for min / avg / p99 reports: 1/16-octave buckets from
// 1 µs to 2^28 µs (about 268 s; longer samples land in the last bucket), 448 counters in all, and a percentile is
// reported as its bucket's geometric midpoint, so it is within ±2.2% (2^(1/32) − 1) of a sample in that bucket.
// (The buckets were √2 wide until 0.1: every p99 then read as one of a few values, 65.536 or 92.682 ms.)

export const INITIAL_RTO_MS = 1000;
/** Buckets per octave of the RTT histogram. */
export const RTT_BUCKETS_PER_OCTAVE = 16;
const RTT_BUCKETS = 28 * RTT_BUCKETS_PER_OCTAVE;
/** How far a reported percentile can be from the samples of its bucket, relative: 2^(1/32) − 1 ≈ 2.2%. */
export const RTT_PERCENTILE_PRECISION = 2 ** (1 / (2 * RTT_BUCKETS_PER_OCTAVE)) - 1;

export class RttEstimator {
  srttMs: number | undefined;
  rttVarMs = 0;
  latestMs = 0;
  minMs = Number.POSITIVE_INFINITY;
  private minStampMs = 0;
  private sumMs = 0;
  samples = 0;
  private readonly buckets = new Uint32Array(RTT_BUCKETS);

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
    this.buckets[Math.min(RTT_BUCKETS - 1, Math.max(0, Math.floor(Math.log2(r * 1000) * RTT_BUCKETS_PER_OCTAVE)))]!++;
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

  /** The 99th percentile, within RTT_PERCENTILE_PRECISION (its bucket's geometric midpoint). */
  get p99Ms(): number {
    return this.percentileMs(0.99);
  }

  /** The q-quantile (0 < q ≤ 1) of the samples, as the geometric midpoint of the bucket it falls in. */
  percentileMs(q: number): number {
    if (!this.samples) return 0;
    const target = Math.max(1, Math.ceil(this.samples * q));
    let seen = 0;
    for (let i = 0; i < RTT_BUCKETS; i++) {
      seen += this.buckets[i]!;
      if (seen >= target) return 2 ** ((i + 0.5) / RTT_BUCKETS_PER_OCTAVE) / 1000;
    }
    return 0;
  }
}
