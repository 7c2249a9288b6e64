// The two crypto backends (libsodium through sodium-native, node:crypto) are interchangeable byte for byte:
// a packet sealed by one opens with the other and has the same bytes, for both Noise ciphers and packet
// numbers across the 32-bit boundary; the per-packet nonce equals Noise's; forgeries, replays and low-order
// X25519 points are refused on each. And UDPLAB_CRYPTO picks the backend, falling back to node:crypto (said
// in the session's security label) when sodium-native cannot load.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  aeadDecrypt,
  aeadEncrypt,
  aeadProtection,
  type CipherName,
  ClientHandshake,
  type CryptoBackend,
  nodeBackend,
  selectBackend,
  serverRead,
  x25519,
  x25519KeyPair,
} from '../../src/crypto/index.js';
import { BACKENDS } from '../helpers/backends.js';

const CIPHERS: CipherName[] = ['ChaChaPoly', 'AESGCM'];
const [[, sodium], [, node]] = BACKENDS as [[string, CryptoBackend], [string, CryptoBackend]];
const PAIRS: Array<[string, CryptoBackend, CryptoBackend]> = [
  ['libsodium → node:crypto', sodium, node],
  ['node:crypto → libsodium', node, sodium],
];
const key = new Uint8Array(randomBytes(32));
const header = new Uint8Array(randomBytes(17));
const payload = new Uint8Array(randomBytes(1160));
/** Packet numbers around the edges of the nonce layout: 0, the 32-bit boundary, 2^53 − 1. */
const PNS = [0, 1, 255, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 12345, 2 ** 53 - 1];
const eq = (a: Uint8Array | undefined, b: Uint8Array | undefined) =>
  a !== undefined && b !== undefined && Buffer.from(a).equals(Buffer.from(b));

describe.each(CIPHERS)('%s on both backends', (cipher) => {
  it.each(PAIRS)('%s: sealed by one, opened by the other, same bytes', (_n, from, to) => {
    const a = from.packetAead(cipher, key);
    const b = to.packetAead(cipher, key);
    for (const pn of PNS) {
      const sealed = a.seal(header, pn, payload);
      expect(eq(sealed, b.seal(header, pn, payload)), `pn ${pn}`).toBe(true);
      expect(eq(sealed.subarray(0, header.length), header)).toBe(true);
      expect(sealed.length).toBe(header.length + payload.length + 16);
      expect(eq(b.open(header, pn, sealed.subarray(header.length)), payload), `pn ${pn}`).toBe(true);
      expect(b.open(header, pn + 1, sealed.subarray(header.length)), `pn ${pn} + 1`).toBeUndefined();
    }
  });

  it.each(BACKENDS)(
    '%s: the packet nonce is Noise’s (n as 64 bits at bytes 4..11), the handshake AEAD agrees',
    (_n, be) => {
      for (const pn of PNS) {
        const sealed = be.packetAead(cipher, key).seal(header, pn, payload);
        const noise = aeadEncrypt(cipher, key, BigInt(pn), header, payload, be);
        expect(eq(sealed.subarray(header.length), noise), `pn ${pn}`).toBe(true);
        // and across backends for the handshake path
        const other = be === sodium ? node : sodium;
        expect(eq(aeadDecrypt(cipher, key, BigInt(pn), header, noise, other), payload)).toBe(true);
      }
      // the largest Noise counter (2^64 − 2, the last usable one) on both
      const big = 2n ** 64n - 2n;
      expect(
        eq(
          aeadEncrypt(cipher, key, big, header, payload, sodium),
          aeadEncrypt(cipher, key, big, header, payload, node),
        ),
      ).toBe(true);
    },
  );

  it.each(BACKENDS)(
    '%s: refuses every flipped byte of header, ciphertext and tag, a wrong key, and short input',
    (_n, be) => {
      const p = be.packetAead(cipher, key);
      const short = new Uint8Array(header.length + 40);
      short.set(header);
      short.set(payload.subarray(0, 24), header.length);
      const sealed = p.seal(header, 7, payload.subarray(0, 24));
      for (let i = 0; i < sealed.length; i++) {
        const bad = Uint8Array.from(sealed);
        bad[i] = bad[i]! ^ (1 << (i % 8));
        expect(p.open(bad.subarray(0, header.length), 7, bad.subarray(header.length)), `byte ${i}`).toBeUndefined();
      }
      const other = be.packetAead(cipher, new Uint8Array(randomBytes(32)));
      expect(other.open(header, 7, sealed.subarray(header.length))).toBeUndefined();
      expect(p.open(header, 7, new Uint8Array(15))).toBeUndefined();
      expect(p.open(header, 7, new Uint8Array(0))).toBeUndefined();
      expect(aeadDecrypt(cipher, key, 7n, header, new Uint8Array(15), be)).toBeUndefined();
      // an empty payload seals to a bare tag and opens to an empty payload
      const empty = p.seal(header, 9, new Uint8Array(0));
      expect(p.open(header, 9, empty.subarray(header.length))?.length).toBe(0);
    },
  );

  it.each(PAIRS)('%s: a whole NK handshake and session, client and server on different backends', (_n, cb, sb) => {
    const server = x25519KeyPair(new Uint8Array(randomBytes(32)), sb);
    const connectionId = new Uint8Array(randomBytes(8));
    const client = new ClientHandshake(
      {
        mode: 'noise',
        cipher,
        serverPublicKey: server.publicKey,
        ephemeral: new Uint8Array(randomBytes(32)),
        backend: cb,
      },
      { connectionId },
    );
    const suite = cipher === 'ChaChaPoly' ? 1 : 3;
    const read = serverRead(
      {
        staticPrivateKey: server.privateKey,
        allowPlaintext: false,
        ephemeral: () => new Uint8Array(randomBytes(32)),
        backend: sb,
      },
      suite,
      client.firstMessage(Uint8Array.of(1, 2, 3)),
      connectionId,
    );
    if (!read.ok) throw new Error(read.message);
    expect([...read.request]).toEqual([1, 2, 3]);
    expect(client.readAnswer(suite, read.answer(1, Uint8Array.of(9)))?.authenticated).toBe(true);
    const c = client.protection!;
    const s = read.protection()!;
    for (const pn of [0, 1, 2 ** 32 + 3]) {
      const up = c.seal(header, pn, payload);
      expect(eq(s.open(header, pn, up.subarray(header.length)), payload)).toBe(true);
      const down = s.seal(header, pn, payload);
      expect(eq(c.open(header, pn, down.subarray(header.length)), payload)).toBe(true);
      // the anti-replay window holds on either backend
      expect(s.open(header, pn, up.subarray(header.length))).toBeUndefined();
    }
    // each label says which backend runs its AEAD
    expect(client.label).toContain(`AEAD ${cb.note(cipher)}`);
    expect(read.label).toContain(`AEAD ${sb.note(cipher)}`);
  });
});

describe('what each backend says it runs', () => {
  it('libsodium runs ChaChaPoly; AESGCM stays on node:crypto (sodium-native binds no AES-256-GCM)', () => {
    expect(sodium.name).toBe('libsodium');
    expect(sodium.note('ChaChaPoly')).toBe('libsodium (sodium-native)');
    expect(sodium.note('AESGCM')).toBe('node:crypto (sodium-native binds no AES-256-GCM)');
    expect(node.note('ChaChaPoly')).toBe('node:crypto (UDPLAB_CRYPTO=node)');
  });

  it('aeadProtection on the libsodium backend opens what node:crypto sealed (and a forged tag on neither)', () => {
    const k2 = new Uint8Array(randomBytes(32));
    const a = aeadProtection('ChaChaPoly', key, k2, 'a', sodium);
    const b = aeadProtection('ChaChaPoly', k2, key, 'b', node);
    const sealed = b.seal(header, 5, payload);
    expect(eq(a.open(header, 5, sealed.subarray(header.length)), payload)).toBe(true);
    const forged = Uint8Array.from(sealed);
    forged[forged.length - 1]! ^= 1;
    expect(a.open(header, 6, forged.subarray(header.length))).toBeUndefined();
  });
});

/** The seven X25519 low-order points (u-coordinates, little-endian), and each with the ignored top bit set. */
const P = (1n << 255n) - 19n;
const LOW_ORDER = [
  0n,
  1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
  P - 1n,
  P,
  P + 1n,
].flatMap((u) => {
  const b = new Uint8Array(32);
  for (let i = 0, v = u; i < 32; i++, v >>= 8n) b[i] = Number(v & 0xffn);
  const high = Uint8Array.from(b);
  high[31]! |= 0x80;
  return [b, high];
});

describe('X25519 on both backends', () => {
  it('the same public keys and shared secrets (RFC 7748 §6.1 and random keys)', () => {
    const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
    const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    for (const [, be] of BACKENDS) {
      const a = x25519KeyPair(alice, be);
      const b = x25519KeyPair(bob, be);
      expect(Buffer.from(a.publicKey).toString('hex')).toBe(
        '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
      );
      expect(Buffer.from(x25519(alice, b.publicKey, be)!).toString('hex')).toBe(
        '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
      );
    }
    for (let i = 0; i < 20; i++) {
      const priv = new Uint8Array(randomBytes(32));
      const pub = new Uint8Array(randomBytes(32)); // any 32 bytes: a point on the curve or its twist
      expect(eq(x25519KeyPair(priv, sodium).publicKey, x25519KeyPair(priv, node).publicKey)).toBe(true);
      expect(eq(x25519(priv, pub, sodium), x25519(priv, pub, node))).toBe(true);
    }
  });

  it.each(BACKENDS)('%s: every low-order point and a key of the wrong length is undefined, never a throw', (_n, be) => {
    const priv = new Uint8Array(randomBytes(32));
    for (const p of LOW_ORDER) expect(x25519(priv, p, be), Buffer.from(p).toString('hex')).toBeUndefined();
    expect(x25519(priv, new Uint8Array(31), be)).toBeUndefined();
    expect(x25519(priv, new Uint8Array(33), be)).toBeUndefined();
  });
});

describe('UDPLAB_CRYPTO picks the backend', () => {
  const fake = () => ({ why: 'sodium-native did not load: no prebuild for this platform' });

  it('unset or auto: libsodium when it loads, else node:crypto with the reason in the label', () => {
    expect(selectBackend(undefined).name).toBe('libsodium');
    expect(selectBackend('auto').name).toBe('libsodium');
    const fallback = selectBackend(undefined, fake);
    expect(fallback.name).toBe('node:crypto');
    expect(fallback.note('ChaChaPoly')).toBe(
      'node:crypto (fallback: sodium-native did not load: no prebuild for this platform)',
    );
  });

  it('node forces node:crypto without loading sodium-native; sodium requires it; anything else is one clear error', () => {
    expect(selectBackend('node', () => expect.unreachable('loaded sodium-native')).name).toBe('node:crypto');
    expect(selectBackend('sodium').name).toBe('libsodium');
    expect(() => selectBackend('sodium', fake)).toThrow(
      /^UDPLAB_CRYPTO=sodium: sodium-native did not load: no prebuild for this platform$/,
    );
    expect(() => selectBackend('openssl')).toThrow(/^UDPLAB_CRYPTO=openssl: expected node, sodium or auto/);
    // with the code the CLI prints as one line (`udplab: E_USAGE: …`, exit 2), not an internal error
    expect(() => selectBackend('openssl')).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
  });

  describe('the environment variable itself', () => {
    afterEach(() => {
      vi.unstubAllEnvs();
      vi.resetModules();
    });
    it.each([
      ['node', 'node:crypto', 'AEAD node:crypto (UDPLAB_CRYPTO=node)'],
      [undefined, 'libsodium', 'AEAD libsodium (sodium-native)'],
    ])('UDPLAB_CRYPTO=%s: %s, and a session label that says so', async (value, name, note) => {
      vi.resetModules();
      vi.stubEnv('UDPLAB_CRYPTO', value);
      const fresh = await import('../../src/crypto/index.js');
      expect(fresh.cryptoBackend().name).toBe(name);
      const server = fresh.x25519KeyPair(new Uint8Array(randomBytes(32)));
      const hs = new fresh.ClientHandshake(
        { mode: 'noise', serverPublicKey: server.publicKey, ephemeral: new Uint8Array(randomBytes(32)) },
        { connectionId: new Uint8Array(8) },
      );
      expect(hs.label).toMatch(/^Noise_NK_25519_ChaChaPoly_SHA256, server SHA256:/);
      expect(hs.label.endsWith(note)).toBe(true);
    });
  });
});

// the module default agrees with the test's own backend list
it('nodeBackend is the node:crypto backend of the list', () => {
  expect(node).toBe(nodeBackend);
});
