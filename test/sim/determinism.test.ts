import { describe, expect, it } from 'vitest';
import { parseNetem } from '../../src/impair/index.js';
import { runCase, seedCase, simulateTransfer } from '../../src/sim/index.js';

describe('simulator', () => {
  it('replays a run exactly from (seed, up, down, size)', () => {
    const c = seedCase(4242);
    expect(runCase(c)).toEqual(runCase(c));
  });

  it('moves a multi-megabyte file through 10% loss each way, verified', () => {
    const n = parseNetem('delay 10ms loss 10%');
    const r = simulateTransfer({ seed: 3, up: n, down: n, sizeBytes: 8 << 20 });
    expect(r.outcome).toBe('completed');
    expect(r.senderOk).toBe(true);
    expect(r.stats.packetsRetransmitted).toBeGreaterThan(0);
  });

  it('does both directions (put) through reordering, duplication and corruption', () => {
    const n = parseNetem('delay 20ms 5ms reorder 25% duplicate 10% corrupt 2% loss 3%');
    const r = simulateTransfer({ seed: 5, up: n, down: n, sizeBytes: 1 << 20, op: 'put' });
    expect(r.outcome).toBe('completed');
    expect(r.stats.badPackets + r.link.up.corrupted).toBeGreaterThan(0);
  });

  it('survives a 4 s blackout in the middle of a transfer', () => {
    const n = parseNetem('delay 20ms rate 10mbit limit 100');
    const r = simulateTransfer({
      seed: 9,
      up: n,
      down: n,
      sizeBytes: 2 << 20,
      blackouts: [{ startMs: 500, durationMs: 4000 }],
    });
    expect(r.outcome).toBe('completed');
    expect(r.durationMs).toBeGreaterThan(4500);
  });

  it('ends with a reason, within bounded time, when the path is dead', () => {
    const r = simulateTransfer({ seed: 1, up: parseNetem('loss 100%'), down: {}, sizeBytes: 1000 });
    expect(r.outcome).toBe('failed');
    expect(r.reason).toBe('E_UNREACHABLE');
    expect(r.durationMs).toBeLessThan(60_000);
  });

  it('fails with E_TIMEOUT when the path dies mid-transfer', () => {
    const n = parseNetem('delay 5ms');
    const r = simulateTransfer({
      seed: 2,
      up: n,
      down: n,
      sizeBytes: 8 << 20,
      blackouts: [{ startMs: 100, durationMs: 10 * 60_000 }],
    });
    expect(r.outcome).toBe('failed');
    expect(r.reason).toBe('E_TIMEOUT');
  });

  it('random loss does not collapse the rate: ≥ 0.8 of the link at 10% loss (100 Mbit/s, 40 ms)', () => {
    const down = parseNetem('delay 20ms rate 100mbit limit 417 loss 10%');
    const up = parseNetem('delay 20ms loss 10%');
    const r = simulateTransfer({ seed: 1, up, down, sizeBytes: 16 << 20 });
    expect(r.outcome).toBe('completed');
    expect(r.goodputBps / (100e6 * 0.9)).toBeGreaterThan(0.8);
  });

  it('backs off when the queue builds: a 1 Mbit/s link with a short queue loses little to tail drops', () => {
    const down = parseNetem('delay 20ms rate 1mbit limit 20');
    const r = simulateTransfer({ seed: 1, up: parseNetem('delay 20ms'), down, sizeBytes: 1 << 20 });
    expect(r.outcome).toBe('completed');
    expect(r.link.down.tailDropped / r.link.down.packets).toBeLessThan(0.1);
    expect(r.goodputBps / 1e6).toBeGreaterThan(0.8);
  });
});
