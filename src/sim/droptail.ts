// The shared bottleneck: one FIFO queue drained at a fixed rate, drop-tail at a byte limit (the packet being
// serialised counts as queued). Pure arithmetic in virtual time: `offer` says when a packet leaves the link,
// or that it was dropped. Counters keep the books: offered = departed + dropped + queued at any time.

export interface DropTailStats {
  offeredPackets: number;
  offeredBytes: number;
  departedPackets: number;
  departedBytes: number;
  droppedPackets: number;
  droppedBytes: number;
}

export interface Admission {
  /** When the packet's last bit leaves the link (ms). */
  departMs: number;
  /** Time it waited behind other packets before its own serialisation began (ms). */
  waitMs: number;
}

export class DropTailQueue {
  readonly stats: DropTailStats = {
    offeredPackets: 0,
    offeredBytes: 0,
    departedPackets: 0,
    departedBytes: 0,
    droppedPackets: 0,
    droppedBytes: 0,
  };
  /** Packets not yet departed, oldest first (a ring would do; an index into an array is enough). */
  private readonly held: Array<{ departMs: number; bytes: number }> = [];
  private head = 0;
  private heldBytes = 0;
  private lastDepartMs = Number.NEGATIVE_INFINITY;

  constructor(
    readonly rateBit: number,
    readonly limitBytes: number,
  ) {
    if (!(rateBit > 0)) throw new Error(`bottleneck rate must be positive, got ${rateBit}`);
    if (!(limitBytes > 0)) throw new Error(`bottleneck queue limit must be positive, got ${limitBytes}`);
  }

  /** Moves packets whose departure time has passed out of the queue. */
  advance(nowMs: number): void {
    const h = this.held;
    while (this.head < h.length && h[this.head]!.departMs <= nowMs) {
      const p = h[this.head++]!;
      this.heldBytes -= p.bytes;
      this.stats.departedPackets++;
      this.stats.departedBytes += p.bytes;
    }
    if (this.head > 4096 && this.head * 2 > h.length) {
      h.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Packets and bytes in the queue (including the one on the wire) at the last `advance`/`offer`. */
  get queuedPackets(): number {
    return this.held.length - this.head;
  }
  get queuedBytes(): number {
    return this.heldBytes;
  }

  /** A packet of `bytes` on-the-wire bytes arrives at `nowMs`: its departure, or undefined when dropped. */
  offer(nowMs: number, bytes: number): Admission | undefined {
    this.advance(nowMs);
    this.stats.offeredPackets++;
    this.stats.offeredBytes += bytes;
    if (this.heldBytes + bytes > this.limitBytes) {
      this.stats.droppedPackets++;
      this.stats.droppedBytes += bytes;
      return undefined;
    }
    const startMs = Math.max(nowMs, this.lastDepartMs);
    const departMs = startMs + (bytes * 8 * 1000) / this.rateBit;
    this.lastDepartMs = departMs;
    this.held.push({ departMs, bytes });
    this.heldBytes += bytes;
    return { departMs, waitMs: startMs - nowMs };
  }
}
