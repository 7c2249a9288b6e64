// Both shapers on the same kernel, in the real-kernel lane: `npm run lab:vm` on scenarios/vm/compare-shapers.yaml
// (`compare_shapers: true`: regression-asymmetric-loss's network with a small file), the netns runtime in the
// guest, every run under kernel netem and under the userspace relay; the report's comparison must count both
// directions under both shapers and give the same verdict, and lab:vm must print per direction the read-back, netem's
// counted loss and a probe stream's loss and one-way delay. Slow (minutes under TCG): runs when UDPLAB_VM=1
// (`.ci/run` sets it); otherwise skipped with a notice.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LabResults } from '../../src/report/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const run = process.env.UDPLAB_VM === '1';
if (!run)
  console.warn(
    'NOTICE: the shaper comparison in the VM lane is skipped (set UDPLAB_VM=1; needs qemu-system-x86, busybox-static, kmod)',
  );

describe.skipIf(!run)('userspace relay and kernel netem compared on one kernel (VM lane)', () => {
  it('every run under both shapers, counted per direction, the same verdict; lab:vm prints each direction', () => {
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'lab', 'vm', 'lab.mjs'), 'scenarios/vm/compare-shapers.yaml', '--timeout', '1000'],
      { cwd: ROOT, encoding: 'utf8', timeout: 1_100_000 },
    );
    const out = r.stdout;
    if (r.status !== 0) console.error(out.slice(-6000), r.stderr.slice(-3000));
    expect(out).toMatch(/guest kernel 6\.1\./);
    expect(r.status).toBe(0);

    const reports = join(ROOT, '.cache', 'vm', 'out', 'reports');
    const dir = readdirSync(reports).find((d) => d.startsWith('vm-compare-shapers-'))!;
    const res = JSON.parse(readFileSync(join(reports, dir, 'results.json'), 'utf8')) as LabResults;
    expect(res.environment.runtime).toBe('netns');
    expect(res.environment.shaper).toBe('netem');
    expect(res.environment.kernel).toMatch(/^Linux 6\.1\./);
    expect(res.environment.notices.join('\n')).not.toMatch(/FALLBACK/);
    const c = res.shaper_comparison!;
    expect(c.runtime).toBe('netns');
    expect(c.rows.length).toBe(res.runs.length);
    expect(c.different_verdicts).toBe(0);
    for (const row of c.rows) {
      expect(row.same_verdict).toBe(true);
      expect(row.netem!.verdict).toBe('pass');
      // both shapers counted both directions themselves; 20% loss down, 2% up (loose: a 256 KiB file is few packets)
      for (const side of [row.userspace!, row.netem!]) {
        expect(side.up.packets_in).toBeGreaterThan(10);
        expect(side.down.packets_in).toBeGreaterThan(100);
        expect(side.down.loss_pct).toBeGreaterThan(10);
        expect(side.down.loss_pct).toBeLessThan(30);
        expect(side.up.loss_pct).toBeLessThan(10);
      }
      expect(row.userspace!.up.duplicated).toBe(0); // the relay counts duplicates; netem's counters cannot
      expect(row.netem!.up.duplicated).toBeNull();
    }
    for (const x of [...res.runs, ...c.userspace.runs]) expect(x.sha256_actual).toBe(x.sha256_expected);
    const md = readFileSync(join(reports, dir, 'report.md'), 'utf8');
    expect(md).toContain('## Shapers compared: userspace relay and kernel netem');
    expect(readFileSync(join(reports, dir, 'report.html'), 'utf8')).toContain('<table id="shaper-comparison">');

    // lab:vm, per direction: configured, read back, netem's counted loss, the probe stream's loss and one-way delay
    expect(out).toMatch(/runtime netns, shaper netem, kernel Linux 6\.1\./);
    expect(out).toMatch(/up {3}configured: delay 10ms loss 2%/);
    expect(out).toMatch(/read back: up \(ul\d+c\): qdisc netem .*delay 10ms loss 2%/);
    expect(out).toMatch(/read back: down \(ul\d+s\): qdisc netem .*delay 10ms loss 20%/);
    expect(out).toMatch(/→ measured up loss [\d.]+%/);
    expect(out).toMatch(/→ measured down loss [\d.]+%/);
    expect(out).toMatch(
      /up {3}`delay 10ms loss 2%[^`]*`: loss [\d.]+% \(\d+ of 400\), .* one-way delay p50 [\d.]+ ms, p99 [\d.]+ ms/,
    );
    expect(out).toMatch(/down `delay 10ms loss 20%[^`]*`: loss [\d.]+% \(\d+ of \d+\), .* one-way delay p50 [\d.]+ ms/);
    expect(out).toMatch(/same verdict in (\d+) of \1 runs/);
  }, 1_200_000);
});
