// A reference TCP *model* for the shared-bottleneck simulator: a small sans-I/O window sender and receiver
// in the style of NewReno (RFC 5681 slow start and congestion avoidance, RFC 6582 fast retransmit and fast
// recovery without SACK, RFC 6298 retransmission timer). It is a model to compete against, not TCP: whole
// segments numbered 0, 1, 2 … (no bytes, no headers, no handshake, no receive window), an infinite backlog,
// one cumulative ACK per segment received (no delayed ACKs), a 200 ms minimum RTO as Linux uses, and
// NewReno's Impatient timer (RFC 6582 §4.2: a burst of losses ends in a timeout, not in one repair per RTT).
// The caller moves segments and ACKs and calls handleTimeout when pollTimeout's time comes, as for RUFT.

export const TCP_MODEL_MSS = 1448;
/** Bytes a full segment takes on the wire (MSS + 20 IP + 32 TCP with timestamps): a 1500-byte packet. */
export const TCP_MODEL_WIRE_BYTES = 1500;

const INITIAL_CWND = 10;
const MIN_RTO_MS = 200;
const MAX_RTO_MS = 60_000;
const DUPACK_THRESHOLD = 3;
/** RFC 3465 appropriate byte counting: slow start grows by at most 2 segments per ACK (a jump after go-back-N). */
const ABC_LIMIT = 2;

export interface TcpModelStats {
  segmentsSent: number;
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
  /** Times the window was cut (a fast retransmit or a timeout). */
  lossEvents: number;
}

export class TcpModelSender {
  /** Congestion window in segments. */
  cwnd = INITIAL_CWND;
  ssthresh = Number.POSITIVE_INFINITY;
  /** Oldest unacknowledged segment and the next new segment to send. */
  sndUna = 0;
  sndNxt = 0;
  readonly stats: TcpModelStats = { segmentsSent: 0, retransmits: 0, fastRetransmits: 0, timeouts: 0, lossEvents: 0 };
  private highestSent = -1;
  private dupAcks = 0;
  private inRecovery = false;
  private partialAcked = false;
  private recover = -1;
  /** Segments owed a retransmission before any new data (fast retransmit, partial ACK). */
  private retransmitQueue: number[] = [];
  /** Send time of each segment in flight, and whether it was retransmitted (Karn: no RTT sample then). */
  private readonly sentAt = new Map<number, { atMs: number; retransmitted: boolean }>();
  private srttMs: number | undefined;
  private rttvarMs = 0;
  private rtoMs = 1000;
  private backoff = 1;
  private rtoDeadline: number | undefined;

  /** The window cut history: [time, cwnd before, cwnd after] per loss event (for tests and traces). */
  readonly cuts: Array<{ atMs: number; before: number; after: number; kind: 'fast' | 'timeout' }> = [];

  private get flight(): number {
    return this.sndNxt - this.sndUna;
  }

  /** The next segment to send now, if the window allows one. */
  pollTransmit(nowMs: number): number | undefined {
    let seq: number | undefined;
    const rtx = this.retransmitQueue.shift();
    if (rtx !== undefined && rtx >= this.sndUna) seq = rtx;
    else if (this.flight < Math.floor(this.cwnd)) seq = this.sndNxt++;
    if (seq === undefined) return undefined;
    const again = seq <= this.highestSent;
    if (again) this.stats.retransmits++;
    else this.highestSent = seq;
    this.stats.segmentsSent++;
    this.sentAt.set(seq, { atMs: nowMs, retransmitted: again || this.sentAt.get(seq)?.retransmitted === true });
    if (this.rtoDeadline === undefined) this.rtoDeadline = nowMs + this.rtoMs * this.backoff;
    return seq;
  }

  /** A cumulative ACK: every segment below `ack` arrived. */
  handleAck(nowMs: number, ack: number): void {
    if (ack > this.sndUna) {
      const newly = ack - this.sndUna;
      const first = this.sentAt.get(ack - 1);
      if (first && !first.retransmitted) this.rttSample(nowMs - first.atMs);
      for (let s = this.sndUna; s < ack; s++) this.sentAt.delete(s);
      this.sndUna = ack;
      if (this.sndNxt < ack) this.sndNxt = ack; // after a timeout's go-back-N, ACKs may pass sndNxt
      this.backoff = 1;
      this.dupAcks = 0;
      let resetTimer = true;
      if (this.inRecovery) {
        if (ack > this.recover) {
          // full ACK: leave recovery with the halved window
          this.inRecovery = false;
          this.cwnd = this.ssthresh;
        } else {
          // partial ACK (RFC 6582): the next hole was lost too; retransmit it, deflate by what was acked
          this.retransmitQueue.push(ack);
          this.cwnd = Math.max(this.cwnd - newly + 1, 1);
          // the Impatient variant: only the first partial ACK restarts the timer, so a burst of losses ends
          // in a timeout and slow start instead of one hole repaired per round trip for seconds
          resetTimer = !this.partialAcked;
          this.partialAcked = true;
        }
      } else if (this.cwnd < this.ssthresh) this.cwnd += Math.min(newly, ABC_LIMIT);
      else this.cwnd += newly / this.cwnd;
      if (this.flight === 0) this.rtoDeadline = undefined;
      else if (resetTimer || this.rtoDeadline === undefined) this.rtoDeadline = nowMs + this.rtoMs;
      return;
    }
    if (ack === this.sndUna && this.flight > 0) {
      this.dupAcks++;
      if (this.inRecovery)
        this.cwnd += 1; // each dupack: a segment left the network
      else if (this.dupAcks === DUPACK_THRESHOLD && this.sndUna > this.recover) {
        const before = this.cwnd;
        this.ssthresh = Math.max(this.flight / 2, 2);
        this.cwnd = this.ssthresh + DUPACK_THRESHOLD;
        this.inRecovery = true;
        this.partialAcked = false;
        this.recover = this.sndNxt - 1;
        this.retransmitQueue.push(this.sndUna);
        this.stats.fastRetransmits++;
        this.stats.lossEvents++;
        this.cuts.push({ atMs: nowMs, before, after: this.ssthresh, kind: 'fast' });
      }
    }
  }

  pollTimeout(): number | undefined {
    return this.rtoDeadline;
  }

  /** The retransmission timer fired (the caller checks the time): collapse to one segment, go back N. */
  handleTimeout(nowMs: number): void {
    if (this.rtoDeadline === undefined || nowMs < this.rtoDeadline) return;
    if (this.flight === 0) {
      this.rtoDeadline = undefined;
      return;
    }
    const before = this.cwnd;
    this.ssthresh = Math.max(this.flight / 2, 2);
    this.cwnd = 1;
    this.inRecovery = false;
    this.recover = this.sndNxt - 1;
    this.dupAcks = 0;
    this.retransmitQueue = [];
    this.sndNxt = this.sndUna;
    for (const v of this.sentAt.values()) v.retransmitted = true;
    this.backoff = Math.min(this.backoff * 2, 64);
    this.rtoDeadline = nowMs + Math.min(this.rtoMs * this.backoff, MAX_RTO_MS);
    this.stats.timeouts++;
    this.stats.lossEvents++;
    this.cuts.push({ atMs: nowMs, before, after: 1, kind: 'timeout' });
  }

  private rttSample(r: number): void {
    if (this.srttMs === undefined) {
      this.srttMs = r;
      this.rttvarMs = r / 2;
    } else {
      this.rttvarMs = 0.75 * this.rttvarMs + 0.25 * Math.abs(this.srttMs - r);
      this.srttMs = 0.875 * this.srttMs + 0.125 * r;
    }
    this.rtoMs = Math.min(Math.max(this.srttMs + Math.max(4 * this.rttvarMs, 1), MIN_RTO_MS), MAX_RTO_MS);
  }
}

/** The receiving side: keeps out-of-order segments, answers every segment with the next one it expects. */
export class TcpModelReceiver {
  /** Segments delivered in order. */
  delivered = 0;
  private readonly outOfOrder = new Set<number>();

  /** Takes one segment; returns the cumulative ACK to send and how many segments it newly delivered in order. */
  handleSegment(seq: number): { ack: number; newlyDelivered: number } {
    const before = this.delivered;
    if (seq >= this.delivered) {
      this.outOfOrder.add(seq);
      while (this.outOfOrder.delete(this.delivered)) this.delivered++;
    }
    return { ack: this.delivered, newlyDelivered: this.delivered - before };
  }
}
