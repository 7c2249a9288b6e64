// Path-MTU search (DPLPMTUD, RFC 8899, simplified): data starts in packets of the base size; once the path has
// answered, a probe of padding is sent at each larger candidate size, largest first, three tries each. An
// acknowledged probe raises the packet size (and ends the search: a late ACK may be of a size given up on, and
// candidates go largest first); a lost probe is neither retransmitted nor a congestion signal.
// A black hole (larger packets stop arriving): the second consecutive RTO drops back to the base size, and the
// search starts again once ACKs return (at most twice per transfer). A stall is not a black hole: when a packet sent
// after the first RTO and larger than every candidate below the size given up on (a full one, or a compressed one
// nearly full) is acknowledged, that size crossed the path after the silence began — the receiver was busy (an
// fsync, a GC, a starved CPU) and answered late — and it comes back at once, the fall back uncounted. Without this,
// every 4 GiB GET on loopback fell back twice mid-transfer and sent most of the file in 1,200-byte datagrams.
import { DATA_FRAME_OVERHEAD } from './frames.js';

/** Losses of one candidate size's probes before the next smaller size is tried. */
const TRIES_PER_SIZE = 3;

export interface PmtuCounters {
  /** Path-MTU probes sent, and drops back to the base size after a black hole. */
  pmtuProbes: number;
  pmtuFallbacks: number;
}

export class PmtuSearch {
  /** Payload size data packets are built to now (the base size until a probe gets through). */
  payloadBytes: number;
  /** Room for data in such a packet. */
  dataPerPacket: number;
  private candidates: readonly number[];
  /** Sizes still to try, largest first; a probe in flight; losses of the current size's probes. */
  private sizes: number[];
  private outstanding = false;
  private losses = 0;
  /** The size the last fall back gave up (0: none since, or restored). */
  private fellBackFrom = 0;

  constructor(
    readonly basePayloadBytes: number,
    probePayloadBytes: readonly number[],
    private readonly counters: PmtuCounters,
  ) {
    this.payloadBytes = basePayloadBytes;
    this.dataPerPacket = basePayloadBytes - DATA_FRAME_OVERHEAD;
    this.candidates = [...probePayloadBytes].filter((b) => b > basePayloadBytes).sort((a, b) => b - a);
    this.sizes = [...this.candidates];
  }

  /** A probe is due: the path has answered (`pathAnswered`), no probe is in flight, no RTO backoff. */
  due(pathAnswered: boolean, backoff: number): boolean {
    return this.sizes.length > 0 && !this.outstanding && pathAnswered && backoff === 0;
  }

  /** Starts a probe; returns its payload size. */
  startProbe(): number {
    const size = this.sizes[0]!;
    this.outstanding = true;
    this.counters.pmtuProbes++;
    return size;
  }

  onProbeAcked(size: number): void {
    this.outstanding = false;
    // a probe sent before a path change (restart) proves nothing about the new path
    if (size <= this.payloadBytes || !this.candidates.includes(size)) return;
    this.fellBackFrom = 0;
    this.payloadBytes = size;
    this.dataPerPacket = size - DATA_FRAME_OVERHEAD;
    this.sizes = []; // candidates go largest first (a late ACK may be of one given up on): done
  }

  onProbeLost(size: number): void {
    this.outstanding = false;
    if (size === this.sizes[0] && ++this.losses >= TRIES_PER_SIZE) {
      this.sizes.shift();
      this.losses = 0;
    }
  }

  /**
   * The peer moved to another path (a validated migration, RFC 9000 §9.4): what the old one carried says nothing
   * of it. Back to the base size, and search again among `probePayloadBytes` (the new path's candidates).
   */
  restart(probePayloadBytes: readonly number[]): void {
    this.fellBackFrom = 0;
    this.payloadBytes = this.basePayloadBytes;
    this.dataPerPacket = this.payloadBytes - DATA_FRAME_OVERHEAD;
    this.candidates = [...probePayloadBytes].filter((b) => b > this.basePayloadBytes).sort((a, b) => b - a);
    this.sizes = [...this.candidates];
    this.outstanding = false;
    this.losses = 0;
  }

  /** Consecutive RTOs (`backoff` of them): from the second on, packets above the base size are a black hole. */
  onTimeout(backoff: number): void {
    if (backoff < 2 || this.payloadBytes <= this.basePayloadBytes) return;
    this.fellBackFrom = this.payloadBytes;
    this.payloadBytes = this.basePayloadBytes;
    this.dataPerPacket = this.payloadBytes - DATA_FRAME_OVERHEAD;
    this.counters.pmtuFallbacks++;
    // search again once ACKs return, unless the path has already failed twice
    this.sizes = this.counters.pmtuFallbacks < 2 ? [...this.candidates] : [];
    this.losses = 0;
  }

  /**
   * A packet of `size` payload bytes, sent during RTO backoff (after the first timeout of a silence), was
   * acknowledged. One larger than every candidate below the size the fall back gave up on (a full packet of that
   * size, or a compressed one nearly full) proves the silence a stall: that size again, the search over, and the
   * fall back not counted (it was no black hole).
   */
  onBackoffPacketAcked(size: number): void {
    if (this.fellBackFrom === 0 || this.payloadBytes !== this.basePayloadBytes) return;
    let below = this.basePayloadBytes;
    for (const c of this.candidates) if (c < this.fellBackFrom && c > below) below = c;
    if (size <= below || size > this.fellBackFrom) return;
    this.payloadBytes = this.fellBackFrom;
    this.dataPerPacket = this.payloadBytes - DATA_FRAME_OVERHEAD;
    this.fellBackFrom = 0;
    this.counters.pmtuFallbacks--;
    this.sizes = [];
    this.outstanding = false;
    this.losses = 0;
  }
}
