// Drives one sans-I/O Connection with real time: input → handle* → drain poll* → re-arm one timer.
// Rules: one timer per connection, re-armed only when the new deadline is earlier than the armed one (a
// late wake-up just re-arms); events are handed to the owner in order; nothing here decides protocol matters.
// Fault boundary: an exception from the connection, its data source or sink, or the owner's event handler
// aborts this one connection (the error's own E_ code, else E_INTERNAL, CLOSE to the peer when possible, `onError` for the log, a closed
// event, then onFinished) and never reaches the socket handler or timer that called in.
import type { Connection, ConnectionEvent } from '../protocol/index.js';
import type { Clock } from './clock.js';

export class ConnectionDriver {
  private timer: NodeJS.Timeout | undefined;
  private armedAt = Number.POSITIVE_INFINITY;
  private stopped = false;
  private failed = false;

  constructor(
    readonly conn: Connection,
    private readonly send: (datagram: Uint8Array) => void,
    private readonly onEvent: (e: ConnectionEvent) => void,
    private readonly clock: Clock,
    private readonly onFinished?: () => void,
    private readonly onError?: (err: unknown) => void,
  ) {}

  /** A datagram from the peer; `owned`: nothing reads it afterwards (it may be decrypted in place). */
  input(datagram: Uint8Array, owned = false): void {
    if (this.stopped) return;
    try {
      this.conn.handleDatagram(this.clock(), datagram, owned);
      this.drain();
    } catch (err) {
      this.fail(err);
    }
  }

  /** Drains transmissions and events, then arms the timer. Call after any outside change (accept, verified). */
  pump(): void {
    if (this.stopped) return;
    try {
      this.drain();
    } catch (err) {
      this.fail(err);
    }
  }

  /** The fault boundary: this connection ends with E_INTERNAL; whatever else runs is untouched. */
  private fail(err: unknown): void {
    if (this.failed || this.stopped) return;
    this.failed = true;
    try {
      this.onError?.(err);
    } catch {
      /* a failing logger must not undo the boundary */
    }
    try {
      const now = this.clock();
      // an error that says what it is (a FileError's E_NOT_FOUND, E_DISK_FULL…) keeps its code
      const code = (err as { code?: unknown })?.code;
      const stable = typeof code === 'string' && /^E_[A-Z_]+$/.test(code);
      const message = (err as Error)?.message ?? String(err);
      this.conn.abort(now, stable ? code : 'E_INTERNAL', stable ? message : `internal error: ${message}`);
      for (let d = this.conn.pollTransmit(now); d; d = this.conn.pollTransmit(now)) this.send(d);
      for (let e = this.conn.pollEvent(); e; e = this.conn.pollEvent()) this.onEvent(e);
    } catch {
      /* the connection or its owner is broken beyond telling the peer: stop all the same */
    }
    this.stop();
    this.onFinished?.();
  }

  private drain(): void {
    const now = this.clock();
    for (let d = this.conn.pollTransmit(now); d; d = this.conn.pollTransmit(now)) this.send(d);
    for (let e = this.conn.pollEvent(); e; e = this.conn.pollEvent()) this.onEvent(e);
    if (this.stopped) return; // the owner stopped us from an event: arm nothing (a timer would keep Node alive)
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
    try {
      this.conn.handleTimeout(this.clock());
      this.drain();
    } catch (err) {
      this.fail(err);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
