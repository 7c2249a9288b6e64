// Public face of the RUFT protocol core (sans-I/O).
export { CongestionController } from './congestion.js';
export { Connection, MIN_INITIAL_DATAGRAM } from './connection.js';
export type { ConnectionConfig, ConnectionEvent, Deferred, Role } from './connection-config.js';
export { CONNECTION_DEFAULTS } from './connection-config.js';
export type { ConnectionStats, TimelinePoint } from './connection-stats.js';
export type { TransferErrorCode } from './errors.js';
export {
  DATA_FRAME_OVERHEAD,
  DoneStatus,
  decodeFrames,
  encodeFrames,
  type Frame,
  type SenderSample,
} from './frames.js';
export { MIN_INITIAL_PAYLOAD } from './handshake.js';
export { LEDBAT_TARGET_MS, LedbatController } from './ledbat.js';
export { PACKET_OVERHEAD } from './packetizer.js';
export { printable } from './printable.js';
export { type Range, RangeSet } from './range-set.js';
export { INITIAL_RTO_MS, RTT_PERCENTILE_PRECISION, RttEstimator } from './rtt.js';
export { type ChunkCodec, type DataSink, type DataSource, MemorySink, MemorySource } from './source-sink.js';
export { openStateless, sealStateless } from './stateless.js';
export {
  type Accept,
  Compression,
  decodeAccept,
  decodeHeader,
  decodeInitial,
  decodeInitialEnvelope,
  decodeReject,
  encodeAccept,
  encodeHeader,
  encodeInitial,
  encodeInitialEnvelope,
  encodeReject,
  HEADER_BYTES,
  headerTypeFor,
  type Initial,
  type InitialEnvelope,
  MAX_PATH_BYTES,
  MAX_RANGES_IN_HANDSHAKE,
  Op,
  PacketType,
  SOURCE_TAG_BYTES,
} from './wire.js';
