// A hostile peer that holds a session's keys: what it can put in an authenticated DATA packet, and how the
// simulator lets it inject such packets into a real transfer (SimOptions.hostilePeer).
// - hostilePayload(): frames at the edges of every field (DATA past the end, at the window edge, compressed
//   bytes that do not decompress; ACKs of packets never sent, absurd ranges, flow-control limits and delays;
//   FIN of another size or hash; DONE; CLOSE full of control characters; STATS, PING, PAD, PATH_CHALLENGE /
//   RESPONSE), frame lists the decoder must refuse (more than 64 frames, two ACKs, unknown types,
//   truncations, flipped bytes) and raw random payloads. The live fuzz test against `udplab serve` uses it too.
// - HostilePeer: sees every DATA packet either side sends (decrypted with keys derived from the handshake it
//   watched, as the peer itself would hold them) and, at `rate` per packet, answers with packets sealed as its
//   side toward the other: mutated frames, copies of the side's own frames (benign duplicates or shifted,
//   corrupting ones), with packet numbers next to, ahead of, or behind the side's own.
// Rules: sans-I/O and seeded — one Rng stream, so a run replays exactly from its seed and options.
import { copyBytes, type Rng } from '../impair/index.js';
import { encodeFrames, type Frame } from '../protocol/index.js';

const U48_MAX = 2 ** 48 - 1;
const U32_MAX = 2 ** 32 - 1;
/** The receiver's default window: data is taken only below the contiguous prefix + this. */
const WINDOW = 16 << 20;

export interface HostileTarget {
  /** The size of the file the session transfers, as its handshake declared it. */
  sizeBytes: number;
  /** The largest packet number the attacked side has sent (ACKs that name real packets); -1: none seen. */
  peerLargestPn: number;
  /** May frames that end the session be chosen (CLOSE, DONE, a FIN of another size, DATA past the end, …)? */
  fatal: boolean;
  /** Compresses a chunk as the session's codec does (compressed DATA that decompresses); absent: none. */
  compress?: (data: Uint8Array) => Uint8Array;
  /** Upper bound of the payload built (default 1,400 bytes). */
  maxPayloadBytes?: number;
}

export interface HostilePayload {
  kind: string;
  payload: Uint8Array;
  /** The frames, when the payload is exactly their encoding (a caller may add frames and re-encode). */
  frames?: Frame[];
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)]!;

/** A number at an edge: 0, 1, around `near`, the largest u48, or anything below `max`. */
function edge(rng: Rng, near: readonly number[], max = U48_MAX): number {
  switch (rng.int(5)) {
    case 0:
      return pick(rng, [0, 1, max, max - 1]);
    case 1:
    case 2: {
      const n = pick(rng, near) + rng.int(5) - 2;
      return Math.min(max, Math.max(0, n));
    }
    case 3:
      return Math.floor(rng.next() * max);
    default:
      return pick(rng, [2 ** 31, 2 ** 32, 2 ** 40, 2 ** 47, WINDOW, WINDOW - 1]);
  }
}

const u32Edge = (rng: Rng) => pick(rng, [0, 1, U32_MAX, U32_MAX - 1, 2 ** 31, rng.nextU32()]);

/** Text with control characters, terminal escapes, bidi overrides and NULs (what a log must not echo). */
function hostileText(rng: Rng, maxChars: number): string {
  const parts = ['\u0000', '\n', '\r', '\u001b[2J', '\u001b[31m', '\u007f', '\u0085', '\u202e', '\u2028', 'E_', '%s'];
  let s = '';
  const n = rng.int(maxChars + 1);
  while (s.length < n) s += rng.next() < 0.5 ? pick(rng, parts) : String.fromCharCode(32 + rng.int(95));
  return s.slice(0, maxChars);
}

function dataFrame(rng: Rng, t: HostileTarget, offset: number, length: number): Frame {
  const plain = rng.bytes(length);
  if (t.compress && rng.next() < 0.3) {
    const c = t.compress(plain);
    if (c.length <= 65_535) return { type: 'data', offset, length, compressed: true, bytes: c };
  }
  return { type: 'data', offset, length, compressed: false, bytes: plain };
}

/** DATA inside the file (may overwrite what the receiver holds with other bytes). */
function inBoundsData(rng: Rng, t: HostileTarget, maxLength: number): Frame | undefined {
  if (t.sizeBytes === 0) return undefined;
  const offset = rng.next() < 0.3 ? pick(rng, [0, t.sizeBytes - 1]) : rng.int(t.sizeBytes);
  const length = 1 + rng.int(Math.min(maxLength, t.sizeBytes - offset));
  return dataFrame(rng, t, offset, length);
}

function ackFrame(rng: Rng, t: HostileTarget): Extract<Frame, { type: 'ack' }> {
  const real = Math.max(0, t.peerLargestPn);
  const largest = rng.next() < 0.6 ? Math.max(0, real - rng.int(3)) : edge(rng, [real, real + 1]);
  const ranges: Array<[number, number]> = [];
  const shape = rng.int(4);
  if (shape === 0) ranges.push([0, largest]);
  else if (shape === 1) {
    // up to 32 valid descending ranges below largest
    let hi = largest;
    for (let i = 0, n = 1 + rng.int(32); i < n && hi >= 0; i++) {
      const lo = Math.max(0, hi - rng.int(8));
      ranges.push([lo, hi]);
      hi = lo - 2 - rng.int(4);
    }
  } else if (shape === 2) ranges.push([largest, largest]);
  return {
    type: 'ack',
    largest,
    ackDelayUs: u32Edge(rng),
    maxOffset: edge(rng, [t.sizeBytes, t.sizeBytes + WINDOW]),
    ranges,
  };
}

function finFrame(rng: Rng, sizeBytes: number): Frame {
  return {
    type: 'fin',
    sizeBytes,
    sha256: rng.bytes(32),
    rtt: {
      minUs: u32Edge(rng),
      avgUs: u32Edge(rng),
      p99Us: u32Edge(rng),
      packetsSent: u32Edge(rng),
      packetsRetransmitted: u32Edge(rng),
    },
  };
}

/** One frame that does not end the session by itself (`small`: a few bytes, for lists of many frames). */
function benignFrame(rng: Rng, t: HostileTarget, ackAllowed: boolean, small = false): Frame {
  for (;;) {
    switch (rng.int(9)) {
      case 0: {
        const d = inBoundsData(rng, t, small ? 16 : 1100);
        if (d) return d;
        break;
      }
      case 1:
        if (ackAllowed) return ackFrame(rng, t);
        break;
      case 2:
        return {
          type: 'stats',
          stats: {
            rttUs: u32Edge(rng),
            pacingKbit: u32Edge(rng),
            packetsSent: u32Edge(rng),
            packetsLost: u32Edge(rng),
            packetsRetransmitted: u32Edge(rng),
          },
        };
      case 3:
        return { type: 'ping' };
      case 4:
        return { type: 'pad', length: rng.int(small ? 8 : rng.next() < 0.8 ? 64 : 1000) };
      case 5:
        // each PATH_CHALLENGE is answered in a packet of its own: one in three draws (a list of 64 is a burst)
        if (rng.int(3) === 0) return { type: 'path_challenge', data: rng.bytes(8) };
        return { type: 'ping' };
      case 6:
        return { type: 'path_response', data: rng.bytes(8) };
      case 7:
        return finFrame(rng, t.sizeBytes);
      default:
        return { type: 'ping' };
    }
  }
}

function fatalFrame(rng: Rng, t: HostileTarget): Frame {
  switch (rng.int(5)) {
    case 0: {
      // DATA past the end of the file, or at the very top of the u48 space
      const offset = pick(rng, [t.sizeBytes, t.sizeBytes + 1, U48_MAX - 1, U48_MAX - 1100, t.sizeBytes + WINDOW]);
      const length = Math.max(1, Math.min(1 + rng.int(1100), U48_MAX - offset));
      return { type: 'data', offset, length, compressed: false, bytes: rng.bytes(length) };
    }
    case 1: {
      // compressed bytes that do not decompress (or to another length), declared up to the u16 maximum
      const length = pick(rng, [1, 65_535, 1 + rng.int(2000)]);
      const offset = t.sizeBytes > length ? rng.int(t.sizeBytes - length) : 0;
      return { type: 'data', offset, length, compressed: true, bytes: rng.bytes(rng.int(200)) };
    }
    case 2:
      return finFrame(rng, pick(rng, [t.sizeBytes + 1, Math.max(0, t.sizeBytes - 1), 0, U48_MAX]));
    case 3:
      return { type: 'done', status: pick(rng, [0, 1, 2] as const) };
    default:
      return {
        type: 'close',
        code: pick(rng, ['E_PROTOCOL', 'E_INTEGRITY', '', 'e_lower', hostileText(rng, 40)]),
        reason: hostileText(rng, 512),
      };
  }
}

/** Bytes that are not a valid frame list (the decoder refuses the packet whole). */
function malformed(rng: Rng, t: HostileTarget): { kind: string; payload: Uint8Array } {
  const some = () => Array.from({ length: 1 + rng.int(6) }, () => benignFrame(rng, t, false));
  switch (rng.int(8)) {
    case 0:
      return {
        kind: 'too-many-frames',
        payload: encodeFrames(Array.from({ length: 65 + rng.int(20) }, () => ({ type: 'ping' }) as Frame)),
      };
    case 1:
      return { kind: 'two-acks', payload: encodeFrames([ackFrame(rng, t), { type: 'ping' }, ackFrame(rng, t)]) };
    case 2: {
      const head = encodeFrames(some());
      const type = pick(rng, [0x00, 0x0b, 0x0c, 0x7f, 0x80, 0xff, 0x0b + rng.int(0xf5)]);
      return { kind: 'unknown-type', payload: concat(head, Uint8Array.of(type), rng.bytes(rng.int(40))) };
    }
    case 3: {
      const full = encodeFrames(some());
      return { kind: 'truncated', payload: full.subarray(0, rng.int(full.length)) };
    }
    case 4: {
      // ACK ranges out of order, above `largest`, or more than 32 of them
      const ack = ackFrame(rng, t);
      const bad = encodeFrames([ack]);
      const b = copyBytes(bad);
      if (b.length > 24) b[24 + rng.int(b.length - 24)]! ^= 0xff;
      else b[17] = 33 + rng.int(200); // range count
      return { kind: 'ack-invalid', payload: b };
    }
    case 5: {
      // DATA whose length disagrees with its bytes, or an empty DATA frame
      const len = rng.int(40);
      const w = concat(
        Uint8Array.of(0x02, 0, 0, 0, 0, 0, rng.int(4)),
        u16(rng.next() < 0.3 ? 0 : len + 1 + rng.int(10)),
        Uint8Array.of(0),
        u16(len),
        rng.bytes(len),
      );
      return { kind: 'data-length-mismatch', payload: w };
    }
    case 6: {
      // a DONE status the decoder does not know, a PAD longer than the packet, a CLOSE string cut short
      const which = rng.int(3);
      if (which === 0) return { kind: 'done-bad-status', payload: Uint8Array.of(0x04, 3 + rng.int(253)) };
      if (which === 1) return { kind: 'pad-overrun', payload: concat(Uint8Array.of(0x08), u16(100 + rng.int(60_000))) };
      return { kind: 'close-cut', payload: concat(Uint8Array.of(0x05), u16(60_000), rng.bytes(rng.int(50))) };
    }
    default: {
      const full = copyBytes(encodeFrames(some()));
      for (let i = 0, n = 1 + rng.int(4); i < n && full.length > 0; i++) full[rng.int(full.length)]! ^= 1 << rng.int(8);
      return { kind: 'flipped', payload: full };
    }
  }
}

/** One hostile payload for an authenticated DATA packet. */
export function hostilePayload(rng: Rng, t: HostileTarget): HostilePayload {
  const max = t.maxPayloadBytes ?? 1400;
  const r = rng.next();
  let out: HostilePayload;
  if (r < 0.45) {
    // one or a few frames, each at some edge
    const n = rng.next() < 0.6 ? 1 : 2 + rng.int(6);
    const frames: Frame[] = [];
    let ack = false;
    for (let i = 0; i < n; i++) {
      const f = benignFrame(rng, t, !ack);
      if (f.type === 'ack') ack = true;
      frames.push(f);
    }
    out = { kind: n === 1 ? frames[0]!.type : 'frames', payload: encodeFrames(frames), frames };
  } else if (r < 0.55) {
    // many small frames up to the 64-frame limit (the per-packet work bound)
    const frames = Array.from({ length: 8 + rng.int(57) }, () =>
      rng.next() < 0.5 ? ({ type: 'ping' } as Frame) : benignFrame(rng, t, false, true),
    );
    out = { kind: 'many-frames', payload: encodeFrames(frames), frames };
  } else if (r < 0.62 && t.fatal) {
    const f = fatalFrame(rng, t);
    const frames = rng.next() < 0.5 ? [f] : [benignFrame(rng, t, true), f];
    out = { kind: `fatal-${f.type}`, payload: encodeFrames(frames), frames };
  } else if (r < 0.85) {
    out = malformed(rng, t);
  } else if (r < 0.97) {
    out = { kind: 'raw', payload: rng.bytes(rng.int(1200)) };
  } else out = { kind: 'empty', payload: new Uint8Array(0), frames: [] };
  if (out.payload.length > max) return { kind: `${out.kind}-cut`, payload: out.payload.subarray(0, max) };
  return out;
}

export interface HostilePeerOptions {
  /** The side whose session keys the hostile peer holds: it injects as that side, toward the other. */
  side: 'client' | 'server';
  /** Injected packets per DATA packet seen on the wire (either direction), in (0, 1]. */
  rate: number;
}

export interface Injection {
  /** Delivered to the other side this long after the packet that prompted it. */
  delayMs: number;
  /** The packet number to seal under (as `side`). */
  pn: number;
  payload: Uint8Array;
  kind: string;
}

export interface HostileStats {
  /** Whether the peer obtained the session keys (it watched a complete handshake). */
  keyed: boolean;
  injected: number;
  byKind: Record<string, number>;
}

export class HostilePeer {
  readonly stats: HostileStats = { keyed: false, injected: 0, byKind: {} };
  private readonly largestPn = { client: -1, server: -1 };
  /** Recent DATA frames of the impersonated side, for copies. */
  private readonly recent: Frame[] = [];

  constructor(
    readonly opts: HostilePeerOptions,
    private readonly rng: Rng,
    private readonly sizeBytes: number,
  ) {}

  /** A DATA packet `from` sent (decrypted): the packets to inject toward the other side in answer. */
  observe(from: 'client' | 'server', pn: number, frames: readonly Frame[]): Injection[] {
    if (pn > this.largestPn[from]) this.largestPn[from] = pn;
    if (from === this.opts.side)
      for (const f of frames) {
        if (f.type !== 'data') continue;
        this.recent.push(f);
        if (this.recent.length > 32) this.recent.shift();
      }
    const rng = this.rng;
    if (rng.next() >= this.opts.rate) return [];
    const out: Injection[] = [];
    for (let i = 0, n = rng.next() < 0.8 ? 1 : 2 + rng.int(3); i < n; i++) {
      const { kind, payload } = this.payload();
      out.push({ delayMs: rng.next() < 0.5 ? 0 : rng.next() * 50, pn: this.packetNumber(), payload, kind });
      this.stats.injected++;
      this.stats.byKind[kind] = (this.stats.byKind[kind] ?? 0) + 1;
    }
    return out;
  }

  private payload(): { kind: string; payload: Uint8Array } {
    const rng = this.rng;
    const other = this.opts.side === 'client' ? 'server' : 'client';
    const copy = this.recent.length > 0 ? this.recent[rng.int(this.recent.length)] : undefined;
    if (copy?.type === 'data' && rng.next() < 0.3) {
      if (rng.next() < 0.5) return { kind: 'copy', payload: encodeFrames([copy]) }; // a benign duplicate
      // the same frame moved or with a byte changed: wrong data at a plausible place
      const bytes = copyBytes(copy.bytes);
      if (bytes.length > 0) bytes[rng.int(bytes.length)]! ^= 1 + rng.int(255);
      const shift = rng.next() < 0.5 ? 0 : rng.int(64) - 32;
      const offset = Math.max(0, Math.min(this.sizeBytes - copy.length, copy.offset + shift));
      return { kind: 'copy-mutated', payload: encodeFrames([{ ...copy, offset, bytes }]) };
    }
    const p = hostilePayload(rng, {
      sizeBytes: this.sizeBytes,
      peerLargestPn: this.largestPn[other],
      fatal: rng.next() < 0.05,
    });
    return { kind: p.kind, payload: p.payload };
  }

  /** Next to the side's own packet numbers (its next packets then look lost), ahead, behind or far off. */
  private packetNumber(): number {
    const rng = this.rng;
    const mine = Math.max(0, this.largestPn[this.opts.side]);
    const r = rng.next();
    if (r < 0.7) return mine + 1 + rng.int(4);
    if (r < 0.85) return mine + 1 + rng.int(64);
    if (r < 0.93) return Math.max(0, mine - rng.int(8)); // already used: a replay
    if (r < 0.97) return Math.max(0, mine - 2048 - rng.int(100)); // older than the replay window
    return mine + 2048 + rng.int(4096); // slides the window past the side's packets in flight
  }
}

function u16(v: number): Uint8Array {
  return Uint8Array.of((v >> 8) & 0xff, v & 0xff);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
