// One side of a TFTP transfer on a socket of its own (its transfer ID). Packets from the peer's TID queue up
// for `next(deadline)`; a packet from any other address or port is answered with ERROR 5 (unknown transfer
// ID) and dropped, the transfer goes on (RFC 1350 §4). A client locks onto the port of the first answer.
// Faults stay inside the transfer: send() never throws, a datagram from port 0 (forged: nothing can answer it)
// is dropped, and a socket error or a send() that throws ends this transfer (its next wait throws E_IO).
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
  private readonly onMessage = (msg: Buffer, from: RemoteInfo) => {
    try {
      this.receive(msg, from);
    } catch (e) {
      this.abort(`cannot handle a datagram: ${(e as Error).message}`);
    }
  };
  private readonly onError = (e: Error) => this.abort(`socket error: ${e.message}`);

  constructor(
    readonly socket: Socket,
    private peer: { address: string; port: number },
    private locked: boolean,
  ) {
    socket.on('message', this.onMessage);
    socket.on('error', this.onError);
  }

  get peerPort(): number {
    return this.peer.port;
  }

  private inFlight = 0;
  private flushed: (() => void) | undefined;

  send(p: TftpPacket): void {
    this.stats.packetsSent++;
    this.inFlight++;
    // an error reported later is a lost datagram, as UDP may lose any; one thrown now ends the transfer
    const sent = () => {
      if (--this.inFlight === 0) this.flushed?.();
    };
    try {
      this.socket.send(encodeTftp(p), this.peer.port, this.peer.address, sent);
    } catch (e) {
      sent();
      this.abort(`cannot send to ${this.peer.address}:${this.peer.port}: ${(e as Error).message}`);
    }
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
      if (this.aborted) throw new BaselineError('E_IO', `transfer aborted: ${this.aborted}`);
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

  /** Why the transfer was aborted, once it was. */
  private aborted: string | undefined;

  /** Ends a transfer in progress: its next wait throws. */
  abort(why = 'the server is shutting down'): void {
    this.aborted ??= why;
    this.waiter?.();
  }

  close(): void {
    this.socket.off('message', this.onMessage);
    this.socket.off('error', this.onError);
    this.socket.on('error', () => {}); // late errors of a socket being closed concern nobody
  }

  private receive(msg: Buffer, from: RemoteInfo): void {
    if (from.port === 0) return;
    const d = decodeTftp(msg);
    if (from.address !== this.peer.address || (this.locked && from.port !== this.peer.port)) {
      this.stats.foreign++;
      if (d.ok && d.packet.op !== 'ERROR')
        this.socket.send(
          encodeTftp({ op: 'ERROR', code: ERR.UNKNOWN_TID, message: 'Unknown transfer ID' }),
          from.port,
          from.address,
          () => {}, // a failure to answer a stranger is no error of this transfer
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
