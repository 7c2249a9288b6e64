// Crash faults in the lab (scenarios/regression/faults*.yaml): SIGKILL the client or the server at 10%, 50% and
// 90% of a download, restart, resume; the final SHA-256 matches and no .part was promoted before the end.
import { describe, expect, it } from 'vitest';
import { loadScenario, parseScenario, runScenario } from '../../src/lab/index.js';

describe('lab faults: kill, restart, resume', () => {
  for (const f of ['scenarios/regression/faults.yaml', 'scenarios/regression/faults-server.yaml']) {
    it(f, async () => {
      const s = loadScenario(f);
      const res = await runScenario(s, { runtime: 'local', shaper: 'auto' });
      const r = res.runs[0]!;
      expect(r.verdict, r.failures.join('; ')).toBe('pass');
      expect(r.sha256_actual).toBe(r.sha256_expected);
      expect(r.faults!.map((x) => [x.kill, x.at_pct])).toEqual(s.faults.map((x) => [x.kill, x.atPct]));
      for (const x of r.faults!) {
        expect(x.killed_at_pct).toBeGreaterThanOrEqual(x.at_pct);
        expect(x.killed_at_pct).toBeLessThan(100);
        expect(x.promoted_early).toBe(false);
      }
    }, 180_000);
  }

  it('a server killed and not restarted fails the run with E_FAULT, and no final file', async () => {
    const s = parseScenario(
      'name: no-restart\nfile: { size: 8MiB }\nnetwork: { netem: "delay 5ms rate 40mbit limit 2000" }\nfaults: [{ at: 30%, kill: server, restart: false }]\n',
      'no-restart.yaml',
    );
    const res = await runScenario(s, { runtime: 'local', shaper: 'auto' });
    const r = res.runs[0]!;
    expect(r.verdict).toBe('fail');
    expect(r.error?.code).toBe('E_FAULT');
    expect(r.faults![0]).toMatchObject({ kill: 'server', promoted_early: false, restarted: false });
    expect(r.sha256_actual).toBe('');
  }, 120_000);
});
