// A fake clock for NetemPath's polls and blackout windows (src/lab/shapers/netem.ts `Clock`): timers run when the
// test advances time, never by sleeping. Used by netem-shaper.test.ts and docker-image.test.ts.
import type { Clock } from '../../src/lab/shapers/netem.js';

/** Lets pending promise chains run (a few macrotask turns; not a sleep). */
export const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((ok) => setImmediate(ok));
};

export class FakeClock implements Clock {
  t = 0;
  private q: Array<{ at: number; fn: () => void }> = [];
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const h = { at: this.t + ms, fn };
    this.q.push(h);
    return h;
  }
  clearTimeout(h: unknown): void {
    this.q = this.q.filter((x) => x !== h);
  }
  pending(): number {
    return this.q.length;
  }
  /** Runs every timer due up to `target`, in order, letting the awaited fake commands settle between them. */
  async advanceTo(target: number): Promise<void> {
    for (;;) {
      await flush();
      const next = this.q.filter((x) => x.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.q = this.q.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at); // a slow fake command may have moved the clock on already
      next.fn();
    }
    this.t = Math.max(this.t, target);
    await flush();
  }
}
