// The sent-packet log: one entry per packet number the data sender used, in order, from the oldest still
// pending (the head) to the newest. Packet numbers are dense: a number used for something else (a handshake,
// STATS or PATH_* packet) is logged as an acknowledged filler, so entry(pn) is an index, not a search.
// Rules:
// - A packet number is logged once and never reused (every RTT sample is unambiguous: Karn's rule holds).
// - Entries behind the head are settled (acknowledged or lost); they are dropped in bulk once they are most of
//   the log and more than 4,096, so the log's memory follows what is in flight, not the transfer's length.
// - bytesInFlight counts the sizes of pending entries; whoever settles an entry (the ACK walk, loss recovery)
//   takes its size off.
import type { Range } from './range-set.js';

export interface SentPacket {
  pn: number;
  timeSentMs: number;
  size: number;
  /** Data carried: [offset, length]. */
  segment: Range | undefined;
  fin: boolean;
  ackEliciting: boolean;
  /** The delivery-rate state when it was sent (delivery-rate.ts). */
  delivered: number;
  deliveredTimeMs: number;
  firstSentTimeMs: number;
  state: 'pending' | 'acked' | 'lost';
  /** A path-MTU probe of this payload size (0: not a probe). */
  probe: number;
  /** Sent during RTO backoff (a probe into a silence): its rate sample says nothing about the path's capacity. */
  appLimited: boolean;
}

/** Settled entries kept before the head at most, unless they are under half the log. */
const HEAD_SLACK = 4096;

export class SentPacketLog {
  private readonly sent: SentPacket[] = [];
  private head = 0;
  /** The highest packet number used (sent or skipped); an ACK above it is refused. */
  lastSentPn = -1;
  /** Bytes of pending (neither acknowledged nor lost) packets. */
  bytesInFlight = 0;

  /** Notes that `pn` was used (first, before anything about the packet can fail). */
  use(pn: number): void {
    if (pn > this.lastSentPn) this.lastSentPn = pn;
  }

  /** Logs a packet sent; its number must follow the newest entry's (or anything, when the log is empty). */
  add(p: SentPacket): void {
    const pn = p.pn;
    const expected = this.sent.length - this.head + (this.sent[this.head]?.pn ?? pn);
    if (this.head < this.sent.length && pn !== expected) throw new Error(`sender: packet ${pn} out of sequence`);
    this.sent.push(p);
    this.bytesInFlight += p.size;
  }

  /** Registers a packet number used for something else, keeping numbering dense. */
  skip(pn: number): void {
    this.use(pn);
    if (this.head === this.sent.length) {
      this.sent.length = 0;
      this.head = 0;
      return;
    }
    this.sent.push({
      pn,
      timeSentMs: 0,
      size: 0,
      segment: undefined,
      fin: false,
      ackEliciting: false,
      delivered: 0,
      deliveredTimeMs: 0,
      firstSentTimeMs: 0,
      state: 'acked',
      probe: 0,
      appLimited: false,
    });
  }

  /** The oldest entry not yet dropped (the head), and the newest. */
  get first(): SentPacket | undefined {
    return this.sent[this.head];
  }

  get last(): SentPacket | undefined {
    return this.sent[this.sent.length - 1];
  }

  /** Index range of the live entries, for walks that stop early without allocating: [start, end). */
  get start(): number {
    return this.head;
  }

  get end(): number {
    return this.sent.length;
  }

  at(i: number): SentPacket {
    return this.sent[i]!;
  }

  entry(pn: number): SentPacket | undefined {
    const first = this.sent[this.head];
    if (!first) return undefined;
    const i = this.head + (pn - first.pn);
    return i >= this.head && i < this.sent.length ? this.sent[i] : undefined;
  }

  newestPending(): SentPacket | undefined {
    for (let i = this.sent.length - 1; i >= this.head; i--) if (this.sent[i]!.state === 'pending') return this.sent[i];
    return undefined;
  }

  oldestPending(): SentPacket | undefined {
    for (let i = this.head; i < this.sent.length; i++) if (this.sent[i]!.state === 'pending') return this.sent[i];
    return undefined;
  }

  /** Moves the head past settled entries and drops them when they are most of the log. */
  advanceHead(): void {
    while (this.head < this.sent.length && this.sent[this.head]!.state !== 'pending') this.head++;
    if (this.head > HEAD_SLACK && this.head * 2 > this.sent.length) {
      this.sent.splice(0, this.head);
      this.head = 0;
    }
  }
}
