// Shaper fidelity on the real kernel (the VM lane, where sch_netem exists): `udplab fidelity --shaper both` runs
// the probe stream through the userspace relay on the guest's loopback and through kernel netem on a veth pair
// between namespaces, on the same kernel. Under TCG the emulated CPU colours timing, so this checks the counts
// (loss, duplicates) and that both shapers ran, not the delay targets. Runs when UDPLAB_VM=1.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const run = process.env.UDPLAB_VM === '1';
if (!run) console.warn('NOTICE: the VM fidelity test is skipped (set UDPLAB_VM=1)');

describe.skipIf(!run)('fidelity in the VM lane: kernel netem and the relay on the same kernel', () => {
  it('counts loss and duplicates through both shapers, per direction', () => {
    const r = spawnSync(
      process.execPath,
      [
        join(ROOT, 'lab', 'vm', 'run.mjs'),
        '--timeout',
        '600',
        '--',
        // the guest's loopback starts down; the relay variant runs on it
        'ip link set lo up; node bin/udplab.js fidelity "delay 20ms loss 5%" "delay 10ms duplicate 5%" --shaper both --pps 50 --count 2000 --json',
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 700_000 },
    );
    const json = r.stdout.slice(r.stdout.indexOf('\n['), r.stdout.lastIndexOf(']') + 1);
    const results = JSON.parse(json) as Array<{
      shaper: string;
      where: string;
      upStats: { sent: number; lossPct: number; duplicatePct: number };
      downStats: { sent: number; lossPct: number; duplicatePct: number };
    }>;
    expect(results.map((x) => x.shaper)).toEqual(['userspace', 'netem']);
    expect(results[1]!.where).toMatch(/kernel 6\.1\..*qdisc netem .*delay 20ms loss 5%/);
    for (const x of results) {
      expect(x.upStats.sent).toBe(2000);
      // 2000 probes at 5%: one standard deviation is 0.49 pp; ±2 pp keeps this test from flaking
      expect(Math.abs(x.upStats.lossPct - 5), x.shaper).toBeLessThan(2);
      expect(Math.abs(x.downStats.duplicatePct - 5), x.shaper).toBeLessThan(2);
      expect(x.downStats.lossPct).toBe(0);
    }
  }, 800_000);
});
