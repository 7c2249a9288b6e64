// Blackouts in scenarios (#18's grading set): windows in which the userspace relay drops everything both ways,
// timed from each run's first datagram. A protocol that retries with backoff comes through, later by about
// the blackout; the seminar's protocol (no retransmission) does not.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario, runScenario } from '../../src/lab/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
type Counters = { upStats: { blackedOut: number }; downStats: { blackedOut: number }; blackouts?: string[] };

describe('lab blackouts (userspace relay)', () => {
  it('a 3 s blackout from the first datagram: RUFT passes, nothing arrives before the path returns', async () => {
    // plaintext RUFT has no key fetch before its clock starts, so nothing it does before the blackout counts
    const base =
      'name: bo\nfile: { size: 256KiB, content: random }\nnetwork: { netem: "delay 50ms" }\nprotocols: [{ protocol: ruft, plaintext: true }]\nseed: 3\ntimeout: 60s\n';
    const clean = await runScenario(parseScenario(base, 'bo.yaml'), { runtime: 'local', shaper: 'auto' });
    const dark = await runScenario(parseScenario(`${base}blackouts: [{ at: 0ms, duration: 3s }]\n`, 'bo.yaml'), {
      runtime: 'local',
      shaper: 'auto',
    });
    expect(clean.summary.passed).toBe(1);
    expect(dark.summary.passed).toBe(1);
    const [c, d] = [clean.runs[0]!, dark.runs[0]!];
    expect(d.sha256_actual).toBe(d.sha256_expected);
    // lower bounds only, on the client's own clock (a loaded host makes a run longer, never shorter; the difference of
    // two runs' durations is not such a bound: CPU stalls in the clean run shrink it): the blackout starts at the
    // client's first datagram, after its clock started; the request goes through after the window (≥ 50 ms) and its
    // data come back (≥ 50 ms); so no byte is held before 3 s and the run lasts ≥ 3.1 s (the clean run: ~0.5 s, nothing blacked out)
    console.log(
      `256 KiB at 50 ms each way: ${c.duration_ms.toFixed(0)} ms clean, ${d.duration_ms.toFixed(0)} ms with a 3 s blackout`,
    );
    expect(d.duration_ms).toBeGreaterThanOrEqual(3000 + 100);
    const firstBytes = d.timeline.find((p) => p.pacing_mbit === undefined && p.bytes > 0);
    expect(firstBytes?.t_ms, JSON.stringify(d.timeline.slice(0, 5))).toBeGreaterThanOrEqual(3000);
    const k = d.shaper_counters as Counters;
    expect(k.upStats.blackedOut).toBeGreaterThan(0); // the first Initial at least
    expect(k.blackouts).toEqual(['0ms+3000ms from first datagram']);
    expect(d.shaping_readback).toContain('blackouts 0ms+3000ms from the first datagram');
    expect((c.shaper_counters as Counters).upStats.blackedOut).toBe(0);
    expect(dark.environment.notices).toContain(
      "blackouts: 0 s for 3 s after each run's first datagram, both ways (userspace relay)",
    );
  }, 60_000);

  it('scenarios/grading/blackout.yaml: RUFT passes, the seminar protocol (naive) fails', async () => {
    const file = join(ROOT, 'scenarios', 'grading', 'blackout.yaml');
    const text = readFileSync(file, 'utf8').replace(
      /^protocols: \[ruft\].*$/m,
      'protocols: [ruft, { protocol: naive, stall: 2s }]',
    );
    const res = await runScenario(parseScenario(text, file), { runtime: 'local', shaper: 'auto' });
    const [ruft, naive] = res.runs;
    expect(ruft!.verdict, ruft!.failures.join('; ')).toBe('pass');
    expect(naive!.verdict).toBe('fail');
    expect(naive!.error?.code).toBe('E_STALLED');
    expect(naive!.failures.join('; ')).toMatch(/stalled at 0 bytes/);
    expect((naive!.shaper_counters as Counters).downStats.blackedOut).toBeGreaterThan(0);
  }, 60_000);

  it('is no longer refused for kernel netem (the local runtime refuses netem itself), validated with file:line:col', async () => {
    const s = parseScenario(
      'name: bo\nfile: { size: 1KiB }\nnetwork: { netem: "" }\nblackouts: [{ at: 1s, duration: 2s }]\n',
      'bo.yaml',
    );
    expect(s.blackouts).toEqual([{ startMs: 1000, durationMs: 2000 }]);
    // kernel netem applies blackouts now (src/lab/shapers/netem.ts; the VM lane runs them): what refuses here is
    // the local runtime, which has no kernel shaping, in its own words
    await expect(runScenario(s, { runtime: 'local', shaper: 'netem' })).rejects.toThrow(
      /^--shaper netem needs the docker runtime \(the local runtime shapes in user space\)$/,
    );
    expect(() =>
      parseScenario(
        'name: bo\nfile: { size: 1KiB }\nnetwork: { netem: "" }\nblackouts: [{ at: soon, duration: 2s }]\n',
        'bo.yaml',
      ),
    ).toThrow(/^bo\.yaml:4:19: blackouts\.0\.at: expected a duration/);
  });
});
