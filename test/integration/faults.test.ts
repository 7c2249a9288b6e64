// Crash faults in the lab (scenarios/regression/faults*.yaml): SIGKILL the client or the server at 10%, 50% and
// 90% of a download, restart, resume; the final SHA-256 matches and no .part was promoted before the end.
import { describe, expect, it } from 'vitest';
import { loadScenario, parseScenario, runScenario } from '../../src/lab/index.js';

describe('lab faults: kill, restart, resume', () => {
  for (const f of ['scenarios/regression/faults.yaml', 'scenarios/regression/faults-server.yaml']) {
    it(f, async () => {
      const s = loadScenario(f);
      let res = await runScenario(s, { runtime: 'local', shaper: 'auto' });
      // The trigger polls the client's journal, which is rewritten every 250 ms; on a loaded machine a resumed
      // download has outrun it (seen twice in CI runs: "only 1 of 3 faults struck: the transfer ended first", with
      // the file intact). That run proves nothing about a fault, so it is run once more — and only that case: a
      // wrong file, an early promotion or any other failure fails at once. Cause not found yet (#13's note).
      const missed = (x: typeof res) =>
        x.runs[0]!.failures.length === 1 &&
        /faults struck: the transfer ended first/.test(x.runs[0]!.failures[0]!) &&
        x.runs[0]!.sha256_actual === x.runs[0]!.sha256_expected &&
        x.runs[0]!.faults!.every((y) => !y.promoted_early);
      if (missed(res)) {
        console.warn(`NOTICE: ${f}: ${res.runs[0]!.failures[0]} — the file was intact; running it once more`);
        res = await runScenario(s, { runtime: 'local', shaper: 'auto' });
      }
      const r = res.runs[0]!;
      expect(r.verdict, r.failures.join('; ')).toBe('pass');
      expect(r.sha256_actual).toBe(r.sha256_expected);
      expect(r.faults!.map((x) => [x.kill, x.at_pct])).toEqual(s.faults.map((x) => [x.kill, x.atPct]));
      for (const x of r.faults!) {
        expect(x.killed_at_pct).toBeGreaterThanOrEqual(x.at_pct);
        expect(x.killed_at_pct).toBeLessThan(100);
        expect(x.promoted_early).toBe(false);
      }
    }, 300_000);
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
