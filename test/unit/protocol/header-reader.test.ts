// The per-packet fast paths give the same bytes and numbers as the general ones: writeHeader (one buffer per
// connection) as encodeHeader, headerTypeFor/headerPacketNumber as decodeHeader plus the ID check, and the Reader's index arithmetic as a DataView's big-endian reads.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Reader } from '../../../src/protocol/bytes.js';
import {
  decodeHeader,
  encodeHeader,
  HEADER_BYTES,
  headerPacketNumber,
  headerTypeFor,
  PacketType,
  writeHeader,
} from '../../../src/protocol/wire.js';

describe('per-packet fast paths', () => {
  it('writeHeader writes what encodeHeader encodes, for any type, connection ID and 48-bit packet number', () => {
    const out = new Uint8Array(HEADER_BYTES).fill(0xee);
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.values(PacketType)),
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        fc.oneof(fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.constantFrom(0, 2 ** 32 - 1, 2 ** 32, 2 ** 48 - 1)),
        (type, connectionId, pn) => {
          expect(writeHeader(out, type, connectionId, pn)).toEqual(
            encodeHeader({ type, connectionId, packetNumber: pn }),
          );
        },
      ),
    );
  });

  it('Reader reads u8/u16/u32/u48 big-endian exactly as a DataView does, and flags reads past the end', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 40 }), fc.integer({ min: 0, max: 3 }), (bytes, skip) => {
        const r = new Reader(bytes.subarray(Math.min(skip, bytes.length)));
        const b = r.buf;
        const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
        let pos = 0;
        const widths = [1, 2, 4, 6, 4, 2, 1, 6, 6, 4];
        for (const w of widths) {
          const got = w === 1 ? r.u8() : w === 2 ? r.u16() : w === 4 ? r.u32() : r.u48();
          if (pos + w > b.length) {
            expect(r.bad).toBe(true);
            expect(got).toBe(0);
            break;
          }
          const want =
            w === 1
              ? v.getUint8(pos)
              : w === 2
                ? v.getUint16(pos)
                : w === 4
                  ? v.getUint32(pos)
                  : v.getUint16(pos) * 2 ** 32 + v.getUint32(pos + 2);
          expect(got).toBe(want);
          pos += w;
        }
      }),
    );
  });

  it('headerTypeFor accepts exactly the headers decodeHeader accepts that name the connection, with the same type and number', () => {
    const mine = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    const header = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 24 }),
      fc
        .tuple(
          fc.integer({ min: 0, max: 9 }),
          fc.boolean(),
          fc.integer({ min: 0, max: 2 ** 48 - 1 }),
          fc.uint8Array({ maxLength: 4 }),
        )
        .map(([type, same, pn, tail]) => {
          const b = new Uint8Array(HEADER_BYTES + tail.length);
          b.set(
            encodeHeader({
              type: type as PacketType,
              connectionId: same ? mine : mine.map((x) => x ^ 1),
              packetNumber: pn,
            }),
          );
          b.set(tail, HEADER_BYTES);
          return b;
        }),
    );
    fc.assert(
      fc.property(header, (b) => {
        const h = decodeHeader(b);
        const ours = h.ok && h.value.connectionId.every((x, i) => x === mine[i]);
        const t = headerTypeFor(b, mine);
        expect(t !== 0).toBe(ours);
        if (h.ok && ours) {
          expect(t).toBe(h.value.type);
          expect(headerPacketNumber(b)).toBe(h.value.packetNumber);
        }
      }),
    );
  });
});
