// `npm run sim:record`: runs simulated seeds 1..2000 (the seeds-N tests' seed space) and rewrites
// test/fixtures/sim-digests.json with each seed's digest (src/sim/digest.ts), printing how many changed.
// For a deliberate behaviour change only (a new congestion controller, a new timer); a refactor must change none,
// and the seeds-N tests fail when one does. Runs the built code (dist/): `npm run sim:record` builds first.
import { readFileSync, writeFileSync } from 'node:fs';
import { changedSeeds, describeChangedSeeds, runSeeds, SIM_DIGEST_SEEDS, seedDigest } from '../dist/src/sim/index.js';

const file = new URL('../test/fixtures/sim-digests.json', import.meta.url);
let recorded = {};
try {
  recorded = JSON.parse(readFileSync(file, 'utf8'));
} catch (err) {
  if (err.code !== 'ENOENT') throw new Error(`sim:record: cannot read ${file.pathname}: ${err.message}`);
}
const started = performance.now();
const digests = new Map();
runSeeds({ seeds: SIM_DIGEST_SEEDS, firstSeed: 1 }, (r, c) => {
  digests.set(c.seed, seedDigest(c, r));
  if (c.seed % 250 === 0) process.stderr.write(`\r${c.seed}/${SIM_DIGEST_SEEDS} seeds`);
});
process.stderr.write('\n');
const out = {};
for (const [seed, d] of digests) out[seed] = d;
writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
const changed = changedSeeds(recorded, digests);
const had = Object.keys(recorded).length;
if (had === 0) console.log(`no digests were recorded before: recorded ${digests.size} seeds`);
else console.log(describeChangedSeeds(changed, digests.size));
console.log(
  `sim:record: ${changed.length} of ${digests.size} seeds changed; wrote ${file.pathname} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
