// Packet protection: what turns a header + payload into bytes on the wire and back.
// Rule: `open` returns undefined for anything that does not verify (corrupted, forged, replayed);
// it never throws on remote input.
import { sha256, sha256Of } from './hash.js';

export interface PacketProtection {
  /** A label that every output and report carries. */
  readonly security: string;
  /** Bytes added to each payload. */
  readonly overheadBytes: number;
  /** The whole datagram: header ‖ sealed payload (payload and tag), in one allocation. */
  seal(header: Uint8Array, packetNumber: number, payload: Uint8Array): Uint8Array;
  /**
   * The payload of `sealed` (what follows the header), or undefined. `inPlace`: `sealed` is given up (a received
   * datagram nobody reads again) and may be decrypted in place (PacketAead.open).
   */
  open(header: Uint8Array, packetNumber: number, sealed: Uint8Array, inPlace?: boolean): Uint8Array | undefined;
}

const TAG = 16;

/**
 * No secrecy, no authentication: a 16-byte SHA-256 check over header and payload, so that corruption
 * on the path is detected. Anyone on the path can read and forge: used only before a handshake has keys
 * and in the explicit teaching mode.
 */
export function integrityOnlyProtection(label = 'none (unauthenticated, unencrypted)'): PacketProtection {
  const tag = (header: Uint8Array, payload: Uint8Array) => {
    // header and payload are usually neighbours in one datagram: hash them in one call
    if (header.buffer === payload.buffer && header.byteOffset + header.length === payload.byteOffset)
      return sha256Of(new Uint8Array(header.buffer, header.byteOffset, header.length + payload.length)).subarray(
        0,
        TAG,
      );
    const h = sha256();
    h.update(header);
    h.update(payload);
    return h.digest().subarray(0, TAG);
  };
  return {
    security: label,
    overheadBytes: TAG,
    seal(header, _pn, payload) {
      const out = new Uint8Array(header.length + payload.length + TAG);
      out.set(header, 0);
      out.set(payload, header.length);
      const n = header.length + payload.length;
      out.set(tag(out.subarray(0, header.length), out.subarray(header.length, n)), n);
      return out;
    },
    open(header, _pn, sealed) {
      if (sealed.length < TAG) return undefined;
      const payload = sealed.subarray(0, sealed.length - TAG);
      const expect = tag(header, payload);
      const got = sealed.subarray(sealed.length - TAG);
      for (let i = 0; i < TAG; i++) if (expect[i] !== got[i]) return undefined;
      return payload;
    },
  };
}
