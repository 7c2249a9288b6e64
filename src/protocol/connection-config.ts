// What a connection is configured with and what it reports: its options and their defaults, the events it
// emits, and how an application hands it the data (a source or sink now, or a factory for later).
import type { ClientSecurity, ServerSecurity } from '../crypto/index.js';
import type { Rng } from '../impair/index.js';
import type { Range } from './range-set.js';
import type { ChunkCodec, DataSink, DataSource } from './source-sink.js';
import type { Compression, Initial } from './wire.js';

export interface ConnectionConfig {
  rng: Rng;
  /** Client: how to secure the session (default: plaintext teaching mode). */
  clientSecurity?: ClientSecurity;
  /** Server: its key, PSK and whether it accepts plaintext (default: plaintext only, for tests). */
  serverSecurity?: ServerSecurity;
  /** The datagram size data starts in (default 1200, which any IPv4 or IPv6 path carries). */
  maxDatagramBytes?: number;
  /**
   * Larger datagram sizes to probe the path for, largest first (default 1472, 1452, 1400, 1280: a 1500-byte
   * Ethernet MTU over IPv4, over IPv6, and two common tunnel MTUs); [] keeps maxDatagramBytes.
   */
  probeDatagramBytes?: readonly number[];
  idleTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  windowBytes?: number;
  /** How long a receiver keeps answering after it verified the file (DONE may be lost). */
  lingerMs?: number;
  codecFor?: (c: Compression) => ChunkCodec | undefined;
  /** Client: the connection ID (the transport passes 8 bytes from the OS; default: from `rng`). */
  connectionId?: Uint8Array;
}

export const CONNECTION_DEFAULTS = {
  maxDatagramBytes: 1200,
  probeDatagramBytes: [1472, 1452, 1400, 1280] as readonly number[],
  idleTimeoutMs: 20_000,
  handshakeTimeoutMs: 10_000,
  windowBytes: 16 << 20,
  lingerMs: 3_000,
};

/** A data source or sink, or a factory the connection calls once the client has confirmed its keys. */
export type Deferred<T> = T | (() => T);

/** What a server accepts a request with (Connection.accept). */
export interface AcceptOptions {
  sizeBytes: number;
  source?: Deferred<DataSource>;
  sink?: Deferred<DataSink>;
  ranges?: Range[];
  compression?: Compression;
  /** GET: the version of the file (its tag names it in a later resume). */
  sourceTag?: Uint8Array;
}

export type ConnectionEvent =
  | { type: 'request'; request: Initial }
  | { type: 'accepted'; sizeBytes: number; ranges: Range[]; compression: Compression; sourceTag: Uint8Array }
  | { type: 'verify'; sizeBytes: number; sha256: Uint8Array }
  | { type: 'closed'; ok: boolean; code?: string; message?: string };

export type Role = 'client' | 'server';
