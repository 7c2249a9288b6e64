// TFTP packets (RFC 1350) with the option extension (RFC 2347): RRQ/WRQ carry `name\0mode\0(opt\0value\0)*`,
// OACK carries `(opt\0value\0)*`. Decoding never throws: malformed input gives `{ ok: false, error }`.
// Option names are case-insensitive (lower-cased here); the order of options is kept.

export const OP = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

export const ERR = {
  UNDEFINED: 0,
  NOT_FOUND: 1,
  ACCESS: 2,
  DISK_FULL: 3,
  ILLEGAL_OP: 4,
  UNKNOWN_TID: 5,
  EXISTS: 6,
  NO_USER: 7,
  OPTION_REFUSED: 8,
} as const;

export type TftpMode = 'octet' | 'netascii';

export type TftpPacket =
  | { op: 'RRQ' | 'WRQ'; filename: string; mode: string; options: Array<[string, string]> }
  | { op: 'DATA'; block: number; data: Uint8Array }
  | { op: 'ACK'; block: number }
  | { op: 'ERROR'; code: number; message: string }
  | { op: 'OACK'; options: Array<[string, string]> };

export type Decoded = { ok: true; packet: TftpPacket } | { ok: false; error: string };

const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

/** Splits NUL-terminated strings; fails when the last one is not terminated. */
function strings(b: Uint8Array, from: number): string[] | undefined {
  const out: string[] = [];
  let i = from;
  while (i < b.length) {
    const end = b.indexOf(0, i);
    if (end < 0) return undefined;
    out.push(latin1(b.subarray(i, end)));
    i = end + 1;
  }
  return out;
}

function pairs(list: string[]): Array<[string, string]> | undefined {
  if (list.length % 2 !== 0) return undefined;
  const out: Array<[string, string]> = [];
  for (let i = 0; i < list.length; i += 2) out.push([list[i]!.toLowerCase(), list[i + 1]!]);
  return out;
}

export function decodeTftp(b: Uint8Array): Decoded {
  if (b.length < 2) return { ok: false, error: `packet of ${b.length} bytes has no opcode` };
  const op = (b[0]! << 8) | b[1]!;
  switch (op) {
    case OP.RRQ:
    case OP.WRQ: {
      const s = strings(b, 2);
      if (!s || s.length < 2) return { ok: false, error: 'request without a NUL-terminated filename and mode' };
      const options = pairs(s.slice(2));
      if (!options) return { ok: false, error: 'request with an option that has no value' };
      if (s[0] === '') return { ok: false, error: 'request with an empty filename' };
      return {
        ok: true,
        packet: { op: op === OP.RRQ ? 'RRQ' : 'WRQ', filename: s[0]!, mode: s[1]!.toLowerCase(), options },
      };
    }
    case OP.DATA:
      if (b.length < 4) return { ok: false, error: 'DATA shorter than 4 bytes' };
      return { ok: true, packet: { op: 'DATA', block: (b[2]! << 8) | b[3]!, data: b.subarray(4) } };
    case OP.ACK:
      if (b.length !== 4) return { ok: false, error: `ACK of ${b.length} bytes (must be 4)` };
      return { ok: true, packet: { op: 'ACK', block: (b[2]! << 8) | b[3]! } };
    case OP.ERROR: {
      if (b.length < 4) return { ok: false, error: 'ERROR shorter than 4 bytes' };
      // some peers omit the final NUL of the message: accept that, stop at the first NUL otherwise
      const end = b.indexOf(0, 4);
      return {
        ok: true,
        packet: { op: 'ERROR', code: (b[2]! << 8) | b[3]!, message: latin1(b.subarray(4, end < 0 ? b.length : end)) },
      };
    }
    case OP.OACK: {
      const s = strings(b, 2);
      const options = s && pairs(s);
      if (!options) return { ok: false, error: 'OACK with malformed options' };
      return { ok: true, packet: { op: 'OACK', options } };
    }
    default:
      return { ok: false, error: `unknown opcode ${op}` };
  }
}

const zstr = (s: string) => Buffer.concat([Buffer.from(s, 'latin1'), Buffer.alloc(1)]);
const u16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);

export function encodeTftp(p: TftpPacket): Buffer {
  switch (p.op) {
    case 'RRQ':
    case 'WRQ':
      return Buffer.concat([
        u16(p.op === 'RRQ' ? OP.RRQ : OP.WRQ),
        zstr(p.filename),
        zstr(p.mode),
        ...p.options.flatMap(([k, v]) => [zstr(k), zstr(v)]),
      ]);
    case 'DATA':
      return Buffer.concat([u16(OP.DATA), u16(p.block & 0xffff), p.data]);
    case 'ACK':
      return Buffer.concat([u16(OP.ACK), u16(p.block & 0xffff)]);
    case 'ERROR':
      return Buffer.concat([u16(OP.ERROR), u16(p.code), zstr(p.message)]);
    case 'OACK':
      return Buffer.concat([u16(OP.OACK), ...p.options.flatMap(([k, v]) => [zstr(k), zstr(v)])]);
  }
}
