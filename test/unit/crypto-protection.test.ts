// Integrity-only packet protection (handshake envelopes and the plaintext teaching mode): the tag is the first
// 16 bytes of SHA-256(header ‖ payload), whether header and payload are neighbours in one datagram (one-shot
// hash) or separate arrays (incremental hash), and any changed byte fails to open.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { integrityOnlyProtection } from '../../src/crypto/index.js';

const p = integrityOnlyProtection('test');
const header = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const payload = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);

describe('integrity-only protection', () => {
  it('seals header ‖ payload ‖ SHA-256(header ‖ payload)[0..16]', () => {
    const sealed = p.seal(header, 0, payload);
    const expected = createHash('sha256').update(header).update(payload).digest().subarray(0, 16);
    expect(sealed.length).toBe(16 + 300 + 16);
    expect(Buffer.from(sealed.subarray(0, 16)).equals(Buffer.from(header))).toBe(true);
    expect(Buffer.from(sealed.subarray(16, 316)).equals(Buffer.from(payload))).toBe(true);
    expect(Buffer.from(sealed.subarray(316)).equals(expected)).toBe(true);
  });

  it('opens views into one datagram and separate copies alike', () => {
    const d = p.seal(header, 0, payload);
    const inPlace = p.open(d.subarray(0, 16), 0, d.subarray(16));
    const copies = p.open(Uint8Array.from(d.subarray(0, 16)), 0, Uint8Array.from(d.subarray(16)));
    // a header that is not the payload's neighbour in the same buffer takes the incremental path
    const apart = new Uint8Array(d.length + 5);
    apart.set(d.subarray(0, 16), 0);
    apart.set(d.subarray(16), 21);
    const gap = p.open(apart.subarray(0, 16), 0, apart.subarray(21));
    for (const got of [inPlace, copies, gap]) expect(got && Buffer.from(got).equals(Buffer.from(payload))).toBe(true);
  });

  it('refuses every single-byte change, and anything shorter than a tag', () => {
    const d = p.seal(header, 0, payload);
    for (let i = 0; i < d.length; i++) {
      const bad = Uint8Array.from(d);
      bad[i] = (bad[i] ?? 0) ^ (1 << (i % 8));
      expect(p.open(bad.subarray(0, 16), 0, bad.subarray(16)), `byte ${i}`).toBeUndefined();
    }
    expect(p.open(header, 0, new Uint8Array(15))).toBeUndefined();
  });
});
