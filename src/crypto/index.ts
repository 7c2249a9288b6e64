// Public face of crypto: hashing, Noise handshakes, packet protection, and the backend they run on.
export {
  type CryptoBackend,
  cryptoBackend,
  loadSodium,
  nodeBackend,
  type PacketAead,
  type SodiumApi,
  selectBackend,
  sodiumBackend,
} from './backend.js';
export { DatagramPool, datagramPool, POOL_FREE_MAX, POOLED_MIN_BYTES } from './datagram-pool.js';
export { type Hasher, sha256, sha256Of, toHex } from './hash.js';
export { CipherState, type HandshakeOptions, HandshakeState, parsePattern } from './noise.js';
export { aeadDecrypt, aeadEncrypt, type CipherName, type KeyPair, x25519, x25519KeyPair } from './primitives.js';
export { integrityOnlyProtection, type PacketProtection } from './protection.js';
export {
  aeadProtection,
  ClientHandshake,
  type ClientSecurity,
  fingerprint,
  PLAINTEXT_LABEL,
  type ServerRead,
  type ServerSecurity,
  serverRead,
} from './session.js';
