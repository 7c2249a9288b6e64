// One slice of the simulated-seeds test (the four seeds-N files run in parallel). No retries: a failing seed
// is a bug; its replay command is printed.
import { describe, expect, it } from 'vitest';
import { runSeeds } from '../../src/sim/index.js';

const PER_PART = 500;
// CI may shift the seed space (e.g. from the commit hash) to explore new seeds on every run.
const BASE = Number(process.env.UDPLAB_SIM_SEED_BASE ?? 1);

export function seedPart(part: number): void {
  const first = BASE + (part - 1) * PER_PART;
  describe(`simulated hostile transfers, seeds ${first}..${first + PER_PART - 1}`, () => {
    it('accepts no wrong file and never hangs', () => {
      console.log(`SEED=${first}..${first + PER_PART - 1}`);
      const s = runSeeds({ seeds: PER_PART, firstSeed: first });
      for (const b of s.bad)
        console.error(`bad seed ${b.seed}: ${b.outcome} ${b.reason ?? ''}\n  reproduce: ${b.reproduce}`);
      console.log(
        `runs ${s.runs}, completed ${s.completed}, failed ${s.failed} ${JSON.stringify(s.failedByReason)}, wrong ${s.wrongFilesAccepted}, hung ${s.hung}`,
      );
      expect(s.wrongFilesAccepted).toBe(0);
      expect(s.hung).toBe(0);
      expect(s.bad).toEqual([]);
      // hostile, not hopeless: the great majority of profiles must complete
      expect(s.completed / s.runs).toBeGreaterThan(0.9);
    });
  });
}
