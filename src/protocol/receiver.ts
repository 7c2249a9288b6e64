// The data receiver: accepts DATA frames into the sink, suppresses duplicates, tracks what it holds
// (the journal), acknowledges packet numbers with up to 32 ranges, and advertises a flow-control limit.
// Rules:
// - A packet is acknowledged only when every frame in it was accepted; a packet that carries data beyond
//   the advertised limit is dropped whole (never acknowledged), so an ACK always means "stored".
// - ACK policy: immediately on a gap or reordering, after every 4th ack-eliciting packet, else within 5 ms.
// - The window is a reorder bound too: data is accepted only below contiguous prefix + windowBytes.
// - The held data is at most MAX_RECEIVE_RANGES disjoint ranges: a packet whose data would open more gaps is
//   dropped unacknowledged (a hostile sender's 1-byte frames cost O(cap) each, never quadratic time, and the
//   journal stays small; security review #8). Data that fills or extends a range is always taken, so an
//   honest transfer always progresses.
// - Once every byte and the FIN are in, the sink is told once (flush): a sink that gathers writes writes them now.
import { type Frame, MAX_ACK_RANGES, type RttSummaryUs, type SenderSample } from './frames.js';
import { type Range, RangeSet } from './range-set.js';
import type { ChunkCodec, DataSink } from './source-sink.js';

export const ACK_EVERY = 4;
/** Disjoint ranges of held data at most (a 16 MiB window at 20% loss holds a few hundred gaps). */
export const MAX_RECEIVE_RANGES = 4096;
export const MAX_ACK_DELAY_MS = 5;

export interface ReceiverStats {
  packetsReceived: number;
  duplicatePackets: number;
  bytesReceived: number;
  duplicateBytes: number;
  outOfWindowPackets: number;
  /** Packets dropped because their data would have split the held data into too many ranges. */
  fragmentingPackets: number;
}

/** How often the receiver records the bytes it holds (its own clock), and how many records it keeps at most. */
const OWN_SAMPLE_MS = 100;
const OWN_SAMPLES_MAX = 10_000;

export class Receiver {
  readonly data: RangeSet;
  readonly stats: ReceiverStats = {
    packetsReceived: 0,
    duplicatePackets: 0,
    bytesReceived: 0,
    duplicateBytes: 0,
    outOfWindowPackets: 0,
    fragmentingPackets: 0,
  };
  private readonly pns = new RangeSet();
  private largestPn = -1;
  private largestPnTimeMs = 0;
  private unacked = 0;
  private ackDeadlineMs: number | undefined;
  fin: { sizeBytes: number; sha256: Uint8Array; rtt: RttSummaryUs } | undefined;
  /** The sender's samples as they arrived, with the bytes held at that moment (at most 20,000). */
  readonly timeline: Array<SenderSample & { tMs: number; bytesReceived: number }> = [];
  /**
   * The receiver's own record: bytes held about every OWN_SAMPLE_MS of its clock while data arrives, and when the
   * file is complete. Never lost with the data (the sender's STATS can be). Bounded: at OWN_SAMPLES_MAX entries,
   * every other one is dropped and the interval doubles, so a long run keeps its whole span at a coarser step.
   */
  readonly own: Array<{ tMs: number; bytesReceived: number }> = [];
  private ownEveryMs = OWN_SAMPLE_MS;
  /** The sink was told that every byte is in (once). */
  private flushed = false;

  constructor(
    private readonly sink: DataSink,
    readonly sizeBytes: number,
    readonly windowBytes: number,
    held: readonly Range[] = [],
    private readonly codec?: ChunkCodec,
  ) {
    this.data = RangeSet.of(held.filter(([a, b]) => a < b && b <= sizeBytes));
  }

  get maxOffset(): number {
    return this.data.contiguousFrom(0) + this.windowBytes;
  }

  get complete(): boolean {
    return this.fin !== undefined && this.data.covers(0, this.sizeBytes);
  }

  /**
   * Processes the frames of one DATA packet. Returns 'accepted', 'duplicate', or a protocol error string.
   * Sink errors propagate (the connection turns them into a close with their code).
   */
  onPacket(nowMs: number, pn: number, frames: readonly Frame[]): 'accepted' | 'duplicate' | 'dropped' | string {
    let eliciting = false;
    let newRanges = 0;
    for (const f of frames) {
      if (f.type === 'data') {
        eliciting = true;
        if (f.offset + f.length > this.sizeBytes) return `data beyond the end of the file (${f.offset}+${f.length})`;
        if (f.offset + f.length > this.maxOffset && !this.data.covers(f.offset, f.offset + f.length)) {
          this.stats.outOfWindowPackets++;
          return 'dropped';
        }
        if (!this.data.touches(f.offset, f.offset + f.length)) newRanges++;
      } else if (f.type === 'fin') {
        eliciting = true;
        if (f.sizeBytes !== this.sizeBytes)
          return `FIN announces ${f.sizeBytes} bytes, handshake said ${this.sizeBytes}`;
      } else if (f.type === 'ping') eliciting = true;
    }
    if (newRanges > 0 && this.data.count + newRanges > MAX_RECEIVE_RANGES) {
      this.stats.fragmentingPackets++;
      return 'dropped';
    }
    if (this.pns.has(pn)) {
      this.stats.duplicatePackets++;
      this.scheduleAck(nowMs, true);
      return 'duplicate';
    }
    for (const f of frames) {
      if (f.type === 'data') {
        if (this.data.covers(f.offset, f.offset + f.length)) {
          this.stats.duplicateBytes += f.length;
          continue;
        }
        let bytes = f.bytes;
        if (f.compressed) {
          const plain = this.codec?.decompress(f.bytes, f.length);
          if (!plain || plain.length !== f.length) return 'compressed DATA frame does not decompress';
          bytes = plain;
        }
        this.sink.write(f.offset, bytes);
        this.data.add(f.offset, f.offset + f.length);
        this.stats.bytesReceived += f.length;
      } else if (f.type === 'fin') {
        this.fin = { sizeBytes: f.sizeBytes, sha256: f.sha256, rtt: f.rtt };
      } else if (f.type === 'stats' && this.timeline.length < 20_000) {
        this.timeline.push({ tMs: nowMs, bytesReceived: this.stats.bytesReceived, ...f.stats });
      }
    }
    this.stats.packetsReceived++;
    if (!this.flushed && this.complete) {
      this.flushed = true;
      this.sink.flush?.();
    }
    this.recordOwn(nowMs);
    const reordered = pn < this.largestPn || (this.largestPn >= 0 && pn > this.largestPn + 1);
    this.pns.add(pn, pn + 1);
    this.pns.trimLowest(4 * MAX_ACK_RANGES);
    if (pn > this.largestPn) {
      this.largestPn = pn;
      this.largestPnTimeMs = nowMs;
    }
    if (eliciting) {
      this.unacked++;
      this.scheduleAck(nowMs, reordered || this.unacked >= ACK_EVERY || this.complete);
    }
    return 'accepted';
  }

  private recordOwn(nowMs: number): void {
    const last = this.own.at(-1);
    const due = !last || nowMs - last.tMs >= this.ownEveryMs;
    // the moment the file is complete is always recorded, whatever the step
    const completed = last?.bytesReceived !== this.stats.bytesReceived && this.data.covers(0, this.sizeBytes);
    if (!due && !completed) return;
    if (this.own.length >= OWN_SAMPLES_MAX) {
      const kept = this.own.filter((_, i) => i % 2 === 0);
      this.own.length = 0;
      this.own.push(...kept);
      this.ownEveryMs *= 2;
    }
    this.own.push({ tMs: nowMs, bytesReceived: this.stats.bytesReceived });
  }

  private scheduleAck(nowMs: number, immediate: boolean): void {
    const due = immediate ? nowMs : nowMs + MAX_ACK_DELAY_MS;
    if (this.ackDeadlineMs === undefined || due < this.ackDeadlineMs) this.ackDeadlineMs = due;
  }

  ackDeadline(): number | undefined {
    return this.ackDeadlineMs;
  }

  /** The ACK frame to send now, if one is due. */
  pollAck(nowMs: number): Extract<Frame, { type: 'ack' }> | undefined {
    if (this.ackDeadlineMs === undefined || nowMs < this.ackDeadlineMs || this.largestPn < 0) return undefined;
    this.ackDeadlineMs = undefined;
    this.unacked = 0;
    const ranges = this.pns.descending(MAX_ACK_RANGES, true) as Array<[number, number]>;
    return {
      type: 'ack',
      largest: this.largestPn,
      ackDelayUs: Math.round((nowMs - this.largestPnTimeMs) * 1000),
      maxOffset: Math.min(this.maxOffset, this.sizeBytes),
      ranges,
    };
  }
}
