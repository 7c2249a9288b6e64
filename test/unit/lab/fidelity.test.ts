// The fidelity statistics on synthetic arrivals: counted loss, duplicates, reordering, percentiles and rate.
import { describe, expect, it } from 'vitest';
import { type Arrival, checkTargets, directionStats, fidelityTable, percentile } from '../../../src/lab/fidelity.js';

const arr = (seq: number, sentAt: number, at: number, bytes = 100): Arrival => ({ seq, sentAt, at, bytes });

describe('fidelity statistics', () => {
  it('percentile is nearest-rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });

  it('counts loss, duplicates and reordering by sequence number', () => {
    // 10 sent; 3 and 7 lost; 5 duplicated twice; 2 arrives after 4 (reordered); 9 after 8 normally
    const a = [0, 1, 4, 2, 5, 5, 5, 6, 8, 9].map((s, i) => arr(s, s * 10, s * 10 + 5 + i));
    const s = directionStats(10, a);
    expect(s).toMatchObject({ sent: 10, delivered: 8, lost: 2, duplicates: 2, reordered: 1 });
    expect(s.lossPct).toBeCloseTo(20);
    expect(s.duplicatePct).toBeCloseTo(20);
    expect(s.reorderPct).toBeCloseTo(100 / 8);
  });

  it('ignores sequence numbers outside the stream and takes delay from first copies only', () => {
    const s = directionStats(3, [arr(0, 0, 10), arr(0, 0, 99), arr(7, 0, 1), arr(1, 10, 20), arr(2, 20, 30)]);
    expect(s).toMatchObject({ delivered: 3, lost: 0, duplicates: 1, reordered: 0 });
    expect(s.delayMedianMs).toBe(10);
    expect(s.delayP99Ms).toBe(10);
  });

  it('delay median and p99 over first arrivals', () => {
    // 1000 probes: delay 20 ms, except every 50th at 100 ms (2%)
    const a = Array.from({ length: 1000 }, (_, i) => arr(i, i, i + (i % 50 === 0 ? 100 : 20)));
    a.sort((x, y) => x.at - y.at);
    const s = directionStats(1000, a);
    expect(s.delayMedianMs).toBe(20);
    expect(s.delayP99Ms).toBe(100);
    // the late ones arrive after later sequence numbers: counted as reordered
    expect(s.reordered).toBe(20);
  });

  it('rate is wire bits (payload + 28) after the first arrival over the arrival span', () => {
    // 101 arrivals of 97 bytes (125 wire bytes = 1000 bits) 1 ms apart: 100 × 1000 bits in 0.1 s = 1 Mbit/s
    const s = directionStats(
      101,
      Array.from({ length: 101 }, (_, i) => arr(i, 0, i, 97)),
    );
    expect(s.rateBit).toBeCloseTo(1e6);
    expect(directionStats(1, [arr(0, 0, 1)]).rateBit).toBeNull();
  });

  it('nothing arrived: all lost, no delay', () => {
    const s = directionStats(5, []);
    expect(s).toMatchObject({ delivered: 0, lost: 5, lossPct: 100, delayMedianMs: null, rateBit: null });
  });

  it('checks the targets (loss ±1 pp, median delay ±1 ms) and prints a table', () => {
    const ok = directionStats(
      100,
      Array.from({ length: 95 }, (_, i) => arr(i, i, i + 20.4)),
    );
    const bad = directionStats(
      100,
      Array.from({ length: 90 }, (_, i) => arr(i, i, i + 23)),
    );
    const r = {
      shaper: 'userspace' as const,
      where: 'test',
      up: 'delay 20ms loss 5%',
      down: 'delay 20ms loss 5%',
      probe: { count: 100, pps: 100, bytes: 100 },
      upStats: ok,
      downStats: bad,
      rttMedianMs: 40,
      rttP99Ms: 41,
      sentPps: 100,
    };
    const t = checkTargets(r);
    expect(t.map((c) => [c.what, c.ok])).toEqual([
      ['up loss %', true],
      ['up delay p50 ms', true],
      ['down loss %', false],
      ['down delay p50 ms', false],
    ]);
    const md = fidelityTable([r]);
    expect(md.split('\n')).toHaveLength(4);
    expect(md).toContain(
      '| userspace | test | down | `delay 20ms loss 5%` | 100 | 10.00 | 0.00 | 0.00 | 23.00 | 23.00 |',
    );
  });
});
