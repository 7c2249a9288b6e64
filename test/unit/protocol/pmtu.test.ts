// Path-MTU probing (sender.ts): data starts in 1200-byte datagrams; a padding probe per larger candidate
// (1472, 1452, 1400, 1280; three tries each) raises the size when it is acknowledged; a black hole (larger
// datagrams stop arriving mid-transfer) drops back to 1200. Every run is a simulated transfer with the real
// connection code; the path MTU drops datagrams whose IP packet (datagram + 28) would not fit.
import { describe, expect, it } from 'vitest';
import { parseNetem } from '../../../src/impair/index.js';
import { decodeFrames, encodeFrames } from '../../../src/protocol/index.js';
import { type SimOptions, simulateTransfer } from '../../../src/sim/index.js';

const link = (loss = 0) => ({
  up: parseNetem(`delay 10ms${loss ? ` loss ${loss}%` : ''}`),
  down: parseNetem(`delay 10ms rate 100mbit limit 300${loss ? ` loss ${loss}%` : ''}`),
});
const run = (o: Partial<SimOptions>) => simulateTransfer({ seed: 1, sizeBytes: 4 << 20, ...link(), ...o });

describe('path-MTU probing', () => {
  it('a PAD frame round-trips and a probe-sized packet decodes to PING + PAD', () => {
    const bytes = encodeFrames([{ type: 'ping' }, { type: 'pad', length: 1400 }]);
    expect(bytes.length).toBe(1 + 3 + 1400);
    expect(decodeFrames(bytes)).toEqual({ ok: true, value: [{ type: 'ping' }, { type: 'pad', length: 1400 }] });
    expect(decodeFrames(bytes.subarray(0, 100)).ok).toBe(false); // truncated padding is malformed
  });

  it('on a 1500-byte path the data moves to 1472-byte datagrams after one probe', () => {
    const r = run({ pathMtu: { bytes: 1500 } });
    expect(r.outcome).toBe('completed');
    expect(r.stats.datagramBytes).toBe(1472);
    expect(r.stats.pmtuProbes).toBe(1);
    expect(r.mtuDropped).toBe(0);
  });

  it('far above the base size (32,000 on a short, loopback-sized path) the window counts in packets of that size', () => {
    // 100 Mbit/s, 0.5 ms round trip: a BDP of ~6 KB. A window floored at 4–8 packets of 1,160 bytes holds no
    // 31,956-byte packet: before the controller's unit followed the size, nothing was sent after the probe
    const r = simulateTransfer({
      seed: 3,
      sizeBytes: 4 << 20,
      up: parseNetem('delay 250us'),
      down: parseNetem('delay 250us rate 100mbit limit 300'),
      config: { probeDatagramBytes: [32_000, 1472] },
    });
    expect(r.outcome).toBe('completed');
    expect(r.stats.datagramBytes).toBe(32_000);
    expect(r.stats.pmtuProbes).toBe(1);
  });

  it('the receiver reports the size it received, for GET and PUT alike', () => {
    for (const op of ['get', 'put'] as const) {
      const r = run({ op });
      expect(r.outcome).toBe('completed');
      expect(r.stats.datagramBytes).toBe(1472); // the client's view: sender (put) or receiver (get)
    }
  });

  it('on a 1420-byte path the too-large candidates fail three times each and 1280 is taken', () => {
    const r = run({ pathMtu: { bytes: 1420 } });
    expect(r.outcome).toBe('completed');
    expect(r.stats.datagramBytes).toBe(1280);
    expect(r.stats.pmtuProbes).toBe(10); // 3 × 1472, 3 × 1452, 3 × 1400, 1 × 1280
    expect(r.mtuDropped).toBe(9); // only probes were lost to the MTU: no data packet was
    expect(r.stats.timeouts).toBe(0); // and a lost probe is no congestion signal
  });

  it('a path below every candidate keeps 1200 and loses nothing but the probes', () => {
    const r = run({ pathMtu: { bytes: 1250 } });
    expect(r.outcome).toBe('completed');
    expect(r.stats.datagramBytes).toBe(1200);
    expect(r.stats.pmtuProbes).toBe(12);
    expect(r.mtuDropped).toBe(12);
  });

  it('a black hole mid-transfer (the MTU drops to 1300 at 300 ms) falls back to 1200 and completes', () => {
    const r = run({ sizeBytes: 16 << 20, pathMtu: { bytes: 1300, fromMs: 300 } });
    expect(r.outcome).toBe('completed');
    expect(r.stats.pmtuFallbacks).toBe(1);
    expect(r.stats.datagramBytes).toBe(1200);
    expect(r.stats.timeouts).toBeGreaterThanOrEqual(2);
  });

  it('a stalled receiver is no black hole: its late ACK of a large packet sent after the first RTO restores the size', () => {
    // put: the client sends 32,000-byte datagrams; from 300 ms the server's answers stop for 1.5 s (data still
    // reaches it: a receiver busy fsyncing or hashing). Two RTOs fall back to the base size; then its ACKs return
    // and cover the large retransmission of the first RTO. Measured on loopback, 4 GiB: before, every run fell back
    // twice and sent 1.0–2.1 million small datagrams at 441–633 Mbit/s; after, ~134,500 at 892–971 Mbit/s.
    const stalled = (oneWayBlackouts?: SimOptions['oneWayBlackouts']) =>
      simulateTransfer({
        seed: 1,
        op: 'put',
        sizeBytes: 64 << 20,
        up: parseNetem('delay 250us rate 500mbit limit 3000'),
        down: parseNetem('delay 250us'),
        config: { probeDatagramBytes: [32_000, 1472] },
        ...(oneWayBlackouts && { oneWayBlackouts }),
      });
    const r = stalled({ down: [{ startMs: 300, durationMs: 1500 }] });
    expect(r.outcome).toBe('completed');
    expect(r.stats.timeouts).toBeGreaterThanOrEqual(2); // it did time out twice: the fall back happened
    expect(r.stats.pmtuFallbacks).toBe(0); // and was undone: no black hole
    expect(r.stats.datagramBytes).toBe(32_000);
    // about as many packets as without the stall (the rest of the file went at 32,000 bytes, not 1,200)
    expect(r.stats.packetsSent).toBeLessThan(1.1 * stalled().stats.packetsSent);
  });

  it('probing works through 10% loss each way (seeds 1–20: all adopt 1472)', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const r = simulateTransfer({ seed, sizeBytes: 2 << 20, ...link(10) });
      expect(r.outcome, `seed ${seed}`).toBe('completed');
      expect(r.stats.datagramBytes, `seed ${seed}`).toBe(1472);
    }
  });

  it('an empty candidate list (udplab --datagram-size N) keeps the configured size and sends no probe', () => {
    const r = run({ config: { maxDatagramBytes: 1300, probeDatagramBytes: [] } });
    expect(r.outcome).toBe('completed');
    expect(r.stats.datagramBytes).toBe(1300);
    expect(r.stats.pmtuProbes).toBe(0);
  });
});
