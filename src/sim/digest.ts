// Per-seed digests of simulated transfers: the guard that a change meant to alter no behaviour (a refactor of the
// protocol core, fewer allocations) alters none. A seed's digest is the first 16 hex digits of the SHA-256 of the
// canonical JSON of its case (profile, size, op) and its whole SimResult: outcome, time, steps, every counter, the
// links' counts, and traceSha256 (every datagram as sent and both timelines); fractional numbers count to 10
// significant digits (V8 versions differ in the last bit of Math.pow, canonical-json.ts). The seeds-N tests compare the digests
// of seeds 1–2000 with test/fixtures/sim-digests.json; `npm run sim:record` rewrites it after a deliberate change.
import { sha256Of, toHex } from '../crypto/index.js';
import { canonicalJson } from './canonical-json.js';
import { reproduceCommand, type SeedCase, seedCase } from './seeds.js';
import type { SimResult } from './simulator.js';

/** Significant digits of fractional numbers in a digest (Node 20 and 24 differ in the 17th of an RTT percentile). */
const DIGEST_DIGITS = 10;

/** The seeds the fixture holds: 1 … SIM_DIGEST_SEEDS. */
export const SIM_DIGEST_SEEDS = 2000;

export function seedDigest(c: SeedCase, r: SimResult): string {
  const json = canonicalJson({ case: c, result: r }, DIGEST_DIGITS);
  return toHex(sha256Of(new TextEncoder().encode(json))).slice(0, 16);
}

/** Seeds whose digest differs from the recorded one, or that have none recorded, ascending. */
export function changedSeeds(
  recorded: Readonly<Record<string, string>>,
  actual: ReadonlyMap<number, string>,
): number[] {
  const changed: number[] = [];
  for (const [seed, d] of actual) if (recorded[String(seed)] !== d) changed.push(seed);
  return changed.sort((a, b) => a - b);
}

/** What a failed comparison says: how many seeds changed, the first few with their replay commands, what to do. */
export function describeChangedSeeds(changed: readonly number[], checked: number, first = 5): string {
  if (changed.length === 0) return `all ${checked} seeds as recorded`;
  const lines = changed.slice(0, first).map((s) => `  seed ${s}: ${reproduceCommand(seedCase(s))}`);
  return [
    `${changed.length} of ${checked} simulated seeds behave differently from test/fixtures/sim-digests.json` +
      ` (first ${Math.min(first, changed.length)}: ${changed.slice(0, first).join(', ')}):`,
    ...lines,
    'a refactor must change no seed; after a deliberate behaviour change, re-record with `npm run sim:record`',
  ].join('\n');
}
