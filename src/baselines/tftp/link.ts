// One side of a TFTP transfer on a socket of its own (its transfer ID). Packets from the peer's TID queue up
// for `next(deadline)`; a packet from any other address or port is answered with ERROR 5 (unknown transfer
// ID) and dropped, the transfer goes on (RFC 1350 §4). A client locks onto the port of the first answer.
import type { RemoteInfo, Socket } from 'node:dgram';
import { monotonicMs } from '../../transport/index.js';
import { BaselineError } from '../errors.js';
import { decodeTftp, ERR, encodeTftp, type TftpPacket } from './packet.js';

export interface LinkStats {
  packetsSent: number;
  packetsReceived: number;
  malformed: number;
  foreign: number;
}

export class PeerLink {
  private readonly queue: TftpPacket[] = [];
  private waiter: (() => void) | undefined;
  readonly stats: LinkStats = { packetsSent: 0, packetsReceived: 0, malformed: 0, foreign: 0 };
  private readonly onMessage = (msg: Buffer, from: RemoteInfo) => this.receive(msg, from);

  constructor(
    readonly socket: Socket,
    private peer: { address: string; port: number },
    private locked: boolean,
  ) {
    socket.on('message', this.onMessage);
  }

  get peerPort(): number {
    return this.peer.port;
  }

  private inFlight = 0;
  private flushed: (() => void) | undefined;

  send(p: TftpPacket): void {
    this.stats.packetsSent++;
    this.inFlight++;
    this.socket.send(encodeTftp(p), this.peer.port, this.peer.address, () => {
      if (--this.inFlight === 0) this.flushed?.();
    });
  }

  /** Resolves once every datagram handed to send() has left (close the socket only after this). */
  flush(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((ok) => {
      this.flushed = ok;
    });
  }

  /** The next packet from the peer, or 'timeout' when the monotonic clock passes `deadlineMs`. */
  async next(deadlineMs: number): Promise<TftpPacket | 'timeout'> {
    for (;;) {
      if (this.aborted) throw new BaselineError('E_IO', 'transfer aborted: the server is shutting down');
      const p = this.queue.shift();
      if (p) return p;
      const wait = deadlineMs - monotonicMs();
      if (wait <= 0) return 'timeout';
      await new Promise<void>((ok) => {
        const t = setTimeout(ok, wait);
        this.waiter = () => {
          clearTimeout(t);
          ok();
        };
      });
      this.waiter = undefined;
    }
  }

  /** Queues a packet that reached the server's request port for this transfer (a repeated request). */
  inject(p: TftpPacket): void {
    this.queue.push(p);
    this.waiter?.();
  }

  private aborted = false;

  /** Ends a transfer in progress: its next wait throws. */
  abort(): void {
    this.aborted = true;
    this.waiter?.();
  }

  close(): void {
    this.socket.off('message', this.onMessage);
  }

  private receive(msg: Buffer, from: RemoteInfo): void {
    const d = decodeTftp(msg);
    if (from.address !== this.peer.address || (this.locked && from.port !== this.peer.port)) {
      this.stats.foreign++;
      if (d.ok && d.packet.op !== 'ERROR')
        this.socket.send(
          encodeTftp({ op: 'ERROR', code: ERR.UNKNOWN_TID, message: 'Unknown transfer ID' }),
          from.port,
          from.address,
        );
      return;
    }
    if (!this.locked) {
      this.peer = { address: from.address, port: from.port };
      this.locked = true;
    }
    if (!d.ok) {
      this.stats.malformed++;
      return;
    }
    this.stats.packetsReceived++;
    this.queue.push(d.packet);
    this.waiter?.();
  }
}
