// Where the AEAD and X25519 of udplab run: libsodium through `sodium-native` when its prebuilt addon loads (the
// default), node:crypto otherwise. Both produce the same bytes (the Noise vectors and a cross-backend test run
// on each); what differs is the cost per packet: node:crypto has no one-shot AEAD, so every packet pays for a
// new cipher context, while libsodium's one-shot ChaCha20-Poly1305 IETF keeps no state between packets.
// Rules:
// - UDPLAB_CRYPTO=node forces node:crypto, UDPLAB_CRYPTO=sodium requires libsodium (an error when it cannot
//   load), unset or auto picks libsodium and falls back to node:crypto; which one ran is said once per session,
//   in the security label that `--json` results and lab reports carry (`note`).
// - sodium-native 5 binds no AES-256-GCM, so the AESGCM suite runs on node:crypto under either backend (and
//   the label says so).
// - Nothing here throws for remote input: a forged packet or an unusable public key is `undefined`.
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  type KeyObject,
} from 'node:crypto';
import { createRequire } from 'node:module';
import { datagramPool, POOLED_MIN_BYTES } from './datagram-pool.js';

export type CipherName = 'ChaChaPoly' | 'AESGCM';

/**
 * The per-packet AEAD of one direction, built for the data path: the key is set up once, the nonce (Noise's
 * layout, from a packet number < 2^53) is written in place, and `seal` returns header ‖ ciphertext ‖ tag in
 * one allocation.
 */
export interface PacketAead {
  seal(header: Uint8Array, n: number, plaintext: Uint8Array): Uint8Array;
  /**
   * The plaintext, or undefined when `sealed` does not authenticate under `header` and `n`. `inPlace`: the caller
   * gives `sealed` up (a received datagram nobody reads again); a backend may then decrypt into its bytes (a failed
   * open may leave them zeroed) instead of allocating the plaintext.
   */
  open(header: Uint8Array, n: number, sealed: Uint8Array, inPlace?: boolean): Uint8Array | undefined;
}

export interface CryptoBackend {
  readonly name: 'libsodium' | 'node:crypto';
  /** What runs `cipher`'s AEAD, and why when it is not this backend's first choice: for the security label. */
  note(cipher: CipherName): string;
  packetAead(cipher: CipherName, key: Uint8Array): PacketAead;
  /** Noise's ENCRYPT(k, n, ad, plaintext): ciphertext ‖ tag. */
  encrypt(cipher: CipherName, key: Uint8Array, n: bigint, ad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Noise's DECRYPT, or undefined when authentication fails. */
  decrypt(cipher: CipherName, key: Uint8Array, n: bigint, ad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
  /** The X25519 public key of a 32-byte private key. */
  x25519Public(privateKey: Uint8Array): Uint8Array;
  /** X25519, or undefined for a public key that is not 32 bytes or is of low order (an all-zero secret). */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined;
}

const TAG = 16;

/** Noise's 12-byte nonce of counter `n`: 4 zero bytes, then 8 bytes little-endian (ChaChaPoly) or big-endian. */
function noiseNonce(cipher: CipherName, n: bigint): Buffer {
  const b = Buffer.alloc(12);
  if (cipher === 'ChaChaPoly') b.writeBigUInt64LE(n, 4);
  else b.writeBigUInt64BE(n, 4);
  return b;
}

/** A setter for the nonce bytes 4..11 of `iv` from a packet number below 2^53, without BigInt. */
function nonceWriter(cipher: CipherName, iv: Buffer): (n: number) => void {
  return cipher === 'ChaChaPoly'
    ? (n) => {
        iv.writeUInt32LE(n >>> 0, 4);
        iv.writeUInt32LE(Math.floor(n / 2 ** 32), 8);
      }
    : (n) => {
        iv.writeUInt32BE(Math.floor(n / 2 ** 32), 4);
        iv.writeUInt32BE(n >>> 0, 8);
      };
}

// ---------------------------------------------------------------------------------------------------------
// node:crypto

const ALG = { ChaChaPoly: 'chacha20-poly1305', AESGCM: 'aes-256-gcm' } as const;
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

function nodePacketAead(cipher: CipherName, key: Uint8Array): PacketAead {
  const k = createSecretKey(key);
  const alg = ALG[cipher] as 'chacha20-poly1305';
  const iv = Buffer.alloc(12); // bytes 0..3 stay zero; createCipheriv copies it
  const setNonce = nonceWriter(cipher, iv);
  return {
    seal(header, n, plaintext) {
      setNonce(n);
      const c = createCipheriv(alg, k, iv, { authTagLength: TAG });
      c.setAAD(header, { plaintextLength: plaintext.length });
      const ct = c.update(plaintext);
      c.final();
      return Buffer.concat([header, ct, c.getAuthTag()], header.length + ct.length + TAG);
    },
    open(header, n, sealed) {
      if (sealed.length < TAG) return undefined;
      setNonce(n);
      try {
        const d = createDecipheriv(alg, k, iv, { authTagLength: TAG });
        d.setAAD(header, { plaintextLength: sealed.length - TAG });
        d.setAuthTag(sealed.subarray(sealed.length - TAG));
        const out = d.update(sealed.subarray(0, sealed.length - TAG));
        d.final();
        return out;
      } catch {
        return undefined;
      }
    },
  };
}

function nodeEncrypt(cipher: CipherName, key: Uint8Array, n: bigint, ad: Uint8Array, plaintext: Uint8Array) {
  const c = createCipheriv(ALG[cipher] as 'chacha20-poly1305', key, noiseNonce(cipher, n), { authTagLength: TAG });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  const out = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

function nodeDecrypt(cipher: CipherName, key: Uint8Array, n: bigint, ad: Uint8Array, sealed: Uint8Array) {
  if (sealed.length < TAG) return undefined;
  try {
    const d = createDecipheriv(ALG[cipher] as 'chacha20-poly1305', key, noiseNonce(cipher, n), {
      authTagLength: TAG,
    });
    d.setAAD(ad, { plaintextLength: sealed.length - TAG });
    d.setAuthTag(sealed.subarray(sealed.length - TAG));
    // update's output owns its memory; Buffer.concat would copy the plaintext into Node's shared pool
    const out = d.update(sealed.subarray(0, sealed.length - TAG));
    d.final();
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  } catch {
    return undefined;
  }
}

/**
 * A private key as PKCS#8 DER, in an ArrayBuffer of its own that is zeroed once OpenSSL holds the key
 * (Buffer.concat would leave a copy of the server's static key in Node's shared pool at every handshake).
 */
function privateKeyObject(privateKey: Uint8Array): KeyObject {
  const der = Buffer.allocUnsafeSlow(PKCS8_X25519.length + privateKey.length);
  der.set(PKCS8_X25519);
  der.set(privateKey, PKCS8_X25519.length);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

function nodeX25519Public(privateKey: Uint8Array): Uint8Array {
  const key = privateKeyObject(privateKey);
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  return new Uint8Array(spki.subarray(spki.length - 32));
}

/**
 * X25519 through OpenSSL, which refuses a low-order point by throwing (the shared secret would be all zeros).
 * The peer's key is attacker-chosen, so this never throws for it (security review #1: a thrown error here
 * stopped `udplab serve`).
 */
function nodeX25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined {
  if (publicKey.length !== 32) return undefined;
  const priv = privateKeyObject(privateKey);
  let shared: Buffer;
  try {
    const pub = createPublicKey({ key: Buffer.concat([SPKI_X25519, publicKey]), format: 'der', type: 'spki' });
    shared = diffieHellman({ privateKey: priv, publicKey: pub });
  } catch {
    return undefined;
  }
  return allZero(shared) ? undefined : new Uint8Array(shared);
}

/** Defence in depth for a backend that returns the all-zero secret instead of refusing. */
function allZero(b: Uint8Array): boolean {
  let or = 0;
  for (const x of b) or |= x;
  return or === 0;
}

function nodeBackendWith(why: string): CryptoBackend {
  return {
    name: 'node:crypto',
    note: () => `node:crypto (${why})`,
    packetAead: nodePacketAead,
    encrypt: nodeEncrypt,
    decrypt: nodeDecrypt,
    x25519Public: nodeX25519Public,
    x25519: nodeX25519,
  };
}

/** node:crypto for everything (the fallback, and what UDPLAB_CRYPTO=node forces). */
export const nodeBackend: CryptoBackend = nodeBackendWith('UDPLAB_CRYPTO=node');

// ---------------------------------------------------------------------------------------------------------
// libsodium through sodium-native

/** The part of sodium-native's API used here (it ships no types). */
export interface SodiumApi {
  crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array | null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  /** Throws when authentication fails. */
  crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: Uint8Array | null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  /** Throws for a low-order point (libsodium refuses an all-zero secret). */
  crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
  crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
}

/** Bytes of plaintext one direction's slab holds before the next is allocated. */
const SLAB = 16 * 1024;

/**
 * The key and the plaintexts never go to Node's shared 8 KiB pool, where Buffer.from and allocUnsafe put
 * anything under 4 KiB: there the key would sit in the ArrayBuffer behind the datagrams and plaintexts of every
 * session (test/unit/crypto-backend-memory.test.ts). The key has an ArrayBuffer of its own; plaintexts are cut
 * from a 16 KiB slab of this direction's own (a fresh ArrayBuffer per packet costs ~1.5 µs of the ~3.5 µs an open
 * takes), so what is behind a plaintext is only this session's earlier plaintexts.
 */
function sodiumPacketAead(s: SodiumApi, key: Uint8Array): PacketAead {
  const k = Buffer.allocUnsafeSlow(key.length); // a copy: the caller's array may change
  k.set(key);
  let slab: Buffer | undefined; // allocated on the first open: a sending direction never needs one
  let used = 0;
  const take = (n: number): Buffer => {
    if (n > SLAB / 4) return Buffer.allocUnsafeSlow(n);
    if (!slab || used + n > SLAB) {
      slab = Buffer.allocUnsafeSlow(SLAB);
      used = 0;
    }
    used += n;
    return slab.subarray(used - n, used);
  };
  const iv = Buffer.alloc(12);
  const setNonce = nonceWriter('ChaChaPoly', iv);
  return {
    seal(header, n, plaintext) {
      setNonce(n);
      // DATA-sized ones from the pool the transport gives sent datagrams back to (datagram-pool.ts): a fresh
      // ArrayBuffer per 32,000-byte datagram piled up until V8's external-memory limit (the server's peak RSS)
      const len = header.length + plaintext.length + TAG;
      const out = len >= POOLED_MIN_BYTES ? datagramPool.take(len) : Buffer.allocUnsafe(len);
      out.set(header, 0);
      s.crypto_aead_chacha20poly1305_ietf_encrypt(out.subarray(header.length), plaintext, header, null, iv, k);
      return out;
    },
    open(header, n, sealed, inPlace) {
      if (sealed.length < TAG) return undefined;
      setNonce(n);
      // a large datagram the transport gave up is decrypted where it lies (libsodium allows m == c): a fresh
      // ArrayBuffer per 32,000-byte plaintext doubled the external memory V8 lets pile up before it collects
      // (docs/performance.md, "The client's peak RSS")
      const len = sealed.length - TAG;
      const out = inPlace && len > SLAB / 4 ? Buffer.from(sealed.buffer, sealed.byteOffset, len) : take(len);
      try {
        s.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, sealed, header, iv, k);
      } catch {
        if (out.buffer === slab?.buffer && out.byteOffset + out.length === used) used -= out.length; // forgeries use no slab
        return undefined;
      }
      return out;
    },
  };
}

/** libsodium for ChaChaPoly and X25519; node:crypto for AESGCM, which sodium-native does not bind. */
export function sodiumBackend(s: SodiumApi): CryptoBackend {
  return {
    name: 'libsodium',
    note: (cipher) =>
      cipher === 'ChaChaPoly' ? 'libsodium (sodium-native)' : 'node:crypto (sodium-native binds no AES-256-GCM)',
    packetAead: (cipher, key) => (cipher === 'ChaChaPoly' ? sodiumPacketAead(s, key) : nodePacketAead(cipher, key)),
    encrypt(cipher, key, n, ad, plaintext) {
      if (cipher !== 'ChaChaPoly') return nodeEncrypt(cipher, key, n, ad, plaintext);
      const out = new Uint8Array(plaintext.length + TAG);
      s.crypto_aead_chacha20poly1305_ietf_encrypt(out, plaintext, ad, null, noiseNonce(cipher, n), key);
      return out;
    },
    decrypt(cipher, key, n, ad, sealed) {
      if (cipher !== 'ChaChaPoly') return nodeDecrypt(cipher, key, n, ad, sealed);
      if (sealed.length < TAG) return undefined;
      const out = new Uint8Array(sealed.length - TAG);
      try {
        s.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, sealed, ad, noiseNonce(cipher, n), key);
      } catch {
        return undefined;
      }
      return out;
    },
    x25519Public(privateKey) {
      const q = new Uint8Array(32);
      s.crypto_scalarmult_base(q, privateKey);
      return q;
    },
    x25519(privateKey, publicKey) {
      if (publicKey.length !== 32 || privateKey.length !== 32) return undefined;
      const q = new Uint8Array(32);
      try {
        s.crypto_scalarmult(q, privateKey, publicKey);
      } catch {
        return undefined;
      }
      return allZero(q) ? undefined : q;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// selection

/** sodium-native's API, or why it did not load (its addon is a prebuild for this platform, or nothing). */
export function loadSodium(): SodiumApi | { why: string } {
  try {
    return createRequire(import.meta.url)('sodium-native') as SodiumApi;
  } catch (e) {
    const first = (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
    return { why: `sodium-native did not load: ${first.length > 160 ? `${first.slice(0, 157)}…` : first}` };
  }
}

const SODIUM_FUNCTIONS: Array<keyof SodiumApi> = [
  'crypto_aead_chacha20poly1305_ietf_encrypt',
  'crypto_aead_chacha20poly1305_ietf_decrypt',
  'crypto_scalarmult',
  'crypto_scalarmult_base',
];

/** A UDPLAB_CRYPTO that cannot be honoured: the CLI prints it as one line `udplab: E_USAGE: …` (exit 2). */
export class CryptoConfigError extends Error {
  readonly code = 'E_USAGE';
}

/**
 * The backend that UDPLAB_CRYPTO (`mode`) asks for: node, sodium, or auto/unset (libsodium when it loads,
 * else node:crypto with the reason in its note). Throws one line for an unknown mode or an unloadable libsodium
 * that was required.
 */
export function selectBackend(
  mode: string | undefined,
  load: () => SodiumApi | { why: string } = loadSodium,
): CryptoBackend {
  const m = mode === undefined || mode === '' ? 'auto' : mode;
  if (m === 'node') return nodeBackend;
  if (m !== 'auto' && m !== 'sodium')
    throw new CryptoConfigError(`UDPLAB_CRYPTO=${mode}: expected node, sodium or auto (the default)`);
  let s = load();
  // a module that loads but lacks a function (another sodium-native major, a stub on NODE_PATH) would throw a
  // TypeError at every packet instead of falling back: check the API once, here
  const missing = 'why' in s ? [] : SODIUM_FUNCTIONS.filter((f) => typeof s[f as keyof typeof s] !== 'function');
  if (missing.length > 0) s = { why: `sodium-native lacks ${missing.join(', ')}` };
  if ('why' in s) {
    if (m === 'sodium') throw new CryptoConfigError(`UDPLAB_CRYPTO=sodium: ${s.why}`);
    return nodeBackendWith(`fallback: ${s.why}`);
  }
  return sodiumBackend(s);
}

let chosen: CryptoBackend | undefined;

/** The process's backend, chosen once from UDPLAB_CRYPTO on first use. */
export function cryptoBackend(): CryptoBackend {
  chosen ??= selectBackend(process.env.UDPLAB_CRYPTO);
  return chosen;
}
