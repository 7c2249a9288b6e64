// RUFT wire format (docs/protocol.md). Every datagram:
//   version u8 (=1) | type u8 | connection ID 8 bytes | packet number u48 | protected payload
// All multi-byte fields big-endian. Handshake payloads (INITIAL, ACCEPT, REJECT) and frame payloads
// (DATA packets) are decoded here; decoders return `{ ok: false, error }` on malformed input, never throw.
import { copyBytes } from '../impair/index.js';
import { Reader, Writer } from './bytes.js';
import type { Range } from './range-set.js';

export const VERSION = 1;
export const HEADER_BYTES = 16;
/** Remote names are at most 1024 bytes of UTF-8, so that an INITIAL always fits one 1200-byte datagram. */
export const MAX_PATH_BYTES = 1024;
export const MAX_RANGES_IN_HANDSHAKE = 8;

export const PacketType = {
  Initial: 1,
  Accept: 2,
  Reject: 3,
  Data: 4,
  Retry: 5,
  KeyRequest: 6,
  KeyResponse: 7,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

export const Op = { Get: 1, Put: 2, List: 3 } as const;
export type Op = (typeof Op)[keyof typeof Op];

export const Compression = { Off: 0, Deflate: 1, Brotli: 2, Zstd: 3 } as const;
export type Compression = (typeof Compression)[keyof typeof Compression];

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

export interface Header {
  type: PacketType;
  connectionId: Uint8Array;
  packetNumber: number;
}

export function encodeHeader(h: Header): Uint8Array {
  return new Writer(HEADER_BYTES).u8(VERSION).u8(h.type).bytes(h.connectionId).u48(h.packetNumber).finish();
}

/**
 * encodeHeader() for an 8-byte connection ID, into `out` (HEADER_BYTES long), which it returns: the per-packet
 * path reuses one buffer per connection (every packet protection copies the header into the packet it seals).
 */
export function writeHeader(out: Uint8Array, type: PacketType, connectionId: Uint8Array, pn: number): Uint8Array {
  out[0] = VERSION;
  out[1] = type;
  for (let i = 0; i < 8; i++) out[2 + i] = connectionId[i]!;
  const hi = Math.floor(pn / 2 ** 32);
  out[10] = (hi >>> 8) & 0xff;
  out[11] = hi & 0xff;
  out[12] = (pn >>> 24) & 0xff;
  out[13] = (pn >>> 16) & 0xff;
  out[14] = (pn >>> 8) & 0xff;
  out[15] = pn & 0xff;
  return out;
}

export function decodeHeader(buf: Uint8Array): Decoded<Header> {
  if (buf.length < HEADER_BYTES)
    return { ok: false, error: `datagram of ${buf.length} bytes is shorter than a header` };
  const r = new Reader(buf);
  const version = r.u8();
  if (version !== VERSION) return { ok: false, error: `unsupported version ${version}` };
  const type = r.u8();
  if (type < 1 || type > 7) return { ok: false, error: `unknown packet type ${type}` };
  const connectionId = r.bytes(8);
  const packetNumber = r.u48();
  return { ok: true, value: { type: type as PacketType, connectionId, packetNumber } };
}

/**
 * decodeHeader() for the per-packet path of one connection, without allocating: the packet type when `buf` has a
 * valid header naming `connectionId`, else 0 (what decodeHeader refuses, or another connection's ID).
 */
export function headerTypeFor(buf: Uint8Array, connectionId: Uint8Array): PacketType | 0 {
  if (buf.length < HEADER_BYTES || buf[0] !== VERSION || connectionId.length !== 8) return 0;
  const type = buf[1]!;
  if (type < 1 || type > 7) return 0;
  for (let i = 0; i < 8; i++) if (buf[2 + i] !== connectionId[i]) return 0;
  return type as PacketType;
}

/** The packet number of a header headerTypeFor() accepted. */
export function headerPacketNumber(buf: Uint8Array): number {
  return (
    ((buf[10]! << 8) | buf[11]!) * 2 ** 32 + buf[12]! * 0x1000000 + ((buf[13]! << 16) | (buf[14]! << 8) | buf[15]!)
  );
}

export interface Initial {
  op: Op;
  resume: boolean;
  /** PUT: replace an existing file. */
  force: boolean;
  compression: Compression;
  path: string;
  /** PUT: the size of the file offered; GET with resume: the size of the partial download's original. */
  sizeBytes: number;
  /** GET with resume: ranges the client already holds (and `sizeBytes` the size it expects). */
  ranges: Range[];
  /** GET with resume: the server's tag of the file version those ranges came from (SOURCE_TAG_BYTES; zeros: none). */
  sourceTag?: Uint8Array;
  /** The data sender uses the background (LEDBAT) controller (flag bit 2; an older peer ignores it). */
  background?: boolean;
}

/** The size of a source tag: a GET's file version (device, inode, size, mtime), hashed by the server. */
export const SOURCE_TAG_BYTES = 8;
const NO_TAG = new Uint8Array(SOURCE_TAG_BYTES);

function writeTag(w: Writer, tag: Uint8Array | undefined): void {
  w.bytes(tag && tag.length === SOURCE_TAG_BYTES ? tag : NO_TAG);
}

export interface Accept {
  op: Op;
  /** GET and LIST: the size of what the server will send. */
  sizeBytes: number;
  compression: Compression;
  /** Ranges the receiver already holds and the sender will skip: PUT, the server's; GET, the client's
   * ranges the server honours (none when the file changed). */
  ranges: Range[];
  /** GET: the version of the file being sent, for a later resume to name (zeros for PUT and LIST). */
  sourceTag?: Uint8Array;
}

export interface Reject {
  code: string;
  message: string;
}

function writeRanges(w: Writer, ranges: readonly Range[]): void {
  const n = Math.min(ranges.length, MAX_RANGES_IN_HANDSHAKE);
  w.u16(n);
  for (let i = 0; i < n; i++) w.u48(ranges[i]![0]).u48(ranges[i]![1]);
}

function readRanges(r: Reader): Range[] | undefined {
  const n = r.u16();
  if (n > MAX_RANGES_IN_HANDSHAKE) return undefined;
  const out: Range[] = [];
  for (let i = 0; i < n; i++) {
    const a = r.u48();
    const b = r.u48();
    if (b < a) return undefined;
    out.push([a, b]);
  }
  return out;
}

export function encodeInitial(m: Initial): Uint8Array {
  const w = new Writer(256)
    .u8(m.op)
    .u8((m.resume ? 1 : 0) | (m.force ? 2 : 0) | (m.background ? 4 : 0))
    .u8(m.compression)
    .str16(m.path)
    .u48(m.sizeBytes);
  writeRanges(w, m.ranges);
  writeTag(w, m.sourceTag);
  return w.finish();
}

export function decodeInitial(buf: Uint8Array): Decoded<Initial> {
  const r = new Reader(buf);
  const op = r.u8();
  const flags = r.u8();
  const compression = r.u8();
  const path = r.str16();
  const sizeBytes = r.u48();
  const ranges = readRanges(r);
  const sourceTag = copyBytes(r.bytes(SOURCE_TAG_BYTES));
  if (r.bad || !ranges || r.remaining !== 0) return { ok: false, error: 'truncated or malformed INITIAL' };
  if (op < 1 || op > 3) return { ok: false, error: `unknown operation ${op}` };
  if (compression > 3) return { ok: false, error: `unknown compression ${compression}` };
  if (new TextEncoder().encode(path).length > MAX_PATH_BYTES) return { ok: false, error: 'path too long' };
  return {
    ok: true,
    value: {
      op: op as Op,
      resume: (flags & 1) === 1,
      force: (flags & 2) === 2,
      compression: compression as Compression,
      path,
      sizeBytes,
      ranges,
      sourceTag,
      ...((flags & 4) === 4 && { background: true }),
    },
  };
}

export function encodeAccept(m: Accept): Uint8Array {
  const w = new Writer(256).u8(m.op).u48(m.sizeBytes).u8(m.compression);
  writeRanges(w, m.ranges);
  writeTag(w, m.sourceTag);
  return w.finish();
}

export function decodeAccept(buf: Uint8Array): Decoded<Accept> {
  const r = new Reader(buf);
  const op = r.u8();
  const sizeBytes = r.u48();
  const compression = r.u8();
  const ranges = readRanges(r);
  const sourceTag = copyBytes(r.bytes(SOURCE_TAG_BYTES));
  if (r.bad || !ranges || r.remaining !== 0 || op < 1 || op > 3 || compression > 3)
    return { ok: false, error: 'malformed ACCEPT' };
  return {
    ok: true,
    value: { op: op as Op, sizeBytes, compression: compression as Compression, ranges, sourceTag },
  };
}

export function encodeReject(m: Reject): Uint8Array {
  return new Writer(128).str16(m.code).str16(m.message.slice(0, 512)).finish();
}

export function decodeReject(buf: Uint8Array): Decoded<Reject> {
  const r = new Reader(buf);
  const code = r.str16();
  const message = r.str16();
  if (r.bad || !/^E_[A-Z_]{1,40}$/.test(code)) return { ok: false, error: 'malformed REJECT' };
  return { ok: true, value: { code, message } };
}

/**
 * The handshake envelope of INITIAL: suite u8 | token length u8 | token (the server's address-validation
 * cookie, empty at first) | message length u16 | the first handshake message (the Noise message carrying the
 * encoded request) | zero padding up to 1100 bytes.
 */
export interface InitialEnvelope {
  suite: number;
  token: Uint8Array;
  message: Uint8Array;
}

export function encodeInitialEnvelope(e: InitialEnvelope): Uint8Array {
  return new Writer(e.message.length + e.token.length + 4)
    .u8(e.suite)
    .u8(e.token.length)
    .bytes(e.token)
    .u16(e.message.length)
    .bytes(e.message)
    .finish();
}

export function decodeInitialEnvelope(buf: Uint8Array): Decoded<InitialEnvelope> {
  const r = new Reader(buf);
  const suite = r.u8();
  const token = r.bytes(r.u8());
  const message = r.bytes(r.u16());
  if (r.bad) return { ok: false, error: 'truncated INITIAL envelope' };
  // what follows is padding (see MIN_INITIAL_PAYLOAD)
  return { ok: true, value: { suite, token, message } };
}
