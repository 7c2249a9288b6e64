import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNetem, printNetem } from '../../../src/impair/index.js';
import {
  loadScenario,
  parseScenario,
  planRuns,
  planShaping,
  scenarioJsonSchema,
  withLoss,
} from '../../../src/lab/index.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');

function err(text: string): string {
  try {
    parseScenario(text, 'bad.yaml');
  } catch (e) {
    expect((e as { code: string }).code).toBe('E_SCENARIO_INVALID');
    return (e as Error).message;
  }
  throw new Error('no error');
}

describe('scenario files', () => {
  it('every shipped scenario validates', () => {
    const files = [
      join(ROOT, 'scenarios', 'lossy-10pct.yaml'),
      ...['regression', 'vm'].flatMap((d) =>
        readdirSync(join(ROOT, 'scenarios', d)).map((f) => join(ROOT, 'scenarios', d, f)),
      ),
    ];
    for (const f of files) expect(loadScenario(f).name).toBeTruthy();
    const main = loadScenario(files[0]!);
    expect(main.sweepLossPct).toEqual([0, 1, 2, 5, 10, 20]);
    expect(main.repeat).toBeGreaterThanOrEqual(3);
    expect(main.file).toEqual({ sizeBytes: 16 << 20, content: 'random' });
    expect(main.expect).toEqual({ integrity: true, goodputMinBps: 2e6, durationMaxMs: 120_000 });
  });

  it('scenarios/schema.json is generated from the zod schema and is current', () => {
    const onDisk = JSON.parse(readFileSync(join(ROOT, 'scenarios', 'schema.json'), 'utf8'));
    expect(onDisk).toEqual(scenarioJsonSchema());
  });

  it.each([
    [
      'name: x\nfile: { size: 1MiB }\nnetwork: { netem: "delay 10x" }\n',
      'bad.yaml:3:19: network.netem: netem: expected a time like 20ms (word 2 "10x", column 7)',
    ],
    ['name: x\nfile: { size: 1MiB }\nnetwork: { netem: "" }\nrepeat: zero\n', 'bad.yaml:4:9: repeat: '],
    ['name: x\nfile: { size: lots }\nnetwork: { netem: "" }\n', 'bad.yaml:2:15: file.size: expected a size like 16MiB'],
    ['name: x\nfile: { size: 1MiB }\nnetwork: { netem: "" }\nbogus: 1\n', 'unknown field "bogus"'],
    [
      'name: x\nfile: { size: 1MiB }\nnetwork: { netem: "loss 10%" }\nsweep: { loss: [5%, lots] }\n',
      'bad.yaml:4:21: sweep.loss.1: expected a percentage like 10%',
    ],
    ['name: x\nfile: { size: 1MiB }\nnetwork: { netem: "reorder 10%" }\n', 'network.up: reorder needs a delay'],
    ['name: x\nfile: [1\n', 'bad.yaml:3:1: YAML: '],
    ['name: x\nfile: { size: 1MiB }\nnetwork: { profile: moon }\n', 'bad.yaml:3:10: network: expected'],
  ])('%j fails with %j', (text, message) => {
    expect(err(text)).toContain(message);
  });

  it('named profiles resolve to netem', () => {
    const s = parseScenario('name: x\nfile: { size: 1MiB }\nnetwork: { profile: satellite }\n');
    expect(printNetem(s.up)).toBe('delay 300ms 10ms loss 1% rate 10mbit');
  });

  it('plans sweep × protocols × repeat, and shards split it without overlap', () => {
    const s = parseScenario(
      'name: x\nfile: { size: 1MiB }\nnetwork: { netem: "" }\nrepeat: 3\nsweep: { loss: [0%, 5%, 10%] }\n',
    );
    const all = planRuns(s);
    expect(all).toHaveLength(9);
    const shards = [1, 2, 3, 4].map((i) => planRuns(s, { index: i, count: 4 }).map((r) => r.index));
    expect(shards.flat().sort((a, b) => a - b)).toEqual(all.map((r) => r.index));
  });

  it('sizes netem limit from rate × delay, and a sweep replaces the loss', () => {
    const p = planShaping('down', parseNetem('delay 50ms rate 1gbit'));
    expect(p.netem.limit).toBe(2 * Math.ceil(((1e9 / 8) * 0.05) / 1200));
    expect(p.notices[0]).toContain('limit');
    expect(planShaping('up', parseNetem('delay 5ms rate 10mbit')).netem.limit).toBeUndefined();
    expect(printNetem(withLoss(parseNetem('delay 10ms loss 10%'), 5))).toBe('delay 10ms loss 5%');
    expect(printNetem(withLoss(parseNetem('delay 10ms loss 10%'), 0))).toBe('delay 10ms');
    expect(planShaping('up', parseNetem('delay 10ms 5ms')).notices.join()).toContain('reorders');
  });
});
