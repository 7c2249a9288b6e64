// SHA-256 behind a narrow interface: the protocol core reaches node:crypto only through here.
import { createHash, hash } from 'node:crypto';

export interface Hasher {
  update(data: Uint8Array): void;
  /** The 32-byte digest; the hasher must not be used afterwards. */
  digest(): Uint8Array;
}

export function sha256(): Hasher {
  const h = createHash('sha256');
  return {
    update: (d) => {
      h.update(d);
    },
    digest: () => new Uint8Array(h.digest()),
  };
}

/** One shot (no hasher object, no copy of the digest): the cheap path for one contiguous input. */
export function sha256Of(data: Uint8Array): Uint8Array {
  return hash('sha256', data, 'buffer');
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}
