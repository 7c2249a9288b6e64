// The real-kernel lane: Debian's 6.1 kernel under qemu (TCG), where sch_netem exists; the lab's netns runtime
// shapes with kernel netem there and must read its qdiscs back, and `udplab shape` must apply netem to a Docker
// container there (test/vm/shape-guest.sh: dockerd in the guest, a tiny tc/ip/busybox image; ~3.5 min). Slow (minutes): runs when UDPLAB_VM=1
// (`.ci/run` sets it); otherwise skipped with a notice.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

  it('udplab shape on a Docker container: netem applied, read back, felt by ping; ingress through ifb; cleared', () => {
    const tar = shapeImageTar();
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'lab', 'vm', 'run.mjs'), '--timeout', '900', '--', `sh test/vm/shape-guest.sh ${tar}`],
      { cwd: ROOT, encoding: 'utf8', timeout: 1_000_000 },
    );
    const out = r.stdout;
    expect(out).toMatch(/guest kernel 6\.1\./);
    for (const step of ['import', 'run', 'apply', 'ping', 'show', 'reapply', 'ingress', 'clear-ingress', 'clear'])
      expect(out, out.slice(-3000)).toContain(`${step} rc=0`);
    expect(out).toMatch(
      /udplab shape: shp eth0 egress: netem delay 10ms loss 1% limit 2084\nqdisc netem \S+ root .*delay 10ms loss 1%/,
    );
    // del + add: the second value replaces the first entirely (no loss left over from "loss 1%")
    expect(out).toMatch(
      /udplab shape: shp eth0 egress: netem delay 30ms limit \d+\nqdisc netem \S+ root .*delay 30ms(?!.*loss)/,
    );
    // ping from the guest to the container: the reply leaves through the container's eth0, 10 ms later
    const min = Number(/round-trip min\/avg\/max = ([\d.]+)\//.exec(out)?.[1]);
    expect(min).toBeGreaterThanOrEqual(10);
    expect(out).toMatch(
      /udplab shape: shp eth0 ingress: netem delay 5ms[^\n]*\n(.*\n)*qdisc netem \S+ root .*delay 5ms/,
    );
    expect(out).toMatch(/udplab shape: shp eth0 egress: cleared\nqdisc noqueue/);
    expect(r.status).toBe(0);
  }, 1_100_000);
});

/** A tiny image for the guest's Docker: tc, ip and busybox with their libraries (~8 MB; a full image takes minutes to load under TCG). */
function shapeImageTar(): string {
  const dir = join(ROOT, '.cache', 'vm-shape');
  const root = join(dir, 'rootfs');
  rmSync(dir, { recursive: true, force: true });
  for (const d of ['usr/bin', 'usr/sbin', 'usr/lib64', 'usr/lib/x86_64-linux-gnu', 'etc', 'proc', 'sys', 'dev', 'tmp'])
    mkdirSync(join(root, d), { recursive: true });
  for (const [l, t] of [
    ['bin', 'usr/bin'],
    ['sbin', 'usr/sbin'],
    ['lib', 'usr/lib'],
    ['lib64', 'usr/lib64'],
  ] as const)
    symlinkSync(t, join(root, l));
  const bins = ['/usr/sbin/tc', '/usr/bin/ip', '/usr/bin/busybox'];
  const libs = new Set<string>();
  for (const b of bins) {
    copyFileSync(realpathSync(b), join(root, b));
    // busybox is static: ldd says so and exits 1, with nothing to copy
    for (const m of spawnSync('ldd', [b], { encoding: 'utf8' }).stdout.matchAll(/(\/\S+\.so[.\d]*)/g)) libs.add(m[1]!);
  }
  for (const l of libs) {
    const at = join(root, l.replace(/^\/(lib|lib64)\//, 'usr/$1/'));
    mkdirSync(dirname(at), { recursive: true });
    copyFileSync(realpathSync(l), at);
  }
  const tar = join(dir, 'image.tar');
  execFileSync('tar', ['-C', root, '-cf', tar, '.']);
  return tar;
}
