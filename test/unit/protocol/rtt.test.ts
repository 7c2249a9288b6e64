import { describe, expect, it } from 'vitest';
import { RTT_PERCENTILE_PRECISION, RttEstimator } from '../../../src/protocol/index.js';

describe('RTT estimator (RFC 6298)', () => {
  it('starts at 1 s, then follows SRTT + 4·RTTVAR, clamped', () => {
    const r = new RttEstimator(1, 200, 60_000);
    expect(r.rtoMs()).toBe(1000);
    r.update(0, 100); // SRTT 100, RTTVAR 50 → 300
    expect(r.srttMs).toBe(100);
    expect(r.rttVarMs).toBe(50);
    expect(r.rtoMs()).toBe(300);
    r.update(1, 100); // RTTVAR 37.5, SRTT 100 → 250
    expect(r.rtoMs()).toBe(250);
    for (let i = 0; i < 50; i++) r.update(2 + i, 10);
    expect(r.rtoMs()).toBe(200); // the floor
    expect(r.minMs).toBe(10);
  });

  it('reports min, avg and p99 within the precision it claims', () => {
    const r = new RttEstimator();
    for (let i = 1; i <= 100; i++) r.update(i, i);
    expect(r.minMs).toBe(1);
    expect(r.avgMs).toBeCloseTo(50.5);
    expect(RTT_PERCENTILE_PRECISION).toBeLessThan(0.022);
    expect(Math.abs(r.p99Ms / 99 - 1)).toBeLessThanOrEqual(RTT_PERCENTILE_PRECISION);
  });

  it('p99 of a known distribution (uniform 20–60 ms, 100,000 samples) is within the bucket precision', () => {
    const r = new RttEstimator();
    let x = 12345;
    const all: number[] = [];
    for (let i = 0; i < 100_000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0; // a fixed LCG: the same samples every run
      const v = 20 + (x / 2 ** 32) * 40;
      all.push(v);
      r.update(i, v);
    }
    all.sort((a, b) => a - b);
    const exact = all[Math.ceil(all.length * 0.99) - 1]!;
    expect(Math.abs(r.p99Ms / exact - 1)).toBeLessThanOrEqual(RTT_PERCENTILE_PRECISION);
    expect(Math.abs(r.percentileMs(0.5) / all[49_999]! - 1)).toBeLessThanOrEqual(RTT_PERCENTILE_PRECISION);
    // no longer a few fixed values: neither the old √2 edges 65.536 nor 92.682
    expect(r.p99Ms).toBeGreaterThan(58);
    expect(r.p99Ms).toBeLessThan(61);
  });

  it('keeps samples beyond the histogram range in its last bucket (memory stays bounded)', () => {
    const r = new RttEstimator();
    r.update(0, 1e9);
    expect(r.p99Ms).toBeGreaterThan(200_000);
    expect(Number.isFinite(r.p99Ms)).toBe(true);
  });
});
