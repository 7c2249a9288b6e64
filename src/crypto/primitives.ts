// The Noise primitives: X25519 and ChaChaPoly / AESGCM (Noise nonce layouts) on a CryptoBackend (libsodium or
// node:crypto, backend.ts), SHA-256, HMAC-SHA256 and Noise's HKDF on node:crypto. Rule: no randomness here;
// private keys come in as bytes.
import { createHash, createHmac } from 'node:crypto';
import { type CipherName, type CryptoBackend, cryptoBackend } from './backend.js';

export type { CipherName } from './backend.js';

export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** The X25519 key pair of a 32-byte private key. */
export function x25519KeyPair(privateKey: Uint8Array, backend: CryptoBackend = cryptoBackend()): KeyPair {
  return { privateKey: new Uint8Array(privateKey), publicKey: backend.x25519Public(privateKey) };
}

/**
 * X25519, or undefined when the peer's key is unusable: a low-order point (the shared secret would be all
 * zeros) or bytes that are not a key. The peer's key is attacker-chosen, so this never throws for it
 * (security review #1: a thrown error here stopped `udplab serve`).
 */
export function x25519(
  privateKey: Uint8Array,
  publicKey: Uint8Array,
  backend: CryptoBackend = cryptoBackend(),
): Uint8Array | undefined {
  return backend.x25519(privateKey, publicKey);
}

/** Noise's ENCRYPT(k, n, ad, plaintext) for the handshake (the data path uses a PacketAead). */
export function aeadEncrypt(
  cipher: CipherName,
  key: Uint8Array,
  n: bigint,
  ad: Uint8Array,
  plaintext: Uint8Array,
  backend: CryptoBackend = cryptoBackend(),
): Uint8Array {
  return backend.encrypt(cipher, key, n, ad, plaintext);
}

/** Decrypts, or returns undefined when authentication fails. */
export function aeadDecrypt(
  cipher: CipherName,
  key: Uint8Array,
  n: bigint,
  ad: Uint8Array,
  sealed: Uint8Array,
  backend: CryptoBackend = cryptoBackend(),
): Uint8Array | undefined {
  return backend.decrypt(cipher, key, n, ad, sealed);
}

export function hash(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** Noise's HKDF (HMAC-SHA256): two or three 32-byte outputs. */
export function hkdf(chainingKey: Uint8Array, ikm: Uint8Array, outputs: 2 | 3): Uint8Array[] {
  const temp = hmac(chainingKey, ikm);
  const o1 = hmac(temp, Uint8Array.of(1));
  const o2 = hmac(temp, o1, Uint8Array.of(2));
  if (outputs === 2) return [o1, o2];
  return [o1, o2, hmac(temp, o2, Uint8Array.of(3))];
}
