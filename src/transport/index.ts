// Public face of the transport: real sockets and timers driving the protocol core.

export { canonicalAddress, formatHostPort, type HostPort, splitHostPort, wildcardFor } from './address.js';
export {
  type ClientOptions,
  get,
  type ListEntry,
  ls,
  type Progress,
  put,
  resolveHost,
  type TransferResult,
} from './client.js';
export { type Clock, monotonicMs } from './clock.js';
export { ConnectionDriver } from './driver.js';
export { TransportError } from './errors.js';
export {
  defaultIdentityPath,
  defaultKnownHostsPath,
  fingerprint,
  generateIdentity,
  generatePsk,
  KnownHosts,
  loadIdentity,
  loadPsk,
  parsePublicKey,
  udplabHome,
} from './identity.js';
export {
  largerProbeSizes,
  type PathMtuSources,
  parseIpv6Route,
  parseProcRoute,
  probeSizesFor,
  type RouteMtu,
  routeMtu,
} from './path-mtu.js';
export { DEFAULT_LINK_MTU, type RelayOptions, type RelayReport, type RunningRelay, startRelay } from './relay.js';
export {
  LatenessHistogram,
  type LatenessSummary,
  parseProcNetUdp,
  readUdpDrops,
  type UdpSocketRow,
} from './relay-self.js';
export {
  type NameLock,
  type RunningServer,
  type ServeOptions,
  type ServerStats,
  type SessionLog,
  serve,
} from './server.js';
export { parseTamper, Tamper, type TamperOptions, type TamperStats } from './tamper.js';
export { type BoundSocket, bindUdp, type RemoteInfo, udpSocket, WANT_BUFFER_BYTES } from './udp-socket.js';
export {
  type RunningWorkers,
  reusePortMissing,
  serveWorkers,
  type WorkersOptions,
  WorkersUnavailable,
} from './workers.js';
