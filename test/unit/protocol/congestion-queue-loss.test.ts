// Tail drops against random loss (congestion.ts, issue 22): a flow whose minRTT already includes part of a queue
// never sees its RTT "inflated" (1.25 × that minRTT is above the full queue's RTT), so the round-level rule reads the
// queue's overflow as random loss. The controller now asks where the losses fall in its RTT range: a drop-tail queue
// drops only when it is full (the top of the range), random loss strikes anywhere. Here the same RTT sawtooth
// (60 → 72 ms, never above 1.25 × 60 + 2) carries the same number of losses per round, once only at its top and once
// spread over it.
import { describe, expect, it } from 'vitest';
import { CongestionController } from '../../../src/protocol/congestion.js';

const MSS = 1200;
const ACKS = 50;

/** Drives one controller into PROBE_BW, then `rounds` rounds of ACKS one-packet ACKs on an RTT sawtooth. */
function run(lostAt: (round: number, i: number) => boolean, rounds = 40): CongestionController {
  const c = new CongestionController(MSS);
  let now = 0;
  const ack = (rttMs: number, lost: boolean, roundEnded: boolean, inflight: number) => {
    now += 1;
    c.onAck({
      nowMs: now,
      deliveryRateBps: 1.25e6,
      rttMs,
      minRttMs: 60,
      bytesInFlight: inflight,
      roundEnded,
      ackedBytes: MSS,
      lostBytes: lost ? MSS : 0,
    });
  };
  // STARTUP ends after three rounds without growth, DRAIN at once (little in flight)
  for (let r = 0; r < 6 && c.mode !== 'probe_bw'; r++)
    for (let i = 0; i < ACKS; i++) ack(60, false, i === ACKS - 1, 4 * MSS);
  expect(c.mode).toBe('probe_bw');
  for (let r = 0; r < rounds; r++)
    for (let i = 0; i < ACKS; i++) ack(60 + (12 * (i % 10)) / 9, lostAt(r, i), i === ACKS - 1, 60 * MSS);
  return c;
}

describe('the congestion controller tells a queue’s tail drops from random loss by where they fall in its RTT range', () => {
  it('two losses per round, only at the top of the RTT range: congestion (cuts), not random loss', () => {
    const c = run((_r, i) => i === 9 || i === 29);
    expect(c.queueLoss).toBe(true);
    expect(c.congestionEvents).toBeGreaterThan(0);
    expect(c.inflightHiBytes).toBeLessThan(Number.POSITIVE_INFINITY);
    expect(c.randomLoss).toBeLessThan(0.005);
  });

  it('the same two losses per round spread over the range: random loss (no cut, p̂ near their rate)', () => {
    const c = run((r, i) => i === (r * 7) % ACKS || i === (r * 7 + 25) % ACKS);
    expect(c.queueLoss).toBe(false);
    expect(c.congestionEvents).toBe(0);
    expect(c.randomLoss).toBeGreaterThan(0.025);
    expect(c.randomLoss).toBeLessThan(0.06);
  });
});
