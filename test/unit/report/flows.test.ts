// Competing flows' figures (src/report/flows.ts): per-flow goodput per 100 ms on the shared wall clock, the window
// in which every flow ran, each one's share there and Jain's index.
import { describe, expect, it } from 'vitest';
import { analyseFlows, type FlowInput } from '../../../src/report/index.js';

/** A flow that received at a constant `mbit` from `startEpoch` for `ms`, sampled every 100 ms like a client. */
function steady(flow: string, startEpoch: number, ms: number, mbit: number, protocol = 'ruft'): FlowInput {
  const bytesPerMs = (mbit * 1e6) / 8 / 1000;
  const timeline: Array<{ t_ms: number; bytes: number; rtt_ms?: number }> = [];
  for (let t = 0; t <= ms; t += 100) timeline.push({ t_ms: t, bytes: Math.round(t * bytesPerMs) });
  // a sender STATS sample (rtt_ms present) with a stale byte count: not the receiver's own record, left out
  timeline.push({ t_ms: ms / 2, bytes: 0, rtt_ms: 40 });
  const bytes = Math.round(ms * bytesPerMs);
  return {
    flow,
    protocol,
    role: flow === 'run' ? 'run' : 'competing',
    intact: true,
    result: {
      bytes,
      duration_ms: ms,
      goodput_bps: Math.round((bytes * 8000) / ms),
      started_epoch_ms: startEpoch,
      timeline,
    },
  };
}

describe('analyseFlows', () => {
  it('two equal flows started together: equal shares, Jain 1, each bucket carries rate × 100 ms', () => {
    const f = analyseFlows([steady('run', 1_000_000, 4000, 4), steady('competing 1', 1_000_000, 4000, 4, 'tcp')]);
    expect(f.bucket_ms).toBe(100);
    expect(f.overlap_ms).toEqual({ from: 0, to: 4000 });
    expect(f.jain_index).toBe(1);
    expect(f.flows.map((x) => x.share)).toEqual([0.5, 0.5]);
    expect(f.flows[1]!.protocol).toBe('tcp');
    for (const x of f.flows) {
      expect(x.series_bytes).toHaveLength(40);
      // 4 Mbit/s = 50,000 bytes per 100 ms, in every bucket (the stale STATS sample draws no dip)
      for (const b of x.series_bytes) expect(b).toBe(50_000);
      expect(x.overlap_goodput_bps).toBe(4_000_000);
    }
  });

  it('one flow three times the other: shares 75/25 and Jain (4)²/(2·10) = 0.8', () => {
    const f = analyseFlows([steady('run', 0, 2000, 6), steady('competing 1', 0, 2000, 2)]);
    expect(f.flows.map((x) => x.share)).toEqual([0.75, 0.25]);
    expect(f.jain_index).toBe(0.8);
  });

  it('a staggered start: the window is where both ran; series line up on the wall clock', () => {
    const f = analyseFlows([steady('run', 5000, 3000, 8), steady('competing 1', 6000, 3000, 8)]);
    expect(f.overlap_ms).toEqual({ from: 1000, to: 3000 });
    expect(f.flows.map((x) => [x.start_ms, x.end_ms])).toEqual([
      [0, 3000],
      [1000, 4000],
    ]);
    const [a, b] = f.flows;
    expect(a!.series_bytes).toHaveLength(40);
    expect(b!.series_bytes.slice(0, 10).every((x) => x === 0)).toBe(true);
    expect(a!.series_bytes.slice(30).every((x) => x === 0)).toBe(true);
    expect(b!.series_bytes[10]).toBe(100_000);
  });

  it('a failed flow or one with no start time: no window, no index, the flow says why', () => {
    const failed: FlowInput = {
      flow: 'competing 1',
      protocol: 'tcp',
      role: 'competing',
      intact: false,
      error: 'E_TIMEOUT: x',
    };
    const f = analyseFlows([steady('run', 0, 1000, 4), failed]);
    expect(f.overlap_ms).toBeNull();
    expect(f.jain_index).toBeNull();
    expect(f.flows[1]).toMatchObject({ error: 'E_TIMEOUT: x', series_bytes: [], share: null, start_ms: null });
    const noClock = steady('competing 1', 0, 1000, 4);
    delete noClock.result!.started_epoch_ms;
    expect(analyseFlows([steady('run', 0, 1000, 4), noClock]).jain_index).toBeNull();
  });
});
