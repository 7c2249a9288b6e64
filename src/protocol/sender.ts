// The data sender: chooses what goes in each packet, paces, detects loss, retransmits.
// Rules:
// - Each packet number is sent once; lost data is resent in a new packet (so RTT samples are unambiguous).
// - Loss detection is time-based (RACK, RFC 9002 §6.1.2): a packet is lost when a later-sent packet was
//   acknowledged and it was sent more than lossDelay = k/8 × max(SRTT, latest RTT) ago (k starts at 9 and
//   grows by 2 up to 24 each time a "lost" packet turns out to have arrived: reordering tolerance).
// - The retransmission timeout (RFC 6298, with backoff) fires when nothing is acknowledged for RTO × 2^n:
//   the oldest outstanding packet is declared lost and up to two probes go out regardless of pacing.
// - Path MTU (DPLPMTUD, RFC 8899, simplified): data starts in packets of the base size; once the path has
//   answered, a probe of padding is sent at each larger candidate size, largest first, three tries each. An
//   acknowledged probe raises the packet size; a lost probe is neither retransmitted nor a congestion signal.
//   A black hole (larger packets stop arriving): a second consecutive RTO drops back to the base size, and the
//   search starts again once ACKs return (at most twice per transfer).
// - New data goes out in file order; the SHA-256 of the whole file is computed on the way (ranges the
//   receiver already holds are read and hashed, not sent) and announced in a FIN frame.
import type { Hasher } from '../crypto/index.js';
import { type AckSample, CongestionController } from './congestion.js';
import { DATA_FRAME_OVERHEAD, FIN_FRAME_BYTES, type Frame, PAD_FRAME_OVERHEAD, type SenderSample } from './frames.js';
import { type Range, RangeSet } from './range-set.js';
import { RttEstimator } from './rtt.js';
import type { ChunkCodec, DataSource } from './source-sink.js';

interface SentPacket {
  pn: number;
  timeSentMs: number;
  size: number;
  /** Data carried: [offset, length]. */
  segment: Range | undefined;
  fin: boolean;
  ackEliciting: boolean;
  delivered: number;
  deliveredTimeMs: number;
  firstSentTimeMs: number;
  state: 'pending' | 'acked' | 'lost';
  /** A path-MTU probe of this payload size (0: not a probe). */
  probe: number;
  /** Sent during RTO backoff (a probe into a silence): its rate sample says nothing about the path's capacity. */
  appLimited: boolean;
}

export interface SenderStats {
  packetsSent: number;
  packetsRetransmitted: number;
  bytesSent: number;
  packetsLost: number;
  spuriousLosses: number;
  timeouts: number;
  /** Tail loss probes sent (not timeouts: no backoff, no congestion response). */
  tailProbes: number;
  /** Path-MTU probes sent, and drops back to the base size after a black hole. */
  pmtuProbes: number;
  pmtuFallbacks: number;
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
}

const HASH_CHUNK = 1 << 20;
const MAX_BACKOFF_MS = 1000;

/** Raw bytes for one DATA frame and what goes on the wire for them. */
interface Packed {
  bytes: Uint8Array;
  wire: Uint8Array;
  compressed: boolean;
}

/** A DATA frame's raw length is a u16 (frames.ts). */
const MAX_DATA_LENGTH = 0xffff;

export class Sender {
  readonly rtt = new RttEstimator();
  readonly cc: CongestionController;
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
  private readonly sent: SentPacket[] = [];
  /** The highest packet number this sender used (sent or skipped); an ACK above it is refused. */
  private lastSentPn = -1;
  private head = 0;
  private readonly retransmit: Range[] = [];
  private nextOffset = 0;
  private hashedTo = 0;
  private sha256: Uint8Array | undefined;
  private finState: 'unsent' | 'inflight' | 'acked' = 'unsent';
  bytesInFlight = 0;
  private nextSendMs = 0;
  private largestAcked = -1;
  private lossTimerMs: number | undefined;
  private lossDelayEighths = 9;
  private backoff = 0;
  /** Tail loss probes sent since the last ACK of new data. */
  private tailProbes = 0;
  private lastAckElicitingSentMs = 0;
  private probesOwed = 0;
  /** The highest packet number sent before the latest retransmission timeout (-1: none yet). */
  private timeoutPn = -1;
  private peerMaxOffset: number;
  private delivered = 0;
  private deliveredTimeMs = 0;
  private firstSentTimeMs = 0;
  private roundEndDelivered = 0;
  /** Payload size data packets are built to now (the base size until a probe gets through). */
  private payloadLimit: number;
  private dataPerPacket: number;
  private readonly quantumMs: number;
  private readonly probeCandidates: readonly number[];
  /** Sizes still to try, largest first; a probe in flight; losses of the current size's probes. */
  private probeSizes: number[];
  private probeOutstanding = false;
  private probeLosses = 0;

  constructor(
    private readonly source: DataSource,
    private readonly hasher: Hasher,
    readonly opts: SenderOptions,
    alreadyHeld: readonly Range[] = [],
    initialWindowBytes = 4 << 20,
  ) {
    this.payloadLimit = opts.payloadBytes;
    this.dataPerPacket = opts.payloadBytes - DATA_FRAME_OVERHEAD;
    this.probeCandidates = [...(opts.probePayloadBytes ?? [])]
      .filter((b) => b > opts.payloadBytes)
      .sort((a, b) => b - a);
    this.probeSizes = [...this.probeCandidates];
    this.cc = new CongestionController(opts.payloadBytes);
    this.acked = RangeSet.of(alreadyHeld.filter(([a, b]) => a < b && b <= source.sizeBytes));
    this.peerMaxOffset = initialWindowBytes;
    this.quantumMs = opts.pacingQuantumMs ?? 2;
  }

  get sizeBytes(): number {
    return this.source.sizeBytes;
  }

  /** The payload size data packets are built to now. */
  get payloadBytes(): number {
    return this.payloadLimit;
  }

  get sha256Announced(): Uint8Array | undefined {
    return this.sha256;
  }

  /** True when every byte and the FIN have been acknowledged. */
  get allAcked(): boolean {
    return this.finState === 'acked';
  }

  private hasData(): boolean {
    if (this.retransmit.length > 0) return true;
    const next = this.acked.nextGap(this.nextOffset);
    if (next < this.sizeBytes) return next < this.peerMaxOffset;
    return this.finState === 'unsent';
  }

  /** Earliest time a packet may go out (undefined: nothing to send until an ACK or timer). */
  nextSendTime(): number | undefined {
    if (this.probesOwed > 0) return 0;
    if (!this.hasData() || this.bytesInFlight + this.payloadLimit > this.cc.cwndBytes) return undefined;
    return this.nextSendMs - this.quantumMs;
  }

  nextTimerMs(): number | undefined {
    let t = this.lossTimerMs;
    const pto = this.ptoDeadline();
    if (pto !== undefined && (t === undefined || pto < t)) t = pto;
    return t;
  }

  private ptoDeadline(): number | undefined {
    if (this.bytesInFlight === 0 && this.finState !== 'acked' && !this.hasData()) {
      // nothing outstanding and nothing to send: waiting for flow-control credit
      return this.lastAckElicitingSentMs + this.backedOffRtoMs();
    }
    if (this.bytesInFlight === 0) return undefined;
    const rto = this.lastAckElicitingSentMs + this.backedOffRtoMs();
    const tlp = this.tailProbeDeadline();
    return tlp !== undefined && tlp < rto ? tlp : rto;
  }

  /**
   * Tail loss probe (RFC 8985 §7): once everything has been sent, no later packet can reveal a lost one at the
   * tail, so after 2 × SRTT (+ the receiver's 5 ms ACK delay) the newest packet is sent again; its ACK lets RACK
   * find the others. Up to two per flight, without backoff or a congestion response; the RTO stays behind them.
   * In the simulator, 20 transfers at 20% loss each way: 10 tail probes and no timeout (before path-MTU probing: 6 and 1;
   * without tail probes: 2 timeouts).
   */
  private tailProbeDeadline(): number | undefined {
    if (this.hasData() || this.backoff > 0 || this.tailProbes >= 2 || this.rtt.srttMs === undefined) return undefined;
    return this.lastAckElicitingSentMs + 2 * this.rtt.srttMs + 5;
  }

  /** Timers: loss detection and retransmission timeout. A spurious call is a no-op. */
  onTimer(nowMs: number): void {
    if (this.lossTimerMs !== undefined && nowMs >= this.lossTimerMs) {
      this.lossTimerMs = undefined;
      this.detectLosses(nowMs);
    }
    const tlp = this.bytesInFlight > 0 ? this.tailProbeDeadline() : undefined;
    if (tlp !== undefined && nowMs >= tlp && tlp < this.lastAckElicitingSentMs + this.backedOffRtoMs()) {
      this.tailProbes++;
      this.stats.tailProbes++;
      const newest = this.newestPending();
      if (newest) this.declareLost(newest);
      this.probesOwed = 1;
      this.lastAckElicitingSentMs = nowMs;
      return;
    }
    const pto = this.ptoDeadline();
    if (pto !== undefined && nowMs >= pto) {
      this.stats.timeouts++;
      this.cc.onTimeout(this.backoff === 0);
      this.backoff++;
      // what was sent before now is answered by this timeout: its losses are not reported to the estimator again,
      // and no delivery interval spans the silence (BBR restarts both clocks when nothing is known to be in flight)
      this.timeoutPn = this.lastSentPn;
      this.firstSentTimeMs = nowMs;
      this.deliveredTimeMs = nowMs;
      if (this.backoff >= 2 && this.payloadLimit > this.opts.payloadBytes) this.fallBackToBaseSize();
      const oldest = this.oldestPending();
      if (oldest) this.declareLost(oldest);
      this.probesOwed = 2;
      this.lastAckElicitingSentMs = nowMs;
    }
  }

  /** Asks for one probe packet (a PING when there is nothing else), ignoring pacing and the window. */
  requestProbe(): void {
    this.probesOwed = Math.max(this.probesOwed, 1);
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

  /**
   * RTO × 2^backoff, capped at MAX_BACKOFF_MS (1 s) or the RTO itself if larger: RFC 6298 allows 60 s, but the idle
   * timeout is 20 s and a path that comes back after a blackout should be probed within a second of its return.
   * Two small probes a second while the path is silent cost nothing. With a 4 s cap, 1 MiB over 50±10 ms with a
   * 3.5 s blackout took up to 3.6 s more than clean + blackout (the return fell just after a probe); with 1 s, 1.1 s.
   */
  private backedOffRtoMs(): number {
    return Math.min(this.rtt.rtoMs() * 2 ** Math.min(this.backoff, 16), Math.max(MAX_BACKOFF_MS, this.rtt.rtoMs()));
  }

  private newestPending(): SentPacket | undefined {
    for (let i = this.sent.length - 1; i >= this.head; i--) if (this.sent[i]!.state === 'pending') return this.sent[i];
    return undefined;
  }

  private oldestPending(): SentPacket | undefined {
    for (let i = this.head; i < this.sent.length; i++) if (this.sent[i]!.state === 'pending') return this.sent[i];
    return undefined;
  }

  /** A black hole: packets above the base size stopped arriving (two RTOs in a row). */
  private fallBackToBaseSize(): void {
    this.payloadLimit = this.opts.payloadBytes;
    this.dataPerPacket = this.payloadLimit - DATA_FRAME_OVERHEAD;
    this.stats.pmtuFallbacks++;
    // search again once ACKs return, unless the path has already failed twice
    this.probeSizes = this.stats.pmtuFallbacks < 2 ? [...this.probeCandidates] : [];
    this.probeLosses = 0;
  }

  /** A padding probe is due: the path has answered, data is waiting, no probe is in flight, no RTO backoff. */
  private probeDue(): boolean {
    return this.probeSizes.length > 0 && !this.probeOutstanding && this.largestAcked >= 0 && this.backoff === 0;
  }

  /** Builds the frames of the next data packet, numbered `pn`, or undefined when nothing is due. */
  buildPacket(nowMs: number, pn: number): Frame[] | undefined {
    const probe = this.probesOwed > 0;
    if (!probe) {
      const t = this.nextSendTime();
      if (t === undefined || t > nowMs) return undefined;
      if (this.probeDue()) {
        const size = this.probeSizes[0]!;
        this.probeOutstanding = true;
        this.stats.pmtuProbes++;
        this.onSent(nowMs, pn, size, undefined, false, size);
        return [{ type: 'ping' }, { type: 'pad', length: size - 1 - PAD_FRAME_OVERHEAD }];
      }
    }
    const frames: Frame[] = [];
    let size = 0;
    let segment: Range | undefined;
    let retransmission = false;
    // 1. lost data, minus what has since been acknowledged
    let packed: Packed | undefined;
    while (!segment && this.retransmit.length > 0) {
      const [off, len] = this.retransmit.shift()!;
      const gaps = this.acked.gaps(off, off + len);
      if (gaps.length === 0) continue;
      const [a, b] = gaps[0]!;
      for (let g = gaps.length - 1; g >= 1; g--) this.retransmit.unshift([gaps[g]![0], gaps[g]![1] - gaps[g]![0]]);
      // more than one packet carries (sent compressed, or in a larger packet before a fall back to the base size):
      // as much as fits goes now, the rest stays first in line
      packed = this.packData(a, b - a, b - a);
      const n = packed.bytes.length;
      if (b - a > n) this.retransmit.unshift([a + n, b - a - n]);
      segment = [a, n];
      retransmission = true;
    }
    // 2. new data, skipping what the receiver already holds
    if (!segment) {
      const start = this.acked.nextGap(this.nextOffset);
      if (start < this.sizeBytes && start < this.peerMaxOffset) {
        const gapEnd = Math.min(this.sizeBytes, this.acked.gaps(start, this.sizeBytes)[0]?.[1] ?? this.sizeBytes);
        // one packet's worth, or with a codec as much as fits once compressed (within the receiver's window)
        packed = this.packData(start, gapEnd - start, Math.max(this.dataPerPacket, this.peerMaxOffset - start));
        const len = packed.bytes.length;
        this.hashUpTo(start);
        segment = [start, len];
        this.nextOffset = start + len;
      }
    }
    if (segment) {
      const [off, len] = segment;
      const p = packed!;
      const bytes = p.bytes;
      if (!retransmission) {
        this.hasher.update(bytes);
        this.hashedTo = off + len;
      }
      const wire = p.wire;
      const compressed = p.compressed;
      if (this.opts.codec) {
        this.stats.bytesBeforeCompression += bytes.length;
        this.stats.bytesAfterCompression += wire.length;
      }
      frames.push({ type: 'data', offset: off, length: len, compressed, bytes: wire });
      size += DATA_FRAME_OVERHEAD + wire.length;
      if (retransmission) this.stats.packetsRetransmitted++;
    }
    // 3. FIN once all new data is out (and hashed)
    let fin = false;
    if (
      this.finState === 'unsent' &&
      this.acked.nextGap(this.nextOffset) >= this.sizeBytes &&
      size + FIN_FRAME_BYTES <= this.payloadLimit
    ) {
      this.hashUpTo(this.sizeBytes);
      this.sha256 ??= this.hasher.digest();
      const r = this.rtt;
      const counts = { packetsSent: this.stats.packetsSent + 1, packetsRetransmitted: this.stats.packetsRetransmitted };
      const rtt = Number.isFinite(r.minMs)
        ? { minUs: r.minMs * 1000, avgUs: r.avgMs * 1000, p99Us: r.p99Ms * 1000, ...counts }
        : { minUs: 0, avgUs: 0, p99Us: 0, ...counts };
      frames.push({ type: 'fin', sizeBytes: this.sizeBytes, sha256: this.sha256, rtt });
      size += FIN_FRAME_BYTES;
      fin = true;
      this.finState = 'inflight';
    }
    if (frames.length === 0) {
      if (!probe) return undefined;
      frames.push({ type: 'ping' });
      size += 1;
    }
    if (probe) this.probesOwed--;
    this.onSent(nowMs, pn, size, segment, fin);
    return frames;
  }

  /** Raw bytes as they go in a DATA frame: compressed when the codec shrinks them. */
  private pack(bytes: Uint8Array): Packed {
    const c = this.opts.codec?.compress(bytes);
    return c && c.length < bytes.length
      ? { bytes, wire: c, compressed: true }
      : { bytes, wire: bytes, compressed: false };
  }

  /**
   * Data at `start` (at most `gap` bytes, and at most `window` beyond one packet's worth) for one DATA frame, new or
   * retransmitted. Without a codec, or when the data does not compress: one packet's worth of raw bytes. With one:
   * as many raw bytes as still fit in one packet once compressed (up to the frame's u16 length), sized from the first
   * packet's ratio with a 10% margin and tried at most twice more, so a packet carries ratio × its size of file.
   * Offsets stay raw: SACK, retransmission and resume are unchanged.
   */
  private packData(start: number, gap: number, window: number): Packed {
    const base = Math.min(this.dataPerPacket, gap);
    const first = this.pack(this.source.read(start, base));
    const most = Math.min(gap, window, MAX_DATA_LENGTH);
    if (!first.compressed || most <= base) return first;
    let len = Math.min(most, Math.floor(((base * this.dataPerPacket) / first.wire.length) * 0.9));
    for (let tries = 0; tries < 2 && len > base; tries++) {
      const p = this.pack(this.source.read(start, len));
      if (p.wire.length <= this.dataPerPacket) return p;
      len = Math.floor(((len * this.dataPerPacket) / p.wire.length) * 0.9);
    }
    return first;
  }

  private hashUpTo(offset: number): void {
    while (this.hashedTo < offset) {
      const len = Math.min(HASH_CHUNK, offset - this.hashedTo);
      this.hasher.update(this.source.read(this.hashedTo, len));
      this.hashedTo += len;
    }
  }

  private onSent(nowMs: number, pn: number, size: number, segment: Range | undefined, fin: boolean, probe = 0): void {
    if (pn > this.lastSentPn) this.lastSentPn = pn;
    if (this.bytesInFlight === 0) {
      this.firstSentTimeMs = nowMs;
      this.deliveredTimeMs = nowMs;
    }
    const expected = this.sent.length - this.head + (this.sent[this.head]?.pn ?? pn);
    if (this.head < this.sent.length && pn !== expected) throw new Error(`sender: packet ${pn} out of sequence`);
    this.sent.push({
      pn,
      timeSentMs: nowMs,
      size,
      segment,
      fin,
      ackEliciting: true,
      delivered: this.delivered,
      deliveredTimeMs: this.deliveredTimeMs,
      firstSentTimeMs: this.firstSentTimeMs,
      state: 'pending',
      probe,
      appLimited: this.backoff > 0,
    });
    this.bytesInFlight += size;
    this.lastAckElicitingSentMs = nowMs;
    this.stats.packetsSent++;
    this.stats.bytesSent += size;
    const interval = (size * 1000) / this.cc.pacingRateBps;
    this.nextSendMs = Math.max(this.nextSendMs, nowMs - this.quantumMs) + interval;
  }

  /** Registers a packet number the sender used for something else (handshake), keeping numbering dense. */
  skipPacketNumber(pn: number): void {
    if (pn > this.lastSentPn) this.lastSentPn = pn;
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

  private entry(pn: number): SentPacket | undefined {
    const first = this.sent[this.head];
    if (!first) return undefined;
    const i = this.head + (pn - first.pn);
    return i >= this.head && i < this.sent.length ? this.sent[i] : undefined;
  }

  onAck(nowMs: number, ack: Extract<Frame, { type: 'ack' }>): void {
    // an ACK of a packet number never sent is a lie (an optimistic ACK): ignore the whole frame
    if (ack.largest > this.lastSentPn) return;
    if (ack.maxOffset > this.peerMaxOffset) this.peerMaxOffset = ack.maxOffset;
    let newest: SentPacket | undefined;
    let ackedBytes = 0;
    const first = this.sent[this.head];
    if (first) {
      for (const [lo, hi] of ack.ranges) {
        const top = Math.min(hi, this.sent[this.sent.length - 1]!.pn);
        for (let pn = Math.max(lo, first.pn); pn <= top; pn++) {
          const p = this.entry(pn)!;
          if (p.state === 'acked') continue;
          if (p.state === 'lost') {
            this.stats.spuriousLosses++;
            this.lossDelayEighths = Math.min(24, this.lossDelayEighths + 2);
          } else {
            this.bytesInFlight -= p.size;
          }
          p.state = 'acked';
          if (!p.ackEliciting) continue;
          if (p.probe) this.probeAcked(p.probe);
          ackedBytes += p.size;
          this.delivered += p.size;
          if (p.segment) this.acked.add(p.segment[0], p.segment[0] + p.segment[1]);
          if (p.fin) this.finState = 'acked';
          if (!newest || p.pn > newest.pn) newest = p;
        }
      }
    }
    if (!newest) {
      if (ack.largest > this.largestAcked) this.largestAcked = ack.largest;
      return;
    }
    this.deliveredTimeMs = nowMs;
    let rttMs = 0;
    if (newest.pn === ack.largest && ack.largest > this.largestAcked) {
      rttMs = nowMs - newest.timeSentMs;
      const ackDelayMs = ack.ackDelayUs / 1000;
      if (rttMs - ackDelayMs >= this.rtt.minMs) rttMs -= ackDelayMs;
      this.rtt.update(nowMs, rttMs);
    }
    if (ack.largest > this.largestAcked) this.largestAcked = ack.largest;
    this.backoff = 0;
    this.tailProbes = 0;
    // delivery rate sample (BBR): delivered since the packet was sent, over the longer of send/ack intervals
    const sendElapsed = newest.timeSentMs - newest.firstSentTimeMs;
    const ackElapsed = nowMs - newest.deliveredTimeMs;
    const intervalMs = Math.max(sendElapsed, ackElapsed);
    const rate = intervalMs > 0 ? ((this.delivered - newest.delivered) * 1000) / intervalMs : 0;
    this.firstSentTimeMs = newest.timeSentMs;
    const roundEnded = newest.delivered >= this.roundEndDelivered;
    if (roundEnded) this.roundEndDelivered = this.delivered;
    this.detectLosses(nowMs);
    const sample: AckSample = {
      nowMs,
      deliveryRateBps: rate,
      rttMs,
      minRttMs: Number.isFinite(this.rtt.minMs) ? this.rtt.minMs : 0,
      bytesInFlight: this.bytesInFlight,
      roundEnded,
      appLimited: newest.appLimited,
      ackedBytes,
      lostBytes: this.unreportedLostBytes,
    };
    this.unreportedLostBytes = 0;
    this.cc.onAck(sample);
    this.advanceHead();
  }

  /** Bytes declared lost (by ACKs or by the loss timer) not yet reported to the congestion controller. */
  private unreportedLostBytes = 0;

  private detectLosses(nowMs: number): void {
    this.lossTimerMs = undefined;
    const base = Math.max(this.rtt.srttMs ?? this.rtt.latestMs, this.rtt.latestMs);
    const lossDelay = Math.max((this.lossDelayEighths / 8) * base, 1);
    for (let i = this.head; i < this.sent.length; i++) {
      const p = this.sent[i]!;
      if (p.pn >= this.largestAcked) break;
      if (p.state !== 'pending') continue;
      const deadline = p.timeSentMs + lossDelay;
      if (nowMs >= deadline) this.declareLost(p);
      else {
        this.lossTimerMs = deadline;
        break;
      }
    }
  }

  private probeAcked(size: number): void {
    this.probeOutstanding = false;
    if (size <= this.payloadLimit) return;
    this.payloadLimit = size;
    this.dataPerPacket = size - DATA_FRAME_OVERHEAD;
    this.probeSizes = []; // candidates go largest first (a late ACK may be of one given up on): done
  }

  private declareLost(p: SentPacket): void {
    if (p.state !== 'pending') return;
    p.state = 'lost';
    this.bytesInFlight -= p.size;
    if (p.probe) {
      // a lost probe says the size may not fit, not that the path is congested: no retransmission, no cut
      this.probeOutstanding = false;
      if (p.probe === this.probeSizes[0] && ++this.probeLosses >= 3) {
        this.probeSizes.shift();
        this.probeLosses = 0;
      }
      return;
    }
    // a packet sent before a retransmission timeout: the timeout already cut the estimate once for the silence;
    // counted here too, a 3 s blackout's whole flight read as ~100% random loss or as a heavy-loss congestion round
    if (p.pn > this.timeoutPn) this.unreportedLostBytes += p.size;
    this.stats.packetsLost++;
    if (p.segment) this.retransmit.push(p.segment);
    if (p.fin) this.finState = 'unsent';
  }

  private advanceHead(): void {
    while (this.head < this.sent.length && this.sent[this.head]!.state !== 'pending') this.head++;
    if (this.head > 4096 && this.head * 2 > this.sent.length) {
      this.sent.splice(0, this.head);
      this.head = 0;
    }
  }
}
