// A 4 s blackout in the middle of a real RUFT download (local runtime, userspace relay, plaintext, 50 ms each way),
// judged from what the protocol reports in the receiver's timeline, not from the total duration: the sender's
// pacing rate in its STATS samples just before the blackout and just after the path's return, and how long after
// the return the receiver held new data (its own record, about every 100 ms from the connection's start; the
// relay's blackout clock starts at the client's first datagram, the same instant within a few ms).
// Before the fix each RTO expiry of the silence halved the rate estimate (4 expiries in 4 s at a 200 ms RTO: 1/16),
// so the first sample after the return paced at ~1/6 of the last one before (measured: 6.3 → 1.0 Mbit/s; after the
// fix 26.3 → 32.5: one halving, in STARTUP again); and the RTO backed off to 1.6–4 s, not 1 s.
import { describe, expect, it } from 'vitest';
import { parseScenario, runScenario } from '../../src/lab/index.js';

const AT_MS = 1000;
const DURATION_MS = 4000;

describe('recovery from a blackout (local runtime, userspace relay)', () => {
  it('a 4 s blackout mid-download: new data within 1.6 s of the return, the pacing rate not collapsed', async () => {
    const text =
      'name: bo-recovery\nfile: { size: 8MiB, content: random }\nnetwork: { netem: "delay 50ms" }\n' +
      `protocols: [{ protocol: ruft, plaintext: true }]\nseed: 5\ntimeout: 60s\nblackouts: [{ at: ${AT_MS}ms, duration: ${DURATION_MS}ms }]\n`;
    // what the run must get right every time: it passes, the blackout fell mid-transfer, data and STATS around it;
    // how long after the return new data came, and the pacing ratio, are timed (the relay's clock against the
    // receiver's, the sender's RTO timer, the receiver's 100 ms sampling): a loaded host's late timers move them
    // although the protocol is right, and none makes a wrong backoff right — so up to three runs, one within both
    const attempt = async () => {
      const res = await runScenario(parseScenario(text, 'bo-recovery.yaml'), { runtime: 'local', shaper: 'auto' });
      const r = res.runs[0]!;
      expect(r.verdict, r.failures.join('; ')).toBe('pass');
      expect(r.sha256_actual).toBe(r.sha256_expected);
      const own = r.timeline.filter((p) => p.pacing_mbit === undefined); // the receiver's own record
      const stats = r.timeline.filter((p) => p.pacing_mbit !== undefined); // the sender's STATS samples
      const held = (t: number) => own.filter((p) => p.t_ms <= t).reduce((n, p) => Math.max(n, p.bytes), 0);
      const returnMs = AT_MS + DURATION_MS;
      const atReturn = held(returnMs);
      const total = own.reduce((n, p) => Math.max(n, p.bytes), 0);
      expect(atReturn, 'the transfer ended before the path returned').toBeLessThan(total);
      const first = own.find((p) => p.t_ms > returnMs && p.bytes > atReturn);
      expect(first, 'no new data after the blackout').toBeDefined();
      const waitMs = first!.t_ms - returnMs;
      const before = stats.filter((p) => p.t_ms <= AT_MS).at(-1);
      const after = stats.find((p) => p.t_ms > returnMs);
      expect(before, 'no STATS sample before the blackout').toBeDefined();
      expect(after, 'no STATS sample after the blackout').toBeDefined();
      const said =
        `blackout ${AT_MS}+${DURATION_MS} ms: ${atReturn} B held at the return, new data ${waitMs} ms after it; ` +
        `pacing ${before!.pacing_mbit!.toFixed(1)} Mbit/s at ${before!.t_ms} ms → ${after!.pacing_mbit!.toFixed(1)} at ` +
        `${after!.t_ms} ms; done in ${(r.duration_ms / 1000).toFixed(2)} s`;
      console.log(said);
      const missed: string[] = [];
      // the backoff cap (1 s) + the probe's round trip (100 ms) + the timeline's 100 ms sampling + a busy host
      if (!(waitMs <= 1600)) missed.push(`new data ${waitMs} ms after the return (≤ 1600)`);
      // one halving in STARTUP (gain 2.77) paces at ≥ 1.38 × the rate before, ≥ 0.5 × a STARTUP sample, and ≥ 0.35 ×
      // when the round before the blackout also counted as congested (the fair controller's × 0.7, which a loaded host's
      // RTT inflation and relay drops can trigger: CI measured 27.46 → 10.98 Mbit/s, 0.3997 ×); four halvings at
      // ≤ 0.17 × the rate before, ≤ 0.23 × a sample in PROBE_BW's slowest phase (gain 0.75)
      const ratio = after!.pacing_mbit! / before!.pacing_mbit!;
      if (!(ratio >= 0.3)) missed.push(`pacing ${ratio.toFixed(3)} × the rate before (≥ 0.3)`);
      return { said, missed };
    };
    const tries: string[] = [];
    for (let k = 1; k <= 3; k++) {
      const { said, missed } = await attempt();
      tries.push(`run ${k}: ${said}${missed.length ? ` — ${missed.join('; ')}` : ''}`);
      if (missed.length === 0) return;
    }
    expect.fail(`no run of three recovered within the bounds: ${tries.join(' | ')}`);
  }, 240_000);

  it("times what the user waits for: a blackout over RUFT's key fetch counts in the run's duration", async () => {
    // Noise RUFT with --accept-new: a KEY_REQUEST (retried after 250, 500, 1000, 2000 ms) before the handshake. RUFT's
    // own duration_ms starts at the handshake (measured before the fix: 627 ms for a 4.9 s wait); the lab adds
    // key_fetch_ms. The blackout covers only the key fetch, so the run lasts at least the blackout.
    const text =
      'name: bo-key\nfile: { size: 64KiB, content: random }\nnetwork: { netem: "delay 20ms" }\nprotocols: [ruft]\n' +
      'seed: 7\ntimeout: 60s\nblackouts: [{ at: 0ms, duration: 2500ms }]\n';
    const res = await runScenario(parseScenario(text, 'bo-key.yaml'), { runtime: 'local', shaper: 'auto' });
    const r = res.runs[0]!;
    expect(r.verdict, r.failures.join('; ')).toBe('pass');
    console.log(`key fetch under a 2.5 s blackout: run duration ${r.duration_ms.toFixed(0)} ms`);
    expect(r.duration_ms).toBeGreaterThanOrEqual(2500);
    // the key fetch's first answer comes after the blackout (the retry at 3750 ms), the transfer is short after it
    expect(r.goodput_bps).toBeLessThan((64 * 1024 * 8 * 1000) / 2500);
  }, 90_000);
});
