// TFTP codec, options and netascii: decoders never throw and round-trip what the encoders make.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  acceptOack,
  decodeTftp,
  encodeTftp,
  NetasciiDecoder,
  negotiateServer,
  netasciiEncode,
  requestOptions,
  type TftpPacket,
  unwrapBlock,
} from '../../../src/baselines/tftp/index.js';

const name = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\0') && /^[\x01-\xff]+$/.test(s));
const packet: fc.Arbitrary<TftpPacket> = fc.oneof(
  fc.record({
    op: fc.constantFrom('RRQ' as const, 'WRQ' as const),
    filename: name,
    mode: fc.constantFrom('octet', 'netascii'),
    options: fc.array(
      fc.tuple(
        name.map((s) => s.toLowerCase()),
        name,
      ),
      { maxLength: 4 },
    ),
  }),
  fc.record({
    op: fc.constant('DATA' as const),
    block: fc.integer({ min: 0, max: 0xffff }),
    data: fc.uint8Array({ maxLength: 600 }),
  }),
  fc.record({ op: fc.constant('ACK' as const), block: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({
    op: fc.constant('ERROR' as const),
    code: fc.integer({ min: 0, max: 8 }),
    message: fc.string({ maxLength: 50 }).filter((s) => /^[\x01-\x7f]*$/.test(s)),
  }),
  fc.record({
    op: fc.constant('OACK' as const),
    options: fc.array(
      fc.tuple(
        name.map((s) => s.toLowerCase()),
        name,
      ),
      { maxLength: 4 },
    ),
  }),
);

describe('TFTP packets', () => {
  it('round-trip through encode and decode', () => {
    fc.assert(
      fc.property(packet, (p) => {
        const d = decodeTftp(encodeTftp(p));
        expect(d.ok).toBe(true);
        if (d.ok)
          expect({
            ...d.packet,
            ...(p.op === 'DATA' && { data: Uint8Array.from((d.packet as { data: Uint8Array }).data) }),
          }).toEqual(p);
      }),
      { numRuns: 2000 },
    );
  });

  it('decode never throws on random or mutated input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        const d = decodeTftp(b);
        if (!d.ok) expect(d.error).toMatch(/\w/);
      }),
      { numRuns: 20_000 },
    );
    fc.assert(
      fc.property(packet, fc.nat(), fc.nat(7), fc.nat(), (p, at, bit, cut) => {
        const b = Uint8Array.from(encodeTftp(p));
        if (b.length > 0) b[at % b.length]! ^= 1 << bit;
        decodeTftp(b);
        decodeTftp(b.subarray(0, cut % (b.length + 1)));
      }),
      { numRuns: 20_000 },
    );
  });

  it('refuses what RFC 1350 forbids, with a reason', () => {
    expect(decodeTftp(Uint8Array.of(0, 1, 0x61))).toMatchObject({ ok: false, error: /NUL-terminated/ });
    expect(decodeTftp(Uint8Array.of(0, 4, 0, 1, 9))).toMatchObject({ ok: false, error: /ACK of 5 bytes/ });
    expect(decodeTftp(Uint8Array.of(0, 9))).toMatchObject({ ok: false, error: /unknown opcode 9/ });
    expect(
      decodeTftp(encodeTftp({ op: 'RRQ', filename: 'a', mode: 'octet', options: [] }).subarray(0, 5)),
    ).toMatchObject({ ok: false });
    // option names are case-insensitive
    const d = decodeTftp(Buffer.from('\x00\x01f\x00OCTET\x00BlkSize\x001468\x00', 'latin1'));
    expect(d).toMatchObject({ ok: true, packet: { mode: 'octet', options: [['blksize', '1468']] } });
  });
});

describe('TFTP options', () => {
  const limits = { maxBlksize: 65464, maxWindowsize: 64, defaultTimeoutMs: 1000 };
  it('the server grants no more than asked, ignores the unknown and the malformed', () => {
    const r = negotiateServer(
      [
        ['blksize', '1468'],
        ['windowsize', '500'],
        ['tsize', '0'],
        ['timeout', '3'],
        ['frobnicate', '1'],
        ['blksize', '9'],
      ],
      'RRQ',
      12345,
      limits,
    );
    expect(r.oack).toEqual([
      ['blksize', '1468'],
      ['windowsize', '64'],
      ['tsize', '12345'],
      ['timeout', '3'],
    ]);
    expect(r.use).toEqual({ blksize: 1468, windowsize: 64, timeoutMs: 3000, tsize: 12345 });
    expect(
      negotiateServer(
        [
          ['blksize', '7'],
          ['timeout', '0'],
          ['windowsize', 'x'],
        ],
        'RRQ',
        1,
        limits,
      ).oack,
    ).toEqual([]);
    expect(negotiateServer([['utimeout', '50000']], 'RRQ', 1, limits).use.timeoutMs).toBe(50);
  });

  it('the client refuses an OACK that raises a value or names what it did not ask', () => {
    const ask = { blksize: 1468, windowsize: 8, tsize: 0 };
    expect(requestOptions(ask)).toEqual([
      ['blksize', '1468'],
      ['tsize', '0'],
      ['windowsize', '8'],
    ]);
    expect(
      acceptOack(
        ask,
        [
          ['blksize', '1024'],
          ['windowsize', '4'],
          ['tsize', '99'],
        ],
        1000,
      ),
    ).toEqual({
      ok: true,
      use: { blksize: 1024, windowsize: 4, timeoutMs: 1000, tsize: 99 },
    });
    expect(acceptOack(ask, [['blksize', '2000']], 1000)).toMatchObject({ ok: false });
    expect(acceptOack(ask, [['timeout', '5']], 1000)).toMatchObject({ ok: false, error: /timeout=5/ });
  });

  it('block numbers unwrap across the 16-bit rollover', () => {
    expect(unwrapBlock(0, 65535)).toBe(65536);
    expect(unwrapBlock(65535, 65536)).toBe(65535);
    expect(unwrapBlock(3, 131075)).toBe(131075);
    expect(unwrapBlock(10, 5)).toBe(10);
  });
});

describe('netascii', () => {
  it('LF becomes CR LF and CR becomes CR NUL; decoding in any chunking restores the text', () => {
    expect(Buffer.from(netasciiEncode(Buffer.from('a\nb\rc'))).toString('latin1')).toBe('a\r\nb\r\0c');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(300), { maxLength: 5 }), (text, cuts) => {
        const wire = netasciiEncode(text);
        const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
        const dec = new NetasciiDecoder();
        const parts: Uint8Array[] = [];
        let from = 0;
        for (const p of [...points, wire.length]) {
          parts.push(dec.push(wire.subarray(from, p)));
          from = p;
        }
        parts.push(dec.end());
        expect(Buffer.concat(parts)).toEqual(Buffer.from(text));
      }),
      { numRuns: 3000 },
    );
  });
});
