// SharedAdmission (review workers-2026-12 W1): two instances over one buffer stand for two worker threads.
import { describe, expect, it } from 'vitest';
import { SharedAdmission, sharedAdmissionBuffer } from '../../../src/transport/shared-admission.js';

describe('SharedAdmission', () => {
  it('one token bucket per source, whichever instance spends it; refilled at the rate', () => {
    const buf = sharedAdmissionBuffer();
    const w1 = new SharedAdmission(buf, 3, 2);
    const w2 = new SharedAdmission(buf, 3, 2);
    expect([w1.allow('10.0.0.1', 0), w2.allow('10.0.0.1', 0), w1.allow('10.0.0.1', 0)]).toEqual([true, true, true]);
    expect(w2.allow('10.0.0.1', 0)).toBe(false);
    expect(w1.allow('10.0.0.2', 0)).toBe(true); // another source: its own bucket
    expect(w2.allow('10.0.0.1', 499)).toBe(false);
    expect(w2.allow('10.0.0.1', 500)).toBe(true); // 2/s: one token after 500 ms
    expect(w1.allow('10.0.0.1', 500)).toBe(false);
  });

  it('admit counts sessions per source and in all across instances; inactive and ended give them back', () => {
    const buf = sharedAdmissionBuffer();
    const w1 = new SharedAdmission(buf, 100, 100);
    const w2 = new SharedAdmission(buf, 100, 100);
    expect(w1.admit('a', 0, 3, 2)).toEqual({ total: 1, from: 0 });
    expect(w2.admit('a', 0, 3, 2)).toEqual({ total: 2, from: 1 });
    expect(w1.admit('a', 0, 3, 2)).toBeUndefined(); // the source's hard cap, over both
    expect(w2.admit('b', 0, 3, 2)).toEqual({ total: 3, from: 0 });
    expect(w1.admit('c', 0, 3, 2)).toBeUndefined(); // the server's hard cap
    expect(w2.total()).toBe(3);
    w1.inactive('a'); // lingering: still a session, no longer one of a's active ones
    expect(w2.admit('a', 0, 4, 2)).toEqual({ total: 4, from: 1 });
    w2.ended();
    expect(w1.total()).toBe(3);
  });

  it('a refusal at a cap spends no token; an empty bucket refuses a session', () => {
    const buf = sharedAdmissionBuffer();
    const w = new SharedAdmission(buf, 2, 1);
    expect(w.admit('a', 0, 0, 10)).toBeUndefined(); // server full: no token spent
    expect(w.admit('a', 0, 10, 10)).toEqual({ total: 1, from: 0 });
    expect(w.allow('a', 0)).toBe(true);
    expect(w.admit('a', 0, 10, 10)).toBeUndefined(); // no token left
    expect(w.total()).toBe(1);
  });

  it('a flood of new sources evicts stale buckets, never a source with an active session', () => {
    const w = new SharedAdmission(sharedAdmissionBuffer(), 5, 1);
    expect(w.admit('2001:db8:1:2::/64', 0, 100, 1)).toEqual({ total: 1, from: 0 });
    for (let i = 0; i < 100_000; i++) w.allow(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, i);
    // still counted: its one active session is the cap
    expect(w.admit('2001:db8:1:2::/64', 100_000, 100, 1)).toBeUndefined();
    w.inactive('2001:db8:1:2::/64');
    expect(w.admit('2001:db8:1:2::/64', 100_000, 100, 1)).toEqual({ total: 2, from: 0 });
  });
});
