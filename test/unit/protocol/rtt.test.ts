import { describe, expect, it } from 'vitest';
import { RttEstimator } from '../../../src/protocol/index.js';

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

  it('reports min, avg and an upper-bound p99', () => {
    const r = new RttEstimator();
    for (let i = 1; i <= 100; i++) r.update(i, i);
    expect(r.minMs).toBe(1);
    expect(r.avgMs).toBeCloseTo(50.5);
    expect(r.p99Ms).toBeGreaterThanOrEqual(99);
    expect(r.p99Ms).toBeLessThan(150);
  });
});
