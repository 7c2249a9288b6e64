// Where the backends leave key and plaintext bytes: nothing a seal or an open returns may reach, through its
// `.buffer`, a session key or another packet's plaintext. Buffer.from/allocUnsafe/concat of fewer than 4 KiB
// take a slice of Node's shared 8 KiB pool, so a key copied with Buffer.from sits in the same ArrayBuffer as
// the next datagrams sealed and the plaintexts opened by every session of the process (review of the libsodium
// backend, finding M1: the libsodium packet AEAD copied its key and wrote plaintexts there).
import { getRandomValues } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { CipherName } from '../../src/crypto/index.js';
import { BACKENDS } from '../helpers/backends.js';

const CIPHERS: CipherName[] = ['ChaChaPoly', 'AESGCM'];

/** Whether `needle` occurs anywhere in the ArrayBuffer behind `view` (needle read in place: no pooled copy). */
function reaches(view: Uint8Array, needle: Uint8Array): boolean {
  const hay = Buffer.from(view.buffer, 0, view.buffer.byteLength);
  return hay.indexOf(Buffer.from(needle.buffer, needle.byteOffset, needle.byteLength)) >= 0;
}

/** Fresh bytes in their own ArrayBuffer (randomBytes would leave a copy in the pool and spoil the search). */
const fresh = (n: number) => getRandomValues(new Uint8Array(n));

describe.each(CIPHERS)('%s: what seal and open return reaches no key and no other plaintext', (cipher) => {
  it.each(BACKENDS)('%s: the per-packet AEAD', (_n, be) => {
    // several sessions, interleaved, as on a busy server; small packets so that everything would fit one pool
    const sessions = Array.from({ length: 4 }, () => {
      const key = fresh(32);
      return { key, aead: be.packetAead(cipher, key) };
    });
    const header = fresh(14);
    for (let pn = 0; pn < 8; pn++) {
      const round = sessions.map(({ aead }) => {
        const payload = fresh(100 + pn * 150);
        const sealed = aead.seal(header, pn, payload);
        // a forgery first: what it leaves behind must not matter either
        const forged = new Uint8Array(sealed.subarray(header.length));
        forged[0]! ^= 1;
        expect(aead.open(header, pn, forged)).toBeUndefined();
        const opened = aead.open(header, pn, sealed.subarray(header.length));
        expect(opened && Buffer.from(opened).equals(Buffer.from(payload))).toBe(true);
        return { payload, sealed, opened: opened! };
      });
      round.forEach(({ sealed, opened }, i) => {
        for (const [j, s] of sessions.entries()) {
          expect(reaches(sealed, s.key), `sealed pn ${pn} reaches a key`).toBe(false);
          expect(reaches(opened, s.key), `opened pn ${pn} reaches a key`).toBe(false);
          if (j !== i)
            expect(reaches(opened, round[j]!.payload), `opened pn ${pn} reaches another session's plaintext`).toBe(
              false,
            );
        }
      });
    }
  });

  it.each(BACKENDS)('%s: a plaintext held while later packets (and forgeries) open stays as it was', (_n, be) => {
    // guards the libsodium slab: across several slabs, with failed opens rolled back, no region is handed out twice
    const aead = be.packetAead(cipher, fresh(32));
    const header = fresh(14);
    const held: Array<[Uint8Array, Uint8Array]> = [];
    for (let pn = 0; pn < 60; pn++) {
      const payload = fresh(pn % 7 === 0 ? 5000 : 1160);
      const sealed = aead.seal(header, pn, payload);
      expect(aead.open(header, pn, sealed.subarray(0, sealed.length - 1))).toBeUndefined();
      held.push([payload, aead.open(header, pn, sealed.subarray(header.length))!]);
    }
    for (const [i, [payload, opened]] of held.entries())
      expect(Buffer.from(opened).equals(Buffer.from(payload)), `packet ${i}`).toBe(true);
  });

  it.each(BACKENDS)('%s: the handshake AEAD (Noise DECRYPT)', (_n, be) => {
    const key = fresh(32);
    const ad = fresh(32);
    for (let n = 0n; n < 8n; n++) {
      const plaintext = fresh(40 + Number(n) * 60);
      const sealed = be.encrypt(cipher, key, n, ad, plaintext);
      const opened = be.decrypt(cipher, key, n, ad, sealed);
      expect(opened && Buffer.from(opened).equals(Buffer.from(plaintext))).toBe(true);
      expect(reaches(sealed, key)).toBe(false);
      expect(opened!.byteOffset).toBe(0);
      expect(opened!.buffer.byteLength).toBe(opened!.length);
    }
  });
});

describe.each(BACKENDS)('%s: X25519 leaves no copy of the private key where datagrams are', (_n, be) => {
  it('the static key used in a handshake is not behind the datagrams sealed afterwards', () => {
    for (let round = 0; round < 4; round++) {
      const staticKey = fresh(32);
      const peer = be.x25519Public(fresh(32));
      expect(be.x25519Public(staticKey).length).toBe(32);
      expect(be.x25519(staticKey, peer)?.length).toBe(32);
      // pooled allocations, as the node:crypto packet AEAD's seal makes for every datagram
      const aead = be.packetAead('AESGCM', fresh(32));
      for (let pn = 0; pn < 4; pn++) {
        const sealed = aead.seal(fresh(14), pn, fresh(200));
        expect(reaches(sealed, staticKey), `round ${round} pn ${pn}`).toBe(false);
      }
    }
  });
});
