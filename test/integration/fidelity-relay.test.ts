// Shaper fidelity on the host: the probe stream through the userspace relay on loopback, counted per direction.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ipUdpHeaderBytes, udpFrameBytes } from '../../src/impair/index.js';
import {
  checkTargets,
  fidelityTable,
  measureKernelNetem,
  measureRelay,
  type ProbeResult,
} from '../../src/lab/fidelity.js';

/**
 * Up to three probe runs, until one meets every timing target: delays and rates are measured on this process's clock
 * (the relay, the reflector and the prober share its event loop), and a loaded host's stall moves them although the
 * relay is right, while no stall makes a wrong relay right. What is counted (probes sent, echoes of what was
 * delivered) must hold in every attempt. Every attempt's table is printed.
 */
async function bestOf3(
  measure: () => Promise<ProbeResult>,
  counted: (r: ProbeResult) => void,
  misses: (r: ProbeResult) => string[],
): Promise<{ r: ProbeResult; missed: string[]; why: string }> {
  const tries: string[] = [];
  let last: { r: ProbeResult; missed: string[] } | undefined;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const r = await measure();
    console.log(`attempt ${attempt}:\n${fidelityTable([r])}`);
    counted(r);
    last = { r, missed: misses(r) };
    tries.push(`attempt ${attempt}: ${last.missed.join('; ') || 'all within'}`);
    if (last.missed.length === 0) break;
  }
  return { ...last!, why: tries.join(' | ') };
}

describe('fidelity: the userspace relay, measured with a probe stream', () => {
  it('loss within ±1 pp, each direction delayed at least its netem and the two 10 ms apart, duplicates counted (one of up to 3 probe runs)', async () => {
    // the ±1 ms agreement of each direction's median delay is a performance figure of the host (`npm run bench --
    // fidelity`): the relay's release timers fire late on a loaded host (measured at load 9: +1.3 to +3.5 ms on both
    // directions, three runs in a row), as do the reflector's and this prober's, all on this process's event loop.
    // What a busy host cannot do is deliver early, or make the lateness differ by direction: so each direction's
    // median is at least its delay − 1 ms in every run, and up − down (20 − 10 ms, the hosts' lateness cancelling)
    // within ±1 ms in one of up to three
    const { missed, why } = await bestOf3(
      () => measureRelay('delay 20ms loss 5%', 'delay 10ms duplicate 3%', { count: 2000, pps: 500, bytes: 200 }),
      (r) => {
        expect(r.upStats.sent).toBe(2000);
        // the reflector echoes every copy it receives: down carries what up delivered
        expect(r.downStats.sent).toBe(r.upStats.delivered + r.upStats.duplicates);
        for (const c of checkTargets(r).filter((x) => x.what.includes('loss')))
          expect(c.ok, `${c.what}: configured ${c.configured}, measured ${c.measured}`).toBe(true);
        expect(r.downStats.duplicatePct).toBeGreaterThan(1.5);
        expect(r.downStats.duplicatePct).toBeLessThan(4.5);
        expect(r.upStats.delayMedianMs).toBeGreaterThanOrEqual(19);
        expect(r.downStats.delayMedianMs).toBeGreaterThanOrEqual(9);
        expect(r.rttMedianMs).toBeGreaterThan(29);
      },
      (r) => {
        const apart = r.upStats.delayMedianMs! - r.downStats.delayMedianMs!;
        return Math.abs(apart - 10) <= 1 ? [] : [`up − down median delay ${apart.toFixed(2)} ms (10 ± 1)`];
      },
    );
    expect(missed, why).toEqual([]);
  }, 90_000);

  it('rate: the relay paces the frame kernel netem paces, so both give the same wire rate (one of up to 3 probe runs)', async () => {
    // 500 probes/s of 472 bytes = 2 Mbit/s on the wire, twice the shaped rate. Kernel netem counts the frame (472
    // + 28 IPv4/UDP + 14 Ethernet = 514 bytes) against `rate 1mbit` — measured in the VM lane: 971 kbit/s of IPv4
    // rate; the relay now does the same (src/impair/wire.ts), where it counted the payload alone before (1060).
    // The rate is the arrivals' span on this process's clock; counting the payload alone would be 6% off.
    const frameRate = (r: ProbeResult) => (r.upStats.rateBit! * udpFrameBytes(472, 4)) / (472 + ipUdpHeaderBytes(4));
    const { missed, why } = await bestOf3(
      () => measureRelay('rate 1mbit', '', { count: 500, pps: 500, bytes: 472 }),
      (r) => expect(r.upStats.lost).toBe(0),
      (r) =>
        Math.abs(frameRate(r) / 1e6 - 1) < 0.03 ? [] : [`frame rate ${(frameRate(r) / 1e3).toFixed(0)} kbit/s (±3%)`],
    );
    expect(missed, why).toEqual([]);
  }, 90_000);
});

const root = process.getuid?.() === 0;
describe.skipIf(!root)('fidelity: kernel netem between namespaces (root)', () => {
  it('measures kernel netem where the kernel has it, fails with E_SHAPER where not; no namespace is left', async () => {
    const cli = [process.execPath, join(import.meta.dirname, '..', '..', 'bin', 'udplab.js')];
    const r = await measureKernelNetem('delay 10ms loss 5%', '', cli, { count: 500, pps: 250, bytes: 100 }).catch(
      (e: unknown) => e as Error & { code?: string },
    );
    if (r instanceof Error)
      expect(r.message, 'only a kernel without sch_netem may refuse').toMatch(/qdisc kind is unknown/);
    else {
      expect(r.shaper).toBe('netem');
      expect(r.upStats.sent).toBe(500);
      expect(Math.abs(r.upStats.delayMedianMs! - 10)).toBeLessThan(1);
    }
    expect(execFileSync('ip', ['netns', 'list']).toString()).not.toMatch(new RegExp(`udplab-${process.pid}-`));
  }, 60_000);
});
