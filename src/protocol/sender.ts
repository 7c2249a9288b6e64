// The data sender: chooses what goes in each packet and paces it; the parts it drives live beside it:
// sent-packets.ts (the log of packet numbers used), loss-recovery.ts (RACK, tail loss probes, the retransmission
// timeout), delivery-rate.ts (BBR's rate samples), pmtu-search.ts (DPLPMTUD), congestion.ts (the controller).
// Rules:
// - Each packet number is sent once; lost data is resent in a new packet (so RTT samples are unambiguous).
// - What goes next: lost data (minus what has since been acknowledged), then new data in file order (skipping
//   ranges the receiver already holds, within its flow-control limit), then the FIN once all data is out; a
//   path-MTU probe of padding when one is due; a PING when a probe is owed and nothing else is.
// - Pacing: a packet may leave once the pacing clock allows (a burst of pacingQuantumMs ahead is allowed) and
//   what is in flight stays under the congestion window; probes owed by loss recovery ignore both.
// - Compression packs: with a codec, a DATA frame carries the largest raw span (up to MAX_FRAME_RAW_BYTES) whose
//   compressed form fits the packet, found in at most MAX_PACK_ATTEMPTS compressions from an estimate of the
//   recent ratio; when the data does not compress well (estimate under MIN_PACK_RATIO) or no attempt fits, the
//   frame is one packet's raw bytes, compressed when that makes them smaller (one compression; after a frame
//   that did not compress, the next 1, 2, 4 … MAX_SKIPPED_TRIES frames skip the try). SACK, loss and resume stay in raw offsets: a lost frame's raw range is sent again, re-packed.
// - The SHA-256 of the whole file is computed on the way (ranges the receiver already holds are read and hashed,
//   not sent) and announced in the FIN frame.
import type { Hasher } from '../crypto/index.js';
import { type AckSample, type CongestionControl, CongestionController } from './congestion.js';
import { DeliveryRate } from './delivery-rate.js';
import { DATA_FRAME_OVERHEAD, FIN_FRAME_BYTES, type Frame, PAD_FRAME_OVERHEAD, type SenderSample } from './frames.js';
import { LedbatController } from './ledbat.js';
import { type LossCounters, LossRecovery } from './loss-recovery.js';
import { type PmtuCounters, PmtuSearch } from './pmtu-search.js';
import { type Range, RangeSet } from './range-set.js';
import { RttEstimator } from './rtt.js';
import { type SentPacket, SentPacketLog } from './sent-packets.js';
import type { ChunkCodec, DataSource } from './source-sink.js';

export interface SenderStats extends LossCounters, PmtuCounters {
  packetsSent: number;
  packetsRetransmitted: number;
  bytesSent: number;
  bytesBeforeCompression: number;
  bytesAfterCompression: number;
}

export interface SenderOptions {
  /** Room for frames in one packet (datagram minus header and protection): the base size. */
  payloadBytes: number;
  /** Larger payload sizes to probe the path for, largest first (none: the size stays payloadBytes). */
  probePayloadBytes?: readonly number[];
  /** Upper bound of the pacing burst allowed ahead of schedule. */
  pacingQuantumMs?: number;
  codec?: ChunkCodec;
  /** The background (LEDBAT) controller instead of the default one: yields to every other flow. */
  background?: boolean;
}

const HASH_CHUNK = 1 << 20;
/** New data is hashed ahead of the packets that carry it in chunks of this many bytes, aligned to it. */
const HASH_AHEAD = 64 << 10;
/** The most raw bytes one DATA frame carries (its length field is a u16). */
export const MAX_FRAME_RAW_BYTES = 0xffff;
/** Compressions of a growing or shrinking raw span per packed frame at most (then one packet's raw bytes). */
export const MAX_PACK_ATTEMPTS = 3;
/** Below this raw/compressed estimate a frame is one packet's raw bytes (packing would gain under 25%). */
const MIN_PACK_RATIO = 1.25;
/** A packed frame's first guess aims at this share of the room, and one filling this share is kept at once. */
const PACK_AIM = 0.95;
const PACK_GOOD_ENOUGH = 0.88;
/** After incompressible data, frames sent raw without a try, at most (the run doubles from 1 while it lasts). */
export const MAX_SKIPPED_TRIES = 32;

type DataFrame = Extract<Frame, { type: 'data' }>;

export class Sender {
  readonly rtt = new RttEstimator();
  readonly cc: CongestionControl;
  readonly stats: SenderStats = {
    packetsSent: 0,
    packetsRetransmitted: 0,
    bytesSent: 0,
    packetsLost: 0,
    spuriousLosses: 0,
    timeouts: 0,
    tailProbes: 0,
    pmtuProbes: 0,
    pmtuFallbacks: 0,
    bytesBeforeCompression: 0,
    bytesAfterCompression: 0,
  };
  /** Data the receiver holds (acknowledged, or held before a resume). */
  readonly acked: RangeSet;
  private readonly log = new SentPacketLog();
  private readonly rate = new DeliveryRate();
  private readonly pmtu: PmtuSearch;
  private readonly recovery: LossRecovery;
  private readonly retransmit: Range[] = [];
  private nextOffset = 0;
  private hashedTo = 0;
  private sha256: Uint8Array | undefined;
  private finState: 'unsent' | 'inflight' | 'acked' = 'unsent';
  private nextSendMs = 0;
  private peerMaxOffset: number;
  private readonly quantumMs: number;

  constructor(
    private readonly source: DataSource,
    private readonly hasher: Hasher,
    readonly opts: SenderOptions,
    alreadyHeld: readonly Range[] = [],
    initialWindowBytes = 4 << 20,
  ) {
    this.pmtu = new PmtuSearch(opts.payloadBytes, opts.probePayloadBytes ?? [], this.stats);
    this.cc = opts.background ? new LedbatController(opts.payloadBytes) : new CongestionController(opts.payloadBytes);
    this.acked = RangeSet.of(alreadyHeld.filter(([a, b]) => a < b && b <= source.sizeBytes));
    this.peerMaxOffset = initialWindowBytes;
    this.quantumMs = opts.pacingQuantumMs ?? 2;
    this.recovery = new LossRecovery(this.log, this.rtt, this.cc, this.rate, this.pmtu, this.stats, {
      hasData: () => this.hasData(),
      allAcked: () => this.allAcked,
      onLost: (p) => this.onLost(p),
    });
  }

  get sizeBytes(): number {
    return this.source.sizeBytes;
  }

  /** The payload size data packets are built to now. */
  get payloadBytes(): number {
    return this.pmtu.payloadBytes;
  }

  get sha256Announced(): Uint8Array | undefined {
    return this.sha256;
  }

  /** True when every byte and the FIN have been acknowledged. */
  get allAcked(): boolean {
    return this.finState === 'acked';
  }

  /** Bytes of packets neither acknowledged nor declared lost. */
  get bytesInFlight(): number {
    return this.log.bytesInFlight;
  }

  private hasData(): boolean {
    if (this.retransmit.length > 0) return true;
    const next = this.acked.nextGap(this.nextOffset);
    if (next < this.sizeBytes) return next < this.peerMaxOffset;
    return this.finState === 'unsent';
  }

  /** Earliest time a packet may go out (undefined: nothing to send until an ACK or timer). */
  nextSendTime(): number | undefined {
    this.followPacketSize();
    if (this.recovery.probesOwed > 0) return 0;
    if (!this.hasData() || this.log.bytesInFlight + this.pmtu.payloadBytes > this.cc.cwndBytes) return undefined;
    return this.nextSendMs - this.quantumMs;
  }

  /**
   * The controller's packet unit (its floors: at least 8 packets in the window, 2 per pacing interval): the base size,
   * or the current one once the PMTU search has raised it above twice the base (a route MTU larger than Ethernet's:
   * transport/path-mtu.ts). A window floor of a few 1,160-byte units holds less than one 32,000-byte packet: the
   * sender would wait for ACKs that never come, or send one packet per delayed ACK. Sizes up to 1,472 keep the base
   * unit, as before (the simulator's digests pin them).
   */
  private followPacketSize(): void {
    const p = this.pmtu.payloadBytes;
    const unit = p > 2 * this.opts.payloadBytes ? p : this.opts.payloadBytes;
    if (this.cc.mss !== unit) this.cc.mss = unit;
  }

  /**
   * The peer is on another path now (a validated migration): data goes back to the base size and the PMTU search
   * starts over among `probePayloadBytes`, the new path's candidates (payload sizes). Larger data in flight or
   * queued for retransmission is split as after a black-hole fall back.
   */
  pathChanged(probePayloadBytes: readonly number[]): void {
    this.pmtu.restart(probePayloadBytes);
    this.followPacketSize();
  }

  /** Loss detection and the probe timeout (tail probe or RTO): the earlier deadline. */
  nextTimerMs(): number | undefined {
    return this.recovery.nextTimerMs();
  }

  /** Timers: loss detection and retransmission timeout. A spurious call is a no-op. */
  onTimer(nowMs: number): void {
    this.recovery.onTimer(nowMs);
  }

  /** Asks for one probe packet (a PING when there is nothing else), ignoring pacing and the window. */
  requestProbe(): void {
    this.recovery.probesOwed = Math.max(this.recovery.probesOwed, 1);
  }

  /** The state a STATS frame carries. */
  sample(): SenderSample {
    return {
      rttUs: (this.rtt.srttMs ?? 0) * 1000,
      pacingKbit: (this.cc.pacingRateBps * 8) / 1000,
      packetsSent: this.stats.packetsSent,
      packetsLost: this.stats.packetsLost,
      packetsRetransmitted: this.stats.packetsRetransmitted,
    };
  }

  get rtoMs(): number {
    return this.rtt.rtoMs();
  }

  /** Builds the frames of the next data packet, numbered `pn`, or undefined when nothing is due. */
  buildPacket(nowMs: number, pn: number): Frame[] | undefined {
    const probe = this.recovery.probesOwed > 0;
    if (!probe) {
      const t = this.nextSendTime();
      if (t === undefined || t > nowMs) return undefined;
      if (this.pmtu.due(this.recovery.largestAcked >= 0, this.recovery.backoff)) {
        const size = this.pmtu.startProbe();
        this.onSent(nowMs, pn, size, undefined, false, size);
        return [{ type: 'ping' }, { type: 'pad', length: size - 1 - PAD_FRAME_OVERHEAD }];
      }
    }
    const frames: Frame[] = [];
    let size = 0;
    const data = this.opts.codec ? this.nextPackedFrame(this.opts.codec) : this.nextPlainFrame();
    const segment: Range | undefined = data && [data.offset, data.length];
    if (data) {
      frames.push(data);
      size += DATA_FRAME_OVERHEAD + data.bytes.length;
      if (this.segmentResent) this.stats.packetsRetransmitted++;
    }
    // FIN once all new data is out (and hashed)
    let fin = false;
    if (
      this.finState === 'unsent' &&
      this.acked.nextGap(this.nextOffset) >= this.sizeBytes &&
      size + FIN_FRAME_BYTES <= this.pmtu.payloadBytes
    ) {
      frames.push(this.finFrame());
      size += FIN_FRAME_BYTES;
      fin = true;
      this.finState = 'inflight';
    }
    if (frames.length === 0) {
      if (!probe) return undefined;
      frames.push({ type: 'ping' });
      size += 1;
    }
    if (probe) this.recovery.probesOwed--;
    this.onSent(nowMs, pn, size, segment, fin);
    return frames;
  }

  /** Whether the segment nextSegment() chose last is lost data sent again. */
  private segmentResent = false;
  /** Raw/compressed bytes of the data compressed last: where a packed frame's first guess starts. */
  private ratioEstimate = 1;
  /** Frames still to send raw without trying to compress, and how many the last incompressible try skipped. */
  private triesToSkip = 0;
  private skipRun = 0;

  private nextPlainFrame(): DataFrame | undefined {
    const segment = this.nextSegment();
    return segment && this.dataFrame(segment, this.segmentResent);
  }

  /** The next DATA frame with a codec: lost data first, then new data, each packed (see the rules above). */
  private nextPackedFrame(codec: ChunkCodec): DataFrame | undefined {
    this.segmentResent = false;
    while (this.retransmit.length > 0) {
      const [off, len] = this.retransmit.shift()!;
      const gaps = this.acked.gaps(off, off + len);
      if (gaps.length === 0) continue;
      const [a, b] = gaps[0]!;
      for (let g = gaps.length - 1; g >= 1; g--) this.retransmit.unshift([gaps[g]![0], gaps[g]![1] - gaps[g]![0]]);
      const frame = this.packedFrame(codec, a, b - a, true);
      // the rest of the range (it was packed differently, or sent in a larger packet before a PMTU fall back)
      if (frame.length < b - a) this.retransmit.unshift([a + frame.length, b - a - frame.length]);
      this.segmentResent = true;
      return frame;
    }
    const start = this.acked.nextGap(this.nextOffset);
    if (start >= this.sizeBytes || start >= this.peerMaxOffset) return undefined;
    const gapEnd = Math.min(this.sizeBytes, this.acked.gaps(start, this.sizeBytes)[0]?.[1] ?? this.sizeBytes);
    // within the receiver's limit (one packet's worth may cross it, as without packing)
    const end = Math.min(gapEnd, Math.max(start + this.pmtu.dataPerPacket, this.peerMaxOffset));
    this.hashUpTo(start);
    const frame = this.packedFrame(codec, start, end - start, false);
    this.nextOffset = start + frame.length;
    return frame;
  }

  /**
   * The frame for raw data at `off` (at most `avail` bytes): the largest span tried whose compressed form fits the
   * packet's data room, else one packet's raw bytes; new data is hashed.
   */
  private packedFrame(codec: ChunkCodec, off: number, avail: number, retransmission: boolean): DataFrame {
    const room = this.pmtu.dataPerPacket;
    const most = Math.min(avail, MAX_FRAME_RAW_BYTES);
    let len = 0;
    let wire: Uint8Array | undefined;
    if (most > room && this.ratioEstimate >= MIN_PACK_RATIO) {
      let span = Math.min(most, Math.floor(room * this.ratioEstimate * PACK_AIM));
      for (let i = 0; i < MAX_PACK_ATTEMPTS && span > room && span > len; i++) {
        const c = codec.compress(this.source.read(off, span));
        this.ratioEstimate = span / Math.max(1, c.length);
        if (c.length <= room) {
          len = span;
          wire = c;
          if (span === most || c.length >= room * PACK_GOOD_ENOUGH) break;
        }
        // grow (it fitted with room to spare) or shrink (it did not fit) towards the room, by the ratio just seen
        span = Math.min(most, Math.floor(span * (room / Math.max(1, c.length)) * PACK_AIM));
      }
    }
    let compressed = wire !== undefined;
    if (!wire) {
      // one packet's raw bytes, compressed when that makes them smaller; after data that did not compress, the
      // next frames skip the try (1, 2, 4 … MAX_SKIPPED_TRIES of them), so random bytes cost few compressions
      len = Math.min(avail, room);
      if (this.triesToSkip > 0) this.triesToSkip--;
      else {
        const c = codec.compress(this.source.read(off, len));
        this.ratioEstimate = len / Math.max(1, c.length);
        compressed = c.length < len;
        if (compressed) wire = c;
        // only a whole packet's worth counts (a short remainder may not compress whatever the data)
        if (compressed) this.skipRun = 0;
        else if (len === room) {
          this.skipRun = Math.min(MAX_SKIPPED_TRIES, Math.max(1, this.skipRun * 2));
          this.triesToSkip = this.skipRun;
        }
      }
    }
    const raw = this.source.read(off, len);
    if (!retransmission) {
      this.hasher.update(raw);
      this.hashedTo = off + len;
    }
    wire ??= raw;
    this.stats.bytesBeforeCompression += len;
    this.stats.bytesAfterCompression += wire.length;
    return { type: 'data', offset: off, length: len, compressed, bytes: wire };
  }

  /** The data of the next packet: lost data first (minus what has since been acknowledged), then new data. */
  private nextSegment(): Range | undefined {
    this.segmentResent = false;
    const per = this.pmtu.dataPerPacket;
    while (this.retransmit.length > 0) {
      const [off, len] = this.retransmit.shift()!;
      const gaps = this.acked.gaps(off, off + len);
      if (gaps.length === 0) continue;
      const [a, b] = gaps[0]!;
      for (let g = gaps.length - 1; g >= 1; g--) this.retransmit.unshift([gaps[g]![0], gaps[g]![1] - gaps[g]![0]]);
      // sent in a larger packet before a fall back to the base size: split
      if (b - a > per) this.retransmit.unshift([a + per, b - a - per]);
      this.segmentResent = true;
      return [a, Math.min(b - a, per)];
    }
    // new data, skipping what the receiver already holds
    const start = this.acked.nextGap(this.nextOffset);
    if (start >= this.sizeBytes || start >= this.peerMaxOffset) return undefined;
    const gapEnd = Math.min(this.sizeBytes, this.acked.nextCovered(start));
    const len = Math.min(per, gapEnd - start);
    this.hashUpTo(start);
    this.nextOffset = start + len;
    return [start, len];
  }

  /** Reads a segment (new data is hashed first, ahead in aligned chunks): the frame without a codec. */
  private dataFrame([off, len]: Range, retransmission: boolean): DataFrame {
    if (!retransmission) this.hashThrough(off + len);
    const bytes = this.source.read(off, len); // after the hash's reads: it stays valid until the next read
    return { type: 'data', offset: off, length: len, compressed: false, bytes };
  }

  /**
   * Hashes the file up to at least `end`, on to the next HASH_AHEAD boundary: one hash update per HASH_AHEAD bytes
   * instead of one per packet (the call, not the hashing, was most of its cost). The chunks never cross a
   * HASH_AHEAD boundary, so a source that caches blocks of a multiple of it reads each from one block.
   */
  private hashThrough(end: number): void {
    if (this.hashedTo >= end) return;
    const to = Math.min(this.sizeBytes, Math.ceil(end / HASH_AHEAD) * HASH_AHEAD);
    while (this.hashedTo < to) {
      const len = Math.min(HASH_AHEAD - (this.hashedTo % HASH_AHEAD), to - this.hashedTo);
      this.hasher.update(this.source.read(this.hashedTo, len));
      this.hashedTo += len;
    }
  }

  private finFrame(): Frame {
    this.hashUpTo(this.sizeBytes);
    this.sha256 ??= this.hasher.digest();
    const r = this.rtt;
    const counts = { packetsSent: this.stats.packetsSent + 1, packetsRetransmitted: this.stats.packetsRetransmitted };
    const rtt = Number.isFinite(r.minMs)
      ? { minUs: r.minMs * 1000, avgUs: r.avgMs * 1000, p99Us: r.p99Ms * 1000, ...counts }
      : { minUs: 0, avgUs: 0, p99Us: 0, ...counts };
    return { type: 'fin', sizeBytes: this.sizeBytes, sha256: this.sha256, rtt };
  }

  private hashUpTo(offset: number): void {
    while (this.hashedTo < offset) {
      const len = Math.min(HASH_CHUNK, offset - this.hashedTo);
      this.hasher.update(this.source.read(this.hashedTo, len));
      this.hashedTo += len;
    }
  }

  private onSent(nowMs: number, pn: number, size: number, segment: Range | undefined, fin: boolean, probe = 0): void {
    this.log.use(pn);
    this.rate.onSend(nowMs, this.log.bytesInFlight);
    this.log.add({
      pn,
      timeSentMs: nowMs,
      size,
      segment,
      fin,
      ackEliciting: true,
      delivered: this.rate.delivered,
      deliveredTimeMs: this.rate.deliveredTimeMs,
      firstSentTimeMs: this.rate.firstSentTimeMs,
      state: 'pending',
      probe,
      appLimited: this.recovery.backoff > 0,
    });
    this.recovery.lastAckElicitingSentMs = nowMs;
    this.stats.packetsSent++;
    this.stats.bytesSent += size;
    const interval = (size * 1000) / this.cc.pacingRateBps;
    this.nextSendMs = Math.max(this.nextSendMs, nowMs - this.quantumMs) + interval;
  }

  /** A packet declared lost: its data goes back in the queue, and a lost FIN is owed again. */
  private onLost(p: SentPacket): void {
    if (p.segment) this.retransmit.push(p.segment);
    if (p.fin) this.finState = 'unsent';
  }

  /** Registers a packet number the sender used for something else (handshake), keeping numbering dense. */
  skipPacketNumber(pn: number): void {
    this.log.skip(pn);
  }

  onAck(nowMs: number, ack: Extract<Frame, { type: 'ack' }>): void {
    // an ACK of a packet number never sent is a lie (an optimistic ACK): ignore the whole frame
    if (ack.largest > this.log.lastSentPn) return;
    if (ack.maxOffset > this.peerMaxOffset) this.peerMaxOffset = ack.maxOffset;
    const r = this.recovery;
    let newest: SentPacket | undefined;
    let ackedBytes = 0;
    const first = this.log.first;
    if (first) {
      for (const [lo, hi] of ack.ranges) {
        const top = Math.min(hi, this.log.last!.pn);
        for (let pn = Math.max(lo, first.pn); pn <= top; pn++) {
          const p = this.log.entry(pn)!;
          if (p.state === 'acked') continue;
          if (p.state === 'lost') r.onSpuriousLoss();
          else this.log.bytesInFlight -= p.size;
          p.state = 'acked';
          if (!p.ackEliciting) continue;
          if (p.probe) this.pmtu.onProbeAcked(p.probe);
          else if (p.appLimited) this.pmtu.onBackoffPacketAcked(p.size);
          ackedBytes += p.size;
          this.rate.delivered += p.size;
          if (p.segment) this.acked.add(p.segment[0], p.segment[0] + p.segment[1]);
          if (p.fin) this.finState = 'acked';
          if (!newest || p.pn > newest.pn) newest = p;
        }
      }
    }
    if (!newest) {
      if (ack.largest > r.largestAcked) r.largestAcked = ack.largest;
      return;
    }
    let rttMs = 0;
    if (newest.pn === ack.largest && ack.largest > r.largestAcked) {
      rttMs = nowMs - newest.timeSentMs;
      const ackDelayMs = ack.ackDelayUs / 1000;
      if (rttMs - ackDelayMs >= this.rtt.minMs) rttMs -= ackDelayMs;
      this.rtt.update(nowMs, rttMs);
    }
    if (ack.largest > r.largestAcked) r.largestAcked = ack.largest;
    r.onNewDataAcked();
    this.rate.onAck(nowMs, newest);
    r.detectLosses(nowMs);
    const sample: AckSample = {
      nowMs,
      deliveryRateBps: this.rate.rateBps,
      rttMs,
      minRttMs: Number.isFinite(this.rtt.minMs) ? this.rtt.minMs : 0,
      bytesInFlight: this.log.bytesInFlight,
      roundEnded: this.rate.roundEnded,
      appLimited: newest.appLimited,
      ackedBytes,
      lostBytes: r.takeLostBytes(),
    };
    this.cc.onAck(sample);
    this.log.advanceHead();
  }
}
