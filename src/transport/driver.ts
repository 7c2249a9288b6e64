// Drives one sans-I/O Connection with real time: input → handle* → drain poll* → re-arm one timer.
// Rules: one timer per connection, re-armed only when the new deadline is earlier than the armed one (a
// late wake-up just re-arms); events are handed to the owner in order; nothing here decides protocol matters.
import type { Connection, ConnectionEvent } from '../protocol/index.js';
import type { Clock } from './clock.js';

export class ConnectionDriver {
  private timer: NodeJS.Timeout | undefined;
  private armedAt = Number.POSITIVE_INFINITY;
  private stopped = false;

  constructor(
    readonly conn: Connection,
    private readonly send: (datagram: Uint8Array) => void,
    private readonly onEvent: (e: ConnectionEvent) => void,
    private readonly clock: Clock,
    private readonly onFinished?: () => void,
  ) {}

  input(datagram: Uint8Array): void {
    if (this.stopped) return;
    this.conn.handleDatagram(this.clock(), datagram);
    this.pump();
  }

  /** Drains transmissions and events, then arms the timer. Call after any outside change (accept, verified). */
  pump(): void {
    if (this.stopped) return;
    const now = this.clock();
    for (let d = this.conn.pollTransmit(now); d; d = this.conn.pollTransmit(now)) this.send(d);
    for (let e = this.conn.pollEvent(); e; e = this.conn.pollEvent()) this.onEvent(e);
    if (this.conn.finished) {
      this.stop();
      this.onFinished?.();
      return;
    }
    const t = this.conn.pollTimeout();
    if (t === undefined) return;
    if (t >= this.armedAt && this.timer) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedAt = t;
    this.timer = setTimeout(() => this.fire(), Math.max(0, t - now));
  }

  private fire(): void {
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    if (this.stopped) return;
    this.conn.handleTimeout(this.clock());
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
