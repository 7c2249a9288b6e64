// Sealed datagrams of 1 KiB and more are lent from a small pool and given back by the transport once the kernel
// has copied them: a fresh ArrayBuffer per 32,000-byte DATA packet (what Buffer.allocUnsafe makes above 4 KiB) is
// ~32 KB of external memory against ~0.5 KB of JS garbage, so the young generation hardly fills and the dead
// buffers piled up until V8's external-memory limit (~64 MB) forced a full mark-compact: the server's peak RSS
// sending on loopback (docs/performance.md, "The server's peak RSS"). At 1,472 bytes the same bytes went through
// Node's shared 8 KiB slabs (one per five datagrams): fewer but the same pile.
// Rules:
// - Only what this pool lent is taken back, each once (a WeakSet of the views it handed out): giving back a
//   datagram the pool never lent (a cached ACCEPT, a small packet from Node's shared pool) does nothing.
// - A datagram nobody gives back (the transport could not send it at once: libuv queued it) is simply collected.
// - At most POOL_FREE_MAX buffers wait to be reused: a burst lent and given back all at once is not kept forever.
// - Only wire bytes (header, ciphertext, tag) ever live in these buffers: no key, no plaintext.

/** Datagrams of at least this many bytes come from the pool (DATA); below it (ACKs), Buffer.allocUnsafe's. */
export const POOLED_MIN_BYTES = 1024;
/** Buffers kept for reuse at most (each up to the largest datagram, 65,507 bytes). */
export const POOL_FREE_MAX = 16;

export class DatagramPool {
  private readonly free: ArrayBuffer[] = [];
  private readonly lent = new WeakSet<Uint8Array>();
  /** ArrayBuffers this pool has allocated (tests and measurements). */
  allocated = 0;

  /** A datagram of `n` bytes (contents undefined) to seal into; lent until `giveBack`. */
  take(n: number): Uint8Array {
    let ab = this.free.pop();
    if (ab === undefined || ab.byteLength < n) {
      // a smaller one left over (the path's datagram size grew): dropped, collected with the rest
      ab = Buffer.allocUnsafeSlow(n).buffer as ArrayBuffer; // its own ArrayBuffer, not zero-filled
      this.allocated++;
    }
    const d = new Uint8Array(ab, 0, n);
    this.lent.add(d);
    return d;
  }

  /**
   * `d` is no longer read by anyone (the kernel has copied it): its buffer may be lent again. Returns whether it
   * was one this pool lent and had not been given back.
   */
  giveBack(d: Uint8Array): boolean {
    if (!this.lent.delete(d)) return false;
    if (this.free.length < POOL_FREE_MAX) this.free.push(d.buffer as ArrayBuffer);
    return true;
  }

  /** Buffers waiting to be reused. */
  get freeCount(): number {
    return this.free.length;
  }
}

/** This thread's pool: what sodium's seal lends, and what the transport gives back. */
export const datagramPool = new DatagramPool();
