// One writer per final name across worker threads: a table of 64-bit name digests in a SharedArrayBuffer,
// guarded by one Atomics mutex (taken only to start or end an upload, never per packet). A digest collision
// (2^-64 per pair of names) could only refuse an upload with E_BUSY, never let two writers in.
import { createHash } from 'node:crypto';
import type { NameLock } from './server.js';

const SLOTS = 4096;

/**
 * Runs `f` holding the mutex at word 0 of `a` (shared by threads): a short critical section, spinning on
 * compareExchange and sleeping on the word between tries. Never call it per packet.
 */
export function spinLocked<T>(a: Int32Array, f: () => T): T {
  while (Atomics.compareExchange(a, 0, 0, 1) !== 0) Atomics.wait(a, 0, 1, 5);
  try {
    return f();
  } finally {
    Atomics.store(a, 0, 0);
    Atomics.notify(a, 0, 1);
  }
}

export function sharedLockBuffer(): SharedArrayBuffer {
  // [0] the mutex, then SLOTS pairs of Int32 (0,0 = free)
  return new SharedArrayBuffer(4 * (1 + 2 * SLOTS));
}

export class SharedNameLock implements NameLock {
  private readonly a: Int32Array;
  constructor(buffer: SharedArrayBuffer) {
    this.a = new Int32Array(buffer);
  }

  private digest(path: string): [number, number] {
    const d = createHash('sha256').update(path).digest();
    const hi = d.readInt32LE(0);
    const lo = d.readInt32LE(4);
    return hi === 0 && lo === 0 ? [1, 0] : [hi, lo];
  }

  private locked<T>(f: () => T): T {
    return spinLocked(this.a, f);
  }

  private find(hi: number, lo: number): number {
    for (let i = 0; i < SLOTS; i++) if (this.a[1 + 2 * i] === hi && this.a[2 + 2 * i] === lo) return i;
    return -1;
  }

  held(path: string): boolean {
    const [hi, lo] = this.digest(path);
    return this.locked(() => this.find(hi, lo) >= 0);
  }

  take(path: string): boolean {
    const [hi, lo] = this.digest(path);
    return this.locked(() => {
      if (this.find(hi, lo) >= 0) return false;
      const free = this.find(0, 0);
      if (free < 0) return false; // 4,096 uploads at once: refused as busy
      this.a[1 + 2 * free] = hi;
      this.a[2 + 2 * free] = lo;
      return true;
    });
  }

  release(path: string): void {
    const [hi, lo] = this.digest(path);
    this.locked(() => {
      const i = this.find(hi, lo);
      if (i >= 0) {
        this.a[1 + 2 * i] = 0;
        this.a[2 + 2 * i] = 0;
      }
    });
  }
}
