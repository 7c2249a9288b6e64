// Many simulated transfers over hostile profiles drawn from seeds; the summary CI and `udplab sim` print.
import { createRng, printNetem } from '../impair/index.js';
import { describeProfile, hostileProfile } from './profiles.js';
import { type SimResult, simulateTransfer } from './simulator.js';

export interface SeedRunOptions {
  seeds: number;
  firstSeed?: number;
  /** Transfer size; when absent each seed draws 16 KiB – 256 KiB. */
  sizeBytes?: number;
}

export interface SeedSummary {
  runs: number;
  completed: number;
  failed: number;
  failedByReason: Record<string, number>;
  wrongFilesAccepted: number;
  hung: number;
  bad: Array<{ seed: number; outcome: string; reason?: string; reproduce: string }>;
}

export interface SeedCase {
  seed: number;
  sizeBytes: number;
  op: 'get' | 'put';
  profile: ReturnType<typeof hostileProfile>;
}

export function seedCase(seed: number, sizeBytes?: number): SeedCase {
  const rng = createRng(seed ^ 0x5eed);
  const profile = hostileProfile(rng);
  const size = sizeBytes ?? 16384 + rng.int(256 * 1024 - 16384);
  return { seed, sizeBytes: size, op: rng.next() < 0.5 ? 'get' : 'put', profile };
}

export function reproduceCommand(c: SeedCase): string {
  const b = c.profile.blackouts.map((x) => ` --blackout ${x.startMs}:${x.durationMs}`).join('');
  return `npx udplab sim --seed ${c.seed} --up "${printNetem(c.profile.up)}" --down "${printNetem(c.profile.down)}" --size ${c.sizeBytes} --op ${c.op}${b}`;
}

export function runCase(c: SeedCase): SimResult {
  return simulateTransfer({
    seed: c.seed,
    up: c.profile.up,
    down: c.profile.down,
    blackouts: c.profile.blackouts,
    sizeBytes: c.sizeBytes,
    op: c.op,
  });
}

export function runSeeds(o: SeedRunOptions, onResult?: (r: SimResult, c: SeedCase) => void): SeedSummary {
  const s: SeedSummary = {
    runs: 0,
    completed: 0,
    failed: 0,
    failedByReason: {},
    wrongFilesAccepted: 0,
    hung: 0,
    bad: [],
  };
  const first = o.firstSeed ?? 1;
  for (let seed = first; seed < first + o.seeds; seed++) {
    const c = seedCase(seed, o.sizeBytes);
    const r = runCase(c);
    s.runs++;
    if (r.outcome === 'completed') s.completed++;
    else if (r.outcome === 'failed') {
      s.failed++;
      const k = r.reason ?? 'unknown';
      s.failedByReason[k] = (s.failedByReason[k] ?? 0) + 1;
    } else if (r.outcome === 'wrong') s.wrongFilesAccepted++;
    else s.hung++;
    if (r.outcome === 'wrong' || r.outcome === 'hung') {
      s.bad.push({ seed, outcome: r.outcome, ...(r.reason && { reason: r.reason }), reproduce: reproduceCommand(c) });
    }
    onResult?.(r, c);
  }
  return s;
}

export { describeProfile };
