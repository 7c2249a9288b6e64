// Frames inside DATA packets. Ack-eliciting: DATA, FIN, PING. Not ack-eliciting: ACK, DONE, CLOSE.
//   ACK   0x01 | largest u48 | ackDelayUs u32 | maxOffset u48 | n u8 | n × (lo u48, hi u48)  (pn ranges, inclusive)
//   DATA  0x02 | offset u48 | length u16 | flags u8 (bit0 compressed) | wireLength u16 | bytes
//   FIN   0x03 | size u48 | sha256 32 bytes | rtt min/avg/p99 µs, packets sent, retransmitted: 5 × u32
//                                                  (the sender's figures as of the FIN, for the receiver's reports)
//   DONE  0x04 | status u8 (0 verified, 1 integrity mismatch, 2 local I/O error)
//   CLOSE 0x05 | code str16 | reason str16
//   PING  0x06
//   STATS 0x07 | rtt µs | pacing kbit/s | packets sent | lost | retransmitted: 5 × u32 (not ack-eliciting; for timelines)
//   PAD   0x08 | length u16 | length zero bytes (fills a path-MTU probe; not ack-eliciting by itself)
//   PATH_CHALLENGE 0x09 | 8 bytes   (sent to a new address before a session follows it; not ack-eliciting)
//   PATH_RESPONSE  0x0a | 8 bytes   (the challenge's bytes echoed from the address being validated)
// A packet holds at most MAX_FRAMES_PER_PACKET frames and at most one ACK frame (an adversarial peer must
// not make one packet cost unbounded work: security review #8).
import { copyBytes } from '../impair/index.js';
import { Reader, Writer } from './bytes.js';
import type { Decoded } from './wire.js';

export const MAX_ACK_RANGES = 32;
export const MAX_FRAMES_PER_PACKET = 64;
export const PATH_DATA_BYTES = 8;

export type Frame =
  | { type: 'ack'; largest: number; ackDelayUs: number; maxOffset: number; ranges: Array<[lo: number, hi: number]> }
  | { type: 'data'; offset: number; length: number; compressed: boolean; bytes: Uint8Array }
  | { type: 'fin'; sizeBytes: number; sha256: Uint8Array; rtt: RttSummaryUs }
  | { type: 'done'; status: DoneStatus }
  | { type: 'close'; code: string; reason: string }
  | { type: 'ping' }
  | { type: 'stats'; stats: SenderSample }
  | { type: 'pad'; length: number }
  | { type: 'path_challenge'; data: Uint8Array }
  | { type: 'path_response'; data: Uint8Array };

/** The data sender's state, sent about every 100 ms so that the receiving side can draw a timeline. */
export interface SenderSample {
  rttUs: number;
  pacingKbit: number;
  packetsSent: number;
  packetsLost: number;
  packetsRetransmitted: number;
}

export const DoneStatus = { Verified: 0, IntegrityMismatch: 1, IoError: 2 } as const;
export type DoneStatus = (typeof DoneStatus)[keyof typeof DoneStatus];

/** The sender's figures as of the FIN, so that the receiving side can report them too. */
export interface RttSummaryUs {
  minUs: number;
  avgUs: number;
  p99Us: number;
  packetsSent: number;
  packetsRetransmitted: number;
}

export const DATA_FRAME_OVERHEAD = 1 + 6 + 2 + 1 + 2;
export const FIN_FRAME_BYTES = 1 + 6 + 32 + 20;
export const PAD_FRAME_OVERHEAD = 1 + 2;

export function writeFrame(w: Writer, f: Frame): void {
  switch (f.type) {
    case 'ack':
      w.u8(0x01).u48(f.largest).u32(Math.min(f.ackDelayUs, 0xffffffff)).u48(f.maxOffset).u8(f.ranges.length);
      for (const [lo, hi] of f.ranges) w.u48(lo).u48(hi);
      return;
    case 'data':
      w.u8(0x02)
        .u48(f.offset)
        .u16(f.length)
        .u8(f.compressed ? 1 : 0)
        .u16(f.bytes.length)
        .bytes(f.bytes);
      return;
    case 'fin':
      w.u8(0x03).u48(f.sizeBytes).bytes(f.sha256);
      for (const v of [f.rtt.minUs, f.rtt.avgUs, f.rtt.p99Us, f.rtt.packetsSent, f.rtt.packetsRetransmitted])
        w.u32(Math.min(0xffffffff, Math.max(0, Math.round(v))));
      return;
    case 'done':
      w.u8(0x04).u8(f.status);
      return;
    case 'close':
      w.u8(0x05).str16(f.code).str16(f.reason.slice(0, 512));
      return;
    case 'ping':
      w.u8(0x06);
      return;
    case 'stats': {
      const t = f.stats;
      w.u8(0x07);
      for (const v of [t.rttUs, t.pacingKbit, t.packetsSent, t.packetsLost, t.packetsRetransmitted])
        w.u32(Math.min(0xffffffff, Math.max(0, Math.round(v))));
      return;
    }
    case 'pad':
      w.u8(0x08).u16(f.length).bytes(new Uint8Array(f.length));
      return;
    case 'path_challenge':
      w.u8(0x09).bytes(f.data.subarray(0, PATH_DATA_BYTES));
      return;
    case 'path_response':
      w.u8(0x0a).bytes(f.data.subarray(0, PATH_DATA_BYTES));
      return;
  }
}

export function encodeFrames(frames: readonly Frame[]): Uint8Array {
  const w = new Writer(1400);
  for (const f of frames) writeFrame(w, f);
  return w.finish();
}

export function decodeFrames(buf: Uint8Array): Decoded<Frame[]> {
  const r = new Reader(buf);
  const out: Frame[] = [];
  let acks = 0;
  while (r.remaining > 0) {
    if (out.length >= MAX_FRAMES_PER_PACKET) return { ok: false, error: `more than ${MAX_FRAMES_PER_PACKET} frames` };
    const t = r.u8();
    switch (t) {
      case 0x01: {
        if (++acks > 1) return { ok: false, error: 'more than one ACK frame in a packet' };
        const largest = r.u48();
        const ackDelayUs = r.u32();
        const maxOffset = r.u48();
        const n = r.u8();
        if (n > MAX_ACK_RANGES) return { ok: false, error: `ACK with ${n} ranges` };
        const ranges: Array<[number, number]> = [];
        let prevLo = Number.POSITIVE_INFINITY;
        for (let i = 0; i < n; i++) {
          const lo = r.u48();
          const hi = r.u48();
          if (hi < lo || hi >= prevLo || hi > largest) return { ok: false, error: 'ACK ranges out of order' };
          prevLo = lo;
          ranges.push([lo, hi]);
        }
        out.push({ type: 'ack', largest, ackDelayUs, maxOffset, ranges });
        break;
      }
      case 0x02: {
        const offset = r.u48();
        const length = r.u16();
        const flags = r.u8();
        const bytes = r.bytes(r.u16());
        const compressed = (flags & 1) === 1;
        if (!r.bad && !compressed && bytes.length !== length) return { ok: false, error: 'DATA length mismatch' };
        if (length === 0) return { ok: false, error: 'empty DATA frame' };
        out.push({ type: 'data', offset, length, compressed, bytes });
        break;
      }
      case 0x03:
        out.push({
          type: 'fin',
          sizeBytes: r.u48(),
          sha256: r.bytes(32),
          rtt: { minUs: r.u32(), avgUs: r.u32(), p99Us: r.u32(), packetsSent: r.u32(), packetsRetransmitted: r.u32() },
        });
        break;
      case 0x04: {
        const status = r.u8();
        if (status > 2) return { ok: false, error: `DONE status ${status}` };
        out.push({ type: 'done', status: status as DoneStatus });
        break;
      }
      case 0x05:
        out.push({ type: 'close', code: r.str16(), reason: r.str16() });
        break;
      case 0x06:
        out.push({ type: 'ping' });
        break;
      case 0x07:
        out.push({
          type: 'stats',
          stats: {
            rttUs: r.u32(),
            pacingKbit: r.u32(),
            packetsSent: r.u32(),
            packetsLost: r.u32(),
            packetsRetransmitted: r.u32(),
          },
        });
        break;
      case 0x08: {
        const length = r.u16();
        r.bytes(length);
        out.push({ type: 'pad', length });
        break;
      }
      case 0x09:
        out.push({ type: 'path_challenge', data: copyBytes(r.bytes(PATH_DATA_BYTES)) });
        break;
      case 0x0a:
        out.push({ type: 'path_response', data: copyBytes(r.bytes(PATH_DATA_BYTES)) });
        break;
      default:
        return { ok: false, error: `unknown frame type 0x${t.toString(16)}` };
    }
    if (r.bad) return { ok: false, error: 'truncated frame' };
  }
  return { ok: true, value: out };
}
