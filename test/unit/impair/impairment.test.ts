import { describe, expect, it } from 'vitest';
import { createRng, ETHERNET_HEADER_BYTES, Impairment, parseNetem, udpFrameBytes } from '../../../src/impair/index.js';

function run(netem: string, packets: number, seed = 1, gapMs = 1) {
  const imp = new Impairment(parseNetem(netem), createRng(seed));
  const out: Array<{ i: number; atMs: number; duplicate: boolean; corrupt: boolean }> = [];
  for (let i = 0; i < packets; i++) {
    for (const d of imp.decide(i * gapMs, 1200))
      out.push({ i, atMs: d.atMs, duplicate: d.duplicate, corrupt: !!d.corrupt });
  }
  return { imp, out };
}

describe('impairment decisions (fixed seeds)', () => {
  it('loss 10% over 100k packets lands within ±0.5%', () => {
    for (const seed of [1, 2, 3]) {
      const { imp } = run('loss 10%', 100_000, seed);
      expect(Math.abs(imp.stats.lost / 100_000 - 0.1)).toBeLessThan(0.005);
    }
  });

  it('gemodel bursts match their expectation (mean bad-state length 1/r)', () => {
    // p = 1%, r = 25%, all loss in bad state: mean burst 4, stationary loss p/(p+r) ≈ 3.85%
    const { out } = run('loss gemodel 1% 25% 100% 0%', 200_000, 5);
    const delivered = new Set(out.map((o) => o.i));
    const bursts: number[] = [];
    let cur = 0;
    for (let i = 0; i < 200_000; i++) {
      if (!delivered.has(i)) cur++;
      else if (cur > 0) {
        bursts.push(cur);
        cur = 0;
      }
    }
    const mean = bursts.reduce((a, b) => a + b, 0) / bursts.length;
    expect(mean).toBeGreaterThan(3.6);
    expect(mean).toBeLessThan(4.4);
    const lossRate = 1 - delivered.size / 200_000;
    expect(lossRate).toBeGreaterThan(0.033);
    expect(lossRate).toBeLessThan(0.044);
  });

  it('duplicate 20% makes ~20% copies', () => {
    const { imp, out } = run('duplicate 20%', 50_000, 3);
    expect(imp.stats.duplicated / 50_000).toBeGreaterThan(0.19);
    expect(imp.stats.duplicated / 50_000).toBeLessThan(0.21);
    expect(out.filter((o) => o.duplicate).length).toBe(imp.stats.duplicated);
  });

  it('corrupt flips one bit in ~5% of packets', () => {
    const { out } = run('corrupt 5%', 50_000, 4);
    const rate = out.filter((o) => o.corrupt).length / 50_000;
    expect(rate).toBeGreaterThan(0.045);
    expect(rate).toBeLessThan(0.055);
  });

  it('reorder without delay reorders nothing (as netem documents)', () => {
    const { out } = run('reorder 50%', 10_000, 6);
    for (let k = 1; k < out.length; k++) expect(out[k]!.atMs).toBeGreaterThanOrEqual(out[k - 1]!.atMs);
  });

  it('delay 10ms reorder 25%: a quarter goes out at once, ahead of earlier packets', () => {
    const { out } = run('delay 10ms reorder 25%', 20_000, 7);
    const immediate = out.filter((o) => o.atMs === o.i).length / 20_000;
    expect(immediate).toBeGreaterThan(0.23);
    expect(immediate).toBeLessThan(0.27);
    const sorted = [...out].sort((a, b) => a.atMs - b.atMs || a.i - b.i);
    const inversions = sorted.filter((o, k) => k > 0 && o.i < sorted[k - 1]!.i).length;
    expect(inversions).toBeGreaterThan(1000);
  });

  it('rate 10mbit serialises 1200-byte packets at 0.96 ms each and tail-drops past the limit', () => {
    const imp = new Impairment(parseNetem('rate 10mbit limit 10'), createRng(1));
    const times: number[] = [];
    let dropped = 0;
    for (let i = 0; i < 20; i++) {
      const d = imp.decide(0, 1200);
      if (d.length === 0) dropped++;
      else times.push(d[0]!.atMs);
    }
    expect(times.length).toBe(10);
    expect(dropped).toBe(10);
    expect(times[0]).toBeCloseTo(0.96, 6);
    expect(times[9]).toBeCloseTo(9.6, 6);
  });

  it('rate paces the frame it is given (payload + IP/UDP + Ethernet headers), not the payload', () => {
    const imp = new Impairment(parseNetem('rate 1mbit'), createRng(1));
    // 472-byte UDP payloads in IPv4 on a veth: 514-byte frames, 4.112 ms each at 1 Mbit/s
    const times = [0, 1, 2].map(() => imp.decide(0, 472, udpFrameBytes(472, 4))[0]!.atMs);
    expect(times[0]).toBeCloseTo(4.112, 6);
    expect(times[2]).toBeCloseTo(3 * 4.112, 6);
    expect(udpFrameBytes(472, 6)).toBe(472 + 48 + ETHERNET_HEADER_BYTES);
    // without a frame size (the simulator's links) the packet's own size is paced, as before
    const sim = new Impairment(parseNetem('rate 1mbit'), createRng(1));
    expect(sim.decide(0, 472)[0]!.atMs).toBeCloseTo(3.776, 6);
  });

  it('delay with uniform jitter stays within delay ± jitter', () => {
    const { out } = run('delay 50ms 10ms', 10_000, 8);
    for (const o of out) {
      expect(o.atMs - o.i).toBeGreaterThanOrEqual(40);
      expect(o.atMs - o.i).toBeLessThanOrEqual(60);
    }
  });

  it('blackouts drop everything inside the window', () => {
    const imp = new Impairment(parseNetem('delay 1ms'), createRng(1), {
      blackouts: [{ startMs: 100, durationMs: 50 }],
    });
    let lost = 0;
    for (let t = 0; t < 300; t++) if (imp.decide(t, 100).length === 0) lost++;
    expect(lost).toBe(50);
    expect(imp.stats.blackedOut).toBe(50);
  });

  it('is reproducible from the seed', () => {
    const a = run('delay 10ms 5ms loss 5% duplicate 5% corrupt 1% reorder 10%', 5000, 99).out;
    const b = run('delay 10ms 5ms loss 5% duplicate 5% corrupt 1% reorder 10%', 5000, 99).out;
    expect(a).toEqual(b);
  });
});

describe('IPv4 fragmentation in the relay', () => {
  it('cuts a UDP payload into fragments of the MTU, the UDP header in the first', async () => {
    const { fragmentSizes } = await import('../../../src/transport/relay.js');
    expect(fragmentSizes(1200, 1500)).toEqual([1228]);
    expect(fragmentSizes(1472, 1500)).toEqual([1500]);
    expect(fragmentSizes(1473, 1500)).toEqual([1500, 21]);
    const f = fragmentSizes(61440, 1500);
    expect(f).toHaveLength(42);
    expect(f.reduce((n, x) => n + x - 20, 0)).toBe(61448);
  });
});
