// Hostile network profiles drawn from a seed: loss 0–50% (sometimes in Gilbert-Elliott bursts), reordering
// (with the delay it needs), duplication ≤ 20%, corruption ≤ 5%, delay 0–300 ms with jitter, rate limits,
// 1–5 s blackouts, and different values per direction.
import { type Blackout, type Netem, printNetem, type Rng } from '../impair/index.js';

export interface LinkProfile {
  up: Netem;
  down: Netem;
  blackouts: Blackout[];
}

function pick(rng: Rng, p: number): boolean {
  return rng.next() < p;
}

function round(v: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function direction(rng: Rng, base: { delayMs: number; lossPct: number; rateBit: number | undefined }): Netem {
  const n: Netem = {};
  const jitterMs = pick(rng, 0.4) ? round(rng.next() * Math.min(50, base.delayMs / 2 + 1)) : 0;
  if (base.delayMs > 0) n.delay = { delayMs: base.delayMs, ...(jitterMs > 0 && { jitterMs }) };
  if (base.lossPct > 0) {
    if (pick(rng, 0.3)) {
      const r = round(10 + rng.next() * 60);
      // stationary loss p/(p+r) ≈ lossPct
      const p = round(Math.min(90, (base.lossPct * r) / Math.max(1, 100 - base.lossPct)), 2);
      n.loss = { kind: 'gemodel', p, r, lossBadPct: 100, lossGoodPct: 0 };
    } else n.loss = { kind: 'random', pct: base.lossPct };
  }
  if (base.delayMs > 0 && pick(rng, 0.35)) n.reorder = { pct: round(rng.next() * 40) };
  if (pick(rng, 0.3)) n.duplicate = { pct: round(rng.next() * 20) };
  if (pick(rng, 0.3)) n.corrupt = { pct: round(rng.next() * 5) };
  if (base.rateBit) {
    n.rate = { rateBit: base.rateBit };
    n.limit = Math.max(32, Math.round(((base.rateBit / 8) * Math.max(base.delayMs, 5) * 2) / 1000 / 1200));
  }
  return n;
}

/** A random hostile profile for one simulated transfer. */
export function hostileProfile(rng: Rng): LinkProfile {
  const delayMs = pick(rng, 0.15) ? 0 : Math.round(rng.next() * 150);
  const lossPct = pick(rng, 0.15) ? 0 : round(rng.next() * (pick(rng, 0.3) ? 50 : 20));
  const rates = [undefined, 1e6, 10e6, 50e6, 100e6];
  const rateBit = rates[rng.int(rates.length)];
  const asym = pick(rng, 0.4);
  const up = direction(rng, { delayMs, lossPct, rateBit });
  const down = asym
    ? direction(rng, {
        delayMs: Math.round(rng.next() * 150),
        lossPct: round(rng.next() * 30),
        rateBit: rates[rng.int(rates.length)],
      })
    : direction(rng, { delayMs, lossPct, rateBit });
  const blackouts: Blackout[] = [];
  if (pick(rng, 0.25))
    blackouts.push({ startMs: Math.round(rng.next() * 3000), durationMs: 1000 + Math.round(rng.next() * 4000) });
  return { up, down, blackouts };
}

export function describeProfile(p: LinkProfile): string {
  const b = p.blackouts.map((x) => ` blackout ${x.startMs}ms+${x.durationMs}ms`).join('');
  return `up "${printNetem(p.up)}" down "${printNetem(p.down)}"${b}`;
}
