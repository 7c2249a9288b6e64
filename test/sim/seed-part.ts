// One slice of the simulated-seeds test (the four seeds-N files run in parallel). No retries: a failing seed
// is a bug; its replay command is printed.
// With the default seed space (1..2000), each seed's digest (src/sim/digest.ts: its whole result, every datagram
// as sent, both timelines) must equal test/fixtures/sim-digests.json: the guard that a refactor changes no
// behaviour. A deliberate behaviour change re-records the file with `npm run sim:record`.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { changedSeeds, describeChangedSeeds, runSeeds, SIM_DIGEST_SEEDS, seedDigest } from '../../src/sim/index.js';

const PER_PART = 500;
// CI may shift the seed space (e.g. from the commit hash) to explore new seeds on every run.
const BASE = Number(process.env.UDPLAB_SIM_SEED_BASE ?? 1);
/** Only the recorded seed space has digests to compare with. */
const CHECK_DIGESTS = process.env.UDPLAB_SIM_SEED_BASE === undefined;
const FIXTURE = new URL('../fixtures/sim-digests.json', import.meta.url);

export function seedPart(part: number): void {
  const first = BASE + (part - 1) * PER_PART;
  describe(`simulated hostile transfers, seeds ${first}..${first + PER_PART - 1}`, () => {
    it('accepts no wrong file and never hangs', () => {
      console.log(`SEED=${first}..${first + PER_PART - 1}`);
      const digests = new Map<number, string>();
      const s = runSeeds(
        { seeds: PER_PART, firstSeed: first },
        CHECK_DIGESTS ? (r, c) => digests.set(c.seed, seedDigest(c, r)) : undefined,
      );
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
      if (CHECK_DIGESTS) {
        expect(first + PER_PART - 1).toBeLessThanOrEqual(SIM_DIGEST_SEEDS);
        const recorded = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, string>;
        const changed = changedSeeds(recorded, digests);
        expect(changed.length, describeChangedSeeds(changed, digests.size)).toBe(0);
        console.log(`digests: all ${digests.size} seeds as recorded in test/fixtures/sim-digests.json`);
      }
    });
  });
}
