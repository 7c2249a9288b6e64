// The admission counts of one server, whether one thread or the N workers of `serve --workers` share them
// (review workers-2026-12, W1): the per-source handshake token buckets (RETRY, KEY RESPONSE and every session
// created cost a token), the active sessions per source, and the sessions in all. They live in a
// SharedArrayBuffer under one Atomics mutex (name-lock.ts `spinLocked`), taken once per RETRY, KEY RESPONSE,
// session start or session end — never per data packet — so a source gets the same limits from N workers as
// from one, and --max-sessions bounds the whole server's memory.
// Layout: Int32 [0] mutex, [1] sessions in all, [2..3] the hash key, then SLOTS source slots of Int32 (digest hi,
// digest lo, active sessions) and Float64 (tokens, last refill ms). The digest is a 64-bit keyed multiplicative hash
// of the source string (random key per server, not known to clients), ~50× cheaper than a SHA-256 object: this runs
// for every RETRY, i.e. for each datagram of a flood of cookie-less INITIALs. A source's slot is found by open addressing in the PROBE slots
// from its digest; a new source takes a free slot, else the stalest slot with no active session (its bucket then
// starts full again, as an evicted entry of the old per-thread table did); a source that finds none (PROBE slots
// all holding active sessions: far past any --max-sessions this table is meant for) is refused, never let in.
// Times are on one time base for every thread (`nowMs` from the caller: the workers' shared wall clock).
import { randomBytes } from 'node:crypto';
import { spinLocked } from './name-lock.js';

const SLOTS = 16_384;
const PROBE = 32;
const HEAD = 4;
const INT32S = HEAD + 3 * SLOTS;
/** Float64s start at the first 8-byte boundary after the Int32 part. */
const F64_OFFSET = Math.ceil((INT32S * 4) / 8) * 8;

export function sharedAdmissionBuffer(): SharedArrayBuffer {
  const b = new SharedArrayBuffer(F64_OFFSET + 8 * 2 * SLOTS);
  new Uint8Array(b, 8, 8).set(randomBytes(8)); // the hash key, Int32 [2..3]
  return b;
}

export interface Admitted {
  /** Sessions of the whole server, this one included. */
  total: number;
  /** Active sessions of this source before this one. */
  from: number;
}

export class SharedAdmission {
  private readonly a: Int32Array;
  private readonly f: Float64Array;

  constructor(
    buffer: SharedArrayBuffer,
    private readonly burst: number,
    private readonly perSecond: number,
  ) {
    this.a = new Int32Array(buffer, 0, INT32S);
    this.f = new Float64Array(buffer, F64_OFFSET, 2 * SLOTS);
  }

  private digest(source: string): [number, number] {
    // two 32-bit lanes (FNV-style multiply-xor, each seeded with half of the key), then a final avalanche
    let h = this.a[2]! ^ 0x811c9dc5;
    let l = this.a[3]! ^ 0x01000193;
    for (let i = 0; i < source.length; i++) {
      const c = source.charCodeAt(i);
      h = Math.imul(h ^ c, 0x01000193);
      l = Math.imul(l ^ c, 0x5bd1e995);
    }
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) ^ l;
    l = Math.imul(l ^ (l >>> 13), 0xc2b2ae35) ^ h;
    h ^= h >>> 16;
    l ^= l >>> 16;
    return h === 0 && l === 0 ? [1, 0] : [h | 0, l | 0];
  }

  /** The slot of (hi, lo), made when `create` (a fresh bucket); -1 when absent or no slot is free. Under the mutex. */
  private slot(hi: number, lo: number, nowMs: number, create: boolean): number {
    const a = this.a;
    const start = (lo >>> 0) % SLOTS;
    let free = -1;
    let stale = -1;
    let staleMs = Number.POSITIVE_INFINITY;
    for (let k = 0; k < PROBE; k++) {
      const i = (start + k) % SLOTS;
      const h = a[HEAD + 3 * i]!;
      const l = a[HEAD + 3 * i + 1]!;
      if (h === hi && l === lo) return i;
      if (h === 0 && l === 0) {
        if (free < 0) free = i;
      } else if (a[HEAD + 3 * i + 2] === 0 && this.f[2 * i + 1]! < staleMs) {
        stale = i;
        staleMs = this.f[2 * i + 1]!;
      }
    }
    if (!create) return -1;
    const i = free >= 0 ? free : stale;
    if (i < 0) return -1;
    a[HEAD + 3 * i] = hi;
    a[HEAD + 3 * i + 1] = lo;
    a[HEAD + 3 * i + 2] = 0;
    this.f[2 * i] = this.burst;
    this.f[2 * i + 1] = nowMs;
    return i;
  }

  /** Refills slot `i`'s bucket to `nowMs` and takes a token if there is one. Under the mutex. */
  private take(i: number, nowMs: number): boolean {
    const f = this.f;
    const elapsed = Math.max(0, nowMs - f[2 * i + 1]!);
    const tokens = Math.min(this.burst, f[2 * i]! + (elapsed / 1000) * this.perSecond);
    f[2 * i + 1] = Math.max(nowMs, f[2 * i + 1]!);
    if (tokens < 1) {
      f[2 * i] = tokens;
      return false;
    }
    f[2 * i] = tokens - 1;
    return true;
  }

  /** One handshake token of `source` (a RETRY or KEY RESPONSE it may be sent). */
  allow(source: string, nowMs: number): boolean {
    const [hi, lo] = this.digest(source);
    return spinLocked(this.a, () => {
      const i = this.slot(hi, lo, nowMs, true);
      return i >= 0 && this.take(i, nowMs);
    });
  }

  /**
   * A new session from `source`: refused (undefined, nothing counted or spent) when the server already holds
   * `maxTotal` sessions or the source `maxFrom` active ones, or (a token spent on nothing) when its bucket is
   * empty; else counted, and the counts returned for the caller's softer limits (E_BUSY).
   */
  admit(source: string, nowMs: number, maxTotal: number, maxFrom: number): Admitted | undefined {
    const [hi, lo] = this.digest(source);
    return spinLocked(this.a, () => {
      const total = this.a[1]!;
      if (total >= maxTotal) return undefined;
      const i = this.slot(hi, lo, nowMs, true);
      if (i < 0) return undefined;
      const from = this.a[HEAD + 3 * i + 2]!;
      if (from >= maxFrom || !this.take(i, nowMs)) return undefined;
      this.a[HEAD + 3 * i + 2] = from + 1;
      this.a[1] = total + 1;
      return { total: total + 1, from };
    });
  }

  /** A session `admit` counted stopped being active (closed, or lingering to repeat its last answer). */
  inactive(source: string): void {
    const [hi, lo] = this.digest(source);
    spinLocked(this.a, () => {
      const i = this.slot(hi, lo, 0, false);
      if (i >= 0 && this.a[HEAD + 3 * i + 2]! > 0) this.a[HEAD + 3 * i + 2] = this.a[HEAD + 3 * i + 2]! - 1;
    });
  }

  /** A session `admit` counted is gone. */
  ended(): void {
    spinLocked(this.a, () => {
      if (this.a[1]! > 0) this.a[1] = this.a[1]! - 1;
    });
  }

  /** Sessions of the whole server. */
  total(): number {
    return Atomics.load(this.a, 1);
  }
}
