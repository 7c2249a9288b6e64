// Big-endian byte writer and bounds-checked reader. Rule: the reader never throws; it flags `bad`
// on any read past the end, and decoders turn that into `{ ok: false }`.

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  length = 0;

  constructor(capacity = 1500) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): this {
    this.ensure(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
    return this;
  }
  u16(v: number): this {
    this.ensure(2);
    this.view.setUint16(this.length, v);
    this.length += 2;
    return this;
  }
  u32(v: number): this {
    this.ensure(4);
    this.view.setUint32(this.length, v);
    this.length += 4;
    return this;
  }
  /** Unsigned 48-bit integer (offsets, sizes, packet numbers: up to 256 TiB). */
  u48(v: number): this {
    this.ensure(6);
    this.view.setUint16(this.length, Math.floor(v / 2 ** 32));
    this.view.setUint32(this.length + 2, v >>> 0);
    this.length += 6;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }
  /** u16 length then UTF-8 bytes. */
  str16(s: string): this {
    const b = enc.encode(s);
    return this.u16(b.length).bytes(b);
  }
  finish(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
  /** Empties the writer for reuse; what finish() returned before is overwritten by the next writes. */
  reset(): this {
    this.length = 0;
    return this;
  }
}

export class Reader {
  pos = 0;
  bad = false;

  // reads bytes by index, without a DataView: a reader is made per packet (twice), and a DataView costs more
  // to create than the few reads it would serve
  constructor(readonly buf: Uint8Array) {}
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  private need(n: number): boolean {
    if (this.bad || this.pos + n > this.buf.length) {
      this.bad = true;
      return false;
    }
    return true;
  }
  u8(): number {
    if (!this.need(1)) return 0;
    return this.buf[this.pos++]!;
  }
  u16(): number {
    if (!this.need(2)) return 0;
    const v = be16(this.buf, this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    if (!this.need(4)) return 0;
    const v = be32(this.buf, this.pos);
    this.pos += 4;
    return v;
  }
  u48(): number {
    if (!this.need(6)) return 0;
    const v = be16(this.buf, this.pos) * 2 ** 32 + be32(this.buf, this.pos + 2);
    this.pos += 6;
    return v;
  }
  bytes(n: number): Uint8Array {
    if (!this.need(n)) return new Uint8Array(0);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  str16(): string {
    const n = this.u16();
    const b = this.bytes(n);
    if (this.bad) return '';
    try {
      return dec.decode(b);
    } catch {
      this.bad = true;
      return '';
    }
  }
}

function be16(b: Uint8Array, i: number): number {
  return (b[i]! << 8) | b[i + 1]!;
}

/** Unsigned (the top byte is multiplied, not shifted into the sign bit). */
function be32(b: Uint8Array, i: number): number {
  return b[i]! * 0x1000000 + ((b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!);
}

/** Byte-wise equality (connection IDs, a repeated handshake message). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
