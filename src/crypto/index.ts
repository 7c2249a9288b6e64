// Public face of crypto: hashing and packet protection (the Noise handshake lands here with issue #4).
export { type Hasher, sha256, sha256Of, toHex } from './hash.js';
export { integrityOnlyProtection, type PacketProtection } from './protection.js';
