// A hostile relay stage for security tests: after the first N packets of a direction (the handshake), it
// flips bits in, truncates, replays and reorders datagrams. Grammar (for `udplab relay --tamper`):
//   after N flip P% truncate P% replay P% reorder P%      (every part optional)
// With AEAD every altered or replayed datagram must be dropped by the receiver: a transfer through this
// stage either completes with the right SHA-256 or fails with an authentication error — never a wrong file.
import { copyBytes, parsePercent, type Rng } from '../impair/index.js';

export interface TamperOptions {
  afterPackets: number;
  flipPct: number;
  truncatePct: number;
  replayPct: number;
  reorderPct: number;
}

export interface TamperStats {
  seen: number;
  flipped: number;
  truncated: number;
  replayed: number;
  reordered: number;
}

export function parseTamper(text: string): TamperOptions {
  const o: TamperOptions = { afterPackets: 0, flipPct: 0, truncatePct: 0, replayPct: 0, reorderPct: 0 };
  const w = text.trim().split(/\s+/).filter(Boolean);
  for (let i = 0; i < w.length; i += 2) {
    const key = w[i]!;
    const v = w[i + 1];
    if (v === undefined) throw new Error(`tamper: "${key}" needs a value`);
    if (key === 'after') {
      if (!/^\d+$/.test(v)) throw new Error(`tamper: after expects a packet count, got "${v}"`);
      o.afterPackets = Number(v);
      continue;
    }
    const pct = parsePercent(v);
    if (pct === undefined) throw new Error(`tamper: ${key} expects a percentage, got "${v}"`);
    if (key === 'flip') o.flipPct = pct;
    else if (key === 'truncate') o.truncatePct = pct;
    else if (key === 'replay') o.replayPct = pct;
    else if (key === 'reorder') o.reorderPct = pct;
    else throw new Error(`tamper: unknown word "${key}" (after, flip, truncate, replay, reorder)`);
  }
  return o;
}

export class Tamper {
  readonly stats: TamperStats = { seen: 0, flipped: 0, truncated: 0, replayed: 0, reordered: 0 };
  private readonly recent: Uint8Array[] = [];
  private held: Uint8Array | undefined;

  constructor(
    private readonly o: TamperOptions,
    private readonly rng: Rng,
  ) {}

  /** The datagrams to send in place of `b` (none, one, or several). */
  apply(b: Uint8Array): Uint8Array[] {
    this.stats.seen++;
    if (this.stats.seen <= this.o.afterPackets) return [b];
    const out: Uint8Array[] = [];
    let d = b;
    const roll = (pct: number) => pct > 0 && this.rng.next() < pct / 100;
    if (roll(this.o.flipPct)) {
      d = copyBytes(d);
      const i = this.rng.int(d.length);
      d[i] = d[i]! ^ (1 << this.rng.int(8));
      this.stats.flipped++;
    }
    if (roll(this.o.truncatePct) && d.length > 1) {
      d = d.slice(0, this.rng.int(d.length));
      this.stats.truncated++;
    }
    if (roll(this.o.replayPct) && this.recent.length > 0) {
      out.push(this.recent[this.rng.int(this.recent.length)]!);
      this.stats.replayed++;
    }
    this.recent.push(b);
    if (this.recent.length > 64) this.recent.shift();
    if (this.held) {
      out.push(d, this.held);
      this.held = undefined;
    } else if (roll(this.o.reorderPct)) {
      this.held = d;
      this.stats.reordered++;
    } else out.push(d);
    return out;
  }
}
