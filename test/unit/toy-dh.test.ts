// The seminar's "pre-shared key using Diffie-Hellman": prime 17, primitive root 3. Anyone who sees the
// public values recovers the shared key by trying at most 16 exponents. X25519 needs ~2^126 operations.
import { describe, expect, it } from 'vitest';

const P = 17n;
const G = 3n;
const modpow = (b: bigint, e: bigint, m: bigint) => {
  let r = 1n;
  for (let x = b % m, k = e; k > 0n; k >>= 1n, x = (x * x) % m) if (k & 1n) r = (r * x) % m;
  return r;
};

describe('the seminar toy Diffie-Hellman', () => {
  it('recovers the shared key from the public values alone, by brute force', () => {
    for (const [a, b] of [
      [15n, 13n],
      [6n, 11n],
      [2n, 9n],
    ] as const) {
      const A = modpow(G, a, P); // sent in the clear
      const B = modpow(G, b, P); // sent in the clear
      const shared = modpow(B, a, P);
      let tries = 0;
      let found: bigint | undefined;
      for (let x = 1n; x < P && found === undefined; x++) {
        tries++;
        if (modpow(G, x, P) === A) found = modpow(B, x, P);
      }
      expect(found).toBe(shared);
      expect(tries).toBeLessThanOrEqual(16);
    }
  });

  it("with the seminar's own numbers the shared key is 1, and the client's public key needs no sending", () => {
    const serverSecret = 89n;
    const clientSecret = 96n; // a multiple of 16, the order of 3 modulo 17
    expect(modpow(G, serverSecret, P)).toBe(14n); // the server's public key, the "14" on the wire
    expect(modpow(G, clientSecret, P)).toBe(1n); // the client's, written into both programs as 1
    expect(modpow(1n, serverSecret, P)).toBe(1n); // the server's shared key
    expect(modpow(14n, clientSecret, P)).toBe(1n); // the client's (a commented-out line in the seminar's client)
    // any secret that is a multiple of 16 gives the key 1, whatever the other side sends
    for (let b = 1n; b < P; b++) expect(modpow(b, 16n * 3n, P)).toBe(1n);
  });

  it('states the work factor of X25519 next to it', () => {
    // the best known attack on X25519 (Pollard rho on a ~2^252 group) costs about 2^126 group operations
    const x25519Ops = 2 ** 126;
    const toyOps = 16;
    expect(Math.log2(x25519Ops / toyOps)).toBeGreaterThan(120);
  });
});
