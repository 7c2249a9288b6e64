import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeAccept,
  decodeFrames,
  decodeHeader,
  decodeInitial,
  decodeReject,
  encodeAccept,
  encodeFrames,
  encodeHeader,
  encodeInitial,
  encodeReject,
  type Frame,
} from '../../../src/protocol/index.js';

const u48 = fc.integer({ min: 0, max: 2 ** 48 - 1 });
const ranges = fc
  .array(fc.tuple(u48, fc.integer({ min: 0, max: 1 << 20 })), { maxLength: 8 })
  .map((rs) => rs.map(([a, n]) => [a, Math.min(a + n, 2 ** 48 - 1)] as [number, number]));

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc
    .record({
      largest: fc.integer({ min: 1000, max: 2 ** 40 }),
      ackDelayUs: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      maxOffset: u48,
      n: fc.integer({ min: 0, max: 32 }),
    })
    .map(({ largest, ackDelayUs, maxOffset, n }) => {
      const rs: Array<[number, number]> = [];
      let hi = largest;
      for (let i = 0; i < n && hi >= 2; i++) {
        rs.push([hi - 1, hi]);
        hi -= 3;
      }
      return { type: 'ack' as const, largest, ackDelayUs, maxOffset, ranges: rs };
    }),
  fc
    .uint8Array({ minLength: 1, maxLength: 1156 })
    .chain((bytes) =>
      u48.map((offset) => ({ type: 'data' as const, offset, length: bytes.length, compressed: false, bytes })),
    ),
  fc.record({
    type: fc.constant('fin' as const),
    sizeBytes: u48,
    sha256: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    rtt: fc.record({
      minUs: fc.nat(),
      avgUs: fc.nat(),
      p99Us: fc.nat(),
      packetsSent: fc.nat(),
      packetsRetransmitted: fc.nat(),
    }),
  }),
  fc.record({ type: fc.constant('done' as const), status: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2> }),
  fc.record({ type: fc.constant('close' as const), code: fc.constant('E_IO'), reason: fc.string({ maxLength: 100 }) }),
  fc.constant({ type: 'ping' as const }),
  fc.record({ type: fc.constant('pad' as const), length: fc.nat({ max: 1500 }) }),
  fc.record({
    type: fc.constantFrom('path_challenge' as const, 'path_response' as const),
    data: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  }),
  fc.record({
    type: fc.constant('stats' as const),
    stats: fc.record({
      rttUs: fc.nat(),
      pacingKbit: fc.nat(),
      packetsSent: fc.nat(),
      packetsLost: fc.nat(),
      packetsRetransmitted: fc.nat(),
    }),
  }),
);

describe('RUFT codecs (property tests)', () => {
  it('header round-trips', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 3, 4) as fc.Arbitrary<1 | 2 | 3 | 4>,
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        u48,
        (type, connectionId, packetNumber) => {
          const d = decodeHeader(encodeHeader({ type, connectionId, packetNumber }));
          expect(d).toEqual({ ok: true, value: { type, connectionId, packetNumber } });
        },
      ),
    );
  });

  it('frames round-trip', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 4 }).filter((fs) => fs.filter((f) => f.type === 'ack').length <= 1),
        (frames) => {
          expect(decodeFrames(encodeFrames(frames))).toEqual({ ok: true, value: frames });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a packet holds at most one ACK frame and at most 64 frames (bounded work per packet)', () => {
    const ack = {
      type: 'ack' as const,
      largest: 9,
      ackDelayUs: 0,
      maxOffset: 0,
      ranges: [[5, 9]] as Array<[number, number]>,
    };
    expect(decodeFrames(encodeFrames([ack, ack]))).toEqual({ ok: false, error: 'more than one ACK frame in a packet' });
    const pings = Array.from({ length: 64 }, () => ({ type: 'ping' as const }));
    expect(decodeFrames(encodeFrames(pings)).ok).toBe(true);
    expect(decodeFrames(encodeFrames([...pings, { type: 'ping' }]))).toEqual({
      ok: false,
      error: 'more than 64 frames',
    });
  });

  it('INITIAL, ACCEPT and REJECT round-trip', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 3) as fc.Arbitrary<1 | 2 | 3>,
        fc.boolean(),
        fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<0 | 1 | 2 | 3>,
        fc.string({ maxLength: 200 }).filter((p) => Buffer.byteLength(p) <= 1024),
        u48,
        ranges,
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        (op, resume, compression, path, sizeBytes, rs, sourceTag) => {
          const init = { op, resume, force: !resume, compression, path, sizeBytes, ranges: rs, sourceTag };
          expect(decodeInitial(encodeInitial(init))).toEqual({ ok: true, value: init });
          const acc = { op, sizeBytes, compression, ranges: rs, sourceTag };
          expect(decodeAccept(encodeAccept(acc))).toEqual({ ok: true, value: acc });
          // absent, a tag travels as eight zero bytes
          expect(decodeAccept(encodeAccept({ op, sizeBytes, compression, ranges: rs }))).toEqual({
            ok: true,
            value: { op, sizeBytes, compression, ranges: rs, sourceTag: new Uint8Array(8) },
          });
        },
      ),
      { numRuns: 300 },
    );
    expect(decodeReject(encodeReject({ code: 'E_NOT_FOUND', message: 'no such file: a.txt' }))).toEqual({
      ok: true,
      value: { code: 'E_NOT_FOUND', message: 'no such file: a.txt' },
    });
  });

  it('decoders never throw on arbitrary or mutated bytes', () => {
    const valid = [
      encodeFrames([{ type: 'data', offset: 5, length: 3, compressed: false, bytes: new Uint8Array([1, 2, 3]) }]),
      encodeInitial({
        op: 1,
        resume: true,
        force: false,
        compression: 0,
        path: 'a/b',
        sizeBytes: 9,
        ranges: [[0, 4]],
      }),
    ];
    const mutated = fc
      .tuple(
        fc.constantFrom(...valid),
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }),
        fc.nat(64),
        fc.uint8Array({ maxLength: 8 }),
      )
      .map(([v, flips, cut, tail]) => {
        const b = new Uint8Array([...v.subarray(0, Math.max(0, v.length - (cut % (v.length + 1)))), ...tail]);
        for (const [i, x] of flips) if (b.length) b[i % b.length] = x;
        return b;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 1500 }), mutated), (bytes) => {
        for (const dec of [decodeFrames, decodeInitial, decodeAccept, decodeReject, decodeHeader]) {
          const r = dec(bytes);
          expect(typeof r.ok).toBe('boolean');
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('rejects what must be rejected', () => {
    expect(decodeHeader(new Uint8Array(10)).ok).toBe(false);
    expect(decodeFrames(new Uint8Array([0x02, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 9])).ok).toBe(false);
    expect(decodeFrames(new Uint8Array([0x7f])).ok).toBe(false);
  });
});
