// Public face of the RUFT protocol core (sans-I/O).
export {
  Connection,
  type ConnectionConfig,
  type ConnectionEvent,
  type ConnectionStats,
  type Role,
} from './connection.js';
export { TransferError, type TransferErrorCode } from './errors.js';
export { DoneStatus, decodeFrames, encodeFrames, type Frame } from './frames.js';
export { type Range, RangeSet } from './range-set.js';
export { INITIAL_RTO_MS, RttEstimator } from './rtt.js';
export { type ChunkCodec, type DataSink, type DataSource, MemorySink, MemorySource } from './source-sink.js';
export {
  type Accept,
  Compression,
  decodeAccept,
  decodeHeader,
  decodeInitial,
  decodeReject,
  encodeAccept,
  encodeHeader,
  encodeInitial,
  encodeReject,
  HEADER_BYTES,
  type Initial,
  MAX_PATH_BYTES,
  MAX_RANGES_IN_HANDSHAKE,
  Op,
  PacketType,
} from './wire.js';
