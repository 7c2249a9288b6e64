// The connection's one deadline table: the next deadline is the earliest armed timer among the live ones.
import { describe, expect, it } from 'vitest';
import { bit, Timer, TimerTable } from '../../../src/protocol/timers.js';

describe('timer table', () => {
  it('next() is the earliest armed deadline among the live timers; unarmed and dead ones do not count', () => {
    const t = new TimerTable();
    const all = (1 << 12) - 1;
    expect(t.next(all)).toBeUndefined();
    t.set(Timer.Idle, 20_000);
    t.set(Timer.Ack, 5);
    t.set(Timer.Pacing, -2);
    expect(t.next(all)).toBe(-2);
    expect(t.next(bit(Timer.Idle) | bit(Timer.Ack))).toBe(5);
    expect(t.next(bit(Timer.Linger))).toBeUndefined();
    t.set(Timer.Ack, undefined);
    expect(t.next(bit(Timer.Idle) | bit(Timer.Ack))).toBe(20_000);
    expect(t.get(Timer.Ack)).toBeUndefined();
    expect(t.isSet(Timer.Idle)).toBe(true);
  });

  it('a deadline is due exactly when now reaches the value it was set to (no rounding), never when unarmed', () => {
    const t = new TimerTable();
    const at = 0.1 + 0.2; // 0.30000000000000004
    t.set(Timer.Recovery, at);
    expect(t.expired(Timer.Recovery, 0.3)).toBe(false);
    expect(t.expired(Timer.Recovery, at)).toBe(true);
    expect(t.expired(Timer.Linger, Number.POSITIVE_INFINITY)).toBe(false);
  });
});
