// A binary min-heap of events ordered by (time, sequence number): ties resolve in insertion order,
// so every run with the same inputs takes the same path.

export interface Scheduled<T> {
  atMs: number;
  seq: number;
  value: T;
}

export class EventQueue<T> {
  private readonly heap: Array<Scheduled<T>> = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Time of the earliest event, if any. */
  peekTime(): number | undefined {
    return this.heap[0]?.atMs;
  }

  push(atMs: number, value: T): void {
    const h = this.heap;
    h.push({ atMs, seq: this.seq++, value });
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!less(h[i]!, h[p]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  pop(): Scheduled<T> | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined) return undefined;
    if (h.length > 0) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}

function less<T>(a: Scheduled<T>, b: Scheduled<T>): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}
