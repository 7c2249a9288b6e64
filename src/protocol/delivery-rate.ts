// The delivery-rate sampler (BBR, draft-cheng-iccrg-delivery-rate-estimation): each packet remembers how much had
// been delivered, and when, at its sending; its ACK yields delivered-since ÷ the longer of the send and the ACK
// intervals. A round ends when a packet sent after the previous round's end is acknowledged.
// Both clocks restart when nothing is in flight (a send after idle) and at a retransmission timeout, so no
// interval spans a silence.
import type { SentPacket } from './sent-packets.js';

export class DeliveryRate {
  /** Bytes acknowledged so far. */
  delivered = 0;
  /** When `delivered` last grew (or the clocks restarted). */
  deliveredTimeMs = 0;
  /** When the newest packet acknowledged was sent (or the clocks restarted). */
  firstSentTimeMs = 0;
  private roundEndDelivered = 0;
  /** The latest sample, in bytes per second (0: none), and whether its ACK ended a round. */
  rateBps = 0;
  roundEnded = false;

  /** A packet is about to go out with `bytesInFlight` outstanding: after idle, both clocks start now. */
  onSend(nowMs: number, bytesInFlight: number): void {
    if (bytesInFlight === 0) this.restart(nowMs);
  }

  /** A retransmission timeout: no interval may span the silence. */
  restart(nowMs: number): void {
    this.firstSentTimeMs = nowMs;
    this.deliveredTimeMs = nowMs;
  }

  /** An ACK newly acknowledged `newest` (the highest-numbered packet it acknowledged) at `nowMs`. */
  onAck(nowMs: number, newest: SentPacket): void {
    this.deliveredTimeMs = nowMs;
    const sendElapsed = newest.timeSentMs - newest.firstSentTimeMs;
    const ackElapsed = nowMs - newest.deliveredTimeMs;
    const intervalMs = Math.max(sendElapsed, ackElapsed);
    this.rateBps = intervalMs > 0 ? ((this.delivered - newest.delivered) * 1000) / intervalMs : 0;
    this.firstSentTimeMs = newest.timeSentMs;
    this.roundEnded = newest.delivered >= this.roundEndDelivered;
    if (this.roundEnded) this.roundEndDelivered = this.delivered;
  }
}
