// Packets a server answers without creating any state: RETRY (address validation) and KEY RESPONSE (the
// server's public key for trust-on-first-use). Both carry only the integrity tag of handshake envelopes.
import { integrityOnlyProtection } from '../crypto/index.js';
import { decodeHeader, encodeHeader, HEADER_BYTES, type PacketType } from './wire.js';

const envelope = integrityOnlyProtection('handshake envelope');

export function sealStateless(type: PacketType, connectionId: Uint8Array, payload: Uint8Array): Uint8Array {
  const header = encodeHeader({ type, connectionId, packetNumber: 0 });
  return envelope.seal(header, 0, payload);
}

/** Opens any handshake-envelope packet (INITIAL, RETRY, KEY REQUEST/RESPONSE) without connection state. */
export function openStateless(
  datagram: Uint8Array,
): { type: PacketType; connectionId: Uint8Array; payload: Uint8Array } | undefined {
  const h = decodeHeader(datagram);
  if (!h.ok) return undefined;
  const payload = envelope.open(
    datagram.subarray(0, HEADER_BYTES),
    h.value.packetNumber,
    datagram.subarray(HEADER_BYTES),
  );
  return payload ? { type: h.value.type, connectionId: h.value.connectionId, payload } : undefined;
}
