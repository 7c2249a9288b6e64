// PROBE_BW probes again at once while its 1.25 phase keeps finding bandwidth (congestion.ts, before the first
// congestion cut). The case it is for: STARTUP left on an RTT rise that was not the bottleneck's queue, or the path
// got faster after STARTUP; PROBE_BW's one 1.25 phase in 8 rounds then regrew the estimate by 25% per 8 rounds
// (on the shaped 100 Mbit/s relay link: ~400 ms at half rate, docs/protocol.md "Sharing a bottleneck").
// Here the path's rate doubles, 50 → 100 Mbit/s, after its first 4000 packets (a competing transfer ended): the
// rate getter is read once per packet that enters the link. Virtual time, deterministic.
import { describe, expect, it } from 'vitest';
import { parseNetem } from '../../src/impair/index.js';
import { simulateTransfer } from '../../src/sim/index.js';

function stepUp(afterPackets: number): number {
  let n = 0;
  const down = {
    ...parseNetem('delay 10ms limit 1000'),
    rate: {
      get rateBit() {
        return ++n <= afterPackets ? 50e6 : 100e6;
      },
      packetOverheadBytes: 42,
    },
  };
  const r = simulateTransfer({ seed: 1, up: parseNetem('delay 10ms'), down, sizeBytes: 64 << 20 });
  expect(r.outcome).toBe('completed');
  return r.goodputBps / 1e6;
}

describe('PROBE_BW after the path gets faster', () => {
  it('regrows to the new rate within a few probes: 64 MiB goodput over a 50 → 100 Mbit/s step', () => {
    // 84.77 Mbit/s with the probe-again rule, 83.79 without (2026-12-03); 4000 packets take ~0.97 s at 50 Mbit/s
    expect(stepUp(4000)).toBeGreaterThan(84.3);
    // 88.17 with, 87.10 without
    expect(stepUp(2000)).toBeGreaterThan(87.6);
  });
});
