import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RangeSet } from '../../../src/protocol/index.js';

/** The obvious model: a set of integers. */
function model(ops: Array<[number, number]>): Set<number> {
  const s = new Set<number>();
  for (const [a, b] of ops) for (let x = a; x < b; x++) s.add(x);
  return s;
}

const ops = fc.array(
  fc
    .tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 30 }))
    .map(([a, n]) => [a, a + n] as [number, number]),
  { maxLength: 40 },
);

describe('RangeSet (SACK range arithmetic) against a set-of-integers model', () => {
  it('membership, size, merging and add() counts match the model', () => {
    fc.assert(
      fc.property(ops, (list) => {
        const rs = new RangeSet();
        const m = new Set<number>();
        for (const [a, b] of list) {
          const before = m.size;
          for (let x = a; x < b; x++) m.add(x);
          expect(rs.add(a, b)).toBe(m.size - before);
        }
        expect(rs.size).toBe(m.size);
        for (let x = 0; x < 240; x++) expect(rs.has(x)).toBe(m.has(x));
        const arr = rs.toArray();
        for (let i = 1; i < arr.length; i++) expect(arr[i]![0]).toBeGreaterThan(arr[i - 1]![1]);
      }),
      { numRuns: 1000 },
    );
  });

  it('gaps(), covers() and contiguousFrom() match the model', () => {
    fc.assert(
      fc.property(ops, fc.integer({ min: 0, max: 230 }), fc.integer({ min: 0, max: 60 }), (list, a, n) => {
        const rs = RangeSet.of(list);
        const m = model(list);
        const b = a + n;
        const gapPoints = rs.gaps(a, b).flatMap(([x, y]) => Array.from({ length: y - x }, (_, i) => x + i));
        const expected = Array.from({ length: n }, (_, i) => a + i).filter((x) => !m.has(x));
        expect(gapPoints).toEqual(expected);
        expect(rs.covers(a, b)).toBe(expected.length === 0);
        let c = a;
        while (m.has(c)) c++;
        expect(rs.contiguousFrom(a)).toBe(c);
      }),
      { numRuns: 1000 },
    );
  });

  it('descending() and trimLowest() keep the highest ranges', () => {
    const rs = RangeSet.of([
      [0, 2],
      [5, 6],
      [10, 20],
    ]);
    expect(rs.descending(2)).toEqual([
      [10, 20],
      [5, 6],
    ]);
    rs.trimLowest(1);
    expect(rs.toArray()).toEqual([[10, 20]]);
  });
});

describe('RangeSet per-packet paths (in-place add, nextCovered, inclusive descending)', () => {
  it('agrees with a set of covered points after any adds', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 12 })), { maxLength: 30 }),
        (adds) => {
          const s = new RangeSet();
          const model = new Set<number>();
          for (const [a, n] of adds) {
            let fresh = 0;
            for (let x = a; x < a + n; x++)
              if (!model.has(x)) {
                fresh++;
                model.add(x);
              }
            expect(s.add(a, a + n)).toBe(fresh);
          }
          const arr = s.toArray();
          for (let k = 1; k < arr.length; k++) expect(arr[k]![0]).toBeGreaterThan(arr[k - 1]![1]); // disjoint, not touching
          for (let from = 0; from <= 75; from++) {
            let want = Number.POSITIVE_INFINITY;
            for (let x = from; x <= 75; x++)
              if (model.has(x)) {
                want = x;
                break;
              }
            expect(s.nextCovered(from)).toBe(want);
          }
          expect(s.descending(4, true)).toEqual(
            arr
              .slice(-4)
              .reverse()
              .map(([a, b]) => [a, b - 1]),
          );
        },
      ),
    );
  });
});
