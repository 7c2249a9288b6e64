// How the sender comes back from a blackout, read from its own state: a 10 Mbit/s, 100 ms round-trip path (a
// bottleneck queue, no loss) that drops everything sent in [1000, 4000) ms. Before the fix, each RTO expiry of the
// silence halved the rate estimate (four expiries: 1/16), the first ACK after it reported the whole lost flight
// as one round of ~100% loss (a "heavy loss" congestion cut), and the backed-off RTO reached 1.6–4 s, so the
// path's return went unnoticed for seconds and the rate took 10 s and more to regrow.
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../../src/crypto/index.js';
import { MemorySource } from '../../../src/protocol/index.js';
import { Sender } from '../../../src/protocol/sender.js';

const RTT_MS = 100;
const RATE_BPS = 10e6 / 8;
const BLACKOUT = { fromMs: 1000, toMs: 4000 };
const END_MS = 7000;

interface Run {
  sentAt: number[];
  bwBefore: number;
  eventsBefore: number;
  firstAckAfterMs: number;
  bwAfter: number;
  lossAfter: number;
  eventsAfter: number;
  ackedAt4: number;
  ackedAtEnd: number;
  ackedAt1: number;
}

function run(): Run {
  const s = new Sender(new MemorySource(new Uint8Array(64 << 20)), sha256(), { payloadBytes: 1160 });
  const acks: Array<{ at: number; pn: number }> = [];
  let linkFreeMs = 0;
  let pn = 0;
  const r: Partial<Run> & { sentAt: number[] } = { sentAt: [] };
  for (let t = 0; t <= END_MS; t++) {
    while (acks.length > 0 && acks[0]!.at <= t) {
      const a = acks.shift()!;
      s.onAck(t, { type: 'ack', largest: a.pn, ackDelayUs: 0, maxOffset: 1 << 30, ranges: [[a.pn, a.pn]] });
      if (t >= BLACKOUT.toMs && r.firstAckAfterMs === undefined) {
        r.firstAckAfterMs = t;
        r.bwAfter = s.cc.btlBwBps;
        r.lossAfter = s.cc.randomLoss;
        r.eventsAfter = s.cc.congestionEvents;
      }
    }
    if (t === BLACKOUT.fromMs) {
      r.bwBefore = s.cc.btlBwBps;
      r.eventsBefore = s.cc.congestionEvents;
      r.ackedAt1 = s.acked.size;
    }
    if (t === BLACKOUT.toMs) r.ackedAt4 = s.acked.size;
    const timer = s.nextTimerMs();
    if (timer !== undefined && timer <= t) s.onTimer(t);
    for (let burst = 0; burst < 64; burst++) {
      const frames = s.buildPacket(t, pn);
      if (!frames) break;
      const bytes = frames.reduce((n, f) => n + (f.type === 'data' ? f.bytes.length + 16 : 8), 0);
      if (t >= BLACKOUT.fromMs && t < BLACKOUT.toMs) {
        if (s.stats.timeouts > 0) r.sentAt.push(t); // a probe (the flight in the air at 1000 ms is not counted)
      } else {
        linkFreeMs = Math.max(linkFreeMs, t) + (bytes * 1000) / RATE_BPS;
        acks.push({ at: Math.ceil(linkFreeMs + RTT_MS), pn });
        acks.sort((a, b) => a.at - b.at);
      }
      pn++;
    }
  }
  r.ackedAtEnd = s.acked.size;
  return r as Run;
}

describe('recovery from a 3 s blackout (sender state)', () => {
  const r = run();
  const gaps = r.sentAt.slice(1).map((t, i) => t - r.sentAt[i]!);
  console.log(
    `blackout 1000–4000 ms: probes sent at ${r.sentAt.filter((t, i) => i === 0 || t !== r.sentAt[i - 1]).join(', ')} ms; ` +
      `first ACK after the return at ${r.firstAckAfterMs} ms; rate estimate ${(r.bwBefore * 8e-6).toFixed(2)} → ` +
      `${(r.bwAfter * 8e-6).toFixed(2)} Mbit/s, random loss ${r.lossAfter.toFixed(3)}; ` +
      `delivered in the 3 s after the return ${((r.ackedAtEnd - r.ackedAt4) / 1e6).toFixed(2)} MB (before: ${(r.ackedAt1 / 1e6).toFixed(2)} MB in 1 s)`,
  );

  it('probes the silent path at least once a second', () => {
    expect(r.sentAt.length).toBeGreaterThan(0);
    expect(r.sentAt[0]! - BLACKOUT.fromMs).toBeLessThanOrEqual(1000);
    expect(BLACKOUT.toMs - r.sentAt[r.sentAt.length - 1]!).toBeLessThanOrEqual(1000);
    for (const g of gaps) expect(g).toBeLessThanOrEqual(1000);
  });

  it('hears the first ACK within a second and a round trip of the path returning', () => {
    expect(r.firstAckAfterMs - BLACKOUT.toMs).toBeLessThanOrEqual(1000 + RTT_MS + 10);
  });

  it('keeps at least half its rate estimate and does not count the blackout as random loss or congestion', () => {
    expect(r.bwAfter).toBeGreaterThanOrEqual(r.bwBefore / 2);
    expect(r.lossAfter).toBeLessThan(0.05);
    expect(r.eventsAfter).toBe(r.eventsBefore);
  });

  it('delivers at least the rate of its first second within the 3 s after the return', () => {
    // 1 MB/s is 80% of the link; the first second includes the handshake-free startup
    expect(r.ackedAtEnd - r.ackedAt4).toBeGreaterThan(3 * 0.8 * RATE_BPS - 1.5 * RATE_BPS);
  });
});
