// The per-seed digest the seeds-N tests compare with test/fixtures/sim-digests.json: what it covers and what
// it ignores (the order an object's fields were built in).
import { describe, expect, it } from 'vitest';
import { parseNetem } from '../../../src/impair/index.js';
import {
  canonicalJson,
  changedSeeds,
  describeChangedSeeds,
  runCase,
  seedCase,
  seedDigest,
  simulateTransfer,
} from '../../../src/sim/index.js';

describe('simulation digests', () => {
  it('canonical JSON sorts keys at every depth, keeps array order', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });

  it('with significant digits, a last-bit difference (one V8 against another) vanishes, a real one does not', () => {
    // Node 20 and Node 24 print one seed's RTT p99 as these two doubles
    expect(canonicalJson({ p99: 107.85623101629824 }, 10)).toBe(canonicalJson({ p99: 107.85623101629825 }, 10));
    expect(canonicalJson({ p99: 107.85623101629824 }, 10)).not.toBe(canonicalJson({ p99: 107.8562311 }, 10));
    expect(canonicalJson({ n: 123456789012345, x: [0.5] }, 3)).toBe('{"n":123456789012345,"x":[0.5]}');
  });

  it('a seed digest is stable, and any field of the result changes it', () => {
    const c = seedCase(7);
    const r = runCase(c);
    expect(seedDigest(c, r)).toMatch(/^[0-9a-f]{16}$/);
    expect(seedDigest(c, runCase(c))).toBe(seedDigest(c, r));
    expect(seedDigest(c, { ...r, steps: r.steps + 1 })).not.toBe(seedDigest(c, r));
    expect(seedDigest(c, { ...r, traceSha256: r.traceSha256.replace(/^./, 'x') })).not.toBe(seedDigest(c, r));
  });

  it('the trace tells two runs apart whose counters agree (other bytes on the wire: another connection ID)', () => {
    const n = parseNetem('delay 10ms');
    const a = simulateTransfer({ seed: 1, up: n, down: n, sizeBytes: 64 << 10 });
    const b = simulateTransfer({
      seed: 1,
      up: n,
      down: n,
      sizeBytes: 64 << 10,
      config: { connectionId: new Uint8Array(8).fill(7) },
    });
    expect(b.stats).toEqual(a.stats);
    expect(b.traceSha256).not.toBe(a.traceSha256);
  });

  it('names the changed seeds, first ones with their replay commands', () => {
    const actual = new Map([
      [1, 'aa'],
      [2, 'bb'],
      [3, 'cc'],
    ]);
    expect(changedSeeds({ '1': 'aa', '2': 'xx' }, actual)).toEqual([2, 3]);
    const msg = describeChangedSeeds([2, 3], 3);
    expect(msg).toContain('2 of 3 simulated seeds');
    expect(msg).toContain('seed 2: npx udplab sim --seed 2 ');
    expect(msg).toContain('npm run sim:record');
  });
});
