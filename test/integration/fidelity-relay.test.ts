// Shaper fidelity on the host: the probe stream through the userspace relay on loopback, counted per direction.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ipUdpHeaderBytes, udpFrameBytes } from '../../src/impair/index.js';
import { checkTargets, fidelityTable, measureKernelNetem, measureRelay } from '../../src/lab/fidelity.js';

describe('fidelity: the userspace relay, measured with a probe stream', () => {
  it('loss within ±1 pp and median delay within ±1 ms of the configured netem, duplicates counted', async () => {
    const r = await measureRelay('delay 20ms loss 5%', 'delay 10ms duplicate 3%', {
      count: 2000,
      pps: 500,
      bytes: 200,
    });
    console.log(fidelityTable([r]));
    expect(r.upStats.sent).toBe(2000);
    // the reflector echoes every copy it receives: down carries what up delivered
    expect(r.downStats.sent).toBe(r.upStats.delivered + r.upStats.duplicates);
    for (const c of checkTargets(r))
      expect(c.ok, `${c.what}: configured ${c.configured}, measured ${c.measured}`).toBe(true);
    expect(r.downStats.duplicatePct).toBeGreaterThan(1.5);
    expect(r.downStats.duplicatePct).toBeLessThan(4.5);
    expect(r.rttMedianMs).toBeGreaterThan(29);
    expect(r.rttMedianMs).toBeLessThan(33);
  }, 30_000);

  it('rate: the relay paces the frame kernel netem paces, so both give the same wire rate', async () => {
    // 500 probes/s of 472 bytes = 2 Mbit/s on the wire, twice the shaped rate. Kernel netem counts the frame (472
    // + 28 IPv4/UDP + 14 Ethernet = 514 bytes) against `rate 1mbit` — measured in the VM lane: 971 kbit/s of IPv4
    // rate; the relay now does the same (src/impair/wire.ts), where it counted the payload alone before (1060).
    const r = await measureRelay('rate 1mbit', '', { count: 500, pps: 500, bytes: 472 });
    console.log(fidelityTable([r]));
    expect(r.upStats.lost).toBe(0);
    const frameRate = (r.upStats.rateBit! * udpFrameBytes(472, 4)) / (472 + ipUdpHeaderBytes(4));
    expect(frameRate / 1e6).toBeGreaterThan(0.97);
    expect(frameRate / 1e6).toBeLessThan(1.03);
  }, 30_000);
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
