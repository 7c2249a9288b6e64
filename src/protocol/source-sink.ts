// What the core reads file bytes from and writes them to. Synchronous on purpose: the transport backs
// them with positioned file reads/writes (page cache) or memory; the core stays free of I/O scheduling.
// A sink may throw an error with a `code` (E_DISK_FULL, E_IO): the connection closes with that code.

export interface DataSource {
  readonly sizeBytes: number;
  /** The bytes at [offset, offset + length): valid until the next read (a source may reuse its buffers). */
  read(offset: number, length: number): Uint8Array;
}

export interface DataSink {
  write(offset: number, data: Uint8Array): void;
  /**
   * Optional: the receiver holds every byte of the file. A sink that defers its writes (PartFile gathers
   * neighbouring packets into one write) writes what it holds now, so that an error (E_DISK_FULL) still ends the
   * transfer with its code; it may throw like write().
   */
  flush?(): void;
}

/** Per-chunk compression, injected (zlib lives outside the core). */
export interface ChunkCodec {
  compress(data: Uint8Array): Uint8Array;
  decompress(data: Uint8Array, expectedLength: number): Uint8Array | undefined;
}

export class MemorySource implements DataSource {
  constructor(readonly data: Uint8Array) {}
  get sizeBytes(): number {
    return this.data.length;
  }
  read(offset: number, length: number): Uint8Array {
    return this.data.subarray(offset, offset + length);
  }
}

export class MemorySink implements DataSink {
  data: Uint8Array;
  constructor(sizeBytes = 0) {
    this.data = new Uint8Array(sizeBytes);
  }
  write(offset: number, data: Uint8Array): void {
    if (offset + data.length > this.data.length) {
      const next = new Uint8Array(Math.max(offset + data.length, this.data.length * 2));
      next.set(this.data);
      this.data = next;
    }
    this.data.set(data, offset);
  }
}
