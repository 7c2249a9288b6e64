// A node:dgram socket with explicit buffer sizes. Linux defaults are ~208 KiB; we ask for 4 MiB, read back what
// the kernel granted, and warn when net.core.rmem_max / wmem_max caps it (a lossy receive buffer looks like
// path loss to the protocol).
// Sends to an address literal skip Node's per-send DNS step (literalLookup): udplab resolves a host name once and
// then only ever sends to literals (the resolved address, a peer's rinfo.address).
import { createSocket, type RemoteInfo, type Socket, type SocketOptions } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIP } from 'node:net';
import { type DatagramPool, datagramPool } from '../crypto/index.js';

export const WANT_BUFFER_BYTES = 4 << 20;

export interface BoundSocket {
  socket: Socket;
  port: number;
  address: string;
  recvBufferBytes: number;
  sendBufferBytes: number;
  warnings: string[];
}

export async function bindUdp(
  host: string,
  port: number,
  family: 4 | 6 = host.includes(':') ? 6 : 4,
  opts: { reusePort?: boolean } = {},
): Promise<BoundSocket> {
  // reusePort (SO_REUSEPORT, Node >= 22.12): several sockets on one port, the kernel spreading flows by 4-tuple
  const socket = udpSocket(family === 6 ? 'udp6' : 'udp4', opts.reusePort ?? false);
  await new Promise<void>((ok, fail) => {
    socket.once('error', fail);
    socket.bind({ port, address: host, exclusive: true }, () => {
      socket.off('error', fail);
      ok();
    });
  });
  const warnings: string[] = [];
  for (const [set, get, name] of [
    [socket.setRecvBufferSize.bind(socket), socket.getRecvBufferSize.bind(socket), 'receive'],
    [socket.setSendBufferSize.bind(socket), socket.getSendBufferSize.bind(socket), 'send'],
  ] as const) {
    try {
      set(WANT_BUFFER_BYTES);
    } catch {
      /* read back below */
    }
    const got = get();
    // Linux reports twice the value it accepted; below the request means a sysctl cap
    if (got < WANT_BUFFER_BYTES) {
      warnings.push(
        `UDP ${name} buffer is ${Math.round(got / 1024)} KiB, not the ${WANT_BUFFER_BYTES >> 10} KiB asked for: ` +
          `raise net.core.${name === 'receive' ? 'rmem_max' : 'wmem_max'} for high rates`,
      );
    }
  }
  const a = socket.address();
  return {
    socket,
    port: a.port,
    address: a.address,
    recvBufferBytes: socket.getRecvBufferSize(),
    sendBufferBytes: socket.getSendBufferSize(),
    warnings,
  };
}

/** A dgram socket; `reusePort` needs Node >= 22.12 (older ones ignore it; @types/node 20 does not know it). */
export function udpSocket(type: 'udp4' | 'udp6', reusePort: boolean): Socket {
  return createSocket({
    type,
    reuseAddr: false,
    lookup: literalLookup(),
    ...(reusePort && { reusePort: true }),
  } as SocketOptions);
}

/** What `datagramSender` needs of a socket (a dgram Socket; tests pass a stand-in). */
export interface SendingSocket {
  send(msg: Uint8Array, port: number, address: string): void;
  getSendQueueCount(): number;
}

/**
 * Sends a connection's datagrams, each given up by its caller (nothing reads it after the send), and gives a pooled
 * one (a sealed DATA packet: crypto/datagram-pool.ts) back to the pool once the kernel has copied it. The socket
 * must be bound and made by `udpSocket` (bindUdp): then dgram's send to an address literal runs the lookup
 * at once and tries the kernel's send before returning (uv_udp_try_send), so an empty libuv send queue right after
 * it means the bytes are in the kernel. A send libuv queued (EAGAIN: a full socket buffer) keeps its datagram,
 * which is then collected, never reused; so is one to a host name (its lookup answers later).
 */
export function datagramSender(
  socket: SendingSocket,
  pool: DatagramPool = datagramPool,
): (d: Uint8Array, port: number, address: string) => void {
  let literal = '';
  return (d, port, address) => {
    socket.send(d, port, address);
    if (address !== literal) {
      if (isIP(address) === 0) return;
      literal = address;
    }
    if (socket.getSendQueueCount() === 0) pool.giveBack(d);
  };
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/**
 * The lookup a dgram socket runs before every send (and bind, connect). Node's default is dns.lookup, which for an
 * address literal answers the same literal on the next tick: per datagram a regular expression, a closure and a
 * trip through the tick queue (measured: docs/performance.md). This one answers a literal at once, with the family
 * dns.lookup would give it, remembering the last literal it saw so that a run of sends to one peer costs a string
 * comparison; a host name still goes to dns.lookup.
 */
export function literalLookup(): (
  hostname: string,
  options: number | LookupOneOptions,
  callback: LookupCallback,
) => void {
  let lastAddress = '';
  let lastFamily = 0;
  return (hostname, options, callback) => {
    if (hostname !== lastAddress) {
      const family = isIP(hostname);
      if (family === 0) {
        dnsLookup(hostname, typeof options === 'number' ? { family: options } : options, callback);
        return;
      }
      lastAddress = hostname;
      lastFamily = family;
    }
    callback(null, lastAddress, lastFamily);
  };
}

export type { RemoteInfo };
