// Guard of the protocol registry refactor: every scenario in scenarios/ parses to the same Variant objects, the
// same planned runs, the same server specs and the same client argv as before the registry existed. The
// snapshot in test/fixtures/scenario-plans.json was written by the code before the refactor (commit 052e98b).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientArgs, serverSpec } from '../../../src/lab/protocols/index.js';
import { planRuns } from '../../../src/lab/runner.js';
import { loadScenario } from '../../../src/lab/scenario.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');

function yamls(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamls(join(dir, e.name)) : e.name.endsWith('.yaml') ? [join(dir, e.name)] : [],
  );
}

/** What the runner and the runtimes take from a scenario's protocols. */
function planOf(file: string): unknown {
  const s = loadScenario(file);
  return {
    variants: s.variants,
    runs: planRuns(s).map((r) => ({
      index: r.index,
      variant: r.variant.id,
      loss: r.lossPct ?? null,
      repeat: r.repeat,
    })),
    servers: s.variants.map((v) => {
      const sp = serverSpec(v);
      return { key: sp.key, transport: sp.transport, args: sp.args, ready: String(sp.ready) };
    }),
    clients: s.variants.map((v) => clientArgs(v, 'HOST:1', 'REMOTE', '/LOCAL')),
  };
}

describe('protocol registry guard', () => {
  const snapshot = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'scenario-plans.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  // scenarios/grading/ is new with exec protocols; everything that existed before is in the snapshot
  const files = yamls(join(ROOT, 'scenarios')).filter((f) => relative(ROOT, f) in snapshot);
  it('covers every scenario that existed before the registry', () => {
    expect(files.length).toBe(Object.keys(snapshot).length);
    expect(files.length).toBeGreaterThan(20);
  });
  for (const f of Object.keys(snapshot))
    it(`${f}: same variants, runs, servers and client argv`, () => {
      expect(JSON.parse(JSON.stringify(planOf(join(ROOT, f))))).toEqual(snapshot[f]);
    });
});
