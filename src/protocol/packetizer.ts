// Packets out and in: packet numbers, sealing and opening. Handshake packets (INITIAL, ACCEPT, REJECT, RETRY)
// carry a keyless integrity tag (corruption on the path is told apart from forgery); DATA packets are AEAD-sealed
// with the session keys once the handshake has them. One scratch writer per connection: seal() copies its input.
import { integrityOnlyProtection, type PacketProtection } from '../crypto/index.js';
import { Writer } from './bytes.js';
import { type Frame, writeFrame } from './frames.js';
import { encodeHeader, HEADER_BYTES, PacketType, writeHeader } from './wire.js';

/** Header plus tag around a packet's frames (the AEAD tag and the handshake integrity tag are both 16 bytes). */
export const PACKET_OVERHEAD = HEADER_BYTES + 16;

export class Packetizer {
  /** The next packet number: every packet of either kind takes one, and none is used twice. */
  nextPn = 0;
  /** Protection of DATA packets, set when the handshake completes. */
  dataProtection: PacketProtection | undefined;
  /** Integrity tag on handshake packets (corruption on the path), whatever the security mode. */
  private readonly hsProtection = integrityOnlyProtection('handshake envelope');
  private readonly scratch = new Writer(1600);
  /** The header of the packet being sealed (protections copy it), when the connection ID has the usual 8 bytes. */
  private readonly header: Uint8Array | undefined;

  constructor(readonly connectionId: Uint8Array) {
    this.header = connectionId.length === 8 ? new Uint8Array(HEADER_BYTES) : undefined;
  }

  /** A DATA packet numbered `pn` carrying `frames`. */
  sealFrames(pn: number, frames: readonly Frame[]): Uint8Array {
    const w = this.scratch.reset();
    for (const f of frames) writeFrame(w, f);
    return this.seal(PacketType.Data, pn, w.finish());
  }

  /** A handshake packet under the next packet number. */
  sealHandshake(type: PacketType, payload: Uint8Array): Uint8Array {
    return this.seal(type, this.nextPn++, payload);
  }

  /**
   * The payload of a datagram whose header decoded as `type`/`pn`, or undefined when it does not verify. `owned`:
   * the datagram is given up and may be decrypted in place.
   */
  open(type: PacketType, pn: number, datagram: Uint8Array, owned = false): Uint8Array | undefined {
    const prot = type === PacketType.Data ? this.dataProtection : this.hsProtection;
    return prot?.open(datagram.subarray(0, HEADER_BYTES), pn, datagram.subarray(HEADER_BYTES), owned);
  }

  private seal(type: PacketType, pn: number, payload: Uint8Array): Uint8Array {
    const header = this.header
      ? writeHeader(this.header, type, this.connectionId, pn)
      : encodeHeader({ type, connectionId: this.connectionId, packetNumber: pn });
    const prot = type === PacketType.Data ? this.dataProtection! : this.hsProtection;
    return prot.seal(header, pn, payload);
  }
}
