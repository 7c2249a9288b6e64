// A set of disjoint half-open integer ranges [start, end), kept sorted and merged.
// Used for received data (the journal), acknowledged data and received packet numbers.
// Rules: ranges never touch or overlap after an insert; operations are O(log n + k).

export type Range = readonly [start: number, end: number];

export class RangeSet {
  private starts: number[] = [];
  private ends: number[] = [];

  static of(ranges: readonly Range[]): RangeSet {
    const s = new RangeSet();
    for (const [a, b] of ranges) s.add(a, b);
    return s;
  }

  get count(): number {
    return this.starts.length;
  }

  /** Total length covered. */
  get size(): number {
    let n = 0;
    for (let i = 0; i < this.starts.length; i++) n += this.ends[i]! - this.starts[i]!;
    return n;
  }

  /** Index of the first range whose end is >= x. */
  private lowerBound(x: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ends[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds [start, end); returns the number of newly covered units. */
  add(start: number, end: number): number {
    if (end <= start) return 0;
    const i = this.lowerBound(start);
    let j = i;
    let newStart = start;
    let newEnd = end;
    let covered = 0;
    while (j < this.starts.length && this.starts[j]! <= end) {
      const s = this.starts[j]!;
      const e = this.ends[j]!;
      covered += Math.max(0, Math.min(e, end) - Math.max(s, start));
      newStart = Math.min(newStart, s);
      newEnd = Math.max(newEnd, e);
      j++;
    }
    // in place when one range grows or one is appended (nearly every add of a transfer): splice allocates
    if (j - i === 1) {
      this.starts[i] = newStart;
      this.ends[i] = newEnd;
    } else if (j === i && i === this.starts.length) {
      this.starts.push(newStart);
      this.ends.push(newEnd);
    } else {
      this.starts.splice(i, j - i, newStart);
      this.ends.splice(i, j - i, newEnd);
    }
    return end - start - covered;
  }

  /** True when adding [start, end) would merge with a held range (touch or overlap), not start a new one. */
  touches(start: number, end: number): boolean {
    const i = this.lowerBound(start);
    return i < this.starts.length && this.starts[i]! <= end;
  }

  /** True when [start, end) is wholly covered. */
  covers(start: number, end: number): boolean {
    if (end <= start) return true;
    const i = this.lowerBound(start + 1);
    return i < this.starts.length && this.starts[i]! <= start && this.ends[i]! >= end;
  }

  has(x: number): boolean {
    return this.covers(x, x + 1);
  }

  /** End of the range starting at `from` (or `from` itself when `from` is not covered). */
  contiguousFrom(from = 0): number {
    const i = this.lowerBound(from + 1);
    if (i < this.starts.length && this.starts[i]! <= from) return this.ends[i]!;
    return from;
  }

  /** The first uncovered point at or after `from`. */
  nextGap(from: number): number {
    return this.contiguousFrom(from);
  }

  /** The first covered point at or after `from` (`from` itself when covered; Infinity when nothing is beyond). */
  nextCovered(from: number): number {
    const i = this.lowerBound(from + 1);
    return i < this.starts.length ? Math.max(this.starts[i]!, from) : Number.POSITIVE_INFINITY;
  }

  /** Parts of [start, end) not covered, in order. */
  gaps(start: number, end: number): Range[] {
    const out: Range[] = [];
    let cur = start;
    for (let i = this.lowerBound(start + 1); i < this.starts.length && cur < end; i++) {
      const s = this.starts[i]!;
      if (s >= end) break;
      if (s > cur) out.push([cur, s]);
      cur = Math.max(cur, this.ends[i]!);
    }
    if (cur < end) out.push([cur, end]);
    return out;
  }

  /** Drops the lowest ranges until at most `max` remain. */
  trimLowest(max: number): void {
    if (this.starts.length > max) {
      const k = this.starts.length - max;
      this.starts.splice(0, k);
      this.ends.splice(0, k);
    }
  }

  /** Ranges from highest to lowest, at most `limit`; `inclusive`: as [first, last] rather than [start, end). */
  descending(limit: number, inclusive = false): Range[] {
    const out: Range[] = [];
    const d = inclusive ? 1 : 0;
    for (let i = this.starts.length - 1; i >= 0 && out.length < limit; i--)
      out.push([this.starts[i]!, this.ends[i]! - d]);
    return out;
  }

  toArray(): Range[] {
    return this.starts.map((s, i) => [s, this.ends[i]!] as const);
  }

  /** Highest covered end, or 0 when empty. */
  get max(): number {
    return this.ends.length ? this.ends[this.ends.length - 1]! : 0;
  }
}
