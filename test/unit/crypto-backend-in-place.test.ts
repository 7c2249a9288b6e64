// A received datagram above 4 KiB that the transport gives up (`inPlace`) is decrypted where it lies with
// libsodium: no second ArrayBuffer per 32,000-byte datagram, which doubled the external memory V8 lets pile up
// between collections (the client's peak RSS with datagrams above 1,472: docs/performance.md). Without `inPlace`,
// and for small packets (the slab), the datagram is left as it was; a forgery is still refused.
import { getRandomValues } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { aeadProtection } from '../../src/crypto/index.js';
import { BACKENDS } from '../helpers/backends.js';

const fresh = (n: number) => getRandomValues(new Uint8Array(n));
const header = fresh(14);

describe.each(BACKENDS)('%s: open in place', (name, be) => {
  const key = fresh(32);
  const tx = be.packetAead('ChaChaPoly', key);

  it('a large datagram given up: the plaintext is right, and with libsodium it is the datagram’s own bytes', () => {
    const rx = be.packetAead('ChaChaPoly', key);
    const payload = fresh(31_956);
    const sealed = tx.seal(header, 7, payload).subarray(header.length);
    const opened = rx.open(header, 7, sealed, true);
    expect(opened && Buffer.from(opened).equals(Buffer.from(payload))).toBe(true);
    if (name === 'libsodium') {
      expect(opened!.buffer).toBe(sealed.buffer);
      expect(opened!.byteOffset).toBe(sealed.byteOffset);
    }
  });

  it('not given up, or small: the datagram is not written', () => {
    const rx = be.packetAead('ChaChaPoly', key);
    for (const [size, inPlace] of [
      [31_956, false],
      [1_100, true],
    ] as const) {
      const sealed = tx.seal(header, size, fresh(size)).subarray(header.length);
      const copy = Buffer.from(sealed);
      const opened = rx.open(header, size, sealed, inPlace);
      expect(opened).toBeDefined();
      expect(opened!.buffer).not.toBe(sealed.buffer);
      expect(Buffer.from(sealed).equals(copy)).toBe(true);
    }
  });

  it('a forgery given up is refused, and the next genuine packet opens', () => {
    const rx = aeadProtection('ChaChaPoly', key, key, 'test', be);
    const sealed = rx.seal(header, 9, fresh(20_000));
    const forged = new Uint8Array(sealed.subarray(header.length));
    forged[100]! ^= 1;
    expect(rx.open(header, 9, forged, true)).toBeUndefined();
    const payload = fresh(20_000);
    const again = rx.seal(header, 9, payload);
    const opened = rx.open(header, 9, again.subarray(header.length), true);
    expect(opened && Buffer.from(opened).equals(Buffer.from(payload))).toBe(true);
  });
});
