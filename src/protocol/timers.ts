// The connection's deadlines in one table (quinn's timer.rs): one slot per kind of timer, NaN when unarmed.
// pollTimeout() is the earliest deadline among the timers live in the connection's state (a bit mask), and
// handleTimeout() asks the table which of them expired. Slots hold absolute times (ms on the caller's clock),
// computed once when the timer is armed, so a deadline compares exactly as it was set (`now >= at`), never as a
// difference that floating-point rounding could leave a hair short (a livelock).
// Who arms what: the handshake (Initial, Handshake, AcceptRepeat, Confirm, ConfirmPing), the connection (Idle,
// Progress, DoneProbe, Linger); the receiver's ACK delay and the sender's pacing and loss-recovery deadlines
// depend on state that every ACK changes, so the connection copies them in just before it reads the table.

export const Timer = {
  /** Client: the next INITIAL (retransmission schedule, or at once after a RETRY). */
  Initial: 0,
  /** Client: the handshake's deadline (no genuine answer: E_UNREACHABLE, E_AUTH_FAILED or a believed REJECT). */
  Handshake: 1,
  /** Server: repeat the ACCEPT while the client has not confirmed its keys (it may have been lost). */
  AcceptRepeat: 2,
  /** Server: the client never confirmed its keys after ACCEPT. */
  Confirm: 3,
  /** Client receiving data: the next PING that confirms its keys to the server. */
  ConfirmPing: 4,
  /** Nothing authenticated heard from the peer for the idle timeout. */
  Idle: 5,
  /** Data receiver: no new data (nor the FIN) for the idle timeout. */
  Progress: 6,
  /** Data receiver: an ACK is owed (the receiver's ACK delay). */
  Ack: 7,
  /** Data sender: the pacing clock lets the next packet go. */
  Pacing: 8,
  /** Data sender: loss detection, tail loss probe or retransmission timeout (loss-recovery.ts). */
  Recovery: 9,
  /** Data sender, all acknowledged: probe for the receiver's lost DONE (0 until the first timeout arms it). */
  DoneProbe: 10,
  /** Data receiver, verified: stop repeating the final answer. */
  Linger: 11,
} as const;
export type Timer = (typeof Timer)[keyof typeof Timer];

const TIMER_COUNT = 12;

/** A set of timers as a bit mask: bit(Timer.Idle) | bit(Timer.Ack). */
export function bit(t: Timer): number {
  return 1 << t;
}

export class TimerTable {
  private readonly at = new Float64Array(TIMER_COUNT).fill(Number.NaN);

  /** Arms `t` at `ms`, or disarms it (undefined). */
  set(t: Timer, ms: number | undefined): void {
    this.at[t] = ms ?? Number.NaN;
  }

  get(t: Timer): number | undefined {
    const v = this.at[t]!;
    return Number.isNaN(v) ? undefined : v;
  }

  isSet(t: Timer): boolean {
    return !Number.isNaN(this.at[t]!);
  }

  /** Armed and due at `nowMs`. */
  expired(t: Timer, nowMs: number): boolean {
    return nowMs >= this.at[t]!; // false when unarmed (NaN)
  }

  /** The earliest deadline among the armed timers in `live` (a bit mask), or undefined. */
  next(live: number): number | undefined {
    let t: number | undefined;
    for (let i = 0; i < TIMER_COUNT; i++) {
      if ((live & (1 << i)) === 0) continue;
      const v = this.at[i]!;
      if (!Number.isNaN(v) && (t === undefined || v < t)) t = v;
    }
    return t;
  }
}
