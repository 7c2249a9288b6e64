// The real-kernel lane: Debian's 6.1 kernel under qemu (TCG), where sch_netem exists; the lab's netns runtime
// shapes with kernel netem there and must read its qdiscs back. Slow (minutes): runs when UDPLAB_VM=1
// (`.ci/run` sets it); otherwise skipped with a notice.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const run = process.env.UDPLAB_VM === '1';
if (!run)
  console.warn(
    'NOTICE: the real-kernel VM lane is skipped (set UDPLAB_VM=1; needs qemu-system-x86, busybox-static, kmod)',
  );

describe.skipIf(!run)('kernel netem in the VM lane', () => {
  it('the netns runtime shapes with tc netem, reads it back, and every run keeps its integrity', () => {
    const r = spawnSync(
      process.execPath,
      [
        join(ROOT, 'lab', 'vm', 'run.mjs'),
        '--timeout',
        '1200',
        '--',
        'node bin/udplab.js lab --runtime netns --shaper netem scenarios/vm/netem-smoke.yaml scenarios/vm/tcp-50ms.yaml --out /udplab-out/reports',
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 1_300_000 },
    );
    expect(r.stdout).toMatch(/guest kernel 6\.1\./);
    expect(r.stdout).toMatch(/vm-netem-smoke: 2\/2 runs passed on netns with the netem shaper/);
    expect(r.status).toBe(0);
    const out = join(ROOT, '.cache', 'vm', 'out', 'reports');
    const dir = readdirSync(out).find((d) => d.startsWith('vm-netem-smoke-'))!;
    const res = JSON.parse(readFileSync(join(out, dir, 'results.json'), 'utf8'));
    expect(res.environment.shaper).toBe('netem');
    expect(res.environment.notices.join()).not.toMatch(/FALLBACK/);
    expect(res.runs[1].shaping_readback).toMatch(/qdisc netem .* delay 10ms loss 10%/);
    for (const run of res.runs) expect(run.sha256_actual).toBe(run.sha256_expected);
    // the kernel path `npm run bench -- tcp50` measures TCP on: both runs intact, netem read back as configured
    expect(r.stdout).toMatch(/vm-tcp-50ms: 2\/2 runs passed on netns with the netem shaper/);
    const tcpDir = readdirSync(out).find((d) => d.startsWith('vm-tcp-50ms-'))!;
    const tcp = JSON.parse(readFileSync(join(out, tcpDir, 'results.json'), 'utf8'));
    expect(tcp.runs.map((x: { protocol: string }) => x.protocol)).toEqual(['tcp', 'tcp']);
    expect(tcp.runs[1].shaping_readback).toMatch(/qdisc netem .* delay 25ms loss 5% rate 100Mbit/);
    for (const run of tcp.runs) expect(run.sha256_actual).toBe(run.sha256_expected);
  }, 1_400_000);
});
