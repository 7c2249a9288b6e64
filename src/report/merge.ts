// `udplab report merge DIR…`: joins the results.json of shards (or repeated runs) of one scenario into one
// result, the way a CI matrix produces them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type LabResults, RESULTS_SCHEMA_VERSION, type RunRecord } from './results.js';

export class MergeError extends Error {
  override readonly name = 'MergeError';
  readonly code = 'E_USAGE' as const;
}

export function readResults(dir: string): LabResults {
  let r: LabResults;
  try {
    r = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as LabResults;
  } catch (e) {
    throw new MergeError(`${dir}: no readable results.json (${(e as Error).message.split('\n')[0]})`);
  }
  if (r.schema_version !== RESULTS_SCHEMA_VERSION)
    throw new MergeError(`${dir}: results.json schema ${r.schema_version}, expected ${RESULTS_SCHEMA_VERSION}`);
  return r;
}

export function mergeResults(parts: LabResults[]): LabResults {
  if (parts.length === 0) throw new MergeError('report merge: name at least one report directory');
  const first = parts[0]!;
  for (const p of parts) {
    if (p.scenario !== first.scenario)
      throw new MergeError(`cannot merge "${p.scenario}" into "${first.scenario}": different scenarios`);
  }
  const byId = new Map<string, RunRecord>();
  for (const p of parts) for (const r of p.runs) if (!byId.has(r.id)) byId.set(r.id, r);
  const runs = [...byId.values()].sort(
    (a, b) => (a.loss_pct ?? -1) - (b.loss_pct ?? -1) || a.protocol.localeCompare(b.protocol) || a.repeat - b.repeat,
  );
  const passed = runs.filter((r) => r.verdict === 'pass').length;
  const { shard: _shard, ...rest } = first;
  return {
    ...rest,
    started_at: parts.map((p) => p.started_at).sort()[0]!,
    finished_at: parts
      .map((p) => p.finished_at)
      .sort()
      .at(-1)!,
    environment: { ...first.environment, notices: [...new Set(parts.flatMap((p) => p.environment.notices))] },
    runs,
    summary: { runs: runs.length, passed, failed: runs.length - passed },
  };
}
